//! `cajal resume URL`: continues the run of the newest checkpoint at URL to its planned end, on any
//! number of ranks and threads, for every kind of model.

use std::path::PathBuf;
use std::time::Instant;

use cajal_checkpoint::{CheckpointStore, Manifest, RunState};
use cajal_models::{build_any, AnyModel, ModelDocument};

use crate::checkpointing::{store_options, CheckpointPlan};
use crate::cli::ResumeArgs;
use crate::error::AppError;
use crate::job::{Ending, JobSettings};
use crate::launch::{launch, Layout};
use crate::logging::LogConfig;
use crate::run_options::{absolute, prepare_output, run_job, split_run_document};
use crate::schedule::Schedule;

/// `cajal resume URL`: continue the run of the newest checkpoint at URL to its planned end.
pub fn resume(args: &ResumeArgs, log: &LogConfig) -> Result<Ending, AppError> {
    let layout = Layout { threads: args.threads, ranks: args.ranks, stop_on_signals: true, log: log.clone() };
    launch(layout, &|comm, threads, stop| {
        let started = Instant::now();
        let mut options =
            store_options((args.storage.part_size_mib as usize) << 20, args.storage.storage_config.as_deref())?;
        options.create = false;
        let store = CheckpointStore::open(&args.url, options)?;
        let manifest = match RunState::of(&store)? {
            RunState::Resumable(m) => *m,
            RunState::Complete(_) => {
                return Err(AppError::bad(format!(
                    "the run at {} is complete; start a new run to run it again",
                    args.url
                )))
            }
            // Reading `latest` says what is missing.
            RunState::None => Manifest::latest(&store)?,
        };
        manifest.check_input_files()?;
        let out = absolute(&args.out.clone().unwrap_or_else(|| PathBuf::from(&manifest.out_dir)))?;
        prepare_output(&out, comm.rank())?;
        // Parsed as if it were the original file, so relative paths in it resolve as they did.
        let model_path = PathBuf::from(&manifest.model_file);
        let file_name = model_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let source = model_path.with_file_name(format!("{file_name} (as stored in checkpoint {})", manifest.name));
        let doc = ModelDocument::parse(&source, &manifest.model_text)?;
        let kind = doc.model_kind()?;
        let run = split_run_document(doc, kind)?;
        let model = build_any(&run.doc)?;
        check_against(&model, &manifest, args)?;
        let settings = JobSettings {
            model_text: manifest.model_text.clone(),
            model_file: format!("{} (checkpoint {})", args.url, manifest.name),
            model_path,
            out,
            balancer: args.balancer,
            threads,
            checkpoint: Some(CheckpointPlan {
                url: args.url.clone(),
                every_ms: args.checkpoint_every.or(manifest.checkpoint_every_ms),
                stop_after_ms: args.stop_after,
                keep: manifest.keep,
                zstd_level: manifest.zstd_level,
                part_size: (args.storage.part_size_mib as usize) << 20,
                storage_config: args.storage.storage_config.clone(),
            }),
            sync_timer: args.sync_timer,
            resume: None,
        };
        let record_spikes = manifest.record_spikes;
        let settings = JobSettings { resume: Some(manifest), ..settings };
        run_job(model, run.recording, settings, record_spikes, comm, stop, started)
    })
}

/// Refuses a checkpoint whose model disagrees with its own manifest, a stored period off the grid, and a
/// `--stop-after` that is not after the checkpoint; and `--sync-timer` for a graded model.
fn check_against(model: &AnyModel, m: &Manifest, args: &ResumeArgs) -> Result<(), AppError> {
    let sim = match model {
        AnyModel::Spiking(s) => &s.simulation,
        AnyModel::Graded(g) => {
            if args.sync_timer {
                return Err(AppError::bad(format!(
                    "--sync-timer: checkpoint {} is of a graded ({}) model, which has no spike exchange to time",
                    m.name,
                    g.kind()
                )));
            }
            g.simulation()
        }
    };
    if sim.seed != m.seed || sim.dt_ms != m.dt_ms {
        return Err(AppError::bad(format!("checkpoint {}: its model does not match its own seed or dt", m.name)));
    }
    Schedule::new(sim, m.checkpoint_every_ms, None)
        .map_err(|e| AppError::bad(format!("checkpoint_every_ms of checkpoint {}'s manifest: {e}", m.name)))?;
    let schedule = Schedule::new(sim, args.checkpoint_every, args.stop_after)?;
    if let (Some(ms), Some(step)) = (args.stop_after, schedule.stop_after) {
        if step <= m.step {
            return Err(AppError::bad(format!(
                "--stop-after {ms} is not after the checkpoint's {} ms",
                schedule.res.steps_to_ms(m.step)
            )));
        }
    }
    Ok(())
}
