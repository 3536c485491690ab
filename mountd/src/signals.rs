//! Signals: SIGTERM, SIGINT and SIGHUP stop the mount; SIGHUP reopens the log file instead
//! when there is one; and as PID 1 (a container entrypoint), orphaned children are reaped.
//!
//! The handlers are installed before anything else happens, because as PID 1 a signal
//! without a handler is ignored (pid_namespaces(7)), and a Rust program has no handlers of
//! its own: `docker stop` would otherwise wait for its SIGKILL and leave a stale mount.
//!
//! SIGHUP: s3fs reopens its log file and keeps running; libfuse (and this project's issue)
//! treat it as a stop. mountd does both, depending on `logfile=`: with a log file, SIGHUP
//! reopens it (logrotate); without one, it unmounts and exits 0 like SIGTERM.

use std::collections::HashSet;
use std::io;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::logging::LogHandle;

/// The stop signals.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Install the handlers (inside a tokio runtime).
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Wait for a signal that stops mountd; returns its name. A SIGHUP with a log file
    /// reopens the file and keeps waiting.
    pub async fn stop(&mut self, log: &LogHandle) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => {
                    if !log.has_file() {
                        return "SIGHUP";
                    }
                    match log.reopen() {
                        Ok(()) => tracing::info!("SIGHUP: reopened the log file"),
                        Err(e) => tracing::error!("SIGHUP: cannot reopen the log file: {e}"),
                    }
                }
            }
        }
    }
}

/// Zombie children of this process, from `/proc`.
fn zombie_children(me: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: i32 = name.to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut f = rest.split(' ');
        let state = f.next()?;
        let ppid: i32 = f.next()?.parse().ok()?;
        (state == "Z" && ppid == me).then_some(pid)
    })
    .collect()
}

/// As PID 1, reap orphans that were re-parented to us. A zombie is reaped only once it has
/// been seen in two passes, so a child that our own code (or a library) is about to wait for,
/// e.g. `fusermount3`, is left to its owner.
pub fn spawn_reaper_if_pid1() {
    if std::process::id() != 1 {
        return;
    }
    tokio::spawn(async move {
        let mut sigchld = match signal(SignalKind::child()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot watch SIGCHLD, orphans will not be reaped: {e}");
                return;
            }
        };
        let mut seen: HashSet<i32> = HashSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = sigchld.recv() => {}
                _ = tick.tick() => {}
            }
            let now: HashSet<i32> = zombie_children(1).into_iter().collect();
            for pid in now.intersection(&seen) {
                let mut status = 0;
                // SAFETY: waiting (without blocking) for one specific child.
                unsafe {
                    libc::waitpid(*pid, &mut status, libc::WNOHANG);
                }
            }
            seen = now;
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_our_zombies() {
        let me = std::process::id() as i32;
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !super::zombie_children(me).contains(&pid) {
            assert!(std::time::Instant::now() < deadline, "no zombie seen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut child = child;
        child.wait().unwrap();
        assert!(!super::zombie_children(me).contains(&pid));
    }
}
