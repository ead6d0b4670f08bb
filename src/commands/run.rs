//! `cajal run`: turns the command line into a job for the model's kind and launches it on every rank;
//! plus the option checks that `resume` and `slurm` share.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cajal_models::{build_any, load_document, AnyModel, ModelDocument, ModelError, Override};

use crate::checkpointing::CheckpointPlan;
use crate::cli::{GradedArgs, RunArgs};
use crate::error::AppError;
use crate::graded_run::GradedModelRun;
use crate::job::{Ending, Job, JobSettings};
use crate::launch::{launch, Layout};
use crate::logging::LogConfig;
use crate::spiking_run::SpikingRun;

/// The overrides from `--set` followed by those of the dedicated flags (which win).
pub fn overrides(args: &RunArgs) -> Result<Vec<Override>, ModelError> {
    let mut list = args.set.iter().map(|s| Override::parse(&args.model, s)).collect::<Result<Vec<_>, _>>()?;
    if let Some(f) = args.scale {
        list.push(Override::new("scaling.N", toml_float(f)));
        // Models that keep in-degrees when they scale (the spatial sheet) have no K.
        if ModelDocument::read(&args.model).map_or(true, |d| d.get("scaling.K").is_some()) {
            list.push(Override::new("scaling.K", toml_float(f)));
        }
    }
    if let Some(t) = args.t_presim {
        list.push(Override::new("simulation.t_presim_ms", toml_float(t)));
    }
    if let Some(t) = args.t_sim {
        list.push(Override::new("simulation.t_sim_ms", toml_float(t)));
    }
    if let Some(s) = args.seed {
        list.push(Override::new("simulation.seed", s));
    }
    if let Some(dt) = args.dt_ms {
        list.push(Override::new("simulation.dt_ms", toml_float(dt)));
    }
    list.extend(graded_overrides(&args.graded).map_err(|e| ModelError::Override {
        file: args.model.clone(),
        arg: e.0,
        reason: e.1,
    })?);
    Ok(list)
}

/// A TOML float literal of `v` (`1e30`, not a 31-digit integer that TOML cannot hold).
fn toml_float(v: f64) -> toml::Value {
    toml::Value::Float(v)
}

/// A TOML string literal of `text`.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Overrides from the graded-model flags; paths become absolute (the model file resolves relative ones
/// against its own directory, a user means the working directory).
fn graded_overrides(g: &GradedArgs) -> Result<Vec<Override>, (String, String)> {
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| (p.display().to_string(), e.to_string()));
    let mut list = Vec::new();
    if let Some(p) = &g.params {
        list.push(Override::new("parameters.file", toml_string(&abs(p)?.display().to_string())));
    }
    if let Some(spec) = &g.stimulus {
        let spec = match spec.strip_prefix("frames:") {
            Some(file) => format!("frames:{}", abs(Path::new(file))?.display()),
            None => spec.clone(),
        };
        list.push(Override::new("stimulus.spec", toml_string(&spec)));
    }
    if let Some(what) = &g.record {
        let scope = what.trim_end_matches("-voltages");
        list.push(Override::new("recording.voltages", toml_string(scope)));
    }
    if !g.record_types.is_empty() {
        let names: Vec<toml::Value> = g.record_types.iter().map(|n| toml::Value::String(n.clone())).collect();
        list.push(Override::new("recording.types", toml::Value::Array(names)));
    }
    if let Some(f) = &g.record_format {
        list.push(Override::new("recording.format", toml_string(f)));
    }
    Ok(list)
}

/// The flags of `args` that a model of `kind` does not take, by name.
fn foreign_flags(args: &RunArgs, kind: &str) -> Vec<&'static str> {
    let g = &args.graded;
    let graded = [
        ("--params", g.params.is_some()),
        ("--stimulus", g.stimulus.is_some()),
        ("--record", g.record.is_some()),
        ("--record-types", !g.record_types.is_empty()),
        ("--record-format", g.record_format.is_some()),
    ];
    let spiking = [
        ("--scale", args.scale.is_some()),
        ("--no-spikes", args.no_spikes),
        ("--dry-run", args.dry_run.is_some()),
        ("--sync-timer", args.sync_timer),
    ];
    let foreign: Vec<(&str, bool)> = match kind {
        "optic_lobe" => spiking.to_vec(),
        "rate_network" => spiking.iter().chain(&graded).copied().collect(),
        _ => graded.to_vec(),
    };
    foreign.iter().filter(|(_, given)| *given).map(|(name, _)| *name).collect()
}

/// Refuses flags the model cannot use, naming them and the model.
pub fn check_flags(args: &RunArgs) -> Result<(), AppError> {
    let kind = ModelDocument::read(&args.model).and_then(|d| d.model_kind()).map_err(AppError::from)?;
    let foreign = foreign_flags(args, &kind);
    if foreign.is_empty() {
        return Ok(());
    }
    let what = match kind.as_str() {
        "optic_lobe" | "rate_network"
            if foreign
                .iter()
                .any(|f| f.starts_with("--params") || f.starts_with("--stimulus") || f.starts_with("--record")) =>
        {
            "the optic lobe only"
        }
        "optic_lobe" | "rate_network" => {
            "spiking models only (graded models have no spikes and no exchange window; dry runs model spike fan-out)"
        }
        _ => "graded-potential models (optic_lobe) only",
    };
    Err(AppError::bad(format!(
        "{} (model {} is a {kind} model): these flags are for {what}",
        foreign.join(", "),
        args.model.display()
    )))
}

/// Creates `dir` and checks that this rank can write a file in it.
pub fn prepare_output(dir: &Path, rank: usize) -> Result<(), AppError> {
    let probe = dir.join(format!(".cajal-write-test-{rank}"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| AppError::InputFile {
            what: format!("output directory {} is not writable", dir.display()),
            source,
        })
}

/// `path` as an absolute path, so that a checkpoint finds its files from any working directory.
pub fn absolute(dir: &Path) -> Result<PathBuf, AppError> {
    std::path::absolute(dir).map_err(|e| AppError::bad(format!("{}: {e}", dir.display())))
}

/// `cajal run`: the job described by the command line, on every rank of this process.
pub fn run(args: &RunArgs, log: &LogConfig) -> Result<Ending, AppError> {
    check_flags(args)?;
    if let Some(size) = args.dry_run {
        let rank = args.dry_rank.unwrap_or(0) as usize;
        crate::logging::init_logging(rank, log);
        let threads = crate::launch::threads_per_rank(args.threads, 1, 1)?;
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        return super::dry_run::run_dry(args, size as usize, rank, threads).map(|()| Ending::Completed);
    }
    let layout = Layout {
        threads: args.threads,
        ranks: args.ranks,
        stop_on_signals: args.checkpoint_to.is_some(),
        log: log.clone(),
    };
    launch(layout, &|comm, threads, stop| {
        let started = Instant::now();
        let overrides = overrides(args)?;
        prepare_output(&args.out, comm.rank())?;
        let doc = load_document(&args.model, &overrides)?;
        let settings = JobSettings {
            model_text: doc.to_toml()?,
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
        run_job(build_any(&doc)?, settings, !args.no_spikes, comm, stop, started)
    })
}

/// Runs `model` as the job its kind needs. Collective.
pub fn run_job(
    model: AnyModel,
    settings: JobSettings,
    record_spikes: bool,
    comm: &mut dyn cajal_comm::Communicator,
    stop: &std::sync::atomic::AtomicBool,
    started: Instant,
) -> Result<Ending, AppError> {
    match model {
        AnyModel::Spiking(m) => {
            Job { model: SpikingRun { model: *m, record_spikes }, settings }.execute(comm, stop, started)
        }
        AnyModel::Graded(m) => Job { model: GradedModelRun { model: m }, settings }.execute(comm, stop, started),
    }
}
