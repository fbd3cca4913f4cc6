//! The OpenAPI 3.1 document of the admin API (`GET /api/openapi.json`): every route, its
//! parameters, bodies and errors. A test checks the real answers against it.

use serde_json::{json, Value};

fn error_ref() -> Value {
    json!({"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(schema: &str) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn op(summary: &str, schema: &str, errors: &[&str], params: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert("200".into(), ok(schema));
    for e in errors.iter().chain(["401"].iter()) {
        responses.insert((*e).into(), error_ref());
    }
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    json!({"summary": summary, "parameters": parameters, "responses": responses, "security": [{"bearer": []}, {}]})
}

pub fn document() -> Value {
    let mut doc = base_document();
    if let (Some(p), Some(c)) = (
        doc["paths"].as_object_mut(),
        pin_paths().as_object().cloned(),
    ) {
        p.extend(c);
    }
    if let (Some(s), Some(c)) = (
        doc["components"]["schemas"].as_object_mut(),
        pin_schemas().as_object().cloned(),
    ) {
        s.extend(c);
    }
    doc
}

/// The routes of pinning (`json!` has a recursion limit, so they are added to the document).
fn pin_paths() -> Value {
    json!({
            "/api/tenants/{tenant}/pins": {"get": op("The tenant's pinned tools, and the tools held back by `pinning.mode = \"quarantine\"` with what changed", "Pins", &["404", "503"], &["tenant"])},
            "/api/tenants/{tenant}/pins/{tool}/approve": {"post": op("Approve a quarantined tool (its exposed name): pin what the upstream offers now and serve it", "PinApproval", &["403", "404", "409", "503"], &["tenant", "tool"])},
    })
}

fn pin_schemas() -> Value {
    json!({
            "Pins": {"type": "object", "required": ["tenant", "mode", "pins", "quarantined"], "properties": {
                "tenant": {"type": "string"}, "mode": {"type": "string", "enum": ["off", "warn", "quarantine"]},
                "store": {"type": ["string", "null"]}, "writable": {"type": "boolean"},
                "pins": {"type": "array", "items": {"type": "object", "required": ["name", "server", "tool", "digest", "pinned_at"], "properties": {
                    "name": {"type": "string"}, "server": {"type": "string"}, "tool": {"type": "string"}, "digest": {"type": "string"}, "pinned_at": {"type": "string"}}}},
                "quarantined": {"type": "array", "items": {"type": "object", "required": ["name", "server", "tool", "reason", "digest", "description", "changes"], "properties": {
                    "name": {"type": "string"}, "server": {"type": "string"}, "tool": {"type": "string"},
                    "reason": {"type": "string", "enum": ["changed", "new"]}, "digest": {"type": "string"},
                    "pinned_digest": {"type": "string"}, "pinned_at": {"type": "string"},
                    "description": {"type": "object", "properties": {"old": {}, "new": {}}},
                    "changes": {"type": "array", "items": {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}, "old": {}, "new": {}}}}}}}}},
            "PinApproval": {"type": "object", "required": ["tenant", "approved", "visible"], "properties": {
                "tenant": {"type": "string"}, "visible": {"type": "boolean"},
                "approved": {"type": "object", "required": ["name", "server", "tool", "digest"], "properties": {
                    "name": {"type": "string"}, "server": {"type": "string"}, "tool": {"type": "string"}, "digest": {"type": "string"}}}}},
    })
}

fn base_document() -> Value {
    let obj = json!({"type": "object"});
    let any_obj = json!({"type": "object", "additionalProperties": true});
    let mut call = op(
        "Call a tool of the tenant; the body is the tool's arguments",
        "CallToolResult",
        &["400", "404", "429", "502", "503", "504"],
        &["tenant", "tool"],
    );
    call["requestBody"] =
        json!({"required": false, "content": {"application/json": {"schema": any_obj}}});
    let mut call_default = op(
        "Call a tool of the default tenant",
        "CallToolResult",
        &["400", "404", "429", "502", "503", "504"],
        &["tool"],
    );
    call_default["requestBody"] = call["requestBody"].clone();
    let mut servers = op("Every server the caller may see", "ServerList", &[], &[]);
    servers["parameters"] = json!([
        {"name": "type", "in": "query", "required": false, "schema": {"type": "string"}},
        {"name": "tenant", "in": "query", "required": false, "schema": {"type": "string"}},
        {"name": "state", "in": "query", "required": false, "schema": {"type": "string"}},
    ]);
    let mut action = op(
        "Start, stop or restart one server (start of a running server is fine)",
        "ServerAction",
        &["404", "409"],
        &["tenant", "server", "action"],
    );
    action["parameters"][2]["schema"] =
        json!({"type": "string", "enum": ["start", "stop", "restart"]});
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "mcp-hub admin API", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/": {"get": op("The hub: version, revisions, uptime, counts, config generation, links", "HubInfo", &[], &[])},
            "/api/tenants": {"get": op("Every tenant the caller may see", "TenantList", &[], &[])},
            "/api/tenants/{tenant}": {"get": op("One tenant: servers, sessions, catalog, limits and quota use", "Tenant", &["404"], &["tenant"])},
            "/api/tenants/{tenant}/tools": {"get": op("The tenant's catalog as its clients see it", "ToolList", &["404"], &["tenant"])},
            "/api/tenants/{tenant}/start": {"post": op("Start every server of the tenant", "TenantAction", &["404"], &["tenant"])},
            "/api/tenants/{tenant}/stop": {"post": op("Stop every server; new sessions are refused", "TenantAction", &["404"], &["tenant"])},
            "/api/tenants/{tenant}/tools/{tool}/call": {"post": call},
            "/api/servers": {"get": servers},
            "/api/servers/{tenant}/{server}": {"get": op("One server: state, pid or URL, protocol, capabilities, tools", "Server", &["404"], &["tenant", "server"])},
            "/api/servers/{tenant}/{server}/{action}": {"post": action},
            "/api/tools": {"get": op("Every tenant's catalog, each tool with its tenant and server", "ToolList", &[], &[])},
            "/api/tools/{tool}/call": {"post": call_default},
            "/api/reload": {"post": op("Read the config file again and apply it as a diff", "ReloadReport", &["400", "403"], &[])},
            "/api/reload/rollback": {"post": op("Apply the previous config generation", "ReloadReport", &["400", "403", "409"], &[])},
            "/api/config": {"get": op("The effective config, secrets redacted", "Object", &["403"], &[])},
            "/api/config/history": {"get": op("The config generations kept", "History", &["403"], &[])},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": obj}}}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "object"}}}}}},
                "Object": any_obj,
                "HubInfo": {"type": "object", "required": ["name", "version", "protocol_versions", "uptime_seconds", "config", "counts", "links"], "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"},
                    "protocol_versions": {"type": "array", "items": {"type": "string"}},
                    "uptime_seconds": {"type": "integer"},
                    "config": {"type": "object", "required": ["generation"], "properties": {"generation": {"type": "integer"}, "path": {"type": "string"}}},
                    "counts": {"type": "object"}, "links": {"type": "object"}}},
                "TenantSummary": {"type": "object", "required": ["id", "stopped", "servers", "sessions", "catalog"], "properties": {
                    "id": {"type": "string"}, "description": {"type": ["string", "null"]}, "stopped": {"type": "boolean"},
                    "servers": {}, "sessions": {"type": "integer"}, "catalog": {"type": "object"}}},
                "TenantList": {"type": "object", "required": ["tenants"], "properties": {"tenants": {"type": "array", "items": {"$ref": "#/components/schemas/TenantSummary"}}}},
                "Tenant": {"allOf": [{"$ref": "#/components/schemas/TenantSummary"}, {"type": "object", "required": ["limits", "quota", "collisions"], "properties": {
                    "servers": {"type": "array", "items": {"$ref": "#/components/schemas/ServerSummary"}}, "limits": {"type": "object"}, "quota": {"type": "object"},
                    "collisions": {"type": "array", "items": {"$ref": "#/components/schemas/Collision"}}}}]},
                "Collision": {"type": "object", "description": "A name two servers offer: the earlier in the file keeps it, the later one's is hidden.", "required": ["kind", "name", "kept_by", "hidden_from", "upstream_name"], "properties": {
                    "kind": {"type": "string", "enum": ["tool", "prompt", "resource", "template"]}, "name": {"type": "string"},
                    "kept_by": {"type": "string"}, "hidden_from": {"type": "string"}, "upstream_name": {"type": "string"}}},
                "TenantAction": {"type": "object", "required": ["tenant", "stopped"], "properties": {"tenant": {"type": "string"}, "stopped": {"type": "boolean"}, "started": {"type": "boolean"}, "changed": {"type": "boolean"}}},
                "ServerSummary": {"type": "object", "required": ["tenant", "name", "state", "since", "restarts", "running", "counts"], "properties": {
                    "tenant": {"type": "string"}, "name": {"type": "string"}, "type": {"type": ["string", "null"]}, "metadata": {"type": "object"},
                    "enabled": {"type": "boolean"}, "running": {"type": "boolean"},
                    "state": {"type": "string", "enum": ["disabled", "idle", "starting", "up", "backoff", "failed", "stopped"]},
                    "since": {"type": "string"}, "restarts": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
                    "counts": {"type": "object"}, "left_out": {"type": "string"},
                    "prefix": {"type": "string", "description": "What the server's names and URIs are exposed under; empty: unchanged."},
                    "hidden": {"type": "array", "items": {"$ref": "#/components/schemas/Collision"}}}},
                "ServerList": {"type": "object", "required": ["servers"], "properties": {"servers": {"type": "array", "items": {"$ref": "#/components/schemas/ServerSummary"}}}},
                "Server": {"allOf": [{"$ref": "#/components/schemas/ServerSummary"}, {"type": "object", "required": ["transport", "capabilities", "tools"], "properties": {
                    "transport": {"type": "string"}, "url": {"type": "string"}, "command": {"type": "string"}, "pid": {"type": ["integer", "null"]},
                    "protocol": {"type": ["string", "null"]}, "capabilities": {}, "server_info": {}, "tools": {"type": "array", "items": {"type": "string"}}}}]},
                "ServerAction": {"type": "object", "properties": {"started": {"type": "boolean"}, "stopped": {"type": "boolean"}, "restarted": {"type": "boolean"}, "server": {"$ref": "#/components/schemas/ServerSummary"}}},
                "ToolList": {"type": "object", "required": ["tools"], "properties": {"tools": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
                "CallToolResult": {"type": "object", "properties": {"content": {"type": "array"}, "isError": {"type": "boolean"}, "structuredContent": {}}},
                "ReloadReport": {"type": "object", "required": ["generation", "changed", "tenants_added", "tenants_removed", "tenants", "needs_restart", "took_ms"], "properties": {
                    "generation": {"type": "integer"}, "changed": {"type": "boolean"},
                    "tenants_added": {"type": "array", "items": {"type": "string"}}, "tenants_removed": {"type": "array", "items": {"type": "string"}},
                    "tenants": {"type": "object"}, "needs_restart": {"type": "array", "items": {"type": "string"}}, "took_ms": {"type": "number"}}},
                                "History": {"type": "object", "required": ["running", "generations"], "properties": {"running": {"type": "integer"}, "generations": {"type": "array", "items": {"type": "object"}}}},
            }
        }
    });
    // A container server's part of `/api/servers` (the image's own health among it).
    doc["components"]["schemas"]["ServerSummary"]["properties"]["container"] = json!({"type": "object", "description": "A container server: its image, strategy, running container and the image's own health (`starting`, `healthy`, `unhealthy`; null without a HEALTHCHECK).", "properties": {
        "image": {"type": "string"}, "strategy": {"type": "string"}, "name": {"type": ["string", "null"]}, "health": {"type": ["string", "null"]},
        "pool": {"type": "object", "description": "A pre-warmed pool: its members up, of how many", "properties": {"up": {"type": "integer"}, "total": {"type": "integer"}}}}});
    let (paths, schemas) = docker_parts();
    for (part, key) in [(paths, "/paths"), (schemas, "/components/schemas")] {
        if let (Some(into), Value::Object(from)) =
            (doc.pointer_mut(key).and_then(Value::as_object_mut), part)
        {
            into.extend(from);
        }
    }
    doc
}

/// `POST /api/docker/images/pull` (202 and a job, or 200 and NDJSON) and
/// `GET /api/docker/images/pull/{job}`.
fn pull_ops() -> (Value, Value) {
    let job = json!({"application/json": {"schema": {"$ref": "#/components/schemas/PullJob"}}});
    let mut pull = op(
        "Pull one image (`image`) or every configured one, as a job: 202 with the job and its `Location` to poll, or (`?stream=true` or `Accept: application/x-ndjson`) 200 with an NDJSON stream: the job, progress lines (`PullImage` with `job`), the finished job last. A pull of an image already being pulled joins it. `update: true` restarts the servers whose image changed",
        "PullJob",
        &["400", "403", "429"],
        &[],
    );
    pull["responses"]["200"] = json!({"description": "The stream form: one JSON object a line (the job first and last, progress between)", "content": {"application/x-ndjson": {}}});
    pull["responses"]["202"] = json!({"description": "The job, started; `Location` is where to poll it", "headers": {"Location": {"schema": {"type": "string"}}}, "content": job});
    pull["parameters"] = json!([{"name": "stream", "in": "query", "required": false, "schema": {"type": "boolean"}}]);
    pull["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"image": {"type": "string", "minLength": 1, "pattern": "\\S"}, "update": {"type": "boolean"}}}}}});
    let pull_job = op(
        "A pull job: each image's state, layers, bytes and last progress line, and the servers restarted (kept while running and among the last 16 after)",
        "PullJob",
        &["403", "404"],
        &["job"],
    );
    (pull, pull_job)
}

/// The `/api/docker/*` routes and their schemas (apart: one `json!` of everything is too deep).
fn docker_parts() -> (Value, Value) {
    let mut docker_action = op(
        "Start, stop or restart one container server",
        "ContainerAction",
        &["404", "409"],
        &["tenant", "server", "action"],
    );
    docker_action["parameters"][2]["schema"] =
        json!({"type": "string", "enum": ["start", "stop", "restart"]});
    let (pull, pull_job) = pull_ops();
    let paths = json!({
        "/api/docker/status": {"get": op("The container engine: reachable, version, this hub's containers", "DockerStatus", &["403"], &[])},
        "/api/docker/containers": {"get": op("Every container server the caller may see, with its container", "ContainerList", &[], &[])},
        "/api/docker/containers/{tenant}/{server}": {"get": op("One container server", "Container", &["404"], &["tenant", "server"])},
        "/api/docker/containers/{tenant}/{server}/{action}": {"post": docker_action},
        "/api/docker/images/pull": {"post": pull},
        "/api/docker/images/pull/{job}": {"get": pull_job},
        "/api/docker/cleanup": {"post": op("Remove this hub's stopped containers and its orphans (running containers of this instance that no live connection of the hub owns: servers, pool members, sessions' own)", "CleanupReport", &["403", "503"], &[])},
    });
    let schemas = json!({
                "DockerStatus": {"type": "object", "required": ["instance", "reachable", "servers", "running"], "properties": {
                    "instance": {"type": "string"}, "reachable": {"type": "boolean"}, "socket": {"type": "string"}, "error": {"type": "string"},
                    "version": {"type": ["string", "null"]}, "api_version": {"type": ["string", "null"]}, "engine": {"type": "string"},
                    "servers": {"type": "integer"}, "running": {"type": "integer"}, "max_containers": {"type": ["integer", "null"]},
                    "containers": {"type": "object", "properties": {"total": {"type": "integer"}, "running": {"type": "integer"}, "stopped": {"type": "integer"}}}}},
                "Container": {"type": "object", "required": ["tenant", "server", "image", "strategy", "state", "running", "limits"], "properties": {
                    "tenant": {"type": "string"}, "server": {"type": "string"}, "image": {"type": "string"},
                    "strategy": {"type": "string", "enum": ["on-demand", "always-on", "pre-warmed", "scheduled"]},
                    "state": {"type": "string"}, "last_error": {"type": ["string", "null"]}, "container": {"type": ["string", "null"]}, "id": {"type": ["string", "null"]},
                    "running": {"type": "boolean"}, "health": {"type": ["string", "null"]}, "uptime_seconds": {"type": ["integer", "null"]},
                    "idle_timeout_seconds": {"type": ["integer", "null"]}, "last_used_seconds_ago": {"type": ["integer", "null"]}, "limits": {"type": "object"},
                    "pool": {"type": "array", "description": "A pre-warmed pool's members (`pool` > 1), the first (the server's shared connection) first", "items": {"type": "object", "required": ["member", "state", "running", "in_flight"], "properties": {
                        "member": {"type": "integer"}, "state": {"type": "string"}, "last_error": {"type": ["string", "null"]}, "restarts": {"type": "integer"},
                        "container": {"type": ["string", "null"]}, "id": {"type": ["string", "null"]}, "running": {"type": "boolean"}, "in_flight": {"type": "integer"},
                        "tasks": {"type": "integer", "description": "Tasks (MCP `tasks`) that live in this member now: `tasks/*` for them are asked of it"}}}},
                    "pool_up": {"type": "string", "pattern": "^[0-9]+/[0-9]+$", "description": "A pre-warmed pool's members up, of how many (`2/3`): a member down for good (restart policy `never`, or its budget spent) is not replaced"}}},
                "ContainerList": {"type": "object", "required": ["containers"], "properties": {"containers": {"type": "array", "items": {"$ref": "#/components/schemas/Container"}}}},
                "ContainerAction": {"type": "object", "properties": {"started": {"type": "boolean"}, "stopped": {"type": "boolean"}, "restarted": {"type": "boolean"}, "container": {"$ref": "#/components/schemas/Container"}}},
                "PullJob": {"type": "object", "required": ["job", "state", "images", "restarted", "started_at", "finished_at"], "properties": {
                    "job": {"type": "string"}, "state": {"type": "string", "enum": ["running", "done", "failed"], "description": "`failed` when any image failed"},
                    "images": {"type": "array", "items": {"$ref": "#/components/schemas/PullImage"}},
                    "restarted": {"type": "array", "items": {"type": "string"}, "description": "`tenant/server` of each server restarted on a changed image (`update: true`)"},
                    "started_at": {"type": "string"}, "finished_at": {"type": ["string", "null"]}}},
                "PullImage": {"type": "object", "required": ["image", "state", "layers_done", "layers_total", "bytes_done", "bytes_total", "line", "changed", "error"], "properties": {
                    "job": {"type": "string", "description": "In a stream's progress lines only"},
                    "image": {"type": "string"}, "state": {"type": "string", "enum": ["queued", "pulling", "done", "failed"]},
                    "layers_done": {"type": "integer"}, "layers_total": {"type": "integer"}, "bytes_done": {"type": "integer"}, "bytes_total": {"type": "integer"},
                    "line": {"type": "string", "description": "The last progress line"}, "changed": {"type": ["boolean", "null"], "description": "Whether the image's id changed (once pulled)"},
                    "error": {"type": ["string", "null"]}, "joined": {"type": "string", "description": "The job whose pull of this image was already running: this image waited for it and shares its result"}}},
                "CleanupReport": {"type": "object", "required": ["removed"], "properties": {"removed": {"type": "array", "items": {"type": "string"}}, "networks": {"type": "array", "items": {"type": "string"}, "description": "The hub's own network, when it created it and no container of its runs any more"}}},
    });
    (paths, schemas)
}
