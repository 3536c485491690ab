//! What the filesystem needs to know from the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::mime::ContentTypes;

/// Settings of one mounted filesystem (not of the S3 connection).
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// Key prefix the mount root maps to (s3fs `BUCKET:/PATH`): empty, or ending with `/`.
    pub prefix: String,
    /// Owner of entries without `x-amz-meta-uid` (s3fs: the mounting user, or `-o uid=`).
    pub uid: u32,
    /// Group of entries without `x-amz-meta-gid`.
    pub gid: u32,
    /// `-o uid=` given: it overrides every entry's owner (s3fs does the same).
    pub force_uid: bool,
    /// `-o gid=` given: it overrides every entry's group.
    pub force_gid: bool,
    /// `-o umask=`: when set, permissions are `0777 & !umask` for every entry (s3fs).
    pub umask: Option<u32>,
    /// `-o mp_umask=`: permissions of the mount root are `0777 & !mp_umask`.
    pub mp_umask: u32,
    /// How long attributes, lookups and listings are trusted (kernel TTLs and our caches).
    pub metadata_ttl: Duration,
    /// How long "does not exist" is remembered (s3fs's negative cache).
    pub negative_ttl: Duration,
    /// Most entries kept in the attribute cache (s3fs `max_stat_cache_size`).
    pub max_stat_cache_size: usize,
    /// Page size asked of LIST (s3fs `list_object_max_keys`).
    pub list_max_keys: u32,
    /// Refuse every change (s3fs `-o ro`); the kernel mount is read-only too.
    pub read_only: bool,
    /// Where files being written are staged before their upload (s3fs `tmpdir`).
    pub tmpdir: PathBuf,
    /// Content types of uploads by file name (s3fs `mime`).
    pub content_types: Arc<ContentTypes>,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            prefix: String::new(),
            uid: 0,
            gid: 0,
            force_uid: false,
            force_gid: false,
            umask: None,
            mp_umask: 0,
            metadata_ttl: Duration::from_secs(1),
            negative_ttl: Duration::from_secs(1),
            max_stat_cache_size: 100_000,
            list_max_keys: 1000,
            read_only: false,
            tmpdir: std::env::temp_dir(),
            content_types: Arc::default(),
        }
    }
}

/// FUSE mount settings (the generic mount options of the command line). fuse3 offers no way
/// to set `nosuid`, `nodev`, `noexec` or `noatime` on Linux, so they are not here.
#[derive(Debug, Clone, Default)]
pub struct MountConfig {
    /// Shown as the source in `/proc/mounts` (s3fs shows `s3fs`).
    pub fs_name: String,
    pub allow_other: bool,
    pub allow_root: bool,
    pub read_only: bool,
    pub default_permissions: bool,
}
