//! NumPy `.npy` files of little-endian floats in C order: read a 2-d array (stimulus frames) and stream one
//! out row by row (recorded voltages), so Python users load either with `numpy.load`.

use std::io::Write;
use std::path::Path;

use crate::CoreError;

const MAGIC: &[u8] = b"\x93NUMPY";

fn bad(path: &Path, reason: impl std::fmt::Display) -> CoreError {
    CoreError::File { path: path.to_owned(), reason: reason.to_string() }
}

/// The value of `key` in a header dict like `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

/// Reads a 2-d array of f8 or f4 (little-endian, C order): returns ((rows, columns), values row-major).
pub fn read_2d(path: &Path) -> Result<((usize, usize), Vec<f64>), CoreError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(path, "not a .npy file (no NUMPY magic)"));
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10_usize),
        2 | 3 if bytes.len() >= 12 => {
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(len).map_err(|_| bad(path, format!("header length {len} is too large")))?, 12)
        }
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    let end = start.checked_add(len).filter(|&e| e <= bytes.len());
    let end = end.ok_or_else(|| bad(path, format!("truncated header: {len} bytes announced")))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad(path, "header is not text"))?;
    let descr = header_value(header, "descr").ok_or_else(|| bad(path, "header has no descr"))?;
    let width: usize = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f8" => 8,
        "<f4" => 4,
        other => return Err(bad(path, format!("dtype {other}: expected little-endian float64 or float32"))),
    };
    if header_value(header, "fortran_order") != Some("False") {
        return Err(bad(path, "Fortran order is not supported: save the array in C order"));
    }
    let shape = header_value(header, "shape").ok_or_else(|| bad(path, "header has no shape"))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(path, format!("shape {shape} is not a tuple of sizes")))?;
    let [rows, cols] = dims[..] else { return Err(bad(path, format!("shape {shape}: expected 2 dimensions"))) };
    // Checked: a crafted shape such as (721, 2^61) would otherwise wrap to a small byte count, pass the size
    // check below and make the caller allocate by the shape.
    let needed = rows.checked_mul(cols).and_then(|n| n.checked_mul(width)).ok_or_else(|| {
        bad(path, format!("shape ({rows}, {cols}) of {width}-byte values is too large: its byte count overflows"))
    })?;
    let data = &bytes[end..];
    if data.len() != needed {
        return Err(bad(path, format!("shape {shape} needs {needed} data bytes, found {}", data.len())));
    }
    let values = if width == 8 {
        data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
    } else {
        data.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))).collect()
    };
    Ok(((rows, cols), values))
}

/// The bytes before the data of a version 1 float64 (rows, columns) array: magic, version, header length,
/// header padded so that the data starts on a multiple of 64.
fn header_bytes(rows: usize, columns: usize) -> std::io::Result<Vec<u8>> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| std::io::Error::other("array header too long"))?;
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    Ok(bytes)
}

/// Writes a (rows, columns) float64 array row by row.
#[derive(Debug)]
pub struct NpyWriter {
    file: std::io::BufWriter<std::fs::File>,
    remaining: usize,
}

impl NpyWriter {
    /// Creates `path` for a (rows, columns) array.
    pub fn create(path: &Path, rows: usize, columns: usize) -> std::io::Result<Self> {
        let remaining = rows
            .checked_mul(columns)
            .ok_or_else(|| std::io::Error::other(format!("an array of {rows} x {columns} values is too large")))?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        file.write_all(&header_bytes(rows, columns)?)?;
        Ok(Self { file, remaining })
    }

    /// Reopens `path`, written by [`NpyWriter::create`] for a (rows, columns) array and holding `len` bytes
    /// (its header and whole rows), to append the remaining rows after them. Refuses a file whose header
    /// is not the one `create` writes or whose length does not end on a row.
    pub fn reopen(path: &Path, rows: usize, columns: usize, len: u64) -> std::io::Result<Self> {
        let header = header_bytes(rows, columns)?;
        let total = rows.checked_mul(columns).ok_or_else(|| std::io::Error::other("array too large"))?;
        let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        let mut found = vec![0u8; header.len()];
        std::io::Read::read_exact(&mut file, &mut found)?;
        let data = len.checked_sub(header.len() as u64).filter(|d| d % (8 * columns.max(1) as u64) == 0);
        let written = data.map(|d| (d / 8) as usize).filter(|&w| w <= total);
        let (true, Some(written)) = (found == header, written) else {
            return Err(std::io::Error::other(format!(
                "not the ({rows}, {columns}) array this run writes, or {len} bytes do not end on a row"
            )));
        };
        file.set_len(len)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(len))?;
        Ok(Self { file: std::io::BufWriter::new(file), remaining: total - written })
    }

    /// Writes what is buffered to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// Appends values (whole rows, row-major).
    pub fn write(&mut self, values: &[f64]) -> std::io::Result<()> {
        if values.len() > self.remaining {
            return Err(std::io::Error::other("more values than the array's shape holds"));
        }
        self.remaining -= values.len();
        for v in values {
            self.file.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    }

    /// Flushes; fails if fewer values were written than the shape promised.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.file.flush()?;
        if self.remaining != 0 {
            return Err(std::io::Error::other(format!("{} values short of the array's shape", self.remaining)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_array_reads_back_and_bad_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("cajal-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        let mut w = NpyWriter::create(&path, 2, 3).unwrap();
        w.write(&[1.0, -2.5, 3.0]).unwrap();
        w.write(&[0.1, 1e-300, f64::MAX]).unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((bytes.len() - 6 * 8) % 64, 0, "the header is padded to 64 bytes");
        let (shape, values) = read_2d(&path).unwrap();
        assert_eq!(shape, (2, 3));
        assert_eq!(values, vec![1.0, -2.5, 3.0, 0.1, 1e-300, f64::MAX]);
        std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
        assert!(read_2d(&path).unwrap_err().to_string().contains("needs 48 data bytes"));
        std::fs::write(&path, b"hello world").unwrap();
        assert!(read_2d(&path).unwrap_err().to_string().contains("not a .npy file"));
        // Reopened after one row: the second row follows and the array is whole.
        let mut w = NpyWriter::create(&path, 2, 3).unwrap();
        w.write(&[1.0, -2.5, 3.0]).unwrap();
        w.flush().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        w.write(&[9.0, 9.0, 9.0]).unwrap();
        w.flush().unwrap();
        let mut w = NpyWriter::reopen(&path, 2, 3, len).unwrap();
        w.write(&[0.1, 1e-300, f64::MAX]).unwrap();
        w.finish().unwrap();
        assert_eq!(read_2d(&path).unwrap().1, vec![1.0, -2.5, 3.0, 0.1, 1e-300, f64::MAX]);
        assert!(NpyWriter::reopen(&path, 2, 3, len - 8).is_err(), "a length inside a row");
        assert!(NpyWriter::reopen(&path, 3, 3, len).is_err(), "another shape");
        let short = NpyWriter::create(&path, 2, 2).unwrap();
        assert!(short.finish().is_err(), "fewer values than the shape");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn float32_arrays_in_version_1_headers_are_read() {
        let dir = std::env::temp_dir().join(format!("cajal-npy32-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }          \n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&0.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-1.0f32).to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_2d(&path).unwrap(), ((1, 2), vec![0.5, -1.0]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_shape_whose_byte_count_overflows_is_refused_naming_the_file_and_shape() {
        // (721, 2^61) of 8-byte floats is 721 x 2^64 bytes: unchecked, the count wraps to 0 and an empty
        // data section passed the size check.
        let dir = std::env::temp_dir().join(format!("cajal-npy-overflow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("huge.npy");
        for (descr, shape) in [("<f8", "(721, 2305843009213693952)"), ("<f4", "(4611686018427387904, 721)")] {
            let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&[1, 0]);
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
            bytes.extend_from_slice(header.as_bytes());
            std::fs::write(&path, bytes).unwrap();
            let e = read_2d(&path).unwrap_err().to_string();
            assert!(e.contains("huge.npy") && e.contains(shape) && e.contains("too large"), "{e}");
        }
        // A header longer than the file is refused, not sliced past the end.
        std::fs::write(&path, [MAGIC, &[2, 0, 0xff, 0xff, 0xff, 0xff]].concat()).unwrap();
        assert!(read_2d(&path).unwrap_err().to_string().contains("truncated header"));
        assert!(NpyWriter::create(&dir.join("w.npy"), usize::MAX, 2).is_err(), "rows x columns overflows");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
