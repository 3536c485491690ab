//! Filesystem errors and their one mapping to errno.

use s3client::S3Error;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    #[error("read-only file system")]
    ReadOnly,
    #[error("bad file handle")]
    BadHandle,
    #[error("the object changed while it was open; reopen it")]
    ObjectChanged,
    #[error("not supported: {0}")]
    NotSupported(&'static str),
    #[error("file exists")]
    Exists,
    #[error("directory not empty")]
    NotEmpty,
    /// Renaming a directory: `mv` answers this by copying the tree and removing the original.
    #[error("cannot rename a directory in place")]
    CrossDevice,
    #[error("local staging file: {0}")]
    Staging(std::io::Error),
    #[error(transparent)]
    S3(#[from] S3Error),
}

pub type Result<T, E = FsError> = std::result::Result<T, E>;

impl FsError {
    /// A failure of the server or of the way to it (not an answer about the objects such as
    /// "no such file" or "it changed meanwhile"): the caller sees only an errno, so it is
    /// worth a warning.
    pub fn is_server_failure(&self) -> bool {
        matches!(self, FsError::S3(e)
            if !matches!(e, S3Error::NotFound(_) | S3Error::PreconditionFailed(_)))
    }

    /// The errno the kernel gets. The only place that decides it.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::NotADirectory => libc::ENOTDIR,
            FsError::IsADirectory => libc::EISDIR,
            FsError::InvalidArgument(_) => libc::EINVAL,
            FsError::ReadOnly => libc::EROFS,
            FsError::BadHandle => libc::EBADF,
            FsError::ObjectChanged => libc::ESTALE,
            FsError::NotSupported(_) => libc::ENOTSUP,
            FsError::Exists => libc::EEXIST,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::CrossDevice => libc::EXDEV,
            FsError::Staging(e) => e.raw_os_error().unwrap_or(libc::EIO),
            FsError::S3(e) => match e {
                S3Error::NotFound(_) => libc::ENOENT,
                S3Error::AccessDenied(_) | S3Error::SignatureMismatch(_) => libc::EACCES,
                S3Error::PreconditionFailed(_) => libc::ESTALE,
                S3Error::Timeout(_) => libc::ETIMEDOUT,
                S3Error::Throttled(_) => libc::EAGAIN,
                S3Error::NoSuchBucket(_)
                | S3Error::InvalidRange(_)
                | S3Error::Server(_)
                | S3Error::Service(_)
                | S3Error::Transport(_)
                | S3Error::InvalidResponse(_) => libc::EIO,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3client::ErrorDetails;

    #[test]
    fn maps_errors_to_errno() {
        assert_eq!(FsError::NotFound.errno(), libc::ENOENT);
        assert_eq!(
            FsError::S3(S3Error::NotFound(ErrorDetails::default())).errno(),
            libc::ENOENT
        );
        assert_eq!(
            FsError::S3(S3Error::AccessDenied(ErrorDetails::default())).errno(),
            libc::EACCES
        );
        assert_eq!(
            FsError::S3(S3Error::Transport("reset".into())).errno(),
            libc::EIO
        );
        assert_eq!(
            FsError::S3(S3Error::Timeout("t".into())).errno(),
            libc::ETIMEDOUT
        );
        assert_eq!(FsError::ReadOnly.errno(), libc::EROFS);
    }

    #[test]
    fn server_failures_are_told_from_answers() {
        assert!(FsError::S3(S3Error::Transport("refused".into())).is_server_failure());
        assert!(FsError::S3(S3Error::AccessDenied(ErrorDetails::default())).is_server_failure());
        assert!(!FsError::S3(S3Error::NotFound(ErrorDetails::default())).is_server_failure());
        assert!(!FsError::NotFound.is_server_failure());
        let changed = S3Error::PreconditionFailed(ErrorDetails::default());
        assert!(!FsError::S3(changed).is_server_failure());
        assert!(!FsError::NotEmpty.is_server_failure());
    }
}
