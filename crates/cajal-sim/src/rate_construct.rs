//! Construction of a rank's part of a rate network: the decomposition (data, from
//! [`crate::partition::partition_rate`]) names the rank's neurons; their inputs
//! come from the recipe per target (in the recipe's order, which fixes the summation order); sources on
//! other ranks become ghost slots, and one all-to-all tells every rank which of its values to send where.

use cajal_comm::Communicator;
use cajal_core::Gid;
use cajal_net::{Balancer, Decomposition, NeuronSet, RateRecipe};

use crate::partition::{check_decomposition, partition_rate};
use crate::rate_engine::{RateEngine, RateLayout, ThreadRows};
use crate::SimError;

/// What a rank's rate network holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateStats {
    /// Neurons and inputs in the whole network.
    pub neurons: u64,
    pub synapses: u64,
    /// This rank's neurons, inputs and ghost (remote source) slots.
    pub local_neurons: u64,
    pub local_synapses: u64,
    pub ghosts: u64,
    /// Values this rank sends to other ranks per step.
    pub values_sent_per_step: u64,
}

/// Partitions `recipe` with `balancer` and builds this rank's part for steps of `dt_s` seconds, on `threads`
/// threads: [`partition_rate`] then [`build_rate_engine_on`]. Collective: every rank calls it.
pub fn build_rate_engine(
    recipe: &dyn RateRecipe,
    comm: &mut dyn Communicator,
    threads: usize,
    balancer: Balancer,
    dt_s: f64,
) -> Result<(RateEngine, RateStats), SimError> {
    // Before partitioning, which may take long (METIS).
    check_dt(dt_s)?;
    let decomposition = partition_rate(recipe, comm, balancer)?;
    build_rate_engine_on(recipe, &decomposition, comm, threads, dt_s)
}

/// Builds this rank's part of `recipe`, its neurons in `decomposition` (made for this recipe and `comm`'s
/// ranks), for steps of `dt_s` seconds, on `threads` threads. Collective: every rank calls it.
pub fn build_rate_engine_on(
    recipe: &dyn RateRecipe,
    decomposition: &Decomposition,
    comm: &mut dyn Communicator,
    threads: usize,
    dt_s: f64,
) -> Result<(RateEngine, RateStats), SimError> {
    check_dt(dt_s)?;
    let n = recipe.num_neurons();
    check_decomposition(decomposition, n, comm.size())?;
    let me = comm.rank();
    let owned = decomposition.neurons_of(me);
    let (sources, weights, row_start) = gather_inputs(recipe, &owned);
    let ghosts = ghost_gids(&sources, &owned, decomposition);
    let slots = source_slots(&sources, &owned, &ghosts, decomposition)?;
    let send_lists = learn_send_lists(comm, &ghosts, &owned, decomposition)?;
    let threads = crate::construct::usable_threads(threads, owned.len(), me);
    let rows = split_rows(&row_start, &slots, &weights, threads);
    let mut neurons = Vec::with_capacity(owned.len() as usize);
    for i in 0..owned.len() {
        neurons.push(recipe.neuron(owned.gid(i)));
    }
    let totals = comm.all_reduce_u64(&[sources.len() as u64], cajal_comm::ReduceOp::Sum)?;
    let stats = RateStats {
        neurons: u64::from(n),
        synapses: totals[0],
        local_neurons: u64::from(owned.len()),
        local_synapses: sources.len() as u64,
        ghosts: ghosts.len() as u64,
        values_sent_per_step: send_lists.iter().map(|l| l.len() as u64).sum(),
    };
    for (i, n) in neurons.iter().enumerate() {
        if !(n.noise_std.is_finite() && n.noise_std >= 0.0 && n.tau_s.is_finite() && n.tau_s > 0.0) {
            let gid = owned.gid(i as u32);
            return Err(SimError::Net(cajal_net::NetError::Invalid(format!(
                "rate neuron {gid}: time constant {} s must be > 0 and noise {} >= 0",
                n.tau_s, n.noise_std
            ))));
        }
    }
    let layout = RateLayout { owned, decomposition: decomposition.clone(), ghosts, send_lists };
    let engine = RateEngine::new(layout, &neurons, rows, (recipe.transfer(), recipe.seed()), dt_s, comm)?;
    Ok((engine, stats))
}

fn check_dt(dt_s: f64) -> Result<(), SimError> {
    if dt_s.is_finite() && dt_s > 0.0 {
        return Ok(());
    }
    Err(SimError::Net(cajal_net::NetError::Invalid(format!("time step {dt_s} s must be > 0"))))
}

/// Every owned target's inputs in recipe order: (source gids, weights, row starts).
fn gather_inputs(recipe: &dyn RateRecipe, owned: &NeuronSet) -> (Vec<Gid>, Vec<f64>, Vec<usize>) {
    let (mut sources, mut weights, mut row_start) = (Vec::new(), Vec::new(), vec![0]);
    for i in 0..owned.len() {
        recipe.inputs_to(owned.gid(i), &mut |s, w| {
            sources.push(s);
            weights.push(w);
        });
        row_start.push(sources.len());
    }
    (sources, weights, row_start)
}

/// The distinct remote sources, sorted by (owner rank, gid): the order their values arrive in.
fn ghost_gids(sources: &[Gid], owned: &NeuronSet, d: &Decomposition) -> Vec<Gid> {
    let mut ghosts: Vec<Gid> = sources.iter().copied().filter(|&s| owned.index_of(s).is_none()).collect();
    ghosts.sort_unstable_by_key(|&g| (d.rank_of(g), g));
    ghosts.dedup();
    ghosts
}

/// Each input's value slot: the local index for an owned source, else `owned.count` + its ghost index.
fn source_slots(sources: &[Gid], owned: &NeuronSet, ghosts: &[Gid], d: &Decomposition) -> Result<Vec<u32>, SimError> {
    sources
        .iter()
        .map(|&s| match owned.index_of(s) {
            Some(i) => Ok(i),
            None => ghosts
                .binary_search_by_key(&(d.rank_of(s), s), |&g| (d.rank_of(g), g))
                .map(|k| owned.len() + k as u32)
                .map_err(|_| SimError::Routing(format!("source {s} has no slot"))),
        })
        .collect()
}

/// Tells every rank which of its neurons this one needs (ghosts, grouped by owner, by gid) and learns what
/// the others need from it: per destination rank, the local indices to send, in the order it expects.
fn learn_send_lists(
    comm: &mut dyn Communicator,
    ghosts: &[Gid],
    owned: &NeuronSet,
    d: &Decomposition,
) -> Result<Vec<Vec<u32>>, SimError> {
    let me = comm.rank() as u64;
    let mut requests = vec![Vec::new(); comm.size()];
    for &g in ghosts {
        requests[d.rank_of(g)].push(me << 32 | u64::from(g));
    }
    let asked = comm.all_to_all_v(&requests)?;
    let mut lists = vec![Vec::new(); comm.size()];
    for a in asked {
        let (from, gid) = ((a >> 32) as usize, a as u32);
        let i = owned.index_of(gid).ok_or_else(|| SimError::Routing(format!("rank {from} asked for gid {gid}")))?;
        lists.get_mut(from).ok_or_else(|| SimError::Routing(format!("request from unknown rank {from}")))?.push(i);
    }
    Ok(lists)
}

/// Cuts the rank's targets into `threads` contiguous ranges of about equal inputs.
fn split_rows(row_start: &[usize], slots: &[u32], weights: &[f64], threads: usize) -> Vec<ThreadRows> {
    let n = row_start.len() - 1;
    let total = row_start[n];
    let mut cuts = vec![0];
    for t in 1..threads {
        // The first target whose inputs start at or after t/threads of the total (targets count too).
        let goal = (total + n) * t / threads;
        let cut = (0..=n).find(|&i| row_start[i] + i >= goal).unwrap_or(n);
        cuts.push(cut.max(*cuts.last().unwrap_or(&0)));
    }
    cuts.push(n);
    cuts.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let (lo, hi) = (row_start[a], row_start[b]);
            ThreadRows {
                targets: a..b,
                row_start: row_start[a..=b].iter().map(|&r| (r - lo) as u32).collect(),
                slots: slots[lo..hi].to_vec(),
                weights: weights[lo..hi].to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_into_contiguous_ranges_covering_every_target() {
        let row_start = vec![0, 5, 5, 6, 20, 21];
        let slots: Vec<u32> = (0..21).collect();
        let weights = vec![1.0; 21];
        for threads in 1..=7 {
            let rows = split_rows(&row_start, &slots, &weights, threads);
            assert_eq!(rows.len(), threads);
            assert_eq!(rows[0].targets.start, 0);
            assert_eq!(rows.last().unwrap().targets.end, 5);
            for w in rows.windows(2) {
                assert_eq!(w[0].targets.end, w[1].targets.start);
            }
            let total: usize = rows.iter().map(|r| r.slots.len()).sum();
            assert_eq!(total, 21, "{threads} threads");
        }
    }
}
