//! One shard: the state of a set of neurons, by gid, independent of how many ranks wrote it. Encoded with
//! bincode (frozen 2.0 format), float columns byte-shuffled, the whole compressed with zstd.

use serde::{Deserialize, Serialize};

use crate::shuffle::{shuffle, unshuffle};
use crate::CheckpointError;

/// The gids `first + stride * i` for `i < count` (how ranks and threads hold neurons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronSet {
    pub first: u32,
    pub stride: u32,
    pub count: u32,
}

impl NeuronSet {
    /// The gid of the `i`-th neuron.
    #[must_use]
    pub fn gid(&self, i: u32) -> u32 {
        self.first + self.stride * i
    }
}

/// The state of the neurons of one shard, in the order of `neurons`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardState {
    /// The shard's neuron sets, concatenated in this order (one per thread of the writing rank).
    pub neurons: Vec<NeuronSet>,
    pub v_rel: Vec<f64>,
    pub i_ex: Vec<f64>,
    pub i_in: Vec<f64>,
    pub refractory: Vec<u32>,
    /// Steps of future input stored per neuron.
    pub horizon: u32,
    /// Per neuron, `2 * horizon` values: (excitatory, inhibitory) input due at the checkpoint step + k.
    pub pending_input: Vec<f32>,
}

/// The encoded layout of a shard: small header, then shuffled columns.
#[derive(Serialize, Deserialize)]
struct Encoded {
    neurons: Vec<NeuronSet>,
    horizon: u32,
    columns: Vec<Vec<u8>>,
}

fn bytes_f64(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_u32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn column<const W: usize, T>(bytes: &[u8], from: fn([u8; W]) -> T) -> Vec<T> {
    bytes.chunks_exact(W).map(|c| from(c.try_into().unwrap_or([0; W]))).collect()
}

impl ShardState {
    /// Number of neurons held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.v_rel.len()
    }

    /// Whether the shard holds no neuron.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.v_rel.is_empty()
    }

    /// Every gid held, in storage order.
    pub fn gids(&self) -> impl Iterator<Item = u32> + '_ {
        self.neurons.iter().flat_map(|s| (0..s.count).map(move |i| s.gid(i)))
    }

    /// Encodes and compresses the shard with zstd at `level`; returns the bytes and the size before
    /// compression.
    pub fn encode(&self, level: i32) -> Result<(Vec<u8>, u64), CheckpointError> {
        let encoded = Encoded {
            neurons: self.neurons.clone(),
            horizon: self.horizon,
            columns: vec![
                shuffle(&bytes_f64(&self.v_rel), 8),
                shuffle(&bytes_f64(&self.i_ex), 8),
                shuffle(&bytes_f64(&self.i_in), 8),
                shuffle(&bytes_u32(&self.refractory), 4),
                shuffle(&bytes_f32(&self.pending_input), 4),
            ],
        };
        let raw = bincode::serde::encode_to_vec(&encoded, bincode::config::standard())
            .map_err(|e| CheckpointError::store("encoding a shard", e))?;
        let packed = zstd::bulk::compress(&raw, level).map_err(|e| CheckpointError::store("compressing a shard", e))?;
        Ok((packed, raw.len() as u64))
    }

    /// Decompresses and decodes a shard written by [`ShardState::encode`]; `name` is used in errors.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Self, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt { checkpoint: name.to_owned(), reason };
        let raw =
            zstd::stream::decode_all(bytes).map_err(|e| corrupt(format!("shard {name} does not decompress: {e}")))?;
        let (encoded, _): (Encoded, usize) = bincode::serde::decode_from_slice(&raw, bincode::config::standard())
            .map_err(|e| corrupt(format!("shard {name} does not decode: {e}")))?;
        let [v, ex, inh, refr, pending]: [Vec<u8>; 5] =
            encoded.columns.try_into().map_err(|_| corrupt(format!("shard {name} has the wrong number of columns")))?;
        let state = Self {
            neurons: encoded.neurons,
            horizon: encoded.horizon,
            v_rel: column(&unshuffle(&v, 8), f64::from_le_bytes),
            i_ex: column(&unshuffle(&ex, 8), f64::from_le_bytes),
            i_in: column(&unshuffle(&inh, 8), f64::from_le_bytes),
            refractory: column(&unshuffle(&refr, 4), u32::from_le_bytes),
            pending_input: column(&unshuffle(&pending, 4), f32::from_le_bytes),
        };
        let n: usize = state.neurons.iter().map(|s| s.count as usize).sum();
        let lens = [state.v_rel.len(), state.i_ex.len(), state.i_in.len(), state.refractory.len()];
        if lens.iter().any(|&l| l != n) || state.pending_input.len() != n * 2 * state.horizon as usize {
            return Err(corrupt(format!("shard {name}: column lengths do not match its {n} neurons")));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_survives_encoding() {
        let s = ShardState {
            neurons: vec![NeuronSet { first: 3, stride: 2, count: 2 }, NeuronSet { first: 4, stride: 2, count: 1 }],
            v_rel: vec![1.5, -2.25, 3.0],
            i_ex: vec![0.1, 0.2, 0.3],
            i_in: vec![-0.1, -0.2, -0.3],
            refractory: vec![0, 7, 20],
            horizon: 2,
            pending_input: (0..12).map(|i| i as f32 * 0.5).collect(),
        };
        let (bytes, _) = s.encode(1).unwrap();
        assert_eq!(ShardState::decode(&bytes, "x").unwrap(), s);
        assert_eq!(s.gids().collect::<Vec<_>>(), vec![3, 5, 4]);
        let mut broken = bytes.clone();
        let mid = broken.len() / 2;
        broken[mid] ^= 0xFF;
        assert!(ShardState::decode(&broken, "x").is_err() || ShardState::decode(&broken, "x").unwrap() != s);
    }
}
