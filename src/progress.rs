//! Logging set-up and the progress line (model time, real-time factor, ETA) shown on a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use cajal_core::{Resolution, Step};

/// Logs go to stderr, one line per event, each inside a `rank` span so every line names its rank.
pub fn init_logging(rank: usize) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAJAL_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    // The span stays entered for the life of the process.
    std::mem::forget(tracing::info_span!("rank", r = rank).entered());
}

/// Redraws one status line on stderr at most a few times per second, only when stderr is a terminal.
pub struct Progress {
    enabled: bool,
    res: Resolution,
    total: Step,
    started: Instant,
    phase_start: (Instant, Step),
    last_draw: Instant,
}

impl Progress {
    pub fn new(res: Resolution, total: Step) -> Self {
        let now = Instant::now();
        Self { enabled: std::io::stderr().is_terminal(), res, total, started: now, phase_start: (now, 0), last_draw: now }
    }

    /// Starts measuring the real-time factor afresh from step `done` (e.g. after the warm-up).
    pub fn mark(&mut self, done: Step) {
        self.phase_start = (Instant::now(), done);
    }

    pub fn update(&mut self, done: Step, phase: &str) {
        if !self.enabled || self.last_draw.elapsed().as_millis() < 250 {
            return;
        }
        self.last_draw = Instant::now();
        let wall = self.phase_start.0.elapsed().as_secs_f64();
        let model_s = self.res.steps_to_ms(done - self.phase_start.1) / 1000.0;
        let rtf = if model_s > 0.0 { wall / model_s } else { 0.0 };
        let eta = rtf * self.res.steps_to_ms(self.total - done) / 1000.0;
        eprint!(
            "\r[{phase}] {:.1} / {:.1} ms  RTF {rtf:.2}  ETA {eta:.0} s  elapsed {:.0} s   ",
            self.res.steps_to_ms(done),
            self.res.steps_to_ms(self.total),
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    pub fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}
