//! Whole end-to-end test bodies, shared by the mountd tests and the s3fs oracle tests: the
//! command line is s3fs's, so the same scenario runs against either program.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mount::{s3fs_bin, s3fs_command_line, Exited, MountCommand, Mounted, Workdir};
use crate::oracle::{ManifestEntry, TestBucket};
use crate::proxy::CountingProxy;
use crate::servers::Server;
use crate::tree::{expected_tree, tree_diff, walk_tree};
use crate::util::{bounded, sha256_file};

/// Time for a mount to appear.
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for a clean exit after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Time for a program to give up on a bad configuration and exit.
pub const REFUSAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to walk and hash a whole mounted model repository.
pub const WALK_TIMEOUT: Duration = Duration::from_secs(240);
/// Time to read the large model file once.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The large file of the model repository.
pub const LARGE_KEY: &str = "resnet50/1/model.onnx";

/// s3fs, or `None` after printing why the test is skipped; panics instead when
/// `MOUNTD_REQUIRE_SERVERS` is set (scripts/test.sh installs s3fs).
pub fn require_s3fs() -> Option<PathBuf> {
    let p = s3fs_bin();
    if p.is_none() {
        let enforced =
            std::env::var("MOUNTD_REQUIRE_SERVERS").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !enforced,
            "s3fs is not installed (apt-get install s3fs) and MOUNTD_REQUIRE_SERVERS is set"
        );
        eprintln!("SKIPPED: s3fs is not installed");
    }
    p
}

fn program_name(program: &Path) -> String {
    program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// SIGTERM: the program must exit 0 and leave nothing mounted (see [`Mounted::stop`]).
pub fn stop_cleanly(m: Mounted) {
    m.stop(EXIT_TIMEOUT);
}

/// Starts `program` with the s3fs command line of the issue on a fresh working directory
/// holding a `passwd` file for `server`'s key, against `url` (the server's, or a proxy's).
pub fn mount_with_issue_command_line(
    program: &Path,
    server: &Server,
    url: &str,
    bucket: &str,
    wd: &Workdir,
) -> Mounted {
    wd.write_passwd("passwd", &server.passwd_line(), 0o600);
    MountCommand::new(program, wd.path(), wd.mountpoint())
        .args(s3fs_command_line(bucket, &wd.mountpoint(), url))
        .expect_mount(MOUNT_TIMEOUT)
}

/// Checks that a seeded model repository really holds what the scenarios rely on, so a
/// broken seeding step cannot make a comparison pass vacuously.
pub fn check_model_repo_manifest(manifest: &[ManifestEntry], large_mb: u32, many: u32) {
    let get = |k: &str| manifest.iter().find(|e| e.key == k);
    let large = get(LARGE_KEY).expect("the large model object was seeded");
    assert_eq!(large.size, u64::from(large_mb) << 20);
    let marker = get("bert-base/3/").expect("the empty-directory marker was seeded");
    assert_eq!(marker.size, 0);
    assert_eq!(
        marker.content_type.as_deref(),
        Some("application/x-directory")
    );
    assert!(
        get("bert-base/1/").is_some(),
        "the marker of a non-empty directory was seeded"
    );
    assert_eq!(get("static/empty.bin").map(|e| e.size), Some(0));
    for k in [
        "a b.txt",
        "a+b.txt",
        "100%.txt",
        "caf\u{e9}-\u{6a21}\u{578b}.txt",
    ] {
        assert!(
            get(&format!("static/odd names/{k}")).is_some(),
            "{k:?} was seeded"
        );
    }
    let n = manifest
        .iter()
        .filter(|e| e.key.starts_with("static/many/"))
        .count();
    assert_eq!(n, many as usize, "files in static/many/");
}

/// Seeds a model repository, mounts it with `program` and the issue's command line, and
/// compares the whole tree (directories implied by keys, markers as directories, the
/// empty marker directory empty) and every file's SHA-256 with boto3's manifest; then
/// SIGTERM: exit 0 and nothing left mounted.
pub fn model_repo_roundtrip(server: &Server, program: &Path, large_mb: u32, many: u32) {
    let name = program_name(program);
    let t = Instant::now();
    let bucket = TestBucket::create(server, &format!("{name}-repo-{}", server.name));
    bucket
        .oracle
        .seed_model_repo(&bucket.name, "", large_mb, many);
    let manifest = bucket.oracle.manifest(&bucket.name, "");
    check_model_repo_manifest(&manifest, large_mb, many);
    let expected = expected_tree(&manifest, "");
    let seeded = t.elapsed();

    let wd = Workdir::new(&name);
    let t = Instant::now();
    let m = mount_with_issue_command_line(program, server, &server.url, &bucket.name, &wd);
    let mounted = t.elapsed();
    let mp = m.mountpoint().to_path_buf();
    let t = Instant::now();
    let actual = bounded("walking the mount", WALK_TIMEOUT, move || walk_tree(&mp));
    eprintln!(
        "{name} on {}: seeded and listed {} objects in {seeded:.1?}, mounted in {mounted:.1?}, walked and hashed {} entries in {:.1?}",
        server.name,
        manifest.len(),
        expected.len(),
        t.elapsed()
    );
    let actual = actual.unwrap_or_else(|e| panic!("walking the mount failed: {e}\n{}", m.log()));
    let diff = tree_diff(&expected, &actual);
    assert!(
        diff.is_empty(),
        "{name} on {} shows a different tree ({} differences, {} entries expected, {} seen):\n  {}\n{}",
        server.name,
        diff.len(),
        expected.len(),
        actual.len(),
        diff.iter().take(40).cloned().collect::<Vec<_>>().join("\n  "),
        m.log()
    );
    stop_cleanly(m);
}

/// Mounts through a counting proxy and reads the `large_mb` MiB model once: the content
/// must match, and the bytes that came from the server must be at least the file's size
/// and at most 1.25 times it (no duplicate fetching, no unbounded prefetch).
pub fn large_read_transfers_its_size(server: &Server, program: &Path, large_mb: u32) {
    let name = program_name(program);
    let bucket = TestBucket::create(server, &format!("{name}-bytes-{}", server.name));
    bucket.oracle.seed_model_repo(&bucket.name, "", large_mb, 3);
    let manifest = bucket.oracle.manifest(&bucket.name, "");
    let want = manifest
        .iter()
        .find(|e| e.key == LARGE_KEY)
        .expect("the large model object was seeded")
        .clone();
    assert_eq!(want.size, u64::from(large_mb) << 20);

    let proxy = CountingProxy::start(&server.url);
    let wd = Workdir::new(&name);
    let m = mount_with_issue_command_line(program, server, proxy.url(), &bucket.name, &wd);
    let before = proxy.snapshot();
    let file = m.mountpoint().join(LARGE_KEY);
    let got = bounded("reading the large file", READ_TIMEOUT, move || {
        sha256_file(&file)
    });
    let (size, sha) =
        got.unwrap_or_else(|e| panic!("reading {LARGE_KEY} failed: {e}\n{}", m.log()));
    let d = proxy.snapshot().since(&before);
    assert_eq!(
        (size, sha.as_str()),
        (want.size, want.sha256.as_str()),
        "content of {LARGE_KEY}"
    );
    let ratio = d.bytes_from_server as f64 / want.size as f64;
    eprintln!(
        "{name} on {}: reading {} MiB took {} bytes from the server ({ratio:.3}x), {} connections, requests {:?}",
        server.name,
        large_mb,
        d.bytes_from_server,
        d.connections,
        d.by_method()
    );
    assert!(
        d.bytes_from_server >= want.size,
        "only {} bytes came from the server for a {}-byte file: was it read through the proxy?",
        d.bytes_from_server,
        want.size
    );
    assert!(
        d.bytes_from_server * 4 <= want.size * 5,
        "{} bytes came from the server for a {}-byte file ({ratio:.2}x > 1.25x); requests {:?}",
        d.bytes_from_server,
        want.size,
        d.by_method()
    );
    stop_cleanly(m);
}

/// Mounts through a counting proxy and reads 4 KiB at 200 pseudo-random offsets of a 64 MiB
/// object with `pread` (how model servers read file headers and indexes): every piece must
/// be the object's bytes, no read may hang, and each read may fetch about what the kernel's
/// readahead asks for (128 KiB), not a growing stream: at most 256 KiB a read on average.
pub fn random_reads_return_the_right_bytes(server: &Server, program: &Path) {
    const SIZE: u64 = 64 << 20;
    const PIECE: u64 = 4096;
    let name = program_name(program);
    let bucket = TestBucket::create(server, &format!("{name}-random-{}", server.name));
    let data: Vec<u8> = (0..SIZE)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    bucket.oracle.put(&bucket.name, "weights.bin", &data);

    let proxy = CountingProxy::start(&server.url);
    let wd = Workdir::new(&name);
    let m = mount_with_issue_command_line(program, server, proxy.url(), &bucket.name, &wd);
    let before = proxy.snapshot();
    let file = m.mountpoint().join("weights.bin");
    // A fixed sequence; the first offsets land just past a jump's small window, where a read
    // once waited for a fetch that waited for it.
    let mut offsets = vec![5 << 20, (5 << 20) + (200 << 10), (5 << 20) + (3 << 20)];
    let mut x: u64 = 4242;
    for _ in 0..200 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        offsets.push((x >> 33) % (SIZE / PIECE) * PIECE);
    }
    let reads = offsets.clone();
    let got = bounded("random preads", READ_TIMEOUT, move || {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&file)?;
        reads
            .iter()
            .map(|&off| {
                let mut buf = vec![0u8; PIECE as usize];
                f.read_exact_at(&mut buf, off).map(|()| buf)
            })
            .collect::<std::io::Result<Vec<_>>>()
    });
    let pieces = got.unwrap_or_else(|e| panic!("random reads failed: {e}\n{}", m.log()));
    for (off, piece) in offsets.iter().zip(&pieces) {
        let want = &data[*off as usize..(*off + PIECE) as usize];
        assert!(piece.as_slice() == want, "the 4 KiB at {off} differ");
    }
    let d = proxy.snapshot().since(&before);
    eprintln!(
        "{name} on {}: {} random 4 KiB reads of a 64 MiB object took {} bytes from the server, requests {:?}",
        server.name,
        offsets.len(),
        d.bytes_from_server,
        d.by_method()
    );
    let bound = offsets.len() as u64 * (256 << 10);
    assert!(
        d.bytes_from_server <= bound,
        "{} random 4 KiB reads fetched {} bytes (more than {bound}); requests {:?}",
        offsets.len(),
        d.bytes_from_server,
        d.by_method()
    );
    stop_cleanly(m);
}

/// A configuration a mount program must refuse at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The passwd file holds the right key id with a wrong secret (needs a server that
    /// checks signatures).
    WrongSecret,
    /// The passwd file is mode 0644.
    WorldReadablePasswd,
    /// The bucket does not exist.
    MissingBucket,
    /// `-o no_such_option_for_mountd_tests` is on the command line.
    UnknownOption,
    /// `-o tmpdir=` names a directory that does not exist (writes could never be staged).
    MissingTmpdir,
}

pub const UNKNOWN_OPTION: &str = "no_such_option_for_mountd_tests";

/// Runs `program` with the issue's command line and `fault`, expecting it to exit within
/// [`REFUSAL_TIMEOUT`] without mounting; returns how it exited.
pub fn start_with_fault(server: &Server, program: &Path, fault: Fault) -> Exited {
    let name = program_name(program);
    let bucket = TestBucket::create(server, &format!("{name}-fault-{}", server.name));
    let wd = Workdir::new(&name);
    let (secret, mode) = match fault {
        Fault::WrongSecret => {
            assert!(
                server.kind.checks_signatures(),
                "{} does not check signatures",
                server.name
            );
            (
                "wrongSecretKey0123456789abcdefghijklmnopqr".to_string(),
                0o600,
            )
        }
        Fault::WorldReadablePasswd => (server.secret.clone(), 0o644),
        _ => (server.secret.clone(), 0o600),
    };
    wd.write_passwd("passwd", &format!("{}:{secret}\n", server.key_id), mode);
    let missing = crate::servers::unique_bucket_name("missing");
    let target = if fault == Fault::MissingBucket {
        &missing
    } else {
        &bucket.name
    };
    let mut cmd = MountCommand::new(program, wd.path(), wd.mountpoint()).args(s3fs_command_line(
        target,
        &wd.mountpoint(),
        &server.url,
    ));
    match fault {
        Fault::UnknownOption => cmd = cmd.args(["-o", UNKNOWN_OPTION]),
        Fault::MissingTmpdir => {
            let tmpdir = wd.path().join("no-such-tmpdir");
            cmd = cmd.args(["-o".into(), format!("tmpdir={}", tmpdir.display())]);
        }
        _ => {}
    }
    let e = cmd.expect_exit(REFUSAL_TIMEOUT);
    eprintln!(
        "{name} on {} with {fault:?}: {} after {:.1?}; stderr:\n{}",
        server.name,
        e.status,
        e.elapsed,
        crate::mount::tail(&e.stderr)
    );
    assert!(
        !crate::mount::is_mounted(&wd.mountpoint()),
        "nothing may be left mounted"
    );
    e
}

/// Asserts the refusal of `fault`: exit status 1 and a message on stderr that says why.
#[track_caller]
pub fn assert_refused(fault: Fault, e: &Exited) {
    let err = e.stderr.to_lowercase();
    let (ok, what) = match fault {
        Fault::WrongSecret => (
            err.contains("signature"),
            "names the signature error (\"signature\")",
        ),
        Fault::WorldReadablePasswd => (
            err.contains("passwd") && err.contains("others permissions"),
            "names the passwd file and \"others permissions\"",
        ),
        Fault::MissingBucket => (
            [
                "nosuchbucket",
                "no such bucket",
                "not found",
                "does not exist",
            ]
            .iter()
            .any(|w| err.contains(w)),
            "says the bucket does not exist",
        ),
        Fault::UnknownOption => (err.contains(UNKNOWN_OPTION), "names the unknown option"),
        Fault::MissingTmpdir => (
            err.contains("tmpdir") || err.contains("temporary directory"),
            "names the temporary directory",
        ),
    };
    assert!(
        e.status.code() == Some(1) && ok,
        "{fault:?}: expected exit status 1 and a stderr that {what}; got {} after {:?}\n--- stderr\n{}\n--- stdout\n{}",
        e.status,
        e.elapsed,
        crate::mount::tail(&e.stderr),
        crate::mount::tail(&e.stdout)
    );
}
