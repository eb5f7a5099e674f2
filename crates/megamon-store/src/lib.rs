//! Where MegaMon keeps timelines: the stored-history files (SPEC §3.2) in a
//! local directory, an S3 or Google Cloud Storage bucket, an Azure Blob
//! Storage container, or memory, selected by URL.
//!
//! Every write is conditional on the version last read, so two writers can't
//! silently overwrite each other: the loser gets [`StoreError::Conflict`].
//! [`HistoryWriter`] keeps those versions for a monitor.
#![forbid(unsafe_code)]

mod archive;
mod cloud;
mod clusters;
mod digest;
mod error;
mod local;
mod location;
mod options;
mod writer;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use megamon_core::history;
use megamon_core::{EntityKind, Timelines};
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion};

pub use archive::{Appended, ArchiveWriter, ToArchive};
pub use clusters::Layout;
pub use error::StoreError;
pub use location::history_url;
pub use options::StoreOptions;
pub use writer::{Flushed, HistoryWriter, SetAside};

use local::{LocalDir, LocalWriteError};

/// The version of a stored file as its store reports it (an S3 or Azure
/// ETag, a GCS generation, or for local files a content fingerprint).
/// Opaque: only compared and handed back to [`HistoryStore::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    e_tag: Option<String>,
    generation: Option<String>,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.e_tag, &self.generation) {
            (_, Some(generation)) => write!(f, "generation {generation}"),
            (Some(e_tag), None) => write!(f, "etag {e_tag}"),
            (None, None) => f.write_str("unversioned"),
        }
    }
}

/// A kind's timelines as stored, with the version they were read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub timelines: Timelines,
    pub version: Version,
}

/// What a folder holds: file and folder names, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<String>,
    pub folders: Vec<String>,
}

/// The stored history of one cluster: one file per entity kind under a prefix.
#[derive(Clone)]
pub struct HistoryStore {
    url: String,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(Arc<LocalDir>),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
    },
}

impl fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryStore")
            .field("url", &self.url)
            .finish()
    }
}

impl HistoryStore {
    /// Opens a store with cloud settings from the environment; see [`Self::open_with`].
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &StoreOptions::default())
    }

    /// Opens `gs://bucket/prefix`, `s3://bucket/prefix`,
    /// `az://container/prefix` (or `azure://`), `file:///abs/dir`, a plain
    /// directory path, or `memory://[prefix]` (empty, private to this value
    /// and its clones). A directory must exist: a typo should not read as an
    /// empty history. Opening does not contact a bucket.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let bad = |problem: String| StoreError::Url {
            url: url.to_string(),
            problem,
        };
        let backend = match url.split_once("://") {
            Some(("file", rest)) => {
                if !rest.starts_with('/') {
                    return Err(bad(
                        "a file URL needs an absolute path, like file:///var/lib/megamon".into(),
                    ));
                }
                Backend::Local(Arc::new(LocalDir::open(Path::new(rest)).map_err(bad)?))
            }
            Some(("memory", rest)) => Backend::Object {
                store: Arc::new(InMemory::new()),
                prefix: object_prefix(rest).map_err(bad)?,
            },
            Some((scheme @ ("gs" | "s3" | "az" | "azure"), rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let what = if scheme.starts_with("az") {
                    "container"
                } else {
                    "bucket"
                };
                if bucket.is_empty() {
                    return Err(bad(format!(
                        "no {what} name; expected {scheme}://{}/PATH",
                        what.to_uppercase()
                    )));
                }
                let store = match scheme {
                    "gs" => cloud::gcs(bucket, options),
                    "s3" => cloud::s3(bucket, options),
                    _ => cloud::azure(bucket, options),
                }
                .map_err(bad)?;
                Backend::Object {
                    store,
                    prefix: object_prefix(prefix).map_err(bad)?,
                }
            }
            Some((scheme, _)) => {
                return Err(bad(format!(
                    "unsupported scheme {scheme:?} (use gs://, s3://, az://, file://, memory:// or a directory path)"
                )));
            }
            None => Backend::Local(Arc::new(LocalDir::open(Path::new(url)).map_err(bad)?)),
        };
        Ok(HistoryStore {
            url: url.to_string(),
            backend,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where a kind's file is, for messages: a path inside the bucket or directory.
    fn file_name(&self, kind: EntityKind) -> String {
        match &self.backend {
            Backend::Local(dir) => dir.file_path(kind.file_name()).display().to_string(),
            Backend::Object { prefix, .. } => object_path(prefix, kind).to_string(),
        }
    }

    /// Loads a kind's timelines; `None` when its file does not exist yet.
    pub async fn load(&self, kind: EntityKind) -> Result<Option<Timelines>, StoreError> {
        Ok(self.load_versioned(kind).await?.map(|s| s.timelines))
    }

    /// Loads a kind's timelines and the version they were read at, for a
    /// later conditional [`Self::save`]; `None` when the file does not exist.
    pub async fn load_versioned(&self, kind: EntityKind) -> Result<Option<Stored>, StoreError> {
        let Some((bytes, version)) = self.read(kind).await? else {
            return Ok(None);
        };
        let timelines = self.parse(kind, &bytes)?;
        Ok(Some(Stored { timelines, version }))
    }

    fn parse(&self, kind: EntityKind, bytes: &[u8]) -> Result<Timelines, StoreError> {
        history::parse(&self.file_name(kind), bytes).map_err(|source| StoreError::Corrupt {
            url: self.url.clone(),
            source,
        })
    }

    /// Replaces a kind's file with `timelines` if it is still at `expected`,
    /// the version last loaded or saved (`None`: the file must not exist yet).
    /// Returns the new version. If another writer got there first, nothing is
    /// written and the error is [`StoreError::Conflict`]. Readers see either
    /// the old or the new document, never a part.
    pub async fn save(
        &self,
        kind: EntityKind,
        timelines: &Timelines,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        self.write(kind, history::to_bytes(timelines), expected)
            .await
    }

    /// The file's bytes and version, `None` when it does not exist.
    pub(crate) async fn read(
        &self,
        kind: EntityKind,
    ) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
        self.read_named(kind.file_name()).await
    }

    /// Where a file below the prefix is, for messages.
    pub(crate) fn shown(&self, name: &str) -> String {
        match &self.backend {
            Backend::Local(dir) => dir.file_path(name).display().to_string(),
            Backend::Object { prefix, .. } => object_child(prefix, name).to_string(),
        }
    }

    /// A file's bytes and version (`name` may have `/`-separated folders),
    /// `None` when it does not exist.
    pub(crate) async fn read_named(
        &self,
        name: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
        match &self.backend {
            Backend::Local(dir) => {
                let dir = Arc::clone(dir);
                let owned = name.to_string();
                let result = tokio::task::spawn_blocking(move || dir.read(&owned))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                result.map_err(|source| StoreError::Io {
                    url: self.url.clone(),
                    file: self.shown(name),
                    action: "read",
                    source,
                })
            }
            Backend::Object { store, prefix } => {
                let path = object_child(prefix, name);
                let read_err = |source| StoreError::Read {
                    url: self.url.clone(),
                    file: path.to_string(),
                    source: Box::new(source),
                };
                let result = match store.get(&path).await {
                    Ok(result) => result,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(read_err(e)),
                };
                let version = Version {
                    e_tag: result.meta.e_tag.clone(),
                    generation: result.meta.version.clone(),
                };
                let bytes = result.bytes().await.map_err(read_err)?;
                Ok(Some((bytes.to_vec(), version)))
            }
        }
    }

    /// Conditionally replaces the file with `bytes`; see [`Self::save`].
    pub(crate) async fn write(
        &self,
        kind: EntityKind,
        bytes: Vec<u8>,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        self.write_named(kind.file_name(), bytes, expected).await
    }

    /// Keeps `bytes` (a kind's file that cannot be read) beside the kind's
    /// file as `<file>.corrupt-<time>`, so nothing is lost when the monitor
    /// goes on without it. Returns where it went.
    pub async fn set_aside(&self, kind: EntityKind, bytes: Vec<u8>) -> Result<String, StoreError> {
        self.set_aside_named(kind.file_name(), bytes).await
    }

    /// [`Self::set_aside`] for any file below the prefix.
    pub(crate) async fn set_aside_named(
        &self,
        file: &str,
        bytes: Vec<u8>,
    ) -> Result<String, StoreError> {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%S%.fZ")
            .to_string();
        let name = format!("{file}.corrupt-{stamp}");
        self.write_named(&name, bytes, None).await?;
        Ok(self.shown(&name))
    }

    /// The store of a folder below this one (`name`: one folder), e.g. one
    /// cluster's history below a shared prefix.
    pub fn child(&self, name: &str) -> Result<HistoryStore, StoreError> {
        let url = format!("{}/{name}", self.url.trim_end_matches('/'));
        let bad = |problem: String| StoreError::Url {
            url: url.clone(),
            problem,
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(bad(format!("{name:?} is not a folder name")));
        }
        let backend = match &self.backend {
            Backend::Local(dir) => {
                Backend::Local(Arc::new(LocalDir::open(&dir.file_path(name)).map_err(bad)?))
            }
            Backend::Object { store, prefix } => Backend::Object {
                store: Arc::clone(store),
                prefix: object_child(prefix, name),
            },
        };
        Ok(HistoryStore { url, backend })
    }

    /// The files and folders directly in folder `sub` below the prefix (""
    /// for the prefix itself), by name, sorted; empty when it does not exist.
    pub async fn list(&self, sub: &str) -> Result<Listing, StoreError> {
        let mut listing = match &self.backend {
            Backend::Local(dir) => {
                let dir = Arc::clone(dir);
                let owned = sub.to_string();
                let result = tokio::task::spawn_blocking(move || dir.list(&owned))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                result.map_err(|source| StoreError::Io {
                    url: self.url.clone(),
                    file: self.shown(sub),
                    action: "list",
                    source,
                })?
            }
            Backend::Object { store, prefix } => {
                let path = object_child(prefix, sub);
                let listed = store
                    .list_with_delimiter(Some(&path))
                    .await
                    .map_err(|source| StoreError::Read {
                        url: self.url.clone(),
                        file: format!("{path}/"),
                        source: Box::new(source),
                    })?;
                let last = |p: &ObjectPath| p.filename().map(str::to_string);
                Listing {
                    files: listed
                        .objects
                        .iter()
                        .filter_map(|o| last(&o.location))
                        .collect(),
                    folders: listed.common_prefixes.iter().filter_map(last).collect(),
                }
            }
        };
        listing.files.sort();
        listing.folders.sort();
        Ok(listing)
    }

    /// Deletes a file below the prefix; a file already gone is no error.
    pub(crate) async fn delete_named(&self, name: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local(dir) => {
                let dir = Arc::clone(dir);
                let owned = name.to_string();
                let result = tokio::task::spawn_blocking(move || dir.delete(&owned))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                result.map_err(|source| StoreError::Io {
                    url: self.url.clone(),
                    file: self.shown(name),
                    action: "delete",
                    source,
                })
            }
            Backend::Object { store, prefix } => {
                let path = object_child(prefix, name);
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(source) => Err(StoreError::Write {
                        url: self.url.clone(),
                        file: path.to_string(),
                        source: Box::new(source),
                    }),
                }
            }
        }
    }

    pub(crate) async fn write_named(
        &self,
        name: &str,
        bytes: Vec<u8>,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let shown = || self.shown(name);
        let conflict = || StoreError::Conflict {
            url: self.url.clone(),
            file: shown(),
        };
        match &self.backend {
            Backend::Local(dir) => {
                let dir = Arc::clone(dir);
                let expected = expected.cloned();
                let owned = name.to_string();
                let result = tokio::task::spawn_blocking(move || {
                    dir.write(&owned, &bytes, expected.as_ref())
                })
                .await
                .unwrap_or_else(|e| {
                    Err(LocalWriteError::Io {
                        action: "write",
                        source: std::io::Error::other(e),
                    })
                });
                result.map_err(|e| match e {
                    LocalWriteError::Conflict => conflict(),
                    LocalWriteError::Io { action, source } => StoreError::Io {
                        url: self.url.clone(),
                        file: shown(),
                        action,
                        source,
                    },
                })
            }
            Backend::Object { store, prefix } => {
                let path = object_child(prefix, name);
                let mode = match expected {
                    None => PutMode::Create,
                    Some(v) => PutMode::Update(UpdateVersion {
                        e_tag: v.e_tag.clone(),
                        version: v.generation.clone(),
                    }),
                };
                match store
                    .put_opts(&path, PutPayload::from(bytes), mode.into())
                    .await
                {
                    Ok(put) => Ok(Version {
                        e_tag: put.e_tag,
                        generation: put.version,
                    }),
                    Err(
                        object_store::Error::Precondition { .. }
                        | object_store::Error::AlreadyExists { .. },
                    ) => Err(conflict()),
                    Err(source) => Err(StoreError::Write {
                        url: self.url.clone(),
                        file: path.to_string(),
                        source: Box::new(source),
                    }),
                }
            }
        }
    }
}

fn object_prefix(prefix: &str) -> Result<ObjectPath, String> {
    ObjectPath::parse(prefix.trim_matches('/'))
        .map_err(|e| format!("bad path {prefix:?} in the bucket: {e}"))
}

fn object_path(prefix: &ObjectPath, kind: EntityKind) -> ObjectPath {
    object_child(prefix, kind.file_name())
}

/// `name` below `prefix`, where `name` may have `/`-separated folders.
fn object_child(prefix: &ObjectPath, name: &str) -> ObjectPath {
    name.split('/')
        .filter(|part| !part.is_empty())
        .fold(prefix.clone(), |path, part| path.join(part))
}
