//! `mcp-hub-shim SOCKET COMMAND [ARGS…]`: run inside a stdio container (mounted there by the
//! hub, built static so it runs in any image), it connects to the hub's unix socket twice, puts the
//! connections on its stdin and stdout, and execs the image's command in its own place. The
//! server then reads and writes the hub's socket directly: no relay process in between. It knows
//! nothing of MCP, and nothing of the hub but the socket's path.
//!
//! Built by `build.rs` with `rustc` alone (std only, `+crt-static`), and carried inside the hub.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

extern "C" {
    fn dup2(old: i32, new: i32) -> i32;
}

/// Connects to the hub's socket and says which stream this connection is (`i` or `o`).
fn connect(socket: &std::ffi::OsStr, which: u8) -> UnixStream {
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "mcp-hub-shim: cannot connect to the hub's socket {}: {e}",
                socket.to_string_lossy()
            );
            exit(69);
        }
    };
    if let Err(e) = std::io::Write::write_all(&mut s, &[which]) {
        eprintln!("mcp-hub-shim: the hub's socket closed: {e}");
        exit(69);
    }
    s
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(socket), Some(program)) = (args.next(), args.next()) else {
        eprintln!("mcp-hub-shim: usage: mcp-hub-shim SOCKET COMMAND [ARGS...]");
        exit(64);
    };
    // Two connections, so that stdin and stdout are two open files as with pipes (a server that
    // makes its stdout non-blocking must not make its stdin so, nor the other way round). Each
    // says first which it is.
    let input = connect(&socket, b'i');
    let output = connect(&socket, b'o');
    // SAFETY: dup2 on descriptors this process owns; 0 and 1 are replaced atomically.
    if unsafe { dup2(input.as_raw_fd(), 0) } < 0 || unsafe { dup2(output.as_raw_fd(), 1) } < 0 {
        eprintln!(
            "mcp-hub-shim: dup2 failed: {}",
            std::io::Error::last_os_error()
        );
        exit(71);
    }
    // The sockets' own descriptors are close-on-exec; 0 and 1 (their copies) are not.
    let err = Command::new(&program).args(args).exec();
    eprintln!(
        "mcp-hub-shim: cannot run {}: {err}",
        program.to_string_lossy()
    );
    exit(127);
}
