//! flyvis' convex-hull filling of an edge kind's offsets: every integer offset inside the convex hull of
//! the given offsets that is not one of them is added. "Inside" follows an even-odd crossing rule whose
//! treatment of boundary points is matched exactly (in axial (u, v) coordinates, with integer arithmetic,
//! hull counter-clockwise from its lowest point): the result equals flyvis' `filled_offsets.json`.

/// The convex hull (Andrew's monotone chain, collinear points dropped), counter-clockwise, starting at the
/// lexicographically smallest point.
fn convex_hull(points: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pts = points.to_vec();
    pts.sort_unstable();
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let chain = |iter: &mut dyn Iterator<Item = (i64, i64)>| {
        let mut half: Vec<(i64, i64)> = Vec::new();
        for p in iter {
            while half.len() >= 2 && cross(half[half.len() - 2], half[half.len() - 1], p) <= 0 {
                half.pop();
            }
            half.push(p);
        }
        half.pop();
        half
    };
    let mut hull = chain(&mut pts.iter().copied());
    hull.extend(chain(&mut pts.iter().rev().copied()));
    hull
}

/// The crossing test: a point is inside when a ray crosses the polygon's edges an odd number of times,
/// with each vertex counted on the side `y >= ty` (so half of the boundary is in).
fn inside(polygon: &[(i64, i64)], (tx, ty): (i64, i64)) -> bool {
    let Some(&last) = polygon.last() else { return false };
    let (mut x0, mut y0) = last;
    let mut flag0 = y0 >= ty;
    let mut odd = false;
    for &(x1, y1) in polygon {
        let flag1 = y1 >= ty;
        if flag0 != flag1 && (((y1 - ty) * (x0 - x1) >= (x1 - tx) * (y0 - y1)) == flag1) {
            odd = !odd;
        }
        (x0, y0, flag0) = (x1, y1, flag1);
    }
    odd
}

/// The offsets flyvis adds to `offsets` (3 or more of them; fewer get none), in (du, dv) order. The work is
/// the offsets' bounding box: callers bound the offsets (the connectome reader keeps them within 2000).
#[must_use]
pub fn filled(offsets: &[(i64, i64)]) -> Vec<(i64, i64)> {
    if offsets.len() < 3 {
        return Vec::new();
    }
    let hull = convex_hull(offsets);
    let (u0, u1) = offsets.iter().fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (v0, v1) = offsets.iter().fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    // A set: the box is visited point by point, and a file may list many offsets.
    let given: std::collections::HashSet<(i64, i64)> = offsets.iter().copied().collect();
    let mut out = Vec::new();
    for u in u0..=u1 {
        for v in v0..=v1 {
            if !given.contains(&(u, v)) && inside(&hull, (u, v)) {
                out.push((u, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_gets_its_interior_and_half_its_boundary() {
        // Corners of a 2x2 square: the centre is inside; the edge midpoints follow the crossing rule.
        let corners = [(0, 0), (2, 0), (2, 2), (0, 2)];
        let added = filled(&corners);
        assert!(added.contains(&(1, 1)));
        assert!(!added.iter().any(|p| corners.contains(p)));
        assert!(filled(&[(0, 0), (1, 1)]).is_empty(), "fewer than three offsets are not filled");
    }
}
