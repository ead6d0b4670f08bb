//! The optic lobe's model file: the connectome file and lattice extent, an optional flyvis parameter file
//! (flyvis' initial values without one), the stimulus and what to record. Relative paths in the file are
//! relative to the file's own directory.

use std::path::PathBuf;

use cajal_core::Gid;

use crate::graded::RecordedNeurons;
use crate::optic_lobe::params::{index, Params};
use crate::optic_lobe::recipe::{initial_params, OpticLobe, PARAMETER_EXTENT};
use crate::optic_lobe::stimulus::{Stimulus, StimulusDrive};
use crate::optic_lobe::Connectome;
use crate::{ModelDocument, ModelError, SimulationSettings};

const SECTIONS: [&str; 6] = ["model", "simulation", "connectome", "parameters", "stimulus", "recording"];

/// Which voltages to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordScope {
    None,
    /// One neuron per recorded type: the one in the central column (0, 0).
    Central,
    /// Every neuron of the recorded types.
    All,
}

/// Output format of recorded voltages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    Csv,
    Npy,
}

/// What to record and how.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingPlan {
    pub scope: RecordScope,
    /// Recorded cell types (indices, file order).
    pub types: Vec<usize>,
    pub format: RecordFormat,
}

/// A loaded optic lobe model.
#[derive(Debug)]
pub struct GradedModel {
    pub simulation: SimulationSettings,
    pub lobe: OpticLobe,
    pub stimulus: Stimulus,
    pub stimulus_spec: String,
    pub recording: RecordingPlan,
    /// The connectome, parameter and frame files the model read.
    pub input_files: Vec<PathBuf>,
}

impl crate::graded::GradedRun for GradedModel {
    fn kind(&self) -> crate::ModelKind {
        crate::ModelKind::OpticLobe
    }

    fn simulation(&self) -> &SimulationSettings {
        &self.simulation
    }

    fn recipe(&self) -> &dyn cajal_net::RateRecipe {
        &self.lobe
    }

    fn drive(&self, dt_s: f64) -> Box<dyn cajal_net::Drive + '_> {
        Box::new(StimulusDrive::new(self.stimulus.clone(), self.lobe.connectome.extent, dt_s))
    }

    fn stimulus_spec(&self) -> &str {
        &self.stimulus_spec
    }

    fn input_files(&self) -> &[PathBuf] {
        &self.input_files
    }

    fn recorded(&self) -> RecordedNeurons {
        let gids = self.recorded_gids();
        let c = &self.lobe.connectome;
        let (mut columns, mut index_rows) = (Vec::new(), Vec::new());
        for &g in &gids {
            let (t, (u, v)) = self.lobe.locate(g);
            let name = &c.types[t].name;
            columns.push(match self.recording.scope {
                RecordScope::All => format!("{name}@{u}:{v}"),
                _ => name.clone(),
            });
            index_rows.push(format!("{g},{name},{u},{v}"));
        }
        RecordedNeurons {
            gids,
            columns,
            index_header: "gid,type,u,v".into(),
            index_rows,
            stem: crate::graded::stem(self.recording.scope),
            format: self.recording.format,
        }
    }
}

impl GradedModel {
    /// The neurons the recording covers, in output order: types in file order, then columns by u, v.
    #[must_use]
    pub fn recorded_gids(&self) -> Vec<Gid> {
        let c = &self.lobe.connectome;
        let types = self.recording.types.iter().map(|&t| &c.types[t]);
        match self.recording.scope {
            RecordScope::None => Vec::new(),
            RecordScope::Central => self.recording.types.iter().filter_map(|&t| c.gid(t, (0, 0))).collect(),
            RecordScope::All => types.flat_map(|t| t.first..t.first + t.count).collect(),
        }
    }
}

fn read_recording(doc: &ModelDocument, c: &Connectome) -> Result<RecordingPlan, ModelError> {
    doc.expect_keys("recording", &["voltages", "types", "format"])?;
    let scope = match doc.string("recording.voltages")?.as_str() {
        "none" => RecordScope::None,
        "central" => RecordScope::Central,
        "all" => RecordScope::All,
        other => return Err(doc.invalid("recording.voltages", other, "must be none, central or all")),
    };
    let format = match doc.string("recording.format")?.as_str() {
        "csv" => RecordFormat::Csv,
        "npy" => RecordFormat::Npy,
        other => return Err(doc.invalid("recording.format", other, "must be csv or npy")),
    };
    let names = match doc.get("recording.types") {
        Some(toml::Value::Array(a)) if a.is_empty() => Vec::new(),
        _ => doc.strings("recording.types")?,
    };
    let types = if names.is_empty() {
        (0..c.types.len()).collect()
    } else {
        let mut types = Vec::new();
        for name in &names {
            let t = c.types.iter().position(|t| &t.name == name).ok_or_else(|| {
                doc.invalid("recording.types", name, "unknown cell type (names as in the connectome file)")
            })?;
            types.push(t);
        }
        types.sort_unstable();
        types.dedup();
        types
    };
    Ok(RecordingPlan { scope, types, format })
}

/// Builds the optic lobe a document describes.
pub fn build(doc: &ModelDocument) -> Result<GradedModel, ModelError> {
    doc.expect_keys("", &SECTIONS)?;
    let simulation = crate::microcircuit::read_simulation(doc)?;
    doc.expect_keys("connectome", &["file", "extent", "fill_hull"])?;
    let file = doc.resolve(&doc.string("connectome.file")?);
    let extent = doc.unsigned("connectome.extent")?;
    if extent > 100 {
        return Err(doc.invalid("connectome.extent", extent, "must be at most 100"));
    }
    let fill = match doc.get("connectome.fill_hull") {
        Some(toml::Value::Boolean(b)) => *b,
        other => return Err(doc.invalid("connectome.fill_hull", format!("{other:?}"), "must be true or false")),
    };
    let indexed = Connectome::read(&file, PARAMETER_EXTENT, fill)?;
    let mut input_files = vec![file.clone()];
    doc.expect_keys("parameters", &["file"])?;
    let params_file = doc.string("parameters.file")?;
    let params = if params_file.is_empty() {
        initial_params(&indexed)
    } else {
        let path = doc.resolve(&params_file);
        let p = Params::read(&path, &indexed, &index(&indexed))?;
        input_files.push(path);
        p
    };
    let connectome =
        if extent as i64 == PARAMETER_EXTENT { indexed.clone() } else { Connectome::read(&file, extent as i64, fill)? };
    doc.expect_keys("stimulus", &["spec"])?;
    let mut spec = doc.string("stimulus.spec")?;
    if let Some(frames) = spec.strip_prefix("frames:") {
        let path = doc.resolve(frames);
        spec = format!("frames:{}", path.display());
        input_files.push(path);
    }
    let stimulus = Stimulus::parse(&spec, extent as i64)?;
    let recording = read_recording(doc, &connectome)?;
    for (t, &tau) in params.nodes_time_const.iter().enumerate() {
        if tau <= 0.0 {
            let key = format!("nodes_time_const.{t}");
            return Err(ModelError::Invalid {
                file: input_files.get(1).cloned().unwrap_or_else(|| file.clone()),
                key,
                value: tau.to_string(),
                reason: "time constants must be > 0".into(),
            });
        }
    }
    let lobe = OpticLobe::new(connectome, &indexed, &params);
    Ok(GradedModel { simulation, lobe, stimulus, stimulus_spec: spec, recording, input_files })
}
