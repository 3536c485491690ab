//! The lifecycle: parse → log → credentials → (daemonize) → clear a stale mount → check the
//! bucket → mount → wait for a signal or an outside unmount → unmount → exit.
//!
//! Exit status: 0 after a clean stop; 1 for any error before or at mount time, printed as
//! `PROGRAM: MESSAGE` on stderr (PROGRAM is the basename of argv[0], so `s3fs` through the
//! symlink).

use std::ffi::OsString;
use std::time::Duration;

use s3client::{ObjectClient, S3Client, S3Config, S3Error};
use s3fs_core::{fuse, Filesystem};

use crate::args::{self, Action};
use crate::config::{self, Plan, PlanContext};
use crate::daemon::{self, Readiness};
use crate::error::{io_reason, StartError};
use crate::logging::{self, LogHandle, LogSettings};
use crate::mountpoint;
use crate::options::{OptionContext, Options};
use crate::signals::{self, Signals};

/// mountd's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest time the bucket check may take in all (retries included) before mountd gives up.
pub const CHECK_BUCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// Run mountd with this command line (`argv[0]` first); returns the exit status.
pub fn main(argv: Vec<OsString>) -> i32 {
    let program = args::program_name(argv.first());
    match run(&program, argv) {
        Ok(code) => code,
        Err(e) => {
            report(&program, &e.to_string());
            1
        }
    }
}

/// Print `PROGRAM: MESSAGE` on stderr, and log it too when the log goes to `logfile=`.
fn report(program: &str, message: &str) {
    if logging::logs_to_file() {
        tracing::error!("{message}");
    }
    eprintln!("{program}: {message}");
}

fn run(program: &str, argv: Vec<OsString>) -> Result<i32, StartError> {
    let action = args::parse(argv.iter().skip(1).cloned())?;
    let cl = match action {
        Action::Help => {
            print!("{}", usage(program));
            return Ok(0);
        }
        Action::Version => {
            println!(
                "{program} (mountd) version {VERSION}: an s3fs-compatible FUSE filesystem for S3"
            );
            return Ok(0);
        }
        Action::Utility(flag) => {
            return Err(StartError::msg(format!(
                "{flag}: the multipart-upload utility mode is not supported yet"
            )))
        }
        Action::Mount(cl) => cl,
    };
    let options = Options::parse(&cl.options, OptionContext::from_process())?;
    let ctx = PlanContext::from_process();
    let foreground = cl.foreground || cl.debug >= 2 || options.fuse_debug;

    let log = logging::init(&LogSettings {
        debug: cl.debug,
        dbglevel: options.dbglevel,
        fuse_debug: options.fuse_debug,
        curldbg: options.curldbg,
        logfile: options
            .logfile
            .as_ref()
            .map(|p| ctx.credentials.cwd.join(p)),
        timestamps: !options.no_time_stamp_msg,
    })
    .map_err(StartError::msg)?;
    let argv_text: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    tracing::info!(
        "{program} version {VERSION} : {}",
        logging::redact_argv(&argv_text)
    );
    for w in &options.warnings {
        tracing::warn!("{w}");
    }
    if cl.single_thread {
        tracing::info!("-s is accepted and has no effect");
    }

    let plan = config::plan(program, &cl, &options, &ctx)?;
    for n in &plan.notes {
        tracing::info!("{n}");
    }
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }

    // Before daemonizing, so that the message reaches the terminal (s3fs checks it too).
    if !plan.fs.read_only {
        s3fs_core::check_staging_dir(&plan.fs.tmpdir).map_err(|e| {
            StartError::msg(format!(
                "tmpdir {}: files being written are staged there, and a file cannot be created in it: {} (-o tmpdir=DIR names a directory this user can write)",
                plan.fs.tmpdir.display(),
                io_reason(&e)
            ))
        })?;
    }

    let readiness = if foreground {
        Readiness::foreground()
    } else {
        daemon::daemonize()
            .map_err(|e| StartError::msg(format!("cannot daemonize: {}", io_reason(&e))))?
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mountd")
        .build()
        .map_err(|e| StartError::msg(format!("cannot start the runtime: {}", io_reason(&e))))?;
    let result = runtime.block_on(lifecycle(plan, readiness, log, ctx));
    // A `stat` of a hung mountpoint may still sit in a blocking thread: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

/// What ended a mount.
enum Stop {
    Signal(&'static str),
    Unmounted(std::io::Result<()>),
}

async fn lifecycle(
    plan: Plan,
    mut readiness: Readiness,
    log: LogHandle,
    ctx: PlanContext,
) -> Result<i32, StartError> {
    let mut signals = Signals::install()
        .map_err(|e| StartError::msg(format!("cannot install signal handlers: {e}")))?;
    signals::spawn_reaper_if_pid1();

    let startup = start(&plan, &ctx);
    tokio::pin!(startup);
    let mut handle = tokio::select! {
        r = &mut startup => r?,
        sig = signals.stop(&log) => {
            return Err(StartError::msg(format!("stopped by {sig} before the mount was ready")));
        }
    };
    tracing::info!(
        "mounted bucket {}{} at {}{}",
        plan.bucket,
        if plan.prefix.is_empty() {
            String::new()
        } else {
            format!(":/{}", plan.prefix)
        },
        plan.mountpoint.display(),
        if plan.fs.read_only {
            " (read-only)"
        } else {
            ""
        }
    );
    readiness.ready();

    let stop = tokio::select! {
        sig = signals.stop(&log) => Stop::Signal(sig),
        r = handle.wait() => Stop::Unmounted(r),
    };
    match stop {
        Stop::Unmounted(Ok(())) => {
            tracing::info!(
                "{} was unmounted from outside; exiting",
                plan.mountpoint.display()
            );
            Ok(0)
        }
        Stop::Unmounted(Err(e)) => {
            // The session failed: make sure no dead mount stays behind.
            let _ = fuse::lazy_unmount(&plan.mountpoint).await;
            Err(StartError::msg(format!(
                "the FUSE session ended with an error: {e}"
            )))
        }
        Stop::Signal(sig) => {
            tracing::info!("{sig}: unmounting {}", plan.mountpoint.display());
            match handle.unmount().await {
                Ok(()) => {
                    tracing::info!("unmounted {}; exiting", plan.mountpoint.display());
                    Ok(0)
                }
                Err(e) => Err(StartError::msg(format!(
                    "{sig}: cannot unmount {}: {}",
                    plan.mountpoint.display(),
                    io_reason(&e)
                ))),
            }
        }
    }
}

/// Clear a stale mount, check the mountpoint and the bucket, mount.
async fn start(plan: &Plan, ctx: &PlanContext) -> Result<fuse::MountHandle, StartError> {
    mountpoint::prepare(&plan.mountpoint, &plan.mountpoint_arg, ctx.euid, ctx.egid)
        .await
        .map_err(StartError::Message)?;
    let client = S3Client::new(plan.s3.clone())
        .map_err(|e| StartError::msg(format!("cannot set up the S3 client: {e}")))?;
    match tokio::time::timeout(CHECK_BUCKET_TIMEOUT, client.check_bucket()).await {
        Ok(Ok(())) => tracing::info!("bucket {} answers", plan.bucket),
        Ok(Err(e)) => return Err(StartError::msg(describe_check_error(&plan.s3, &e))),
        Err(_) => {
            return Err(StartError::msg(format!(
                "bucket {}: no answer from {} within {} s",
                plan.bucket,
                url_of(&plan.s3),
                CHECK_BUCKET_TIMEOUT.as_secs()
            )))
        }
    }
    let fs = Filesystem::new(client, plan.fs.clone());
    fuse::mount(fs, &plan.mountpoint, &plan.mount)
        .await
        .map_err(|e| {
            let mut m = format!(
                "cannot mount {} on {}: {}",
                plan.bucket,
                plan.mountpoint_arg,
                io_reason(&e)
            );
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT) | Some(libc::EPERM) | Some(libc::EACCES)
            ) || e.kind() == std::io::ErrorKind::NotFound
            {
                m.push_str(
                    " (is /dev/fuse available, and fusermount3 installed for non-root users? in a container: --device /dev/fuse --cap-add SYS_ADMIN)",
                );
            }
            StartError::msg(m)
        })
}

/// The URL of the bucket as requests address it.
fn url_of(s3: &S3Config) -> String {
    let e = &s3.endpoint;
    match s3.addressing {
        s3client::Addressing::Path => {
            format!(
                "{}://{}{}/{}",
                e.scheme,
                e.authority(),
                e.base_path,
                s3.bucket
            )
        }
        s3client::Addressing::VirtualHosted => format!(
            "{}://{}.{}{}",
            e.scheme,
            s3.bucket,
            e.authority(),
            e.base_path
        ),
    }
}

/// The bucket check's failure, in words that say what to fix. Never contains secrets.
pub fn describe_check_error(s3: &S3Config, e: &S3Error) -> String {
    let b = &s3.bucket;
    match e {
        S3Error::NoSuchBucket(d) => format!("bucket {b} does not exist ({d})"),
        S3Error::NotFound(d) => format!(
            "bucket {b} does not exist, or the endpoint does not serve it ({d}; addressing: {})",
            match s3.addressing {
                s3client::Addressing::Path => "path-style",
                s3client::Addressing::VirtualHosted =>
                    "virtual-hosted: try -o use_path_request_style",
            }
        ),
        S3Error::SignatureMismatch(d) => format!(
            "bucket {b}: signature does not match: check the secret key and the region (signing region {}) ({d})",
            s3.region
        ),
        S3Error::AccessDenied(d) if d.code == "InvalidAccessKeyId" => format!(
            "bucket {b}: the server does not know this access key: check the passwd file or the environment ({d})"
        ),
        S3Error::AccessDenied(d) => format!(
            "bucket {b}: access denied: check the keys and the bucket's permissions ({d})"
        ),
        // Garage, MinIO and AWS name a wrong signing region this way; OCI says
        // SignatureDoesNotMatch (above).
        S3Error::Service(d) if d.code == "AuthorizationHeaderMalformed" => format!(
            "bucket {b}: wrong signing region {}: pass the bucket's region with -o endpoint=REGION ({d})",
            s3.region
        ),
        S3Error::Transport(m) => format!(
            "cannot connect to {}: {m}{}",
            url_of(s3),
            attempts(s3)
        ),
        S3Error::Timeout(m) => format!("no answer from {}: {m}{}", url_of(s3), attempts(s3)),
        other => format!("bucket {b}: {other}"),
    }
}

/// How often a failed transport was tried, for messages (each attempt has its own timeout).
fn attempts(s3: &S3Config) -> String {
    match s3.retries {
        0 => String::new(),
        n => format!(" ({} attempts; -o retries={n})", n + 1),
    }
}

/// The `-h` text.
pub fn usage(program: &str) -> String {
    use crate::options::{Support, TABLE};
    let mut s = format!(
        "Usage: {program} BUCKET[:/PATH] MOUNTPOINT [OPTION]...\n\
         \x20      {program} MOUNTPOINT -o bucket=BUCKET[:/PATH] [OPTION]...\n\
         \n\
         Mount an S3 bucket (or a prefix of it) with FUSE. The command line,\n\
         the -o options and the passwd files are s3fs's.\n\
         \n\
         General options:\n\
         \x20 -h, --help        print this help and exit\n\
         \x20     --version     print the version and exit\n\
         \x20 -f                stay in the foreground (use it in containers)\n\
         \x20 -d, --debug       log at INFO (one line per request); twice: also FUSE debug, implies -f\n\
         \x20 -s                accepted, no effect\n\
         \x20 -o OPT[,OPT...]   mount options (below); may be repeated\n\
         \n\
         Credentials, first found wins: -o passwd_file=FILE; AWS_ACCESS_KEY_ID and\n\
         AWS_SECRET_ACCESS_KEY [AWS_SESSION_TOKEN]; AWS_CREDENTIAL_FILE; ~/.aws/credentials\n\
         (-o profile=); ~/.passwd-s3fs; /etc/passwd-s3fs. A passwd file holds ACCESS_KEY_ID:SECRET\n\
         or BUCKET:ACCESS_KEY_ID:SECRET lines and must not be readable by others (chmod 600).\n\
         \n\
         SIGTERM, SIGINT and SIGHUP unmount and exit 0 (SIGHUP reopens the log file instead\n\
         when -o logfile= is set).\n\
         \n\
         Mount options (-o):\n"
    );
    for spec in TABLE {
        let tag = match spec.support {
            Support::Supported => "",
            Support::NoEffect => " [no effect]",
            Support::NotYet => " [not supported yet]",
            Support::Obsolete => " [obsolete]",
            Support::Rejected => " [rejected]",
            Support::Discarded => continue,
        };
        s.push_str(&format!("  {:<26} {}{tag}\n", spec.name, spec.meaning));
    }
    s.push_str("\nThe mount-helper words auto, noauto, user, nouser, users, _netdev and nofail are ignored.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3client::{Endpoint, ErrorDetails};

    fn cfg() -> S3Config {
        let mut c = S3Config::new(Endpoint::parse("http://127.0.0.1:9000").unwrap(), "bkt");
        c.region = "us-ashburn-1".into();
        c.addressing = s3client::Addressing::Path;
        c
    }

    #[test]
    fn check_errors_name_the_cause() {
        let d = |status, code: &str| ErrorDetails {
            status,
            code: code.into(),
            message: "msg".into(),
            request_id: String::new(),
        };
        let c = cfg();
        let m = describe_check_error(
            &c,
            &S3Error::SignatureMismatch(d(403, "SignatureDoesNotMatch")),
        );
        assert!(m.starts_with("bucket bkt: signature does not match: check the secret key and the region (signing region us-ashburn-1) (HTTP 403 SignatureDoesNotMatch"), "{m}");
        let m = describe_check_error(&c, &S3Error::NoSuchBucket(d(404, "NoSuchBucket")));
        assert!(m.starts_with("bucket bkt does not exist"), "{m}");
        let m = describe_check_error(&c, &S3Error::Transport("connection refused".into()));
        assert_eq!(
            m,
            "cannot connect to http://127.0.0.1:9000/bkt: connection refused (6 attempts; -o retries=5)"
        );
        let once = S3Config {
            retries: 0,
            ..c.clone()
        };
        let m = describe_check_error(&once, &S3Error::Timeout("no response within 6 s".into()));
        assert_eq!(
            m,
            "no answer from http://127.0.0.1:9000/bkt: no response within 6 s"
        );
        let m = describe_check_error(&c, &S3Error::AccessDenied(d(403, "InvalidAccessKeyId")));
        assert!(m.contains("does not know this access key"), "{m}");
        let m = describe_check_error(
            &c,
            &S3Error::Service(d(400, "AuthorizationHeaderMalformed")),
        );
        assert!(m.contains("wrong signing region us-ashburn-1: pass the bucket's region with -o endpoint=REGION"), "{m}");
    }

    #[test]
    fn usage_lists_the_options() {
        let u = usage("s3fs");
        assert!(u.starts_with("Usage: s3fs BUCKET[:/PATH] MOUNTPOINT"));
        assert!(u.contains("passwd_file"));
        assert!(u.contains("use_cache"));
        assert!(!u.contains("  _netdev "));
    }
}
