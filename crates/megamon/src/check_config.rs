//! `megamon check-config`: validate a configuration file, print the effective one.

use std::path::Path;
use std::process::ExitCode;

/// Exit code for bad input (configuration, stored files).
pub const EXIT_BAD_INPUT: u8 = 2;

pub fn run(path: &Path) -> ExitCode {
    match megamon_core::config::load(path) {
        Ok(loaded) => {
            for key in &loaded.unknown_keys {
                eprintln!(
                    "warning: config {}: key {key:?} is not a MegaMon setting; ignored",
                    path.display()
                );
            }
            match serde_json::to_string_pretty(&loaded.config.to_json()) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("megamon check-config: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
