//! What a run with plastic synapses writes about its weights: snapshots of projections
//! (`--record-weights`, `[[record_weights]]`) as Parquet parts per rank, and at the end each plastic
//! projection's count, mean, range and histogram (summary.json) with a digest of every (pre, post, weight)
//! that does not depend on the layout.
//!
//! Layout: `<out>/weights/<label>-rank<r>-<from>-<to>.parquet` with `pre` (u32), `post` (u32), `time_ms`
//! (f64), `weight` (f64): one row per synapse per snapshot, parts ending at checkpoints as state
//! recordings' do (src/state_files.rs). A snapshot at step s holds the weights after s steps, before the
//! spikes of the last window are delivered (as NEST's `GetConnections` after `Simulate`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use cajal_comm::{Communicator, ReduceOp};
use cajal_core::rng::splitmix64;
use cajal_core::{Resolution, Step};
use cajal_metrics::histogram_plot::{plot_histograms, Histogram};
use cajal_models::record_spec::StateFormat;
use cajal_models::weight_record::WeightRecordSpec;
use cajal_net::PlasticClass;
use cajal_sim::{Engine, SimError};

use crate::error::AppError;
use crate::state_files::PartTable;

/// Bins of the weight histogram in summary.json.
pub const HISTOGRAM_BINS: usize = 50;

/// The folder of weight snapshots in `out`.
#[must_use]
pub fn weights_dir(out: &Path) -> PathBuf {
    out.join("weights")
}

/// A weight record resolved against the model.
#[derive(Clone, Debug)]
pub struct ResolvedWeightRecord {
    /// The plastic class (projection) recorded.
    pub class: usize,
    pub label: String,
    /// Steps between snapshots (None: start and end only).
    pub every: Option<Step>,
}

/// Resolves `specs` against the model's plastic projections; an unknown name lists the plastic ones.
pub fn resolve_weight_records(
    specs: &[WeightRecordSpec],
    classes: &[PlasticClass],
    res: &Resolution,
) -> Result<Vec<ResolvedWeightRecord>, AppError> {
    let mut out: Vec<ResolvedWeightRecord> = Vec::with_capacity(specs.len());
    for spec in specs {
        let what = format!("--record-weights / [[record_weights]] {}", spec.projection);
        let Some(class) = classes.iter().position(|c| c.name == spec.projection) else {
            let names: Vec<&str> = classes.iter().map(|c| c.name.as_str()).collect();
            let list = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
            return Err(AppError::bad(format!(
                "{what}: no plastic projection of that name; plastic projections: {list}"
            )));
        };
        let every = spec
            .every_ms
            .map(|ms| res.duration_steps("every_ms", ms))
            .transpose()
            .map_err(|e| AppError::bad(format!("{what}: {e}")))?;
        if every == Some(0) {
            return Err(AppError::bad(format!("{what}: the interval is shorter than a step")));
        }
        let label = spec.label();
        if out.iter().any(|r| r.label == label) {
            return Err(AppError::bad(format!("{what}: the projection is recorded twice")));
        }
        out.push(ResolvedWeightRecord { class, label, every });
    }
    Ok(out)
}

/// One rank's weight snapshots.
pub struct WeightFiles {
    records: Vec<(ResolvedWeightRecord, PartTable)>,
    res: Resolution,
    end: Step,
}

impl WeightFiles {
    /// The snapshot files of `records` for `rank`, parts from step `from`; the run ends at `end`.
    #[must_use]
    pub fn new(
        records: Vec<ResolvedWeightRecord>,
        out: &Path,
        rank: usize,
        res: Resolution,
        from: Step,
        end: Step,
    ) -> Self {
        let dir = weights_dir(out);
        let columns = ["time_ms".to_owned(), "weight".to_owned()];
        let records = records
            .into_iter()
            .map(|r| {
                let stem = format!("{}-rank{rank}", r.label);
                let table = PartTable::with_ids(&dir, stem, StateFormat::Parquet, &["pre", "post"], &columns, from);
                (r, table)
            })
            .collect();
        Self { records, res, end }
    }

    /// Whether anything is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The steps between snapshots the run must pause at.
    #[must_use]
    pub fn periods(&self) -> Vec<Step> {
        self.records.iter().filter_map(|(r, _)| r.every).collect()
    }

    /// Writes the snapshots due after `at` steps (at the start, every period, at the end).
    pub fn snapshot(&mut self, engine: &Engine, at: Step) -> Result<(), SimError> {
        let time_ms = self.res.tic_ms(at);
        for (record, table) in &mut self.records {
            let due = at == 0 || at == self.end || record.every.is_some_and(|e| at % e == 0);
            if !due {
                continue;
            }
            for part in engine.parts() {
                let Some(plastic) = part.plastic() else { continue };
                let mut failure = Ok(());
                plastic.for_each_synapse(|class, pre, i, _, w| {
                    if class == record.class && failure.is_ok() {
                        failure = table.push_ids(&[pre, part.gid(i)], [time_ms, w]);
                    }
                });
                failure?;
            }
        }
        Ok(())
    }

    /// Ends every part at step `at`.
    pub fn close(&mut self, at: Step) -> Result<(), SimError> {
        self.records.iter_mut().try_for_each(|(_, t)| t.close(at))
    }
}

/// A plastic projection's weights at the end of the run (summary.json).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlasticReport {
    pub projection: String,
    pub synapse_model: String,
    pub synapses: u64,
    pub mean_weight: f64,
    pub min_weight: f64,
    pub max_weight: f64,
    /// `HISTOGRAM_BINS` equal bins over [min, max].
    pub histogram_edges: Vec<f64>,
    pub histogram_counts: Vec<u64>,
}

/// The plastic part of summary.json.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PlasticSummary {
    /// Bytes per plastic synapse of the synapses themselves (target channel and f64 weight).
    pub bytes_per_plastic_synapse: f64,
    /// Bytes of the plastic index, the per-source traces and the spike archives, all ranks.
    pub plastic_overhead_bytes: u64,
    /// A digest of every plastic synapse's (class, pre, post, weight bits), whatever the layout.
    pub weights_digest: String,
    pub projections: Vec<PlasticReport>,
}

/// Draws each plastic projection's final weight histogram into `<out>/weights.png` and `.svg`.
pub fn plot_weights(p: &PlasticSummary, out: &Path) -> Result<(), AppError> {
    let histograms: Vec<Histogram> = p
        .projections
        .iter()
        .map(|r| Histogram {
            label: format!("{} ({})", r.projection, r.synapse_model),
            edges: r.histogram_edges.clone(),
            counts: r.histogram_counts.clone(),
        })
        .collect();
    plot_histograms(&histograms, "plastic weights at the end", "weight", out, "weights").map_err(AppError::run)?;
    Ok(())
}

/// Floats as u64 keys whose order is the floats' order (for min and max over ranks).
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// The plastic summary of the run (collective; every rank gets it). None if the model has no plastic
/// projection.
pub fn plastic_summary(
    engine: &Engine,
    classes: &[PlasticClass],
    comm: &mut dyn Communicator,
) -> Result<Option<PlasticSummary>, AppError> {
    if classes.is_empty() {
        return Ok(None);
    }
    let n = classes.len();
    let (mut count, mut sum, mut lo, mut hi) = (vec![0u64; n], vec![0.0f64; n], vec![u64::MAX; n], vec![0u64; n]);
    let (mut digest, mut synapse_bytes, mut overhead) = (0u64, 0u64, 0u64);
    for part in engine.parts() {
        let Some(plastic) = part.plastic() else { continue };
        let (s, o) = plastic.bytes();
        synapse_bytes += s as u64;
        overhead += o as u64;
        plastic.for_each_synapse(|class, pre, i, _, w| {
            count[class] += 1;
            sum[class] += w;
            lo[class] = lo[class].min(order_key(w));
            hi[class] = hi[class].max(order_key(w));
            let key = splitmix64(((class as u64) << 32) ^ u64::from(pre)) ^ u64::from(part.gid(i));
            digest = digest.wrapping_add(splitmix64(splitmix64(key) ^ w.to_bits()));
        });
    }
    let count = comm.all_reduce_u64(&count, ReduceOp::Sum)?;
    let lo = comm.all_reduce_u64(&lo, ReduceOp::Min)?;
    let hi = comm.all_reduce_u64(&hi, ReduceOp::Max)?;
    let totals = comm.all_reduce_u64(&[digest, synapse_bytes, overhead], ReduceOp::Sum)?;
    // Sums in rank order, so every rank has the same mean.
    let sums = comm.all_gather_u64(&sum.iter().map(|x| x.to_bits()).collect::<Vec<_>>())?;
    let mut bins = vec![0u64; n * HISTOGRAM_BINS];
    for part in engine.parts() {
        let Some(plastic) = part.plastic() else { continue };
        plastic.for_each_synapse(|class, _, _, _, w| {
            let (a, b) = (from_order_key(lo[class]), from_order_key(hi[class]));
            let at = if b > a { ((w - a) / (b - a) * HISTOGRAM_BINS as f64) as usize } else { 0 };
            bins[class * HISTOGRAM_BINS + at.min(HISTOGRAM_BINS - 1)] += 1;
        });
    }
    let bins = comm.all_reduce_u64(&bins, ReduceOp::Sum)?;
    let projections = classes
        .iter()
        .enumerate()
        .map(|(c, class)| {
            let total: f64 = sums.chunks_exact(n).map(|r| f64::from_bits(r[c])).sum();
            let (a, b) = if count[c] == 0 { (0.0, 0.0) } else { (from_order_key(lo[c]), from_order_key(hi[c])) };
            PlasticReport {
                projection: class.name.clone(),
                synapse_model: class.rule.name().to_owned(),
                synapses: count[c],
                mean_weight: if count[c] == 0 { 0.0 } else { total / count[c] as f64 },
                min_weight: a,
                max_weight: b,
                histogram_edges: (0..=HISTOGRAM_BINS).map(|k| a + (b - a) * k as f64 / HISTOGRAM_BINS as f64).collect(),
                histogram_counts: bins[c * HISTOGRAM_BINS..(c + 1) * HISTOGRAM_BINS].to_vec(),
            }
        })
        .collect();
    let synapses: u64 = count.iter().sum();
    Ok(Some(PlasticSummary {
        bytes_per_plastic_synapse: if synapses == 0 { 0.0 } else { totals[1] as f64 / synapses as f64 },
        plastic_overhead_bytes: totals[2],
        weights_digest: format!("{:016x}", totals[0]),
        projections,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_sort_as_the_floats_do_and_invert() {
        let xs = [-3.5, -0.0, 0.0, 1e-300, 2.0, 45.6];
        for w in xs.windows(2) {
            assert!(order_key(w[0]) <= order_key(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
    }
}
