//! Byte shuffling of numeric columns before compression: the k-th bytes of all values go together, so the
//! slowly varying high bytes of floats (and the zero bytes of small integers) form long runs that zstd
//! compresses better and faster. Works on the values directly, one pass per byte plane.

/// The bytes of `values` (`WIDTH`-byte little-endian integers given as u64), byte plane by byte plane.
fn shuffle_planes<const WIDTH: usize>(values: impl Iterator<Item = u64> + Clone, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * WIDTH];
    for (b, plane) in out.chunks_exact_mut(n.max(1)).enumerate().take(WIDTH) {
        for (o, v) in plane.iter_mut().zip(values.clone()) {
            *o = (v >> (8 * b)) as u8;
        }
    }
    out
}

/// Shuffled bytes of an f64 column.
#[must_use]
pub fn shuffle_f64(v: &[f64]) -> Vec<u8> {
    shuffle_planes::<8>(v.iter().map(|x| x.to_bits()), v.len())
}

/// Shuffled bytes of an f32 column.
#[must_use]
pub fn shuffle_f32(v: &[f32]) -> Vec<u8> {
    shuffle_planes::<4>(v.iter().map(|x| u64::from(x.to_bits())), v.len())
}

/// Shuffled bytes of a u32 column.
#[must_use]
pub fn shuffle_u32(v: &[u32]) -> Vec<u8> {
    shuffle_planes::<4>(v.iter().map(|&x| u64::from(x)), v.len())
}

/// The integers whose shuffled bytes are `data` (each `WIDTH` bytes wide).
fn unshuffle_planes<const WIDTH: usize>(data: &[u8]) -> Vec<u64> {
    let n = data.len() / WIDTH;
    let mut out = vec![0u64; n];
    for (b, plane) in data.chunks_exact(n.max(1)).enumerate().take(WIDTH) {
        for (v, &byte) in out.iter_mut().zip(plane) {
            *v |= u64::from(byte) << (8 * b);
        }
    }
    out
}

/// An f64 column from its shuffled bytes.
#[must_use]
pub fn unshuffle_f64(data: &[u8]) -> Vec<f64> {
    unshuffle_planes::<8>(data).into_iter().map(f64::from_bits).collect()
}

/// An f32 column from its shuffled bytes.
#[must_use]
pub fn unshuffle_f32(data: &[u8]) -> Vec<f32> {
    unshuffle_planes::<4>(data).into_iter().map(|v| f32::from_bits(v as u32)).collect()
}

/// A u32 column from its shuffled bytes.
#[must_use]
pub fn unshuffle_u32(data: &[u8]) -> Vec<u32> {
    unshuffle_planes::<4>(data).into_iter().map(|v| v as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffle_inverts_shuffle() {
        let f: Vec<f64> = (0..100).map(|i| f64::from(i) * -0.37).collect();
        assert_eq!(unshuffle_f64(&shuffle_f64(&f)), f);
        let g: Vec<f32> = (0..100).map(|i| i as f32 * 1.5e-3).collect();
        assert_eq!(unshuffle_f32(&shuffle_f32(&g)), g);
        let u: Vec<u32> = (0..100).map(|i| i * 77_777).collect();
        assert_eq!(unshuffle_u32(&shuffle_u32(&u)), u);
        assert!(shuffle_f64(&[]).is_empty());
        // Byte planes: the low bytes of both values first.
        assert_eq!(shuffle_u32(&[0x0403_0201, 0x0807_0605]), vec![1, 5, 2, 6, 3, 7, 4, 8]);
    }
}
