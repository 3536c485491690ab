//! Stat-ahead: completing the metadata of a directory's entries before they are looked up.
//!
//! A listing gives names, kinds and sizes but no metadata, so the attributes of an entry seen
//! only in a listing are completed with a HEAD when it is looked up. `ls -l` and friends look
//! up every entry of a directory one after the other; one HEAD each, waited for in turn, costs
//! one round trip per entry (s3fs's famous slowness). So when the lookups in a directory
//! follow its listing order (each name right after the one looked up before, or the one after
//! that), the entries up to [`AHEAD`] places further on are HEADed in the background,
//! [`PARALLEL`] at a time, and topped up as the walk goes on: the walk then rarely waits, and
//! when it does, for one HEAD already under way. A background HEAD only fills in what the
//! listing left unknown (see `InodeTable::complete_listed`); whatever it cannot settle (an
//! error, a vanished object, a changed kind) is left to the lookup, which HEADs again itself.
//! Every entry is HEADed at most once per listing by stat-ahead, and a program that opens a
//! few files of a big directory (a model server reading its config) never starts it.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Semaphore};

/// How far ahead of the walk entries are HEADed.
pub const AHEAD: usize = 128;
/// Background HEAD requests in flight at once (s3fs sends 20 at a time for a listing).
pub const PARALLEL: usize = 64;
/// Directories whose last listing is remembered.
const REMEMBERED: usize = 32;

struct Listing {
    /// Entry names in listing order.
    names: Arc<Vec<String>>,
    /// Index of the entry looked up last.
    last: Option<usize>,
    /// Entries before this index have been handed out for stat-ahead.
    started: usize,
}

/// The last listings of the last directories listed, and where the lookups are in each.
#[derive(Default)]
pub struct RecentListings {
    by_dir: HashMap<u64, Listing>,
    order: VecDeque<u64>,
}

impl RecentListings {
    /// Directory `dir` was just listed: the walk starts over.
    pub fn listed(&mut self, dir: u64, names: Vec<String>) {
        let listing = Listing {
            names: Arc::new(names),
            last: None,
            started: 0,
        };
        if self.by_dir.insert(dir, listing).is_none() {
            self.order.push_back(dir);
            while self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.by_dir.remove(&old);
                }
            }
        }
    }

    /// The entry `name` of `dir` is being looked up. When that continues a walk in listing
    /// order and less than half of [`AHEAD`] is under way beyond it, returns the listing and
    /// the range of entries to HEAD in the background now (each range is handed out once).
    pub fn walked(&mut self, dir: u64, name: &str) -> Option<(Arc<Vec<String>>, Range<usize>)> {
        let listing = self.by_dir.get_mut(&dir)?;
        let index = listing
            .names
            .binary_search_by(|n| n.as_str().cmp(name))
            .ok()?;
        // Entries HEADed ahead reach the kernel with their attributes in READDIRPLUS, so it
        // looks up only the others: a lookup at or just past the HEADed range goes on too.
        let in_order = matches!(listing.last, Some(last)
            if index > last && (index <= last + 2 || index <= listing.started + 1));
        tracing::trace!(dir, index, last = ?listing.last, started = listing.started, in_order, "stat-ahead walk");
        listing.last = Some(index);
        if !in_order {
            return None;
        }
        let from = listing.started.max(index + 1);
        if from >= index + 1 + AHEAD / 2 {
            return None; // enough under way already
        }
        let to = (index + 1 + AHEAD).min(listing.names.len());
        if from >= to {
            return None;
        }
        listing.started = to;
        Some((listing.names.clone(), from..to))
    }
}

/// Background HEADs under way, by inode, and the limit on how many run at once.
pub struct InFlight {
    waiting: Mutex<HashMap<u64, watch::Receiver<()>>>,
    permits: Arc<Semaphore>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            waiting: Mutex::default(),
            permits: Arc::new(Semaphore::new(PARALLEL)),
        }
    }
}

/// Held by a background HEAD; dropping it (done, failed or cancelled) releases the waiters.
pub struct Ticket {
    ino: u64,
    in_flight: Arc<InFlight>,
    _done: watch::Sender<()>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.in_flight.waiting().remove(&self.ino);
    }
}

impl InFlight {
    fn waiting(&self) -> MutexGuard<'_, HashMap<u64, watch::Receiver<()>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a background HEAD for `ino`, or `None` if one is under way already.
    pub fn start(self: &Arc<Self>, ino: u64) -> Option<Ticket> {
        let mut waiting = self.waiting();
        if waiting.contains_key(&ino) {
            return None;
        }
        let (done, rx) = watch::channel(());
        waiting.insert(ino, rx);
        Some(Ticket {
            ino,
            in_flight: self.clone(),
            _done: done,
        })
    }

    /// Waits until no background HEAD for `ino` is under way.
    pub async fn wait_for(&self, ino: u64) {
        let rx = self.waiting().get(&ino).cloned();
        if let Some(mut rx) = rx {
            // Err once the ticket's sender is dropped: exactly what is waited for.
            while rx.changed().await.is_ok() {}
        }
    }

    /// Limits the background HEADs that run at once.
    pub fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }

    /// Background HEADs registered and not finished.
    pub fn len(&self) -> usize {
        self.waiting().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("f{i:04}")).collect()
    }

    #[test]
    fn a_walk_in_listing_order_starts_the_entries_ahead_once() {
        let mut r = RecentListings::default();
        r.listed(7, names(1000));
        assert!(
            r.walked(7, "f0000").is_none(),
            "a first lookup is just a lookup"
        );
        let (n, range) = r.walked(7, "f0001").unwrap();
        assert_eq!(range, 2..2 + AHEAD);
        assert_eq!(n[range.start], "f0002");
        // Within the first half of the window nothing new is handed out.
        for i in 2..AHEAD / 2 + 2 {
            assert!(r.walked(7, &format!("f{i:04}")).is_none(), "at {i}");
        }
        // Then the window is topped up from where it ended, never handing out twice.
        let i = AHEAD / 2 + 2;
        let (_, range) = r.walked(7, &format!("f{i:04}")).unwrap();
        assert_eq!(range, 2 + AHEAD..i + 1 + AHEAD);
        // Skipping one name still counts as the walk; the end of the listing bounds it.
        let mut last = i;
        let mut handed = vec![2..2 + AHEAD, range];
        for i in (i + 2..1000).step_by(2) {
            if let Some((_, range)) = r.walked(7, &format!("f{i:04}")) {
                assert_eq!(range.start, handed.last().unwrap().end);
                handed.push(range);
            }
            last = i;
        }
        assert_eq!(handed.last().unwrap().end, 1000);
        assert!(last >= 998);
    }

    #[test]
    fn a_walk_skipping_the_entries_headed_ahead_goes_on() {
        let mut r = RecentListings::default();
        r.listed(7, names(1000));
        r.walked(7, "f0000");
        let (_, first) = r.walked(7, "f0001").unwrap();
        // READDIRPLUS gave the kernel f0002.. with attributes: the next lookup is the first
        // entry past them.
        let (_, next) = r.walked(7, &format!("f{:04}", first.end)).unwrap();
        assert_eq!(next, first.end + 1..first.end + 1 + AHEAD);
        assert!(
            r.walked(7, &format!("f{:04}", next.end + 5)).is_none(),
            "far past what was HEADed is a jump"
        );
    }

    #[test]
    fn jumps_and_other_directories_start_nothing() {
        let mut r = RecentListings::default();
        r.listed(7, names(10));
        r.walked(7, "f0000");
        assert!(r.walked(7, "f0001").is_some());
        assert!(r.walked(7, "f0000").is_none(), "a jump back is not a walk");
        assert!(
            r.walked(7, "f0005").is_none(),
            "a jump forward is not a walk"
        );
        assert!(
            r.walked(8, "x").is_none(),
            "an unlisted directory never starts"
        );
        r.listed(7, vec!["f0000".into(), "f0005".into()]);
        assert!(r.walked(7, "f0005").is_none(), "a new listing starts over");
    }

    #[test]
    fn sparse_lookups_never_start() {
        let mut r = RecentListings::default();
        r.listed(1, names(1000));
        for i in (0..1000).step_by(97) {
            assert!(r.walked(1, &format!("f{i:04}")).is_none());
        }
    }

    #[test]
    fn only_the_last_directories_are_remembered() {
        let mut r = RecentListings::default();
        for d in 0..(REMEMBERED as u64 + 5) {
            r.listed(d, vec!["x".into()]);
        }
        assert!(r.by_dir.len() <= REMEMBERED);
        assert!(!r.by_dir.contains_key(&0));
    }

    #[tokio::test]
    async fn waiters_are_released_when_the_ticket_goes() {
        let f = Arc::new(InFlight::default());
        let t = f.start(5).unwrap();
        assert!(f.start(5).is_none(), "one background HEAD per inode");
        f.wait_for(6).await; // nothing under way: returns at once
        let f2 = f.clone();
        let waiter = tokio::spawn(async move { f2.wait_for(5).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(t);
        waiter.await.unwrap();
        assert_eq!(f.len(), 0);
        assert!(f.start(5).is_some());
    }
}
