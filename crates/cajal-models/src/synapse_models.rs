//! The synapse models model files can name on a projection (`synapse_model = "..."`, NEST's names), with
//! their parameters as keys beside it, as a NEST `syn_spec` gives them: `static_synapse` (the default),
//! `stdp_synapse` and `stdp_pl_synapse_hom`.

use cajal_core::stdp::{StdpParams, StdpPlParams, StdpRule};
use cajal_core::CoreError;

use crate::{ModelDocument, ModelError};

/// The synapse models a projection may name.
pub const SYNAPSE_MODELS: [&str; 3] = ["static_synapse", "stdp_synapse", "stdp_pl_synapse_hom"];

/// Parameter names of `stdp_pl_synapse_hom`.
const PL_KEYS: [&str; 4] = ["tau_plus", "lambda", "alpha", "mu"];
/// Parameter names of `stdp_synapse`.
const STDP_KEYS: [&str; 6] = ["tau_plus", "lambda", "alpha", "mu_plus", "mu_minus", "Wmax"];

/// Every key a table with a synapse model may hold besides its own (`synapse_model` and every model's
/// parameters): [`read_synapse_model`] refuses the parameters of another model than the one named.
pub const SYNAPSE_KEYS: [&str; 8] =
    ["synapse_model", "tau_plus", "lambda", "alpha", "mu", "mu_plus", "mu_minus", "Wmax"];

/// The plasticity of the table `at` (e.g. `projections.2`): None for `static_synapse` or no
/// `synapse_model`; parameters not given take NEST's defaults; a parameter of another model, or an
/// impossible value, is refused with the key.
pub fn read_synapse_model(doc: &ModelDocument, at: &str) -> Result<Option<StdpRule>, ModelError> {
    let model_key = format!("{at}.synapse_model");
    let model = match doc.get(&model_key) {
        None => "static_synapse".to_owned(),
        Some(_) => doc.string(&model_key)?,
    };
    let own: &[&str] = match model.as_str() {
        "static_synapse" => &[],
        "stdp_synapse" => &STDP_KEYS,
        "stdp_pl_synapse_hom" => &PL_KEYS,
        other => {
            return Err(doc.invalid(
                &model_key,
                format!("\"{other}\""),
                &format!("unknown synapse model; known: {}", SYNAPSE_MODELS.join(", ")),
            ))
        }
    };
    if let Some(foreign) =
        SYNAPSE_KEYS[1..].iter().find(|k| !own.contains(k) && doc.get(&format!("{at}.{k}")).is_some())
    {
        let reason = if own.is_empty() {
            "is a parameter of a plastic synapse model; set synapse_model".to_owned()
        } else {
            format!("{model} has no such parameter; its parameters: {}", own.join(", "))
        };
        return Err(doc.invalid(&format!("{at}.{foreign}"), "(set)", &reason));
    }
    let value = |name: &str, default: f64| -> Result<f64, ModelError> {
        let key = format!("{at}.{name}");
        if doc.get(&key).is_some() {
            doc.number(&key)
        } else {
            Ok(default)
        }
    };
    let rule = match model.as_str() {
        "stdp_synapse" => {
            let d = StdpParams::default();
            StdpRule::bounded(StdpParams {
                tau_plus: value("tau_plus", d.tau_plus)?,
                lambda: value("lambda", d.lambda)?,
                alpha: value("alpha", d.alpha)?,
                mu_plus: value("mu_plus", d.mu_plus)?,
                mu_minus: value("mu_minus", d.mu_minus)?,
                w_max: value("Wmax", d.w_max)?,
            })
        }
        "stdp_pl_synapse_hom" => {
            let d = StdpPlParams::default();
            StdpRule::power_law(StdpPlParams {
                tau_plus: value("tau_plus", d.tau_plus)?,
                lambda: value("lambda", d.lambda)?,
                alpha: value("alpha", d.alpha)?,
                mu: value("mu", d.mu)?,
            })
        }
        _ => return Ok(None),
    };
    rule.map(Some).map_err(|e| match e {
        CoreError::InvalidParameter { name, value, reason } => doc.invalid(&format!("{at}.{name}"), value, &reason),
        other => doc.invalid(at, "", &other.to_string()),
    })
}

/// The top-level `plastic` switch: false makes every plastic projection static (the static variant of a
/// benchmark, e.g. `--set plastic=false`); true or absent keeps each projection's synapse model.
pub fn plasticity_switch(doc: &ModelDocument) -> Result<bool, ModelError> {
    match doc.get("plastic") {
        None => Ok(true),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(doc.invalid("plastic", other, "must be true or false")),
    }
}

/// The `[[plasticity]]` tables of a model whose projections are not written out one by one (the
/// microcircuit): each names a projection (`projection = "L4E->L23E"`) and its synapse model with
/// parameters, which `set` applies to the projection of that name (or says it has none). Every table
/// must name a projection of the model.
pub fn apply_plasticity_tables(
    doc: &ModelDocument,
    names: &[String],
    mut set: impl FnMut(&str, StdpRule) -> bool,
) -> Result<(), ModelError> {
    let Some(value) = doc.get("plasticity") else { return Ok(()) };
    let Some(items) = value.as_array() else {
        return Err(doc.invalid("plasticity", "(not an array)", "must be an array of tables ([[plasticity]])"));
    };
    if !plasticity_switch(doc)? {
        return Ok(());
    }
    for i in 0..items.len() {
        let key = format!("plasticity.{i}");
        let known: Vec<&str> = std::iter::once("projection").chain(SYNAPSE_KEYS.iter().copied()).collect();
        doc.expect_keys(&key, &known)?;
        let projection = doc.string(&format!("{key}.projection"))?;
        let Some(rule) = read_synapse_model(doc, &key)? else {
            return Err(doc.invalid(&format!("{key}.synapse_model"), "static_synapse", "must name a plastic model"));
        };
        if !set(&projection, rule) {
            return Err(doc.invalid(
                &format!("{key}.projection"),
                &projection,
                &format!("no projection of that name; projections are SOURCE->TARGET of: {}", names.join(", ")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc(text: &str) -> ModelDocument {
        ModelDocument::parse(std::path::Path::new("m.toml"), text).unwrap()
    }

    #[test]
    fn a_plastic_projection_takes_its_parameters_and_nests_defaults_for_the_rest() {
        let d = doc("[p]\nsynapse_model = \"stdp_pl_synapse_hom\"\nlambda = 0.2\n");
        let rule = read_synapse_model(&d, "p").unwrap().unwrap();
        let expected = StdpPlParams { lambda: 0.2, ..StdpPlParams::default() };
        assert_eq!(rule, StdpRule::power_law(expected).unwrap());
        assert_eq!(read_synapse_model(&doc("[p]\nx = 1\n"), "p").unwrap(), None);
    }

    #[test]
    fn foreign_parameters_unknown_models_and_impossible_values_name_the_key() {
        let e = read_synapse_model(&doc("[p]\nsynapse_model = \"stdp_synapse\"\nmu = 0.4\n"), "p").unwrap_err();
        assert!(e.to_string().contains("p.mu") && e.to_string().contains("Wmax"), "{e}");
        let e = read_synapse_model(&doc("[p]\nlambda = 0.4\n"), "p").unwrap_err();
        assert!(e.to_string().contains("p.lambda") && e.to_string().contains("synapse_model"), "{e}");
        let e = read_synapse_model(&doc("[p]\nsynapse_model = \"tsodyks\"\n"), "p").unwrap_err();
        assert!(e.to_string().contains("stdp_pl_synapse_hom"), "{e}");
        let e = read_synapse_model(&doc("[p]\nsynapse_model = \"stdp_synapse\"\ntau_plus = -1\n"), "p").unwrap_err();
        assert!(e.to_string().contains("p.tau_plus") && e.to_string().contains("-1"), "{e}");
    }
}
