//! flyvis-style parameters of the optic lobe and the synaptic weights they give: per cell type a bias and
//! a time constant; per (source type, target type) pair a sign and a strength (clamped to >= 0); per
//! (source type, target type, du, dv) key the log of the synapse count. Pairs and keys are indexed in order
//! of first appearance in the expanded synapse list (extent 15), as flyvis indexes them.

use std::path::Path;

use serde::Deserialize;

use crate::optic_lobe::recipe::pair_and_key;
use crate::optic_lobe::Connectome;
use crate::ModelError;

/// The parameter file as flyvis writes it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Params {
    pub nodes_bias: Vec<f64>,
    /// Seconds.
    pub nodes_time_const: Vec<f64>,
    pub edges_sign: Vec<f64>,
    /// Natural log of the synapse count, per key.
    pub edges_syn_count: Vec<f64>,
    pub edges_syn_strength: Vec<f64>,
}

/// Where each synapse's parameters live: its pair and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamIndex {
    /// Per synapse (expansion order): index of its (source type, target type) pair.
    pub pair: Vec<u32>,
    /// Per synapse: index of its (source type, target type, du, dv) key.
    pub key: Vec<u32>,
    pub pairs: usize,
    pub keys: usize,
}

/// Indexes the connectome's synapses by pair and key, in order of first appearance (per synapse, from
/// [`pair_and_key`]'s numbering of edge kinds and offsets).
#[must_use]
pub fn index(c: &Connectome) -> ParamIndex {
    let slots = pair_and_key(c);
    let (mut pair, mut key) = (Vec::new(), Vec::new());
    c.for_each_synapse(|s| {
        // A realised synapse always has its pair and key.
        pair.push(slots.pair[s.kind].map_or(u32::MAX, |p| p as u32));
        key.push(slots.key[s.kind][s.offset].map_or(u32::MAX, |k| k as u32));
    });
    ParamIndex { pair, key, pairs: slots.pairs, keys: slots.keys }
}

impl Params {
    /// Reads a parameter file and checks its lengths against the connectome's types, pairs and keys.
    pub fn read(path: &Path, c: &Connectome, idx: &ParamIndex) -> Result<Self, ModelError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelError::Read { file: path.to_owned(), source })?;
        let p: Self = serde_json::from_str(&text).map_err(|e| ModelError::Syntax {
            file: path.to_owned(),
            message: format!("not a flyvis parameter file: {e}"),
        })?;
        let types = c.types.len();
        for (key, len, want) in [
            ("nodes_bias", p.nodes_bias.len(), types),
            ("nodes_time_const", p.nodes_time_const.len(), types),
            ("edges_sign", p.edges_sign.len(), idx.pairs),
            ("edges_syn_strength", p.edges_syn_strength.len(), idx.pairs),
            ("edges_syn_count", p.edges_syn_count.len(), idx.keys),
        ] {
            if len != want {
                return Err(ModelError::Invalid {
                    file: path.to_owned(),
                    key: key.to_owned(),
                    value: format!("{len} values"),
                    reason: format!("the connectome needs {want}"),
                });
            }
        }
        let all = p
            .nodes_bias
            .iter()
            .chain(&p.nodes_time_const)
            .chain(&p.edges_sign)
            .chain(&p.edges_syn_count)
            .chain(&p.edges_syn_strength);
        if let Some(x) = all.copied().find(|x| !x.is_finite()) {
            return Err(ModelError::Invalid {
                file: path.to_owned(),
                key: "(a parameter)".into(),
                value: x.to_string(),
                reason: "must be finite".into(),
            });
        }
        Ok(p)
    }

    /// The weight of a synapse of `pair` and `key`: sign x synapse count x strength, the strength clamped to
    /// >= 0 (flyvis' constraint; a negative trained strength silences the pair instead of flipping it).
    #[must_use]
    pub fn weight(&self, pair: usize, key: usize) -> f64 {
        self.edges_sign[pair] * self.edges_syn_count[key].exp() * self.edges_syn_strength[pair].max(0.0)
    }

    /// Weight of every synapse in expansion order (see [`Params::weight`]).
    #[must_use]
    pub fn weights(&self, idx: &ParamIndex) -> Vec<f64> {
        idx.pair.iter().zip(&idx.key).map(|(&p, &k)| self.weight(p as usize, k as usize)).collect()
    }
}
