//! One rank's simulation of a planned run, fresh or resumed from a checkpoint: build, restore, simulate the
//! remaining steps in chunks (checkpointing on the way, stopping on a signal or at `--stop-after`), report.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::anyhow;
use tracing::info;

use cajal_checkpoint::{CheckpointStore, Manifest};
use cajal_comm::{Communicator, ReduceOp};
use cajal_core::{Resolution, Step};
use cajal_metrics::RunFacts;
use cajal_models::Model;
use cajal_net::{Balancer, Recipe};
use cajal_sim::{build_engine, BuildOptions, Engine, RunControl, SpikeRecorder};

use crate::checkpointing::{
    prepare_spike_files, restore_state, restore_totals, write_checkpoint, CheckpointPlan, COMPLETE,
};
use crate::progress::Progress;
use crate::report::{PopulationRate, RankReport, Summary, WallTimes};
use crate::run_command::{bad, classify, run_failure};
use crate::Failure;

/// Windows between two collective checks of the stop flag.
const STOP_CHECK_WINDOWS: u64 = 10;

/// Everything a rank needs to run (or continue) a planned simulation.
pub struct Job {
    pub model: Model,
    /// The model as TOML with every override applied (what a checkpoint stores).
    pub model_text: String,
    pub model_file: String,
    pub out: PathBuf,
    pub record_spikes: bool,
    pub balancer: Balancer,
    pub threads: usize,
    pub checkpoint: Option<CheckpointPlan>,
    /// The checkpoint to continue from, if any.
    pub resume: Option<Manifest>,
    /// Time a barrier before every exchange (see `--sync-timer`).
    pub sync_timer: bool,
}

/// How a rank's part of a job ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The planned end was reached (summary written).
    Completed,
    /// `--stop-after` was reached: checkpoint written.
    StoppedAfter,
    /// A signal asked to stop: checkpoint written.
    Preempted,
}

/// The planned run in steps.
struct Plan {
    res: Resolution,
    presim: Step,
    end: Step,
}

impl Job {
    fn plan(&self) -> Result<Plan, Failure> {
        let sim = &self.model.simulation;
        let res = Resolution::new(sim.dt_ms).map_err(bad)?;
        let presim = res.duration_steps("t_presim_ms", sim.t_presim_ms).map_err(bad)?;
        let end = presim + res.duration_steps("t_sim_ms", sim.t_sim_ms).map_err(bad)?;
        Ok(Plan { res, presim, end })
    }

    /// Runs this rank's part. Collective.
    pub fn execute(
        &self,
        comm: &mut dyn Communicator,
        stop: &AtomicBool,
        construct_started: Instant,
    ) -> Result<Ending, Failure> {
        let plan = self.plan()?;
        // The store first: a missing bucket is reported before minutes of construction.
        let store = match &self.checkpoint {
            Some(c) => Some(c.open().map_err(bad)?),
            None => None,
        };
        let options = BuildOptions { threads: self.threads, balancer: self.balancer };
        let (mut engine, stats) = build_engine(&self.model.network, comm, options).map_err(classify)?;
        self.restore_or_start(&mut engine, store.as_ref(), comm)?;
        let mut recorder = self.recorder(&engine, &plan, comm)?;
        if let Some(m) = &self.resume {
            restore_totals(&mut recorder, m, comm.rank());
        }
        engine.set_sync_timer(self.sync_timer);
        let timed_from = engine.step().max(plan.presim);
        let construct_s = construct_started.elapsed().as_secs_f64();
        info!(
            neurons = stats.neurons,
            synapses = stats.synapses,
            step = engine.step(),
            seconds = construct_s,
            "constructed"
        );

        let mut progress = Progress::new(plan.res, plan.end, comm.rank() == 0);
        let (mut presim_s, mut simulate_s) = (0.0, 0.0);
        let control =
            RunControl { stop: self.checkpoint.as_ref().map(|_| stop), check_every_windows: STOP_CHECK_WINDOWS };
        while engine.step() < plan.end {
            let now = engine.step();
            let target = self.next_stop(&plan, now);
            let started = Instant::now();
            let phase = if now < plan.presim { "warm-up" } else { "simulate" };
            let stopped = engine
                .run_controlled(
                    target - now,
                    comm,
                    &mut recorder,
                    &mut |done| progress.update(now + done, phase),
                    control,
                )
                .map_err(classify)?;
            let wall = started.elapsed().as_secs_f64();
            if now < plan.presim {
                presim_s += wall
            } else {
                simulate_s += wall
            }
            if now < plan.presim && engine.step() == plan.presim {
                progress.mark(plan.presim);
                // The performance report covers the simulate phase, as beNNch's does.
                engine.reset_metrics();
            }
            let at = engine.step();
            let plan_stop =
                self.checkpoint.as_ref().and_then(|c| c.stop_after_step(&plan.res)) == Some(at) && at < plan.end;
            let periodic =
                self.checkpoint.as_ref().is_some_and(|c| c.is_checkpoint_step(&plan.res, at)) && at < plan.end;
            if stopped || plan_stop || periodic {
                let (c, store) = (self.checkpoint.as_ref(), store.as_ref());
                if let (Some(c), Some(store)) = (c, store) {
                    let started = Instant::now();
                    write_checkpoint(self, c, store, &mut engine, &mut recorder, comm)?;
                    engine.timers_mut().record(cajal_metrics::Phase::Checkpoint, started.elapsed().as_nanos() as u64);
                }
            }
            if stopped {
                progress.finish();
                return Ok(Ending::Preempted);
            }
            if plan_stop {
                progress.finish();
                return Ok(Ending::StoppedAfter);
            }
        }
        progress.finish();
        recorder.finish().map_err(run_failure)?;
        let facts = RunFacts {
            ranks: comm.size(),
            threads_per_rank: self.threads,
            model_time_s: plan.res.steps_to_ms(plan.end - timed_from) / 1000.0,
            simulate_wall_s: simulate_s,
            sync_timer: self.sync_timer,
        };
        crate::perf::write_report(&engine, comm, facts, &self.out)?;
        if let (Some(store), 0) = (&store, comm.rank()) {
            // A finished run is not resumed again by mistake.
            store.put(COMPLETE, format!("completed at step {}\n", engine.step()).into_bytes()).map_err(run_failure)?;
        }
        self.report(
            &engine,
            &stats,
            &mut recorder,
            comm,
            WallTimes { construct: construct_s, presim: presim_s, simulate: simulate_s },
        )?;
        Ok(Ending::Completed)
    }

    /// Restores a resumed run's state (then fixes its spike files), or marks a fresh run as not complete.
    fn restore_or_start(
        &self,
        engine: &mut Engine,
        store: Option<&CheckpointStore>,
        comm: &mut dyn Communicator,
    ) -> Result<(), Failure> {
        if let Some(m) = &self.resume {
            let store = store.ok_or_else(|| Failure::Run(anyhow!("resuming needs the checkpoint store")))?;
            // The manifest's counts seed the recorder, which indexes them by population: check the length
            // before anything is restored.
            let populations = self.model.network.populations().len();
            if m.analysed_counts.len() != populations {
                return Err(bad(anyhow!(
                    "checkpoint {}: {} analysed spike counts for the model's {populations} populations: it does not \
                     belong to this network",
                    m.name,
                    m.analysed_counts.len()
                )));
            }
            restore_state(engine, m, store)?;
            // Only once the state is restored (so a corrupt checkpoint changes nothing): fix the spike files.
            comm.barrier().map_err(run_failure)?;
            if comm.rank() == 0 && self.record_spikes {
                prepare_spike_files(m, &self.out)?;
            }
            comm.barrier().map_err(run_failure)?;
        } else if let (Some(store), 0) = (store, comm.rank()) {
            store.delete(COMPLETE).map_err(run_failure)?;
        }
        Ok(())
    }

    /// The next step at which the run must pause: a phase boundary, a checkpoint, the stop, or the end.
    fn next_stop(&self, plan: &Plan, now: Step) -> Step {
        let mut target = plan.end;
        if now < plan.presim {
            target = target.min(plan.presim);
        }
        if let Some(c) = &self.checkpoint {
            if let Some(s) = c.stop_after_step(&plan.res).filter(|&s| s > now) {
                target = target.min(s);
            }
            if let Some(every) = c.every_steps(&plan.res).filter(|&e| e > 0) {
                target = target.min((now / every + 1) * every);
            }
        }
        target
    }

    fn recorder(&self, engine: &Engine, plan: &Plan, comm: &dyn Communicator) -> Result<SpikeRecorder, Failure> {
        let names: Vec<String> = self.model.network.populations().iter().map(|p| p.name.clone()).collect();
        let mut suffix = if comm.size() > 1 { format!("-rank{}", comm.rank()) } else { String::new() };
        if let Some(m) = &self.resume {
            // Each resumed segment writes files of its own; the earlier ones were cut back to the checkpoint.
            suffix.push_str(&format!("-s{}", m.segment + 1));
        }
        let dir = self.out.join("spikes");
        SpikeRecorder::new(
            engine.population_first_gids().to_vec(),
            &names,
            &suffix,
            plan.presim..plan.end,
            plan.res,
            self.record_spikes.then_some(dir.as_path()),
        )
        .map_err(|e| bad(anyhow!(e)))
    }

    fn report(
        &self,
        engine: &Engine,
        stats: &cajal_sim::ConstructStats,
        recorder: &mut SpikeRecorder,
        comm: &mut dyn Communicator,
        wall: WallTimes,
    ) -> Result<(), Failure> {
        let counts = comm.all_reduce_u64(&recorder.analysed_counts, ReduceOp::Sum).map_err(run_failure)?;
        let totals =
            comm.all_reduce_u64(&[recorder.digest.sum, recorder.digest.count], ReduceOp::Sum).map_err(run_failure)?;
        let ex = engine.exchange_stats();
        let (remote_neurons, remote_entries) = engine.routes().remote_fanout();
        let exchange = comm
            .all_gather_u64(&[
                ex.bytes_sent,
                ex.seconds.to_bits(),
                wall.simulate.to_bits(),
                remote_neurons,
                remote_entries,
            ])
            .map_err(run_failure)?;
        if comm.rank() != 0 {
            return Ok(());
        }
        let sim = &self.model.simulation;
        let t_sim_s = sim.t_sim_ms / 1000.0;
        let summary = Summary {
            model: self.model.kind.clone(),
            model_file: self.model_file.clone(),
            seed: sim.seed,
            ranks: comm.size(),
            threads_per_rank: self.threads,
            communicator: comm.backend().to_owned(),
            balancer: self.balancer.to_string(),
            dt_ms: sim.dt_ms,
            t_presim_ms: sim.t_presim_ms,
            t_sim_ms: sim.t_sim_ms,
            window_steps: engine.window(),
            neurons: stats.neurons,
            synapses: stats.synapses,
            bytes_per_synapse: stats.bytes_per_synapse,
            populations: self
                .model
                .network
                .populations()
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
            resumed_from_step: self.resume.as_ref().map(|m| m.step),
            rtf: (t_sim_s > 0.0 && self.resume.is_none()).then(|| wall.simulate / t_sim_s),
            wall_s: wall,
            peak_rss_bytes: cajal_sim::resources::peak_rss_bytes(),
            spikes_dir: self.record_spikes.then(|| self.out.join("spikes").display().to_string()),
            per_rank: RankReport::from_parts(&stats.per_rank, &exchange, ex.windows),
        };
        summary.write(&self.out.join("summary.json")).map_err(Failure::Run)?;
        summary.print_table();
        Ok(())
    }
}
