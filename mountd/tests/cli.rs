//! The built binary: exit codes and messages of the command line, before any mount.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mountd");
const SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYzzSECRET";

/// A scratch directory as the working directory and $HOME, with no credentials around.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let s = Scratch {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(s.path("mnt")).unwrap();
        s
    }
    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
    fn passwd(&self, text: &str, mode: u32) {
        std::fs::write(self.path("passwd"), text).unwrap();
        std::fs::set_permissions(self.path("passwd"), std::fs::Permissions::from_mode(mode))
            .unwrap();
    }
    fn run_as(&self, bin: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWSACCESSKEYID",
            "AWSSECRETACCESSKEY",
            "AWSSESSIONTOKEN",
            "AWS_CREDENTIAL_FILE",
            "RUST_LOG",
        ] {
            c.env_remove(k);
        }
        c.output().unwrap()
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_as(Path::new(BIN), args)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fails_with(out: &Output, message: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(message),
        "expected {message:?} in stderr: {err}"
    );
}

#[test]
fn version_and_help() {
    let s = Scratch::new();
    let out = s.run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    for flag in ["-h", "--help"] {
        let out = s.run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let usage = text(&out.stdout);
        assert!(
            usage.starts_with("Usage: mountd BUCKET[:/PATH] MOUNTPOINT"),
            "{usage}"
        );
        assert!(usage.contains("passwd_file"));
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn unknown_options_exit_1_naming_them() {
    let s = Scratch::new();
    fails_with(
        &s.run(&["b", "mnt", "-o", "ro,frobnicate=3"]),
        "mountd: unknown option 'frobnicate'",
    );
    fails_with(&s.run(&["-x", "b", "mnt"]), "mountd: invalid option -- 'x'");
    fails_with(
        &s.run(&["--frobnicate", "b", "mnt"]),
        "mountd: unrecognized option '--frobnicate'",
    );
    fails_with(
        &s.run(&["b", "mnt", "-o", &format!("secretAccessKey={SECRET}")]),
        "option secretAccessKey is no longer supported",
    );
    let out = s.run(&["b", "mnt", "-o", &format!("secretAccessKey={SECRET}")]);
    assert!(!text(&out.stderr).contains(SECRET));
    fails_with(&s.run(&["-u", "b"]), "not supported yet");
    fails_with(
        &s.run(&["b", "mnt", "-o", "dbglevel=loud"]),
        "option dbglevel has an invalid value",
    );
}

#[test]
fn bad_url_exits_1_with_s3fs_message() {
    let s = Scratch::new();
    fails_with(
        &s.run(&["-f", "b", "mnt", "-o", "url=127.0.0.1:9000"]),
        "mountd: option url has invalid format, missing http / https protocol",
    );
}

#[test]
fn passwd_file_readable_by_others_is_refused() {
    let s = Scratch::new();
    s.passwd(&format!("AK:{SECRET}\n"), 0o644);
    let out = s.run(&[
        "-f",
        "b",
        "mnt",
        "-o",
        "passwd_file=passwd,url=http://127.0.0.1:1",
    ]);
    fails_with(
        &out,
        "mountd: credentials file passwd should not have others permissions",
    );
    assert!(text(&out.stderr).contains("chmod 600 passwd"));
    assert!(!text(&out.stderr).contains(SECRET));
}

#[test]
fn missing_passwd_file() {
    let s = Scratch::new();
    fails_with(
        &s.run(&["-f", "b", "mnt", "-o", "passwd_file=passwd"]),
        "mountd: specified passwd_file is not readable: passwd: No such file or directory",
    );
}

#[test]
fn no_credentials_at_all() {
    let s = Scratch::new();
    let out = s.run(&["-f", "b", "mnt"]);
    // /etc/passwd-s3fs may exist on a developer machine; the message names it either way.
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
}

#[test]
fn missing_mountpoint_foreground_and_daemon() {
    let s = Scratch::new();
    s.passwd(&format!("AK:{SECRET}\n"), 0o600);
    let args = [
        "b",
        "nope",
        "-o",
        "passwd_file=passwd,url=http://127.0.0.1:1",
    ];
    let mut fg = vec!["-f"];
    fg.extend(args);
    fails_with(
        &s.run(&fg),
        "mountd: unable to access MOUNTPOINT nope: No such file or directory",
    );
    // Without -f the parent waits for the child's verdict and exits 1 too.
    fails_with(
        &s.run(&args),
        "mountd: unable to access MOUNTPOINT nope: No such file or directory",
    );
    std::fs::write(s.path("file"), b"x").unwrap();
    fails_with(
        &s.run(&["-f", "b", "file", "-o", "passwd_file=passwd"]),
        "mountd: MOUNTPOINT: file is not a directory.",
    );
    fails_with(
        &s.run(&["-f", "b", "-o", "passwd_file=passwd"]),
        "mountd: missing MOUNTPOINT argument.",
    );
}

#[test]
fn unreachable_endpoint_fails_before_mounting_without_leaking_secrets() {
    let s = Scratch::new();
    s.passwd(&format!("b:AKIDTEST:{SECRET}\n"), 0o600);
    let out = s.run(&[
        "-f",
        "-d",
        "b",
        "mnt",
        "-o",
        "passwd_file=passwd,url=http://127.0.0.1:1,use_path_request_style,retries=0,dbglevel=dbg",
    ]);
    fails_with(&out, "mountd: cannot connect to http://127.0.0.1:1");
    let err = text(&out.stderr);
    assert!(err.contains("mountd version"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}

#[test]
fn runs_as_s3fs_through_a_symlink() {
    let s = Scratch::new();
    let link = s.path("s3fs");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = s.run_as(&link, &["-f", "b", "mnt", "-o", "url=ftp://x"]);
    fails_with(
        &out,
        "s3fs: option url has invalid format, missing http / https protocol",
    );
    let out = s.run_as(&link, &["-h"]);
    assert!(text(&out.stdout).starts_with("Usage: s3fs "));
}
