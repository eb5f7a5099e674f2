//! The local-directory backend: one file per kind, replaced atomically, with a
//! compare-and-swap that object_store's `LocalFileSystem` does not offer
//! (it has no `PutMode::Update`).
//!
//! A file's version is its length and content fingerprint, so any change by
//! another writer is seen. A conditional write takes an exclusive lock on a
//! sibling `.NAME.lock` file (advisory, honoured by every MegaMon instance),
//! compares the current version with the expected one, writes a temporary
//! file in the same directory, syncs it and renames it over the target, so a
//! reader sees either the old or the new document, never part of one.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::Version;
use crate::digest::fingerprint;

/// A directory holding stored-history files.
#[derive(Debug)]
pub(crate) struct LocalDir {
    dir: PathBuf,
}

/// Why a local write did not happen.
#[derive(Debug)]
pub(crate) enum LocalWriteError {
    Conflict,
    Io {
        action: &'static str,
        source: std::io::Error,
    },
}

fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> LocalWriteError {
    move |source| LocalWriteError::Io { action, source }
}

/// The version of a local file with these contents.
pub(crate) fn version_of(bytes: &[u8]) -> Version {
    Version {
        e_tag: Some(format!("{:x}-{:016x}", bytes.len(), fingerprint(bytes))),
        generation: None,
    }
}

impl LocalDir {
    /// `dir` must exist: a typo should not read as an empty history.
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("cannot open directory {}: {e}", dir.display()))?;
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        Ok(LocalDir { dir })
    }

    pub(crate) fn file_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The file's contents and version; `None` when it does not exist.
    pub(crate) fn read(&self, name: &str) -> std::io::Result<Option<(Vec<u8>, Version)>> {
        let mut file = match File::open(self.file_path(name)) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let version = version_of(&bytes);
        Ok(Some((bytes, version)))
    }

    /// Replaces the file with `bytes` if its version is still `expected`
    /// (`None`: the file must not exist). Returns the new version.
    pub(crate) fn write(
        &self,
        name: &str,
        bytes: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, LocalWriteError> {
        let target = self.file_path(name);
        let (folder, file) = match (target.parent(), target.file_name()) {
            (Some(folder), Some(file)) => {
                (folder.to_path_buf(), file.to_string_lossy().into_owned())
            }
            _ => {
                return Err(LocalWriteError::Io {
                    action: "name",
                    source: std::io::Error::from(ErrorKind::InvalidInput),
                });
            }
        };
        if folder != self.dir {
            // Folders below the store's (the archive's) are made as needed;
            // the store's own must exist (a vanished one is an error).
            std::fs::metadata(&self.dir).map_err(io("open the folder of"))?;
            std::fs::create_dir_all(&folder).map_err(io("create the folder of"))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join(format!(".{file}.lock")))
            .map_err(io("create the lock file for"))?;
        lock.lock().map_err(io("lock"))?;
        let current = self.read(name).map_err(io("read"))?.map(|(_, v)| v);
        if current.as_ref() != expected {
            return Err(LocalWriteError::Conflict);
        }
        // One temporary name per process is enough: the lock serialises writers.
        let temporary = folder.join(format!(".{file}.{}.tmp", std::process::id()));
        let result = self.replace(&temporary, &target, bytes);
        if result.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        result?;
        // The lock is released when `lock` is dropped, after the rename.
        drop(lock);
        Ok(version_of(bytes))
    }

    /// Deletes a file (and its lock file); one already gone is no error.
    pub(crate) fn delete(&self, name: &str) -> std::io::Result<()> {
        let target = self.file_path(name);
        match std::fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let (Some(folder), Some(file)) = (target.parent(), target.file_name()) {
            let _ = std::fs::remove_file(folder.join(format!(".{}.lock", file.to_string_lossy())));
        }
        Ok(())
    }

    /// File and folder names in folder `sub` (hidden ones, lock and
    /// temporary files, left out); empty when it does not exist.
    pub(crate) fn list(&self, sub: &str) -> std::io::Result<crate::Listing> {
        let mut listing = crate::Listing::default();
        let entries = match std::fs::read_dir(self.file_path(sub)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(listing),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                listing.folders.push(name);
            } else {
                listing.files.push(name);
            }
        }
        Ok(listing)
    }

    fn replace(
        &self,
        temporary: &Path,
        target: &Path,
        bytes: &[u8],
    ) -> Result<(), LocalWriteError> {
        let mut file = File::create(temporary).map_err(io("create a temporary file for"))?;
        file.write_all(bytes).map_err(io("write"))?;
        file.sync_all().map_err(io("sync"))?;
        std::fs::rename(temporary, target).map_err(io("rename a temporary file onto"))?;
        // Make the rename itself durable.
        File::open(target.parent().unwrap_or(&self.dir))
            .and_then(|d| d.sync_all())
            .map_err(io("sync the directory of"))
    }
}
