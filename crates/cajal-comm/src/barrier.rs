//! A spin-then-sleep barrier for per-window synchronisation (the driver's threads, the in-process ranks):
//! a few hundred nanoseconds when every thread has its own core; a waiter that has spun and yielded for a
//! while sleeps on a condition variable, so threads that outnumber the cores do not starve the one they
//! wait for. It can be aborted, so that a participant that failed never leaves the others waiting forever.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

/// Spins this many times before yielding the core.
const SPINS_BEFORE_YIELD: u32 = 2_000;
/// Yields this many times before sleeping.
const YIELDS_BEFORE_SLEEP: u32 = 50;

/// A reusable barrier for `n` threads.
#[derive(Debug)]
pub struct SpinBarrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    aborted: AtomicBool,
    /// Waiters asleep on `wake`; the last arriver only takes the lock when there are some.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
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
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Blocks until all `n` threads have called `wait` for this generation, or the barrier is aborted.
    pub fn wait(&self) -> Result<(), Aborted> {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::SeqCst);
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
                self.wake.notify_all();
            }
            return self.check();
        }
        let released = || self.generation.load(Ordering::Acquire) != generation || self.aborted.load(Ordering::Acquire);
        for _ in 0..SPINS_BEFORE_YIELD {
            if released() {
                return self.check();
            }
            std::hint::spin_loop();
        }
        for _ in 0..YIELDS_BEFORE_SLEEP {
            if released() {
                return self.check();
            }
            std::thread::yield_now();
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        // Checked under the lock after announcing the sleep: the last arriver either sees the sleeper and
        // notifies under the lock, or bumped the generation before this check.
        while self.generation.load(Ordering::SeqCst) == generation && !self.aborted.load(Ordering::SeqCst) {
            guard = self.wake.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        self.check()
    }

    /// Releases every waiter now and in future with [`Aborted`].
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
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
    fn many_more_threads_than_cores_still_make_progress() {
        let n = 16;
        let b = SpinBarrier::new(n);
        let counter = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    for round in 1..=100u64 {
                        counter.fetch_add(1, Ordering::SeqCst);
                        b.wait().unwrap();
                        assert!(counter.load(Ordering::SeqCst) >= n as u64 * round);
                        b.wait().unwrap();
                    }
                });
            }
        });
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
