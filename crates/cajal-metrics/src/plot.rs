//! Plots of a report, each as PNG and SVG: phase time stacked per rank, per-phase latency distributions,
//! and a scaling plot over several runs. The font is compiled in, so no system font library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::PerfReport;
use crate::timers::PHASES;
use crate::MetricsError;

static FONT: Once = Once::new();
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    FONT.call_once(|| {
        // A failure leaves plotters without text; the plots still draw.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_BYTES);
    });
}

pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A drawing routine for the SVG backend.
pub(crate) type SvgDraw<'a> = dyn Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> + 'a;

/// Draws `draw` into `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns both paths.
pub(crate) fn both<F>(dir: &Path, stem: &str, draw_png: F, draw_svg: &SvgDraw<'_>) -> Result<Vec<PathBuf>, MetricsError>
where
    F: Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
{
    register_font();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let fail = |path: &Path, message: String| MetricsError::Plot { path: path.display().to_string(), message };
    {
        let root = BitMapBackend::new(&png, (960, 540)).into_drawing_area();
        draw_png(&root).map_err(|e| fail(&png, e))?;
        root.present().map_err(|e| fail(&png, e.to_string()))?;
    }
    {
        let root = SVGBackend::new(&svg, (960, 540)).into_drawing_area();
        draw_svg(&root).map_err(|e| fail(&svg, e))?;
        root.present().map_err(|e| fail(&svg, e.to_string()))?;
    }
    Ok(vec![png, svg])
}

/// Draws the series labels of `chart` in the style of every plot here.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Stacked seconds per phase, one bar per rank.
fn phases_per_rank<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &PerfReport) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let ranks = r.per_rank.len().max(1);
    let top =
        r.per_rank.iter().map(|p| p.phases.values().map(|s| s.total_s).sum::<f64>()).fold(0.0, f64::max).max(1e-9)
            * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption("time per phase and rank", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..ranks as f64 - 0.5, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("rank")
        .y_desc("seconds")
        .x_labels(ranks.min(16))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for (k, phase) in PHASES.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let bars = r.per_rank.iter().map(|p| {
            let below: f64 = PHASES[..k].iter().map(|q| p.phases[q.name()].total_s).sum();
            let h = p.phases[phase.name()].total_s;
            let x = p.rank as f64;
            Rectangle::new([(x - 0.35, below), (x + 0.35, below + h)], color.filled())
        });
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(phase.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    legend(&mut chart)
}

/// Latency (log) against the quantile, one line per phase.
fn latencies<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &PerfReport) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // x = -log10(1 - q): 0 at the minimum, 2 at p99, 4 at p99.99 (the maximum is drawn at 4.5).
    let x_of = |q: f64| if q >= 1.0 { 4.5 } else { -(1.0 - q).log10() };
    let top = r.merged_quantiles.values().flatten().map(|&(_, us)| us).fold(1.0, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(root)
        .caption("per-phase latency distribution (all ranks)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..4.6, (0.01f64..top).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("quantile (0 = min, 1 = p90, 2 = p99, 3 = p99.9, 4.5 = max)")
        .y_desc("microseconds")
        .draw()
        .map_err(|e| e.to_string())?;
    for (k, phase) in PHASES.iter().enumerate() {
        let Some(points) = r.merged_quantiles.get(phase.name()) else { continue };
        if r.merged[phase.name()].count == 0 {
            continue;
        }
        let color = COLORS[k % COLORS.len()];
        let line = points.iter().map(|&(q, us)| (x_of(q), us.max(0.01)));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(phase.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
    }
    legend(&mut chart)
}

/// RTF against cores (ranks x threads) over several runs.
fn scaling<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, runs: &[(String, PerfReport)]) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let cores = |r: &PerfReport| (r.facts.ranks * r.facts.threads_per_rank) as f64;
    let max_cores = runs.iter().map(|(_, r)| cores(r)).fold(1.0, f64::max);
    let top = runs.iter().map(|(_, r)| r.rtf).fold(0.0, f64::max).max(1e-6) * 1.2;
    let mut chart = ChartBuilder::on(root)
        .caption("scaling: real-time factor against cores", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_cores + 1.0, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("cores (ranks x threads)")
        .y_desc("RTF (wall / model time)")
        .draw()
        .map_err(|e| e.to_string())?;
    let mut points: Vec<(f64, f64)> = runs.iter().map(|(_, r)| (cores(r), r.rtf)).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart.draw_series(LineSeries::new(points.clone(), COLORS[0].stroke_width(2))).map_err(|e| e.to_string())?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, COLORS[0].filled()))).map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes the per-rank phase plot and the latency plot of `report` into `dir`.
pub fn plot_report(report: &PerfReport, dir: &Path) -> Result<Vec<PathBuf>, MetricsError> {
    let mut files = both(dir, "perf_phases", |a| phases_per_rank(a, report), &|a| phases_per_rank(a, report))?;
    files.extend(both(dir, "perf_latency", |a| latencies(a, report), &|a| latencies(a, report))?);
    Ok(files)
}

/// Writes the scaling plot of several runs into `dir`.
pub fn plot_scaling(runs: &[(String, PerfReport)], dir: &Path) -> Result<Vec<PathBuf>, MetricsError> {
    both(dir, "scaling", |a| scaling(a, runs), &|a| scaling(a, runs))
}
