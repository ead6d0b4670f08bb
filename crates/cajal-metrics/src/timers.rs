//! Per-phase timers: one hdrhistogram (nanoseconds, 3 significant digits) per phase, filled through guards
//! that record when they are dropped, so a timing cannot be left open.

use std::time::Instant;

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::MetricsError;

/// The phases of a window (and the checkpoint, which is rarer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// Expanding the previous window's spikes into the ring buffers (the main thread's part).
    Deliver,
    /// Advancing the neurons through the window (the main thread's part).
    Update,
    /// Waiting for the rank's other threads to finish their deliver and update.
    ThreadWait,
    /// Merging and sorting the threads' spikes, filling the send buffers.
    Pack,
    /// Recording spikes (digest, counts, files).
    Record,
    /// Waiting for the other ranks (a barrier before the exchange, with `--sync-timer`).
    Sync,
    /// The spike exchange itself.
    Exchange,
    /// Writing a checkpoint.
    Checkpoint,
}

/// Every phase, in report order.
pub const PHASES: [Phase; 8] = [
    Phase::Deliver,
    Phase::Update,
    Phase::ThreadWait,
    Phase::Pack,
    Phase::Record,
    Phase::Sync,
    Phase::Exchange,
    Phase::Checkpoint,
];

impl Phase {
    /// The phase's name in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Deliver => "deliver",
            Self::Update => "update",
            Self::ThreadWait => "thread_wait",
            Self::Pack => "pack",
            Self::Record => "record",
            Self::Sync => "sync",
            Self::Exchange => "exchange",
            Self::Checkpoint => "checkpoint",
        }
    }

    /// Whether the phase is communication between ranks (for the communication share).
    #[must_use]
    pub fn is_communication(self) -> bool {
        matches!(self, Self::Sync | Self::Exchange)
    }

    fn index(self) -> usize {
        PHASES.iter().position(|&p| p == self).unwrap_or(0)
    }
}

/// One histogram per phase.
#[derive(Clone, Debug)]
pub struct PhaseTimers {
    histograms: Vec<Histogram<u64>>,
}

/// Records the time since its creation into its phase's histogram when dropped.
#[derive(Debug)]
pub struct Guard<'a> {
    timers: &'a mut PhaseTimers,
    phase: Phase,
    started: Instant,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let ns = self.started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.timers.record(self.phase, ns);
    }
}

impl Default for PhaseTimers {
    fn default() -> Self {
        Self::new()
    }
}

fn empty_histogram() -> Histogram<u64> {
    // Three significant digits, auto-resizing: never fails for a positive precision.
    Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
}

impl PhaseTimers {
    /// Empty histograms for every phase.
    #[must_use]
    pub fn new() -> Self {
        Self { histograms: PHASES.iter().map(|_| empty_histogram()).collect() }
    }

    /// Times `phase` until the guard is dropped.
    pub fn time(&mut self, phase: Phase) -> Guard<'_> {
        Guard { timers: self, phase, started: Instant::now() }
    }

    /// Records one duration of `phase`.
    pub fn record(&mut self, phase: Phase, ns: u64) {
        // Auto-resizing histograms grow to any value; should that fail, saturate rather than lose it.
        let h = &mut self.histograms[phase.index()];
        if h.record(ns).is_err() {
            h.saturating_record(ns);
        }
    }

    /// The histogram of `phase`.
    #[must_use]
    pub fn histogram(&self, phase: Phase) -> &Histogram<u64> {
        &self.histograms[phase.index()]
    }

    /// Adds another rank's (or run's) histograms to these.
    pub fn merge(&mut self, other: &PhaseTimers) -> Result<(), MetricsError> {
        for (a, b) in self.histograms.iter_mut().zip(&other.histograms) {
            a.add(b).map_err(|e| MetricsError::Histogram(format!("{e:?}")))?;
        }
        Ok(())
    }

    /// Every histogram as V2 + DEFLATE, each behind its length (u32, little endian).
    pub fn serialize(&self) -> Result<Vec<u8>, MetricsError> {
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        for h in &self.histograms {
            let mut buf = Vec::new();
            serializer.serialize(h, &mut buf).map_err(|e| MetricsError::Histogram(format!("{e:?}")))?;
            out.extend_from_slice(&(buf.len() as u32).to_le_bytes());
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }

    /// The inverse of [`PhaseTimers::serialize`].
    pub fn deserialize(bytes: &[u8]) -> Result<Self, MetricsError> {
        let mut deserializer = Deserializer::new();
        let mut histograms = Vec::new();
        let mut at = 0;
        while histograms.len() < PHASES.len() {
            let len_bytes: [u8; 4] = bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| MetricsError::Histogram("truncated histogram data".into()))?;
            let len = u32::from_le_bytes(len_bytes) as usize;
            let mut body =
                bytes.get(at + 4..at + 4 + len).ok_or_else(|| MetricsError::Histogram("truncated histogram".into()))?;
            let h: Histogram<u64> =
                deserializer.deserialize(&mut body).map_err(|e| MetricsError::Histogram(format!("{e:?}")))?;
            histograms.push(h);
            at += 4 + len;
        }
        Ok(Self { histograms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_record_on_drop_and_histograms_round_trip() {
        let mut t = PhaseTimers::new();
        {
            let _g = t.time(Phase::Update);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        t.record(Phase::Exchange, 1_000);
        t.record(Phase::Exchange, 3_000);
        assert_eq!(t.histogram(Phase::Update).len(), 1);
        assert!(t.histogram(Phase::Update).max() >= 2_000_000);
        let back = PhaseTimers::deserialize(&t.serialize().unwrap()).unwrap();
        assert_eq!(back.histogram(Phase::Exchange).len(), 2);
        assert_eq!(back.histogram(Phase::Exchange).max(), t.histogram(Phase::Exchange).max());
        let mut merged = back.clone();
        merged.merge(&t).unwrap();
        assert_eq!(merged.histogram(Phase::Exchange).len(), 4);
        assert!(PhaseTimers::deserialize(&[1, 2]).is_err());
    }
}
