//! mountd's start against what an earlier mount left at the mount point, with the s3fs
//! command line of the issue: a daemon killed with SIGKILL (a pod that died) leaves a stale
//! mount ("Transport endpoint is not connected") that the next start must clear and replace;
//! a mount point that a running daemon still serves must be refused, not mounted over.

use std::time::Duration;

use integration::mount::{mount_ids_at, mountd_bin, s3fs_command_line, MountCommand, Workdir};
use integration::oracle::TestBucket;
use integration::scenarios::{stop_cleanly, MOUNT_TIMEOUT, REFUSAL_TIMEOUT};
use integration::servers::{require_server, Kind, Server};
use integration::util::bounded;

const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn mount_command(server: &Server, bucket: &str, wd: &Workdir) -> MountCommand {
    wd.write_passwd("passwd", &server.passwd_line(), 0o600);
    MountCommand::new(mountd_bin(), wd.path(), wd.mountpoint()).args(s3fs_command_line(
        bucket,
        &wd.mountpoint(),
        &server.url,
    ))
}

fn read_through(path: std::path::PathBuf) -> std::io::Result<Vec<u8>> {
    bounded("a read through the mount", READ_TIMEOUT, move || {
        std::fs::read(path)
    })
}

#[test]
fn a_stale_mount_left_by_a_killed_daemon_is_replaced() {
    let Some(server) = require_server(Kind::Moto) else {
        return;
    };
    let bucket = TestBucket::create(&server, "stale");
    bucket
        .oracle
        .put(&bucket.name, "config.pbtxt", b"name: \"m\"\n");
    let wd = Workdir::new("stale");
    let first = mount_command(&server, &bucket.name, &wd).expect_mount(MOUNT_TIMEOUT);
    let file = wd.mountpoint().join("config.pbtxt");
    assert_eq!(read_through(file.clone()).unwrap(), b"name: \"m\"\n");
    first.kill_leaving_mount();

    let err = std::fs::metadata(wd.mountpoint()).expect_err("the mount point of a dead daemon");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOTCONN),
        "a killed daemon leaves a stale mount: {err}"
    );
    let second = mount_command(&server, &bucket.name, &wd)
        .over_existing_mounts()
        .expect_mount(MOUNT_TIMEOUT);
    assert_eq!(
        mount_ids_at(&wd.mountpoint()).len(),
        1,
        "the stale mount is detached, not stacked under the new one"
    );
    assert_eq!(read_through(file).unwrap(), b"name: \"m\"\n");
    assert!(
        second.stderr().contains("detached a stale FUSE mount"),
        "the start says what it cleared:\n{}",
        second.log()
    );
    stop_cleanly(second);
}

#[test]
fn a_mount_point_a_running_daemon_serves_is_refused() {
    let Some(server) = require_server(Kind::Moto) else {
        return;
    };
    let bucket = TestBucket::create(&server, "busy");
    bucket.oracle.put(&bucket.name, "labels.txt", b"cat\ndog\n");
    let wd = Workdir::new("busy");
    let mut first = mount_command(&server, &bucket.name, &wd).expect_mount(MOUNT_TIMEOUT);
    let ids = mount_ids_at(&wd.mountpoint());

    let refused = mount_command(&server, &bucket.name, &wd)
        .over_existing_mounts()
        .expect_exit(REFUSAL_TIMEOUT);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is already mounted") && refused.stderr.contains("fusermount3 -u"),
        "the refusal names the cause and the fix:\n{}",
        refused.stderr
    );
    assert_eq!(mount_ids_at(&wd.mountpoint()), ids, "nothing was stacked");

    // The same mount point named through a symlink (the kernel would mount on its target).
    let link = wd.path().join("link");
    std::os::unix::fs::symlink(wd.mountpoint(), &link).unwrap();
    wd.write_passwd("passwd", &server.passwd_line(), 0o600);
    let refused = MountCommand::new(mountd_bin(), wd.path(), wd.mountpoint())
        .args(s3fs_command_line(&bucket.name, &link, &server.url))
        .over_existing_mounts()
        .expect_exit(REFUSAL_TIMEOUT);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is already mounted"),
        "{}",
        refused.stderr
    );
    assert_eq!(mount_ids_at(&wd.mountpoint()), ids, "nothing was stacked");
    first.assert_running();
    let file = wd.mountpoint().join("labels.txt");
    assert_eq!(read_through(file).unwrap(), b"cat\ndog\n");
    stop_cleanly(first);
}
