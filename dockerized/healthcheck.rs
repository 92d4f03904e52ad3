//! `eb-healthcheck`: the container's HEALTHCHECK, with nothing but std.
//!
//! The runtime image has no shell, curl or wget, so this small probe sends one
//! `GET PATH HTTP/1.1` and exits 0 when the answer's status is 200, 1 otherwise, a bad
//! argument included (Docker reserves 2), within three seconds in all.
//!
//! Usage: `eb-healthcheck [HOST:PORT] [PATH]`
//!
//! Without arguments it asks the daemon itself: `GET /readyz` (200 only while at least
//! `--ready-min-nodes` execution clients are alive and synced) on port `$EB_PORT` (7000) of
//! `$EB_LISTEN_ADDR`, or of 127.0.0.1 when that is unset or 0.0.0.0 (`[::1]` for `::`). For
//! mock-el: `eb-healthcheck 127.0.0.1:9551 /health`.
//!
//! Built in the Dockerfile's build stage with `rustc`; it is not part of the Cargo workspace.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_secs(3);

fn default_target() -> Result<SocketAddr, String> {
    let port = match std::env::var("EB_PORT") {
        Ok(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("EB_PORT={p:?} is not a port"))?,
        Err(_) => 7000,
    };
    let ip = match std::env::var("EB_LISTEN_ADDR") {
        Ok(a) => a
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("EB_LISTEN_ADDR={a:?} is not an IP address"))?,
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let ip = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    Ok(SocketAddr::new(ip, port))
}

fn probe(target: SocketAddr, host: &str, path: &str) -> Result<(), String> {
    let start = Instant::now();
    let left = || {
        BUDGET
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "timed out".to_string())
    };
    let mut stream =
        TcpStream::connect_timeout(&target, left()?).map_err(|e| format!("connect: {e}"))?;
    stream.set_write_timeout(Some(left()?)).ok();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: eb-healthcheck\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    // The status line is all we need: "HTTP/1.1 200 OK".
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        stream.set_read_timeout(Some(left()?)).ok();
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default().trim();
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some(v), Some("200")) if v.starts_with("HTTP/1.") => Ok(()),
        _ if line.is_empty() => Err("no answer".into()),
        _ => Err(format!("answered {line:?}")),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (target, host) = match args.next() {
        Some(arg) => match arg.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => (addr, arg),
            _ => {
                eprintln!("eb-healthcheck: {arg:?} is not HOST:PORT");
                return ExitCode::FAILURE;
            }
        },
        None => match default_target() {
            Ok(addr) => (addr, addr.to_string()),
            Err(e) => {
                eprintln!("eb-healthcheck: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let path = args.next().unwrap_or_else(|| "/readyz".into());
    match probe(target, &host, &path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eb-healthcheck: GET http://{host}{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
