//! Model builders of cajal: model files in TOML (with `--set` overrides), validated into recipes. Each
//! model kind is one module; [`load_model`] picks it by the file's `model` key.

pub mod connectome_tables;
pub mod devices;
pub mod error;
pub mod graded;
pub mod microcircuit;
pub mod model_file;
pub mod model_kind;
pub mod network_file;
pub mod neuron_models;
pub mod optic_lobe;
pub mod rate_network;
pub mod record_spec;
pub mod spatial_sheet;
pub mod synapse_models;
pub mod weight_record;

use std::path::Path;

use cajal_net::PopulationNetwork;

pub use error::ModelError;
pub use model_file::{ModelDocument, Override};
pub use model_kind::{ModelKind, Scaling};
pub use optic_lobe::model_file::GradedModel;

/// Run settings that a model file carries (the CLI may override them through the document).
#[derive(Clone, Debug, PartialEq)]
pub struct SimulationSettings {
    pub dt_ms: f64,
    pub t_presim_ms: f64,
    pub t_sim_ms: f64,
    pub seed: u64,
}

/// A loaded model: its kind, run settings and the network recipe.
#[derive(Debug)]
pub struct Model {
    pub kind: ModelKind,
    pub simulation: SimulationSettings,
    pub network: PopulationNetwork,
    /// Files the model reads besides its TOML (e.g. a connectome): a checkpoint records their checksums
    /// and a resume re-reads them and refuses if they changed. None for generated networks.
    pub input_files: Vec<std::path::PathBuf>,
}

/// Reads `path`, applies `overrides` in order, and builds the model it names.
pub fn load_model(path: &Path, overrides: &[Override]) -> Result<Model, ModelError> {
    build_model(&load_document(path, overrides)?)
}

/// Reads `path` and applies `overrides` in order.
pub fn load_document(path: &Path, overrides: &[Override]) -> Result<ModelDocument, ModelError> {
    let mut doc = ModelDocument::read(path)?;
    for o in overrides {
        doc.apply(o)?;
    }
    Ok(doc)
}

/// A model of either kind of network.
#[derive(Debug)]
pub enum AnyModel {
    /// Spiking neurons exchanging spikes per window (the microcircuit).
    Spiking(Box<Model>),
    /// Graded-potential neurons exchanging values every step (the optic lobe).
    Graded(Box<dyn graded::GradedRun>),
}

/// Builds the model a document names.
pub fn build_any(doc: &ModelDocument) -> Result<AnyModel, ModelError> {
    match doc.model_kind()? {
        ModelKind::Microcircuit => microcircuit::build(doc).map(|m| AnyModel::Spiking(Box::new(m))),
        ModelKind::Connectome => connectome_tables::build(doc).map(|m| AnyModel::Spiking(Box::new(m))),
        ModelKind::SpatialSheet => spatial_sheet::build(doc).map(|m| AnyModel::Spiking(Box::new(m))),
        ModelKind::OpticLobe => optic_lobe::model_file::build(doc).map(|m| AnyModel::Graded(Box::new(m))),
        ModelKind::RateNetwork => rate_network::build(doc).map(|m| AnyModel::Graded(Box::new(m))),
        ModelKind::Network => network_file::build(doc).map(|m| AnyModel::Spiking(Box::new(m))),
    }
}

/// Builds the spiking model a document names (a graded one is refused: it has no spikes to resume or
/// dry-run).
pub fn build_model(doc: &ModelDocument) -> Result<Model, ModelError> {
    match build_any(doc)? {
        AnyModel::Spiking(m) => Ok(*m),
        AnyModel::Graded(_) => Err(doc.invalid(
            "model",
            doc.model_kind()?.name(),
            "a graded-potential model; this command supports spiking models only",
        )),
    }
}
