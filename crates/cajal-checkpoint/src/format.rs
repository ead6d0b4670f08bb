//! One shard: the state of a set of neurons, by gid, independent of how many ranks wrote it. Encoded with
//! bincode (frozen 2.0 format), float columns byte-shuffled, the whole compressed with zstd.

use serde::{Deserialize, Serialize};

use std::io::Write;

use crate::shuffle::{shuffle_f64, shuffle_u32, unshuffle_f64, unshuffle_u32};
use crate::CheckpointError;

pub use cajal_core::neuron_set::NeuronSet;

/// The values of one state column, one per neuron of the shard.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    F64(Vec<f64>),
    U32(Vec<u32>),
}

/// The element type of a column, as the shard header records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    F64,
    U32,
}

impl ColumnValues {
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::F64(v) => v.len(),
            Self::U32(v) => v.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kind(&self) -> ColumnKind {
        match self {
            Self::F64(_) => ColumnKind::F64,
            Self::U32(_) => ColumnKind::U32,
        }
    }

    /// Byte-shuffled, so that the same byte of every value sits together (compresses better).
    fn shuffled(&self) -> Vec<u8> {
        match self {
            Self::F64(v) => shuffle_f64(v),
            Self::U32(v) => shuffle_u32(v),
        }
    }
}

/// One named state column (a neuron model's state variable, e.g. `V_m_rel`).
#[derive(Clone, Debug, PartialEq)]
pub struct StateColumn {
    pub name: String,
    pub values: ColumnValues,
}

/// The state of the neurons of one shard, in the order of `neurons`: named columns (whatever state the
/// neuron model or rate network has) and the input in flight.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardState {
    /// The shard's neuron sets, concatenated in this order (one per thread of the writing rank).
    pub neurons: Vec<NeuronSet>,
    /// State columns, each with one value per neuron.
    pub columns: Vec<StateColumn>,
    /// Steps of future input stored per neuron.
    pub horizon: u32,
    /// Input due at the checkpoint step + k, (excitatory, inhibitory) per neuron: for each neuron set in
    /// order, `horizon` rows (k = 0, 1, ...) of `2 * count` values. Rows copy straight from ring buffers.
    pub pending_input: Vec<f32>,
    /// Plastic weights, spike archives and traces (None: the writing rank had no plastic synapse).
    pub plastic: Option<crate::PlasticShard>,
}

/// The encoded layout of a shard: this header (bincode), then the shuffled columns back to back, then the
/// input in flight, raw (a `Vec<u8>` through serde would cost a call per byte).
#[derive(Serialize, Deserialize)]
struct Header {
    neurons: Vec<NeuronSet>,
    horizon: u32,
    /// Name and type of each state column, in storage order.
    columns: Vec<(String, ColumnKind)>,
    /// Bytes of each state column, then of the input in flight.
    column_bytes: Vec<u64>,
    /// Bytes of the plastic state after the input in flight (0: none).
    plastic_bytes: u64,
}

impl ShardState {
    /// Number of neurons held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.neurons.iter().map(|s| s.len() as usize).sum()
    }

    /// Whether the shard holds no neuron.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every gid held, in storage order.
    pub fn gids(&self) -> impl Iterator<Item = u32> + '_ {
        self.neurons.iter().flat_map(NeuronSet::iter)
    }

    /// The f64 column `name`, if the shard has it.
    #[must_use]
    pub fn f64_column(&self, name: &str) -> Option<&[f64]> {
        self.columns.iter().find(|c| c.name == name).and_then(|c| match &c.values {
            ColumnValues::F64(v) => Some(v.as_slice()),
            ColumnValues::U32(_) => None,
        })
    }

    /// The u32 column `name`, if the shard has it.
    #[must_use]
    pub fn u32_column(&self, name: &str) -> Option<&[u32]> {
        self.columns.iter().find(|c| c.name == name).and_then(|c| match &c.values {
            ColumnValues::U32(v) => Some(v.as_slice()),
            ColumnValues::F64(_) => None,
        })
    }

    /// Appends `values` to column `name` (created, empty, on first use): writers add each thread's share
    /// in the order of `neurons`.
    pub fn extend_column(&mut self, name: &str, values: ColumnValues) {
        let Some(column) = self.columns.iter_mut().find(|c| c.name == name) else {
            self.columns.push(StateColumn { name: name.to_owned(), values });
            return;
        };
        match (&mut column.values, values) {
            (ColumnValues::F64(a), ColumnValues::F64(b)) => a.extend(b),
            (ColumnValues::U32(a), ColumnValues::U32(b)) => a.extend(b),
            // A writer never changes a column's type; keep the first one's.
            _ => {}
        }
    }

    /// The (excitatory, inhibitory) input of the `j`-th neuron (storage order) due `k` steps after the
    /// checkpoint.
    #[must_use]
    pub fn pending(&self, j: usize, k: usize) -> [f32; 2] {
        let horizon = self.horizon as usize;
        let mut offset = 0;
        let mut first = 0;
        for set in &self.neurons {
            let count = set.len() as usize;
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
    /// and the size before compression. The state columns are byte-shuffled; the input in flight is not
    /// (measured on the full-scale microcircuit: mostly zeros, it compresses 15% smaller and faster
    /// unshuffled).
    pub fn encode(&self, level: i32, workers: u32) -> Result<(Vec<u8>, u64), CheckpointError> {
        let fail = |e: std::io::Error| CheckpointError::store("compressing a shard", e);
        let state_columns: Vec<Vec<u8>> = self.columns.iter().map(|c| c.values.shuffled()).collect();
        let pending_bytes = self.pending_input.len() * 4;
        let plastic = self.plastic.as_ref().map(crate::PlasticShard::encode).transpose();
        let plastic = plastic.map_err(|e| CheckpointError::store("encoding a shard's plastic state", e))?;
        let mut column_bytes: Vec<u64> = state_columns.iter().map(|c| c.len() as u64).collect();
        column_bytes.push(pending_bytes as u64);
        let header = Header {
            neurons: self.neurons.clone(),
            horizon: self.horizon,
            columns: self.columns.iter().map(|c| (c.name.clone(), c.values.kind())).collect(),
            column_bytes,
            plastic_bytes: plastic.as_ref().map_or(0, |p| p.len() as u64),
        };
        let header = bincode::serde::encode_to_vec(&header, bincode::config::standard())
            .map_err(|e| CheckpointError::store("encoding a shard", e))?;
        let raw_len = header.len()
            + state_columns.iter().map(Vec::len).sum::<usize>()
            + pending_bytes
            + plastic.as_ref().map_or(0, Vec::len);
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
        if let Some(p) = &plastic {
            encoder.write_all(p).map_err(fail)?;
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
        let n = header.neurons.iter().try_fold(0usize, |n, s| n.checked_add(s.len() as usize));
        let pending_values = n.and_then(|n| n.checked_mul(2)?.checked_mul(header.horizon as usize));
        let (Some(n), Some(pending_values)) = (n, pending_values) else {
            return Err(corrupt(format!("shard {name}: its neuron count or horizon ({}) overflows", header.horizon)));
        };
        if header.column_bytes.len() != header.columns.len() + 1 {
            return Err(corrupt(format!("shard {name} has the wrong number of columns")));
        }
        let mut slices = Vec::new();
        for &len in &header.column_bytes {
            let end = usize::try_from(len).ok().and_then(|len| at.checked_add(len)).filter(|&e| e <= raw.len());
            let end = end.ok_or_else(|| corrupt(format!("shard {name} is shorter than its header says")))?;
            slices.push(&raw[at..end]);
            at = end;
        }
        let Some((pending, state)) = slices.split_last() else {
            return Err(corrupt(format!("shard {name} has the wrong number of columns")));
        };
        let mut columns = Vec::with_capacity(state.len());
        for ((column, kind), bytes) in header.columns.into_iter().zip(state) {
            let width = match kind {
                ColumnKind::F64 => 8,
                ColumnKind::U32 => 4,
            };
            if bytes.len() % width != 0 || bytes.len() / width != n {
                return Err(corrupt(format!("shard {name}: column {column} does not hold its {n} neurons")));
            }
            let values = match kind {
                ColumnKind::F64 => ColumnValues::F64(unshuffle_f64(bytes)),
                ColumnKind::U32 => ColumnValues::U32(unshuffle_u32(bytes)),
            };
            columns.push(StateColumn { name: column, values });
        }
        if pending.len() % 4 != 0 || pending.len() / 4 != pending_values {
            return Err(corrupt(format!("shard {name}: its input in flight does not match its {n} neurons")));
        }
        let rest = &raw[at..];
        let plastic = match header.plastic_bytes {
            0 if rest.is_empty() => None,
            len if rest.len() as u64 == len => {
                Some(crate::PlasticShard::decode(rest, n).map_err(|e| corrupt(format!("shard {name}: {e}")))?)
            }
            _ => return Err(corrupt(format!("shard {name}: its plastic state is not the length its header says"))),
        };
        Ok(Self {
            plastic,
            neurons: header.neurons,
            horizon: header.horizon,
            columns,
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
            neurons: vec![NeuronSet::strided(3, 2, 2), NeuronSet::List(vec![4].into())],
            columns: vec![
                StateColumn { name: "V".into(), values: ColumnValues::F64(vec![1.5, -2.25, 3.0]) },
                StateColumn { name: "r".into(), values: ColumnValues::U32(vec![0, 7, 20]) },
            ],
            horizon: 2,
            pending_input: (0..12).map(|i| i as f32 * 0.5).collect(),
            plastic: None,
        };
        let (bytes, _) = s.encode(1, 2).unwrap();
        assert_eq!(s.pending(2, 1), [5.0, 5.5]);
        assert_eq!(s.pending(0, 1), [2.0, 2.5]);
        assert_eq!(ShardState::decode(&bytes, "x").unwrap(), s);
        assert_eq!(s.gids().collect::<Vec<_>>(), vec![3, 5, 4]);
        assert_eq!(s.u32_column("r"), Some(&[0, 7, 20][..]));
        assert_eq!(s.f64_column("r"), None, "a column is read with its own type");
        let mut broken = bytes.clone();
        let mid = broken.len() / 2;
        broken[mid] ^= 0xFF;
        assert!(ShardState::decode(&broken, "x").is_err() || ShardState::decode(&broken, "x").unwrap() != s);
    }
}
