//! A spatially embedded spiking sheet: excitatory and inhibitory iaf_psc_exp populations placed uniformly
//! at random or on square grids on a square (optionally periodic) sheet, connected by distance kernels within a cutoff, with
//! conduction delays d0 + d / v and Poisson background. `scaling.N` scales the neuron count and the sheet
//! area together, so density and in-degrees stay (1.0 = the model file's full size).

use cajal_core::Resolution;
use cajal_net::{
    Background, Boundary, DistanceTerms, Distribution, Kernel, Placement, PopulationNetwork, PopulationSpec,
    Projection, Rule,
};

use crate::microcircuit::read_simulation;
use crate::neuron_models::read_neuron;
use crate::synapse_models::{read_synapse_model, SYNAPSE_KEYS};
use crate::{Model, ModelDocument, ModelError};

const SECTIONS: [&str; 8] =
    ["model", "simulation", "scaling", "sheet", "neuron", "populations", "projections", "plastic"];
/// The keys of a distance rule (see [`read_distance_rule`]), shared by spiking projections and rate
/// networks.
pub(crate) const DISTANCE_RULE_KEYS: [&str; 6] = ["rule", "indegree", "kernel", "p0", "length_mm", "cutoff_mm"];
/// A projection's keys besides its distance rule's.
const PROJECTION_KEYS: [&str; 7] =
    ["source", "target", "weight_pA", "weight_rel_std", "delay_d0_ms", "velocity_mm_per_ms", "weight_decay_mm"];

fn positive(doc: &ModelDocument, key: &str) -> Result<f64, ModelError> {
    let v = doc.number(key)?;
    if v.is_nan() || v <= 0.0 {
        return Err(doc.invalid(key, v, "must be > 0"));
    }
    Ok(v)
}

/// How each population is placed (`[populations] placement`, default all "uniform").
fn read_placements(doc: &ModelDocument, count: usize) -> Result<Vec<bool>, ModelError> {
    if doc.get("populations.placement").is_none() {
        return Ok(vec![false; count]);
    }
    let kinds = doc.strings("populations.placement")?;
    if kinds.len() != count {
        return Err(doc.invalid(
            "populations.placement",
            format!("{kinds:?}"),
            &format!("needs one entry per population ({count})"),
        ));
    }
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| match k.as_str() {
            "grid" => Ok(true),
            "uniform" => Ok(false),
            other => Err(doc.invalid(&format!("populations.placement.{i}"), other, "must be uniform or grid")),
        })
        .collect()
}

/// A population of about `size` neurons on a `side` mm sheet: uniform random, or on the square grid of
/// k x k points (k = round(sqrt(size)), so the size becomes k^2) at the centres of cells side / k wide, as a
/// NEST grid layer of that extent places them.
fn place(size: f64, side: f64, grid: bool) -> (f64, Placement) {
    if grid {
        let k = size.sqrt().round().max(1.0);
        let spacing = side / k;
        let origin = [spacing / 2.0, spacing / 2.0, 0.0];
        (k * k, Placement::Grid { shape: [k as u32, k as u32, 1], spacing, origin })
    } else {
        (size, Placement::Uniform { low: [0.0; 3], high: [side, side, 0.0] })
    }
}

/// The populations of `[populations]` at scaling `n`, placed on a sheet of side `side` mm.
fn read_populations(doc: &ModelDocument, n: f64, side: f64) -> Result<Vec<PopulationSpec>, ModelError> {
    let keys =
        ["names", "N_full", "V0_mean", "V0_std", "bg_rate_hz", "K_ext", "bg_weight_pA", "bg_delay_ms", "placement"];
    doc.expect_keys("populations", &keys)?;
    let names = doc.strings("populations.names")?;
    let count = names.len();
    let grid = read_placements(doc, count)?;
    let col = |key: &str| doc.numbers(&format!("populations.{key}"), count);
    let (n_full, v0_mean, v0_std, k_ext) = (col("N_full")?, col("V0_mean")?, col("V0_std")?, col("K_ext")?);
    let (rate, weight, delay) = (
        positive(doc, "populations.bg_rate_hz")?,
        doc.number("populations.bg_weight_pA")?,
        positive(doc, "populations.bg_delay_ms")?,
    );
    let neuron = read_neuron(doc)?;
    let mut pops = Vec::with_capacity(count);
    for i in 0..count {
        let (size, placement) = place((n_full[i] * n).round_ties_even(), side, grid[i]);
        if !(size >= 1.0 && size <= f64::from(u32::MAX)) {
            return Err(doc.invalid(
                &format!("populations.N_full.{i}"),
                n_full[i],
                &format!("gives {size} neurons at scaling {n}"),
            ));
        }
        if k_ext[i] < 0.0 || v0_std[i] < 0.0 {
            return Err(doc.invalid(&format!("populations.K_ext.{i}"), k_ext[i], "K_ext and V0_std must be >= 0"));
        }
        pops.push(PopulationSpec {
            name: names[i].clone(),
            first_gid: 0,
            size: size as u32,
            neuron: neuron.clone(),
            v_init: Distribution::Normal {
                mean: v0_mean[i],
                std: v0_std[i],
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
            },
            background: if k_ext[i] > 0.0 {
                Background::Poisson { rate_hz: rate * k_ext[i], weight_pa: weight, delay_ms: delay }
            } else {
                Background::None
            },
            expected_rate_hz: None,
            placement: Some(placement),
        });
    }
    Ok(pops)
}

/// The kernel of the table `key` (`kernel`, `p0`, `length_mm`).
fn read_kernel(doc: &ModelDocument, key: &str) -> Result<Kernel, ModelError> {
    let p0 = doc.number(&format!("{key}.p0"))?;
    let kernel = match doc.string(&format!("{key}.kernel"))?.as_str() {
        "step" => Kernel::Step { p0 },
        "exponential" => Kernel::Exponential { p0, lambda: positive(doc, &format!("{key}.length_mm"))? },
        "gaussian" => Kernel::Gaussian { p0, sigma: positive(doc, &format!("{key}.length_mm"))? },
        other => return Err(doc.invalid(&format!("{key}.kernel"), other, "must be step, exponential or gaussian")),
    };
    kernel.validate(key).map_err(|e| doc.invalid(&format!("{key}.p0"), p0, &e.to_string()))?;
    Ok(kernel)
}

/// The distance rule of the table `key`: `rule` (distance_bernoulli, or distance_indegree with
/// `indegree`), its kernel and `cutoff_mm`.
pub(crate) fn read_distance_rule(doc: &ModelDocument, key: &str) -> Result<Rule, ModelError> {
    let (kernel, cutoff) = (read_kernel(doc, key)?, positive(doc, &format!("{key}.cutoff_mm"))?);
    Ok(match doc.string(&format!("{key}.rule"))?.as_str() {
        "distance_bernoulli" => Rule::DistanceBernoulli { kernel, cutoff },
        "distance_indegree" => {
            let k = doc.unsigned(&format!("{key}.indegree"))?;
            let k = u32::try_from(k).map_err(|_| doc.invalid(&format!("{key}.indegree"), k, "too large"))?;
            Rule::DistanceIndegree { k, kernel, cutoff }
        }
        other => {
            return Err(doc.invalid(&format!("{key}.rule"), other, "must be distance_bernoulli or distance_indegree"))
        }
    })
}

fn read_projection(doc: &ModelDocument, e: usize, names: &[String]) -> Result<Projection, ModelError> {
    let key = format!("projections.{e}");
    doc.expect_keys(&key, &[&PROJECTION_KEYS[..], &DISTANCE_RULE_KEYS, &SYNAPSE_KEYS].concat())?;
    let index_of = |k: &str| -> Result<usize, ModelError> {
        let name = doc.string(&format!("{key}.{k}"))?;
        names
            .iter()
            .position(|x| *x == name)
            .ok_or_else(|| doc.invalid(&format!("{key}.{k}"), &name, "no population of that name"))
    };
    let rule = read_distance_rule(doc, &key)?;
    let w = doc.number(&format!("{key}.weight_pA"))?;
    let rel = doc.number(&format!("{key}.weight_rel_std"))?;
    if rel < 0.0 {
        return Err(doc.invalid(&format!("{key}.weight_rel_std"), rel, "must be >= 0"));
    }
    let decay = doc.number(&format!("{key}.weight_decay_mm"))?;
    Ok(Projection {
        source: index_of("source")?,
        target: index_of("target")?,
        rule,
        weight: Distribution::sign_preserving_normal(w, w.abs() * rel),
        delay_ms: Distribution::Constant(1.0),
        distance: DistanceTerms {
            delay: Some((
                doc.number(&format!("{key}.delay_d0_ms"))?,
                doc.number(&format!("{key}.velocity_mm_per_ms"))?,
            )),
            weight_decay_mm: (decay > 0.0).then_some(decay),
        },
        allow_autapses: true,
        plasticity: read_synapse_model(doc, &key)?,
    })
}

/// Builds the spatial sheet a document describes.
pub fn build(doc: &ModelDocument) -> Result<Model, ModelError> {
    doc.expect_keys("", &SECTIONS)?;
    let simulation = read_simulation(doc)?;
    doc.expect_keys("scaling", &["N"])?;
    let n = positive(doc, "scaling.N")?;
    doc.expect_keys("sheet", &["side_mm", "periodic"])?;
    let side = positive(doc, "sheet.side_mm")? * n.sqrt();
    let periodic = match doc.get("sheet.periodic") {
        Some(toml::Value::Boolean(b)) => *b,
        other => return Err(doc.invalid("sheet.periodic", format!("{other:?}"), "must be true or false")),
    };
    let populations = read_populations(doc, n, side)?;
    let names: Vec<String> = populations.iter().map(|p| p.name.clone()).collect();
    let count = doc.get("projections").and_then(toml::Value::as_array).map_or(0, Vec::len);
    let mut projections = (0..count).map(|e| read_projection(doc, e, &names)).collect::<Result<Vec<_>, _>>()?;
    if !crate::synapse_models::plasticity_switch(doc)? {
        projections.iter_mut().for_each(|p| p.plasticity = None);
    }
    let widest = projections
        .iter()
        .filter_map(|p| match p.rule {
            Rule::DistanceBernoulli { cutoff, .. } | Rule::DistanceIndegree { cutoff, .. } => Some(cutoff),
            _ => None,
        })
        .fold(0.0, f64::max);
    if side < 2.0 * widest {
        let smallest = (2.0 * widest / positive(doc, "sheet.side_mm")?).powi(2);
        return Err(doc.invalid(
            "scaling.N",
            n,
            &format!(
                "gives a sheet of {side:.3} mm, narrower than twice the largest cutoff ({:.3} mm): neighbourhoods \
                 would wrap onto themselves and in-degrees shrink; use N >= {smallest:.4}",
                2.0 * widest
            ),
        ));
    }
    let res = Resolution::new(simulation.dt_ms)
        .map_err(|e| doc.invalid("simulation.dt_ms", simulation.dt_ms, &e.to_string()))?;
    let network = PopulationNetwork::new(simulation.seed, res, populations, projections)
        .map_err(|source| ModelError::Network { file: doc.file().to_owned(), source })?
        .with_boundary(Boundary { periodic: periodic.then_some([side, side, 0.0]) });
    Ok(Model { kind: crate::ModelKind::SpatialSheet, simulation, network, input_files: Vec::new() })
}
