//! Resident memory of this process, read from `/proc/self/status` (Linux;
//! elsewhere every figure reads 0).

/// Resident memory now, in MiB (`VmRSS`).
pub fn resident_mib() -> f64 {
    status_mib("VmRSS:")
}

/// The highest resident memory so far, in MiB (`VmHWM`).
pub fn peak_resident_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A memory figure of `/proc/self/status`, given in KiB there, in MiB.
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}
