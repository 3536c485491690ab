//! The end-to-end test harness of mountd: real S3 servers, real FUSE mounts.
//!
//! - [`servers`]: which S3 servers the environment offers (moto, Garage, MinIO), skip or
//!   panic when one is missing, unique bucket names.
//! - [`oracle`]: boto3's view of a bucket through `tools/s3tool.py`: seed, put, manifest.
//! - [`mount`]: run mountd (or s3fs, the differential oracle) with an s3fs command line,
//!   wait for the mount, SIGTERM it, and never leave a mount behind.
//! - [`tree`]: walk a mounted tree and compare it with the tree a manifest implies.
//! - [`proxy`]: a TCP proxy that counts connections, bytes and HTTP requests, and can
//!   refuse requests of one method (fault injection).
//! - [`posix`]: POSIX attributes as a mount shows them (by lookup or by listing), and the
//!   system calls whose errors the write tests check.
//! - [`scenarios`]: whole test bodies shared by the mountd tests and the s3fs oracle tests.
//! - [`session`]: one bucket and working directory mounted as often as a test needs
//!   (remounts, s3fs then mountd), with extra `-o` options.
//!
//! Servers come from `scripts/servers.sh` (developers) or `scripts/test.sh` (CI).

pub mod mount;
pub mod oracle;
pub mod posix;
pub mod proxy;
pub mod scenarios;
pub mod servers;
pub mod session;
pub mod tree;
pub mod util;

pub use util::{bounded, sha256_file, sha256_hex};
