//! The command line in s3fs's shape.
//!
//! `mountd [opts] BUCKET[:/PREFIX] MOUNTPOINT [opts]`, parsed like s3fs's
//! `getopt_long("dho:fsu")`: options may come before or after the positional arguments,
//! short options may be bundled (`-fd`), `-o` takes its value glued (`-oallow_other`) or as
//! the next argument, and `--` ends the options. This module only splits the command line;
//! the meaning of each `-o` item is [`crate::options`]'s job.

use std::ffi::OsString;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-h` / `--help`: print the usage to stdout, exit 0.
    Help,
    /// `--version`: print the version to stdout, exit 0.
    Version,
    /// `-u`, `--incomplete-mpu-list`, `--incomplete-mpu-abort[=…]`: s3fs's utility mode,
    /// which mountd does not have yet (exit 1).
    Utility(String),
    /// Mount.
    Mount(CommandLine),
}

/// A mount command line, split but not yet interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// Non-option arguments in order (bucket, mountpoint, maybe a mount helper's `s3fs`).
    pub positionals: Vec<String>,
    /// `-f`.
    pub foreground: bool,
    /// How many times `-d` / `--debug` was given.
    pub debug: u8,
    /// `-s` (single-threaded in libfuse; accepted, no effect).
    pub single_thread: bool,
    /// Every `-o` item, comma lists split (`\,` keeps a literal comma), in order.
    pub options: Vec<String>,
}

/// A command line that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("invalid option -- '{0}'")]
    UnknownShort(char),
    #[error("unrecognized option '{0}'")]
    UnknownLong(String),
    #[error("option requires an argument -- '{0}'")]
    MissingValue(char),
    #[error("option '--{0}' doesn't allow an argument")]
    UnexpectedValue(String),
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(OsString),
}

/// The program name for messages: the basename of `argv[0]` (`s3fs` when run through the
/// `s3fs -> mountd` symlink), `mountd` if there is none.
pub fn program_name(argv0: Option<&OsString>) -> String {
    argv0
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "mountd".to_string())
}

/// Split one `-o` argument into its items: commas separate, `\,` is a literal comma and
/// `\\` a literal backslash (libfuse's escaping); empty items are dropped.
pub fn split_option_list(arg: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => cur.push(n),
                None => cur.push('\\'),
            },
            ',' => {
                if !cur.is_empty() {
                    items.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        items.push(cur);
    }
    items
}

/// Parse the arguments after `argv[0]`.
///
/// `-h`, `--help` and `--version` act as soon as they are seen (like s3fs, which exits from
/// inside its getopt loop), so an error before them wins and anything after them is ignored.
pub fn parse<I>(args: I) -> Result<Action, ArgsError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut strings = Vec::new();
    for a in args {
        let a: OsString = a.into();
        match a.into_string() {
            Ok(s) => strings.push(s),
            Err(os) => return Err(ArgsError::NotUtf8(os)),
        }
    }
    let mut cl = CommandLine::default();
    let mut utility: Option<String> = None;
    let mut it = strings.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            cl.positionals.extend(it.by_ref());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let no_value = |name: &str| -> Result<(), ArgsError> {
                match value {
                    Some(_) => Err(ArgsError::UnexpectedValue(name.to_string())),
                    None => Ok(()),
                }
            };
            match name {
                "help" => {
                    no_value(name)?;
                    return Ok(Action::Help);
                }
                "version" => {
                    no_value(name)?;
                    return Ok(Action::Version);
                }
                "debug" => {
                    no_value(name)?;
                    cl.debug = cl.debug.saturating_add(1);
                }
                "incomplete-mpu-list" => {
                    no_value(name)?;
                    utility = Some("--incomplete-mpu-list".into());
                }
                "incomplete-mpu-abort" => utility = Some("--incomplete-mpu-abort".into()),
                _ => return Err(ArgsError::UnknownLong(arg.clone())),
            }
            continue;
        }
        if arg.len() > 1 && arg.starts_with('-') {
            // A cluster of short options: -f, -d, -s, -u, -h, and -o which takes the rest
            // of the cluster or the next argument as its value.
            let body = &arg[1..];
            for (i, c) in body.char_indices() {
                match c {
                    'f' => cl.foreground = true,
                    'd' => cl.debug = cl.debug.saturating_add(1),
                    's' => cl.single_thread = true,
                    'u' => utility = Some("-u".into()),
                    'h' => return Ok(Action::Help),
                    'o' => {
                        let rest = &body[i + 1..];
                        let value = if rest.is_empty() {
                            it.next().ok_or(ArgsError::MissingValue('o'))?
                        } else {
                            rest.to_string()
                        };
                        cl.options.extend(split_option_list(&value));
                        break;
                    }
                    other => return Err(ArgsError::UnknownShort(other)),
                }
            }
            continue;
        }
        cl.positionals.push(arg);
    }
    if let Some(u) = utility {
        return Ok(Action::Utility(u));
    }
    Ok(Action::Mount(cl))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(args: &[&str]) -> CommandLine {
        match parse(args.iter().copied()) {
            Ok(Action::Mount(cl)) => cl,
            other => panic!("expected a mount command line, got {other:?}"),
        }
    }

    #[test]
    fn the_blog_line() {
        let cl = mount(&[
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
        ]);
        assert!(cl.foreground);
        assert_eq!(cl.debug, 1);
        assert_eq!(cl.positionals, ["BUCKET", "MP"]);
        assert_eq!(
            cl.options,
            [
                "endpoint=us-east-1",
                "passwd_file=passwd",
                "url=http://127.0.0.1:9000",
                "nomultipart",
                "use_path_request_style"
            ]
        );
    }

    #[test]
    fn options_before_between_and_after_positionals() {
        let cl = mount(&["-o", "ro", "b", "-f", "/mnt", "-oallow_other,uid=1", "-d"]);
        assert_eq!(cl.positionals, ["b", "/mnt"]);
        assert_eq!(cl.options, ["ro", "allow_other", "uid=1"]);
        assert!(cl.foreground);
        assert_eq!(cl.debug, 1);
    }

    #[test]
    fn bundled_short_options_and_repeated_debug() {
        let cl = mount(&["-fdd", "b", "m"]);
        assert!(cl.foreground);
        assert_eq!(cl.debug, 2);
        let cl = mount(&["-d", "--debug", "-s", "b", "m"]);
        assert_eq!(cl.debug, 2);
        assert!(cl.single_thread);
        // -o inside a cluster takes the rest of it, or the next argument.
        let cl = mount(&["-fo", "ro", "-fourl=http://h", "b", "m"]);
        assert_eq!(cl.options, ["ro", "url=http://h"]);
    }

    #[test]
    fn comma_lists_and_escapes() {
        assert_eq!(split_option_list("a,b=c,,d"), ["a", "b=c", "d"]);
        assert_eq!(split_option_list(r"x=1\,2,y"), ["x=1,2", "y"]);
        assert_eq!(split_option_list(r"x=a\\b"), [r"x=a\b"]);
        assert!(split_option_list(",").is_empty());
    }

    #[test]
    fn double_dash_ends_options() {
        let cl = mount(&["-f", "--", "-b", "-m"]);
        assert_eq!(cl.positionals, ["-b", "-m"]);
        // A lone "-" is a positional, as with getopt.
        let cl = mount(&["-", "m"]);
        assert_eq!(cl.positionals, ["-", "m"]);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["-h"]).unwrap(), Action::Help);
        assert_eq!(parse(["b", "m", "--help"]).unwrap(), Action::Help);
        assert_eq!(parse(["-fh"]).unwrap(), Action::Help);
        assert_eq!(parse(["--version"]).unwrap(), Action::Version);
        // Acts in order: an error before --version wins.
        assert_eq!(
            parse(["-x", "--version"]).unwrap_err(),
            ArgsError::UnknownShort('x')
        );
        assert_eq!(parse(["--version", "-x"]).unwrap(), Action::Version);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(["-q"]).unwrap_err(), ArgsError::UnknownShort('q'));
        assert_eq!(
            parse(["--frobnicate"]).unwrap_err(),
            ArgsError::UnknownLong("--frobnicate".into())
        );
        assert_eq!(
            parse(["b", "-o"]).unwrap_err(),
            ArgsError::MissingValue('o')
        );
        assert_eq!(
            parse(["--help=x"]).unwrap_err(),
            ArgsError::UnexpectedValue("help".into())
        );
        assert_eq!(
            parse(["-q"]).unwrap_err().to_string(),
            "invalid option -- 'q'"
        );
    }

    #[test]
    fn utility_mode_is_recognised() {
        assert_eq!(parse(["-u", "b"]).unwrap(), Action::Utility("-u".into()));
        assert_eq!(
            parse(["--incomplete-mpu-list", "b"]).unwrap(),
            Action::Utility("--incomplete-mpu-list".into())
        );
        assert_eq!(
            parse(["--incomplete-mpu-abort=all", "b"]).unwrap(),
            Action::Utility("--incomplete-mpu-abort".into())
        );
    }

    #[test]
    fn program_name_is_the_basename() {
        assert_eq!(program_name(Some(&"/usr/local/bin/s3fs".into())), "s3fs");
        assert_eq!(program_name(Some(&"mountd".into())), "mountd");
        assert_eq!(program_name(None), "mountd");
    }
}
