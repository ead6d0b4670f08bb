//! A spiking connectome brought as tables (`model = "connectome"`): the node table names each neuron's
//! population (and position), the edge table its incoming synapses; the model file gives the neuron
//! parameters, initial voltages and background per population. `cajal export-connectome` writes all three.

use cajal_core::Resolution;
use cajal_net::{Background, Distribution, EdgeTable, NodeTable, Placement, PopulationNetwork, PopulationSpec};

use crate::microcircuit::{read_neuron, read_simulation};
use crate::{Model, ModelDocument, ModelError};

const SECTIONS: [&str; 5] = ["model", "simulation", "tables", "neuron", "populations"];
const POPULATION_KEYS: [&str; 7] = ["names", "V0_mean", "V0_std", "I_e", "bg_rate_hz", "bg_weight_pA", "bg_delay_ms"];

/// Builds the network of a connectome model file.
pub fn build(doc: &ModelDocument) -> Result<Model, ModelError> {
    doc.expect_keys("", &SECTIONS)?;
    let simulation = read_simulation(doc)?;
    doc.expect_keys("tables", &["nodes", "edges"])?;
    let nodes_path = doc.resolve(&doc.string("tables.nodes")?);
    let edges_path = doc.resolve(&doc.string("tables.edges")?);
    let network_error = |source| ModelError::Network { file: doc.file().to_owned(), source };
    let nodes = NodeTable::read(&nodes_path).map_err(network_error)?;
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
        .map(|(i, (name, first, count))| PopulationSpec {
            name: name.clone(),
            first_gid: 0,
            size: *count,
            neuron: cajal_core::iaf_psc_exp::IafPscExpParams { i_e: i_e[i], ..neuron.clone() },
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
        .collect();
    let res = Resolution::new(simulation.dt_ms)
        .map_err(|e| doc.invalid("simulation.dt_ms", simulation.dt_ms, &e.to_string()))?;
    let network = PopulationNetwork::new(simulation.seed, res, populations, Vec::new()).map_err(network_error)?;
    let table = EdgeTable::new(edges_path.clone(), cajal_net::Recipe::num_neurons(&network), res);
    Ok(Model {
        kind: "connectome".into(),
        simulation,
        network: network.with_edge_table(table),
        input_files: vec![nodes_path, edges_path],
    })
}
