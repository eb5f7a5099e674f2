//! The archive of ended entities (SPEC §3.4) and many clusters under one
//! prefix, on the directory and memory backends: one line per life whoever
//! records it, conditional appends, corrupt day files kept aside, retention,
//! and the measured write cost of an ended entity.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use megamon_core::archive::ArchivedEntity;
use megamon_core::{Attrs, EntityKind, Timeline, UpEvent};
use megamon_store::{ArchiveWriter, HistoryStore, Layout, ToArchive};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A JobSet that provisioned in 5 minutes, was interrupted and recovered,
/// and ended at `end`.
fn ended(key: &str, start: Timestamp, end: Timestamp) -> ArchivedEntity {
    let mut t = Timeline::from_events(vec![
        UpEvent::down(start),
        UpEvent::up(start + SignedDuration::from_mins(5)),
        UpEvent::down(start + SignedDuration::from_mins(20)),
        UpEvent::up(start + SignedDuration::from_mins(23)),
    ]);
    t.set_attrs(
        Attrs {
            jobset_name: format!("train-{key}"),
            jobset_namespace: "research".into(),
            jobset_uid: key.into(),
            tpu_accelerator: "tpu-v5p-slice".into(),
            tpu_topology: "4x4x8".into(),
            tpu_chip_count: 128,
            ..Attrs::default()
        }
        .into(),
    );
    ArchivedEntity::new(EntityKind::JobSets, key, &t, end)
}

fn live(entity: ArchivedEntity) -> ToArchive {
    ToArchive {
        entity,
        seen_ending: true,
    }
}

fn dir_store() -> (tempfile::TempDir, HistoryStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(&format!("file://{}", dir.path().display())).unwrap();
    (dir, store)
}

#[tokio::test]
async fn ended_entities_land_in_their_day_file_beside_the_original_files() {
    let (dir, store) = dir_store();
    let mut w = ArchiveWriter::new(store.clone());
    let a = ended(
        "uid-a",
        at("2024-05-01T10:00:00Z"),
        at("2024-05-01T12:00:00Z"),
    );
    let b = ended(
        "uid-b",
        at("2024-05-01T20:00:00Z"),
        at("2024-05-02T01:00:00Z"),
    );
    let done = w.append(&[live(a.clone()), live(b.clone())]).await.unwrap();
    assert_eq!((done.written, done.duplicates), (2, 0));
    let day1 = dir.path().join("archive/jobsets/2024-05-01.jsonl");
    let text = std::fs::read_to_string(&day1).unwrap();
    assert_eq!(text, a.to_line());
    assert!(dir.path().join("archive/jobsets/2024-05-02.jsonl").exists());
    // Nothing else was written: the original files are untouched.
    let top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(top, ["archive"]);
    let date = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    assert_eq!(
        store.archive_days(EntityKind::JobSets).await.unwrap(),
        [date("2024-05-01"), date("2024-05-02")]
    );
    assert_eq!(
        store.read_archive(EntityKind::JobSets, None).await.unwrap(),
        [a.clone(), b.clone()]
    );
    assert_eq!(
        store
            .read_archive(EntityKind::JobSets, Some(date("2024-05-02")))
            .await
            .unwrap(),
        [b]
    );
    assert!(
        store
            .read_archive(EntityKind::NodePools, None)
            .await
            .unwrap()
            .is_empty()
    );
    // The layout of a cluster with only an archive is a cluster.
    assert_eq!(store.layout().await.unwrap(), Layout::Cluster);
}

#[tokio::test]
async fn the_same_end_recorded_twice_is_archived_once() {
    let (_dir, store) = dir_store();
    let a = ended(
        "uid-a",
        at("2024-05-01T10:00:00Z"),
        at("2024-05-01T23:59:59Z"),
    );
    let mut first = ArchiveWriter::new(store.clone());
    first.append(&[live(a.clone())]).await.unwrap();
    // Another replica saw the same JobSet from a little later, and its end
    // a little later, on the next day.
    let theirs = ended(
        "uid-a",
        at("2024-05-01T10:00:00.3Z"),
        at("2024-05-02T00:00:02Z"),
    );
    let mut second = ArchiveWriter::new(store.clone());
    let done = second.append(&[live(theirs)]).await.unwrap();
    assert_eq!((done.written, done.duplicates), (0, 1));
    // A monitor restarted days later finds it gone in stored history: it
    // looks back to its last transition.
    let late = ended(
        "uid-a",
        at("2024-05-01T10:00:00Z"),
        at("2024-05-04T08:00:00Z"),
    );
    let mut restarted = ArchiveWriter::new(store.clone());
    let done = restarted
        .append(&[ToArchive {
            entity: late,
            seen_ending: false,
        }])
        .await
        .unwrap();
    assert_eq!((done.written, done.duplicates), (0, 1));
    // The same batch twice, and the same key living again later: one new line.
    let again = ended(
        "uid-a",
        at("2024-05-02T03:00:00Z"),
        at("2024-05-02T05:00:00Z"),
    );
    let done = first
        .append(&[live(again.clone()), live(again)])
        .await
        .unwrap();
    assert_eq!((done.written, done.duplicates), (1, 1));
    let all = store.read_archive(EntityKind::JobSets, None).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
}

#[tokio::test]
async fn two_writers_append_without_losing_each_others_lines() {
    let (_dir, store) = dir_store();
    let day = at("2024-05-01T00:00:00Z");
    let mut a = ArchiveWriter::new(store.clone());
    let mut b = ArchiveWriter::new(store.clone());
    for i in 0..5i64 {
        let start = day + SignedDuration::from_hours(i);
        let end = start + SignedDuration::from_mins(30);
        let w = if i % 2 == 0 { &mut a } else { &mut b };
        let done = w
            .append(&[live(ended(&format!("uid-{i}"), start, end))])
            .await
            .unwrap();
        assert_eq!(done.written, 1);
    }
    let keys: Vec<String> = store
        .read_archive(EntityKind::JobSets, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["uid-0", "uid-1", "uid-2", "uid-3", "uid-4"]);
}

#[tokio::test]
async fn a_corrupt_day_file_is_kept_aside_and_replaced() {
    let (dir, store) = dir_store();
    let folder = dir.path().join("archive/jobsets");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("2024-05-01.jsonl"), "{\"kind\":\n").unwrap();
    let err = store
        .read_archive(EntityKind::JobSets, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("2024-05-01.jsonl: line 1, column"), "{err}");
    let a = ended(
        "uid-a",
        at("2024-05-01T10:00:00Z"),
        at("2024-05-01T12:00:00Z"),
    );
    let mut w = ArchiveWriter::new(store.clone());
    let done = w.append(&[live(a.clone())]).await.unwrap();
    assert_eq!(done.written, 1);
    assert_eq!(done.set_aside.len(), 1, "{done:?}");
    assert!(done.set_aside[0].contains(".corrupt-"), "{done:?}");
    assert_eq!(
        store.read_archive(EntityKind::JobSets, None).await.unwrap(),
        [a]
    );
    let kept = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("2024-05-01.jsonl.corrupt-"))
        .count();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn retention_deletes_only_day_files_past_it() {
    let store = HistoryStore::open("memory://clusters/c1").unwrap();
    let mut w = ArchiveWriter::new(store.clone());
    let mut batch = Vec::new();
    for day in ["2024-01-01", "2024-03-01", "2024-03-31", "2024-04-01"] {
        let start = at(&format!("{day}T10:00:00Z"));
        batch.push(live(ended(
            day,
            start,
            start + SignedDuration::from_hours(1),
        )));
    }
    w.append(&batch).await.unwrap();
    let now = at("2024-04-01T12:00:00Z");
    assert!(w.prune(now, 0).await.unwrap().is_empty(), "0 keeps all");
    // 30 days: 2024-03-02 and later stay.
    let gone = w.prune(now, 30).await.unwrap();
    assert_eq!(gone.len(), 2, "{gone:?}");
    let date = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    assert_eq!(
        store.archive_days(EntityKind::JobSets).await.unwrap(),
        [date("2024-03-31"), date("2024-04-01")]
    );
}

#[tokio::test]
async fn a_prefix_of_cluster_folders_is_many_clusters() {
    let root = tempfile::tempdir().unwrap();
    for (cluster, file) in [
        ("us-east", "jobsets.json"),
        ("eu-west", "node-pools.json"),
        ("not-a-cluster", "README"),
    ] {
        let dir = root.path().join(cluster);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), "{}").unwrap();
    }
    let archived_only = root.path().join("asia/archive/jobsets");
    std::fs::create_dir_all(&archived_only).unwrap();
    let store = HistoryStore::open(root.path().to_str().unwrap()).unwrap();
    assert_eq!(
        store.layout().await.unwrap(),
        Layout::Clusters(vec!["asia".into(), "eu-west".into(), "us-east".into()])
    );
    let one = store.child("us-east").unwrap();
    assert_eq!(one.layout().await.unwrap(), Layout::Cluster);
    assert!(one.url().ends_with("/us-east"), "{}", one.url());
    assert!(store.child("../etc").is_err());
    assert!(store.child("missing").is_err());
    // Empty: one (empty) cluster, as before.
    let empty = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(empty.path().to_str().unwrap()).unwrap();
    assert_eq!(store.layout().await.unwrap(), Layout::Cluster);
    // The same in an object store.
    let store = HistoryStore::open("memory://megamon/clusters").unwrap();
    for c in ["c1", "c2"] {
        let mut w = ArchiveWriter::new(store.child(c).unwrap());
        let start = at("2024-05-01T10:00:00Z");
        w.append(&[live(ended(c, start, start + SignedDuration::from_hours(1)))])
            .await
            .unwrap();
    }
    assert_eq!(
        store.layout().await.unwrap(),
        Layout::Clusters(vec!["c1".into(), "c2".into()])
    );
}

/// The write cost of one ended entity, one end per batch (the worst case:
/// each end rewrites its day file), printed for the record: bytes of its
/// line, bytes sent, and time per append on a local directory.
#[tokio::test]
async fn write_cost_per_ended_entity() {
    let n: usize = if std::env::var_os("MEGAMON_FULL_SCALE").is_some() {
        1000
    } else {
        100
    };
    let (_dir, store) = dir_store();
    let mut w = ArchiveWriter::new(store.clone());
    let day = at("2024-05-01T00:00:00Z");
    let (mut line_bytes, mut sent) = (0, 0);
    let started = Instant::now();
    for i in 0..n {
        let start = day + SignedDuration::from_secs(i as i64 * 60);
        let uid = format!("5f0c2a9e-1b7d-4e8a-9c3f-{i:012}");
        let done = w
            .append(&[live(ended(
                &uid,
                start,
                start + SignedDuration::from_mins(50),
            ))])
            .await
            .unwrap();
        assert_eq!(done.written, 1);
        line_bytes += done.bytes;
        sent += done.bytes_sent;
    }
    let took = started.elapsed();
    let per = took / n as u32;
    eprintln!(
        "archive write cost, {n} ends one per batch (file://): {} bytes per line, {} bytes sent per end on average (the day file grows), {per:?} per append",
        line_bytes / n,
        sent / n
    );
    assert!(per < Duration::from_millis(200), "{per:?} per append");
    assert_eq!(
        store
            .read_archive(EntityKind::JobSets, None)
            .await
            .unwrap()
            .len(),
        n
    );
}
