//! The Potjans-Diesmann cortical microcircuit: reads its keys, derives the scaled sizes, synapse totals,
//! weights, delays and DC compensation exactly as NEST's example does, and builds the network recipe.

use cajal_core::iaf_psc_exp::{psc_per_psp, IafPscExpParams};
use cajal_core::NeuronSpec;

/// Why the microcircuit takes only iaf_psc_exp (its PSP-to-PSC conversion is that model's).
const MICROCIRCUIT_NEEDS: &str = "the microcircuit converts PSPs to PSCs with iaf_psc_exp's kernel";
use cajal_core::Resolution;
use cajal_net::{Background, Distribution, PopulationNetwork, PopulationSpec, Projection, Rule};

use crate::{Model, ModelDocument, ModelError, SimulationSettings};

/// How the synapses of a population pair are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnRule {
    FixedTotalNumber,
    FixedIndegree,
    PairwiseBernoulli,
}

/// Every key of a microcircuit file, checked.
#[derive(Clone, Debug)]
pub struct MicrocircuitParams {
    pub simulation: SimulationSettings,
    pub n_scaling: f64,
    pub k_scaling: f64,
    pub neuron: IafPscExpParams,
    pub names: Vec<String>,
    pub excitatory: Vec<bool>,
    pub n_full: Vec<f64>,
    pub k_ext: Vec<f64>,
    pub v0_mean: Vec<f64>,
    pub v0_std: Vec<f64>,
    pub full_mean_rates: Vec<f64>,
    pub rule: ConnRule,
    /// C[target][source].
    pub conn_probs: Vec<Vec<f64>>,
    pub psp_exc_mean: f64,
    pub g: f64,
    pub weight_rel_std: f64,
    /// PSP factor per (target, source).
    pub psp_factor: Vec<Vec<f64>>,
    pub delay_exc_mean: f64,
    pub delay_inh_mean: f64,
    pub delay_rel_std: f64,
    pub poisson_input: bool,
    pub bg_rate: f64,
    pub bg_delay: f64,
}

/// Quantities derived from the parameters, as NEST's example derives them.
#[derive(Clone, Debug)]
pub struct Derived {
    /// Scaled population sizes: round(N_full * N), ties to even.
    pub sizes: Vec<u32>,
    /// Full-scale synapse totals S[target][source] = ln(1 - C) / ln(1 - 1/(N_pre N_post)).
    pub full_synapses: Vec<Vec<f64>>,
    /// Scaled totals: round(S * N * K), ties to even.
    pub synapses: Vec<Vec<u64>>,
    /// Mean PSC per pair (pA), after in-degree scaling.
    pub psc_mean: Vec<Vec<f64>>,
    /// External PSC (pA), after in-degree scaling.
    pub psc_ext: f64,
    /// External in-degree per population: round(K_ext * K).
    pub k_ext: Vec<f64>,
    /// DC drive per population (pA), without the neuron's own I_e.
    pub dc: Vec<f64>,
}

/// Largest Poisson mean per neuron and step the background tables support.
const MAX_POISSON_MEAN_PER_STEP: f64 = 700.0;

const SECTIONS: [&str; 9] =
    ["model", "simulation", "scaling", "neuron", "populations", "connectivity", "background", "plasticity", "plastic"];

pub(crate) fn positive(doc: &ModelDocument, key: &str) -> Result<f64, ModelError> {
    let v = doc.number(key)?;
    if v <= 0.0 {
        return Err(doc.invalid(key, v, "must be > 0"));
    }
    Ok(v)
}

pub(crate) fn non_negative(doc: &ModelDocument, key: &str) -> Result<f64, ModelError> {
    let v = doc.number(key)?;
    if v < 0.0 {
        return Err(doc.invalid(key, v, "must be >= 0"));
    }
    Ok(v)
}

/// Why a value was refused, without the name and value the model error repeats.
fn reason(e: cajal_core::CoreError) -> String {
    match e {
        cajal_core::CoreError::InvalidParameter { reason, .. } => reason,
        other => other.to_string(),
    }
}

pub(crate) fn read_simulation(doc: &ModelDocument) -> Result<SimulationSettings, ModelError> {
    doc.expect_keys("simulation", &["dt_ms", "t_presim_ms", "t_sim_ms", "seed"])?;
    let dt_ms = positive(doc, "simulation.dt_ms")?;
    let res = Resolution::new(dt_ms).map_err(|e| doc.invalid("simulation.dt_ms", format!("{dt_ms:?}"), &reason(e)))?;
    let on_grid = |key: &str| -> Result<f64, ModelError> {
        let v = non_negative(doc, key)?;
        res.duration_steps(key, v).map_err(|e| doc.invalid(key, format!("{v:?}"), &reason(e)))?;
        Ok(v)
    };
    Ok(SimulationSettings {
        dt_ms,
        t_presim_ms: on_grid("simulation.t_presim_ms")?,
        t_sim_ms: on_grid("simulation.t_sim_ms")?,
        seed: doc.unsigned("simulation.seed")?,
    })
}

fn read_psp_factors(doc: &ModelDocument, names: &[String]) -> Result<Vec<Vec<f64>>, ModelError> {
    let n = names.len();
    let mut factor = vec![vec![1.0; n]; n];
    let Some(entries) = doc.get("connectivity.psp_factors") else { return Ok(factor) };
    let count =
        entries.as_array().ok_or_else(|| doc.invalid("connectivity.psp_factors", entries, "must be an array"))?.len();
    let index_of = |key: &str| -> Result<usize, ModelError> {
        let name = doc.string(key)?;
        names
            .iter()
            .position(|x| *x == name)
            .ok_or_else(|| doc.invalid(key, format!("\"{name}\""), "no population of that name"))
    };
    for e in 0..count {
        let key = format!("connectivity.psp_factors.{e}");
        doc.expect_keys(&key, &["target", "source", "factor"])?;
        let (t, s) = (index_of(&format!("{key}.target"))?, index_of(&format!("{key}.source"))?);
        factor[t][s] = doc.number(&format!("{key}.factor"))?;
    }
    Ok(factor)
}

/// The per-population columns of `[populations]`.
struct PopulationColumns {
    names: Vec<String>,
    excitatory: Vec<bool>,
    n_full: Vec<f64>,
    k_ext: Vec<f64>,
    v0_mean: Vec<f64>,
    v0_std: Vec<f64>,
    full_mean_rates: Vec<f64>,
}

fn read_populations(doc: &ModelDocument) -> Result<PopulationColumns, ModelError> {
    let keys = ["names", "excitatory", "N_full", "K_ext", "V0_mean", "V0_std", "full_mean_rates"];
    doc.expect_keys("populations", &keys)?;
    let names = doc.strings("populations.names")?;
    for (i, name) in names.iter().enumerate() {
        // Names become file names (spikes/<name>.csv): keep them plain and distinct.
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(doc.invalid(
                &format!("populations.names.{i}"),
                format!("\"{name}\""),
                "a name may only hold letters, digits, '_' and '-'",
            ));
        }
        if names[..i].contains(name) {
            return Err(doc.invalid(
                &format!("populations.names.{i}"),
                format!("\"{name}\""),
                "names must be distinct",
            ));
        }
    }
    let n = names.len();
    let excitatory = match doc.get("populations.excitatory").and_then(|v| v.as_array()) {
        Some(a) if a.len() == n && a.iter().all(toml::Value::is_bool) => {
            a.iter().filter_map(toml::Value::as_bool).collect()
        }
        _ => {
            let v = doc.get("populations.excitatory").map_or("(missing)".into(), ToString::to_string);
            return Err(doc.invalid("populations.excitatory", v, &format!("must be {n} booleans, one per population")));
        }
    };
    let n_full = doc.numbers("populations.N_full", n)?;
    for (i, &x) in n_full.iter().enumerate() {
        if !(x >= 1.0 && x.fract() == 0.0) {
            return Err(doc.invalid(&format!("populations.N_full.{i}"), x, "must be a whole number >= 1"));
        }
    }
    let k_ext = doc.numbers("populations.K_ext", n)?;
    let v0_mean = doc.numbers("populations.V0_mean", n)?;
    let v0_std = doc.numbers("populations.V0_std", n)?;
    let rates = doc.numbers("populations.full_mean_rates", n)?;
    for (key, values) in
        [("populations.K_ext", &k_ext), ("populations.V0_std", &v0_std), ("populations.full_mean_rates", &rates)]
    {
        if let Some(i) = values.iter().position(|&x| x < 0.0) {
            return Err(doc.invalid(&format!("{key}.{i}"), values[i], "must be >= 0"));
        }
    }
    Ok(PopulationColumns { names, excitatory, n_full, k_ext, v0_mean, v0_std, full_mean_rates: rates })
}

fn read_conn_probs(doc: &ModelDocument, n: usize) -> Result<Vec<Vec<f64>>, ModelError> {
    let rows = doc.get("connectivity.conn_probs").and_then(|v| v.as_array()).map_or(0, Vec::len);
    if rows != n {
        let v = doc.get("connectivity.conn_probs").map_or("(missing)".into(), ToString::to_string);
        return Err(doc.invalid(
            "connectivity.conn_probs",
            v,
            &format!("must be {n} rows (targets) of {n} probabilities"),
        ));
    }
    (0..n)
        .map(|t| {
            let row = doc.numbers(&format!("connectivity.conn_probs.{t}"), n)?;
            if let Some(s) = row.iter().position(|p| !(0.0..=1.0).contains(p) || *p == 1.0) {
                return Err(doc.invalid(
                    &format!("connectivity.conn_probs.{t}.{s}"),
                    row[s],
                    "probabilities must lie in [0, 1)",
                ));
            }
            Ok(row)
        })
        .collect()
}

impl MicrocircuitParams {
    /// Reads and checks every key of a microcircuit document.
    pub fn read(doc: &ModelDocument) -> Result<Self, ModelError> {
        doc.expect_keys("", &SECTIONS)?;
        let simulation = read_simulation(doc)?;
        doc.expect_keys("scaling", &["N", "K"])?;
        let (n_scaling, k_scaling) = (positive(doc, "scaling.N")?, positive(doc, "scaling.K")?);
        let neuron = crate::neuron_models::read_iaf_psc_exp(doc, MICROCIRCUIT_NEEDS)?;
        let PopulationColumns { names, excitatory, n_full, k_ext, v0_mean, v0_std, full_mean_rates } =
            read_populations(doc)?;
        let n = names.len();
        let conn_keys = [
            "rule",
            "conn_probs",
            "PSP_exc_mean",
            "g",
            "weight_rel_std",
            "psp_factors",
            "delay_exc_mean",
            "delay_inh_mean",
            "delay_rel_std",
        ];
        doc.expect_keys("connectivity", &conn_keys)?;
        let rule = match doc.string("connectivity.rule")?.as_str() {
            "fixed_total_number" => ConnRule::FixedTotalNumber,
            "fixed_indegree" => ConnRule::FixedIndegree,
            "pairwise_bernoulli" => ConnRule::PairwiseBernoulli,
            other => {
                return Err(doc.invalid(
                    "connectivity.rule",
                    format!("\"{other}\""),
                    "known rules: fixed_total_number, fixed_indegree, pairwise_bernoulli",
                ))
            }
        };
        doc.expect_keys("background", &["input", "rate", "delay"])?;
        let poisson_input = match doc.string("background.input")?.as_str() {
            "poisson" => true,
            "dc" => false,
            other => {
                return Err(doc.invalid("background.input", format!("\"{other}\""), "must be \"poisson\" or \"dc\""))
            }
        };
        Ok(Self {
            simulation,
            n_scaling,
            k_scaling,
            neuron,
            conn_probs: read_conn_probs(doc, n)?,
            psp_factor: read_psp_factors(doc, &names)?,
            names,
            excitatory,
            n_full,
            k_ext,
            v0_mean,
            v0_std,
            full_mean_rates,
            rule,
            psp_exc_mean: doc.number("connectivity.PSP_exc_mean")?,
            g: doc.number("connectivity.g")?,
            weight_rel_std: non_negative(doc, "connectivity.weight_rel_std")?,
            delay_exc_mean: positive(doc, "connectivity.delay_exc_mean")?,
            delay_inh_mean: positive(doc, "connectivity.delay_inh_mean")?,
            delay_rel_std: non_negative(doc, "connectivity.delay_rel_std")?,
            poisson_input,
            bg_rate: non_negative(doc, "background.rate")?,
            bg_delay: positive(doc, "background.delay")?,
        })
    }

    /// Sizes, totals, weights and DC drive at the configured scale.
    #[must_use]
    pub fn derive(&self) -> Derived {
        let n = self.names.len();
        let (ns, ks) = (self.n_scaling, self.k_scaling);
        let sizes = self.n_full.iter().map(|&x| (x * ns).round_ties_even() as u32).collect();
        let full_synapses: Vec<Vec<f64>> = (0..n)
            .map(|t| {
                (0..n)
                    .map(|s| (1.0 - self.conn_probs[t][s]).ln() / (1.0 - 1.0 / (self.n_full[s] * self.n_full[t])).ln())
                    .collect()
            })
            .collect();
        let synapses = full_synapses
            .iter()
            .map(|row| row.iter().map(|&x| (x * ns * ks).round_ties_even() as u64).collect())
            .collect();
        let p = &self.neuron;
        let psc_over_psp = psc_per_psp(p.c_m, p.tau_m, p.tau_syn_ex);
        let psc_full: Vec<Vec<f64>> = (0..n)
            .map(|t| {
                (0..n)
                    .map(|s| {
                        let sign = if self.excitatory[s] { 1.0 } else { self.g };
                        self.psp_exc_mean * sign * self.psp_factor[t][s] * psc_over_psp
                    })
                    .collect()
            })
            .collect();
        let psc_ext_full = self.psp_exc_mean * psc_over_psp;
        let k_ext: Vec<f64> = self.k_ext.iter().map(|&k| (k * ks).round_ties_even()).collect();
        let tau_syn = p.tau_syn_ex;
        // As NEST's example: the DC that replaces Poisson input uses the full-scale K_ext and PSC_ext (the
        // in-degree compensation below then adds to it).
        let mut dc: Vec<f64> = if self.poisson_input {
            vec![0.0; n]
        } else {
            self.k_ext.iter().map(|&k| self.bg_rate * k * psc_ext_full * tau_syn * 0.001).collect()
        };
        let root_k = ks.sqrt();
        if ks != 1.0 {
            for t in 0..n {
                let input_rec: f64 = (0..n)
                    .map(|s| psc_full[t][s] * (full_synapses[t][s] / self.n_full[t]) * self.full_mean_rates[s])
                    .sum();
                dc[t] += 0.001 * tau_syn * (1.0 - root_k) * input_rec;
                if self.poisson_input {
                    dc[t] += 0.001 * tau_syn * (1.0 - root_k) * psc_ext_full * self.k_ext[t] * self.bg_rate;
                }
            }
        }
        let psc_mean = psc_full.iter().map(|row| row.iter().map(|w| w / root_k).collect()).collect();
        Derived { sizes, full_synapses, synapses, psc_mean, psc_ext: psc_ext_full / root_k, k_ext, dc }
    }
}

/// Builds the microcircuit model from a checked document.
pub fn build(doc: &ModelDocument) -> Result<Model, ModelError> {
    let params = MicrocircuitParams::read(doc)?;
    let d = params.derive();
    if let Some(i) = d.sizes.iter().position(|&s| s == 0) {
        let reason = format!("population {} has size 0 at N scaling {}", params.names[i], params.n_scaling);
        return Err(doc.invalid(&format!("populations.N_full.{i}"), params.n_full[i], &reason));
    }
    let n = params.names.len();
    let tau_minus = match doc.get("neuron.tau_minus") {
        None => cajal_core::neuron_model::DEFAULT_TAU_MINUS_MS,
        Some(_) => positive(doc, "neuron.tau_minus")?,
    };
    let populations = (0..n)
        .map(|i| PopulationSpec {
            name: params.names[i].clone(),
            first_gid: 0,
            size: d.sizes[i],
            neuron: NeuronSpec::new(IafPscExpParams { i_e: params.neuron.i_e + d.dc[i], ..params.neuron.clone() })
                .with_tau_minus(tau_minus),
            v_init: Distribution::Normal {
                mean: params.v0_mean[i],
                std: params.v0_std[i],
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
            },
            background: if params.poisson_input && d.k_ext[i] > 0.0 {
                Background::Poisson {
                    rate_hz: params.bg_rate * d.k_ext[i],
                    weight_pa: d.psc_ext,
                    delay_ms: params.bg_delay,
                }
            } else {
                Background::None
            },
            expected_rate_hz: Some(params.full_mean_rates[i]),
            placement: None,
        })
        .collect();
    let dt = params.simulation.dt_ms;
    let res = Resolution::new(dt).map_err(|e| doc.invalid("simulation.dt_ms", format!("{dt:?}"), &reason(e)))?;
    let delay_of = |key: &str, mean: f64| -> Result<Distribution, ModelError> {
        if params.delay_rel_std == 0.0 {
            res.delay_steps(mean).map_err(|e| doc.invalid(key, format!("{mean:?}"), &reason(e)))?;
            return Ok(Distribution::Constant(mean));
        }
        let d = Distribution::Normal { mean, std: mean * params.delay_rel_std, min: dt / 2.0, max: f64::INFINITY };
        d.validate("delay").map_err(|e| {
            doc.invalid(key, mean, &format!("with connectivity.delay_rel_std = {}: {e}", params.delay_rel_std))
        })?;
        Ok(d)
    };
    res.delay_steps(params.bg_delay)
        .map_err(|e| doc.invalid("background.delay", format!("{:?}", params.bg_delay), &reason(e)))?;
    if let Some(i) = (0..n).find(|&i| params.bg_rate * d.k_ext[i] * dt * 1e-3 > MAX_POISSON_MEAN_PER_STEP) {
        let reason = format!(
            "gives {} a Poisson mean above {MAX_POISSON_MEAN_PER_STEP} events per step; use background.input = \"dc\"",
            params.names[i]
        );
        return Err(doc.invalid("background.rate", params.bg_rate, &reason));
    }
    let delay_exc = delay_of("connectivity.delay_exc_mean", params.delay_exc_mean)?;
    let delay_inh = delay_of("connectivity.delay_inh_mean", params.delay_inh_mean)?;
    let mut projections = Vec::new();
    for t in 0..n {
        for s in 0..n {
            let total = d.synapses[t][s];
            if total == 0 {
                continue;
            }
            let rule = match params.rule {
                ConnRule::FixedTotalNumber => Rule::FixedTotalNumber(total),
                ConnRule::FixedIndegree => {
                    Rule::FixedIndegree((total as f64 / f64::from(d.sizes[t])).round_ties_even() as u32)
                }
                ConnRule::PairwiseBernoulli => {
                    Rule::PairwiseBernoulli((total as f64 / (f64::from(d.sizes[t]) * f64::from(d.sizes[s]))).min(1.0))
                }
            };
            let w = d.psc_mean[t][s];
            let delay_ms = if params.excitatory[s] { delay_exc.clone() } else { delay_inh.clone() };
            projections.push(Projection {
                source: s,
                target: t,
                rule,
                weight: Distribution::sign_preserving_normal(w, w.abs() * params.weight_rel_std),
                delay_ms,
                distance: cajal_net::DistanceTerms::default(),
                allow_autapses: true,
                plasticity: None,
            });
        }
    }
    crate::synapse_models::apply_plasticity_tables(doc, &params.names, |name, rule| {
        let found =
            projections.iter_mut().find(|p| format!("{}->{}", params.names[p.source], params.names[p.target]) == name);
        found.map(|p| p.plasticity = Some(rule)).is_some()
    })?;
    let network = PopulationNetwork::new(params.simulation.seed, res, populations, projections)
        .map_err(|source| ModelError::Network { file: doc.file().to_owned(), source })?;
    Ok(Model { kind: crate::ModelKind::Microcircuit, simulation: params.simulation, network, input_files: Vec::new() })
}
