//! The filesystem over an in-memory bucket: names, kinds, contents, caching, errors.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use s3client::mock::{MockClient, MockObject, Op};
use s3client::{ErrorDetails, S3Error};
use s3fs_core::{Filesystem, FsConfig, FsError, Kind, ReadConfig, ROOT_INO};

fn config() -> FsConfig {
    FsConfig {
        uid: 1000,
        gid: 1000,
        metadata_ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(60),
        ..FsConfig::default()
    }
}

fn fs_over(c: &MockClient) -> Filesystem<MockClient> {
    Filesystem::new(c.clone(), config())
}

/// Resolve a path from the root, one lookup per component.
async fn lookup_path(fs: &Filesystem<MockClient>, path: &str) -> Result<s3fs_core::Entry, FsError> {
    let mut ino = ROOT_INO;
    let mut entry = fs.getattr(ROOT_INO).await?;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        entry = fs.lookup(ino, part).await?;
        ino = entry.attr.ino;
    }
    Ok(entry)
}

async fn read_all(fs: &Filesystem<MockClient>, ino: u64, chunk: u32) -> Result<Vec<u8>, FsError> {
    let fh = fs.open(ino, libc::O_RDONLY as u32).await?.fh;
    let mut out = Vec::new();
    loop {
        let data = fs.read(fh, out.len() as u64, chunk).await?;
        if data.is_empty() {
            break;
        }
        out.extend_from_slice(&data);
    }
    fs.release(fh).await.unwrap();
    Ok(out)
}

async fn list(fs: &Filesystem<MockClient>, ino: u64) -> Vec<(String, Kind)> {
    let fh = fs.opendir(ino).unwrap();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let items = fs.readdir(ino, fh, offset).await.unwrap();
        // The kernel takes a few entries at a time: emulate small reads.
        let Some(first) = items.first() else { break };
        let _ = first;
        for item in items.iter().take(3) {
            out.push((item.name.clone(), item.kind));
            offset = item.next_offset;
        }
    }
    fs.releasedir(fh);
    out
}

/// Every path below the root: kind and, for files, content.
async fn walk(fs: &Filesystem<MockClient>) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(ROOT_INO, String::new())];
    while let Some((ino, path)) = stack.pop() {
        for (name, kind) in list(fs, ino).await {
            if name == "." || name == ".." {
                continue;
            }
            let child = fs.lookup(ino, &name).await.unwrap();
            assert_eq!(
                child.attr.kind, kind,
                "readdir and lookup disagree on {path}{name}"
            );
            let child_path = format!("{path}{name}");
            match kind {
                Kind::Directory => {
                    out.insert(format!("{child_path}/"), None);
                    stack.push((child.attr.ino, format!("{child_path}/")));
                }
                _ => {
                    let data = read_all(fs, child.attr.ino, 4096).await.unwrap();
                    assert_eq!(data.len() as u64, child.attr.size);
                    out.insert(child_path, Some(data));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn model_repository_tree_and_contents() {
    let c = MockClient::new();
    c.put("m/config.pbtxt", "name: \"m\"");
    c.put("m/1/model.onnx", vec![7u8; 300_000]);
    c.put("m/2/", "");
    c.insert(
        "m/3/",
        MockObject::new("").content_type("application/x-directory"),
    );
    c.put("odd/a b+c%d é.txt", "odd");
    c.put("zero", "");
    let fs = fs_over(&c);
    let tree = walk(&fs).await;
    let want: BTreeMap<String, Option<Vec<u8>>> = [
        ("m/", None),
        ("m/1/", None),
        ("m/1/model.onnx", Some(vec![7u8; 300_000])),
        ("m/2/", None),
        ("m/3/", None),
        ("m/config.pbtxt", Some(b"name: \"m\"".to_vec())),
        ("odd/", None),
        ("odd/a b+c%d é.txt", Some(b"odd".to_vec())),
        ("zero", Some(vec![])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(tree, want);
}

#[tokio::test]
async fn directory_wins_over_a_file_of_the_same_name() {
    let c = MockClient::new();
    c.put("out", "i am a file");
    c.put("out/shadow.txt", "child");
    c.put("logs/", "");
    c.put("logs", "another file");
    let fs = fs_over(&c);
    assert_eq!(
        list(&fs, ROOT_INO).await,
        vec![
            (".".into(), Kind::Directory),
            ("..".into(), Kind::Directory),
            ("logs".into(), Kind::Directory),
            ("out".into(), Kind::Directory),
        ]
    );
    // Cold lookups (no listing first) apply the same rule.
    let cold = fs_over(&c);
    assert_eq!(
        lookup_path(&cold, "out").await.unwrap().attr.kind,
        Kind::Directory
    );
    assert_eq!(
        lookup_path(&cold, "logs").await.unwrap().attr.kind,
        Kind::Directory
    );
    let child = lookup_path(&cold, "out/shadow.txt").await.unwrap();
    assert_eq!(
        read_all(&cold, child.attr.ino, 100).await.unwrap(),
        b"child"
    );
}

#[tokio::test]
async fn implicit_directories_resolve_on_first_access() {
    let c = MockClient::new();
    c.put("a/b/c/d/file.txt", "deep");
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "a/b/c/d/file.txt").await.unwrap();
    assert_eq!((e.attr.kind, e.attr.size), (Kind::File, 4));
    for d in ["a", "a/b", "a/b/c", "a/b/c/d"] {
        assert_eq!(
            lookup_path(&fs, d).await.unwrap().attr.kind,
            Kind::Directory
        );
    }
    assert!(matches!(
        lookup_path(&fs, "a/nope").await,
        Err(FsError::NotFound)
    ));
    assert!(matches!(
        lookup_path(&fs, "a/b/c/d/file.txt/x").await,
        Err(FsError::NotADirectory)
    ));
}

#[tokio::test]
async fn large_directories_are_listed_completely_in_pages() {
    let c = MockClient::new();
    for i in 0..1500 {
        c.put(&format!("many/f{i:05}"), i.to_string());
    }
    c.put("many/zz-dir/x", "1");
    let fs = fs_over(&c);
    let dir = lookup_path(&fs, "many").await.unwrap();
    let before = c.counters().list.load(Relaxed);
    let names = list(&fs, dir.attr.ino).await;
    assert_eq!(names.len(), 2 + 1501);
    assert_eq!(
        names.last().unwrap(),
        &("zz-dir".to_string(), Kind::Directory)
    );
    assert_eq!(
        c.counters().list.load(Relaxed) - before,
        2,
        "1501 entries are two LIST pages"
    );
    // The listing fed the cache: a lookup costs one HEAD (for the metadata LIST lacks),
    // no LIST, and a name the listing lacks costs nothing.
    let (heads, lists) = (
        c.counters().head.load(Relaxed),
        c.counters().list.load(Relaxed),
    );
    for i in (0..1500).step_by(97) {
        let e = fs.lookup(dir.attr.ino, &format!("f{i:05}")).await.unwrap();
        assert_eq!(e.attr.size, i.to_string().len() as u64);
    }
    assert!(matches!(
        fs.lookup(dir.attr.ino, "missing").await,
        Err(FsError::NotFound)
    ));
    assert_eq!(
        c.counters().head.load(Relaxed) - heads,
        16,
        "sparse lookups: one HEAD each, no stat-ahead"
    );
    assert_eq!(c.counters().list.load(Relaxed), lists);
    // Walking the listing in order (ls -l) completes the entries ahead in the background,
    // each entry once.
    let heads = c.counters().head.load(Relaxed);
    for i in 0..1500 {
        fs.lookup(dir.attr.ino, &format!("f{i:05}")).await.unwrap();
    }
    // The background HEADs ahead of the walk may still be finishing (zz-dir's, at the end).
    while fs.stat_ahead_in_flight() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let walked = c.counters().head.load(Relaxed) - heads;
    // 1,484 files not known yet, and the last batch also completes zz-dir (its marker).
    assert_eq!(walked, 1500 - 16 + 1, "each entry is HEADed once");
}

/// A directory `d` of 300 files with mode 0600 and uid 7, which only a HEAD can tell.
fn private_files() -> MockClient {
    let c = MockClient::new();
    for i in 0..300 {
        c.insert(
            &format!("d/f{i:03}"),
            MockObject::new("x").meta("mode", "33152").meta("uid", "7"),
        );
    }
    c
}

fn fs_with_ttl(c: &MockClient, ttl: Duration) -> Filesystem<MockClient> {
    let config = FsConfig {
        metadata_ttl: ttl,
        ..config()
    };
    Filesystem::new(c.clone(), config)
}

/// `ls -l` of `private_files`: each entry looked up in listing order, its metadata checked;
/// returns once the background HEADs are done.
async fn walk_private_files(fs: &Filesystem<MockClient>, dir: u64) {
    for i in 0..300 {
        let a = fs.lookup(dir, &format!("f{i:03}")).await.unwrap().attr;
        assert_eq!((a.perm, a.uid), (0o600, 7), "f{i:03}");
    }
    while fs.stat_ahead_in_flight() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_gets_each_entrys_metadata_from_the_heads_ahead_of_it() {
    let c = private_files();
    c.delay(Op::Head, Duration::from_millis(3));
    let fs = fs_over(&c);
    let dir = lookup_path(&fs, "d").await.unwrap().attr.ino;
    let _ = list(&fs, dir).await;
    let heads = c.counters().head.load(Relaxed);
    walk_private_files(&fs, dir).await;
    assert_eq!(
        c.counters().head.load(Relaxed) - heads,
        300,
        "each entry HEADed once, whether ahead of the walk or by its lookup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_outlasting_the_listings_freshness_is_still_headed_ahead() {
    let c = private_files();
    let fs = fs_with_ttl(&c, Duration::from_millis(20));
    let dir = lookup_path(&fs, "d").await.unwrap().attr.ino;
    let _ = list(&fs, dir).await;
    // `ls -l` of a big directory takes longer than the metadata TTL (1 s by default).
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.delay(Op::Head, Duration::from_millis(2));
    let heads = c.counters().head.load(Relaxed);
    walk_private_files(&fs, dir).await;
    assert!(
        c.counters().max_heads_in_flight.load(Relaxed) > 1,
        "the entries ahead of the walk were HEADed in the background"
    );
    let sent = c.counters().head.load(Relaxed) - heads;
    assert!(
        (300..=310).contains(&sent),
        "{sent} HEADs for 300 entries: about one each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_walk_after_the_ttl_renews_the_metadata_ahead_of_it() {
    let c = private_files();
    let fs = fs_with_ttl(&c, Duration::from_millis(200));
    let dir = lookup_path(&fs, "d").await.unwrap().attr.ino;
    let _ = list(&fs, dir).await;
    walk_private_files(&fs, dir).await;
    tokio::time::sleep(Duration::from_millis(250)).await; // the metadata expires
    c.counters().max_heads_in_flight.store(0, Relaxed);
    c.delay(Op::Head, Duration::from_millis(2));
    let _ = list(&fs, dir).await;
    walk_private_files(&fs, dir).await;
    assert!(
        c.counters().max_heads_in_flight.load(Relaxed) > 1,
        "the second walk renewed the expired metadata in the background"
    );
    let heads = c.counters().head.load(Relaxed);
    assert!(
        (600..=620).contains(&heads),
        "{heads} HEADs for two walks of 300"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chmod_by_another_client_shows_after_the_ttl_though_the_directory_is_relisted() {
    let c = MockClient::new();
    c.insert("d/f", MockObject::new("x").meta("mode", "33152")); // 0600
    let fs = fs_with_ttl(&c, Duration::from_millis(50));
    let dir = lookup_path(&fs, "d").await.unwrap().attr.ino;
    assert_eq!(fs.lookup(dir, "f").await.unwrap().attr.perm, 0o600);
    // s3fs's chmod: the object copied onto itself with new metadata, same ETag.
    c.insert("d/f", MockObject::new("x").meta("mode", "33261")); // 0755
                                                                 // A program that lists the directory all the time (a model server polling its
                                                                 // repository) must not keep the old metadata alive.
    for _ in 0..10 {
        let _ = list(&fs, dir).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fs.lookup(dir, "f").await.unwrap().attr.perm, 0o755);
}

#[tokio::test]
async fn s3fs_metadata_gives_mode_owner_and_mtime() {
    let c = MockClient::new();
    c.insert(
        "f",
        MockObject::new("x")
            .meta("mode", "33188")
            .meta("uid", "42")
            .meta("gid", "43")
            .meta("mtime", "1000"),
    );
    c.insert("d/", MockObject::new("").meta("mode", "16832")); // dir 0700
    c.put("plain", "y");
    let fs = fs_over(&c);
    let f = lookup_path(&fs, "f").await.unwrap().attr;
    assert_eq!((f.perm, f.uid, f.gid), (0o644, 42, 43));
    assert_eq!(f.mtime, std::time::UNIX_EPOCH + Duration::from_secs(1000));
    let d = lookup_path(&fs, "d").await.unwrap().attr;
    assert_eq!((d.kind, d.perm), (Kind::Directory, 0o700));
    let p = lookup_path(&fs, "plain").await.unwrap().attr;
    assert_eq!((p.perm, p.uid, p.gid), (0o644, 1000, 1000));
    // A later listing of the same content does not wipe what the HEAD found.
    let _ = list(&fs, ROOT_INO).await;
    let f = lookup_path(&fs, "f").await.unwrap().attr;
    assert_eq!(f.uid, 42);
}

#[tokio::test]
async fn reads_fetch_near_what_is_asked() {
    let c = MockClient::new();
    let data: Vec<u8> = (0..48u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    c.put("big", data.clone());
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "big").await.unwrap();
    let got = read_all(&fs, e.attr.ino, 128 * 1024).await.unwrap();
    assert!(got == data, "content differs");
    let fetched = c.counters().get_bytes.load(Relaxed);
    assert_eq!(
        fetched,
        data.len() as u64,
        "a sequential read fetches each byte once"
    );
    let gets = c.counters().get.load(Relaxed);
    // Windows of 1, 2 and 4 MiB, then the remaining 41 MiB in parts.
    let config = ReadConfig::default();
    let parts = ((48u64 << 20) - (7 << 20)).div_ceil(config.part_size);
    assert!(gets <= 3 + parts, "{gets} GETs for 48 MiB");

    // A random read fetches what is asked plus a little, not the rest of the file.
    let before = c.counters().get_bytes.load(Relaxed);
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    let piece = fs.read(fh, 20 << 20, 4096).await.unwrap();
    assert_eq!(&piece[..], &data[20 << 20..(20 << 20) + 4096]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let random = c.counters().get_bytes.load(Relaxed) - before;
    assert!(
        random <= 256 << 10,
        "a 4 KiB random read fetched {random} bytes"
    );
    fs.release(fh).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_sequential_read_fetches_parts_in_parallel_and_in_order() {
    let c = MockClient::new();
    let data: Vec<u8> = (0..80u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    c.put("model.onnx", data.clone());
    c.delay(Op::Get, Duration::from_millis(20));
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "model.onnx").await.unwrap();
    let got = read_all(&fs, e.attr.ino, 1 << 20).await.unwrap();
    assert!(got == data, "the parts were put together in order");
    assert_eq!(
        c.counters().get_bytes.load(Relaxed),
        data.len() as u64,
        "each byte fetched once"
    );
    let parallel = c.counters().max_gets_in_flight.load(Relaxed);
    assert!(
        parallel >= 2 && parallel <= ReadConfig::default().parallel_parts as u64,
        "{parallel} GETs at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_that_fails_fails_the_read_and_the_next_read_starts_over() {
    let c = MockClient::new();
    let data: Vec<u8> = (0..120u32 << 20).map(|i| (i % 241) as u8).collect();
    c.put("f", data.clone());
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "f").await.unwrap();
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    let chunk = 1u64 << 20;
    // Past the growing windows (7 MiB), the part GETs start; make the next ones fail (parts
    // in flight and bytes not read yet stay within the stream budget, 32 MiB, ahead).
    for i in 0..16 {
        fs.read(fh, i * chunk, chunk as u32).await.unwrap();
    }
    c.fail_always(Op::Get, S3Error::AccessDenied(ErrorDetails::default()));
    let mut failed = false;
    for i in 16..120 {
        if fs.read(fh, i * chunk, chunk as u32).await.is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "a failed part is an error, not a short or wrong read"
    );
    c.clear_failures();
    let got = fs.read(fh, 30 * chunk, chunk as u32).await.unwrap();
    assert_eq!(
        &got[..],
        &data[(30 * chunk) as usize..(31 * chunk) as usize]
    );
    fs.release(fh).await.unwrap();
}

#[tokio::test]
async fn out_of_order_reads_do_not_restart_the_stream() {
    let c = MockClient::new();
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 253) as u8).collect();
    c.put("f", data.clone());
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "f").await.unwrap();
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    let k = 128u64 << 10;
    // The kernel's async readahead: 0, then 2k before k, and so on.
    for (a, b) in [(0, 1), (2, 1), (4, 3), (6, 5)] {
        for i in [a, b] {
            let got = fs.read(fh, i * k, k as u32).await.unwrap();
            assert_eq!(&got[..], &data[(i * k) as usize..((i + 1) * k) as usize]);
        }
    }
    assert_eq!(
        c.counters().get.load(Relaxed),
        1,
        "one stream served the shuffled reads"
    );
    fs.release(fh).await.unwrap();
}

#[tokio::test]
async fn random_reads_that_skip_ahead_of_the_stream_complete() {
    let c = MockClient::new();
    let data: Vec<u8> = (0..16u32 << 20).map(|i| (i * 7 % 249) as u8).collect();
    c.put("f", data.clone());
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "f").await.unwrap();
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    let k4 = 4096u64;
    // A jump fetches a small window; the next read lands past that window but within reach
    // of the stream (the pattern of `pread` at random offsets, which once hung for good).
    let mut offsets = vec![
        5 << 20,
        (5 << 20) + (200 << 10),
        (5 << 20) + (3 << 20),
        1 << 20,
    ];
    let mut x: u64 = 4242;
    for _ in 0..200 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        offsets.push((x >> 33) % ((16 << 20) / k4) * k4);
    }
    for off in offsets {
        let got = tokio::time::timeout(Duration::from_secs(10), fs.read(fh, off, k4 as u32))
            .await
            .unwrap_or_else(|_| panic!("the read at {off} did not complete"))
            .unwrap();
        assert_eq!(
            &got[..],
            &data[off as usize..(off + k4) as usize],
            "at {off}"
        );
    }
    fs.release(fh).await.unwrap();
}

#[tokio::test]
async fn closing_a_read_handle_does_not_wait_for_a_read_in_progress() {
    let c = MockClient::new();
    c.put("f", vec![7u8; 1 << 20]);
    let fs = std::sync::Arc::new(fs_over(&c));
    let e = lookup_path(&fs, "f").await.unwrap();
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    c.delay(Op::Get, Duration::from_secs(30)); // a server that does not answer
    let reading = {
        let fs = fs.clone();
        tokio::spawn(async move { fs.read(fh, 0, 4096).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The kernel sends FLUSH when a process killed in the middle of the read exits.
    tokio::time::timeout(Duration::from_secs(5), fs.flush(fh))
        .await
        .expect("flush of a read handle waited for the read")
        .unwrap();
    reading.abort();
}

#[tokio::test]
async fn tiny_and_empty_files_and_reads_past_the_end() {
    let c = MockClient::new();
    c.put("zero", "");
    c.put("one", "x");
    let fs = fs_over(&c);
    let zero = lookup_path(&fs, "zero").await.unwrap();
    let gets = c.counters().get.load(Relaxed);
    assert_eq!(read_all(&fs, zero.attr.ino, 4096).await.unwrap(), b"");
    assert_eq!(
        c.counters().get.load(Relaxed),
        gets,
        "an empty file needs no GET"
    );
    let one = lookup_path(&fs, "one").await.unwrap();
    let fh = fs
        .open(one.attr.ino, libc::O_RDONLY as u32)
        .await
        .unwrap()
        .fh;
    assert_eq!(&fs.read(fh, 0, 4096).await.unwrap()[..], b"x");
    assert!(fs.read(fh, 1, 4096).await.unwrap().is_empty());
    assert!(fs.read(fh, 100, 4096).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_replaced_object_fails_the_read_instead_of_mixing_versions() {
    let c = MockClient::new();
    c.put("f", vec![1u8; 4 << 20]);
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "f").await.unwrap();
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    c.put("f", vec![2u8; 4 << 20]);
    // Far from anything prefetched, so a new GET with If-Match is needed.
    let err = fs.read(fh, 3 << 20, 4096).await.unwrap_err();
    assert!(matches!(err, FsError::ObjectChanged), "{err:?}");
    assert_eq!(err.errno(), libc::ESTALE);
}

#[tokio::test]
async fn server_errors_become_errno_and_the_next_call_recovers() {
    let c = MockClient::new();
    c.put("f", "data");
    let fs = fs_over(&c);
    c.fail_next(Op::Head, MockClient::server_error());
    let err = lookup_path(&fs, "f").await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO);
    let e = lookup_path(&fs, "f").await.unwrap();
    c.fail_next(
        Op::Get,
        S3Error::AccessDenied(ErrorDetails {
            status: 403,
            ..Default::default()
        }),
    );
    let fh = fs.open(e.attr.ino, libc::O_RDONLY as u32).await.unwrap().fh;
    assert_eq!(fs.read(fh, 0, 10).await.unwrap_err().errno(), libc::EACCES);
    assert_eq!(&fs.read(fh, 0, 10).await.unwrap()[..], b"data");
}

#[tokio::test]
async fn missing_names_are_cached_negatively() {
    let c = MockClient::new();
    c.put("d/x", "1");
    let fs = fs_over(&c);
    let d = lookup_path(&fs, "d").await.unwrap().attr.ino;
    assert!(matches!(fs.lookup(d, "nope").await, Err(FsError::NotFound)));
    let calls = c.counters().head.load(Relaxed) + c.counters().list.load(Relaxed);
    assert!(matches!(fs.lookup(d, "nope").await, Err(FsError::NotFound)));
    assert_eq!(
        c.counters().head.load(Relaxed) + c.counters().list.load(Relaxed),
        calls
    );
}

#[tokio::test]
async fn attributes_are_rechecked_after_the_ttl() {
    let c = MockClient::new();
    c.put("f", "abc");
    let fs = Filesystem::with_read_config(
        c.clone(),
        FsConfig {
            metadata_ttl: Duration::ZERO,
            negative_ttl: Duration::ZERO,
            ..config()
        },
        ReadConfig::default(),
    );
    let e = lookup_path(&fs, "f").await.unwrap();
    c.put("f", "abcdef");
    assert_eq!(fs.getattr(e.attr.ino).await.unwrap().attr.size, 6);
    c.remove("f");
    assert!(matches!(
        fs.getattr(e.attr.ino).await,
        Err(FsError::NotFound)
    ));
    assert!(matches!(
        lookup_path(&fs, "f").await,
        Err(FsError::NotFound)
    ));
}

#[tokio::test]
async fn opening_a_directory_as_a_file_fails() {
    let c = MockClient::new();
    c.put("d/f", "abc");
    let fs = fs_over(&c);
    let d = lookup_path(&fs, "d").await.unwrap();
    assert!(matches!(
        fs.open(d.attr.ino, 0).await,
        Err(FsError::IsADirectory)
    ));
}

#[tokio::test]
async fn symlinks_written_by_s3fs_read_back_as_symlinks() {
    let c = MockClient::new();
    c.insert(
        "link",
        MockObject::new("target/file").meta("mode", &(0o120777).to_string()),
    );
    let fs = fs_over(&c);
    let e = lookup_path(&fs, "link").await.unwrap();
    assert_eq!(e.attr.kind, Kind::Symlink);
    assert_eq!(&fs.readlink(e.attr.ino).await.unwrap()[..], b"target/file");
}

#[tokio::test]
async fn a_prefix_mount_shows_only_what_is_below_it() {
    let c = MockClient::new();
    c.put("models/a/x", "1");
    c.put("models/b", "2");
    c.put("other/c", "3");
    let fs = Filesystem::new(
        c.clone(),
        FsConfig {
            prefix: "models/".into(),
            ..config()
        },
    );
    let tree = walk(&fs).await;
    assert_eq!(tree.keys().cloned().collect::<Vec<_>>(), ["a/", "a/x", "b"]);
}

#[tokio::test]
async fn readdir_references_are_counted_and_given_back() {
    let c = MockClient::new();
    c.put("d/a", "1");
    c.put("d/b", "2");
    let fs = fs_over(&c);
    let d = lookup_path(&fs, "d").await.unwrap().attr.ino;
    let fh = fs.opendir(d).unwrap();
    let items = fs.readdir(d, fh, 0).await.unwrap();
    let a = items.iter().find(|i| i.name == "a").unwrap();
    // Seen only in the listing: no attributes for the kernel yet, so no reference taken.
    let (listed_ino, attrs) = fs.dir_item_entry(d, a, true).unwrap();
    assert!(
        attrs.is_none(),
        "metadata of a listed entry is unknown until a HEAD"
    );
    let looked_up = fs.lookup(d, "a").await.unwrap();
    assert_eq!(looked_up.attr.ino, listed_ino);
    fs.forget(listed_ino, 1);
    let first = fs.dir_item_entry(d, a, true).unwrap().1.unwrap();
    let again = fs.dir_item_entry(d, a, true).unwrap().1.unwrap();
    assert_eq!(first.attr.ino, again.attr.ino);
    fs.forget(first.attr.ino, 2);
    fs.releasedir(fh);
    // Forgotten and unreferenced nodes stay usable as cache until evicted.
    assert_eq!(fs.lookup(d, "a").await.unwrap().attr.ino, first.attr.ino);
}

#[tokio::test]
async fn entries_first_seen_in_a_listing_show_their_metadata() {
    let c = MockClient::new();
    c.insert(
        "f",
        MockObject::new("x")
            .meta("mode", "33152")
            .meta("uid", "1234")
            .meta("mtime", "1000"),
    );
    c.insert(
        "link",
        MockObject::new("f").meta("mode", &(0o120777).to_string()),
    );
    c.insert("d/", MockObject::new("").meta("mode", "16832"));
    c.put("d/inside", "1");
    let fs = fs_over(&c);
    let _ = list(&fs, ROOT_INO).await; // the listing comes first, as with `ls -l`
    let f = fs.lookup(ROOT_INO, "f").await.unwrap().attr;
    assert_eq!((f.perm, f.uid), (0o600, 1234));
    assert_eq!(f.mtime, std::time::UNIX_EPOCH + Duration::from_secs(1000));
    let link = fs.lookup(ROOT_INO, "link").await.unwrap().attr;
    assert_eq!(link.kind, Kind::Symlink);
    let d = fs.lookup(ROOT_INO, "d").await.unwrap().attr;
    assert_eq!((d.kind, d.perm), (Kind::Directory, 0o700));
    // A later listing of the same content keeps what the HEADs found.
    let _ = list(&fs, ROOT_INO).await;
    let again = fs.lookup(ROOT_INO, "link").await.unwrap().attr;
    assert_eq!((again.kind, again.ino), (Kind::Symlink, link.ino));
    assert_eq!(fs.lookup(ROOT_INO, "f").await.unwrap().attr.perm, 0o600);
}
