//! Differential oracle: Debian's s3fs 1.90 runs the same scenarios as mountd, with the same
//! command line. This validates the harness (servers, seeding, mounting, walking, counting,
//! SIGTERM, cleanup) against a real FUSE S3 client today, and is the reference mountd's
//! behaviour is compared with. Kept small: s3fs 1.90 sends one HEAD per listed entry.

use integration::scenarios::{
    assert_refused, large_read_transfers_its_size, model_repo_roundtrip, require_s3fs,
    start_with_fault, Fault,
};
use integration::servers::{require_server, Kind};

/// Small repository: s3fs lists slowly.
const LARGE_MB: u32 = 4;
const MANY: u32 = 40;

fn model_repo(kind: Kind) {
    let (Some(server), Some(s3fs)) = (require_server(kind), require_s3fs()) else {
        return;
    };
    model_repo_roundtrip(&server, &s3fs, LARGE_MB, MANY);
}

#[test]
fn s3fs_model_repo_moto() {
    model_repo(Kind::Moto);
}

#[test]
fn s3fs_model_repo_garage() {
    model_repo(Kind::Garage);
}

#[test]
fn s3fs_model_repo_minio() {
    model_repo(Kind::Minio);
}

fn large_read(kind: Kind) {
    let (Some(server), Some(s3fs)) = (require_server(kind), require_s3fs()) else {
        return;
    };
    large_read_transfers_its_size(&server, &s3fs, 16);
}

#[test]
fn s3fs_large_read_through_counting_proxy_moto() {
    large_read(Kind::Moto);
}

#[test]
fn s3fs_large_read_through_counting_proxy_garage() {
    large_read(Kind::Garage);
}

/// s3fs refuses a passwd file that others may read, naming the file (exit 1, no mount).
#[test]
fn s3fs_refuses_world_readable_passwd_garage() {
    let (Some(server), Some(s3fs)) = (require_server(Kind::Garage), require_s3fs()) else {
        return;
    };
    let e = start_with_fault(&server, &s3fs, Fault::WorldReadablePasswd);
    assert_refused(Fault::WorldReadablePasswd, &e);
}

/// s3fs refuses a `tmpdir` that does not exist (exit 1, no mount), as mountd does.
#[test]
fn s3fs_refuses_missing_tmpdir_garage() {
    let (Some(server), Some(s3fs)) = (require_server(Kind::Garage), require_s3fs()) else {
        return;
    };
    let e = start_with_fault(&server, &s3fs, Fault::MissingTmpdir);
    assert_refused(Fault::MissingTmpdir, &e);
}

/// s3fs (through libfuse) rejects an unknown `-o` option by name (exit 1, no mount).
#[test]
fn s3fs_rejects_unknown_option_garage() {
    let (Some(server), Some(s3fs)) = (require_server(Kind::Garage), require_s3fs()) else {
        return;
    };
    let e = start_with_fault(&server, &s3fs, Fault::UnknownOption);
    assert_refused(Fault::UnknownOption, &e);
}
