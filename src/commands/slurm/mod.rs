//! `cajal slurm script|submit MODEL.toml --cluster CLUSTER.toml [run options]`: an sbatch script for a run
//! with checkpoints and preemption handling, printed or submitted.

pub mod cluster_config;
pub mod sbatch_script;

use std::path::{Path, PathBuf};

use clap::Parser;

use crate::cli::{Cli, Command, ScriptArgs, SlurmAction, SlurmArgs};
use crate::error::AppError;
use cluster_config::ClusterConfig;
use sbatch_script::{render, ScriptPlan};

/// Flags the cluster config decides.
const MANAGED: [&str; 6] = ["--checkpoint-to", "--checkpoint-every", "--keep", "--threads", "--ranks", "--dry-run"];

fn absolute(p: &Path) -> Result<PathBuf, AppError> {
    std::path::absolute(p).map_err(|e| AppError::bad(format!("{}: {e}", p.display())))
}

/// The job's command line, checked as `cajal run` would check it.
struct CheckedRun {
    /// Arguments after `run`: the model (absolute) and the run options, storage paths made absolute.
    run_args: Vec<String>,
    resume_args: Vec<String>,
    state_args: Vec<String>,
    out: PathBuf,
}

/// Options that `resume` and `checkpoints state` need as well (with a value, except the switches).
const SHARED_WITH_RESUME: [&str; 4] = ["--storage-config", "--part-size-mib", "--balancer", "--sync-timer"];

/// The run options with `--storage-config` made absolute (the job runs in its own working directory).
fn absolute_storage_paths(options: &[String]) -> Result<Vec<String>, AppError> {
    let mut out = Vec::with_capacity(options.len());
    let mut next_is_path = false;
    for o in options {
        if next_is_path {
            out.push(absolute(Path::new(o))?.display().to_string());
            next_is_path = false;
        } else if let Some(p) = o.strip_prefix("--storage-config=") {
            out.push(format!("--storage-config={}", absolute(Path::new(p))?.display()));
        } else {
            next_is_path = o == "--storage-config";
            out.push(o.clone());
        }
    }
    Ok(out)
}

/// The options among `options` that also go to `resume` (and, for storage, to `checkpoints state`).
fn shared_options(options: &[String], names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut take_next = false;
    for o in options {
        let name = o.split('=').next().unwrap_or_default();
        if take_next {
            out.push(o.clone());
            take_next = false;
        } else if names.contains(&name) {
            out.push(o.clone());
            take_next = !o.contains('=') && name != "--sync-timer";
        }
    }
    out
}

fn checked_run(args: &ScriptArgs, config: &ClusterConfig, workdir: &Path) -> Result<CheckedRun, AppError> {
    if let Some(flag) = args.run_options.iter().find(|o| MANAGED.iter().any(|m| o.split('=').next() == Some(m))) {
        return Err(AppError::bad(format!(
            "{flag}: the cluster config ({}) decides checkpoints, ranks and threads",
            config.file.display()
        )));
    }
    let options = absolute_storage_paths(&args.run_options)?;
    let mut run_args = vec![absolute(&args.model)?.display().to_string()];
    run_args.extend(options.iter().cloned());
    let mut full = vec!["cajal".to_owned(), "run".to_owned()];
    full.extend(run_args.iter().cloned());
    let every = config.checkpoint.every_ms.to_string();
    full.extend(["--checkpoint-to".into(), config.checkpoint.url.clone(), "--checkpoint-every".into(), every]);
    let cli =
        Cli::try_parse_from(&full).map_err(|e| AppError::bad(format!("run options: {}", e.to_string().trim())))?;
    let Command::Run(run) = cli.command else {
        return Err(AppError::bad("run options do not parse as `cajal run`"));
    };
    let (doc, _) = crate::run_options::load_run_document(&run)?;
    let dt_ms = match cajal_models::build_any(&doc)? {
        cajal_models::AnyModel::Spiking(m) => m.simulation.dt_ms,
        cajal_models::AnyModel::Graded(g) => g.simulation().dt_ms,
    };
    let res = cajal_core::Resolution::new(dt_ms)?;
    res.duration_steps("checkpoint.every_ms", config.checkpoint.every_ms)
        .map_err(|e| AppError::bad(format!("{}: {e}", config.file.display())))?;
    if let Some(ms) = run.stop_after {
        res.duration_steps("--stop-after", ms).map_err(AppError::from)?;
    }
    let out = workdir.join(&run.out);
    check_location(config, &doc.to_toml().map_err(AppError::from)?, &out, run.storage.storage_config.as_deref())?;
    Ok(CheckedRun {
        run_args,
        resume_args: shared_options(&options, &SHARED_WITH_RESUME),
        state_args: shared_options(&options, &["--storage-config"]),
        out,
    })
}

/// Refuses a checkpoint location that holds another run (its job would resume that one) or a finished one.
fn check_location(
    config: &ClusterConfig,
    model_text: &str,
    out: &Path,
    storage: Option<&Path>,
) -> Result<(), AppError> {
    let url = &config.checkpoint.url;
    let state = match crate::checkpointing::location_state(url, storage) {
        Ok(found) => found,
        Err(e) => {
            // Storage the login node cannot reach now may still be there for the job.
            eprintln!("warning: cannot check checkpoint.url {url} now ({}); the job will", crate::error::message(&e));
            return Ok(());
        }
    };
    let (manifest, complete) = match state {
        cajal_checkpoint::RunState::None => return Ok(()),
        cajal_checkpoint::RunState::Resumable(m) => (Some(m), false),
        cajal_checkpoint::RunState::Complete(m) => (m, true),
    };
    let other = |what: &str| {
        AppError::bad(format!(
            "checkpoint.url {url} ({}) already holds {what}; give this run its own checkpoint.url, or delete {url}",
            config.file.display()
        ))
    };
    if let Some(m) = &manifest {
        if m.model_text != model_text || Path::new(&m.out_dir) != out {
            return Err(other(&format!("another run (its model or its output directory {} differ)", m.out_dir)));
        }
    }
    if complete {
        return Err(other("a complete run"));
    }
    if let Some(m) = manifest {
        eprintln!("note: the job will resume this run from checkpoint {} at {url}", m.name);
    }
    Ok(())
}

/// The script for `args`, and the run's output directory.
fn script(args: &ScriptArgs, verb: &str) -> Result<(String, PathBuf, ClusterConfig), AppError> {
    let config = ClusterConfig::read(&args.cluster)?;
    let workdir = if config.run.workdir.is_empty() {
        absolute(Path::new("."))?
    } else {
        absolute(Path::new(&config.run.workdir))?
    };
    let checked = checked_run(args, &config, &workdir)?;
    let binary = if config.run.binary.is_empty() {
        std::env::current_exe().map_err(|e| AppError::run(format!("cannot find this program's path: {e}")))?
    } else {
        absolute(Path::new(&config.run.binary))?
    };
    let origin = format!(
        "cajal slurm {verb} {} --cluster {} {}",
        args.model.display(),
        args.cluster.display(),
        args.run_options.join(" ")
    );
    let plan = ScriptPlan {
        config: &config,
        binary: binary.display().to_string(),
        workdir: workdir.display().to_string(),
        run_args: checked.run_args,
        resume_args: checked.resume_args,
        state_args: checked.state_args,
        origin: origin.trim_end().replace('\n', " "),
    };
    Ok((render(&plan), checked.out, config))
}

pub fn run(args: &SlurmArgs) -> Result<(), AppError> {
    match &args.action {
        SlurmAction::Script(a) => {
            let (text, _, _) = script(a, "script")?;
            print!("{text}");
            Ok(())
        }
        SlurmAction::Submit(a) => submit(a),
    }
}

fn submit(args: &ScriptArgs) -> Result<(), AppError> {
    let (text, out, config) = script(args, "submit")?;
    std::fs::create_dir_all(&out)
        .map_err(|source| AppError::InputFile { what: format!("creating {}", out.display()), source })?;
    let path = out.join(format!("{}.sbatch", config.job.name));
    std::fs::write(&path, &text)
        .map_err(|source| AppError::InputFile { what: format!("writing {}", path.display()), source })?;
    let o = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| AppError::run(format!("cannot run sbatch ({e}); is Slurm installed and on PATH?")))?;
    if !o.status.success() {
        return Err(AppError::run(format!(
            "sbatch {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    let id = String::from_utf8_lossy(&o.stdout).trim().split(';').next().unwrap_or_default().to_owned();
    println!("submitted job {id} (script {})", path.display());
    Ok(())
}
