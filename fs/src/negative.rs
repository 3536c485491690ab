//! Names known not to exist, for a short time (s3fs's negative cache): a miss costs two
//! requests, and programs probe for missing files a lot (search paths, `.so` lookups).

use std::collections::HashMap;
use std::time::Instant;

pub struct NegativeCache {
    entries: HashMap<(u64, String), Instant>,
    capacity: usize,
}

impl NegativeCache {
    pub fn new(capacity: usize) -> Self {
        NegativeCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&mut self, parent: u64, name: &str, now: Instant) -> bool {
        let key = (parent, name.to_string());
        match self.entries.get(&key) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.entries.remove(&key);
                false
            }
            None => false,
        }
    }

    pub fn insert(&mut self, parent: u64, name: &str, until: Instant) {
        if until <= Instant::now() {
            return; // a zero TTL disables the cache
        }
        if self.entries.len() >= self.capacity {
            let now = Instant::now();
            self.entries.retain(|_, t| *t > now);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert((parent, name.to_string()), until);
    }

    pub fn remove(&mut self, parent: u64, name: &str) {
        self.entries.remove(&(parent, name.to_string()));
    }
}
