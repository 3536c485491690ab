//! The filesystem: s3fs's on-bucket conventions over an [`s3client::ObjectClient`].
//!
//! Public surface (for `mountd`):
//! - [`FsConfig`], [`MountConfig`]
//! - [`Filesystem::new(client, FsConfig)`](Filesystem::new)
//! - [`fuse::mount(filesystem, mountpoint, &MountConfig)`](fuse::mount) returning a
//!   [`fuse::MountHandle`]: a future that completes when the filesystem is unmounted from
//!   outside (`fusermount3 -u`), and `unmount().await` to unmount it ourselves.

mod config;

pub use config::{FsConfig, MountConfig};
