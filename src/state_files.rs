//! Recorded neuron state (and spikes as Parquet) in files, one rank each, in parts that end at
//! checkpoints, so a resume never writes a row twice or loses one.
//!
//! Layout (`<out>/state/`, spikes in `<out>/spikes/`):
//!
//! ```text
//! <label>-rank<r>-<from>-<to>.parquet   node_id (u32), time_ms (f64), one f64 column per variable
//! <label>-rank<r>-<from>-<to>.npy       float64 (rows, 2 + variables): node_id, time_ms, the variables
//! <label>_index.csv                     (NPY only) the name of each NPY column
//! spikes/<pop>-rank<r>-<from>-<to>.parquet   sender (u32), time_ms (f64)  (--spike-format parquet)
//! ```
//!
//! A part holds the rows of steps `from..to` that this rank sampled; while it is written it is called
//! `<label>-rank<r>-<from>.<ext>.partial` and renamed when it ends (at a checkpoint, a stop or the end of
//! the run). A part without rows is not created. A resume from the checkpoint at step C removes every
//! `.partial` file and every part with `to > C` (written after the checkpoint, by a segment that did not
//! reach its next one), keeps the others, and writes new parts from C on, with any number of ranks; a
//! fresh run removes every part in these folders first. The rows of all parts of a recording,
//! concatenated and sorted by (node_id, time_ms), are the same for any layout and any stop and resume.
//! Within a part, rows are in (time, node_id) order. Every write is buffered (at most [`BATCH_ROWS`] rows
//! per recording before they go to the file), so memory never holds the trace.

use std::io::{Seek, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use cajal_core::{unpack_spike, Gid, PackedSpike, Resolution, Step};
use cajal_models::record_spec::{describe_spec, RecordSpec, StateFormat};
use cajal_net::PopulationSpec;
use cajal_sim::{SimError, StateRecording, StateSamples};

use crate::error::AppError;

/// Rows buffered per file before they are written (one Parquet batch; a row group holds up to
/// [`ROW_GROUP_ROWS`]).
pub const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group (the writer's buffer).
const ROW_GROUP_ROWS: usize = 65_536;
/// Bytes of an NPY header here (fixed, so the shape can be written when the part ends).
const NPY_HEADER: usize = 128;

/// The folder of state files in `out`.
#[must_use]
pub fn state_dir(out: &Path) -> PathBuf {
    out.join("state")
}

/// Model time of the stamp of step `s`, (s + 1) x dt, as the decimal it is: whole tics (1,000 per ms)
/// divided by 1,000, so 3 x 0.1 ms is 0.3, not 0.30000000000000004.
#[must_use]
pub fn stamp_ms(res: &Resolution, s: Step) -> f64 {
    let tics_per_step = (res.dt_ms() * 1000.0).round();
    (s + 1) as f64 * tics_per_step / 1000.0
}

/// One recording resolved against the model: what the engine samples and what the files are called.
#[derive(Clone, Debug)]
pub struct ResolvedRecord {
    pub engine: StateRecording,
    pub label: String,
    pub format: StateFormat,
    /// Neurons recorded.
    pub neurons: u64,
}

/// Resolves `specs` against the model's populations: the population must exist, the ids lie in it, every
/// variable be a recordable of its model (else the message lists them), the interval a whole number of
/// steps. `origins` names each spec for messages (file and key, or the flag and its value).
pub fn resolve_records(
    specs: &[RecordSpec],
    labels: &[String],
    origins: &[String],
    populations: &[PopulationSpec],
    res: &Resolution,
) -> Result<Vec<ResolvedRecord>, AppError> {
    let mut out = Vec::with_capacity(specs.len());
    for (k, spec) in specs.iter().enumerate() {
        let origin = origins.get(k).cloned().unwrap_or_else(|| format!("record {k} ({})", describe_spec(spec)));
        let fail = |reason: String| AppError::bad(format!("{origin}: {reason}"));
        let Some(p) = populations.iter().find(|p| p.name == spec.population) else {
            let names: Vec<&str> = populations.iter().map(|p| p.name.as_str()).collect();
            return Err(fail(format!(
                "no population {}; the model's populations are: {}",
                spec.population,
                names.join(", ")
            )));
        };
        let model = p.neuron.params().model();
        let have = model.recordables();
        if let Some(v) = spec.variables.iter().find(|v| !have.contains(&v.as_str())) {
            let list = if have.is_empty() { "none".to_owned() } else { have.join(", ") };
            return Err(fail(format!(
                "population {} ({}) has no recordable {v}; its recordables are: {list}",
                p.name,
                model.name()
            )));
        }
        let local: Vec<Range<u32>> = spec.ids.clone().unwrap_or_else(|| std::iter::once(0..p.size).collect());
        if let Some(last) = local.last().filter(|r| r.end > p.size) {
            return Err(fail(format!(
                "neuron {} is not in population {} of {} neurons (ids are 0-based)",
                last.end - 1,
                p.name,
                p.size
            )));
        }
        let interval = res.duration_steps("interval_ms", spec.interval_ms).map_err(|e| fail(e.to_string()))?;
        if interval == 0 {
            return Err(fail(format!("interval {} ms is shorter than a step", spec.interval_ms)));
        }
        let gids = local.iter().map(|r| p.first_gid + r.start..p.first_gid + r.end).collect();
        out.push(ResolvedRecord {
            engine: StateRecording { gids, variables: spec.variables.clone(), interval },
            label: labels[k].clone(),
            format: spec.format,
            neurons: local.iter().map(|r| u64::from(r.end - r.start)).sum(),
        });
    }
    Ok(out)
}

/// Bytes the recordings write over steps `from..end` (all ranks together): rows x (id, time, variables).
#[must_use]
pub fn estimated_bytes(records: &[ResolvedRecord], from: Step, end: Step) -> u128 {
    records
        .iter()
        .map(|r| {
            let iv = r.engine.interval;
            // Stamps s + 1 in from + 1..=end that are multiples of the interval.
            let samples = u128::from((end / iv).saturating_sub(from / iv));
            let row = match r.format {
                StateFormat::Parquet => 4 + 8 + 8 * r.engine.variables.len(),
                StateFormat::Npy => 8 * (2 + r.engine.variables.len()),
            };
            u128::from(r.neurons) * samples * row as u128
        })
        .sum()
}

/// Bytes free for an unprivileged writer on the volume that holds `dir` (None: unknown).
#[must_use]
#[allow(clippy::useless_conversion)] // the statvfs fields are u32 on some targets
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a properly sized, writable statvfs.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    (rc == 0).then(|| u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

/// Refuses recordings that would not fit in the free space of the volume holding `out`.
pub fn check_space(records: &[ResolvedRecord], from: Step, end: Step, out: &Path) -> Result<(), AppError> {
    let needed = estimated_bytes(records, from, end);
    if needed == 0 {
        return Ok(());
    }
    let probe = if out.exists() { out } else { out.parent().unwrap_or(Path::new(".")) };
    let Some(free) = free_bytes(probe) else { return Ok(()) };
    if needed > u128::from(free) {
        let gib = |b: u128| b as f64 / f64::from(1u32 << 30);
        return Err(AppError::bad(format!(
            "the state recordings would write about {:.3} GiB but the volume of {} has {:.3} GiB free: record \
             fewer neurons or variables, a longer interval_ms, or write to another --out",
            gib(needed),
            out.display(),
            gib(u128::from(free))
        )));
    }
    Ok(())
}

/// Where a part file's name says it stands.
#[derive(Debug, PartialEq, Eq)]
enum PartName {
    /// Being written (or left by a failed segment).
    Partial,
    /// Finished, holding the rows of steps `from..to`.
    Done { to: Step },
    /// Not one of ours.
    Other,
}

/// Parses `<stem>-<from>-<to>.(parquet|npy)` and `<stem>-<from>.(parquet|npy).partial`.
fn part_name(name: &str) -> PartName {
    if name.ends_with(".parquet.partial") || name.ends_with(".npy.partial") {
        return PartName::Partial;
    }
    let Some(base) = name.strip_suffix(".parquet").or_else(|| name.strip_suffix(".npy")) else {
        return PartName::Other;
    };
    let mut pieces = base.rsplitn(3, '-');
    let (Some(to), Some(from), Some(stem)) = (pieces.next(), pieces.next(), pieces.next()) else {
        return PartName::Other;
    };
    match (from.parse::<Step>(), to.parse::<Step>()) {
        (Ok(_), Ok(to)) if stem.contains("-rank") => PartName::Done { to },
        _ => PartName::Other,
    }
}

/// Removes the part files in `dir` that `remove` selects (rank 0, before any rank writes).
fn remove_parts(dir: &Path, remove: impl Fn(&PartName) -> bool) -> Result<(), AppError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let kind = part_name(&name);
        if kind != PartName::Other && remove(&kind) {
            std::fs::remove_file(e.path())
                .map_err(|err| AppError::output(format!("removing {}", e.path().display()), err))?;
        }
    }
    Ok(())
}

/// A fresh run: removes every part an earlier run left in `dirs`.
pub fn clear_parts(dirs: &[PathBuf]) -> Result<(), AppError> {
    for dir in dirs {
        remove_parts(dir, |_| true)?;
    }
    Ok(())
}

/// A resume from the checkpoint at `step`: removes the parts written after it and unfinished ones.
pub fn rewind_parts(dirs: &[PathBuf], step: Step) -> Result<(), AppError> {
    for dir in dirs {
        remove_parts(dir, |k| match k {
            PartName::Partial => true,
            PartName::Done { to } => *to > step,
            PartName::Other => false,
        })?;
    }
    Ok(())
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Io { context: format!("writing {}", path.display()), source: std::io::Error::other(e.to_string()) }
}

/// An open part: rows buffered by column, then written.
enum Sink {
    Parquet(Box<ArrowWriter<std::fs::File>>),
    Npy { file: std::io::BufWriter<std::fs::File>, rows: u64 },
}

/// A table of u32 id columns and f64 columns, written in parts (see the module's comment).
pub struct PartTable {
    dir: PathBuf,
    /// `<label>-rank<r>`.
    stem: String,
    format: StateFormat,
    schema: SchemaRef,
    /// The step the current part starts at.
    from: Step,
    open: Option<(PathBuf, Sink)>,
    /// Row-major ids.
    ids: Vec<u32>,
    /// Id columns per row.
    id_width: usize,
    /// Row-major f64 values (time and the variables).
    values: Vec<f64>,
    width: usize,
}

impl PartTable {
    /// A table `<dir>/<stem>-...` with columns `id_name` (u32) and `columns` (f64), parts from step `from`.
    pub fn new(dir: &Path, stem: String, format: StateFormat, id_name: &str, columns: &[String], from: Step) -> Self {
        Self::with_ids(dir, stem, format, &[id_name], columns, from)
    }

    /// A table with several u32 id columns `id_names` first.
    pub fn with_ids(
        dir: &Path,
        stem: String,
        format: StateFormat,
        id_names: &[&str],
        columns: &[String],
        from: Step,
    ) -> Self {
        let mut fields: Vec<Field> = id_names.iter().map(|n| Field::new(*n, DataType::UInt32, false)).collect();
        fields.extend(columns.iter().map(|c| Field::new(c, DataType::Float64, false)));
        Self {
            dir: dir.to_owned(),
            stem,
            format,
            schema: Arc::new(Schema::new(fields)),
            from,
            open: None,
            ids: Vec::new(),
            id_width: id_names.len(),
            values: Vec::new(),
            width: columns.len(),
        }
    }

    fn ext(&self) -> &'static str {
        match self.format {
            StateFormat::Parquet => "parquet",
            StateFormat::Npy => "npy",
        }
    }

    /// Appends a row: the id and `width` values.
    pub fn push(&mut self, id: u32, values: impl IntoIterator<Item = f64>) -> Result<(), SimError> {
        self.push_ids(&[id], values)
    }

    /// Appends a row: every id column's value and `width` values.
    pub fn push_ids(&mut self, ids: &[u32], values: impl IntoIterator<Item = f64>) -> Result<(), SimError> {
        self.ids.extend_from_slice(ids);
        self.values.extend(values);
        if self.ids.len() >= BATCH_ROWS * self.id_width {
            self.write_buffered()?;
        }
        Ok(())
    }

    /// Writes the buffered rows into the open part (opening it first).
    fn write_buffered(&mut self) -> Result<(), SimError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        if self.open.is_none() {
            let path = self.dir.join(format!("{}-{}.{}.partial", self.stem, self.from, self.ext()));
            std::fs::create_dir_all(&self.dir).map_err(|e| io_error(&self.dir, e))?;
            let file = std::fs::File::create(&path).map_err(|e| io_error(&path, e))?;
            let sink = match self.format {
                StateFormat::Parquet => {
                    // Ids and times repeat (dictionary-encoded, they shrink); state values rarely do, and
                    // hashing each one for a dictionary that is dropped anyway would cost more than writing.
                    let mut props = WriterProperties::builder()
                        .set_max_row_group_size(ROW_GROUP_ROWS)
                        .set_statistics_enabled(EnabledStatistics::Chunk);
                    for field in self.schema.fields().iter().skip(self.id_width + 1) {
                        props = props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
                    }
                    let props = props.build();
                    Sink::Parquet(Box::new(
                        ArrowWriter::try_new(file, self.schema.clone(), Some(props)).map_err(|e| io_error(&path, e))?,
                    ))
                }
                StateFormat::Npy => {
                    let mut file = std::io::BufWriter::new(file);
                    file.write_all(&npy_header(0, self.width + self.id_width)).map_err(|e| io_error(&path, e))?;
                    Sink::Npy { file, rows: 0 }
                }
            };
            self.open = Some((path, sink));
        }
        let Some((path, sink)) = &mut self.open else { return Ok(()) };
        match sink {
            Sink::Parquet(w) => {
                let ids = std::mem::take(&mut self.ids);
                let mut columns: Vec<ArrayRef> = (0..self.id_width)
                    .map(|c| {
                        let column: Vec<u32> = ids.iter().skip(c).step_by(self.id_width).copied().collect();
                        Arc::new(UInt32Array::from(column)) as ArrayRef
                    })
                    .collect();
                for c in 0..self.width {
                    let column: Vec<f64> = self.values.iter().skip(c).step_by(self.width.max(1)).copied().collect();
                    columns.push(Arc::new(Float64Array::from(column)));
                }
                let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| io_error(path, e))?;
                w.write(&batch).map_err(|e| io_error(path, e))?;
            }
            Sink::Npy { file, rows } => {
                let mut bytes = Vec::with_capacity(8 * (self.ids.len() + self.values.len()));
                for (k, ids) in self.ids.chunks_exact(self.id_width).enumerate() {
                    for id in ids {
                        bytes.extend_from_slice(&f64::from(*id).to_le_bytes());
                    }
                    for v in &self.values[k * self.width..(k + 1) * self.width] {
                        bytes.extend_from_slice(&v.to_le_bytes());
                    }
                }
                file.write_all(&bytes).map_err(|e| io_error(path, e))?;
                *rows += (self.ids.len() / self.id_width) as u64;
                self.ids.clear();
            }
        }
        self.values.clear();
        Ok(())
    }

    /// Ends the current part at step `at` (its rows are those of steps `from..at`): writes what is
    /// buffered, the footer or header, and gives the file its final name. The next part starts at `at`.
    pub fn close(&mut self, at: Step) -> Result<(), SimError> {
        self.write_buffered()?;
        if let Some((path, sink)) = self.open.take() {
            match sink {
                Sink::Parquet(w) => {
                    w.close().map_err(|e| io_error(&path, e))?;
                }
                Sink::Npy { file, rows } => {
                    let mut file = file.into_inner().map_err(|e| io_error(&path, e.error()))?;
                    file.seek(std::io::SeekFrom::Start(0)).map_err(|e| io_error(&path, e))?;
                    file.write_all(&npy_header(rows, self.width + self.id_width)).map_err(|e| io_error(&path, e))?;
                    file.flush().map_err(|e| io_error(&path, e))?;
                }
            }
            let done = self.dir.join(format!("{}-{}-{at}.{}", self.stem, self.from, self.ext()));
            std::fs::rename(&path, &done).map_err(|e| io_error(&done, e))?;
        }
        self.from = at;
        Ok(())
    }
}

/// The NPY version 1 header of a float64 (rows, columns) array, padded to [`NPY_HEADER`] bytes.
fn npy_header(rows: u64, columns: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    header.push_str(&" ".repeat(NPY_HEADER - 10 - header.len() - 1));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

/// One rank's state recordings: a part table per recording.
pub struct StateFiles {
    tables: Vec<PartTable>,
    res: Resolution,
}

impl StateFiles {
    /// The files of `records` for this rank, parts from step `from`; rank 0 also writes the NPY index
    /// files.
    pub fn new(
        records: &[ResolvedRecord],
        out: &Path,
        rank: usize,
        res: Resolution,
        from: Step,
    ) -> Result<Self, AppError> {
        let dir = state_dir(out);
        if !records.is_empty() {
            std::fs::create_dir_all(&dir).map_err(|e| AppError::output(format!("creating {}", dir.display()), e))?;
        }
        let mut tables = Vec::with_capacity(records.len());
        for r in records {
            let mut columns = vec!["time_ms".to_owned()];
            columns.extend(r.engine.variables.iter().cloned());
            if rank == 0 && r.format == StateFormat::Npy {
                let path = dir.join(format!("{}_index.csv", r.label));
                let mut text = String::from("column,name\n0,node_id\n");
                for (k, c) in columns.iter().enumerate() {
                    text.push_str(&format!("{},{c}\n", k + 1));
                }
                std::fs::write(&path, text).map_err(|e| AppError::output(format!("writing {}", path.display()), e))?;
            }
            let stem = format!("{}-rank{rank}", r.label);
            tables.push(PartTable::new(&dir, stem, r.format, "node_id", &columns, from));
        }
        Ok(Self { tables, res })
    }

    /// Writes one window's rows (one entry per recording).
    pub fn write(&mut self, samples: &[StateSamples]) -> Result<(), SimError> {
        for (table, rows) in self.tables.iter_mut().zip(samples) {
            for k in 0..rows.len() {
                let time = stamp_ms(&self.res, rows.steps[k]);
                table.push(rows.gids[k], std::iter::once(time).chain(rows.row(k).iter().copied()))?;
            }
        }
        Ok(())
    }

    /// Ends every part at step `at`.
    pub fn close(&mut self, at: Step) -> Result<(), SimError> {
        self.tables.iter_mut().try_for_each(|t| t.close(at))
    }
}

/// Spikes of the analysed period as Parquet, one part table per population (`--spike-format parquet`).
pub struct SpikeParquet {
    tables: Vec<PartTable>,
    first_gids: Vec<Gid>,
    analysed: Range<Step>,
    res: Resolution,
}

impl SpikeParquet {
    /// Tables `spikes/<pop>-rank<r>-...parquet` for the populations `names` starting at `first_gids`.
    pub fn new(
        out: &Path,
        names: &[String],
        first_gids: Vec<Gid>,
        rank: usize,
        analysed: Range<Step>,
        res: Resolution,
        from: Step,
    ) -> Self {
        let dir = out.join("spikes");
        let tables = names
            .iter()
            .map(|n| {
                PartTable::new(
                    &dir,
                    format!("{n}-rank{rank}"),
                    StateFormat::Parquet,
                    "sender",
                    &["time_ms".to_owned()],
                    from,
                )
            })
            .collect();
        Self { tables, first_gids, analysed, res }
    }

    /// Writes a window's spikes (those of the analysed steps).
    pub fn observe(&mut self, t0: Step, spikes: &[PackedSpike]) -> Result<(), SimError> {
        for &s in spikes {
            let (lag, gid) = unpack_spike(s);
            let step = t0 + u64::from(lag);
            if self.analysed.contains(&step) {
                let pop = self.first_gids.partition_point(|&f| f <= gid) - 1;
                self.tables[pop].push(gid, [stamp_ms(&self.res, step)])?;
            }
        }
        Ok(())
    }

    /// Ends every part at step `at`.
    pub fn close(&mut self, at: Step) -> Result<(), SimError> {
        self.tables.iter_mut().try_for_each(|t| t.close(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_say_what_a_resume_keeps() {
        assert_eq!(part_name("L4E-rank0-0-1000.parquet"), PartName::Done { to: 1000 });
        assert_eq!(part_name("my-label-rank12-500-900.npy"), PartName::Done { to: 900 });
        assert_eq!(part_name("L4E-rank0-500.parquet.partial"), PartName::Partial);
        assert_eq!(part_name("L4E_index.csv"), PartName::Other);
        assert_eq!(part_name("L4E.csv"), PartName::Other);
        assert_eq!(part_name("notes-1-2.parquet"), PartName::Other, "not a rank's part");
    }

    #[test]
    fn stamps_are_the_decimals_of_whole_tics() {
        let res = Resolution::new(0.1).unwrap();
        assert_eq!(stamp_ms(&res, 2), 0.3);
        assert_eq!(stamp_ms(&res, 9), 1.0);
        let res = Resolution::new(0.125).unwrap();
        assert_eq!(stamp_ms(&res, 3), 0.5);
    }

    #[test]
    fn npy_parts_read_back_with_their_shape_and_resumes_keep_only_parts_up_to_the_checkpoint() {
        let dir = std::env::temp_dir().join(format!("cajal-state-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut t =
            PartTable::new(&dir, "X-rank0".into(), StateFormat::Npy, "node_id", &["time_ms".into(), "V_m".into()], 0);
        t.push(3, [0.1, -65.0]).unwrap();
        t.push(4, [0.1, -64.5]).unwrap();
        t.close(10).unwrap();
        t.close(20).unwrap(); // no rows: no file
        t.push(3, [2.1, -60.0]).unwrap();
        t.close(30).unwrap();
        t.push(3, [3.1, -59.0]).unwrap();
        t.write_buffered().unwrap(); // an unfinished part, as a failed segment leaves it
        let ((rows, cols), values) = cajal_core::npy::read_2d(&dir.join("X-rank0-0-10.npy")).unwrap();
        assert_eq!((rows, cols), (2, 3));
        assert_eq!(values, vec![3.0, 0.1, -65.0, 4.0, 0.1, -64.5]);
        assert!(!dir.join("X-rank0-10-20.npy").exists());
        assert!(dir.join("X-rank0-20-30.npy").exists() && dir.join("X-rank0-30.npy.partial").exists());
        rewind_parts(std::slice::from_ref(&dir), 10).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, vec!["X-rank0-0-10.npy"]);
        clear_parts(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
