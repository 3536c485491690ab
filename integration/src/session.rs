//! One test bucket and one working directory, mounted as often as a test needs: remounts
//! (what a fresh mount sees), s3fs then mountd on the same bucket (differential tests),
//! extra `-o` options (`ro`, `retries=1`) and a proxy URL instead of the server's.
//!
//! ```no_run
//! # use integration::{mount::mountd_bin, servers::*, session::Session};
//! # let server = require_server(Kind::Moto).unwrap();
//! let s = Session::new(&server, "example");
//! let m = s.mount(&mountd_bin(), &server.url, &["ro"]);
//! // ... use m.mountpoint(), s.manifest(""), s.head(&["key"]) ...
//! s.unmount(m); // SIGTERM: exit 0 and nothing left mounted, or a panic with the logs
//! ```
//!
//! Declare the `Mounted` after the `Session` so that, when a test fails, the mount is
//! dropped (killed and detached) before the working directory and the bucket.

use std::path::{Path, PathBuf};

use crate::mount::{s3fs_command_line, MountCommand, Mounted, Workdir};
use crate::oracle::{HeadInfo, ManifestEntry, Oracle, TestBucket};
use crate::scenarios::{EXIT_TIMEOUT, MOUNT_TIMEOUT};
use crate::servers::Server;

pub struct Session {
    pub server: Server,
    pub bucket: TestBucket,
    pub wd: Workdir,
}

impl Session {
    /// Creates the bucket `mountd-<test>-<server>-...` and a working directory.
    pub fn new(server: &Server, test: &str) -> Session {
        let bucket = TestBucket::create(server, &format!("{test}-{}", server.name));
        let wd = Workdir::new(test);
        Session {
            server: server.clone(),
            bucket,
            wd,
        }
    }

    pub fn oracle(&self) -> &Oracle {
        &self.bucket.oracle
    }

    /// Mounts the bucket with `program` and the issue's command line
    /// (`-f -d BUCKET MP -o endpoint=us-east-1 -o passwd_file=passwd -o url=URL -o nomultipart
    /// -o use_path_request_style`), `url` being the server's or a proxy's, plus `-o OPT` for
    /// each of `extra`.
    pub fn mount(&self, program: &Path, url: &str, extra: &[&str]) -> Mounted {
        self.wd
            .write_passwd("passwd", &self.server.passwd_line(), 0o600);
        let mut cmd = MountCommand::new(program, self.wd.path(), self.wd.mountpoint()).args(
            s3fs_command_line(&self.bucket.name, &self.wd.mountpoint(), url),
        );
        for o in extra {
            cmd = cmd.args(["-o", o]);
        }
        cmd.expect_mount(MOUNT_TIMEOUT)
    }

    /// SIGTERM; asserts that nothing is left mounted and exit status 0 ([`Mounted::stop`]).
    pub fn unmount(&self, m: Mounted) {
        m.stop(EXIT_TIMEOUT);
    }

    /// A path in the working directory (outside the mount), e.g. for local reference files.
    pub fn local(&self, name: &str) -> PathBuf {
        self.wd.path().join(name)
    }

    /// boto3's manifest of the bucket below `prefix`.
    pub fn manifest(&self, prefix: &str) -> Vec<ManifestEntry> {
        self.oracle().manifest(&self.bucket.name, prefix)
    }

    /// The manifest entry of exactly `key`, if the key exists.
    pub fn object(&self, key: &str) -> Option<ManifestEntry> {
        self.manifest(key).into_iter().find(|e| e.key == key)
    }

    /// boto3's HEAD of each key.
    pub fn head(&self, keys: &[&str]) -> Vec<HeadInfo> {
        self.oracle().head(&self.bucket.name, keys)
    }

    pub fn head_one(&self, key: &str) -> HeadInfo {
        self.oracle().head_one(&self.bucket.name, key)
    }
}
