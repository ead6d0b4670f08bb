//! What a spiking run records besides its spikes, as a model file or the command line says it: `[[record]]`
//! tables (NEST's multimeter: a population, some of its neurons, recordables, an interval) and the format
//! of the spike files (`[spikes] format`). The model kinds' builders never see these tables:
//! [`split_recording`] takes them out of a document before it is built, and [`Recording::put_back`] writes
//! them into one again (the text a checkpoint stores, so a resume records the same).
//!
//! ```toml
//! [[record]]
//! population = "L4E"
//! ids = "0-9,100"            # population-local, 0-based; or [0, 1, 2]; omitted: the whole population
//! variables = ["V_m", "I_syn_ex"]
//! interval_ms = 0.1          # default 1.0, as NEST's multimeter
//! label = "l4e"              # file name stem; default: the population's name
//! format = "parquet"         # or "npy"
//!
//! [spikes]
//! format = "parquet"         # or "csv" (the default)
//! ```
//!
//! The flag form is `--record-state 'POP[IDS]:VAR+VAR[@INTERVAL_MS]'`, e.g. `L4E[0-9,100]:V_m+I_syn_ex@0.1`.

use std::ops::Range;

use toml::{Table, Value};

use crate::{ModelDocument, ModelError};

/// The keys a `[[record]]` table may have.
pub const RECORD_KEYS: [&str; 6] = ["population", "ids", "variables", "interval_ms", "label", "format"];

/// NEST's multimeter interval when none is given (ms).
pub const DEFAULT_INTERVAL_MS: f64 = 1.0;

/// How recorded state is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateFormat {
    /// Parquet per rank: `node_id` (u32), `time_ms` (f64), one f64 column per variable.
    #[default]
    Parquet,
    /// NPY per rank: float64 (rows, 2 + variables): node_id, time_ms, the variables; with an index file.
    Npy,
}

impl StateFormat {
    /// The name in model files and flags.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Npy => "npy",
        }
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "parquet" => Ok(Self::Parquet),
            "npy" => Ok(Self::Npy),
            _ => Err("must be parquet or npy".into()),
        }
    }
}

/// How spikes are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpikeFormat {
    /// `spikes/<pop>[-rank<r>][-s<k>].csv` with `sender,time_ms`.
    #[default]
    Csv,
    /// `spikes/<pop>-rank<r>-<from>-<to>.parquet` with `sender` (u32), `time_ms` (f64).
    Parquet,
}

impl SpikeFormat {
    /// The name in model files and flags.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "csv" => Ok(Self::Csv),
            "parquet" => Ok(Self::Parquet),
            _ => Err("must be csv or parquet".into()),
        }
    }
}

/// One multimeter: what to record of which neurons of a population, how often.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordSpec {
    pub population: String,
    /// Population-local indices as ascending, disjoint, half-open ranges; `None`: the whole population.
    pub ids: Option<Vec<Range<u32>>>,
    /// Recordables in NEST's names (e.g. `V_m`), each once.
    pub variables: Vec<String>,
    pub interval_ms: f64,
    /// The stem of the files (default: the population's name, made unique by [`Recording::labels`]).
    pub label: Option<String>,
    pub format: StateFormat,
}

/// Everything a run records besides spike counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recording {
    pub records: Vec<RecordSpec>,
    pub spike_format: SpikeFormat,
    /// Weight snapshots of plastic projections.
    pub weights: Vec<crate::weight_record::WeightRecordSpec>,
}

/// Parses population-local ids: `0-9,100` (ranges inclusive, as NEST users write slices of node
/// collections out), into ascending, disjoint half-open ranges (overlaps merge: a neuron is recorded once).
pub fn parse_ids(text: &str) -> Result<Vec<Range<u32>>, String> {
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let number = |s: &str| {
            s.trim().parse::<u32>().map_err(|_| format!("`{s}` is not a neuron index (0-based, non-negative)"))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None if part.is_empty() => return Err("an empty entry in the id list".into()),
            None => (number(part)?, number(part)?),
        };
        if hi < lo {
            return Err(format!("range `{part}` ends before it starts"));
        }
        ranges.push(lo..hi.checked_add(1).ok_or_else(|| format!("`{part}` is too large"))?);
    }
    Ok(normalise(ranges))
}

/// Sorts and merges ranges.
fn normalise(mut ranges: Vec<Range<u32>>) -> Vec<Range<u32>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Range<u32>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The id list as the flag and model files write it (`0-9,100`).
#[must_use]
pub fn ids_text(ranges: &[Range<u32>]) -> String {
    let items: Vec<String> = ranges
        .iter()
        .map(|r| if r.end == r.start + 1 { r.start.to_string() } else { format!("{}-{}", r.start, r.end - 1) })
        .collect();
    items.join(",")
}

/// Parses `--record-state 'POP[IDS]:VAR+VAR[@INTERVAL_MS]'` (format: parquet; `--state-format` changes it).
pub fn parse_record_flag(text: &str) -> Result<RecordSpec, String> {
    let (body, interval_ms) = match text.rsplit_once('@') {
        Some((body, every)) => {
            let v: f64 = every.trim().parse().map_err(|_| format!("interval `{every}` is not a number (ms)"))?;
            (body, v)
        }
        None => (text, DEFAULT_INTERVAL_MS),
    };
    let Some((target, vars)) = body.split_once(':') else {
        return Err("expected POP[IDS]:VAR+VAR[@INTERVAL_MS], e.g. L4E[0-9,100]:V_m+I_syn_ex@0.1".into());
    };
    let target = target.trim();
    let (population, ids) = match target.strip_suffix(']') {
        Some(t) => {
            let (pop, ids) = t.split_once('[').ok_or("a `]` without `[`")?;
            (pop.trim(), Some(parse_ids(ids)?))
        }
        None if target.contains('[') => return Err("a `[` without `]`".into()),
        None => (target, None),
    };
    if population.is_empty() {
        return Err("no population named before `:`".into());
    }
    let variables: Vec<String> = vars.split('+').map(|v| v.trim().to_owned()).collect();
    let spec = RecordSpec {
        population: population.to_owned(),
        ids,
        variables,
        interval_ms,
        label: None,
        format: StateFormat::Parquet,
    };
    check_spec(&spec)?;
    Ok(spec)
}

/// What every spec must satisfy whatever the model: variables named, each once; a positive, finite interval.
fn check_spec(spec: &RecordSpec) -> Result<(), String> {
    if spec.variables.is_empty() || spec.variables.iter().any(String::is_empty) {
        return Err("an empty variable name (variables are separated by `+`)".into());
    }
    if let Some(dup) = spec.variables.iter().enumerate().find(|(i, v)| spec.variables[..*i].contains(v)) {
        return Err(format!("variable {} is named twice", dup.1));
    }
    if !(spec.interval_ms.is_finite() && spec.interval_ms > 0.0) {
        return Err(format!("interval {} ms must be > 0", spec.interval_ms));
    }
    if spec.ids.as_ref().is_some_and(Vec::is_empty) {
        return Err("an empty id list".into());
    }
    if let Some(label) = &spec.label {
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(format!("label `{label}` must be letters, digits, `_`, `.` or `-`"));
        }
    }
    Ok(())
}

/// Takes the recording tables (`record`, `spikes`) out of `doc`: the document the model's builder reads,
/// and what they say. Errors name the file, the key and the value.
pub fn split_recording(doc: &ModelDocument) -> Result<(ModelDocument, Recording), ModelError> {
    let mut recording = Recording::default();
    let has_records = doc.get("record").is_some();
    let has_spikes = doc.get("spikes").is_some();
    recording.weights = crate::weight_record::read_weight_records(doc)?;
    if !has_records && !has_spikes && recording.weights.is_empty() {
        return Ok((doc.clone(), recording));
    }
    if has_records {
        let Some(Value::Array(items)) = doc.get("record") else {
            return Err(doc.invalid("record", "(not an array)", "must be an array of tables ([[record]])"));
        };
        for i in 0..items.len() {
            recording.records.push(read_record(doc, i)?);
        }
    }
    if has_spikes {
        doc.expect_keys("spikes", &["format"])?;
        if doc.get("spikes.format").is_some() {
            let name = doc.string("spikes.format")?;
            recording.spike_format =
                SpikeFormat::from_name(&name).map_err(|r| doc.invalid("spikes.format", &name, &r))?;
        }
    }
    let mut root = root_table(doc)?;
    root.remove("record");
    root.remove("spikes");
    root.remove("record_weights");
    Ok((reparse(doc, &root)?, recording))
}

/// `[[record]]` table `i` of `doc`.
fn read_record(doc: &ModelDocument, i: usize) -> Result<RecordSpec, ModelError> {
    let key = format!("record.{i}");
    let at = |k: &str| format!("{key}.{k}");
    doc.expect_keys(&key, &RECORD_KEYS)?;
    let population = doc.string(&at("population"))?;
    let ids = match doc.get(&at("ids")) {
        None => None,
        Some(Value::String(s)) => Some(parse_ids(s).map_err(|r| doc.invalid(&at("ids"), s, &r))?),
        Some(Value::Array(items)) => {
            let mut ranges = Vec::with_capacity(items.len());
            for (j, v) in items.iter().enumerate() {
                let id = match v {
                    Value::Integer(n) => u32::try_from(*n).ok(),
                    _ => None,
                };
                let id =
                    id.ok_or_else(|| doc.invalid(&format!("{}.{j}", at("ids")), v, "must be a neuron index >= 0"))?;
                ranges.push(id..id + 1);
            }
            Some(normalise(ranges))
        }
        Some(other) => return Err(doc.invalid(&at("ids"), other, "must be a string like \"0-9,100\" or an array")),
    };
    let variables = doc.strings(&at("variables"))?;
    let interval_ms = match doc.get(&at("interval_ms")) {
        None => DEFAULT_INTERVAL_MS,
        Some(_) => doc.number(&at("interval_ms"))?,
    };
    let label = match doc.get(&at("label")) {
        None => None,
        Some(_) => Some(doc.string(&at("label"))?),
    };
    let format = match doc.get(&at("format")) {
        None => StateFormat::Parquet,
        Some(_) => {
            let name = doc.string(&at("format"))?;
            StateFormat::from_name(&name).map_err(|r| doc.invalid(&at("format"), &name, &r))?
        }
    };
    let spec = RecordSpec { population, ids, variables, interval_ms, label, format };
    check_spec(&spec).map_err(|r| doc.invalid(&key, describe_spec(&spec), &r))?;
    Ok(spec)
}

/// A spec in the flag's form, for messages.
#[must_use]
pub fn describe_spec(spec: &RecordSpec) -> String {
    let ids = spec.ids.as_ref().map(|r| format!("[{}]", ids_text(r))).unwrap_or_default();
    format!("{}{ids}:{}@{}", spec.population, spec.variables.join("+"), spec.interval_ms)
}

fn root_table(doc: &ModelDocument) -> Result<Table, ModelError> {
    doc.to_toml()?
        .parse::<Table>()
        .map_err(|e| ModelError::Syntax { file: doc.file().to_owned(), message: e.to_string() })
}

fn reparse(doc: &ModelDocument, root: &Table) -> Result<ModelDocument, ModelError> {
    let text = toml::to_string(root)
        .map_err(|e| ModelError::Syntax { file: doc.file().to_owned(), message: e.to_string() })?;
    ModelDocument::parse(doc.file(), &text)
}

impl RecordSpec {
    /// The spec as a `[[record]]` table.
    fn to_table(&self) -> Table {
        let mut t = Table::new();
        t.insert("population".into(), Value::String(self.population.clone()));
        if let Some(ids) = &self.ids {
            t.insert("ids".into(), Value::String(ids_text(ids)));
        }
        t.insert("variables".into(), Value::Array(self.variables.iter().cloned().map(Value::String).collect()));
        t.insert("interval_ms".into(), Value::Float(self.interval_ms));
        if let Some(label) = &self.label {
            t.insert("label".into(), Value::String(label.clone()));
        }
        t.insert("format".into(), Value::String(self.format.name().into()));
        t
    }
}

impl Recording {
    /// Whether anything besides spike counts and CSV spike files is asked for.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.records.is_empty() && self.spike_format == SpikeFormat::Csv && self.weights.is_empty()
    }

    /// `doc` (without recording tables) with this recording written into it as `[[record]]` tables and a
    /// `[spikes]` table: the text a checkpoint stores.
    pub fn put_back(&self, doc: &ModelDocument) -> Result<ModelDocument, ModelError> {
        if self.is_default() {
            return Ok(doc.clone());
        }
        let mut root = root_table(doc)?;
        if !self.records.is_empty() {
            root.insert(
                "record".into(),
                Value::Array(self.records.iter().map(|r| Value::Table(r.to_table())).collect()),
            );
        }
        if !self.weights.is_empty() {
            root.insert(
                "record_weights".into(),
                Value::Array(self.weights.iter().map(|w| Value::Table(w.to_table())).collect()),
            );
        }
        if self.spike_format != SpikeFormat::Csv {
            let mut t = Table::new();
            t.insert("format".into(), Value::String(self.spike_format.name().into()));
            root.insert("spikes".into(), Value::Table(t));
        }
        reparse(doc, &root)
    }

    /// The file stem of each record: its label, else its population's name; a stem used before gets
    /// `-2`, `-3`, ... Refuses two equal labels given on purpose.
    pub fn labels(&self) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::with_capacity(self.records.len());
        for r in &self.records {
            match &r.label {
                Some(l) if out.contains(l) => return Err(format!("label `{l}` is used by two records")),
                Some(l) => out.push(l.clone()),
                None => {
                    let mut stem = r.population.clone();
                    let mut k = 1;
                    while out.contains(&stem) {
                        k += 1;
                        stem = format!("{}-{k}", r.population);
                    }
                    out.push(stem);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn ids_parse_into_merged_ranges_and_print_back() {
        assert_eq!(parse_ids("0-9,100").unwrap(), vec![0..10, 100..101]);
        assert_eq!(parse_ids(" 5 , 3-6, 0").unwrap(), vec![0..1, 3..7]);
        assert_eq!(ids_text(&parse_ids("0-9,100,101").unwrap()), "0-9,100-101");
        for bad in ["", "1,,2", "a", "-1", "9-3", "1-"] {
            assert!(parse_ids(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_flag_names_population_ids_variables_and_interval() {
        let s = parse_record_flag("L4E[0-9,100]:V_m+I_syn_ex@0.1").unwrap();
        assert_eq!(s.population, "L4E");
        assert_eq!(s.ids, Some(vec![0..10, 100..101]));
        assert_eq!(s.variables, vec!["V_m", "I_syn_ex"]);
        assert_eq!(s.interval_ms, 0.1);
        let all = parse_record_flag("E:V_m").unwrap();
        assert_eq!((all.ids, all.interval_ms), (None, 1.0));
        for bad in ["E", "E:", "[0]:V_m", "E[0:V_m", "E:V_m+V_m", "E:V_m@0", "E:V_m@x", "E[]:V_m", "E:V_m+"] {
            assert!(parse_record_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn record_tables_come_out_of_the_document_and_go_back_in() {
        let text = r#"
model = "network"
[simulation]
dt_ms = 0.1
[[record]]
population = "E"
ids = [3, 1, 2]
variables = ["V_m"]
[[record]]
population = "E"
variables = ["V_m", "I_syn_ex"]
interval_ms = 0.5
format = "npy"
[spikes]
format = "parquet"
"#;
        let doc = ModelDocument::parse(Path::new("m.toml"), text).unwrap();
        let (bare, rec) = split_recording(&doc).unwrap();
        assert!(bare.get("record").is_none() && bare.get("spikes").is_none());
        assert_eq!(bare.get("simulation.dt_ms").and_then(Value::as_float), Some(0.1));
        assert_eq!(rec.records.len(), 2);
        let want: Vec<std::ops::Range<u32>> = std::iter::once(1..4).collect();
        assert_eq!(rec.records[0].ids.as_deref(), Some(&want[..]));
        assert_eq!(rec.records[1].format, StateFormat::Npy);
        assert_eq!(rec.spike_format, SpikeFormat::Parquet);
        assert_eq!(rec.labels().unwrap(), vec!["E", "E-2"]);
        let again = rec.put_back(&bare).unwrap();
        let (_, rec2) = split_recording(&again).unwrap();
        assert_eq!(rec2, rec);
    }

    #[test]
    fn bad_record_tables_name_the_key() {
        let bad = |extra: &str| {
            let text = format!("model = \"network\"\n[[record]]\npopulation = \"E\"\nvariables = [\"V_m\"]\n{extra}");
            let doc = ModelDocument::parse(Path::new("m.toml"), &text).unwrap();
            split_recording(&doc).unwrap_err().to_string()
        };
        assert!(bad("interval = 1.0").contains("record.0.interval"));
        assert!(bad("ids = \"5-2\"").contains("record.0.ids"));
        assert!(bad("ids = [-1]").contains("record.0.ids.0"));
        assert!(bad("format = \"hdf5\"").contains("record.0.format"));
        assert!(bad("interval_ms = -1.0").contains("record.0"));
    }
}
