//! A network of populations and projections written out in the model file (`model = "network"`), as a
//! NEST script would create and connect them: each population with its own neuron model and parameters
//! (NEST's names; omitted ones take NEST's defaults where the model allows), an initial potential and an
//! optional Poisson background; projections by rule with a constant weight and delay. `--scale F` scales
//! the population sizes (and fixed totals); in-degrees and probabilities stay. models/brunel.toml is one.
//! Devices (generator populations and current generators, [`crate::devices`]) join the same way; a
//! generator population keeps its size under `--scale` (its table names its nodes).

use cajal_core::Resolution;
use cajal_net::{Background, Distribution, PopulationNetwork, PopulationSpec, Projection, Rule};

use std::path::PathBuf;

use cajal_net::Recipe;

use crate::devices::{read_current_generators, read_device};
use crate::microcircuit::{non_negative, positive, read_simulation};
use crate::neuron_models::read_neuron_at;
use crate::synapse_models::{read_synapse_model, SYNAPSE_KEYS};
use crate::{Model, ModelDocument, ModelError, ModelKind};

const SECTIONS: [&str; 7] =
    ["model", "simulation", "scaling", "populations", "projections", "current_generators", "plastic"];
const POPULATION_KEYS: [&str; 6] = ["name", "size", "V_m", "neuron", "device", "background"];
const BACKGROUND_KEYS: [&str; 3] = ["rate_hz", "weight", "delay_ms"];
const PROJECTION_KEYS: [&str; 9] =
    ["source", "target", "rule", "indegree", "p", "number", "weight", "delay_ms", "allow_autapses"];

/// The number of entries of the array of tables `key`.
fn count(doc: &ModelDocument, key: &str) -> Result<usize, ModelError> {
    match doc.get(key) {
        Some(toml::Value::Array(items)) if !items.is_empty() => Ok(items.len()),
        Some(other) => Err(doc.invalid(key, other, "must be a non-empty array of tables ([[...]])")),
        None => Err(doc.invalid(key, "(missing)", "at least one is needed")),
    }
}

/// The membrane potential (mV) a NEST neuron of `model` starts at unless V_m is set: its model's default,
/// whatever E_L is set to (NEST keeps the absolute V_m when E_L changes).
fn nest_initial_v_m(model: &str) -> f64 {
    match model {
        "aeif_cond_exp" => -70.6,
        _ => -70.0,
    }
}

/// Population `i` at scale `n`, and the files it reads.
fn read_population(doc: &ModelDocument, i: usize, n: f64) -> Result<(PopulationSpec, Vec<PathBuf>), ModelError> {
    let key = format!("populations.{i}");
    doc.expect_keys(&key, &POPULATION_KEYS)?;
    let name = doc.string(&format!("{key}.name"))?;
    let full = doc.unsigned(&format!("{key}.size"))?;
    let is_device = doc.get(&format!("{key}.device")).is_some();
    let size = if is_device { full as f64 } else { (full as f64 * n).round() };
    if size < 1.0 || size > f64::from(u32::MAX) {
        return Err(doc.invalid(&format!("{key}.size"), full, &format!("gives {size} neurons at scaling {n}")));
    }
    let (neuron, files) = match (is_device, doc.get(&format!("{key}.neuron")).is_some()) {
        (true, true) => {
            return Err(doc.invalid(&key, "neuron and device", "a population is either neurons or a device"))
        }
        (true, false) => read_device(doc, &format!("{key}.device"), size as u32)?,
        (false, _) => (read_neuron_at(doc, &format!("{key}.neuron"))?, Vec::new()),
    };
    let v_key = format!("{key}.V_m");
    let v_init = match doc.get(&v_key) {
        None => Distribution::Constant(nest_initial_v_m(neuron.params().model().name())),
        Some(toml::Value::Table(_)) if doc.get(&format!("{v_key}.normal")).is_some() => {
            doc.expect_keys(&v_key, &["normal"])?;
            let p = doc.numbers(&format!("{v_key}.normal"), 2)?;
            if !(p[0].is_finite() && p[1].is_finite() && p[1] >= 0.0) {
                return Err(doc.invalid(
                    &format!("{v_key}.normal"),
                    format!("[{}, {}]", p[0], p[1]),
                    "must be [mean, sd] with sd >= 0",
                ));
            }
            Distribution::Normal { mean: p[0], std: p[1], min: f64::NEG_INFINITY, max: f64::INFINITY }
        }
        Some(toml::Value::Table(_)) => {
            doc.expect_keys(&v_key, &["uniform", "normal"])?;
            let bounds = doc.numbers(&format!("{v_key}.uniform"), 2)?;
            let (low, high) = (bounds[0], bounds[1]);
            if !(low.is_finite() && high.is_finite() && low < high) {
                return Err(doc.invalid(
                    &format!("{v_key}.uniform"),
                    format!("[{low}, {high}]"),
                    "must be [low, high] with low < high",
                ));
            }
            Distribution::Uniform { low, high }
        }
        Some(_) => Distribution::Constant(doc.number(&v_key)?),
    };
    let background = match doc.get(&format!("{key}.background")) {
        None => Background::None,
        Some(_) => {
            let bg = format!("{key}.background");
            doc.expect_keys(&bg, &BACKGROUND_KEYS)?;
            Background::Poisson {
                rate_hz: non_negative(doc, &format!("{bg}.rate_hz"))?,
                weight_pa: doc.number(&format!("{bg}.weight"))?,
                delay_ms: positive(doc, &format!("{bg}.delay_ms"))?,
            }
        }
    };
    let spec = PopulationSpec {
        name,
        first_gid: 0,
        size: size as u32,
        neuron,
        v_init,
        background,
        expected_rate_hz: None,
        placement: None,
    };
    Ok((spec, files))
}

/// Projection `e` between the populations `names`, at scale `n`.
fn read_projection(doc: &ModelDocument, e: usize, names: &[String], n: f64) -> Result<Projection, ModelError> {
    let key = format!("projections.{e}");
    let known: Vec<&str> = PROJECTION_KEYS.iter().chain(SYNAPSE_KEYS.iter()).copied().collect();
    doc.expect_keys(&key, &known)?;
    let index_of = |k: &str| -> Result<usize, ModelError> {
        let name = doc.string(&format!("{key}.{k}"))?;
        names
            .iter()
            .position(|x| *x == name)
            .ok_or_else(|| doc.invalid(&format!("{key}.{k}"), &name, "no population of that name"))
    };
    let rule_key = format!("{key}.rule");
    let rule = match doc.string(&rule_key)?.as_str() {
        "fixed_indegree" => {
            let k = doc.unsigned(&format!("{key}.indegree"))?;
            Rule::FixedIndegree(u32::try_from(k).map_err(|_| doc.invalid(&format!("{key}.indegree"), k, "too large"))?)
        }
        "pairwise_bernoulli" => Rule::PairwiseBernoulli(doc.number(&format!("{key}.p"))?),
        "fixed_total_number" => {
            Rule::FixedTotalNumber((doc.unsigned(&format!("{key}.number"))? as f64 * n).round() as u64)
        }
        "one_to_one" => Rule::OneToOne,
        "all_to_all" => Rule::AllToAll,
        other => {
            return Err(doc.invalid(
                &rule_key,
                other,
                "must be fixed_indegree, pairwise_bernoulli, fixed_total_number, one_to_one or all_to_all",
            ))
        }
    };
    let autapses_key = format!("{key}.allow_autapses");
    let allow_autapses = match doc.get(&autapses_key) {
        None => true,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => return Err(doc.invalid(&autapses_key, other, "must be true or false")),
    };
    Ok(Projection {
        source: index_of("source")?,
        target: index_of("target")?,
        rule,
        weight: Distribution::Constant(doc.number(&format!("{key}.weight"))?),
        delay_ms: Distribution::Constant(positive(doc, &format!("{key}.delay_ms"))?),
        distance: Default::default(),
        allow_autapses,
        plasticity: read_synapse_model(doc, &key)?,
    })
}

/// Builds the network a document describes.
pub fn build(doc: &ModelDocument) -> Result<Model, ModelError> {
    doc.expect_keys("", &SECTIONS)?;
    let simulation = read_simulation(doc)?;
    doc.expect_keys("scaling", &["N"])?;
    let n = positive(doc, "scaling.N")?;
    let (populations, files): (Vec<PopulationSpec>, Vec<Vec<PathBuf>>) = (0..count(doc, "populations")?)
        .map(|i| read_population(doc, i, n))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let names: Vec<String> = populations.iter().map(|p| p.name.clone()).collect();
    if let Some(dup) = names.iter().enumerate().find(|(i, x)| names[..*i].contains(x)) {
        return Err(doc.invalid(&format!("populations.{}.name", dup.0), dup.1, "names must be distinct"));
    }
    let mut projections = match doc.get("projections") {
        None => Vec::new(),
        Some(_) => (0..count(doc, "projections")?)
            .map(|e| read_projection(doc, e, &names, n))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if !crate::synapse_models::plasticity_switch(doc)? {
        projections.iter_mut().for_each(|p| p.plasticity = None);
    }
    let res = Resolution::new(simulation.dt_ms)
        .map_err(|e| doc.invalid("simulation.dt_ms", simulation.dt_ms, &e.to_string()))?;
    let in_file = |source| ModelError::Network { file: doc.file().to_owned(), source };
    let network = PopulationNetwork::new(simulation.seed, res, populations, projections).map_err(in_file)?;
    let no_table =
        |_: &str| Err("a column of a node table: only connectome models (model = \"connectome\") have one".to_owned());
    let generators = read_current_generators(doc, network.populations(), &no_table)?;
    let network = network.with_current_generators(generators).map_err(in_file)?;
    let input_files = files.into_iter().flatten().collect();
    Ok(Model { kind: ModelKind::Network, simulation, network, input_files })
}
