//! One rank's run of a graded-potential or rate model (the optic lobe, rate networks): build the rate engine, warm up under the
//! stimulus' first frame, then simulate with the stimulus from its start while rank 0 writes the recorded
//! voltages; then `summary.json` and `perf.json`.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use tracing::info;

use cajal_comm::Communicator;
use cajal_core::{Resolution, Step};
use cajal_metrics::RunFacts;
use cajal_models::graded::GradedRun;
use cajal_net::{Balancer, PhasedDrive};
use cajal_sim::{build_rate_engine, RateStats, RunControl, SimError, ValueObserver};

use crate::gather::gather_json;
use crate::job::Ending;
use crate::run_command::{bad, classify, run_failure};
use crate::voltage_files::VoltageFiles;
use crate::Failure;

/// A planned run of a graded model on every rank.
pub struct GradedJob {
    pub model: Box<dyn GradedRun>,
    pub model_file: String,
    pub out: PathBuf,
    pub balancer: Balancer,
    pub threads: usize,
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
    wall_s: crate::report::WallTimes,
    steps_per_second: f64,
    per_rank: Vec<RankShare>,
}

impl GradedJob {
    /// Runs this rank's part. Collective.
    pub fn execute(&self, comm: &mut dyn Communicator, construct_started: Instant) -> Result<Ending, Failure> {
        let sim = self.model.simulation();
        let res = Resolution::new(sim.dt_ms).map_err(bad)?;
        let presim = res.duration_steps("t_presim_ms", sim.t_presim_ms).map_err(bad)?;
        let steps = res.duration_steps("t_sim_ms", sim.t_sim_ms).map_err(bad)?;
        let dt_s = sim.dt_ms / 1000.0;
        let (mut engine, stats) =
            build_rate_engine(self.model.recipe(), comm, self.threads, self.balancer, dt_s).map_err(classify)?;
        let construct = construct_started.elapsed().as_secs_f64();
        info!(neurons = stats.neurons, synapses = stats.synapses, seconds = construct, "constructed");
        let drive = self.model.drive(dt_s);
        let started = Instant::now();
        let warm_up = PhasedDrive { inner: drive.as_ref(), offset: 0, hold_first: true };
        engine.run(presim, &warm_up, comm, &mut Discard, RunControl::default()).map_err(classify)?;
        let presim_s = started.elapsed().as_secs_f64();
        engine.reset_metrics();
        let recorded = self.model.recorded();
        engine.record(&recorded.gids);
        let mut files = VoltageFiles::create(&recorded, steps, &self.out, comm.rank() == 0).map_err(run_failure)?;
        let started = Instant::now();
        let phase = PhasedDrive { inner: drive.as_ref(), offset: presim, hold_first: false };
        engine.run(steps, &phase, comm, &mut files, RunControl::default()).map_err(classify)?;
        let simulate = started.elapsed().as_secs_f64();
        files.finish().map_err(run_failure)?;
        let facts = RunFacts {
            ranks: comm.size(),
            threads_per_rank: self.threads,
            model_time_s: steps as f64 * dt_s,
            simulate_wall_s: simulate,
            sync_timer: false,
        };
        let activity = (0, stats.local_synapses * steps);
        crate::perf::write_timers_report(engine.timers(), activity, comm, facts, &self.out)?;
        let times = crate::report::WallTimes { construct, presim: presim_s, simulate };
        self.summarise(&stats, engine.bytes_sent(), steps, presim, times, comm)?;
        Ok(Ending::Completed)
    }

    fn summarise(
        &self,
        stats: &RateStats,
        bytes_sent: u64,
        steps: Step,
        presim: Step,
        wall_s: crate::report::WallTimes,
        comm: &mut dyn Communicator,
    ) -> Result<(), Failure> {
        let mine = RankShare {
            rank: comm.rank(),
            neurons: stats.local_neurons,
            synapses: stats.local_synapses,
            ghosts: stats.ghosts,
            values_sent_per_step: stats.values_sent_per_step,
            bytes_sent,
        };
        let per_rank: Vec<RankShare> = gather_json(comm, &mine)?;
        if comm.rank() != 0 {
            return Ok(());
        }
        let summary = GradedSummary {
            model: self.model.kind(),
            model_file: &self.model_file,
            neurons: stats.neurons,
            synapses: stats.synapses,
            ranks: comm.size(),
            threads_per_rank: self.threads,
            balancer: self.balancer.to_string(),
            dt_ms: self.model.simulation().dt_ms,
            presim_steps: presim,
            steps,
            stimulus: self.model.stimulus_spec(),
            input_files: self.model.input_files().iter().map(|p| p.display().to_string()).collect(),
            steps_per_second: if wall_s.simulate > 0.0 { steps as f64 / wall_s.simulate } else { 0.0 },
            wall_s,
            per_rank,
        };
        let path = self.out.join("summary.json");
        let text = serde_json::to_string_pretty(&summary).map_err(run_failure)?;
        std::fs::write(&path, text + "\n")
            .map_err(|e| run_failure(anyhow::anyhow!("writing {}: {e}", path.display())))?;
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
