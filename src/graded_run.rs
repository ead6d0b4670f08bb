//! The graded half of a job (the optic lobe, rate networks): the rate engine, warmed up under the
//! stimulus' first frame, then driven by the stimulus from its start while rank 0 writes the recorded
//! voltages; the summary with the steps per second and each rank's share.

use std::path::PathBuf;

use serde::Serialize;

use cajal_checkpoint::Manifest;
use cajal_comm::Communicator;
use cajal_core::Step;
use cajal_models::graded::GradedRun;
use cajal_models::SimulationSettings;
use cajal_net::PhasedDrive;
use cajal_sim::{
    build_rate_engine_on, partition_rate, RankEngine, RateEngine, RateIo, RateStats, RunControl, SimError,
    ValueObserver,
};

use crate::checkpointing::cut_file_back;
use crate::error::AppError;
use crate::gather::gather_json;
use crate::job::{JobSettings, ModelRun};
use crate::outputs::{OutputPositions, RunOutputs};
use crate::report::WallTimes;
use crate::schedule::Schedule;
use crate::voltage_files::VoltageFiles;

/// A graded model's run.
pub struct GradedModelRun {
    pub model: Box<dyn GradedRun>,
}

/// The recorded voltages of a run: the files (rank 0) and whether the engine records yet (from the end
/// of the warm-up).
pub struct VoltageOutputs {
    files: VoltageFiles,
    gids: Vec<cajal_core::Gid>,
    recording: bool,
}

impl RunOutputs for VoltageOutputs {
    fn positions(&mut self) -> Result<OutputPositions, AppError> {
        Ok(OutputPositions { voltage_files: self.files.positions()?, ..OutputPositions::default() })
    }

    fn finish(&mut self) -> Result<(), AppError> {
        self.files.finish()
    }
}

/// Ignores what it is given (the warm-up records nothing).
struct Discard;

impl ValueObserver for Discard {
    fn rows(&mut self, _: Step, _: usize, _: &[f64]) -> Result<(), SimError> {
        Ok(())
    }
}

/// One rank's share, as `summary.json` lists it.
#[derive(Serialize, Debug, Default, serde::Deserialize)]
struct RankShare {
    rank: usize,
    neurons: u64,
    synapses: u64,
    ghosts: u64,
    values_sent_per_step: u64,
    bytes_sent: u64,
}

#[derive(Serialize, Debug)]
struct GradedSummary<'a> {
    model: &'a str,
    model_file: &'a str,
    neurons: u64,
    synapses: u64,
    ranks: usize,
    threads_per_rank: usize,
    balancer: String,
    dt_ms: f64,
    presim_steps: Step,
    steps: Step,
    stimulus: &'a str,
    input_files: Vec<String>,
    wall_s: WallTimes,
    steps_per_second: f64,
    per_rank: Vec<RankShare>,
}

impl ModelRun for GradedModelRun {
    type Engine = RateEngine;
    type Built = RateStats;
    type Outputs = VoltageOutputs;

    fn kind(&self) -> &str {
        self.model.kind().name()
    }

    fn simulation(&self) -> &SimulationSettings {
        self.model.simulation()
    }

    fn input_files(&self) -> &[PathBuf] {
        self.model.input_files()
    }

    fn record_spikes(&self) -> bool {
        false
    }

    fn build(&self, job: &JobSettings, comm: &mut dyn Communicator) -> Result<(RateEngine, RateStats), AppError> {
        let dt_s = self.simulation().dt_ms / 1000.0;
        let decomposition = partition_rate(self.model.recipe(), comm, job.balancer)?;
        let (engine, stats) = build_rate_engine_on(self.model.recipe(), &decomposition, comm, job.threads, dt_s)?;
        tracing::info!(neurons = stats.neurons, synapses = stats.synapses, "built");
        Ok((engine, stats))
    }

    fn check_checkpoint(&self, _: &Manifest) -> Result<(), AppError> {
        Ok(())
    }

    fn rewind_outputs(&self, job: &JobSettings, m: &Manifest) -> Result<(), AppError> {
        for (name, len) in &m.voltage_files {
            cut_file_back(&job.out.join(name), *len, "voltage file")?;
        }
        Ok(())
    }

    fn outputs(
        &self,
        job: &JobSettings,
        schedule: &Schedule,
        engine: &mut RateEngine,
        comm: &dyn Communicator,
    ) -> Result<VoltageOutputs, AppError> {
        let recorded = self.model.recorded();
        let steps = schedule.end - schedule.presim;
        let write = comm.rank() == 0;
        // A resumed run past the warm-up carries on where the checkpoint's files end.
        let carry_on = job.resume.as_ref().filter(|m| m.step > schedule.presim);
        let files = match carry_on {
            Some(m) => VoltageFiles::reopen(&recorded, steps, &job.out, write, &m.voltage_files)?,
            None => VoltageFiles::create(&recorded, steps, &job.out, write)?,
        };
        let mut outputs = VoltageOutputs { files, gids: recorded.gids, recording: false };
        if !schedule.in_warm_up(engine.step()) {
            engine.record(&outputs.gids);
            outputs.recording = true;
        }
        Ok(outputs)
    }

    fn advance(
        &self,
        engine: &mut RateEngine,
        n_steps: Step,
        outputs: &mut VoltageOutputs,
        schedule: &Schedule,
        comm: &mut dyn Communicator,
        control: RunControl<'_>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<bool, SimError> {
        let warm_up = schedule.in_warm_up(engine.step());
        if !warm_up && !outputs.recording {
            engine.record(&outputs.gids);
            outputs.recording = true;
        }
        let stimulus = self.model.drive(engine.dt_s());
        // The warm-up holds the stimulus' first frame; the analysed period plays it from its start.
        let drive = PhasedDrive { inner: stimulus.as_ref(), offset: schedule.presim, hold_first: warm_up };
        let observer: &mut dyn ValueObserver = if warm_up { &mut Discard } else { &mut outputs.files };
        engine.advance(n_steps, RateIo { drive: &drive, observer }, comm, control, progress)
    }

    fn report(
        &self,
        job: &JobSettings,
        schedule: &Schedule,
        engine: &RateEngine,
        stats: &RateStats,
        _: &mut VoltageOutputs,
        comm: &mut dyn Communicator,
        wall_s: WallTimes,
    ) -> Result<(), AppError> {
        let mine = RankShare {
            rank: comm.rank(),
            neurons: stats.local_neurons,
            synapses: stats.local_synapses,
            ghosts: stats.ghosts,
            values_sent_per_step: stats.values_sent_per_step,
            bytes_sent: engine.bytes_sent(),
        };
        let per_rank: Vec<RankShare> = gather_json(comm, &mine)?;
        if comm.rank() != 0 {
            return Ok(());
        }
        let steps = schedule.end - schedule.presim;
        // A resumed segment's wall time covers only what it simulated.
        let simulated = schedule.end - job.resume.as_ref().map_or(0, |m| m.step).max(schedule.presim);
        let summary = GradedSummary {
            model: self.model.kind().name(),
            model_file: &job.model_file,
            neurons: stats.neurons,
            synapses: stats.synapses,
            ranks: comm.size(),
            threads_per_rank: job.threads,
            balancer: job.balancer.to_string(),
            dt_ms: self.simulation().dt_ms,
            presim_steps: schedule.presim,
            steps,
            stimulus: self.model.stimulus_spec(),
            input_files: self.model.input_files().iter().map(|p| p.display().to_string()).collect(),
            steps_per_second: if wall_s.simulate > 0.0 { simulated as f64 / wall_s.simulate } else { 0.0 },
            wall_s,
            per_rank,
        };
        let path = job.out.join("summary.json");
        let text = serde_json::to_string_pretty(&summary).map_err(AppError::run)?;
        std::fs::write(&path, text + "\n").map_err(|e| AppError::output(format!("writing {}", path.display()), e))?;
        println!(
            "{}: {} neurons, {} synapses, {} steps of {} ms in {:.3} s ({:.0} steps/s) on {} rank(s) x {} thread(s)",
            summary.model,
            summary.neurons,
            summary.synapses,
            steps,
            summary.dt_ms,
            summary.wall_s.simulate,
            summary.steps_per_second,
            summary.ranks,
            summary.threads_per_rank
        );
        Ok(())
    }
}
