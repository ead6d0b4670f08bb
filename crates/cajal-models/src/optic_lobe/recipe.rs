//! The optic lobe as a rate recipe: per target neuron, its inputs in flyvis' expansion order (edge kind, then
//! offset; each gives a target at most one source), with one weight per (edge kind, offset). Parameters are
//! indexed on the extent-15 lattice, where flyvis defines them, whatever extent the network is laid on.

use cajal_core::Gid;
use cajal_net::{RateNeuron, RateRecipe, Transfer};

use crate::optic_lobe::params::Params;
use crate::optic_lobe::Connectome;

/// The extent on which flyvis' parameter files index pairs and keys.
pub const PARAMETER_EXTENT: i64 = 15;
/// flyvis' initial values, used without a parameter file.
pub const INITIAL_TAU_S: f64 = 0.05;
pub const INITIAL_BIAS: f64 = 0.5;
pub const INITIAL_STRENGTH_SCALE: f64 = 0.01;

/// The optic lobe network: a connectome, per-type constants and per-(kind, offset) weights.
#[derive(Clone, Debug)]
pub struct OpticLobe {
    pub connectome: Connectome,
    /// Per cell type.
    pub bias: Vec<f64>,
    pub tau_s: Vec<f64>,
    /// weights[kind][offset].
    pub weights: Vec<Vec<f64>>,
    /// Per target type: the edge kinds into it, in file order.
    incoming: Vec<Vec<usize>>,
    /// Type of each neuron, by first gid.
    firsts: Vec<Gid>,
    is_input: Vec<bool>,
    /// Column index (lattice order) of each column.
    column_index: std::collections::HashMap<(i64, i64), u32>,
}

/// Which (kind, offset) carries at least one synapse on the lattice of `c`: the order of first appearance
/// of pairs and keys in the expanded synapse list follows from it.
fn realised(c: &Connectome) -> Vec<Vec<bool>> {
    c.kinds
        .iter()
        .map(|kind| {
            let src = &c.types[kind.source];
            kind.offsets
                .iter()
                .map(|&((du, dv), _)| src.columns.iter().any(|&(u, v)| c.gid(kind.target, (u + du, v + dv)).is_some()))
                .collect()
        })
        .collect()
}

/// Where the parameters of each (kind, offset) live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSlots {
    /// Per kind: its (source type, target type) pair, if any synapse is realised.
    pub pair: Vec<Option<usize>>,
    /// Per kind and offset: its (source type, target type, du, dv) key, if a synapse is realised.
    pub key: Vec<Vec<Option<usize>>>,
    pub pairs: usize,
    pub keys: usize,
}

/// Pair and key index of every (kind, offset) of `c` (None where no synapse is realised), as flyvis numbers
/// them: in order of first appearance in the expanded synapse list.
#[must_use]
pub fn pair_and_key(c: &Connectome) -> ParamSlots {
    let mut pairs = std::collections::HashMap::new();
    let mut keys = std::collections::HashMap::new();
    let mut pair_of = vec![None; c.kinds.len()];
    let mut key_of = Vec::with_capacity(c.kinds.len());
    for (k, (kind, real)) in c.kinds.iter().zip(realised(c)).enumerate() {
        let mut row = vec![None; kind.offsets.len()];
        for (o, &((du, dv), _)) in kind.offsets.iter().enumerate().filter(|(o, _)| real[*o]) {
            let n = pairs.len();
            pair_of[k] = Some(*pairs.entry((kind.source, kind.target)).or_insert(n));
            let n = keys.len();
            row[o] = Some(*keys.entry((kind.source, kind.target, du, dv)).or_insert(n));
        }
        key_of.push(row);
    }
    ParamSlots { pair: pair_of, key: key_of, pairs: pairs.len(), keys: keys.len() }
}

/// flyvis' initial parameters for the connectome `c` (laid on the parameter extent): tau 50 ms, bias 0.5,
/// sign from the file, synapse count from the file, strength 0.01 / (mean synapse count of the pair's synapses).
#[must_use]
pub fn initial_params(c: &Connectome) -> Params {
    let ParamSlots { pair: pair_of, key: key_of, pairs, keys } = pair_and_key(c);
    let mut sign = vec![0.0; pairs];
    let mut count = vec![0.0; keys];
    let (mut sum, mut n) = (vec![0.0; pairs], vec![0u64; pairs]);
    for (k, kind) in c.kinds.iter().enumerate() {
        let src = &c.types[kind.source];
        for (o, &((du, dv), n_syn)) in kind.offsets.iter().enumerate() {
            let (Some(p), Some(key)) = (pair_of[k], key_of[k][o]) else { continue };
            sign[p] = kind.sign;
            count[key] = n_syn.ln();
            let realised = src.columns.iter().filter(|&&(u, v)| c.gid(kind.target, (u + du, v + dv)).is_some()).count();
            sum[p] += n_syn * realised as f64;
            n[p] += realised as u64;
        }
    }
    Params {
        nodes_bias: vec![INITIAL_BIAS; c.types.len()],
        nodes_time_const: vec![INITIAL_TAU_S; c.types.len()],
        edges_sign: sign,
        edges_syn_count: count,
        edges_syn_strength: sum.iter().zip(&n).map(|(s, &n)| INITIAL_STRENGTH_SCALE / (s / n as f64)).collect(),
    }
}

impl OpticLobe {
    /// The network of `c` with parameters `p`, indexed on `indexed` (the same connectome laid on the
    /// parameter extent).
    #[must_use]
    pub fn new(c: Connectome, indexed: &Connectome, p: &Params) -> Self {
        let ParamSlots { pair: pair_of, key: key_of, .. } = pair_and_key(indexed);
        let weights = c
            .kinds
            .iter()
            .enumerate()
            .map(|(k, kind)| {
                (0..kind.offsets.len())
                    .map(|o| match (pair_of[k], key_of[k][o]) {
                        (Some(pair), Some(key)) => p.weight(pair, key),
                        // Never realised on the parameter lattice, so flyvis has no parameter for it.
                        _ => 0.0,
                    })
                    .collect()
            })
            .collect();
        let mut incoming = vec![Vec::new(); c.types.len()];
        for (k, kind) in c.kinds.iter().enumerate() {
            incoming[kind.target].push(k);
        }
        let column_index = crate::optic_lobe::connectome::columns(c.extent)
            .into_iter()
            .enumerate()
            .map(|(i, col)| (col, i as u32))
            .collect();
        Self {
            bias: p.nodes_bias.clone(),
            tau_s: p.nodes_time_const.clone(),
            weights,
            incoming,
            firsts: c.types.iter().map(|t| t.first).collect(),
            is_input: (0..c.types.len()).map(|t| c.inputs.contains(&t)).collect(),
            column_index,
            connectome: c,
        }
    }

    /// The cell type and column of `gid`.
    #[must_use]
    pub fn locate(&self, gid: Gid) -> (usize, (i64, i64)) {
        let t = self.firsts.partition_point(|&f| f <= gid).saturating_sub(1);
        let ty = &self.connectome.types[t];
        (t, ty.columns[(gid - ty.first) as usize])
    }
}

impl RateRecipe for OpticLobe {
    fn num_neurons(&self) -> Gid {
        self.connectome.neurons()
    }

    fn transfer(&self) -> Transfer {
        Transfer::Relu
    }

    fn neuron(&self, gid: Gid) -> RateNeuron {
        let (t, col) = self.locate(gid);
        RateNeuron {
            bias: self.bias[t],
            tau_s: self.tau_s[t],
            v_init: self.bias[t],
            input_channel: if self.is_input[t] { self.column_index.get(&col).copied() } else { None },
            noise_std: 0.0,
        }
    }

    fn inputs_to(&self, target: Gid, sink: &mut dyn FnMut(Gid, f64)) {
        let (t, (u, v)) = self.locate(target);
        for &k in &self.incoming[t] {
            let kind = &self.connectome.kinds[k];
            for (o, &((du, dv), _)) in kind.offsets.iter().enumerate() {
                if let Some(source) = self.connectome.gid(kind.source, (u - du, v - dv)) {
                    sink(source, self.weights[k][o]);
                }
            }
        }
    }
}
