//! The thread team of a rank's run, shared by every engine: in each round every thread works on its own
//! part, then the main thread alone does what needs the communicator, between two barriers. A panic or a
//! failure on any thread releases every other thread and ends the run with an error.
//!
//! ```text
//! round r:  all threads: work(part, thread, r)  [barrier]  main: between(r) -> continue | stop  [barrier]
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use cajal_comm::SpinBarrier;
use cajal_metrics::{Phase, PhaseTimers};

use crate::SimError;

/// What the main thread decides between two rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Every thread stops after this round (the ranks agreed to stop early).
    Stop,
}

/// How a team's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundsDone {
    /// Rounds completed (the round that said stop included).
    pub rounds: u64,
    /// Whether `between` stopped the run before the planned rounds.
    pub stopped: bool,
}

/// A thread's work in one round: its part, its index (0 is the main thread), the round, and on the main
/// thread only the rank's timers (the workers' time is the main thread's wait).
pub type RoundWork<'a, P> = dyn Fn(&mut P, usize, u64, Option<&mut PhaseTimers>) + Sync + 'a;

/// The main thread's work between two rounds (collectives, recording); it may stop the run.
pub type Between<'a> = dyn FnMut(u64, &mut PhaseTimers) -> Result<Flow, SimError> + 'a;

/// What the threads meet at: the barrier, the main thread's stop or failure, a panic anywhere.
struct TeamSync {
    barrier: SpinBarrier,
    /// Set by the main thread when the workers must leave after the current round.
    halt: AtomicBool,
    panicked: AtomicBool,
}

impl TeamSync {
    fn wait(&self) -> Result<(), SimError> {
        self.barrier.wait().map_err(|_| SimError::WorkerPanic)
    }

    /// Releases everybody who waits now or later, after a panic or a failure.
    fn release(&self) {
        self.halt.store(true, Ordering::Release);
        self.barrier.abort();
    }
}

/// Runs `rounds` rounds on one thread per part (the calling thread takes part 0), each `work` on every
/// thread, then `between` on the calling thread. The main thread's barrier wait is timed as
/// [`Phase::ThreadWait`]. Returns how many rounds ran and whether `between` stopped them.
pub fn run_rounds<P: Send>(
    parts: &mut [P],
    rounds: u64,
    work: &RoundWork<'_, P>,
    timers: &mut PhaseTimers,
    between: &mut Between<'_>,
) -> Result<RoundsDone, SimError> {
    let sync = TeamSync {
        barrier: SpinBarrier::new(parts.len()),
        halt: AtomicBool::new(false),
        panicked: AtomicBool::new(false),
    };
    let (first, rest) = parts.split_first_mut().ok_or(SimError::WorkerPanic)?;
    std::thread::scope(|scope| {
        let handles: Vec<_> = rest
            .iter_mut()
            .enumerate()
            .map(|(i, part)| {
                let sync = &sync;
                scope.spawn(move || worker_rounds(part, i + 1, rounds, work, sync))
            })
            .collect();
        let main = AssertUnwindSafe(|| main_rounds(first, rounds, work, timers, between, &sync));
        let outcome = catch_unwind(main).unwrap_or_else(|_| {
            sync.panicked.store(true, Ordering::Release);
            Err(SimError::WorkerPanic)
        });
        if outcome.is_err() {
            sync.release();
        }
        let joined_badly = handles.into_iter().map(|h| h.join()).any(|r| r.is_err());
        if joined_badly || sync.panicked.load(Ordering::Acquire) {
            return Err(SimError::WorkerPanic);
        }
        outcome
    })
}

fn main_rounds<P>(
    part: &mut P,
    rounds: u64,
    work: &RoundWork<'_, P>,
    timers: &mut PhaseTimers,
    between: &mut Between<'_>,
    sync: &TeamSync,
) -> Result<RoundsDone, SimError> {
    for round in 0..rounds {
        work(part, 0, round, Some(timers));
        {
            let _g = timers.time(Phase::ThreadWait);
            sync.wait()?;
        }
        let flow = between(round, timers);
        if !matches!(flow, Ok(Flow::Continue)) {
            sync.halt.store(true, Ordering::Release);
        }
        sync.wait()?;
        if matches!(flow?, Flow::Stop) {
            return Ok(RoundsDone { rounds: round + 1, stopped: true });
        }
    }
    Ok(RoundsDone { rounds, stopped: false })
}

/// A worker's rounds: its work, then the round's two barriers while the main thread works alone. A panic
/// aborts the barrier, so nobody waits for this thread forever.
fn worker_rounds<P>(part: &mut P, index: usize, rounds: u64, work: &RoundWork<'_, P>, sync: &TeamSync) {
    let run = AssertUnwindSafe(|| {
        for round in 0..rounds {
            work(part, index, round, None);
            if sync.wait().is_err() || sync.wait().is_err() || sync.halt.load(Ordering::Acquire) {
                return;
            }
        }
    });
    if catch_unwind(run).is_err() {
        sync.panicked.store(true, Ordering::Release);
        sync.barrier.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_thread_works_every_round_and_between_sees_all_of_it() {
        let mut parts = vec![0u64; 4];
        let total = AtomicU64::new(0);
        let work = |p: &mut u64, i: usize, r: u64, _: Option<&mut PhaseTimers>| {
            *p += r;
            total.fetch_add(i as u64 + 1, Ordering::Relaxed);
        };
        let mut seen = Vec::new();
        let mut between = |r: u64, _: &mut PhaseTimers| {
            seen.push(total.load(Ordering::Relaxed));
            Ok(if r == 5 { Flow::Stop } else { Flow::Continue })
        };
        let done = run_rounds(&mut parts, 10, &work, &mut PhaseTimers::new(), &mut between).unwrap();
        assert_eq!(done, RoundsDone { rounds: 6, stopped: true });
        // 1 + 2 + 3 + 4 = 10 per round, complete before the main thread looks.
        assert_eq!(seen, vec![10, 20, 30, 40, 50, 60]);
        assert_eq!(parts, vec![15; 4], "rounds 0..=5 on every part, none after the stop");
    }

    #[test]
    fn a_worker_panic_ends_the_run_with_an_error_and_releases_everybody() {
        let mut parts = vec![(); 3];
        let work = |_: &mut (), i: usize, r: u64, _: Option<&mut PhaseTimers>| {
            assert!(!(i == 2 && r == 3), "injected");
        };
        let mut between = |_: u64, _: &mut PhaseTimers| Ok(Flow::Continue);
        let err = run_rounds(&mut parts, 100, &work, &mut PhaseTimers::new(), &mut between).unwrap_err();
        assert!(matches!(err, SimError::WorkerPanic), "{err}");
    }

    #[test]
    fn a_failure_between_rounds_is_returned_and_the_workers_leave() {
        let mut parts = vec![0u32; 3];
        let work = |p: &mut u32, _: usize, _: u64, _: Option<&mut PhaseTimers>| *p += 1;
        let mut between = |r: u64, _: &mut PhaseTimers| {
            if r == 2 {
                Err(SimError::Routing("injected".into()))
            } else {
                Ok(Flow::Continue)
            }
        };
        let err = run_rounds(&mut parts, 100, &work, &mut PhaseTimers::new(), &mut between).unwrap_err();
        assert!(err.to_string().contains("injected"));
        assert_eq!(parts, vec![3; 3], "nobody worked after the failing round");
    }

    #[test]
    fn a_main_thread_panic_is_an_error_not_a_hang() {
        let mut parts = vec![(); 2];
        let work = |_: &mut (), i: usize, r: u64, _: Option<&mut PhaseTimers>| assert!(!(i == 0 && r == 1), "injected");
        let mut between = |_: u64, _: &mut PhaseTimers| Ok(Flow::Continue);
        let err = run_rounds(&mut parts, 10, &work, &mut PhaseTimers::new(), &mut between).unwrap_err();
        assert!(matches!(err, SimError::WorkerPanic));
    }
}
