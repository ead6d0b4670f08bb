//! One rank's `cajal run`: load the model, build this rank's part, warm up, simulate, and report (rank 0
//! writes summary.json and prints the table; every rank writes its own spike files).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context};
use tracing::info;

use cajal_comm::{Communicator, ReduceOp};
use cajal_core::Resolution;
use cajal_models::{load_model, ModelError, Override};
use cajal_net::Recipe;
use cajal_sim::{build_engine, BuildOptions, SimError, SpikeRecorder};

use crate::progress::Progress;
use crate::report::{PopulationRate, RankReport, Summary, WallTimes};
use crate::{Failure, RunArgs};

pub fn bad(e: impl Into<anyhow::Error>) -> Failure {
    Failure::BadInput(e.into())
}

/// Errors of the model (its keys or the network they describe) are bad input; the rest are run failures.
pub fn classify(e: SimError) -> Failure {
    match e {
        SimError::Net(_) | SimError::Core(_) | SimError::OutOfMemory { .. } => Failure::BadInput(e.into()),
        other => Failure::Run(other.into()),
    }
}

fn run_failure(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Run(e.into())
}

/// The overrides from `--set` followed by those of the dedicated flags (which win).
pub fn overrides(args: &RunArgs) -> Result<Vec<Override>, ModelError> {
    let mut list = args.set.iter().map(|s| Override::parse(&args.model, s)).collect::<Result<Vec<_>, _>>()?;
    if let Some(f) = args.scale {
        list.push(Override::new("scaling.N", f));
        list.push(Override::new("scaling.K", f));
    }
    if let Some(t) = args.t_presim {
        list.push(Override::new("simulation.t_presim_ms", t));
    }
    if let Some(t) = args.t_sim {
        list.push(Override::new("simulation.t_sim_ms", t));
    }
    if let Some(s) = args.seed {
        list.push(Override::new("simulation.seed", s));
    }
    Ok(list)
}

/// Creates `dir` and checks that this rank can write a file in it.
pub fn prepare_output(dir: &Path, rank: usize) -> anyhow::Result<()> {
    let probe = dir.join(format!(".cajal-write-test-{rank}"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("output directory {} is not writable", dir.display()))
}

/// The spike file directory and the file-name suffix of this rank (`-rank<r>` when there are several).
fn spike_files(args: &RunArgs, comm: &dyn Communicator) -> (PathBuf, String) {
    let suffix = if comm.size() > 1 { format!("-rank{}", comm.rank()) } else { String::new() };
    (args.out.join("spikes"), suffix)
}

/// Runs this rank's part of the whole job. Collective: every rank calls it with the same arguments.
pub fn run_rank(args: &RunArgs, comm: &mut dyn Communicator, threads: usize) -> Result<(), Failure> {
    let overrides = overrides(args).map_err(bad)?;
    prepare_output(&args.out, comm.rank()).map_err(bad)?;

    let t_construct = Instant::now();
    let model = load_model(&args.model, &overrides).map_err(bad)?;
    let sim = model.simulation.clone();
    let res = Resolution::new(sim.dt_ms).map_err(bad)?;
    let presim_steps = res.duration_steps("t_presim_ms", sim.t_presim_ms).map_err(bad)?;
    let sim_steps = res.duration_steps("t_sim_ms", sim.t_sim_ms).map_err(bad)?;
    let options = BuildOptions { threads, balancer: args.balancer };
    let (mut engine, stats) = build_engine(&model.network, comm, options).map_err(classify)?;
    let construct_s = t_construct.elapsed().as_secs_f64();
    info!(
        neurons = stats.neurons,
        synapses = stats.synapses,
        window_steps = engine.window(),
        seconds = construct_s,
        "constructed"
    );

    let pops = model.network.populations();
    let names: Vec<String> = pops.iter().map(|p| p.name.clone()).collect();
    let (spike_dir, suffix) = spike_files(args, comm);
    let analysed = presim_steps..presim_steps + sim_steps;
    let mut recorder = SpikeRecorder::new(
        engine.population_first_gids().to_vec(),
        &names,
        &suffix,
        analysed,
        res,
        (!args.no_spikes).then_some(spike_dir.as_path()),
    )
    .map_err(|e| bad(anyhow!(e)))?;

    let mut progress = Progress::new(res, presim_steps + sim_steps, comm.rank() == 0);
    let t_presim = Instant::now();
    engine.run(presim_steps, comm, &mut recorder, &mut |done| progress.update(done, "warm-up")).map_err(classify)?;
    let presim_s = t_presim.elapsed().as_secs_f64();
    progress.mark(presim_steps);
    let t_sim = Instant::now();
    engine
        .run(sim_steps, comm, &mut recorder, &mut |done| progress.update(presim_steps + done, "simulate"))
        .map_err(classify)?;
    let simulate_s = t_sim.elapsed().as_secs_f64();
    progress.finish();
    recorder.finish().map_err(run_failure)?;

    let counts = comm.all_reduce_u64(&recorder.analysed_counts, ReduceOp::Sum).map_err(run_failure)?;
    let totals =
        comm.all_reduce_u64(&[recorder.digest.sum, recorder.digest.count], ReduceOp::Sum).map_err(run_failure)?;
    let ex = engine.exchange_stats();
    let (remote_neurons, remote_entries) = engine.routes().remote_fanout();
    let exchange = comm
        .all_gather_u64(&[ex.bytes_sent, ex.seconds.to_bits(), simulate_s.to_bits(), remote_neurons, remote_entries])
        .map_err(run_failure)?;
    if comm.rank() != 0 {
        return Ok(());
    }
    let t_sim_s = sim.t_sim_ms / 1000.0;
    let summary = Summary {
        model: model.kind.clone(),
        model_file: args.model.display().to_string(),
        seed: sim.seed,
        ranks: comm.size(),
        threads_per_rank: threads,
        communicator: comm.backend().to_owned(),
        balancer: format!("{:?}", args.balancer),
        dt_ms: sim.dt_ms,
        t_presim_ms: sim.t_presim_ms,
        t_sim_ms: sim.t_sim_ms,
        window_steps: engine.window(),
        neurons: stats.neurons,
        synapses: stats.synapses,
        bytes_per_synapse: stats.bytes_per_synapse,
        populations: pops
            .iter()
            .zip(&counts)
            .map(|(p, &c)| PopulationRate {
                name: p.name.clone(),
                size: p.size,
                spike_count: c,
                rate_hz: if t_sim_s > 0.0 { c as f64 / (f64::from(p.size) * t_sim_s) } else { 0.0 },
            })
            .collect(),
        spike_count: totals[1],
        spikes_digest: format!("{:016x}", totals[0]),
        steps: engine.step(),
        wall_s: WallTimes { construct: construct_s, presim: presim_s, simulate: simulate_s },
        rtf: (t_sim_s > 0.0).then(|| simulate_s / t_sim_s),
        peak_rss_bytes: cajal_sim::resources::peak_rss_bytes(),
        spikes_dir: (!args.no_spikes).then(|| spike_dir.display().to_string()),
        per_rank: RankReport::from_parts(&stats.per_rank, &exchange, ex.windows),
    };
    summary.write(&args.out.join("summary.json")).map_err(Failure::Run)?;
    summary.print_table();
    Ok(())
}
