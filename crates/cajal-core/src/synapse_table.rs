//! Synapse tables: the incoming synapses of one thread's neurons, stored source-major in compressed rows
//! split by delay (8 bytes per synapse: target channel and weight), built in two passes without ever
//! holding a list of all synapses.

use crate::ring_buffer::RingBuffer;
use crate::{CoreError, Gid, Step};

/// Marks a delay with no synapses in [`SynapseTable`]'s delay-to-slot map.
const NO_SLOT: u16 = u16::MAX;

/// The synapses of one thread's targets, grouped by source, then by delay, each group in generation order.
#[derive(Clone, Debug, Default)]
pub struct SynapseTable {
    n_sources: usize,
    /// The distinct delays (steps) present, ascending; a delay slot indexes this list.
    delays: Vec<u32>,
    /// `row_start[src * delays.len() + slot]`: first synapse of that (source, delay) group.
    row_start: Vec<u32>,
    /// Ring-buffer channel of the target: `2 * local index + (1 if inhibitory)`.
    channel: Vec<u32>,
    weight: Vec<f32>,
}

/// Pass one of construction: counts synapses per (source, delay).
#[derive(Debug)]
pub struct TableCounter {
    n_sources: usize,
    /// Indexed by delay in steps; an empty vector is a delay not seen yet.
    counts_by_delay: Vec<Vec<u32>>,
}

impl TableCounter {
    /// A counter for sources `0..n_sources`.
    #[must_use]
    pub fn new(n_sources: usize) -> Self {
        Self { n_sources, counts_by_delay: Vec::new() }
    }

    /// Counts one synapse from `source` with `delay` steps (>= 1, < 65535; checked by the caller's resolution).
    #[inline]
    pub fn count(&mut self, source: Gid, delay: u32) {
        let d = delay as usize;
        if d >= self.counts_by_delay.len() {
            self.counts_by_delay.resize_with(d + 1, Vec::new);
        }
        let counts = &mut self.counts_by_delay[d];
        if counts.is_empty() {
            counts.resize(self.n_sources, 0);
        }
        counts[source as usize] += 1;
    }

    /// Lays out the rows; pass two fills them through the returned [`TableFiller`].
    pub fn finish(self) -> Result<TableFiller, CoreError> {
        let delays: Vec<u32> =
            (0..self.counts_by_delay.len()).filter(|&d| !self.counts_by_delay[d].is_empty()).map(|d| d as u32).collect();
        let n_slots = delays.len();
        let mut slot_of_delay = vec![NO_SLOT; self.counts_by_delay.len()];
        for (slot, &d) in delays.iter().enumerate() {
            slot_of_delay[d as usize] = slot as u16;
        }
        let mut row_start = Vec::with_capacity(self.n_sources * n_slots + 1);
        let mut total: u64 = 0;
        for src in 0..self.n_sources {
            for &d in &delays {
                row_start.push(total as u32);
                total += u64::from(self.counts_by_delay[d as usize][src]);
            }
            if total > u64::from(u32::MAX) {
                return Err(CoreError::Capacity { what: "synapses in one thread's table".into(), limit: u32::MAX.into() });
            }
        }
        row_start.push(total as u32);
        let cursor = row_start[..row_start.len() - 1].to_vec();
        let table = SynapseTable {
            n_sources: self.n_sources,
            delays,
            row_start,
            channel: vec![0; total as usize],
            weight: vec![0.0; total as usize],
        };
        Ok(TableFiller { table, slot_of_delay, cursor })
    }
}

/// Pass two of construction: places each synapse at the next free position of its (source, delay) group.
#[derive(Debug)]
pub struct TableFiller {
    table: SynapseTable,
    slot_of_delay: Vec<u16>,
    cursor: Vec<u32>,
}

impl TableFiller {
    /// Places a synapse onto local target `target` (weights >= 0 go to the excitatory channel, as in NEST).
    /// Fails if pass two produces a synapse that pass one did not count.
    #[inline]
    pub fn place(&mut self, source: Gid, delay: u32, target: u32, weight: f32) -> Result<(), CoreError> {
        let n_slots = self.table.delays.len();
        let slot = self.slot_of_delay.get(delay as usize).copied().unwrap_or(NO_SLOT);
        if slot == NO_SLOT || source as usize >= self.table.n_sources {
            return Err(CoreError::NondeterministicRecipe { target });
        }
        let row = source as usize * n_slots + slot as usize;
        let pos = self.cursor[row];
        if pos >= self.table.row_start[row + 1] {
            return Err(CoreError::NondeterministicRecipe { target });
        }
        self.cursor[row] = pos + 1;
        self.table.channel[pos as usize] = 2 * target + u32::from(weight < 0.0);
        self.table.weight[pos as usize] = weight;
        Ok(())
    }

    /// The finished table; fails if pass two produced fewer synapses than pass one counted.
    pub fn finish(self) -> Result<SynapseTable, CoreError> {
        let starts = &self.table.row_start;
        if let Some(row) = (0..self.cursor.len()).find(|&r| self.cursor[r] != starts[r + 1]) {
            let n_slots = self.table.delays.len().max(1);
            return Err(CoreError::NondeterministicRecipe { target: (row / n_slots) as u32 });
        }
        Ok(self.table)
    }
}

impl SynapseTable {
    /// Number of synapses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.weight.len()
    }

    /// Whether the table holds no synapse.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.weight.is_empty()
    }

    /// Smallest and largest delay (steps) present, if any synapse is.
    #[must_use]
    pub fn delay_range(&self) -> Option<(u32, u32)> {
        Some((*self.delays.first()?, *self.delays.last()?))
    }

    /// Bytes held by the table (synapses plus row index).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.channel.len() * 4 + self.weight.len() * 4 + self.row_start.len() * 4 + self.delays.len() * 4
    }

    /// Adds the weights of every synapse of `source` into the ring buffer at `emitted + delay`.
    #[inline]
    pub fn deliver(&self, source: Gid, emitted: Step, ring: &mut RingBuffer) {
        let n_slots = self.delays.len();
        let base = source as usize * n_slots;
        if base >= self.row_start.len() - 1 || self.row_start[base] == self.row_start[base + n_slots] {
            return;
        }
        for (slot, &delay) in self.delays.iter().enumerate() {
            let (a, b) = (self.row_start[base + slot] as usize, self.row_start[base + slot + 1] as usize);
            if a == b {
                continue;
            }
            let row = ring.row_mut(emitted + u64::from(delay));
            for (&c, &w) in self.channel[a..b].iter().zip(&self.weight[a..b]) {
                row[c as usize] += w;
            }
        }
    }

    /// The synapses of `source` as (local target, delay, weight), in storage order (for tests and tools).
    #[must_use]
    pub fn synapses_from(&self, source: Gid) -> Vec<(u32, u32, f32)> {
        let n_slots = self.delays.len();
        let base = source as usize * n_slots;
        let mut out = Vec::new();
        if n_slots == 0 || base >= self.n_sources * n_slots {
            return out;
        }
        for (slot, &delay) in self.delays.iter().enumerate() {
            for k in self.row_start[base + slot] as usize..self.row_start[base + slot + 1] as usize {
                out.push((self.channel[k] / 2, delay, self.weight[k]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(syns: &[(u32, u32, u32, f32)], n_sources: usize) -> SynapseTable {
        let mut counter = TableCounter::new(n_sources);
        for &(s, d, _, _) in syns {
            counter.count(s, d);
        }
        let mut filler = counter.finish().unwrap();
        for &(s, d, t, w) in syns {
            filler.place(s, d, t, w).unwrap();
        }
        filler.finish().unwrap()
    }

    #[test]
    fn rows_are_grouped_by_source_then_delay_in_generation_order() {
        // (source, delay, target, weight), generated target by target.
        let syns = [(1, 3, 0, 1.0), (0, 2, 0, -2.0), (1, 2, 1, 3.0), (1, 3, 1, 4.0), (1, 3, 1, 5.0)];
        let t = build(&syns, 2);
        assert_eq!(t.len(), 5);
        assert_eq!(t.delay_range(), Some((2, 3)));
        assert_eq!(t.synapses_from(0), vec![(0, 2, -2.0)]);
        assert_eq!(t.synapses_from(1), vec![(1, 2, 3.0), (0, 3, 1.0), (1, 3, 4.0), (1, 3, 5.0)]);
    }

    #[test]
    fn delivery_adds_weights_at_emission_plus_delay_by_sign() {
        let syns = [(0, 1, 0, 1.5), (0, 2, 1, -2.0), (0, 2, 1, -0.5)];
        let t = build(&syns, 1);
        let mut ring = RingBuffer::new(2, 2);
        t.deliver(0, 10, &mut ring);
        assert_eq!(ring.row_mut(11).to_vec(), vec![1.5, 0.0, 0.0, 0.0]);
        assert_eq!(ring.row_mut(12).to_vec(), vec![0.0, 0.0, 0.0, -2.5]);
        assert_eq!(ring.row_mut(10).to_vec(), vec![0.0; 4]);
    }

    #[test]
    fn a_second_pass_that_disagrees_is_an_error() {
        let mut counter = TableCounter::new(2);
        counter.count(0, 1);
        let mut filler = counter.finish().unwrap();
        assert!(filler.place(1, 1, 0, 1.0).is_err());
        let counter = TableCounter::new(2);
        let filler = counter.finish().unwrap();
        assert!(filler.finish().is_ok());
        let mut counter = TableCounter::new(2);
        counter.count(0, 1);
        assert!(counter.finish().unwrap().finish().is_err());
    }
}
