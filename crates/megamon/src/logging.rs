//! Log set-up: `tracing` to standard error, as text or JSON lines.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log filter (`info`, `debug`, `megamon=debug,kube=warn`, ...). RUST_LOG also works.
    /// [default: info; `warn` for `megamon demo`, whose terminal tells its story]
    #[arg(long, global = true, env = "RUST_LOG")]
    pub log_level: Option<String>,

    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The original's zap verbosity (`--zap-log-level 3`), accepted for
    /// compatibility: a number N ≥ 1 means debug logs, `info`/`debug`/`error` as named.
    #[arg(long = "zap-log-level", global = true)]
    pub zap_log_level: Option<String>,
}

impl LogArgs {
    fn filter(&self, default: &str) -> String {
        match self.zap_log_level.as_deref() {
            Some("debug") => "debug".to_string(),
            Some("error") => "error".to_string(),
            Some("info") => "info".to_string(),
            Some(n) if n.parse::<u8>().is_ok_and(|n| n >= 1) => "debug".to_string(),
            _ => self
                .log_level
                .clone()
                .unwrap_or_else(|| default.to_string()),
        }
    }
}

/// Installs the global subscriber, with `default` as the filter when none is
/// given. A bad filter falls back to `info` with a warning.
pub fn init(args: &LogArgs, default: &str) {
    let wanted = args.filter(default);
    let (filter, bad) = match EnvFilter::try_new(&wanted) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let (Ok(()), Some(e)) = (installed, bad) {
        tracing::warn!("invalid log filter {wanted:?} ({e}); using info");
    }
}
