//! Directory trees: what a mount shows ([`walk_tree`]) and what a bucket implies
//! ([`expected_tree`]), compared with [`assert_same_tree`].

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::oracle::ManifestEntry;
use crate::util::sha256_file;

/// One file or directory, by its path relative to the root (`/`-separated, no leading `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub is_dir: bool,
    /// File size; 0 for directories (their size is not compared).
    pub size: u64,
    /// Lower-case hex SHA-256 of a file's content; `None` for directories.
    pub sha256: Option<String>,
}

impl TreeEntry {
    fn dir(path: &str) -> TreeEntry {
        TreeEntry {
            path: path.to_string(),
            is_dir: true,
            size: 0,
            sha256: None,
        }
    }
}

/// Every entry below `root` (not `root` itself), sorted by path, files hashed.
///
/// Uses `lstat`: anything that is neither a regular file nor a directory is an error, as is
/// a name that is not UTF-8 (the buckets in the tests hold UTF-8 keys only).
pub fn walk_tree(root: &Path) -> io::Result<Vec<TreeEntry>> {
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<TreeEntry>) -> io::Result<()> {
    let ctx = |e: io::Error, what: &str, p: &Path| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", p.display()))
    };
    for entry in std::fs::read_dir(dir).map_err(|e| ctx(e, "readdir", dir))? {
        let entry = entry.map_err(|e| ctx(e, "readdir", dir))?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("non-UTF-8 name {name:?} in {}", dir.display()),
            )
        })?;
        let path = entry.path();
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::symlink_metadata(&path).map_err(|e| ctx(e, "lstat", &path))?;
        if meta.is_dir() {
            out.push(TreeEntry::dir(&child));
            walk(&path, &child, out)?;
        } else if meta.is_file() {
            let (size, sha) = sha256_file(&path).map_err(|e| ctx(e, "read", &path))?;
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
            out.push(TreeEntry {
                path: child,
                is_dir: false,
                size,
                sha256: Some(sha),
            });
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: unexpected file type {:?}",
                    path.display(),
                    meta.file_type()
                ),
            ));
        }
    }
    Ok(())
}

/// The tree a correct mount of `manifest` shows below `prefix` (the s3fs convention):
/// every key is a file, except that a key ending in `/` is a directory (a marker); every
/// prefix of a key up to a `/` is a directory as well (implicit directories).
///
/// Panics when the manifest holds a file and a directory of the same name: that collision
/// has its own rule and its own tests.
pub fn expected_tree(manifest: &[ManifestEntry], prefix: &str) -> Vec<TreeEntry> {
    let mut map: BTreeMap<String, TreeEntry> = BTreeMap::new();
    let mut add = |e: TreeEntry| {
        if let Some(old) = map.get(&e.path) {
            assert!(
                old.is_dir && e.is_dir,
                "the manifest has both a file and a directory at {:?}",
                e.path
            );
            return;
        }
        map.insert(e.path.clone(), e);
    };
    for m in manifest {
        let Some(rel) = m.key.strip_prefix(prefix) else {
            continue;
        };
        let (rel, marker) = match rel.strip_suffix('/') {
            Some(r) => (r, true),
            None => (rel, false),
        };
        if rel.is_empty() {
            continue;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        assert!(
            parts
                .iter()
                .all(|p| !p.is_empty() && *p != "." && *p != ".."),
            "key {:?} has an empty, `.` or `..` segment; expected_tree does not model those",
            m.key
        );
        for i in 1..parts.len() {
            add(TreeEntry::dir(&parts[..i].join("/")));
        }
        if marker {
            add(TreeEntry::dir(rel));
        } else {
            add(TreeEntry {
                path: rel.to_string(),
                is_dir: false,
                size: m.size,
                sha256: Some(m.sha256.clone()),
            });
        }
    }
    map.into_values().collect()
}

/// Human-readable differences between two sorted trees (empty when equal).
pub fn tree_diff(expected: &[TreeEntry], actual: &[TreeEntry]) -> Vec<String> {
    let exp: BTreeMap<&str, &TreeEntry> = expected.iter().map(|e| (e.path.as_str(), e)).collect();
    let act: BTreeMap<&str, &TreeEntry> = actual.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    for (p, e) in &exp {
        match act.get(p) {
            None => out.push(format!("missing: {p:?} ({})", describe(e))),
            Some(a) if a != e => out.push(format!(
                "differs: {p:?}: expected {}, got {}",
                describe(e),
                describe(a)
            )),
            Some(_) => {}
        }
    }
    for (p, a) in &act {
        if !exp.contains_key(p) {
            out.push(format!("unexpected: {p:?} ({})", describe(a)));
        }
    }
    out
}

fn describe(e: &TreeEntry) -> String {
    if e.is_dir {
        "directory".into()
    } else {
        let sha = e.sha256.as_deref().unwrap_or("-");
        format!(
            "file of {} bytes, sha256 {}",
            e.size,
            &sha[..sha.len().min(16)]
        )
    }
}

/// Panics with the first differences when the trees differ.
#[track_caller]
pub fn assert_same_tree(expected: &[TreeEntry], actual: &[TreeEntry]) {
    let diff = tree_diff(expected, actual);
    if !diff.is_empty() {
        let shown: Vec<&str> = diff.iter().take(40).map(String::as_str).collect();
        panic!(
            "the mount shows a different tree ({} differences, {} entries expected, {} seen):\n  {}{}",
            diff.len(),
            expected.len(),
            actual.len(),
            shown.join("\n  "),
            if diff.len() > shown.len() { "\n  ..." } else { "" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::sha256_hex;

    fn m(key: &str, body: &[u8]) -> ManifestEntry {
        ManifestEntry {
            key: key.into(),
            size: body.len() as u64,
            sha256: sha256_hex(body),
            content_type: None,
        }
    }

    #[test]
    fn implicit_dirs_markers_and_prefix() {
        let manifest = vec![
            m("p/a/b/c.txt", b"c"),
            m("p/d/", b""),
            m("p/a/", b""),
            m("p/e", b""),
            m("other/x", b"x"),
        ];
        let t = expected_tree(&manifest, "p/");
        let paths: Vec<(&str, bool)> = t.iter().map(|e| (e.path.as_str(), e.is_dir)).collect();
        assert_eq!(
            paths,
            vec![
                ("a", true),
                ("a/b", true),
                ("a/b/c.txt", false),
                ("d", true),
                ("e", false)
            ]
        );
    }

    #[test]
    #[should_panic(expected = "both a file and a directory")]
    fn file_and_dir_collision_is_refused() {
        expected_tree(&[m("a", b"1"), m("a/b", b"2")], "");
    }

    #[test]
    fn walk_matches_expected() {
        let wd = crate::mount::Workdir::new("tree");
        let root = wd.path().join("root");
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("x/y/f"), b"hello").unwrap();
        std::fs::write(root.join("g h"), b"").unwrap();
        let actual = walk_tree(&root).unwrap();
        let expected = expected_tree(&[m("x/y/f", b"hello"), m("empty/", b""), m("g h", b"")], "");
        assert_same_tree(&expected, &actual);

        std::fs::write(root.join("x/y/f"), b"hellO").unwrap();
        let diff = tree_diff(&expected, &walk_tree(&root).unwrap());
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert!(diff[0].starts_with("differs: \"x/y/f\""), "{diff:?}");
    }
}
