//! `cajal slurm script|submit MODEL.toml --cluster CLUSTER.toml [run options]`: an sbatch script for a run
//! with checkpoints and preemption handling, printed or submitted.

pub mod cluster_config;
pub mod sbatch_script;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Parser;

use crate::run_command::{bad, run_failure};
use crate::{Cli, Command, Failure};
use cluster_config::ClusterConfig;
use sbatch_script::{render, ScriptPlan};

#[derive(clap::Args, Debug)]
pub struct SlurmArgs {
    #[command(subcommand)]
    pub action: SlurmAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum SlurmAction {
    /// Print the sbatch script of a run.
    Script(ScriptArgs),
    /// Write the sbatch script into the run's output directory and submit it with sbatch.
    Submit(ScriptArgs),
}

#[derive(clap::Args, Debug)]
pub struct ScriptArgs {
    /// The model file (TOML).
    pub model: PathBuf,
    /// The cluster config (TOML), e.g. cluster/local.toml.
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    /// Options of `cajal run` for the job, e.g. --scale 0.1 --t-sim 10000 --out out/job. Checkpoints, ranks
    /// and threads come from the cluster config.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "RUN OPTIONS")]
    pub run_options: Vec<String>,
}

/// Flags the cluster config decides.
const MANAGED: [&str; 6] = ["--checkpoint-to", "--checkpoint-every", "--keep", "--threads", "--ranks", "--dry-run"];

fn absolute(p: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(p).map_err(|e| bad(anyhow!("{}: {e}", p.display())))
}

/// Checks the job's command line as `cajal run` would parse it; returns the run arguments (model made
/// absolute) and the output directory.
fn checked_run_args(args: &ScriptArgs, config: &ClusterConfig) -> Result<(Vec<String>, PathBuf), Failure> {
    if let Some(flag) = args.run_options.iter().find(|o| MANAGED.iter().any(|m| o.split('=').next() == Some(m))) {
        return Err(bad(anyhow!(
            "{flag}: the cluster config ({}) decides checkpoints, ranks and threads",
            config.file.display()
        )));
    }
    let model = absolute(&args.model)?.display().to_string();
    let mut run_args = vec![model];
    run_args.extend(args.run_options.iter().cloned());
    let mut full = vec!["cajal".to_owned(), "run".to_owned()];
    full.extend(run_args.iter().cloned());
    full.extend(["--checkpoint-to".into(), config.checkpoint.url.clone()]);
    let cli = Cli::try_parse_from(&full).map_err(|e| bad(anyhow!("run options: {}", e.to_string().trim())))?;
    let Command::Run(run) = cli.command else { return Err(bad(anyhow!("run options do not parse as `cajal run`"))) };
    crate::run_command::check_flags(&run)?;
    let doc =
        cajal_models::load_document(&run.model, &crate::run_command::overrides(&run).map_err(bad)?).map_err(bad)?;
    cajal_models::build_model(&doc).map_err(bad)?;
    Ok((run_args, run.out.clone()))
}

/// The script for `args`, and the run's output directory.
fn script(args: &ScriptArgs, verb: &str) -> Result<(String, PathBuf, ClusterConfig), Failure> {
    let config = ClusterConfig::read(&args.cluster).map_err(bad)?;
    let (run_args, out) = checked_run_args(args, &config)?;
    let binary = if config.run.binary.is_empty() {
        std::env::current_exe().map_err(run_failure)?
    } else {
        absolute(Path::new(&config.run.binary))?
    };
    let workdir = if config.run.workdir.is_empty() {
        absolute(Path::new("."))?
    } else {
        absolute(Path::new(&config.run.workdir))?
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
        run_args,
        origin: origin.trim_end().to_owned(),
    };
    let text = render(&plan);
    Ok((text, workdir.join(out), config))
}

pub fn run(args: &SlurmArgs) -> Result<(), Failure> {
    match &args.action {
        SlurmAction::Script(a) => {
            let (text, _, _) = script(a, "script")?;
            print!("{text}");
            Ok(())
        }
        SlurmAction::Submit(a) => submit(a),
    }
}

fn submit(args: &ScriptArgs) -> Result<(), Failure> {
    let (text, out, config) = script(args, "submit")?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display())).map_err(bad)?;
    let path = out.join(format!("{}.sbatch", config.job.name));
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display())).map_err(bad)?;
    let o = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| run_failure(anyhow!("cannot run sbatch ({e}); is Slurm installed and on PATH?")))?;
    if !o.status.success() {
        return Err(run_failure(anyhow!(
            "sbatch {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    let id = String::from_utf8_lossy(&o.stdout).trim().split(';').next().unwrap_or_default().to_owned();
    println!("submitted job {id} (script {})", path.display());
    Ok(())
}
