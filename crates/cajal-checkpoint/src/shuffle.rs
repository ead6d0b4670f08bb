//! Byte shuffling of numeric columns before compression: the k-th bytes of all values go together, so the
//! slowly varying high bytes of floats form long runs that zstd compresses well (and faster).

/// Shuffles `data` made of `width`-byte values: output holds byte 0 of every value, then byte 1, ...
#[must_use]
pub fn shuffle(data: &[u8], width: usize) -> Vec<u8> {
    let n = data.len() / width;
    let mut out = vec![0u8; data.len()];
    for (i, value) in data.chunks_exact(width).enumerate() {
        for (b, &byte) in value.iter().enumerate() {
            out[b * n + i] = byte;
        }
    }
    out
}

/// Inverse of [`shuffle`].
#[must_use]
pub fn unshuffle(data: &[u8], width: usize) -> Vec<u8> {
    let n = data.len() / width;
    let mut out = vec![0u8; data.len()];
    for (i, value) in out.chunks_exact_mut(width).enumerate() {
        for (b, byte) in value.iter_mut().enumerate() {
            *byte = data[b * n + i];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn unshuffle_inverts_shuffle() {
        let data: Vec<u8> = (0..64u8).collect();
        for width in [1, 2, 4, 8] {
            assert_eq!(super::unshuffle(&super::shuffle(&data, width), width), data);
        }
        assert_eq!(super::shuffle(&[1, 2, 3, 4], 2), vec![1, 3, 2, 4]);
    }
}
