//! Synapse tables: the incoming synapses of one thread's neurons, stored source-major in compressed rows
//! split into delay groups (8 bytes per synapse: target channel and weight), built in two passes without
//! ever holding a list of all synapses: count per source, then regenerate, append to the source's row, and
//! sort each row stably by delay.

use crate::huge_pages::filled_vec;
use crate::ring_buffer::RingBuffer;
use crate::{CoreError, Gid, Step};

/// An incoming connection of a target neuron, as a network description produces it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Connection {
    pub source: Gid,
    /// Delay in steps (>= 1).
    pub delay: u32,
    /// Weight in pA; 0 (and delay 0) when only sources were asked for. Static synapses keep it as f32,
    /// plastic ones as f64 (NEST's precision).
    pub weight: f64,
    /// [`STATIC`], or 1 + the index of the recipe's plastic synapse class the connection belongs to.
    pub synapse: u16,
}

/// [`Connection::synapse`] of a static synapse.
pub const STATIC: u16 = 0;

impl Connection {
    /// A static connection.
    #[must_use]
    pub fn fixed(source: Gid, delay: u32, weight: f64) -> Self {
        Self { source, delay, weight, synapse: STATIC }
    }
}

/// One stored synapse: the ring-buffer channel of its target and its weight, side by side so that both
/// construction and delivery touch one cache line per synapse.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Synapse {
    /// `2 * local target index + (1 if inhibitory)`.
    pub channel: u32,
    pub weight: f32,
}

/// Synapses of one thread's targets, grouped by source, then by delay (ascending), each group in
/// generation order (targets ascending, multapses in draw order). `T` is what one synapse stores.
#[derive(Clone, Debug, Default)]
pub struct SynapseRows<T> {
    /// `source_groups[s]..source_groups[s + 1]`: the delay groups of source `s`.
    source_groups: Vec<u32>,
    /// Delay (steps) of each group.
    group_delay: Vec<u16>,
    /// `group_start[g]..group_start[g + 1]`: the synapses of group `g`.
    group_start: Vec<u32>,
    synapses: Vec<T>,
}

/// The static synapses of one thread's targets.
pub type SynapseTable = SynapseRows<Synapse>;

/// Pass one of construction: counts synapses per source (delays are not needed yet, so not drawn).
#[derive(Debug)]
pub struct TableCounter {
    counts: Vec<u32>,
}

impl TableCounter {
    /// A counter for sources `0..n_sources`.
    #[must_use]
    pub fn new(n_sources: usize) -> Self {
        Self { counts: vec![0; n_sources] }
    }

    /// Counts one synapse from `source` (< n_sources; a larger id is reported by pass two).
    #[inline]
    pub fn count(&mut self, source: Gid) {
        if let Some(c) = self.counts.get_mut(source as usize) {
            *c += 1;
        }
    }

    /// Lays out one row per source; pass two fills them through the returned [`TableFiller`].
    pub fn finish<T: Copy + Default>(self) -> Result<TableFiller<T>, CoreError> {
        let mut row_start = Vec::with_capacity(self.counts.len() + 1);
        let mut total: u64 = 0;
        for &c in &self.counts {
            row_start.push(total as u32);
            total += u64::from(c);
        }
        if total > u64::from(u32::MAX) {
            return Err(CoreError::Capacity { what: "synapses in one thread's table".into(), limit: u32::MAX.into() });
        }
        row_start.push(total as u32);
        let cursor = row_start[..row_start.len() - 1].to_vec();
        let n = total as usize;
        Ok(TableFiller { row_start, cursor, synapses: filled_vec(n, T::default()), delays: filled_vec(n, 0) })
    }
}

/// Pass two of construction: appends each synapse to its source's row, then sorts each row by delay.
#[derive(Debug)]
pub struct TableFiller<T> {
    row_start: Vec<u32>,
    cursor: Vec<u32>,
    synapses: Vec<T>,
    /// Delay of each synapse until the rows are sorted.
    delays: Vec<u16>,
}

impl TableFiller<Synapse> {
    /// Places all incoming connections of local target `target`, in their order (weights >= 0 go to the
    /// excitatory channel, as in NEST). Fails if pass two produces a synapse that pass one did not count.
    pub fn place_target(&mut self, target: u32, conns: &[Connection]) -> Result<(), CoreError> {
        for c in conns {
            let weight = c.weight as f32;
            self.place(target, c.source, c.delay, Synapse { channel: 2 * target + u32::from(weight < 0.0), weight })?;
        }
        Ok(())
    }
}

impl<T: Copy + Default> TableFiller<T> {
    /// Appends one synapse of local target `target` to the row of `source`. Fails if pass two produces a
    /// synapse that pass one did not count.
    #[inline]
    pub fn place(&mut self, target: u32, source: Gid, delay: u32, synapse: T) -> Result<(), CoreError> {
        let src = source as usize;
        let (Some(&pos), Some(&end)) = (self.cursor.get(src), self.row_start.get(src + 1)) else {
            return Err(CoreError::NondeterministicRecipe { target });
        };
        let delay = u16::try_from(delay)
            .map_err(|_| CoreError::invalid("delay", delay, "delays are limited to 65535 steps"))?;
        if pos >= end {
            return Err(CoreError::NondeterministicRecipe { target });
        }
        self.cursor[src] = pos + 1;
        self.synapses[pos as usize] = synapse;
        self.delays[pos as usize] = delay;
        Ok(())
    }

    /// Sorts every row by delay (stably, so each group keeps generation order) and records the groups.
    /// Fails if pass two produced fewer synapses than pass one counted.
    pub fn finish(self) -> Result<SynapseRows<T>, CoreError> {
        let Self { row_start, cursor, mut synapses, delays } = self;
        if let Some(src) = (0..cursor.len()).find(|&s| cursor[s] != row_start[s + 1]) {
            return Err(CoreError::NondeterministicRecipe { target: src as u32 });
        }
        let mut table: SynapseRows<T> = SynapseRows {
            source_groups: Vec::with_capacity(cursor.len() + 1),
            group_delay: Vec::new(),
            group_start: Vec::new(),
            synapses: Vec::new(),
        };
        let mut histogram = vec![0u32; usize::from(delays.iter().copied().max().unwrap_or(0)) + 1];
        let mut present: Vec<u16> = Vec::new();
        let mut scratch: Vec<T> = Vec::new();
        for src in 0..cursor.len() {
            table.source_groups.push(table.group_delay.len() as u32);
            let (a, b) = (row_start[src] as usize, row_start[src + 1] as usize);
            let row_delays = &delays[a..b];
            present.clear();
            for &d in row_delays {
                if histogram[usize::from(d)] == 0 {
                    present.push(d);
                }
                histogram[usize::from(d)] += 1;
            }
            present.sort_unstable();
            let mut offset = a as u32;
            for &d in &present {
                table.group_delay.push(d);
                table.group_start.push(offset);
                let count = histogram[usize::from(d)];
                histogram[usize::from(d)] = offset - a as u32; // becomes the group's write position
                offset += count;
            }
            if present.len() > 1 {
                scratch.clear();
                scratch.resize(b - a, T::default());
                for (syn, &d) in synapses[a..b].iter().zip(row_delays) {
                    let slot = &mut histogram[usize::from(d)];
                    scratch[*slot as usize] = *syn;
                    *slot += 1;
                }
                synapses[a..b].copy_from_slice(&scratch);
            }
            for &d in &present {
                histogram[usize::from(d)] = 0;
            }
        }
        table.source_groups.push(table.group_delay.len() as u32);
        table.group_start.push(synapses.len() as u32);
        table.synapses = synapses;
        Ok(table)
    }
}

impl<T> SynapseRows<T> {
    /// Number of synapses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.synapses.len()
    }

    /// Whether the table holds no synapse.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.synapses.is_empty()
    }

    /// The sources with at least one synapse here, ascending.
    pub fn sources(&self) -> impl Iterator<Item = Gid> + '_ {
        self.source_groups.windows(2).enumerate().filter(|(_, w)| w[0] != w[1]).map(|(s, _)| s as Gid)
    }

    /// Smallest and largest delay (steps) present, if any synapse is.
    #[must_use]
    pub fn delay_range(&self) -> Option<(u32, u32)> {
        let lo = self.group_delay.iter().min()?;
        let hi = self.group_delay.iter().max()?;
        Some((u32::from(*lo), u32::from(*hi)))
    }

    /// Bytes held by the table (synapses plus group index).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.synapse_bytes() + self.index_bytes()
    }

    /// Bytes of the synapses themselves.
    #[must_use]
    pub fn synapse_bytes(&self) -> usize {
        self.synapses.len() * std::mem::size_of::<T>()
    }

    /// Bytes of the row and group index.
    #[must_use]
    pub fn index_bytes(&self) -> usize {
        self.source_groups.len() * 4 + self.group_delay.len() * 2 + self.group_start.len() * 4
    }

    /// Number of delay groups (rows of one source and one delay).
    #[must_use]
    pub fn num_groups(&self) -> usize {
        self.group_delay.len()
    }

    /// The delay groups of `source` (empty if it has no synapse here).
    #[inline]
    #[must_use]
    pub fn groups_of(&self, source: Gid) -> std::ops::Range<usize> {
        let s = source as usize;
        match (self.source_groups.get(s), self.source_groups.get(s + 1)) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        }
    }

    /// The delay (steps) of group `g`.
    #[inline]
    #[must_use]
    pub fn group_delay(&self, g: usize) -> u32 {
        u32::from(self.group_delay[g])
    }

    /// The synapses of group `g`.
    #[inline]
    #[must_use]
    pub fn group(&self, g: usize) -> &[T] {
        &self.synapses[self.group_start[g] as usize..self.group_start[g + 1] as usize]
    }

    /// The synapses of group `g`, to change them.
    #[inline]
    pub fn group_mut(&mut self, g: usize) -> &mut [T] {
        &mut self.synapses[self.group_start[g] as usize..self.group_start[g + 1] as usize]
    }

    /// Every (source, group) in storage order: sources ascending, each source's delays ascending.
    pub fn source_group_pairs(&self) -> impl Iterator<Item = (Gid, usize)> + '_ {
        self.source_groups
            .windows(2)
            .enumerate()
            .flat_map(|(s, w)| (w[0] as usize..w[1] as usize).map(move |g| (s as Gid, g)))
    }
}

impl SynapseTable {
    /// Adds the weights of every synapse of `source` into the ring buffer at `emitted + delay`; returns
    /// the number of synapses (synaptic events).
    #[inline]
    pub fn deliver(&self, source: Gid, emitted: Step, ring: &mut RingBuffer) -> u64 {
        let s = source as usize;
        let Some(&g_end) = self.source_groups.get(s + 1) else { return 0 };
        let first = self.group_start[self.source_groups[s] as usize];
        for g in self.source_groups[s] as usize..g_end as usize {
            let row = ring.row_mut(emitted + u64::from(self.group_delay[g]));
            let (a, b) = (self.group_start[g] as usize, self.group_start[g + 1] as usize);
            for syn in &self.synapses[a..b] {
                row[syn.channel as usize] += syn.weight;
            }
        }
        u64::from(self.group_start[g_end as usize] - first)
    }

    /// Asks the cache for the first synapses of `source` ahead of [`SynapseTable::deliver`]: rows start at
    /// random places in a table far larger than the cache, and the hardware prefetcher only follows a row
    /// once it has been entered.
    #[inline]
    pub fn prefetch(&self, source: Gid) {
        #[cfg(target_arch = "x86_64")]
        {
            let s = source as usize;
            if let (Some(&g), Some(_)) = (self.source_groups.get(s), self.source_groups.get(s + 1)) {
                if let Some(&first) = self.group_start.get(g as usize) {
                    let p = self.synapses.as_ptr().wrapping_add(first as usize).cast::<i8>();
                    for line in 0..4 {
                        // SAFETY: a prefetch is a hint that reads nothing and never faults, whatever the
                        // address; SSE is part of every x86_64 target.
                        unsafe {
                            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                                p.wrapping_add(64 * line),
                            );
                        }
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = source;
    }

    /// The synapses of `source` as (local target, delay, weight), in storage order (for tests and tools).
    #[must_use]
    pub fn synapses_from(&self, source: Gid) -> Vec<(u32, u32, f32)> {
        let s = source as usize;
        let Some(&g_end) = self.source_groups.get(s + 1) else { return Vec::new() };
        let mut out = Vec::new();
        for g in self.source_groups[s] as usize..g_end as usize {
            for syn in &self.synapses[self.group_start[g] as usize..self.group_start[g + 1] as usize] {
                out.push((syn.channel / 2, u32::from(self.group_delay[g]), syn.weight));
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
        for &(s, _, _, _) in syns {
            counter.count(s);
        }
        let mut filler = counter.finish::<Synapse>().unwrap();
        for &(s, d, t, w) in syns {
            filler.place_target(t, &[Connection::fixed(s, d, f64::from(w))]).unwrap();
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
        counter.count(0);
        let mut filler = counter.finish::<Synapse>().unwrap();
        assert!(filler.place_target(0, &[Connection::fixed(1, 1, 1.0)]).is_err());
        let counter = TableCounter::new(2);
        let filler = counter.finish::<Synapse>().unwrap();
        assert!(filler.finish().is_ok());
        let mut counter = TableCounter::new(2);
        counter.count(0);
        assert!(counter.finish::<Synapse>().unwrap().finish().is_err());
    }
}
