//! `cajal checkpoints list|inspect|verify URL`: what is stored at a checkpoint root.

use cajal_checkpoint::{CheckpointStore, Manifest, StoreOptions};

use crate::cli::{CheckpointsAction as Action, CheckpointsArgs};
use crate::error::AppError;

pub fn run(args: &CheckpointsArgs) -> Result<(), AppError> {
    let url = match &args.action {
        Action::List { url } | Action::Inspect { url } | Action::Verify { url } | Action::State { url } => url,
    };
    if matches!(args.action, Action::State { .. }) {
        println!("{}", crate::checkpointing::location_state(url, args.storage_config.as_deref())?.word());
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
