//! The parts of `benches/scale.rs`: process bookkeeping, and one module per measured scenario.

pub mod catalog;
pub mod lazy;
pub mod procs;
pub mod sessions;
pub mod stdio;

use std::time::Duration;

/// The `p`-th quantile of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
