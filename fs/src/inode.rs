//! The inode table: stable inode numbers for names, what we know of each, and the kernel's
//! references to them.
//!
//! An inode number names one (parent, name, kind). It is never reused during a mount. The
//! kernel counts its references with lookups and gives them back with `forget`; a node the
//! kernel no longer references and no open handle uses is only a cache entry, evicted when
//! the table grows past its budget. When a name changes kind (a file replaced by a directory)
//! it gets a new inode; the old one lives on, unlinked, until the kernel forgets it.

use std::collections::HashMap;
use std::time::Instant;

use crate::attr::{Kind, Stat};

pub const ROOT_INO: u64 = 1;

#[derive(Debug, Clone)]
pub struct Node {
    pub ino: u64,
    pub parent: u64,
    pub name: String,
    /// Object key (file, symlink) or key prefix ending in `/` (directory; the root's is the
    /// mount prefix, possibly empty).
    pub key: String,
    pub stat: Stat,
    /// Whether `stat` holds the object's metadata (from a HEAD, or from our own write). An
    /// entry seen only in a listing does not: LIST carries no metadata, and cannot tell a
    /// symlink from a file.
    pub meta_known: bool,
    /// Until when `stat` may be answered without asking the server.
    pub valid_until: Instant,
    /// Kernel references (lookups not yet forgotten).
    pub lookups: u64,
    /// Open file or directory handles.
    pub open_handles: u32,
    /// Open handles writing this file: while there are any, the local staging copy is the
    /// truth and the server is not asked.
    pub writers: u32,
    /// Directories: until when the last complete listing may answer "no such child".
    pub listed_until: Option<Instant>,
    /// Files: the ETag of the content the kernel may hold in its page cache.
    pub cached_etag: Option<String>,
    /// False once the name resolves to another inode (or to nothing).
    pub linked: bool,
}

impl Node {
    /// Whether `stat` may be answered without asking the server.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.writers > 0 || self.valid_until > now
    }

    /// Whether the object's metadata is known and may be answered without asking the server.
    pub fn meta_fresh(&self, now: Instant) -> bool {
        self.meta_known && self.is_fresh(now)
    }

    /// The directory prefix and the name this node is looked up by.
    pub fn location(&self) -> (&str, &str) {
        let trimmed = self.key.strip_suffix('/').unwrap_or(&self.key);
        let dir_len = trimmed.len() - self.name.len();
        (&self.key[..dir_len], &self.name)
    }
}

/// Where a new [`Stat`] comes from: a HEAD knows metadata, a listing does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Head,
    Listing,
}

pub struct InodeTable {
    nodes: HashMap<u64, Node>,
    names: HashMap<(u64, String), u64>,
    next_ino: u64,
    /// Evict unreferenced nodes when the table grows past this many.
    budget: usize,
    next_sweep_at: usize,
}

impl InodeTable {
    pub fn new(root_key: String, root_stat: Stat, budget: usize) -> Self {
        let root = Node {
            ino: ROOT_INO,
            parent: ROOT_INO,
            name: String::new(),
            key: root_key,
            stat: root_stat,
            meta_known: true,
            valid_until: far_future(),
            lookups: 1,
            open_handles: 0,
            writers: 0,
            listed_until: None,
            cached_etag: None,
            linked: true,
        };
        let budget = budget.max(16);
        InodeTable {
            nodes: HashMap::from([(ROOT_INO, root)]),
            names: HashMap::new(),
            next_ino: ROOT_INO + 1,
            budget,
            next_sweep_at: budget,
        }
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    pub fn child(&self, parent: u64, name: &str) -> Option<&Node> {
        let ino = self.names.get(&(parent, name.to_string()))?;
        self.nodes.get(ino)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Record that `name` in `parent` exists with `stat`; returns its inode number.
    ///
    /// A name keeps its inode while its kind stays the same. A listing refreshes what is known
    /// of the same content (same ETag, or a directory still there) without replacing it: it
    /// knows no metadata and cannot tell a symlink from a file.
    pub fn upsert(
        &mut self,
        parent: u64,
        name: &str,
        stat: Stat,
        source: Source,
        valid_until: Instant,
    ) -> Option<u64> {
        let parent_key = self.nodes.get(&parent)?.key.clone();
        if let Some(&ino) = self.names.get(&(parent, name.to_string())) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                let same_content = match (node.stat.kind, stat.kind) {
                    (Kind::Directory, Kind::Directory) => true,
                    (Kind::File | Kind::Symlink, Kind::File) => node.stat.etag == stat.etag,
                    _ => false,
                };
                if source == Source::Listing && same_content {
                    // A listing vouches for what it shows: existence, size, ETag. A file's
                    // metadata came from a HEAD and only a HEAD renews it (s3fs's chmod
                    // rewrites it in place and keeps the ETag); a directory's marker
                    // metadata is renewed with the directory.
                    if !node.meta_known || node.stat.kind == Kind::Directory {
                        node.valid_until = node.valid_until.max(valid_until);
                    }
                    return Some(ino);
                }
                if node.stat.kind == stat.kind {
                    node.stat = stat;
                    node.meta_known = source == Source::Head;
                    node.valid_until = valid_until;
                    return Some(ino);
                }
            }
            self.unlink(parent, name);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let key = match stat.kind {
            Kind::Directory => format!("{parent_key}{name}/"),
            Kind::File | Kind::Symlink => format!("{parent_key}{name}"),
        };
        self.nodes.insert(
            ino,
            Node {
                ino,
                parent,
                name: name.to_string(),
                key,
                stat,
                meta_known: source == Source::Head,
                valid_until,
                lookups: 0,
                open_handles: 0,
                writers: 0,
                listed_until: None,
                cached_etag: None,
                linked: true,
            },
        );
        self.names.insert((parent, name.to_string()), ino);
        self.maybe_evict(ino);
        Some(ino)
    }

    /// A background HEAD of `ino`, started when the node held `listed` with its metadata
    /// unknown or expired, found `stat`. Recorded only if the node is still that (linked,
    /// metadata unknown or expired, nobody writing it, same kind and ETag): a HEAD answered
    /// after a local change or a newer HEAD cannot undo it. Returns whether it was recorded.
    pub fn complete_listed(
        &mut self,
        ino: u64,
        listed: &Stat,
        stat: Stat,
        valid_until: Instant,
    ) -> bool {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        let unchanged = node.linked
            && !node.meta_fresh(Instant::now())
            && node.writers == 0
            && node.stat.kind == listed.kind
            && node.stat.etag == listed.etag;
        if !unchanged || stat.kind != listed.kind || stat.etag != listed.etag {
            return false;
        }
        node.stat = stat;
        node.meta_known = true;
        node.valid_until = valid_until;
        true
    }

    /// `name` in `parent` no longer resolves to its node.
    pub fn unlink(&mut self, parent: u64, name: &str) {
        if let Some(ino) = self.names.remove(&(parent, name.to_string())) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.linked = false;
            }
            self.drop_if_unused(ino);
        }
    }

    /// Move `ino` to `new_name` in `new_parent`, keeping its inode number (open handles follow
    /// it). Whatever had that name is unlinked. Returns false if either node is unknown.
    pub fn rename(&mut self, ino: u64, new_parent: u64, new_name: &str) -> bool {
        let Some(parent_key) = self.nodes.get(&new_parent).map(|p| p.key.clone()) else {
            return false;
        };
        let Some(node) = self.nodes.get(&ino) else {
            return false;
        };
        let (old_parent, old_name) = (node.parent, node.name.clone());
        if self.names.get(&(old_parent, old_name.clone())) == Some(&ino) {
            self.names.remove(&(old_parent, old_name));
        }
        self.unlink(new_parent, new_name);
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        node.parent = new_parent;
        node.name = new_name.to_string();
        node.key = match node.stat.kind {
            Kind::Directory => format!("{parent_key}{new_name}/"),
            Kind::File | Kind::Symlink => format!("{parent_key}{new_name}"),
        };
        node.linked = true;
        self.names.insert((new_parent, new_name.to_string()), ino);
        true
    }

    pub fn add_lookups(&mut self, ino: u64, n: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lookups += n;
        }
    }

    /// The kernel gave back `n` references.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(n);
            self.drop_if_unused(ino);
        }
    }

    pub fn open(&mut self, ino: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.open_handles += 1;
        }
    }

    pub fn close(&mut self, ino: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.open_handles = node.open_handles.saturating_sub(1);
            self.drop_if_unused(ino);
        }
    }

    /// Unlinked nodes go as soon as nobody uses them; linked ones stay as cache.
    fn drop_if_unused(&mut self, ino: u64) {
        let Some(node) = self.nodes.get(&ino) else {
            return;
        };
        if ino != ROOT_INO && !node.linked && node.lookups == 0 && node.open_handles == 0 {
            self.nodes.remove(&ino);
        }
    }

    /// Keep memory bounded: past the budget, forget every node neither the kernel nor an
    /// open handle references (except `keep`, the node just inserted for the caller). Directories lose their "complete listing" mark, since their
    /// children may be gone from the table.
    fn maybe_evict(&mut self, keep: u64) {
        if self.nodes.len() <= self.next_sweep_at {
            return;
        }
        let unused: Vec<(u64, u64, String)> = self
            .nodes
            .values()
            .filter(|n| n.ino != ROOT_INO && n.ino != keep && n.lookups == 0 && n.open_handles == 0)
            .map(|n| (n.ino, n.parent, n.name.clone()))
            .collect();
        for (ino, parent, name) in unused {
            self.nodes.remove(&ino);
            if self.names.get(&(parent, name.clone())) == Some(&ino) {
                self.names.remove(&(parent, name));
            }
        }
        for node in self.nodes.values_mut() {
            node.listed_until = None;
        }
        // If most nodes are referenced, don't sweep again on every insert.
        self.next_sweep_at = self.budget.max(self.nodes.len() * 2);
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn file(etag: &str, perm: Option<u16>) -> Stat {
        let mut s = Stat::listed_file(3, etag, SystemTime::UNIX_EPOCH);
        s.perm = perm;
        s
    }

    fn table() -> InodeTable {
        InodeTable::new(
            "pre/".into(),
            Stat::implicit_dir(SystemTime::UNIX_EPOCH),
            16,
        )
    }

    #[test]
    fn names_keep_their_inode_and_keys_are_built_from_parents() {
        let mut t = table();
        let later = Instant::now() + Duration::from_secs(5);
        let d = t
            .upsert(
                ROOT_INO,
                "dir",
                Stat::implicit_dir(SystemTime::UNIX_EPOCH),
                Source::Listing,
                later,
            )
            .unwrap();
        let f = t
            .upsert(d, "a b", file("e1", None), Source::Listing, later)
            .unwrap();
        assert_eq!(t.get(d).unwrap().key, "pre/dir/");
        assert_eq!(t.get(f).unwrap().key, "pre/dir/a b");
        assert_eq!(t.get(f).unwrap().location(), ("pre/dir/", "a b"));
        assert_eq!(t.get(d).unwrap().location(), ("pre/", "dir"));
        assert_eq!(
            t.upsert(d, "a b", file("e2", None), Source::Head, later),
            Some(f)
        );
        assert_eq!(t.get(f).unwrap().stat.etag.as_deref(), Some("e2"));
    }

    #[test]
    fn listing_keeps_head_metadata_of_same_content() {
        let mut t = table();
        let later = Instant::now() + Duration::from_secs(5);
        let f = t
            .upsert(ROOT_INO, "f", file("e1", Some(0o600)), Source::Head, later)
            .unwrap();
        t.upsert(ROOT_INO, "f", file("e1", None), Source::Listing, later);
        assert_eq!(t.get(f).unwrap().stat.perm, Some(0o600));
        t.upsert(ROOT_INO, "f", file("e2", None), Source::Listing, later);
        assert_eq!(
            t.get(f).unwrap().stat.perm,
            None,
            "new content: old metadata no longer applies"
        );
    }

    #[test]
    fn a_background_head_fills_in_only_a_node_still_as_listed() {
        let mut t = table();
        let later = Instant::now() + Duration::from_secs(5);
        let listed = file("e1", None);
        let f = t
            .upsert(ROOT_INO, "f", listed.clone(), Source::Listing, later)
            .unwrap();
        assert!(
            !t.complete_listed(f, &listed, file("e2", Some(0o600)), later),
            "the object changed since the listing: left to the lookup"
        );
        assert!(t.complete_listed(f, &listed, file("e1", Some(0o600)), later));
        let n = t.get(f).unwrap();
        assert!(n.meta_known);
        assert_eq!(n.stat.perm, Some(0o600));
        assert!(
            !t.complete_listed(f, &listed, file("e1", Some(0o644)), later),
            "fresh metadata (a newer HEAD) is not overwritten"
        );
        t.get_mut(f).unwrap().valid_until = Instant::now();
        assert!(
            t.complete_listed(f, &listed, file("e1", Some(0o644)), later),
            "expired metadata is renewed"
        );
        assert_eq!(t.get(f).unwrap().stat.perm, Some(0o644));

        let g = t
            .upsert(ROOT_INO, "g", listed.clone(), Source::Listing, later)
            .unwrap();
        t.get_mut(g).unwrap().writers = 1;
        assert!(
            !t.complete_listed(g, &listed, file("e1", Some(0o600)), later),
            "a file being written keeps what the writer set"
        );
        t.get_mut(g).unwrap().writers = 0;
        t.unlink(ROOT_INO, "g");
        assert!(!t.complete_listed(g, &listed, file("e1", Some(0o600)), later));

        let h = t
            .upsert(ROOT_INO, "h", listed.clone(), Source::Listing, later)
            .unwrap();
        t.upsert(ROOT_INO, "h", file("e3", None), Source::Listing, later);
        assert!(
            !t.complete_listed(h, &listed, file("e1", Some(0o600)), later),
            "relisted with new content meanwhile"
        );
    }

    #[test]
    fn kind_change_gives_a_new_inode_and_old_one_lives_until_forgotten() {
        let mut t = table();
        let later = Instant::now() + Duration::from_secs(5);
        let f = t
            .upsert(ROOT_INO, "x", file("e", None), Source::Head, later)
            .unwrap();
        t.add_lookups(f, 2);
        let d = t
            .upsert(
                ROOT_INO,
                "x",
                Stat::implicit_dir(SystemTime::UNIX_EPOCH),
                Source::Head,
                later,
            )
            .unwrap();
        assert_ne!(f, d);
        assert_eq!(t.child(ROOT_INO, "x").unwrap().ino, d);
        assert!(t.get(f).is_some(), "kernel still references the old inode");
        t.forget(f, 1);
        assert!(t.get(f).is_some());
        t.forget(f, 1);
        assert!(t.get(f).is_none());
    }

    #[test]
    fn unreferenced_nodes_are_evicted_past_the_budget() {
        let mut t = table();
        let later = Instant::now() + Duration::from_secs(5);
        let kept = t
            .upsert(ROOT_INO, "kept", file("e", None), Source::Head, later)
            .unwrap();
        t.add_lookups(kept, 1);
        for i in 0..40 {
            t.upsert(
                ROOT_INO,
                &format!("f{i}"),
                file("e", None),
                Source::Listing,
                later,
            );
        }
        assert!(t.len() <= 33, "table has {} nodes", t.len());
        assert!(t.get(kept).is_some());
        assert!(t.get(ROOT_INO).is_some());
    }
}
