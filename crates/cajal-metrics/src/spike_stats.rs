//! Spike statistics a reviewer of a simulator asks for beside rates, computed the same way from any run's
//! spike files (cajal's, or NEST's written in cajal's format): per population the rate, the mean
//! coefficient of variation of inter-spike intervals and the synchrony of the population count.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::MetricsError;

/// Neurons need at least this many spikes in the analysed period to count towards the mean CV.
pub const MIN_SPIKES_FOR_CV: usize = 3;
/// Default bin of the population count for the synchrony measure (ms).
pub const SYNCHRONY_BIN_MS: f64 = 3.0;
/// Most bins of the population count (a 1 s period in 10 ns bins): more would only allocate memory.
pub const MAX_BINS: f64 = 1e8;

/// One population's statistics over the analysed period (t_presim, t_presim + t_sim].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PopulationStats {
    pub name: String,
    pub size: u64,
    pub spikes: u64,
    /// Spikes per neuron per second, silent neurons included.
    pub rate_hz: f64,
    /// Mean over neurons with >= 3 spikes of std/mean of their inter-spike intervals (population std).
    pub cv_isi: Option<f64>,
    /// Neurons that entered the mean CV.
    pub cv_neurons: u64,
    /// Variance over mean of the population's spike count in bins from t_presim (whole bins only).
    pub synchrony: Option<f64>,
}

/// The analysed period and the synchrony bin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub t_presim_ms: f64,
    pub t_sim_ms: f64,
    pub bin_ms: f64,
}

impl Window {
    /// The analysed period and bin, checked: times finite and >= 0, the bin > 0 and at most [`MAX_BINS`]
    /// bins in the period.
    pub fn new(t_presim_ms: f64, t_sim_ms: f64, bin_ms: f64) -> Result<Self, String> {
        if !(t_presim_ms.is_finite() && t_presim_ms >= 0.0 && t_sim_ms.is_finite() && t_sim_ms >= 0.0) {
            return Err(format!("t_presim_ms = {t_presim_ms:?} and t_sim_ms = {t_sim_ms:?} must be finite and >= 0"));
        }
        if !(bin_ms.is_finite() && bin_ms > 0.0) || t_sim_ms / bin_ms > MAX_BINS {
            return Err(format!(
                "a bin of {bin_ms:?} ms must be > 0 and cut the {t_sim_ms:?} ms period into at most {MAX_BINS:e} bins"
            ));
        }
        Ok(Self { t_presim_ms, t_sim_ms, bin_ms })
    }
}

/// The statistics of one population of `size` neurons from its spikes as (sender, time in ms); spikes
/// outside the window are ignored.
#[must_use]
pub fn population_stats(name: &str, size: u64, spikes: &[(u64, f64)], w: Window) -> PopulationStats {
    let (t0, t1) = (w.t_presim_ms, w.t_presim_ms + w.t_sim_ms);
    let inside: Vec<(u64, f64)> = spikes.iter().copied().filter(|&(_, t)| t > t0 && t <= t1).collect();
    let mut by_neuron: HashMap<u64, Vec<f64>> = HashMap::new();
    for &(s, t) in &inside {
        by_neuron.entry(s).or_default().push(t);
    }
    let mut cvs = Vec::new();
    for times in by_neuron.values_mut() {
        if times.len() < MIN_SPIKES_FOR_CV {
            continue;
        }
        times.sort_by(f64::total_cmp);
        let isi: Vec<f64> = times.windows(2).map(|p| p[1] - p[0]).collect();
        let (mean, var) = mean_and_variance(&isi);
        if mean > 0.0 {
            cvs.push(var.sqrt() / mean);
        }
    }
    // Only whole bins: a short last bin would bias the variance.
    // Capped (and NaN -> 0 by the cast) for a window built without `Window::new`'s checks.
    let bins = if w.bin_ms > 0.0 { (w.t_sim_ms / w.bin_ms + 1e-9).floor().min(MAX_BINS) as usize } else { 0 };
    let mut counts = vec![0.0; bins];
    for &(_, t) in &inside {
        let b = ((t - t0) / w.bin_ms).floor();
        if b >= 0.0 && (b as usize) < bins {
            counts[b as usize] += 1.0;
        }
    }
    let (count_mean, count_var) = mean_and_variance(&counts);
    PopulationStats {
        name: name.to_owned(),
        size,
        spikes: inside.len() as u64,
        rate_hz: if size > 0 && w.t_sim_ms > 0.0 {
            inside.len() as f64 / (size as f64 * w.t_sim_ms / 1000.0)
        } else {
            0.0
        },
        cv_isi: (!cvs.is_empty()).then(|| cvs.iter().sum::<f64>() / cvs.len() as f64),
        cv_neurons: cvs.len() as u64,
        synchrony: (count_mean > 0.0).then(|| count_var / count_mean),
    }
}

/// Mean and population variance (0, 0 for no values).
fn mean_and_variance(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n)
}

/// Reads the `(sender, time_ms)` rows of one Parquet spike file (this crate reads no Parquet itself).
pub type ReadParquetSpikes = dyn Fn(&Path, &mut Vec<(u64, f64)>) -> Result<(), String>;

/// The statistics of a run directory: its `summary.json` (populations with `name` and `size`,
/// `t_presim_ms`, `t_sim_ms`) and its spike files `spikes/<population>[-rank<r>][-s<k>].csv`
/// (`sender,time_ms`).
pub fn run_stats(dir: &Path, bin_ms: f64) -> Result<Vec<PopulationStats>, MetricsError> {
    run_stats_with(dir, bin_ms, None)
}

/// [`run_stats`], also over Parquet spike parts (`spikes/<population>-rank<r>-<from>-<to>.parquet`) read by
/// `parquet`.
pub fn run_stats_with(
    dir: &Path,
    bin_ms: f64,
    parquet: Option<&ReadParquetSpikes>,
) -> Result<Vec<PopulationStats>, MetricsError> {
    let summary_path = dir.join("summary.json");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| io(&summary_path, &e))?;
    let summary: serde_json::Value = serde_json::from_str(&text).map_err(|e| io(&summary_path, &e))?;
    let number = |key: &str| {
        summary[key].as_f64().ok_or_else(|| io(&summary_path, &format!("`{key}` is missing or not a number")))
    };
    let w = Window::new(number("t_presim_ms")?, number("t_sim_ms")?, bin_ms).map_err(|e| io(&summary_path, &e))?;
    let pops = summary["populations"]
        .as_array()
        .ok_or_else(|| io(&summary_path, &"`populations` is missing or not a list"))?;
    let files = spike_files(&dir.join("spikes"), parquet.is_some())?;
    let mut out = Vec::with_capacity(pops.len());
    for p in pops {
        let (Some(name), Some(size)) = (p["name"].as_str(), p["size"].as_u64()) else {
            return Err(io(&summary_path, &"a population lacks `name` or `size`"));
        };
        let mut spikes = Vec::new();
        let mine: Vec<&PathBuf> = files.iter().filter(|f| belongs_to(f, name)).collect();
        if mine.is_empty() {
            return Err(io(
                &dir.join("spikes"),
                &format!("no spike file of population {name} (run without --no-spikes)"),
            ));
        }
        for f in mine {
            match parquet {
                Some(read) if f.extension().is_some_and(|x| x == "parquet") => {
                    read(f, &mut spikes).map_err(|e| io(f, &e))?;
                }
                _ => read_spikes(f, &mut spikes)?,
            }
        }
        out.push(population_stats(name, size, &spikes, w));
    }
    Ok(out)
}

fn spike_files(dir: &Path, with_parquet: bool) -> Result<Vec<PathBuf>, MetricsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, &e))?;
    let mut files = Vec::new();
    for e in entries {
        let path = e.map_err(|e| io(dir, &e))?.path();
        if path.extension().is_some_and(|x| x == "csv" || (with_parquet && x == "parquet")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `file` is `<name>.csv`, `<name>-rank<r>[...].csv` or `<name>-s<k>.csv`.
fn belongs_to(file: &Path, name: &str) -> bool {
    let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else { return false };
    match stem.strip_prefix(name) {
        Some("") => true,
        Some(rest) => rest.starts_with("-rank") || rest.starts_with("-s"),
        None => false,
    }
}

fn read_spikes(path: &Path, spikes: &mut Vec<(u64, f64)>) -> Result<(), MetricsError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, &e))?;
    let mut lines = text.lines().enumerate();
    if lines.next().map(|(_, h)| h.trim()) != Some("sender,time_ms") {
        return Err(io(path, &"the first line must be `sender,time_ms`"));
    }
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_once(',').and_then(|(s, t)| Some((s.trim().parse().ok()?, t.trim().parse().ok()?)));
        match parsed {
            Some((s, t)) if f64::is_finite(t) => spikes.push((s, t)),
            _ => return Err(io(path, &format!("line {}: `{line}` is not `sender,time_ms`", i + 1))),
        }
    }
    Ok(())
}

fn io(path: &Path, e: &dyn std::fmt::Display) -> MetricsError {
    MetricsError::Input { path: path.display().to_string(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const W: Window = Window { t_presim_ms: 100.0, t_sim_ms: 12.0, bin_ms: 3.0 };

    #[test]
    fn regular_firing_has_cv_zero_and_the_rate_counts_silent_neurons() {
        // Neuron 0 every 2 ms in (100, 112]: 102, 104, ..., 112 (6 spikes); neuron 1 silent; one spike of
        // neuron 2 (too few for a CV); spikes at the edges of the window are in or out as (t0, t1] says.
        let mut spikes: Vec<(u64, f64)> = (1..=6).map(|k| (0, 100.0 + 2.0 * f64::from(k))).collect();
        spikes.extend([(2, 105.0), (2, 100.0), (2, 112.1)]);
        let s = population_stats("A", 4, &spikes, W);
        assert_eq!(s.spikes, 7);
        assert!((s.rate_hz - 7.0 / (4.0 * 0.012)).abs() < 1e-9);
        assert_eq!(s.cv_isi, Some(0.0));
        assert_eq!(s.cv_neurons, 1);
    }

    #[test]
    fn cv_is_population_std_over_mean_of_the_intervals() {
        // Intervals 1, 3 -> mean 2, population std 1 -> CV 0.5; a second neuron with intervals 2, 2 -> 0.
        let spikes = [(7, 101.0), (7, 102.0), (7, 105.0), (8, 101.0), (8, 103.0), (8, 105.0)];
        let s = population_stats("A", 2, &spikes, W);
        assert_eq!(s.cv_neurons, 2);
        assert!((s.cv_isi.unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn synchrony_is_the_fano_factor_of_whole_bins_from_t_presim() {
        // Bins [100,103) [103,106) [106,109) [109,112): counts 3, 0, 1, 0; the spike at 112 falls in no
        // whole bin. Mean 1, variance (4 + 1 + 0 + 1) / 4 = 1.5.
        let spikes = [(1, 100.5), (2, 101.0), (3, 102.9), (1, 106.0), (2, 112.0)];
        let s = population_stats("A", 3, &spikes, W);
        assert!((s.synchrony.unwrap() - 1.5).abs() < 1e-12, "{:?}", s.synchrony);
        let silent = population_stats("B", 3, &[], W);
        assert_eq!((silent.cv_isi, silent.synchrony, silent.rate_hz), (None, None, 0.0));
    }

    #[test]
    fn periods_and_bins_that_would_allocate_without_bound_are_refused() {
        assert!(Window::new(500.0, 1000.0, 3.0).is_ok());
        assert!(Window::new(500.0, 1000.0, 1e-9).is_err());
        assert!(Window::new(500.0, 1000.0, 1e-300).is_err());
        assert!(Window::new(500.0, 1e300, 3.0).is_err());
        assert!(Window::new(500.0, f64::INFINITY, 3.0).is_err());
        assert!(Window::new(-1.0, 1000.0, 3.0).is_err());
        assert!(Window::new(500.0, 1000.0, 0.0).is_err());
    }

    #[test]
    fn spike_files_are_matched_by_population_name_exactly() {
        let f = |s: &str| PathBuf::from(format!("spikes/{s}.csv"));
        assert!(belongs_to(&f("L23E"), "L23E"));
        assert!(belongs_to(&f("L23E-rank1"), "L23E"));
        assert!(belongs_to(&f("L23E-s1"), "L23E"));
        assert!(belongs_to(&f("L23E-rank0-s2"), "L23E"));
        assert!(!belongs_to(&f("L23E"), "L2"));
        assert!(!belongs_to(&f("L23I"), "L23E"));
    }
}
