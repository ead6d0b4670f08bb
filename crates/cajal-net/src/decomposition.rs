//! Decomposition as data, balancing as functions: a [`Decomposition`] maps every neuron to a rank, and a
//! rank's neurons (and a thread's share of them) are always an arithmetic sequence of gids, so a rank needs
//! no per-neuron table to find its neurons or the local index of one of them.

use cajal_core::Gid;

use crate::NetError;

/// How neurons are spread over ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balancer {
    /// gid g goes to rank g mod P (NEST's scheme; every rank gets a share of every population).
    RoundRobin,
    /// Contiguous blocks with equal expected cost (an update plus the expected in-degree per neuron).
    CostBlocks,
}

impl std::str::FromStr for Balancer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "round-robin" => Ok(Self::RoundRobin),
            "cost-blocks" | "block" => Ok(Self::CostBlocks),
            other => Err(format!("unknown balancer `{other}`; known: round-robin, cost-blocks (or block)")),
        }
    }
}

/// The neurons `first + stride * i` for `i` in `0..count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    pub first: Gid,
    pub stride: Gid,
    pub count: u32,
}

impl Strided {
    /// The gid of local index `i`.
    #[inline]
    #[must_use]
    pub fn gid(&self, i: u32) -> Gid {
        self.first + self.stride * i
    }

    /// The local index of `gid`, if it belongs here.
    #[inline]
    #[must_use]
    pub fn index_of(&self, gid: Gid) -> Option<u32> {
        let off = gid.checked_sub(self.first)?;
        (off % self.stride == 0 && off / self.stride < self.count).then_some(off / self.stride)
    }

    /// Thread `t` of `threads` takes every `threads`-th of these neurons, starting with the `t`-th.
    #[must_use]
    pub fn round_robin_share(&self, t: u32, threads: u32) -> Strided {
        let count = if t >= self.count { 0 } else { (self.count - t).div_ceil(threads) };
        Strided { first: self.first + self.stride * t, stride: self.stride * threads, count }
    }
}

/// Which rank owns which neuron.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decomposition {
    n: Gid,
    /// Rank r owns `starts[r]..starts[r + 1]` (blocks), or `None` for round-robin.
    starts: Option<Vec<Gid>>,
    size: usize,
}

impl Decomposition {
    /// Spreads `n` neurons over `size` ranks with `balancer`; `cost(gid)` is the expected cost of a neuron
    /// (used by [`Balancer::CostBlocks`]). Every rank gets at least one neuron.
    pub fn new(n: Gid, size: usize, balancer: Balancer, cost: impl Fn(Gid) -> f64) -> Result<Self, NetError> {
        if size == 0 || size as u64 > u64::from(n) {
            return Err(NetError::Invalid(format!("the model has {n} neurons and cannot be split over {size} ranks")));
        }
        let starts = match balancer {
            Balancer::RoundRobin => None,
            Balancer::CostBlocks => Some(cost_blocks(n, size, cost)),
        };
        Ok(Self { n, starts, size })
    }

    /// Number of ranks.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The rank that owns `gid`.
    #[must_use]
    pub fn rank_of(&self, gid: Gid) -> usize {
        match &self.starts {
            None => gid as usize % self.size,
            Some(starts) => starts.partition_point(|&s| s <= gid) - 1,
        }
    }

    /// The neurons of `rank`.
    #[must_use]
    pub fn neurons_of(&self, rank: usize) -> Strided {
        match &self.starts {
            None => {
                let r = rank as Gid;
                let count = if r >= self.n { 0 } else { (self.n - r).div_ceil(self.size as Gid) };
                Strided { first: r, stride: self.size as Gid, count }
            }
            Some(starts) => Strided { first: starts[rank], stride: 1, count: starts[rank + 1] - starts[rank] },
        }
    }
}

/// Block starts (len size + 1) cutting the cumulative cost into `size` equal shares, each block non-empty.
fn cost_blocks(n: Gid, size: usize, cost: impl Fn(Gid) -> f64) -> Vec<Gid> {
    let total: f64 = (0..n).map(&cost).sum();
    let mut starts = vec![0; size + 1];
    starts[size] = n;
    let mut acc = 0.0;
    let mut next = 1;
    for g in 0..n {
        while next < size && acc >= total * next as f64 / size as f64 {
            starts[next] = g;
            next += 1;
        }
        acc += cost(g);
    }
    while next < size {
        starts[next] = n;
        next += 1;
    }
    // Every block gets at least one neuron (size <= n was checked).
    for r in 1..size {
        starts[r] = starts[r].max(starts[r - 1] + 1).min(n - (size - r) as Gid);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners_cover_everything_once(d: &Decomposition, n: Gid) {
        let mut seen = vec![0u32; n as usize];
        for r in 0..d.size() {
            let s = d.neurons_of(r);
            assert!(s.count >= 1, "rank {r} is empty");
            for i in 0..s.count {
                let g = s.gid(i);
                assert_eq!(d.rank_of(g), r);
                assert_eq!(s.index_of(g), Some(i));
                seen[g as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn round_robin_and_blocks_cover_every_neuron_once() {
        for (n, p) in [(10, 3), (7717, 4), (5, 5), (1000, 7)] {
            owners_cover_everything_once(&Decomposition::new(n, p, Balancer::RoundRobin, |_| 1.0).unwrap(), n);
            owners_cover_everything_once(
                &Decomposition::new(n, p, Balancer::CostBlocks, |g| f64::from(g % 13)).unwrap(),
                n,
            );
        }
    }

    #[test]
    fn cost_blocks_balance_cost_not_count() {
        // The first half of the neurons costs 3x the second half.
        let cost = |g: Gid| if g < 600 { 3.0 } else { 1.0 };
        let d = Decomposition::new(1200, 2, Balancer::CostBlocks, cost).unwrap();
        assert_eq!(d.neurons_of(0).count, 400);
        assert_eq!(d.neurons_of(1).count, 800);
    }

    #[test]
    fn thread_shares_partition_a_rank() {
        let d = Decomposition::new(103, 2, Balancer::RoundRobin, |_| 1.0).unwrap();
        let rank = d.neurons_of(1);
        let mut gids: Vec<Gid> = (0..3)
            .flat_map(|t| {
                let s = rank.round_robin_share(t, 3);
                (0..s.count).map(move |i| s.gid(i))
            })
            .collect();
        gids.sort_unstable();
        assert_eq!(gids, (0..rank.count).map(|i| rank.gid(i)).collect::<Vec<_>>());
    }

    #[test]
    fn more_ranks_than_neurons_is_an_error() {
        let e = Decomposition::new(3, 4, Balancer::RoundRobin, |_| 1.0).unwrap_err();
        assert!(e.to_string().contains("3 neurons"), "{e}");
    }
}
