//! The spiking half of a job (the microcircuit, spatial sheets, imported connectomes): the window engine,
//! spike files per population (CSV, or Parquet parts), state recordings (src/state_files.rs), and the
//! summary with rates, the spike digest and the exchange per rank.

use std::path::{Path, PathBuf};

use cajal_checkpoint::Manifest;
use cajal_comm::{Communicator, ReduceOp};
use cajal_core::PackedSpike;
use cajal_core::Step;
use cajal_models::record_spec::{Recording, SpikeFormat};
use cajal_models::{Model, SimulationSettings};
use cajal_net::Recipe;
use cajal_sim::{
    build_engine_on, partition, ConstructStats, Engine, RankEngine, RunControl, SimError, SpikeObserver, SpikeRecorder,
    StateSamples,
};

use crate::checkpointing::cut_file_back;
use crate::error::AppError;
use crate::job::{JobSettings, ModelRun};
use crate::outputs::{OutputPositions, RunOutputs};
use crate::report::{PopulationRate, RankReport, Summary, WallTimes};
use crate::schedule::Schedule;
use crate::state_files::{self, ResolvedRecord, SpikeParquet, StateFiles};
use crate::weight_files::{plastic_summary, resolve_weight_records, weights_dir, ResolvedWeightRecord, WeightFiles};

/// A spiking model's run.
pub struct SpikingRun {
    pub model: Model,
    /// Write spike files (`--no-spikes` turns them off; counts and the digest are kept anyway).
    pub record_spikes: bool,
    /// State recordings (`[[record]]`, `--record-state`) and the spike files' format.
    pub recording: Recording,
    /// Where each record was asked for (file and key, or the flag and its value), for messages.
    pub record_origins: Vec<String>,
}

/// What a spiking run writes: spike counts, the digest and CSV spike files (the recorder), Parquet spike
/// parts, state recordings.
pub struct SpikingOutputs {
    pub spikes: SpikeRecorder,
    spike_parquet: Option<SpikeParquet>,
    states: StateFiles,
    weights: WeightFiles,
}

impl SpikeObserver for SpikingOutputs {
    fn observe(&mut self, t0: Step, spikes: &[PackedSpike]) -> Result<(), SimError> {
        self.spikes.observe(t0, spikes)?;
        if let Some(p) = &mut self.spike_parquet {
            p.observe(t0, spikes)?;
        }
        Ok(())
    }

    fn observe_states(&mut self, samples: &[StateSamples]) -> Result<(), SimError> {
        self.states.write(samples)
    }
}

impl RunOutputs for SpikingOutputs {
    fn positions(&mut self) -> Result<OutputPositions, AppError> {
        let s = &mut self.spikes;
        Ok(OutputPositions {
            digest: (s.digest.sum, s.digest.count),
            analysed_counts: s.analysed_counts.clone(),
            spike_files: s.file_positions()?,
            voltage_files: Vec::new(),
        })
    }

    fn finish(&mut self) -> Result<(), AppError> {
        Ok(self.spikes.finish()?)
    }

    fn close_parts(&mut self, at: Step) -> Result<(), AppError> {
        if let Some(p) = &mut self.spike_parquet {
            p.close(at)?;
        }
        self.weights.close(at)?;
        Ok(self.states.close(at)?)
    }
}

impl ModelRun for SpikingRun {
    type Engine = Engine;
    type Built = ConstructStats;
    type Outputs = SpikingOutputs;

    fn kind(&self) -> &str {
        self.model.kind.name()
    }

    fn simulation(&self) -> &SimulationSettings {
        &self.model.simulation
    }

    fn input_files(&self) -> &[PathBuf] {
        &self.model.input_files
    }

    fn record_spikes(&self) -> bool {
        self.record_spikes
    }

    fn build(&self, job: &JobSettings, comm: &mut dyn Communicator) -> Result<(Engine, ConstructStats), AppError> {
        // Recordings the model cannot give, or that cannot fit on the disk, are refused before anything is
        // built.
        let records = self.records()?;
        self.weight_records()?;
        let schedule = Schedule::new(&self.model.simulation, None, None)?;
        let from = job.resume.as_ref().map_or(0, |m| m.step).max(schedule.presim);
        state_files::check_space(&records, from, schedule.end, &job.out)?;
        let decomposition = partition(&self.model.network, comm, job.balancer)?;
        let (mut engine, stats) = build_engine_on(&self.model.network, &decomposition, comm, job.threads)?;
        engine.set_sync_timer(job.sync_timer);
        tracing::info!(neurons = stats.neurons, synapses = stats.synapses, "built");
        Ok((engine, stats))
    }

    /// The manifest's counts seed the recorder, which indexes them by population.
    fn check_checkpoint(&self, m: &Manifest) -> Result<(), AppError> {
        let populations = self.model.network.populations().len();
        if m.analysed_counts.len() != populations {
            return Err(AppError::bad(format!(
                "checkpoint {}: {} analysed spike counts for the model's {populations} populations: it does not \
                 belong to this network",
                m.name,
                m.analysed_counts.len()
            )));
        }
        Ok(())
    }

    fn rewind_outputs(&self, job: &JobSettings, m: &Manifest) -> Result<(), AppError> {
        if self.record_spikes {
            rewind_spike_files(m, &job.out)?;
        }
        state_files::rewind_parts(&part_dirs(&job.out), m.step)
    }

    fn clear_outputs(&self, job: &JobSettings) -> Result<(), AppError> {
        state_files::clear_parts(&part_dirs(&job.out))
    }

    fn outputs(
        &self,
        job: &JobSettings,
        schedule: &Schedule,
        engine: &mut Engine,
        comm: &dyn Communicator,
    ) -> Result<SpikingOutputs, AppError> {
        let names: Vec<String> = self.model.network.populations().iter().map(|p| p.name.clone()).collect();
        let mut suffix = if comm.size() > 1 { format!("-rank{}", comm.rank()) } else { String::new() };
        if let Some(m) = &job.resume {
            // Each resumed segment writes files of its own; the earlier ones were cut back to the checkpoint.
            suffix.push_str(&format!("-s{}", m.segment + 1));
        }
        let dir = job.out.join("spikes");
        let csv = self.record_spikes && self.recording.spike_format == SpikeFormat::Csv;
        let mut recorder = SpikeRecorder::new(
            engine.population_first_gids().to_vec(),
            &names,
            &suffix,
            schedule.presim..schedule.end,
            schedule.res,
            csv.then_some(dir.as_path()),
        )?;
        if let (Some(m), 0) = (&job.resume, comm.rank()) {
            // Rank 0 carries the running totals; the others start from zero (reports sum over ranks).
            recorder.digest.sum = m.digest_sum;
            recorder.digest.count = m.spike_count;
            recorder.analysed_counts.clone_from(&m.analysed_counts);
        }
        // File parts start where this segment starts.
        let now = engine.step();
        let parquet = self.record_spikes && self.recording.spike_format == SpikeFormat::Parquet;
        let spike_parquet = parquet.then(|| {
            let first_gids = engine.population_first_gids().to_vec();
            SpikeParquet::new(
                &job.out,
                &names,
                first_gids,
                comm.rank(),
                schedule.presim..schedule.end,
                schedule.res,
                now,
            )
        });
        let records = self.records()?;
        let engine_records: Vec<_> = records.iter().map(|r| r.engine.clone()).collect();
        // Nothing is sampled during the warm-up, as nothing is written to the spike files then.
        engine.record_states(&engine_records, now.max(schedule.presim))?;
        let states = StateFiles::new(&records, &job.out, comm.rank(), schedule.res, now)?;
        let weight_records = self.weight_records()?;
        let weights = WeightFiles::new(weight_records, &job.out, comm.rank(), schedule.res, now, schedule.end);
        Ok(SpikingOutputs { spikes: recorder, spike_parquet, states, weights })
    }

    fn pause_periods(&self, outputs: &SpikingOutputs) -> Vec<Step> {
        outputs.weights.periods()
    }

    fn at_pause(&self, engine: &Engine, outputs: &mut SpikingOutputs, at: Step) -> Result<(), AppError> {
        Ok(outputs.weights.snapshot(engine, at)?)
    }

    fn advance(
        &self,
        engine: &mut Engine,
        n_steps: Step,
        recorder: &mut SpikingOutputs,
        _: &Schedule,
        comm: &mut dyn Communicator,
        control: RunControl<'_>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<bool, SimError> {
        engine.advance(n_steps, recorder, comm, control, progress)
    }

    fn report(
        &self,
        job: &JobSettings,
        _: &Schedule,
        engine: &Engine,
        stats: &ConstructStats,
        outputs: &mut SpikingOutputs,
        comm: &mut dyn Communicator,
        wall: WallTimes,
    ) -> Result<(), AppError> {
        let plasticity = plastic_summary(engine, self.model.network.plastic_classes(), comm)?;
        let recorder = &outputs.spikes;
        let counts = comm.all_reduce_u64(&recorder.analysed_counts, ReduceOp::Sum)?;
        let totals = comm.all_reduce_u64(&[recorder.digest.sum, recorder.digest.count], ReduceOp::Sum)?;
        let ex = engine.exchange_stats();
        let (remote_neurons, remote_entries) = engine.routes().remote_fanout();
        let exchange = comm.all_gather_u64(&[
            ex.bytes_sent,
            ex.seconds.to_bits(),
            wall.simulate.to_bits(),
            remote_neurons,
            remote_entries,
        ])?;
        if comm.rank() != 0 {
            return Ok(());
        }
        let sim = &self.model.simulation;
        let t_sim_s = sim.t_sim_ms / 1000.0;
        let summary = Summary {
            model: self.model.kind.name().to_owned(),
            model_file: job.model_file.clone(),
            seed: sim.seed,
            ranks: comm.size(),
            threads_per_rank: job.threads,
            communicator: comm.backend().to_owned(),
            balancer: job.balancer.to_string(),
            dt_ms: sim.dt_ms,
            t_presim_ms: sim.t_presim_ms,
            t_sim_ms: sim.t_sim_ms,
            window_steps: engine.window(),
            neurons: stats.neurons,
            synapses: stats.synapses,
            bytes_per_synapse: stats.bytes_per_synapse,
            populations: self.population_rates(&counts, t_sim_s),
            spike_count: totals[1],
            spikes_digest: format!("{:016x}", totals[0]),
            steps: engine.step(),
            resumed_from_step: job.resume.as_ref().map(|m| m.step),
            rtf: (t_sim_s > 0.0 && job.resume.is_none()).then(|| wall.simulate / t_sim_s),
            wall_s: wall,
            peak_rss_bytes: cajal_sim::resources::peak_rss_bytes(),
            spikes_dir: self.record_spikes.then(|| job.out.join("spikes").display().to_string()),
            plasticity,
            per_rank: RankReport::from_parts(&stats.per_rank, &exchange, ex.windows),
        };
        summary.write(&job.out.join("summary.json"))?;
        if let Some(p) = &summary.plasticity {
            crate::weight_files::plot_weights(p, &job.out)?;
        }
        summary.print_table();
        Ok(())
    }
}

/// The folders that hold file parts (state recordings, Parquet spikes).
fn part_dirs(out: &Path) -> Vec<PathBuf> {
    vec![state_files::state_dir(out), out.join("spikes"), weights_dir(out)]
}

impl SpikingRun {
    /// The recordings resolved against the model (populations, recordables, the grid).
    fn records(&self) -> Result<Vec<ResolvedRecord>, AppError> {
        let labels = self.recording.labels().map_err(AppError::bad)?;
        let res = cajal_core::Resolution::new(self.model.simulation.dt_ms)?;
        state_files::resolve_records(
            &self.recording.records,
            &labels,
            &self.record_origins,
            self.model.network.populations(),
            &res,
        )
    }

    /// The weight records resolved against the model's plastic projections.
    fn weight_records(&self) -> Result<Vec<ResolvedWeightRecord>, AppError> {
        let res = cajal_core::Resolution::new(self.model.simulation.dt_ms)?;
        resolve_weight_records(&self.recording.weights, self.model.network.plastic_classes(), &res)
    }

    fn population_rates(&self, counts: &[u64], t_sim_s: f64) -> Vec<PopulationRate> {
        self.model
            .network
            .populations()
            .iter()
            .zip(counts)
            .map(|(p, &c)| PopulationRate {
                name: p.name.clone(),
                size: p.size,
                spike_count: c,
                rate_hz: if t_sim_s > 0.0 { c as f64 / (f64::from(p.size) * t_sim_s) } else { 0.0 },
            })
            .collect()
    }
}

/// The segment number in a spike file name (`<pop>[-rank<r>]-s<k>.csv`), 0 for the first segment.
fn segment_of(name: &str) -> u32 {
    name.strip_suffix(".csv").and_then(|n| n.rsplit_once("-s")).and_then(|(_, k)| k.parse().ok()).unwrap_or(0)
}

/// Before a resumed segment writes: removes spike files of segments after the checkpoint (an earlier
/// attempt to resume it), and cuts the files the checkpoint lists back to their length then. Rank 0 only,
/// before any rank writes.
fn rewind_spike_files(m: &Manifest, out: &Path) -> Result<(), AppError> {
    let dir = out.join("spikes");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv") && segment_of(&name) > m.segment {
                std::fs::remove_file(e.path())
                    .map_err(|err| AppError::output(format!("removing {}", e.path().display()), err))?;
            }
        }
    }
    for (name, len) in &m.spike_files {
        cut_file_back(&dir.join(name), *len, "spike file")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::segment_of;

    #[test]
    fn spike_file_names_carry_their_segment() {
        assert_eq!(segment_of("L23E.csv"), 0);
        assert_eq!(segment_of("L23E-rank3.csv"), 0);
        assert_eq!(segment_of("L23E-rank3-s2.csv"), 2);
        assert_eq!(segment_of("L4I-s11.csv"), 11);
    }
}
