//! The on-bucket format, both ways, against Debian's s3fs 1.90 (the differential oracle),
//! with the same command line for both programs (`-f -d BUCKET MP -o endpoint=us-east-1
//! -o passwd_file=passwd -o url=URL -o nomultipart -o use_path_request_style`).
//!
//! One program writes a set of entries (files chmod'ed 640 and 600, a chown'ed file with
//! numeric ids, a file and a directory dated with `touch -d`, a directory chmod'ed 700, a
//! symlink, an empty file, a nested tree with a 2 MiB file) and unmounts; the other mounts
//! the bucket and must show exactly what the writer showed: names, types, sizes, contents
//! (SHA-256), permission bits, uid, gid, mtime (seconds), symlink targets. Both views are
//! also checked against what was asked for. Then the objects themselves are compared
//! header by header.
//!
//! A view is taken by lookup (each path `lstat`ed without listing anything first) or by
//! listing (`readdir` then `lstat`, as `ls -lR` does).
//!
//! Known s3fs 1.90 behaviour accounted for here:
//! - `mkdir` stores `x-amz-meta-mode` without the `S_IFDIR` bits (`"493"` for 0755; a
//!   later chmod stores them); s3fs and mountd both read it as a directory. mountd writes
//!   `S_IFDIR|perm`, as later s3fs versions do: that is asserted.
//! - `truncate(path, n)` shrinking a just-written file gives n zero bytes
//!   (test-servers.md): the set never does that.
//! - s3fs reports directories with size 0 (mountd 4096, like s3fs 1.94+): directory sizes
//!   are not compared.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::bounded;
use integration::mount::mountd_bin;
use integration::oracle::HeadInfo;
use integration::posix::{
    assert_same_attrs, attrs_diff, egid, euid, now_secs, process_umask, random_bytes, stat_paths,
    touch_date, walk_attrs, write_new, Attrs, Kind as FileKind, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use integration::scenarios::require_s3fs;
use integration::servers::{require_server, Kind, Server};
use integration::session::Session;
use integration::sha256_hex;

/// Time for writing or reading the whole set through a mount.
const FS_TIMEOUT: Duration = Duration::from_secs(120);

const JAN_2020: i64 = 1_577_836_800;
const JUN_2021: i64 = 1_622_505_600;

// ---------------------------------------------------------------------------------------
// The set of entries both programs write

#[derive(Clone, Debug)]
enum What {
    File(Vec<u8>),
    Dir,
    Link(&'static str),
}

#[derive(Clone, Debug)]
struct Item {
    path: &'static str,
    what: What,
    chmod: Option<u32>,
    chown: Option<(u32, u32)>,
    /// `touch -d DATE` (UTC) and the mtime it sets.
    date: Option<(&'static str, i64)>,
}

fn item(path: &'static str, what: What) -> Item {
    Item {
        path,
        what,
        chmod: None,
        chown: None,
        date: None,
    }
}

fn file(path: &'static str, data: &[u8]) -> Item {
    item(path, What::File(data.to_vec()))
}

fn dir(path: &'static str) -> Item {
    item(path, What::Dir)
}

impl Item {
    fn chmod(mut self, perm: u32) -> Item {
        self.chmod = Some(perm);
        self
    }

    fn chown(mut self, uid: u32, gid: u32) -> Item {
        self.chown = Some((uid, gid));
        self
    }

    fn date(mut self, date: &'static str, mtime: i64) -> Item {
        self.date = Some((date, mtime));
        self
    }

    /// The object key of the entry (directories: their marker).
    fn key(&self) -> String {
        match self.what {
            What::Dir => format!("{}/", self.path),
            _ => self.path.to_string(),
        }
    }
}

/// In creation order (parents first).
fn the_set() -> Vec<Item> {
    vec![
        file("f640.txt", b"permissions 0640\n").chmod(0o640),
        file("f600.bin", &random_bytes(64 << 10)).chmod(0o600),
        file("owned.dat", &random_bytes(1000)).chown(1234, 5678),
        file("dated.txt", b"dated 2020-01-01\n").date("2020-01-01", JAN_2020),
        file("empty", b""),
        item("link", What::Link("f640.txt")),
        dir("private").chmod(0o700),
        file("private/inside.txt", b"inside a 0700 directory\n"),
        dir("dated-dir").date("2021-06-01", JUN_2021),
        dir("tree"),
        dir("tree/a"),
        dir("tree/a/b"),
        dir("tree/a/b/c"),
        file("tree/top.txt", b"top of the tree\n"),
        file("tree/a/mid.bin", &random_bytes((2 << 20) + 7)),
        file("tree/a/b/deep.txt", b"deep in the tree\n"),
        item("tree/a/up", What::Link("../../dated.txt")),
    ]
}

fn paths(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.path.to_string()).collect()
}

/// Creates the set below `mp`: files with mode 0666 and directories with 0777 (minus the
/// umask), then each entry's chmod, chown and `touch -d`.
fn write_set(mp: &Path, items: &[Item]) -> io::Result<()> {
    for it in items {
        let p = mp.join(it.path);
        match &it.what {
            What::File(data) => write_new(&p, 0o666, data)?,
            What::Dir => fs::create_dir(&p)?,
            What::Link(target) => std::os::unix::fs::symlink(target, &p)?,
        }
        if let Some(perm) = it.chmod {
            fs::set_permissions(&p, fs::Permissions::from_mode(perm))?;
        }
        if let Some((uid, gid)) = it.chown {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid))?;
        }
        if let Some((date, _)) = it.date {
            touch_date(&p, date)?;
        }
    }
    Ok(())
}

/// What a correct view of the set shows. Entries with no `touch -d` must have an mtime
/// in `window` (when they were written): the expectation takes the seen mtime if it is in
/// the window, else the window's start (so the difference is reported).
fn expected_view(
    items: &[Item],
    seen: &BTreeMap<String, Attrs>,
    window: (i64, i64),
) -> BTreeMap<String, Attrs> {
    let umask = process_umask();
    items
        .iter()
        .map(|it| {
            let (kind, default_perm) = match it.what {
                What::File(_) => (FileKind::File, 0o666 & !umask),
                What::Dir => (FileKind::Dir, 0o777 & !umask),
                What::Link(_) => (FileKind::Symlink, 0o777),
            };
            let (uid, gid) = it.chown.unwrap_or((euid(), egid()));
            let mtime = match it.date {
                Some((_, t)) => t,
                None => seen
                    .get(it.path)
                    .map(|a| a.mtime)
                    .filter(|t| (window.0..=window.1).contains(t))
                    .unwrap_or(window.0),
            };
            let a = Attrs {
                kind,
                perm: it.chmod.unwrap_or(default_perm),
                uid,
                gid,
                mtime,
                size: match &it.what {
                    What::File(d) => Some(d.len() as u64),
                    What::Dir => None,
                    What::Link(t) => Some(t.len() as u64),
                },
                sha256: match &it.what {
                    What::File(d) => Some(sha256_hex(d)),
                    _ => None,
                },
                target: match &it.what {
                    What::Link(t) => Some(t.to_string()),
                    _ => None,
                },
            };
            (it.path.to_string(), a)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Writing with one program, reading with the other

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    /// Each path `lstat`ed by name; nothing listed first.
    Lookup,
    /// `readdir` of every directory, then `lstat` of each entry (`ls -lR`).
    Listing,
}

fn program_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn take_view(root: PathBuf, items: &[Item], view: View) -> io::Result<BTreeMap<String, Attrs>> {
    let paths = paths(items);
    bounded(
        "taking a view of the mount",
        FS_TIMEOUT,
        move || match view {
            View::Lookup => stat_paths(&root, &paths),
            View::Listing => walk_attrs(&root),
        },
    )
}

/// `writer` writes the set and shows it by lookup; after it unmounted, `reader` mounts the
/// bucket fresh for each of `views` and must show exactly the same, which must be the set
/// as written.
fn written_then_read(server: &Server, test: &str, writer: &Path, reader: &Path, views: &[View]) {
    let (wname, rname) = (program_name(writer), program_name(reader));
    let s = Session::new(server, test);
    let items = the_set();

    let m = s.mount(writer, &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let t0 = now_secs();
    let set = items.clone();
    let written = bounded("writing the set", FS_TIMEOUT, move || write_set(&mp, &set));
    written.unwrap_or_else(|e| panic!("{wname} writing the set: {e}\n{}", m.log()));
    let t1 = now_secs();
    let window = (t0 - 1, t1 + 1);
    let written = take_view(m.mountpoint().to_path_buf(), &items, View::Lookup)
        .unwrap_or_else(|e| panic!("{wname} showing what it wrote: {e}\n{}", m.log()));
    s.unmount(m);
    assert_same_attrs(
        &format!("{wname} (the writer) by lookup vs the set it was asked to write"),
        &expected_view(&items, &written, window),
        &written,
    );

    for &view in views {
        let m = s.mount(reader, &server.url, &[]);
        let seen = take_view(m.mountpoint().to_path_buf(), &items, view)
            .unwrap_or_else(|e| panic!("{rname} reading the set ({view:?}): {e}\n{}", m.log()));
        let names = if view == View::Lookup {
            let root = m.mountpoint().to_path_buf();
            let listed = bounded("listing", FS_TIMEOUT, move || walk_attrs(&root));
            let listed = listed.unwrap_or_else(|e| panic!("{rname} listing: {e}\n{}", m.log()));
            listed.into_keys().collect::<Vec<_>>()
        } else {
            seen.keys().cloned().collect()
        };
        s.unmount(m);
        let mut want = paths(&items);
        want.sort();
        assert_eq!(
            names, want,
            "names {rname} lists after {wname} wrote the set"
        );
        let diff = attrs_diff(&written, &seen);
        assert!(
            diff.is_empty(),
            "{rname} ({view:?}) shows the set {wname} wrote differently from {wname} ({} differences):\n  {}",
            diff.len(),
            diff.join("\n  ")
        );
        assert_same_attrs(
            &format!("{rname} ({view:?}) vs the set {wname} was asked to write"),
            &expected_view(&items, &seen, window),
            &seen,
        );
    }
}

fn with_s3fs(kind: Kind, f: impl FnOnce(&Server, &Path)) {
    let (Some(server), Some(s3fs)) = (require_server(kind), require_s3fs()) else {
        return;
    };
    f(&server, &s3fs);
}

macro_rules! per_server {
    ($scenario:ident: $moto:ident, $garage:ident, $minio:ident) => {
        #[test]
        fn $moto() {
            with_s3fs(Kind::Moto, $scenario);
        }
        #[test]
        fn $garage() {
            with_s3fs(Kind::Garage, $scenario);
        }
        #[test]
        fn $minio() {
            with_s3fs(Kind::Minio, $scenario);
        }
    };
}

per_server!(
    s3fs_writes_mountd_reads:
    s3fs_writes_mountd_reads_moto,
    s3fs_writes_mountd_reads_garage,
    s3fs_writes_mountd_reads_minio
);

/// s3fs writes the set; mountd, looking each path up, shows exactly what s3fs showed.
fn s3fs_writes_mountd_reads(server: &Server, s3fs: &Path) {
    written_then_read(
        server,
        "diff-s3fs-mountd",
        s3fs,
        &mountd_bin(),
        &[View::Lookup],
    );
}

per_server!(
    s3fs_writes_mountd_lists:
    s3fs_writes_mountd_lists_moto,
    s3fs_writes_mountd_lists_garage,
    s3fs_writes_mountd_lists_minio
);

/// s3fs writes the set; mountd, listing each directory first (`ls -lR`), shows exactly
/// what s3fs showed: the stored modes, owners, mtimes and symlinks, not defaults.
fn s3fs_writes_mountd_lists(server: &Server, s3fs: &Path) {
    written_then_read(
        server,
        "diff-s3fs-mountd-ls",
        s3fs,
        &mountd_bin(),
        &[View::Listing],
    );
}

per_server!(
    mountd_writes_s3fs_reads:
    mountd_writes_s3fs_reads_moto,
    mountd_writes_s3fs_reads_garage,
    mountd_writes_s3fs_reads_minio
);

/// mountd writes the set; s3fs, by lookup and by listing, shows exactly what mountd showed.
fn mountd_writes_s3fs_reads(server: &Server, s3fs: &Path) {
    written_then_read(
        server,
        "diff-mountd-s3fs",
        &mountd_bin(),
        s3fs,
        &[View::Lookup, View::Listing],
    );
}

// ---------------------------------------------------------------------------------------
// The objects, header by header

/// Writes `items` with `program` into a new bucket; returns the session, the HEAD of every
/// key (by path) and the write window.
fn write_with(
    server: &Server,
    program: &Path,
    test: &str,
    items: &[Item],
) -> (Session, BTreeMap<String, HeadInfo>, (i64, i64)) {
    let s = Session::new(server, test);
    let m = s.mount(program, &server.url, &[]);
    let mp = m.mountpoint().to_path_buf();
    let set = items.to_vec();
    let t0 = now_secs();
    let r = bounded("writing the set", FS_TIMEOUT, move || write_set(&mp, &set));
    r.unwrap_or_else(|e| {
        panic!(
            "{} writing the set: {e}\n{}",
            program_name(program),
            m.log()
        )
    });
    let t1 = now_secs();
    s.unmount(m);
    let keys: Vec<String> = items.iter().map(Item::key).collect();
    let heads = s.head(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    let by_path = items
        .iter()
        .map(|i| i.path.to_string())
        .zip(heads)
        .collect();
    (s, by_path, (t0 - 1, t1 + 1))
}

per_server!(
    on_bucket_format_matches_s3fs:
    on_bucket_format_matches_s3fs_moto,
    on_bucket_format_matches_s3fs_garage,
    on_bucket_format_matches_s3fs_minio
);

/// s3fs and mountd each write the set into a bucket of their own; the buckets must hold
/// the same keys and bodies, and each object the same s3fs headers: the same set of
/// `x-amz-meta-*` names, the same decimal mode (type bits included; see the s3fs 1.90
/// `mkdir` note above), uid, gid, the `touch -d` mtimes, mtimes of the others in their
/// write windows, markers of zero bytes with `application/x-directory`, symlinks whose
/// body is the target with `S_IFLNK|0777`.
fn on_bucket_format_matches_s3fs(server: &Server, s3fs: &Path) {
    let items = the_set();
    let (sa, by_s3fs, win_s3fs) = write_with(server, s3fs, "fmt-s3fs", &items);
    let (sb, by_mountd, win_mountd) = write_with(server, &mountd_bin(), "fmt-mountd", &items);

    let ma = sa.manifest("");
    let mb = sb.manifest("");
    let strip = |m: &[integration::oracle::ManifestEntry]| -> Vec<(String, u64, String)> {
        m.iter()
            .map(|e| (e.key.clone(), e.size, e.sha256.clone()))
            .collect()
    };
    assert_eq!(
        strip(&mb),
        strip(&ma),
        "keys, sizes and bodies: mountd's bucket vs s3fs's"
    );
    let mut want_keys: Vec<String> = items.iter().map(Item::key).collect();
    want_keys.sort();
    assert_eq!(
        ma.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
        want_keys,
        "the keys s3fs wrote"
    );

    let mut wrong = Vec::new();
    for it in &items {
        let (a, b) = (&by_s3fs[it.path], &by_mountd[it.path]);
        let key = it.key();
        let names = |h: &HeadInfo| h.metadata.keys().cloned().collect::<Vec<_>>();
        if names(a) != names(b) {
            wrong.push(format!(
                "{key}: header names: s3fs {:?}, mountd {:?}",
                names(a),
                names(b)
            ));
        }
        let (ma, mb) = (a.meta_u32("mode"), b.meta_u32("mode"));
        let type_bits = match it.what {
            What::File(_) => S_IFREG,
            What::Dir => S_IFDIR,
            What::Link(_) => S_IFLNK,
        };
        // s3fs 1.90's mkdir stores the permission bits alone (see the module docs).
        let is_dir = matches!(it.what, What::Dir);
        let s3fs_mode = ma.map(|m| {
            if m & S_IFMT == 0 && is_dir {
                m | S_IFDIR
            } else {
                m
            }
        });
        if s3fs_mode != mb {
            wrong.push(format!("{key}: mode: s3fs {ma:?}, mountd {mb:?}"));
        }
        if mb.map(|m| m & S_IFMT) != Some(type_bits) {
            wrong.push(format!(
                "{key}: mountd's mode {mb:?} lacks the type bits {type_bits:o}"
            ));
        }
        for h in ["uid", "gid"] {
            if a.meta(h) != b.meta(h) {
                wrong.push(format!(
                    "{key}: {h}: s3fs {:?}, mountd {:?}",
                    a.meta(h),
                    b.meta(h)
                ));
            }
        }
        let (ta, tb) = (a.meta_seconds("mtime"), b.meta_seconds("mtime"));
        let ok = match it.date {
            Some((_, t)) => ta == Some(t) && tb == Some(t),
            None => {
                ta.is_some_and(|t| (win_s3fs.0..=win_s3fs.1).contains(&t))
                    && tb.is_some_and(|t| (win_mountd.0..=win_mountd.1).contains(&t))
            }
        };
        if !ok {
            wrong.push(format!(
                "{key}: mtime: s3fs {:?}, mountd {:?} (date {:?}, windows {win_s3fs:?} / {win_mountd:?})",
                a.meta("mtime"),
                b.meta("mtime"),
                it.date
            ));
        }
        match &it.what {
            What::Dir => {
                for (who, h) in [("s3fs", a), ("mountd", b)] {
                    if h.size != 0 || h.content_type.as_deref() != Some("application/x-directory") {
                        wrong.push(format!(
                            "{key}: {who}'s marker: {} bytes, content type {:?}",
                            h.size, h.content_type
                        ));
                    }
                }
            }
            What::Link(target) => {
                if a.content_type != b.content_type {
                    wrong.push(format!(
                        "{key}: symlink content type: s3fs {:?}, mountd {:?}",
                        a.content_type, b.content_type
                    ));
                }
                if mb != Some(S_IFLNK | 0o777) || b.size != target.len() as u64 {
                    wrong.push(format!(
                        "{key}: mountd's symlink: mode {mb:?}, {} bytes",
                        b.size
                    ));
                }
            }
            What::File(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "mountd's objects differ from s3fs's ({}):\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

per_server!(
    content_type_matches_s3fs:
    content_type_matches_s3fs_moto,
    content_type_matches_s3fs_garage,
    content_type_matches_s3fs_minio
);

/// The content type of a new file: s3fs takes it from /etc/mime.types by the name's
/// extension (`-o mime` names another file), `application/octet-stream` when the extension
/// is unknown or missing (s3fs-compat.md §2.2). mountd must store the same.
fn content_type_matches_s3fs(server: &Server, s3fs: &Path) {
    let names = [
        "notes.txt",
        "data.json",
        "page.html",
        "blob.bin",
        "no-extension",
    ];
    let mime = mime_types();
    let expected = |name: &str| -> String {
        name.rsplit_once('.')
            .and_then(|(_, ext)| mime.get(ext).cloned())
            .unwrap_or_else(|| "application/octet-stream".to_string())
    };
    let mut seen = Vec::new();
    for program in [s3fs.to_path_buf(), mountd_bin()] {
        let name = program_name(&program);
        let s = Session::new(server, &format!("ctype-{name}"));
        let m = s.mount(&program, &server.url, &[]);
        let mp = m.mountpoint().to_path_buf();
        let r = bounded("writing", FS_TIMEOUT, move || -> io::Result<()> {
            for n in names {
                write_new(&mp.join(n), 0o644, n.as_bytes())?;
            }
            Ok(())
        });
        r.unwrap_or_else(|e| panic!("{name} writing: {e}\n{}", m.log()));
        s.unmount(m);
        let types: Vec<Option<String>> =
            s.head(&names).into_iter().map(|h| h.content_type).collect();
        seen.push((name, types));
    }
    let want: Vec<Option<String>> = names.iter().map(|n| Some(expected(n))).collect();
    assert_eq!(
        seen[0].1, want,
        "s3fs's content types (the oracle) for {names:?} vs /etc/mime.types"
    );
    assert_eq!(
        seen[1].1, seen[0].1,
        "mountd's content types for {names:?} vs s3fs's"
    );
}

/// Extension to MIME type, from /etc/mime.types (empty if it is missing); s3fs reads it
/// the same way (case-sensitive; the names above have no extension listed twice).
fn mime_types() -> BTreeMap<String, String> {
    let text = fs::read_to_string("/etc/mime.types").unwrap_or_default();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(ty) = words.next() else { continue };
        for ext in words {
            map.insert(ext.to_string(), ty.to_string());
        }
    }
    map
}
