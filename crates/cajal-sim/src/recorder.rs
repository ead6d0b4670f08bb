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
    /// The step whose stamp `stamp` holds as text: spikes come in step order, so each stamp is formatted
    /// once per step, not once per spike.
    stamp: (Step, String),
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
            stamp: (0, String::new()),
        })
    }

    /// Flushes the spike files.
    pub fn finish(&mut self) -> Result<(), SimError> {
        for (path, w) in &mut self.writers {
            w.flush().map_err(|source| SimError::Io { context: format!("writing {}", path.display()), source })?;
        }
        Ok(())
    }

    /// Flushes the spike files and returns each one's name and length (for a checkpoint).
    pub fn file_positions(&mut self) -> Result<Vec<(String, u64)>, SimError> {
        self.finish()?;
        self.writers
            .iter()
            .map(|(path, w)| {
                let len = w
                    .get_ref()
                    .metadata()
                    .map_err(|source| SimError::Io {
                        context: format!("reading the size of {}", path.display()),
                        source,
                    })?
                    .len();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Ok((name, len))
            })
            .collect()
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
                    if self.stamp.0 != step || self.stamp.1.is_empty() {
                        self.stamp = (step, format!(",{:.*}\n", self.decimals, self.resolution.stamp_ms(step)));
                    }
                    let mut digits = [0u8; 10];
                    w.write_all(decimal(gid, &mut digits))
                        .and_then(|()| w.write_all(self.stamp.1.as_bytes()))
                        .map_err(|source| SimError::Io { context: format!("writing {}", path.display()), source })?;
                }
            }
        }
        Ok(())
    }
}

/// `n` in decimal, written into the end of `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cajal_core::pack_spike;

    #[test]
    fn gids_print_in_decimal() {
        let mut buf = [0u8; 10];
        for n in [0, 7, 10, 12_345, u32::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn only_spikes_of_the_analysed_steps_are_counted_and_written_but_all_are_digested() {
        let dir = std::env::temp_dir().join(format!("cajal-recorder-{}", std::process::id()));
        let res = Resolution::new(0.125).unwrap();
        let names = vec!["A".to_owned(), "B".to_owned()];
        // Population A is gids 0..5, B from 5; analysed steps 10..20.
        let mut r = SpikeRecorder::new(vec![0, 5], &names, "", 10..20, res, Some(&dir)).unwrap();
        // Window starting at step 9: spikes at steps 9, 10 (lags 0, 1); window at 19: steps 19, 20.
        r.observe(9, &[pack_spike(0, 1), pack_spike(1, 6)]).unwrap();
        r.observe(19, &[pack_spike(0, 2), pack_spike(1, 7)]).unwrap();
        r.finish().unwrap();
        assert_eq!(r.digest.count, 4);
        assert_eq!(r.analysed_counts, vec![1, 1]);
        let a = std::fs::read_to_string(dir.join("A.csv")).unwrap();
        let b = std::fs::read_to_string(dir.join("B.csv")).unwrap();
        // Step 19 is stamped 20 x 0.125 = 2.5 ms, step 10 is stamped 11 x 0.125 = 1.375 ms (three decimals).
        assert_eq!(a, "sender,time_ms\n2,2.500\n");
        assert_eq!(b, "sender,time_ms\n6,1.375\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
