//! Every `-o` option s3fs knows, in one table, and the typed [`Options`] they parse into.
//!
//! Each option has one [`Support`] level: implemented, accepted without effect, accepted with
//! a one-line "not supported yet" warning, silently discarded (mount-helper words), or
//! rejected. An option that is not in the table is an error naming it, as libfuse makes it
//! for s3fs. Parsing is pure: warnings are collected in [`Options::warnings`] and logged once
//! logging is set up.

use std::path::PathBuf;
use std::time::Duration;

/// The default endpoint, as s3fs has it.
pub const DEFAULT_URL: &str = "https://s3.amazonaws.com";
/// The default signing region, as s3fs has it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How far mountd honours an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented.
    Supported,
    /// Accepted without a warning; it has no effect on this (SigV4-only) mount.
    NoEffect,
    /// Accepted with the warning "option X is not supported yet, ignored".
    NotYet,
    /// Accepted with the warning "option X is obsolete, ignored".
    Obsolete,
    /// Silently discarded, as s3fs does for mount-helper words (`_netdev`, `auto`, ...).
    Discarded,
    /// Refused with exit 1.
    Rejected,
}

impl Support {
    /// The words used for this level in the README's option table.
    pub fn describe(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::NoEffect => "accepted, no effect",
            Support::NotYet => "accepted with a warning (not supported yet)",
            Support::Obsolete => "accepted with a warning (obsolete)",
            Support::Discarded => "silently discarded",
            Support::Rejected => "rejected (exit 1)",
        }
    }
}

/// One row of the option table.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub support: Support,
    /// One line: what it means (in s3fs), and what mountd does with it.
    pub meaning: &'static str,
}

const fn o(name: &'static str, support: Support, meaning: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        support,
        meaning,
    }
}

use Support::{Discarded, NoEffect, NotYet, Obsolete, Rejected, Supported};

/// Every option: s3fs's man page and help text, the generic FUSE/mount options, and the
/// mount-helper words.
pub const TABLE: &[OptionSpec] = &[
    // Where and what to mount.
    o("bucket", Supported, "bucket[:/path] to mount when not given as the first argument"),
    o("url", Supported, "endpoint URL, http:// or https:// (default https://s3.amazonaws.com); trailing '/' stripped"),
    o("host", Supported, "same setting as url (s3fs stores both in one place; the last one given wins)"),
    o("servicepath", Supported, "path prefix on the endpoint host, before the bucket (default /)"),
    o("region", Supported, "SigV4 signing region (default us-east-1, or derived from an OCI or AWS endpoint host)"),
    o("endpoint", Supported, "legacy alias of region"),
    o("use_path_request_style", Supported, "path-style requests (host/bucket/key) instead of virtual-hosted (bucket.host/key)"),
    o("listobjectsv2", Supported, "list with ListObjectsV2 instead of s3fs's default ListObjects (V1)"),
    // Credentials.
    o("passwd_file", Supported, "s3fs passwd file with the keys (takes precedence over every other source)"),
    o("profile", Supported, "section of ~/.aws/credentials to use (default: default)"),
    o("public_bucket", Supported, "public_bucket=1: anonymous, unsigned requests"),
    o("use_session_token", Supported, "require a session token (AWS_SESSION_TOKEN) with the environment's keys"),
    o("accessKeyId", Rejected, "no longer supported by s3fs: use a passwd file or the environment"),
    o("secretAccessKey", Rejected, "no longer supported by s3fs: use a passwd file or the environment"),
    o("iam_role", NotYet, "IAM role credentials from the instance metadata service"),
    o("imdsv1only", NotYet, "IMDSv1 only (with iam_role)"),
    o("ecs", NotYet, "credentials from the ECS container endpoint"),
    o("ibm_iam_auth", NotYet, "IBM IAM authentication"),
    o("ibm_iam_endpoint", NotYet, "IBM IAM endpoint"),
    o("credlib", NotYet, "external credential library"),
    o("credlib_opts", NotYet, "options of the external credential library"),
    // Connection.
    o("connect_timeout", Supported, "seconds to connect (default 300)"),
    o("readwrite_timeout", Supported, "seconds to wait for the next body bytes, and with connect_timeout for response headers (default 120)"),
    o("retries", Supported, "retries of a failed request (default 5)"),
    o("no_check_certificate", Supported, "do not verify the server's TLS certificate"),
    o("ssl_verify_hostname", NotYet, "verify the TLS host name (always verified unless no_check_certificate)"),
    o("ssl_client_cert", NotYet, "TLS client certificate"),
    o("cipher_suites", NotYet, "TLS cipher list"),
    o("nodnscache", NotYet, "disable the DNS cache"),
    o("nosscache", NotYet, "disable the TLS session cache"),
    o("proxy", NotYet, "HTTP(S) proxy"),
    o("proxy_cred_file", NotYet, "proxy credentials file"),
    o("ipresolve", NotYet, "IPv4 or IPv6 only"),
    o("noua", NotYet, "send no User-Agent header"),
    o("requester_pays", NotYet, "send x-amz-request-payer: requester"),
    o("sigv4", NoEffect, "sign with SigV4 (mountd always does)"),
    o("sigv2", NotYet, "sign with SigV2 (mountd signs with SigV4 only)"),
    o("enable_unsigned_payload", NotYet, "UNSIGNED-PAYLOAD instead of the body's SHA-256"),
    o("enable_content_md5", NotYet, "send Content-MD5 with uploads"),
    // Caches and listing.
    o("stat_cache_expire", Supported, "seconds attributes, lookups and listings are trusted (mountd default: the filesystem's short TTL, see README)"),
    o("stat_cache_interval_expire", NotYet, "TTL counted from the last access"),
    o("max_stat_cache_size", Supported, "most entries in the attribute cache (default 100000)"),
    o("enable_negative_cache", Supported, "remember that a name does not exist, for the same TTL (default on)"),
    o("enable_noobj_cache", Supported, "alias of enable_negative_cache"),
    o("disable_negative_cache", Supported, "do not remember that a name does not exist"),
    o("disable_noobj_cache", Supported, "alias of disable_negative_cache"),
    o("list_object_max_keys", Supported, "max-keys asked of each LIST request (at least 1000, default 1000)"),
    o("compat_dir", NotYet, "also recognise dir_$folder$ objects and directories without markers"),
    o("notsup_compat_dir", NoEffect, "s3fs's default since 1.90"),
    o("complement_stat", NotYet, "complement permissions of entries without mode"),
    o("use_cache", NotYet, "local file cache folder"),
    o("check_cache_dir_exist", NotYet, "fail if the cache folder does not exist"),
    o("del_cache", NotYet, "wipe the cache at start and exit"),
    o("tmpdir", Supported, "folder where files being written are staged before upload (default /tmp)"),
    o("ensure_diskfree", NotYet, "MB of free disk to keep for cache and temp files"),
    o("free_space_ratio", NotYet, "minimum free-space ratio of the cache disk"),
    o("set_check_cache_sigusr1", NotYet, "cache check on SIGUSR1"),
    o("fake_diskfree", NotYet, "fake free disk space (testing)"),
    o("fd_page_size", Obsolete, "ignored by s3fs too"),
    o("bucket_size", NotYet, "size reported by statvfs"),
    // Writing.
    o("nomultipart", Supported, "single PUT for every upload (mountd has no multipart upload yet, so this is always so)"),
    o("default_acl", NotYet, "canned ACL of written objects"),
    o("storage_class", NotYet, "storage class of written objects"),
    o("use_rrs", Obsolete, "reduced redundancy storage (use storage_class)"),
    o("use_sse", NotYet, "server-side encryption (SSE-S3, SSE-C, SSE-KMS)"),
    o("load_sse_c", NotYet, "SSE-C keys for reading"),
    o("ahbe_conf", NotYet, "extra HTTP headers by file suffix"),
    o("mime", Supported, "mime.types file giving the Content-Type of uploads by extension (default /etc/mime.types)"),
    o("multipart_size", NotYet, "multipart part size in MB"),
    o("multipart_copy_size", NotYet, "multipart copy part size in MB"),
    o("multipart_threshold", NotYet, "size above which uploads are multipart"),
    o("max_dirty_data", NotYet, "flush after this much dirty data"),
    o("putheader_mp_threshold", NotYet, "threshold of the multipart header-update copy"),
    o("singlepart_copy_limit", NotYet, "largest single-part copy"),
    o("streamupload", NotYet, "upload parts while writing"),
    o("max_thread_count", NotYet, "parallel request workers"),
    o("parallel_count", Obsolete, "deprecated: max_thread_count"),
    o("multireq_max", Obsolete, "deprecated: max_thread_count"),
    o("parallel_upload", Obsolete, "deprecated: max_thread_count"),
    o("nomixupload", NotYet, "no server-side copy of unchanged ranges"),
    o("nocopyapi", NotYet, "never use PUT-copy"),
    o("norenameapi", NotYet, "no PUT-copy for rename"),
    o("hard_remove", NotYet, "delete on unlink even while open"),
    o("use_xattr", NotYet, "extended attributes in x-amz-meta-xattr"),
    o("use_wtf8", NotYet, "map invalid UTF-8 names"),
    o("update_parent_dir_stat", NotYet, "update the parent's times on create and delete"),
    o("noxmlns", Obsolete, "obsolete XML namespace switch"),
    // Ownership and permissions.
    o("uid", Supported, "owner of every entry (numeric; uid=0 only as root)"),
    o("gid", Supported, "group of every entry (numeric; gid=0 only as root)"),
    o("umask", Supported, "octal umask for every entry under the mount"),
    o("mp_umask", Supported, "octal umask of the mount root (with allow_other; without it the root is 0700)"),
    o("allow_other", Supported, "let other users access the mount (needs user_allow_other in /etc/fuse.conf unless root)"),
    o("allow_root", Supported, "let root access the mount"),
    o("default_permissions", Supported, "let the kernel check permissions"),
    // Logging.
    o("dbglevel", Supported, "log level: crit, err, warn, info, dbg (default: warn)"),
    o("curldbg", Supported, "debug logs of the HTTP client"),
    o("logfile", Supported, "append logs to this file instead of stderr; SIGHUP reopens it"),
    o("no_time_stamp_msg", Supported, "no time stamps in log lines"),
    o("insecure_logging", NotYet, "log secrets (mountd never does)"),
    o("instance_name", NotYet, "instance name in logs"),
    // Generic FUSE / mount options.
    o("ro", Supported, "read-only mount"),
    o("rw", Supported, "read-write mount (the default)"),
    o("nonempty", NoEffect, "FUSE 3 mounts over non-empty directories anyway (a warning says so)"),
    o("fsname", Supported, "source name shown in /proc/mounts (default: the program name)"),
    o("debug", Supported, "FUSE debug output, like a second -d (implies -f)"),
    o("nosuid", NoEffect, "mount flag (fusermount3 sets nosuid and nodev for non-root users anyway)"),
    o("suid", NoEffect, "mount flag"),
    o("nodev", NoEffect, "mount flag"),
    o("dev", NoEffect, "mount flag"),
    o("noexec", NotYet, "mount flag: not applied yet (fuse3 cannot set it)"),
    o("exec", NoEffect, "mount flag (the default)"),
    o("noatime", NoEffect, "mount flag (atime is stored only when a file is written)"),
    o("atime", NoEffect, "mount flag"),
    o("relatime", NoEffect, "mount flag"),
    o("norelatime", NoEffect, "mount flag"),
    o("strictatime", NoEffect, "mount flag"),
    o("nodiratime", NoEffect, "mount flag"),
    o("diratime", NoEffect, "mount flag"),
    o("lazytime", NoEffect, "mount flag"),
    o("sync", NoEffect, "mount flag (every close uploads anyway)"),
    o("async", NoEffect, "mount flag"),
    o("dirsync", NoEffect, "mount flag"),
    o("kernel_cache", NotYet, "libfuse: keep the page cache across opens"),
    o("auto_cache", NotYet, "libfuse: page cache by mtime"),
    o("noauto_cache", NotYet, "libfuse"),
    o("entry_timeout", NotYet, "libfuse: kernel entry TTL (mountd uses stat_cache_expire)"),
    o("attr_timeout", NotYet, "libfuse: kernel attribute TTL (mountd uses stat_cache_expire)"),
    o("negative_timeout", NotYet, "libfuse: kernel negative TTL"),
    o("ac_attr_timeout", NotYet, "libfuse"),
    o("max_read", NotYet, "libfuse: largest read request"),
    o("max_write", NotYet, "libfuse: largest write request"),
    o("max_readahead", NotYet, "libfuse: kernel readahead"),
    o("max_background", NotYet, "libfuse: background requests"),
    o("congestion_threshold", NotYet, "libfuse"),
    o("max_idle_threads", NotYet, "libfuse"),
    o("direct_io", NotYet, "libfuse: bypass the page cache"),
    o("big_writes", Obsolete, "libfuse 2 only"),
    o("large_read", Obsolete, "libfuse 2 only"),
    o("auto_unmount", NotYet, "libfuse: unmount when the daemon dies"),
    o("use_ino", NotYet, "libfuse"),
    o("readdir_ino", NotYet, "libfuse"),
    o("intr", NotYet, "libfuse"),
    o("clone_fd", NotYet, "libfuse"),
    o("noforget", NotYet, "libfuse"),
    o("remember", NotYet, "libfuse"),
    o("subtype", NotYet, "libfuse: file system subtype"),
    // Mount-helper words s3fs discards.
    o("auto", Discarded, "fstab"),
    o("noauto", Discarded, "fstab"),
    o("user", Discarded, "fstab"),
    o("nouser", Discarded, "fstab"),
    o("users", Discarded, "fstab"),
    o("_netdev", Discarded, "fstab"),
    o("nofail", Discarded, "fstab"),
    o("defaults", Discarded, "fstab"),
    o("f2", Discarded, "ignored by s3fs"),
];

/// Look an option up by name.
pub fn spec(name: &str) -> Option<&'static OptionSpec> {
    TABLE.iter().find(|s| s.name == name)
}

/// The README's option table (markdown), generated from [`TABLE`].
pub fn markdown_table() -> String {
    let mut s = String::from("| option | mountd | meaning |\n|---|---|---|\n");
    for spec in TABLE {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            spec.name,
            spec.support.describe(),
            spec.meaning.replace('|', "\\|")
        ));
    }
    s
}

/// s3fs's log levels (`dbglevel=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `crit`, `critical`, `silent`; `err`, `error` (both map to tracing's ERROR).
    Error,
    /// `warn`, `warning`, `wan`.
    Warn,
    /// `info`, `inf`, `information`.
    Info,
    /// `dbg`, `debug`.
    Debug,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.to_ascii_lowercase().as_str() {
            "silent" | "critical" | "crit" | "error" | "err" => Some(LogLevel::Error),
            "wan" | "warn" | "warning" => Some(LogLevel::Warn),
            "inf" | "info" | "information" => Some(LogLevel::Info),
            "dbg" | "debug" => Some(LogLevel::Debug),
            _ => None,
        }
    }
}

/// A credential source that s3fs defers to (`iam_role`, `ecs`, `credlib`, `ibm_iam_auth`),
/// which mountd does not have yet.
pub type DeferredSource = &'static str;

/// The `-o` options, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `bucket=` (may carry `:/path`).
    pub bucket: Option<String>,
    /// `url=` / `host=`, validated, trailing `/` stripped.
    pub url: String,
    /// `servicepath=`: `""` or `/path` without trailing `/`.
    pub servicepath: String,
    /// `region=` / `endpoint=`.
    pub region: Option<String>,
    pub passwd_file: Option<PathBuf>,
    /// `profile=`; `None` means `default`.
    pub profile: Option<String>,
    pub public_bucket: bool,
    pub use_session_token: bool,
    /// `iam_role`, `ecs`, `credlib` or `ibm_iam_auth`, if given.
    pub deferred_credentials: Option<DeferredSource>,
    pub path_style: bool,
    pub list_v2: bool,
    pub nomultipart: bool,
    pub connect_timeout: Duration,
    pub readwrite_timeout: Duration,
    pub retries: u32,
    pub no_check_certificate: bool,
    pub stat_cache_expire: Option<Duration>,
    pub max_stat_cache_size: Option<usize>,
    pub list_object_max_keys: Option<u32>,
    pub negative_cache: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub umask: Option<u32>,
    pub mp_umask: Option<u32>,
    pub allow_other: bool,
    pub allow_root: bool,
    pub default_permissions: bool,
    /// `ro` was given.
    pub ro: bool,
    /// `rw` was given.
    pub rw: bool,
    pub fsname: Option<String>,
    /// Where files being written are staged (s3fs `tmpdir`).
    pub tmpdir: Option<PathBuf>,
    /// The mime.types file (s3fs `mime`).
    pub mime: Option<PathBuf>,
    /// `-o debug` (libfuse's FUSE debug; implies foreground).
    pub fuse_debug: bool,
    pub dbglevel: Option<LogLevel>,
    pub curldbg: bool,
    pub logfile: Option<PathBuf>,
    pub no_time_stamp_msg: bool,
    /// One-line warnings to log once logging is up.
    pub warnings: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bucket: None,
            url: DEFAULT_URL.to_string(),
            servicepath: String::new(),
            region: None,
            passwd_file: None,
            profile: None,
            public_bucket: false,
            use_session_token: false,
            deferred_credentials: None,
            path_style: false,
            list_v2: false,
            nomultipart: false,
            connect_timeout: Duration::from_secs(300),
            readwrite_timeout: Duration::from_secs(120),
            retries: 5,
            no_check_certificate: false,
            stat_cache_expire: None,
            max_stat_cache_size: None,
            list_object_max_keys: None,
            negative_cache: true,
            uid: None,
            gid: None,
            umask: None,
            mp_umask: None,
            allow_other: false,
            allow_root: false,
            default_permissions: false,
            ro: false,
            rw: false,
            fsname: None,
            tmpdir: None,
            mime: None,
            fuse_debug: false,
            dbglevel: None,
            curldbg: false,
            logfile: None,
            no_time_stamp_msg: false,
            warnings: Vec::new(),
        }
    }
}

/// An option that cannot be accepted. Messages name the option and never echo the value of
/// a credential option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("unknown option '{0}' (see -h for the options)")]
    Unknown(String),
    #[error("option {0} is no longer supported: put the keys in a passwd file (-o passwd_file=) or in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoLongerSupported(&'static str),
    #[error("option {0} needs a value ({0}=...)")]
    MissingValue(&'static str),
    #[error("option {0} takes no value")]
    UnexpectedValue(&'static str),
    #[error("option {name} has an invalid value {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
    /// s3fs's own wording.
    #[error("option {0} has invalid format, missing http / https protocol")]
    UrlScheme(&'static str),
    /// s3fs's own wording.
    #[error("root user can only specify {0}=0.")]
    RootOnly(&'static str),
}

/// What option parsing needs to know about the process.
#[derive(Debug, Clone, Copy)]
pub struct OptionContext {
    pub euid: u32,
}

impl OptionContext {
    pub fn from_process() -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        OptionContext {
            euid: unsafe { libc::geteuid() },
        }
    }
}

fn number<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, OptionError> {
    v.trim().parse::<T>().map_err(|_| OptionError::Invalid {
        name,
        value: v.to_string(),
        why: "expected a non-negative decimal number",
    })
}

fn octal(name: &'static str, v: &str) -> Result<u32, OptionError> {
    let bad = || OptionError::Invalid {
        name,
        value: v.to_string(),
        why: "expected an octal mode such as 022",
    };
    let t = v.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let n = u32::from_str_radix(t, 8).map_err(|_| bad())?;
    if n > 0o7777 {
        return Err(bad());
    }
    // s3fs keeps only the permission bits.
    Ok(n & 0o777)
}

fn endpoint_url(name: &'static str, v: &str) -> Result<String, OptionError> {
    let url = v.trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(OptionError::UrlScheme(name));
    }
    Ok(url.to_string())
}

impl Options {
    /// Parse `-o` items (already split on commas), in order; a later item overrides an
    /// earlier one.
    pub fn parse<S: AsRef<str>>(items: &[S], ctx: OptionContext) -> Result<Options, OptionError> {
        let mut o = Options::default();
        for item in items {
            o.apply(item.as_ref(), ctx)?;
        }
        Ok(o)
    }

    fn apply(&mut self, item: &str, ctx: OptionContext) -> Result<(), OptionError> {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        let spec = spec(key).ok_or_else(|| OptionError::Unknown(key.to_string()))?;
        let name = spec.name;
        match spec.support {
            Support::Supported => {}
            Support::NoEffect | Support::Discarded => {
                if name == "nonempty" {
                    self.warnings.push(
                        "option nonempty is ignored: FUSE 3 mounts over a non-empty directory anyway"
                            .into(),
                    );
                }
                return Ok(());
            }
            Support::NotYet => {
                if matches!(name, "iam_role" | "ecs" | "credlib" | "ibm_iam_auth") {
                    self.deferred_credentials = Some(name);
                }
                self.warnings
                    .push(format!("option {name} is not supported yet, ignored"));
                return Ok(());
            }
            Support::Obsolete => {
                self.warnings
                    .push(format!("option {name} is obsolete, ignored"));
                return Ok(());
            }
            Support::Rejected => return Err(OptionError::NoLongerSupported(name)),
        }
        let need = || value.ok_or(OptionError::MissingValue(name));
        let flag = || match value {
            Some(_) => Err(OptionError::UnexpectedValue(name)),
            None => Ok(true),
        };
        let invalid = |why: &'static str| OptionError::Invalid {
            name,
            value: value.unwrap_or("").to_string(),
            why,
        };
        match name {
            "bucket" => {
                let v = need()?;
                if v.is_empty() {
                    return Err(invalid("empty bucket name"));
                }
                self.bucket = Some(v.to_string());
            }
            "url" | "host" => self.url = endpoint_url(name, need()?)?,
            "servicepath" => {
                let v = need()?.trim_matches('/');
                self.servicepath = if v.is_empty() {
                    String::new()
                } else {
                    format!("/{v}")
                };
            }
            "region" | "endpoint" => {
                let v = need()?;
                if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '/') {
                    return Err(invalid("expected a region name such as us-east-1"));
                }
                self.region = Some(v.to_string());
            }
            "use_path_request_style" => self.path_style = flag()?,
            "listobjectsv2" => self.list_v2 = flag()?,
            "passwd_file" => {
                let v = need()?;
                if v.is_empty() {
                    return Err(invalid("empty path"));
                }
                self.passwd_file = Some(PathBuf::from(v));
            }
            "profile" => {
                let v = need()?;
                if v.is_empty() {
                    return Err(invalid("empty profile name"));
                }
                self.profile = Some(v.to_string());
            }
            "public_bucket" => {
                self.public_bucket = match value.map(str::trim) {
                    None | Some("1") => true,
                    Some("0") => false,
                    Some(_) => return Err(invalid("expected 1 or 0")),
                }
            }
            "use_session_token" => self.use_session_token = flag()?,
            "connect_timeout" => {
                let n: u64 = number(name, need()?)?;
                if n == 0 {
                    return Err(invalid("must be at least 1 second"));
                }
                self.connect_timeout = Duration::from_secs(n);
            }
            "readwrite_timeout" => {
                let n: u64 = number(name, need()?)?;
                if n == 0 {
                    return Err(invalid("must be at least 1 second"));
                }
                self.readwrite_timeout = Duration::from_secs(n);
            }
            "retries" => self.retries = number(name, need()?)?,
            "no_check_certificate" => self.no_check_certificate = flag()?,
            "stat_cache_expire" => {
                self.stat_cache_expire = Some(Duration::from_secs(number(name, need()?)?))
            }
            "max_stat_cache_size" => self.max_stat_cache_size = Some(number(name, need()?)?),
            "list_object_max_keys" => {
                let n: u32 = number(name, need()?)?;
                if n < 1000 {
                    // s3fs: "argument should be over 1000: list_object_max_keys"
                    return Err(invalid("should be 1000 or more"));
                }
                self.list_object_max_keys = Some(n);
            }
            "enable_negative_cache" | "enable_noobj_cache" => self.negative_cache = flag()?,
            "disable_negative_cache" | "disable_noobj_cache" => self.negative_cache = !flag()?,
            "uid" | "gid" => {
                let n: u32 = number(name, need()?)?;
                if n == 0 && ctx.euid != 0 {
                    return Err(OptionError::RootOnly(name));
                }
                if name == "uid" {
                    self.uid = Some(n);
                } else {
                    self.gid = Some(n);
                }
            }
            "umask" => self.umask = Some(octal(name, need()?)?),
            "mp_umask" => self.mp_umask = Some(octal(name, need()?)?),
            "allow_other" => self.allow_other = flag()?,
            "allow_root" => self.allow_root = flag()?,
            "default_permissions" => self.default_permissions = flag()?,
            "dbglevel" => {
                self.dbglevel = Some(
                    LogLevel::parse(need()?)
                        .ok_or_else(|| invalid("expected crit, err, warn, info or dbg"))?,
                )
            }
            "curldbg" => {
                match value {
                    None | Some("normal") | Some("body") => {}
                    Some(_) => return Err(invalid("expected normal or body")),
                }
                self.curldbg = true;
            }
            "logfile" => {
                let v = need()?;
                if v.is_empty() {
                    return Err(invalid("empty path"));
                }
                self.logfile = Some(PathBuf::from(v));
            }
            "no_time_stamp_msg" => self.no_time_stamp_msg = flag()?,
            "tmpdir" | "mime" => {
                let v = need()?;
                if v.is_empty() {
                    return Err(invalid("empty path"));
                }
                let path = Some(PathBuf::from(v));
                if name == "tmpdir" {
                    self.tmpdir = path;
                } else {
                    self.mime = path;
                }
            }
            "ro" => {
                flag()?;
                self.ro = true;
                self.rw = false;
            }
            "rw" => {
                flag()?;
                self.rw = true;
                self.ro = false;
            }
            "fsname" => {
                let v = need()?;
                if v.is_empty() {
                    return Err(invalid("empty name"));
                }
                self.fsname = Some(v.to_string());
            }
            "debug" => self.fuse_debug = flag()?,
            "nomultipart" => self.nomultipart = flag()?,
            // A table row marked supported without a parser; `every_supported_option_has_a_parser`
            // keeps this from happening, and user input must never crash the daemon if it does.
            _ => return Err(invalid("internal error: this option has no parser")),
        }
        Ok(())
    }
}

/// The signing region s3fs users mean when they give none, derived from the endpoint host:
/// Oracle's `<namespace>.compat.objectstorage.<region>.oraclecloud.com` (OCI rejects any
/// other region), and AWS's `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`,
/// `s3.dualstack.<region>.amazonaws.com`, and their `bucket.` virtual-hosted forms.
pub fn region_from_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let looks_like_region = |r: &str| {
        !r.is_empty()
            && r.contains('-')
            && r.bytes().any(|b| b.is_ascii_digit())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    // OCI: ... compat . objectstorage . <region> . <anything>
    if let Some(i) = labels
        .windows(2)
        .position(|w| w[0] == "compat" && w[1] == "objectstorage")
    {
        if let Some(r) = labels.get(i + 2) {
            if looks_like_region(r) && labels.len() > i + 3 {
                return Some(r.to_string());
            }
        }
    }
    // AWS: ... <label> . amazonaws . com[.cn]
    if let Some(i) = labels.iter().position(|l| *l == "amazonaws") {
        if i >= 1 {
            let l = labels[i - 1];
            let cand = l.strip_prefix("s3-").unwrap_or(l);
            if looks_like_region(cand) {
                return Some(cand.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: OptionContext = OptionContext { euid: 1000 };
    const ROOT: OptionContext = OptionContext { euid: 0 };

    fn parse(items: &[&str]) -> Result<Options, OptionError> {
        Options::parse(items, USER)
    }

    #[test]
    fn the_blog_options() {
        let o = parse(&[
            "endpoint=us-east-1",
            "passwd_file=passwd",
            "url=http://127.0.0.1:9000",
            "nomultipart",
            "use_path_request_style",
        ])
        .unwrap();
        assert_eq!(o.region.as_deref(), Some("us-east-1"));
        assert_eq!(o.passwd_file, Some(PathBuf::from("passwd")));
        assert_eq!(o.url, "http://127.0.0.1:9000");
        assert!(o.path_style);
        assert!(!o.list_v2);
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn defaults_are_s3fs_defaults() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.url, DEFAULT_URL);
        assert_eq!(o.connect_timeout, Duration::from_secs(300));
        assert_eq!(o.readwrite_timeout, Duration::from_secs(120));
        assert_eq!(o.retries, 5);
        assert!(o.negative_cache);
        assert!(!o.path_style);
    }

    #[test]
    fn url_rules() {
        assert_eq!(
            parse(&["url=https://h:9000///"]).unwrap().url,
            "https://h:9000"
        );
        let e = parse(&["url=127.0.0.1:9000"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option url has invalid format, missing http / https protocol"
        );
        assert_eq!(parse(&["host=http://h"]).unwrap().url, "http://h");
        assert!(parse(&["host=h"]).is_err());
        // The last of url/host wins.
        assert_eq!(
            parse(&["host=http://a", "url=http://b"]).unwrap().url,
            "http://b"
        );
        assert_eq!(
            parse(&["url"]).unwrap_err(),
            OptionError::MissingValue("url")
        );
    }

    #[test]
    fn region_and_endpoint_are_aliases() {
        assert_eq!(
            parse(&["region=eu-west-1", "endpoint=us-ashburn-1"])
                .unwrap()
                .region
                .as_deref(),
            Some("us-ashburn-1")
        );
        assert!(parse(&["region="]).is_err());
    }

    #[test]
    fn servicepath() {
        assert_eq!(parse(&["servicepath=/"]).unwrap().servicepath, "");
        assert_eq!(parse(&["servicepath=s3/"]).unwrap().servicepath, "/s3");
        assert_eq!(parse(&["servicepath=/a/b"]).unwrap().servicepath, "/a/b");
    }

    #[test]
    fn unknown_and_rejected_options() {
        let e = parse(&["frobnicate=1"]).unwrap_err();
        assert_eq!(e, OptionError::Unknown("frobnicate".into()));
        assert!(e.to_string().contains("'frobnicate'"));
        let e = parse(&["secretAccessKey=VERYSECRET"]).unwrap_err();
        assert!(e.to_string().contains("no longer supported"));
        assert!(!e.to_string().contains("VERYSECRET"));
        assert!(!format!("{e:?}").contains("VERYSECRET"));
        let e = parse(&["accessKeyId=AKIA"]).unwrap_err();
        assert_eq!(e, OptionError::NoLongerSupported("accessKeyId"));
    }

    #[test]
    fn not_yet_supported_options_warn() {
        let o = parse(&["use_cache=/tmp", "curldbg", "nonempty", "sigv4", "noxmlns"]).unwrap();
        assert_eq!(
            o.warnings,
            [
                "option use_cache is not supported yet, ignored",
                "option nonempty is ignored: FUSE 3 mounts over a non-empty directory anyway",
                "option noxmlns is obsolete, ignored",
            ]
        );
        assert!(o.curldbg);
    }

    #[test]
    fn mount_helper_words_are_discarded_silently() {
        let o = parse(&[
            "_netdev", "auto", "noauto", "user", "nouser", "users", "nofail",
        ])
        .unwrap();
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn deferred_credential_sources_are_recorded() {
        assert_eq!(
            parse(&["iam_role=auto"]).unwrap().deferred_credentials,
            Some("iam_role")
        );
        assert_eq!(parse(&["ecs"]).unwrap().deferred_credentials, Some("ecs"));
        assert_eq!(parse(&["imdsv1only"]).unwrap().deferred_credentials, None);
    }

    #[test]
    fn uid_gid_umask() {
        let o = parse(&["uid=1000", "gid=100", "umask=022", "mp_umask=0o077"]).unwrap();
        assert_eq!(
            (o.uid, o.gid, o.umask, o.mp_umask),
            (Some(1000), Some(100), Some(0o022), Some(0o077))
        );
        assert_eq!(parse(&["umask=7777"]).unwrap().umask, Some(0o777));
        for bad in [
            "uid=abc",
            "uid=-1",
            "gid=1x",
            "umask=8",
            "umask=",
            "umask=abc",
        ] {
            let e = parse(&[bad]).unwrap_err();
            let name = bad.split('=').next().unwrap();
            assert!(
                e.to_string().starts_with(&format!("option {name} ")),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            parse(&["uid=0"]).unwrap_err().to_string(),
            "root user can only specify uid=0."
        );
        assert_eq!(
            parse(&["gid=0"]).unwrap_err().to_string(),
            "root user can only specify gid=0."
        );
        let o = Options::parse(&["uid=0", "gid=0"], ROOT).unwrap();
        assert_eq!((o.uid, o.gid), (Some(0), Some(0)));
    }

    #[test]
    fn dbglevel() {
        for (v, l) in [
            ("crit", LogLevel::Error),
            ("err", LogLevel::Error),
            ("warn", LogLevel::Warn),
            ("info", LogLevel::Info),
            ("dbg", LogLevel::Debug),
            ("debug", LogLevel::Debug),
            ("INFO", LogLevel::Info),
        ] {
            assert_eq!(
                parse(&[&format!("dbglevel={v}")]).unwrap().dbglevel,
                Some(l)
            );
        }
        let e = parse(&["dbglevel=loud"]).unwrap_err();
        assert!(e.to_string().starts_with("option dbglevel "), "{e}");
    }

    #[test]
    fn numbers() {
        let o = parse(&[
            "connect_timeout=10",
            "readwrite_timeout=30",
            "retries=2",
            "stat_cache_expire=900",
            "max_stat_cache_size=1000",
            "list_object_max_keys=2000",
        ])
        .unwrap();
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.readwrite_timeout, Duration::from_secs(30));
        assert_eq!(o.retries, 2);
        assert_eq!(o.stat_cache_expire, Some(Duration::from_secs(900)));
        assert_eq!(o.max_stat_cache_size, Some(1000));
        assert_eq!(o.list_object_max_keys, Some(2000));
        assert!(parse(&["list_object_max_keys=10"]).is_err());
        assert!(parse(&["connect_timeout=0"]).is_err());
        assert!(parse(&["retries=many"]).is_err());
    }

    #[test]
    fn flags_and_values() {
        assert_eq!(
            parse(&["allow_other=1"]).unwrap_err(),
            OptionError::UnexpectedValue("allow_other")
        );
        let o = parse(&["allow_other", "allow_root", "default_permissions", "ro"]).unwrap();
        assert!(o.allow_other && o.allow_root && o.default_permissions && o.ro);
        let o = parse(&["nosuid", "suid", "nodev", "exec", "noatime"]).unwrap();
        assert!(o.warnings.is_empty());
        let o = parse(&["noexec"]).unwrap();
        assert_eq!(o.warnings, ["option noexec is not supported yet, ignored"]);
        assert!(!parse(&["disable_negative_cache"]).unwrap().negative_cache);
        assert!(
            parse(&["disable_noobj_cache", "enable_negative_cache"])
                .unwrap()
                .negative_cache
        );
        assert!(parse(&["public_bucket=1"]).unwrap().public_bucket);
        assert!(!parse(&["public_bucket=0"]).unwrap().public_bucket);
        assert!(parse(&["public_bucket=2"]).is_err());
        let o = parse(&["rw"]).unwrap();
        assert!(o.rw && !o.ro);
    }

    #[test]
    fn every_supported_option_has_a_parser() {
        // A supported option given a plausible value must not hit `unreachable!`.
        for s in TABLE.iter().filter(|s| s.support == Support::Supported) {
            let ok = std::iter::once(s.name.to_string())
                .chain(
                    ["1000", "http://h", "info", "022"]
                        .iter()
                        .map(|v| format!("{}={v}", s.name)),
                )
                .any(|item| Options::parse(&[item], ROOT).is_ok());
            assert!(ok, "{}: no value accepted", s.name);
        }
    }

    #[test]
    fn table_has_no_duplicates_and_covers_s3fs_help() {
        let mut names: Vec<_> = TABLE.iter().map(|s| s.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate names in TABLE");
        let help = "ahbe_conf bucket_size check_cache_dir_exist compat_dir connect_timeout credlib credlib_opts curldbg dbglevel default_acl del_cache disable_negative_cache ecs enable_content_md5 enable_negative_cache enable_unsigned_payload ensure_diskfree free_space_ratio hard_remove host iam_role ibm_iam_auth ibm_iam_endpoint imdsv1only insecure_logging instance_name ipresolve list_object_max_keys listobjectsv2 load_sse_c logfile max_dirty_data max_stat_cache_size max_thread_count mime mp_umask multipart_copy_size multipart_size multipart_threshold no_time_stamp_msg nocopyapi nodnscache nomixupload nomultipart norenameapi nosscache noua noxmlns passwd_file profile proxy proxy_cred_file public_bucket putheader_mp_threshold readwrite_timeout region requester_pays retries servicepath set_check_cache_sigusr1 sigv2 sigv4 singlepart_copy_limit ssl_client_cert ssl_verify_hostname stat_cache_expire stat_cache_interval_expire storage_class streamupload tmpdir umask update_parent_dir_stat url use_cache use_path_request_style use_rrs use_session_token use_sse use_wtf8 use_xattr";
        let extra = "endpoint bucket uid gid nonempty allow_other allow_root default_permissions ro rw noatime nosuid nodev exec noexec sync async dev suid atime auto noauto user nouser users _netdev cipher_suites complement_stat notsup_compat_dir fake_diskfree fd_page_size f2 parallel_count multireq_max parallel_upload enable_noobj_cache disable_noobj_cache accessKeyId secretAccessKey";
        for name in help.split(' ').chain(extra.split(' ')) {
            assert!(spec(name).is_some(), "{name} missing from TABLE");
        }
        assert!(markdown_table().contains("| `passwd_file` | supported |"));
    }

    #[test]
    fn region_derivation() {
        assert_eq!(
            region_from_host("axaxnpcrorw5.compat.objectstorage.us-ashburn-1.oraclecloud.com")
                .as_deref(),
            Some("us-ashburn-1")
        );
        assert_eq!(
            region_from_host("ns.compat.objectstorage.eu-frankfurt-1.oci.customer-oci.com")
                .as_deref(),
            Some("eu-frankfurt-1")
        );
        assert_eq!(
            region_from_host("s3.eu-west-3.amazonaws.com").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(
            region_from_host("b.s3.dualstack.ap-south-1.amazonaws.com").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(
            region_from_host("s3-us-west-2.amazonaws.com").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region_from_host("s3.amazonaws.com"), None);
        assert_eq!(region_from_host("127.0.0.1"), None);
        assert_eq!(region_from_host("compat.objectstorage"), None);
        assert_eq!(region_from_host("minio.local"), None);
    }

    #[test]
    fn readme_table_is_current() {
        // mountd/README.md carries the generated table between two markers;
        // MOUNTD_BLESS=1 cargo test -p mountd rewrites it.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let (begin, end) = ("<!-- options:begin -->\n", "<!-- options:end -->");
        let i = readme.find(begin).expect("begin marker") + begin.len();
        let j = readme.find(end).expect("end marker");
        let table = markdown_table();
        if readme[i..j] != table {
            if std::env::var_os("MOUNTD_BLESS").is_some() {
                let new = format!("{}{table}{}", &readme[..i], &readme[j..]);
                std::fs::write(path, new).unwrap();
            } else {
                panic!("mountd/README.md's option table is stale: run MOUNTD_BLESS=1 cargo test -p mountd");
            }
        }
    }
}
