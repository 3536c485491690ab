//! mountd: s3fs's command line over this project's filesystem.
//!
//! One job per module:
//! - [`args`]: split argv in s3fs's getopt shape (`-f`, `-d`, `-s`, `-o`, `-h`, `--version`).
//! - [`options`]: the table of every `-o` option and the typed [`options::Options`].
//! - [`passwd`]: s3fs passwd files (format and permission rule).
//! - [`credentials`]: the credential lookup order.
//! - [`config`]: from options to `S3Config`, `FsConfig`, `MountConfig` ([`config::Plan`]).
//! - [`logging`]: levels from `-d`/`dbglevel`, `logfile=`, redaction.
//! - [`mountpoint`]: s3fs's mountpoint checks and clearing stale FUSE mounts.
//! - [`daemon`]: fork, and tell the waiting parent when the mount is ready.
//! - [`signals`]: SIGTERM/SIGINT/SIGHUP, and reaping orphans as PID 1.
//! - [`run`]: the lifecycle and exit codes.

pub mod args;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod error;
pub mod logging;
pub mod mountpoint;
pub mod options;
pub mod passwd;
pub mod run;
pub mod signals;

pub use error::StartError;
pub use run::main;
