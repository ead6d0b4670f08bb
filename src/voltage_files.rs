//! Recorded voltages of a graded model on rank 0: one row per step to CSV (header: what each column is;
//! floats in shortest round-trip form) or NPY (float64, shape steps x neurons), plus an index file that
//! names each column's neuron.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use cajal_core::npy::NpyWriter;
use cajal_core::{Gid, Step};
use cajal_models::optic_lobe::model_file::{RecordFormat, RecordScope};
use cajal_models::GradedModel;
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
    /// The files for `steps` recorded steps of `gids` (in record order) into `out`; `write` only on rank 0.
    pub fn create(model: &GradedModel, gids: &[Gid], steps: Step, out: &Path, write: bool) -> anyhow::Result<Self> {
        let stem = match model.recording.scope {
            RecordScope::Central => "central_voltages",
            RecordScope::All => "voltages",
            RecordScope::None => "",
        };
        let none = Self { sink: Sink::None, path: PathBuf::new(), rows: 0, line: String::new() };
        if !write || gids.is_empty() {
            return Ok(none);
        }
        let c = &model.lobe.connectome;
        let names: Vec<String> = gids
            .iter()
            .map(|&g| {
                let (t, (u, v)) = model.lobe.locate(g);
                match model.recording.scope {
                    RecordScope::All => format!("{}@{u}:{v}", c.types[t].name),
                    _ => c.types[t].name.clone(),
                }
            })
            .collect();
        let index_path = out.join(format!("{stem}_index.csv"));
        let mut index = String::from("column,gid,type,u,v\n");
        for (k, &g) in gids.iter().enumerate() {
            let (t, (u, v)) = model.lobe.locate(g);
            index.push_str(&format!("{k},{g},{},{u},{v}\n", c.types[t].name));
        }
        std::fs::write(&index_path, index).with_context(|| format!("writing {}", index_path.display()))?;
        let (path, sink) = match model.recording.format {
            RecordFormat::Csv => {
                let path = out.join(format!("{stem}.csv"));
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
                );
                writeln!(f, "{}", names.join(",")).with_context(|| format!("writing {}", path.display()))?;
                (path, Sink::Csv(f))
            }
            RecordFormat::Npy => {
                let path = out.join(format!("{stem}.npy"));
                let w = NpyWriter::create(&path, steps as usize, gids.len())
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
