//! From the parsed command line to what the other crates take: [`S3Config`], [`FsConfig`],
//! [`MountConfig`], plus the bucket, prefix and mountpoint.
//!
//! Decisions (see the README):
//! - The mount is read-write unless `ro` is given, as in s3fs. Files are staged in `tmpdir`
//!   (default: the system's temp folder) and uploaded whole with one PUT.
//! - `stat_cache_expire=N` sets the metadata TTL (our caches and the kernel's) to N seconds.
//!   Without it mountd keeps the filesystem's short default (1 s), not s3fs's 900 s, so
//!   changes made by other clients show up at once; pass `stat_cache_expire=900` for s3fs's
//!   behaviour. The negative cache uses the same TTL; `disable_negative_cache` sets it to 0.
//! - The region: `region=`/`endpoint=`, else derived from an OCI or AWS endpoint host (and
//!   logged), else us-east-1.
//! - The mount root's mode follows s3fs: 0700 without `allow_other`, else `0777 & !mp_umask`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use s3client::{Addressing, Endpoint, ListVersion, S3Config};
use s3fs_core::{ContentTypes, FsConfig, MountConfig, DEFAULT_CONTENT_TYPE};

use crate::args::CommandLine;
use crate::credentials::{self, CredentialEnv, Source};
use crate::error::{io_reason, StartError};
use crate::options::{region_from_host, Options, DEFAULT_REGION};

/// Facts of the process the plan depends on (injectable for tests).
#[derive(Debug, Clone)]
pub struct PlanContext {
    pub euid: u32,
    pub egid: u32,
    pub credentials: CredentialEnv,
    /// `CURL_CA_BUNDLE`, else `AWS_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
}

impl PlanContext {
    pub fn from_process() -> Self {
        let ca_bundle = ["CURL_CA_BUNDLE", "AWS_CA_BUNDLE"]
            .iter()
            .filter_map(std::env::var_os)
            .find(|v| !v.is_empty())
            .map(PathBuf::from);
        // SAFETY: geteuid/getegid have no preconditions.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        PlanContext {
            euid,
            egid,
            credentials: CredentialEnv::from_process(),
            ca_bundle,
        }
    }
}

/// Everything needed to mount.
#[derive(Debug, Clone)]
pub struct Plan {
    pub bucket: String,
    /// Key prefix of the mount root: `""` or `path/`.
    pub prefix: String,
    /// The mountpoint as given (for messages).
    pub mountpoint_arg: String,
    /// The mountpoint as an absolute path.
    pub mountpoint: PathBuf,
    pub s3: S3Config,
    pub fs: FsConfig,
    pub mount: MountConfig,
    pub credential_source: Source,
    /// Lines to log at INFO (region derivation, credential source, ...).
    pub notes: Vec<String>,
    /// Lines to log at WARN (read-only mount, addressing pitfalls, ...).
    pub warnings: Vec<String>,
}

/// The mime.types of s3fs: `-o mime=FILE` must be readable; the default `/etc/mime.types`
/// may be missing (then every upload is `application/octet-stream`).
fn content_types(options: &Options, notes: &mut Vec<String>) -> Result<ContentTypes, StartError> {
    match &options.mime {
        Some(path) => ContentTypes::load(path).map_err(|e| {
            StartError::msg(format!(
                "option mime: cannot read {}: {}",
                path.display(),
                io_reason(&e)
            ))
        }),
        None => match ContentTypes::load(std::path::Path::new(DEFAULT_MIME_TYPES)) {
            Ok(types) => Ok(types),
            Err(_) => {
                notes.push(format!(
                    "{DEFAULT_MIME_TYPES} is missing: uploads get Content-Type {DEFAULT_CONTENT_TYPE}"
                ));
                Ok(ContentTypes::default())
            }
        },
    }
}

/// Where s3fs reads content types from unless `-o mime=` says otherwise.
const DEFAULT_MIME_TYPES: &str = "/etc/mime.types";

/// Bucket, prefix and mountpoint from the positional arguments and `-o bucket=`.
///
/// The first positional is the bucket (`BUCKET[:/PATH]`) unless `-o bucket=` gave it; then
/// the mountpoint. A bare `s3fs` word after the bucket is ignored (mount helpers); a third
/// argument is an error.
pub fn bucket_and_mountpoint(
    cl: &CommandLine,
    options: &Options,
) -> Result<(String, String, String), StartError> {
    let mut bucket_arg = options.bucket.clone();
    let mut mountpoint = None;
    for p in &cl.positionals {
        if bucket_arg.is_none() {
            bucket_arg = Some(p.clone());
        } else if p == "s3fs" {
            continue;
        } else if mountpoint.is_none() {
            mountpoint = Some(p.clone());
        } else {
            return Err(StartError::msg(format!(
                "specified unknown third option({p})."
            )));
        }
    }
    let bucket_arg = bucket_arg.ok_or_else(|| StartError::msg("missing BUCKET argument."))?;
    let (bucket, prefix) = split_bucket(&bucket_arg)?;
    let mountpoint = mountpoint.ok_or_else(|| StartError::msg("missing MOUNTPOINT argument."))?;
    Ok((bucket, prefix, mountpoint))
}

/// `BUCKET[:/PATH]` → (`BUCKET`, `""` or `PATH/`).
pub fn split_bucket(arg: &str) -> Result<(String, String), StartError> {
    let wrong = || {
        StartError::msg(format!(
            "bucket name and path(\"{arg}\") is wrong, it must be \"bucket[:/path]\"."
        ))
    };
    if arg.contains("://") {
        return Err(wrong());
    }
    let (bucket, path) = match arg.split_once(':') {
        Some((b, p)) => (b, Some(p)),
        None => (arg, None),
    };
    if bucket.is_empty() || bucket.contains('/') {
        return Err(wrong());
    }
    let prefix = match path {
        None => String::new(),
        Some(p) => {
            if !p.starts_with('/') {
                return Err(StartError::msg(format!("path({p}) must be prefix \"/\".")));
            }
            let p = p.trim_matches('/');
            if p.is_empty() {
                String::new()
            } else {
                format!("{p}/")
            }
        }
    };
    Ok((bucket.to_string(), prefix))
}

fn is_ip_or_localhost(host: &str) -> bool {
    host == "localhost" || host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Build the plan: resolve credentials and fill in the configurations.
pub fn plan(
    program: &str,
    cl: &CommandLine,
    options: &Options,
    ctx: &PlanContext,
) -> Result<Plan, StartError> {
    let (bucket, prefix, mountpoint_arg) = bucket_and_mountpoint(cl, options)?;
    let mountpoint =
        crate::mountpoint::absolute(std::path::Path::new(&mountpoint_arg), &ctx.credentials.cwd);
    let mut notes = Vec::new();
    let mut warnings = Vec::new();

    let mut endpoint = Endpoint::parse(&options.url)
        .map_err(|e| StartError::msg(format!("option url: {}", e.trim_start_matches("url "))))?;
    endpoint.base_path.push_str(&options.servicepath);

    let region = match &options.region {
        Some(r) => r.clone(),
        None => match region_from_host(&endpoint.host) {
            Some(r) => {
                notes.push(format!(
                    "signing region {r}, derived from the endpoint host {} (set -o region= to override)",
                    endpoint.host
                ));
                r
            }
            None => DEFAULT_REGION.to_string(),
        },
    };

    let resolved = credentials::resolve(options, &bucket, &ctx.credentials)?;
    notes.push(format!("credentials: {}", resolved.source));

    let addressing = if options.path_style {
        Addressing::Path
    } else {
        Addressing::VirtualHosted
    };
    if addressing == Addressing::VirtualHosted && is_ip_or_localhost(&endpoint.host) {
        warnings.push(format!(
            "virtual-hosted requests go to {bucket}.{}, which cannot resolve for an IP address or localhost: add -o use_path_request_style",
            endpoint.host
        ));
    }

    let mut s3 = S3Config::new(endpoint, bucket.clone());
    s3.addressing = addressing;
    s3.region = region;
    s3.credentials = resolved.credentials;
    s3.list_version = if options.list_v2 {
        ListVersion::V2
    } else {
        ListVersion::V1
    };
    s3.connect_timeout = options.connect_timeout;
    s3.read_timeout = options.readwrite_timeout;
    s3.retries = options.retries;
    s3.insecure_skip_verify = options.no_check_certificate;
    if options.no_check_certificate {
        warnings.push("no_check_certificate: the server's TLS certificate is not verified".into());
    }
    s3.ca_bundle = ctx.ca_bundle.clone();

    let defaults = FsConfig::default();
    let metadata_ttl = options.stat_cache_expire.unwrap_or(defaults.metadata_ttl);
    let negative_ttl = if !options.negative_cache {
        Duration::ZERO
    } else if options.stat_cache_expire.is_some() {
        metadata_ttl
    } else {
        defaults.negative_ttl
    };
    let mp_umask = if options.allow_other {
        options.mp_umask.unwrap_or(0)
    } else {
        0o077 | options.mp_umask.unwrap_or(0)
    };
    let fs = FsConfig {
        prefix: prefix.clone(),
        uid: options.uid.unwrap_or(ctx.euid),
        gid: options.gid.unwrap_or(ctx.egid),
        force_uid: options.uid.is_some(),
        force_gid: options.gid.is_some(),
        umask: options.umask,
        mp_umask,
        metadata_ttl,
        negative_ttl,
        max_stat_cache_size: options
            .max_stat_cache_size
            .unwrap_or(defaults.max_stat_cache_size),
        list_max_keys: options
            .list_object_max_keys
            .unwrap_or(defaults.list_max_keys),
        read_only: options.ro,
        // Absolute: the daemon changes its working directory to `/`.
        tmpdir: options
            .tmpdir
            .as_ref()
            .map_or(defaults.tmpdir, |t| ctx.credentials.cwd.join(t)),
        content_types: Arc::new(content_types(options, &mut notes)?),
    };
    let mount = MountConfig {
        fs_name: options
            .fsname
            .clone()
            .unwrap_or_else(|| program.to_string()),
        allow_other: options.allow_other,
        allow_root: options.allow_root,
        read_only: options.ro,
        default_permissions: options.default_permissions,
    };

    Ok(Plan {
        bucket,
        prefix,
        mountpoint_arg,
        mountpoint,
        s3,
        fs,
        mount,
        credential_source: resolved.source,
        notes,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{self, Action};
    use crate::options::OptionContext;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    struct Env {
        dir: tempfile::TempDir,
        ctx: PlanContext,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let ctx = PlanContext {
            euid: 1000,
            egid: 1000,
            credentials: CredentialEnv {
                vars: BTreeMap::new(),
                home: None,
                system_passwd: dir.path().join("passwd-s3fs"),
                cwd: dir.path().to_path_buf(),
            },
            ca_bundle: None,
        };
        std::fs::write(dir.path().join("passwd"), "AK:SECRETSECRET\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("passwd"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        Env { dir, ctx }
    }

    fn plan_of(args: &[&str], e: &Env) -> Result<Plan, StartError> {
        let Action::Mount(cl) = args::parse(args.iter().copied()).unwrap() else {
            panic!("not a mount")
        };
        let o = Options::parse(&cl.options, OptionContext { euid: e.ctx.euid })?;
        plan("s3fs", &cl, &o, &e.ctx)
    }

    #[test]
    fn mime_types_come_from_the_mime_option() {
        let e = env();
        let types = e.ctx.credentials.cwd.join("types");
        std::fs::write(&types, "text/x-model onnx\n").unwrap();
        let arg = format!("passwd_file=passwd,mime={}", types.display());
        let p = plan_of(&["b", "m", "-o", &arg], &e).unwrap();
        assert_eq!(p.fs.content_types.for_name("m.onnx"), "text/x-model");
        let err = plan_of(
            &["b", "m", "-o", "passwd_file=passwd,mime=/nonexistent/types"],
            &e,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("option mime: cannot read /nonexistent/types"),
            "{err}"
        );
    }

    #[test]
    fn a_relative_tmpdir_is_taken_from_the_working_directory() {
        let e = env();
        let p = plan_of(&["b", "m", "-o", "passwd_file=passwd,tmpdir=stage"], &e).unwrap();
        assert_eq!(p.fs.tmpdir, e.ctx.credentials.cwd.join("stage"));
        let p = plan_of(&["b", "m", "-o", "passwd_file=passwd,tmpdir=/var/tmp"], &e).unwrap();
        assert_eq!(p.fs.tmpdir, std::path::Path::new("/var/tmp"));
    }

    #[test]
    fn the_blog_line() {
        let e = env();
        let p = plan_of(
            &[
                "-f",
                "-d",
                "BUCKET",
                "MP",
                "-o",
                "endpoint=us-east-1",
                "-o",
                "passwd_file=passwd",
                "-o",
                "url=http://127.0.0.1:9000",
                "-o",
                "nomultipart",
                "-o",
                "use_path_request_style",
            ],
            &e,
        )
        .unwrap();
        assert_eq!(p.bucket, "BUCKET");
        assert_eq!(p.prefix, "");
        assert_eq!(p.mountpoint_arg, "MP");
        assert_eq!(
            p.mountpoint,
            std::fs::canonicalize(e.dir.path()).unwrap().join("MP")
        );
        assert_eq!(p.s3.endpoint.scheme, "http");
        assert_eq!(p.s3.endpoint.host, "127.0.0.1");
        assert_eq!(p.s3.endpoint.port, Some(9000));
        assert_eq!(p.s3.addressing, Addressing::Path);
        assert_eq!(p.s3.region, "us-east-1");
        assert_eq!(p.s3.list_version, ListVersion::V1);
        assert_eq!(p.s3.retries, 5);
        assert_eq!(p.s3.connect_timeout, Duration::from_secs(300));
        assert_eq!(p.s3.read_timeout, Duration::from_secs(120));
        let c = p.s3.credentials.as_ref().unwrap();
        assert_eq!(c.access_key_id, "AK");
        assert!(
            !p.mount.read_only && !p.fs.read_only,
            "read-write unless ro"
        );
        assert_eq!(p.mount.fs_name, "s3fs");
        assert_eq!(p.fs.uid, 1000);
        assert!(!p.fs.force_uid);
        assert!(!format!("{p:?}").contains("SECRETSECRET"));
        assert!(!p.notes.join("\n").contains("SECRETSECRET"));
    }

    #[test]
    fn positionals() {
        let e = env();
        let base = ["-o", "passwd_file=passwd"];
        let with = |a: &[&str]| {
            let mut v: Vec<&str> = a.to_vec();
            v.extend(base);
            plan_of(&v, &e)
        };
        let p = with(&["b:/some/dir/", "m"]).unwrap();
        assert_eq!((p.bucket.as_str(), p.prefix.as_str()), ("b", "some/dir/"));
        assert_eq!(p.fs.prefix, "some/dir/");
        let p = with(&["b:/", "m"]).unwrap();
        assert_eq!(p.prefix, "");
        let p = with(&["m", "-o", "bucket=b2:/x"]).unwrap();
        assert_eq!((p.bucket.as_str(), p.prefix.as_str()), ("b2", "x/"));
        assert_eq!(p.mountpoint_arg, "m");
        let p = with(&["b", "s3fs", "m"]).unwrap();
        assert_eq!(p.mountpoint_arg, "m");
        let err = |a: &[&str]| with(a).unwrap_err().to_string();
        assert_eq!(err(&["b", "m", "x"]), "specified unknown third option(x).");
        assert_eq!(err(&[]), "missing BUCKET argument.");
        assert_eq!(err(&["b"]), "missing MOUNTPOINT argument.");
        assert_eq!(err(&["b:dir", "m"]), "path(dir) must be prefix \"/\".");
        assert!(err(&["http://b", "m"]).contains("it must be \"bucket[:/path]\""));
    }

    #[test]
    fn region_is_derived_from_an_oci_host_and_logged() {
        let e = env();
        let p = plan_of(
            &[
                "b",
                "m",
                "-o",
                "passwd_file=passwd,url=https://ns.compat.objectstorage.us-ashburn-1.oraclecloud.com/",
            ],
            &e,
        )
        .unwrap();
        assert_eq!(p.s3.region, "us-ashburn-1");
        assert_eq!(p.s3.addressing, Addressing::VirtualHosted);
        assert!(p.notes.iter().any(|n| n.contains("derived")));
        // An explicit region wins.
        let p = plan_of(
            &[
                "b",
                "m",
                "-o",
                "passwd_file=passwd,endpoint=eu-frankfurt-1,url=https://ns.compat.objectstorage.us-ashburn-1.oraclecloud.com",
            ],
            &e,
        )
        .unwrap();
        assert_eq!(p.s3.region, "eu-frankfurt-1");
        assert!(!p.notes.iter().any(|n| n.contains("derived")));
    }

    #[test]
    fn caches_permissions_and_mount_options() {
        let e = env();
        let p = plan_of(
            &[
                "b",
                "m",
                "-o",
                "passwd_file=passwd,stat_cache_expire=900,max_stat_cache_size=1000,uid=1,gid=2,umask=022,allow_other,mp_umask=002,ro,listobjectsv2,servicepath=/svc,retries=2,connect_timeout=10",
            ],
            &e,
        )
        .unwrap();
        assert_eq!(p.fs.metadata_ttl, Duration::from_secs(900));
        assert_eq!(p.fs.negative_ttl, Duration::from_secs(900));
        assert_eq!(p.fs.max_stat_cache_size, 1000);
        assert_eq!((p.fs.uid, p.fs.gid), (1, 2));
        assert!(p.fs.force_uid && p.fs.force_gid);
        assert_eq!(p.fs.umask, Some(0o022));
        assert_eq!(p.fs.mp_umask, 0o002);
        assert!(p.mount.allow_other);
        assert!(p.mount.read_only && p.fs.read_only);
        assert_eq!(p.s3.list_version, ListVersion::V2);
        assert_eq!(p.s3.endpoint.base_path, "/svc");
        assert_eq!(p.s3.retries, 2);
        assert_eq!(p.s3.connect_timeout, Duration::from_secs(10));
        // Without allow_other the root is 0700, as in s3fs.
        let p = plan_of(
            &["b", "m", "-o", "passwd_file=passwd,disable_negative_cache"],
            &e,
        )
        .unwrap();
        assert_eq!(p.fs.mp_umask, 0o077);
        assert_eq!(p.fs.negative_ttl, Duration::ZERO);
        assert_eq!(p.fs.metadata_ttl, FsConfig::default().metadata_ttl);
    }

    #[test]
    fn public_bucket_is_anonymous_and_ip_hosts_warn() {
        let e = env();
        let p = plan_of(
            &["b", "m", "-o", "public_bucket=1,url=http://127.0.0.1:9000"],
            &e,
        )
        .unwrap();
        assert!(p.s3.credentials.is_none());
        assert_eq!(p.credential_source, Source::Anonymous);
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("use_path_request_style")));
    }
}
