//! One rank's run of any model, fresh or resumed from a checkpoint: build, restore, simulate the remaining
//! steps in chunks (checkpointing on the way, stopping on a signal or at `--stop-after`), report. The
//! model's half (which engine, what it records, what it reports) is a [`ModelRun`]; the schedule, the
//! checkpoints and the stop handling are the same for every model.
//!
//! ```text
//! schedule, store ─► build ─► restore (or mark the run incomplete) ─► outputs
//!   ─► per chunk up to the next pause: advance ─► [end of warm-up: reset metrics] ─► [checkpoint] ─► [stop]
//!   ─► finish outputs ─► perf.json ─► `complete` ─► summary.json
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tracing::info;

use cajal_checkpoint::{CheckpointStore, Manifest};
use cajal_comm::Communicator;
use cajal_core::Step;
use cajal_metrics::{Phase, RunFacts};
use cajal_models::SimulationSettings;
use cajal_net::Balancer;
use cajal_sim::{RankEngine, RunControl, SimError};

use crate::checkpointing::{mark_incomplete, restore_state, write_checkpoint, CheckpointPlan, RunIdentity};
use crate::error::AppError;
use crate::outputs::RunOutputs;
use crate::progress::Progress;
use crate::report::WallTimes;
use crate::schedule::Schedule;

/// Windows (or steps) between two collective checks of the stop flag.
const STOP_CHECK_WINDOWS: u64 = 10;

/// What every job has, whatever the model.
pub struct JobSettings {
    /// The model as TOML with every override applied (what a checkpoint stores).
    pub model_text: String,
    /// The model file as the user named it (for the summary).
    pub model_file: String,
    /// The model file, absolute: relative paths in the model start from its directory.
    pub model_path: PathBuf,
    pub out: PathBuf,
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

/// The model's half of a job: its engine, its outputs and its report.
pub trait ModelRun {
    type Engine: RankEngine;
    /// What construction reports (sizes, per-rank shares).
    type Built;
    type Outputs: RunOutputs;

    /// The model kind (the `model` key).
    fn kind(&self) -> &str;
    fn simulation(&self) -> &SimulationSettings;
    /// Files the model reads besides its TOML (a checkpoint records their checksums).
    fn input_files(&self) -> &[PathBuf];
    /// Whether the run records spikes (a checkpoint remembers it for the resume).
    fn record_spikes(&self) -> bool;
    /// Builds this rank's engine. Collective.
    fn build(&self, job: &JobSettings, comm: &mut dyn Communicator) -> Result<(Self::Engine, Self::Built), AppError>;
    /// Refuses a checkpoint that cannot be this model's, before anything is restored.
    fn check_checkpoint(&self, m: &Manifest) -> Result<(), AppError>;
    /// Rank 0 of a resumed run, once the state is restored and before any rank writes: cuts the outputs
    /// of earlier segments back to the checkpoint.
    fn rewind_outputs(&self, job: &JobSettings, m: &Manifest) -> Result<(), AppError>;
    /// Rank 0 of a fresh run, before any rank writes: removes what an earlier run left that this run
    /// would otherwise mix with its own outputs (file parts).
    fn clear_outputs(&self, job: &JobSettings) -> Result<(), AppError> {
        let _ = job;
        Ok(())
    }
    /// The outputs of this segment (resumed ones carry on from the checkpoint's positions).
    fn outputs(
        &self,
        job: &JobSettings,
        schedule: &Schedule,
        engine: &mut Self::Engine,
        comm: &dyn Communicator,
    ) -> Result<Self::Outputs, AppError>;
    /// Simulates `n_steps` from the engine's step (never across the end of the warm-up). Collective.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &self,
        engine: &mut Self::Engine,
        n_steps: Step,
        outputs: &mut Self::Outputs,
        schedule: &Schedule,
        comm: &mut dyn Communicator,
        control: RunControl<'_>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<bool, SimError>;
    /// The periods (steps) at which the model wants the run to pause (e.g. weight snapshots).
    fn pause_periods(&self, outputs: &Self::Outputs) -> Vec<Step> {
        let _ = outputs;
        Vec::new()
    }
    /// At the start of a fresh run (step 0) and at every pause (`at` steps done): what the model writes
    /// there (e.g. weight snapshots). Before any checkpoint of that step.
    fn at_pause(&self, engine: &Self::Engine, outputs: &mut Self::Outputs, at: Step) -> Result<(), AppError> {
        let _ = (engine, outputs, at);
        Ok(())
    }
    /// Writes `summary.json` (rank 0) and prints the result. Collective.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        job: &JobSettings,
        schedule: &Schedule,
        engine: &Self::Engine,
        built: &Self::Built,
        outputs: &mut Self::Outputs,
        comm: &mut dyn Communicator,
        wall: WallTimes,
    ) -> Result<(), AppError>;
}

/// A planned run of one model on every rank.
pub struct Job<M> {
    pub model: M,
    pub settings: JobSettings,
}

/// Wall time per phase of this segment.
#[derive(Default)]
struct Walls {
    presim: f64,
    simulate: f64,
}

impl<M: ModelRun> Job<M> {
    /// Runs this rank's part. Collective.
    pub fn execute(
        &self,
        comm: &mut dyn Communicator,
        stop: &AtomicBool,
        construct_started: Instant,
    ) -> Result<Ending, AppError> {
        let job = &self.settings;
        let c = job.checkpoint.as_ref();
        let schedule =
            Schedule::new(self.model.simulation(), c.and_then(|c| c.every_ms), c.and_then(|c| c.stop_after_ms))?;
        // The store first: a missing bucket is reported before minutes of construction.
        let store = c.map(CheckpointPlan::open).transpose()?;
        let (mut engine, built) = self.model.build(job, comm)?;
        self.restore_or_start(&mut engine, store.as_ref(), comm)?;
        let mut outputs = self.model.outputs(job, &schedule, &mut engine, comm)?;
        let schedule = schedule.with_model_pauses(&self.model.pause_periods(&outputs));
        if engine.step() == 0 {
            self.model.at_pause(&engine, &mut outputs, 0)?;
        }
        let timed_from = engine.step().max(schedule.presim);
        let construct = construct_started.elapsed().as_secs_f64();
        info!(step = engine.step(), seconds = construct, "constructed");
        let (ending, walls) = self.simulate(&mut engine, &mut outputs, &schedule, store.as_ref(), comm, stop)?;
        if ending != Ending::Completed {
            return Ok(ending);
        }
        outputs.close_parts(engine.step())?;
        outputs.finish()?;
        let facts = RunFacts {
            ranks: comm.size(),
            threads_per_rank: job.threads,
            model_time_s: schedule.analysed_seconds_from(timed_from),
            simulate_wall_s: walls.simulate,
            sync_timer: job.sync_timer,
        };
        crate::perf::write_timers_report(engine.timers(), engine.activity(), comm, facts, &job.out)?;
        if let (Some(store), 0) = (&store, comm.rank()) {
            // A finished run is not resumed again by mistake.
            cajal_checkpoint::mark_complete(store, engine.step())?;
        }
        let wall = WallTimes { construct, presim: walls.presim, simulate: walls.simulate };
        self.model.report(job, &schedule, &engine, &built, &mut outputs, comm, wall)?;
        Ok(Ending::Completed)
    }

    /// The chunks from the engine's step to the planned end (or a stop), checkpointing where due.
    fn simulate(
        &self,
        engine: &mut M::Engine,
        outputs: &mut M::Outputs,
        schedule: &Schedule,
        store: Option<&CheckpointStore>,
        comm: &mut dyn Communicator,
        stop: &AtomicBool,
    ) -> Result<(Ending, Walls), AppError> {
        let job = &self.settings;
        let mut progress = Progress::new(schedule.res, schedule.end, comm.rank() == 0);
        let mut walls = Walls::default();
        let control = RunControl { stop: store.map(|_| stop), check_every_windows: STOP_CHECK_WINDOWS };
        while engine.step() < schedule.end {
            let now = engine.step();
            let warm_up = schedule.in_warm_up(now);
            let phase = if warm_up { "warm-up" } else { "simulate" };
            let started = Instant::now();
            let stopped = self.model.advance(
                engine,
                schedule.next_pause(now) - now,
                outputs,
                schedule,
                comm,
                control,
                &mut |done| progress.update(now + done, phase),
            )?;
            let wall = if warm_up { &mut walls.presim } else { &mut walls.simulate };
            *wall += started.elapsed().as_secs_f64();
            let at = engine.step();
            if warm_up && at == schedule.presim {
                progress.mark(at);
                // The performance report covers the analysed period, as beNNch's does.
                engine.reset_metrics();
            }
            self.model.at_pause(engine, outputs, at)?;
            let due = schedule.due_at(at);
            if let (Some(plan), Some(store)) = (&job.checkpoint, store) {
                if stopped || due.checkpoint {
                    let started = Instant::now();
                    write_checkpoint(&self.identity(), plan, store, engine, outputs, comm)?;
                    engine.timers_mut().record(Phase::Checkpoint, started.elapsed().as_nanos() as u64);
                }
            }
            if stopped || due.stop {
                progress.finish();
                return Ok((if stopped { Ending::Preempted } else { Ending::StoppedAfter }, walls));
            }
        }
        progress.finish();
        Ok((Ending::Completed, walls))
    }

    /// What a checkpoint records about this run besides the state.
    fn identity(&self) -> RunIdentity<'_> {
        let job = &self.settings;
        RunIdentity {
            kind: self.model.kind(),
            model_text: &job.model_text,
            model_path: &job.model_path,
            input_files: self.model.input_files(),
            simulation: self.model.simulation(),
            out: &job.out,
            record_spikes: self.model.record_spikes(),
            segment: job.resume.as_ref().map_or(0, |m| m.segment + 1),
            threads: job.threads,
        }
    }

    /// Restores a resumed run's state (then cuts its outputs back), or marks a fresh run as not complete.
    fn restore_or_start(
        &self,
        engine: &mut M::Engine,
        store: Option<&CheckpointStore>,
        comm: &mut dyn Communicator,
    ) -> Result<(), AppError> {
        let job = &self.settings;
        let Some(m) = &job.resume else {
            if let (Some(store), 0) = (store, comm.rank()) {
                mark_incomplete(store)?;
            }
            if comm.rank() == 0 {
                self.model.clear_outputs(job)?;
            }
            comm.barrier()?;
            return Ok(());
        };
        let store = store.ok_or_else(|| AppError::run("resuming needs the checkpoint store"))?;
        self.model.check_checkpoint(m)?;
        restore_state(engine, m, store, comm)?;
        // Only once the state is restored (so a corrupt checkpoint changes nothing): fix the outputs.
        comm.barrier()?;
        if comm.rank() == 0 {
            self.model.rewind_outputs(job, m)?;
        }
        comm.barrier()?;
        Ok(())
    }
}
