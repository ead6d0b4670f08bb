//! Checkpoints from the binary's side: when to write them, writing one collectively (each rank its shard,
//! rank 0 the manifest), and restoring a run from one (on any number of ranks).

use anyhow::anyhow;

use cajal_checkpoint::manifest::{checkpoint_name, checksum, write_shard};
use cajal_checkpoint::{CheckpointStore, Manifest, ShardEntry, StoreOptions, FORMAT_VERSION};
use cajal_comm::{Communicator, ReduceOp};
use cajal_core::{Resolution, Step};
use cajal_sim::{Engine, SpikeRecorder};

use crate::gather::gather_json;
use crate::job::Job;
use crate::run_command::{bad, run_failure};
use crate::Failure;

/// The object marking a run that reached its planned end.
pub const COMPLETE: &str = "complete";

/// Where and when to checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointPlan {
    pub url: String,
    pub every_ms: Option<f64>,
    pub stop_after_ms: Option<f64>,
    pub keep: usize,
    pub zstd_level: i32,
    pub part_size: usize,
    /// A TOML file whose `[s3]` table overrides the AWS environment variables.
    pub storage_config: Option<std::path::PathBuf>,
}

/// Store options from the part size and an optional storage configuration file.
pub fn store_options(
    part_size: usize,
    config: Option<&std::path::Path>,
) -> Result<StoreOptions, cajal_checkpoint::CheckpointError> {
    let options = StoreOptions { part_size, ..StoreOptions::default() };
    match config {
        Some(path) => options.with_s3_config_file(path),
        None => Ok(options),
    }
}

impl CheckpointPlan {
    pub fn open(&self) -> Result<CheckpointStore, cajal_checkpoint::CheckpointError> {
        CheckpointStore::open(&self.url, store_options(self.part_size, self.storage_config.as_deref())?)
    }

    /// Steps between periodic checkpoints (`run` and `resume` refuse a period off the grid before this).
    pub fn every_steps(&self, res: &Resolution) -> Option<Step> {
        self.every_ms.and_then(|ms| res.duration_steps("--checkpoint-every", ms).ok())
    }

    /// The step at which `--stop-after` stops (checked on the grid like the period).
    pub fn stop_after_step(&self, res: &Resolution) -> Option<Step> {
        self.stop_after_ms.and_then(|ms| res.duration_steps("--stop-after", ms).ok())
    }

    pub fn is_checkpoint_step(&self, res: &Resolution, step: Step) -> bool {
        self.every_steps(res).is_some_and(|e| e > 0 && step % e == 0)
    }
}

/// Writes a checkpoint of the current step. Collective: every rank writes its shard, rank 0 commits the
/// manifest (then `latest`, then retention) once all shards are written.
pub fn write_checkpoint(
    job: &Job,
    plan: &CheckpointPlan,
    store: &CheckpointStore,
    engine: &mut Engine,
    recorder: &mut SpikeRecorder,
    comm: &mut dyn Communicator,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let name = checkpoint_name(engine.step());
    let files = recorder.file_positions().map_err(run_failure)?;
    let state = engine.export_state(comm).map_err(run_failure)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "state exported");
    let entry =
        write_shard(store, &name, comm.rank(), &state, plan.zstd_level, job.threads as u32).map_err(run_failure)?;
    let written = started.elapsed().as_secs_f64();
    let entries: Vec<(ShardEntry, Vec<(String, u64)>)> = gather_json(comm, &(entry, files))?;
    let write_seconds = comm.all_reduce_f64(&[written], ReduceOp::Max).map_err(run_failure)?[0];
    commit_delay_for_tests();
    let counts = comm.all_reduce_u64(&recorder.analysed_counts, ReduceOp::Sum).map_err(run_failure)?;
    let totals =
        comm.all_reduce_u64(&[recorder.digest.sum, recorder.digest.count], ReduceOp::Sum).map_err(run_failure)?;
    if comm.rank() == 0 {
        let sim = &job.model.simulation;
        let (shards, files): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            cajal_version: env!("CARGO_PKG_VERSION").to_owned(),
            name: name.clone(),
            step: engine.step(),
            ranks: comm.size(),
            model_kind: job.model.kind.clone(),
            model_hash: checksum(job.model_text.as_bytes()),
            model_text: job.model_text.clone(),
            input_files: Manifest::input_checksums(&job.model.input_files).map_err(run_failure)?,
            seed: sim.seed,
            dt_ms: sim.dt_ms,
            t_presim_ms: sim.t_presim_ms,
            t_sim_ms: sim.t_sim_ms,
            digest_sum: totals[0],
            spike_count: totals[1],
            analysed_counts: counts,
            spike_files: files.into_iter().flatten().collect(),
            segment: job.resume.as_ref().map_or(0, |m| m.segment + 1),
            out_dir: job.out.display().to_string(),
            record_spikes: job.record_spikes,
            checkpoint_every_ms: plan.every_ms,
            keep: plan.keep,
            zstd_level: plan.zstd_level,
            write_seconds,
            shards,
        };
        manifest.commit(store).map_err(run_failure)?;
        let bytes: u64 = manifest.shards.iter().map(|s| s.bytes).sum();
        tracing::info!(checkpoint = %name, bytes, seconds = started.elapsed().as_secs_f64(), "checkpoint written");
    }
    comm.barrier().map_err(run_failure)?;
    Ok(())
}

/// Fault injection for the tests: `CAJAL_CHECKPOINT_COMMIT_DELAY_MS` holds every checkpoint between its
/// last shard and its manifest, so a test can kill the process exactly there.
fn commit_delay_for_tests() {
    if let Some(ms) = std::env::var("CAJAL_CHECKPOINT_COMMIT_DELAY_MS").ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Restores `engine` from checkpoint `m`: every rank reads the shards that hold any of its neurons
/// (checked against the manifest) and keeps its own.
pub fn restore_state(engine: &mut Engine, m: &Manifest, store: &CheckpointStore) -> Result<(), Failure> {
    let mine = engine.routes().neurons().clone();
    let mut taken = 0;
    for (i, entry) in m.shards.iter().enumerate() {
        let needed = entry.neurons.iter().any(|set| (0..set.count).any(|k| mine.index_of(set.gid(k)).is_some()));
        if !needed {
            continue;
        }
        let shard = m.read_shard(store, i).map_err(bad)?;
        taken += engine.import_state(m.step, &shard).map_err(bad)?;
    }
    if taken != engine.neuron_count() {
        return Err(bad(anyhow!(
            "checkpoint {} holds {taken} of this rank's {} neurons: it does not belong to this network",
            m.name,
            engine.neuron_count()
        )));
    }
    Ok(())
}

/// Gives rank 0's recorder the running totals of checkpoint `m` (the other ranks start from zero; the
/// reports sum over ranks).
pub fn restore_totals(recorder: &mut SpikeRecorder, m: &Manifest, rank: usize) {
    if rank == 0 {
        recorder.digest.sum = m.digest_sum;
        recorder.digest.count = m.spike_count;
        recorder.analysed_counts.clone_from(&m.analysed_counts);
    }
}

/// The segment number in a spike file name (`<pop>[-rank<r>]-s<k>.csv`), 0 for the first segment.
fn segment_of(name: &str) -> u32 {
    name.strip_suffix(".csv").and_then(|n| n.rsplit_once("-s")).and_then(|(_, k)| k.parse().ok()).unwrap_or(0)
}

/// Before a resumed segment writes: removes spike files of segments after the checkpoint (an earlier
/// attempt to resume it), and cuts the files the checkpoint lists back to their length then. A file
/// shorter than recorded is not this run's and is refused. Rank 0 only, before any rank writes.
pub fn prepare_spike_files(m: &Manifest, out: &std::path::Path) -> Result<(), Failure> {
    let dir = out.join("spikes");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv") && segment_of(&name) > m.segment {
                std::fs::remove_file(e.path())
                    .map_err(|err| Failure::Run(anyhow!("removing {}: {err}", e.path().display())))?;
            }
        }
    }
    for (name, len) in &m.spike_files {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            tracing::warn!(file = %path.display(), "spike file of an earlier segment not found in the output directory");
            continue;
        };
        if meta.len() < *len {
            return Err(bad(anyhow!(
                "spike file {} has {} bytes but had {len} at the checkpoint: it is not this run's (use another --out)",
                path.display(),
                meta.len()
            )));
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Failure::Run(anyhow!("opening {}: {e}", path.display())))?;
        f.set_len(*len).map_err(|e| Failure::Run(anyhow!("cutting {} back to the checkpoint: {e}", path.display())))?;
    }
    Ok(())
}
