//! mountd must refuse a bad configuration at start: exit status 1, a message on stderr that
//! says why, nothing mounted, within a bounded time. All with the exact command line of
//! the issue (`-f -d ... -o passwd_file=passwd ...`). On servers that check signatures
//! (Garage; MinIO in the GitHub workflow), since moto accepts any secret.

use integration::mount::mountd_bin;
use integration::scenarios::{assert_refused, start_with_fault, Fault};
use integration::servers::{require_server, Kind};

fn refused(kind: Kind, fault: Fault) {
    let Some(server) = require_server(kind) else {
        return;
    };
    let e = start_with_fault(&server, &mountd_bin(), fault);
    assert_refused(fault, &e);
}

#[test]
fn mountd_wrong_secret_garage() {
    refused(Kind::Garage, Fault::WrongSecret);
}

#[test]
fn mountd_world_readable_passwd_garage() {
    refused(Kind::Garage, Fault::WorldReadablePasswd);
}

#[test]
fn mountd_missing_bucket_garage() {
    refused(Kind::Garage, Fault::MissingBucket);
}

#[test]
fn mountd_unknown_option_garage() {
    refused(Kind::Garage, Fault::UnknownOption);
}

#[test]
fn mountd_wrong_secret_minio() {
    refused(Kind::Minio, Fault::WrongSecret);
}

#[test]
fn mountd_world_readable_passwd_minio() {
    refused(Kind::Minio, Fault::WorldReadablePasswd);
}

#[test]
fn mountd_missing_bucket_minio() {
    refused(Kind::Minio, Fault::MissingBucket);
}

#[test]
fn mountd_unknown_option_minio() {
    refused(Kind::Minio, Fault::UnknownOption);
}

#[test]
fn mountd_missing_tmpdir_garage() {
    refused(Kind::Garage, Fault::MissingTmpdir);
}

#[test]
fn mountd_missing_tmpdir_minio() {
    refused(Kind::Minio, Fault::MissingTmpdir);
}
