//! Writing one file: the content is staged in a local temporary file and uploaded whole, in
//! one PUT, when the file is flushed (`close`), synced (`fsync`) or released.
//!
//! This is s3fs's model with `nomultipart`, the one the Oracle users run: any write pattern
//! works (random writes, appends, truncates), because the staging file holds the whole
//! content. Opening an existing file for writing without `O_TRUNC` first downloads it.
//! An upload that fails leaves the handle dirty and the error is returned to `close`/`fsync`,
//! so nothing is lost silently. Multipart upload of large files is later work.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt;
use s3client::{GetRequest, ObjectClient, PutBody, PutRequest};
use tempfile::NamedTempFile;

use crate::attr::{Kind, Stat};
use crate::error::{FsError, Result};

pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;

/// The POSIX metadata s3fs stores with every object it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixMeta {
    /// Full `st_mode`, type bits included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl PosixMeta {
    pub fn new(mode: u32, uid: u32, gid: u32) -> Self {
        let now = SystemTime::now();
        PosixMeta {
            mode,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// The `x-amz-meta-*` headers (without prefix), in s3fs's format: decimal mode and ids,
    /// times in whole seconds (what every s3fs version reads).
    pub fn headers(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("mode".to_string(), self.mode.to_string()),
            ("uid".to_string(), self.uid.to_string()),
            ("gid".to_string(), self.gid.to_string()),
            ("atime".to_string(), unix_seconds(self.atime).to_string()),
            ("mtime".to_string(), unix_seconds(self.mtime).to_string()),
            ("ctime".to_string(), unix_seconds(self.ctime).to_string()),
        ])
    }

    /// The [`Stat`] of an object written with this metadata.
    pub fn stat(&self, kind: Kind, size: u64, etag: Option<String>) -> Stat {
        Stat {
            kind,
            size,
            mtime: whole_seconds(self.mtime),
            ctime: whole_seconds(self.ctime),
            atime: whole_seconds(self.atime),
            perm: Some((self.mode & 0o7777) as u16),
            uid: Some(self.uid),
            gid: Some(self.gid),
            etag,
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// What a reader of the uploaded object will see: times in whole seconds.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = unix_seconds(t);
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs())
    }
}

pub struct Writer {
    file: NamedTempFile,
    len: u64,
    unsaved: Unsaved,
    pub meta: PosixMeta,
}

/// What a handle changed since its last upload. Ordered: content implies metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unsaved {
    Nothing,
    /// Only the metadata (chmod, chown, utimens): rewritten in place on the bucket, never by
    /// uploading the staged copy, which may be older than the object by then (a `touch`
    /// racing another writer must not undo that writer's data).
    Metadata,
    Content,
}

impl Writer {
    /// A new, empty file. It is dirty: even with no data written, closing it creates the object.
    pub fn new_empty(tmpdir: &Path, meta: PosixMeta) -> Result<Self> {
        let file = staging_file(tmpdir)?;
        Ok(Writer {
            file,
            len: 0,
            unsaved: Unsaved::Content,
            meta,
        })
    }

    /// An existing object, downloaded so it can be changed in place.
    pub async fn from_object<C: ObjectClient>(
        client: &C,
        key: &str,
        size: u64,
        etag: Option<String>,
        tmpdir: &Path,
        meta: PosixMeta,
    ) -> Result<Self> {
        let file = staging_file(tmpdir)?;
        let mut len = 0u64;
        if size > 0 {
            let response = client
                .get_object(GetRequest {
                    key: key.to_string(),
                    range: None,
                    if_match: etag,
                })
                .await?;
            let mut body = response.body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                file.as_file()
                    .write_all_at(&chunk, len)
                    .map_err(staging_error)?;
                len += chunk.len() as u64;
            }
        }
        Ok(Writer {
            file,
            len,
            unsaved: Unsaved::Nothing,
            meta,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_dirty(&self) -> bool {
        self.unsaved != Unsaved::Nothing
    }

    /// Changed only in its metadata since the last upload (or since it was opened).
    pub fn only_metadata_changed(&self) -> bool {
        self.unsaved == Unsaved::Metadata
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<u32> {
        self.file
            .as_file()
            .write_all_at(data, offset)
            .map_err(staging_error)?;
        self.len = self.len.max(offset + data.len() as u64);
        self.touch();
        Ok(data.len() as u32)
    }

    pub fn read(&self, offset: u64, size: u32) -> Result<Bytes> {
        let end = offset.saturating_add(u64::from(size)).min(self.len);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; (end - offset) as usize];
        self.file
            .as_file()
            .read_exact_at(&mut buf, offset)
            .map_err(staging_error)?;
        Ok(Bytes::from(buf))
    }

    pub fn truncate(&mut self, size: u64) -> Result<()> {
        self.file.as_file().set_len(size).map_err(staging_error)?;
        self.len = size;
        self.touch();
        Ok(())
    }

    /// Metadata changed (chmod, chown, utimens): the object's metadata must be rewritten.
    pub fn metadata_changed(&mut self) {
        self.unsaved = self.unsaved.max(Unsaved::Metadata);
    }

    fn touch(&mut self) {
        let now = SystemTime::now();
        self.meta.mtime = now;
        self.meta.ctime = now;
        self.unsaved = Unsaved::Content;
    }

    pub fn put_request(&self, key: &str, content_type: &str) -> PutRequest {
        PutRequest {
            key: key.to_string(),
            body: PutBody::File {
                path: self.file.path().to_path_buf(),
                len: self.len,
            },
            content_type: Some(content_type.to_string()),
            metadata: self.meta.headers(),
        }
    }

    /// The upload of `put_request` succeeded.
    pub fn uploaded(&mut self) {
        self.unsaved = Unsaved::Nothing;
    }
}

fn staging_file(tmpdir: &Path) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".mountd-")
        .tempfile_in(tmpdir)
        .map_err(staging_error)
}

fn staging_error(e: io::Error) -> FsError {
    tracing::error!(error = %e, "staging file for a write failed");
    FsError::Staging(e)
}

/// Checks that writes can be staged in `tmpdir` by creating (and removing) a file there:
/// run before mounting, so a bad `-o tmpdir` fails the start instead of every later write.
pub fn check_staging_dir(tmpdir: &Path) -> io::Result<()> {
    let probe = tmpdir.join(format!(".mountd-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}
