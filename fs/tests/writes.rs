//! Changes through the filesystem over an in-memory bucket: what lands in the bucket, in
//! s3fs's format, and that a failed upload is an error, never silent loss.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, UNIX_EPOCH};

use s3client::mock::{MockClient, Op};
use s3fs_core::{Caller, Filesystem, FsConfig, FsError, Kind, SetAttrs, ROOT_INO};

const ME: Caller = Caller {
    uid: 1000,
    gid: 100,
};

fn fs_over(c: &MockClient) -> Filesystem<MockClient> {
    let config = FsConfig {
        metadata_ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(60),
        ..FsConfig::default()
    };
    Filesystem::new(c.clone(), config)
}

fn body(c: &MockClient, key: &str) -> Option<Vec<u8>> {
    c.object(key).map(|o| o.data.to_vec())
}

async fn write_file(fs: &Filesystem<MockClient>, parent: u64, name: &str, data: &[u8]) -> u64 {
    let (entry, opened) = fs
        .create(parent, name, 0o644, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    for (i, chunk) in data.chunks(1000).enumerate() {
        fs.write(opened.fh, (i * 1000) as u64, chunk).await.unwrap();
    }
    fs.flush(opened.fh).await.unwrap();
    fs.release(opened.fh).await.unwrap();
    entry.attr.ino
}

#[tokio::test]
async fn a_new_file_is_uploaded_on_close_with_s3fs_metadata() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let (entry, opened) = fs
        .create(ROOT_INO, "new.bin", 0o640, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    fs.write(opened.fh, 0, &data).await.unwrap();
    assert_eq!(
        body(&c, "new.bin"),
        None,
        "nothing is uploaded before close"
    );
    assert_eq!(
        fs.getattr(entry.attr.ino).await.unwrap().attr.size,
        5000,
        "size while writing"
    );
    fs.flush(opened.fh).await.unwrap();
    fs.release(opened.fh).await.unwrap();
    assert_eq!(body(&c, "new.bin").unwrap(), data);
    let meta = c.object("new.bin").unwrap().metadata;
    assert_eq!(meta["mode"], (0o100640).to_string());
    assert_eq!(
        (meta["uid"].as_str(), meta["gid"].as_str()),
        ("1000", "100")
    );
    assert!(meta["mtime"].parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(
        c.counters().put.load(Relaxed),
        1,
        "one PUT for the whole file"
    );
    // A fresh mount sees what was written, with the metadata.
    let other = fs_over(&c);
    let e = other.lookup(ROOT_INO, "new.bin").await.unwrap();
    assert_eq!(
        (e.attr.size, e.attr.perm, e.attr.uid, e.attr.gid),
        (5000, 0o640, 1000, 100)
    );
}

#[tokio::test]
async fn an_empty_created_file_exists_after_close() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    write_file(&fs, ROOT_INO, "empty", b"").await;
    assert_eq!(body(&c, "empty").unwrap(), b"");
}

#[tokio::test]
async fn a_failed_upload_is_the_error_of_close_and_a_retry_succeeds() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    let (_, opened) = fs
        .create(ROOT_INO, "f", 0o644, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    fs.write(opened.fh, 0, b"precious").await.unwrap();
    c.fail_next(Op::Put, MockClient::server_error());
    let err = fs.flush(opened.fh).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO);
    assert_eq!(body(&c, "f"), None);
    // fsync (or the final release) tries again with the staged data.
    fs.flush(opened.fh).await.unwrap();
    assert_eq!(body(&c, "f").unwrap(), b"precious");
    fs.release(opened.fh).await.unwrap();
}

#[tokio::test]
async fn release_reports_an_upload_that_still_fails() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    let (_, opened) = fs
        .create(ROOT_INO, "f", 0o644, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    fs.write(opened.fh, 0, b"x").await.unwrap();
    c.fail_always(Op::Put, MockClient::server_error());
    assert!(fs.flush(opened.fh).await.is_err());
    assert!(fs.release(opened.fh).await.is_err());
}

#[tokio::test]
async fn overwrite_in_the_middle_append_and_truncate_keep_the_rest() {
    let c = MockClient::new();
    c.put("f", "0123456789");
    let fs = fs_over(&c);
    let ino = fs.lookup(ROOT_INO, "f").await.unwrap().attr.ino;
    let fh = fs.open(ino, libc::O_RDWR as u32).await.unwrap().fh;
    fs.write(fh, 3, b"xy").await.unwrap();
    fs.write(fh, 10, b"++").await.unwrap();
    assert_eq!(
        &fs.read(fh, 0, 100).await.unwrap()[..],
        b"012xy56789++",
        "reads see the writes"
    );
    fs.release(fh).await.unwrap();
    assert_eq!(body(&c, "f").unwrap(), b"012xy56789++");
    // truncate(path) without an open handle: down, then up (zero-filled).
    fs.setattr(
        ino,
        None,
        SetAttrs {
            size: Some(4),
            ..SetAttrs::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(body(&c, "f").unwrap(), b"012x");
    fs.setattr(
        ino,
        None,
        SetAttrs {
            size: Some(6),
            ..SetAttrs::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(body(&c, "f").unwrap(), b"012x\0\0");
    // O_TRUNC rewrites from nothing.
    let fh = fs
        .open(ino, (libc::O_WRONLY | libc::O_TRUNC) as u32)
        .await
        .unwrap()
        .fh;
    fs.write(fh, 0, b"new").await.unwrap();
    fs.release(fh).await.unwrap();
    assert_eq!(body(&c, "f").unwrap(), b"new");
}

#[tokio::test]
async fn chmod_chown_and_utimens_rewrite_the_metadata_headers() {
    let c = MockClient::new();
    c.insert(
        "f",
        s3client::mock::MockObject::new("data").content_type("text/plain"),
    );
    let fs = fs_over(&c);
    let ino = fs.lookup(ROOT_INO, "f").await.unwrap().attr.ino;
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let e = fs
        .setattr(
            ino,
            None,
            SetAttrs {
                mode: Some(0o600),
                uid: Some(7),
                mtime: Some(when),
                ..SetAttrs::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((e.attr.perm, e.attr.uid, e.attr.mtime), (0o600, 7, when));
    let o = c.object("f").unwrap();
    assert_eq!(&o.data[..], b"data", "content unchanged");
    assert_eq!(
        o.content_type.as_deref(),
        Some("text/plain"),
        "content type kept"
    );
    assert_eq!(o.metadata["mode"], (0o100600).to_string());
    assert_eq!(o.metadata["uid"], "7");
    assert_eq!(o.metadata["mtime"], "1500000000");
}

/// A chmod by path of a file replaced since it was last seen (by another process's upload)
/// applies to the object there now instead of failing with ESTALE.
#[tokio::test]
async fn chmod_of_a_file_replaced_behind_the_cache_applies_to_the_new_content() {
    let c = MockClient::new();
    c.put("f", "old");
    let fs = fs_over(&c);
    let ino = fs.lookup(ROOT_INO, "f").await.unwrap().attr.ino;
    c.put("f", "replaced"); // the cached ETag is now out of date
    let chmod = SetAttrs {
        mode: Some(0o600),
        ..SetAttrs::default()
    };
    let e = fs.setattr(ino, None, chmod).await.unwrap();
    assert_eq!((e.attr.perm, e.attr.size), (0o600, 8));
    let o = c.object("f").unwrap();
    assert_eq!(&o.data[..], b"replaced");
    assert_eq!(o.metadata["mode"], (0o100600).to_string());
}

/// `touch` of an existing file opens it for writing and sets its times through the handle:
/// its close rewrites the metadata in place and uploads no content, so another writer's
/// data saved meanwhile stays (uploading the copy staged at open would undo it).
#[tokio::test]
async fn a_handle_that_changed_only_metadata_keeps_the_objects_current_content() {
    let c = MockClient::new();
    c.insert(
        "f",
        s3client::mock::MockObject::new("old").content_type("text/plain"),
    );
    let fs = fs_over(&c);
    let ino = fs.lookup(ROOT_INO, "f").await.unwrap().attr.ino;
    let touch = fs.open(ino, libc::O_WRONLY as u32).await.unwrap().fh;
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let times = SetAttrs {
        mtime: Some(when),
        ..SetAttrs::default()
    };
    fs.setattr(ino, Some(touch), times).await.unwrap();

    // Another writer replaces the content and closes first.
    let other = fs
        .open(ino, (libc::O_WRONLY | libc::O_TRUNC) as u32)
        .await
        .unwrap()
        .fh;
    fs.write(other, 0, b"new content").await.unwrap();
    fs.flush(other).await.unwrap();
    fs.release(other).await.unwrap();

    let (puts, put_bytes) = (
        c.counters().put.load(Relaxed),
        c.counters().put_bytes.load(Relaxed),
    );
    fs.flush(touch).await.unwrap();
    fs.release(touch).await.unwrap();
    assert_eq!(c.counters().put.load(Relaxed), puts, "no content uploaded");
    assert_eq!(c.counters().put_bytes.load(Relaxed), put_bytes);
    let o = c.object("f").unwrap();
    assert_eq!(&o.data[..], b"new content", "the other writer's data stays");
    assert_eq!(
        o.metadata["mtime"], "1500000000",
        "the touch's times are set"
    );
    let e = fs.getattr(ino).await.unwrap();
    assert_eq!((e.attr.size, e.attr.mtime), (11, when));
}

#[tokio::test]
async fn mkdir_writes_a_marker_and_rmdir_removes_only_empty_directories() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    let d = fs.mkdir(ROOT_INO, "models", 0o755, ME).await.unwrap();
    assert_eq!(d.attr.kind, Kind::Directory);
    let marker = c.object("models/").unwrap();
    assert_eq!(
        marker.content_type.as_deref(),
        Some("application/x-directory")
    );
    assert_eq!(marker.metadata["mode"], (0o040755).to_string());
    assert!(matches!(
        fs.mkdir(ROOT_INO, "models", 0o755, ME).await,
        Err(FsError::Exists)
    ));
    write_file(&fs, d.attr.ino, "m.onnx", b"weights").await;
    assert!(matches!(
        fs.rmdir(ROOT_INO, "models").await,
        Err(FsError::NotEmpty)
    ));
    fs.unlink(d.attr.ino, "m.onnx").await.unwrap();
    assert_eq!(
        c.keys(),
        ["models/"],
        "the marker keeps the emptied directory"
    );
    fs.rmdir(ROOT_INO, "models").await.unwrap();
    assert!(c.keys().is_empty());
    assert!(matches!(
        fs.lookup(ROOT_INO, "models").await,
        Err(FsError::NotFound)
    ));
}

#[tokio::test]
async fn rename_moves_the_object_and_open_handles_follow() {
    let c = MockClient::new();
    c.insert(
        "a",
        s3client::mock::MockObject::new("A")
            .meta("mode", "33188")
            .meta("uid", "5"),
    );
    let fs = fs_over(&c);
    fs.rename(ROOT_INO, "a", ROOT_INO, "b", false)
        .await
        .unwrap();
    assert_eq!(c.keys(), ["b"]);
    assert_eq!(
        c.object("b").unwrap().metadata["uid"],
        "5",
        "metadata travels with the copy"
    );
    // A file still open for writing is uploaded under its new name on close.
    let (_, opened) = fs
        .create(ROOT_INO, "tmp", 0o644, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    fs.write(opened.fh, 0, b"part1").await.unwrap();
    fs.rename(ROOT_INO, "tmp", ROOT_INO, "final", false)
        .await
        .unwrap();
    fs.write(opened.fh, 5, b"part2").await.unwrap();
    fs.release(opened.fh).await.unwrap();
    assert_eq!(c.keys(), ["b", "final"]);
    assert_eq!(body(&c, "final").unwrap(), b"part1part2");
    // Replacing is allowed unless RENAME_NOREPLACE.
    assert!(matches!(
        fs.rename(ROOT_INO, "b", ROOT_INO, "final", true).await,
        Err(FsError::Exists)
    ));
    fs.rename(ROOT_INO, "b", ROOT_INO, "final", false)
        .await
        .unwrap();
    assert_eq!(body(&c, "final").unwrap(), b"A");
    // Directories: mv copies the tree itself when told EXDEV.
    fs.mkdir(ROOT_INO, "d", 0o755, ME).await.unwrap();
    assert_eq!(
        fs.rename(ROOT_INO, "d", ROOT_INO, "e", false)
            .await
            .unwrap_err()
            .errno(),
        libc::EXDEV
    );
}

#[tokio::test]
async fn symlinks_are_stored_as_s3fs_does() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    let e = fs
        .symlink(ROOT_INO, "link", "target/path", ME)
        .await
        .unwrap();
    assert_eq!(e.attr.kind, Kind::Symlink);
    let o = c.object("link").unwrap();
    assert_eq!(&o.data[..], b"target/path");
    assert_eq!(o.metadata["mode"], (0o120777).to_string());
    let fresh = fs_over(&c);
    let read_back = fresh.lookup(ROOT_INO, "link").await.unwrap();
    assert_eq!(read_back.attr.kind, Kind::Symlink);
    assert_eq!(
        &fresh.readlink(read_back.attr.ino).await.unwrap()[..],
        b"target/path"
    );
}

#[tokio::test]
async fn unlink_of_a_missing_or_directory_name_fails_cleanly() {
    let c = MockClient::new();
    c.put("d/x", "1");
    let fs = fs_over(&c);
    assert!(matches!(
        fs.unlink(ROOT_INO, "nope").await,
        Err(FsError::NotFound)
    ));
    assert!(matches!(
        fs.unlink(ROOT_INO, "d").await,
        Err(FsError::IsADirectory)
    ));
    assert!(matches!(
        fs.rmdir(ROOT_INO, "nope").await,
        Err(FsError::NotFound)
    ));
}

#[tokio::test]
async fn a_read_only_mount_refuses_every_change() {
    let c = MockClient::new();
    c.put("f", "x");
    let fs = Filesystem::new(
        c.clone(),
        FsConfig {
            read_only: true,
            ..FsConfig::default()
        },
    );
    let ino = fs.lookup(ROOT_INO, "f").await.unwrap().attr.ino;
    assert!(matches!(
        fs.create(ROOT_INO, "n", 0o644, 1, ME).await,
        Err(FsError::ReadOnly)
    ));
    assert!(matches!(
        fs.open(ino, libc::O_WRONLY as u32).await,
        Err(FsError::ReadOnly)
    ));
    assert!(matches!(
        fs.mkdir(ROOT_INO, "d", 0o755, ME).await,
        Err(FsError::ReadOnly)
    ));
    assert!(matches!(
        fs.unlink(ROOT_INO, "f").await,
        Err(FsError::ReadOnly)
    ));
    assert!(matches!(
        fs.setattr(
            ino,
            None,
            SetAttrs {
                mode: Some(0o600),
                ..SetAttrs::default()
            }
        )
        .await,
        Err(FsError::ReadOnly)
    ));
    assert_eq!(c.counters().put.load(Relaxed), 0);
}

#[tokio::test]
async fn shutdown_uploads_files_still_open_for_writing() {
    let c = MockClient::new();
    let fs = fs_over(&c);
    let (_, a) = fs
        .create(ROOT_INO, "a", 0o644, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    let (_, b) = fs
        .create(ROOT_INO, "b", 0o644, libc::O_WRONLY as u32, ME)
        .await
        .unwrap();
    fs.write(a.fh, 0, b"unsaved a").await.unwrap();
    fs.write(b.fh, 0, b"unsaved b").await.unwrap();
    assert_eq!(fs.flush_all().await, 0);
    assert_eq!(body(&c, "a").unwrap(), b"unsaved a");
    assert_eq!(body(&c, "b").unwrap(), b"unsaved b");
    c.fail_always(Op::Put, MockClient::server_error());
    fs.write(a.fh, 9, b"+").await.unwrap();
    assert_eq!(
        fs.flush_all().await,
        1,
        "the failure is counted (and logged)"
    );
}
