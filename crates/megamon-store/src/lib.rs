//! Where MegaMon keeps timelines: the stored-history files (SPEC §3.2) in a
//! local directory or an object store, selected by URL.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use megamon_core::history::{self, HistoryError};
use megamon_core::{EntityKind, Timelines};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// A store that cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {url:?}: {problem}")]
    Url { url: String, problem: String },
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
    #[error("store {url}: {source}")]
    Corrupt {
        url: String,
        #[source]
        source: HistoryError,
    },
}

/// The stored history of one cluster: one file per entity kind under a prefix.
#[derive(Clone)]
pub struct HistoryStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("url", &self.url)
            .finish()
    }
}

impl HistoryStore {
    /// Opens `file:///abs/dir`, a plain directory path, or `memory://`.
    /// A directory must exist: a typo should not read as an empty history.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let bad = |problem: String| StoreError::Url {
            url: url.to_string(),
            problem,
        };
        match url.split_once("://") {
            Some(("file", rest)) => {
                if !rest.starts_with('/') {
                    return Err(bad(
                        "a file URL needs an absolute path, like file:///var/lib/megamon".into(),
                    ));
                }
                Self::open_dir(url, Path::new(rest))
            }
            Some(("memory", rest)) => Ok(HistoryStore {
                url: url.to_string(),
                store: Arc::new(InMemory::new()),
                prefix: ObjectPath::from(rest.trim_matches('/')),
            }),
            Some((scheme, _)) => Err(bad(format!(
                "unsupported scheme {scheme:?} (this build reads file:// URLs, directory paths and memory://)"
            ))),
            None => Self::open_dir(url, Path::new(url)),
        }
    }

    fn open_dir(url: &str, dir: &Path) -> Result<Self, StoreError> {
        let bad = |problem: String| StoreError::Url {
            url: url.to_string(),
            problem,
        };
        let dir: PathBuf = dir
            .canonicalize()
            .map_err(|e| bad(format!("cannot open directory {}: {e}", dir.display())))?;
        if !dir.is_dir() {
            return Err(bad(format!("{} is not a directory", dir.display())));
        }
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| bad(format!("cannot open directory {}: {e}", dir.display())))?;
        Ok(HistoryStore {
            url: url.to_string(),
            store: Arc::new(store),
            prefix: ObjectPath::default(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, kind: EntityKind) -> ObjectPath {
        self.prefix.clone().join(kind.file_name())
    }

    /// Loads a kind's timelines; `None` when its file does not exist yet.
    pub async fn load(&self, kind: EntityKind) -> Result<Option<Timelines>, StoreError> {
        let path = self.path(kind);
        let read_err = |source| StoreError::Read {
            url: self.url.clone(),
            file: path.to_string(),
            source: Box::new(source),
        };
        let bytes = match self.store.get(&path).await {
            Ok(result) => result.bytes().await.map_err(read_err)?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(read_err(e)),
        };
        history::parse(kind.file_name(), &bytes)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                url: self.url.clone(),
                source,
            })
    }

    /// Replaces a kind's file with `timelines` (the local store writes a temporary
    /// file and renames it, so readers never see a partial document).
    pub async fn save(&self, kind: EntityKind, timelines: &Timelines) -> Result<(), StoreError> {
        let path = self.path(kind);
        let payload = PutPayload::from(history::to_bytes(timelines));
        self.store
            .put(&path, payload)
            .await
            .map(|_| ())
            .map_err(|source| StoreError::Write {
                url: self.url.clone(),
                file: path.to_string(),
                source: Box::new(source),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn sample() -> Timelines {
        let mut t = Timelines::new();
        let at: Timestamp = "2024-01-01T00:00:00.25Z".parse().unwrap();
        t.observe("uid-1", true, false, at);
        t.observe("uid-2", false, true, at);
        t
    }

    #[tokio::test]
    async fn directory_round_trip_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = HistoryStore::open(&url).unwrap();
        assert_eq!(store.load(EntityKind::Slices).await.unwrap(), None);
        store.save(EntityKind::JobSets, &sample()).await.unwrap();
        assert_eq!(
            store.load(EntityKind::JobSets).await.unwrap(),
            Some(sample())
        );
        // The file is where the original puts it, in its format.
        let text = std::fs::read_to_string(dir.path().join("jobsets.json")).unwrap();
        assert!(
            text.starts_with(
                r#"{"uid-1":{"upEvents":[{"up":false,"ts":"2024-01-01T00:00:00.25Z"}"#
            ),
            "{text}"
        );
        // A plain path works too.
        let plain = HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(
            plain.load(EntityKind::JobSets).await.unwrap(),
            Some(sample())
        );
    }

    #[tokio::test]
    async fn memory_store_round_trip() {
        let store = HistoryStore::open("memory://megamon/clusters/c1").unwrap();
        store.save(EntityKind::NodePools, &sample()).await.unwrap();
        assert_eq!(
            store.load(EntityKind::NodePools).await.unwrap(),
            Some(sample())
        );
        assert_eq!(store.load(EntityKind::JobSets).await.unwrap(), None);
    }

    #[tokio::test]
    async fn corrupted_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("node-pools.json"),
            "{\"a\": {\"upEvents\": [}\n",
        )
        .unwrap();
        let store = HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
        let err = store
            .load(EntityKind::NodePools)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("node-pools.json: line 1"), "{err}");
    }

    #[test]
    fn bad_urls_are_clear_errors() {
        let err = HistoryStore::open("/definitely/not/here")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open directory"), "{err}");
        let err = HistoryStore::open("ftp://x/y").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme \"ftp\""), "{err}");
        let err = HistoryStore::open("file://relative/dir")
            .unwrap_err()
            .to_string();
        assert!(err.contains("absolute path"), "{err}");
    }
}
