//! Logging: tracing-subscriber's fmt output to stderr, or appended to `-o logfile=`.
//!
//! Levels (s3fs's default is `crit`; ours is `warn`, so "option X is not supported yet"
//! warnings are seen):
//! - `dbglevel=crit|err` → ERROR, `warn` → WARN, `info` → INFO, `dbg` → DEBUG, for mountd's
//!   own crates (`mountd`, `s3fs_core`, `s3client`, `sigv4`); other crates stay at WARN.
//! - `-d` raises our crates to at least INFO, which shows the one-line-per-request logs of
//!   target `s3client::request`.
//! - `-d -d` (or `-o debug`) also turns on FUSE debug: `fuse3` and `s3fs_core` at DEBUG.
//! - `curldbg`: the HTTP client (`s3client`, `hyper`, `hyper_util`) at DEBUG.
//! - `RUST_LOG`, if set, replaces all of the above.
//!
//! With `logfile=`, a SIGHUP reopens the file (for logrotate), as s3fs does.
//! Secrets are never logged; [`redact_argv`] cleans the command line logged at start.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::options::LogLevel;

/// What the command line says about logging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// How many `-d`.
    pub debug: u8,
    pub dbglevel: Option<LogLevel>,
    /// `-d -d` or `-o debug`.
    pub fuse_debug: bool,
    pub curldbg: bool,
    /// Absolute path of `logfile=`.
    pub logfile: Option<PathBuf>,
    pub timestamps: bool,
}

const OUR_CRATES: &[&str] = &["mountd", "s3fs_core", "s3client", "sigv4"];

fn level_name(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}

/// The `EnvFilter` directives for these settings.
pub fn directives(s: &LogSettings) -> String {
    let mut ours = s.dbglevel.unwrap_or(LogLevel::Warn);
    if s.debug >= 1 && ours < LogLevel::Info {
        ours = LogLevel::Info;
    }
    let base = if ours == LogLevel::Error {
        "error"
    } else {
        "warn"
    };
    let mut d = vec![base.to_string()];
    for c in OUR_CRATES {
        d.push(format!("{c}={}", level_name(ours)));
    }
    if s.curldbg {
        for c in ["s3client", "hyper", "hyper_util"] {
            d.push(format!("{c}=debug"));
        }
    }
    if s.fuse_debug || s.debug >= 2 {
        for c in ["fuse3", "s3fs_core"] {
            d.push(format!("{c}=debug"));
        }
    }
    d.join(",")
}

/// Where log lines go: stderr, or a file that can be reopened.
#[derive(Clone)]
struct Sink {
    file: Option<Arc<Mutex<File>>>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.file {
            Some(f) => match f.lock() {
                Ok(mut f) => f.write(buf),
                Err(p) => p.into_inner().write(buf),
            },
            None => io::stderr().write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &self.file {
            Some(f) => match f.lock() {
                Ok(mut f) => f.write_all(buf),
                Err(p) => p.into_inner().write_all(buf),
            },
            None => io::stderr().lock().write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        self.clone()
    }
}

/// Handle on the logging set-up, to reopen the log file.
#[derive(Clone, Default)]
pub struct LogHandle {
    file: Option<(PathBuf, Arc<Mutex<File>>)>,
}

impl LogHandle {
    /// Whether logs go to a file (`logfile=`).
    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// Reopen the log file (after logrotate moved it). No-op without `logfile=`.
    pub fn reopen(&self) -> io::Result<()> {
        if let Some((path, file)) = &self.file {
            let new = open_log(path)?;
            match file.lock() {
                Ok(mut f) => *f = new,
                Err(p) => *p.into_inner() = new,
            }
        }
        Ok(())
    }
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

static TO_FILE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether logs go to a file (so fatal messages are logged there as well as printed).
pub fn logs_to_file() -> bool {
    TO_FILE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Install the global subscriber. A second call (tests) keeps the first subscriber.
pub fn init(s: &LogSettings) -> Result<LogHandle, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v:?} is not valid: {e}"))?
        }
        _ => EnvFilter::try_new(directives(s)).map_err(|e| e.to_string())?,
    };
    let (handle, sink, ansi) = match &s.logfile {
        Some(path) => {
            let f = open_log(path).map_err(|e| {
                format!(
                    "cannot open logfile {}: {}",
                    path.display(),
                    crate::error::io_reason(&e)
                )
            })?;
            let f = Arc::new(Mutex::new(f));
            TO_FILE.store(true, std::sync::atomic::Ordering::Relaxed);
            (
                LogHandle {
                    file: Some((path.clone(), f.clone())),
                },
                Sink { file: Some(f) },
                false,
            )
        }
        None => {
            use std::io::IsTerminal;
            (
                LogHandle::default(),
                Sink { file: None },
                io::stderr().is_terminal(),
            )
        }
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(sink)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if s.timestamps {
        registry.with(layer).try_init()
    } else {
        registry.with(layer.without_time()).try_init()
    };
    Ok(handle)
}

/// Option names whose values must never be logged.
const SECRET_OPTIONS: &[&str] = &[
    "accessKeyId",
    "secretAccessKey",
    "AWSAccessKeyId",
    "AWSSecretKey",
    "ssl_client_cert",
    "proxy",
    "credlib_opts",
];

fn redact_userinfo(s: &str) -> String {
    // scheme://user:password@host → scheme://***@host
    let Some(i) = s.find("://") else {
        return s.to_string();
    };
    let rest = &s[i + 3..];
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}://***{}", &s[..i], &rest[at..]),
        None => s.to_string(),
    }
}

/// The command line for the start-up log line, with the values of credential-bearing
/// options (`secretAccessKey=`, `proxy=`, ...) and passwords in URLs replaced by `***`.
pub fn redact_argv(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let (lead, body) = match a.strip_prefix("-o") {
                Some(b) if !b.is_empty() => ("-o", b),
                _ => ("", a.as_str()),
            };
            let items: Vec<String> = body
                .split(',')
                .map(|item| match item.split_once('=') {
                    Some((k, _)) if SECRET_OPTIONS.contains(&k) => format!("{k}=***"),
                    _ => redact_userinfo(item),
                })
                .collect();
            format!("{lead}{}", items.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let d = |debug, dbglevel, fuse_debug, curldbg| {
            directives(&LogSettings {
                debug,
                dbglevel,
                fuse_debug,
                curldbg,
                ..Default::default()
            })
        };
        assert_eq!(
            d(0, None, false, false),
            "warn,mountd=warn,s3fs_core=warn,s3client=warn,sigv4=warn"
        );
        assert_eq!(
            d(1, None, false, false),
            "warn,mountd=info,s3fs_core=info,s3client=info,sigv4=info"
        );
        assert!(d(0, Some(LogLevel::Debug), false, false).contains("s3client=debug"));
        assert!(d(1, Some(LogLevel::Debug), false, false).contains("mountd=debug"));
        assert!(d(0, Some(LogLevel::Error), false, false).starts_with("error,mountd=error"));
        assert!(d(2, None, false, false).contains("fuse3=debug"));
        assert!(d(0, None, true, false).contains("fuse3=debug"));
        assert!(d(0, None, false, true).contains("hyper=debug"));
        for s in [
            d(2, Some(LogLevel::Debug), true, true),
            d(0, None, false, false),
        ] {
            assert!(EnvFilter::try_new(&s).is_ok(), "{s}");
        }
    }

    #[test]
    fn redaction() {
        let argv: Vec<String> = [
            "s3fs",
            "b",
            "/mnt",
            "-o",
            "url=http://127.0.0.1:9000,secretAccessKey=SEKRIT1",
            "-oaccessKeyId=AKID,ro",
            "-o",
            "proxy=http://u:SEKRIT2@proxy:3128",
            "-o",
            "url=https://user:SEKRIT3@host/path",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let line = redact_argv(&argv);
        for s in ["SEKRIT1", "SEKRIT2", "SEKRIT3", "AKID"] {
            assert!(!line.contains(s), "{line}");
        }
        assert!(line.contains("url=http://127.0.0.1:9000"));
        assert!(line.contains("-oaccessKeyId=***,ro"));
        assert!(line.contains("url=https://***@host/path"));
    }

    #[test]
    fn log_file_is_appended_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let f = Arc::new(Mutex::new(open_log(&path).unwrap()));
        let handle = LogHandle {
            file: Some((path.clone(), f.clone())),
        };
        let mut sink = Sink { file: Some(f) };
        sink.write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.path().join("log.1")).unwrap();
        handle.reopen().unwrap();
        sink.write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log.1")).unwrap(),
            "one\n"
        );
    }
}
