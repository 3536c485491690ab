//! The error that ends mountd before or at mount time (exit 1).

use crate::args::ArgsError;
use crate::credentials::CredentialError;
use crate::options::OptionError;

/// Why mountd stops with exit status 1. The message is printed as `PROGRAM: MESSAGE`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Args(#[from] ArgsError),
    #[error(transparent)]
    Options(#[from] OptionError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("{0}")]
    Message(String),
}

impl StartError {
    pub fn msg(m: impl Into<String>) -> Self {
        StartError::Message(m.into())
    }
}

/// An I/O error as the C library words it ("No such file or directory"), without Rust's
/// " (os error 2)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_reason_drops_the_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(super::io_reason(&e), "No such file or directory");
        let e = std::io::Error::other("plain");
        assert_eq!(super::io_reason(&e), "plain");
    }
}
