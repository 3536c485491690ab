//! mountd end to end: a Triton-style model repository mounted with the s3fs command line
//! of the issue,
//! `mountd -f -d BUCKET MP -o endpoint=us-east-1 -o passwd_file=passwd -o url=URL -o nomultipart -o use_path_request_style`,
//! must show exactly the bucket's tree and bytes, read a large file without fetching it
//! twice, and exit 0 on SIGTERM leaving nothing mounted. One test per server.

use integration::mount::mountd_bin;
use integration::scenarios::{
    large_read_transfers_its_size, model_repo_roundtrip, random_reads_return_the_right_bytes,
};
use integration::servers::{require_server, Kind};

/// The repository of the issue: a 48 MiB model.onnx and 1,500 files in one directory.
const LARGE_MB: u32 = 48;
const MANY: u32 = 1500;

fn model_repo(kind: Kind) {
    let Some(server) = require_server(kind) else {
        return;
    };
    model_repo_roundtrip(&server, &mountd_bin(), LARGE_MB, MANY);
}

#[test]
fn mountd_model_repo_moto() {
    model_repo(Kind::Moto);
}

#[test]
fn mountd_model_repo_garage() {
    model_repo(Kind::Garage);
}

#[test]
fn mountd_model_repo_minio() {
    model_repo(Kind::Minio);
}

fn large_read(kind: Kind) {
    let Some(server) = require_server(kind) else {
        return;
    };
    large_read_transfers_its_size(&server, &mountd_bin(), LARGE_MB);
}

#[test]
fn mountd_large_read_transfers_its_size_moto() {
    large_read(Kind::Moto);
}

#[test]
fn mountd_large_read_transfers_its_size_garage() {
    large_read(Kind::Garage);
}

#[test]
fn mountd_large_read_transfers_its_size_minio() {
    large_read(Kind::Minio);
}

fn random_reads(kind: Kind) {
    let Some(server) = require_server(kind) else {
        return;
    };
    random_reads_return_the_right_bytes(&server, &mountd_bin());
}

#[test]
fn mountd_random_reads_return_the_right_bytes_moto() {
    random_reads(Kind::Moto);
}

#[test]
fn mountd_random_reads_return_the_right_bytes_garage() {
    random_reads(Kind::Garage);
}

#[test]
fn mountd_random_reads_return_the_right_bytes_minio() {
    random_reads(Kind::Minio);
}
