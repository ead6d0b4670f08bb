//! What the driver needs from any graded (rate) model to run and record it: the recipe, the drive, and the
//! recorded neurons with the names of their output columns. The optic lobe and rate networks provide it.

use std::path::PathBuf;

use cajal_core::Gid;
use cajal_net::{Drive, RateRecipe};

use crate::optic_lobe::model_file::{RecordFormat, RecordScope};
use crate::SimulationSettings;

/// The recorded neurons of a run, in output order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedNeurons {
    pub gids: Vec<Gid>,
    /// The CSV header name of each.
    pub columns: Vec<String>,
    /// The index file: its header (after `column,`) and one row per neuron (after its column number).
    pub index_header: String,
    pub index_rows: Vec<String>,
    /// File stem: `central_voltages` or `voltages`.
    pub stem: &'static str,
    pub format: RecordFormat,
}

/// A graded model, ready to run.
pub trait GradedRun: Send + Sync + std::fmt::Debug {
    /// The model kind (the `model` key).
    fn kind(&self) -> crate::ModelKind;
    fn simulation(&self) -> &SimulationSettings;
    fn recipe(&self) -> &dyn RateRecipe;
    /// The stimulus for steps of `dt_s` seconds (step 0 = the start of the recorded period).
    fn drive(&self, dt_s: f64) -> Box<dyn Drive + '_>;
    /// The stimulus as the user gave it (for the summary).
    fn stimulus_spec(&self) -> &str;
    /// Files the model read.
    fn input_files(&self) -> &[PathBuf];
    /// What to record.
    fn recorded(&self) -> RecordedNeurons;
}

/// The stem of the voltage files for a recording scope.
#[must_use]
pub fn stem(scope: RecordScope) -> &'static str {
    match scope {
        RecordScope::Central => "central_voltages",
        RecordScope::All | RecordScope::None => "voltages",
    }
}
