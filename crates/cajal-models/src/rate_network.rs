//! A rate network on a grid (`model = "rate_network"`, e.g. a seRNN-sized network: 100 units on a 5 x 5 x 4
//! grid): leaky units tau dV/dt = -V + b + sum_j w_ij f(V_j) + noise, with f = relu, tanh or linear, the
//! weights from a matrix file (row = target, column = source, 0 = no synapse) or drawn by a distance rule
//! (the spiking sheet's rules, each target drawing its inputs from its own stream).

use std::path::{Path, PathBuf};

use cajal_core::iaf_psc_exp::IafPscExpParams;
use cajal_core::{Gid, Resolution};
use cajal_net::{
    Background, Boundary, DistanceTerms, Distribution, Drive, NoDrive, Placement, Point, PopulationNetwork,
    PopulationSpec, Projection, Query, RateNeuron, RateRecipe, Recipe, Transfer,
};

use crate::graded::{GradedRun, RecordedNeurons};
use crate::microcircuit::read_simulation;
use crate::optic_lobe::model_file::RecordFormat;
use crate::{ModelDocument, ModelError, SimulationSettings};

const SECTIONS: [&str; 5] = ["model", "simulation", "units", "connectivity", "recording"];
const UNIT_KEYS: [&str; 7] = ["grid", "spacing_mm", "transfer", "tau_ms", "bias", "noise_std", "v_init"];

/// A loaded rate network.
#[derive(Debug)]
pub struct RateNetwork {
    pub simulation: SimulationSettings,
    pub transfer: Transfer,
    pub unit: RateNeuron,
    pub placement: Placement,
    pub connectivity: Connectivity,
    pub record: bool,
    pub format: RecordFormat,
    pub input_files: Vec<PathBuf>,
}

/// Where a rate network's inputs come from.
#[derive(Debug)]
pub enum Connectivity {
    /// A weight matrix: incoming (source, weight) per target, sources ascending (`start`: row starts).
    Matrix { start: Vec<u32>, inputs: Vec<(Gid, f64)> },
    /// A distance rule, drawn per target on demand: the network's single population and projection (its
    /// neuron parameters unused; every coupling takes one step, as in any rate network here).
    Rule(Box<PopulationNetwork>),
}

/// Compressed rows: row starts, then (source, weight) pairs.
type WeightRows = (Vec<u32>, Vec<(Gid, f64)>);

/// `[connectivity]`'s keys besides the distance rule's.
const WEIGHT_KEYS: [&str; 4] = ["weight_mean", "weight_std", "weight_decay_mm", "periodic"];

/// An optional number (default `default`) that must be >= 0.
fn non_negative(doc: &ModelDocument, key: &str, default: f64) -> Result<f64, ModelError> {
    let v = if doc.get(key).is_some() { doc.number(key)? } else { default };
    if v.is_nan() || v < 0.0 {
        return Err(doc.invalid(key, v, "must be >= 0"));
    }
    Ok(v)
}

/// `[connectivity]` as a distance rule over the units' grid (`n` units placed by `placement`).
fn read_rule(doc: &ModelDocument, placement: &Placement, n: u32, dt_ms: f64) -> Result<Connectivity, ModelError> {
    let keys = [&crate::spatial_sheet::DISTANCE_RULE_KEYS[..], &WEIGHT_KEYS].concat();
    doc.expect_keys("connectivity", &keys)?;
    let rule = crate::spatial_sheet::read_distance_rule(doc, "connectivity")?;
    let mean = doc.number("connectivity.weight_mean")?;
    let std = non_negative(doc, "connectivity.weight_std", 0.0)?;
    let decay = non_negative(doc, "connectivity.weight_decay_mm", 0.0)?;
    let periodic = match doc.get("connectivity.periodic") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => return Err(doc.invalid("connectivity.periodic", other, "must be true or false")),
    };
    let units = PopulationSpec {
        name: "units".into(),
        first_gid: 0,
        size: n,
        // Rate units have no spiking neuron; the recipe's population needs one (it is never built).
        neuron: cajal_core::NeuronSpec::new(IafPscExpParams::potjans_diesmann()),
        v_init: Distribution::Constant(0.0),
        background: Background::None,
        expected_rate_hz: None,
        placement: Some(placement.clone()),
    };
    let projection = Projection {
        source: 0,
        target: 0,
        rule,
        // Either sign, as in a random or trained rate network.
        weight: Distribution::Normal { mean, std, min: f64::NEG_INFINITY, max: f64::INFINITY },
        delay_ms: Distribution::Constant(dt_ms),
        distance: DistanceTerms { delay: None, weight_decay_mm: (decay > 0.0).then_some(decay) },
        allow_autapses: true,
        plasticity: None,
    };
    let res = Resolution::new(dt_ms).map_err(|e| doc.invalid("simulation.dt_ms", dt_ms, &e.to_string()))?;
    let network_error = |source| ModelError::Network { file: doc.file().to_owned(), source };
    let mut network =
        PopulationNetwork::new(doc_seed(doc)?, res, vec![units], vec![projection]).map_err(network_error)?;
    if periodic {
        let Placement::Grid { shape, spacing, .. } = placement else {
            return Err(doc.invalid("connectivity.periodic", true, "needs a grid"));
        };
        let extent = shape.map(|s| if s > 1 { f64::from(s) * spacing } else { 0.0 });
        network = network.with_boundary(Boundary { periodic: Some(extent) });
    }
    network.prepare();
    // Draw one unit's inputs now, so that a rule that cannot be drawn fails here, with the file named.
    network.connections_to(0, Query::Full, |_| {}).map_err(network_error)?;
    Ok(Connectivity::Rule(Box::new(network)))
}

fn doc_seed(doc: &ModelDocument) -> Result<u64, ModelError> {
    Ok(read_simulation(doc)?.seed)
}

/// Reads a dense N x N weight matrix (CSV, row = target) into rows of (source, weight) without zeros.
fn read_weights(path: &Path, n: usize) -> Result<WeightRows, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read { file: path.to_owned(), source })?;
    let fail = |line: usize, message: String| ModelError::Syntax {
        file: path.to_owned(),
        message: format!("line {line}: {message}"),
    };
    let (mut start, mut inputs) = (vec![0u32], Vec::new());
    let rows: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    if rows.len() != n {
        return Err(ModelError::Syntax {
            file: path.to_owned(),
            message: format!("{} rows, the network has {n} units", rows.len()),
        });
    }
    for (i, line) in rows {
        let values: Vec<&str> = line.split(',').map(str::trim).collect();
        if values.len() != n {
            return Err(fail(i + 1, format!("{} values, the network has {n} units", values.len())));
        }
        for (j, v) in values.iter().enumerate() {
            let w: f64 = v
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite())
                .ok_or_else(|| fail(i + 1, format!("`{v}` is not a finite number")))?;
            if w != 0.0 {
                inputs.push((j as Gid, w));
            }
        }
        let end = u32::try_from(inputs.len())
            .map_err(|_| fail(i + 1, format!("more than {} non-zero weights in all", u32::MAX)))?;
        start.push(end);
    }
    Ok((start, inputs))
}

/// Builds a rate network from its model file.
pub fn build(doc: &ModelDocument) -> Result<RateNetwork, ModelError> {
    doc.expect_keys("", &SECTIONS)?;
    let simulation = read_simulation(doc)?;
    doc.expect_keys("units", &UNIT_KEYS)?;
    let grid = doc.numbers("units.grid", 3)?;
    if grid.iter().any(|&g| !(g >= 1.0 && g.fract() == 0.0 && g <= 1e6)) {
        return Err(doc.invalid("units.grid", format!("{grid:?}"), "must be three whole numbers >= 1"));
    }
    let shape = [grid[0] as u32, grid[1] as u32, grid[2] as u32];
    // Each side may be up to 1e6, so the product is checked: gids are u32.
    let n =
        shape.iter().try_fold(1u32, |n, &s| n.checked_mul(s)).filter(|&n| n < u32::MAX).ok_or_else(|| {
            doc.invalid("units.grid", format!("{grid:?}"), &format!("gives more than {} units", u32::MAX))
        })? as usize;
    let spacing = doc.number("units.spacing_mm")?;
    let transfer = match doc.string("units.transfer")?.as_str() {
        "relu" => Transfer::Relu,
        "tanh" => Transfer::Tanh,
        "linear" => Transfer::Linear,
        other => return Err(doc.invalid("units.transfer", other, "must be relu, tanh or linear")),
    };
    let tau_ms = doc.number("units.tau_ms")?;
    if tau_ms.is_nan() || tau_ms <= 0.0 {
        return Err(doc.invalid("units.tau_ms", tau_ms, "must be > 0"));
    }
    let noise_std = doc.number("units.noise_std")?;
    if noise_std.is_nan() || noise_std < 0.0 {
        return Err(doc.invalid("units.noise_std", noise_std, "must be >= 0"));
    }
    let unit = RateNeuron {
        bias: doc.number("units.bias")?,
        tau_s: tau_ms / 1000.0,
        v_init: doc.number("units.v_init")?,
        input_channel: None,
        noise_std,
    };
    let placement = Placement::Grid { shape, spacing, origin: [0.0; 3] };
    placement.validate(n as u32, "units.grid").map_err(|e| doc.invalid("units.spacing_mm", spacing, &e.to_string()))?;
    let (connectivity, input_files) = if doc.get("connectivity.weights").is_some() {
        doc.expect_keys("connectivity", &["weights"])?;
        let path = doc.resolve(&doc.string("connectivity.weights")?);
        let (start, inputs) = read_weights(&path, n)?;
        (Connectivity::Matrix { start, inputs }, vec![path])
    } else {
        (read_rule(doc, &placement, n as u32, simulation.dt_ms)?, Vec::new())
    };
    doc.expect_keys("recording", &["voltages", "format"])?;
    let record = match doc.string("recording.voltages")?.as_str() {
        "all" => true,
        "none" => false,
        other => return Err(doc.invalid("recording.voltages", other, "must be all or none")),
    };
    let format = match doc.string("recording.format")?.as_str() {
        "csv" => RecordFormat::Csv,
        "npy" => RecordFormat::Npy,
        other => return Err(doc.invalid("recording.format", other, "must be csv or npy")),
    };
    Ok(RateNetwork { simulation, transfer, unit, placement, connectivity, record, format, input_files })
}

impl RateRecipe for RateNetwork {
    fn num_neurons(&self) -> Gid {
        match &self.connectivity {
            Connectivity::Matrix { start, .. } => (start.len() - 1) as Gid,
            Connectivity::Rule(network) => network.num_neurons(),
        }
    }
    fn transfer(&self) -> Transfer {
        self.transfer
    }
    fn seed(&self) -> u64 {
        self.simulation.seed
    }
    fn neuron(&self, _gid: Gid) -> RateNeuron {
        self.unit
    }
    fn inputs_to(&self, target: Gid, sink: &mut dyn FnMut(Gid, f64)) {
        match &self.connectivity {
            Connectivity::Matrix { start, inputs } => {
                let t = target as usize;
                for &(s, w) in &inputs[start[t] as usize..start[t + 1] as usize] {
                    sink(s, w);
                }
            }
            // The rule was checked, and one target drawn, when the model was read; a generated network has
            // no file to fail on later.
            Connectivity::Rule(network) => {
                if let Err(e) = network.connections_to(target, Query::Full, |c| sink(c.source, c.weight)) {
                    tracing::error!(target, error = %e, "drawing a rate unit's inputs failed");
                }
            }
        }
    }
    fn in_degree(&self, target: Gid) -> usize {
        match &self.connectivity {
            Connectivity::Matrix { start, .. } => (start[target as usize + 1] - start[target as usize]) as usize,
            // The expectation (exact for a fixed in-degree): balancing need not draw every input again.
            Connectivity::Rule(network) => network.expected_in_degree(target).round() as usize,
        }
    }
    fn position(&self, gid: Gid) -> Option<Point> {
        Some(self.placement.position(0, 0, gid))
    }
}

impl GradedRun for RateNetwork {
    fn kind(&self) -> crate::ModelKind {
        crate::ModelKind::RateNetwork
    }
    fn simulation(&self) -> &SimulationSettings {
        &self.simulation
    }
    fn recipe(&self) -> &dyn RateRecipe {
        self
    }
    fn drive(&self, _dt_s: f64) -> Box<dyn Drive + '_> {
        Box::new(NoDrive)
    }
    fn stimulus_spec(&self) -> &str {
        "none"
    }
    fn input_files(&self) -> &[PathBuf] {
        &self.input_files
    }
    fn recorded(&self) -> RecordedNeurons {
        let gids: Vec<Gid> = if self.record { (0..self.num_neurons()).collect() } else { Vec::new() };
        let index_rows = gids
            .iter()
            .map(|&g| {
                let [x, y, z] = self.placement.position(0, 0, g);
                format!("{g},{x},{y},{z}")
            })
            .collect();
        RecordedNeurons {
            columns: gids.iter().map(|g| format!("unit{g}")).collect(),
            gids,
            index_header: "gid,x,y,z".into(),
            index_rows,
            stem: "voltages",
            format: self.format,
        }
    }
}
