//! Weight snapshots of a plastic projection (`[[record_weights]]` tables, `--record-weights
//! PROJECTION[@EVERY_MS]`): every (pre, post, weight) of the projection at the start, every `every_ms`
//! of model time and at the end. Kept with the other recording tables (see [`crate::record_spec`]).
//!
//! ```toml
//! [[record_weights]]
//! projection = "E->E"        # a plastic projection: SOURCE->TARGET population names
//! every_ms = 100.0           # omitted: at the start and at the end only
//! ```

use toml::{Table, Value};

use crate::{ModelDocument, ModelError};

/// The keys a `[[record_weights]]` table may have.
pub const WEIGHT_RECORD_KEYS: [&str; 2] = ["projection", "every_ms"];

/// Snapshots of one plastic projection.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightRecordSpec {
    /// `SOURCE->TARGET`, the projection's name.
    pub projection: String,
    /// Model time between snapshots (ms); None: at the start and the end only.
    pub every_ms: Option<f64>,
}

impl WeightRecordSpec {
    /// The spec as a `[[record_weights]]` table.
    pub(crate) fn to_table(&self) -> Table {
        let mut t = Table::new();
        t.insert("projection".into(), Value::String(self.projection.clone()));
        if let Some(every) = self.every_ms {
            t.insert("every_ms".into(), Value::Float(every));
        }
        t
    }

    /// The file stem: the projection's name with `->` as `-to-` and anything but letters, digits, `_`,
    /// `.` and `-` as `_`.
    #[must_use]
    pub fn label(&self) -> String {
        self.projection
            .replace("->", "-to-")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
            .collect()
    }
}

fn check(spec: &WeightRecordSpec) -> Result<(), String> {
    if !spec.projection.contains("->") {
        return Err(format!("projection `{}` must be SOURCE->TARGET (population names)", spec.projection));
    }
    match spec.every_ms {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(format!("every_ms {v} must be > 0")),
        _ => Ok(()),
    }
}

/// Parses `--record-weights PROJECTION[@EVERY_MS]`, e.g. `E->E@100`.
pub fn parse_weight_flag(text: &str) -> Result<WeightRecordSpec, String> {
    let (projection, every_ms) = match text.rsplit_once('@') {
        Some((p, every)) => {
            let v: f64 = every.trim().parse().map_err(|_| format!("interval `{every}` is not a number (ms)"))?;
            (p.trim(), Some(v))
        }
        None => (text.trim(), None),
    };
    let spec = WeightRecordSpec { projection: projection.to_owned(), every_ms };
    check(&spec)?;
    Ok(spec)
}

/// The `[[record_weights]]` tables of `doc`.
pub fn read_weight_records(doc: &ModelDocument) -> Result<Vec<WeightRecordSpec>, ModelError> {
    let Some(value) = doc.get("record_weights") else { return Ok(Vec::new()) };
    let Value::Array(items) = value else {
        return Err(doc.invalid("record_weights", "(not an array)", "must be an array of tables ([[record_weights]])"));
    };
    (0..items.len())
        .map(|i| {
            let key = format!("record_weights.{i}");
            doc.expect_keys(&key, &WEIGHT_RECORD_KEYS)?;
            let projection = doc.string(&format!("{key}.projection"))?;
            let every_key = format!("{key}.every_ms");
            let every_ms = if doc.get(&every_key).is_some() { Some(doc.number(&every_key)?) } else { None };
            let spec = WeightRecordSpec { projection, every_ms };
            check(&spec).map_err(|r| doc.invalid(&key, &spec.projection, &r))?;
            Ok(spec)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_flag_names_a_projection_and_an_interval() {
        let s = parse_weight_flag("E->E@100").unwrap();
        assert_eq!(s, WeightRecordSpec { projection: "E->E".into(), every_ms: Some(100.0) });
        assert_eq!(s.label(), "E-to-E");
        assert_eq!(parse_weight_flag("L2/3E->L4E").unwrap().every_ms, None);
        assert!(parse_weight_flag("E").is_err());
        assert!(parse_weight_flag("E->E@-1").is_err());
        assert!(parse_weight_flag("E->E@x").is_err());
    }
}
