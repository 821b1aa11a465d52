//! Loopback ports for tests without the "bind port 0, release it, hand the
//! number on" race: another process can take a released port at any moment
//! (ctest runs tests side by side), and a test then talks to a stranger.
//!
//! - [`RefusingPort`] keeps a port bound but not listening for as long as it
//!   lives, so a connection to it is refused and nobody else can listen there.
//! - [`listening_port_of`] reads which port a child process that bound port
//!   0 itself is listening on (Linux: /proc), so a server that cannot report
//!   its port still needs none chosen for it.
#![allow(dead_code)]

use std::process::Child;
use std::time::{Duration, Instant};

/// A 127.0.0.1 port that refuses connections while this value lives: a TCP
/// socket bound to it that never listens. The socket is made without
/// SO_REUSEADDR, so no other socket can bind or listen on the port meanwhile.
pub struct RefusingPort {
    fd: libc::c_int,
    port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket(): {}", std::io::Error::last_os_error());
        let mut address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `address` is a valid sockaddr_in of `length` bytes for both
        // calls; getsockname writes at most `length` bytes into it.
        let bound = unsafe {
            libc::bind(fd, (&address as *const libc::sockaddr_in).cast(), length) == 0
                && libc::getsockname(
                    fd,
                    (&mut address as *mut libc::sockaddr_in).cast(),
                    &mut length,
                ) == 0
        };
        if !bound {
            let error = std::io::Error::last_os_error();
            // SAFETY: `fd` is our open socket, closed once.
            unsafe { libc::close(fd) };
            panic!("bind a refusing port on 127.0.0.1: {error}");
        }
        RefusingPort {
            fd,
            port: u16::from_be(address.sin_port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        RefusingPort::new()
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: `fd` is the socket made in new(), closed only here.
        unsafe { libc::close(self.fd) };
    }
}

/// The 127.0.0.1 (or 0.0.0.0) port a socket of process `pid` listens on, if
/// there is one yet: the inodes of the process's sockets (/proc/PID/fd)
/// matched with the listening sockets of /proc/net/tcp.
pub fn listening_port_of(pid: u32) -> Option<u16> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|digits| digits.parse::<u64>().ok())
            {
                inodes.push(inode);
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    for line in table.lines().skip(1) {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() <= 9 || fields[3] != "0A" {
            continue;
        }
        let Some((host, port)) = fields[1].split_once(':') else {
            continue;
        };
        let loopback = format!("{:08X}", u32::from_le_bytes([127, 0, 0, 1]));
        if host != loopback && host != "00000000" {
            continue;
        }
        let inode: u64 = fields[9].parse().unwrap_or(0);
        if inodes.contains(&inode) {
            return u16::from_str_radix(port, 16).ok();
        }
    }
    None
}

/// Waits (bounded) until `child` listens, and gives its port; None when it
/// exited first or did not listen within `limit`.
pub fn wait_listening_port(child: &mut Child, limit: Duration) -> Option<u16> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if let Some(port) = listening_port_of(child.id()) {
            return Some(port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}
