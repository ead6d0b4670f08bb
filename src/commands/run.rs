//! `cajal run`: the job described by the command line (or a dry run of one rank), on every rank of this
//! process.

use std::time::Instant;

use cajal_models::build_any;

use crate::checkpointing::CheckpointPlan;
use crate::cli::RunArgs;
use crate::error::AppError;
use crate::job::{Ending, JobSettings};
use crate::launch::{launch, Layout};
use crate::logging::LogConfig;
use crate::run_options::{absolute, load_run, prepare_output, run_job};

/// `cajal run`: the job described by the command line, on every rank of this process.
pub fn run(args: &RunArgs, log: &LogConfig) -> Result<Ending, AppError> {
    let run = load_run(args)?;
    let doc = &run.doc;
    if let Some(size) = args.dry_run {
        let rank = args.dry_rank.unwrap_or(0) as usize;
        crate::logging::init_logging(rank, log);
        let threads = crate::launch::threads_per_rank(args.threads, 1, 1)?;
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        return super::dry_run::run_dry(args, doc, size as usize, rank, threads).map(|()| Ending::Completed);
    }
    let layout = Layout {
        threads: args.threads,
        ranks: args.ranks,
        stop_on_signals: args.checkpoint_to.is_some(),
        log: log.clone(),
    };
    launch(layout, &|comm, threads, stop| {
        let started = Instant::now();
        prepare_output(&args.out, comm.rank())?;
        let settings = JobSettings {
            model_text: run.stored_text()?,
            model_file: args.model.display().to_string(),
            model_path: absolute(&args.model)?,
            out: absolute(&args.out)?,
            balancer: args.balancer,
            threads,
            checkpoint: args.checkpoint_to.as_ref().map(|url| CheckpointPlan {
                url: url.clone(),
                every_ms: args.checkpoint_every,
                stop_after_ms: args.stop_after,
                keep: args.keep as usize,
                zstd_level: args.zstd_level,
                part_size: (args.storage.part_size_mib as usize) << 20,
                storage_config: args.storage.storage_config.clone(),
            }),
            resume: None,
            sync_timer: args.sync_timer,
        };
        run_job(build_any(doc)?, run.recording.clone(), settings, !args.no_spikes, comm, stop, started)
    })
}
