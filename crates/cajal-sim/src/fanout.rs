//! The exact spike fan-out of one rank's neurons, computed by streaming every target's source draws (the
//! counting pass's query, so no weight or delay is drawn and nothing is stored): which ranks hold at least
//! one target of each neuron. A dry run uses it to give the exchange volume of a rank of a large job that is
//! never started; a real run learns the same routes through one all-to-all.

use rayon::prelude::*;

use cajal_core::Gid;
use cajal_net::{Decomposition, Query, Recipe};

use crate::SimError;

/// The fan-out of one rank's neurons to the other ranks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fanout {
    /// Neurons of the rank with at least one target on another rank.
    pub neurons_with_remote_targets: u64,
    /// (neuron, other rank holding one of its targets) pairs: the spikes-to-send per spike of the rank, summed.
    pub remote_destinations: u64,
    /// Spikes the rank emits per exchange window at the populations' expected rates.
    pub expected_spikes_per_window: f64,
    /// Bytes the rank sends per exchange window at the populations' expected rates (8 bytes per spike and
    /// destination rank).
    pub expected_bytes_per_window: f64,
}

/// Streams every target of the network (in parallel over targets) and marks, for each neuron of `rank`,
/// the ranks that own one of its targets.
pub fn stream_fanout<R: Recipe>(
    recipe: &R,
    decomposition: &Decomposition,
    rank: usize,
    window_steps: u32,
) -> Result<Fanout, SimError> {
    let mine = decomposition.neurons_of(rank);
    let words = decomposition.size().div_ceil(64);
    let n_local = mine.len() as usize;
    let empty = || vec![0u64; n_local * words];
    let marks = (0..recipe.num_neurons())
        .into_par_iter()
        .try_fold(empty, |mut bits, target: Gid| {
            let owner = decomposition.rank_of(target);
            recipe.connections_to(target, Query::Sources, |c| {
                if let Some(i) = mine.index_of(c.source) {
                    bits[i as usize * words + owner / 64] |= 1 << (owner % 64);
                }
            })?;
            Ok::<_, SimError>(bits)
        })
        .try_reduce(empty, |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
            Ok(a)
        })?;
    let window_s = recipe.resolution().steps_to_ms(u64::from(window_steps)) / 1000.0;
    let mut out = Fanout::default();
    for i in 0..n_local {
        let row = &marks[i * words..(i + 1) * words];
        let own = u32::from(row[rank / 64] & (1 << (rank % 64)) != 0);
        let remote = u64::from(row.iter().map(|w| w.count_ones()).sum::<u32>() - own);
        let gid = mine.gid(i as u32);
        let rate = recipe.populations()[recipe.population_of(gid)].expected_rate_hz.unwrap_or(0.0);
        out.neurons_with_remote_targets += u64::from(remote > 0);
        out.remote_destinations += remote;
        out.expected_spikes_per_window += rate * window_s;
        out.expected_bytes_per_window += 8.0 * rate * window_s * remote as f64;
    }
    Ok(out)
}
