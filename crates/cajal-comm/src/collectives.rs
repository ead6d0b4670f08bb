//! Byte buffers over the communicator's u64 collectives: every rank's bytes gathered in rank order, and one
//! rank's bytes (or u32 values) broadcast to all. A buffer travels as one length word followed by its items
//! packed little-endian into u64 words (8 bytes or 2 u32 values a word, the last word zero-padded).

use crate::{CommError, Communicator};

/// The length word a root sends when its caller gave it nothing, so that every rank fails alike instead of
/// waiting for a root that left the collective.
const NO_DATA: u64 = u64::MAX;

/// Every rank's `bytes`, in rank order. Collective. In a dry run every rank's buffer is this one's (the
/// back end's all-gather repeats this rank's part).
pub fn gather_bytes(comm: &mut dyn Communicator, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CommError> {
    let all = comm.all_gather_u64(&framed(bytes.len(), byte_words(bytes)))?;
    let mut out = Vec::with_capacity(comm.size());
    let mut rest = &all[..];
    while !rest.is_empty() {
        let (len, body, tail) = unframe(rest, 8)?;
        out.push(bytes_of(body, len));
        rest = tail;
    }
    Ok(out)
}

/// `root`'s bytes on every rank. Collective. `bytes` must be `Some` where
/// [`Communicator::acts_as_root`] is true (on `root`, and in a dry run on its one process) and is ignored
/// elsewhere; a root without data makes every rank fail with [`CommError::Invalid`].
pub fn broadcast_bytes(comm: &mut dyn Communicator, root: usize, bytes: Option<&[u8]>) -> Result<Vec<u8>, CommError> {
    let mut words = match bytes {
        Some(b) if comm.acts_as_root(root) => framed(b.len(), byte_words(b)),
        _ => vec![NO_DATA],
    };
    comm.broadcast_u64(root, &mut words)?;
    let (len, body) = unframe_exact(&words, 8, root)?;
    Ok(bytes_of(body, len))
}

/// `root`'s values on every rank, two to a word (half the traffic of one u64 each). Collective; `values`
/// as `bytes` of [`broadcast_bytes`].
pub fn broadcast_u32s(comm: &mut dyn Communicator, root: usize, values: Option<&[u32]>) -> Result<Vec<u32>, CommError> {
    let mut words = match values {
        Some(v) if comm.acts_as_root(root) => framed(v.len(), v.chunks(2).map(pair_word)),
        _ => vec![NO_DATA],
    };
    comm.broadcast_u64(root, &mut words)?;
    let (len, body) = unframe_exact(&words, 2, root)?;
    Ok(body.iter().flat_map(|&w| [w as u32, (w >> 32) as u32]).take(len).collect())
}

/// The length word followed by the body words.
fn framed(len: usize, body: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut words = vec![len as u64];
    words.extend(body);
    words
}

/// Up to 8 bytes as one little-endian word.
fn byte_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

/// Up to 2 values as one word, the first in the low half.
fn pair_word(pair: &[u32]) -> u64 {
    pair.iter().rev().fold(0, |w, &v| (w << 32) | u64::from(v))
}

/// The first `len` bytes of `body`.
fn bytes_of(body: &[u64], len: usize) -> Vec<u8> {
    body.iter().flat_map(|w| w.to_le_bytes()).take(len).collect()
}

/// Splits the first framed buffer (items of `per_word` to a word) off `words`: (its length in items, its
/// body, what follows).
fn unframe(words: &[u64], per_word: usize) -> Result<(usize, &[u64], &[u64]), CommError> {
    let (&len, rest) = words.split_first().ok_or_else(|| CommError::Invalid("a buffer without its length".into()))?;
    let truncated = || CommError::Invalid(format!("a buffer of {len} items is truncated"));
    let len = usize::try_from(len).map_err(|_| truncated())?;
    let n_words = len.div_ceil(per_word);
    if n_words > rest.len() {
        return Err(truncated());
    }
    let (body, tail) = rest.split_at(n_words);
    Ok((len, body, tail))
}

/// The one framed buffer a broadcast from `root` carried.
fn unframe_exact(words: &[u64], per_word: usize, root: usize) -> Result<(usize, &[u64]), CommError> {
    if words.first() == Some(&NO_DATA) {
        return Err(CommError::Invalid(format!("rank {root} had nothing to broadcast")));
    }
    match unframe(words, per_word)? {
        (len, body, []) => Ok((len, body)),
        (len, ..) => Err(CommError::Invalid(format!("a broadcast of {len} items carried extra words"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{threads_world, DryRun, Local};

    /// Runs `f` on each rank of an in-process world of `n`.
    fn on_ranks(n: usize, f: impl Fn(&mut dyn Communicator) + Sync) {
        let world = threads_world(n);
        std::thread::scope(|s| {
            for mut c in world {
                let f = &f;
                s.spawn(move || f(&mut c));
            }
        });
    }

    /// Rank r's bytes: r + 1 bytes counting up from 10 r (lengths on both sides of a word boundary).
    fn bytes_of_rank(r: usize) -> Vec<u8> {
        (0..r * 4 + 1).map(|i| (10 * r + i) as u8).collect()
    }

    #[test]
    fn gathers_every_ranks_bytes_in_rank_order() {
        on_ranks(4, |c| {
            let mine = bytes_of_rank(c.rank());
            let got = gather_bytes(c, &mine).unwrap();
            assert_eq!(got, (0..4).map(bytes_of_rank).collect::<Vec<_>>());
        });
        assert_eq!(gather_bytes(&mut Local, b"abc").unwrap(), vec![b"abc".to_vec()]);
        assert_eq!(gather_bytes(&mut Local, b"").unwrap(), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn broadcasts_the_roots_bytes_and_values_to_every_rank() {
        on_ranks(3, |c| {
            for root in 0..3 {
                let mine = bytes_of_rank(c.rank() + root);
                let given = c.acts_as_root(root).then_some(&mine[..]);
                let got = broadcast_bytes(c, root, given).unwrap();
                assert_eq!(got, bytes_of_rank(2 * root), "root {root}");
                let values: Vec<u32> = (0..2 * root as u32 + 1).map(|v| u32::MAX - v).collect();
                let got = broadcast_u32s(c, root, Some(&values)).unwrap();
                assert_eq!(got, values, "root {root}");
            }
            assert_eq!(broadcast_bytes(c, 1, Some(b"")).unwrap(), b"");
        });
        assert_eq!(broadcast_bytes(&mut Local, 0, Some(b"local")).unwrap(), b"local");
        assert_eq!(broadcast_u32s(&mut Local, 0, Some(&[7, 8, 9])).unwrap(), vec![7, 8, 9]);
    }

    #[test]
    fn a_root_without_data_fails_on_every_rank() {
        on_ranks(2, |c| {
            let ours = [1u8, 2];
            let given = (c.rank() == 1).then_some(&ours[..]);
            let e = broadcast_bytes(c, 0, given).unwrap_err();
            assert!(e.to_string().contains("rank 0 had nothing to broadcast"), "{e}");
            assert!(matches!(broadcast_u32s(c, 2, Some(&[1])), Err(CommError::Invalid(_))));
        });
    }

    #[test]
    fn a_dry_run_plays_the_root_of_every_broadcast() {
        // Rank 2 of 5: it gathers five copies of its own buffer and, standing in for every root, receives
        // the data it supplied, which it must have computed as the root would.
        let mut c = DryRun::new(2, 5);
        assert!((0..5).all(|root| c.acts_as_root(root)));
        assert_eq!(gather_bytes(&mut c, b"xy").unwrap(), vec![b"xy".to_vec(); 5]);
        assert_eq!(broadcast_bytes(&mut c, 0, Some(b"table")).unwrap(), b"table");
        assert_eq!(broadcast_u32s(&mut c, 4, Some(&[3, 1, 4])).unwrap(), vec![3, 1, 4]);
        assert!(broadcast_bytes(&mut c, 0, None).is_err());
        assert!(broadcast_bytes(&mut c, 5, Some(b"")).is_err());
    }

    #[test]
    fn truncated_gathers_are_refused() {
        assert!(unframe(&[17, 0], 8).is_err());
        assert!(unframe(&[], 8).is_err());
        assert!(unframe_exact(&[1, 5, 6], 8, 0).is_err());
        assert_eq!(pair_word(&[1, 2]), (2 << 32) | 1);
        assert_eq!(pair_word(&[3]), 3);
    }
}
