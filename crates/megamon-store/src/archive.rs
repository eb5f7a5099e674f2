//! The archive of ended entities (SPEC §3.4) in a store: day files
//! `archive/<kind>/<YYYY-MM-DD>.jsonl` beside the four original files.
//!
//! Object stores cannot append, so adding lines replaces the day file with
//! its old lines and the new ones, atomically and conditionally on the
//! version last read, as every other write (a conflict re-reads and tries
//! again: lines are only ever added, so merging is safe). A line is added
//! only when no line of the same life is there yet ([`ArchivedEntity::same_life`]),
//! in its day file or the ones before it where an earlier record of the same
//! end may be: so nothing is archived twice after a restart or a failover.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use megamon_core::EntityKind;
use megamon_core::archive::{
    ARCHIVE_DIR, ArchivedEntity, day_file_name, day_of, day_of_file_name, parse_day,
};

use crate::{HistoryStore, StoreError, Version};

/// How many times a conflicting append is read again and retried.
const ATTEMPTS: usize = 3;

fn folder(kind: EntityKind) -> String {
    format!("{ARCHIVE_DIR}/{}", kind.name())
}

fn day_path(kind: EntityKind, day: Date) -> String {
    format!("{}/{}", folder(kind), day_file_name(day))
}

impl HistoryStore {
    /// The days a kind's archive has files for, oldest first.
    pub async fn archive_days(&self, kind: EntityKind) -> Result<Vec<Date>, StoreError> {
        let listing = self.list(&folder(kind)).await?;
        let days: BTreeSet<Date> = listing
            .files
            .iter()
            .filter_map(|f| day_of_file_name(f))
            .collect();
        Ok(days.into_iter().collect())
    }

    /// The entities that ended on `day` (none when there is no file).
    pub async fn read_archive_day(
        &self,
        kind: EntityKind,
        day: Date,
    ) -> Result<Vec<ArchivedEntity>, StoreError> {
        Ok(self.read_day(kind, day).await?.entities)
    }

    /// The entities of a kind that ended on `from` or later (all without it),
    /// oldest day first.
    pub async fn read_archive(
        &self,
        kind: EntityKind,
        from: Option<Date>,
    ) -> Result<Vec<ArchivedEntity>, StoreError> {
        let mut out = Vec::new();
        for day in self.archive_days(kind).await? {
            if from.is_none_or(|from| day >= from) {
                out.extend(self.read_archive_day(kind, day).await?);
            }
        }
        Ok(out)
    }

    async fn read_day(&self, kind: EntityKind, day: Date) -> Result<DayFile, StoreError> {
        let name = day_path(kind, day);
        let Some((bytes, version)) = self.read_named(&name).await? else {
            return Ok(DayFile::default());
        };
        let entities =
            parse_day(&self.shown(&name), &bytes).map_err(|source| StoreError::Corrupt {
                url: self.url().to_string(),
                source,
            })?;
        Ok(DayFile {
            version: Some(version),
            bytes,
            entities,
        })
    }
}

/// A day file as last read or written.
#[derive(Debug, Default)]
struct DayFile {
    /// `None`: it did not exist.
    version: Option<Version>,
    bytes: Vec<u8>,
    entities: Vec<ArchivedEntity>,
}

/// An entity to archive, and how it was found ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ToArchive {
    pub entity: ArchivedEntity,
    /// Seen going while watched: an earlier record of the same end (by
    /// another replica) is at most a day earlier. Otherwise (found gone in
    /// stored history, e.g. after a restart) one may be in any day file
    /// since its last transition.
    pub seen_ending: bool,
}

impl ToArchive {
    /// The first day a duplicate of it may be in.
    fn check_from(&self) -> Date {
        let day = self.entity.day();
        let day_before = day.yesterday().unwrap_or(day);
        if self.seen_ending {
            return day_before;
        }
        let last = self
            .entity
            .timeline
            .last()
            .map_or(self.entity.ended_at, |e| e.timestamp);
        day_of(last).min(day_before)
    }
}

/// What [`ArchiveWriter::append`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// Lines added.
    pub written: usize,
    /// Entities already archived, not added again.
    pub duplicates: usize,
    /// Bytes of the lines added.
    pub bytes: usize,
    /// Bytes sent (the day files written, whole).
    pub bytes_sent: usize,
    /// Day files that could not be read and were kept aside: where they
    /// went, and why.
    pub set_aside: Vec<String>,
}

/// Appends to a store's archive; remembers the day files it last read or
/// wrote, so a steady stream of ends costs one write per batch.
#[derive(Debug)]
pub struct ArchiveWriter {
    store: HistoryStore,
    days: BTreeMap<(EntityKind, Date), DayFile>,
}

impl ArchiveWriter {
    pub fn new(store: HistoryStore) -> Self {
        ArchiveWriter {
            store,
            days: BTreeMap::new(),
        }
    }

    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    /// Adds the entities not archived yet. An error leaves the rest of the
    /// batch unwritten: appending the whole batch again is safe (what was
    /// written is found and not added twice).
    pub async fn append(&mut self, batch: &[ToArchive]) -> Result<Appended, StoreError> {
        let mut by_file: BTreeMap<(EntityKind, Date), Vec<&ToArchive>> = BTreeMap::new();
        for item in batch {
            by_file
                .entry((item.entity.kind, item.entity.day()))
                .or_default()
                .push(item);
        }
        let mut done = Appended::default();
        for ((kind, day), items) in by_file {
            self.append_day(kind, day, &items, &mut done).await?;
        }
        // Only the newest days are worth remembering.
        if let Some(&(_, newest)) = self.days.keys().max_by_key(|(_, d)| *d) {
            let keep = newest.yesterday().unwrap_or(newest);
            self.days.retain(|(_, d), _| *d >= keep);
        }
        Ok(done)
    }

    async fn append_day(
        &mut self,
        kind: EntityKind,
        day: Date,
        items: &[&ToArchive],
        done: &mut Appended,
    ) -> Result<(), StoreError> {
        for attempt in 1..=ATTEMPTS {
            let from = items.iter().map(|i| i.check_from()).min().unwrap_or(day);
            self.remember_days(kind, from, day, done).await?;
            let mut new: Vec<&ArchivedEntity> = Vec::new();
            let mut duplicates = 0;
            for item in items {
                let e = &item.entity;
                let known = self
                    .days
                    .range((kind, item.check_from())..=(kind, day))
                    .flat_map(|(_, f)| &f.entities)
                    .chain(new.iter().copied())
                    .any(|old| old.same_life(e));
                if known {
                    duplicates += 1;
                } else {
                    new.push(e);
                }
            }
            if new.is_empty() {
                done.duplicates += duplicates;
                return Ok(());
            }
            let file = self.days.entry((kind, day)).or_default();
            let mut bytes = file.bytes.clone();
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            let before = bytes.len();
            for e in &new {
                bytes.extend_from_slice(e.to_line().as_bytes());
            }
            let added = bytes.len() - before;
            let sent = bytes.len();
            let name = day_path(kind, day);
            match self
                .store
                .write_named(&name, bytes.clone(), file.version.as_ref())
                .await
            {
                Ok(version) => {
                    file.version = Some(version);
                    file.bytes = bytes;
                    file.entities.extend(new.iter().map(|e| (*e).clone()));
                    done.written += new.len();
                    done.duplicates += duplicates;
                    done.bytes += added;
                    done.bytes_sent += sent;
                    return Ok(());
                }
                Err(e) if e.is_conflict() && attempt < ATTEMPTS => {
                    // Another writer added lines: read them and try again.
                    self.days.remove(&(kind, day));
                }
                Err(e) => {
                    self.days.remove(&(kind, day));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Reads the day files from `from` to `to` not remembered yet. A day
    /// file that cannot be parsed is kept aside (`<file>.corrupt-<time>`)
    /// and counts as empty; the next write replaces it.
    async fn remember_days(
        &mut self,
        kind: EntityKind,
        from: Date,
        to: Date,
        done: &mut Appended,
    ) -> Result<(), StoreError> {
        let wanted: Vec<Date> = if from >= to {
            vec![to]
        } else if to.yesterday().is_ok_and(|y| y == from) {
            vec![from, to]
        } else {
            // A long look back: only the days that have files.
            let mut days: Vec<Date> = self
                .store
                .archive_days(kind)
                .await?
                .into_iter()
                .filter(|d| (from..=to).contains(d))
                .collect();
            days.push(to);
            days
        };
        for day in wanted {
            if self.days.contains_key(&(kind, day)) {
                continue;
            }
            let file = match self.store.read_day(kind, day).await {
                Ok(file) => file,
                Err(error @ StoreError::Corrupt { .. }) => {
                    let name = day_path(kind, day);
                    let Some((bytes, version)) = self.store.read_named(&name).await? else {
                        continue;
                    };
                    let kept_at = self.store.set_aside_named(&name, bytes).await?;
                    done.set_aside.push(format!("{kept_at} ({error})"));
                    DayFile {
                        version: Some(version),
                        ..DayFile::default()
                    }
                }
                Err(e) => return Err(e),
            };
            self.days.insert((kind, day), file);
        }
        Ok(())
    }

    /// Deletes the day files of every kind older than `retention_days`
    /// before `now`'s day (0 keeps everything); returns what went.
    pub async fn prune(
        &mut self,
        now: Timestamp,
        retention_days: u32,
    ) -> Result<Vec<String>, StoreError> {
        let mut deleted = Vec::new();
        if retention_days == 0 {
            return Ok(deleted);
        }
        let today = day_of(now);
        let span = jiff::Span::new().days(i64::from(retention_days));
        let Ok(cutoff) = today.checked_sub(span) else {
            return Ok(deleted);
        };
        for kind in EntityKind::ALL {
            let listing = self.store.list(&folder(kind)).await?;
            for file in listing.files {
                // Day files, and day files kept aside (`<day>.jsonl.corrupt-<time>`).
                let day = file.get(..10).and_then(|d| d.parse::<Date>().ok());
                if day.is_some_and(|d| d < cutoff) {
                    let name = format!("{}/{file}", folder(kind));
                    self.store.delete_named(&name).await?;
                    deleted.push(self.store.shown(&name));
                }
            }
        }
        self.days.retain(|(_, d), _| *d >= cutoff);
        Ok(deleted)
    }
}
