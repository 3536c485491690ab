//! Where the keys come from: s3fs's lookup order.
//!
//! 0. `public_bucket=1`: anonymous, unsigned requests.
//! 1. `-o passwd_file=FILE` (a relative path is taken from the directory mountd started in).
//! 2. The environment: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` [+ `AWS_SESSION_TOKEN`],
//!    or the legacy `AWSACCESSKEYID` + `AWSSECRETACCESSKEY` [+ `AWSSESSIONTOKEN`]; one of the
//!    pair without the other is an error. `use_session_token` makes the token mandatory.
//!    Empty values count as unset.
//! 3. The file named by `AWS_CREDENTIAL_FILE`: in the AWS credentials format (`[profile]`
//!    sections) if it has sections, else an s3fs passwd file (what s3fs reads there).
//! 4. `~/.aws/credentials`, section `-o profile=` (default `default`); a non-default profile
//!    that is not there is an error.
//! 5. `~/.passwd-s3fs`, then 6. `/etc/passwd-s3fs` (group-readable allowed for this one).
//!    A file without any entry is skipped; one with entries but none for this bucket (and no
//!    default) is an error.
//!
//! `iam_role`, `ecs`, `credlib` and `ibm_iam_auth` are not supported yet: mountd warns and
//! looks for keys as above; if there are none, the error says so.
//!
//! Nothing here ever puts a key or a secret in a message.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sigv4::Credentials;

use crate::options::Options;
use crate::passwd::{self, EntryKind, PasswdError, PasswdFile};

/// The process facts the lookup depends on, injectable for tests.
#[derive(Debug, Clone)]
pub struct CredentialEnv {
    /// Environment variables (only the credential ones matter).
    pub vars: BTreeMap<String, String>,
    /// The home directory (`$HOME`, else the passwd database's).
    pub home: Option<PathBuf>,
    /// The system-wide passwd file, `/etc/passwd-s3fs`.
    pub system_passwd: PathBuf,
    /// The directory mountd started in: relative paths are taken from here.
    pub cwd: PathBuf,
}

/// The environment variables the lookup reads.
pub const ENV_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWSACCESSKEYID",
    "AWSSECRETACCESSKEY",
    "AWSSESSIONTOKEN",
    "AWS_CREDENTIAL_FILE",
];

impl CredentialEnv {
    pub fn from_process() -> Self {
        let vars = ENV_VARS
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        CredentialEnv {
            vars,
            home: home_dir(),
            system_passwd: PathBuf::from("/etc/passwd-s3fs"),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }
}

/// `$HOME`, else the home directory of the real user from the passwd database.
pub fn home_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy the string out
    // immediately and mountd reads the passwd database from one thread only at start-up.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr((*pw).pw_dir);
        Some(PathBuf::from(
            std::ffi::OsStr::from_encoded_bytes_unchecked(dir.to_bytes()),
        ))
    }
}

/// Where the credentials came from (for the log; no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `public_bucket=1`.
    Anonymous,
    /// An s3fs passwd file (`passwd_file=`, `AWS_CREDENTIAL_FILE`, `~/.passwd-s3fs`,
    /// `/etc/passwd-s3fs`).
    PasswdFile { path: PathBuf, entry: EntryKind },
    /// Environment variables; `legacy`: the `AWSACCESSKEYID` names.
    Environment { legacy: bool, session_token: bool },
    /// An AWS credentials file and profile.
    AwsCredentialsFile { path: PathBuf, profile: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Anonymous => f.write_str("none (public_bucket: anonymous requests)"),
            Source::PasswdFile { path, entry } => {
                write!(f, "passwd file {} ({entry})", path.display())
            }
            Source::Environment {
                legacy,
                session_token,
            } => {
                f.write_str(if *legacy {
                    "environment AWSACCESSKEYID/AWSSECRETACCESSKEY"
                } else {
                    "environment AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                })?;
                if *session_token {
                    f.write_str(" with a session token")?;
                }
                Ok(())
            }
            Source::AwsCredentialsFile { path, profile } => {
                write!(
                    f,
                    "AWS credentials file {} (profile {profile})",
                    path.display()
                )
            }
        }
    }
}

/// The outcome of the lookup. `Debug` never shows secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `None`: anonymous.
    pub credentials: Option<Credentials>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Passwd(#[from] PasswdError),
    #[error("both environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together ({0} is set alone)")]
    HalfEnvironment(&'static str),
    #[error(
        "environment variable AWS_SESSION_TOKEN is expected to be set (option use_session_token)"
    )]
    SessionTokenMissing,
    #[error("could not find profile {profile} in file {file}")]
    ProfileNotFound { profile: String, file: String },
    #[error(
        "profile {profile} in file {file} needs both aws_access_key_id and aws_secret_access_key"
    )]
    ProfileIncomplete { profile: String, file: String },
    #[error("option {0} is not supported yet, and no other credentials were found: use -o passwd_file=FILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, ~/.passwd-s3fs or /etc/passwd-s3fs")]
    DeferredOnly(&'static str),
    #[error("could not determine how to establish security credentials: use -o passwd_file=FILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, ~/.passwd-s3fs or /etc/passwd-s3fs (or public_bucket=1 for a public bucket)")]
    NoneFound,
}

/// Run the lookup for `bucket`.
pub fn resolve(
    options: &Options,
    bucket: &str,
    env: &CredentialEnv,
) -> Result<Resolved, CredentialError> {
    if options.public_bucket {
        return Ok(Resolved {
            credentials: None,
            source: Source::Anonymous,
        });
    }
    // 1. passwd_file=
    if let Some(p) = &options.passwd_file {
        let path = env.absolute(p);
        let shown = p.display().to_string();
        let system = path == env.system_passwd;
        let file = passwd::load(&path, &shown, "specified passwd_file", system)?;
        return from_passwd(&file, bucket, path, &shown)?.ok_or_else(|| no_entry(&shown, bucket));
    }
    // 2. environment
    if let Some(r) = from_environment(env, options.use_session_token)? {
        return Ok(r);
    }
    let profile = options.profile.as_deref().unwrap_or("default");
    // 3. AWS_CREDENTIAL_FILE
    if let Some(p) = env.var("AWS_CREDENTIAL_FILE") {
        let path = env.absolute(Path::new(p));
        let text = std::fs::read(&path).map_err(|e| PasswdError::NotReadable {
            role: "AWS_CREDENTIAL_FILE",
            file: p.to_string(),
            reason: crate::error::io_reason(&e),
        })?;
        let text = String::from_utf8(text).map_err(|_| PasswdError::NotText {
            file: p.to_string(),
        })?;
        if is_aws_format(&text) {
            return match aws_profile(&text, profile, p)? {
                Some(c) => Ok(Resolved {
                    credentials: Some(check_token(c, options.use_session_token)?),
                    source: Source::AwsCredentialsFile {
                        path,
                        profile: profile.to_string(),
                    },
                }),
                None => Err(CredentialError::ProfileNotFound {
                    profile: profile.to_string(),
                    file: p.to_string(),
                }),
            };
        }
        let system = path == env.system_passwd;
        let file = passwd::load(&path, p, "AWS_CREDENTIAL_FILE", system)?;
        return from_passwd(&file, bucket, path, p)?.ok_or_else(|| no_entry(p, bucket));
    }
    // 4. ~/.aws/credentials
    if let Some(home) = &env.home {
        let path = home.join(".aws").join("credentials");
        let shown = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| PasswdError::NotText {
                    file: shown.clone(),
                })?;
                if let Some(c) = aws_profile(&text, profile, &shown)? {
                    return Ok(Resolved {
                        credentials: Some(check_token(c, options.use_session_token)?),
                        source: Source::AwsCredentialsFile {
                            path,
                            profile: profile.to_string(),
                        },
                    });
                }
                if profile != "default" {
                    return Err(CredentialError::ProfileNotFound {
                        profile: profile.to_string(),
                        file: shown,
                    });
                }
            }
            Err(_) if profile != "default" => {
                return Err(CredentialError::ProfileNotFound {
                    profile: profile.to_string(),
                    file: shown,
                })
            }
            Err(_) => {}
        }
    }
    // 5. ~/.passwd-s3fs, 6. /etc/passwd-s3fs
    let mut candidates = Vec::new();
    if let Some(home) = &env.home {
        candidates.push(home.join(".passwd-s3fs"));
    }
    candidates.push(env.system_passwd.clone());
    for path in candidates {
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let shown = path.display().to_string();
        let system = path == env.system_passwd;
        let file = passwd::load(&path, &shown, "credentials file", system)?;
        if let Some(r) = from_passwd(&file, bucket, path, &shown)? {
            return Ok(r);
        }
    }
    match options.deferred_credentials {
        Some(name) => Err(CredentialError::DeferredOnly(name)),
        None => Err(CredentialError::NoneFound),
    }
}

/// The entry of a passwd file for `bucket`. `Ok(None)`: the file has no entries at all
/// (e.g. all commented out), which the default locations skip.
fn from_passwd(
    file: &PasswdFile,
    bucket: &str,
    path: PathBuf,
    shown: &str,
) -> Result<Option<Resolved>, CredentialError> {
    if let Some((c, entry)) = file.select(bucket) {
        return Ok(Some(Resolved {
            credentials: Some(c),
            source: Source::PasswdFile { path, entry },
        }));
    }
    if file.buckets.is_empty() {
        return Ok(None);
    }
    Err(no_entry(shown, bucket))
}

fn no_entry(shown: &str, bucket: &str) -> CredentialError {
    PasswdError::NoEntry {
        file: shown.to_string(),
        bucket: bucket.to_string(),
    }
    .into()
}

fn check_token(c: Credentials, required: bool) -> Result<Credentials, CredentialError> {
    if required && c.session_token.is_none() {
        return Err(CredentialError::SessionTokenMissing);
    }
    Ok(c)
}

fn from_environment(
    env: &CredentialEnv,
    use_session_token: bool,
) -> Result<Option<Resolved>, CredentialError> {
    let (ak, ak_legacy) = match env.var("AWS_ACCESS_KEY_ID") {
        Some(v) => (Some(v), false),
        None => (env.var("AWSACCESSKEYID"), true),
    };
    let (sk, sk_legacy) = match env.var("AWS_SECRET_ACCESS_KEY") {
        Some(v) => (Some(v), false),
        None => (env.var("AWSSECRETACCESSKEY"), true),
    };
    let token = env
        .var("AWS_SESSION_TOKEN")
        .or_else(|| env.var("AWSSESSIONTOKEN"));
    match (ak, sk) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(CredentialError::HalfEnvironment(if ak_legacy {
            "AWSACCESSKEYID"
        } else {
            "AWS_ACCESS_KEY_ID"
        })),
        (None, Some(_)) => Err(CredentialError::HalfEnvironment(if sk_legacy {
            "AWSSECRETACCESSKEY"
        } else {
            "AWS_SECRET_ACCESS_KEY"
        })),
        (Some(ak), Some(sk)) => {
            if use_session_token && token.is_none() {
                return Err(CredentialError::SessionTokenMissing);
            }
            Ok(Some(Resolved {
                credentials: Some(Credentials {
                    access_key_id: ak.to_string(),
                    secret_access_key: sk.to_string(),
                    session_token: token.map(str::to_string),
                }),
                source: Source::Environment {
                    legacy: ak_legacy,
                    session_token: token.is_some(),
                },
            }))
        }
    }
}

/// Whether a credentials file is in the AWS format (has `[section]` lines).
fn is_aws_format(text: &str) -> bool {
    text.lines().any(|l| l.trim().starts_with('['))
}

/// The keys of `profile` in an AWS credentials file: `Ok(None)` if there is no such section.
/// Sections are `[name]` or `[profile name]`; keys are `aws_access_key_id`,
/// `aws_secret_access_key`, `aws_session_token`; `#` and `;` start comments.
pub fn aws_profile(
    text: &str,
    profile: &str,
    shown: &str,
) -> Result<Option<Credentials>, CredentialError> {
    let mut in_section = false;
    let mut found = false;
    let (mut ak, mut sk, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim();
            let name = name.strip_prefix("profile ").unwrap_or(name).trim();
            in_section = name == profile;
            found |= in_section;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => ak = Some(v.to_string()),
                "aws_secret_access_key" => sk = Some(v.to_string()),
                "aws_session_token" => token = Some(v.to_string()),
                _ => {}
            }
        }
    }
    if !found {
        return Ok(None);
    }
    match (ak, sk) {
        (Some(ak), Some(sk)) if !ak.is_empty() && !sk.is_empty() => Ok(Some(Credentials {
            access_key_id: ak,
            secret_access_key: sk,
            session_token: token.filter(|t| !t.is_empty()),
        })),
        _ => Err(CredentialError::ProfileIncomplete {
            profile: profile.to_string(),
            file: shown.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptionContext;
    use std::os::unix::fs::PermissionsExt;

    const SECRET: &str = "TOPSECRETVALUEthatmustnotleak";

    struct World {
        dir: tempfile::TempDir,
        env: CredentialEnv,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("home")).unwrap();
            std::fs::create_dir(dir.path().join("etc")).unwrap();
            std::fs::create_dir(dir.path().join("cwd")).unwrap();
            let env = CredentialEnv {
                vars: BTreeMap::new(),
                home: Some(dir.path().join("home")),
                system_passwd: dir.path().join("etc/passwd-s3fs"),
                cwd: dir.path().join("cwd"),
            };
            World { dir, env }
        }
        fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        }
        fn set(&mut self, k: &str, v: &str) {
            self.env.vars.insert(k.into(), v.into());
        }
        fn resolve(&self, opts: &[&str]) -> Result<Resolved, CredentialError> {
            let o = Options::parse(opts, OptionContext { euid: 1000 }).unwrap();
            resolve(&o, "bkt", &self.env)
        }
        fn key(&self, opts: &[&str]) -> String {
            self.resolve(opts)
                .unwrap()
                .credentials
                .unwrap()
                .access_key_id
        }
    }

    #[test]
    fn lookup_order() {
        let mut w = World::new();
        assert_eq!(w.resolve(&[]).unwrap_err(), CredentialError::NoneFound);
        w.write("etc/passwd-s3fs", &format!("ETC:{SECRET}\n"), 0o640);
        assert_eq!(w.key(&[]), "ETC");
        w.write("home/.passwd-s3fs", &format!("HOME:{SECRET}\n"), 0o600);
        assert_eq!(w.key(&[]), "HOME");
        w.write(
            "home/.aws/credentials",
            &format!("[default]\naws_access_key_id = AWSFILE\naws_secret_access_key = {SECRET}\n"),
            0o644,
        );
        assert_eq!(w.key(&[]), "AWSFILE");
        w.write("credfile", &format!("CREDFILE:{SECRET}\n"), 0o600);
        w.set("AWS_CREDENTIAL_FILE", "../credfile");
        assert_eq!(w.key(&[]), "CREDFILE");
        w.set("AWSACCESSKEYID", "LEGACYENV");
        w.set("AWSSECRETACCESSKEY", SECRET);
        assert_eq!(w.key(&[]), "LEGACYENV");
        w.set("AWS_ACCESS_KEY_ID", "ENV");
        w.set("AWS_SECRET_ACCESS_KEY", SECRET);
        let r = w.resolve(&[]).unwrap();
        assert_eq!(r.credentials.unwrap().access_key_id, "ENV");
        assert_eq!(
            r.source,
            Source::Environment {
                legacy: false,
                session_token: false
            }
        );
        w.write("cwd/passwd", &format!("PASSWDFILE:{SECRET}\n"), 0o600);
        let r = w.resolve(&["passwd_file=passwd"]).unwrap();
        assert_eq!(r.credentials.unwrap().access_key_id, "PASSWDFILE");
        assert_eq!(
            r.source,
            Source::PasswdFile {
                path: w.dir.path().join("cwd/passwd"),
                entry: EntryKind::Default
            }
        );
        // public_bucket beats everything.
        let r = w.resolve(&["public_bucket=1"]).unwrap();
        assert_eq!(r.credentials, None);
        assert_eq!(r.source, Source::Anonymous);
    }

    #[test]
    fn environment_rules() {
        let mut w = World::new();
        w.set("AWS_ACCESS_KEY_ID", "AK");
        assert_eq!(
            w.resolve(&[]).unwrap_err(),
            CredentialError::HalfEnvironment("AWS_ACCESS_KEY_ID")
        );
        let mut w = World::new();
        w.set("AWSSECRETACCESSKEY", SECRET);
        assert_eq!(
            w.resolve(&[]).unwrap_err(),
            CredentialError::HalfEnvironment("AWSSECRETACCESSKEY")
        );
        // Empty values are unset.
        let mut w = World::new();
        w.set("AWS_ACCESS_KEY_ID", "");
        assert_eq!(w.resolve(&[]).unwrap_err(), CredentialError::NoneFound);
        // Session tokens.
        let mut w = World::new();
        w.set("AWS_ACCESS_KEY_ID", "AK");
        w.set("AWS_SECRET_ACCESS_KEY", SECRET);
        assert_eq!(
            w.resolve(&["use_session_token"]).unwrap_err(),
            CredentialError::SessionTokenMissing
        );
        w.set("AWSSESSIONTOKEN", "TOKEN");
        let c = w
            .resolve(&["use_session_token"])
            .unwrap()
            .credentials
            .unwrap();
        assert_eq!(c.session_token.as_deref(), Some("TOKEN"));
    }

    #[test]
    fn passwd_file_errors() {
        let w = World::new();
        let e = w.resolve(&["passwd_file=passwd"]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("specified passwd_file is not readable: passwd: "),
            "{e}"
        );
        w.write("cwd/passwd", &format!("AK:{SECRET}\n"), 0o644);
        let e = w.resolve(&["passwd_file=passwd"]).unwrap_err().to_string();
        assert!(
            e.starts_with("credentials file passwd should not have others permissions"),
            "{e}"
        );
        w.write("cwd/passwd", &format!("other:AK:{SECRET}\n"), 0o600);
        let e = w.resolve(&["passwd_file=passwd"]).unwrap_err();
        assert_eq!(
            e,
            CredentialError::Passwd(PasswdError::NoEntry {
                file: "passwd".into(),
                bucket: "bkt".into()
            })
        );
        w.write("cwd/passwd", "# nothing here\n", 0o600);
        assert!(w.resolve(&["passwd_file=passwd"]).is_err());
        // The per-bucket entry wins.
        w.write(
            "cwd/passwd",
            &format!("WRONG:{SECRET}\nbkt:RIGHT:{SECRET}\n"),
            0o400,
        );
        assert_eq!(w.key(&["passwd_file=passwd"]), "RIGHT");
    }

    #[test]
    fn system_passwd_file_may_be_group_readable() {
        let w = World::new();
        w.write("etc/passwd-s3fs", &format!("AK:{SECRET}\n"), 0o640);
        assert_eq!(w.key(&[]), "AK");
        // Also when named with passwd_file=.
        let p = w.env.system_passwd.display().to_string();
        assert_eq!(w.key(&[&format!("passwd_file={p}")]), "AK");
        // Not another file with the same mode.
        w.write("cwd/passwd", &format!("AK:{SECRET}\n"), 0o640);
        assert!(matches!(
            w.resolve(&["passwd_file=passwd"]),
            Err(CredentialError::Passwd(
                PasswdError::GroupPermissions { .. }
            ))
        ));
        // ~/.passwd-s3fs neither.
        w.write("home/.passwd-s3fs", &format!("AK:{SECRET}\n"), 0o640);
        assert!(matches!(
            w.resolve(&[]),
            Err(CredentialError::Passwd(
                PasswdError::GroupPermissions { .. }
            ))
        ));
        w.write("etc/passwd-s3fs", &format!("AK:{SECRET}\n"), 0o660);
        w.write("home/.passwd-s3fs", "", 0o600);
        assert!(matches!(
            w.resolve(&[]),
            Err(CredentialError::Passwd(PasswdError::GroupWritable { .. }))
        ));
    }

    #[test]
    fn empty_home_file_falls_through_to_etc() {
        let w = World::new();
        w.write("home/.passwd-s3fs", "# commented out\n", 0o600);
        w.write("etc/passwd-s3fs", &format!("ETC:{SECRET}\n"), 0o600);
        assert_eq!(w.key(&[]), "ETC");
        w.write("home/.passwd-s3fs", &format!("other:AK:{SECRET}\n"), 0o600);
        assert!(matches!(
            w.resolve(&[]),
            Err(CredentialError::Passwd(PasswdError::NoEntry { .. }))
        ));
    }

    #[test]
    fn aws_credentials_profiles() {
        let text = format!(
            "# c\n[default]\naws_access_key_id=D\naws_secret_access_key={SECRET}\n\n[profile work]\nAWS_ACCESS_KEY_ID = W\naws_secret_access_key = {SECRET}\naws_session_token = T\n[half]\naws_access_key_id=H\n"
        );
        let w = World::new();
        w.write("home/.aws/credentials", &text, 0o600);
        assert_eq!(w.key(&[]), "D");
        let r = w.resolve(&["profile=work"]).unwrap();
        let c = r.credentials.unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("W", Some("T"))
        );
        assert!(matches!(
            w.resolve(&["profile=missing"]),
            Err(CredentialError::ProfileNotFound { .. })
        ));
        assert!(matches!(
            w.resolve(&["profile=half"]),
            Err(CredentialError::ProfileIncomplete { .. })
        ));
        // No file at all: a non-default profile is an error, the default is skipped.
        let w = World::new();
        assert!(matches!(
            w.resolve(&["profile=work"]),
            Err(CredentialError::ProfileNotFound { .. })
        ));
        assert_eq!(w.resolve(&[]).unwrap_err(), CredentialError::NoneFound);
    }

    #[test]
    fn aws_credential_file_in_aws_format() {
        let mut w = World::new();
        w.write(
            "creds.ini",
            &format!("[default]\naws_access_key_id=INI\naws_secret_access_key={SECRET}\n"),
            0o644,
        );
        w.set(
            "AWS_CREDENTIAL_FILE",
            &w.dir.path().join("creds.ini").display().to_string(),
        );
        assert_eq!(w.key(&[]), "INI");
        w.set("AWS_CREDENTIAL_FILE", "/nonexistent/file");
        let e = w.resolve(&[]).unwrap_err().to_string();
        assert!(
            e.starts_with("AWS_CREDENTIAL_FILE is not readable: /nonexistent/file"),
            "{e}"
        );
    }

    #[test]
    fn deferred_sources_without_keys() {
        let w = World::new();
        let e = w.resolve(&["iam_role=auto"]).unwrap_err();
        assert_eq!(e, CredentialError::DeferredOnly("iam_role"));
        assert!(e.to_string().contains("iam_role is not supported yet"));
        // With keys elsewhere, they are used.
        w.write("home/.passwd-s3fs", &format!("AK:{SECRET}\n"), 0o600);
        assert_eq!(w.key(&["iam_role=auto"]), "AK");
    }

    #[test]
    fn secrets_never_in_debug_display_or_errors() {
        let mut w = World::new();
        w.set("AWS_ACCESS_KEY_ID", "AK");
        w.set("AWS_SECRET_ACCESS_KEY", SECRET);
        w.set("AWS_SESSION_TOKEN", SECRET);
        let r = w.resolve(&[]).unwrap();
        assert!(!format!("{r:?}").contains(SECRET));
        assert!(!r.source.to_string().contains(SECRET));
        let bad = [
            format!("AK: {SECRET}"),
            format!("b:AK:{SECRET}\nb:AK:{SECRET}"),
            format!("AWSSecretKey={SECRET}"),
            SECRET.to_string(),
        ];
        let w = World::new();
        for text in bad {
            w.write("cwd/passwd", &text, 0o600);
            let e = w.resolve(&["passwd_file=passwd"]).unwrap_err();
            assert!(!e.to_string().contains(SECRET), "{e}");
            assert!(!format!("{e:?}").contains(SECRET), "{e:?}");
        }
        w.write("cwd/passwd", &format!("AK:{SECRET}"), 0o604);
        let e = w.resolve(&["passwd_file=passwd"]).unwrap_err();
        assert!(!e.to_string().contains(SECRET));
    }
}
