//! Going to the background without hiding failures from scripts.
//!
//! Without `-f`, mountd forks before it starts any thread. The parent waits on a pipe: the
//! child writes one byte once the mount is ready, and the parent exits 0; if the child fails
//! (it prints `PROGRAM: MESSAGE` on the inherited stderr itself) or dies, the pipe closes
//! without that byte and the parent exits with the child's status (1). The child calls
//! `setsid`, and when ready changes to `/` and points stdin/stdout/stderr at `/dev/null`
//! (logs then go only to `logfile=`, if given), so the caller's pipes close when the parent
//! exits.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Tells a waiting parent that the mount is ready (nothing to tell in the foreground).
#[derive(Debug, Default)]
pub struct Readiness {
    pipe: Option<File>,
}

impl Readiness {
    /// In the foreground: nobody waits.
    pub fn foreground() -> Self {
        Readiness { pipe: None }
    }

    /// Whether this process is a daemon child with a waiting parent.
    pub fn is_daemon(&self) -> bool {
        self.pipe.is_some()
    }

    /// The mount is ready: detach from the terminal and the caller's pipes, then release
    /// the parent (exit 0).
    pub fn ready(&mut self) {
        let Some(mut pipe) = self.pipe.take() else {
            return;
        };
        detach_stdio();
        let _ = pipe.write_all(b"R");
    }
}

fn detach_stdio() {
    // SAFETY: plain libc calls on valid, NUL-terminated paths and on our own descriptors.
    unsafe {
        let _ = libc::chdir(c"/".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..=2 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}

/// Fork. In the parent this never returns: it waits for the child's word and exits. In the
/// child it returns the [`Readiness`] to signal with. Call it before any thread exists.
pub fn daemonize() -> io::Result<Readiness> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two descriptors, owned by nobody else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: mountd is single-threaded here (no runtime yet), so the child may continue
    // normally.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(read_end);
        // SAFETY: setsid has no preconditions; failure (already a group leader) is harmless.
        unsafe {
            libc::setsid();
        }
        return Ok(Readiness {
            pipe: Some(File::from(write_end)),
        });
    }
    drop(write_end);
    let mut pipe = File::from(read_end);
    let mut byte = [0u8; 1];
    let got = loop {
        match pipe.read(&mut byte) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break 0,
        }
    };
    if got == 1 {
        std::process::exit(0);
    }
    // The child failed: it has printed why. Exit with its status.
    let mut status = 0;
    let code = loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
                break libc::WEXITSTATUS(status);
            }
            break 1;
        }
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break 1;
        }
    };
    std::process::exit(code);
}
