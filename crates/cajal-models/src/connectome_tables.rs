//! A spiking connectome brought as tables (`model = "connectome"`): the node table names each neuron's
//! population (and position, and any model or neuron parameters of its own), the edge table its incoming
//! synapses; the model file gives the neuron parameters, initial voltages and background per population. `cajal export-connectome` writes all three.

use cajal_core::Resolution;
use cajal_net::{
    Background, Distribution, EdgeTable, NeuronClasses, NodeTable, Placement, PopulationNetwork, PopulationSpec,
};

use crate::devices::read_current_generators;
use crate::microcircuit::read_simulation;
use crate::neuron_models::read_neuron;
use crate::{Model, ModelDocument, ModelError};

const SECTIONS: [&str; 8] =
    ["model", "simulation", "tables", "neuron", "populations", "current_generators", "synapse_types", "plastic"];
const POPULATION_KEYS: [&str; 8] =
    ["names", "V0_mean", "V0_std", "I_e", "bg_rate_hz", "bg_weight_pA", "bg_delay_ms", "sign"];

/// Builds the network of a connectome model file.
pub fn build(doc: &ModelDocument) -> Result<Model, ModelError> {
    doc.expect_keys("", &SECTIONS)?;
    let simulation = read_simulation(doc)?;
    doc.expect_keys("tables", &["nodes", "edges", "weight_per_synapse_pA", "delay_ms"])?;
    let nodes_path = doc.resolve(&doc.string("tables.nodes")?);
    let edges_path = doc.resolve(&doc.string("tables.edges")?);
    let network_error = |source| ModelError::Network { file: doc.file().to_owned(), source };
    let known = crate::neuron_models::nest_defaults();
    let nodes = NodeTable::read(&nodes_path, &known).map_err(network_error)?;
    doc.expect_keys("populations", &POPULATION_KEYS)?;
    let names = doc.strings("populations.names")?;
    let in_table: Vec<&str> = nodes.populations.iter().map(|p| p.0.as_str()).collect();
    if names != in_table {
        return Err(doc.invalid(
            "populations.names",
            format!("{names:?}"),
            &format!("must list the node table's populations in id order: {in_table:?}"),
        ));
    }
    let n = names.len();
    let col = |key: &str| doc.numbers(&format!("populations.{key}"), n);
    let (v0_mean, v0_std, i_e) = (col("V0_mean")?, col("V0_std")?, col("I_e")?);
    let (rate, weight, delay) = (col("bg_rate_hz")?, col("bg_weight_pA")?, col("bg_delay_ms")?);
    let neuron = read_neuron(doc)?;
    let populations = nodes
        .populations
        .iter()
        .enumerate()
        .map(|(i, (name, first, count))| {
            // Each population's own I_e, on the model's other parameters.
            let neuron = neuron
                .params()
                .with_value("I_e", i_e[i])
                .map_err(|e| doc.invalid(&format!("populations.I_e.{i}"), i_e[i], &e.to_string()))?
                .with_tau_minus(neuron.tau_minus_ms());
            Ok(PopulationSpec {
                name: name.clone(),
                first_gid: 0,
                size: *count,
                neuron,
                v_init: Distribution::Normal {
                    mean: v0_mean[i],
                    std: v0_std[i],
                    min: f64::NEG_INFINITY,
                    max: f64::INFINITY,
                },
                background: if rate[i] > 0.0 {
                    Background::Poisson { rate_hz: rate[i], weight_pa: weight[i], delay_ms: delay[i] }
                } else {
                    Background::None
                },
                expected_rate_hz: None,
                placement: nodes
                    .positions
                    .as_ref()
                    .map(|all| Placement::Explicit(cajal_net::imported::population_positions(all, *first, *count))),
            })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    let res = Resolution::new(simulation.dt_ms)
        .map_err(|e| doc.invalid("simulation.dt_ms", simulation.dt_ms, &e.to_string()))?;
    let mut network = PopulationNetwork::new(simulation.seed, res, populations, Vec::new()).map_err(network_error)?;
    if !nodes.parameters.is_empty() || nodes.initial_v.is_some() {
        let row_of = |gid| nodes.describe_row(gid);
        let pops = cajal_net::Recipe::populations(&network);
        let classes = NeuronClasses::new(pops, &nodes.parameters, &known, &res, row_of).map_err(network_error)?;
        network = network.with_neuron_parameters(classes, nodes.initial_v.clone()).map_err(network_error)?;
    }
    let marked = |column: &str| crate::devices::nodes_marked(&nodes_path, column);
    let generators = read_current_generators(doc, cajal_net::Recipe::populations(&network), &marked)?;
    network = network.with_current_generators(generators).map_err(network_error)?;
    let mut table = EdgeTable::new(edges_path.clone(), cajal_net::Recipe::num_neurons(&network), res);
    if let Some(counts) = synapse_counts(doc, &nodes)? {
        table = table.with_counts(counts);
    }
    let (type_names, classes) = synapse_types(doc)?;
    table = table.with_synapse_types(type_names);
    network = network.with_plastic_classes(classes);
    Ok(Model {
        kind: crate::ModelKind::Connectome,
        simulation,
        network: network.with_edge_table(table),
        input_files: vec![nodes_path, edges_path],
    })
}

/// The `[synapse_types]` an edge table's `synapse` column may name, each a plastic synapse model with its
/// parameters (`[synapse_types.stdp_ee] synapse_model = "stdp_pl_synapse_hom"`, `lambda = ...`): their
/// names in order and, unless `plastic = false`, their plastic classes.
fn synapse_types(doc: &ModelDocument) -> Result<(Vec<String>, Vec<cajal_net::PlasticClass>), ModelError> {
    let Some(value) = doc.get("synapse_types") else { return Ok((Vec::new(), Vec::new())) };
    let Some(table) = value.as_table() else {
        return Err(doc.invalid("synapse_types", "(not a table)", "must be a table of synapse types"));
    };
    let names: Vec<String> = table.keys().cloned().collect();
    let mut classes = Vec::with_capacity(names.len());
    for name in &names {
        let key = format!("synapse_types.{name}");
        doc.expect_keys(&key, &crate::synapse_models::SYNAPSE_KEYS)?;
        let Some(rule) = crate::synapse_models::read_synapse_model(doc, &key)? else {
            return Err(doc.invalid(&format!("{key}.synapse_model"), "static_synapse", "must name a plastic model"));
        };
        classes.push(cajal_net::PlasticClass { name: name.clone(), rule });
    }
    if !crate::synapse_models::plasticity_switch(doc)? {
        classes.clear();
    }
    Ok((names, classes))
}

/// Edge tables of synapse counts: `[tables] weight_per_synapse_pA` times `[populations] sign` (+1 or -1 per
/// source population) per synapse, and `[tables] delay_ms` for tables without delays.
fn synapse_counts(doc: &ModelDocument, nodes: &NodeTable) -> Result<Option<cajal_net::SynapseCounts>, ModelError> {
    let unit =
        doc.get("tables.weight_per_synapse_pA").map(|_| doc.number("tables.weight_per_synapse_pA")).transpose()?;
    let delay_ms = doc.get("tables.delay_ms").map(|_| doc.number("tables.delay_ms")).transpose()?;
    if unit.is_none() && delay_ms.is_none() {
        return Ok(None);
    }
    let n = nodes.populations.len();
    let unit_weight = match unit {
        Some(w) => {
            let signs = doc.numbers("populations.sign", n)?;
            if let Some(i) = signs.iter().position(|s| *s != 1.0 && *s != -1.0) {
                return Err(doc.invalid(&format!("populations.sign.{i}"), signs[i], "must be +1 or -1"));
            }
            signs.iter().map(|s| s * w).collect()
        }
        None => Vec::new(),
    };
    Ok(Some(cajal_net::SynapseCounts {
        firsts: nodes.populations.iter().map(|p| p.1).collect(),
        unit_weight,
        delay_ms,
    }))
}
