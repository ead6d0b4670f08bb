//! One shard: the state of a set of neurons, by gid, independent of how many ranks wrote it. Encoded with
//! bincode (frozen 2.0 format), float columns byte-shuffled, the whole compressed with zstd.

use serde::{Deserialize, Serialize};

use std::io::Write;

use crate::shuffle::{shuffle_f64, shuffle_u32, unshuffle_f64, unshuffle_u32};
use crate::CheckpointError;

/// The neurons of one writer's thread: the gids `first + stride * i` for `i < count`, or, when `gids` is not
/// empty (spatial decompositions), those gids.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronSet {
    pub first: u32,
    pub stride: u32,
    pub count: u32,
    pub gids: Vec<u32>,
}

impl NeuronSet {
    /// The set `first + stride * i` for `i < count`.
    #[must_use]
    pub fn strided(first: u32, stride: u32, count: u32) -> Self {
        Self { first, stride, count, gids: Vec::new() }
    }

    /// Refuses a set that names gids it does not have: a list of another length than `count`, or a stride
    /// that runs past the largest gid. Sets read from a file pass this before [`NeuronSet::gid`] is used.
    pub fn check(&self) -> Result<(), String> {
        if !self.gids.is_empty() {
            if self.gids.len() != self.count as usize {
                return Err(format!("a neuron set lists {} gids but counts {}", self.gids.len(), self.count));
            }
        } else if let Some(last_index) = self.count.checked_sub(1) {
            let last = u64::from(self.first) + u64::from(self.stride) * u64::from(last_index);
            if last > u64::from(u32::MAX) {
                let (first, stride, count) = (self.first, self.stride, self.count);
                return Err(format!("the neuron set {first} + {stride} x i (i < {count}) runs past gid {}", u32::MAX));
            }
        }
        Ok(())
    }

    /// The gid of the `i`-th neuron.
    #[must_use]
    pub fn gid(&self, i: u32) -> u32 {
        if self.gids.is_empty() {
            self.first + self.stride * i
        } else {
            self.gids[i as usize]
        }
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
    /// Input due at the checkpoint step + k, (excitatory, inhibitory) per neuron: for each neuron set in
    /// order, `horizon` rows (k = 0, 1, ...) of `2 * count` values. Rows copy straight from ring buffers.
    pub pending_input: Vec<f32>,
}

/// The encoded layout of a shard: this header (bincode), then the shuffled columns back to back, raw (a
/// `Vec<u8>` through serde would cost a call per byte).
#[derive(Serialize, Deserialize)]
struct Header {
    neurons: Vec<NeuronSet>,
    horizon: u32,
    column_bytes: Vec<u64>,
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

    /// The (excitatory, inhibitory) input of the `j`-th neuron (storage order) due `k` steps after the
    /// checkpoint.
    #[must_use]
    pub fn pending(&self, j: usize, k: usize) -> [f32; 2] {
        let horizon = self.horizon as usize;
        let mut offset = 0;
        let mut first = 0;
        for set in &self.neurons {
            let count = set.count as usize;
            if j < first + count {
                let at = offset + (k * count + (j - first)) * 2;
                return [self.pending_input[at], self.pending_input[at + 1]];
            }
            first += count;
            offset += horizon * count * 2;
        }
        [0.0, 0.0]
    }

    /// Encodes and compresses the shard with zstd at `level` (on `workers` threads); returns the bytes
    /// and the size before compression. The f64 and u32 state columns are byte-shuffled; the input in flight
    /// is not (measured on the full-scale microcircuit: mostly zeros, it compresses 15% smaller and faster
    /// unshuffled).
    pub fn encode(&self, level: i32, workers: u32) -> Result<(Vec<u8>, u64), CheckpointError> {
        let fail = |e: std::io::Error| CheckpointError::store("compressing a shard", e);
        let state_columns =
            [shuffle_f64(&self.v_rel), shuffle_f64(&self.i_ex), shuffle_f64(&self.i_in), shuffle_u32(&self.refractory)];
        let pending_bytes = self.pending_input.len() * 4;
        let mut column_bytes: Vec<u64> = state_columns.iter().map(|c| c.len() as u64).collect();
        column_bytes.push(pending_bytes as u64);
        let header = Header { neurons: self.neurons.clone(), horizon: self.horizon, column_bytes };
        let header = bincode::serde::encode_to_vec(&header, bincode::config::standard())
            .map_err(|e| CheckpointError::store("encoding a shard", e))?;
        let raw_len = header.len() + state_columns.iter().map(Vec::len).sum::<usize>() + pending_bytes;
        let mut encoder = zstd::stream::write::Encoder::new(Vec::with_capacity(raw_len / 4), level).map_err(fail)?;
        if workers > 1 {
            encoder.multithread(workers).map_err(fail)?;
        }
        encoder.write_all(&header).map_err(fail)?;
        for c in &state_columns {
            encoder.write_all(c).map_err(fail)?;
        }
        // Streamed in slices, so the input in flight is never copied whole.
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in self.pending_input.chunks(1 << 14) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
            encoder.write_all(&buf).map_err(fail)?;
        }
        Ok((encoder.finish().map_err(fail)?, raw_len as u64))
    }

    /// Decompresses and decodes a shard written by [`ShardState::encode`]; `name` is used in errors.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Self, CheckpointError> {
        Self::decode_sized(bytes, name, None)
    }

    /// [`ShardState::decode`], where the shard must decompress to exactly `raw_bytes` (the manifest's size
    /// before compression) when given: decompression stops there, so a small object cannot expand without
    /// bound.
    pub fn decode_sized(bytes: &[u8], name: &str, raw_bytes: Option<u64>) -> Result<Self, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt { checkpoint: name.to_owned(), reason };
        let raw = decompress(bytes, raw_bytes).map_err(|e| corrupt(format!("shard {name} {e}")))?;
        let (header, mut at): (Header, usize) = bincode::serde::decode_from_slice(&raw, bincode::config::standard())
            .map_err(|e| corrupt(format!("shard {name} does not decode: {e}")))?;
        for set in &header.neurons {
            set.check().map_err(|e| corrupt(format!("shard {name}: {e}")))?;
        }
        // Every size below comes from the file: checked, so no product wraps into a small, passing length.
        let n = header.neurons.iter().try_fold(0usize, |n, s| n.checked_add(s.count as usize));
        let pending_values = n.and_then(|n| n.checked_mul(2)?.checked_mul(header.horizon as usize));
        let (Some(n), Some(pending_values)) = (n, pending_values) else {
            return Err(corrupt(format!("shard {name}: its neuron count or horizon ({}) overflows", header.horizon)));
        };
        let mut columns = Vec::new();
        for &len in &header.column_bytes {
            let end = usize::try_from(len).ok().and_then(|len| at.checked_add(len)).filter(|&e| e <= raw.len());
            let end = end.ok_or_else(|| corrupt(format!("shard {name} is shorter than its header says")))?;
            columns.push(&raw[at..end]);
            at = end;
        }
        let [v, ex, inh, refr, pending]: [&[u8]; 5] =
            columns.try_into().map_err(|_| corrupt(format!("shard {name} has the wrong number of columns")))?;
        let widths = [(v, 8), (ex, 8), (inh, 8), (refr, 4)];
        if widths.iter().any(|(c, w)| c.len() / w != n || c.len() % w != 0)
            || pending.len() % 4 != 0
            || pending.len() / 4 != pending_values
        {
            return Err(corrupt(format!("shard {name}: column lengths do not match its {n} neurons")));
        }
        Ok(Self {
            neurons: header.neurons,
            horizon: header.horizon,
            v_rel: unshuffle_f64(v),
            i_ex: unshuffle_f64(ex),
            i_in: unshuffle_f64(inh),
            refractory: unshuffle_u32(refr),
            pending_input: pending.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        })
    }
}

/// The decompressed bytes of a shard; with `expected`, exactly that many (reading stops one byte past it).
fn decompress(bytes: &[u8], expected: Option<u64>) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let fail = |e: std::io::Error| format!("does not decompress: {e}");
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(fail)?;
    let mut raw = Vec::new();
    decoder.take(expected.map_or(u64::MAX, |e| e.saturating_add(1))).read_to_end(&mut raw).map_err(fail)?;
    match expected {
        Some(e) if raw.len() as u64 > e => Err(format!("decompresses to more than the {e} bytes the manifest says")),
        Some(e) if raw.len() as u64 != e => Err(format!("decompresses to {} bytes, the manifest says {e}", raw.len())),
        _ => Ok(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_survives_encoding() {
        let s = ShardState {
            neurons: vec![NeuronSet::strided(3, 2, 2), NeuronSet { first: 0, stride: 0, count: 1, gids: vec![4] }],
            v_rel: vec![1.5, -2.25, 3.0],
            i_ex: vec![0.1, 0.2, 0.3],
            i_in: vec![-0.1, -0.2, -0.3],
            refractory: vec![0, 7, 20],
            horizon: 2,
            pending_input: (0..12).map(|i| i as f32 * 0.5).collect(),
        };
        let (bytes, _) = s.encode(1, 2).unwrap();
        assert_eq!(s.pending(2, 1), [5.0, 5.5]);
        assert_eq!(s.pending(0, 1), [2.0, 2.5]);
        assert_eq!(ShardState::decode(&bytes, "x").unwrap(), s);
        assert_eq!(s.gids().collect::<Vec<_>>(), vec![3, 5, 4]);
        let mut broken = bytes.clone();
        let mid = broken.len() / 2;
        broken[mid] ^= 0xFF;
        assert!(ShardState::decode(&broken, "x").is_err() || ShardState::decode(&broken, "x").unwrap() != s);
    }
}
