//! What the benchmarks share: each scenario runs in a child process of its own, so its peak
//! RSS is its own, and prints one JSON line.

use std::process::Command;

/// The process's peak resident set size (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The arguments after `--scenario` when this process is a scenario's child.
pub fn scenario_args() -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--scenario")?;
    Some(args[at + 1..].to_vec())
}

/// Runs this benchmark again with `--scenario <args>` and returns the JSON line it printed.
/// Each child has a cache folder of its own: no scenario finds answers another one left, and
/// the user's cache never sees a benchmark.
pub fn child(args: &[String]) -> serde_json::Value {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let cache = tempfile::tempdir().expect("a temporary folder");
    let out = Command::new(exe)
        .arg("--scenario")
        .args(args)
        .env("DISTIL_CACHE_DIR", cache.path())
        .output()
        .expect("the benchmark runs itself");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).expect("one JSON line")
}
