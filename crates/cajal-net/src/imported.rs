//! Connectomes brought as tables: a node table (`id,population[,x,y,z]`) read by every rank, and an edge
//! table (`pre,post,weight,delay_ms`) that each rank streams once, keeping only the rows of its own targets,
//! in file order (the order in which a target sums its input). No rank holds the whole edge table.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cajal_core::neuron_set::NeuronSet;
use cajal_core::{Gid, Resolution};

use crate::recipe::Connection;
use crate::space::Point;
use crate::NetError;

fn bad(path: &Path, row: usize, reason: impl std::fmt::Display) -> NetError {
    NetError::Invalid(format!("{}: row {row}: {reason}", path.display()))
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, NetError> {
    let file =
        std::fs::File::open(path).map_err(|e| NetError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    Ok(std::io::BufReader::new(file))
}

/// The node table: population runs (name, first id, count) in id order, positions if it has them, and
/// per-neuron parameters and initial potentials if it has those columns.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTable {
    pub populations: Vec<(String, Gid, u32)>,
    pub positions: Option<Vec<Point>>,
    /// Columns named after iaf_psc_exp parameters ([`crate::neuron_params::PARAMETER_COLUMNS`]).
    pub parameters: crate::ParameterColumns,
    /// The `V_m` column: initial membrane potentials (mV).
    pub initial_v: Option<Vec<f64>>,
}

/// Optional per-neuron number columns of a node table: the parameters, then `V_m`.
fn value_columns() -> Vec<&'static str> {
    let mut names = crate::neuron_params::PARAMETER_COLUMNS.to_vec();
    names.push(crate::neuron_params::INITIAL_V_COLUMN);
    names
}

/// Column positions of `names` in a CSV header (None for a missing optional column).
fn columns(path: &Path, header: &str, required: &[&str], optional: &[&str]) -> Result<Vec<Option<usize>>, NetError> {
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut out = Vec::new();
    for name in required {
        let at = cols
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| bad(path, 1, format!("no column `{name}` (header: {header})")))?;
        out.push(Some(at));
    }
    for name in optional {
        out.push(cols.iter().position(|c| c == name));
    }
    Ok(out)
}

/// Streams the CSV at `path`: finds the `required` and `optional` columns in its header, then calls `row`
/// with each non-empty line's number (1-based, the header is line 1), its fields and the columns.
fn for_each_row(
    path: &Path,
    required: &[&str],
    optional: &[&str],
    mut row: impl FnMut(usize, &[&str], &[Option<usize>]) -> Result<(), NetError>,
) -> Result<(), NetError> {
    let mut lines = open(path)?.lines().enumerate();
    let header = match lines.next() {
        Some((_, Ok(h))) => h,
        _ => return Err(bad(path, 1, "no header")),
    };
    let cols = columns(path, &header, required, optional)?;
    for (i, line) in lines {
        let line = line.map_err(|e| bad(path, i + 1, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        row(i + 1, &fields, &cols)?;
    }
    Ok(())
}

/// Whether `path` is a Parquet file (by its extension); anything else is read as CSV.
fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "parquet")
}

/// Builds a node table row by row, checking ids and population runs.
struct NodeRows {
    populations: Vec<(String, Gid, u32)>,
    positions: Vec<Point>,
    has_positions: bool,
    /// One column per name of [`value_columns`]; None where the table lacks it.
    values: Vec<Option<Vec<f64>>>,
}

/// What one node row holds besides its id and population.
struct NodeRow<'a> {
    name: &'a str,
    position: Option<Point>,
    /// Per [`value_columns`] name: the row's value, None where the table lacks the column.
    values: &'a [Option<f64>],
}

impl NodeRows {
    fn new(present: impl Fn(usize) -> bool) -> Self {
        let values = (0..value_columns().len()).map(|c| present(c).then(Vec::new)).collect();
        Self { populations: Vec::new(), positions: Vec::new(), has_positions: false, values }
    }

    fn push(&mut self, path: &Path, row: usize, id: i64, node: &NodeRow<'_>) -> Result<(), NetError> {
        let expected = self.positions.len();
        if i64::try_from(expected).ok() != Some(id) {
            return Err(bad(
                path,
                row,
                format!("id {id}, expected {expected} (ids must run 0..N-1 in order, once each)"),
            ));
        }
        // Gids are u32 and a network holds at most u32::MAX neurons: a longer table is refused here rather
        // than wrapped into repeated gids and population counts.
        let gid = Gid::try_from(id).ok().filter(|&g| g < Gid::MAX);
        let gid = gid.ok_or_else(|| bad(path, row, format!("id {id}: more than {} nodes", Gid::MAX)))?;
        let name = node.name;
        match self.populations.last_mut() {
            Some(last) if last.0 == name => last.2 += 1,
            _ => {
                if self.populations.iter().any(|p| p.0 == name) {
                    return Err(bad(path, row, format!("population {name}: its ids are not contiguous")));
                }
                self.populations.push((name.to_owned(), gid, 1));
            }
        }
        if let Some(p) = node.position {
            if let Some(x) = p.iter().find(|x| !x.is_finite()) {
                return Err(bad(path, row, format!("coordinate `{x}` is not a finite number")));
            }
        }
        for ((column, value), name) in self.values.iter_mut().zip(node.values).zip(value_columns()) {
            if let (Some(column), Some(v)) = (column, value) {
                if !v.is_finite() {
                    return Err(bad(path, row, format!("{name} `{v}` is not a finite number")));
                }
                column.push(*v);
            }
        }
        self.has_positions = node.position.is_some();
        self.positions.push(node.position.unwrap_or([0.0; 3]));
        Ok(())
    }

    fn finish(self, path: &Path) -> Result<NodeTable, NetError> {
        if self.populations.is_empty() {
            return Err(bad(path, 2, "no nodes"));
        }
        let mut parameters = crate::ParameterColumns::default();
        let mut initial_v = None;
        for (name, column) in value_columns().into_iter().zip(self.values) {
            match column {
                Some(v) if name == crate::neuron_params::INITIAL_V_COLUMN => initial_v = Some(v),
                Some(v) => parameters.columns.push((name.to_owned(), v)),
                None => {}
            }
        }
        let positions = self.has_positions.then_some(self.positions);
        Ok(NodeTable { populations: self.populations, positions, parameters, initial_v })
    }
}

/// Refuses a column whose name differs from a known one only in case (`v_th` for `V_th`): it would be
/// ignored as metadata while the user meant a parameter. Other unknown columns are kept out of the way.
fn check_column_names(path: &Path, names: &[String]) -> Result<(), NetError> {
    let mut known = vec!["id", "population", "x", "y", "z"];
    known.extend(value_columns());
    for name in names {
        let name = name.trim();
        if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name) && **k != name) {
            return Err(bad(path, 1, format!("column `{name}` is not `{k}` (column names are case-sensitive)")));
        }
    }
    Ok(())
}

impl NodeTable {
    /// Reads `path` (CSV, or Parquet by its extension): ids must run 0..N-1 in order and each population's ids
    /// must be contiguous.
    pub fn read(path: &Path) -> Result<Self, NetError> {
        if is_parquet(path) {
            check_column_names(path, &crate::parquet_tables::column_names(path)?)?;
            Self::read_parquet(path)
        } else {
            let mut header = String::new();
            open(path)?.read_line(&mut header).map_err(|e| bad(path, 1, e))?;
            check_column_names(path, &header.trim_end().split(',').map(str::to_owned).collect::<Vec<_>>())?;
            Self::read_csv(path)
        }
    }

    fn read_parquet(path: &Path) -> Result<Self, NetError> {
        use arrow_schema::DataType::{Float64, Int64, Utf8};
        let mut wanted = vec![
            ("id", Int64, true),
            ("population", Utf8, true),
            ("x", Float64, false),
            ("y", Float64, false),
            ("z", Float64, false),
        ];
        wanted.extend(value_columns().into_iter().map(|name| (name, Float64, false)));
        let mut rows: Option<NodeRows> = None;
        crate::parquet_tables::for_each_batch(path, &wanted, |c| {
            use crate::parquet_tables::{floats, ints, texts};
            let rows = rows.get_or_insert_with(|| NodeRows::new(|k| c.columns[5 + k].is_some()));
            let (ids, names) = (ints(path, c, 0, "id")?, texts(path, c, 1, "population")?);
            let xyz = if c.columns[2..5].iter().all(Option::is_some) {
                Some([floats(path, c, 2, "x")?, floats(path, c, 3, "y")?, floats(path, c, 4, "z")?])
            } else {
                None
            };
            let values: Vec<Option<Vec<f64>>> = value_columns()
                .into_iter()
                .enumerate()
                .map(|(k, name)| c.columns[5 + k].as_ref().map(|_| floats(path, c, 5 + k, name)).transpose())
                .collect::<Result<_, _>>()?;
            let mut row_values = vec![None; values.len()];
            for (i, (id, name)) in ids.iter().zip(&names).enumerate() {
                for (v, column) in row_values.iter_mut().zip(&values) {
                    *v = column.as_ref().map(|c| c[i]);
                }
                let position = xyz.as_ref().map(|[x, y, z]| [x[i], y[i], z[i]]);
                rows.push(path, c.first_row + i, *id, &NodeRow { name, position, values: &row_values })?;
            }
            Ok(())
        })?;
        rows.unwrap_or_else(|| NodeRows::new(|_| false)).finish(path)
    }

    fn read_csv(path: &Path) -> Result<Self, NetError> {
        let mut optional = vec!["x", "y", "z"];
        optional.extend(value_columns());
        let mut rows: Option<NodeRows> = None;
        let mut row_values = vec![None; value_columns().len()];
        for_each_row(path, &["id", "population"], &optional, |row, fields, cols| {
            let rows = rows.get_or_insert_with(|| NodeRows::new(|k| cols[5 + k].is_some()));
            let field =
                |c: Option<usize>| fields.get(c.unwrap_or(0)).copied().ok_or_else(|| bad(path, row, "too few fields"));
            let number = |c: Option<usize>, what: &str| -> Result<f64, NetError> {
                let text = field(c)?;
                text.parse().map_err(|_| bad(path, row, format!("{what} `{text}` is not a number")))
            };
            let text = field(cols[0])?;
            let id: i64 = text.parse().map_err(|_| bad(path, row, format!("id `{text}` is not an integer")))?;
            let name = field(cols[1])?;
            let position = if cols[2..5].iter().all(Option::is_some) {
                Some([number(cols[2], "coordinate")?, number(cols[3], "coordinate")?, number(cols[4], "coordinate")?])
            } else {
                None
            };
            for ((v, &c), what) in row_values.iter_mut().zip(&cols[5..]).zip(value_columns()) {
                *v = c.map(|c| number(Some(c), what)).transpose()?;
            }
            rows.push(path, row, id, &NodeRow { name, position, values: &row_values })
        })?;
        rows.unwrap_or_else(|| NodeRows::new(|_| false)).finish(path)
    }
}

/// One rank's rows of the edge table, grouped by target in file order.
#[derive(Debug)]
struct LocalEdges {
    owned: NeuronSet,
    start: Vec<u32>,
    edges: Vec<Connection>,
}

/// The edge table of a network, loaded per rank on demand.
#[derive(Debug)]
pub struct EdgeTable {
    path: PathBuf,
    neurons: Gid,
    resolution: Resolution,
    counts: Option<SynapseCounts>,
    local: OnceLock<Result<LocalEdges, String>>,
    in_degrees: OnceLock<Vec<u32>>,
}

/// How a table of synapse counts becomes weights: n_syn x the weight of one synapse of the source's
/// population (its sign included), with a default delay when the table has none.
#[derive(Clone, Debug, PartialEq)]
pub struct SynapseCounts {
    /// First gid of each population, ascending.
    pub firsts: Vec<Gid>,
    /// Signed weight of one synapse from each population (pA); empty: rows must give weights.
    pub unit_weight: Vec<f64>,
    /// Delay of rows without a `delay_ms` column.
    pub delay_ms: Option<f64>,
}

impl EdgeTable {
    /// The table at `path` for a network of `neurons` neurons on the grid `resolution`.
    #[must_use]
    pub fn new(path: PathBuf, neurons: Gid, resolution: Resolution) -> Self {
        Self { path, neurons, resolution, counts: None, local: OnceLock::new(), in_degrees: OnceLock::new() }
    }

    /// The same table, whose rows may give synapse counts (`n_syn`) instead of weights, and may leave out the
    /// delay.
    #[must_use]
    pub fn with_counts(mut self, counts: SynapseCounts) -> Self {
        self.counts = Some(counts);
        self
    }

    /// The weight and delay of a row from what it holds: a weight, or a count times the source population's
    /// signed unit weight; a delay, or the default.
    fn weight_and_delay(
        &self,
        row: usize,
        pre: i64,
        weight: Option<f32>,
        n_syn: Option<f64>,
        delay: Option<f64>,
    ) -> Result<(f32, f64), NetError> {
        let path = &self.path;
        let weight = match (weight, n_syn, &self.counts) {
            (Some(w), _, _) => w,
            (None, Some(n), Some(c)) if !c.unit_weight.is_empty() => {
                if !(n.is_finite() && n >= 0.0) {
                    return Err(bad(path, row, format!("n_syn `{n}` must be a finite count >= 0")));
                }
                let pop = c.firsts.partition_point(|&f| i64::from(f) <= pre).saturating_sub(1);
                (n * c.unit_weight.get(pop).copied().unwrap_or(0.0)) as f32
            }
            _ => {
                return Err(bad(
                    path,
                    1,
                    "no column `weight` (or `n_syn`, with a weight per synapse in the model file)",
                ))
            }
        };
        let delay = match (delay, self.counts.as_ref().and_then(|c| c.delay_ms)) {
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => return Err(bad(path, 1, "no column `delay_ms` (and no default delay in the model file)")),
        };
        Ok((weight, delay))
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Streams the table and calls `row(pre, post, weight, delay_steps)` for every row, checking each.
    /// Checks one row: ids in range, a finite weight, a delay of at least one step.
    fn check(
        &self,
        row: usize,
        (pre, post): (i64, i64),
        weight: f32,
        delay_ms: f64,
    ) -> Result<(Gid, Gid, f32, u32), NetError> {
        let path = &self.path;
        let id = |v: i64, what: &str| -> Result<Gid, NetError> {
            if v < 0 || v >= i64::from(self.neurons) {
                let n = self.neurons;
                return Err(bad(path, row, format!("{what} {v} is out of range (the node table has {n} nodes)")));
            }
            Ok(v as Gid)
        };
        let (pre, post) = (id(pre, "pre")?, id(post, "post")?);
        if !weight.is_finite() {
            return Err(bad(path, row, format!("weight `{weight}` is not a finite number")));
        }
        let delay = self.resolution.delay_steps(delay_ms).map_err(|e| bad(path, row, e))?;
        Ok((pre, post, weight, delay))
    }

    /// Streams the table and calls `emit(pre, post, weight, delay_steps)` for every row, checking each.
    fn stream(&self, mut emit: impl FnMut(Gid, Gid, f32, u32)) -> Result<(), NetError> {
        let path = &self.path;
        if is_parquet(path) {
            use arrow_schema::DataType::{Float32, Float64, Int64};
            let wanted = [
                ("pre", Int64, true),
                ("post", Int64, true),
                ("weight", Float32, false),
                ("delay_ms", Float64, false),
                ("n_syn", Float64, false),
            ];
            return crate::parquet_tables::for_each_batch(path, &wanted, |c| {
                use crate::parquet_tables::{floats, floats32, ints};
                let (pre, post) = (ints(path, c, 0, "pre")?, ints(path, c, 1, "post")?);
                let weight = if c.columns[2].is_some() { Some(floats32(path, c, 2, "weight")?) } else { None };
                let delay = if c.columns[3].is_some() { Some(floats(path, c, 3, "delay_ms")?) } else { None };
                let n_syn = if c.columns[4].is_some() { Some(floats(path, c, 4, "n_syn")?) } else { None };
                for i in 0..pre.len() {
                    let row = c.first_row + i;
                    let pick = |v: &Option<Vec<f64>>| v.as_ref().map(|v| v[i]);
                    let w = weight.as_ref().map(|v| v[i]);
                    let (w, d) = self.weight_and_delay(row, pre[i], w, pick(&n_syn), pick(&delay))?;
                    let (a, b, w, d) = self.check(row, (pre[i], post[i]), w, d)?;
                    emit(a, b, w, d);
                }
                Ok(())
            });
        }
        for_each_row(path, &["pre", "post"], &["weight", "delay_ms", "n_syn"], |r, f, cols| {
            let get = |c: usize| f.get(cols[c].unwrap_or(0)).copied().ok_or_else(|| bad(path, r, "too few fields"));
            let id = |c: usize, what: &str| -> Result<i64, NetError> {
                let text = get(c)?;
                text.parse::<u32>().map(i64::from).map_err(|_| bad(path, r, format!("{what} `{text}` is not an id")))
            };
            let (pre, post) = (id(0, "pre")?, id(1, "post")?);
            let number = |c: usize, what: &str| -> Result<Option<f64>, NetError> {
                if cols[c].is_none() {
                    return Ok(None);
                }
                let text = get(c)?;
                let v: f64 = text.parse().map_err(|_| bad(path, r, format!("{what} `{text}` is not a number")))?;
                if !v.is_finite() {
                    return Err(bad(path, r, format!("{what} `{text}` is not a finite number")));
                }
                Ok(Some(v))
            };
            let weight = number(2, "weight")?.map(|w| w as f32);
            let (w, d) = self.weight_and_delay(r, pre, weight, number(4, "n_syn")?, number(3, "delay")?)?;
            let (a, b, w, d) = self.check(r, (pre, post), w, d)?;
            emit(a, b, w, d);
            Ok(())
        })
    }

    /// Calls `f(pre, post)` for every row of the table (one streaming pass).
    pub fn for_each_edge(&self, f: &mut dyn FnMut(Gid, Gid)) -> Result<(), NetError> {
        self.stream(|pre, post, _, _| f(pre, post))
    }

    /// Loads the rows of `owned`'s targets (once; later calls with the same set are free).
    pub fn load(&self, owned: &NeuronSet) -> Result<(), NetError> {
        let loaded = self.local.get_or_init(|| {
            let mut rows: Vec<(u32, Connection)> = Vec::new();
            self.stream(|pre, post, weight, delay| {
                if let Some(i) = owned.index_of(post) {
                    rows.push((i, Connection { source: pre, delay, weight }));
                }
            })
            .map_err(|e| e.to_string())?;
            // Row starts are u32: more rows than that on one rank would wrap them.
            if u32::try_from(rows.len()).is_err() {
                return Err(format!(
                    "{}: {} rows for this rank's targets, more than {} (use more ranks)",
                    self.path.display(),
                    rows.len(),
                    u32::MAX
                ));
            }
            // Stable: rows of one target keep their file order.
            rows.sort_by_key(|&(i, _)| i);
            let mut start = vec![0u32; owned.len() as usize + 1];
            for &(i, _) in &rows {
                start[i as usize + 1] += 1;
            }
            for i in 0..owned.len() as usize {
                start[i + 1] += start[i];
            }
            Ok(LocalEdges { owned: owned.clone(), start, edges: rows.into_iter().map(|(_, c)| c).collect() })
        });
        match loaded {
            Ok(l) if l.owned == *owned => Ok(()),
            Ok(_) => Err(NetError::Invalid(format!("{}: loaded for another set of neurons", self.path.display()))),
            Err(e) => Err(NetError::Invalid(e.clone())),
        }
    }

    /// Calls `sink` for every loaded incoming connection of `target`, in file order.
    pub fn connections_to(&self, target: Gid, mut sink: impl FnMut(Connection)) -> Result<(), NetError> {
        let Some(Ok(l)) = self.local.get() else {
            return Err(NetError::Invalid(format!("{}: not loaded on this rank", self.path.display())));
        };
        let i = l.owned.index_of(target).ok_or_else(|| {
            NetError::Invalid(format!("{}: neuron {target} is not one of this rank's targets", self.path.display()))
        })? as usize;
        l.edges[l.start[i] as usize..l.start[i + 1] as usize].iter().copied().for_each(&mut sink);
        Ok(())
    }

    /// Incoming rows per neuron (one streaming pass, for cost-based balancing; 0 where the table is bad).
    #[must_use]
    pub fn in_degree(&self, gid: Gid) -> u32 {
        let counts = self.in_degrees.get_or_init(|| {
            let mut counts = vec![0u32; self.neurons as usize];
            // Saturating: a cost estimate, and a file may repeat one target beyond u32.
            let bump = |c: &mut u32| *c = c.saturating_add(1);
            if self.stream(|_, post, _, _| counts.get_mut(post as usize).map_or((), bump)).is_err() {
                counts.iter_mut().for_each(|c| *c = 0);
            }
            counts
        });
        counts.get(gid as usize).copied().unwrap_or(0)
    }
}

/// Positions of one population out of the node table's.
#[must_use]
pub fn population_positions(all: &[Point], first: Gid, count: u32) -> Arc<Vec<Point>> {
    // A run outside the table gives no positions (the placement check then names the population) rather
    // than a slice panic.
    let run = all.get(first as usize..first as usize + count as usize);
    Arc::new(run.map_or_else(Vec::new, <[Point]>::to_vec))
}
