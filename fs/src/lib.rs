//! The filesystem: s3fs's on-bucket conventions over an [`s3client::ObjectClient`].
//!
//! - [`Filesystem`] holds all the semantics and no FUSE types, so it runs in tests against
//!   an in-memory client.
//! - [`fuse`] is the thin fuse3 adapter, and [`fuse::mount`] mounts a filesystem.

mod attr;
mod changes;
mod config;
mod error;
mod filesystem;
pub mod fuse;
mod inode;
mod interrupt;
mod listing;
mod mime;
mod negative;
mod reader;
mod resolve;
mod stat_ahead;
mod writer;

pub use attr::{Attr, Kind, Stat};
pub use changes::{Caller, SetAttrs};
pub use config::{FsConfig, MountConfig};
pub use error::FsError;
pub use filesystem::{DirItem, Entry, Filesystem, FsStats, Opened};
pub use inode::ROOT_INO;
pub use mime::{ContentTypes, DEFAULT_CONTENT_TYPE};
pub use reader::ReadConfig;
pub use writer::check_staging_dir;
