//! The command line's vocabulary: every command and its options (clap). `main.rs` parses it; commands
//! receive their own options.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use cajal_metrics::spike_stats::SYNCHRONY_BIN_MS;

#[derive(Parser, Debug)]
#[command(name = "cajal", version, about = "Connectome-scale spiking network simulator")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log level or filter (error, warn, info, debug, trace, or e.g. cajal_sim=debug) [default: RUST_LOG,
    /// else CAJAL_LOG, else warn].
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log lines as text or as JSON objects (one per line, with the rank in each).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a model and simulate it: warm-up, then the analysed period.
    Run(Box<RunArgs>),
    /// Continue the run of the newest checkpoint at URL to its planned end (on any number of ranks).
    Resume(ResumeArgs),
    /// List, inspect or verify the checkpoints at URL.
    Checkpoints(CheckpointsArgs),
    /// Print and plot the performance reports of runs; several runs also give a scaling plot.
    Report(ReportArgs),
    /// Write (script) or submit (submit) an sbatch script for a run, with checkpoints and requeueing.
    Slurm(SlurmArgs),
    /// Write a spiking model's network as a node table, an edge table and a model file that runs them.
    ExportConnectome(ExportArgs),
    /// Rate, CV of inter-spike intervals and synchrony per population of runs' spike files (mean ± sd).
    SpikeStats(SpikeStatsArgs),
}

/// Options of `cajal run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The model file (TOML), e.g. models/microcircuit.toml.
    pub model: PathBuf,
    /// Scale both population sizes (N) and in-degrees (K) by F (> 0).
    #[arg(long, allow_negative_numbers = true, value_name = "F", value_parser = parse_positive)]
    pub scale: Option<f64>,
    /// Warm-up before the analysed period, in ms (not analysed).
    #[arg(long, allow_negative_numbers = true, value_name = "MS", value_parser = parse_non_negative)]
    pub t_presim: Option<f64>,
    /// Length of the analysed period, in ms.
    #[arg(long, allow_negative_numbers = true, value_name = "MS", value_parser = parse_non_negative)]
    pub t_sim: Option<f64>,
    /// Root seed of every random stream (0 to 2^63 - 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub seed: Option<u64>,
    /// Threads on this process [default: available cores]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Output directory for summary.json and the spike files.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Do not write spike files (counts, rates and the digest are still reported).
    #[arg(long)]
    pub no_spikes: bool,
    /// Override a key of the model file, e.g. --set background.input=dc (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Append an entry to an array of tables of the model file, e.g. a device:
    /// --add 'current_generators={model="dc_generator", amplitude=100.0, targets={population="E"}}'
    /// (repeatable; relative paths in it are relative to the model file's directory).
    #[arg(long = "add", value_name = "KEY={...}")]
    pub add: Vec<String>,
    /// Run N ranks inside this process (the `Threads` back end); under mpirun the ranks are the processes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub ranks: Option<u32>,
    /// How neurons are spread over ranks: round-robin, or contiguous blocks of equal expected cost.
    #[arg(long, value_name = "NAME", default_value = "round-robin")]
    pub balancer: cajal_net::Balancer,
    /// Build only one rank of a P-rank job in this process and report its memory and exact spike fan-out
    /// (no simulation).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
    pub dry_run: Option<u32>,
    /// The rank a dry run plays [default: 0].
    #[arg(long, value_name = "R", requires = "dry_run")]
    pub dry_rank: Option<u32>,
    /// Write checkpoints to URL: a directory, file://DIR, s3://BUCKET/PREFIX or memory://.
    #[arg(long, value_name = "URL")]
    pub checkpoint_to: Option<String>,
    /// Checkpoint every MS of model time.
    #[arg(long, value_name = "MS", requires = "checkpoint_to", value_parser = parse_positive)]
    pub checkpoint_every: Option<f64>,
    /// Stop at model time MS as if preempted: checkpoint, then exit 0.
    #[arg(long, value_name = "MS", requires = "checkpoint_to", value_parser = parse_positive)]
    pub stop_after: Option<f64>,
    /// Checkpoints to keep (older ones are deleted after a new one is complete).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// zstd compression level of checkpoint shards.
    #[arg(long, value_name = "L", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Time a barrier before every spike exchange, to separate waiting for other ranks ("sync") from the
    /// transfer ("exchange") in the performance report.
    #[arg(long)]
    pub sync_timer: bool,
    /// Record neuron state as NEST's multimeter does (spiking models): 'POP[IDS]:VAR+VAR[@INTERVAL_MS]', e.g.
    /// L4E[0-9,100]:V_m+I_syn_ex@0.1 (ids 0-based within the population, none: all of it; interval
    /// default 1 ms). Repeatable; adds to the model file's [[record]] tables. Files: <out>/state/.
    #[arg(long, value_name = "SPEC")]
    pub record_state: Vec<String>,
    /// Snapshots of a plastic projection's weights: 'PROJECTION[@EVERY_MS]', e.g. E->E@100: every (pre,
    /// post, weight) at the start, every EVERY_MS of model time and at the end (without @: start and end).
    /// Repeatable; adds to the model file's [[record_weights]] tables. Files: <out>/weights/.
    #[arg(long, value_name = "SPEC")]
    pub record_weights: Vec<String>,
    /// File format of every state recording [default: the model file's, else parquet].
    #[arg(long, value_name = "FORMAT", value_parser = ["parquet", "npy"])]
    pub state_format: Option<String>,
    /// File format of spike files [default: the model file's [spikes] format, else csv].
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "parquet"])]
    pub spike_format: Option<String>,
    /// The time step in ms (any model; e.g. 20 for the optic lobe as flyvis runs it).
    #[arg(long, allow_negative_numbers = true, value_name = "MS", value_parser = parse_positive)]
    pub dt_ms: Option<f64>,
    #[command(flatten)]
    pub graded: GradedArgs,
}

/// Options of graded-potential models (the optic lobe).
#[derive(clap::Args, Debug, Default)]
pub struct GradedArgs {
    /// A flyvis parameter file (JSON) [default: flyvis' initial values].
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// The visual stimulus: constant:V, flash:ON:OFF:PERIOD_MS, edge:DEG:SPEED:on|off (speed in columns/s) or
    /// frames:FILE.csv|FILE.npy (one row per step, one value per column).
    #[arg(long, value_name = "SPEC")]
    pub stimulus: Option<String>,
    /// Record voltages: central-voltages (column 0,0), all-voltages (every column) or none.
    #[arg(long, value_name = "WHAT", value_parser = ["central-voltages", "all-voltages", "none"])]
    pub record: Option<String>,
    /// Record only these cell types (comma-separated names, as in the connectome file).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub record_types: Vec<String>,
    /// File format of recorded voltages.
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "npy"])]
    pub record_format: Option<String>,
}

/// How checkpoints reach their store (shared by `run` and `resume`).
#[derive(clap::Args, Debug)]
pub struct StorageArgs {
    /// Multipart upload part size in MiB (S3's minimum is 5).
    #[arg(long, value_name = "MIB", default_value_t = 8, value_parser = clap::value_parser!(u32).range(5..=4096))]
    pub part_size_mib: u32,
    /// A TOML file whose [s3] table (endpoint, region, access_key_id, secret_access_key, ...) overrides the
    /// AWS environment variables for checkpoints.
    #[arg(long, value_name = "FILE")]
    pub storage_config: Option<PathBuf>,
}

/// Options of `cajal resume`.
#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The checkpoint root (as given to --checkpoint-to); its `latest` checkpoint is continued.
    pub url: String,
    /// Output directory [default: the original run's].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Threads per rank [default: available cores / ranks on this machine].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Run N ranks inside this process; under mpirun the ranks are the processes (any number).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub ranks: Option<u32>,
    /// How neurons are spread over ranks.
    #[arg(long, value_name = "NAME", default_value = "round-robin")]
    pub balancer: cajal_net::Balancer,
    /// Checkpoint every MS of model time [default: as the original run].
    #[arg(long, value_name = "MS", value_parser = parse_positive)]
    pub checkpoint_every: Option<f64>,
    /// Stop again at model time MS: checkpoint, then exit 0.
    #[arg(long, value_name = "MS", value_parser = parse_positive)]
    pub stop_after: Option<f64>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Time a barrier before every spike exchange, to separate waiting for other ranks ("sync") from the
    /// transfer ("exchange") in the performance report.
    #[arg(long)]
    pub sync_timer: bool,
}

pub fn parse_number(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{text}` is not a finite number"));
    }
    Ok(v)
}

pub fn parse_positive(text: &str) -> Result<f64, String> {
    let v = parse_number(text)?;
    if v <= 0.0 {
        return Err(format!("{v} must be > 0"));
    }
    Ok(v)
}

pub fn parse_non_negative(text: &str) -> Result<f64, String> {
    let v = parse_number(text)?;
    if v < 0.0 {
        return Err(format!("{v} must be >= 0"));
    }
    Ok(v)
}

#[derive(clap::Args, Debug)]
pub struct CheckpointsArgs {
    #[command(subcommand)]
    pub action: CheckpointsAction,
    /// A TOML file whose [s3] table overrides the AWS environment variables.
    #[arg(long, value_name = "FILE", global = true)]
    pub storage_config: Option<std::path::PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum CheckpointsAction {
    /// The checkpoints at URL, oldest first, with their step and size; `latest` is marked.
    List { url: String },
    /// The manifest of the latest checkpoint at URL, as JSON.
    Inspect { url: String },
    /// Check every shard of the latest checkpoint at URL against its manifest (sizes, checksums, decoding).
    Verify { url: String },
    /// Print `none` (nothing to resume), `resumable` (a run to continue with `cajal resume`) or `complete`
    /// (the run reached its end): what a job script needs to decide.
    State { url: String },
}

/// Arguments of `cajal report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Output directories of runs (each with a perf.json). Several draw a scaling plot.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the scaling plot goes [default: the first directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

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

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The model file (TOML) of a spiking model (omitted with --from-checkpoint: the checkpoint's model).
    #[arg(required_unless_present = "from_checkpoint")]
    pub model: Option<PathBuf>,
    /// Export the network of the newest checkpoint at URL, with its plastic weights as they were then.
    #[arg(long, value_name = "URL", conflicts_with = "model")]
    pub from_checkpoint: Option<String>,
    /// S3 settings for --from-checkpoint (as `cajal resume --storage-config`).
    #[arg(long, value_name = "FILE")]
    pub storage_config: Option<PathBuf>,
    /// Table format: csv or parquet.
    #[arg(long, value_name = "FORMAT", default_value = "csv", value_parser = ["csv", "parquet"])]
    pub format: String,
    /// Output directory for nodes.csv, edges.csv and model.toml.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Scale the model first (as `cajal run --scale`).
    #[arg(long, value_name = "F", value_parser = parse_positive)]
    pub scale: Option<f64>,
    /// Override a key of the model file (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct SpikeStatsArgs {
    /// Run directories, each with summary.json and spikes/ (several: seeds of one model).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Bin of the population count for the synchrony (variance / mean), in ms.
    #[arg(long, value_name = "MS", default_value_t = SYNCHRONY_BIN_MS, value_parser = parse_positive)]
    pub bin_ms: f64,
    /// Also write the statistics as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}
