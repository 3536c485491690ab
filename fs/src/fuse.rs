//! The thin fuse3 adapter: the only code that sees fuse3 types. It converts, calls
//! [`Filesystem`], converts back, and maps errors with [`FsError::errno`].

use std::ffi::OsStr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use fuse3::raw::prelude::*;
use fuse3::{Errno, FileType, MountOptions};
use futures_util::Stream;
use s3client::ObjectClient;

use crate::attr::{Attr, Kind};
use crate::changes::{Caller, SetAttrs};
use crate::error::FsError;
use crate::filesystem::{DirItem, Entry, Filesystem};
use crate::interrupt::Interrupts;
use crate::MountConfig;

/// `fuse_open_out.open_flags`: keep the page cache from an earlier open.
const FOPEN_KEEP_CACHE: u32 = 1 << 1;
/// Largest write and read the kernel may send in one request (its own cap is 1 MiB).
const MAX_IO: u32 = 1 << 20;
/// Requests the kernel keeps in flight in the background (readahead): more than the default
/// 12, so sequential reads and many readers are not throttled by the kernel queue.
const MAX_BACKGROUND: u16 = 64;

fn errno(e: FsError) -> Errno {
    let code = e.errno();
    if e.is_server_failure() {
        // Seen at the default level: otherwise an EIO from a dead server says nothing why.
        tracing::warn!(error = %e, errno = code, "a request failed");
    } else if !matches!(e, FsError::NotFound) {
        tracing::debug!(error = %e, "request failed");
    }
    Errno::from(code)
}

fn name_str(name: &OsStr) -> Result<&str, Errno> {
    // S3 keys are UTF-8: a name that is not cannot exist in the bucket.
    name.to_str().ok_or_else(|| Errno::from(libc::ENOENT))
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Directory => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: a.ino,
        size: a.size,
        blocks: a.blocks,
        atime: a.atime.into(),
        mtime: a.mtime.into(),
        ctime: a.ctime.into(),
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
    }
}

/// Serves a [`Filesystem`] to the kernel.
pub struct FuseAdapter<C: ObjectClient> {
    fs: Arc<Filesystem<C>>,
    interrupts: Arc<Interrupts>,
}

impl<C: ObjectClient> FuseAdapter<C> {
    pub fn new(fs: Arc<Filesystem<C>>) -> Self {
        FuseAdapter {
            fs,
            interrupts: Arc::default(),
        }
    }

    /// Uploads what `fh` has not saved yet (flush, fsync). The upload runs on a task of its
    /// own: a caller killed while it waits (the server hangs) is let go at once, and the
    /// upload still runs to its end; the RELEASE that follows waits for it and retries once
    /// if it failed.
    async fn upload(&self, req: &Request, fh: u64) -> fuse3::Result<()> {
        let fs = self.fs.clone();
        let upload = tokio::spawn(async move { fs.flush(fh).await });
        self.cancellable(req, async {
            match upload.await {
                Ok(result) => result.map_err(errno),
                Err(_) => Err(Errno::from(libc::EIO)), // the task panicked
            }
        })
        .await
    }

    /// Runs a request that changes nothing in the bucket, so that an INTERRUPT for a caller
    /// being killed answers it EINTR at once (see [`crate::interrupt`]).
    async fn cancellable<T>(
        &self,
        req: &Request,
        work: impl std::future::Future<Output = fuse3::Result<T>>,
    ) -> fuse3::Result<T> {
        let interrupted = Errno::from(libc::EINTR);
        self.interrupts
            .run(req.unique, req.pid, interrupted, work)
            .await
    }
}

impl<C: ObjectClient> fuse3::raw::Filesystem for FuseAdapter<C> {
    async fn init(&self, _req: Request) -> fuse3::Result<ReplyInit> {
        let mut reply = ReplyInit::new(NonZeroU32::new(MAX_IO).unwrap_or(NonZeroU32::MIN));
        reply.max_background = Some(MAX_BACKGROUND);
        reply.congestion_threshold = Some(MAX_BACKGROUND * 3 / 4);
        Ok(reply)
    }

    async fn destroy(&self, _req: Request) {}

    async fn lookup(&self, req: Request, parent: u64, name: &OsStr) -> fuse3::Result<ReplyEntry> {
        self.cancellable(&req, async {
            let entry = self
                .fs
                .lookup(parent, name_str(name)?)
                .await
                .map_err(errno)?;
            Ok(reply_entry(&entry))
        })
        .await
    }

    async fn interrupt(&self, _req: Request, unique: u64) -> fuse3::Result<()> {
        self.interrupts.interrupt(unique);
        Ok(()) // an INTERRUPT's reply only matters as EAGAIN or ENOSYS, which stops them
    }

    async fn forget(&self, _req: Request, inode: u64, nlookup: u64) {
        self.fs.forget(inode, nlookup);
    }

    async fn batch_forget(&self, _req: Request, inodes: &[(u64, u64)]) {
        for &(inode, nlookup) in inodes {
            self.fs.forget(inode, nlookup);
        }
    }

    async fn getattr(
        &self,
        req: Request,
        inode: u64,
        _fh: Option<u64>,
        _flags: u32,
    ) -> fuse3::Result<ReplyAttr> {
        self.cancellable(&req, async {
            let entry = self.fs.getattr(inode).await.map_err(errno)?;
            Ok(ReplyAttr {
                ttl: entry.ttl,
                attr: file_attr(&entry.attr),
            })
        })
        .await
    }

    async fn setattr(
        &self,
        _req: Request,
        inode: u64,
        fh: Option<u64>,
        set_attr: SetAttr,
    ) -> fuse3::Result<ReplyAttr> {
        let changes = SetAttrs {
            mode: set_attr.mode,
            uid: set_attr.uid,
            gid: set_attr.gid,
            size: set_attr.size,
            atime: set_attr.atime.map(system_time),
            mtime: set_attr.mtime.map(system_time),
        };
        let entry = self.fs.setattr(inode, fh, changes).await.map_err(errno)?;
        Ok(ReplyAttr {
            ttl: entry.ttl,
            attr: file_attr(&entry.attr),
        })
    }

    async fn readlink(&self, req: Request, inode: u64) -> fuse3::Result<ReplyData> {
        self.cancellable(&req, async {
            let data = self.fs.readlink(inode).await.map_err(errno)?;
            Ok(ReplyData { data })
        })
        .await
    }

    /// Cancellable even when opening for writing: what it may download is only staged.
    async fn open(&self, req: Request, inode: u64, flags: u32) -> fuse3::Result<ReplyOpen> {
        self.cancellable(&req, async {
            let opened = self.fs.open(inode, flags).await.map_err(errno)?;
            let flags = if opened.keep_cache {
                FOPEN_KEEP_CACHE
            } else {
                0
            };
            Ok(ReplyOpen {
                fh: opened.fh,
                flags,
            })
        })
        .await
    }

    async fn read(
        &self,
        req: Request,
        _inode: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> fuse3::Result<ReplyData> {
        self.cancellable(&req, async {
            let data = self.fs.read(fh, offset, size).await.map_err(errno)?;
            Ok(ReplyData { data })
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        _req: Request,
        _inode: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        _write_flags: u32,
        _flags: u32,
    ) -> fuse3::Result<ReplyWrite> {
        let written = self.fs.write(fh, offset, data).await.map_err(errno)?;
        Ok(ReplyWrite { written })
    }

    /// `close(2)`: the upload happens here, so its failure is close's error.
    async fn flush(
        &self,
        req: Request,
        _inode: u64,
        fh: u64,
        _lock_owner: u64,
    ) -> fuse3::Result<()> {
        self.upload(&req, fh).await
    }

    async fn fsync(
        &self,
        req: Request,
        _inode: u64,
        fh: u64,
        _datasync: bool,
    ) -> fuse3::Result<()> {
        self.upload(&req, fh).await
    }

    async fn release(
        &self,
        _req: Request,
        _inode: u64,
        fh: u64,
        _flags: u32,
        _lock_owner: u64,
        _flush: bool,
    ) -> fuse3::Result<()> {
        self.fs.release(fh).await.map_err(errno)
    }

    async fn statfs(&self, _req: Request, _inode: u64) -> fuse3::Result<ReplyStatFs> {
        let s = self.fs.statfs();
        Ok(ReplyStatFs {
            blocks: s.blocks,
            bfree: s.blocks_free,
            bavail: s.blocks_free,
            files: s.files,
            ffree: s.files_free,
            bsize: s.block_size,
            namelen: s.name_max,
            frsize: s.block_size,
        })
    }

    async fn opendir(&self, _req: Request, inode: u64, _flags: u32) -> fuse3::Result<ReplyOpen> {
        let fh = self.fs.opendir(inode).map_err(errno)?;
        Ok(ReplyOpen { fh, flags: 0 })
    }

    async fn readdir<'a>(
        &'a self,
        req: Request,
        parent: u64,
        fh: u64,
        offset: i64,
    ) -> fuse3::Result<ReplyDirectory<impl Stream<Item = fuse3::Result<DirectoryEntry>> + Send + 'a>>
    {
        let items = self
            .cancellable(&req, async {
                let offset = offset.max(0) as u64;
                self.fs.readdir(parent, fh, offset).await.map_err(errno)
            })
            .await?;
        let fs = self.fs.clone();
        let entries = items.into_iter().map(move |item| {
            // d_ino is informational in plain readdir; no kernel reference is taken.
            let inode = fs
                .dir_item_entry(parent, &item, false)
                .map(|(ino, _)| ino)
                .unwrap_or(0);
            Ok(DirectoryEntry {
                inode,
                kind: file_type(item.kind),
                name: item.name.into(),
                offset: item.next_offset as i64,
            })
        });
        Ok(ReplyDirectory {
            entries: futures_util::stream::iter(entries),
        })
    }

    async fn readdirplus<'a>(
        &'a self,
        req: Request,
        parent: u64,
        fh: u64,
        offset: u64,
        _lock_owner: u64,
    ) -> fuse3::Result<
        ReplyDirectoryPlus<impl Stream<Item = fuse3::Result<DirectoryEntryPlus>> + Send + 'a>,
    > {
        let items = self
            .cancellable(&req, async {
                self.fs.readdir(parent, fh, offset).await.map_err(errno)
            })
            .await?;
        Ok(ReplyDirectoryPlus {
            entries: PlusEntries::new(self.fs.clone(), parent, items),
        })
    }

    async fn releasedir(
        &self,
        _req: Request,
        _inode: u64,
        fh: u64,
        _flags: u32,
    ) -> fuse3::Result<()> {
        self.fs.releasedir(fh);
        Ok(())
    }

    async fn access(&self, _req: Request, _inode: u64, mask: u32) -> fuse3::Result<()> {
        if mask as i32 & libc::W_OK != 0 && self.fs.config().read_only {
            return Err(errno(FsError::ReadOnly));
        }
        Ok(())
    }

    async fn create(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: u32,
    ) -> fuse3::Result<ReplyCreated> {
        let (entry, opened) = self
            .fs
            .create(parent, name_str(name)?, mode, flags, caller(&req))
            .await
            .map_err(errno)?;
        Ok(ReplyCreated {
            ttl: entry.ttl,
            attr: file_attr(&entry.attr),
            generation: 0,
            fh: opened.fh,
            flags: 0,
        })
    }

    async fn mkdir(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
    ) -> fuse3::Result<ReplyEntry> {
        let entry = self
            .fs
            .mkdir(parent, name_str(name)?, mode, caller(&req))
            .await
            .map_err(errno)?;
        Ok(reply_entry(&entry))
    }

    async fn symlink(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        link: &OsStr,
    ) -> fuse3::Result<ReplyEntry> {
        let target = link.to_str().ok_or_else(|| Errno::from(libc::EINVAL))?;
        let entry = self
            .fs
            .symlink(parent, name_str(name)?, target, caller(&req))
            .await
            .map_err(errno)?;
        Ok(reply_entry(&entry))
    }

    async fn unlink(&self, _req: Request, parent: u64, name: &OsStr) -> fuse3::Result<()> {
        self.fs.unlink(parent, name_str(name)?).await.map_err(errno)
    }

    async fn rmdir(&self, _req: Request, parent: u64, name: &OsStr) -> fuse3::Result<()> {
        self.fs.rmdir(parent, name_str(name)?).await.map_err(errno)
    }

    async fn rename(
        &self,
        _req: Request,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
    ) -> fuse3::Result<()> {
        self.fs
            .rename(
                parent,
                name_str(name)?,
                new_parent,
                name_str(new_name)?,
                false,
            )
            .await
            .map_err(errno)
    }

    async fn rename2(
        &self,
        _req: Request,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> fuse3::Result<()> {
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return Err(errno(FsError::NotSupported(
                "rename flags other than RENAME_NOREPLACE",
            )));
        }
        let no_replace = flags & libc::RENAME_NOREPLACE != 0;
        self.fs
            .rename(
                parent,
                name_str(name)?,
                new_parent,
                name_str(new_name)?,
                no_replace,
            )
            .await
            .map_err(errno)
    }

    async fn link(
        &self,
        _req: Request,
        _inode: u64,
        _new_parent: u64,
        _new_name: &OsStr,
    ) -> fuse3::Result<ReplyEntry> {
        Err(errno(FsError::NotSupported(
            "hard links (s3fs has none either)",
        )))
    }
}

fn reply_entry(entry: &Entry) -> ReplyEntry {
    ReplyEntry {
        ttl: entry.ttl,
        attr: file_attr(&entry.attr),
        generation: 0,
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid,
        gid: req.gid,
    }
}

fn system_time(t: fuse3::Timestamp) -> std::time::SystemTime {
    let nanos = Duration::from_nanos(u64::from(t.nsec));
    if t.sec >= 0 {
        std::time::UNIX_EPOCH + Duration::from_secs(t.sec as u64) + nanos
    } else {
        std::time::UNIX_EPOCH - Duration::from_secs(t.sec.unsigned_abs()) + nanos
    }
}

/// readdirplus entries. Each entry the kernel receives counts as a lookup, but fuse3 polls
/// one entry more than fits in the reply and drops it. So an entry's reference is taken
/// when it is produced and given back if the stream is dropped before the next poll, which
/// is exactly when that entry was not sent.
struct PlusEntries<C: ObjectClient> {
    fs: Arc<Filesystem<C>>,
    parent: u64,
    items: std::vec::IntoIter<DirItem>,
    /// Produced, counted, and not yet known to be sent.
    pending: Option<u64>,
}

impl<C: ObjectClient> PlusEntries<C> {
    fn new(fs: Arc<Filesystem<C>>, parent: u64, items: Vec<DirItem>) -> Self {
        PlusEntries {
            fs,
            parent,
            items: items.into_iter(),
            pending: None,
        }
    }
}

impl<C: ObjectClient> Stream for PlusEntries<C> {
    type Item = fuse3::Result<DirectoryEntryPlus>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.pending = None; // polled again: the previous entry was sent
        loop {
            let Some(item) = this.items.next() else {
                return Poll::Ready(None);
            };
            let counted = item.name != "." && item.name != "..";
            let Ok((ino, entry)) = this.fs.dir_item_entry(this.parent, &item, counted) else {
                continue; // vanished from the table meanwhile: skip rather than fail
            };
            let kind = file_type(item.kind);
            let name = item.name.into();
            let offset = item.next_offset as i64;
            let Some(entry) = entry else {
                // Metadata not known yet: a zero node id tells the kernel to look the name up
                // when it needs attributes, instead of caching guessed ones.
                return Poll::Ready(Some(Ok(DirectoryEntryPlus {
                    inode: ino,
                    generation: 0,
                    kind,
                    name,
                    offset,
                    attr: unknown_attr(kind),
                    entry_ttl: Duration::ZERO,
                    attr_ttl: Duration::ZERO,
                })));
            };
            if counted {
                this.pending = Some(ino);
            }
            return Poll::Ready(Some(Ok(DirectoryEntryPlus {
                inode: ino,
                generation: 0,
                kind,
                name,
                offset,
                attr: file_attr(&entry.attr),
                entry_ttl: entry.ttl,
                attr_ttl: entry.ttl,
            })));
        }
    }
}

/// The attributes of a readdirplus entry the kernel must not instantiate: node id 0.
fn unknown_attr(kind: FileType) -> FileAttr {
    let epoch: fuse3::Timestamp = std::time::UNIX_EPOCH.into();
    FileAttr {
        ino: 0,
        size: 0,
        blocks: 0,
        atime: epoch,
        mtime: epoch,
        ctime: epoch,
        kind,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
    }
}

impl<C: ObjectClient> Drop for PlusEntries<C> {
    fn drop(&mut self) {
        if let Some(ino) = self.pending.take() {
            self.fs.forget(ino, 1);
        }
    }
}

/// A mounted filesystem.
pub struct MountHandle {
    session: Option<fuse3::raw::MountHandle>,
    mountpoint: PathBuf,
    drain: Arc<dyn Drain>,
}

/// Uploading what open files have not saved yet, without knowing the client type.
trait Drain: Send + Sync {
    fn flush_all(&self) -> Pin<Box<dyn std::future::Future<Output = usize> + Send + '_>>;
}

impl<C: ObjectClient> Drain for Filesystem<C> {
    fn flush_all(&self) -> Pin<Box<dyn std::future::Future<Output = usize> + Send + '_>> {
        Box::pin(Filesystem::flush_all(self))
    }
}

/// How long a shutdown waits for the uploads of files still open for writing.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);

impl MountHandle {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Completes when the kernel ends the session (e.g. `fusermount3 -u` from outside).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match self.session.as_mut() {
            Some(session) => session.await,
            None => Ok(()),
        }
    }

    /// Unmount and wait (bounded) for the session to end. The unmount is lazy
    /// (`MNT_DETACH`): a busy mount (a shell with its cwd inside) is detached at once instead
    /// of failing, so nothing stale is left behind. Files still open for writing are then
    /// uploaded (within [`DRAIN_DEADLINE`]), so a shutdown does not lose what was written.
    pub async fn unmount(mut self) -> std::io::Result<()> {
        let result = lazy_unmount(&self.mountpoint).await;
        match tokio::time::timeout(DRAIN_DEADLINE, self.drain.flush_all()).await {
            Ok(0) => {}
            Ok(failed) => {
                tracing::error!("{failed} open file(s) could not be uploaded at shutdown")
            }
            Err(_) => tracing::error!(
                "uploads of open files did not finish within {} s of shutdown",
                DRAIN_DEADLINE.as_secs()
            ),
        }
        if let Some(mut session) = self.session.take() {
            // With nothing open, the session ends right away; with open files it would wait
            // for them to close, which a shutting-down daemon does not do.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut session).await;
            // fuse3's handle unmounts again on drop unless its session has ended; that second
            // unmount can only fail harmlessly, but there is no reason to try it.
            std::mem::forget(session);
        }
        result
    }
}

/// Detach the mount at `path`: `umount2(MNT_DETACH)` as root, `fusermount3 -uz` otherwise.
pub async fn lazy_unmount(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) {
        return Ok(()); // not mounted (any more)
    }
    let status = tokio::process::Command::new("fusermount3")
        .arg("-uz")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(err),
    }
}

/// Mount `fs` at `mountpoint`. As root this mounts directly; otherwise through
/// `fusermount3` (which must be installed).
pub async fn mount<C: ObjectClient>(
    fs: Filesystem<C>,
    mountpoint: &Path,
    config: &MountConfig,
) -> std::io::Result<MountHandle> {
    let mut options = MountOptions::default();
    let fs_name = if config.fs_name.is_empty() {
        "mountd"
    } else {
        config.fs_name.as_str()
    };
    options
        .fs_name(fs_name)
        .allow_other(config.allow_other)
        .allow_root(config.allow_root)
        .read_only(config.read_only)
        .default_permissions(config.default_permissions)
        // FUSE 3 mounts over non-empty directories (s3fs ignores `nonempty` since 1.97).
        .nonempty(true);
    let fs = Arc::new(fs);
    let drain: Arc<dyn Drain> = fs.clone();
    let adapter = FuseAdapter::new(fs);
    let session = fuse3::raw::Session::new(options);
    // SAFETY: geteuid has no preconditions.
    let session = if unsafe { libc::geteuid() } == 0 {
        session.mount(adapter, mountpoint).await?
    } else {
        session.mount_with_unprivileged(adapter, mountpoint).await?
    };
    Ok(MountHandle {
        session: Some(session),
        mountpoint: mountpoint.to_path_buf(),
        drain,
    })
}
