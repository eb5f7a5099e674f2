//! The MegaMon monitor: follows the cluster through watches, folds events into
//! small indexes, keeps exact timelines and publishes snapshots.
#![forbid(unsafe_code)]

pub mod fleet;
pub mod gke;
pub mod resources;
pub mod watch;
