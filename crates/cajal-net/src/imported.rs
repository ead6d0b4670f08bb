//! Connectomes brought as tables: a node table (`id,population[,x,y,z]`) read by every rank, and an edge
//! table (`pre,post,weight,delay_ms`) that each rank streams once, keeping only the rows of its own targets,
//! in file order (the order in which a target sums its input). No rank holds the whole edge table.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cajal_core::neuron_set::NeuronSet;
use cajal_core::{Gid, NeuronSpec, Resolution};

use crate::recipe::Connection;
use crate::space::Point;
use crate::{parquet_tables, NetError};

fn bad(path: &Path, row: usize, reason: impl std::fmt::Display) -> NetError {
    NetError::Invalid(format!("{}: row {row}: {reason}", path.display()))
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, NetError> {
    let file =
        std::fs::File::open(path).map_err(|e| NetError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    Ok(std::io::BufReader::new(file))
}

/// The node table: population runs (name, first id, count) in id order, positions if it has them, and
/// per-neuron models, parameters and initial potentials if it has those columns.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTable {
    pub populations: Vec<(String, Gid, u32)>,
    pub positions: Option<Vec<Point>>,
    /// The `model` column and the columns named after a known model's parameters.
    pub parameters: crate::ParameterColumns,
    /// The `V_m` column: initial membrane potentials (mV).
    pub initial_v: Option<Vec<f64>>,
    /// The file, and (gid, row) wherever rows stop following ids one to one (a skipped blank line).
    path: PathBuf,
    rows: Vec<(Gid, usize)>,
}

/// The optional per-neuron columns of a node table: the models' parameters, then `V_m`.
fn value_columns(known: &[NeuronSpec]) -> Vec<&'static str> {
    let mut names = crate::neuron_params::parameter_names(known);
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

/// Builds a node table row by row, checking ids, population runs and model names.
struct NodeRows<'k> {
    known: &'k [NeuronSpec],
    names: Vec<&'static str>,
    populations: Vec<(String, Gid, u32)>,
    positions: Vec<Point>,
    has_positions: bool,
    /// One column per name of `names`; None where the table lacks it.
    values: Vec<Option<Vec<Option<f64>>>>,
    models: Option<Vec<Option<&'static str>>>,
    rows: Vec<(Gid, usize)>,
}

/// What one node row holds besides its id and population.
struct NodeRow<'a> {
    name: &'a str,
    position: Option<Point>,
    /// Per value column: the row's cell (None: empty), None where the table lacks the column.
    values: &'a [Option<Option<f64>>],
    /// The `model` cell (None: empty), None where the table lacks the column.
    model: Option<Option<&'a str>>,
}

impl<'k> NodeRows<'k> {
    fn new(known: &'k [NeuronSpec], present: impl Fn(usize) -> bool, has_models: bool) -> Self {
        let names = value_columns(known);
        let values = (0..names.len()).map(|c| present(c).then(Vec::new)).collect();
        let models = has_models.then(Vec::new);
        Self {
            known,
            names,
            populations: Vec::new(),
            positions: Vec::new(),
            has_positions: false,
            values,
            models,
            rows: Vec::new(),
        }
    }

    /// The id of row `row`, checked against the ids before it.
    fn gid(&mut self, path: &Path, row: usize, id: i64) -> Result<Gid, NetError> {
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
        if self.rows.last().map(|&(g, r)| r + (gid - g) as usize) != Some(row) {
            self.rows.push((gid, row));
        }
        Ok(gid)
    }

    /// The registered name of the model `text` names, refused with the known ones.
    fn model(&self, path: &Path, row: usize, text: &str) -> Result<&'static str, NetError> {
        let names: Vec<&'static str> = self.known.iter().map(|k| k.params().model().name()).collect();
        names.iter().copied().find(|n| *n == text).ok_or_else(|| {
            bad(path, row, format!("model `{text}` is not a known neuron model; known: {}", names.join(", ")))
        })
    }

    fn push(&mut self, path: &Path, row: usize, id: i64, node: &NodeRow<'_>) -> Result<(), NetError> {
        let gid = self.gid(path, row, id)?;
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
        let model = match node.model.flatten() {
            Some(text) => Some(self.model(path, row, text)?),
            None => None,
        };
        if let Some(models) = &mut self.models {
            models.push(model);
        }
        for ((column, value), name) in self.values.iter_mut().zip(node.values).zip(&self.names) {
            if let (Some(column), Some(v)) = (column, value) {
                // Parameter cells may be empty or NaN where a neuron's model lacks the parameter: the
                // neuron classes judge them; an initial potential must be a number.
                if *name == crate::neuron_params::INITIAL_V_COLUMN && !v.is_some_and(f64::is_finite) {
                    let text = v.map_or_else(String::new, |v| v.to_string());
                    return Err(bad(path, row, format!("{name} `{text}` is not a finite number")));
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
        let mut parameters = crate::ParameterColumns { columns: Vec::new(), models: self.models };
        let mut initial_v = None;
        for (name, column) in self.names.into_iter().zip(self.values) {
            match column {
                Some(v) if name == crate::neuron_params::INITIAL_V_COLUMN => {
                    // Checked in `push`: every initial potential is a finite number.
                    initial_v = Some(v.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect());
                }
                Some(v) => parameters.columns.push((name.to_owned(), v)),
                None => {}
            }
        }
        let positions = self.has_positions.then_some(self.positions);
        Ok(NodeTable {
            populations: self.populations,
            positions,
            parameters,
            initial_v,
            path: path.to_owned(),
            rows: self.rows,
        })
    }
}

/// Refuses a column whose name differs from a known one only in case (`v_th` for `V_th`): it would be
/// ignored as metadata while the user meant a parameter. Other unknown columns are kept out of the way.
fn check_column_names(path: &Path, names: &[String], known: &[NeuronSpec]) -> Result<(), NetError> {
    let mut expected = vec!["id", "population", "x", "y", "z", crate::neuron_params::MODEL_COLUMN];
    expected.extend(value_columns(known));
    for name in names {
        let name = name.trim();
        if let Some(k) = expected.iter().find(|k| k.eq_ignore_ascii_case(name) && **k != name) {
            return Err(bad(path, 1, format!("column `{name}` is not `{k}` (column names are case-sensitive)")));
        }
    }
    Ok(())
}

/// A Parquet float column's values, None where null.
fn optional_floats(
    path: &Path,
    c: &parquet_tables::Columns,
    k: usize,
    name: &str,
) -> Result<Vec<Option<f64>>, NetError> {
    let a = c.columns[k].as_ref().and_then(|a| a.as_any().downcast_ref::<arrow_array::Float64Array>());
    let a = a.ok_or_else(|| NetError::Invalid(format!("{}: column `{name}` is missing", path.display())))?;
    Ok(a.iter().collect())
}

/// A Parquet text column's values, None where null.
fn optional_texts(
    path: &Path,
    c: &parquet_tables::Columns,
    k: usize,
    name: &str,
) -> Result<Vec<Option<String>>, NetError> {
    let a = c.columns[k].as_ref().and_then(|a| a.as_any().downcast_ref::<arrow_array::StringArray>());
    let a = a.ok_or_else(|| NetError::Invalid(format!("{}: column `{name}` is missing", path.display())))?;
    Ok(a.iter().map(|v| v.map(str::to_owned)).collect())
}

impl NodeTable {
    /// Reads `path` (CSV, or Parquet by its extension): ids must run 0..N-1 in order and each population's ids
    /// must be contiguous. `known` are the neuron models the `model` column may name (each with NEST's
    /// defaults); their parameters' names are the parameter columns.
    pub fn read(path: &Path, known: &[NeuronSpec]) -> Result<Self, NetError> {
        if is_parquet(path) {
            check_column_names(path, &crate::parquet_tables::column_names(path)?, known)?;
            Self::read_parquet(path, known)
        } else {
            let mut header = String::new();
            open(path)?.read_line(&mut header).map_err(|e| bad(path, 1, e))?;
            let names: Vec<String> = header.trim_end().split(',').map(str::to_owned).collect();
            check_column_names(path, &names, known)?;
            Self::read_csv(path, known)
        }
    }

    /// The row of `gid`'s node in the file (CSV: its line, the header being line 1; Parquet: its data row,
    /// from 1), as errors name rows.
    #[must_use]
    pub fn row_of(&self, gid: Gid) -> usize {
        let at = self.rows.partition_point(|&(g, _)| g <= gid).saturating_sub(1);
        self.rows.get(at).map_or(gid as usize, |&(g, r)| r + (gid - g) as usize)
    }

    /// `path: row R` for `gid`'s node, for messages.
    #[must_use]
    pub fn describe_row(&self, gid: Gid) -> String {
        format!("{}: row {}", self.path.display(), self.row_of(gid))
    }

    fn read_parquet(path: &Path, known: &[NeuronSpec]) -> Result<Self, NetError> {
        use arrow_schema::DataType::{Float64, Int64, Utf8};
        let mut wanted = vec![
            ("id", Int64, true),
            ("population", Utf8, true),
            ("x", Float64, false),
            ("y", Float64, false),
            ("z", Float64, false),
            (crate::neuron_params::MODEL_COLUMN, Utf8, false),
        ];
        let names = value_columns(known);
        wanted.extend(names.iter().map(|name| (*name, Float64, false)));
        let mut rows: Option<NodeRows> = None;
        crate::parquet_tables::for_each_batch(path, &wanted, |c| {
            use crate::parquet_tables::{floats, ints, texts};
            let rows = rows
                .get_or_insert_with(|| NodeRows::new(known, |k| c.columns[6 + k].is_some(), c.columns[5].is_some()));
            let (ids, pops) = (ints(path, c, 0, "id")?, texts(path, c, 1, "population")?);
            let xyz = if c.columns[2..5].iter().all(Option::is_some) {
                Some([floats(path, c, 2, "x")?, floats(path, c, 3, "y")?, floats(path, c, 4, "z")?])
            } else {
                None
            };
            let models = c.columns[5].as_ref().map(|_| optional_texts(path, c, 5, "model")).transpose()?;
            let values: Vec<Option<Vec<Option<f64>>>> = names
                .iter()
                .enumerate()
                .map(|(k, name)| c.columns[6 + k].as_ref().map(|_| optional_floats(path, c, 6 + k, name)).transpose())
                .collect::<Result<_, _>>()?;
            let mut row_values = vec![None; values.len()];
            for (i, (id, name)) in ids.iter().zip(&pops).enumerate() {
                for (v, column) in row_values.iter_mut().zip(&values) {
                    *v = column.as_ref().map(|c| c[i]);
                }
                let position = xyz.as_ref().map(|[x, y, z]| [x[i], y[i], z[i]]);
                let model = models.as_ref().map(|m| m[i].as_deref().filter(|t| !t.is_empty()));
                let node = NodeRow { name, position, values: &row_values, model };
                rows.push(path, c.first_row + i, *id, &node)?;
            }
            Ok(())
        })?;
        rows.unwrap_or_else(|| NodeRows::new(known, |_| false, false)).finish(path)
    }

    fn read_csv(path: &Path, known: &[NeuronSpec]) -> Result<Self, NetError> {
        let names = value_columns(known);
        let mut optional = vec!["x", "y", "z", crate::neuron_params::MODEL_COLUMN];
        optional.extend(&names);
        let mut rows: Option<NodeRows> = None;
        let mut row_values = vec![None; names.len()];
        for_each_row(path, &["id", "population"], &optional, |row, fields, cols| {
            let rows = rows.get_or_insert_with(|| NodeRows::new(known, |k| cols[6 + k].is_some(), cols[5].is_some()));
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
            let model = cols[5].map(|c| field(Some(c))).transpose()?.map(|t| Some(t).filter(|t| !t.is_empty()));
            for ((v, &c), what) in row_values.iter_mut().zip(&cols[6..]).zip(&names) {
                // An empty cell is no value (the neuron keeps its model's).
                *v = match c {
                    None => None,
                    Some(c) if field(Some(c))?.is_empty() => Some(None),
                    Some(c) => Some(Some(number(Some(c), what)?)),
                };
            }
            rows.push(path, row, id, &NodeRow { name, position, values: &row_values, model })
        })?;
        rows.unwrap_or_else(|| NodeRows::new(known, |_| false, false)).finish(path)
    }
}

/// `batch` (a node table being written) with one more column of text, e.g. each neuron's `model`.
pub fn with_text_column(
    batch: &arrow_array::RecordBatch,
    name: &str,
    values: Vec<&str>,
) -> Result<arrow_array::RecordBatch, NetError> {
    let schema = batch.schema();
    let mut columns: Vec<(&str, arrow_array::ArrayRef)> =
        schema.fields().iter().map(|f| f.name().as_str()).zip(batch.columns().iter().cloned()).collect();
    columns.push((name, Arc::new(arrow_array::StringArray::from(values))));
    arrow_array::RecordBatch::try_from_iter(columns)
        .map_err(|e| NetError::Invalid(format!("building a node batch: {e}")))
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
    /// The names a `synapse` column may give (plastic class k + 1 is name k).
    synapse_types: Vec<String>,
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
        Self {
            path,
            neurons,
            resolution,
            counts: None,
            local: OnceLock::new(),
            in_degrees: OnceLock::new(),
            synapse_types: Vec::new(),
        }
    }

    /// The same table, whose optional `synapse` column may name these synapse types (plastic class
    /// `k + 1` for name `k`); empty cells and `static_synapse` are static.
    #[must_use]
    pub fn with_synapse_types(mut self, names: Vec<String>) -> Self {
        self.synapse_types = names;
        self
    }

    /// The synapse class of a row's `synapse` cell.
    fn synapse_of(&self, row: usize, cell: Option<&str>) -> Result<u16, NetError> {
        match cell.map(str::trim) {
            None | Some("" | "static_synapse") => Ok(cajal_core::synapse_table::STATIC),
            Some(name) => match self.synapse_types.iter().position(|t| t == name) {
                Some(k) => Ok(k as u16 + 1),
                None => Err(bad(
                    &self.path,
                    row,
                    format!(
                        "synapse `{name}` is not static_synapse or one of the model file's [synapse_types]: {}",
                        if self.synapse_types.is_empty() { "none".to_owned() } else { self.synapse_types.join(", ") }
                    ),
                )),
            },
        }
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
        weight: Option<f64>,
        n_syn: Option<f64>,
        delay: Option<f64>,
    ) -> Result<(f64, f64), NetError> {
        let path = &self.path;
        let weight = match (weight, n_syn, &self.counts) {
            (Some(w), _, _) => w,
            (None, Some(n), Some(c)) if !c.unit_weight.is_empty() => {
                if !(n.is_finite() && n >= 0.0) {
                    return Err(bad(path, row, format!("n_syn `{n}` must be a finite count >= 0")));
                }
                let pop = c.firsts.partition_point(|&f| i64::from(f) <= pre).saturating_sub(1);
                f64::from((n * c.unit_weight.get(pop).copied().unwrap_or(0.0)) as f32)
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
        weight: f64,
        delay_ms: f64,
    ) -> Result<(Gid, Gid, f64, u32), NetError> {
        let path = &self.path;
        let id = |v: i64, what: &str| -> Result<Gid, NetError> {
            if v < 0 || v >= i64::from(self.neurons) {
                let n = self.neurons;
                return Err(bad(path, row, format!("{what} {v} is out of range (the node table has {n} nodes)")));
            }
            Ok(v as Gid)
        };
        let (pre, post) = (id(pre, "pre")?, id(post, "post")?);
        if !(weight as f32).is_finite() {
            return Err(bad(path, row, format!("weight `{weight}` is not a finite number of f32 range")));
        }
        let delay = self.resolution.delay_steps(delay_ms).map_err(|e| bad(path, row, e))?;
        Ok((pre, post, weight, delay))
    }

    /// Streams the table and calls `emit(pre, post, weight, delay_steps, synapse class)` for every row,
    /// checking each.
    fn stream(&self, mut emit: impl FnMut(Gid, Gid, f64, u32, u16)) -> Result<(), NetError> {
        let path = &self.path;
        if is_parquet(path) {
            use arrow_schema::DataType::{Float32, Float64, Int64, Utf8};
            let wanted = [
                ("pre", Int64, true),
                ("post", Int64, true),
                ("weight", Float32, false),
                ("delay_ms", Float64, false),
                ("n_syn", Float64, false),
                ("synapse", Utf8, false),
            ];
            return crate::parquet_tables::for_each_batch(path, &wanted, |c| {
                use crate::parquet_tables::{floats, floats32, ints};
                let (pre, post) = (ints(path, c, 0, "pre")?, ints(path, c, 1, "post")?);
                let weight = if c.columns[2].is_some() { Some(floats32(path, c, 2, "weight")?) } else { None };
                let delay = if c.columns[3].is_some() { Some(floats(path, c, 3, "delay_ms")?) } else { None };
                let n_syn = if c.columns[4].is_some() { Some(floats(path, c, 4, "n_syn")?) } else { None };
                let synapse = if c.columns[5].is_some() { Some(optional_texts(path, c, 5, "synapse")?) } else { None };
                for i in 0..pre.len() {
                    let row = c.first_row + i;
                    let pick = |v: &Option<Vec<f64>>| v.as_ref().map(|v| v[i]);
                    let w = weight.as_ref().map(|v| f64::from(v[i]));
                    let (w, d) = self.weight_and_delay(row, pre[i], w, pick(&n_syn), pick(&delay))?;
                    let (a, b, w, d) = self.check(row, (pre[i], post[i]), w, d)?;
                    let cell = synapse.as_ref().and_then(|v| v[i].as_deref());
                    emit(a, b, w, d, self.synapse_of(row, cell)?);
                }
                Ok(())
            });
        }
        for_each_row(path, &["pre", "post"], &["weight", "delay_ms", "n_syn", "synapse"], |r, f, cols| {
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
            let weight = number(2, "weight")?;
            let (w, d) = self.weight_and_delay(r, pre, weight, number(4, "n_syn")?, number(3, "delay")?)?;
            let (a, b, w, d) = self.check(r, (pre, post), w, d)?;
            let synapse = if cols[5].is_some() { self.synapse_of(r, Some(get(5)?))? } else { 0 };
            emit(a, b, w, d, synapse);
            Ok(())
        })
    }

    /// Calls `f(pre, post)` for every row of the table (one streaming pass).
    pub fn for_each_edge(&self, f: &mut dyn FnMut(Gid, Gid)) -> Result<(), NetError> {
        self.stream(|pre, post, _, _, _| f(pre, post))
    }

    /// Loads the rows of `owned`'s targets (once; later calls with the same set are free).
    pub fn load(&self, owned: &NeuronSet) -> Result<(), NetError> {
        let loaded = self.local.get_or_init(|| {
            let mut rows: Vec<(u32, Connection)> = Vec::new();
            self.stream(|pre, post, weight, delay, synapse| {
                if let Some(i) = owned.index_of(post) {
                    rows.push((i, Connection { source: pre, delay, weight, synapse }));
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
            if self.stream(|_, post, _, _, _| counts.get_mut(post as usize).map_or((), bump)).is_err() {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use cajal_core::iaf_psc_delta::IafPscDeltaParams;
    use cajal_core::iaf_psc_exp::IafPscExpParams;

    #[test]
    fn model_cells_parameter_holes_and_rows_past_blank_lines_are_kept() {
        let dir = std::env::temp_dir().join(format!("cajal-node-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes.csv");
        let text = "id,population,model,V_min,tau_syn_ex,note\n0,A,,,1.5,x\n\n1,A,iaf_psc_delta,-80,NaN,y\n2,B,,,,z\n";
        std::fs::write(&path, text).unwrap();
        let known =
            [NeuronSpec::new(IafPscExpParams::potjans_diesmann()), NeuronSpec::new(IafPscDeltaParams::default())];
        let t = NodeTable::read(&path, &known).unwrap();
        assert_eq!(t.parameters.models, Some(vec![None, Some("iaf_psc_delta"), None]));
        let column = |name: &str| t.parameters.columns.iter().find(|c| c.0 == name).unwrap().1.clone();
        assert_eq!(column("V_min"), vec![None, Some(-80.0), None]);
        let tau = column("tau_syn_ex");
        assert!(tau[0] == Some(1.5) && tau[1].unwrap().is_nan() && tau[2].is_none(), "{tau:?}");
        assert_eq!((0..3).map(|g| t.row_of(g)).collect::<Vec<_>>(), vec![2, 4, 5], "the blank line 3 is skipped");
        assert!(t.describe_row(2).ends_with("nodes.csv: row 5"));
        std::fs::write(&path, text.replace("iaf_psc_delta", "iaf_psc_dleta")).unwrap();
        let e = NodeTable::read(&path, &known).unwrap_err().to_string();
        assert!(e.contains("row 4: model `iaf_psc_dleta`") && e.contains("known: iaf_psc_exp, iaf_psc_delta"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
