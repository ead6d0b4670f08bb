//! Recorded voltages of a graded model on rank 0: one row per step to CSV (header: what each column is;
//! floats in shortest round-trip form) or NPY (float64, shape steps x neurons), plus an index file that
//! names each column's neuron.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use cajal_core::npy::NpyWriter;
use cajal_core::Step;
use cajal_models::graded::RecordedNeurons;
use cajal_models::optic_lobe::model_file::RecordFormat;
use cajal_sim::{SimError, ValueObserver};

enum Sink {
    None,
    Csv(std::io::BufWriter<std::fs::File>),
    Npy(NpyWriter),
}

/// Writes the recorded rows of a run (rank 0 only; other ranks hold a writer that writes nothing).
pub struct VoltageFiles {
    sink: Sink,
    path: PathBuf,
    rows: usize,
    line: String,
}

fn io_error(path: &Path, e: std::io::Error) -> SimError {
    SimError::Io { context: format!("writing {}", path.display()), source: e }
}

impl VoltageFiles {
    /// The files for `steps` recorded steps of `recorded` into `out`; `write` only on rank 0.
    pub fn create(recorded: &RecordedNeurons, steps: Step, out: &Path, write: bool) -> anyhow::Result<Self> {
        let none = Self { sink: Sink::None, path: PathBuf::new(), rows: 0, line: String::new() };
        if !write || recorded.gids.is_empty() {
            return Ok(none);
        }
        let stem = recorded.stem;
        let index_path = out.join(format!("{stem}_index.csv"));
        let mut index = format!("column,{}\n", recorded.index_header);
        for (k, row) in recorded.index_rows.iter().enumerate() {
            index.push_str(&format!("{k},{row}\n"));
        }
        std::fs::write(&index_path, index).with_context(|| format!("writing {}", index_path.display()))?;
        let (path, sink) = match recorded.format {
            RecordFormat::Csv => {
                let path = out.join(format!("{stem}.csv"));
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
                );
                writeln!(f, "{}", recorded.columns.join(",")).with_context(|| format!("writing {}", path.display()))?;
                (path, Sink::Csv(f))
            }
            RecordFormat::Npy => {
                let path = out.join(format!("{stem}.npy"));
                let w = NpyWriter::create(&path, steps as usize, recorded.gids.len())
                    .with_context(|| format!("creating {}", path.display()))?;
                (path, Sink::Npy(w))
            }
        };
        Ok(Self { sink, path, rows: 0, line: String::new() })
    }

    /// Flushes the files; an NPY file must have received every promised row.
    pub fn finish(self) -> anyhow::Result<()> {
        match self.sink {
            Sink::None => Ok(()),
            Sink::Csv(mut f) => f.flush().with_context(|| format!("writing {}", self.path.display())),
            Sink::Npy(w) => w.finish().with_context(|| format!("writing {}", self.path.display())),
        }
    }
}

impl ValueObserver for VoltageFiles {
    fn rows(&mut self, _first_step: Step, width: usize, rows: &[f64]) -> Result<(), SimError> {
        self.rows += rows.len() / width.max(1);
        match &mut self.sink {
            Sink::None => Ok(()),
            Sink::Npy(w) => w.write(rows).map_err(|e| io_error(&self.path, e)),
            Sink::Csv(f) => {
                for row in rows.chunks(width) {
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
