//! The demo MCP server: a small but complete upstream for mcp-hub's shipped `hub.toml`
//! (`mcp-hub demo-server`), its tests and its latency benchmark (`examples/demo_server.rs`).
//! It speaks newline-delimited JSON-RPC over stdio; logs go to stderr only. It knows nothing of
//! the hub: it is a peer, built into the binary so that a first start needs no second compile.
//!
//! ```text
//! mcp-hub demo-server [--name NAME] [--only-2026] [--tools N]
//! ```
//!
//! * `--name NAME`   serverInfo.name (default `demo`)
//! * `--only-2026`   support only protocol 2026-07-28: `initialize` is refused with -32022,
//!   `server/discover` and per-request `_meta` work (the process stays up after a refused
//!   `initialize`, unlike a bare rmcp server, which exits)
//! * `--tools N`     add N trivial tools `t0..tN-1` (catalog-size tests)
//!
//! Tools: `echo`, `add` (structured output), `slow` (progress), `show_dashboard` (MCP Apps),
//! `toggle_extra` (adds/removes `extra`, sends `notifications/tools/list_changed`), `fail`.
//! Prompt `greeting` (with completion), resources `demo://info` and
//! `ui://demo/dashboard.html`, template `demo://items/{id}` (with completion).
#![allow(deprecated)] // logging is SEP-2577-deprecated but still part of the handshake era

use std::{
    borrow::Cow,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

mod reusable;

use rmcp::{
    model::*,
    service::{RequestContext, SubscriptionContext, SubscriptionSink},
    transport::stdio_pipes,
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt,
};
use serde_json::{json, Value};

use crate::sync::LockExt;
use reusable::serve_reusable;

const DASHBOARD_URI: &str = "ui://demo/dashboard.html";
const DASHBOARD_MIME: &str = "text/html;profile=mcp-app";
const DASHBOARD_HTML: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>demo dashboard</title></head>\n<body><h1>mcp-hub demo dashboard</h1><p id=\"status\">ok</p></body></html>\n";
const ITEMS_TEMPLATE: &str = "demo://items/{id}";
const ITEMS_PREFIX: &str = "demo://items/";
const NAMES: [&str; 3] = ["alice", "albert", "bob"];
const ITEM_IDS: [&str; 3] = ["1", "2", "42"];

struct Opts {
    name: String,
    only_2026: bool,
    tools: usize,
}

/// The one-line usage, printed with a bad argument.
pub const USAGE: &str = "usage: demo-server [--name NAME] [--only-2026] [--tools N]";

/// Why the demo server could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("{0}")]
    Serve(String),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Opts, DemoError> {
    let mut opts = Opts {
        name: "demo".into(),
        only_2026: false,
        tools: 0,
    };
    let mut args = args.into_iter();
    let missing = |what: &str| DemoError::Usage(format!("{what} needs a value"));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--name" => opts.name = args.next().ok_or_else(|| missing("--name"))?,
            "--only-2026" => opts.only_2026 = true,
            "--tools" => {
                opts.tools = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| DemoError::Usage("--tools needs a number".into()))?
            }
            other => return Err(DemoError::Usage(format!("unknown argument {other:?}"))),
        }
    }
    Ok(opts)
}

fn obj(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("object literal expected"),
    }
}

fn meta(value: Value) -> MetaObject {
    MetaObject(obj(value))
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(format!("unknown tool: {name}"), None)
}

fn build_tools(n_numbered: usize) -> Vec<Tool> {
    let mut tools = vec![
        Tool::new(
            "echo",
            "Echo the message back",
            Arc::new(obj(json!({
                "type": "object",
                "properties": {"message": {"type": "string", "description": "text to echo"}},
                "required": ["message"]
            }))),
        ),
        Tool::new(
            "add",
            "Add two numbers (structured output)",
            Arc::new(obj(json!({
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"]
            }))),
        )
        .with_raw_output_schema(Arc::new(obj(json!({
            "type": "object",
            "properties": {"sum": {"type": "number"}},
            "required": ["sum"]
        })))),
        Tool::new(
            "slow",
            "Take `steps` steps of `delay_ms` each, reporting progress",
            Arc::new(obj(json!({
                "type": "object",
                "properties": {
                    "steps": {"type": "integer", "minimum": 0, "default": 3},
                    "delay_ms": {"type": "integer", "minimum": 0, "default": 100}
                }
            }))),
        ),
        Tool::new(
            "show_dashboard",
            "Show the demo dashboard (MCP Apps UI)",
            Arc::new(obj(json!({"type": "object", "properties": {}}))),
        )
        .with_meta(meta(json!({"ui": {"resourceUri": DASHBOARD_URI}}))),
        Tool::new(
            "toggle_extra",
            "Add or remove the tool `extra` (sends notifications/tools/list_changed)",
            Arc::new(obj(json!({"type": "object", "properties": {}}))),
        ),
        Tool::new(
            "fail",
            "Always returns an error result",
            Arc::new(obj(json!({"type": "object", "properties": {}}))),
        ),
    ];
    let empty = Arc::new(obj(json!({"type": "object", "properties": {}})));
    tools.extend((0..n_numbered).map(|i| {
        Tool::new(
            format!("t{i}"),
            format!("Trivial numbered tool {i}"),
            empty.clone(),
        )
    }));
    tools
}

struct Demo {
    name: String,
    only_2026: bool,
    n_numbered: usize,
    tools: Vec<Tool>,
    extra_tool: Tool,
    extra_enabled: AtomicBool,
    /// Open 2026-07-28 `subscriptions/listen` streams (id, sink).
    subscriptions: Mutex<Vec<(u64, SubscriptionSink)>>,
    next_subscription: AtomicU64,
}

impl Demo {
    fn new(opts: &Opts) -> Self {
        Demo {
            name: opts.name.clone(),
            only_2026: opts.only_2026,
            n_numbered: opts.tools,
            tools: build_tools(opts.tools),
            extra_tool: Tool::new(
                "extra",
                "A tool that comes and goes (see toggle_extra)",
                Arc::new(obj(json!({"type": "object", "properties": {}}))),
            ),
            extra_enabled: AtomicBool::new(false),
            subscriptions: Mutex::new(Vec::new()),
            next_subscription: AtomicU64::new(0),
        }
    }

    fn is_numbered_tool(&self, name: &str) -> bool {
        name.strip_prefix('t')
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|i| i < self.n_numbered && name == format!("t{i}"))
    }

    async fn slow(
        &self,
        args: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let steps = arg_u64(args, "steps")?.unwrap_or(3);
        let delay_ms = arg_u64(args, "delay_ms")?.unwrap_or(100);
        let token = context.meta.get_progress_token();
        for step in 1..=steps {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                _ = context.ct.cancelled() => {
                    return Ok(CallToolResult::error(vec![ContentBlock::text("cancelled")]));
                }
            }
            if let Some(token) = &token {
                let progress = ProgressNotificationParam::new(token.clone(), step as f64)
                    .with_total(steps as f64)
                    .with_message(format!("step {step} of {steps}"));
                if let Err(error) = context.peer.notify_progress(progress).await {
                    tracing::warn!(%error, "could not send progress");
                }
            }
        }
        Ok(text_result(format!("done after {steps} steps")))
    }

    async fn toggle_extra(&self, context: &RequestContext<RoleServer>) -> CallToolResult {
        let now_enabled = !self.extra_enabled.fetch_xor(true, Ordering::SeqCst);
        let is_2026 = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if !is_2026 {
            if let Err(error) = context.peer.notify_tool_list_changed().await {
                tracing::warn!(%error, "could not send tools/list_changed");
            }
        }
        // 2026-07-28 clients get list changes only through subscriptions/listen.
        let sinks: Vec<SubscriptionSink> = self
            .subscriptions
            .locked()
            .iter()
            .map(|(_, sink)| sink.clone())
            .collect();
        for sink in sinks {
            if let Err(error) = sink.notify_tool_list_changed().await {
                tracing::debug!(%error, "subscription gone");
            }
        }
        text_result(if now_enabled {
            "extra tool added"
        } else {
            "extra tool removed"
        })
    }
}

fn arg_u64(args: &JsonObject, key: &str) -> Result<Option<u64>, McpError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| {
                McpError::invalid_params(format!("`{key}` must be a non-negative integer"), None)
            }),
    }
}

fn arg_f64(args: &JsonObject, key: &str) -> Result<f64, McpError> {
    args.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| McpError::invalid_params(format!("`{key}` must be a number"), None))
}

fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn completions(candidates: &[&str], typed: &str) -> CompleteResult {
    let values = candidates
        .iter()
        .filter(|c| c.starts_with(typed))
        .map(|c| c.to_string())
        .collect();
    CompleteResult::new(CompletionInfo::with_all_values(values).unwrap_or_default())
}

impl ServerHandler for Demo {
    fn get_info(&self) -> ServerConfig {
        let mut extensions = ExtensionCapabilities::new();
        extensions.insert(
            "io.modelcontextprotocol/ui".into(),
            obj(json!({"mimeTypes": [DASHBOARD_MIME]})),
        );
        let capabilities = ServerCapabilities::builder()
            .enable_extensions_with(extensions)
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(self.name.clone(), "0.1.0"))
            .with_protocol_version(if self.only_2026 {
                ProtocolVersion::V_2026_07_28
            } else {
                ProtocolVersion::LATEST_WITH_INITIALIZE
            })
            .with_instructions(
                "mcp-hub demo server: echo, add, slow, show_dashboard, toggle_extra, fail",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.only_2026 {
            Cow::Owned(vec![ProtocolVersion::V_2026_07_28])
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn on_initialized(&self, _context: rmcp::service::NotificationContext<RoleServer>) {}

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = self.tools.clone();
        if self.extra_enabled.load(Ordering::SeqCst) {
            tools.push(self.extra_tool.clone());
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "echo" => {
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .ok_or_else(|| McpError::invalid_params("`message` must be a string", None))?;
                text_result(format!("Echo: {message}"))
            }
            "add" => {
                let sum = number(arg_f64(&args, "a")? + arg_f64(&args, "b")?);
                let structured = json!({ "sum": sum });
                let mut result = text_result(structured.to_string());
                result.structured_content = Some(structured);
                result
            }
            "slow" => self.slow(&args, &context).await?,
            "show_dashboard" => text_result(format!("Dashboard ready at {DASHBOARD_URI}")),
            "toggle_extra" => self.toggle_extra(&context).await,
            "fail" => CallToolResult::error(vec![ContentBlock::text("this tool always fails")]),
            "extra" if self.extra_enabled.load(Ordering::SeqCst) => text_result("extra!"),
            name if self.is_numbered_tool(name) => text_result(format!("{name} ok")),
            name => return Err(unknown_tool(name)),
        };
        Ok(result.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greeting",
            Some("Greet someone by name"),
            Some(vec![PromptArgument::new("name")
                .with_description("who to greet")
                .with_required(true)]),
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name != "greeting" {
            return Err(McpError::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        }
        let name = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| McpError::invalid_params("missing required argument `name`", None))?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Say hello to {name}"),
        )])
        .with_description("A greeting")
        .into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let typed = request.argument.value.as_str();
        Ok(match (&request.r#ref, request.argument.name.as_str()) {
            (Reference::Prompt(p), "name") if p.name == "greeting" => completions(&NAMES, typed),
            (Reference::Resource(r), "id") if r.uri == ITEMS_TEMPLATE => {
                completions(&ITEM_IDS, typed)
            }
            _ => CompleteResult::new(CompletionInfo::with_all_values(vec![]).unwrap_or_default()),
        })
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("demo://info", "info")
                .with_description("What this server is")
                .with_mime_type("text/plain"),
            Resource::new(DASHBOARD_URI, "dashboard")
                .with_title("Demo dashboard")
                .with_mime_type(DASHBOARD_MIME)
                .with_meta(dashboard_meta()),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(ITEMS_TEMPLATE, "item")
                .with_description("A numbered item")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        let contents = match uri {
            "demo://info" => ResourceContents::text("mcp-hub demo server", uri),
            DASHBOARD_URI => ResourceContents::text(DASHBOARD_HTML, uri)
                .with_mime_type(DASHBOARD_MIME)
                .with_meta(dashboard_meta()),
            _ => match uri.strip_prefix(ITEMS_PREFIX) {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    ResourceContents::text(format!("item {id}"), uri)
                }
                _ => {
                    return Err(McpError::resource_not_found(
                        format!("resource not found: {uri}"),
                        Some(json!({ "uri": uri })),
                    ))
                }
            },
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let _ = requested;
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        self.subscriptions
            .locked()
            .push((id, context.sink().clone()));
        context.cancelled().await;
        self.subscriptions.locked().retain(|(i, _)| *i != id);
        Ok(())
    }
}

fn dashboard_meta() -> MetaObject {
    meta(json!({"ui": {"csp": {"connectDomains": []}, "prefersBorder": true}}))
}

/// Serves the demo on stdin/stdout with `args` (after the program name) until stdin closes.
pub async fn run(args: impl IntoIterator<Item = String>) -> Result<(), DemoError> {
    let opts = parse_args(args)?;
    let demo = Arc::new(Demo::new(&opts));
    if opts.only_2026 {
        serve_reusable(demo).await
    } else {
        let service = demo
            .serve(stdio_pipes())
            .await
            .map_err(|e| DemoError::Serve(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| DemoError::Serve(e.to_string()))?;
        Ok(())
    }
}
