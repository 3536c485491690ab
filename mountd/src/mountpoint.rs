//! The mountpoint: s3fs's checks, and clearing a stale FUSE mount left by a dead daemon.
//!
//! s3fs exits 1 on a stale mountpoint ("Transport endpoint is not connected") and prints a
//! `fusermount -uz` hint; a restarted container then crash-loops. mountd clears it instead:
//! when `stat` fails with ENOTCONN, or hangs (a stopped daemon), and `/proc/self/mountinfo`
//! shows a `fuse*` mount there, it aborts a hung connection through fusectl, detaches the
//! mount lazily (`umount2(MNT_DETACH)`, or `fusermount3 -uz` / `fusermount -uz` when not
//! allowed), logs it, and repeats while stale mounts are stacked.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::io_reason;

/// How long a `stat` of the mountpoint may take before the mount counts as hung.
pub const STAT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most stacked stale mounts cleared.
const MAX_ROUNDS: usize = 8;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    pub major: u32,
    pub minor: u32,
    pub mount_point: PathBuf,
    pub fstype: String,
}

impl MountEntry {
    pub fn is_fuse(&self) -> bool {
        self.fstype == "fuse" || self.fstype.starts_with("fuse.") || self.fstype == "fuseblk"
    }
}

/// Undo mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// Parse the text of `/proc/self/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let id = f.first()?.parse().ok()?;
            let (major, minor) = f.get(2)?.split_once(':')?;
            let mount_point = unescape(f.get(4)?);
            let sep = f.iter().position(|x| *x == "-")?;
            let fstype = f.get(sep + 1)?.to_string();
            Some(MountEntry {
                id,
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                mount_point,
                fstype,
            })
        })
        .collect()
}

/// FUSE mounts at `path`, last mounted last.
pub fn fuse_mounts_at(entries: &[MountEntry], path: &Path) -> Vec<MountEntry> {
    entries
        .iter()
        .filter(|e| e.is_fuse() && e.mount_point == path)
        .cloned()
        .collect()
}

fn read_mountinfo() -> Vec<MountEntry> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default()
}

/// An absolute path for `mp` as the mount table names it, without `stat`ing the last
/// component (it may be a stale mount that cannot be resolved): the parent is canonicalized
/// when possible, and a last component that is a symlink is followed (the kernel mounts on
/// its target, so that is where an existing mount must be looked for).
pub fn absolute(mp: &Path, cwd: &Path) -> PathBuf {
    let mut path = absolute_once(mp, cwd);
    // Like the kernel's limit on nested links (SYMLOOP_MAX).
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        path = absolute_once(&target, &dir);
    }
    path
}

fn absolute_once(mp: &Path, cwd: &Path) -> PathBuf {
    let joined = if mp.is_absolute() {
        mp.to_path_buf()
    } else {
        cwd.join(mp)
    };
    // Lexically drop "." and trailing "/" so the name can be compared with mountinfo.
    let mut clean = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other.as_os_str()),
        }
    }
    match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(p) => p.join(name),
            Err(_) => clean,
        },
        _ => clean,
    }
}

/// Outcome of a `stat` with a time limit.
#[derive(Debug)]
enum Stat {
    Ok(std::fs::Metadata),
    Err(io::Error),
    Hung,
}

async fn stat_with_timeout(path: &Path) -> Stat {
    let p = path.to_path_buf();
    let task = tokio::task::spawn_blocking(move || std::fs::metadata(p));
    match tokio::time::timeout(STAT_TIMEOUT, task).await {
        Ok(Ok(Ok(m))) => Stat::Ok(m),
        Ok(Ok(Err(e))) => Stat::Err(e),
        Ok(Err(join)) => Stat::Err(io::Error::other(join.to_string())),
        Err(_) => Stat::Hung,
    }
}

/// Detach the mount at `path` lazily: `umount2(MNT_DETACH)`, else `fusermount3 -uz`, else
/// `fusermount -uz`.
pub fn lazy_unmount(path: &Path) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: path contains a NUL byte", path.display()))?;
    // SAFETY: `c` is a valid NUL-terminated path; umount2 does not keep the pointer.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        return Ok(());
    }
    let first = io::Error::last_os_error();
    let mut tried = vec![format!("umount2: {}", io_reason(&first))];
    for tool in ["fusermount3", "fusermount"] {
        match std::process::Command::new(tool)
            .arg("-uz")
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
        {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => tried.push(format!(
                "{tool} -uz: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => tried.push(format!("{tool}: {}", io_reason(&e))),
        }
    }
    Err(format!(
        "cannot detach the mount at {}: {}",
        path.display(),
        tried.join("; ")
    ))
}

/// Abort a hung FUSE connection through fusectl (best effort).
fn abort_connection(e: &MountEntry) {
    let p = format!("/sys/fs/fuse/connections/{}/abort", e.minor);
    match std::fs::write(&p, b"1") {
        Ok(()) => tracing::warn!("aborted the hung FUSE connection {} ({p})", e.minor),
        Err(err) => tracing::debug!("cannot abort FUSE connection via {p}: {}", io_reason(&err)),
    }
}

/// Clear stale FUSE mounts at `mp` and refuse a live one, then check it as s3fs does: it
/// exists, is a directory, and the user may mount on it. `shown` is the name the user gave
/// (for messages).
pub async fn prepare(mp: &Path, shown: &str, euid: u32, egid: u32) -> Result<(), String> {
    for _ in 0..MAX_ROUNDS {
        let here = fuse_mounts_at(&read_mountinfo(), mp);
        let reason = match stat_with_timeout(mp).await {
            Stat::Ok(_) => {
                // A live daemon serves it: a second one stacked on top would hide it while
                // it keeps running (s3fs refuses a mount point that is not empty, too).
                if let Some(top) = here.last() {
                    return Err(format!(
                        "MOUNTPOINT {shown} is already mounted by a running FUSE filesystem ({}); unmount it first: fusermount3 -u {shown}",
                        top.fstype
                    ));
                }
                break;
            }
            Stat::Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                "transport endpoint is not connected"
            }
            Stat::Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => "connection aborted",
            Stat::Hung if !here.is_empty() => {
                abort_connection(&here[here.len() - 1]);
                "it does not answer"
            }
            Stat::Hung => {
                return Err(format!(
                    "unable to access MOUNTPOINT {shown}: no answer within {} s",
                    STAT_TIMEOUT.as_secs()
                ))
            }
            Stat::Err(_) => break,
        };
        lazy_unmount(mp).map_err(|e| {
            format!(
                "MOUNTPOINT {shown} is stale ({reason}) and could not be cleared: {e}; try: fusermount3 -uz {shown}"
            )
        })?;
        tracing::warn!("MOUNTPOINT {shown}: detached a stale FUSE mount ({reason})");
    }
    let meta = match stat_with_timeout(mp).await {
        Stat::Ok(m) => m,
        Stat::Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(format!(
                "MOUNTPOINT {shown} is stale, you could use this command to fix: fusermount3 -uz {shown}"
            ))
        }
        Stat::Err(e) => {
            return Err(format!(
                "unable to access MOUNTPOINT {shown}: {}",
                io_reason(&e)
            ))
        }
        Stat::Hung => {
            return Err(format!(
                "unable to access MOUNTPOINT {shown}: no answer within {} s",
                STAT_TIMEOUT.as_secs()
            ))
        }
    };
    check_dir(
        shown,
        meta.is_dir(),
        meta.uid(),
        meta.gid(),
        meta.mode(),
        euid,
        egid,
    )
}

/// s3fs's mountpoint rules: a directory, that root, its owner, its group (with rwx for the
/// group) or anybody (with rwx for others) may mount on.
pub fn check_dir(
    shown: &str,
    is_dir: bool,
    uid: u32,
    gid: u32,
    mode: u32,
    euid: u32,
    egid: u32,
) -> Result<(), String> {
    if !is_dir {
        return Err(format!("MOUNTPOINT: {shown} is not a directory."));
    }
    let ok =
        euid == 0 || uid == euid || (gid == egid && mode & 0o070 == 0o070) || mode & 0o007 == 0o007;
    if !ok {
        return Err(format!("MOUNTPOINT: {shown} permission denied."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 22 0:45 / /tmp/acc-17-x/mnt rw,nosuid,nodev,relatime shared:20 - fuse.s3fs s3fs rw,user_id=0,group_id=0
36 22 0:46 / /tmp/with\\040space rw,relatime shared:21 - fuse mountd rw,user_id=0
37 22 0:47 / /tmp/plain rw master:3 shared:4 - tmpfs tmpfs rw
garbage line
";

    #[test]
    fn parses_mountinfo() {
        let e = parse_mountinfo(MOUNTINFO);
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[1],
            MountEntry {
                id: 35,
                major: 0,
                minor: 45,
                mount_point: PathBuf::from("/tmp/acc-17-x/mnt"),
                fstype: "fuse.s3fs".into()
            }
        );
        assert!(e[1].is_fuse() && e[2].is_fuse() && !e[3].is_fuse() && !e[0].is_fuse());
        assert_eq!(e[2].mount_point, PathBuf::from("/tmp/with space"));
        assert_eq!(e[3].fstype, "tmpfs");
        assert_eq!(
            fuse_mounts_at(&e, Path::new("/tmp/with space"))[0].minor,
            46
        );
        assert!(fuse_mounts_at(&e, Path::new("/tmp/plain")).is_empty());
    }

    #[test]
    fn absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(absolute(Path::new("mnt"), dir.path()), real.join("mnt"));
        assert_eq!(absolute(Path::new("./mnt/"), dir.path()), real.join("mnt"));
        std::fs::create_dir(dir.path().join("target")).unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("link"), dir.path().join("link2")).unwrap();
        assert_eq!(absolute(Path::new("link"), dir.path()), real.join("target"));
        assert_eq!(
            absolute(Path::new("link2/"), dir.path()),
            real.join("target")
        );
        assert_eq!(
            absolute(&dir.path().join("a/../mnt"), Path::new("/")),
            real.join("mnt")
        );
    }

    #[test]
    fn directory_rules() {
        assert!(check_dir("m", true, 1000, 1000, 0o755, 1000, 1000).is_ok());
        assert!(check_dir("m", true, 0, 0, 0o755, 0, 0).is_ok());
        assert_eq!(
            check_dir("m", false, 1000, 1000, 0o755, 1000, 1000).unwrap_err(),
            "MOUNTPOINT: m is not a directory."
        );
        assert_eq!(
            check_dir("m", true, 0, 0, 0o755, 1000, 1000).unwrap_err(),
            "MOUNTPOINT: m permission denied."
        );
        assert!(check_dir("m", true, 0, 1000, 0o770, 1000, 1000).is_ok());
        assert!(check_dir("m", true, 0, 0, 0o777, 1000, 1000).is_ok());
    }

    #[tokio::test]
    async fn prepare_reports_s3fs_messages() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(
            prepare(&missing, "missing", 0, 0).await.unwrap_err(),
            "unable to access MOUNTPOINT missing: No such file or directory"
        );
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            prepare(&file, "file", 0, 0).await.unwrap_err(),
            "MOUNTPOINT: file is not a directory."
        );
        assert!(prepare(dir.path(), "dir", 0, 0).await.is_ok());
    }
}
