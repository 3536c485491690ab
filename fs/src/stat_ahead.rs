//! Stat-ahead: completing the metadata of many entries of a directory at once.
//!
//! A listing gives names, kinds and sizes but no metadata, so the attributes of an entry seen
//! only in a listing are completed with a HEAD when it is looked up. `ls -l` and friends look
//! up every entry of a directory one after the other; one HEAD each would cost one round trip
//! each (s3fs's famous slowness). So when the entries completed in a directory follow its
//! listing order (the entry right after the last one completed, or the one after that), the
//! lookup also completes the next entries of that listing whose metadata is unknown, [`BATCH`]
//! in all, [`PARALLEL`] HEADs at a time. Every entry is still HEADed at most once per listing, and a
//! program that opens a few files of a big directory (a model server reading its config)
//! never triggers a batch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Entries completed together, the one looked up included.
pub const BATCH: usize = 64;
/// HEAD requests in flight at once for a batch: a batch takes exactly two round trips.
pub const PARALLEL: usize = BATCH / 2;
/// Directories whose last listing is remembered.
const REMEMBERED: usize = 32;

struct Listing {
    /// Entry names in listing order.
    names: Arc<Vec<String>>,
    /// Index of the entry completed last (for a batch, its last member).
    last: Option<usize>,
}

#[derive(Default)]
pub struct RecentListings {
    by_dir: HashMap<u64, Listing>,
    order: VecDeque<u64>,
}

impl RecentListings {
    /// Directory `dir` was just listed.
    pub fn listed(&mut self, dir: u64, names: Vec<String>) {
        let listing = Listing {
            names: Arc::new(names),
            last: None,
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

    /// The entry `name` of `dir` is being completed. Returns the listing and the position
    /// after `name` when the caller walks the listing in order, so a batch should follow.
    pub fn completing(&mut self, dir: u64, name: &str) -> Option<(Arc<Vec<String>>, usize)> {
        let listing = self.by_dir.get_mut(&dir)?;
        let index = listing
            .names
            .binary_search_by(|n| n.as_str().cmp(name))
            .ok()?;
        let in_order = matches!(listing.last, Some(last) if index > last && index <= last + 2);
        listing.last = Some(index);
        in_order.then(|| (listing.names.clone(), index + 1))
    }

    /// The batch completed entries up to `last` (an index into the listing of `dir`).
    pub fn completed_up_to(&mut self, dir: u64, last: usize) {
        if let Some(listing) = self.by_dir.get_mut(&dir) {
            listing.last = Some(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_the_listing_order_only() {
        let mut r = RecentListings::default();
        let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        r.listed(7, names);
        assert!(
            r.completing(7, "f0").is_none(),
            "a first lookup is just a lookup"
        );
        let (names, after) = r.completing(7, "f1").unwrap();
        assert_eq!(after, 2);
        assert_eq!(names[after], "f2");
        r.completed_up_to(7, 5);
        assert!(
            r.completing(7, "f7").is_some(),
            "just past the batch: the walk goes on"
        );
        assert!(r.completing(7, "f3").is_none(), "a jump back is not a walk");
        assert!(
            r.completing(8, "x").is_none(),
            "an unlisted directory never batches"
        );
        r.listed(7, vec!["f0".into(), "f5".into()]);
        assert!(r.completing(7, "f5").is_none(), "a new listing starts over");
    }

    #[test]
    fn sparse_lookups_never_batch() {
        let mut r = RecentListings::default();
        r.listed(1, (0..1000).map(|i| format!("f{i:04}")).collect());
        for i in (0..1000).step_by(97) {
            assert!(r.completing(1, &format!("f{i:04}")).is_none());
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
}
