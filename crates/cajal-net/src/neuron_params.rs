//! Neurons with a model or parameters of their own: a node table's `model` column and parameter columns
//! over their population's neuron, grouped into classes so that neurons with equal parameters still share
//! one compiled set (propagators) in the engine, and models mix in one network.

use std::collections::HashMap;

use cajal_core::{Gid, NeuronSpec, Resolution};

use crate::recipe::PopulationSpec;
use crate::NetError;

/// The node-table column that gives each neuron's initial membrane potential (mV).
pub const INITIAL_V_COLUMN: &str = "V_m";

/// The node-table column that gives each neuron's model (a registered model's name; empty: its
/// population's).
pub const MODEL_COLUMN: &str = "model";

/// The population-level values a neuron keeps when the `model` column gives it another model than its
/// population's: the population's own `I_e` (`[populations] I_e` of a connectome model file), like its
/// background and initial potentials. The rest of the population's neuron is its model's and does not
/// carry over.
pub const KEPT_FROM_POPULATION: [&str; 1] = ["I_e"];

/// Every parameter name of the models `known`, each once, in first-seen order: the node-table columns that
/// give neurons parameters of their own.
#[must_use]
pub fn parameter_names(known: &[NeuronSpec]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for (name, _) in known.iter().flat_map(|k| k.params().values()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Per-neuron columns of a node table, in gid order: each neuron's model and parameter values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParameterColumns {
    /// (parameter name, one value per neuron; None where the cell is empty).
    pub columns: Vec<(String, Vec<Option<f64>>)>,
    /// The `model` column, if the table has one: a model name per neuron (None: its population's model).
    pub models: Option<Vec<Option<&'static str>>>,
}

impl ParameterColumns {
    /// Whether the table has neither a `model` column nor a parameter column.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.models.is_none()
    }
}

/// Every neuron's class. Classes `0..P` are the populations' own neurons; class `P + k` is `extra[k]`, a
/// neuron (model and parameters) some neurons of population `extra[k].0` are instead.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronClasses {
    class_of: Vec<u32>,
    extra: Vec<(usize, NeuronSpec)>,
}

/// A class's identity: population, model and parameter values bit for bit.
type ClassKey = (usize, &'static str, Vec<u64>);

fn key(population: usize, model: &'static str, values: &[(&'static str, f64)]) -> ClassKey {
    (population, model, values.iter().map(|(_, v)| v.to_bits()).collect())
}

/// Checks that every column is a parameter of some model of `known` and has one value per neuron.
fn check_columns(columns: &ParameterColumns, known: &[NeuronSpec], n: usize) -> Result<(), NetError> {
    let names = parameter_names(known);
    for (name, values) in &columns.columns {
        if !names.contains(&name.as_str()) {
            return Err(NetError::Invalid(format!(
                "unknown neuron parameter column `{name}`; known: {}",
                names.join(", ")
            )));
        }
        if values.len() != n {
            return Err(NetError::Invalid(format!("column `{name}` has {} values for {n} neurons", values.len())));
        }
    }
    match &columns.models {
        Some(m) if m.len() != n => {
            Err(NetError::Invalid(format!("column `model` has {} values for {n} neurons", m.len())))
        }
        _ => Ok(()),
    }
}

/// A neuron before its row's parameter cells: model name, neuron, and its values.
struct Base {
    model: &'static str,
    spec: NeuronSpec,
    values: Vec<(&'static str, f64)>,
}

impl Base {
    fn new(spec: NeuronSpec) -> Self {
        Self { model: spec.params().model().name(), values: spec.params().values(), spec }
    }
}

/// What the neurons of one population start from before their rows' parameter cells: the population's
/// neuron, or (with another model in the `model` column) that model's NEST defaults with the population's
/// [`KEPT_FROM_POPULATION`] values.
struct Bases<'a> {
    known: &'a [NeuronSpec],
    /// The population's own neuron first, then other models as first needed.
    cache: Vec<Base>,
}

impl<'a> Bases<'a> {
    fn new(own: &NeuronSpec, known: &'a [NeuronSpec]) -> Self {
        Self { known, cache: vec![Base::new(own.clone())] }
    }

    /// The starting neuron of a neuron whose `model` cell is `model` (None: the population's).
    fn of(&mut self, model: Option<&'static str>, row: impl FnOnce() -> String) -> Result<&Base, NetError> {
        let name = model.unwrap_or(self.cache[0].model);
        if let Some(i) = self.cache.iter().position(|b| b.model == name) {
            return Ok(&self.cache[i]);
        }
        let Some(default) = self.known.iter().find(|k| k.params().model().name() == name) else {
            let known: Vec<&str> = self.known.iter().map(|k| k.params().model().name()).collect();
            return Err(NetError::Invalid(format!(
                "{}: model `{name}` is not a known neuron model; known: {}",
                row(),
                known.join(", ")
            )));
        };
        let mut spec = default.clone();
        for kept in KEPT_FROM_POPULATION {
            if let Some((_, v)) = self.cache[0].values.iter().find(|(n, _)| *n == kept) {
                // A kept value the other model lacks leaves it at its default.
                if let Ok(with) = spec.params().with_value(kept, *v) {
                    spec = with;
                }
            }
        }
        self.cache.push(Base::new(spec));
        Ok(&self.cache[self.cache.len() - 1])
    }
}

/// `base`'s values with the row `gid`'s cells of `columns` in place; a value for a parameter the model
/// lacks must be empty or NaN, a value for one it has must not be NaN.
fn row_values(
    base: &Base,
    columns: &ParameterColumns,
    gid: Gid,
    row_of: &impl Fn(Gid) -> String,
) -> Result<Vec<(&'static str, f64)>, NetError> {
    let mut values = base.values.clone();
    for (name, column) in &columns.columns {
        let Some(v) = column[gid as usize] else { continue };
        match values.iter_mut().find(|(n, _)| n == name) {
            Some(_) if v.is_nan() => {
                return Err(NetError::Invalid(format!("{}: {name} `{v}` is not a finite number", row_of(gid))));
            }
            Some(slot) => slot.1 = v,
            None if v.is_nan() => {}
            None => {
                let has: Vec<&str> = base.values.iter().map(|(n, _)| *n).collect();
                return Err(NetError::Invalid(format!(
                    "{}: column `{name}` = {v}, but {} has no parameter {name} (leave the cell empty); its \
                     parameters: {}",
                    row_of(gid),
                    base.model,
                    has.join(", ")
                )));
            }
        }
    }
    Ok(values)
}

/// Classes found so far: each identity's class, and the neurons beyond the populations'.
struct Grouping {
    populations: usize,
    classes: HashMap<ClassKey, u32>,
    extra: Vec<(usize, NeuronSpec)>,
}

impl Grouping {
    /// The class of a neuron of population `pi` that is `base` with `values`; a new one is checked by
    /// `check` (compiled) first.
    fn class(
        &mut self,
        pi: usize,
        base: &Base,
        values: &[(&'static str, f64)],
        with: impl FnOnce() -> Result<NeuronSpec, NetError>,
        check: impl FnOnce(&NeuronSpec) -> Result<(), NetError>,
    ) -> Result<u32, NetError> {
        let candidate = key(pi, base.model, values);
        if let Some(&class) = self.classes.get(&candidate) {
            return Ok(class);
        }
        let spec = with()?;
        // A model may hold a value as another (iaf_psc_delta's refractory_input: any non-zero is 1), so
        // classes are told apart by what the neuron holds.
        let held = key(pi, base.model, &spec.params().values());
        let class = match self.classes.get(&held) {
            Some(&class) => class,
            None => {
                check(&spec)?;
                self.extra.push((pi, spec));
                let class = (self.populations + self.extra.len() - 1) as u32;
                self.classes.insert(held, class);
                class
            }
        };
        self.classes.insert(candidate, class);
        Ok(class)
    }
}

impl NeuronClasses {
    /// Groups the neurons of `populations` by model and parameters: each neuron is its population's
    /// neuron, or with another model in the `model` column that model's NEST defaults (from `known`,
    /// with the population's [`KEPT_FROM_POPULATION`] values), and then its row's non-empty parameter
    /// cells. `row_of(gid)` names a neuron's row in errors; every new class is compiled once on
    /// `resolution` to refuse parameters out of their domain.
    pub fn new(
        populations: &[PopulationSpec],
        columns: &ParameterColumns,
        known: &[NeuronSpec],
        resolution: &Resolution,
        row_of: impl Fn(Gid) -> String,
    ) -> Result<Self, NetError> {
        let n: usize = populations.iter().map(|p| p.size as usize).sum();
        check_columns(columns, known, n)?;
        let mut class_of = Vec::with_capacity(n);
        let mut grouping = Grouping { populations: populations.len(), classes: HashMap::new(), extra: Vec::new() };
        for (pi, pop) in populations.iter().enumerate() {
            let mut bases = Bases::new(&pop.neuron, known);
            grouping.classes.insert(key(pi, bases.cache[0].model, &bases.cache[0].values), pi as u32);
            for gid in pop.first_gid..pop.first_gid + pop.size {
                let model = columns.models.as_ref().and_then(|m| m[gid as usize]);
                let base = bases.of(model, || row_of(gid))?;
                let values = row_values(base, columns, gid, &row_of)?;
                let with = || with_values(&base.spec, &values, &base.values, gid, &row_of);
                let check = |spec: &NeuronSpec| {
                    let context = format!("{} ({})", row_of(gid), base.model);
                    spec.params().compile(resolution).map(|_| ()).map_err(|source| NetError::Core { context, source })
                };
                class_of.push(grouping.class(pi, base, &values, with, check)?);
            }
        }
        Ok(Self { class_of, extra: grouping.extra })
    }

    /// The class of `gid`.
    #[must_use]
    pub fn class_of(&self, gid: Gid) -> usize {
        self.class_of[gid as usize] as usize
    }

    /// The classes beyond the populations': (population, neuron).
    #[must_use]
    pub fn extra(&self) -> &[(usize, NeuronSpec)] {
        &self.extra
    }
}

/// `base` with every value of `values` that differs from `old` (bit for bit) set by name.
fn with_values(
    base: &NeuronSpec,
    values: &[(&'static str, f64)],
    old: &[(&'static str, f64)],
    gid: Gid,
    row_of: &impl Fn(Gid) -> String,
) -> Result<NeuronSpec, NetError> {
    let mut spec = base.clone();
    for ((name, v), (_, was)) in values.iter().zip(old) {
        if v.to_bits() != was.to_bits() {
            spec =
                spec.params().with_value(name, *v).map_err(|source| NetError::Core { context: row_of(gid), source })?;
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Background, Distribution};
    use cajal_core::iaf_psc_delta::IafPscDeltaParams;
    use cajal_core::iaf_psc_exp::IafPscExpParams;

    fn populations() -> Vec<PopulationSpec> {
        let spec = |name: &str, first_gid, size, i_e| PopulationSpec {
            name: name.into(),
            first_gid,
            size,
            neuron: NeuronSpec::new(IafPscExpParams { i_e, ..IafPscExpParams::potjans_diesmann() }),
            v_init: Distribution::Constant(-65.0),
            background: Background::None,
            expected_rate_hz: None,
            placement: None,
        };
        vec![spec("A", 0, 3, 0.0), spec("B", 3, 2, 100.0)]
    }

    fn known() -> Vec<NeuronSpec> {
        vec![NeuronSpec::new(IafPscExpParams::potjans_diesmann()), NeuronSpec::new(IafPscDeltaParams::default())]
    }

    fn classes(columns: &ParameterColumns) -> Result<NeuronClasses, NetError> {
        let res = Resolution::new(0.1).unwrap();
        NeuronClasses::new(&populations(), columns, &known(), &res, |g| format!("row {}", g + 2))
    }

    fn column(name: &str, values: Vec<Option<f64>>) -> (String, Vec<Option<f64>>) {
        (name.into(), values)
    }

    #[test]
    fn neurons_with_equal_parameters_share_a_class_within_their_population() {
        let v_th = [-50.0, -48.0, -48.0, -48.0, -50.0].map(Some).to_vec();
        let classes = classes(&ParameterColumns { columns: vec![column("V_th", v_th)], models: None }).unwrap();
        // A's own V_th is -50: neuron 0 keeps class 0; 1 and 2 share a new class; B's neuron 3 has the same
        // V_th as A's 1 and 2 but B's background, so a class of its own; neuron 4 is B's own.
        let of: Vec<usize> = (0..5).map(|g| classes.class_of(g)).collect();
        assert_eq!(of, vec![0, 2, 2, 3, 1]);
        assert_eq!(classes.extra().len(), 2);
        let b = classes.extra()[1].1.as_model::<IafPscExpParams>().unwrap();
        assert_eq!((classes.extra()[1].0, b.v_th), (1, -48.0));
    }

    #[test]
    fn another_model_starts_from_nests_defaults_with_the_populations_i_e_and_takes_its_own_columns() {
        let models =
            vec![None, Some("iaf_psc_delta"), Some("iaf_psc_delta"), Some("iaf_psc_delta"), Some("iaf_psc_exp")];
        // tau_syn_ex is iaf_psc_exp's only: empty or NaN for the delta neurons.
        let tau = vec![Some(2.0), None, Some(f64::NAN), None, None];
        let v_th = vec![None, None, Some(-52.0), None, None];
        let columns =
            ParameterColumns { columns: vec![column("tau_syn_ex", tau), column("V_th", v_th)], models: Some(models) };
        let classes = classes(&columns).unwrap();
        let of: Vec<usize> = (0..5).map(|g| classes.class_of(g)).collect();
        // Neuron 4 names its population's model: its population's neuron, class 1.
        assert_eq!(of, vec![2, 3, 4, 5, 1]);
        let delta = |k: usize| classes.extra()[k].1.as_model::<IafPscDeltaParams>().unwrap().clone();
        assert_eq!(delta(1), IafPscDeltaParams::default(), "NEST's defaults, none of A's values");
        assert_eq!(delta(2), IafPscDeltaParams { v_th: -52.0, ..IafPscDeltaParams::default() });
        assert_eq!(delta(3), IafPscDeltaParams { i_e: 100.0, ..IafPscDeltaParams::default() }, "B's I_e");
        assert_eq!(classes.extra()[0].1.as_model::<IafPscExpParams>().unwrap().tau_syn_ex, 2.0);
    }

    #[test]
    fn equal_neurons_share_a_class_however_their_cells_wrote_the_values() {
        let delta = Some("iaf_psc_delta");
        let models = vec![delta, delta, delta, None, None];
        // refractory_input is a flag: 0.5 and 1 both switch it on.
        let flag = vec![Some(0.5), Some(1.0), None, None, None];
        let classes =
            classes(&ParameterColumns { columns: vec![column("refractory_input", flag)], models: Some(models) })
                .unwrap();
        let of: Vec<usize> = (0..5).map(|g| classes.class_of(g)).collect();
        assert_eq!(of, vec![2, 2, 3, 1, 1]);
        assert!(classes.extra()[0].1.as_model::<IafPscDeltaParams>().unwrap().refractory_input);
    }

    #[test]
    fn unknown_columns_wrong_lengths_foreign_parameters_and_invalid_values_are_refused() {
        let bad = |name: &str, values: Vec<Option<f64>>, models: Option<Vec<Option<&'static str>>>| {
            classes(&ParameterColumns { columns: vec![column(name, values)], models }).unwrap_err().to_string()
        };
        let all = |v: f64| vec![Some(v); 5];
        assert!(bad("V_threshold", all(0.0), None).contains("unknown neuron parameter column `V_threshold`"));
        assert!(bad("V_th", vec![Some(0.0); 4], None).contains("4 values for 5 neurons"));
        let e = bad("tau_m", vec![Some(10.0), Some(10.0), Some(-1.0), None, None], None);
        assert!(e.contains("row 4") && e.contains("tau_m"), "{e}");
        let e = bad("V_th", vec![None, Some(f64::NAN), None, None, None], None);
        assert!(e.contains("row 3") && e.contains("V_th `NaN` is not a finite number"), "{e}");
        let delta = Some(vec![None, None, None, Some("iaf_psc_delta"), None]);
        let e = bad("tau_syn_in", all(1.0), delta);
        assert!(
            e.contains("row 5")
                && e.contains("`tau_syn_in` = 1")
                && e.contains("iaf_psc_delta has no parameter")
                && e.contains("C_m, tau_m, E_L"),
            "{e}"
        );
        // V_min is iaf_psc_delta's only: an iaf_psc_exp neuron may not have one.
        let e = bad("V_min", all(-80.0), None);
        assert!(e.contains("row 2") && e.contains("iaf_psc_exp has no parameter V_min"), "{e}");
    }
}
