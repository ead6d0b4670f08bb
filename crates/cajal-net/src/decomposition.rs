//! Decomposition as data, balancing as functions: a [`Decomposition`] maps every neuron to a rank. Round-robin
//! and block decompositions give each rank an arithmetic sequence of gids (no table needed); the spatial
//! balancer cuts space by recursive bisection (a k-d tree over positions, balanced by expected cost) and
//! keeps the gid -> rank table.

use std::sync::Arc;

use cajal_core::Gid;

pub use cajal_core::neuron_set::NeuronSet;

use crate::space::Point;
use crate::NetError;

/// How neurons are spread over ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balancer {
    /// gid g goes to rank g mod P (NEST's scheme; every rank gets a share of every population).
    RoundRobin,
    /// Contiguous blocks with equal expected cost (an update plus the expected in-degree per neuron).
    CostBlocks,
    /// Recursive bisection of space (a k-d tree over positions) into parts of equal expected cost, so that
    /// neighbours, which connect, share a rank. Needs positions.
    Spatial,
    /// METIS k-way partitioning of the synapse graph (vertex weight: expected cost), cutting as few
    /// synapses as it can; for connectomes without positions. Built from the whole graph on one rank.
    Metis,
}

impl std::str::FromStr for Balancer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "round-robin" => Ok(Self::RoundRobin),
            "cost-blocks" | "block" => Ok(Self::CostBlocks),
            "spatial" => Ok(Self::Spatial),
            "metis" => Ok(Self::Metis),
            other => {
                Err(format!("unknown balancer `{other}`; known: round-robin, cost-blocks (or block), spatial, metis"))
            }
        }
    }
}

impl std::fmt::Display for Balancer {
    /// The command-line name (what `--balancer` takes and summary.json records).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RoundRobin => "round-robin",
            Self::CostBlocks => "cost-blocks",
            Self::Spatial => "spatial",
            Self::Metis => "metis",
        })
    }
}

/// Who owns what.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Assignment {
    RoundRobin,
    /// Rank r owns `starts[r]..starts[r + 1]`.
    Blocks(Vec<Gid>),
    /// Any sets: the owner of every gid, and every rank's gids.
    Table {
        rank_of: Arc<[u32]>,
        members: Vec<Arc<[Gid]>>,
    },
}

/// Which rank owns which neuron.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decomposition {
    n: Gid,
    assignment: Assignment,
    size: usize,
}

impl Decomposition {
    /// Spreads `n` neurons over `size` ranks with `balancer`; `cost(gid)` is the expected cost of a neuron
    /// (used by the cost-based balancers), `position(gid)` where it sits (used by [`Balancer::Spatial`]).
    /// Every rank gets at least one neuron.
    pub fn new(
        n: Gid,
        size: usize,
        balancer: Balancer,
        cost: impl Fn(Gid) -> f64,
        position: impl Fn(Gid) -> Option<Point>,
    ) -> Result<Self, NetError> {
        if size == 0 || size as u64 > u64::from(n) {
            return Err(NetError::Invalid(format!("the model has {n} neurons and cannot be split over {size} ranks")));
        }
        let assignment = match balancer {
            Balancer::RoundRobin => Assignment::RoundRobin,
            Balancer::CostBlocks => Assignment::Blocks(cost_blocks(n, size, cost)),
            Balancer::Spatial => spatial(n, size, cost, position)?,
            Balancer::Metis => {
                return Err(NetError::Invalid(
                    "the metis balancer needs the synapse graph: Decomposition::metis".into(),
                ))
            }
        };
        Ok(Self { n, assignment, size })
    }

    /// The METIS decomposition of the graph whose synapses `edges` calls its argument with (pre, post), in any
    /// order and as often as needed (it is called twice).
    pub fn metis(n: Gid, size: usize, cost: impl Fn(Gid) -> f64, edges: &SynapseGraph<'_>) -> Result<Self, NetError> {
        Self::from_owners(n, size, metis_owners(n, size, cost, edges)?)
    }

    /// A decomposition given by the owner of every gid (e.g. [`metis_owners`] computed on one rank and sent to
    /// the others).
    pub fn from_owners(n: Gid, size: usize, rank_of: Vec<u32>) -> Result<Self, NetError> {
        if rank_of.len() != n as usize {
            return Err(NetError::Invalid(format!("an owner table of {} entries for {n} neurons", rank_of.len())));
        }
        let mut members: Vec<Vec<Gid>> = vec![Vec::new(); size];
        for (g, &r) in rank_of.iter().enumerate() {
            let Some(m) = members.get_mut(r as usize) else {
                return Err(NetError::Invalid(format!("neuron {g} assigned to rank {r} of {size}")));
            };
            m.push(g as Gid);
        }
        if let Some(r) = members.iter().position(Vec::is_empty) {
            return Err(NetError::Invalid(format!("the balancer left rank {r} without neurons; use fewer ranks")));
        }
        let assignment =
            Assignment::Table { rank_of: rank_of.into(), members: members.into_iter().map(Into::into).collect() };
        Ok(Self { n, assignment, size })
    }

    /// Number of ranks.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Number of neurons it spreads.
    #[must_use]
    pub fn num_neurons(&self) -> Gid {
        self.n
    }

    /// The rank that owns `gid`.
    #[must_use]
    pub fn rank_of(&self, gid: Gid) -> usize {
        match &self.assignment {
            Assignment::RoundRobin => gid as usize % self.size,
            Assignment::Blocks(starts) => starts.partition_point(|&s| s <= gid) - 1,
            Assignment::Table { rank_of, .. } => rank_of[gid as usize] as usize,
        }
    }

    /// The neurons of `rank`.
    #[must_use]
    pub fn neurons_of(&self, rank: usize) -> NeuronSet {
        match &self.assignment {
            Assignment::RoundRobin => {
                let r = rank as Gid;
                let count = if r >= self.n { 0 } else { (self.n - r).div_ceil(self.size as Gid) };
                NeuronSet::strided(r, self.size as Gid, count)
            }
            Assignment::Blocks(starts) => NeuronSet::strided(starts[rank], 1, starts[rank + 1] - starts[rank]),
            Assignment::Table { members, .. } => NeuronSet::List(Arc::clone(&members[rank])),
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

/// Streams every synapse of a network as (pre, post) into its argument.
pub type SynapseGraph<'a> = dyn Fn(&mut dyn FnMut(Gid, Gid)) -> Result<(), NetError> + 'a;

/// Serialises calls into METIS (see [`metis_owners`]).
static METIS_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The owner of every gid when METIS (fixed seed) cuts the undirected synapse graph (CSR, no self loops,
/// each neighbour once) into `size` parts. Deterministic: any rank computing it gets the same table.
/// Memory: 4 bytes per synapse end (twice the synapse count), in place.
pub fn metis_owners(
    n: Gid,
    size: usize,
    cost: impl Fn(Gid) -> f64,
    edges: &SynapseGraph<'_>,
) -> Result<Vec<u32>, NetError> {
    if size == 0 || size as u64 > u64::from(n) {
        return Err(NetError::Invalid(format!("the model has {n} neurons and cannot be split over {size} ranks")));
    }
    if size == 1 {
        return Ok(vec![0; n as usize]);
    }
    let mut degree = vec![0usize; n as usize + 1];
    edges(&mut |a, b| {
        if a != b {
            degree[a as usize + 1] += 1;
            degree[b as usize + 1] += 1;
        }
    })?;
    for i in 0..n as usize {
        degree[i + 1] += degree[i];
    }
    // Before allocating: METIS indexes the adjacency with 32-bit integers.
    if metis::Idx::try_from(degree[n as usize]).is_err() {
        return Err(NetError::Invalid(format!(
            "the synapse graph has {} synapse ends, too many for METIS' 32-bit indices; use another balancer",
            degree[n as usize]
        )));
    }
    let mut next = degree.clone();
    let mut adjacency = vec![0 as metis::Idx; degree[n as usize]];
    edges(&mut |a, b| {
        if a != b {
            adjacency[next[a as usize]] = b as metis::Idx;
            next[a as usize] += 1;
            adjacency[next[b as usize]] = a as metis::Idx;
            next[b as usize] += 1;
        }
    })?;
    // Each neighbour once (METIS wants a simple graph), compacted in place.
    let mut xadj = Vec::with_capacity(n as usize + 1);
    xadj.push(0 as metis::Idx);
    let mut kept = 0usize;
    for v in 0..n as usize {
        adjacency[degree[v]..degree[v + 1]].sort_unstable();
        let start = kept;
        for i in degree[v]..degree[v + 1] {
            let u = adjacency[i];
            if kept == start || adjacency[kept - 1] != u {
                adjacency[kept] = u;
                kept += 1;
            }
        }
        let end = metis::Idx::try_from(kept)
            .map_err(|_| NetError::Invalid("the synapse graph is too large for METIS' 32-bit indices".into()))?;
        xadj.push(end);
    }
    drop(next);
    drop(degree);
    adjacency.truncate(kept);
    adjacency.shrink_to_fit();
    let adjncy = adjacency;
    let vwgt = vertex_weights(n, cost)?;
    let parts = metis::Idx::try_from(size)
        .map_err(|_| NetError::Invalid(format!("{size} ranks are too many for METIS' 32-bit indices")))?;
    let mut part = vec![0 as metis::Idx; n as usize];
    // METIS keeps its random generator in C globals: ranks that are threads of one process must take turns,
    // or they would derive different partitions from the same graph.
    let _turn = METIS_TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let failed = |e: metis::Error| NetError::Invalid(format!("METIS failed to partition the synapse graph: {e}"));
    metis::Graph::new(1, parts, &xadj, &adjncy)
        .map_err(|e| NetError::Invalid(format!("METIS refused the synapse graph: {e}")))?
        .set_vwgt(&vwgt)
        .set_option(metis::option::Seed(1))
        .part_kway(&mut part)
        .map_err(failed)?;
    Ok(part.into_iter().map(|p| p as u32).collect())
}

/// METIS' vertex weights: each neuron's cost in 1..=1e6, scaled down when their sum would pass the 32-bit
/// integers METIS adds them in (costs come from in-degrees, so from an edge table's rows).
fn vertex_weights(n: Gid, cost: impl Fn(Gid) -> f64) -> Result<Vec<metis::Idx>, NetError> {
    // Half the range: METIS also adds part weights and targets.
    let limit = f64::from(metis::Idx::MAX / 2);
    if f64::from(n) > limit {
        return Err(NetError::Invalid(format!("{n} neurons are too many for METIS' 32-bit weights")));
    }
    let costs: Vec<f64> = (0..n).map(|g| cost(g).round().clamp(1.0, 1e6)).collect();
    let total: f64 = costs.iter().sum();
    let scale = if total > limit { limit / total } else { 1.0 };
    Ok(costs.into_iter().map(|c| (c * scale).floor().max(1.0) as metis::Idx).collect())
}

/// The spatial balancer: recursive bisection along the widest axis, each cut where the cost of the two sides
/// matches the number of ranks each side gets (ties broken by gid, so every rank computes the same table).
fn spatial(
    n: Gid,
    size: usize,
    cost: impl Fn(Gid) -> f64,
    position: impl Fn(Gid) -> Option<Point>,
) -> Result<Assignment, NetError> {
    let mut points = Vec::with_capacity(n as usize);
    for g in 0..n {
        let p = position(g).ok_or_else(|| {
            NetError::Invalid(format!("the spatial balancer needs positions, and neuron {g} has none"))
        })?;
        points.push((g, p, cost(g)));
    }
    let mut rank_of = vec![0u32; n as usize];
    bisect(&mut points, 0, size, &mut rank_of);
    let mut members: Vec<Vec<Gid>> = vec![Vec::new(); size];
    for (g, &r) in rank_of.iter().enumerate() {
        members[r as usize].push(g as Gid);
    }
    Ok(Assignment::Table { rank_of: rank_of.into(), members: members.into_iter().map(Into::into).collect() })
}

/// Assigns `points` to ranks `first..first + ranks`.
fn bisect(points: &mut [(Gid, Point, f64)], first: usize, ranks: usize, rank_of: &mut [u32]) {
    if ranks == 1 {
        for &(g, _, _) in points.iter() {
            rank_of[g as usize] = first as u32;
        }
        return;
    }
    let axis = (0..3)
        .max_by(|&a, &b| {
            let span = |ax: usize| {
                let (lo, hi) =
                    points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1[ax]), hi.max(p.1[ax])));
                hi - lo
            };
            span(a).total_cmp(&span(b))
        })
        .unwrap_or(0);
    points.sort_unstable_by(|a, b| a.1[axis].total_cmp(&b.1[axis]).then(a.0.cmp(&b.0)));
    let left_ranks = ranks / 2;
    let total: f64 = points.iter().map(|p| p.2).sum();
    let goal = total * left_ranks as f64 / ranks as f64;
    let mut acc = 0.0;
    let mut cut = 0;
    while cut < points.len() && acc + points[cut].2 / 2.0 < goal {
        acc += points[cut].2;
        cut += 1;
    }
    // Each side keeps at least one neuron per rank.
    let cut = cut.clamp(left_ranks, points.len() - (ranks - left_ranks));
    let (left, right) = points.split_at_mut(cut);
    bisect(left, first, left_ranks, rank_of);
    bisect(right, first + left_ranks, ranks - left_ranks, rank_of);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners_cover_everything_once(d: &Decomposition, n: Gid) {
        let mut seen = vec![0u32; n as usize];
        for r in 0..d.size() {
            let s = d.neurons_of(r);
            assert!(!s.is_empty(), "rank {r} is empty");
            for i in 0..s.len() {
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
            owners_cover_everything_once(
                &Decomposition::new(n, p, Balancer::RoundRobin, |_| 1.0, |_| None).unwrap(),
                n,
            );
            owners_cover_everything_once(
                &Decomposition::new(n, p, Balancer::CostBlocks, |g| f64::from(g % 13), |_| None).unwrap(),
                n,
            );
        }
    }

    #[test]
    fn cost_blocks_balance_cost_not_count() {
        // The first half of the neurons costs 3x the second half.
        let cost = |g: Gid| if g < 600 { 3.0 } else { 1.0 };
        let d = Decomposition::new(1200, 2, Balancer::CostBlocks, cost, |_| None).unwrap();
        assert_eq!(d.neurons_of(0).len(), 400);
        assert_eq!(d.neurons_of(1).len(), 800);
    }

    #[test]
    fn thread_shares_partition_a_rank() {
        let d = Decomposition::new(103, 2, Balancer::RoundRobin, |_| 1.0, |_| None).unwrap();
        let rank = d.neurons_of(1);
        let mut gids: Vec<Gid> = (0..3)
            .flat_map(|t| {
                let s = rank.round_robin_share(t, 3);
                (0..s.len()).map(move |i| s.gid(i)).collect::<Vec<_>>()
            })
            .collect();
        gids.sort_unstable();
        assert_eq!(gids, rank.iter().collect::<Vec<_>>());
    }

    #[test]
    fn the_spatial_balancer_cuts_space_into_parts_of_equal_cost() {
        // A 30 x 20 grid; the left third costs twice as much.
        let pos = |g: Gid| Some([f64::from(g % 30), f64::from(g / 30), 0.0]);
        let cost = |g: Gid| if g % 30 < 10 { 2.0 } else { 1.0 };
        for p in [1, 2, 3, 4, 7] {
            let d = Decomposition::new(600, p, Balancer::Spatial, cost, pos).unwrap();
            owners_cover_everything_once(&d, 600);
            let costs: Vec<f64> = (0..p).map(|r| d.neurons_of(r).iter().map(cost).sum()).collect();
            let mean = costs.iter().sum::<f64>() / p as f64;
            assert!(costs.iter().all(|c| (c / mean - 1.0).abs() < 0.1), "{p} ranks: {costs:?}");
        }
        // Two ranks split along x (the widest axis): each rank's neurons lie on one side of a cut.
        let d = Decomposition::new(600, 2, Balancer::Spatial, cost, pos).unwrap();
        let xs = |r: usize| d.neurons_of(r).iter().map(|g| g % 30).collect::<Vec<_>>();
        assert!(xs(0).iter().max() < xs(1).iter().min(), "a vertical cut");
        let e = Decomposition::new(10, 2, Balancer::Spatial, |_| 1.0, |_| None).unwrap_err().to_string();
        assert!(e.contains("needs positions"), "{e}");
    }

    #[test]
    fn metis_keeps_two_cliques_joined_by_one_synapse_apart() {
        // Two cliques of 20 (gids 0..20 and 20..40) and one synapse between them.
        let edges = |f: &mut dyn FnMut(Gid, Gid)| {
            for base in [0, 20] {
                for a in base..base + 20 {
                    for b in base..base + 20 {
                        if a != b {
                            f(a, b);
                        }
                    }
                }
            }
            f(3, 27);
            Ok(())
        };
        let d = Decomposition::metis(40, 2, |_| 1.0, &edges).unwrap();
        owners_cover_everything_once(&d, 40);
        let r = d.rank_of(0);
        assert!((0..20).all(|g| d.rank_of(g) == r) && (20..40).all(|g| d.rank_of(g) != r), "cliques split");
        assert_eq!(Decomposition::metis(40, 2, |_| 1.0, &edges).unwrap(), d, "the same on every call");
        assert!(Decomposition::new(40, 2, Balancer::Metis, |_| 1.0, |_| None).is_err());
    }

    #[test]
    fn more_ranks_than_neurons_is_an_error() {
        let e = Decomposition::new(3, 4, Balancer::RoundRobin, |_| 1.0, |_| None).unwrap_err();
        assert!(e.to_string().contains("3 neurons"), "{e}");
    }
}
