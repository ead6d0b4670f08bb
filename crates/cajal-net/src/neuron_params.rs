//! Neurons with parameters of their own: per-neuron values (a node table's parameter columns) over their
//! population's, grouped into parameter classes so that neurons with equal parameters still share one set
//! of propagators in the engine.

use std::collections::HashMap;

use cajal_core::iaf_psc_exp::{IafPscExpParams, Propagators};
use cajal_core::{Gid, Resolution};

use crate::recipe::PopulationSpec;
use crate::NetError;

/// The iaf_psc_exp parameters a node table may give per neuron (NEST's names and units: pF, ms, mV, pA).
pub const PARAMETER_COLUMNS: [&str; 9] = IafPscExpParams::NAMES;

/// The node-table column that gives each neuron's initial membrane potential (mV).
pub const INITIAL_V_COLUMN: &str = "V_m";

fn bits(p: &IafPscExpParams) -> [u64; 9] {
    p.named().map(|(_, v)| v.to_bits())
}

/// Per-neuron parameter columns: (column name, one value per neuron in gid order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParameterColumns {
    pub columns: Vec<(String, Vec<f64>)>,
}

/// Every neuron's parameter class. Classes `0..P` are the populations' own parameters; class `P + k` is
/// `extra[k]`, a parameter set some neurons of population `extra[k].0` carry instead.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronClasses {
    class_of: Vec<u32>,
    extra: Vec<(usize, IafPscExpParams)>,
}

impl NeuronClasses {
    /// Groups the neurons of `populations` by their parameters after `columns` (names from
    /// [`PARAMETER_COLUMNS`]) replace their population's values. `row_of(gid)` names a neuron in errors.
    pub fn new(
        populations: &[PopulationSpec],
        columns: &ParameterColumns,
        resolution: &Resolution,
        row_of: impl Fn(Gid) -> String,
    ) -> Result<Self, NetError> {
        let n: usize = populations.iter().map(|p| p.size as usize).sum();
        for (name, values) in &columns.columns {
            if !PARAMETER_COLUMNS.contains(&name.as_str()) {
                return Err(NetError::Invalid(format!(
                    "unknown neuron parameter column `{name}`; known: {}",
                    PARAMETER_COLUMNS.join(", ")
                )));
            }
            if values.len() != n {
                return Err(NetError::Invalid(format!("column `{name}` has {} values for {n} neurons", values.len())));
            }
        }
        let mut class_of = Vec::with_capacity(n);
        let mut extra = Vec::new();
        let mut known: HashMap<(usize, [u64; 9]), u32> = HashMap::new();
        for (pi, pop) in populations.iter().enumerate() {
            let Some(own) = pop.neuron.as_model::<IafPscExpParams>() else {
                return Err(NetError::Invalid(format!(
                    "population {}: per-neuron parameter columns are iaf_psc_exp's, its model is {}",
                    pop.name,
                    pop.neuron.params().model().name()
                )));
            };
            known.insert((pi, bits(own)), pi as u32);
            for gid in pop.first_gid..pop.first_gid + pop.size {
                let mut p = own.clone();
                for (name, values) in &columns.columns {
                    // Column names were checked against PARAMETER_COLUMNS above.
                    p.set(name, values[gid as usize]);
                }
                let next = (populations.len() + extra.len()) as u32;
                let class = *known.entry((pi, bits(&p))).or_insert(next);
                if class == next {
                    Propagators::new(&p, resolution)
                        .map_err(|source| NetError::Core { context: row_of(gid), source })?;
                    extra.push((pi, p));
                }
                class_of.push(class);
            }
        }
        Ok(Self { class_of, extra })
    }

    /// The parameter class of `gid`.
    #[must_use]
    pub fn class_of(&self, gid: Gid) -> usize {
        self.class_of[gid as usize] as usize
    }

    /// The classes beyond the populations': (population, parameters).
    #[must_use]
    pub fn extra(&self) -> &[(usize, IafPscExpParams)] {
        &self.extra
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Background, Distribution};

    fn populations() -> Vec<PopulationSpec> {
        let spec = |name: &str, first_gid, size| PopulationSpec {
            name: name.into(),
            first_gid,
            size,
            neuron: cajal_core::NeuronSpec::new(IafPscExpParams::potjans_diesmann()),
            v_init: Distribution::Constant(-65.0),
            background: Background::None,
            expected_rate_hz: None,
            placement: None,
        };
        vec![spec("A", 0, 3), spec("B", 3, 2)]
    }

    #[test]
    fn neurons_with_equal_parameters_share_a_class_within_their_population() {
        let res = Resolution::new(0.1).unwrap();
        let v_th = vec![-50.0, -48.0, -48.0, -48.0, -50.0];
        let columns = ParameterColumns { columns: vec![("V_th".into(), v_th)] };
        let classes = NeuronClasses::new(&populations(), &columns, &res, |g| format!("neuron {g}")).unwrap();
        // A's own V_th is -50: neuron 0 keeps class 0; 1 and 2 share a new class; B's neuron 3 has the same
        // V_th as A's 1 and 2 but B's background, so a class of its own; neuron 4 is B's own.
        let of: Vec<usize> = (0..5).map(|g| classes.class_of(g)).collect();
        assert_eq!(of, vec![0, 2, 2, 3, 1]);
        assert_eq!(classes.extra().len(), 2);
        assert_eq!((classes.extra()[1].0, classes.extra()[1].1.v_th), (1, -48.0));
    }

    #[test]
    fn unknown_columns_wrong_lengths_and_invalid_parameters_are_refused() {
        let res = Resolution::new(0.1).unwrap();
        let bad = |name: &str, values: Vec<f64>| {
            let columns = ParameterColumns { columns: vec![(name.into(), values)] };
            NeuronClasses::new(&populations(), &columns, &res, |g| format!("neuron {g}")).unwrap_err().to_string()
        };
        assert!(bad("V_threshold", vec![0.0; 5]).contains("unknown neuron parameter column `V_threshold`"));
        assert!(bad("V_th", vec![0.0; 4]).contains("4 values for 5 neurons"));
        let e = bad("tau_m", vec![10.0, 10.0, -1.0, 10.0, 10.0]);
        assert!(e.contains("neuron 2") && e.contains("tau_m"), "{e}");
    }
}
