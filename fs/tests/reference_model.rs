//! Property test: for random buckets, the tree the filesystem shows equals a small reference
//! model of the rules (implicit directories, markers, directory wins, invalid names hidden),
//! whatever the LIST page size.

use std::collections::BTreeMap;

use proptest::prelude::*;
use s3client::mock::MockClient;
use s3fs_core::{Filesystem, FsConfig, Kind, ROOT_INO};

/// Expected paths (directories end in `/`) and file contents, from the keys alone.
fn model(
    objects: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
    out: &mut BTreeMap<String, Option<Vec<u8>>>,
    shown: &str,
) {
    let mut names: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for (key, data) in objects.range(prefix.to_string()..) {
        let Some(rest) = key.strip_prefix(prefix) else {
            break;
        };
        if rest.is_empty() {
            continue; // the directory's own marker
        }
        let (first, is_dir) = match rest.find('/') {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        if first.is_empty() || first == "." || first == ".." {
            continue;
        }
        if is_dir {
            names.insert(first.to_string(), None);
        } else {
            names
                .entry(first.to_string())
                .or_insert_with(|| Some(data.clone()));
        }
    }
    for (name, data) in names {
        match data {
            None => {
                out.insert(format!("{shown}{name}/"), None);
                model(
                    objects,
                    &format!("{prefix}{name}/"),
                    out,
                    &format!("{shown}{name}/"),
                );
            }
            Some(d) => {
                out.insert(format!("{shown}{name}"), Some(d));
            }
        }
    }
}

async fn walk(fs: &Filesystem<MockClient>) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(ROOT_INO, String::new())];
    while let Some((ino, path)) = stack.pop() {
        let fh = fs.opendir(ino).unwrap();
        let items = fs.readdir(ino, fh, 0).await.unwrap();
        fs.releasedir(fh);
        let mut seen = std::collections::HashSet::new();
        for item in items {
            if item.name == "." || item.name == ".." {
                continue;
            }
            assert!(
                seen.insert(item.name.clone()),
                "{path}{} listed twice",
                item.name
            );
            let e = fs.lookup(ino, &item.name).await.unwrap();
            assert_eq!(e.attr.kind, item.kind);
            if item.kind == Kind::Directory {
                out.insert(format!("{path}{}/", item.name), None);
                stack.push((e.attr.ino, format!("{path}{}/", item.name)));
            } else {
                let fh = fs.open(e.attr.ino, 0).await.unwrap().fh;
                let data = fs.read(fh, 0, 1 << 20).await.unwrap();
                fs.release(fh).await.unwrap();
                out.insert(format!("{path}{}", item.name), Some(data.to_vec()));
            }
        }
    }
    out
}

fn key_strategy() -> impl Strategy<Value = String> {
    let part = prop::sample::select(vec!["a", "b", "a-", "a.b", " x", "é", "", ".", "+%"]);
    (prop::collection::vec(part, 1..4), any::<bool>()).prop_map(|(parts, trailing)| {
        let mut k = parts.join("/");
        if trailing {
            k.push('/');
        }
        k
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn filesystem_matches_the_reference_model(
        keys in prop::collection::btree_map(key_strategy(), prop::collection::vec(any::<u8>(), 0..20), 0..25),
        page_size in 1u64..6,
    ) {
        let keys: BTreeMap<String, Vec<u8>> = keys.into_iter().filter(|(k, _)| !k.is_empty()).collect();
        let c = MockClient::new();
        c.set_page_size(page_size);
        for (k, v) in &keys {
            c.put(k, v.clone());
        }
        let mut want = BTreeMap::new();
        model(&keys, "", &mut want, "");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = rt.block_on(async {
            let fs = Filesystem::new(c.clone(), FsConfig::default());
            walk(&fs).await
        });
        prop_assert_eq!(got, want);
    }
}
