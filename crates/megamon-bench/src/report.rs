//! The figures of one run, and the table they are printed as.

use std::time::Duration;

use crate::fleet::SeedSize;
use crate::process::Memory;
use crate::{Churn, Freshness, Kubectl, Render, StoreFigures};

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub nodes: usize,
    pub pools: usize,
    pub jobsets: usize,
    pub leader_pods: usize,
    pub slices: usize,
    pub seed: SeedSize,
    pub seed_write: Duration,
    /// From starting the simulator to its kubeconfig (seeding included).
    pub sim_start: Duration,
    pub sim_memory: Memory,
    pub status_patches: Duration,
    /// The megamon binary's size on disk.
    pub binary_bytes: u64,
    /// The monitor on an empty cluster, once ready.
    pub empty: Option<Memory>,
    pub kubectl: Kubectl,
    /// Why the kubectl reference failed, if it did.
    pub kubectl_error: Option<String>,
    /// From spawning the monitor to `/readyz` 200.
    pub ready: Duration,
    pub at_ready: Memory,
    /// After the first history writes, before any scrape.
    pub after_sync: Memory,
    /// After the render samples.
    pub after_render: Memory,
    pub render: Render,
    pub freshness: Freshness,
    pub churn: Churn,
    pub store: StoreFigures,
    pub at_end: Memory,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn per_hour(amount: u64, window: Duration) -> f64 {
    if window.is_zero() {
        return 0.0;
    }
    amount as f64 * 3600.0 / window.as_secs_f64()
}

impl Report {
    /// (figure, value, reference measured in the same run), in table order.
    pub fn rows(&self) -> Vec<(&'static str, String, String)> {
        let per_node = |kib: u64| (kib as f64 * 1024.0 / self.nodes.max(1) as f64).round() as u64;
        let empty = self.empty.map(|m| m.rss_kib).unwrap_or(0);
        vec![
            (
                "fleet",
                format!(
                    "{} nodes in {} pools, {} JobSets, {} leader pods, {} slices",
                    thousands(self.nodes),
                    thousands(self.pools),
                    thousands(self.jobsets),
                    thousands(self.leader_pods),
                    thousands(self.slices)
                ),
                format!(
                    "seed {} of JSON ({} per node)",
                    mb(self.seed.total()),
                    format_args!(
                        "{:.1} KB",
                        self.seed.node_bytes as f64 / 1e3 / self.nodes.max(1) as f64
                    )
                ),
            ),
            (
                "peak RSS (VmHWM) after sync",
                format!(
                    "{} ({} B/node above empty)",
                    mib(self.after_sync.hwm_kib),
                    per_node(self.after_sync.hwm_kib.saturating_sub(empty))
                ),
                format!(
                    "the listed JSON: {}; kubectl's peak RSS for the same list: {}",
                    mb(self.seed.total()),
                    mib(self.kubectl.hwm_kib)
                ),
            ),
            (
                "peak RSS with /metrics scrapes, then churn",
                format!(
                    "{} after {} renders; {} at the end",
                    mib(self.after_render.hwm_kib),
                    self.render.samples,
                    mib(self.at_end.hwm_kib)
                ),
                format!("one /metrics body: {}", mb(self.render.bytes as u64)),
            ),
            (
                "RSS after sync / after churn",
                format!(
                    "{} / {} (of which anonymous {} / {})",
                    mib(self.after_sync.rss_kib),
                    mib(self.at_end.rss_kib),
                    mib(self.after_sync.anon_kib),
                    mib(self.at_end.anon_kib)
                ),
                format!("simulator RSS {}", mib(self.sim_memory.rss_kib)),
            ),
            (
                "empty cluster RSS",
                self.empty
                    .map(|m| {
                        format!(
                            "{} (peak {}; anonymous {})",
                            mib(m.rss_kib),
                            mib(m.hwm_kib),
                            mib(m.anon_kib)
                        )
                    })
                    .unwrap_or_else(|| "not measured".into()),
                format!("binary on disk {}", mb(self.binary_bytes)),
            ),
            (
                "start to /readyz 200",
                secs(self.ready),
                match &self.kubectl_error {
                    Some(e) => format!(
                        "kubectl get nodes,jobsets,pods -A -o json failed: {}",
                        e.lines().next().unwrap_or_default()
                    ),
                    None => format!(
                        "kubectl get nodes,jobsets,pods -A -o json: {} ({} out); ratio {:.3}",
                        secs(self.kubectl.elapsed),
                        mb(self.kubectl.bytes),
                        self.ready.as_secs_f64() / self.kubectl.elapsed.as_secs_f64().max(1e-9)
                    ),
                },
            ),
            (
                "freshness, change → /metrics (p50 / p99)",
                format!(
                    "{} / {} (max {}, {} changes)",
                    ms(self.freshness.p50),
                    ms(self.freshness.p99),
                    ms(self.freshness.max),
                    self.freshness.samples
                ),
                format!(
                    "a bare watch on the simulator: {} / {}; one /metrics scrape: {}",
                    ms(self.freshness.watch_p50),
                    ms(self.freshness.watch_p99),
                    ms(self.render.median)
                ),
            ),
            (
                "CPU at steady churn",
                format!(
                    "{:.2} % of a core ({} node flips, {} JobSets created, {} deleted in {})",
                    100.0 * self.churn.monitor_cpu.as_secs_f64()
                        / self.churn.duration.as_secs_f64().max(1e-9),
                    self.churn.node_flips,
                    self.churn.jobsets_created,
                    self.churn.jobsets_deleted,
                    secs(self.churn.duration)
                ),
                format!(
                    "the simulator serving the same churn: {:.2} % of a core",
                    100.0 * self.churn.sim_cpu.as_secs_f64()
                        / self.churn.duration.as_secs_f64().max(1e-9)
                ),
            ),
            (
                "/metrics render",
                format!(
                    "{} median, {} max of {}",
                    ms(self.render.median),
                    ms(self.render.max),
                    self.render.samples
                ),
                format!(
                    "{} bytes, {} series",
                    thousands(self.render.bytes),
                    thousands(self.render.series)
                ),
            ),
            (
                "store writes per hour of churn",
                format!(
                    "{} in {:.0} file writes",
                    mb(per_hour(self.store.bytes_written, self.store.window) as u64),
                    per_hour(self.store.files_written as u64, self.store.window)
                ),
                format!(
                    "the transitions themselves: {} ({:.0} transitions)",
                    mb(per_hour(self.store.transition_bytes, self.store.window) as u64),
                    per_hour(self.store.transitions as u64, self.store.window)
                ),
            ),
            (
                "store reads after start",
                self.store.reads_after_start.to_string(),
                "history reads counted by the monitor (gcs.latency, operation=read)".into(),
            ),
        ]
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "| figure | measured | reference (same run) |")?;
        writeln!(f, "|---|---|---|")?;
        for (figure, value, reference) in self.rows() {
            writeln!(f, "| {figure} | {value} | {reference} |")?;
        }
        writeln!(
            f,
            "\nseed written in {}, simulator seeded in {}, statuses set in {}; monitor VmHWM at /readyz {}",
            secs(self.seed_write),
            secs(self.sim_start),
            secs(self.status_patches),
            mib(self.at_ready.hwm_kib)
        )
    }
}

/// Several runs side by side: one column per scale.
pub fn markdown_table(reports: &[Report]) -> String {
    let mut out = String::from("| figure |");
    for r in reports {
        out.push_str(&format!(" {} nodes |", thousands(r.nodes)));
    }
    out.push_str("\n|---|");
    for _ in reports {
        out.push_str("---|");
    }
    out.push('\n');
    let rows: Vec<_> = reports.iter().map(Report::rows).collect();
    let Some(first) = rows.first() else {
        return out;
    };
    for (i, (figure, _, _)) in first.iter().enumerate() {
        out.push_str(&format!("| {figure} |"));
        for r in &rows {
            out.push_str(&format!(" {} |", r[i].1));
        }
        out.push('\n');
        out.push_str("| ↳ reference |");
        for r in &rows {
            out.push_str(&format!(" {} |", r[i].2));
        }
        out.push('\n');
    }
    out
}
