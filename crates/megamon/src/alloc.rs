//! glibc's malloc, tuned for the peak: a pod's memory limit sees the peak.
//!
//! By default glibc raises its mmap threshold each time a large mapped block
//! is freed (up to 32 MiB), so after the first list page or `/metrics` render
//! the next large buffers come from its heaps, and their pages stay resident
//! once freed. A fixed threshold (which turns the dynamic one off) maps every
//! buffer of 128 KiB or more on its own and unmaps it when freed; the trim
//! threshold returns a heap's free top. Measured with `megamon-bench` at 8,192
//! nodes (BENCHMARKS.md): peak RSS 51.7–56.8 MiB by default, 34 MiB tuned;
//! jemalloc and mimalloc, tuned for the same peak, 36 and 41 MiB.

/// Both thresholds, in bytes.
const THRESHOLD: i32 = 128 * 1024;

/// Applies the tuning, unless the environment sets these thresholds itself.
pub fn tune() {
    if !tuned_by_environment(std::env::vars_os().map(|(k, _)| k)) {
        set_thresholds();
    }
}

/// Whether any of `names` sets glibc's thresholds.
fn tuned_by_environment(names: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    names.into_iter().any(|name| {
        matches!(
            name.to_str(),
            Some("GLIBC_TUNABLES" | "MALLOC_MMAP_THRESHOLD_" | "MALLOC_TRIM_THRESHOLD_")
        )
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() {
    // SAFETY: mallopt only changes malloc's parameters, and it is called first
    // thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins() {
        let names = |n: &[&str]| n.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(tuned_by_environment(names(&[
            "PATH",
            "MALLOC_MMAP_THRESHOLD_"
        ])));
        assert!(tuned_by_environment(names(&["GLIBC_TUNABLES"])));
        assert!(!tuned_by_environment(names(&["PATH", "MALLOC_ARENA_MAX"])));
    }
}
