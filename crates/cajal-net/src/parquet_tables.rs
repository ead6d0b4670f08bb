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
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
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

/// Runs a call into the Parquet and Arrow readers, turning a panic into an error that names the file: the
/// parquet crate panics on some corrupt files (page offsets, RLE runs, metadata lengths), and a bad input
/// file must end in an error, not take the run down. Only reader calls run here, never our own code, and a
/// reader that panicked is dropped, never used again.
fn guarded<T>(path: &Path, call: impl FnOnce() -> Result<T, NetError>) -> Result<T, NetError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let message =
            panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied());
        Err(fail(path, format!("corrupt Parquet data ({})", message.unwrap_or("the reader failed"))))
    })
}

/// A reader of `path` that types columns from the Parquet schema alone. The Arrow schema a writer may embed
/// is skipped: decoding it trusts the file (arrow-ipc panics on some corrupt ones), and the tables cast
/// every column to the type they need anyway.
fn reader_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>, NetError> {
    let file = std::fs::File::open(path).map_err(|e| fail(path, format!("cannot read: {e}")))?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    guarded(path, || {
        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(|e| fail(path, format!("not a Parquet file: {e}")))
    })
}

/// The names of `path`'s columns.
pub fn column_names(path: &Path) -> Result<Vec<String>, NetError> {
    Ok(reader_builder(path)?.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// The wanted columns of one batch, cast (None for a missing optional one).
type CastColumns = Vec<Option<ArrayRef>>;

/// The next batch of `reader`: its row count and its `wanted` columns cast, each checked in full (offsets,
/// UTF-8) so that reading values later cannot go out of bounds; None at the end.
fn next_batch(
    path: &Path,
    reader: &mut ParquetRecordBatchReader,
    wanted: &[(&str, DataType, bool)],
    first_row: usize,
) -> Result<Option<(usize, CastColumns)>, NetError> {
    let Some(record) = reader.next() else { return Ok(None) };
    let record = record.map_err(|e| fail(path, format!("rows from {first_row}: {e}")))?;
    let mut columns = Vec::with_capacity(wanted.len());
    for (name, ty, required) in wanted {
        match record.column_by_name(name) {
            Some(c) => {
                let cast = arrow_cast::cast(c, ty).map_err(|e| fail(path, format!("column `{name}`: {e}")))?;
                cast.to_data().validate_full().map_err(|e| fail(path, format!("column `{name}`: {e}")))?;
                columns.push(Some(cast));
            }
            None if *required => return Err(fail(path, format!("no column `{name}`"))),
            None => columns.push(None),
        }
    }
    Ok(Some((record.num_rows(), columns)))
}

/// Streams `path` batch by batch, with the `required` columns (cast to `types`) and the `optional` ones
/// that exist; calls `batch` for each.
pub fn for_each_batch(
    path: &Path,
    wanted: &[(&str, DataType, bool)],
    mut batch: impl FnMut(&Columns) -> Result<(), NetError>,
) -> Result<(), NetError> {
    let builder = reader_builder(path)?.with_batch_size(BATCH_ROWS);
    let mut reader = guarded(path, || builder.build().map_err(|e| fail(path, e)))?;
    let mut first_row = 1;
    while let Some((rows, columns)) = guarded(path, || next_batch(path, &mut reader, wanted, first_row))? {
        batch(&Columns { first_row, columns })?;
        first_row += rows;
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
