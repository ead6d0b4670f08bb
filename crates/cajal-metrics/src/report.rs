//! The performance report: per-rank and merged phase statistics, load imbalance, communication share,
//! throughput and beNNch-style fields; written as `perf.json` and printed as a table.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::timers::{Phase, PhaseTimers, PHASES};
use crate::MetricsError;

/// Quantiles stored per phase so that `cajal report` can redraw the distributions.
const QUANTILES: [f64; 12] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0];

/// Statistics of one phase's durations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    pub count: u64,
    pub total_s: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl PhaseStats {
    fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1e3;
        Self {
            count: h.len(),
            total_s: h.mean() * h.len() as f64 / 1e9,
            mean_us: h.mean() / 1e3,
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
        }
    }
}

/// What a rank knows besides its timers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankExtra {
    pub peak_rss_bytes: u64,
    /// Spikes this rank's neurons emitted in the timed period.
    pub spikes: u64,
    /// Synapses this rank expanded spikes through in the timed period.
    pub synaptic_events: u64,
}

/// Facts of the run the report describes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFacts {
    pub ranks: usize,
    pub threads_per_rank: usize,
    /// Model time covered by the timers.
    pub model_time_s: f64,
    /// Wall time of the simulate phase (rank 0).
    pub simulate_wall_s: f64,
    /// Whether the exchange was preceded by a timed barrier.
    pub sync_timer: bool,
}

/// One rank's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankPerf {
    pub rank: usize,
    pub phases: BTreeMap<String, PhaseStats>,
    /// Deliver, update, thread wait, pack and record.
    pub compute_s: f64,
    /// Sync and exchange.
    pub communication_s: f64,
    pub peak_rss_bytes: u64,
    pub spikes: u64,
    pub synaptic_events: u64,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerfReport {
    pub facts: RunFacts,
    /// Windows per rank in the timed period.
    pub windows: u64,
    pub rtf: f64,
    /// beNNch's name for the real-time factor.
    pub sim_factor: f64,
    /// Max over mean of the ranks' compute time.
    pub load_imbalance: f64,
    /// Sync + exchange over all timed window phases, all ranks.
    pub communication_share: f64,
    /// Each window phase's share of all timed window phases, all ranks (beNNch's phase fractions;
    /// checkpoints are outside the windows and counted apart).
    pub phase_fractions: BTreeMap<String, f64>,
    /// Seconds spent writing checkpoints (slowest rank), outside the simulate wall time.
    pub checkpoint_s: f64,
    /// RTF including the checkpoint writes.
    pub rtf_with_checkpoints: f64,
    pub spikes_per_s: f64,
    pub synaptic_events_per_s: f64,
    pub per_rank: Vec<RankPerf>,
    pub merged: BTreeMap<String, PhaseStats>,
    /// Per phase, (quantile, microseconds) of the merged distribution.
    pub merged_quantiles: BTreeMap<String, Vec<(f64, f64)>>,
}

fn stats_by_phase(t: &PhaseTimers) -> BTreeMap<String, PhaseStats> {
    PHASES.iter().map(|&p| (p.name().to_owned(), PhaseStats::of(t.histogram(p)))).collect()
}

impl PerfReport {
    /// The report of all ranks' timers (in rank order) and extras.
    pub fn build(ranks: &[(PhaseTimers, RankExtra)], facts: RunFacts) -> Result<Self, MetricsError> {
        let mut merged = PhaseTimers::new();
        let mut per_rank = Vec::new();
        for (rank, (timers, extra)) in ranks.iter().enumerate() {
            merged.merge(timers)?;
            let phases = stats_by_phase(timers);
            let sum = |comm: bool| {
                PHASES
                    .iter()
                    .filter(|p| p.is_communication() == comm && p.name() != "checkpoint")
                    .map(|p| phases[p.name()].total_s)
                    .sum::<f64>()
            };
            per_rank.push(RankPerf {
                rank,
                compute_s: sum(false),
                communication_s: sum(true),
                phases,
                peak_rss_bytes: extra.peak_rss_bytes,
                spikes: extra.spikes,
                synaptic_events: extra.synaptic_events,
            });
        }
        let merged_stats = stats_by_phase(&merged);
        let checkpoint = Phase::Checkpoint.name();
        let all: f64 = merged_stats.iter().filter(|(k, _)| *k != checkpoint).map(|(_, s)| s.total_s).sum();
        let checkpoint_s = per_rank.iter().map(|r| r.phases[checkpoint].total_s).fold(0.0, f64::max);
        let share = |x: f64| if all > 0.0 { x / all } else { 0.0 };
        let comm: f64 = PHASES.iter().filter(|p| p.is_communication()).map(|p| merged_stats[p.name()].total_s).sum();
        let computes: Vec<f64> = per_rank.iter().map(|r| r.compute_s).collect();
        let mean = computes.iter().sum::<f64>() / computes.len().max(1) as f64;
        let max = computes.iter().copied().fold(0.0, f64::max);
        let wall = facts.simulate_wall_s;
        let per_s = |x: u64| if wall > 0.0 { x as f64 / wall } else { 0.0 };
        let rtf = if facts.model_time_s > 0.0 { wall / facts.model_time_s } else { 0.0 };
        Ok(Self {
            windows: ranks.first().map_or(0, |(t, _)| t.histogram(Phase::Update).len()),
            rtf,
            sim_factor: rtf,
            load_imbalance: if mean > 0.0 { max / mean } else { 1.0 },
            communication_share: share(comm),
            phase_fractions: merged_stats
                .iter()
                .filter(|(k, _)| *k != checkpoint)
                .map(|(k, v)| (k.clone(), share(v.total_s)))
                .collect(),
            checkpoint_s,
            rtf_with_checkpoints: if facts.model_time_s > 0.0 {
                (wall + checkpoint_s) / facts.model_time_s
            } else {
                0.0
            },
            spikes_per_s: per_s(per_rank.iter().map(|r| r.spikes).sum()),
            synaptic_events_per_s: per_s(per_rank.iter().map(|r| r.synaptic_events).sum()),
            merged_quantiles: PHASES
                .iter()
                .map(|&p| {
                    let h = merged.histogram(p);
                    (p.name().to_owned(), QUANTILES.iter().map(|&q| (q, h.value_at_quantile(q) as f64 / 1e3)).collect())
                })
                .collect(),
            merged: merged_stats,
            per_rank,
            facts,
        })
    }

    /// Writes the report as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), MetricsError> {
        let io = |message: String| MetricsError::Io { path: path.display().to_string(), message };
        let text = serde_json::to_string_pretty(self).map_err(|e| io(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| io(e.to_string()))
    }

    /// Reads a report written by [`PerfReport::write`].
    pub fn read(path: &Path) -> Result<Self, MetricsError> {
        let io = |message: String| MetricsError::Input { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| io(format!("not a cajal perf report: {e}")))
    }

    /// The report as a table for people.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} ranks x {} threads, {} windows, RTF {:.2}, load imbalance {:.2}, communication {:.1} %, {:.3e} spikes/s, {:.3e} synaptic events/s\n",
            self.facts.ranks,
            self.facts.threads_per_rank,
            self.windows,
            self.rtf,
            self.load_imbalance,
            100.0 * self.communication_share,
            self.spikes_per_s,
            self.synaptic_events_per_s
        );
        out.push_str(&format!(
            "{:<12} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}\n",
            "phase", "count", "total s", "mean us", "p50 us", "p90 us", "p99 us", "max us", "share"
        ));
        for p in PHASES {
            let s = &self.merged[p.name()];
            if s.count == 0 {
                continue;
            }
            out.push_str(&format!(
                "{:<12} {:>10} {:>10.3} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.1} {:>6.1}%\n",
                p.name(),
                s.count,
                s.total_s,
                s.mean_us,
                s.p50_us,
                s.p90_us,
                s.p99_us,
                s.max_us,
                100.0 * self.phase_fractions.get(p.name()).copied().unwrap_or(0.0)
            ));
        }
        out
    }
}
