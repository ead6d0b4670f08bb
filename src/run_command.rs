//! `cajal run` and `cajal resume`: turn the command line (or a checkpoint) into a [`Job`] and launch it on
//! every rank; plus the input checks they share.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context};

use cajal_checkpoint::{CheckpointStore, Manifest};
use cajal_models::{build_any, build_model, load_document, AnyModel, ModelDocument, ModelError, Override};
use cajal_sim::SimError;

use crate::checkpointing::{store_options, CheckpointPlan, COMPLETE};
use crate::graded_job::GradedJob;
use crate::job::{Ending, Job};
use crate::launch::{launch, Layout};
use crate::logging::LogConfig;
use crate::{Failure, GradedArgs, ResumeArgs, RunArgs};

pub fn bad(e: impl Into<anyhow::Error>) -> Failure {
    Failure::BadInput(e.into())
}

/// Errors of the model (its keys or the network they describe) are bad input; the rest are run failures.
pub fn classify(e: SimError) -> Failure {
    match e {
        SimError::Net(_) | SimError::Core(_) | SimError::OutOfMemory { .. } => Failure::BadInput(e.into()),
        other => Failure::Run(other.into()),
    }
}

pub fn run_failure(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Run(e.into())
}

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
        ("--checkpoint-to", args.checkpoint_to.is_some()),
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
pub fn check_flags(args: &RunArgs) -> Result<(), Failure> {
    let kind = ModelDocument::read(&args.model).and_then(|d| d.model_kind()).map_err(bad)?;
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
            "spiking models only (graded models have no spikes, and their checkpoints are not implemented yet)"
        }
        _ => "graded-potential models (optic_lobe) only",
    };
    Err(bad(anyhow!(
        "{} (model {} is a {kind} model): these flags are for {what}",
        foreign.join(", "),
        args.model.display()
    )))
}

/// Creates `dir` and checks that this rank can write a file in it.
pub fn prepare_output(dir: &Path, rank: usize) -> anyhow::Result<()> {
    let probe = dir.join(format!(".cajal-write-test-{rank}"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("output directory {} is not writable", dir.display()))
}

/// A checkpoint time in ms as whole steps (it must lie on the grid and fit the step counter).
fn on_grid(res: &cajal_core::Resolution, flag: &str, ms: Option<f64>) -> Result<Option<cajal_core::Step>, Failure> {
    ms.map(|ms| res.duration_steps(flag, ms).map_err(bad)).transpose()
}

/// `dir` as an absolute path, so that a checkpoint finds its outputs from any working directory.
fn absolute(dir: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(dir).map_err(|e| bad(anyhow!("output directory {}: {e}", dir.display())))
}

/// `cajal run`: the job described by the command line, on every rank of this process.
pub fn run(args: &RunArgs, log: &LogConfig) -> Result<Ending, Failure> {
    check_flags(args)?;
    if let Some(size) = args.dry_run {
        let rank = args.dry_rank.unwrap_or(0) as usize;
        crate::logging::init_logging(rank, log);
        let threads = crate::launch::threads_per_rank(args.threads, 1, 1)?;
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        return crate::dry_run::run_dry(args, size as usize, rank, threads).map(|()| Ending::Completed);
    }
    let layout = Layout {
        threads: args.threads,
        ranks: args.ranks,
        stop_on_signals: args.checkpoint_to.is_some(),
        log: log.clone(),
    };
    launch(layout, &|comm, threads, stop| {
        let started = Instant::now();
        let overrides = overrides(args).map_err(bad)?;
        prepare_output(&args.out, comm.rank()).map_err(bad)?;
        let doc = load_document(&args.model, &overrides).map_err(bad)?;
        let model = match build_any(&doc).map_err(bad)? {
            AnyModel::Spiking(m) => *m,
            AnyModel::Graded(m) => {
                let job = GradedJob {
                    model: m,
                    model_file: args.model.display().to_string(),
                    out: absolute(&args.out)?,
                    balancer: args.balancer,
                    threads,
                };
                return job.execute(comm, started);
            }
        };
        let res = cajal_core::Resolution::new(model.simulation.dt_ms).map_err(bad)?;
        on_grid(&res, "--checkpoint-every", args.checkpoint_every)?;
        on_grid(&res, "--stop-after", args.stop_after)?;
        let job = Job {
            model_text: doc.to_toml().map_err(bad)?,
            model,
            model_file: args.model.display().to_string(),
            out: absolute(&args.out)?,
            record_spikes: !args.no_spikes,
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
        job.execute(comm, stop, started)
    })
}

/// `cajal resume URL`: continue the run of the newest checkpoint at URL to its planned end.
pub fn resume(args: &ResumeArgs, log: &LogConfig) -> Result<Ending, Failure> {
    let layout = Layout { threads: args.threads, ranks: args.ranks, stop_on_signals: true, log: log.clone() };
    launch(layout, &|comm, threads, stop| {
        let started = Instant::now();
        let mut options =
            store_options((args.storage.part_size_mib as usize) << 20, args.storage.storage_config.as_deref())
                .map_err(bad)?;
        options.create = false;
        let store = CheckpointStore::open(&args.url, options).map_err(bad)?;
        let manifest = Manifest::latest(&store).map_err(bad)?;
        manifest.check_input_files().map_err(bad)?;
        let out = absolute(&args.out.clone().unwrap_or_else(|| PathBuf::from(&manifest.out_dir)))?;
        prepare_output(&out, comm.rank()).map_err(bad)?;
        let source = PathBuf::from(format!("{} (checkpoint {})", args.url, manifest.name));
        let doc = ModelDocument::parse(&source, &manifest.model_text).map_err(bad)?;
        let model = build_model(&doc).map_err(bad)?;
        if model.simulation.seed != manifest.seed || model.simulation.dt_ms != manifest.dt_ms {
            return Err(bad(anyhow!("checkpoint {}: its model does not match its own seed or dt", manifest.name)));
        }
        let res = cajal_core::Resolution::new(model.simulation.dt_ms).map_err(bad)?;
        on_grid(&res, "--checkpoint-every", args.checkpoint_every)?;
        on_grid(&res, "checkpoint_every_ms of the checkpoint's manifest", manifest.checkpoint_every_ms)?;
        let stop_step = on_grid(&res, "--stop-after", args.stop_after)?;
        if store.get(COMPLETE).map_err(bad)?.is_some() {
            return Err(bad(anyhow!("the run at {} is complete; start a new run to run it again", args.url)));
        }
        if let (Some(stop), Some(step)) = (args.stop_after, stop_step) {
            if step <= manifest.step {
                return Err(bad(anyhow!(
                    "--stop-after {stop} is not after the checkpoint's {} ms",
                    manifest.step as f64 * res.dt_ms()
                )));
            }
        }
        let job = Job {
            model_text: manifest.model_text.clone(),
            model,
            model_file: source.display().to_string(),
            out,
            record_spikes: manifest.record_spikes,
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
            resume: Some(manifest),
            sync_timer: args.sync_timer,
        };
        job.execute(comm, stop, started)
    })
}
