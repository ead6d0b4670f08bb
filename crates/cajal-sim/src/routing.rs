//! Spike routes: for each neuron of this rank, the ranks that hold at least one of its targets, so a spike
//! is sent only where it is needed. Built once after construction with one all-to-all: every rank tells each
//! owner which of the owner's neurons it needs.

use cajal_comm::Communicator;
use cajal_core::partition::ThreadPart;
use cajal_core::Gid;
use cajal_net::{Decomposition, NeuronSet};

use crate::SimError;

/// Destination ranks per local neuron, in compressed rows.
#[derive(Clone, Debug)]
pub struct SpikeRoutes {
    local: NeuronSet,
    start: Vec<u32>,
    ranks: Vec<u32>,
    rank: usize,
}

impl SpikeRoutes {
    /// Collective: learns which ranks need the spikes of each of this rank's neurons.
    pub fn build(
        parts: &[ThreadPart],
        decomposition: &Decomposition,
        n_neurons: Gid,
        comm: &mut dyn Communicator,
    ) -> Result<Self, SimError> {
        let me = comm.rank();
        let mut needed = vec![false; n_neurons as usize];
        for part in parts {
            for s in part.sources() {
                needed[s as usize] = true;
            }
        }
        let mut requests = vec![Vec::new(); comm.size()];
        for (gid, _) in needed.iter().enumerate().filter(|(_, &n)| n) {
            requests[decomposition.rank_of(gid as Gid)].push(((me as u64) << 32) | gid as u64);
        }
        drop(needed);
        let received = comm.all_to_all_v(&requests)?;
        let local = decomposition.neurons_of(me);
        let mut counts = vec![0u32; local.len() as usize + 1];
        let index = |v: u64| local.index_of(v as Gid).map(|i| i as usize);
        for &v in &received {
            let i = index(v).ok_or_else(|| {
                SimError::Routing(format!(
                    "rank {} asked rank {me} for neuron {}, which it does not own",
                    v >> 32,
                    v as Gid
                ))
            })?;
            counts[i + 1] += 1;
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let start = counts.clone();
        let mut ranks = vec![0u32; received.len()];
        // `received` is in rank order, so each neuron's list comes out ascending.
        for &v in &received {
            if let Some(i) = index(v) {
                ranks[counts[i] as usize] = (v >> 32) as u32;
                counts[i] += 1;
            }
        }
        Ok(Self { local, start, ranks, rank: me })
    }

    /// This rank's neurons.
    #[must_use]
    pub fn neurons(&self) -> &NeuronSet {
        &self.local
    }

    /// The ranks that need the spikes of `gid` (a neuron of this rank).
    #[inline]
    #[must_use]
    pub fn ranks_for(&self, gid: Gid) -> &[u32] {
        match self.local.index_of(gid) {
            Some(i) => &self.ranks[self.start[i as usize] as usize..self.start[i as usize + 1] as usize],
            None => &[],
        }
    }

    /// (Neurons whose spikes leave this rank, destination entries on other ranks.)
    #[must_use]
    pub fn remote_fanout(&self) -> (u64, u64) {
        let me = self.rank as u32;
        let mut neurons = 0;
        let mut entries = 0;
        for i in 0..self.local.len() as usize {
            let remote =
                self.ranks[self.start[i] as usize..self.start[i + 1] as usize].iter().filter(|&&r| r != me).count();
            neurons += u64::from(remote > 0);
            entries += remote as u64;
        }
        (neurons, entries)
    }
}
