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

use s3client::ObjectClient;

/// The filesystem over one bucket (or one prefix of it).
pub struct Filesystem<C: ObjectClient> {
    #[allow(dead_code)] // WIP: the implementation lands in the next commits
    client: C,
    #[allow(dead_code)]
    config: FsConfig,
}

impl<C: ObjectClient> Filesystem<C> {
    pub fn new(client: C, config: FsConfig) -> Self {
        Filesystem { client, config }
    }
}

pub mod fuse {
    //! The thin fuse3 adapter (in progress).
    use std::path::Path;

    use s3client::ObjectClient;

    use crate::{Filesystem, MountConfig};

    /// A mounted filesystem. Await it to learn when it was unmounted from outside.
    pub struct MountHandle {
        _private: (),
    }

    impl MountHandle {
        /// Unmount and wait for the session to end.
        pub async fn unmount(self) -> std::io::Result<()> {
            Err(std::io::Error::other("mounting is not implemented yet"))
        }
        /// Completes when the kernel ends the session (e.g. `fusermount3 -u` from outside).
        pub async fn wait(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("mounting is not implemented yet"))
        }
    }

    /// Mount `fs` at `mountpoint`. Returns once the kernel has the mount.
    pub async fn mount<C: ObjectClient>(
        _fs: Filesystem<C>,
        _mountpoint: &Path,
        _config: &MountConfig,
    ) -> std::io::Result<MountHandle> {
        Err(std::io::Error::other("mounting is not implemented yet"))
    }
}
