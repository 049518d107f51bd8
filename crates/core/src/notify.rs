//! systemd's service notification protocol (`sd_notify(3)`), without libsystemd.
//!
//! With `Type=notify`, systemd passes a unix datagram socket in `NOTIFY_SOCKET`
//! (a path, or an abstract name when it starts with `@`); the service sends
//! newline-separated `KEY=VALUE` assignments to it: `READY=1` once it delivers,
//! `RELOADING=1` / `READY=1` around a reload, `STOPPING=1`, and `WATCHDOG=1`
//! at least every `WATCHDOG_USEC` when the unit sets `WatchdogSec=`. Outside
//! systemd (no `NOTIFY_SOCKET`) every call is a no-op.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Send one notification; false when not under systemd or the send failed.
pub fn notify(state: &str) -> bool {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) => notify_to(&socket, state),
        None => false,
    }
}

/// Send one notification to `socket` (a path, or `@name` for an abstract socket).
pub fn notify_to(socket: &OsStr, state: &str) -> bool {
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let path = socket.as_bytes();
    let sent = if let Some(name) = path.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(
            state.as_bytes(),
            std::path::Path::new(OsStr::from_bytes(path)),
        )
    };
    if let Err(e) = &sent {
        tracing::debug!("sd_notify {state:?}: {e}");
    }
    sent.is_ok()
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set
/// for this process (`WATCHDOG_PID`, if present, must be ours).
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Keep systemd's watchdog fed while the runtime is alive (a wedged runtime
/// stops feeding it, and systemd restarts the agent). None outside systemd.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let every = watchdog_interval()?;
    tracing::info!("systemd watchdog: pinging every {} ms", every.as_millis());
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            notify("WATCHDOG=1");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The datagram systemd would receive, for both socket address forms.
    #[test]
    fn sends_datagrams_to_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&p).unwrap();
        assert!(notify_to(p.as_os_str(), "READY=1\nSTATUS=running"));
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("onetrail-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx2 = UnixDatagram::bind_addr(&addr).unwrap();
        assert!(notify_to(OsStr::new(&format!("@{name}")), "WATCHDOG=1"));
        let n = rx2.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        assert!(!notify_to(dir.path().join("nobody").as_os_str(), "READY=1"));
    }
}
