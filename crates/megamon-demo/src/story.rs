//! The demo's terminal: one short line per story step, so a newcomer can
//! follow what the scenario does while watching the web view. The monitor's
//! own logs stay at debug/info, below the demo's default filter.

use std::sync::Arc;
use std::time::Instant;

/// Where story lines go: standard output by default, anything in tests.
#[derive(Clone)]
pub struct Story {
    tell: Arc<dyn Fn(String) + Send + Sync>,
}

impl Story {
    /// Lines on standard output, stamped with the time since the start.
    pub fn stdout() -> Story {
        let started = Instant::now();
        Story::to(move |line| {
            println!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
        })
    }

    pub fn to(tell: impl Fn(String) + Send + Sync + 'static) -> Story {
        Story {
            tell: Arc::new(tell),
        }
    }

    pub fn tell(&self, line: impl Into<String>) {
        (self.tell)(line.into());
    }
}

impl std::fmt::Debug for Story {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Story")
    }
}
