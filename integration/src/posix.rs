//! What a mount shows of POSIX attributes ([`Attrs`]: type, permission bits, owner, mtime,
//! size, content hash, symlink target), read by lookup ([`stat_paths`]: no directory is
//! listed) or by listing ([`walk_attrs`]: `readdir` then `lstat`, as `ls -lR` does); and the
//! system calls whose errors the write tests check (`close`, `truncate(path)`), with small
//! helpers to write files through a mount.
//!
//! Every function here touches the filesystem directly: callers run them under
//! [`crate::bounded`] when the path is on a mount.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::IntoRawFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{run_with_timeout, sha256_file};

/// `st_mode` file-type bits, as s3fs stores them in `x-amz-meta-mode` (decimal).
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;

/// The type of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// What `lstat` (plus reading the file or the link) shows of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub kind: Kind,
    /// `st_mode & 0o7777`.
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// `st_mtime` in whole seconds.
    pub mtime: i64,
    /// Bytes of a file, length of a symlink's target; `None` for directories (s3fs 1.90
    /// says 0, s3fs 1.94+ and mountd 4096: not compared).
    pub size: Option<u64>,
    /// Lower-case hex SHA-256 of a file's content.
    pub sha256: Option<String>,
    /// A symlink's target.
    pub target: Option<String>,
}

impl Attrs {
    /// The attributes of `path` (not following a symlink), reading a file's content and a
    /// link's target.
    pub fn of(path: &Path) -> io::Result<Attrs> {
        let ctx = |e: io::Error, what: &str| {
            io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        };
        let meta = std::fs::symlink_metadata(path).map_err(|e| ctx(e, "lstat"))?;
        let ft = meta.file_type();
        let mut a = Attrs {
            kind: Kind::File,
            perm: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            size: None,
            sha256: None,
            target: None,
        };
        if ft.is_dir() {
            a.kind = Kind::Dir;
        } else if ft.is_symlink() {
            a.kind = Kind::Symlink;
            a.size = Some(meta.len());
            let target = std::fs::read_link(path).map_err(|e| ctx(e, "readlink"))?;
            a.target = Some(target.to_string_lossy().into_owned());
        } else if ft.is_file() {
            let (size, sha) = sha256_file(path).map_err(|e| ctx(e, "read"))?;
            if size != meta.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: stat says {} bytes, reading gave {size}",
                        path.display(),
                        meta.len()
                    ),
                ));
            }
            a.size = Some(size);
            a.sha256 = Some(sha);
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: unexpected file type {ft:?}", path.display()),
            ));
        }
        Ok(a)
    }

    /// One line for messages.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{:?} {:04o} {}:{} mtime {}",
            self.kind, self.perm, self.uid, self.gid, self.mtime
        );
        if let Some(n) = self.size {
            s += &format!(" size {n}");
        }
        if let Some(h) = &self.sha256 {
            s += &format!(" sha256 {}", &h[..h.len().min(12)]);
        }
        if let Some(t) = &self.target {
            s += &format!(" -> {t:?}");
        }
        s
    }
}

/// The attributes of each of `paths` (relative to `root`), found by lookup alone: nothing
/// is listed, so a filesystem answers from what it learns about each name.
pub fn stat_paths(root: &Path, paths: &[String]) -> io::Result<BTreeMap<String, Attrs>> {
    paths
        .iter()
        .map(|p| Ok((p.clone(), Attrs::of(&root.join(p))?)))
        .collect()
}

/// Every entry below `root` (not `root` itself) as `ls -lR` finds it: each directory is
/// listed, then each entry is `lstat`ed. Names that are not UTF-8 are an error.
pub fn walk_attrs(root: &Path) -> io::Result<BTreeMap<String, Attrs>> {
    let mut out = BTreeMap::new();
    walk(root, "", &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Attrs>) -> io::Result<()> {
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("readdir {}: {e}", dir.display()));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(ctx)? {
        let name = entry.map_err(ctx)?.file_name();
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("non-UTF-8 name {name:?} in {}", dir.display()),
            )
        })?;
        names.push(name.to_string());
    }
    names.sort();
    for name in names {
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&name);
        let a = Attrs::of(&path)?;
        let is_dir = a.kind == Kind::Dir;
        out.insert(child.clone(), a);
        if is_dir {
            walk(&path, &child, out)?;
        }
    }
    Ok(())
}

/// Human-readable differences, field by field (empty when equal).
pub fn attrs_diff(
    expected: &BTreeMap<String, Attrs>,
    actual: &BTreeMap<String, Attrs>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (p, e) in expected {
        let Some(a) = actual.get(p) else {
            out.push(format!("missing: {p:?} ({})", e.describe()));
            continue;
        };
        let mut fields = Vec::new();
        if e.kind != a.kind {
            fields.push(format!("type {:?} != {:?}", e.kind, a.kind));
        }
        if e.perm != a.perm {
            fields.push(format!("perm {:04o} != {:04o}", e.perm, a.perm));
        }
        if (e.uid, e.gid) != (a.uid, a.gid) {
            fields.push(format!("owner {}:{} != {}:{}", e.uid, e.gid, a.uid, a.gid));
        }
        if e.mtime != a.mtime {
            fields.push(format!("mtime {} != {}", e.mtime, a.mtime));
        }
        if e.size != a.size {
            fields.push(format!("size {:?} != {:?}", e.size, a.size));
        }
        if e.sha256 != a.sha256 {
            fields.push("content (sha256) differs".to_string());
        }
        if e.target != a.target {
            fields.push(format!("target {:?} != {:?}", e.target, a.target));
        }
        if !fields.is_empty() {
            out.push(format!(
                "differs: {p:?}: {} (expected {}, got {})",
                fields.join(", "),
                e.describe(),
                a.describe()
            ));
        }
    }
    for (p, a) in actual {
        if !expected.contains_key(p) {
            out.push(format!("unexpected: {p:?} ({})", a.describe()));
        }
    }
    out
}

/// Panics with every difference when the two views differ.
#[track_caller]
pub fn assert_same_attrs(
    what: &str,
    expected: &BTreeMap<String, Attrs>,
    actual: &BTreeMap<String, Attrs>,
) {
    let diff = attrs_diff(expected, actual);
    assert!(
        diff.is_empty(),
        "{what}: {} differences ({} entries expected, {} seen):\n  {}",
        diff.len(),
        expected.len(),
        actual.len(),
        diff.join("\n  ")
    );
}

/// `n` bytes from /dev/urandom.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .expect("read /dev/urandom");
    v
}

/// Now, in whole seconds since the epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

pub fn egid() -> u32 {
    // SAFETY: getegid has no preconditions.
    unsafe { libc::getegid() }
}

/// Creates `path` (`O_CREAT|O_EXCL`) with `mode` (before the umask), writes `data` in
/// 1 MiB writes and closes it, returning close's result (where a FUSE upload happens).
pub fn write_new(path: &Path, mode: u32, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    for chunk in data.chunks(1 << 20) {
        f.write_all(chunk)?;
    }
    close_checked(f)
}

/// Opens `path` with `O_CREAT|O_TRUNC`, writes `data`, closes it with close's result.
pub fn rewrite(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(data)?;
    close_checked(f)
}

/// `close(2)` that reports its error (dropping a `File` ignores it). On a FUSE mount this
/// is where a failed upload shows up.
pub fn close_checked(file: File) -> io::Result<()> {
    let fd = file.into_raw_fd();
    // SAFETY: we own `fd` (taken from the File, which no longer closes it) and close it once.
    let rc = unsafe { libc::close(fd) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `truncate(2)` by path (`File::set_len` is `ftruncate` on an open file).
pub fn truncate_path(path: &Path, len: u64) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::truncate(c.as_ptr(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// This process's umask, from /proc/self/status (reading it with umask(2) would change it
/// for every thread for a moment).
pub fn process_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .expect("a Umask: line in /proc/self/status")
}

/// Runs `touch -d DATE PATH` with `TZ=UTC` (so `2020-01-01` is 1577836800), as a user would.
pub fn touch_date(path: &Path, date: &str) -> io::Result<()> {
    run_tool(
        Command::new("touch")
            .arg("-d")
            .arg(date)
            .arg(path)
            .env("TZ", "UTC"),
    )
}

/// Runs a command line tool (`mv`, `touch`, ...) with a deadline; a non-zero exit is an
/// error carrying its stderr.
pub fn run_tool(cmd: &mut Command) -> io::Result<()> {
    let out = run_with_timeout(cmd, Duration::from_secs(60))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            out.stderr.trim()
        )))
    }
}

/// Panics unless `r` failed with `errno`.
#[track_caller]
pub fn assert_errno<T: std::fmt::Debug>(r: io::Result<T>, errno: i32, what: &str) {
    match r {
        Err(e) if e.raw_os_error() == Some(errno) => {}
        other => panic!(
            "{what}: expected {} (errno {errno}), got {other:?}",
            io::Error::from_raw_os_error(errno)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lookup_and_walk_agree_on_a_local_tree() {
        let wd = crate::mount::Workdir::new("posix");
        let root = wd.path().join("root");
        std::fs::create_dir_all(root.join("d/e")).unwrap();
        std::fs::write(root.join("d/f"), b"hello").unwrap();
        std::fs::set_permissions(root.join("d/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("d/f", root.join("link")).unwrap();
        touch_date(&root.join("d/f"), "2020-01-01").unwrap();

        let walked = walk_attrs(&root).unwrap();
        let names: Vec<&str> = walked.keys().map(String::as_str).collect();
        assert_eq!(names, ["d", "d/e", "d/f", "link"]);
        let f = &walked["d/f"];
        assert_eq!(
            (f.kind, f.perm, f.size, f.mtime),
            (Kind::File, 0o640, Some(5), 1_577_836_800)
        );
        assert_eq!(
            f.sha256.as_deref(),
            Some(crate::sha256_hex(b"hello").as_str())
        );
        let l = &walked["link"];
        assert_eq!(
            (l.kind, l.size, l.target.as_deref()),
            (Kind::Symlink, Some(3), Some("d/f"))
        );
        assert_eq!(walked["d"].kind, Kind::Dir);

        let paths: Vec<String> = walked.keys().cloned().collect();
        let looked_up = stat_paths(&root, &paths).unwrap();
        assert_same_attrs("lookup vs walk", &walked, &looked_up);

        let mut other = looked_up.clone();
        other.get_mut("d/f").unwrap().perm = 0o600;
        other.remove("link");
        let diff = attrs_diff(&walked, &other);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].contains("perm 0640 != 0600"), "{diff:?}");
        assert!(diff[1].starts_with("missing: \"link\""), "{diff:?}");
    }

    #[test]
    fn syscalls_report_errors() {
        let wd = crate::mount::Workdir::new("posix-calls");
        let p = wd.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        truncate_path(&p, 4).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123");
        assert_errno(
            truncate_path(&wd.path().join("missing"), 0),
            libc::ENOENT,
            "truncate",
        );
        close_checked(File::open(&p).unwrap()).unwrap();
        assert!(process_umask() <= 0o777);
        assert!(run_tool(&mut Command::new("false")).is_err());
    }
}
