//! What can go wrong with a store, and whether trying again may help.

use megamon_core::history::HistoryError;

/// A store that cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {url:?}: {problem}")]
    Url { url: String, problem: String },
    #[error("no history store configured: {problem}")]
    NotConfigured { problem: String },
    #[error("store {url}: cannot read {file}: {source}")]
    Read {
        url: String,
        file: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("store {url}: cannot write {file}: {source}")]
    Write {
        url: String,
        file: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("store {url}: cannot {action} {file}: {source}")]
    Io {
        url: String,
        file: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Someone else changed the file since we read it; nothing was written.
    #[error("store {url}: {file} was changed by another writer since it was read; not overwritten")]
    Conflict { url: String, file: String },
    #[error("store {url}: {source}")]
    Corrupt {
        url: String,
        #[source]
        source: HistoryError,
    },
}

impl StoreError {
    /// Whether the same operation may succeed later (network trouble, a server
    /// error, throttling, a full disk). Permanent: bad URL or configuration,
    /// a conflict, a corrupt document, missing permission or credentials.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Url { .. }
            | StoreError::NotConfigured { .. }
            | StoreError::Conflict { .. }
            | StoreError::Corrupt { .. } => false,
            StoreError::Read { source, .. } | StoreError::Write { source, .. } => {
                object_store_error_is_transient(source)
            }
            StoreError::Io { source, .. } => io_error_is_transient(source),
        }
    }

    /// Whether this is a [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

fn object_store_error_is_transient(error: &object_store::Error) -> bool {
    use object_store::Error as E;
    match error {
        // object_store maps 401, 403, 404, 409 and 412 to their own variants and
        // has already retried 5xx, 429 and connection failures before giving up
        // with `Generic`; what remains there is network trouble or a server that
        // is unwell, so trying again later is right.
        E::Generic { .. } | E::JoinError { .. } => true,
        _ => false,
    }
}

fn io_error_is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    !matches!(
        error.kind(),
        K::PermissionDenied
            | K::ReadOnlyFilesystem
            | K::NotFound
            | K::NotADirectory
            | K::IsADirectory
            | K::InvalidInput
            | K::InvalidData
            | K::Unsupported
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let conflict = StoreError::Conflict {
            url: "memory://".into(),
            file: "jobsets.json".into(),
        };
        assert!(!conflict.is_transient());
        assert!(conflict.is_conflict());
        let io = |kind| StoreError::Io {
            url: "file:///x".into(),
            file: "jobsets.json".into(),
            action: "write",
            source: std::io::Error::from(kind),
        };
        assert!(io(std::io::ErrorKind::StorageFull).is_transient());
        assert!(!io(std::io::ErrorKind::PermissionDenied).is_transient());
        let network = StoreError::Write {
            url: "gs://b/p".into(),
            file: "p/jobsets.json".into(),
            source: Box::new(object_store::Error::Generic {
                store: "GCS",
                source: "connection refused".into(),
            }),
        };
        assert!(network.is_transient());
        let denied = StoreError::Write {
            url: "gs://b/p".into(),
            file: "p/jobsets.json".into(),
            source: Box::new(object_store::Error::PermissionDenied {
                path: "p/jobsets.json".into(),
                source: "403".into(),
            }),
        };
        assert!(!denied.is_transient());
    }
}
