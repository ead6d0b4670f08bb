//! Space: where the neurons of a population sit (a regular grid, uniform random in a box from each neuron's
//! own stream, or given positions), distances with optional periodic boundaries, distance kernels, and a
//! cell index that finds the sources within a cutoff in time proportional to their number.

use std::sync::Arc;

use cajal_core::rng::{Purpose, Stream};
use cajal_core::Gid;

use crate::NetError;

/// A point in space (mm).
pub type Point = [f64; 3];

/// Where the neurons of a population sit.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// A regular grid of `shape` points (x fastest, then y, then z; z = 1 for a sheet), `spacing` apart,
    /// the first at `origin`.
    Grid { shape: [u32; 3], spacing: f64, origin: Point },
    /// Uniform random in `[low, high)` per axis (an axis with low == high is flat: a sheet), from each
    /// neuron's own stream.
    Uniform { low: Point, high: Point },
    /// Given positions, one per neuron (e.g. from a node table).
    Explicit(Arc<Vec<Point>>),
}

impl Placement {
    /// Checks the placement for a population of `size` neurons.
    pub fn validate(&self, size: u32, what: &str) -> Result<(), NetError> {
        let bad = |reason: String| Err(NetError::Invalid(format!("{what}: {reason}")));
        match self {
            Self::Grid { shape, spacing, origin } => {
                let points = shape.iter().map(|&n| u64::from(n)).product::<u64>();
                if points != u64::from(size) {
                    return bad(format!("a {shape:?} grid has {points} points for {size} neurons"));
                }
                if !(spacing.is_finite() && *spacing > 0.0) || origin.iter().any(|x| !x.is_finite()) {
                    return bad(format!("grid spacing {spacing} must be > 0 and the origin finite"));
                }
            }
            Self::Uniform { low, high } => {
                if low.iter().chain(high).any(|x| !x.is_finite()) || low.iter().zip(high).any(|(l, h)| h < l) {
                    return bad(format!("box {low:?}..{high:?} must be finite with high >= low"));
                }
            }
            Self::Explicit(points) => {
                if points.len() != size as usize {
                    return bad(format!("{} positions for {size} neurons", points.len()));
                }
                if points.iter().flatten().any(|x| !x.is_finite()) {
                    return bad("positions must be finite".into());
                }
            }
        }
        Ok(())
    }

    /// The position of neuron `local` of the population whose first gid is `first`.
    #[must_use]
    pub fn position(&self, seed: u64, first: Gid, local: u32) -> Point {
        match self {
            Self::Grid { shape, spacing, origin } => {
                let (nx, ny) = (shape[0].max(1), shape[1].max(1));
                let idx = [local % nx, (local / nx) % ny, local / (nx * ny)];
                [0, 1, 2].map(|a| origin[a] + spacing * f64::from(idx[a]))
            }
            Self::Uniform { low, high } => {
                let mut s = Stream::new(seed, Purpose::Positions, u64::from(first + local));
                [0, 1, 2].map(|a| low[a] + (high[a] - low[a]) * s.uniform())
            }
            Self::Explicit(points) => points.get(local as usize).copied().unwrap_or([0.0; 3]),
        }
    }

    /// Axes along which the population extends (its dimension) and the volume (area, length) it fills.
    #[must_use]
    pub fn extent(&self, size: u32) -> (usize, f64) {
        let spans: Vec<f64> = match self {
            Self::Grid { shape, spacing, .. } => {
                shape.iter().filter(|&&n| n > 1).map(|&n| f64::from(n) * spacing).collect()
            }
            Self::Uniform { low, high } => low.iter().zip(high).map(|(l, h)| h - l).filter(|&d| d > 0.0).collect(),
            Self::Explicit(points) => (0..3)
                .map(|a| {
                    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p[a]), hi.max(p[a])));
                    if size > 1 {
                        (hi - lo) * f64::from(size) / f64::from(size - 1)
                    } else {
                        0.0
                    }
                })
                .filter(|&d| d > 0.0)
                .collect(),
        };
        (spans.len(), spans.iter().product())
    }
}

/// Distances between points: Euclidean, or on a torus of `periodic` box sizes (minimum image).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Boundary {
    pub periodic: Option<Point>,
}

impl Boundary {
    /// The distance from `a` to `b`.
    #[inline]
    #[must_use]
    pub fn distance(&self, a: Point, b: Point) -> f64 {
        let mut sum = 0.0;
        for axis in 0..3 {
            let mut d = a[axis] - b[axis];
            if let Some(size) = self.periodic {
                // Only pairs more than half the torus apart wrap (a libm `round` call per candidate pair
                // otherwise, on baseline x86-64); |d| is the same either way.
                if size[axis] > 0.0 && d.abs() > 0.5 * size[axis] {
                    d -= size[axis] * (d / size[axis]).round();
                }
            }
            sum += d * d;
        }
        sum.sqrt()
    }
}

/// A connection probability (or sampling weight) as a function of distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kernel {
    /// p0 everywhere within the cutoff (a step).
    Step { p0: f64 },
    /// p0 exp(-d / lambda).
    Exponential { p0: f64, lambda: f64 },
    /// p0 exp(-d^2 / (2 sigma^2)).
    Gaussian { p0: f64, sigma: f64 },
}

impl Kernel {
    /// The kernel at distance `d`.
    #[inline]
    #[must_use]
    pub fn value(&self, d: f64) -> f64 {
        match *self {
            Self::Step { p0 } => p0,
            Self::Exponential { p0, lambda } => p0 * (-d / lambda).exp(),
            Self::Gaussian { p0, sigma } => p0 * (-d * d / (2.0 * sigma * sigma)).exp(),
        }
    }

    /// Checks the parameters (p0 in [0, 1], lengths > 0).
    pub fn validate(&self, what: &str) -> Result<(), NetError> {
        let (p0, length) = match *self {
            Self::Step { p0 } => (p0, 1.0),
            Self::Exponential { p0, lambda } => (p0, lambda),
            Self::Gaussian { p0, sigma } => (p0, sigma),
        };
        if !(0.0..=1.0).contains(&p0) {
            return Err(NetError::Invalid(format!("{what}: p0 = {p0} is outside [0, 1]")));
        }
        if !(length.is_finite() && length > 0.0) {
            return Err(NetError::Invalid(format!("{what}: kernel length {length} must be > 0")));
        }
        Ok(())
    }

    /// The integral of the kernel over a ball of radius `cutoff` in `dims` dimensions (1, 2 or 3).
    #[must_use]
    pub fn integral(&self, cutoff: f64, dims: usize) -> f64 {
        const STEPS: usize = 400;
        let h = cutoff / STEPS as f64;
        (0..STEPS)
            .map(|i| {
                let r = (i as f64 + 0.5) * h;
                let shell = match dims {
                    0 => 0.0,
                    1 => 2.0,
                    2 => 2.0 * std::f64::consts::PI * r,
                    _ => 4.0 * std::f64::consts::PI * r * r,
                };
                self.value(r) * shell * h
            })
            .sum()
    }
}

/// Cells per search radius along an axis.
const CELLS_PER_RADIUS: f64 = 4.0;

/// A run of slots of one nearby cell, with a lower bound on the distance from the query point to any
/// point in it.
#[derive(Clone, Debug, PartialEq)]
pub struct NearbyCell {
    pub min_distance: f64,
    pub slots: std::ops::Range<usize>,
}

/// Points sorted into cubic cells, to find those within a radius of a point by looking at nearby cells.
#[derive(Clone, Debug)]
pub struct CellIndex {
    origin: Point,
    cell: f64,
    dims: [i64; 3],
    /// Cell c holds `members[start[c]..start[c + 1]]` (point indices, ascending).
    start: Vec<u32>,
    members: Vec<u32>,
    /// The members' positions in the same order, so a scan over a cell reads memory in sequence (positions
    /// by point index would cost a cache miss per candidate).
    member_points: Vec<Point>,
    boundary: Boundary,
}

impl CellIndex {
    /// Indexes `points` for searches of `radius`, with `boundary`'s wrap.
    #[must_use]
    pub fn new(points: Vec<Point>, radius: f64, boundary: Boundary) -> Self {
        let mut lo = [f64::MAX; 3];
        let mut hi = [f64::MIN; 3];
        for p in &points {
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        if points.is_empty() {
            (lo, hi) = ([0.0; 3], [0.0; 3]);
        }
        // Cells of a quarter of the radius: the 9 x 9 cells around a point hold fewer needless candidates
        // than 3 x 3 cells of the full radius, and their distance bounds make a tight envelope for
        // distance-dependent sampling (see `nearby_cells`). Cells are doubled while there would be more
        // than two per point (a radius tiny against the extent), so memory follows the points, not space;
        // bounds and searches use the final cell.
        let max_cells = (2 * points.len()).max(1024) as f64;
        let mut cell = (radius / CELLS_PER_RADIUS).max(1e-9);
        let mut origin = lo;
        let mut dims = [1i64; 3];
        loop {
            for a in 0..3 {
                let span = match boundary.periodic {
                    // A torus axis is cut into whole cells (the last partial one joins cell 0), so wrapped
                    // cells line up.
                    Some(size) if size[a] > 0.0 => {
                        origin[a] = 0.0;
                        size[a]
                    }
                    _ => hi[a] - lo[a],
                };
                // Saturating: a huge span gives i64::MAX, which the cap below then shrinks.
                dims[a] = ((span / cell).floor() as i64).max(1);
            }
            if dims.iter().map(|&d| d as f64).product::<f64>() <= max_cells {
                break;
            }
            cell *= 2.0;
        }
        let cell_of = |p: &Point| Self::cell_coords(p, origin, cell, dims, boundary);
        let n_cells = (dims[0] * dims[1] * dims[2]) as usize;
        let mut count = vec![0u32; n_cells + 1];
        let flat = |c: [i64; 3]| (c[0] + dims[0] * (c[1] + dims[1] * c[2])) as usize;
        for p in &points {
            count[flat(cell_of(p)) + 1] += 1;
        }
        for c in 0..n_cells {
            count[c + 1] += count[c];
        }
        let start = count.clone();
        let mut next = count;
        let mut members = vec![0u32; points.len()];
        let mut member_points = vec![[0.0; 3]; points.len()];
        for (i, p) in points.iter().enumerate() {
            let c = flat(cell_of(p));
            members[next[c] as usize] = i as u32;
            member_points[next[c] as usize] = *p;
            next[c] += 1;
        }
        Self { origin, cell, dims, start, members, member_points, boundary }
    }

    fn cell_coords(p: &Point, origin: Point, cell: f64, dims: [i64; 3], boundary: Boundary) -> [i64; 3] {
        [0, 1, 2].map(|a| match boundary.periodic {
            // Wrap onto the torus first: with a side that is no multiple of the cell, wrapping cell numbers
            // instead would misplace points outside [0, side).
            Some(size) if size[a] > 0.0 => {
                let wrapped = (p[a] - origin[a]).rem_euclid(size[a]);
                ((wrapped / cell).floor() as i64).rem_euclid(dims[a])
            }
            _ => (((p[a] - origin[a]) / cell).floor() as i64).clamp(0, dims[a] - 1),
        })
    }

    /// The slots (see [`CellIndex::member`]) of every cell that may hold a point within `radius` of `x`:
    /// cells in a fixed order, points by ascending index within each (a superset of the points within
    /// `radius`), each with a lower bound on its points' distance to `x`.
    #[must_use]
    pub fn nearby_cells(&self, x: Point, radius: f64) -> Vec<NearbyCell> {
        let reach = (radius / self.cell).ceil() as i64;
        let centre = Self::cell_coords(&x, self.origin, self.cell, self.dims, self.boundary);
        // Per axis: (cell coordinate, empty space between x's cell and it). Every cell is at least `cell`
        // wide (edge cells of open axes absorb the remainder; on a torus cell 0 also holds the last partial
        // cell), so r cells apart leave at least (r - 1) cells between.
        let mut axes: Vec<Vec<(i64, f64)>> = Vec::with_capacity(3);
        for a in 0..3 {
            let periodic = self.boundary.periodic.is_some_and(|s| s[a] > 0.0);
            let dims = self.dims[a];
            let mut axis: Vec<(i64, f64)> = (centre[a] - reach..=centre[a] + reach)
                .filter_map(|c| {
                    let (c, apart) = if periodic {
                        let k = (c - centre[a]).rem_euclid(dims);
                        (c.rem_euclid(dims), k.min(dims - k))
                    } else if (0..dims).contains(&c) {
                        (c, (c - centre[a]).abs())
                    } else {
                        return None;
                    };
                    Some((c, (apart - 1).max(0) as f64 * self.cell))
                })
                .collect();
            axis.sort_unstable_by_key(|&(c, _)| c);
            axis.dedup_by_key(|&mut (c, _)| c);
            axes.push(axis);
        }
        let mut found = Vec::with_capacity(axes[0].len() * axes[1].len() * axes[2].len());
        for &(cz, gz) in &axes[2] {
            for &(cy, gy) in &axes[1] {
                for &(cx, gx) in &axes[0] {
                    let min_distance = (gx * gx + gy * gy + gz * gz).sqrt();
                    if min_distance > radius {
                        continue;
                    }
                    let c = (cx + self.dims[0] * (cy + self.dims[1] * cz)) as usize;
                    found.push(NearbyCell { min_distance, slots: self.start[c] as usize..self.start[c + 1] as usize });
                }
            }
        }
        found
    }

    /// The point index in slot `slot`.
    #[inline]
    #[must_use]
    pub fn member(&self, slot: usize) -> u32 {
        self.members[slot]
    }

    /// The distance from `x` to the point in slot `slot`.
    #[inline]
    #[must_use]
    pub fn distance_to_member(&self, x: Point, slot: usize) -> f64 {
        self.boundary.distance(x, self.member_points[slot])
    }

    /// Every point within `radius` of `x`, as (index, distance), by ascending index.
    #[must_use]
    pub fn within(&self, x: Point, radius: f64) -> Vec<(u32, f64)> {
        let mut found: Vec<(u32, f64)> = self
            .nearby_cells(x, radius)
            .into_iter()
            .flat_map(|c| c.slots)
            .filter_map(|slot| {
                let d = self.distance_to_member(x, slot);
                (d <= radius).then_some((self.member(slot), d))
            })
            .collect();
        found.sort_unstable_by_key(|&(i, _)| i);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_positions_and_periodic_distances() {
        let g = Placement::Grid { shape: [3, 2, 1], spacing: 0.5, origin: [1.0, 0.0, 0.0] };
        assert!(g.validate(6, "g").is_ok());
        assert!(g.validate(5, "g").is_err());
        assert_eq!(g.position(0, 0, 4), [1.5, 0.5, 0.0]);
        assert_eq!(g.extent(6), (2, 1.5 * 1.0));
        let torus = Boundary { periodic: Some([10.0, 10.0, 0.0]) };
        assert!((torus.distance([0.5, 0.0, 0.0], [9.5, 0.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!((Boundary::default().distance([0.5, 0.0, 0.0], [9.5, 0.0, 0.0]) - 9.0).abs() < 1e-12);
    }

    #[test]
    fn uniform_positions_come_from_each_neurons_own_stream() {
        let u = Placement::Uniform { low: [0.0, 0.0, 0.0], high: [2.0, 1.0, 0.0] };
        let a = u.position(7, 100, 3);
        assert_eq!(a, u.position(7, 100, 3));
        assert_eq!(a, u.position(7, 101, 2), "keyed by gid");
        assert_ne!(a, u.position(8, 100, 3));
        assert!((0.0..2.0).contains(&a[0]) && (0.0..1.0).contains(&a[1]) && a[2] == 0.0);
        assert_eq!(u.extent(10), (2, 2.0));
    }

    #[test]
    fn the_cell_index_finds_exactly_the_points_a_scan_finds() {
        let u = Placement::Uniform { low: [0.0; 3], high: [4.0, 3.0, 0.0] };
        let points: Vec<Point> = (0..2000).map(|i| u.position(1, 0, i)).collect();
        for boundary in [Boundary::default(), Boundary { periodic: Some([4.0, 3.0, 0.0]) }] {
            let index = CellIndex::new(points.clone(), 0.4, boundary);
            for (k, x) in [[0.1, 0.1, 0.0], [2.0, 1.5, 0.0], [3.95, 2.9, 0.0]].into_iter().enumerate() {
                for radius in [0.4, 0.25, 1.1] {
                    let scan: Vec<(u32, f64)> = points
                        .iter()
                        .enumerate()
                        .filter_map(|(i, &p)| {
                            let d = boundary.distance(x, p);
                            (d <= radius).then_some((i as u32, d))
                        })
                        .collect();
                    assert_eq!(index.within(x, radius), scan, "point {k}, radius {radius}, {boundary:?}");
                }
            }
        }
    }

    #[test]
    fn nearby_cells_never_overstate_the_distance_to_their_points() {
        // 3D, sides that are no multiple of the cell, a torus only two radii wide (offsets wrap onto each
        // other), and query points outside the open box.
        let u = Placement::Uniform { low: [0.0; 3], high: [1.03, 0.8, 0.37] };
        let points: Vec<Point> = (0..3000).map(|i| u.position(5, 0, i)).collect();
        let queries = [[0.0, 0.0, 0.0], [0.51, 0.4, 0.2], [1.02, 0.79, 0.36], [-0.1, 0.9, 0.5], [0.3, 0.05, 0.18]];
        for boundary in [Boundary::default(), Boundary { periodic: Some([1.03, 0.8, 0.37]) }] {
            // 0.0003: far more quarter-radius cells than points, so the cells are enlarged.
            for radius in [0.2, 0.4, 0.0003] {
                let index = CellIndex::new(points.clone(), radius, boundary);
                assert!(index.start.len() <= 6001, "{} cells for 3000 points", index.start.len() - 1);
                for x in queries {
                    let cells = index.nearby_cells(x, radius);
                    let mut seen = 0;
                    for cell in &cells {
                        for slot in cell.slots.clone() {
                            let d = index.distance_to_member(x, slot);
                            assert!(d >= cell.min_distance - 1e-12, "{x:?}: {d} < bound {}", cell.min_distance);
                            seen += usize::from(d <= radius);
                        }
                    }
                    let within = points.iter().filter(|&&p| boundary.distance(x, p) <= radius).count();
                    assert_eq!(seen, within, "{x:?}, radius {radius}, {boundary:?}: every point within reach");
                    if radius > 0.1 {
                        assert!(cells.iter().any(|c| c.min_distance > 0.0), "the bounds are not all trivial");
                    }
                }
            }
        }
    }

    #[test]
    fn kernels_and_their_integrals() {
        let e = Kernel::Exponential { p0: 0.5, lambda: 0.2 };
        assert!((e.value(0.2) - 0.5 / std::f64::consts::E).abs() < 1e-12);
        // A step of p0 over a disc of radius R integrates to p0 pi R^2.
        let step = Kernel::Step { p0: 0.3 };
        assert!((step.integral(2.0, 2) - 0.3 * std::f64::consts::PI * 4.0).abs() < 1e-9);
        assert!((step.integral(2.0, 3) - 0.3 * 4.0 / 3.0 * std::f64::consts::PI * 8.0).abs() < 1e-3);
        assert!(Kernel::Gaussian { p0: 1.5, sigma: 1.0 }.validate("k").is_err());
        assert!(Kernel::Exponential { p0: 0.5, lambda: 0.0 }.validate("k").is_err());
    }
}
