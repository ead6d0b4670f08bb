//! Recorded voltages of a graded model on rank 0: one row per step to CSV (header: what each column is;
//! floats in shortest round-trip form) or NPY (float64, shape steps x neurons), plus an index file that
//! names each column's neuron. A resumed run reopens the files where its checkpoint left them.

use std::io::Write;
use std::path::{Path, PathBuf};

use cajal_core::npy::NpyWriter;
use cajal_core::Step;
use cajal_models::graded::RecordedNeurons;
use cajal_models::optic_lobe::model_file::RecordFormat;
use cajal_sim::{SimError, ValueObserver};

use crate::error::AppError;

enum Sink {
    None,
    Csv(std::io::BufWriter<std::fs::File>),
    Npy(NpyWriter),
}

/// Writes the recorded rows of a run (rank 0 only; other ranks hold a writer that writes nothing).
pub struct VoltageFiles {
    sink: Sink,
    path: PathBuf,
    line: String,
}

fn io_error(path: &Path, e: std::io::Error) -> SimError {
    SimError::Io { context: format!("writing {}", path.display()), source: e }
}

fn output_error(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> AppError {
    let what = format!("{what} {}", path.display());
    move |e| AppError::output(what, e)
}

impl VoltageFiles {
    fn none() -> Self {
        Self { sink: Sink::None, path: PathBuf::new(), line: String::new() }
    }

    /// The data file's path for `recorded` in `out`.
    fn data_path(recorded: &RecordedNeurons, out: &Path) -> PathBuf {
        let ext = match recorded.format {
            RecordFormat::Csv => "csv",
            RecordFormat::Npy => "npy",
        };
        out.join(format!("{}.{ext}", recorded.stem))
    }

    /// The files for `steps` recorded steps of `recorded` into `out`; `write` only on rank 0.
    pub fn create(recorded: &RecordedNeurons, steps: Step, out: &Path, write: bool) -> Result<Self, AppError> {
        if !write || recorded.gids.is_empty() {
            return Ok(Self::none());
        }
        let index_path = out.join(format!("{}_index.csv", recorded.stem));
        let mut index = format!("column,{}\n", recorded.index_header);
        for (k, row) in recorded.index_rows.iter().enumerate() {
            index.push_str(&format!("{k},{row}\n"));
        }
        std::fs::write(&index_path, index).map_err(output_error("writing", &index_path))?;
        let path = Self::data_path(recorded, out);
        let sink = match recorded.format {
            RecordFormat::Csv => {
                let file = std::fs::File::create(&path).map_err(output_error("creating", &path))?;
                let mut f = std::io::BufWriter::new(file);
                writeln!(f, "{}", recorded.columns.join(",")).map_err(output_error("writing", &path))?;
                Sink::Csv(f)
            }
            RecordFormat::Npy => Sink::Npy(
                NpyWriter::create(&path, steps as usize, recorded.gids.len())
                    .map_err(output_error("creating", &path))?,
            ),
        };
        Ok(Self { sink, path, line: String::new() })
    }

    /// The files of a resumed run, continued at the lengths the checkpoint recorded (`positions`, already
    /// cut back to them).
    pub fn reopen(
        recorded: &RecordedNeurons,
        steps: Step,
        out: &Path,
        write: bool,
        positions: &[(String, u64)],
    ) -> Result<Self, AppError> {
        if !write || recorded.gids.is_empty() {
            return Ok(Self::none());
        }
        let path = Self::data_path(recorded, out);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !path.exists() {
            // The resumed part appends to the file of the earlier segments: it must be there.
            return Err(AppError::bad(format!(
                "{} is not in the output directory: a resumed graded run continues its voltage file; resume \
                 into the run's own output directory (the default) or copy the file there first",
                path.display()
            )));
        }
        let Some(&(_, len)) = positions.iter().find(|(n, _)| *n == name) else {
            return Err(AppError::bad(format!(
                "the checkpoint records no length for {}: it was written with other recording settings",
                path.display()
            )));
        };
        let sink = match recorded.format {
            RecordFormat::Csv => {
                let file =
                    std::fs::OpenOptions::new().append(true).open(&path).map_err(output_error("opening", &path))?;
                Sink::Csv(std::io::BufWriter::new(file))
            }
            RecordFormat::Npy => Sink::Npy(
                NpyWriter::reopen(&path, steps as usize, recorded.gids.len(), len)
                    .map_err(output_error("reopening", &path))?,
            ),
        };
        Ok(Self { sink, path, line: String::new() })
    }

    /// Flushes the data file and returns its name (relative to the output directory) and length.
    pub fn positions(&mut self) -> Result<Vec<(String, u64)>, AppError> {
        let flushed = match &mut self.sink {
            Sink::None => return Ok(Vec::new()),
            Sink::Csv(f) => f.flush(),
            Sink::Npy(w) => w.flush(),
        };
        flushed.map_err(output_error("writing", &self.path))?;
        let len = std::fs::metadata(&self.path).map_err(output_error("reading the size of", &self.path))?.len();
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(vec![(name, len)])
    }

    /// Flushes the files; an NPY file must have received every promised row.
    pub fn finish(&mut self) -> Result<(), AppError> {
        let done = match std::mem::replace(&mut self.sink, Sink::None) {
            Sink::None => Ok(()),
            Sink::Csv(mut f) => f.flush(),
            Sink::Npy(w) => w.finish(),
        };
        done.map_err(output_error("writing", &self.path))
    }
}

impl ValueObserver for VoltageFiles {
    fn rows(&mut self, _first_step: Step, width: usize, rows: &[f64]) -> Result<(), SimError> {
        match &mut self.sink {
            Sink::None => Ok(()),
            Sink::Npy(w) => w.write(rows).map_err(|e| io_error(&self.path, e)),
            Sink::Csv(f) => {
                for row in rows.chunks(width.max(1)) {
                    self.line.clear();
                    for (i, v) in row.iter().enumerate() {
                        if i > 0 {
                            self.line.push(',');
                        }
                        // Rust's `Display` for f64 is the shortest string that parses back to the same value.
                        self.line.push_str(&v.to_string());
                    }
                    self.line.push('\n');
                    f.write_all(self.line.as_bytes()).map_err(|e| io_error(&self.path, e))?;
                }
                Ok(())
            }
        }
    }
}
