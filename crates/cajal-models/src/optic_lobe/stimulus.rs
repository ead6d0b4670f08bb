//! Visual stimuli for the optic lobe: one intensity per lattice column (hexal) and step, given to every
//! photoreceptor type R1..R8 of that column. Specs: `constant:V`; `flash:ON:OFF:PERIOD_MS` (full field,
//! ON for the first half of each period); `edge:DIRECTION_DEG:SPEED:on|off` (an edge crossing the field at
//! SPEED columns per second, bright behind it for `on`, dark for `off`, on a grey 0.5 background);
//! `frames:FILE.csv` or `frames:FILE.npy` (721 hexals x T: one row per hexal in lattice order, one column
//! per step; T x 721 is read too, a square file as hexals x T; the last frame holds after the file ends).

use std::path::Path;

use crate::optic_lobe::connectome::columns;
use crate::ModelError;

/// Grey level of the background and of the side an edge has not reached.
const GREY: f64 = 0.5;
/// Distance between neighbouring column centres in the lattice's pixel units.
const COLUMN_SPACING: f64 = 1.732_050_807_568_877_2;

/// A stimulus on the lattice of one extent.
#[derive(Clone, Debug, PartialEq)]
pub enum Stimulus {
    Constant(f64),
    Flash {
        on: f64,
        off: f64,
        period_s: f64,
    },
    /// Moving edge: unit direction, speed in pixel units per second, intensity behind the edge.
    Edge {
        direction: (f64, f64),
        speed: f64,
        behind: f64,
    },
    /// Explicit frames: one row per step, one value per column.
    Frames(Vec<Vec<f64>>),
}

fn number(spec: &str, text: &str) -> Result<f64, ModelError> {
    let v: f64 = text.trim().parse().map_err(|_| bad(spec, &format!("`{text}` is not a number")))?;
    if !v.is_finite() {
        return Err(bad(spec, &format!("`{text}` is not finite")));
    }
    Ok(v)
}

fn bad(spec: &str, reason: &str) -> ModelError {
    ModelError::Stimulus { spec: spec.to_owned(), reason: reason.to_owned() }
}

/// Pixel position of column (u, v): x = 1.5 v, y = -sqrt(3) (u + v / 2).
#[must_use]
pub fn position((u, v): (i64, i64)) -> (f64, f64) {
    (1.5 * v as f64, -COLUMN_SPACING * (u as f64 + v as f64 / 2.0))
}

impl Stimulus {
    /// Parses a stimulus spec for the lattice of `extent`.
    pub fn parse(spec: &str, extent: i64) -> Result<Self, ModelError> {
        if let Some(file) = spec.strip_prefix("frames:") {
            // A path may hold ':' itself.
            return if file.ends_with(".npy") {
                Self::npy_frames(Path::new(file), extent)
            } else {
                Self::frames(Path::new(file), extent)
            };
        }
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            ["constant", v] => Ok(Self::Constant(number(spec, v)?)),
            ["flash", on, off, period] => {
                let period_s = number(spec, period)? / 1000.0;
                if period_s <= 0.0 {
                    return Err(bad(spec, "the period must be > 0 ms"));
                }
                Ok(Self::Flash { on: number(spec, on)?, off: number(spec, off)?, period_s })
            }
            ["edge", deg, speed, polarity] => {
                let behind = match *polarity {
                    "on" => 1.0,
                    "off" => 0.0,
                    other => return Err(bad(spec, &format!("edge polarity `{other}` must be on or off"))),
                };
                let speed = number(spec, speed)?;
                if speed <= 0.0 {
                    return Err(bad(spec, "the speed must be > 0 columns per second"));
                }
                let rad = number(spec, deg)?.to_radians();
                Ok(Self::Edge { direction: (rad.cos(), rad.sin()), speed: speed * COLUMN_SPACING, behind })
            }
            _ => Err(bad(
                spec,
                "expected constant:V, flash:ON:OFF:PERIOD_MS, edge:DEG:SPEED:on|off or frames:FILE.csv|FILE.npy",
            )),
        }
    }

    fn npy_frames(path: &Path, extent: i64) -> Result<Self, ModelError> {
        let n = columns(extent).len();
        let fail = |message: String| ModelError::Syntax { file: path.to_owned(), message };
        // The reader's errors name the file already; keep only its reason under this file's name.
        let ((rows, cols), values) = cajal_core::npy::read_2d(path).map_err(|e| match e {
            cajal_core::CoreError::File { reason, .. } => fail(reason),
            other => fail(other.to_string()),
        })?;
        if values.iter().any(|x| !x.is_finite()) {
            return Err(fail("frames must be finite".into()));
        }
        let matrix: Vec<Vec<f64>> = values.chunks(cols.max(1)).map(<[f64]>::to_vec).collect();
        oriented(matrix, (rows, cols), n).map(Self::Frames).map_err(fail)
    }

    fn frames(path: &Path, extent: i64) -> Result<Self, ModelError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelError::Read { file: path.to_owned(), source })?;
        let n = columns(extent).len();
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: Vec<f64> =
                line.split(',').map(|x| x.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|e| {
                    ModelError::Syntax { file: path.to_owned(), message: format!("line {}: {e}", i + 1) }
                })?;
            if row.iter().any(|x| !x.is_finite()) {
                return Err(ModelError::Syntax {
                    file: path.to_owned(),
                    message: format!("line {}: not finite", i + 1),
                });
            }
            if rows.first().is_some_and(|r: &Vec<f64>| r.len() != row.len()) {
                return Err(ModelError::Syntax {
                    file: path.to_owned(),
                    message: format!("line {}: {} values, the first line has {}", i + 1, row.len(), rows[0].len()),
                });
            }
            rows.push(row);
        }
        let shape = (rows.len(), rows.first().map_or(0, Vec::len));
        oriented(rows, shape, n)
            .map(Self::Frames)
            .map_err(|message| ModelError::Syntax { file: path.to_owned(), message })
    }

    /// The intensity of every column (lattice order) during step `step` of `dt_s` seconds.
    #[must_use]
    pub fn frame(&self, step: usize, dt_s: f64, cols: &[(i64, i64)]) -> Vec<f64> {
        let t = step as f64 * dt_s;
        match self {
            Self::Constant(v) => vec![*v; cols.len()],
            Self::Flash { on, off, period_s } => {
                let value = if (t % period_s) < period_s / 2.0 { *on } else { *off };
                vec![value; cols.len()]
            }
            Self::Edge { direction, speed, behind } => {
                // The edge starts behind the field and crosses it: a column is passed once its projection
                // on the direction falls behind the edge's position.
                let proj = |c: &(i64, i64)| {
                    let (x, y) = position(*c);
                    x * direction.0 + y * direction.1
                };
                let start = cols.iter().map(proj).fold(f64::INFINITY, f64::min) - COLUMN_SPACING;
                let front = start + speed * t;
                cols.iter().map(|c| if proj(c) <= front { *behind } else { GREY }).collect()
            }
            Self::Frames(rows) => rows[step.min(rows.len() - 1)].clone(),
        }
    }
}

/// Frames (one row per step) from a matrix of `shape` that is either columns x frames (the documented
/// layout: one row per lattice column) or frames x columns; a square matrix is read as columns x frames.
fn oriented(matrix: Vec<Vec<f64>>, (rows, cols): (usize, usize), n: usize) -> Result<Vec<Vec<f64>>, String> {
    if rows == n && cols > 0 {
        Ok((0..cols).map(|t| matrix.iter().map(|r| r[t]).collect()).collect())
    } else if cols == n && rows > 0 {
        Ok(matrix)
    } else {
        Err(format!("shape ({rows}, {cols}): needs {n} columns x frames (or frames x {n}), one value per column"))
    }
}

/// A stimulus as the engine's drive: one channel per lattice column, in lattice order.
#[derive(Clone, Debug)]
pub struct StimulusDrive {
    pub stimulus: Stimulus,
    pub dt_s: f64,
    pub columns: Vec<(i64, i64)>,
}

impl StimulusDrive {
    /// `stimulus` on the lattice of `extent`, with steps of `dt_s` seconds.
    #[must_use]
    pub fn new(stimulus: Stimulus, extent: i64, dt_s: f64) -> Self {
        Self { stimulus, dt_s, columns: columns(extent) }
    }
}

impl cajal_net::Drive for StimulusDrive {
    fn channels(&self) -> usize {
        self.columns.len()
    }

    fn fill(&self, step: u64, out: &mut [f64]) {
        out.copy_from_slice(&self.stimulus.frame(step as usize, self.dt_s, &self.columns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_are_refused() {
        assert_eq!(Stimulus::parse("constant:0.5", 15).unwrap(), Stimulus::Constant(0.5));
        assert!(matches!(Stimulus::parse("flash:1:0:200", 15).unwrap(), Stimulus::Flash { .. }));
        assert!(
            matches!(Stimulus::parse("edge:90:13:off", 15).unwrap(), Stimulus::Edge { behind, .. } if behind == 0.0)
        );
        for bad in [
            "constant:x",
            "constant:nan",
            "flash:1:0:0",
            "edge:0:-1:on",
            "edge:0:1:up",
            "wave:1",
            "frames:/no/file.csv",
        ] {
            assert!(Stimulus::parse(bad, 15).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_flash_alternates_and_an_edge_sweeps_the_field_in_its_direction() {
        let cols = columns(15);
        let flash = Stimulus::parse("flash:1:0:100", 15).unwrap();
        assert!(flash.frame(0, 0.01, &cols).iter().all(|&v| v == 1.0));
        assert!(flash.frame(6, 0.01, &cols).iter().all(|&v| v == 0.0));
        let edge = Stimulus::parse("edge:0:10:on", 15).unwrap(); // moving towards +x
        let covered = |step: usize| edge.frame(step, 0.1, &cols).iter().filter(|&&v| v == 1.0).count();
        assert_eq!(covered(0), 0, "the edge starts outside the field");
        assert!(covered(20) > covered(10) && covered(10) > 0, "it advances");
        assert_eq!(covered(100), cols.len(), "and has crossed it");
        // At any time the bright columns are exactly those on the left of the front.
        let frame = edge.frame(15, 0.1, &cols);
        let xs_on: Vec<f64> = cols.iter().zip(&frame).filter(|(_, &v)| v == 1.0).map(|(c, _)| position(*c).0).collect();
        let xs_off: Vec<f64> =
            cols.iter().zip(&frame).filter(|(_, &v)| v != 1.0).map(|(c, _)| position(*c).0).collect();
        assert!(xs_on.iter().fold(f64::MIN, |a, &b| a.max(b)) < xs_off.iter().fold(f64::MAX, |a, &b| a.min(b)));
    }

    #[test]
    fn frames_come_from_a_csv_file_with_one_value_per_column() {
        let dir = std::env::temp_dir().join(format!("cajal-frames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.csv");
        let n = columns(1).len();
        std::fs::write(&path, format!("{}\n{}\n", vec!["0.25"; n].join(","), vec!["0.75"; n].join(","))).unwrap();
        let s = Stimulus::parse(&format!("frames:{}", path.display()), 1).unwrap();
        assert_eq!(s.frame(1, 0.02, &columns(1)), vec![0.75; n]);
        assert_eq!(s.frame(5, 0.02, &columns(1)), vec![0.75; n], "the last frame holds");
        std::fs::write(&path, "0.1,0.2\n").unwrap();
        let e = Stimulus::parse(&format!("frames:{}", path.display()), 1).unwrap_err().to_string();
        assert!(e.contains("shape (1, 2): needs 7 columns x frames"), "{e}");
        // The documented layout, one line per column (7 lines of 3 frames), is read the same way.
        let by_column: Vec<String> = (0..n).map(|_| "0.1,0.2,0.3".to_owned()).collect();
        std::fs::write(&path, by_column.join("\n")).unwrap();
        let s = Stimulus::parse(&format!("frames:{}", path.display()), 1).unwrap();
        assert_eq!(s.frame(1, 0.02, &columns(1)), vec![0.2; n]);
        assert_eq!(s.frame(9, 0.02, &columns(1)), vec![0.3; n]);
        let colon = dir.join("a:b.csv");
        std::fs::write(&colon, vec!["0.5"; n].join(",")).unwrap();
        assert!(Stimulus::parse(&format!("frames:{}", colon.display()), 1).is_ok(), "paths may hold ':'");
        let npy = dir.join("f.npy");
        let mut w = cajal_core::npy::NpyWriter::create(&npy, 2, n).unwrap();
        w.write(&[vec![0.0; n], vec![1.0; n]].concat()).unwrap();
        w.finish().unwrap();
        let s = Stimulus::parse(&format!("frames:{}", npy.display()), 1).unwrap();
        assert_eq!(s.frame(1, 0.02, &columns(1)), vec![1.0; n]);
        let e = Stimulus::parse(&format!("frames:{}", npy.display()), 2).unwrap_err().to_string();
        assert!(e.contains("needs 19 columns x frames"), "{e}");
        let mut w = cajal_core::npy::NpyWriter::create(&npy, n, 2).unwrap();
        w.write(&(0..n).flat_map(|_| [0.0, 1.0]).collect::<Vec<_>>()).unwrap();
        w.finish().unwrap();
        let s = Stimulus::parse(&format!("frames:{}", npy.display()), 1).unwrap();
        assert_eq!(s.frame(1, 0.02, &columns(1)), vec![1.0; n], "columns x frames");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
