//! A set of neurons held by a rank or a thread: an arithmetic sequence of gids (round-robin and block
//! decompositions need no table), or an explicit ascending list (spatial and graph decompositions).

use std::sync::Arc;

use crate::Gid;

/// The neurons of a rank or a thread, in ascending gid order; local index i is the i-th of them. Checkpoints
/// store it as it is (a shard names its neurons with the sets of the threads that wrote it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NeuronSet {
    /// `first + stride * i` for `i` in `0..count`.
    Strided { first: Gid, stride: Gid, count: u32 },
    /// Explicit gids, ascending.
    List(Arc<[Gid]>),
}

impl NeuronSet {
    /// The set `first + stride * i` for `i` in `0..count`.
    #[must_use]
    pub fn strided(first: Gid, stride: Gid, count: u32) -> Self {
        Self::Strided { first, stride: stride.max(1), count }
    }

    /// Number of neurons.
    #[inline]
    #[must_use]
    pub fn len(&self) -> u32 {
        match self {
            Self::Strided { count, .. } => *count,
            Self::List(gids) => gids.len() as u32,
        }
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The gid of local index `i` (< len).
    #[inline]
    #[must_use]
    pub fn gid(&self, i: u32) -> Gid {
        match self {
            Self::Strided { first, stride, .. } => first + stride * i,
            Self::List(gids) => gids[i as usize],
        }
    }

    /// The local index of `gid`, if it belongs here.
    #[inline]
    #[must_use]
    pub fn index_of(&self, gid: Gid) -> Option<u32> {
        match self {
            Self::Strided { first, stride, count } => {
                let off = gid.checked_sub(*first)?;
                (off % stride == 0 && off / stride < *count).then_some(off / stride)
            }
            Self::List(gids) => gids.binary_search(&gid).ok().map(|i| i as u32),
        }
    }

    /// Thread `t` of `threads` takes every `threads`-th of these neurons, starting with the `t`-th (so local
    /// index i of the set is index i / threads of thread i % threads).
    #[must_use]
    pub fn round_robin_share(&self, t: u32, threads: u32) -> Self {
        let threads = threads.max(1);
        match self {
            Self::Strided { first, stride, count } => {
                let share = if t >= *count { 0 } else { (count - t).div_ceil(threads) };
                Self::strided(first + stride * t, stride * threads, share)
            }
            Self::List(gids) => Self::List(gids.iter().skip(t as usize).step_by(threads as usize).copied().collect()),
        }
    }

    /// The gids in order.
    pub fn iter(&self) -> impl Iterator<Item = Gid> + '_ {
        (0..self.len()).map(|i| self.gid(i))
    }

    /// Refuses a set read from a file that would not answer as a set: a stride of 0 or one that runs past
    /// the largest gid, or a list that is not strictly ascending. Sets from files pass this before
    /// [`NeuronSet::gid`] or [`NeuronSet::index_of`] are used.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Strided { first, stride, count } => {
                if *stride == 0 {
                    return Err(format!("the neuron set {first} + 0 x i has a stride of 0"));
                }
                if let Some(last_index) = count.checked_sub(1) {
                    let last = u64::from(*first) + u64::from(*stride) * u64::from(last_index);
                    if last > u64::from(Gid::MAX) {
                        return Err(format!(
                            "the neuron set {first} + {stride} x i (i < {count}) runs past gid {}",
                            Gid::MAX
                        ));
                    }
                }
                Ok(())
            }
            Self::List(gids) => match gids.windows(2).find(|w| w[0] >= w[1]) {
                Some(w) => Err(format!("a neuron list is not ascending: {} then {}", w[0], w[1])),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_and_listed_sets_answer_alike() {
        let s = NeuronSet::strided(3, 4, 5); // 3 7 11 15 19
        let l = NeuronSet::List(vec![3, 7, 11, 15, 19].into());
        for set in [&s, &l] {
            assert_eq!(set.len(), 5);
            assert_eq!(set.gid(2), 11);
            assert_eq!(set.index_of(15), Some(3));
            assert_eq!(set.index_of(16), None);
            assert_eq!(set.index_of(2), None);
            assert_eq!(set.round_robin_share(1, 2).iter().collect::<Vec<_>>(), vec![7, 15]);
            assert_eq!(set.round_robin_share(7, 2).len(), 0);
        }
        assert!(NeuronSet::List(Vec::new().into()).is_empty());
    }

    #[test]
    fn sets_that_cannot_answer_are_refused() {
        assert!(NeuronSet::Strided { first: 0, stride: 0, count: 2 }.check().is_err());
        assert!(NeuronSet::Strided { first: u32::MAX - 1, stride: 2, count: 2 }.check().is_err());
        assert!(NeuronSet::Strided { first: u32::MAX - 2, stride: 2, count: 2 }.check().is_ok());
        assert!(NeuronSet::List(vec![1, 1].into()).check().is_err());
        assert!(NeuronSet::List(vec![3, 2].into()).check().is_err());
        assert!(NeuronSet::List(vec![2, 3].into()).check().is_ok());
    }
}
