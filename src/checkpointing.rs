//! Checkpoints from the job's side: writing one collectively (each rank its shard, rank 0 the manifest)
//! and restoring a run from one (on any number of ranks), for any engine.

use std::path::{Path, PathBuf};

use cajal_checkpoint::manifest::{checkpoint_name, checksum, write_shard};
use cajal_checkpoint::{
    CheckpointError, CheckpointStore, Manifest, RunState, ShardEntry, StoreOptions, FORMAT_VERSION,
};
use cajal_comm::{Communicator, ReduceOp};
use cajal_models::SimulationSettings;
use cajal_sim::RankEngine;

use crate::error::AppError;
use crate::gather::gather_json;
use crate::outputs::RunOutputs;

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
    pub storage_config: Option<PathBuf>,
}

/// Store options from the part size and an optional storage configuration file.
pub fn store_options(part_size: usize, config: Option<&Path>) -> Result<StoreOptions, CheckpointError> {
    let options = StoreOptions { part_size, ..StoreOptions::default() };
    match config {
        Some(path) => options.with_s3_config_file(path),
        None => Ok(options),
    }
}

impl CheckpointPlan {
    pub fn open(&self) -> Result<CheckpointStore, CheckpointError> {
        CheckpointStore::open(&self.url, store_options(self.part_size, self.storage_config.as_deref())?)
    }
}

/// What a checkpoint records about the run besides the state (from the job, not the job itself).
pub struct RunIdentity<'a> {
    pub kind: &'a str,
    /// The model as TOML with every override applied.
    pub model_text: &'a str,
    /// The model file (absolute) whose directory relative paths in the model start from.
    pub model_path: &'a Path,
    pub input_files: &'a [PathBuf],
    pub simulation: &'a SimulationSettings,
    pub out: &'a Path,
    pub record_spikes: bool,
    /// This segment's number (0 for a fresh run, one more per resume).
    pub segment: u32,
    /// Threads of this rank (to compress with).
    pub threads: usize,
}

/// A rank's (spike files, voltage files), each with its length, as gathered for the manifest.
type OutputFiles = (Vec<(String, u64)>, Vec<(String, u64)>);

/// Writes a checkpoint of the current step. Collective: every rank writes its shard, rank 0 commits the
/// manifest (then `latest`, then retention) once all shards are written.
pub fn write_checkpoint<E: RankEngine, O: RunOutputs>(
    run: &RunIdentity<'_>,
    plan: &CheckpointPlan,
    store: &CheckpointStore,
    engine: &mut E,
    outputs: &mut O,
    comm: &mut dyn Communicator,
) -> Result<(), AppError> {
    let started = std::time::Instant::now();
    let name = checkpoint_name(engine.step());
    outputs.close_parts(engine.step())?;
    let positions = outputs.positions()?;
    let state = engine.export_state(comm)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "state exported");
    let entry = write_shard(store, &name, comm.rank(), &state, plan.zstd_level, run.threads as u32)?;
    let written = started.elapsed().as_secs_f64();
    let files: OutputFiles = (positions.spike_files, positions.voltage_files);
    let entries: Vec<(ShardEntry, OutputFiles)> = gather_json(comm, &(entry, files))?;
    let write_seconds = comm.all_reduce_f64(&[written], ReduceOp::Max)?[0];
    commit_delay_for_tests();
    let counts = comm.all_reduce_u64(&positions.analysed_counts, ReduceOp::Sum)?;
    let totals = comm.all_reduce_u64(&[positions.digest.0, positions.digest.1], ReduceOp::Sum)?;
    if comm.rank() == 0 {
        let sim = run.simulation;
        let (shards, files): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
        let (spike_files, voltage_files): (Vec<_>, Vec<_>) = files.into_iter().unzip();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            cajal_version: env!("CARGO_PKG_VERSION").to_owned(),
            name: name.clone(),
            step: engine.step(),
            ranks: comm.size(),
            model_kind: run.kind.to_owned(),
            model_hash: checksum(run.model_text.as_bytes()),
            model_text: run.model_text.to_owned(),
            model_file: run.model_path.display().to_string(),
            input_files: Manifest::input_checksums(run.input_files)?,
            seed: sim.seed,
            dt_ms: sim.dt_ms,
            t_presim_ms: sim.t_presim_ms,
            t_sim_ms: sim.t_sim_ms,
            digest_sum: totals[0],
            spike_count: totals[1],
            analysed_counts: counts,
            spike_files: spike_files.into_iter().flatten().collect(),
            voltage_files: voltage_files.into_iter().flatten().collect(),
            segment: run.segment,
            out_dir: run.out.display().to_string(),
            record_spikes: run.record_spikes,
            checkpoint_every_ms: plan.every_ms,
            keep: plan.keep,
            zstd_level: plan.zstd_level,
            write_seconds,
            shards,
        };
        manifest.commit(store)?;
        let bytes: u64 = manifest.shards.iter().map(|s| s.bytes).sum();
        tracing::info!(checkpoint = %name, bytes, seconds = started.elapsed().as_secs_f64(), "checkpoint written");
    }
    comm.barrier()?;
    Ok(())
}

/// Marks a fresh run's checkpoint location as not complete (it may hold an earlier run's marker).
pub fn mark_incomplete(store: &CheckpointStore) -> Result<(), AppError> {
    Ok(cajal_checkpoint::mark_incomplete(store)?)
}

/// Fault injection for the tests: `CAJAL_CHECKPOINT_COMMIT_DELAY_MS` holds every checkpoint between its
/// last shard and its manifest, so a test can kill the process exactly there.
fn commit_delay_for_tests() {
    if let Some(ms) = std::env::var("CAJAL_CHECKPOINT_COMMIT_DELAY_MS").ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Restores `engine` from checkpoint `m`: every rank reads the shards that hold any of its neurons
/// (checked against the manifest) and keeps its own. Collective (the engine finishes the restore).
pub fn restore_state<E: RankEngine>(
    engine: &mut E,
    m: &Manifest,
    store: &CheckpointStore,
    comm: &mut dyn Communicator,
) -> Result<(), AppError> {
    let mine = engine.neurons().clone();
    let mut taken = 0;
    for (i, entry) in m.shards.iter().enumerate() {
        let needed = entry.neurons.iter().any(|set| set.iter().any(|g| mine.index_of(g).is_some()));
        if !needed {
            continue;
        }
        let shard = m.read_shard(store, i)?;
        taken += engine.import_state(m.step, &shard)?;
    }
    if taken != u64::from(mine.len()) {
        return Err(AppError::bad(format!(
            "checkpoint {} holds {taken} of this rank's {} neurons: it does not belong to this network",
            m.name,
            mine.len()
        )));
    }
    engine.finish_restore(comm)?;
    Ok(())
}

/// Cuts an output file of an earlier segment back to its length at the checkpoint. A file shorter than
/// recorded is not this run's and is refused; a missing one is only warned about (the user may have moved
/// it). Rank 0 only, before any rank writes.
pub fn cut_file_back(path: &Path, len: u64, what: &str) -> Result<(), AppError> {
    let Ok(meta) = std::fs::metadata(path) else {
        tracing::warn!(file = %path.display(), "{what} of an earlier segment not found in the output directory");
        return Ok(());
    };
    if meta.len() < len {
        return Err(AppError::bad(format!(
            "{what} {} has {} bytes but had {len} at the checkpoint: it is not this run's (use another --out)",
            path.display(),
            meta.len()
        )));
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| AppError::output(format!("opening {}", path.display()), e))?;
    f.set_len(len).map_err(|e| AppError::output(format!("cutting {} back to the checkpoint", path.display()), e))
}

/// What a checkpoint root holds: none, a resumable run or a complete one (with the latest manifest).
pub fn location_state(url: &str, storage_config: Option<&std::path::Path>) -> Result<RunState, AppError> {
    if missing_local_root(url) {
        return Ok(RunState::None);
    }
    let mut options = store_options(StoreOptions::default().part_size, storage_config)?;
    options.create = false;
    let store = CheckpointStore::open(url, options)?;
    Ok(RunState::of(&store)?)
}

/// Whether `url` names a local directory that does not exist (no run has checkpointed there yet).
fn missing_local_root(url: &str) -> bool {
    let local = match url.strip_prefix("file://") {
        Some(path) => path,
        None if !url.contains("://") => url,
        None => return false,
    };
    !std::path::Path::new(local).exists()
}
