//! Reading a run's state recordings back (every rank's parts, Parquet or NPY) as exact rows.

use std::path::Path;

use arrow_array::{Array, Float64Array, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One recorded row: node id, time (ms), values, as bits so that comparisons are exact.
pub type Row = (u32, u64, Vec<u64>);

/// Every row of the recording `label` in `state` (all ranks, all parts), sorted by (node, time).
pub fn table(out: &Path, label: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let dir = out.join("state");
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!("{label}-rank")) else { continue };
        assert!(!name.ends_with(".partial"), "an unfinished part was left: {name}");
        assert_eq!(rest.split('-').count(), 3, "{name}: <label>-rank<r>-<from>-<to>.<ext>");
        if name.ends_with(".parquet") {
            rows.extend(read_parquet(&path));
        } else if name.ends_with(".npy") {
            let ((n, cols), v) = cajal::core::npy::read_2d(&path).unwrap();
            for r in 0..n {
                let row = &v[r * cols..(r + 1) * cols];
                rows.push((row[0] as u32, row[1].to_bits(), row[2..].iter().map(|x| x.to_bits()).collect()));
            }
        }
    }
    rows.sort_by(|a, b| (a.0, f64::from_bits(a.1)).partial_cmp(&(b.0, f64::from_bits(b.1))).unwrap());
    rows
}

pub fn read_parquet(path: &Path) -> Vec<Row> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(&names[..2], ["node_id", "time_ms"], "{}", path.display());
        let ids = batch.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
        let cols: Vec<&Float64Array> = (1..batch.num_columns())
            .map(|c| batch.column(c).as_any().downcast_ref::<Float64Array>().unwrap())
            .collect();
        for r in 0..batch.num_rows() {
            rows.push((
                ids.value(r),
                cols[0].value(r).to_bits(),
                cols[1..].iter().map(|c| c.value(r).to_bits()).collect(),
            ));
        }
    }
    rows
}
