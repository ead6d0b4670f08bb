//! Stimulation devices in network files, with NEST's names and timing: `spike_generator` and
//! `poisson_generator` populations (`device = { model = ... }` instead of `neuron`), connected by ordinary
//! projections, and `[[current_generators]]` (`dc_generator`, `step_current_generator`) bound to neurons of
//! a population. Spike times come from a CSV or Parquet table `node_id,time_ms` (node ids 0-based within
//! the generator population).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use arrow_schema::DataType;
use cajal_core::current_stimulus::{CurrentGeneratorParams, CurrentWaveform};
use cajal_core::poisson_generator::PoissonGeneratorParams;
use cajal_core::spike_generator::{SpikeGeneratorParams, SpikeTrains, TrainSource};
use cajal_core::{CoreError, Gid, NeuronSpec};
use cajal_net::{CurrentGenerator, PopulationSpec};

use crate::{ModelDocument, ModelError};

const SPIKE_GENERATOR_KEYS: [&str; 4] = ["model", "spike_times", "start", "stop"];
const POISSON_GENERATOR_KEYS: [&str; 4] = ["model", "rate", "start", "stop"];
const CURRENT_KEYS: [&str; 9] =
    ["name", "model", "amplitude", "amplitude_times", "amplitude_values", "start", "stop", "delay_ms", "targets"];
const TARGET_KEYS: [&str; 3] = ["population", "ids", "column"];

/// Where a current generator's `targets = { column = "..." }` finds its neurons: the gids whose node-table
/// cell in that column is non-zero (connectome models), or why there is no such table.
pub type NodeColumn<'a> = &'a dyn Fn(&str) -> Result<Vec<Range<Gid>>, String>;

/// The device of population table `at` (its `device` key) with `size` nodes, and the files it reads.
pub fn read_device(
    doc: &ModelDocument,
    at: &str,
    size: u32,
) -> Result<(NeuronSpec, Vec<std::path::PathBuf>), ModelError> {
    let model_key = format!("{at}.model");
    let window = |doc: &ModelDocument| -> Result<(f64, f64), ModelError> {
        let start = optional(doc, &format!("{at}.start"))?.unwrap_or(0.0);
        let stop = optional(doc, &format!("{at}.stop"))?.unwrap_or(f64::INFINITY);
        Ok((start, stop))
    };
    match doc.string(&model_key)?.as_str() {
        "poisson_generator" => {
            doc.expect_keys(at, &POISSON_GENERATOR_KEYS)?;
            let (start, stop) = window(doc)?;
            let p = PoissonGeneratorParams { rate: doc.number(&format!("{at}.rate"))?, start, stop };
            p.validate().map_err(|e| named(doc, at, e))?;
            Ok((NeuronSpec::new(p), Vec::new()))
        }
        "spike_generator" => {
            doc.expect_keys(at, &SPIKE_GENERATOR_KEYS)?;
            let (start, stop) = window(doc)?;
            let file_key = format!("{at}.spike_times");
            let path = doc.resolve(&doc.string(&file_key)?);
            // The whole table is checked now (bad rows are bad input before anything runs); each rank
            // keeps only its own nodes' trains when it is built.
            read_spike_times(&path, size, &|_| false)
                .map_err(|reason| doc.invalid(&file_key, path.display(), &reason))?;
            let (table, file) = (path.clone(), doc.file().to_owned());
            let load = move |nodes: &[u32]| -> Result<SpikeTrains, CoreError> {
                let keep = |k: usize| nodes.binary_search(&(k as u32)).is_ok();
                let per_node = read_spike_times(&table, size, &keep).map_err(|reason| {
                    CoreError::invalid(&format!("{} (from {})", table.display(), file.display()), 0.0, &reason)
                })?;
                SpikeTrains::new(&per_node)
            };
            let p = SpikeGeneratorParams { trains: TrainSource::table(size, Arc::new(load)), start, stop };
            p.validate().map_err(|e| named(doc, at, e))?;
            Ok((NeuronSpec::new(p), vec![path]))
        }
        other => Err(doc.invalid(&model_key, other, "devices are spike_generator and poisson_generator")),
    }
}

/// The number at `key`, if given.
fn optional(doc: &ModelDocument, key: &str) -> Result<Option<f64>, ModelError> {
    doc.get(key).map(|_| doc.number(key)).transpose()
}

/// A parameter error as an error on the table's key.
fn named(doc: &ModelDocument, at: &str, e: CoreError) -> ModelError {
    match e {
        CoreError::InvalidParameter { name, value, reason } => doc.invalid(&format!("{at}.{name}"), value, &reason),
        other => doc.invalid(at, "", &other.to_string()),
    }
}

/// The spike times of the nodes `keep` selects from a `node_id,time_ms` table (CSV with that header, or
/// Parquet with those columns), in file order; every other node's list stays empty, but every row is
/// checked: a node id outside `0..size`, a time that is not finite and > 0, or a time before an earlier
/// one of its node is refused with its row.
pub fn read_spike_times(path: &Path, size: u32, keep: &dyn Fn(usize) -> bool) -> Result<Vec<Vec<f64>>, String> {
    let mut per_node = vec![Vec::new(); size as usize];
    let mut last = vec![f64::NEG_INFINITY; size as usize];
    let mut add = |row: usize, node: i64, t: f64| -> Result<(), String> {
        let k = usize::try_from(node)
            .ok()
            .filter(|&k| k < size as usize)
            .ok_or_else(|| format!("row {row}: node_id {node} is not a node of the generator (0..{size})"))?;
        if !(t.is_finite() && t > 0.0) {
            return Err(format!("row {row}: time_ms {t} must be finite and > 0"));
        }
        if t < last[k] {
            return Err(format!("row {row}: time_ms {t} of node {node} comes after {} ms: unsorted", last[k]));
        }
        last[k] = t;
        if keep(k) {
            per_node[k].push(t);
        }
        Ok(())
    };
    if path.extension().is_some_and(|e| e == "parquet") {
        let wanted = [("node_id", DataType::Int64, true), ("time_ms", DataType::Float64, true)];
        cajal_net::parquet_tables::for_each_batch(path, &wanted, |c| {
            let ids = cajal_net::parquet_tables::ints(path, c, 0, "node_id")?;
            let times = cajal_net::parquet_tables::floats(path, c, 1, "time_ms")?;
            for (k, (&id, &t)) in ids.iter().zip(&times).enumerate() {
                add(c.first_row + k, id, t).map_err(cajal_net::NetError::Invalid)?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        return Ok(per_node);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, header)) if header.split(',').map(str::trim).eq(["node_id", "time_ms"]) => {}
        other => return Err(format!("the header must be `node_id,time_ms`, not `{}`", other.map_or("", |l| l.1))),
    }
    for (n, line) in lines {
        let mut fields = line.split(',').map(str::trim);
        let (Some(id), Some(t), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("line {}: expected two fields, got `{line}`", n + 1));
        };
        let id: i64 = id.parse().map_err(|_| format!("line {}: node_id `{id}` is not an integer", n + 1))?;
        let t: f64 = t.parse().map_err(|_| format!("line {}: time_ms `{t}` is not a number", n + 1))?;
        add(n + 1, id, t)?;
    }
    Ok(per_node)
}

/// Population-local ids such as `0-9,100` (the syntax of recordings: [`crate::record_spec::parse_ids`])
/// as sorted, merged ranges, all within `0..size`.
pub fn parse_ids(text: &str, size: u32) -> Result<Vec<Range<u32>>, String> {
    let ranges = crate::record_spec::parse_ids(text)?;
    match ranges.last() {
        None => Err(format!("`{text}` names no ids")),
        Some(r) if r.end > size => Err(format!("`{text}` is not within the population's ids 0..{size}")),
        Some(_) => Ok(ranges),
    }
}

/// The `[[current_generators]]` of a model file, bound to `populations` (gids already assigned) or to the
/// neurons a node-table column marks (`column`).
pub fn read_current_generators(
    doc: &ModelDocument,
    populations: &[PopulationSpec],
    column: NodeColumn<'_>,
) -> Result<Vec<CurrentGenerator>, ModelError> {
    let n = match doc.get("current_generators") {
        None => return Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items.len(),
        Some(other) => {
            return Err(doc.invalid("current_generators", other, "must be an array of tables ([[current_generators]])"))
        }
    };
    (0..n).map(|g| read_current_generator(doc, g, populations, column)).collect()
}

fn read_current_generator(
    doc: &ModelDocument,
    g: usize,
    populations: &[PopulationSpec],
    column: NodeColumn<'_>,
) -> Result<CurrentGenerator, ModelError> {
    let at = format!("current_generators.{g}");
    doc.expect_keys(&at, &CURRENT_KEYS)?;
    let model_key = format!("{at}.model");
    let waveform = match doc.string(&model_key)?.as_str() {
        "dc_generator" => CurrentWaveform::Dc { amplitude: doc.number(&format!("{at}.amplitude"))? },
        "step_current_generator" => {
            let times_key = format!("{at}.amplitude_times");
            let len = match doc.get(&times_key) {
                Some(toml::Value::Array(a)) => a.len(),
                other => {
                    return Err(doc.invalid(
                        &times_key,
                        other.map_or("(missing)".into(), ToString::to_string),
                        "must be an array of times (ms)",
                    ))
                }
            };
            CurrentWaveform::Steps {
                amplitude_times: doc.numbers(&times_key, len)?,
                amplitude_values: doc.numbers(&format!("{at}.amplitude_values"), len)?,
            }
        }
        other => {
            return Err(doc.invalid(
                &model_key,
                other,
                "current generators are dc_generator and step_current_generator",
            ))
        }
    };
    let params = CurrentGeneratorParams {
        waveform,
        start: optional(doc, &format!("{at}.start"))?.unwrap_or(0.0),
        stop: optional(doc, &format!("{at}.stop"))?.unwrap_or(f64::INFINITY),
        // NEST's default delay of a connection.
        delay: optional(doc, &format!("{at}.delay_ms"))?.unwrap_or(1.0),
    };
    let name = match doc.get(&format!("{at}.name")) {
        Some(_) => doc.string(&format!("{at}.name"))?,
        None => format!("{g}"),
    };
    let targets = format!("{at}.targets");
    doc.expect_keys(&targets, &TARGET_KEYS)?;
    let column_key = format!("{targets}.column");
    let targets = if doc.get(&column_key).is_some() {
        if doc.get(&format!("{targets}.population")).is_some() {
            return Err(doc.invalid(&targets, "population and column", "name either a population or a column"));
        }
        let name = doc.string(&column_key)?;
        match column(&name) {
            Ok(gids) if !gids.is_empty() => gids,
            Ok(_) => return Err(doc.invalid(&column_key, &name, "marks no neuron (no non-zero cell)")),
            Err(reason) => return Err(doc.invalid(&column_key, &name, &reason)),
        }
    } else {
        population_targets(doc, &targets, populations)?
    };
    Ok(CurrentGenerator { name, params, targets })
}

/// `targets = { population = "...", ids = "..." }` as gid ranges.
fn population_targets(
    doc: &ModelDocument,
    targets: &str,
    populations: &[PopulationSpec],
) -> Result<Vec<Range<Gid>>, ModelError> {
    let pop_key = format!("{targets}.population");
    let pop_name = doc.string(&pop_key)?;
    let pop = populations
        .iter()
        .find(|p| p.name == pop_name)
        .ok_or_else(|| doc.invalid(&pop_key, &pop_name, "no population of that name"))?;
    let ids_key = format!("{targets}.ids");
    let local = match doc.get(&ids_key) {
        None => std::iter::once(0..pop.size).collect(),
        Some(_) => {
            let text = doc.string(&ids_key)?;
            parse_ids(&text, pop.size).map_err(|reason| doc.invalid(&ids_key, &text, &reason))?
        }
    };
    Ok(local.into_iter().map(|r| pop.first_gid + r.start..pop.first_gid + r.end).collect())
}

/// The gids (node-table `id`s) whose cell in `column` of the node table `path` (CSV or Parquet) is a
/// non-zero number or `true`, as sorted ranges.
pub fn nodes_marked(path: &Path, column: &str) -> Result<Vec<Range<Gid>>, String> {
    let mut marked: Vec<Gid> = Vec::new();
    let mut mark = |row: usize, id: i64, on: bool| -> Result<(), String> {
        let gid = Gid::try_from(id).map_err(|_| format!("row {row}: id {id} is not a node id"))?;
        if on {
            marked.push(gid);
        }
        Ok(())
    };
    if path.extension().is_some_and(|e| e == "parquet") {
        let wanted = [("id", DataType::Int64, true), (column, DataType::Float64, true)];
        cajal_net::parquet_tables::for_each_batch(path, &wanted, |c| {
            let ids = cajal_net::parquet_tables::ints(path, c, 0, "id")?;
            let cells = cajal_net::parquet_tables::floats(path, c, 1, column)?;
            for (k, (&id, &v)) in ids.iter().zip(&cells).enumerate() {
                mark(c.first_row + k, id, v != 0.0 && !v.is_nan()).map_err(cajal_net::NetError::Invalid)?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let header: Vec<&str> = lines.next().map(|(_, h)| h.split(',').map(str::trim).collect()).unwrap_or_default();
        let at = |name: &str| header.iter().position(|h| *h == name);
        let (Some(id_at), Some(col_at)) = (at("id"), at(column)) else {
            return Err(format!("{} has no column `{column}` (or no `id`)", path.display()));
        };
        for (n, line) in lines {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let field = |k: usize| fields.get(k).copied().unwrap_or("");
            let id: i64 =
                field(id_at).parse().map_err(|_| format!("line {}: id `{}` is not a number", n + 1, field(id_at)))?;
            let cell = field(col_at);
            let on = match cell {
                "" | "false" => false,
                "true" => true,
                x => {
                    x.parse::<f64>().map_err(|_| format!("line {}: `{column}` = `{x}` is not a number", n + 1))? != 0.0
                }
            };
            mark(n + 1, id, on)?;
        }
    }
    marked.sort_unstable();
    let mut ranges: Vec<Range<Gid>> = Vec::new();
    for g in marked {
        match ranges.last_mut() {
            Some(r) if r.end == g => r.end = g + 1,
            Some(r) if r.end > g => {}
            _ => ranges.push(g..g + 1),
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spike_tables_in_parquet_read_like_csv_and_bad_rows_are_named() {
        use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
        let dir = std::env::temp_dir().join(format!("cajal-spike-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, ids: Vec<i64>, times: Vec<f64>| {
            let batch = RecordBatch::try_from_iter([
                ("node_id", Arc::new(Int64Array::from(ids)) as ArrayRef),
                ("time_ms", Arc::new(Float64Array::from(times)) as ArrayRef),
            ])
            .unwrap();
            let path = dir.join(name);
            cajal_net::parquet_tables::TableWriter::create(&path, &batch).unwrap().finish().unwrap();
            path
        };
        let good = write("good.parquet", vec![1, 0, 1], vec![0.5, 2.0, 0.7]);
        assert_eq!(read_spike_times(&good, 2, &|_| true).unwrap(), vec![vec![2.0], vec![0.5, 0.7]]);
        assert_eq!(
            read_spike_times(&good, 2, &|k| k == 1).unwrap(),
            vec![vec![], vec![0.5, 0.7]],
            "only the nodes kept"
        );
        let bad = write("bad.parquet", vec![0, 0], vec![1.0, f64::NAN]);
        let e = read_spike_times(&bad, 2, &|_| false).unwrap_err();
        assert!(e.contains("row 2") && e.contains("NaN"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids_parse_merge_and_refuse_what_is_outside() {
        assert_eq!(parse_ids("5,0-3,2-4", 10).unwrap(), vec![0..6]);
        assert_eq!(parse_ids("0-1, 8", 10).unwrap(), vec![0..2, 8..9]);
        assert!(parse_ids("3-1", 10).is_err());
        assert!(parse_ids("10", 10).unwrap_err().contains("0..10"));
    }

    #[test]
    fn spike_tables_are_read_per_node_and_bad_rows_are_named() {
        let dir = std::env::temp_dir().join(format!("cajal-spike-times-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "node_id,time_ms\n1,0.5\n0,2.0\n1,0.7\n").unwrap();
        assert_eq!(read_spike_times(&good, 2, &|_| true).unwrap(), vec![vec![2.0], vec![0.5, 0.7]]);
        assert_eq!(
            read_spike_times(&good, 2, &|k| k == 1).unwrap(),
            vec![vec![], vec![0.5, 0.7]],
            "only the nodes kept"
        );
        for (text, needle) in [
            ("node_id,time_ms\n0,1.0\n0,0.5\n", "row 3"),
            ("node_id,time_ms\n0,0\n", "> 0"),
            ("node_id,time_ms\n2,1.0\n", "node_id 2"),
            ("id,t\n0,1.0\n", "header"),
        ] {
            let bad = dir.join("bad.csv");
            std::fs::write(&bad, text).unwrap();
            let e = read_spike_times(&bad, 2, &|_| false).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
