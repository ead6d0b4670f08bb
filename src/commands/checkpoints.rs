//! `cajal checkpoints list|inspect|verify URL`: what is stored at a checkpoint root.

use cajal_checkpoint::{CheckpointStore, Manifest, RunState, StoreOptions};

use crate::error::AppError;

#[derive(clap::Args, Debug)]
pub struct CheckpointsArgs {
    #[command(subcommand)]
    pub action: Action,
    /// A TOML file whose [s3] table overrides the AWS environment variables.
    #[arg(long, value_name = "FILE", global = true)]
    pub storage_config: Option<std::path::PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
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

pub fn run(args: &CheckpointsArgs) -> Result<(), AppError> {
    let url = match &args.action {
        Action::List { url } | Action::Inspect { url } | Action::Verify { url } | Action::State { url } => url,
    };
    if matches!(args.action, Action::State { .. }) {
        println!("{}", location_state(url, args.storage_config.as_deref())?.word());
        return Ok(());
    }
    let mut options =
        crate::checkpointing::store_options(StoreOptions::default().part_size, args.storage_config.as_deref())
            .map_err(AppError::from)?;
    options.create = false;
    let store = CheckpointStore::open(url, options).map_err(AppError::from)?;
    match &args.action {
        Action::List { .. } => {
            let latest = Manifest::latest(&store).ok().map(|m| m.name);
            for name in store.list_folders().map_err(AppError::from)? {
                match Manifest::read(&store, &name) {
                    Ok(m) => {
                        let bytes: u64 = m.shards.iter().map(|s| s.bytes).sum();
                        let mark = if latest.as_deref() == Some(name.as_str()) { "  latest" } else { "" };
                        println!(
                            "{name}  step {}  t = {:.1} ms  {} shards  {bytes} bytes{mark}",
                            m.step,
                            m.step as f64 * m.dt_ms,
                            m.shards.len()
                        );
                    }
                    Err(e) => println!("{name}  incomplete ({e})"),
                }
            }
        }
        Action::Inspect { .. } => {
            let m = Manifest::latest(&store).map_err(AppError::from)?;
            println!("{}", serde_json::to_string_pretty(&m).map_err(AppError::run)?);
        }
        Action::State { .. } => {}
        Action::Verify { .. } => {
            let m = Manifest::latest(&store).map_err(AppError::from)?;
            let neurons = m.verify(&store).map_err(AppError::from)?;
            println!("{}: ok ({} shards, {neurons} neurons, step {})", m.name, m.shards.len(), m.step);
        }
    }
    Ok(())
}

/// What a checkpoint root holds: none, a resumable run or a complete one (with the latest manifest).
pub fn location_state(url: &str, storage_config: Option<&std::path::Path>) -> Result<RunState, AppError> {
    if missing_local_root(url) {
        return Ok(RunState::None);
    }
    let mut options = crate::checkpointing::store_options(StoreOptions::default().part_size, storage_config)?;
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
