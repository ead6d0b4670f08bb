//! A spinning barrier for per-window synchronisation (the driver's threads, the in-process ranks): a few
//! hundred nanoseconds when every thread has its own core, and it yields when threads outnumber cores. It
//! can be aborted, so that a participant that failed never leaves the others waiting forever.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Spins this many times before yielding the core.
const SPINS_BEFORE_YIELD: u32 = 2_000;

/// A reusable barrier for `n` threads.
#[derive(Debug)]
pub struct SpinBarrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    aborted: AtomicBool,
}

/// Returned by [`SpinBarrier::wait`] once the barrier has been aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aborted;

impl SpinBarrier {
    /// A barrier for `n` (>= 1) threads.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
        }
    }

    /// Blocks until all `n` threads have called `wait` for this generation, or the barrier is aborted.
    pub fn wait(&self) -> Result<(), Aborted> {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return self.check();
        }
        let mut spins = 0;
        while self.generation.load(Ordering::Acquire) == generation {
            if self.aborted.load(Ordering::Acquire) {
                return Err(Aborted);
            }
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        self.check()
    }

    /// Releases every waiter now and in future with [`Aborted`].
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    fn check(&self) -> Result<(), Aborted> {
        if self.aborted.load(Ordering::Acquire) {
            Err(Aborted)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn no_thread_passes_before_all_arrive() {
        let b = SpinBarrier::new(3);
        let counter = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for round in 1..=200u64 {
                        counter.fetch_add(1, Ordering::SeqCst);
                        b.wait().unwrap();
                        assert!(counter.load(Ordering::SeqCst) >= 3 * round);
                        b.wait().unwrap();
                    }
                });
            }
        });
        assert_eq!(counter.load(Ordering::SeqCst), 600);
    }

    #[test]
    fn abort_releases_a_waiter_that_would_wait_forever() {
        let b = SpinBarrier::new(2);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| b.wait());
            std::thread::sleep(std::time::Duration::from_millis(20));
            b.abort();
            assert_eq!(waiter.join().unwrap(), Err(Aborted));
        });
    }
}
