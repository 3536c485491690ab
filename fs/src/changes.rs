//! Changes through the mount: creating and writing files, attributes, directories, removal
//! and renames, in s3fs's on-bucket format.
//!
//! - Files are staged locally and uploaded whole with one PUT (see [`crate::writer`]).
//! - `mkdir` writes a zero-byte `dir/` marker with `Content-Type: application/x-directory`.
//! - chmod/chown/utimens rewrite the `x-amz-meta-*` headers: on a file being written they
//!   join its upload; otherwise the object is copied onto itself with new metadata (a
//!   directory's marker is simply written again).
//! - A file rename is a server-side copy then a delete (not atomic, as in s3fs). A directory
//!   rename answers `EXDEV`, which makes `mv` copy and remove the tree itself.
//! - `rmdir` refuses a directory that still has keys below it.

use std::time::SystemTime;

use s3client::{CopyRequest, ListRequest, ObjectClient, PutBody, PutRequest, S3Error};

use crate::attr::{Kind, DIRECTORY_SIZE};
use crate::error::{FsError, Result};
use crate::filesystem::{Entry, FileHandle, Filesystem, OpenFile, Opened};
use crate::inode::{Node, Source};
use crate::writer::{PosixMeta, Writer, S_IFDIR, S_IFLNK, S_IFREG};

/// Who asks: the uid and gid of the calling process, owner of what it creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

/// The attribute changes of a `setattr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetAttrs {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
}

impl SetAttrs {
    fn changes_metadata(&self) -> bool {
        self.mode.is_some()
            || self.uid.is_some()
            || self.gid.is_some()
            || self.atime.is_some()
            || self.mtime.is_some()
    }

    fn apply(&self, meta: &mut PosixMeta) {
        if let Some(mode) = self.mode {
            meta.mode = (meta.mode & !0o7777) | (mode & 0o7777);
        }
        if let Some(uid) = self.uid {
            meta.uid = uid;
        }
        if let Some(gid) = self.gid {
            meta.gid = gid;
        }
        if let Some(t) = self.atime {
            meta.atime = t;
        }
        if let Some(t) = self.mtime {
            meta.mtime = t;
        }
        meta.ctime = SystemTime::now();
    }
}

const DIRECTORY_CONTENT_TYPE: &str = "application/x-directory";

impl<C: ObjectClient> Filesystem<C> {
    fn writable(&self) -> Result<()> {
        if self.config.read_only {
            return Err(FsError::ReadOnly);
        }
        Ok(())
    }

    /// The directory node `parent` and whether `name` exists in it (and as what).
    async fn existing(
        &self,
        parent: u64,
        name: &str,
    ) -> Result<(crate::inode::Node, Option<Kind>)> {
        let dir = self.node(parent)?;
        if dir.stat.kind != Kind::Directory {
            return Err(FsError::NotADirectory);
        }
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(FsError::InvalidArgument("not a valid name"));
        }
        match self.lookup(parent, name).await {
            Ok(entry) => {
                self.forget(entry.attr.ino, 1); // that lookup was ours, not the kernel's
                Ok((dir, Some(entry.attr.kind)))
            }
            Err(FsError::NotFound) => Ok((dir, None)),
            Err(e) => Err(e),
        }
    }

    /// The metadata of a new entry: the caller owns it, `mode` as the kernel passed it.
    fn new_meta(&self, kind_bits: u32, mode: u32, caller: Caller) -> PosixMeta {
        PosixMeta::new(kind_bits | (mode & 0o7777), caller.uid, caller.gid)
    }

    /// Record a new entry in the table with one kernel reference, and forget any
    /// "does not exist" about it.
    fn record_new(&self, parent: u64, name: &str, stat: crate::attr::Stat) -> Result<Entry> {
        self.forget_missing(parent, name);
        let mut inodes = self.inodes();
        let ino = inodes
            .upsert(parent, name, stat, Source::Head, self.fresh_until())
            .ok_or(FsError::NotFound)?;
        inodes.add_lookups(ino, 1);
        let node = inodes.get(ino).ok_or(FsError::NotFound)?;
        Ok(self.entry(self.attr_of(node)))
    }

    /// Create and open a file. An existing file is opened instead (truncated with `O_TRUNC`),
    /// unless `O_EXCL` asks for a new one.
    pub async fn create(
        &self,
        parent: u64,
        name: &str,
        mode: u32,
        flags: u32,
        caller: Caller,
    ) -> Result<(Entry, Opened)> {
        self.writable()?;
        let (_, existing) = self.existing(parent, name).await?;
        match existing {
            Some(_) if flags as i32 & libc::O_EXCL != 0 => return Err(FsError::Exists),
            Some(Kind::Directory) => return Err(FsError::IsADirectory),
            Some(_) => {
                let entry = self.lookup(parent, name).await?;
                let opened = self.open(entry.attr.ino, flags).await?;
                return Ok((entry, opened));
            }
            None => {}
        }
        let meta = self.new_meta(S_IFREG, mode, caller);
        let writer = Writer::new_empty(&self.config.tmpdir, meta.clone())?;
        let entry = self.record_new(parent, name, meta.stat(Kind::File, 0, None))?;
        let ino = entry.attr.ino;
        {
            let mut inodes = self.inodes();
            inodes.open(ino);
            if let Some(node) = inodes.get_mut(ino) {
                node.writers += 1;
                node.cached_etag = None;
            }
        }
        let fh = self.add_handle(ino, OpenFile::Write(writer));
        Ok((
            entry,
            Opened {
                fh,
                keep_cache: false,
            },
        ))
    }

    pub async fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32> {
        let handle = self.handle(fh)?;
        let mut state = handle.state.lock().await;
        let OpenFile::Write(writer) = &mut *state else {
            return Err(FsError::BadHandle);
        };
        let written = writer.write(offset, data)?;
        let (len, meta) = (writer.len(), writer.meta.clone());
        drop(state);
        if let Some(node) = self.inodes().get_mut(handle.ino) {
            node.stat.size = len;
            node.stat.mtime = meta.mtime;
            node.stat.ctime = meta.ctime;
        }
        Ok(written)
    }

    /// Upload the handle's content if it changed since the last upload. This is where a
    /// failed upload becomes the error of `close` (flush) or `fsync`.
    pub async fn flush(&self, fh: u64) -> Result<()> {
        let handle = self.handle(fh)?;
        self.flush_handle(&handle).await
    }

    async fn flush_handle(&self, handle: &FileHandle<C>) -> Result<()> {
        if !handle.writes {
            // Nothing to upload; and a read in progress (it holds the lock) must not hold up
            // the close of a process that is killed while it waits.
            return Ok(());
        }
        let mut state = handle.state.lock().await;
        self.upload_if_dirty(handle.ino, &mut state).await
    }

    /// The upload of a write handle's `state`, locked by the caller.
    async fn upload_if_dirty(&self, ino: u64, state: &mut OpenFile<C>) -> Result<()> {
        let OpenFile::Write(writer) = state else {
            return Ok(());
        };
        if !writer.is_dirty() {
            return Ok(());
        }
        // The key is looked up now: a rename while the file was open moved it.
        let node = self.node(ino)?;
        let key = node.key;
        let result = if writer.only_metadata_changed() {
            // On whatever content the object has now: no if-match.
            self.rewrite_metadata(&key, &writer.meta, None).await
        } else {
            let content_type = self.config.content_types.for_name(&node.name);
            let put = self
                .client
                .put_object(writer.put_request(&key, content_type))
                .await;
            put.map(|put| (put.etag, writer.len()))
                .map_err(FsError::from)
        };
        let (etag, size) = match result {
            Ok(uploaded) => uploaded,
            Err(e) => {
                tracing::error!(key = %key, error = %e, "upload failed; the data stays staged and the next flush, fsync or close retries");
                return Err(e);
            }
        };
        writer.uploaded();
        let stat = writer.meta.stat(Kind::File, size, Some(etag));
        let until = self.fresh_until();
        if let Some(node) = self.inodes().get_mut(ino) {
            node.stat = stat;
            node.valid_until = until;
        }
        Ok(())
    }

    /// Upload every file handle with unsaved changes (at shutdown). Returns how many uploads
    /// failed; each failure is logged with its key.
    pub async fn flush_all(&self) -> usize {
        let writing: Vec<_> = self
            .files()
            .values()
            .filter(|h| h.writes)
            .cloned()
            .collect();
        let mut failed = 0;
        for handle in writing {
            if self.flush_handle(&handle).await.is_err() {
                failed += 1;
            }
        }
        failed
    }

    /// Close a file handle. A write handle still dirty (its flush failed) is uploaded once
    /// more; if that fails too the error is logged, since the kernel ignores release errors.
    ///
    /// The handle leaves the table first, and its last upload and the end of its state
    /// happen under one lock: a chmod or rename that took the handle meanwhile either gets
    /// its change into that upload or finds the state released and goes to the bucket.
    pub async fn release(&self, fh: u64) -> Result<()> {
        let Some(handle) = self.files().remove(&fh) else {
            return Err(FsError::BadHandle);
        };
        let result = if handle.writes {
            let mut state = handle.state.lock().await;
            let result = self.upload_if_dirty(handle.ino, &mut state).await;
            *state = OpenFile::Released;
            result
        } else {
            Ok(())
        };
        let mut inodes = self.inodes();
        if handle.writes {
            if let Some(node) = inodes.get_mut(handle.ino) {
                node.writers = node.writers.saturating_sub(1);
            }
        }
        inodes.close(handle.ino);
        if let Err(e) = &result {
            tracing::error!(error = %e, "a file was closed with changes that could not be uploaded; they are lost");
        }
        result
    }

    pub async fn setattr(&self, ino: u64, fh: Option<u64>, changes: SetAttrs) -> Result<Entry> {
        if changes.size.is_none() && !changes.changes_metadata() {
            return self.getattr(ino).await;
        }
        self.writable()?;
        let node = self.node(ino)?;
        if changes.size.is_some() && node.stat.kind == Kind::Directory {
            return Err(FsError::IsADirectory);
        }
        // A handle writing this file takes the change into its next upload.
        if let Some(handle) = self.write_handles(ino, fh).into_iter().next() {
            let mut state = handle.state.lock().await;
            if let OpenFile::Write(writer) = &mut *state {
                if let Some(size) = changes.size {
                    writer.truncate(size)?;
                }
                changes.apply(&mut writer.meta);
                writer.metadata_changed();
                let stat = writer.meta.stat(Kind::File, writer.len(), None);
                drop(state);
                let mut inodes = self.inodes();
                let node = inodes.get_mut(ino).ok_or(FsError::NotFound)?;
                node.stat = stat;
                return Ok(self.entry(self.attr_of(node)));
            }
            // Released meanwhile: its upload may have changed the node (the ETag).
        }
        let node = self.node(ino)?;
        let meta = self.changed_meta(&node, &changes);
        let stat = match (node.stat.kind, changes.size) {
            (Kind::File, Some(size)) => {
                // truncate(path) with no open handle: stage, cut, upload.
                let mut writer = if size == 0 {
                    Writer::new_empty(&self.config.tmpdir, meta.clone())?
                } else {
                    Writer::from_object(
                        &*self.client,
                        &node.key,
                        node.stat.size,
                        node.stat.etag.clone(),
                        &self.config.tmpdir,
                        meta.clone(),
                    )
                    .await?
                };
                writer.truncate(size)?;
                writer.meta = meta.clone();
                let put = self
                    .client
                    .put_object(
                        writer
                            .put_request(&node.key, self.config.content_types.for_name(&node.name)),
                    )
                    .await?;
                meta.stat(Kind::File, size, Some(put.etag))
            }
            (Kind::Directory, _) => {
                self.put_marker(&node.key, &meta).await?;
                meta.stat(Kind::Directory, DIRECTORY_SIZE, None)
            }
            (Kind::File | Kind::Symlink, _) => {
                match self
                    .rewrite_metadata(&node.key, &meta, node.stat.etag.clone())
                    .await
                {
                    Ok((etag, _)) => meta.stat(node.stat.kind, node.stat.size, Some(etag)),
                    // Replaced since it was last seen (another process's upload): the change
                    // applies to the object there now, with the attributes it has now.
                    Err(FsError::ObjectChanged) => {
                        self.head_again(node, false).await?;
                        let node = self.node(ino)?;
                        let meta = self.changed_meta(&node, &changes);
                        let (etag, _) = self
                            .rewrite_metadata(&node.key, &meta, node.stat.etag.clone())
                            .await?;
                        meta.stat(node.stat.kind, node.stat.size, Some(etag))
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let until = self.fresh_until();
        let mut inodes = self.inodes();
        let node = inodes.get_mut(ino).ok_or(FsError::NotFound)?;
        node.stat = stat;
        node.valid_until = until;
        node.cached_etag = None;
        Ok(self.entry(self.attr_of(node)))
    }

    async fn put_marker(&self, dir_key: &str, meta: &PosixMeta) -> Result<String> {
        let put = self
            .client
            .put_object(PutRequest {
                key: dir_key.to_string(),
                body: PutBody::Bytes(bytes::Bytes::new()),
                content_type: Some(DIRECTORY_CONTENT_TYPE.to_string()),
                metadata: meta.headers(),
            })
            .await?;
        Ok(put.etag)
    }

    pub async fn mkdir(&self, parent: u64, name: &str, mode: u32, caller: Caller) -> Result<Entry> {
        self.writable()?;
        let (dir, existing) = self.existing(parent, name).await?;
        if existing.is_some() {
            return Err(FsError::Exists);
        }
        let meta = self.new_meta(S_IFDIR, mode, caller);
        self.put_marker(&format!("{}{name}/", dir.key), &meta)
            .await?;
        self.record_new(
            parent,
            name,
            meta.stat(Kind::Directory, DIRECTORY_SIZE, None),
        )
    }

    pub async fn symlink(
        &self,
        parent: u64,
        name: &str,
        target: &str,
        caller: Caller,
    ) -> Result<Entry> {
        self.writable()?;
        let (dir, existing) = self.existing(parent, name).await?;
        if existing.is_some() {
            return Err(FsError::Exists);
        }
        let meta = self.new_meta(S_IFLNK, 0o777, caller);
        let put = self
            .client
            .put_object(PutRequest {
                key: format!("{}{name}", dir.key),
                body: PutBody::Bytes(bytes::Bytes::copy_from_slice(target.as_bytes())),
                content_type: Some("application/octet-stream".to_string()),
                metadata: meta.headers(),
            })
            .await?;
        self.record_new(
            parent,
            name,
            meta.stat(Kind::Symlink, target.len() as u64, Some(put.etag)),
        )
    }

    pub async fn unlink(&self, parent: u64, name: &str) -> Result<()> {
        self.writable()?;
        let (dir, existing) = self.existing(parent, name).await?;
        match existing {
            None => return Err(FsError::NotFound),
            Some(Kind::Directory) => return Err(FsError::IsADirectory),
            Some(_) => {}
        }
        self.client
            .delete_object(&format!("{}{name}", dir.key))
            .await?;
        self.gone(parent, name);
        Ok(())
    }

    pub async fn rmdir(&self, parent: u64, name: &str) -> Result<()> {
        self.writable()?;
        let (dir, existing) = self.existing(parent, name).await?;
        match existing {
            None => return Err(FsError::NotFound),
            Some(Kind::Directory) => {}
            Some(_) => return Err(FsError::NotADirectory),
        }
        let prefix = format!("{}{name}/", dir.key);
        let page = self
            .client
            .list_objects(ListRequest {
                prefix: prefix.clone(),
                delimiter: None,
                continuation: None,
                max_keys: Some(2),
            })
            .await?;
        if page.objects.iter().any(|o| o.key != prefix) || !page.common_prefixes.is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.client.delete_object(&prefix).await?;
        self.gone(parent, name);
        Ok(())
    }

    pub async fn rename(
        &self,
        parent: u64,
        name: &str,
        new_parent: u64,
        new_name: &str,
        no_replace: bool,
    ) -> Result<()> {
        self.writable()?;
        let (dir, existing) = self.existing(parent, name).await?;
        let kind = existing.ok_or(FsError::NotFound)?;
        let (new_dir, target) = self.existing(new_parent, new_name).await?;
        if target.is_some() && no_replace {
            return Err(FsError::Exists);
        }
        match (kind, target) {
            (Kind::Directory, _) => return Err(FsError::CrossDevice),
            (_, Some(Kind::Directory)) => return Err(FsError::IsADirectory),
            _ => {}
        }
        let source_key = format!("{}{name}", dir.key);
        let dest_key = format!("{}{new_name}", new_dir.key);
        let ino = self.inodes().child(parent, name).map(|n| n.ino);
        // Unsaved changes of an open file go first, so the copy has them.
        if let Some(ino) = ino {
            for handle in self.write_handles(ino, None) {
                self.flush_handle(&handle).await?;
            }
        }
        if source_key != dest_key {
            let etag = ino.and_then(|i| self.inodes().get(i).and_then(|n| n.stat.etag.clone()));
            self.client
                .copy_object(CopyRequest {
                    source_key: source_key.clone(),
                    dest_key,
                    metadata: None,
                    content_type: None,
                    if_match: etag,
                })
                .await
                .map_err(changed_meanwhile)?;
            self.client.delete_object(&source_key).await?;
        }
        self.forget_missing(new_parent, new_name);
        let mut inodes = self.inodes();
        match ino {
            Some(ino) => {
                inodes.rename(ino, new_parent, new_name);
            }
            None => inodes.unlink(parent, name),
        }
        drop(inodes);
        self.note_missing(parent, name);
        Ok(())
    }

    /// `name` was removed by us: forget it and remember that it is gone.
    fn gone(&self, parent: u64, name: &str) {
        self.inodes().unlink(parent, name);
        self.note_missing(parent, name);
    }
}

impl<C: ObjectClient> Filesystem<C> {
    /// The s3fs metadata of `node` as it is now, with `changes` applied.
    fn changed_meta(&self, node: &Node, changes: &SetAttrs) -> PosixMeta {
        let attr = self.attr_of(node);
        let kind_bits = match node.stat.kind {
            Kind::File => S_IFREG,
            Kind::Directory => S_IFDIR,
            Kind::Symlink => S_IFLNK,
        };
        let mut meta = PosixMeta::new(kind_bits | u32::from(attr.perm), attr.uid, attr.gid);
        meta.atime = attr.atime;
        meta.mtime = attr.mtime;
        meta.ctime = attr.ctime;
        changes.apply(&mut meta);
        meta
    }

    /// Rewrites the s3fs metadata of `key` in place (a copy onto itself), keeping its
    /// content and its content type (replacing metadata replaces the content type too).
    /// Returns the new ETag and the object's size.
    async fn rewrite_metadata(
        &self,
        key: &str,
        meta: &PosixMeta,
        if_match: Option<String>,
    ) -> Result<(String, u64)> {
        let current = self.client.head_object(key).await?;
        let put = self
            .client
            .copy_object(CopyRequest {
                source_key: key.to_string(),
                dest_key: key.to_string(),
                metadata: Some(meta.headers()),
                content_type: current.content_type,
                if_match,
            })
            .await
            .map_err(changed_meanwhile)?;
        Ok((put.etag, current.size))
    }
}

fn changed_meanwhile(e: S3Error) -> FsError {
    match e {
        S3Error::PreconditionFailed(_) => FsError::ObjectChanged,
        other => other.into(),
    }
}
