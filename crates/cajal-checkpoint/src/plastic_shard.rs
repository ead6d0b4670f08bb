//! The plastic part of a shard: every plastic weight of the shard's neurons (as targets), their spike
//! archives, and the presynaptic traces the writing rank held, in a form that does not depend on the
//! layout, so any number of ranks and threads can take it up.

use serde::{Deserialize, Serialize};

use crate::shuffle::{shuffle_f64, unshuffle_f64};

/// Plastic state, per neuron of the shard in its storage order (and the traces, per source).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlasticShard {
    /// Plastic inputs of each neuron.
    pub weight_counts: Vec<u32>,
    /// The weights of each neuron's plastic inputs, neuron after neuron, each neuron's in the order
    /// (class, source, delay, occurrence). Stored byte-shuffled after the rest.
    #[serde(skip)]
    pub weights: Vec<f64>,
    /// Each neuron's K_minus and the stamp of its last spike.
    pub k_minus: Vec<f64>,
    pub last_spike: Vec<u64>,
    /// Archived spikes of each neuron, then each entry's stamp, K_minus and read count.
    pub history_counts: Vec<u32>,
    pub history_stamps: Vec<u64>,
    pub history_k_minus: Vec<f64>,
    pub history_access: Vec<u32>,
    /// Presynaptic traces (class, source gid, K_plus, stamp of the last spike), once per (class, source).
    pub trace_class: Vec<u32>,
    pub trace_source: Vec<u32>,
    pub trace_k_plus: Vec<f64>,
    pub trace_t_last: Vec<u64>,
}

impl PlasticShard {
    /// The encoded bytes: the length of the bincode part (8 bytes, little-endian), the bincode part, then
    /// the shuffled weights.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let head = bincode::serde::encode_to_vec(self, bincode::config::standard()).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(8 + head.len() + 8 * self.weights.len());
        out.extend_from_slice(&(head.len() as u64).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&shuffle_f64(&self.weights));
        Ok(out)
    }

    /// Decodes [`PlasticShard::encode`]'s bytes for a shard of `n` neurons, checking every length.
    pub(crate) fn decode(bytes: &[u8], n: usize) -> Result<Self, String> {
        let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
            return Err("its plastic state is cut short".into());
        };
        let len = usize::try_from(u64::from_le_bytes(*len)).ok().filter(|&l| l <= rest.len());
        let len = len.ok_or("its plastic state is shorter than it says")?;
        let (mut s, used): (Self, usize) =
            bincode::serde::decode_from_slice(&rest[..len], bincode::config::standard()).map_err(|e| e.to_string())?;
        if used != len {
            return Err("its plastic state has trailing bytes".into());
        }
        let weights = &rest[len..];
        if weights.len() % 8 != 0 {
            return Err("its weights are not whole f64 values".into());
        }
        s.weights = unshuffle_f64(weights);
        s.check(n)?;
        Ok(s)
    }

    /// Whether the lengths agree with each other and with `n` neurons.
    fn check(&self, n: usize) -> Result<(), String> {
        let per_neuron =
            [self.weight_counts.len(), self.k_minus.len(), self.last_spike.len(), self.history_counts.len()];
        if per_neuron.iter().any(|&l| l != n) {
            return Err(format!("its plastic state does not hold its {n} neurons"));
        }
        let sum = |c: &[u32]| c.iter().map(|&x| x as usize).sum::<usize>();
        if sum(&self.weight_counts) != self.weights.len() {
            return Err(format!("{} weights where its counts say {}", self.weights.len(), sum(&self.weight_counts)));
        }
        let h = sum(&self.history_counts);
        if [self.history_stamps.len(), self.history_k_minus.len(), self.history_access.len()].iter().any(|&l| l != h) {
            return Err("its spike archives do not match their counts".into());
        }
        let t = self.trace_class.len();
        if [self.trace_source.len(), self.trace_k_plus.len(), self.trace_t_last.len()].iter().any(|&l| l != t) {
            return Err("its presynaptic traces are not whole".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn shard() -> PlasticShard {
        PlasticShard {
            weight_counts: vec![2, 0, 1],
            weights: vec![45.6, 0.0, 1e-3],
            k_minus: vec![1.5, 0.0, 1.0],
            last_spike: vec![120, 0, 7],
            history_counts: vec![1, 0, 1],
            history_stamps: vec![120, 7],
            history_k_minus: vec![1.5, 1.0],
            history_access: vec![3, 0],
            trace_class: vec![0],
            trace_source: vec![9],
            trace_k_plus: vec![2.25],
            trace_t_last: vec![100],
        }
    }

    #[test]
    fn plastic_state_survives_encoding_and_wrong_lengths_are_refused() {
        let s = shard();
        let bytes = s.encode().unwrap();
        assert_eq!(PlasticShard::decode(&bytes, 3).unwrap(), s);
        assert!(PlasticShard::decode(&bytes, 4).is_err());
        assert!(PlasticShard::decode(&bytes[..bytes.len() - 8], 3).is_err(), "a weight missing");
        assert!(PlasticShard::decode(&bytes[..5], 3).is_err());
    }
}
