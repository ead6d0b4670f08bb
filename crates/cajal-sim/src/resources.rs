//! Process resource readings: peak memory for the run summary, available memory for the checks that keep
//! an oversized model from ending in the out-of-memory killer.

/// Peak resident set size of this process in bytes (Linux `VmHWM`), if the platform reports it.
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory the kernel says is available for new allocations (Linux `MemAvailable`), if it says.
#[must_use]
pub fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses to allocate `bytes` for `what` when the machine clearly cannot hold them, so that an oversized
/// model ends with a message instead of the out-of-memory killer.
pub fn check_fits(what: &str, bytes: u64) -> Result<(), crate::SimError> {
    match available_memory_bytes() {
        Some(available) if bytes > available => Err(crate::SimError::OutOfMemory {
            what: what.to_owned(),
            needed_gib: bytes as f64 / f64::from(1u32 << 30),
            available_gib: available as f64 / f64::from(1u32 << 30),
        }),
        _ => Ok(()),
    }
}
