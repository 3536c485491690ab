//! s3fs passwd files: their format and their permission rule.
//!
//! Format (s3fs `ParseS3fsPasswdFile`): lines are trimmed (so CRLF is fine); blank lines and
//! `#` comments are skipped; a space or tab inside a line, or a line starting with `[`, is
//! fatal. `ACCESS_KEY_ID:SECRET` is the default entry, `BUCKET:ACCESS_KEY_ID:SECRET` an entry
//! for one bucket (split on the first and the last `:`); two entries for one bucket, or two
//! defaults, are fatal. Any line with `=` is also read as `KEY=VALUE`; `AWSAccessKeyId=` and
//! `AWSSecretKey=` together take precedence over every other entry, one without the other is
//! fatal. mountd is stricter than s3fs in one way: a line with neither `:` nor `=` is fatal
//! instead of silently ignored (s3fs issue 2398: a bad line failed quietly).
//!
//! Permissions (s3fs `CheckS3fsPasswdFilePerms`): no bits for others; no group bits, except
//! that `/etc/passwd-s3fs` may be group-readable (never group-writable); no execute bits.
//!
//! Messages name the file and the line, and never contain a key or a secret.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sigv4::Credentials;

/// Which entry of a passwd file was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `AWSAccessKeyId=` / `AWSSecretKey=` lines.
    KeyValue,
    /// `BUCKET:ACCESS_KEY_ID:SECRET`.
    Bucket(String),
    /// `ACCESS_KEY_ID:SECRET`.
    Default,
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::KeyValue => f.write_str("AWSAccessKeyId/AWSSecretKey lines"),
            EntryKind::Bucket(b) => write!(f, "entry for bucket {b}"),
            EntryKind::Default => f.write_str("default entry"),
        }
    }
}

/// A parsed passwd file. `Debug` never shows secrets (see [`Credentials`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswdFile {
    /// From `AWSAccessKeyId=` and `AWSSecretKey=` lines.
    pub key_value: Option<Credentials>,
    /// `ACCESS_KEY_ID:SECRET`.
    pub default: Option<Credentials>,
    /// `BUCKET:ACCESS_KEY_ID:SECRET`, by bucket.
    pub buckets: BTreeMap<String, Credentials>,
}

/// A passwd file that cannot be used. `file` is the path as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswdError {
    #[error("{role} is not readable: {file}: {reason}")]
    NotReadable {
        /// "specified passwd_file" (s3fs's words) or "credentials file".
        role: &'static str,
        file: String,
        reason: String,
    },
    #[error("credentials file {file} should not have others permissions (mode {mode:04o}); fix it with: chmod 600 {file}")]
    OthersPermissions { file: String, mode: u32 },
    #[error("credentials file {file} should not have group permissions (mode {mode:04o}); fix it with: chmod 600 {file}")]
    GroupPermissions { file: String, mode: u32 },
    #[error("credentials file {file} should not have group writable permissions (mode {mode:04o}); fix it with: chmod 640 {file}")]
    GroupWritable { file: String, mode: u32 },
    #[error("credentials file {file} should not have executable permissions (mode {mode:04o}); fix it with: chmod 600 {file}")]
    Executable { file: String, mode: u32 },
    #[error("passwd file {file} is not valid UTF-8 text")]
    NotText { file: String },
    #[error("invalid line {line} in passwd file {file}: found whitespace character (spaces and tabs are not allowed)")]
    Whitespace { file: String, line: usize },
    #[error("invalid line {line} in passwd file {file}: found a bracket \"[\" character; a file with [profile] sections is in the AWS credentials format: name it with AWS_CREDENTIAL_FILE or put it in ~/.aws/credentials")]
    Bracket { file: String, line: usize },
    #[error("invalid line {line} in passwd file {file}: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY or BUCKET:ACCESS_KEY_ID:SECRET_ACCESS_KEY")]
    NoSeparator { file: String, line: usize },
    #[error("invalid line {line} in passwd file {file}: empty access key or secret")]
    EmptyField { file: String, line: usize },
    #[error("there are multiple entries for the same bucket({bucket}) in the passwd file {file}")]
    DuplicateBucket { file: String, bucket: String },
    #[error("more than one default key pair (ACCESS_KEY_ID:SECRET_ACCESS_KEY) in the passwd file {file}")]
    DuplicateDefault { file: String },
    #[error("passwd file {file}: AWSAccessKeyId and AWSSecretKey must be given together")]
    HalfKeyValue { file: String },
    #[error("passwd file {file} has no entry for bucket {bucket} and no default entry")]
    NoEntry { file: String, bucket: String },
}

fn creds(access_key_id: &str, secret_access_key: &str) -> Credentials {
    Credentials {
        access_key_id: access_key_id.to_string(),
        secret_access_key: secret_access_key.to_string(),
        session_token: None,
    }
}

/// s3fs's trim: spaces, tabs, CR and LF at both ends.
fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

impl PasswdFile {
    /// Parse the text of a passwd file; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<PasswdFile, PasswdError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file = file.to_string();
        let mut out = PasswdFile::default();
        let mut kv: BTreeMap<&str, &str> = BTreeMap::new();
        // Lines end with "\n"; a "\r" before it (CRLF) goes with the trim.
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = trim(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.contains([' ', '\t']) {
                return Err(PasswdError::Whitespace {
                    file,
                    line: line_no,
                });
            }
            if line.starts_with('[') {
                return Err(PasswdError::Bracket {
                    file,
                    line: line_no,
                });
            }
            let has_eq = line.contains('=');
            if let Some((k, v)) = line.split_once('=') {
                let (k, v) = (trim(k), trim(v));
                if !k.is_empty() {
                    // s3fs keeps the first of two equal keys.
                    kv.entry(k).or_insert(v);
                }
            }
            let (Some(first), Some(last)) = (line.find(':'), line.rfind(':')) else {
                if has_eq {
                    continue; // a KEY=VALUE line
                }
                return Err(PasswdError::NoSeparator {
                    file,
                    line: line_no,
                });
            };
            let (bucket, ak, sk) = if first != last {
                (
                    trim(&line[..first]),
                    trim(&line[first + 1..last]),
                    trim(&line[last + 1..]),
                )
            } else {
                ("", trim(&line[..first]), trim(&line[first + 1..]))
            };
            if ak.is_empty() || sk.is_empty() {
                return Err(PasswdError::EmptyField {
                    file,
                    line: line_no,
                });
            }
            if bucket.is_empty() {
                if out.default.is_some() {
                    return Err(PasswdError::DuplicateDefault { file });
                }
                out.default = Some(creds(ak, sk));
            } else {
                if out.buckets.contains_key(bucket) {
                    return Err(PasswdError::DuplicateBucket {
                        file,
                        bucket: bucket.to_string(),
                    });
                }
                out.buckets.insert(bucket.to_string(), creds(ak, sk));
            }
        }
        match (kv.get("AWSAccessKeyId"), kv.get("AWSSecretKey")) {
            (Some(ak), Some(sk)) => {
                if ak.is_empty() || sk.is_empty() {
                    return Err(PasswdError::HalfKeyValue { file });
                }
                out.key_value = Some(creds(ak, sk));
            }
            (None, None) => {}
            _ => return Err(PasswdError::HalfKeyValue { file }),
        }
        Ok(out)
    }

    /// The credentials for `bucket`: the key=value form, else the bucket's own entry, else
    /// the default entry.
    pub fn select(&self, bucket: &str) -> Option<(Credentials, EntryKind)> {
        if let Some(c) = &self.key_value {
            return Some((c.clone(), EntryKind::KeyValue));
        }
        if let Some(c) = self.buckets.get(bucket) {
            return Some((c.clone(), EntryKind::Bucket(bucket.to_string())));
        }
        self.default.clone().map(|c| (c, EntryKind::Default))
    }
}

/// The permission rule, on a file's mode bits. `system_file`: the file is
/// `/etc/passwd-s3fs`, which may be group-readable.
pub fn check_mode(file: &str, mode: u32, system_file: bool) -> Result<(), PasswdError> {
    let mode = mode & 0o7777;
    let file = file.to_string();
    if mode & 0o007 != 0 {
        return Err(PasswdError::OthersPermissions { file, mode });
    }
    if system_file {
        if mode & 0o020 != 0 {
            return Err(PasswdError::GroupWritable { file, mode });
        }
    } else if mode & 0o070 != 0 {
        return Err(PasswdError::GroupPermissions { file, mode });
    }
    if mode & 0o110 != 0 {
        return Err(PasswdError::Executable { file, mode });
    }
    Ok(())
}

/// Read a passwd file: check it is readable, check its mode, parse it.
///
/// `shown` is the name used in messages (as the user gave it); `role` says what the file is
/// for the "not readable" message; `system_file` enables the `/etc/passwd-s3fs` exception.
pub fn load(
    path: &Path,
    shown: &str,
    role: &'static str,
    system_file: bool,
) -> Result<PasswdFile, PasswdError> {
    let not_readable = |e: std::io::Error| PasswdError::NotReadable {
        role,
        file: shown.to_string(),
        reason: crate::error::io_reason(&e),
    };
    let meta = std::fs::metadata(path).map_err(not_readable)?;
    if meta.is_dir() {
        return Err(not_readable(std::io::Error::from_raw_os_error(
            libc::EISDIR,
        )));
    }
    let bytes = std::fs::read(path).map_err(not_readable)?;
    check_mode(shown, meta.permissions().mode(), system_file)?;
    let text = String::from_utf8(bytes).map_err(|_| PasswdError::NotText {
        file: shown.to_string(),
    })?;
    PasswdFile::parse(&text, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKIDEXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY==";

    fn parse(text: &str) -> Result<PasswdFile, PasswdError> {
        PasswdFile::parse(text, "passwd")
    }

    fn selected(text: &str, bucket: &str) -> (String, String, EntryKind) {
        let (c, k) = parse(text).unwrap().select(bucket).unwrap();
        (c.access_key_id, c.secret_access_key, k)
    }

    #[test]
    fn default_entry_in_every_line_ending() {
        for text in [
            format!("{AK}:{SK}\n"),
            format!("{AK}:{SK}\r\n"),
            format!("{AK}:{SK}"),
            format!("{AK}:{SK}\r"),
            format!("\u{feff}{AK}:{SK}\n"),
            format!("# credentials for tests\n\n{AK}:{SK}\n# trailing comment\n"),
            format!("\r\n  # indented comment\r\n\t{AK}:{SK}  \r\n\r\n"),
        ] {
            assert_eq!(
                selected(&text, "any"),
                (AK.into(), SK.into(), EntryKind::Default),
                "{text:?}"
            );
        }
    }

    #[test]
    fn per_bucket_entries() {
        let text = format!("other-bucket-x:WRONGKEY0000:wrongsecret\nmine:{AK}:{SK}\n");
        assert_eq!(
            selected(&text, "mine"),
            (AK.into(), SK.into(), EntryKind::Bucket("mine".into()))
        );
        assert!(parse(&text).unwrap().select("third").is_none());
        // The bucket entry beats the default, wherever it is.
        let text = format!("WRONGKEY0000:wrongsecret\nmine:{AK}:{SK}\n");
        assert_eq!(selected(&text, "mine").0, AK);
        assert_eq!(selected(&text, "other").0, "WRONGKEY0000");
        // Split on the first and the last ':'.
        let (ak, sk, _) = selected("b:AK:with:colons:SK\n", "b");
        assert_eq!((ak.as_str(), sk.as_str()), ("AK:with:colons", "SK"));
        // An empty bucket field is the default entry.
        assert_eq!(selected(":AK:SK", "x").2, EntryKind::Default);
    }

    #[test]
    fn secrets_with_equals_signs_parse_in_the_colon_form() {
        let (_, sk, k) = selected("AK:abc+/def==\n", "b");
        assert_eq!(sk, "abc+/def==");
        assert_eq!(k, EntryKind::Default);
    }

    #[test]
    fn key_value_form() {
        let text = format!("AWSAccessKeyId={AK}\r\nAWSSecretKey={SK}\r\n");
        assert_eq!(
            selected(&text, "b"),
            (AK.into(), SK.into(), EntryKind::KeyValue)
        );
        // It takes precedence over colon entries.
        let text = format!("b:X:Y\nAWSAccessKeyId={AK}\nAWSSecretKey={SK}\n");
        assert_eq!(selected(&text, "b").2, EntryKind::KeyValue);
        // One without the other is fatal.
        let e = parse(&format!("AWSAccessKeyId={AK}\n")).unwrap_err();
        assert_eq!(
            e,
            PasswdError::HalfKeyValue {
                file: "passwd".into()
            }
        );
        assert!(parse(&format!("AWSSecretKey={SK}\n")).is_err());
        // Other KEY=VALUE lines are ignored.
        assert_eq!(selected("Foo=bar\nAK:SK\n", "b").2, EntryKind::Default);
    }

    #[test]
    fn fatal_lines() {
        assert_eq!(
            parse(&format!("# ok\n{AK}: {SK}\n")).unwrap_err(),
            PasswdError::Whitespace {
                file: "passwd".into(),
                line: 2
            }
        );
        assert!(matches!(
            parse(&format!("{AK}:\t{SK}")).unwrap_err(),
            PasswdError::Whitespace { line: 1, .. }
        ));
        assert!(matches!(
            parse(&format!("[default]\naws_access_key_id={AK}\n")).unwrap_err(),
            PasswdError::Bracket { line: 1, .. }
        ));
        let e = parse("[default]").unwrap_err().to_string();
        assert!(e.contains("AWS_CREDENTIAL_FILE"), "{e}");
        assert!(matches!(
            parse("\r\n\r\njustonetoken\r\n").unwrap_err(),
            PasswdError::NoSeparator { line: 3, .. }
        ));
        assert!(matches!(
            parse("AK:").unwrap_err(),
            PasswdError::EmptyField { .. }
        ));
        assert!(matches!(
            parse("b::SK").unwrap_err(),
            PasswdError::EmptyField { .. }
        ));
    }

    #[test]
    fn duplicates_are_fatal() {
        assert_eq!(
            parse("b:A:S\nb:C:D\n").unwrap_err(),
            PasswdError::DuplicateBucket {
                file: "passwd".into(),
                bucket: "b".into()
            }
        );
        assert_eq!(
            parse("A:S\nC:D\n").unwrap_err(),
            PasswdError::DuplicateDefault {
                file: "passwd".into()
            }
        );
        assert!(parse("A:S\n:C:D\n").is_err());
        // Different buckets are fine.
        assert!(parse("a:A:S\nb:C:D\nE:F\n").is_ok());
    }

    #[test]
    fn messages_and_debug_never_show_secrets() {
        let secret = "SUPERSECRETVALUE123";
        let cases = [
            format!("{AK}: {secret}\n"),
            format!("[x]{secret}\n"),
            format!("b:{AK}:{secret}\nb:{AK}:{secret}\n"),
            format!("{AK}:{secret}\n{AK}:{secret}\n"),
            format!("AWSSecretKey={secret}\n"),
            format!("{secret}\n"),
        ];
        for text in &cases {
            let e = parse(text).unwrap_err();
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
        let ok = parse(&format!("b:{AK}:{secret}\n{AK}:{secret}\n")).unwrap();
        assert!(!format!("{ok:?}").contains(secret));
        let (c, _) = ok.select("b").unwrap();
        assert!(!format!("{c:?}").contains(secret));
    }

    #[test]
    fn permission_rule() {
        assert!(check_mode("p", 0o100600, false).is_ok());
        assert!(check_mode("p", 0o400, false).is_ok());
        let e = check_mode("passwd", 0o644, false).unwrap_err();
        assert_eq!(
            e,
            PasswdError::OthersPermissions {
                file: "passwd".into(),
                mode: 0o644
            }
        );
        assert!(e
            .to_string()
            .starts_with("credentials file passwd should not have others permissions"));
        assert!(e.to_string().contains("chmod 600 passwd"));
        assert!(matches!(
            check_mode("p", 0o604, false),
            Err(PasswdError::OthersPermissions { .. })
        ));
        assert!(matches!(
            check_mode("p", 0o640, false),
            Err(PasswdError::GroupPermissions { .. })
        ));
        assert!(matches!(
            check_mode("p", 0o610, false),
            Err(PasswdError::GroupPermissions { .. })
        ));
        assert!(matches!(
            check_mode("p", 0o700, false),
            Err(PasswdError::Executable { .. })
        ));
        // /etc/passwd-s3fs may be group-readable, not group-writable, not executable.
        assert!(check_mode("/etc/passwd-s3fs", 0o640, true).is_ok());
        assert!(matches!(
            check_mode("/etc/passwd-s3fs", 0o660, true),
            Err(PasswdError::GroupWritable { .. })
        ));
        assert!(matches!(
            check_mode("/etc/passwd-s3fs", 0o650, true),
            Err(PasswdError::Executable { .. })
        ));
        assert!(matches!(
            check_mode("/etc/passwd-s3fs", 0o644, true),
            Err(PasswdError::OthersPermissions { .. })
        ));
    }

    #[test]
    fn load_checks_readability_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        let e = load(&p, "passwd", "specified passwd_file", false).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("specified passwd_file is not readable: passwd: "));
        std::fs::write(&p, format!("{AK}:{SK}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load(&p, "passwd", "specified passwd_file", false),
            Err(PasswdError::OthersPermissions { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let f = load(&p, "passwd", "specified passwd_file", false).unwrap();
        assert_eq!(f.select("b").unwrap().1, EntryKind::Default);
        assert!(load(dir.path(), "dir", "specified passwd_file", false).is_err());
    }
}
