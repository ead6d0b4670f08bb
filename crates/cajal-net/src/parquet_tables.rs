//! Node and edge tables as Parquet files: read batch by batch (row groups), columns cast to the types the
//! tables need, so integer ids and float weights of any width are accepted; and written, one row group per
//! batch, by `cajal export-connectome --format parquet`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::{Float32Type, Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, Float32Array, Float64Array, PrimitiveArray, RecordBatch, StringArray,
    UInt32Array,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use crate::NetError;

/// Rows read per batch.
const BATCH_ROWS: usize = 65_536;

fn fail(path: &Path, reason: impl std::fmt::Display) -> NetError {
    NetError::Invalid(format!("{}: {reason}", path.display()))
}

/// One batch of a table, its columns cast: ids and names as text-free typed arrays.
pub struct Columns {
    /// Row number (1-based, as a data row) of the batch's first row.
    pub first_row: usize,
    pub columns: Vec<Option<ArrayRef>>,
}

/// The names of `path`'s columns.
pub fn column_names(path: &Path) -> Result<Vec<String>, NetError> {
    let file = std::fs::File::open(path).map_err(|e| fail(path, format!("cannot read: {e}")))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(path, format!("not a Parquet file: {e}")))?;
    Ok(builder.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// Streams `path` batch by batch, with the `required` columns (cast to `types`) and the `optional` ones
/// that exist; calls `batch` for each.
pub fn for_each_batch(
    path: &Path,
    wanted: &[(&str, DataType, bool)],
    mut batch: impl FnMut(&Columns) -> Result<(), NetError>,
) -> Result<(), NetError> {
    let file = std::fs::File::open(path).map_err(|e| fail(path, format!("cannot read: {e}")))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(path, format!("not a Parquet file: {e}")))?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| fail(path, e))?;
    let mut first_row = 1;
    for record in reader {
        let record = record.map_err(|e| fail(path, format!("rows from {first_row}: {e}")))?;
        let mut columns = Vec::with_capacity(wanted.len());
        for (name, ty, required) in wanted {
            match record.column_by_name(name) {
                Some(c) => {
                    let cast = arrow_cast::cast(c, ty).map_err(|e| fail(path, format!("column `{name}`: {e}")))?;
                    columns.push(Some(cast));
                }
                None if *required => return Err(fail(path, format!("no column `{name}`"))),
                None => columns.push(None),
            }
        }
        batch(&Columns { first_row, columns })?;
        first_row += record.num_rows();
    }
    Ok(())
}

/// Column `k` of a batch as the array type it was cast to.
fn column<'c, A: 'static>(path: &Path, c: &'c Columns, k: usize, name: &str) -> Result<&'c A, NetError> {
    c.columns[k]
        .as_ref()
        .and_then(|a| a.as_any().downcast_ref::<A>())
        .ok_or_else(|| fail(path, format!("column `{name}` is missing")))
}

/// Every value of `a`; a null is refused with its row.
fn non_null<A: Array, T>(
    path: &Path,
    c: &Columns,
    a: &A,
    name: &str,
    value: impl Fn(usize) -> T,
) -> Result<Vec<T>, NetError> {
    (0..a.len())
        .map(|i| match a.is_null(i) {
            true => Err(fail(path, format!("row {}: `{name}` is empty", c.first_row + i))),
            false => Ok(value(i)),
        })
        .collect()
}

/// The values of a cast numeric column.
fn numbers<T: ArrowPrimitiveType>(path: &Path, c: &Columns, k: usize, name: &str) -> Result<Vec<T::Native>, NetError> {
    let a = column::<PrimitiveArray<T>>(path, c, k, name)?;
    non_null(path, c, a, name, |i| a.value(i))
}

/// The i64 values of a cast column; a null is refused with its row.
pub fn ints(path: &Path, c: &Columns, k: usize, name: &str) -> Result<Vec<i64>, NetError> {
    numbers::<Int64Type>(path, c, k, name)
}

/// The f64 values of a cast column; a null is refused with its row.
pub fn floats(path: &Path, c: &Columns, k: usize, name: &str) -> Result<Vec<f64>, NetError> {
    numbers::<Float64Type>(path, c, k, name)
}

/// The f32 values of a cast column (weights: read at the width the engine stores).
pub fn floats32(path: &Path, c: &Columns, k: usize, name: &str) -> Result<Vec<f32>, NetError> {
    numbers::<Float32Type>(path, c, k, name)
}

/// The text values of a cast column.
pub fn texts(path: &Path, c: &Columns, k: usize, name: &str) -> Result<Vec<String>, NetError> {
    let a = column::<StringArray>(path, c, k, name)?;
    non_null(path, c, a, name, |i| a.value(i).to_owned())
}

/// Writes batches of rows to a Parquet file.
pub struct TableWriter {
    writer: ArrowWriter<std::fs::File>,
}

impl TableWriter {
    /// A writer for the schema of `first`, which it writes.
    pub fn create(path: &Path, first: &RecordBatch) -> Result<Self, NetError> {
        let file = std::fs::File::create(path).map_err(|e| fail(path, format!("cannot create: {e}")))?;
        let mut writer = ArrowWriter::try_new(file, first.schema(), None).map_err(|e| fail(path, e))?;
        writer.write(first).map_err(|e| fail(path, e))?;
        Ok(Self { writer })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), NetError> {
        self.writer.write(batch).map_err(|e| NetError::Invalid(format!("writing Parquet: {e}")))
    }

    /// Writes the footer.
    pub fn finish(self) -> Result<(), NetError> {
        self.writer.close().map(|_| ()).map_err(|e| NetError::Invalid(format!("writing Parquet: {e}")))
    }
}

/// A batch of edges.
pub fn edge_batch(
    pre: Vec<u32>,
    post: Vec<u32>,
    weight: Vec<f32>,
    delay_ms: Vec<f64>,
) -> Result<RecordBatch, NetError> {
    RecordBatch::try_from_iter(vec![
        ("pre", Arc::new(UInt32Array::from(pre)) as ArrayRef),
        ("post", Arc::new(UInt32Array::from(post)) as ArrayRef),
        ("weight", Arc::new(Float32Array::from(weight)) as ArrayRef),
        ("delay_ms", Arc::new(Float64Array::from(delay_ms)) as ArrayRef),
    ])
    .map_err(|e| NetError::Invalid(format!("building an edge batch: {e}")))
}

/// A batch of nodes (positions and per-neuron value columns when given).
pub fn node_batch(
    id: Vec<u32>,
    population: Vec<String>,
    xyz: Option<[Vec<f64>; 3]>,
    values: Vec<(&str, Vec<f64>)>,
) -> Result<RecordBatch, NetError> {
    let mut columns = vec![
        ("id", Arc::new(UInt32Array::from(id)) as ArrayRef),
        ("population", Arc::new(StringArray::from(population)) as ArrayRef),
    ];
    if let Some([x, y, z]) = xyz {
        columns.push(("x", Arc::new(Float64Array::from(x)) as ArrayRef));
        columns.push(("y", Arc::new(Float64Array::from(y)) as ArrayRef));
        columns.push(("z", Arc::new(Float64Array::from(z)) as ArrayRef));
    }
    for (name, v) in values {
        columns.push((name, Arc::new(Float64Array::from(v)) as ArrayRef));
    }
    RecordBatch::try_from_iter(columns).map_err(|e| NetError::Invalid(format!("building a node batch: {e}")))
}
