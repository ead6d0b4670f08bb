//! `cajal run --dry-run P [--dry-rank R]`: build only rank R of a P-rank job in this process (the `DryRun`
//! back end) to measure its construction time and memory, and compute its exact spike fan-out by streaming
//! the recipe; nothing is simulated. For sizing jobs of 1,024 ranks and more on a laptop.

use std::time::Instant;

use serde::Serialize;

use cajal_comm::DryRun;
use cajal_models::{build_model, ModelDocument};
use cajal_net::Recipe;
use cajal_sim::{build_engine_on, partition, stream_fanout};

use crate::cli::RunArgs;
use crate::error::AppError;
use crate::run_options::prepare_output;

/// What `summary.json` holds for a dry run.
#[derive(Serialize, Debug)]
struct DryRunSummary {
    dry_run: bool,
    model: String,
    ranks: usize,
    rank: usize,
    threads_per_rank: usize,
    balancer: String,
    neurons_total: u64,
    neurons: u64,
    synapses: u64,
    synapse_bytes: u64,
    bytes_per_synapse: f64,
    rank_bytes: u64,
    window_steps: u32,
    construct_s: f64,
    fanout_s: f64,
    peak_rss_bytes: Option<u64>,
    neurons_with_remote_targets: u64,
    remote_destinations: u64,
    expected_spikes_per_window: f64,
    expected_bytes_sent_per_window: f64,
}

pub fn run_dry(args: &RunArgs, doc: &ModelDocument, size: usize, rank: usize, threads: usize) -> Result<(), AppError> {
    if rank >= size {
        return Err(AppError::bad(format!("--dry-rank {rank} is not a rank of a {size}-rank job (0..{})", size - 1)));
    }
    prepare_output(&args.out, 0)?;
    let started = Instant::now();
    let model = build_model(doc)?;
    if model.kind == cajal_models::ModelKind::Connectome {
        // Its exact fan-out would need every rank's rows of the edge table; a rank reads only its own.
        return Err(AppError::bad(format!(
            "{}: dry runs need a generated network; an imported edge table is read per rank",
            args.model.display()
        )));
    }
    // Partitioned once, by this process standing in for every rank (METIS: for rank 0), for both the build
    // and the fan-out.
    let mut comm = DryRun::new(rank, size);
    let decomposition = partition(&model.network, &mut comm, args.balancer).map_err(AppError::from)?;
    let (engine, stats) =
        build_engine_on(&model.network, &decomposition, &mut comm, threads).map_err(AppError::from)?;
    let construct_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let fanout = stream_fanout(&model.network, &decomposition, rank, engine.window()).map_err(AppError::from)?;
    let fanout_s = started.elapsed().as_secs_f64();
    let mine = &stats.per_rank[rank];
    let summary = DryRunSummary {
        dry_run: true,
        model: model.kind.name().to_owned(),
        ranks: size,
        rank,
        threads_per_rank: threads,
        balancer: args.balancer.to_string(),
        neurons_total: u64::from(model.network.num_neurons()),
        neurons: mine.neurons,
        synapses: mine.synapses,
        synapse_bytes: mine.synapse_bytes,
        bytes_per_synapse: stats.bytes_per_synapse,
        rank_bytes: stats.rank_bytes,
        window_steps: engine.window(),
        construct_s,
        fanout_s,
        peak_rss_bytes: cajal_sim::resources::peak_rss_bytes(),
        neurons_with_remote_targets: fanout.neurons_with_remote_targets,
        remote_destinations: fanout.remote_destinations,
        expected_spikes_per_window: fanout.expected_spikes_per_window,
        expected_bytes_sent_per_window: fanout.expected_bytes_per_window,
    };
    let text = serde_json::to_string_pretty(&summary).map_err(AppError::run)? + "\n";
    let path = args.out.join("summary.json");
    std::fs::write(&path, text).map_err(|e| AppError::output(format!("writing {}", path.display()), e))?;
    println!(
        "dry run: rank {rank} of {size} ({}): {} neurons, {} synapses ({:.1} MiB of tables, {:.2} B/synapse), peak RSS {:.2} GiB",
        args.balancer,
        summary.neurons,
        summary.synapses,
        summary.synapse_bytes as f64 / f64::from(1u32 << 20),
        summary.bytes_per_synapse,
        summary.peak_rss_bytes.unwrap_or(0) as f64 / f64::from(1u32 << 30)
    );
    println!(
        "exchange: {} of its neurons reach other ranks, {} (neuron, rank) routes; at the expected rates {:.2} spikes and {:.0} bytes sent per {}-step window",
        summary.neurons_with_remote_targets,
        summary.remote_destinations,
        summary.expected_spikes_per_window,
        summary.expected_bytes_sent_per_window,
        summary.window_steps
    );
    Ok(())
}
