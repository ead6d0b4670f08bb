//! Histograms as bar plots (PNG and SVG, the compiled-in font): one panel per histogram, e.g. the final
//! weights of each plastic projection, or several histograms overlaid on one axis (cajal's against NEST's).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{both, legend, COLORS};
use crate::MetricsError;

/// One histogram: `counts[k]` values fell in `[edges[k], edges[k + 1])`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub label: String,
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Draws `histograms` overlaid (outlined steps, one colour each) into `<dir>/<stem>.png` and `.svg`, with
/// `title` and the x axis called `x_desc`; counts are shown as fractions of each histogram's total.
pub fn plot_histograms(
    histograms: &[Histogram],
    title: &str,
    x_desc: &str,
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, MetricsError> {
    both(dir, stem, |root| draw(root, histograms, title, x_desc), &|root| draw(root, histograms, title, x_desc))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    histograms: &[Histogram],
    title: &str,
    x_desc: &str,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let edges = histograms.iter().flat_map(|h| h.edges.iter().copied());
    let (lo, hi) = edges.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    let fraction = |h: &Histogram, c: u64| c as f64 / h.counts.iter().sum::<u64>().max(1) as f64;
    let top = histograms.iter().flat_map(|h| h.counts.iter().map(move |&c| fraction(h, c))).fold(1e-9, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc(x_desc).y_desc("fraction").draw().map_err(|e| e.to_string())?;
    for (k, h) in histograms.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut points = Vec::with_capacity(2 * h.counts.len() + 2);
        for (b, &c) in h.counts.iter().enumerate() {
            let (a, z) = (h.edges[b], h.edges.get(b + 1).copied().unwrap_or(h.edges[b]));
            let y = fraction(h, c);
            points.push((a, y));
            points.push((z, y));
        }
        chart
            .draw_series(std::iter::once(PathElement::new(points, color.stroke_width(2))))
            .map_err(|e| e.to_string())?
            .label(h.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histograms_draw_as_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("cajal-hist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = Histogram { label: "E->E".into(), edges: vec![0.0, 1.0, 2.0], counts: vec![3, 1] };
        let files = plot_histograms(&[h], "weights", "pA", &dir, "w").unwrap();
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 1000, "{}", f.display());
        }
        assert!(std::fs::read_to_string(dir.join("w.svg")).unwrap().contains("E-&gt;E"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
