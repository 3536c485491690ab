//! `Filesystem<C>`: the semantics of the mount, independent of FUSE types.
//!
//! Every method answers from the inode table when what it holds is fresh (younger than
//! `metadata_ttl`), and asks the client otherwise. Listings feed the table, so `ls -l` of a
//! directory costs its LIST pages and no request per entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use s3client::{GetRequest, ObjectClient};

use crate::attr::{Attr, Kind, Stat};
use crate::error::{FsError, Result};
use crate::inode::{InodeTable, Node, Source, ROOT_INO};
use crate::listing::list_directory;
use crate::negative::NegativeCache;
use crate::reader::{ObjectVersion, ReadConfig, Reader};
use crate::resolve::{complete, resolve};
use crate::stat_ahead::{InFlight, RecentListings};
use crate::writer::{PosixMeta, Writer, S_IFREG};
use crate::FsConfig;

/// A name resolved for the kernel, with how long it may cache the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub attr: Attr,
    pub ttl: Duration,
}

/// One directory entry at a readdir offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirItem {
    pub name: String,
    pub kind: Kind,
    /// The offset of the entry after this one.
    pub next_offset: u64,
    slot: Slot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Dot,
    DotDot,
    Child(Stat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// The kernel may keep the pages it cached at an earlier open: same ETag.
    pub keep_cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub block_size: u32,
    pub blocks: u64,
    pub blocks_free: u64,
    pub files: u64,
    pub files_free: u64,
    pub name_max: u32,
}

struct DirHandle {
    ino: u64,
    entries: Option<Arc<Vec<(String, Stat)>>>,
}

pub(crate) enum OpenFile<C: ObjectClient> {
    Read(Reader<C>),
    Write(Writer),
    /// Released: its last upload is done. A change that took the handle just before the
    /// release and finds it so goes to the bucket directly instead.
    Released,
}

pub(crate) struct FileHandle<C: ObjectClient> {
    pub(crate) ino: u64,
    /// Whether `state` is a [`OpenFile::Write`] (fixed at open; readable without the lock).
    pub(crate) writes: bool,
    pub(crate) state: tokio::sync::Mutex<OpenFile<C>>,
}

pub struct Filesystem<C: ObjectClient> {
    pub(crate) client: Arc<C>,
    pub(crate) config: FsConfig,
    read_config: ReadConfig,
    /// Shared with background stat-ahead HEADs.
    inodes: Arc<Mutex<InodeTable>>,
    negative: Mutex<NegativeCache>,
    recent_listings: Mutex<RecentListings>,
    stat_ahead: Arc<InFlight>,
    dirs: Mutex<HashMap<u64, DirHandle>>,
    files: Mutex<HashMap<u64, Arc<FileHandle<C>>>>,
    next_fh: AtomicU64,
    /// Timestamp of directories that have no object of their own.
    pub(crate) mount_time: SystemTime,
}

/// What the inode table knows of a name being looked up.
enum Known {
    /// In a fresh listing, metadata unknown.
    Listed(Node),
    /// Known once, no longer fresh.
    Stale(Node),
    Nothing,
}

/// Longest symlink target we read (Linux PATH_MAX).
const MAX_SYMLINK: u64 = 4096;

impl<C: ObjectClient> Filesystem<C> {
    pub fn new(client: C, config: FsConfig) -> Self {
        Self::with_read_config(client, config, ReadConfig::default())
    }

    pub fn with_read_config(client: C, config: FsConfig, read_config: ReadConfig) -> Self {
        let mount_time = SystemTime::now();
        let root = Stat::implicit_dir(mount_time);
        let inodes = InodeTable::new(config.prefix.clone(), root, config.max_stat_cache_size);
        Filesystem {
            client: Arc::new(client),
            negative: Mutex::new(NegativeCache::new(config.max_stat_cache_size)),
            config,
            read_config,
            inodes: Arc::new(Mutex::new(inodes)),
            recent_listings: Mutex::new(RecentListings::default()),
            stat_ahead: Arc::default(),
            dirs: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            mount_time,
        }
    }

    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    pub fn client(&self) -> &C {
        &self.client
    }

    /// How long the kernel may cache entries and attributes.
    pub fn ttl(&self) -> Duration {
        self.config.metadata_ttl
    }

    pub(crate) fn inodes(&self) -> MutexGuard<'_, InodeTable> {
        self.inodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fresh_until(&self) -> Instant {
        Instant::now() + self.config.metadata_ttl
    }

    pub(crate) fn attr_of(&self, node: &Node) -> Attr {
        let mut attr = node.stat.to_attr(node.ino, &self.config);
        if node.ino == ROOT_INO {
            attr.perm = (0o777 & !self.config.mp_umask) as u16;
            attr.uid = self.config.uid;
            attr.gid = self.config.gid;
        }
        attr
    }

    pub(crate) fn node(&self, ino: u64) -> Result<Node> {
        self.inodes().get(ino).cloned().ok_or(FsError::NotFound)
    }

    pub(crate) fn entry(&self, attr: Attr) -> Entry {
        Entry {
            attr,
            ttl: self.ttl(),
        }
    }

    /// Resolve `name` in directory `parent`; counts one kernel reference on success.
    pub async fn lookup(&self, parent: u64, name: &str) -> Result<Entry> {
        let dir = self.node(parent)?;
        if dir.stat.kind != Kind::Directory {
            return Err(FsError::NotADirectory);
        }
        if name.is_empty() || name.contains('/') || name.contains('\0') {
            return Err(FsError::NotFound);
        }
        let now = Instant::now();
        let found = {
            let mut inodes = self.inodes();
            match inodes.child(parent, name) {
                Some(child) if child.meta_fresh(now) => {
                    let (ino, attr) = (child.ino, self.attr_of(child));
                    inodes.add_lookups(ino, 1);
                    drop(inodes);
                    self.stat_ahead(parent, name); // the walk goes on through known entries
                    return Ok(self.entry(attr));
                }
                // Seen in a fresh listing: its kind is known, its metadata is not yet.
                Some(child) if child.is_fresh(now) => Known::Listed(child.clone()),
                Some(child) => Known::Stale(child.clone()),
                None if dir.listed_until.map(|t| t > now).unwrap_or(false) => {
                    return Err(FsError::NotFound); // a fresh complete listing has no such name
                }
                None => Known::Nothing,
            }
        };
        match found {
            Known::Listed(child) => {
                if !self.filled_ahead(parent, &child).await {
                    let found = complete(&*self.client, &child.key, &child.stat).await?;
                    self.record_head(parent, name, found);
                }
            }
            // Stale: a walk may have HEADed it ahead; otherwise it is looked up by name.
            Known::Stale(child) if self.filled_ahead(parent, &child).await => {}
            Known::Stale(_) | Known::Nothing => {
                if self.negative().contains(parent, name, now) {
                    return Err(FsError::NotFound);
                }
                let found = resolve(&*self.client, &dir.key, name, self.mount_time).await?;
                self.record_head(parent, name, found);
            }
        }
        let mut inodes = self.inodes();
        let child = inodes.child(parent, name).ok_or(FsError::NotFound)?;
        let (ino, attr) = (child.ino, self.attr_of(child));
        inodes.add_lookups(ino, 1);
        Ok(self.entry(attr))
    }

    /// Record what a HEAD found for `name` in `parent` (`None`: nothing by that name).
    fn record_head(&self, parent: u64, name: &str, found: Option<Stat>) {
        match found {
            Some(stat) => {
                self.inodes()
                    .upsert(parent, name, stat, Source::Head, self.fresh_until());
            }
            None => {
                self.inodes().unlink(parent, name);
                self.note_missing(parent, name);
            }
        }
    }

    /// Notes the lookup of `child` for stat-ahead (see [`crate::stat_ahead`]), waits for the
    /// background HEAD of `child` if one is under way, and says whether `child` now has fresh
    /// metadata (else the caller HEADs it itself).
    async fn filled_ahead(&self, parent: u64, child: &Node) -> bool {
        self.stat_ahead(parent, &child.name);
        self.stat_ahead.wait_for(child.ino).await;
        self.inodes()
            .get(child.ino)
            .is_some_and(|n| n.linked && n.meta_fresh(Instant::now()))
    }

    /// Note a lookup of `name` in `parent` for stat-ahead, and start the background HEADs it
    /// calls for, each entry at most once: files whose metadata is unknown or expired (even
    /// when their listing has gone stale: the HEAD is what revalidates them, and the walk of a
    /// big directory outlasts the metadata TTL), and directories without metadata while their
    /// listing is fresh (a missing marker says nothing about whether the prefix is there).
    fn stat_ahead(&self, parent: u64, name: &str) {
        let Some((names, range)) = self.recent_listings().walked(parent, name) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // not inside a runtime (never so when mounted): lookups HEAD themselves
        };
        let now = Instant::now();
        let nodes: Vec<Node> = {
            let inodes = self.inodes();
            names[range]
                .iter()
                .filter_map(|n| inodes.child(parent, n))
                .filter(|n| match n.stat.kind {
                    Kind::Directory => !n.meta_known && n.is_fresh(now),
                    Kind::File | Kind::Symlink => !n.meta_fresh(now),
                })
                .cloned()
                .collect()
        };
        for node in nodes {
            let Some(ticket) = self.stat_ahead.start(node.ino) else {
                continue;
            };
            let (client, inodes) = (self.client.clone(), self.inodes.clone());
            let (permits, ttl) = (self.stat_ahead.permits(), self.config.metadata_ttl);
            runtime.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                // Errors and absences are left to the lookup, which HEADs again and reports.
                if let Ok(Some(stat)) = complete(&*client, &node.key, &node.stat).await {
                    inodes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .complete_listed(node.ino, &node.stat, stat, Instant::now() + ttl);
                }
                drop(ticket);
            });
        }
    }

    /// Background stat-ahead HEADs not finished yet.
    pub fn stat_ahead_in_flight(&self) -> usize {
        self.stat_ahead.len()
    }

    fn recent_listings(&self) -> MutexGuard<'_, RecentListings> {
        self.recent_listings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn negative(&self) -> MutexGuard<'_, NegativeCache> {
        self.negative.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember for `negative_ttl` that `name` does not exist in `parent`.
    pub(crate) fn note_missing(&self, parent: u64, name: &str) {
        let until = Instant::now() + self.config.negative_ttl;
        self.negative().insert(parent, name, until);
    }

    /// `name` exists in `parent` now (we just created it).
    pub(crate) fn forget_missing(&self, parent: u64, name: &str) {
        self.negative().remove(parent, name);
    }

    pub fn forget(&self, ino: u64, nlookup: u64) {
        self.inodes().forget(ino, nlookup);
    }

    /// Attributes of `ino`, re-checked with the server once they are older than the TTL.
    pub async fn getattr(&self, ino: u64) -> Result<Entry> {
        let node = self.node(ino)?;
        let fresh = node.is_fresh(Instant::now());
        if ino == ROOT_INO || (fresh && node.meta_known) {
            return Ok(self.entry(self.attr_of(&node)));
        }
        self.head_again(node, fresh).await
    }

    /// Asks the server for `node`'s attributes and records them: by its key alone when
    /// `listed` (a fresh listing showed it), else by its name (an object, or a directory).
    pub(crate) async fn head_again(&self, node: Node, listed: bool) -> Result<Entry> {
        let found = if listed {
            complete(&*self.client, &node.key, &node.stat).await?
        } else {
            let (dir_prefix, name) = node.location();
            resolve(&*self.client, dir_prefix, name, self.mount_time).await?
        };
        let mut inodes = self.inodes();
        match found {
            Some(stat) if stat.kind == node.stat.kind && node.linked => {
                let ino = inodes
                    .upsert(
                        node.parent,
                        &node.name,
                        stat,
                        Source::Head,
                        self.fresh_until(),
                    )
                    .ok_or(FsError::NotFound)?;
                let node = inodes.get(ino).ok_or(FsError::NotFound)?;
                Ok(self.entry(self.attr_of(node)))
            }
            Some(stat) => {
                // Now something else: the name gets a new inode; this one is gone.
                if node.linked {
                    inodes.upsert(
                        node.parent,
                        &node.name,
                        stat,
                        Source::Head,
                        self.fresh_until(),
                    );
                }
                Err(FsError::NotFound)
            }
            None => {
                if node.linked {
                    inodes.unlink(node.parent, &node.name);
                }
                Err(FsError::NotFound)
            }
        }
    }

    pub fn opendir(&self, ino: u64) -> Result<u64> {
        let mut inodes = self.inodes();
        let node = inodes.get(ino).ok_or(FsError::NotFound)?;
        if node.stat.kind != Kind::Directory {
            return Err(FsError::NotADirectory);
        }
        inodes.open(ino);
        drop(inodes);
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.dirs().insert(fh, DirHandle { ino, entries: None });
        Ok(fh)
    }

    fn dirs(&self) -> MutexGuard<'_, HashMap<u64, DirHandle>> {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries from `offset` on. Offset 0 (a new or rewound handle) lists the directory
    /// afresh; later offsets continue the same snapshot, so entries are neither skipped nor
    /// repeated while the bucket changes.
    pub async fn readdir(&self, ino: u64, fh: u64, offset: u64) -> Result<Vec<DirItem>> {
        let snapshot = {
            let dirs = self.dirs();
            let handle = dirs.get(&fh).ok_or(FsError::BadHandle)?;
            if handle.ino != ino {
                return Err(FsError::BadHandle);
            }
            if offset == 0 {
                None
            } else {
                handle.entries.clone()
            }
        };
        let entries = match snapshot {
            Some(entries) => entries,
            None => {
                let entries = Arc::new(self.list(ino).await?);
                if let Some(handle) = self.dirs().get_mut(&fh) {
                    handle.entries = Some(entries.clone());
                }
                entries
            }
        };
        let dots = [(".", Slot::Dot), ("..", Slot::DotDot)];
        let items = dots
            .into_iter()
            .map(|(n, s)| (n.to_string(), Kind::Directory, s))
            .chain(
                entries
                    .iter()
                    .map(|(n, s)| (n.clone(), s.kind, Slot::Child(s.clone()))),
            )
            .enumerate()
            .skip(offset as usize)
            .map(|(i, (name, kind, slot))| DirItem {
                name,
                kind,
                next_offset: i as u64 + 1,
                slot,
            })
            .collect();
        Ok(items)
    }

    /// List directory `ino` and record what the listing shows.
    async fn list(&self, ino: u64) -> Result<Vec<(String, Stat)>> {
        let key = self.node(ino)?.key;
        let entries = list_directory(
            &*self.client,
            &key,
            self.config.list_max_keys,
            self.mount_time,
        )
        .await?;
        let until = self.fresh_until();
        let mut inodes = self.inodes();
        for (name, stat) in &entries {
            inodes.upsert(ino, name, stat.clone(), Source::Listing, until);
        }
        if let Some(dir) = inodes.get_mut(ino) {
            dir.listed_until = Some(until);
        }
        drop(inodes);
        let names = entries.iter().map(|(n, _)| n.clone()).collect();
        self.recent_listings().listed(ino, names);
        Ok(entries)
    }

    /// The inode of a readdir item, and its attributes when its metadata is known. With
    /// `count_lookup` (readdirplus) and known attributes, the kernel takes a reference, which
    /// [`Self::forget`] gives back; an entry without them is left for the kernel to look up.
    pub fn dir_item_entry(
        &self,
        dir: u64,
        item: &DirItem,
        count_lookup: bool,
    ) -> Result<(u64, Option<Entry>)> {
        let mut inodes = self.inodes();
        let ino = match &item.slot {
            Slot::Dot => dir,
            Slot::DotDot => inodes.get(dir).map(|n| n.parent).ok_or(FsError::NotFound)?,
            Slot::Child(stat) => inodes
                .upsert(
                    dir,
                    &item.name,
                    stat.clone(),
                    Source::Listing,
                    self.fresh_until(),
                )
                .ok_or(FsError::NotFound)?,
        };
        let node = inodes.get(ino).ok_or(FsError::NotFound)?;
        if !node.meta_fresh(Instant::now()) {
            return Ok((ino, None));
        }
        let entry = self.entry(self.attr_of(node));
        if count_lookup && matches!(item.slot, Slot::Child(_)) {
            inodes.add_lookups(ino, 1);
        }
        Ok((ino, Some(entry)))
    }

    pub fn releasedir(&self, fh: u64) {
        if let Some(handle) = self.dirs().remove(&fh) {
            self.inodes().close(handle.ino);
        }
    }

    /// Open a file. Reading streams from the bucket; writing stages the content locally
    /// (downloading it first unless `O_TRUNC`) and uploads it on flush.
    pub async fn open(&self, ino: u64, flags: u32) -> Result<Opened> {
        let writing =
            flags as i32 & libc::O_ACCMODE != libc::O_RDONLY || flags as i32 & libc::O_TRUNC != 0;
        if writing && self.config.read_only {
            return Err(FsError::ReadOnly);
        }
        let mut node = self.node(ino)?;
        if !node.is_fresh(Instant::now()) {
            self.getattr(ino).await?;
            node = self.node(ino)?;
        }
        match node.stat.kind {
            Kind::Directory => return Err(FsError::IsADirectory),
            Kind::Symlink if writing => return Err(FsError::NotSupported("writing a symlink")),
            Kind::File | Kind::Symlink => {}
        }
        let state = if writing {
            let attr = self.attr_of(&node);
            let meta = PosixMeta::new(S_IFREG | u32::from(attr.perm), attr.uid, attr.gid);
            let writer = if flags as i32 & libc::O_TRUNC != 0 {
                Writer::new_empty(&self.config.tmpdir, meta)?
            } else {
                let etag = node.stat.etag.clone();
                Writer::from_object(
                    &*self.client,
                    &node.key,
                    node.stat.size,
                    etag,
                    &self.config.tmpdir,
                    meta,
                )
                .await?
            };
            OpenFile::Write(writer)
        } else {
            let object = ObjectVersion {
                key: node.key.clone(),
                size: node.stat.size,
                etag: node.stat.etag.clone(),
            };
            OpenFile::Read(Reader::new(
                self.client.clone(),
                object,
                self.read_config.clone(),
            ))
        };
        let keep_cache = {
            let mut inodes = self.inodes();
            inodes.open(ino);
            let node = inodes.get_mut(ino).ok_or(FsError::NotFound)?;
            if writing {
                node.writers += 1;
                if flags as i32 & libc::O_TRUNC != 0 {
                    node.stat.size = 0;
                }
                node.cached_etag = None; // the content is about to change
                false
            } else {
                let keep = node.writers == 0
                    && node.cached_etag.is_some()
                    && node.cached_etag == node.stat.etag;
                node.cached_etag = node.stat.etag.clone();
                keep
            }
        };
        Ok(Opened {
            fh: self.add_handle(ino, state),
            keep_cache,
        })
    }

    pub(crate) fn add_handle(&self, ino: u64, state: OpenFile<C>) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let writes = matches!(state, OpenFile::Write(_));
        let handle = Arc::new(FileHandle {
            ino,
            writes,
            state: tokio::sync::Mutex::new(state),
        });
        self.files().insert(fh, handle);
        fh
    }

    pub(crate) fn handle(&self, fh: u64) -> Result<Arc<FileHandle<C>>> {
        self.files().get(&fh).cloned().ok_or(FsError::BadHandle)
    }

    /// The handles writing `ino`, preferring `fh` when it is one of them. A handle may be
    /// released once taken from here: its state then says [`OpenFile::Released`].
    pub(crate) fn write_handles(&self, ino: u64, fh: Option<u64>) -> Vec<Arc<FileHandle<C>>> {
        let files = self.files();
        let mut found: Vec<(u64, Arc<FileHandle<C>>)> = files
            .iter()
            .filter(|(_, h)| h.ino == ino && h.writes)
            .map(|(fh, h)| (*fh, h.clone()))
            .collect();
        found.sort_by_key(|(candidate, _)| Some(*candidate) != fh);
        found.into_iter().map(|(_, h)| h).collect()
    }

    pub(crate) fn files(&self) -> MutexGuard<'_, HashMap<u64, Arc<FileHandle<C>>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes> {
        let handle = self.handle(fh)?;
        let mut state = handle.state.lock().await;
        match &mut *state {
            OpenFile::Read(reader) => reader.read(offset, size).await,
            OpenFile::Write(writer) => writer.read(offset, size),
            OpenFile::Released => Err(FsError::BadHandle),
        }
    }

    /// The target of a symlink: the object's body (s3fs's format).
    pub async fn readlink(&self, ino: u64) -> Result<Bytes> {
        let node = self.node(ino)?;
        if node.stat.kind != Kind::Symlink {
            return Err(FsError::InvalidArgument("not a symlink"));
        }
        if node.stat.size == 0 {
            return Ok(Bytes::new());
        }
        let response = self
            .client
            .get_object(GetRequest {
                key: node.key.clone(),
                range: Some(s3client::ByteRange::new(0, node.stat.size.min(MAX_SYMLINK))),
                if_match: None,
            })
            .await?;
        let mut target = Vec::new();
        let mut body = response.body;
        while let Some(chunk) = body.next().await {
            target.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(target))
    }

    /// What `statfs` reports: a bucket has no size limit (s3fs reports the same kind of
    /// huge numbers).
    pub fn statfs(&self) -> FsStats {
        FsStats {
            block_size: 4096,
            blocks: 1 << 40,
            blocks_free: 1 << 40,
            files: 1 << 40,
            files_free: 1 << 40,
            name_max: 255,
        }
    }
}
