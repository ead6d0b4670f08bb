//! The run summary: `summary.json` for machines and a rate table for people.

use std::path::Path;

use serde::Serialize;

/// Spikes and mean rate of one population over the analysed period.
#[derive(Serialize, Debug)]
pub struct PopulationRate {
    pub name: String,
    pub size: u32,
    pub spike_count: u64,
    pub rate_hz: f64,
}

/// Wall-clock seconds per phase.
#[derive(Serialize, Debug)]
pub struct WallTimes {
    pub construct: f64,
    pub presim: f64,
    pub simulate: f64,
}

/// One rank's share of the network and of the exchange.
#[derive(Serialize, Debug)]
pub struct RankReport {
    pub rank: usize,
    pub neurons: u64,
    pub synapses: u64,
    pub synapse_bytes: u64,
    /// Bytes of spikes this rank sent to other ranks over the whole run.
    pub bytes_sent: u64,
    /// Mean bytes sent per exchange window.
    pub bytes_sent_per_window: f64,
    /// Spike records sent to other ranks over the whole run (one per spike and destination rank).
    pub remote_spikes_sent: u64,
    /// Wall seconds in the spike exchange (including waiting for slower ranks).
    pub exchange_s: f64,
    /// Share of the simulate phase spent in the exchange.
    pub exchange_share: f64,
    /// Neurons of this rank with at least one target on another rank.
    pub neurons_with_remote_targets: u64,
    /// (neuron, other rank holding one of its targets) pairs.
    pub remote_destinations: u64,
}

/// Values per rank in the gathered exchange figures.
pub const EXCHANGE_FIELDS: usize = 5;

impl RankReport {
    /// Joins the construction statistics with the gathered [bytes sent, exchange seconds, simulate seconds,
    /// neurons with remote targets, remote destinations] of each rank (f64 as bits).
    pub fn from_parts(stats: &[cajal_sim::RankStats], exchange: &[u64], windows: u64) -> Vec<Self> {
        stats
            .iter()
            .zip(exchange.chunks_exact(EXCHANGE_FIELDS))
            .map(|(s, e)| {
                let (seconds, simulate) = (f64::from_bits(e[1]), f64::from_bits(e[2]));
                RankReport {
                    rank: s.rank,
                    neurons: s.neurons,
                    synapses: s.synapses,
                    synapse_bytes: s.synapse_bytes,
                    bytes_sent: e[0],
                    bytes_sent_per_window: if windows == 0 { 0.0 } else { e[0] as f64 / windows as f64 },
                    // A spike record is one u64.
                    remote_spikes_sent: e[0] / 8,
                    exchange_s: seconds,
                    exchange_share: if simulate > 0.0 { seconds / simulate } else { 0.0 },
                    neurons_with_remote_targets: e[3],
                    remote_destinations: e[4],
                }
            })
            .collect()
    }
}

/// Everything `summary.json` holds.
#[derive(Serialize, Debug)]
pub struct Summary {
    pub model: String,
    pub model_file: String,
    pub seed: u64,
    pub ranks: usize,
    pub threads_per_rank: usize,
    pub communicator: String,
    pub balancer: String,
    pub dt_ms: f64,
    pub t_presim_ms: f64,
    pub t_sim_ms: f64,
    pub window_steps: u32,
    pub neurons: u64,
    pub synapses: u64,
    pub bytes_per_synapse: f64,
    pub populations: Vec<PopulationRate>,
    pub spike_count: u64,
    pub spikes_digest: String,
    pub steps: u64,
    /// The checkpoint step this run continued from (wall times and RTF then cover only this segment).
    pub resumed_from_step: Option<u64>,
    pub wall_s: WallTimes,
    pub rtf: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub spikes_dir: Option<String>,
    /// Plastic projections' weights at the end (absent without plastic synapses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plasticity: Option<crate::weight_files::PlasticSummary>,
    pub per_rank: Vec<RankReport>,
}

impl Summary {
    /// Writes the summary as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), crate::error::AppError> {
        let text = serde_json::to_string_pretty(self).map_err(crate::error::AppError::run)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| crate::error::AppError::output(format!("writing {}", path.display()), e))
    }

    /// Prints the per-population rates and the headline figures.
    pub fn print_table(&self) {
        println!("{:<8} {:>8} {:>10} {:>10}", "pop", "size", "spikes", "rate_hz");
        for p in &self.populations {
            println!("{:<8} {:>8} {:>10} {:>10.3}", p.name, p.size, p.spike_count, p.rate_hz);
        }
        let rss = self.peak_rss_bytes.map_or("n/a".into(), |b| format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30)));
        println!(
            "neurons {}  synapses {}  construct {:.2} s  simulate {:.2} s  RTF {}  peak RSS {}  digest {}",
            self.neurons,
            self.synapses,
            self.wall_s.construct,
            self.wall_s.simulate,
            self.rtf.map_or("n/a".into(), |r| format!("{r:.2}")),
            rss,
            self.spikes_digest
        );
        if let Some(p) = &self.plasticity {
            for r in &p.projections {
                println!(
                    "{} ({}): {} synapses, mean weight {:.6} (range {:.6} .. {:.6})  weights digest {}",
                    r.projection,
                    r.synapse_model,
                    r.synapses,
                    r.mean_weight,
                    r.min_weight,
                    r.max_weight,
                    p.weights_digest
                );
            }
        }
    }
}
