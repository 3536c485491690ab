//! FUSE INTERRUPT: letting a dying process go.
//!
//! A process waiting on a request the kernel has already handed to the daemon cannot exit,
//! not even on SIGKILL, until that request is answered: with a stalled server it would sit
//! in D state for the whole request timeout (minutes), and so would `kubectl delete pod` of
//! a model server reading the mount. When a waiting process gets a signal, the kernel sends
//! INTERRUPT for its request. A request registered here ([`Interrupts::run`]) is then
//! answered EINTR at once if its caller is dying (a fatal signal puts SIGKILL in every
//! thread's pending set, which `/proc/TID/status` shows); the abandoned work is dropped.
//!
//! Other signals do not cancel anything, as with s3fs and libfuse without `-o intr`: an
//! EINTR from `read(2)` of a regular file breaks programs that never expect one. The kernel
//! sends INTERRUPT only once per request, so a caller that was not dying is watched until
//! its request ends, and the request is cancelled if the caller dies meanwhile.
//!
//! Requests that change nothing in the bucket are registered (lookups, attributes, listings,
//! opens and reads), and the wait of a flush or fsync: its upload runs on a task of its own
//! and goes on to its end when the waiting caller is let go, since cutting it off would lose
//! the data. Renames, deletes and the like are not: cut off halfway, they would leave the
//! cache disagreeing with the bucket.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// How often a caller that got a signal is checked again while its request runs.
const WATCH_EVERY: Duration = Duration::from_millis(200);
/// INTERRUPTs remembered for requests not registered yet (the two race in fuse3's tasks).
const EARLY: usize = 256;

/// Tells whether the thread `tid` (as FUSE names the caller) is being killed.
pub type DyingCheck = fn(u32) -> bool;

/// The cancellable requests being served, by FUSE request id.
pub struct Interrupts {
    state: Mutex<State>,
    is_dying: DyingCheck,
}

#[derive(Default)]
struct State {
    running: HashMap<u64, Running>,
    /// Ids of INTERRUPTs that arrived before their request registered, oldest first.
    early: VecDeque<u64>,
}

struct Running {
    tid: u32,
    cancel: Option<oneshot::Sender<()>>,
    watched: bool,
}

impl Default for Interrupts {
    fn default() -> Self {
        Interrupts::new(caller_is_dying)
    }
}

/// Unregisters a request however its future ends (answered, cancelled or dropped).
struct Registered<'a> {
    interrupts: &'a Arc<Interrupts>,
    unique: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.interrupts.state().running.remove(&self.unique);
    }
}

impl Interrupts {
    pub fn new(is_dying: DyingCheck) -> Self {
        Interrupts {
            state: Mutex::default(),
            is_dying,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs request `unique` of thread `tid`; it ends with `interrupted` instead if an
    /// INTERRUPT for it comes while its caller is dying.
    pub async fn run<T, E>(
        self: &Arc<Self>,
        unique: u64,
        tid: u32,
        interrupted: E,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let (cancel, cancelled) = oneshot::channel();
        let was_interrupted = {
            let mut s = self.state();
            s.running.insert(
                unique,
                Running {
                    tid,
                    cancel: Some(cancel),
                    watched: false,
                },
            );
            let early = s.early.iter().position(|&u| u == unique);
            early.and_then(|i| s.early.remove(i)).is_some()
        };
        let _registered = Registered {
            interrupts: self,
            unique,
        };
        if was_interrupted {
            self.interrupt(unique);
        }
        tokio::select! {
            biased;
            Ok(()) = cancelled => Err(interrupted),
            result = work => result,
        }
    }

    /// The kernel sent INTERRUPT for request `unique`.
    pub fn interrupt(self: &Arc<Self>, unique: u64) {
        let tid = {
            let mut s = self.state();
            match s.running.get_mut(&unique) {
                Some(r) if r.watched => return,
                Some(r) => {
                    r.watched = true;
                    r.tid
                }
                None => {
                    // Not registered yet, or already answered (then this is never matched).
                    s.early.push_back(unique);
                    if s.early.len() > EARLY {
                        s.early.pop_front();
                    }
                    return;
                }
            }
        };
        if (self.is_dying)(tid) {
            self.cancel(unique);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(WATCH_EVERY).await;
                let Some(tid) = this.state().running.get(&unique).map(|r| r.tid) else {
                    return; // answered
                };
                if (this.is_dying)(tid) {
                    this.cancel(unique);
                    return;
                }
            }
        });
    }

    fn cancel(&self, unique: u64) {
        let cancel = self
            .state()
            .running
            .get_mut(&unique)
            .and_then(|r| r.cancel.take());
        if let Some(cancel) = cancel {
            tracing::debug!(unique, "request interrupted: its caller is being killed");
            let _ = cancel.send(());
        }
    }
}

/// Whether thread `tid` is being killed: SIGKILL pending for it or its process, or gone.
/// A zero id (a caller in a PID namespace the daemon cannot see) is never taken for dying.
pub fn caller_is_dying(tid: u32) -> bool {
    if tid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{tid}/status")) {
        Ok(status) => sigkill_pending(&status),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Whether a `/proc/TID/status` text shows SIGKILL pending (`SigPnd` or `ShdPnd`).
fn sigkill_pending(status: &str) -> bool {
    let bit = 1u64 << (libc::SIGKILL - 1);
    status.lines().any(|line| {
        let Some((name, mask)) = line.split_once(':') else {
            return false;
        };
        matches!(name, "SigPnd" | "ShdPnd")
            && u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & bit != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    static DYING: AtomicBool = AtomicBool::new(false);

    fn flag(_: u32) -> bool {
        DYING.load(Ordering::SeqCst)
    }

    #[test]
    fn sigkill_is_read_from_either_pending_set() {
        let status = |sig: &str, shd: &str| {
            format!("Name:\tcat\nState:\tS (sleeping)\nSigPnd:\t{sig}\nShdPnd:\t{shd}\nSigBlk:\t0000000000000100\n")
        };
        assert!(!sigkill_pending(&status(
            "0000000000000000",
            "0000000000000000"
        )));
        assert!(sigkill_pending(&status(
            "0000000000000100",
            "0000000000000000"
        )));
        assert!(sigkill_pending(&status(
            "0000000000000000",
            "0000000000004100"
        )));
        assert!(
            !sigkill_pending(&status("0000000000000200", "0000000000004000")),
            "SIGUSR1, SIGTERM caught"
        );
        assert!(!sigkill_pending("SigPnd:\tnot hex\n"));
        assert!(!caller_is_dying(0));
        assert!(!caller_is_dying(std::process::id()));
    }

    // One test, as DYING is shared.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_a_dying_caller_cancels_and_unregistered_requests_are_caught_up() {
        let i = Arc::new(Interrupts::new(flag));
        let stuck = || std::future::pending::<Result<u32, &str>>();

        // Dying when the INTERRUPT comes: answered at once.
        DYING.store(true, Ordering::SeqCst);
        let i2 = i.clone();
        let t = tokio::spawn(async move { i2.run(1, 99, "EINTR", stuck()).await });
        while i.state().running.is_empty() {
            tokio::task::yield_now().await;
        }
        i.interrupt(1);
        assert_eq!(t.await.unwrap(), Err("EINTR"));
        assert!(i.state().running.is_empty(), "unregistered when answered");

        // The INTERRUPT before the request registered: caught up on registration.
        i.interrupt(2);
        assert_eq!(i.run(2, 99, "EINTR", stuck()).await, Err("EINTR"));

        // Not dying: the work goes on and completes...
        DYING.store(false, Ordering::SeqCst);
        let i2 = i.clone();
        let t = tokio::spawn(async move {
            i2.run(3, 99, "EINTR", async {
                tokio::time::sleep(WATCH_EVERY * 3).await;
                Ok(7)
            })
            .await
        });
        while i.state().running.is_empty() {
            tokio::task::yield_now().await;
        }
        i.interrupt(3);
        assert_eq!(t.await.unwrap(), Ok(7));

        // ...unless the caller dies while it runs.
        let i2 = i.clone();
        let t = tokio::spawn(async move { i2.run(4, 99, "EINTR", stuck()).await });
        while i.state().running.is_empty() {
            tokio::task::yield_now().await;
        }
        i.interrupt(4);
        tokio::time::sleep(WATCH_EVERY * 2).await;
        assert!(!t.is_finished());
        DYING.store(true, Ordering::SeqCst);
        assert_eq!(t.await.unwrap(), Err("EINTR"));

        // Unmatched INTERRUPTs (answered requests) are forgotten past a bound.
        for u in 100..100 + EARLY as u64 * 2 {
            i.interrupt(u);
        }
        assert_eq!(i.state().early.len(), EARLY);
    }
}
