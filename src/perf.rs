//! The performance report of a run: every rank's phase histograms gathered to rank 0, merged into
//! `perf.json`, a table on stdout and plots.

use std::path::Path;

use cajal_comm::{gather_bytes, Communicator};
use cajal_metrics::plot::plot_report;
use cajal_metrics::{PerfReport, PhaseTimers, RankExtra, RunFacts};

use crate::error::AppError;
use crate::gather::gather_json;

/// Gathers every rank's timers and (spikes, synaptic events); rank 0 writes perf.json and its plots and
/// prints the table. Collective.
pub fn write_timers_report(
    timers: &PhaseTimers,
    (spikes, synaptic_events): (u64, u64),
    comm: &mut dyn Communicator,
    facts: RunFacts,
    out: &Path,
) -> Result<(), AppError> {
    let timers = timers.serialize().map_err(AppError::from)?;
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
        .map_err(AppError::from)?;
    let report = PerfReport::build(&ranks, facts).map_err(AppError::from)?;
    report.write(&out.join("perf.json")).map_err(AppError::from)?;
    plot_report(&report, out).map_err(AppError::from)?;
    print!("{}", report.table());
    Ok(())
}
