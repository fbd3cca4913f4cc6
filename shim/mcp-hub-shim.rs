//! `mcp-hub-shim SOCKET COMMAND [ARGS…]`: run inside a stdio container (mounted there by the
//! hub, built static so it runs in any image), it connects to the hub's unix socket, receives two
//! pipe ends from the hub (`SCM_RIGHTS`), puts them on its stdin and stdout, and execs the image's
//! command in its own place. The server then reads and writes the hub's own pipes, exactly as a
//! child process of the hub does: no relay process in between. It knows nothing of MCP, and
//! nothing of the hub but the socket's path and the one-byte hello.
//!
//! Built by `build.rs` with `rustc` alone (std only, `+crt-static`), and carried inside the hub.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("the shim's msghdr layout is Linux's on 64-bit targets");

/// `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

/// `struct msghdr` (Linux, 64-bit: the lengths are `size_t`).
#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    name_len: u32,
    iov: *mut IoVec,
    iov_len: usize,
    control: *mut u8,
    control_len: usize,
    flags: i32,
}

/// `struct cmsghdr`'s header; the data follows at `CMSG_HDR` bytes.
const CMSG_HDR: usize = 16;
const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const MSG_CTRUNC: i32 = 0x8;
/// The received descriptors are close-on-exec: only their copies on 0 and 1 reach the server.
const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;

extern "C" {
    fn dup2(old: i32, new: i32) -> i32;
    fn recvmsg(fd: i32, msg: *mut MsgHdr, flags: i32) -> isize;
}

fn fail(code: i32, what: &str) -> ! {
    eprintln!("mcp-hub-shim: {what}");
    exit(code);
}

/// Receives the hub's answer: one byte and two descriptors (the server's stdin, its stdout).
fn receive(socket: &UnixStream) -> [i32; 2] {
    let mut byte = [0u8; 1];
    let mut iov = IoVec {
        base: byte.as_mut_ptr(),
        len: 1,
    };
    // u64s: the control buffer must be aligned as a cmsghdr is.
    let mut control = [0u64; 8];
    let mut msg = MsgHdr {
        name: std::ptr::null_mut(),
        name_len: 0,
        iov: &mut iov,
        iov_len: 1,
        control: control.as_mut_ptr().cast(),
        control_len: std::mem::size_of_val(&control),
        flags: 0,
    };
    // SAFETY: every pointer in `msg` points at a live local of the size it gives.
    let n = unsafe { recvmsg(socket.as_raw_fd(), &mut msg, MSG_CMSG_CLOEXEC) };
    if n < 0 {
        fail(
            69,
            &format!(
                "reading the hub's socket: {}",
                std::io::Error::last_os_error()
            ),
        );
    }
    if n != 1 || byte[0] != b'p' || msg.flags & MSG_CTRUNC != 0 {
        fail(69, "the hub's socket did not hand over two pipes");
    }
    let bytes: &[u8] = {
        let p: *const u8 = control.as_ptr().cast();
        // SAFETY: `control` is 64 bytes of initialised u64s, read as bytes.
        unsafe { std::slice::from_raw_parts(p, std::mem::size_of_val(&control)) }
    };
    let word = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let int = |at: usize| i32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    let len = word(0) as usize;
    if msg.control_len < CMSG_HDR + 8
        || len != CMSG_HDR + 8
        || int(8) != SOL_SOCKET
        || int(12) != SCM_RIGHTS
    {
        fail(69, "the hub's socket did not hand over two pipes");
    }
    [int(CMSG_HDR), int(CMSG_HDR + 4)]
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), Some(program)) = (args.next(), args.next()) else {
        fail(64, "usage: mcp-hub-shim SOCKET COMMAND [ARGS...]");
    };
    let mut socket = UnixStream::connect(&path).unwrap_or_else(|e| {
        fail(
            69,
            &format!(
                "cannot connect to the hub's socket {}: {e}",
                path.to_string_lossy()
            ),
        )
    });
    if let Err(e) = socket.write_all(b"p") {
        fail(69, &format!("the hub's socket closed: {e}"));
    }
    // Pipes, not the socket itself: a server reading a socket wakes the hub's reactor for
    // writability on every read, which a pipe with room does not; and stdin and stdout are two
    // open files, so a server making one non-blocking does not make the other so.
    let [stdin, stdout] = receive(&socket);
    // SAFETY: dup2 on descriptors this process owns; 0 and 1 are replaced atomically.
    if unsafe { dup2(stdin, 0) } < 0 || unsafe { dup2(stdout, 1) } < 0 {
        fail(
            71,
            &format!("dup2 failed: {}", std::io::Error::last_os_error()),
        );
    }
    drop(socket);
    // The received descriptors and the socket are close-on-exec; 0 and 1 (their copies) are not.
    let err = Command::new(&program).args(args).exec();
    fail(
        127,
        &format!("cannot run {}: {err}", program.to_string_lossy()),
    );
}
