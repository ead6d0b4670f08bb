//! Polar plots of tuning curves (e.g. responses to motion in 12 directions), one panel per condition, as
//! PNG and SVG.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{both, COLORS};
use crate::MetricsError;

/// One closed curve: a value per direction.
#[derive(Clone, Debug, PartialEq)]
pub struct TuningCurve {
    pub label: String,
    pub angles_deg: Vec<f64>,
    /// Non-negative radii (already normalised as the caller wants).
    pub values: Vec<f64>,
}

/// A panel: a title and its curves.
pub type PolarPanel = (String, Vec<TuningCurve>);

fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, curves: &[TuningCurve]) -> Result<(), String> {
    let top = curves.iter().flat_map(|c| c.values.iter().copied()).fold(0.0, f64::max).max(1e-12) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .build_cartesian_2d(-top..top, -top..top)
        .map_err(|e| e.to_string())?;
    let grey = RGBColor(200, 200, 200);
    for k in 1..=4 {
        let r = top / 1.15 * f64::from(k) / 4.0;
        let ring = (0..=72).map(|i| {
            let a = f64::from(i) * 5f64.to_radians();
            (r * a.cos(), r * a.sin())
        });
        chart.draw_series(LineSeries::new(ring, grey.stroke_width(1))).map_err(|e| e.to_string())?;
    }
    for deg in (0..360).step_by(30) {
        let a = f64::from(deg).to_radians();
        let spoke = [(0.0, 0.0), (top / 1.15 * a.cos(), top / 1.15 * a.sin())];
        chart.draw_series(LineSeries::new(spoke, grey.stroke_width(1))).map_err(|e| e.to_string())?;
    }
    for (k, c) in curves.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut pts: Vec<(f64, f64)> = c
            .angles_deg
            .iter()
            .zip(&c.values)
            .map(|(&deg, &v)| (v * deg.to_radians().cos(), v * deg.to_radians().sin()))
            .collect();
        if let Some(&first) = pts.first() {
            pts.push(first);
        }
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

fn panels<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, all: &[PolarPanel]) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, all.len().max(1)));
    for (area, (title, curves)) in areas.iter().zip(all) {
        panel(area, title, curves)?;
    }
    Ok(())
}

/// Writes `<dir>/<stem>.png` and `.svg` (960 x 540): the panels side by side (two give round circles).
pub fn plot_polar(all: &[PolarPanel], dir: &Path, stem: &str) -> Result<Vec<PathBuf>, MetricsError> {
    both(dir, stem, |a| panels(a, all), &|a| panels(a, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polar_plot_is_written_as_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("cajal-polar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let angles: Vec<f64> = (0..12).map(|k| f64::from(k) * 30.0).collect();
        let curve = |label: &str, pref: f64| TuningCurve {
            label: label.into(),
            angles_deg: angles.clone(),
            values: angles.iter().map(|a| 1.0 + (a - pref).to_radians().cos()).collect(),
        };
        let panels = [("ON".into(), vec![curve("a", 0.0), curve("b", 90.0)]), ("OFF".into(), vec![curve("c", 180.0)])];
        let files = plot_polar(&panels, &dir, "tuning").unwrap();
        assert_eq!(files.len(), 2);
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 1000, "{}", f.display());
        }
        let svg = std::fs::read_to_string(dir.join("tuning.svg")).unwrap();
        for label in ["ON", "OFF", "a", "b", "c"] {
            assert!(svg.contains(&format!(">\n{label}\n<")), "label {label} is drawn");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
