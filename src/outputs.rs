//! What a run writes while it runs (spike files, voltage files, state recordings), as the job and
//! checkpoints see it: flushed positions to record in a checkpoint, parts ended at checkpoints, and closing
//! at the end.

use crate::error::AppError;

/// One rank's outputs at a checkpoint: running spike totals (summed over ranks) and the files written so
/// far with their lengths (rank 0 alone writes voltage files).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputPositions {
    /// Running digest (wrapping sum) and count of every spike from step 0.
    pub digest: (u64, u64),
    /// Analysed spikes per population.
    pub analysed_counts: Vec<u64>,
    pub spike_files: Vec<(String, u64)>,
    pub voltage_files: Vec<(String, u64)>,
}

/// What a model's run writes while it runs (spike files, voltage files).
pub trait RunOutputs {
    /// This rank's outputs so far, for a checkpoint (files flushed, so their lengths are final).
    fn positions(&mut self) -> Result<OutputPositions, AppError>;
    /// Flushes and closes the outputs at the planned end.
    fn finish(&mut self) -> Result<(), AppError>;
    /// Ends the outputs written in parts (state recordings, Parquet spikes) at step `at`: called before
    /// every checkpoint's [`RunOutputs::positions`] and before [`RunOutputs::finish`], so a resume from a
    /// checkpoint keeps exactly the parts that end at or before it.
    fn close_parts(&mut self, at: cajal_core::Step) -> Result<(), AppError> {
        let _ = at;
        Ok(())
    }
}
