//! The neuron models that model files can name (`[neuron] model = "..."`), each with the reader of its
//! `[neuron]` table. A model in cajal-core becomes available to model files with one entry in
//! [`NEURON_MODELS`].

use cajal_core::aeif_cond_exp::AeifCondExpParams;
use cajal_core::iaf_cond_exp::IafCondExpParams;
use cajal_core::iaf_psc_alpha::IafPscAlphaParams;
use cajal_core::iaf_psc_delta::IafPscDeltaParams;
use cajal_core::iaf_psc_exp::IafPscExpParams;
use cajal_core::{CoreError, NeuronSpec};

use crate::microcircuit::{non_negative, positive};
use crate::{ModelDocument, ModelError};

/// A neuron model model files can name, the reader of its neuron table (the table's key, e.g. `neuron`
/// or `populations.0.neuron`) and its neuron with NEST's defaults (what a node table's `model` column
/// gives a neuron of another model than its population's).
#[derive(Debug)]
pub struct RegisteredModel {
    pub name: &'static str,
    pub read: fn(&ModelDocument, &str) -> Result<NeuronSpec, ModelError>,
    pub nest_default: fn() -> NeuronSpec,
}

/// Every neuron model model files can name.
pub const NEURON_MODELS: &[RegisteredModel] = &[
    RegisteredModel {
        name: "iaf_psc_exp",
        read: |doc, at| Ok(NeuronSpec::new(iaf_psc_exp_params(doc, at)?)),
        nest_default: || NeuronSpec::new(iaf_psc_exp_nest_default()),
    },
    RegisteredModel {
        name: "iaf_psc_delta",
        read: |doc, at| Ok(NeuronSpec::new(iaf_psc_delta_params(doc, at)?)),
        nest_default: || NeuronSpec::new(IafPscDeltaParams::default()),
    },
    RegisteredModel {
        name: "iaf_psc_alpha",
        read: |doc, at| Ok(NeuronSpec::new(iaf_psc_alpha_params(doc, at)?)),
        nest_default: || NeuronSpec::new(IafPscAlphaParams::default()),
    },
    RegisteredModel {
        name: "iaf_cond_exp",
        read: |doc, at| Ok(NeuronSpec::new(iaf_cond_exp_params(doc, at)?)),
        nest_default: || NeuronSpec::new(IafCondExpParams::default()),
    },
    RegisteredModel {
        name: "aeif_cond_exp",
        read: |doc, at| Ok(NeuronSpec::new(aeif_cond_exp_params(doc, at)?)),
        nest_default: || NeuronSpec::new(AeifCondExpParams::default()),
    },
];

/// Every registered model's neuron with NEST's defaults, in [`NEURON_MODELS`] order: the models a node
/// table's `model` column may name, and the parameters its columns may give.
#[must_use]
pub fn nest_defaults() -> Vec<NeuronSpec> {
    NEURON_MODELS.iter().map(|m| (m.nest_default)()).collect()
}

/// The neuron of the registered model `name` with NEST's defaults (None: no such model).
#[must_use]
pub fn nest_default(name: &str) -> Option<NeuronSpec> {
    NEURON_MODELS.iter().find(|m| m.name == name).map(|m| (m.nest_default)())
}

/// NEST 3.10's iaf_psc_exp defaults (model files give every iaf_psc_exp parameter; a node table's
/// `model` column starts from these).
fn iaf_psc_exp_nest_default() -> IafPscExpParams {
    IafPscExpParams {
        c_m: 250.0,
        tau_m: 10.0,
        tau_syn_ex: 2.0,
        tau_syn_in: 2.0,
        e_l: -70.0,
        v_th: -55.0,
        v_reset: -70.0,
        t_ref: 2.0,
        i_e: 0.0,
    }
}

/// A `[neuron]` table whose keys are all optional: `p` (NEST's defaults) with the numbers the table gives
/// for `names`, then `flags` (true or false) through `set` (1 or 0); checked by `validate`, an error naming
/// the table's key.
fn with_defaults<P>(
    doc: &ModelDocument,
    at: &str,
    mut p: P,
    names: &[&'static str],
    flags: &[&'static str],
    set: fn(&mut P, &str, f64) -> bool,
    validate: fn(&P) -> Result<(), CoreError>,
) -> Result<P, ModelError> {
    let keys: Vec<&str> =
        ["model", "tau_minus"].into_iter().chain(names.iter().copied()).chain(flags.iter().copied()).collect();
    doc.expect_keys(at, &keys)?;
    for name in names {
        let key = format!("{at}.{name}");
        if doc.get(&key).is_some() {
            set(&mut p, name, doc.number(&key)?);
        }
    }
    for flag in flags {
        let key = format!("{at}.{flag}");
        match doc.get(&key) {
            None => {}
            Some(toml::Value::Boolean(b)) => {
                set(&mut p, flag, f64::from(u8::from(*b)));
            }
            Some(other) => return Err(doc.invalid(&key, other, "must be true or false")),
        }
    }
    validate(&p).map_err(|e| match e {
        CoreError::InvalidParameter { name, value, reason } => doc.invalid(&format!("{at}.{name}"), value, &reason),
        other => doc.invalid(at, "", &other.to_string()),
    })?;
    Ok(p)
}

/// An iaf_psc_delta neuron table: every key optional, NEST's default where omitted.
fn iaf_psc_delta_params(doc: &ModelDocument, at: &str) -> Result<IafPscDeltaParams, ModelError> {
    let (names, flags) = (&IafPscDeltaParams::NAMES, &["refractory_input"]);
    with_defaults(
        doc,
        at,
        IafPscDeltaParams::default(),
        names,
        flags,
        IafPscDeltaParams::set,
        IafPscDeltaParams::validate,
    )
}

/// An iaf_psc_alpha neuron table: every key optional, NEST's default where omitted.
fn iaf_psc_alpha_params(doc: &ModelDocument, at: &str) -> Result<IafPscAlphaParams, ModelError> {
    let names = &IafPscAlphaParams::NAMES;
    with_defaults(
        doc,
        at,
        IafPscAlphaParams::default(),
        names,
        &[],
        IafPscAlphaParams::set,
        IafPscAlphaParams::validate,
    )
}

/// An iaf_cond_exp neuron table: every key optional, NEST's default where omitted.
fn iaf_cond_exp_params(doc: &ModelDocument, at: &str) -> Result<IafCondExpParams, ModelError> {
    let names = &IafCondExpParams::NAMES;
    with_defaults(doc, at, IafCondExpParams::default(), names, &[], IafCondExpParams::set, IafCondExpParams::validate)
}

/// An aeif_cond_exp neuron table: every key optional, NEST's default where omitted.
fn aeif_cond_exp_params(doc: &ModelDocument, at: &str) -> Result<AeifCondExpParams, ModelError> {
    let names = &AeifCondExpParams::NAMES;
    with_defaults(
        doc,
        at,
        AeifCondExpParams::default(),
        names,
        &[],
        AeifCondExpParams::set,
        AeifCondExpParams::validate,
    )
}

/// The model the neuron table `at` names, refused with the known names when unknown.
fn registered(doc: &ModelDocument, at: &str) -> Result<&'static RegisteredModel, ModelError> {
    let key = format!("{at}.model");
    let name = doc.string(&key)?;
    NEURON_MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        let known: Vec<&str> = NEURON_MODELS.iter().map(|m| m.name).collect();
        doc.invalid(&key, format!("\"{name}\""), &format!("unknown neuron model; known: {}", known.join(", ")))
    })
}

/// The neuron of a document's `[neuron]` table, of whichever registered model it names.
pub fn read_neuron(doc: &ModelDocument) -> Result<NeuronSpec, ModelError> {
    read_neuron_at(doc, "neuron")
}

/// The neuron of the table `at` (e.g. `populations.0.neuron`), of whichever registered model it names,
/// with `tau_minus` (NEST's parameter of every neuron, read by its plastic inputs) if the table sets it.
pub fn read_neuron_at(doc: &ModelDocument, at: &str) -> Result<NeuronSpec, ModelError> {
    let model = registered(doc, at)?;
    let neuron = (model.read)(doc, at).map_err(|e| name_the_model(e, model.name))?;
    let key = format!("{at}.tau_minus");
    Ok(match doc.get(&key) {
        None => neuron,
        Some(_) => neuron.with_tau_minus(positive(doc, &key)?),
    })
}

/// An unknown key in a neuron table is a parameter the model does not have: say which model.
fn name_the_model(e: ModelError, model: &str) -> ModelError {
    match e {
        ModelError::Invalid { file, key, value, reason } if reason.starts_with("unknown key; expected one of: ") => {
            let known = reason.trim_start_matches("unknown key; expected one of: model, ");
            let reason = format!("{model} has no such parameter; its parameters: {known}");
            ModelError::Invalid { file, key, value, reason }
        }
        other => other,
    }
}

/// The `[neuron]` table of a model that works only with iaf_psc_exp (`why` says why), as its parameters.
pub(crate) fn read_iaf_psc_exp(doc: &ModelDocument, why: &str) -> Result<IafPscExpParams, ModelError> {
    let model = registered(doc, "neuron")?;
    if model.name != "iaf_psc_exp" {
        return Err(doc.invalid("neuron.model", format!("\"{}\"", model.name), &format!("needs iaf_psc_exp: {why}")));
    }
    iaf_psc_exp_params(doc, "neuron")
}

/// An iaf_psc_exp neuron table: every parameter required (the microcircuit's files give them all).
fn iaf_psc_exp_params(doc: &ModelDocument, at: &str) -> Result<IafPscExpParams, ModelError> {
    let keys =
        ["model", "tau_minus", "C_m", "tau_m", "tau_syn_ex", "tau_syn_in", "E_L", "V_th", "V_reset", "t_ref", "I_e"];
    doc.expect_keys(at, &keys)?;
    let key = |name: &str| format!("{at}.{name}");
    let p = IafPscExpParams {
        c_m: positive(doc, &key("C_m"))?,
        tau_m: positive(doc, &key("tau_m"))?,
        tau_syn_ex: positive(doc, &key("tau_syn_ex"))?,
        tau_syn_in: positive(doc, &key("tau_syn_in"))?,
        e_l: doc.number(&key("E_L"))?,
        v_th: doc.number(&key("V_th"))?,
        v_reset: doc.number(&key("V_reset"))?,
        t_ref: non_negative(doc, &key("t_ref"))?,
        i_e: doc.number(&key("I_e"))?,
    };
    if p.v_reset >= p.v_th {
        return Err(doc.invalid(&key("V_reset"), p.v_reset, &format!("must be below {}", key("V_th"))));
    }
    if (p.tau_syn_ex - p.tau_m).abs() < 1e-9 * p.tau_m {
        return Err(doc.invalid(
            &key("tau_syn_ex"),
            p.tau_syn_ex,
            "must differ from tau_m for the PSP-to-PSC conversion",
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NEURON: &str = "[neuron]\nmodel = \"iaf_psc_exp\"\nC_m = 250.0\ntau_m = 10.0\ntau_syn_ex = 0.5\n\
                          tau_syn_in = 0.5\nE_L = -65.0\nV_th = -50.0\nV_reset = -65.0\nt_ref = 2.0\nI_e = 0.0\n";

    fn doc(text: &str) -> ModelDocument {
        ModelDocument::parse(std::path::Path::new("m.toml"), text).unwrap()
    }

    #[test]
    fn a_registered_model_is_read_by_name_and_an_unknown_one_is_refused_with_the_known_ones() {
        let n = read_neuron(&doc(NEURON)).unwrap();
        assert_eq!(n.params().model().name(), "iaf_psc_exp");
        assert_eq!(n.as_model::<IafPscExpParams>().unwrap().c_m, 250.0);
        let e = read_neuron(&doc(&NEURON.replace("iaf_psc_exp", "hh_psc_alpha"))).unwrap_err().to_string();
        assert!(e.contains("neuron.model") && e.contains("hh_psc_alpha") && e.contains("known: iaf_psc_exp"), "{e}");
    }

    #[test]
    fn every_registered_model_has_nests_defaults_under_its_own_name() {
        let defaults = nest_defaults();
        assert_eq!(defaults.len(), NEURON_MODELS.len());
        for (m, d) in NEURON_MODELS.iter().zip(&defaults) {
            assert_eq!(d.params().model().name(), m.name);
            d.params().compile(&cajal_core::Resolution::new(0.1).unwrap()).unwrap();
        }
        let exp = nest_default("iaf_psc_exp").unwrap();
        let exp = exp.as_model::<IafPscExpParams>().unwrap();
        assert_eq!((exp.e_l, exp.v_th, exp.tau_syn_ex), (-70.0, -55.0, 2.0));
        assert!(nest_default("hh_psc_alpha").is_none());
    }

    #[test]
    fn a_parameter_is_changed_by_name() {
        let n = read_neuron(&doc(NEURON)).unwrap();
        let with = n.params().with_value("I_e", 12.5).unwrap();
        assert_eq!(with.as_model::<IafPscExpParams>().unwrap().i_e, 12.5);
        assert!(n.params().with_value("g_Na", 1.0).is_err(), "iaf_psc_exp has no g_Na");
    }

    #[test]
    fn omitted_iaf_psc_delta_parameters_take_nests_defaults_and_bad_ones_are_named() {
        let n =
            read_neuron(&doc("[neuron]\nmodel = \"iaf_psc_delta\"\ntau_m = 20.0\nrefractory_input = true\n")).unwrap();
        let p = n.as_model::<IafPscDeltaParams>().unwrap();
        assert_eq!((p.tau_m, p.c_m, p.v_th, p.refractory_input), (20.0, 250.0, -55.0, true));
        let e = read_neuron(&doc("[neuron]\nmodel = \"iaf_psc_delta\"\ntau_syn_ex = 2.0\n")).unwrap_err();
        assert!(e.to_string().contains("tau_syn_ex"), "{e}");
        let e = read_neuron(&doc("[neuron]\nmodel = \"iaf_psc_delta\"\nV_reset = -50.0\n")).unwrap_err();
        assert!(e.to_string().contains("neuron.V_reset") && e.to_string().contains("-50"), "{e}");
        let e = read_neuron(&doc("[neuron]\nmodel = \"iaf_psc_delta\"\nrefractory_input = 1\n")).unwrap_err();
        assert!(e.to_string().contains("true or false"), "{e}");
        let a = read_neuron(&doc("[neuron]\nmodel = \"iaf_psc_alpha\"\ntau_syn_in = 5.0\n")).unwrap();
        let a = a.as_model::<IafPscAlphaParams>().unwrap();
        assert_eq!((a.tau_syn_in, a.tau_syn_ex, a.e_l), (5.0, 2.0, -70.0));
    }

    #[test]
    fn the_conductance_based_models_take_nests_defaults_and_bad_ones_are_named() {
        let n = read_neuron(&doc("[neuron]\nmodel = \"iaf_cond_exp\"\nE_in = -80.0\n")).unwrap();
        let p = n.as_model::<IafCondExpParams>().unwrap();
        assert_eq!((p.e_in, p.g_l, p.v_reset, p.tau_syn_ex), (-80.0, 16.6667, -60.0, 0.2));
        let e = read_neuron(&doc("[neuron]\nmodel = \"iaf_cond_exp\"\ntau_m = 10.0\n")).unwrap_err();
        assert!(e.to_string().contains("tau_m"), "{e}");
        let text = "[neuron]\nmodel = \"aeif_cond_exp\"\nt_ref = 2.0\nb = 0.0\n";
        let n = read_neuron(&doc(text)).unwrap();
        let p = n.as_model::<AeifCondExpParams>().unwrap();
        assert_eq!((p.t_ref, p.b, p.a, p.v_peak, p.gsl_error_tol), (2.0, 0.0, 4.0, 0.0, 1e-6));
        let e = read_neuron(&doc("[neuron]\nmodel = \"aeif_cond_exp\"\nV_peak = -55.0\n")).unwrap_err();
        assert!(e.to_string().contains("neuron.V_peak") && e.to_string().contains("V_th"), "{e}");
    }
}
