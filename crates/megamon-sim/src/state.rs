//! The simulator's shared state.

use std::time::Duration;

use tokio::sync::watch;

use crate::auth::TokenFile;
use crate::faults::Faults;
use crate::resources::Registry;
use crate::store::Store;

/// Everything request handlers share.
pub struct Sim {
    pub registry: Registry,
    pub store: Store,
    pub faults: Faults,
    pub tokens: TokenFile,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Turns `true` when the server shuts down, ending open watches.
    pub shutdown: watch::Receiver<bool>,
    /// `host:port` clients reach the server at.
    pub server_address: String,
}
