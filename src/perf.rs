//! The performance report of a run: every rank's phase histograms gathered to rank 0, merged into
//! `perf.json`, a table on stdout and plots; and `cajal report DIR...`, which re-reads and re-plots.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use cajal_comm::Communicator;
use cajal_metrics::plot::{plot_report, plot_scaling};
use cajal_metrics::{PerfReport, PhaseTimers, RankExtra, RunFacts};
use cajal_sim::Engine;

use crate::gather::{gather_bytes, gather_json};
use crate::run_command::{bad, run_failure};
use crate::Failure;

/// Collective: gathers the ranks' timers and activity; rank 0 writes `perf.json` and the plots into `out`
/// and prints the table.
pub fn write_report(engine: &Engine, comm: &mut dyn Communicator, facts: RunFacts, out: &Path) -> Result<(), Failure> {
    write_timers_report(engine.timers(), engine.activity(), comm, facts, out)
}

/// [`write_report`] from a rank's timers and its (spikes, synaptic events).
pub fn write_timers_report(
    timers: &PhaseTimers,
    (spikes, synaptic_events): (u64, u64),
    comm: &mut dyn Communicator,
    facts: RunFacts,
    out: &Path,
) -> Result<(), Failure> {
    let timers = timers.serialize().map_err(run_failure)?;
    let extra =
        RankExtra { peak_rss_bytes: cajal_sim::resources::peak_rss_bytes().unwrap_or(0), spikes, synaptic_events };
    let all_timers = gather_bytes(comm, &timers)?;
    let extras: Vec<RankExtra> = gather_json(comm, &extra)?;
    if comm.rank() != 0 {
        return Ok(());
    }
    let ranks = all_timers
        .iter()
        .zip(extras)
        .map(|(bytes, extra)| PhaseTimers::deserialize(bytes).map(|t| (t, extra)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(run_failure)?;
    let report = PerfReport::build(&ranks, facts).map_err(run_failure)?;
    report.write(&out.join("perf.json")).map_err(run_failure)?;
    plot_report(&report, out).map_err(run_failure)?;
    print!("{}", report.table());
    Ok(())
}

/// Arguments of `cajal report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Output directories of runs (each with a perf.json). Several draw a scaling plot.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the scaling plot goes [default: the first directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `cajal report DIR...`: prints each run's table, redraws its plots, and with several runs a scaling plot.
pub fn report(args: &ReportArgs) -> Result<(), Failure> {
    let mut runs = Vec::new();
    for dir in &args.dirs {
        let report = PerfReport::read(&dir.join("perf.json")).map_err(bad)?;
        println!("== {}", dir.display());
        print!("{}", report.table());
        plot_report(&report, dir).map_err(run_failure)?;
        runs.push((dir.display().to_string(), report));
    }
    if runs.len() > 1 {
        let out = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
        std::fs::create_dir_all(&out).map_err(|e| bad(anyhow!("cannot create {}: {e}", out.display())))?;
        let files = plot_scaling(&runs, &out).map_err(run_failure)?;
        println!("scaling plot: {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
        println!("{:<40} {:>6} {:>8} {:>8} {:>10}", "run", "ranks", "threads", "RTF", "imbalance");
        for (name, r) in &runs {
            println!(
                "{name:<40} {:>6} {:>8} {:>8.3} {:>10.2}",
                r.facts.ranks, r.facts.threads_per_rank, r.rtf, r.load_imbalance
            );
        }
    }
    Ok(())
}
