//! CPU time per call of the client, the hub and the upstream, from /proc/*/task/*/schedstat.

use super::*;

// ---------------------------------------------------------------------------------------------
// CPU accounting: exact per-thread run time from /proc/<pid>/task/*/schedstat (ns), so the
// report can say who burns the CPU (the bench client, the hub, the upstream).

pub(crate) fn schedstat_ns(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time of every live thread of `pid` (ns).
pub(crate) fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| schedstat_ns(&e.path().join("schedstat")))
        .sum()
}

/// CPU time of the calling thread (ns).
pub(crate) fn thread_cpu_ns() -> u64 {
    schedstat_ns(Path::new("/proc/thread-self/schedstat")).unwrap_or(0)
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuUse {
    pub(crate) calls: usize,
    pub(crate) wall_s: f64,
    pub(crate) client_ns: u64,
    pub(crate) hub_ns: Option<u64>,
    pub(crate) upstream_ns: u64,
}

impl CpuUse {
    pub(crate) fn us(&self, ns: u64) -> f64 {
        ns as f64 / 1000.0 / self.calls as f64
    }
    pub(crate) fn total_ns(&self) -> u64 {
        self.client_ns + self.hub_ns.unwrap_or(0) + self.upstream_ns
    }
    /// Share of all CPUs busy in the three processes during the run.
    pub(crate) fn busy(&self, cpus: usize) -> f64 {
        self.total_ns() as f64 / 1e9 / (self.wall_s * cpus.max(1) as f64)
    }
    pub(crate) fn json(&self, cpus: usize) -> Value {
        json!({
            "calls": self.calls,
            "wall_s": self.wall_s,
            "client_us_per_call": self.us(self.client_ns),
            "hub_us_per_call": self.hub_ns.map(|n| self.us(n)),
            "upstream_us_per_call": self.us(self.upstream_ns),
            "total_us_per_call": self.us(self.total_ns()),
            "cpus_busy_share": self.busy(cpus),
        })
    }
}

/// Snapshot of the hub's and the upstream's CPU time at the start of a run.
pub(crate) struct CpuProbe {
    pub(crate) hub: Option<(u32, u64)>,
    pub(crate) upstream: (u32, u64),
    pub(crate) t0: Instant,
}

impl CpuProbe {
    pub(crate) fn start(hub: Option<u32>, upstream: u32) -> Self {
        CpuProbe {
            hub: hub.map(|p| (p, cpu_ns(p))),
            upstream: (upstream, cpu_ns(upstream)),
            t0: Instant::now(),
        }
    }
    pub(crate) fn finish(self, calls: usize, client_ns: u64) -> CpuUse {
        CpuUse {
            calls,
            wall_s: self.t0.elapsed().as_secs_f64(),
            client_ns,
            hub_ns: self.hub.map(|(p, c)| cpu_ns(p).saturating_sub(c)),
            upstream_ns: cpu_ns(self.upstream.0).saturating_sub(self.upstream.1),
        }
    }
}
