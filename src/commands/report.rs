//! `cajal report DIR...`: each run's performance table and plots again, and with several runs a scaling
//! plot and table.

use cajal_metrics::plot::{plot_report, plot_scaling};
use cajal_metrics::PerfReport;

use crate::cli::ReportArgs;
use crate::error::AppError;

/// `cajal report DIR...`: prints each run's table, redraws its plots, and with several runs a scaling plot.
pub fn report(args: &ReportArgs) -> Result<(), AppError> {
    let mut runs = Vec::new();
    for dir in &args.dirs {
        let report = PerfReport::read(&dir.join("perf.json")).map_err(AppError::from)?;
        println!("== {}", dir.display());
        print!("{}", report.table());
        plot_report(&report, dir).map_err(AppError::from)?;
        runs.push((dir.display().to_string(), report));
    }
    if runs.len() > 1 {
        let out = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
        std::fs::create_dir_all(&out).map_err(|e| AppError::bad(format!("cannot create {}: {e}", out.display())))?;
        let files = plot_scaling(&runs, &out).map_err(AppError::from)?;
        println!("scaling plot: {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
        println!("{:<40} {:>6} {:>8} {:>8} {:>10}", "run", "ranks", "threads", "RTF", "imbalance");
        for (name, r) in &runs {
            println!(
                "{name:<40} {:>6} {:>8} {:>8.3} {:>10.2}",
                r.facts.ranks, r.facts.threads_per_rank, r.rtf, r.load_imbalance
            );
        }
    }
    Ok(())
}
