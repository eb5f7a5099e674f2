//! MegaMon's domain: how up-ness is decided, how timelines are kept and summarised,
//! the report, the stored-history format and the configuration file.
//!
//! Nothing here talks to Kubernetes, the network or a clock: callers pass facts
//! extracted from API objects and the current time, which keeps every rule
//! testable with plain unit and property tests.
#![forbid(unsafe_code)]

pub mod archive;
pub mod cause;
pub mod config;
pub mod distribution;
pub mod duration;
pub mod entity;
pub mod history;
pub mod kind;
pub mod report;
pub mod rollup;
pub mod snapshot;
pub mod timeline;
pub mod topology;
pub mod upness;
pub mod window;

pub use kind::EntityKind;
pub use snapshot::{EntitySnapshot, FamilySnapshot, Snapshot};
pub use timeline::{Episode, ProvisioningState, State, Summary, Timeline, Timelines, UpEvent};
pub use upness::{Attrs, Upness};
