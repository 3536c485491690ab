//! File attributes: what an object's s3fs metadata (or its absence) means for `stat`.
//!
//! s3fs keeps POSIX metadata in user metadata: `x-amz-meta-mode` (decimal `st_mode`, type bits
//! included), `-uid`, `-gid`, `-mtime`, `-ctime`, `-atime` (`sec` or `sec.nsec`). It also reads
//! GCS's `goog-reserved-posix-mode` (octal), `-uid`, `-gid` and `goog-reserved-file-mtime`.
//! Objects written by other tools have none of it and get defaults. Malformed values are
//! ignored, never fatal: a bucket is shared with other writers.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use s3client::ObjectInfo;

use crate::FsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    File,
    Directory,
    Symlink,
}

/// What we know of one entry, before the mount's options are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub size: u64,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub atime: SystemTime,
    /// Permission bits from metadata (`mode & 0o7777`); `None`: use the default.
    pub perm: Option<u16>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The object's ETag, for files (changes when the content changes).
    pub etag: Option<String>,
}

/// The attributes the kernel sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub blocks: u64,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub atime: SystemTime,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
}

/// s3fs (since 1.94) reports directories as 4096 bytes.
pub const DIRECTORY_SIZE: u64 = 4096;
const DEFAULT_FILE_PERM: u16 = 0o644;
const DEFAULT_DIR_PERM: u16 = 0o755;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

impl Stat {
    /// A directory with no metadata (implicit, from a key prefix), timestamped `time`.
    pub fn implicit_dir(time: SystemTime) -> Stat {
        Stat {
            kind: Kind::Directory,
            size: DIRECTORY_SIZE,
            mtime: time,
            ctime: time,
            atime: time,
            perm: None,
            uid: None,
            gid: None,
            etag: None,
        }
    }

    /// A file seen in a listing: size, ETag and Last-Modified only (LIST carries no metadata).
    pub fn listed_file(size: u64, etag: &str, last_modified: SystemTime) -> Stat {
        Stat {
            kind: Kind::File,
            size,
            mtime: last_modified,
            ctime: last_modified,
            atime: last_modified,
            perm: None,
            uid: None,
            gid: None,
            etag: Some(etag.to_string()),
        }
    }

    /// From a HEAD: the object's metadata decides type, permissions, owner and times.
    /// `as_directory` is set when the object is a directory marker (`dir/`).
    pub fn from_object(info: &ObjectInfo, as_directory: bool) -> Stat {
        let meta = &info.metadata;
        let last_modified: SystemTime = info.last_modified.into();
        let mode = metadata_mode(meta);
        let kind = if as_directory || is_directory_object(info) {
            Kind::Directory
        } else if mode.map(|m| m & S_IFMT == S_IFLNK).unwrap_or(false) {
            Kind::Symlink
        } else {
            Kind::File
        };
        let mtime = time_field(meta, "mtime")
            .or_else(|| time_field(meta, "goog-reserved-file-mtime"))
            .unwrap_or(last_modified);
        Stat {
            kind,
            size: if kind == Kind::Directory {
                DIRECTORY_SIZE
            } else {
                info.size
            },
            mtime,
            ctime: time_field(meta, "ctime").unwrap_or(mtime),
            atime: time_field(meta, "atime").unwrap_or(mtime),
            perm: mode.map(|m| (m & 0o7777) as u16),
            uid: number_field(meta, "uid")
                .or_else(|| number_field(meta, "goog-reserved-posix-uid")),
            gid: number_field(meta, "gid")
                .or_else(|| number_field(meta, "goog-reserved-posix-gid")),
            etag: (kind != Kind::Directory).then(|| info.etag.clone()),
        }
    }

    /// Apply the mount's options (`uid`, `gid`, `umask`) and give the kernel's view.
    pub fn to_attr(&self, ino: u64, config: &FsConfig) -> Attr {
        let default_perm = match self.kind {
            Kind::Directory => DEFAULT_DIR_PERM,
            Kind::File => DEFAULT_FILE_PERM,
            Kind::Symlink => 0o777,
        };
        let perm = match config.umask {
            Some(umask) if self.kind != Kind::Symlink => (0o777 & !umask) as u16,
            _ => self.perm.unwrap_or(default_perm),
        };
        let uid = if config.force_uid {
            config.uid
        } else {
            self.uid.unwrap_or(config.uid)
        };
        let gid = if config.force_gid {
            config.gid
        } else {
            self.gid.unwrap_or(config.gid)
        };
        Attr {
            ino,
            kind: self.kind,
            size: self.size,
            blocks: self.size.div_ceil(512),
            mtime: self.mtime,
            ctime: self.ctime,
            atime: self.atime,
            perm,
            nlink: if self.kind == Kind::Directory { 2 } else { 1 },
            uid,
            gid,
        }
    }
}

/// Whether an object without a trailing `/` is a directory in s3fs's older formats: a
/// directory content type, or a mode with the directory type bits.
fn is_directory_object(info: &ObjectInfo) -> bool {
    let ct = info.content_type.as_deref().unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    ct.eq_ignore_ascii_case("application/x-directory")
        || ct.eq_ignore_ascii_case("httpd/unix-directory")
        || metadata_mode(&info.metadata)
            .map(|m| m & S_IFMT == S_IFDIR)
            .unwrap_or(false)
}

/// `x-amz-meta-mode` is decimal (s3fs); GCS's posix mode is octal.
fn metadata_mode(meta: &BTreeMap<String, String>) -> Option<u32> {
    if let Some(v) = meta.get("mode") {
        return v.trim().parse::<u32>().ok();
    }
    meta.get("goog-reserved-posix-mode")
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}

fn number_field(meta: &BTreeMap<String, String>, name: &str) -> Option<u32> {
    meta.get(name).and_then(|v| v.trim().parse::<u32>().ok())
}

/// `"<sec>"` or `"<sec>.<fraction>"` (s3fs writes 9 digits; rclone writes a float).
fn time_field(meta: &BTreeMap<String, String>, name: &str) -> Option<SystemTime> {
    parse_time(meta.get(name)?)
}

pub(crate) fn parse_time(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    let (secs, frac) = match value.split_once('.') {
        Some((s, f)) => (s, f),
        None => (value, ""),
    };
    let secs: i64 = secs.parse().ok()?;
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: u32 = digits.parse().ok()?;
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn info(meta: &[(&str, &str)], content_type: Option<&str>) -> ObjectInfo {
        ObjectInfo {
            key: "k".into(),
            size: 10,
            etag: "\"e\"".into(),
            last_modified: OffsetDateTime::from_unix_timestamp(1_600_000_000).unwrap(),
            content_type: content_type.map(String::from),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn s3fs_metadata_is_honoured() {
        let s = Stat::from_object(
            &info(
                &[
                    ("mode", "33200"),
                    ("uid", "1000"),
                    ("gid", "100"),
                    ("mtime", "1700000000.5"),
                ],
                None,
            ),
            false,
        );
        assert_eq!(s.kind, Kind::File);
        assert_eq!(s.perm, Some(0o660));
        let a = s.to_attr(7, &FsConfig::default());
        assert_eq!((a.perm, a.uid, a.gid, a.size), (0o660, 1000, 100, 10));
        assert_eq!(
            a.mtime,
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000)
        );
    }

    #[test]
    fn defaults_without_metadata_and_options_override() {
        let s = Stat::from_object(&info(&[], None), false);
        let mut cfg = FsConfig {
            uid: 5,
            gid: 6,
            ..FsConfig::default()
        };
        let a = s.to_attr(2, &cfg);
        assert_eq!((a.perm, a.uid, a.gid), (0o644, 5, 6));
        assert_eq!(
            a.mtime,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
        );
        cfg.umask = Some(0o027);
        cfg.force_uid = true;
        let owned = Stat::from_object(&info(&[("uid", "1000")], None), false);
        let a = owned.to_attr(2, &cfg);
        assert_eq!((a.perm, a.uid), (0o750, 5));
    }

    #[test]
    fn symlinks_and_directory_objects() {
        let link = Stat::from_object(&info(&[("mode", &(0o120777).to_string())], None), false);
        assert_eq!(link.kind, Kind::Symlink);
        let d = Stat::from_object(&info(&[], Some("application/x-directory")), false);
        assert_eq!(
            (d.kind, d.size, d.etag.clone()),
            (Kind::Directory, DIRECTORY_SIZE, None)
        );
        let d = Stat::from_object(&info(&[("mode", &(0o040750).to_string())], None), false);
        assert_eq!((d.kind, d.perm), (Kind::Directory, Some(0o750)));
        let gcs = Stat::from_object(&info(&[("goog-reserved-posix-mode", "600")], None), false);
        assert_eq!(gcs.perm, Some(0o600));
    }

    #[test]
    fn malformed_metadata_is_ignored() {
        let s = Stat::from_object(
            &info(
                &[
                    ("mode", "rwx"),
                    ("uid", "-1"),
                    ("mtime", "soon"),
                    ("atime", "1.2x"),
                ],
                None,
            ),
            false,
        );
        assert_eq!((s.kind, s.perm, s.uid), (Kind::File, None, None));
        assert_eq!(
            s.mtime,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
        );
        assert_eq!(
            parse_time("12"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(12))
        );
        assert_eq!(
            parse_time("12.123456789123"),
            Some(SystemTime::UNIX_EPOCH + Duration::new(12, 123_456_789))
        );
        assert_eq!(parse_time(""), None);
    }
}
