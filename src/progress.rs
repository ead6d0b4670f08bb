//! The progress line (model time, real-time factor, ETA) shown on a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use cajal_core::{Resolution, Step};

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
    /// A progress line for `total` steps, drawn only if `show` and stderr is a terminal.
    pub fn new(res: Resolution, total: Step, show: bool) -> Self {
        let now = Instant::now();
        Self {
            enabled: show && std::io::stderr().is_terminal(),
            res,
            total,
            started: now,
            phase_start: (now, 0),
            last_draw: now,
        }
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
