//! A process killed while it waits on the mount must be let go at once, even when the server
//! hangs: the kernel cannot finish a killed process's system call until the daemon answers
//! it, so without FUSE INTERRUPT handling it stays in D state for the whole request timeout
//! (and `kubectl delete pod` of a model server hangs with it). The mount is made through a
//! proxy that can leave requests unanswered. A killed writer is let go too, and what it
//! wrote is still uploaded.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration::mount::{mountd_bin, s3fs_command_line, MountCommand, Mounted, Workdir};
use integration::oracle::TestBucket;
use integration::proxy::{CountingProxy, Fault};
use integration::scenarios::{stop_cleanly, MOUNT_TIMEOUT};
use integration::servers::{require_server, Kind};
use integration::util::{bounded, wait_until};

/// How long a killed process may take to be gone. Without interrupt handling it takes at
/// least one request timeout (response headers wait connect_timeout + readwrite_timeout,
/// 25 s here, per attempt), with it a few milliseconds.
const EXIT_AFTER_KILL: Duration = Duration::from_secs(8);
/// The mount's timeouts: short, so that what the killed process's readahead left waiting
/// on a hung connection times out and is retried within the test.
const TIMEOUTS: [&str; 4] = ["-o", "connect_timeout=5", "-o", "readwrite_timeout=20"];
/// Time for a read once the server answers again: one timed-out attempt, then a retry.
const RECOVERY: Duration = Duration::from_secs(90);

fn spawn_stuck(program: &str, path: &std::path::Path) -> Child {
    Command::new(program)
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

/// Waits until `proxy` has held back a request (the child is now waiting on the daemon),
/// checks the child is really stuck, sends it `signal`, and requires it gone in time.
fn kill_while_stalled(
    mut child: Child,
    signal: i32,
    proxy: &CountingProxy,
    m: &Mounted,
    what: &str,
) {
    let before = proxy.snapshot().faults_injected;
    let stalled = wait_until(Duration::from_secs(20), || {
        proxy.snapshot().faults_injected > before
    });
    assert!(stalled, "{what} never reached the server\n{}", m.log());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "{what} finished although the server never answered\n{}",
        m.log()
    );
    let t = Instant::now();
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let gone = wait_until(EXIT_AFTER_KILL, || child.try_wait().unwrap().is_some());
    if !gone {
        let _ = child.kill();
        panic!(
            "{what}: the process was still there {EXIT_AFTER_KILL:?} after signal {signal} (stuck in the kernel waiting on the daemon)\n{}",
            m.log()
        );
    }
    eprintln!("{what}: gone {:?} after signal {signal}", t.elapsed());
}

#[test]
fn a_process_killed_while_the_server_hangs_is_let_go() {
    let Some(server) = require_server(Kind::Moto) else {
        return;
    };
    let bucket = TestBucket::create(&server, "interrupt");
    let model: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 251) as u8).collect();
    bucket
        .oracle
        .put(&bucket.name, "config.pbtxt", b"name: \"m\"\n");
    bucket.oracle.put(&bucket.name, "model.onnx", &model);

    let proxy = CountingProxy::start(&server.url);
    let wd = Workdir::new("interrupt");
    wd.write_passwd("passwd", &server.passwd_line(), 0o600);
    let m = MountCommand::new(mountd_bin(), wd.path(), wd.mountpoint())
        .args(s3fs_command_line(
            &bucket.name,
            &wd.mountpoint(),
            proxy.url(),
        ))
        .args(TIMEOUTS)
        .expect_mount(MOUNT_TIMEOUT);
    let mp = wd.mountpoint();

    // A lookup (metadata) that hangs, and SIGKILL.
    proxy.set_fault(Some(Fault::stall("HEAD")));
    let stat = spawn_stuck("stat", &mp.join("config.pbtxt"));
    kill_while_stalled(stat, libc::SIGKILL, &proxy, &m, "stat of a file");
    proxy.set_fault(None);

    // The mount goes on serving: the abandoned lookup left nothing wrong behind.
    let config = mp.join("config.pbtxt");
    let got = bounded("reading config.pbtxt", RECOVERY, move || {
        std::fs::read(config)
    });
    assert_eq!(got.unwrap(), b"name: \"m\"\n");

    // A read that hangs, and SIGTERM (fatal by default, so the process is dying too).
    let _ = std::fs::metadata(mp.join("model.onnx")).unwrap();
    proxy.set_fault(Some(Fault::stall("GET")));
    let cat = spawn_stuck("cat", &mp.join("model.onnx"));
    kill_while_stalled(cat, libc::SIGTERM, &proxy, &m, "cat of a file");
    proxy.set_fault(None);

    // Pages the killed cat's readahead asked for stay locked in the kernel until the daemon
    // answers those requests (no process waits on them, so no INTERRUPT comes): they wait
    // for the hung GET to time out and be retried.
    let file = mp.join("model.onnx");
    let t = Instant::now();
    let got = bounded("reading model.onnx", RECOVERY, move || std::fs::read(file));
    assert!(
        got.unwrap() == model,
        "model.onnx read back whole after the kill"
    );
    eprintln!("model.onnx read back in {:?}", t.elapsed());

    // A writer killed while its close waits on an upload that hangs: let go at once, and
    // the upload still happens (retried once the hung attempt times out).
    proxy.set_fault(Some(Fault::stall("PUT")));
    let out = mp.join("written.bin");
    let writer = Command::new("python3")
        .args([
            "-c",
            "import sys; f = open(sys.argv[1], 'wb'); f.write(bytes(range(256)) * 12288); f.close()",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3");
    kill_while_stalled(writer, libc::SIGKILL, &proxy, &m, "close of a written file");
    proxy.set_fault(None);
    let want: Vec<u8> = (0..=255u8).cycle().take(256 * 12288).collect();
    let uploaded = wait_until(RECOVERY, || {
        bucket
            .oracle
            .manifest(&bucket.name, "written.bin")
            .iter()
            .any(|e| e.key == "written.bin" && e.size == want.len() as u64)
    });
    assert!(
        uploaded,
        "the killed writer's file was never uploaded\n{}",
        m.log()
    );
    let got = bounded("reading written.bin", RECOVERY, move || std::fs::read(out));
    assert!(got.unwrap() == want, "written.bin holds what was written");
    stop_cleanly(m);
}
