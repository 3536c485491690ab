//! Running a mount program (mountd, or s3fs as a differential oracle) and cleaning up after it.
//!
//! ```no_run
//! # use integration::{mount::*, servers::*};
//! # use std::time::Duration;
//! # let server = require_server(Kind::Moto).unwrap();
//! let wd = Workdir::new("example");
//! wd.write_passwd("passwd", &server.passwd_line(), 0o600);
//! let args = s3fs_command_line("bucket", &wd.mountpoint(), &server.url);
//! let m = MountCommand::new(mountd_bin(), wd.path(), wd.mountpoint())
//!     .args(args)
//!     .expect_mount(Duration::from_secs(30));
//! // ... use m.mountpoint() ...
//! m.stop(Duration::from_secs(20)); // SIGTERM; asserts nothing is left mounted and exit 0
//! ```
//!
//! A `Mounted` that is dropped without `stop` or `terminate` (a failing test) kills the program's
//! process group and lazily unmounts, so no test leaves a mount behind; a `Workdir` refuses
//! to delete anything while something is mounted below it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{scrub_env, wait_until, workspace_dir, POLL};

// ---------------------------------------------------------------------------------------
// Programs

/// The mountd binary: `MOUNTD_BIN`, else `<target>/debug/mountd`, built with
/// `cargo build -p mountd` if it is missing. (`scripts/test.sh` builds it and sets
/// `MOUNTD_BIN`, so the binary under test is never stale there.)
pub fn mountd_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("MOUNTD_BIN").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "MOUNTD_BIN={} does not exist", p.display());
            return p;
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_dir().join("target"));
        let bin = target.join("debug/mountd");
        if !bin.is_file() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "mountd"])
                .current_dir(workspace_dir())
                .status()
                .expect("run cargo build -p mountd");
            assert!(status.success(), "cargo build -p mountd failed");
        }
        assert!(
            bin.is_file(),
            "{} does not exist after cargo build",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Debian's s3fs (`S3FS_BIN` overrides), if installed.
pub fn s3fs_bin() -> Option<PathBuf> {
    let p = std::env::var_os("S3FS_BIN")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/s3fs"));
    p.is_file().then_some(p)
}

/// The s3fs command line of the issue, with a relative passwd file `passwd` (so the
/// program must run in the directory that holds it):
/// `-f -d BUCKET MP -o endpoint=us-east-1 -o passwd_file=passwd -o url=URL -o nomultipart -o use_path_request_style`
pub fn s3fs_command_line(bucket: &str, mountpoint: &Path, url: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["-f".into(), "-d".into(), bucket.into(), mountpoint.into()];
    for o in [
        "endpoint=us-east-1".to_string(),
        "passwd_file=passwd".to_string(),
        format!("url={url}"),
        "nomultipart".to_string(),
        "use_path_request_style".to_string(),
    ] {
        v.push("-o".into());
        v.push(o.into());
    }
    v
}

// ---------------------------------------------------------------------------------------
// Working directories

static WORKDIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private temporary directory with an empty `mnt/` in it, removed on drop unless
/// something is still mounted below it.
pub struct Workdir {
    path: PathBuf,
}

impl Workdir {
    pub fn new(tag: &str) -> Workdir {
        let n = WORKDIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = std::env::temp_dir().join(format!("mountd-it-{}-{n}-{tag}", std::process::id()));
        if path.exists() {
            // Left by an earlier process with the same pid; never delete through a mount.
            assert!(
                mounts_below(&path).is_empty(),
                "{} has mounts below it",
                path.display()
            );
            let _ = std::fs::remove_dir_all(&path);
        }
        std::fs::create_dir_all(path.join("mnt")).expect("create the test working directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .expect("chmod the working directory");
        let path = path
            .canonicalize()
            .expect("canonicalize the working directory");
        Workdir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<workdir>/mnt`, canonical.
    pub fn mountpoint(&self) -> PathBuf {
        self.path.join("mnt")
    }

    /// Writes a passwd file named `name` in the working directory with the given mode.
    pub fn write_passwd(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        write_passwd(&self.path.join(name), contents, mode)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let mounted = mounts_below(&self.path);
        for mp in &mounted {
            force_unmount(mp);
        }
        if mounts_below(&self.path).is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            eprintln!(
                "warning: leaving {} behind: still mounted below it",
                self.path.display()
            );
        }
    }
}

/// Writes a passwd file with exactly `mode` (not subject to the umask).
pub fn write_passwd(path: &Path, contents: &str, mode: u32) -> PathBuf {
    std::fs::write(path, contents).expect("write the passwd file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("chmod the passwd file");
    path.to_path_buf()
}

// ---------------------------------------------------------------------------------------
// The mount table

/// Mount points listed in /proc/self/mountinfo (field 5, octal escapes decoded).
pub fn mount_points() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .collect()
}

/// Decodes the `\NNN` octal escapes mountinfo uses for space, tab, newline and backslash.
pub fn unescape_mountinfo(s: &str) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsString::from_vec(out)
}

/// Whether something is mounted exactly at `path` (which must be canonical).
pub fn is_mounted(path: &Path) -> bool {
    mount_points().iter().any(|p| p == path)
}

/// The mount IDs (mountinfo field 1) of what is mounted exactly at `path`, bottom first.
pub fn mount_ids_at(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let mp = f.nth(3)?;
            (Path::new(&unescape_mountinfo(mp)) == path).then_some(id)
        })
        .collect()
}

/// Mount points at or below `dir`.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    mount_points()
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Detaches whatever is mounted at `mp`: `fusermount3 -uz`, then `umount -l`.
pub fn force_unmount(mp: &Path) {
    for (prog, flag) in [("fusermount3", "-uz"), ("umount", "-l")] {
        if !is_mounted(mp) {
            return;
        }
        let _ = Command::new(prog)
            .arg(flag)
            .arg(mp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    if is_mounted(mp) {
        eprintln!("warning: could not unmount {}", mp.display());
    }
}

// ---------------------------------------------------------------------------------------
// Running a mount program

/// A mount program, its arguments, working directory and mount point.
///
/// The child runs in its own process group, with stdin closed, stdout and stderr in
/// `<cwd>/<name>.stdout` / `.stderr`, and an environment without proxies or AWS
/// credentials (so a passwd file is the only credential it can find).
pub struct MountCommand {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    mountpoint: PathBuf,
    envs: Vec<(OsString, OsString)>,
    over_existing: bool,
}

/// How a mount program's start ended.
pub enum Startup {
    /// The mount point appeared in the mount table and the program still runs.
    Mounted(Mounted),
    /// The program exited before anything got mounted.
    Exited(Exited),
}

/// A program that exited without leaving a mount.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl MountCommand {
    pub fn new(
        program: impl Into<PathBuf>,
        cwd: &Path,
        mountpoint: impl Into<PathBuf>,
    ) -> MountCommand {
        MountCommand {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            mountpoint: mountpoint.into(),
            envs: Vec::new(),
            over_existing: false,
        }
    }

    /// Allow the mount point to be mounted already (a stale mount, or a live one the program
    /// must refuse): the start then waits for a mount that was not there before.
    pub fn over_existing_mounts(mut self) -> Self {
        self.over_existing = true;
        self
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    fn label(&self) -> String {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mount".into())
    }

    /// Starts the program and waits until either its mount point shows up in
    /// /proc/self/mountinfo or it exits, for at most `timeout`.
    ///
    /// Panics if neither happens in time (after killing it), or if it exits and leaves a
    /// mount behind (a daemonizing program: the tests run everything with `-f`).
    pub fn start(self, timeout: Duration) -> Startup {
        let before = mount_ids_at(&self.mountpoint).len();
        assert!(
            self.over_existing || before == 0,
            "{} is already a mount point before the test mounts it",
            self.mountpoint.display()
        );
        // A new mount adds a line at the mount point; one that replaced a stale mount (whose
        // line and mount ID it may take over) is the one that answers a `stat` again.
        let was_stale = before > 0 && std::fs::metadata(&self.mountpoint).is_err();
        let mounted_now = |mp: &Path| {
            let now = mount_ids_at(mp).len();
            now > before || (was_stale && now > 0 && std::fs::metadata(mp).is_ok())
        };
        let label = self.label();
        let stdout_path = self.cwd.join(format!("{label}.stdout"));
        let stderr_path = self.cwd.join(format!("{label}.stderr"));
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("create the stdout log"))
            .stderr(File::create(&stderr_path).expect("create the stderr log"))
            .process_group(0);
        scrub_env(&mut cmd).env("RUST_BACKTRACE", "1");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        let mut m = Mounted {
            pid: child.id(),
            child: Some(child),
            mountpoint: self.mountpoint.clone(),
            stdout_path,
            stderr_path,
            label,
            command: format!("{} {:?}", self.program.display(), self.args),
            program: self.program.clone(),
        };
        let deadline = started + timeout;
        loop {
            if mounted_now(&m.mountpoint) {
                return Startup::Mounted(m);
            }
            let child = m.child.as_mut().expect("child present until reaped");
            if let Some(status) = child.try_wait().expect("wait for the mount program") {
                m.child = None;
                if mounted_now(&m.mountpoint) {
                    panic!(
                        "{} exited ({status}) but left {} mounted (daemonized? use -f)\n{}",
                        m.label,
                        m.mountpoint.display(),
                        m.log()
                    );
                }
                let exited = Exited {
                    status,
                    stdout: read_lossy(&m.stdout_path),
                    stderr: read_lossy(&m.stderr_path),
                    elapsed: started.elapsed(),
                };
                // It mounted nothing: what is mounted there (another program's mount) stays.
                std::mem::forget(m);
                return Startup::Exited(exited);
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} neither mounted {} nor exited within {timeout:?}\n{}",
                    m.label,
                    m.mountpoint.display(),
                    m.log()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// [`start`](Self::start), expecting a mount; panics with the program's output otherwise.
    pub fn expect_mount(self, timeout: Duration) -> Mounted {
        match self.start(timeout) {
            Startup::Mounted(m) => m,
            Startup::Exited(e) => panic!(
                "the mount program exited ({}) after {:?} without mounting\n--- stdout\n{}\n--- stderr\n{}",
                e.status,
                e.elapsed,
                tail(&e.stdout),
                tail(&e.stderr)
            ),
        }
    }

    /// [`start`](Self::start), expecting the program to refuse to mount: panics (and cleans
    /// up) if it mounts.
    pub fn expect_exit(self, timeout: Duration) -> Exited {
        match self.start(timeout) {
            Startup::Exited(e) => e,
            Startup::Mounted(m) => panic!(
                "expected {} to refuse to mount, but it mounted {}\n{}",
                m.label,
                m.mountpoint.display(),
                m.log()
            ),
        }
    }
}

/// A running mount program with its mount in place.
pub struct Mounted {
    child: Option<Child>,
    pid: u32,
    mountpoint: PathBuf,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    label: String,
    command: String,
    program: PathBuf,
}

impl Mounted {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// The command and the tails of both logs, for failure messages.
    pub fn log(&self) -> String {
        format!(
            "command: {}\n--- stdout ({})\n{}\n--- stderr ({})\n{}",
            self.command,
            self.stdout_path.display(),
            tail(&self.stdout()),
            self.stderr_path.display(),
            tail(&self.stderr())
        )
    }

    /// Panics if the program has exited.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("child present until reaped");
        if let Some(status) = child.try_wait().expect("wait for the mount program") {
            self.child = None;
            panic!(
                "{} exited unexpectedly ({status})\n{}",
                self.label,
                self.log()
            );
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the program to exit; then asserts that
    /// nothing is left mounted. Returns the exit status (a clean shutdown is `code() == Some(0)`).
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let pid = self.pid as libc::pid_t;
        // SAFETY: plain kill(2) on our own, not yet reaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let mut status = None;
        let exited = wait_until(timeout, || {
            let child = self.child.as_mut().expect("child present until reaped");
            status = child.try_wait().expect("wait for the mount program");
            status.is_some()
        });
        if !exited {
            panic!(
                "{} did not exit within {timeout:?} after SIGTERM\n{}",
                self.label,
                self.log()
            );
        }
        self.child = None;
        let status = status.expect("set when exited");
        assert!(
            !is_mounted(&self.mountpoint),
            "{} exited ({status}) after SIGTERM but {} is still mounted\n{}",
            self.label,
            self.mountpoint.display(),
            self.log()
        );
        status
    }
}

impl Mounted {
    /// SIGTERM, then the end every test expects: nothing left mounted, and exit status 0.
    ///
    /// The s3fs oracle is held only to the first: Debian's s3fs 1.90 now and then dies of
    /// SIGABRT or SIGSEGV in its teardown after it has unmounted (s3fs-fuse issues #1890,
    /// #2188). That is its bug, not a difference in what it served, so it is reported.
    pub fn stop(self, timeout: Duration) {
        use std::os::unix::process::ExitStatusExt;
        let is_oracle = s3fs_bin().as_deref() == Some(self.program.as_path());
        let label = self.label.clone();
        let log = self.log();
        let status = self.terminate(timeout);
        match (status.code(), status.signal()) {
            (Some(0), _) => {}
            (None, Some(libc::SIGABRT | libc::SIGSEGV)) if is_oracle => eprintln!(
                "note: the s3fs oracle crashed in its teardown after unmounting ({status})"
            ),
            _ => panic!("{label} exit status after SIGTERM: {status}, not 0\n{log}"),
        }
    }

    /// SIGKILL the program and leave its mount behind, as a crashed daemon does: the mount
    /// point then answers "Transport endpoint is not connected". The `Workdir` detaches it.
    pub fn kill_leaving_mount(mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
        }
        std::mem::forget(self);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group the child leads; it has not been reaped,
            // so the group id cannot have been reused.
            unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
            let _ = wait_until(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)) | Err(_))
            });
        }
        force_unmount(&self.mountpoint);
    }
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last 60 lines of a log.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(60);
    lines[from..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(
            unescape_mountinfo(r"/tmp/a\040b\134c"),
            OsString::from("/tmp/a b\\c")
        );
        assert_eq!(unescape_mountinfo(r"/x\0"), OsString::from(r"/x\0"));
        assert!(is_mounted(Path::new("/proc")));
        assert!(!is_mounted(Path::new("/proc/self")));
    }

    #[test]
    fn command_line_of_the_issue() {
        let v = s3fs_command_line("b", Path::new("/m"), "http://127.0.0.1:1");
        let s: Vec<&str> = v.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            s.join(" "),
            "-f -d b /m -o endpoint=us-east-1 -o passwd_file=passwd -o url=http://127.0.0.1:1 \
             -o nomultipart -o use_path_request_style"
        );
    }

    #[test]
    fn passwd_mode_is_exact() {
        let wd = Workdir::new("passwd");
        let p = wd.write_passwd("passwd", "a:b\n", 0o644);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(std::fs::read_to_string(p).unwrap(), "a:b\n");
    }

    #[test]
    fn a_program_that_exits_is_reported_with_its_output() {
        let wd = Workdir::new("exits");
        let e = MountCommand::new("/bin/sh", wd.path(), wd.mountpoint())
            .args(["-c", "echo out; echo 'bad thing' >&2; exit 1"])
            .expect_exit(Duration::from_secs(10));
        assert_eq!(e.status.code(), Some(1));
        assert_eq!(e.stdout, "out\n");
        assert_eq!(e.stderr, "bad thing\n");
    }

    #[test]
    fn a_program_that_hangs_is_killed() {
        let wd = Workdir::new("hangs");
        let t = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            MountCommand::new("/bin/sleep", wd.path(), wd.mountpoint())
                .arg("30")
                .start(Duration::from_millis(300))
        }));
        assert!(r.is_err());
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
