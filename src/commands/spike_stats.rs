//! `cajal spike-stats DIR...`: per population the rate, the mean CV of inter-spike intervals and the
//! synchrony of one or more runs' spike files (cajal's, or a NEST run's in the same layout), with the mean
//! and spread over runs, as a table and optionally as JSON.

use std::path::Path;

use cajal_metrics::spike_stats::{run_stats_with, PopulationStats};

use crate::cli::SpikeStatsArgs;
use crate::error::AppError;

/// Mean and sample standard deviation (0 for one value) of what is known.
fn mean_sd(values: &[Option<f64>]) -> (Option<f64>, Option<f64>, usize) {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    if known.is_empty() {
        return (None, None, 0);
    }
    let n = known.len() as f64;
    let mean = known.iter().sum::<f64>() / n;
    let sd = if known.len() > 1 {
        (known.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (Some(mean), Some(sd), known.len())
}

fn summary(values: &[Option<f64>]) -> serde_json::Value {
    let (mean, sd, n) = mean_sd(values);
    serde_json::json!({ "mean": mean, "sd": sd, "runs": n, "values": values })
}

fn cell(values: &[Option<f64>]) -> String {
    match mean_sd(values) {
        (Some(m), Some(sd), n) if n > 1 => format!("{m:.3} ± {sd:.3}"),
        (Some(m), _, _) => format!("{m:.3}"),
        _ => "n/a".to_owned(),
    }
}

/// The `(sender, time_ms)` rows of a Parquet spike part (`--spike-format parquet`).
fn parquet_spikes(path: &Path, spikes: &mut Vec<(u64, f64)>) -> Result<(), String> {
    use arrow_schema::DataType;
    use cajal_net::parquet_tables::{floats, for_each_batch, ints};
    let wanted = [("sender", DataType::Int64, true), ("time_ms", DataType::Float64, true)];
    for_each_batch(path, &wanted, |c| {
        let (senders, times) = (ints(path, c, 0, "sender")?, floats(path, c, 1, "time_ms")?);
        spikes.extend(senders.iter().zip(&times).map(|(&s, &t)| (s as u64, t)));
        Ok(())
    })
    .map_err(|e| e.to_string())
}

pub fn run(args: &SpikeStatsArgs) -> Result<(), AppError> {
    let runs: Vec<Vec<PopulationStats>> = args
        .dirs
        .iter()
        .map(|d| run_stats_with(d, args.bin_ms, Some(&parquet_spikes)))
        .collect::<Result<_, _>>()
        .map_err(AppError::from)?;
    let names: Vec<&str> = runs[0].iter().map(|p| p.name.as_str()).collect();
    for (dir, run) in args.dirs.iter().zip(&runs) {
        let same =
            run.len() == runs[0].len() && run.iter().zip(&runs[0]).all(|(a, b)| a.name == b.name && a.size == b.size);
        if !same {
            return Err(AppError::bad(format!(
                "{}: other populations (names or sizes) than {}; runs of one model and scale only",
                dir.display(),
                args.dirs[0].display()
            )));
        }
    }
    let column = |i: usize, f: &dyn Fn(&PopulationStats) -> Option<f64>| -> Vec<Option<f64>> {
        runs.iter().map(|r| f(&r[i])).collect()
    };
    println!(
        "{} run(s); mean ± sd over runs; CV of ISIs over neurons with >= 3 spikes; synchrony = var/mean of",
        runs.len()
    );
    println!("the population count in {} ms bins", args.bin_ms);
    println!("{:<8} {:>8} {:>16} {:>16} {:>16}", "pop", "size", "rate_hz", "cv_isi", "synchrony");
    let mut pops = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let rate = column(i, &|p| Some(p.rate_hz));
        let cv = column(i, &|p| p.cv_isi);
        let sync = column(i, &|p| p.synchrony);
        println!("{name:<8} {:>8} {:>16} {:>16} {:>16}", runs[0][i].size, cell(&rate), cell(&cv), cell(&sync));
        pops.push(serde_json::json!({
            "name": name, "size": runs[0][i].size,
            "rate_hz": summary(&rate), "cv_isi": summary(&cv), "synchrony": summary(&sync),
        }));
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "runs": args.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
            "bin_ms": args.bin_ms,
            "populations": pops,
        });
        let text = serde_json::to_string_pretty(&doc).map_err(AppError::run)?;
        std::fs::write(path, text + "\n")
            .map_err(|source| AppError::InputFile { what: format!("writing {}", path.display()), source })?;
    }
    Ok(())
}
