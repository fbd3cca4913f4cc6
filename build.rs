//! Builds `shim/mcp-hub-shim.rs` (see its header) as a static executable with the same `rustc`,
//! for the hub to carry (`include_bytes!`) and mount into stdio containers. Where it cannot be
//! built static (no static libc here), the hub carries an empty file and uses the engine's attach
//! stream instead; the build says so.

#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    reason = "a build script talks to cargo on stdout, and cargo's own OUT_DIR missing is a broken cargo"
)]

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "shim/mcp-hub-shim.rs";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out.join("mcp-hub-shim");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").unwrap_or_default();
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition=2021",
        "--crate-name=mcp_hub_shim",
        "-Copt-level=s",
        "-Cpanic=abort",
        "-Cstrip=symbols",
        "-Ctarget-feature=+crt-static",
    ]);
    if !target.is_empty() {
        cmd.args(["--target", &target]);
    }
    cmd.arg("-o").arg(&exe).arg(src);
    let built = match cmd.output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            println!("cargo:warning=the container shim could not be built static ({first}); stdio containers will use the engine's attach stream");
            false
        }
        Err(e) => {
            println!("cargo:warning=could not run rustc for the container shim ({e}); stdio containers will use the engine's attach stream");
            false
        }
    };
    if !built {
        std::fs::write(&exe, b"").expect("OUT_DIR is writable");
    }
}
