//! Checkpoints of cajal: the layout-independent state format (one zstd-compressed bincode shard per rank,
//! neurons identified by gid, a JSON manifest written last with every shard's size and checksum) and its
//! I/O through `object_store` (local paths, `file://`, `s3://`, `memory://`).

pub mod error;
pub mod format;
pub mod manifest;
pub mod plastic_shard;
pub mod run_state;
pub mod shuffle;
pub mod store;

pub use error::CheckpointError;
pub use format::{ColumnKind, ColumnValues, NeuronSet, ShardState, StateColumn};
pub use manifest::{Manifest, ShardEntry, FORMAT_VERSION};
pub use plastic_shard::PlasticShard;
pub use run_state::{mark_complete, mark_incomplete, RunState, COMPLETE, LATEST};
pub use store::{CheckpointStore, StoreOptions};
