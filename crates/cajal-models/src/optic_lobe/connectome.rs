//! The flyvis connectome file and its expansion on a hexagonal lattice: neurons (cell types in file order,
//! then columns by u, then v) and synapses (edge kind in file order, then offset, raw then hull-filled,
//! then source neuron), exactly in flyvis' orders, so parameter files index them the same way.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::optic_lobe::hull::filled;
use crate::ModelError;

/// Synapse count flyvis gives to offsets added by the hull filling.
const N_SYN_FILL: f64 = 1.0;
/// The largest lattice extent a connectome is laid on.
const MAX_EXTENT: i64 = 1000;
/// The largest |du| or |dv| of an offset: two columns of the largest lattice are at most this far apart.
/// Bounding it keeps lattice arithmetic far from i64 overflow and the hull filling's box finite.
const MAX_OFFSET: u64 = 2 * MAX_EXTENT as u64;

#[derive(Deserialize)]
struct FileNode {
    name: String,
    pattern: (String, (i64, i64)),
}

#[derive(Deserialize)]
struct FileEdge {
    src: String,
    tar: String,
    alpha: f64,
    offsets: Vec<((i64, i64), f64)>,
}

#[derive(Deserialize)]
struct File {
    nodes: Vec<FileNode>,
    edges: Vec<FileEdge>,
    input_units: Vec<String>,
}

/// A cell type: its name and the lattice stride of its columns.
#[derive(Clone, Debug, PartialEq)]
pub struct CellType {
    pub name: String,
    pub stride: (i64, i64),
    /// First gid and number of neurons on the lattice.
    pub first: u32,
    pub count: u32,
    /// The columns of its neurons, in neuron order.
    pub columns: Vec<(i64, i64)>,
}

/// A type-to-type edge kind with its offsets (raw, then hull-filled).
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeKind {
    pub source: usize,
    pub target: usize,
    /// +1 or -1.
    pub sign: f64,
    pub offsets: Vec<((i64, i64), f64)>,
    /// How many of `offsets` came from the file (the rest were added by the filling).
    pub raw: usize,
}

/// One synapse of the expanded network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Synapse {
    pub source: u32,
    pub target: u32,
    /// Index into [`Connectome::kinds`].
    pub kind: usize,
    /// Index into that kind's offsets.
    pub offset: usize,
    pub sign: f64,
    pub n_syn: f64,
}

/// The connectome on a lattice of a given extent.
#[derive(Clone, Debug)]
pub struct Connectome {
    pub extent: i64,
    pub types: Vec<CellType>,
    pub kinds: Vec<EdgeKind>,
    /// Types that receive the stimulus (R1..R8).
    pub inputs: Vec<usize>,
    /// (type, column) -> gid.
    index: HashMap<(usize, (i64, i64)), u32>,
}

/// The lattice columns of `extent`: |u|, |v|, |u + v| <= extent, by u then v.
#[must_use]
pub fn columns(extent: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for u in -extent..=extent {
        for v in -extent..=extent {
            if (u + v).abs() <= extent {
                out.push((u, v));
            }
        }
    }
    out
}

impl Connectome {
    /// Reads a flyvis connectome file and lays it on the lattice of `extent`; `fill` applies the
    /// convex-hull filling (flyvis does).
    pub fn read(path: &Path, extent: i64, fill: bool) -> Result<Self, ModelError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelError::Read { file: path.to_owned(), source })?;
        Self::parse(path, &text, extent, fill)
    }

    /// [`Connectome::read`] from text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str, extent: i64, fill: bool) -> Result<Self, ModelError> {
        let bad = |message: String| ModelError::Syntax { file: path.to_owned(), message };
        if !(0..=MAX_EXTENT).contains(&extent) {
            return Err(bad(format!("lattice extent {extent} must lie in 0..={MAX_EXTENT}")));
        }
        let file: File = serde_json::from_str(text).map_err(|e| bad(format!("not a flyvis connectome: {e}")))?;
        let lattice = columns(extent);
        let mut types = Vec::new();
        let mut index = HashMap::new();
        let mut next = 0u32;
        for (t, node) in file.nodes.iter().enumerate() {
            let (kind, (su, sv)) = &node.pattern;
            if kind != "stride" || *su <= 0 || *sv <= 0 {
                return Err(bad(format!("cell type {}: pattern {kind} {su},{sv} is not a positive stride", node.name)));
            }
            let cols: Vec<(i64, i64)> =
                lattice.iter().copied().filter(|(u, v)| u.rem_euclid(*su) == 0 && v.rem_euclid(*sv) == 0).collect();
            // Gids are u32: many types on a large lattice could pass that.
            let count = u32::try_from(cols.len()).ok().filter(|&n| next.checked_add(n).is_some());
            let count = count.ok_or_else(|| {
                bad(format!(
                    "cell type {}: more than {} neurons on the lattice of extent {extent}",
                    node.name,
                    u32::MAX
                ))
            })?;
            for (&c, i) in cols.iter().zip(next..) {
                index.insert((t, c), i);
            }
            types.push(CellType { name: node.name.clone(), stride: (*su, *sv), first: next, count, columns: cols });
            next += count;
        }
        let type_of = |name: &str| {
            types.iter().position(|t| t.name == name).ok_or_else(|| bad(format!("unknown cell type {name}")))
        };
        let mut kinds = Vec::new();
        for e in &file.edges {
            let (source, target) = (type_of(&e.src)?, type_of(&e.tar)?);
            if !(e.alpha == 1.0 || e.alpha == -1.0) {
                return Err(bad(format!("edge {} -> {}: sign {} is not +1 or -1", e.src, e.tar, e.alpha)));
            }
            if let Some(&(_, n)) = e.offsets.iter().find(|(_, n)| !(n.is_finite() && *n > 0.0)) {
                return Err(bad(format!("edge {} -> {}: synapse count {n} must be positive", e.src, e.tar)));
            }
            if let Some(((du, dv), _)) =
                e.offsets.iter().find(|((du, dv), _)| du.unsigned_abs().max(dv.unsigned_abs()) > MAX_OFFSET)
            {
                return Err(bad(format!(
                    "edge {} -> {}: offset ({du}, {dv}) lies beyond any lattice (|du|, |dv| <= {MAX_OFFSET})",
                    e.src, e.tar
                )));
            }
            let mut offsets = e.offsets.clone();
            if fill {
                let raw: Vec<(i64, i64)> = e.offsets.iter().map(|(o, _)| *o).collect();
                offsets.extend(filled(&raw).into_iter().map(|o| (o, N_SYN_FILL)));
            }
            kinds.push(EdgeKind { source, target, sign: e.alpha, offsets, raw: e.offsets.len() });
        }
        let inputs = file.input_units.iter().map(|n| type_of(n)).collect::<Result<_, _>>()?;
        Ok(Self { extent, types, kinds, inputs, index })
    }

    /// Number of neurons.
    #[must_use]
    pub fn neurons(&self) -> u32 {
        self.types.iter().map(|t| t.count).sum()
    }

    /// The gid of the neuron of `cell_type` at `column`, if the lattice has one.
    #[must_use]
    pub fn gid(&self, cell_type: usize, column: (i64, i64)) -> Option<u32> {
        self.index.get(&(cell_type, column)).copied()
    }

    /// Calls `sink` for every synapse, in flyvis' expansion order: edge kind, offset, source neuron.
    pub fn for_each_synapse(&self, mut sink: impl FnMut(Synapse)) {
        for (k, kind) in self.kinds.iter().enumerate() {
            let src = &self.types[kind.source];
            for (o, &((du, dv), n_syn)) in kind.offsets.iter().enumerate() {
                for (i, &(u, v)) in src.columns.iter().enumerate() {
                    if let Some(target) = self.gid(kind.target, (u + du, v + dv)) {
                        sink(Synapse {
                            source: src.first + i as u32,
                            target,
                            kind: k,
                            offset: o,
                            sign: kind.sign,
                            n_syn,
                        });
                    }
                }
            }
        }
    }
}
