//! mountd's write support end to end: a real mount with the s3fs command line of the issue
//! (`-f -d BUCKET MP -o endpoint=us-east-1 -o passwd_file=passwd -o url=URL -o nomultipart
//! -o use_path_request_style`), changed through ordinary system calls and tools (`mv`,
//! `touch`), verified on the bucket with boto3 (`s3tool.py manifest` and `head`), never
//! with our own client. One test per scenario and server (moto, Garage, MinIO when
//! configured).
//!
//! The on-bucket format is s3fs's (see s3fs-compat.md §2.2): files are whole objects with
//! `x-amz-meta-mode` (decimal `st_mode`, type bits included), `-uid`, `-gid`, `-mtime`
//! (seconds); directories are zero-byte `dir/` markers with `application/x-directory`;
//! symlinks are objects whose body is the target, mode `S_IFLNK|0777`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use integration::mount::mountd_bin;
use integration::oracle::HeadInfo;
use integration::posix::{
    assert_errno, close_checked, egid, euid, now_secs, process_umask, random_bytes, rewrite,
    run_tool, touch_date, truncate_path, write_new, S_IFDIR, S_IFLNK, S_IFREG,
};
use integration::proxy::{CountingProxy, Fault};
use integration::servers::{require_server, Kind, Server};
use integration::session::Session;
use integration::util::wait_until;
use integration::{bounded, sha256_file, sha256_hex};

/// Time for one step of file system work through the mount (a few MiB at most).
const FS_TIMEOUT: Duration = Duration::from_secs(60);

/// `touch -d 2020-01-01` in UTC.
const JAN_2020: i64 = 1_577_836_800;
/// `touch -d 2021-06-01` in UTC.
const JUN_2021: i64 = 1_622_505_600;

const OCTET_STREAM: &str = "application/octet-stream";
const DIRECTORY: &str = "application/x-directory";

/// Runs `f` (which touches the mount) on a worker thread, failing the test if it hangs.
fn on_mount<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    bounded(what, FS_TIMEOUT, f)
}

/// Asserts the s3fs POSIX headers of an object: decimal `mode` (type bits included) equal
/// to `mode`, `uid`/`gid`, and an `mtime` in whole seconds (`"<sec>"` or `"<sec>.<nsec>"`)
/// within `mtime` (inclusive).
#[track_caller]
fn assert_posix_headers(h: &HeadInfo, mode: u32, uid: u32, gid: u32, mtime: (i64, i64)) {
    assert!(h.exists, "{} does not exist in the bucket", h.key);
    let ctx = format!("{}: metadata {:?}", h.key, h.metadata);
    assert_eq!(
        h.meta("mode"),
        Some(mode.to_string().as_str()),
        "mode (decimal) of {ctx}"
    );
    assert_eq!(h.meta_u32("uid"), Some(uid), "uid of {ctx}");
    assert_eq!(h.meta_u32("gid"), Some(gid), "gid of {ctx}");
    let raw = h
        .meta("mtime")
        .unwrap_or_else(|| panic!("no mtime in {ctx}"));
    let well_formed = match raw.split_once('.') {
        None => !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()),
        Some((s, ns)) => {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && ns.len() == 9
                && ns.bytes().all(|b| b.is_ascii_digit())
        }
    };
    assert!(
        well_formed,
        "mtime {raw:?} is not s3fs's \"<sec>[.<nsec>]\": {ctx}"
    );
    let t = h.meta_seconds("mtime").expect("checked above");
    assert!(
        (mtime.0..=mtime.1).contains(&t),
        "mtime {t} outside {mtime:?}: {ctx}"
    );
}

/// Asserts that the object `key` holds exactly `data`.
#[track_caller]
fn assert_object(s: &Session, key: &str, data: &[u8]) {
    let e = s
        .object(key)
        .unwrap_or_else(|| panic!("{key} is not in the bucket"));
    assert_eq!(
        (e.size, e.sha256.as_str()),
        (data.len() as u64, sha256_hex(data).as_str()),
        "size and sha256 of {key} in the bucket"
    );
}

/// Keys of the bucket, sorted.
fn keys(s: &Session) -> Vec<String> {
    s.manifest("").into_iter().map(|e| e.key).collect()
}

macro_rules! per_server {
    ($scenario:ident: $moto:ident, $garage:ident, $minio:ident) => {
        #[test]
        fn $moto() {
            if let Some(server) = require_server(Kind::Moto) {
                $scenario(&server);
            }
        }
        #[test]
        fn $garage() {
            if let Some(server) = require_server(Kind::Garage) {
                $scenario(&server);
            }
        }
        #[test]
        fn $minio() {
            if let Some(server) = require_server(Kind::Minio) {
                $scenario(&server);
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// New files

per_server!(
    new_files:
    mountd_writes_new_files_moto,
    mountd_writes_new_files_garage,
    mountd_writes_new_files_minio
);

/// Files of 0 B, 1 B and 5 MiB+123 B (random) are created, written and closed: the bucket
/// holds exactly those bytes, as `application/octet-stream`, with s3fs's POSIX headers
/// (mode `S_IFREG|0640` minus the umask, our uid and gid, the write time); a fresh mount
/// reads the same bytes back.
fn new_files(server: &Server) {
    let s = Session::new(server, "writes-new");
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one-byte", b"x".to_vec()),
        ("five-mib.bin", random_bytes((5 << 20) + 123)),
    ];
    let perm = 0o640 & !process_umask();
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let t0 = now_secs();
    for (name, data) in &files {
        let (p, d) = (mp.join(name), data.clone());
        let r = on_mount("writing a new file", move || write_new(&p, 0o640, &d));
        r.unwrap_or_else(|e| panic!("create/write/close {name}: {e}\n{}", m.log()));
        let p = mp.join(name);
        let meta = on_mount("stat", move || fs::metadata(p)).unwrap();
        assert_eq!(
            meta.len(),
            data.len() as u64,
            "size of {name} through the mount"
        );
        assert_eq!(meta.mode() & 0o7777, perm, "permissions of {name}");
    }
    let t1 = now_secs();

    let manifest = s.manifest("");
    let names: Vec<&str> = manifest.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        names,
        ["empty", "five-mib.bin", "one-byte"],
        "keys in the bucket"
    );
    let heads = s.head(&files.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    for ((name, data), h) in files.iter().zip(&heads) {
        assert_object(&s, name, data);
        assert_eq!(h.size, data.len() as u64, "{name}: HEAD size");
        assert_eq!(
            h.content_type.as_deref(),
            Some(OCTET_STREAM),
            "{name}: content type"
        );
        assert_posix_headers(h, S_IFREG | perm, euid(), egid(), (t0 - 1, t1 + 1));
    }

    s.unmount(m);
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    for (name, data) in &files {
        let p = m.mountpoint().join(name);
        let got = on_mount("reading back", move || sha256_file(&p)).unwrap();
        assert_eq!(
            got,
            (data.len() as u64, sha256_hex(data)),
            "{name} read through a fresh mount"
        );
    }
    s.unmount(m);
}

// ---------------------------------------------------------------------------------------
// Directories

per_server!(
    directories:
    mountd_writes_directories_moto,
    mountd_writes_directories_garage,
    mountd_writes_directories_minio
);

/// `mkdir -p a/b/c` writes the markers `a/`, `a/b/`, `a/b/c/` (zero bytes,
/// `application/x-directory`, mode `S_IFDIR|0755`); `rmdir` of a non-empty directory fails
/// with `ENOTEMPTY` and changes nothing; once its file is gone, `rmdir` removes the marker
/// and a fresh mount no longer shows the directory.
fn directories(server: &Server) {
    let s = Session::new(server, "writes-dirs");
    let perm = 0o777 & !process_umask();
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let t0 = now_secs();
    let p = mp.clone();
    on_mount("mkdir -p", move || fs::create_dir_all(p.join("a/b/c")))
        .unwrap_or_else(|e| panic!("mkdir -p a/b/c: {e}\n{}", m.log()));
    let t1 = now_secs();
    let markers = ["a/", "a/b/", "a/b/c/"];
    assert_eq!(keys(&s), markers, "keys after mkdir -p a/b/c");
    for h in s.head(&markers) {
        assert_eq!(h.size, 0, "{}: marker size", h.key);
        assert_eq!(
            h.content_type.as_deref(),
            Some(DIRECTORY),
            "{}: content type",
            h.key
        );
        assert_posix_headers(&h, S_IFDIR | perm, euid(), egid(), (t0 - 1, t1 + 1));
    }

    let p = mp.clone();
    on_mount("writing a file", move || {
        write_new(&p.join("a/b/c/f.txt"), 0o644, b"f\n")
    })
    .unwrap();
    for dir in ["a/b/c", "a/b"] {
        let p = mp.join(dir);
        let r = on_mount("rmdir", move || fs::remove_dir(p));
        assert_errno(r, libc::ENOTEMPTY, &format!("rmdir {dir} (not empty)"));
    }
    assert_eq!(keys(&s), ["a/", "a/b/", "a/b/c/", "a/b/c/f.txt"]);
    assert_object(&s, "a/b/c/f.txt", b"f\n");

    let p = mp.clone();
    on_mount("rm", move || fs::remove_file(p.join("a/b/c/f.txt"))).unwrap();
    assert_eq!(keys(&s), markers, "keys after removing the file");
    let p = mp.clone();
    on_mount("rmdir", move || fs::remove_dir(p.join("a/b/c")))
        .unwrap_or_else(|e| panic!("rmdir of the emptied a/b/c: {e}\n{}", m.log()));
    assert_eq!(keys(&s), ["a/", "a/b/"], "keys after rmdir a/b/c");
    let p = mp.clone();
    let r = on_mount("stat", move || fs::metadata(p.join("a/b/c")));
    assert_errno(r, libc::ENOENT, "stat of the removed a/b/c");
    s.unmount(m);

    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let p = m.mountpoint().to_path_buf();
    let (gone, listed) = on_mount("fresh look", move || {
        (
            fs::metadata(p.join("a/b/c")).map(|_| ()),
            fs::read_dir(p.join("a/b")).map(|d| d.count()),
        )
    });
    assert_errno(gone, libc::ENOENT, "a/b/c in a fresh mount");
    assert_eq!(listed.unwrap(), 0, "a/b is empty in a fresh mount");
    s.unmount(m);
}

// ---------------------------------------------------------------------------------------
// Changing a file in place

/// One change of an existing file, applied alike to the mount and to a local reference.
#[derive(Clone, Debug)]
enum Step {
    Create(Vec<u8>),
    /// `pwrite` at an offset (inside or past the end).
    Pwrite(u64, Vec<u8>),
    /// `O_APPEND` write.
    Append(Vec<u8>),
    /// `ftruncate` on an open file.
    Ftruncate(u64),
    /// `truncate(path)`.
    Truncate(u64),
    /// `O_TRUNC` open and a new content.
    Rewrite(Vec<u8>),
}

impl Step {
    fn apply(&self, path: &Path) -> io::Result<()> {
        match self {
            Step::Create(data) => write_new(path, 0o644, data),
            Step::Pwrite(offset, data) => {
                let f = OpenOptions::new().write(true).open(path)?;
                f.write_all_at(data, *offset)?;
                close_checked(f)
            }
            Step::Append(data) => {
                let mut f = OpenOptions::new().append(true).open(path)?;
                f.write_all(data)?;
                close_checked(f)
            }
            Step::Ftruncate(len) => {
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(*len)?;
                close_checked(f)
            }
            Step::Truncate(len) => truncate_path(path, *len),
            Step::Rewrite(data) => rewrite(path, data),
        }
    }

    fn describe(&self) -> String {
        match self {
            Step::Create(d) => format!("create with {} bytes", d.len()),
            Step::Pwrite(o, d) => format!("pwrite of {} bytes at {o}", d.len()),
            Step::Append(d) => format!("O_APPEND write of {} bytes", d.len()),
            Step::Ftruncate(n) => format!("ftruncate to {n}"),
            Step::Truncate(n) => format!("truncate(path) to {n}"),
            Step::Rewrite(d) => format!("O_TRUNC rewrite with {} bytes", d.len()),
        }
    }
}

per_server!(
    in_place:
    mountd_writes_in_place_moto,
    mountd_writes_in_place_garage,
    mountd_writes_in_place_minio
);

/// Overwrite in the middle (`pwrite`), write past the end, append (`O_APPEND`), truncate
/// down and up (`ftruncate` and `truncate(path)`), rewrite (`O_TRUNC`): after each step,
/// closed, the object's bytes equal a local reference file that went through the same
/// steps, and so does what the mount reads; the POSIX headers stay those of a 0644 file.
fn in_place(server: &Server) {
    let s = Session::new(server, "writes-inplace");
    let reference = s.local("reference");
    let steps = vec![
        Step::Create(random_bytes(300_000)),
        Step::Pwrite(123_456, random_bytes(10_000)),
        Step::Pwrite(0, b"HEAD".to_vec()),
        Step::Append(random_bytes(7_777)),
        Step::Ftruncate(200_000),
        Step::Ftruncate(262_149),
        Step::Truncate(150_001),
        Step::Truncate(180_000),
        Step::Pwrite(190_000, b"past the end".to_vec()),
        Step::Append(b"appended".to_vec()),
        Step::Rewrite(random_bytes(4_321)),
        Step::Truncate(0),
        Step::Append(b"after an empty file".to_vec()),
    ];
    let perm = 0o644 & !process_umask();
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let file = m.mountpoint().join("data.bin");
    for (i, step) in steps.iter().enumerate() {
        let what = format!("step {i}: {}", step.describe());
        step.apply(&reference)
            .unwrap_or_else(|e| panic!("{what} on the local reference: {e}"));
        let (st, f) = (step.clone(), file.clone());
        on_mount(&what, move || st.apply(&f))
            .unwrap_or_else(|e| panic!("{what} through the mount: {e}\n{}", m.log()));
        let want = sha256_file(&reference).expect("hash the reference");
        let got = s.object("data.bin").map(|e| (e.size, e.sha256));
        assert_eq!(got.as_ref(), Some(&want), "{what}: the bucket's bytes");
        let f = file.clone();
        let read = on_mount("reading back", move || sha256_file(&f)).unwrap();
        assert_eq!(read, want, "{what}: bytes read through the mount");
    }
    let h = s.head_one("data.bin");
    assert_posix_headers(&h, S_IFREG | perm, euid(), egid(), (0, now_secs() + 1));
    assert_eq!(keys(&s), ["data.bin"]);
    s.unmount(m);
}

// ---------------------------------------------------------------------------------------
// Renames

per_server!(
    renames:
    mountd_writes_renames_moto,
    mountd_writes_renames_garage,
    mountd_writes_renames_minio
);

/// A file rename (into another directory, then over an existing file) leaves the old key
/// gone and the new key with the same bytes and the same metadata. A directory rename
/// answers `EXDEV`, so `mv dir newdir` copies the tree (keeping modes and mtimes) and
/// removes the original: the bucket then has the tree under the new prefix only.
fn renames(server: &Server) {
    let s = Session::new(server, "writes-rename");
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let body = random_bytes(70_000);
    let (p, b) = (mp.clone(), body.clone());
    on_mount("setup", move || -> io::Result<()> {
        fs::create_dir(p.join("dest"))?;
        write_new(&p.join("src.bin"), 0o644, &b)?;
        fs::set_permissions(p.join("src.bin"), fs::Permissions::from_mode(0o640))?;
        touch_date(&p.join("src.bin"), "2020-01-01")?;
        write_new(&p.join("victim.txt"), 0o644, b"to be replaced\n")
    })
    .unwrap_or_else(|e| panic!("setting up: {e}\n{}", m.log()));
    let before = s.head_one("src.bin");
    assert_eq!(before.meta_seconds("mtime"), Some(JAN_2020), "{before:?}");

    // A file into another directory.
    let p = mp.clone();
    on_mount("rename", move || {
        fs::rename(p.join("src.bin"), p.join("dest/moved.bin"))
    })
    .unwrap_or_else(|e| panic!("rename src.bin dest/moved.bin: {e}\n{}", m.log()));
    let [old, new] = <[HeadInfo; 2]>::try_from(s.head(&["src.bin", "dest/moved.bin"])).unwrap();
    assert!(!old.exists, "src.bin must be gone after the rename");
    assert!(new.exists, "dest/moved.bin must exist after the rename");
    assert_eq!(
        new.metadata, before.metadata,
        "metadata travels with the rename"
    );
    assert_eq!(new.content_type, before.content_type);
    assert_object(&s, "dest/moved.bin", &body);
    let p = mp.clone();
    let (gone, meta) = on_mount("stat", move || {
        (
            fs::metadata(p.join("src.bin")).map(|_| ()),
            fs::metadata(p.join("dest/moved.bin")),
        )
    });
    assert_errno(gone, libc::ENOENT, "the old name after the rename");
    let meta = meta.unwrap();
    assert_eq!(
        (meta.len(), meta.mode() & 0o7777, meta.mtime()),
        (body.len() as u64, 0o640, JAN_2020),
        "size, permissions and mtime under the new name"
    );

    // A file over an existing one.
    let p = mp.clone();
    on_mount("rename over", move || {
        fs::rename(p.join("dest/moved.bin"), p.join("victim.txt"))
    })
    .unwrap_or_else(|e| panic!("rename over an existing file: {e}\n{}", m.log()));
    assert_eq!(
        keys(&s),
        ["dest/", "victim.txt"],
        "keys after renaming over victim.txt"
    );
    assert_object(&s, "victim.txt", &body);
    assert_eq!(s.head_one("victim.txt").metadata, before.metadata);

    // A directory tree: EXDEV, then mv copies it.
    let y = random_bytes(100_000);
    let (p, yy) = (mp.clone(), y.clone());
    on_mount("tree setup", move || -> io::Result<()> {
        fs::create_dir_all(p.join("tree/sub/empty"))?;
        write_new(&p.join("tree/x.txt"), 0o644, b"x\n")?;
        write_new(&p.join("tree/sub/y.bin"), 0o644, &yy)?;
        fs::set_permissions(p.join("tree/sub/y.bin"), fs::Permissions::from_mode(0o600))?;
        touch_date(&p.join("tree/sub/y.bin"), "2021-06-01")
    })
    .unwrap_or_else(|e| panic!("setting up the tree: {e}\n{}", m.log()));
    let p = mp.clone();
    let r = on_mount("rename dir", move || {
        fs::rename(p.join("tree"), p.join("tree2"))
    });
    assert_errno(r, libc::EXDEV, "rename(2) of a directory");
    let p = mp.clone();
    on_mount("mv", move || {
        run_tool(
            Command::new("mv")
                .arg(p.join("tree"))
                .arg(p.join("newtree")),
        )
    })
    .unwrap_or_else(|e| panic!("mv tree newtree: {e}\n{}", m.log()));

    let manifest = s.manifest("");
    let listed: Vec<&str> = manifest.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        listed,
        [
            "dest/",
            "newtree/",
            "newtree/sub/",
            "newtree/sub/empty/",
            "newtree/sub/y.bin",
            "newtree/x.txt",
            "victim.txt"
        ],
        "keys after mv tree newtree: the tree under the new prefix only"
    );
    assert_object(&s, "newtree/x.txt", b"x\n");
    assert_object(&s, "newtree/sub/y.bin", &y);
    let heads = s.head(&[
        "newtree/",
        "newtree/sub/",
        "newtree/sub/empty/",
        "newtree/sub/y.bin",
    ]);
    for h in &heads[..3] {
        assert_eq!(h.content_type.as_deref(), Some(DIRECTORY), "{}", h.key);
    }
    assert_posix_headers(
        &heads[3],
        S_IFREG | 0o600,
        euid(),
        egid(),
        (JUN_2021, JUN_2021),
    );
    let p = mp.clone();
    let r = on_mount("stat", move || fs::metadata(p.join("tree")));
    assert_errno(r, libc::ENOENT, "the old directory after mv");
    s.unmount(m);
}

// ---------------------------------------------------------------------------------------
// Attributes

per_server!(
    attributes:
    mountd_writes_attributes_moto,
    mountd_writes_attributes_garage,
    mountd_writes_attributes_minio
);

/// `chmod 600`, `chown 1234:5678` and `touch -d 2020-01-01` on a closed file each rewrite
/// only their header: content, content type and the other headers stay. The same on an
/// object another tool uploaded (a content type of its own, no s3fs headers), and `chmod
/// 700` on a directory rewrites its marker. A fresh mount shows the new attributes.
fn attributes(server: &Server) {
    let s = Session::new(server, "writes-attrs");
    s.oracle().put_with(
        &s.bucket.name,
        "seeded.txt",
        b"seeded by boto3\n",
        Some("text/plain; charset=utf-8"),
        &[],
    );
    let perm = 0o644 & !process_umask();
    let body = random_bytes(3_000);
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let (p, b) = (mp.clone(), body.clone());
    on_mount("create", move || -> io::Result<()> {
        write_new(&p.join("f.bin"), 0o644, &b)?;
        fs::create_dir(p.join("d"))
    })
    .unwrap();
    let h0 = s.head_one("f.bin");
    assert_posix_headers(&h0, S_IFREG | perm, euid(), egid(), (0, now_secs() + 1));
    let mtime0 = h0.meta_seconds("mtime");

    // Each step: the change, then the headers expected (mode, uid, gid, mtime).
    let check = |h: &HeadInfo, what: &str, mode: u32, uid: u32, gid: u32, mtime: Option<i64>| {
        assert!(h.exists, "{what}: f.bin vanished");
        assert_eq!(
            h.meta_u32("mode"),
            Some(mode),
            "{what}: mode in {:?}",
            h.metadata
        );
        assert_eq!(
            (h.meta_u32("uid"), h.meta_u32("gid")),
            (Some(uid), Some(gid)),
            "{what}: owner in {:?}",
            h.metadata
        );
        assert_eq!(
            h.meta_seconds("mtime"),
            mtime,
            "{what}: mtime in {:?}",
            h.metadata
        );
        assert_eq!(h.content_type, h0.content_type, "{what}: content type");
        assert_eq!(h.size, body.len() as u64, "{what}: size");
        assert_object(&s, "f.bin", &body);
    };

    let p = mp.clone();
    on_mount("chmod", move || {
        fs::set_permissions(p.join("f.bin"), fs::Permissions::from_mode(0o600))
    })
    .unwrap_or_else(|e| panic!("chmod 600: {e}\n{}", m.log()));
    let h = s.head_one("f.bin");
    check(&h, "chmod 600", S_IFREG | 0o600, euid(), egid(), mtime0);

    let p = mp.clone();
    on_mount("chown", move || {
        std::os::unix::fs::chown(p.join("f.bin"), Some(1234), Some(5678))
    })
    .unwrap_or_else(|e| panic!("chown 1234:5678: {e}\n{}", m.log()));
    let h = s.head_one("f.bin");
    check(&h, "chown 1234:5678", S_IFREG | 0o600, 1234, 5678, mtime0);

    let p = mp.clone();
    on_mount("touch", move || touch_date(&p.join("f.bin"), "2020-01-01"))
        .unwrap_or_else(|e| panic!("touch -d 2020-01-01: {e}\n{}", m.log()));
    let h = s.head_one("f.bin");
    check(
        &h,
        "touch -d 2020-01-01",
        S_IFREG | 0o600,
        1234,
        5678,
        Some(JAN_2020),
    );

    // An object of another tool keeps its content type.
    let p = mp.clone();
    on_mount("chmod seeded", move || {
        fs::set_permissions(p.join("seeded.txt"), fs::Permissions::from_mode(0o640))
    })
    .unwrap_or_else(|e| panic!("chmod 640 seeded.txt: {e}\n{}", m.log()));
    let h = s.head_one("seeded.txt");
    assert_eq!(
        h.meta_u32("mode"),
        Some(S_IFREG | 0o640),
        "{:?}",
        h.metadata
    );
    assert_eq!(h.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert_object(&s, "seeded.txt", b"seeded by boto3\n");

    // A directory's marker.
    let p = mp.clone();
    on_mount("chmod dir", move || {
        fs::set_permissions(p.join("d"), fs::Permissions::from_mode(0o700))
    })
    .unwrap_or_else(|e| panic!("chmod 700 d: {e}\n{}", m.log()));
    let h = s.head_one("d/");
    assert_eq!(
        h.meta_u32("mode"),
        Some(S_IFDIR | 0o700),
        "{:?}",
        h.metadata
    );
    assert_eq!((h.size, h.content_type.as_deref()), (0, Some(DIRECTORY)));
    assert_eq!(keys(&s), ["d/", "f.bin", "seeded.txt"]);
    s.unmount(m);

    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let p = m.mountpoint().to_path_buf();
    let seen = on_mount(
        "fresh stat",
        move || -> io::Result<Vec<(u32, u32, u32, i64)>> {
            ["f.bin", "seeded.txt", "d"]
                .iter()
                .map(|n| {
                    let m = fs::symlink_metadata(p.join(n))?;
                    Ok((m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()))
                })
                .collect()
        },
    )
    .unwrap();
    assert_eq!(
        seen[0],
        (0o600, 1234, 5678, JAN_2020),
        "f.bin in a fresh mount"
    );
    assert_eq!(seen[1].0, 0o640, "seeded.txt permissions in a fresh mount");
    assert_eq!(seen[2].0, 0o700, "d permissions in a fresh mount");
    s.unmount(m);
}

// ---------------------------------------------------------------------------------------
// Symlinks

per_server!(
    symlinks:
    mountd_writes_symlinks_moto,
    mountd_writes_symlinks_garage,
    mountd_writes_symlinks_minio
);

const LINKS: [(&str, &str); 3] = [
    ("link", "target.txt"),
    ("dangling", "/nonexistent/absolute/path"),
    ("d/up", "../target.txt"),
];

fn make_links(mp: &Path) -> io::Result<()> {
    write_new(&mp.join("target.txt"), 0o644, b"pointed to\n")?;
    fs::create_dir(mp.join("d"))?;
    for (name, target) in LINKS {
        std::os::unix::fs::symlink(target, mp.join(name))?;
    }
    Ok(())
}

/// A symlink is an object whose body is the target, with mode `S_IFLNK|0777`; a fresh
/// mount reads the targets back with `readlink` and follows the links.
fn symlinks(server: &Server) {
    let s = Session::new(server, "writes-symlink");
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let t0 = now_secs();
    let p = mp.clone();
    on_mount("symlinks", move || make_links(&p))
        .unwrap_or_else(|e| panic!("creating symlinks: {e}\n{}", m.log()));
    let t1 = now_secs();
    let p = mp.clone();
    let target = on_mount("readlink", move || fs::read_link(p.join("link"))).unwrap();
    assert_eq!(
        target,
        Path::new("target.txt"),
        "readlink in the same mount"
    );
    for ((name, target), h) in LINKS.iter().zip(s.head(&LINKS.map(|l| l.0))) {
        assert_object(&s, name, target.as_bytes());
        assert_posix_headers(&h, S_IFLNK | 0o777, euid(), egid(), (t0 - 1, t1 + 1));
    }
    s.unmount(m);

    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let p = m.mountpoint().to_path_buf();
    let seen = on_mount("fresh readlink", move || -> io::Result<_> {
        let mut out = Vec::new();
        for (name, _) in LINKS {
            let meta = fs::symlink_metadata(p.join(name))?;
            out.push((
                meta.file_type().is_symlink(),
                meta.mode() & 0o7777,
                fs::read_link(p.join(name))?,
            ));
        }
        Ok((out, fs::read(p.join("link"))?, fs::read(p.join("d/up"))?))
    })
    .unwrap_or_else(|e| panic!("reading symlinks in a fresh mount: {e}\n{}", m.log()));
    for ((name, target), (is_link, perm, got)) in LINKS.iter().zip(&seen.0) {
        assert!(is_link, "{name} is a symlink in a fresh mount");
        assert_eq!(*perm, 0o777, "{name} permissions");
        assert_eq!(got, Path::new(target), "readlink {name} in a fresh mount");
    }
    assert_eq!(seen.1, b"pointed to\n", "reading through link");
    assert_eq!(seen.2, b"pointed to\n", "reading through d/up");
    s.unmount(m);
}

per_server!(
    symlink_after_listing:
    mountd_symlink_stays_a_symlink_after_listing_moto,
    mountd_symlink_stays_a_symlink_after_listing_garage,
    mountd_symlink_stays_a_symlink_after_listing_minio
);

/// A symlink the mount knows as one (looked up, or just created) stays a symlink when its
/// directory is listed afterwards (`ls`): listing the directory must not turn it into a
/// regular file whose content is the target path.
fn symlink_after_listing(server: &Server) {
    let s = Session::new(server, "writes-symlink-ls");
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let p = m.mountpoint().to_path_buf();
    let in_writer = on_mount("symlink, ls, stat", move || -> io::Result<_> {
        make_links(&p)?;
        let listed = fs::read_dir(&p)?.count();
        Ok((listed, link_state(&p)?))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", m.log()));
    assert_eq!(
        in_writer.0, 4,
        "entries listed: target.txt, d, link, dangling"
    );
    s.unmount(m);

    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let p = m.mountpoint().to_path_buf();
    let in_reader = on_mount("stat, ls, stat", move || -> io::Result<_> {
        let before = fs::symlink_metadata(p.join("link"))?.file_type();
        let listed: Vec<_> = fs::read_dir(&p)?
            .map(|e| e.and_then(|e| Ok((e.file_name(), e.file_type()?))))
            .collect::<io::Result<_>>()?;
        Ok((before, listed, link_state(&p)?))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", m.log()));
    s.unmount(m);
    let (before, listed, after) = in_reader;
    assert!(
        before.is_symlink(),
        "link looked up in a fresh mount is a symlink"
    );
    let link_entry = listed.iter().find(|(n, _)| n == "link").map(|(_, t)| *t);
    let mut wrong = Vec::new();
    for (case, states) in [
        ("a symlink just created", &in_writer.1),
        ("a symlink looked up in a fresh mount", &after),
    ] {
        for (when, state) in ["right after", "2 s after"].iter().zip(states) {
            if !state.starts_with("symlink -> \"target.txt\"") {
                wrong.push(format!(
                    "{case}, {when} its directory was listed: {state} (the listing gave it \
                     type {link_entry:?})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "listing a directory changes its symlinks:\n  {}",
        wrong.join("\n  ")
    );
}

/// What `lstat` and `readlink` say of `link` now and 2 s later (past mountd's default
/// 1 s attribute TTL, so the kernel asks mountd again).
fn link_state(dir: &Path) -> io::Result<[String; 2]> {
    let once = || -> io::Result<String> {
        let meta = fs::symlink_metadata(dir.join("link"))?;
        Ok(if meta.file_type().is_symlink() {
            format!("symlink -> {:?}", fs::read_link(dir.join("link"))?)
        } else {
            format!(
                "{:?} of mode {:o} and {} bytes",
                meta.file_type(),
                meta.mode(),
                meta.len()
            )
        })
    };
    let now = once()?;
    std::thread::sleep(Duration::from_secs(2));
    Ok([now, once()?])
}

// ---------------------------------------------------------------------------------------
// A failed upload is an error, never silent data loss

per_server!(
    failed_upload:
    mountd_failed_upload_is_an_error_moto,
    mountd_failed_upload_is_an_error_garage,
    mountd_failed_upload_is_an_error_minio
);

/// Waits until the proxy refused no request for a while, so that late upload attempts
/// (`release` retries the upload once more) are over before the fault is switched off.
fn wait_quiet(proxy: &CountingProxy) {
    let mut last = proxy.snapshot().faults_injected;
    let mut since = std::time::Instant::now();
    let quiet = wait_until(Duration::from_secs(30), || {
        let now = proxy.snapshot().faults_injected;
        if now != last {
            last = now;
            since = std::time::Instant::now();
        }
        since.elapsed() >= Duration::from_millis(1500)
    });
    assert!(quiet, "uploads kept being attempted for 30 s");
}

/// Through a proxy that refuses every PUT (HTTP 500, or a closed connection) and with
/// `-o retries=1`: `close()` of a newly written file (small, and large enough for
/// `Expect: 100-continue`) fails with `EIO` and nothing is stored; `fsync()` fails with
/// `EIO` too, and when the store is back the `close()` that follows uploads the staged
/// bytes; a `mkdir` fails with `EIO` and leaves nothing. With the fault off, writing the
/// files again succeeds.
fn failed_upload(server: &Server) {
    let s = Session::new(server, "writes-fail");
    let proxy = CountingProxy::start(&server.url);
    let m = s.mount(&mountd_bin(), proxy.url(), &["retries=1"]);
    let mp = m.mountpoint().to_path_buf();
    let small = b"small body\n".to_vec();
    let large = random_bytes(1 << 20);

    // HTTP 500 on every PUT: close() fails.
    proxy.set_fault(Some(Fault::status("PUT", 500)));
    for (name, data) in [("small.txt", &small), ("large.bin", &large)] {
        let before = proxy.snapshot();
        let (p, d) = (mp.join(name), data.clone());
        let r = on_mount("write and close", move || write_new(&p, 0o644, &d));
        assert_errno(
            r,
            libc::EIO,
            &format!("close() of {name} while every PUT gets HTTP 500"),
        );
        let d = proxy.snapshot().since(&before);
        assert!(
            d.faults_injected >= 1,
            "no PUT reached the proxy for {name}: {:?}",
            d.by_method()
        );
    }
    let p = mp.clone();
    let r = on_mount("mkdir", move || fs::create_dir(p.join("newdir")));
    assert_errno(r, libc::EIO, "mkdir while every PUT gets HTTP 500");
    let log = m.log();
    assert!(
        log.contains("a request failed") && log.contains("500"),
        "the log says why mkdir failed\n{log}"
    );
    wait_quiet(&proxy);
    for h in s.head(&["small.txt", "large.bin", "newdir/"]) {
        assert!(
            !h.exists,
            "{} must not exist after a failed upload: {h:?}",
            h.key
        );
    }

    // Connection closed on every PUT: fsync() fails, the data stays staged.
    proxy.set_fault(Some(Fault::close("PUT")));
    let synced = random_bytes(200_000);
    let (p, d) = (mp.join("synced.bin"), synced.clone());
    let f = on_mount(
        "write and fsync",
        move || -> io::Result<(File, io::Result<()>)> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(p)?;
            f.write_all(&d)?;
            let r = f.sync_all();
            Ok((f, r))
        },
    );
    let (f, fsync) = f.unwrap_or_else(|e| panic!("write before fsync: {e}\n{}", m.log()));
    assert_errno(
        fsync,
        libc::EIO,
        "fsync() while every PUT's connection is closed",
    );
    assert!(
        !s.head_one("synced.bin").exists,
        "synced.bin stored although fsync failed"
    );
    proxy.set_fault(None);
    on_mount("close after recovery", move || close_checked(f))
        .unwrap_or_else(|e| panic!("close() after the store came back: {e}\n{}", m.log()));
    assert_object(&s, "synced.bin", &synced);

    // The fault is off: writing again works.
    for (name, data) in [("small.txt", &small), ("large.bin", &large)] {
        let (p, d) = (mp.join(name), data.clone());
        on_mount("rewrite", move || rewrite(&p, &d))
            .unwrap_or_else(|e| panic!("writing {name} again: {e}\n{}", m.log()));
        assert_object(&s, name, data);
    }
    let p = mp.clone();
    on_mount("mkdir", move || fs::create_dir(p.join("newdir")))
        .unwrap_or_else(|e| panic!("mkdir after recovery: {e}\n{}", m.log()));
    assert_eq!(
        keys(&s),
        ["large.bin", "newdir/", "small.txt", "synced.bin"]
    );
    s.unmount(m);
}

// ---------------------------------------------------------------------------------------
// Read-only mounts

per_server!(
    read_only:
    mountd_read_only_refuses_writes_moto,
    mountd_read_only_refuses_writes_garage,
    mountd_read_only_refuses_writes_minio
);

/// With `-o ro` every change fails with `EROFS` (create, open for writing, append,
/// truncate, mkdir, rmdir, unlink, rename, chmod, chown, utimens, symlink, link) and the
/// bucket is unchanged (same keys, bytes, ETags and metadata); reading still works.
fn read_only(server: &Server) {
    let s = Session::new(server, "writes-ro");
    let meta = [
        ("mode", "33188"),
        ("uid", "0"),
        ("gid", "0"),
        ("mtime", "1577836800"),
    ];
    let o = s.oracle();
    o.put_with(
        &s.bucket.name,
        "file.txt",
        b"read me\n",
        Some("text/plain"),
        &meta,
    );
    o.put_with(&s.bucket.name, "dir/", b"", Some(DIRECTORY), &[]);
    o.put(&s.bucket.name, "dir/inner.txt", b"inner\n");
    o.put_with(&s.bucket.name, "empty/", b"", Some(DIRECTORY), &[]);
    let all = ["dir/", "dir/inner.txt", "empty/", "file.txt"];
    let manifest0 = s.manifest("");
    let heads0 = s.head(&all);

    let m = s.mount(&mountd_bin(), &server.url, &["ro"]);
    let p = m.mountpoint().to_path_buf();
    let results = on_mount("writes on a ro mount", move || {
        let f = |n: &str| p.join(n);
        let results: Vec<(&str, io::Result<()>)> = vec![
            ("create", File::create(f("new.txt")).map(drop)),
            (
                "open for writing",
                OpenOptions::new().write(true).open(f("file.txt")).map(drop),
            ),
            (
                "open for append",
                OpenOptions::new()
                    .append(true)
                    .open(f("file.txt"))
                    .map(drop),
            ),
            ("truncate", truncate_path(&f("file.txt"), 0)),
            ("mkdir", fs::create_dir(f("newdir"))),
            ("rmdir", fs::remove_dir(f("empty"))),
            ("unlink", fs::remove_file(f("dir/inner.txt"))),
            ("rename", fs::rename(f("file.txt"), f("renamed.txt"))),
            (
                "chmod",
                fs::set_permissions(f("file.txt"), fs::Permissions::from_mode(0o600)),
            ),
            (
                "chown",
                std::os::unix::fs::chown(f("file.txt"), Some(1234), Some(5678)),
            ),
            (
                "utimens",
                File::open(f("file.txt"))
                    .and_then(|h| h.set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000_000))),
            ),
            ("symlink", std::os::unix::fs::symlink("file.txt", f("link"))),
            ("link", fs::hard_link(f("file.txt"), f("hard"))),
        ];
        results
    });
    for (what, r) in results {
        assert_errno(r, libc::EROFS, &format!("{what} on a -o ro mount"));
    }
    let p = m.mountpoint().to_path_buf();
    let read = on_mount("read", move || fs::read(p.join("dir/inner.txt"))).unwrap();
    assert_eq!(read, b"inner\n", "reading on a -o ro mount");
    s.unmount(m);

    assert_eq!(
        s.manifest(""),
        manifest0,
        "the bucket after writes on a -o ro mount"
    );
    assert_eq!(
        s.head(&all),
        heads0,
        "ETags and metadata after writes on a -o ro mount"
    );
}

// ---------------------------------------------------------------------------------------
// A change right after close

per_server!(
    chmod_after_close:
    mountd_chmod_right_after_close_moto,
    mountd_chmod_right_after_close_garage,
    mountd_chmod_right_after_close_minio
);

/// `close()` returns before the kernel's RELEASE of the handle reaches the daemon, so a
/// `chmod` right after it races the release: each of many files written, closed and
/// chmodded at once must end with its new mode in the bucket, and no chmod may fail (a
/// chmod that took the handle as the release dropped it once got EBADF, or its change was
/// left in a handle nobody uploaded again).
fn chmod_after_close(server: &Server) {
    const FILES: usize = 150;
    let s = Session::new(server, "writes-chmod-close");
    let m = s.mount(&mountd_bin(), &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let r = on_mount("write, close and chmod", move || -> io::Result<()> {
        for i in 0..FILES {
            let p = mp.join(format!("f{i:03}"));
            write_new(&p, 0o644, b"x")?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    });
    r.unwrap_or_else(|e| panic!("write, close and chmod: {e}\n{}", m.log()));
    s.unmount(m);
    let keys: Vec<String> = (0..FILES).map(|i| format!("f{i:03}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let wrong: Vec<String> = s
        .head(&keys)
        .iter()
        .filter(|h| h.meta("mode") != Some((S_IFREG | 0o600).to_string().as_str()))
        .map(|h| format!("{}: {:?}", h.key, h.meta("mode")))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {FILES} files lost their chmod: {wrong:?}",
        wrong.len()
    );
}
