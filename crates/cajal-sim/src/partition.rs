//! The decomposition of a network over the ranks, for every balancer, before anything is built: the cheap
//! balancers run on every rank alike; METIS needs the whole synapse graph, so rank 0 alone streams and
//! partitions it and broadcasts the owner table, so the graph is generated and held once per run.

use cajal_comm::{broadcast_u32s, Communicator};
use cajal_core::Gid;
use cajal_net::{metis_owners, Balancer, Decomposition, NetError, Point, RateRecipe, Recipe, SynapseGraph};

use crate::resources::check_fits;
use crate::SimError;

/// The rank that partitions the graph for METIS.
const ROOT: usize = 0;

/// Bytes rank 0 needs per synapse while METIS partitions: the graph holds 8 (4 per end), METIS' coarsened
/// graphs and work arrays about four times more (measured: 20.8 GiB peak for 499 M synapses).
const METIS_BYTES_PER_SYNAPSE: f64 = 42.0;

/// What the balancers need to know of a network, whatever kind of recipe describes it.
struct Graph<'a> {
    n: Gid,
    /// A neuron's expected cost (cost-based balancers, METIS' vertex weights).
    cost: &'a dyn Fn(Gid) -> f64,
    /// Where a neuron sits (the spatial balancer).
    position: &'a dyn Fn(Gid) -> Option<Point>,
    /// Makes `edges` answerable (METIS only, on the rank that partitions).
    prepare: &'a dyn Fn(),
    /// Every synapse as (pre, post).
    edges: &'a SynapseGraph<'a>,
    /// The synapses expected in all, for the memory check before METIS.
    expected_synapses: &'a dyn Fn() -> f64,
}

/// Spreads a spiking network over `comm`'s ranks with `balancer` (cost: a neuron's update, weighted like an
/// average neuron's deliveries, plus its expected in-degree). Collective: every rank calls it and gets the
/// same decomposition; in a dry run the one process computes what rank 0 would.
pub fn partition<R: Recipe>(
    recipe: &R,
    comm: &mut dyn Communicator,
    balancer: Balancer,
) -> Result<Decomposition, SimError> {
    let n = recipe.num_neurons();
    let cost = cost_of(recipe, balancer);
    let graph = Graph {
        n,
        cost: &cost,
        position: &|g| recipe.position(g),
        prepare: &|| recipe.prepare(),
        edges: &|f| recipe.for_each_edge(f),
        expected_synapses: &|| (0..n).map(|g| recipe.expected_in_degree(g)).sum(),
    };
    partition_graph(comm, balancer, &graph)
}

/// Spreads a rate network over `comm`'s ranks with `balancer` (cost: one plus a neuron's in-degree).
/// Collective, as [`partition`].
pub fn partition_rate(
    recipe: &dyn RateRecipe,
    comm: &mut dyn Communicator,
    balancer: Balancer,
) -> Result<Decomposition, SimError> {
    let n = recipe.num_neurons();
    let edges = |f: &mut dyn FnMut(Gid, Gid)| {
        for t in 0..n {
            recipe.inputs_to(t, &mut |s, _| f(s, t));
        }
        Ok(())
    };
    let graph = Graph {
        n,
        cost: &|g| 1.0 + recipe.in_degree(g) as f64,
        position: &|g| recipe.position(g),
        prepare: &|| {},
        edges: &edges,
        expected_synapses: &|| (0..n).map(|g| recipe.in_degree(g) as f64).sum(),
    };
    partition_graph(comm, balancer, &graph)
}

/// Refuses a decomposition made for another network or another number of ranks.
pub(crate) fn check_decomposition(d: &Decomposition, neurons: Gid, ranks: usize) -> Result<(), SimError> {
    if d.num_neurons() == neurons && d.size() == ranks {
        return Ok(());
    }
    Err(NetError::Invalid(format!(
        "a decomposition of {} neurons over {} ranks cannot lay out {neurons} neurons on {ranks} ranks",
        d.num_neurons(),
        d.size()
    ))
    .into())
}

fn partition_graph(
    comm: &mut dyn Communicator,
    balancer: Balancer,
    graph: &Graph<'_>,
) -> Result<Decomposition, SimError> {
    let size = comm.size();
    match balancer {
        Balancer::Metis if size == 1 => Ok(Decomposition::from_owners(graph.n, 1, vec![0; graph.n as usize])?),
        Balancer::Metis => metis_on_root(comm, graph),
        _ => Ok(Decomposition::new(graph.n, size, balancer, graph.cost, graph.position)?),
    }
}

/// The METIS decomposition, computed where [`Communicator::acts_as_root`] says so and broadcast. A status
/// goes first, so that a failure on rank 0 stops every rank (rank 0 with its own error).
fn metis_on_root(comm: &mut dyn Communicator, graph: &Graph<'_>) -> Result<Decomposition, SimError> {
    let size = comm.size();
    let computed = comm.acts_as_root(ROOT).then(|| metis_here(graph, size));
    let mut status = vec![u64::from(matches!(computed, Some(Err(_))))];
    let sent = comm.broadcast_u64(ROOT, &mut status);
    // The root's own failure first: the others stop as soon as they read the status, which can abort the
    // broadcast under the root (in-process ranks) before it returns.
    let mine = computed.transpose()?;
    sent?;
    if status.first() != Some(&0) {
        return Err(
            NetError::Invalid(format!("rank {ROOT} could not partition the synapse graph (its log says why)")).into()
        );
    }
    let owners = broadcast_u32s(comm, ROOT, mine.as_deref())?;
    Ok(Decomposition::from_owners(graph.n, size, owners)?)
}

/// METIS' owner table for `size` ranks, after checking that this process can hold the graph.
fn metis_here(graph: &Graph<'_>, size: usize) -> Result<Vec<u32>, SimError> {
    let expected = (graph.expected_synapses)();
    let what = format!(
        "METIS partitioning of the {expected:.0}-synapse graph on rank {ROOT} (use --balancer spatial or \
         cost-blocks instead)"
    );
    check_fits(&what, (expected * METIS_BYTES_PER_SYNAPSE) as u64)?;
    (graph.prepare)();
    Ok(metis_owners(graph.n, size, graph.cost, graph.edges)?)
}

/// A neuron's expected cost for `balancer`: its update, weighted like an average neuron's deliveries, plus
/// its expected in-degree.
fn cost_of<R: Recipe>(recipe: &R, balancer: Balancer) -> impl Fn(Gid) -> f64 + '_ {
    let n = recipe.num_neurons();
    let mean_in = if balancer != Balancer::RoundRobin {
        (0..n).map(|g| recipe.expected_in_degree(g)).sum::<f64>() / f64::from(n.max(1))
    } else {
        0.0
    };
    move |g| recipe.expected_in_degree(g) + mean_in.max(1.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cajal_comm::{threads_world, DryRun, Local};
    use cajal_net::{RateNeuron, Transfer};

    use super::*;

    /// `n` neurons in clusters of 10, each neuron fed by the other nine of its cluster.
    struct Clusters(Gid);

    impl RateRecipe for Clusters {
        fn num_neurons(&self) -> Gid {
            self.0
        }
        fn transfer(&self) -> Transfer {
            Transfer::Linear
        }
        fn neuron(&self, _: Gid) -> RateNeuron {
            RateNeuron { bias: 0.0, tau_s: 0.01, v_init: 0.0, input_channel: None, noise_std: 0.0 }
        }
        fn inputs_to(&self, target: Gid, sink: &mut dyn FnMut(Gid, f64)) {
            let first = target / 10 * 10;
            (first..(first + 10).min(self.0)).filter(|&s| s != target).for_each(|s| sink(s, 0.1));
        }
    }

    /// What `partition_rate` answers on each rank of an in-process world of `size`; a rank that fails aborts
    /// the world at once, as the launcher does.
    fn on_threads(recipe: &Clusters, size: usize, balancer: Balancer) -> Vec<Result<Decomposition, SimError>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = threads_world(size)
                .into_iter()
                .map(|mut c| {
                    s.spawn(move || {
                        let d = partition_rate(recipe, &mut c, balancer);
                        if d.is_err() {
                            c.abort(1);
                        }
                        d
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn rank_0s_metis_table_reaches_every_rank_and_every_dry_rank() {
        let recipe = Clusters(60);
        let edges = |f: &mut dyn FnMut(Gid, Gid)| {
            (0..60).for_each(|t| recipe.inputs_to(t, &mut |s, _| f(s, t)));
            Ok(())
        };
        let direct = metis_owners(60, 3, |g| 1.0 + recipe.in_degree(g) as f64, &edges).unwrap();
        let direct = Decomposition::from_owners(60, 3, direct).unwrap();
        for d in on_threads(&recipe, 3, Balancer::Metis) {
            assert_eq!(d.unwrap(), direct);
        }
        for rank in 0..3 {
            assert_eq!(partition_rate(&recipe, &mut DryRun::new(rank, 3), Balancer::Metis).unwrap(), direct);
        }
        let one = partition_rate(&recipe, &mut Local, Balancer::Metis).unwrap();
        assert_eq!(one.neurons_of(0).len(), 60);
    }

    #[test]
    fn a_metis_failure_on_rank_0_stops_every_rank() {
        // Three ranks for two neurons: rank 0 says why, even when another rank that read the status aborted
        // the world under it; the others, that it failed (or, once aborted, that another rank did).
        let results = on_threads(&Clusters(2), 3, Balancer::Metis);
        let errors: Vec<String> = results.into_iter().map(|r| r.unwrap_err().to_string()).collect();
        assert!(errors[0].contains("cannot be split over 3 ranks"), "{}", errors[0]);
        for e in &errors[1..] {
            assert!(e.contains("rank 0 could not partition") || e.contains("another rank failed"), "{e}");
        }
    }

    #[test]
    fn the_other_balancers_are_computed_on_every_rank_alike() {
        let recipe = Clusters(45);
        for balancer in [Balancer::RoundRobin, Balancer::CostBlocks] {
            let expected = Decomposition::new(45, 4, balancer, |g| 1.0 + recipe.in_degree(g) as f64, |_| None).unwrap();
            for d in on_threads(&recipe, 4, balancer) {
                assert_eq!(d.unwrap(), expected, "{balancer}");
            }
        }
    }

    #[test]
    fn a_decomposition_for_another_layout_is_refused() {
        let d = partition_rate(&Clusters(20), &mut DryRun::new(0, 2), Balancer::RoundRobin).unwrap();
        assert!(check_decomposition(&d, 20, 2).is_ok());
        let wrong_size = crate::build_rate_engine_on(&Clusters(20), &d, &mut Local, 1, 0.01).unwrap_err();
        assert!(wrong_size.to_string().contains("over 2 ranks cannot lay out 20 neurons on 1 ranks"), "{wrong_size}");
        assert!(check_decomposition(&d, 21, 2).is_err());
    }
}
