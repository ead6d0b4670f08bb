//! The spike recorder: the run digest and counts from step 0, per-population counts over the analysed
//! period, and per-population CSV files of the analysed spikes (`sender,time_ms`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use cajal_core::digest::SpikeDigest;
use cajal_core::{unpack_spike, Gid, PackedSpike, Resolution, Step};

use crate::driver::SpikeObserver;
use crate::SimError;

/// Records what a run reports about its spikes.
#[derive(Debug)]
pub struct SpikeRecorder {
    first_gids: Vec<Gid>,
    analysed: std::ops::Range<Step>,
    resolution: Resolution,
    decimals: usize,
    /// Every spike of the run from step 0.
    pub digest: SpikeDigest,
    /// Spikes per population within the analysed steps.
    pub analysed_counts: Vec<u64>,
    writers: Vec<(PathBuf, BufWriter<File>)>,
}

impl SpikeRecorder {
    /// A recorder for populations starting at `first_gids`, counting spikes of steps in `analysed`; if
    /// `spike_dir` is given, writes `<dir>/<population><suffix>.csv` for each of `names`.
    pub fn new(
        first_gids: Vec<Gid>,
        names: &[String],
        suffix: &str,
        analysed: std::ops::Range<Step>,
        resolution: Resolution,
        spike_dir: Option<&Path>,
    ) -> Result<Self, SimError> {
        let mut writers = Vec::new();
        if let Some(dir) = spike_dir {
            let io = |source, path: &Path| SimError::Io { context: format!("writing {}", path.display()), source };
            std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
            for name in names {
                let path = dir.join(format!("{name}{suffix}.csv"));
                let mut w = BufWriter::new(File::create(&path).map_err(|e| io(e, &path))?);
                w.write_all(b"sender,time_ms\n").map_err(|e| io(e, &path))?;
                writers.push((path, w));
            }
        }
        // Enough decimals to write every multiple of dt exactly (0.1 -> 1, 0.125 -> 3).
        let dt = resolution.dt_ms();
        let decimals = (0..=9).find(|&k| {
            let scaled = dt * 10f64.powi(k);
            (scaled - scaled.round()).abs() < 1e-9 * scaled.max(1.0)
        });
        let decimals = decimals.unwrap_or(12) as usize;
        Ok(Self {
            analysed_counts: vec![0; first_gids.len()],
            first_gids,
            analysed,
            resolution,
            decimals,
            digest: SpikeDigest::default(),
            writers,
        })
    }

    /// Flushes the spike files.
    pub fn finish(&mut self) -> Result<(), SimError> {
        for (path, w) in &mut self.writers {
            w.flush().map_err(|source| SimError::Io { context: format!("writing {}", path.display()), source })?;
        }
        Ok(())
    }
}

impl SpikeObserver for SpikeRecorder {
    fn observe(&mut self, t0: Step, spikes: &[PackedSpike]) -> Result<(), SimError> {
        for &s in spikes {
            let (lag, gid) = unpack_spike(s);
            let step = t0 + u64::from(lag);
            self.digest.add(step, gid);
            if self.analysed.contains(&step) {
                let pop = self.first_gids.partition_point(|&f| f <= gid) - 1;
                self.analysed_counts[pop] += 1;
                if let Some((path, w)) = self.writers.get_mut(pop) {
                    writeln!(w, "{gid},{:.*}", self.decimals, self.resolution.stamp_ms(step))
                        .map_err(|source| SimError::Io { context: format!("writing {}", path.display()), source })?;
                }
            }
        }
        Ok(())
    }
}
