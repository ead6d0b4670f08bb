//! Where a checkpoint location stands: nothing to resume, a run to continue, or a run that reached its
//! planned end (marked by a `complete` object, so a finished run is not resumed again by mistake).

use crate::{CheckpointError, CheckpointStore, Manifest};

/// The object marking a run that reached its planned end.
pub const COMPLETE: &str = "complete";
/// The object naming the newest complete checkpoint.
pub const LATEST: &str = "latest";

/// The state of a checkpoint location.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// No checkpoint was completed here.
    None,
    /// A run to continue with `cajal resume`, from this checkpoint.
    Resumable(Box<Manifest>),
    /// The run reached its planned end; its last checkpoint, if it wrote any.
    Complete(Option<Box<Manifest>>),
}

impl RunState {
    /// The state of `store`: reads `complete` and `latest` (and the manifest `latest` names).
    pub fn of(store: &CheckpointStore) -> Result<Self, CheckpointError> {
        let complete = store.get(COMPLETE)?.is_some();
        let manifest = match store.get(LATEST)? {
            Some(_) => Some(Box::new(Manifest::latest(store)?)),
            None => None,
        };
        Ok(match (complete, manifest) {
            (true, m) => Self::Complete(m),
            (false, Some(m)) => Self::Resumable(m),
            (false, None) => Self::None,
        })
    }

    /// The word job scripts read: `none`, `resumable` or `complete`.
    #[must_use]
    pub fn word(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Resumable(_) => "resumable",
            Self::Complete(_) => "complete",
        }
    }
}

/// Marks the run at `store` as having reached its planned end at `step`.
pub fn mark_complete(store: &CheckpointStore, step: u64) -> Result<(), CheckpointError> {
    store.put(COMPLETE, format!("completed at step {step}\n").into_bytes())
}

/// Marks the run at `store` as not complete (a fresh run starting there).
pub fn mark_incomplete(store: &CheckpointStore) -> Result<(), CheckpointError> {
    store.delete(COMPLETE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::StoreOptions;

    #[test]
    fn a_location_goes_from_none_to_complete_and_back() {
        let store = CheckpointStore::open("memory://", StoreOptions::default()).unwrap();
        assert_eq!(RunState::of(&store).unwrap(), RunState::None);
        mark_complete(&store, 10).unwrap();
        assert_eq!(RunState::of(&store).unwrap().word(), "complete");
        mark_incomplete(&store).unwrap();
        assert_eq!(RunState::of(&store).unwrap(), RunState::None);
        // `latest` naming a checkpoint without a manifest is an error, not "none".
        store.put(LATEST, b"step-000000000000010".to_vec()).unwrap();
        assert!(matches!(RunState::of(&store), Err(CheckpointError::Missing { .. })));
    }
}
