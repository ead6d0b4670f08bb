//! Construction of a rank's engine from a recipe: the decomposition (data, from [`crate::partition()`]) says
//! which neurons are this rank's;
//! each thread builds its own share in two passes (count, then regenerate and fill the compressed rows in
//! place); then the ranks agree on the exchange window and learn where each neuron's spikes must go.

use rayon::prelude::*;

use cajal_comm::{Communicator, ReduceOp};
use std::ops::Range;
use std::sync::Arc;

use cajal_core::current_stimulus::ThreadCurrents;
use cajal_core::iaf_psc_exp::PoissonDrive;
use cajal_core::neuron_model::{model_slots, NeuronModel};
use cajal_core::partition::{PopulationDynamics, Segment, ThreadPart};
use cajal_core::plastic_table::{PlasticPart, PlasticSynapse, PlasticTable};
use cajal_core::poisson::PoissonTable;
use cajal_core::poisson_generator::{PoissonGeneratorParams, ThreadPoissonInputs};
use cajal_core::spike_history::SpikeHistory;
use cajal_core::stdp::StdpRule;
use cajal_core::synapse_table::{TableCounter, TableFiller, STATIC};
use cajal_core::{CoreError, Gid, Resolution};
use cajal_net::{Background, Balancer, Decomposition, NetError, NeuronSet, PopulationSpec, Query, Recipe};

use crate::partition::{check_decomposition, partition};

use crate::driver::Engine;
use crate::resources::check_fits;
use crate::routing::SpikeRoutes;
use crate::SimError;

/// Archived spikes each neuron with plastic inputs has room for from the start (more grow it).
const ARCHIVE_CAPACITY: usize = 16;

/// How to build a rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Threads on this rank (one part each).
    pub threads: usize,
    /// How neurons are spread over ranks.
    pub balancer: Balancer,
}

/// What one rank holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RankStats {
    pub rank: usize,
    pub neurons: u64,
    pub synapses: u64,
    /// Bytes of this rank's synapse tables.
    pub synapse_bytes: u64,
}

/// Sizes of what the ranks built.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConstructStats {
    /// Neurons in the whole network.
    pub neurons: u64,
    /// Synapses in the whole network (all ranks).
    pub synapses: u64,
    /// Bytes of synapse tables, state and ring buffers on this rank.
    pub rank_bytes: u64,
    /// Bytes of synapse tables on this rank per local synapse.
    pub bytes_per_synapse: f64,
    /// Every rank's share, in rank order.
    pub per_rank: Vec<RankStats>,
}

/// Fields per rank in the gathered statistics.
const RANK_STAT_FIELDS: usize = 3;

/// Partitions the network with `options.balancer` and builds this rank's engine on `options.threads`
/// threads: [`partition`] then [`build_engine_on`]. Collective: every rank calls it.
pub fn build_engine<R: Recipe>(
    recipe: &R,
    comm: &mut dyn Communicator,
    options: BuildOptions,
) -> Result<(Engine, ConstructStats), SimError> {
    let decomposition = partition(recipe, comm, options.balancer)?;
    build_engine_on(recipe, &decomposition, comm, options.threads)
}

/// Builds this rank's engine, on `threads` threads, for its neurons in `decomposition` (made for this
/// recipe and `comm`'s ranks). Collective: every rank calls it.
pub fn build_engine_on<R: Recipe>(
    recipe: &R,
    decomposition: &Decomposition,
    comm: &mut dyn Communicator,
    threads: usize,
) -> Result<(Engine, ConstructStats), SimError> {
    let n = recipe.num_neurons();
    check_decomposition(decomposition, n, comm.size())?;
    let mine = decomposition.neurons_of(comm.rank());
    let threads = usable_threads(threads, mine.len(), comm.rank());
    recipe.prepare_rank(&mine)?;
    // 8 bytes per static synapse and 12 per plastic one, plus 2 while rows are sorted by delay.
    let expected_synapses: f64 = mine.iter().map(|g| recipe.expected_in_degree(g)).sum();
    let expected_plastic: f64 = mine.iter().map(|g| recipe.expected_plastic_in_degree(g)).sum();
    let what = if expected_plastic >= 0.5 {
        format!("the {expected_synapses:.0} synapses ({expected_plastic:.0} plastic) of rank {}", comm.rank())
    } else {
        format!("the {expected_synapses:.0} synapses of rank {}", comm.rank())
    };
    check_fits(&what, ((expected_synapses - expected_plastic) * 10.0 + expected_plastic * 14.0) as u64)?;
    // Outside the pool below: the recipe's own parallel preparation must not run inside its workers.
    recipe.prepare();
    let (dynamics, models) = population_dynamics(recipe)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| SimError::ThreadPool(e.to_string()))?;
    let parts: Vec<ThreadPart> = pool.install(|| {
        (0..threads)
            .into_par_iter()
            .map(|t| build_part(recipe, mine.round_robin_share(t as u32, threads as u32), &dynamics, &models))
            .collect::<Result<_, SimError>>()
    })?;
    let local_min = parts.iter().filter_map(ThreadPart::delay_range).map(|(lo, _)| u64::from(lo)).min();
    let local_syn: u64 = parts.iter().map(|p| p.num_synapses() as u64).sum();
    let table_bytes: u64 = parts.iter().map(|p| p.table().bytes() as u64).sum();
    let rank_bytes: u64 = parts.iter().map(|p| p.bytes() as u64).sum();
    let reduced = comm.all_reduce_u64(&[local_min.unwrap_or(u64::MAX)], ReduceOp::Min)?;
    // The window is the smallest delay anywhere; a network without synapses advances one step at a time.
    let window = if reduced[0] == u64::MAX { 1 } else { reduced[0] as u32 };
    let routes = SpikeRoutes::build(&parts, decomposition, n, comm)?;
    let gathered = comm.all_gather_u64(&[u64::from(mine.len()), local_syn, table_bytes])?;
    let per_rank: Vec<RankStats> = gathered
        .chunks_exact(RANK_STAT_FIELDS)
        .enumerate()
        .map(|(rank, f)| RankStats { rank, neurons: f[0], synapses: f[1], synapse_bytes: f[2] })
        .collect();
    let stats = ConstructStats {
        neurons: u64::from(n),
        synapses: per_rank.iter().map(|r| r.synapses).sum(),
        rank_bytes,
        bytes_per_synapse: if local_syn == 0 { 0.0 } else { table_bytes as f64 / local_syn as f64 },
        per_rank,
    };
    let first_gids = recipe.populations().iter().map(|p| p.first_gid).collect();
    Ok((Engine::new(parts, dynamics, models, window, first_gids, routes), stats))
}

/// Threads for a rank of `neurons` neurons: at least one, and no more than its neurons (a thread without
/// neurons would only wait at every barrier), with a warning when `requested` is cut.
pub fn usable_threads(requested: usize, neurons: u32, rank: usize) -> usize {
    let most = (neurons as usize).max(1);
    if requested > most {
        tracing::warn!(rank, requested, neurons, "more threads than this rank's neurons: running {most} threads");
    }
    requested.clamp(1, most)
}

/// The dynamics of every class (the populations', then the parameter sets some neurons carry instead, with
/// their population's background), and the models present (one state block each, in this order).
fn population_dynamics<R: Recipe>(
    recipe: &R,
) -> Result<(Vec<PopulationDynamics>, Vec<&'static dyn NeuronModel>), SimError> {
    let res = recipe.resolution();
    let pops = recipe.populations();
    let population_of = |class: usize| match pops.get(class) {
        Some(_) => class,
        None => recipe.extra_neuron_classes()[class - pops.len()].0,
    };
    let compiled = (0..recipe.num_classes())
        .map(|class| {
            let p = &pops[population_of(class)];
            let in_pop = |source: CoreError| NetError::Core { context: format!("population {}", p.name), source };
            Ok(recipe.neuron_class(class).compile(&res).map_err(in_pop)?)
        })
        .collect::<Result<Vec<_>, SimError>>()?;
    let (models, blocks) = model_slots(&compiled);
    let dynamics = compiled
        .into_iter()
        .zip(blocks)
        .enumerate()
        .map(|(class, (neuron, block))| {
            Ok(PopulationDynamics { neuron, poisson: background_drive(&pops[population_of(class)], &res)?, block })
        })
        .collect::<Result<_, SimError>>()?;
    Ok((dynamics, models))
}

/// The Poisson background of population `p` on the grid `res`, if it has one.
fn background_drive(p: &PopulationSpec, res: &Resolution) -> Result<Option<PoissonDrive>, SimError> {
    let in_pop = |source: CoreError| NetError::Core { context: format!("population {}", p.name), source };
    Ok(match p.background {
        Background::None => None,
        Background::Poisson { rate_hz, weight_pa, delay_ms } => Some(PoissonDrive {
            table: PoissonTable::new(rate_hz * res.dt_ms() * 1e-3).map_err(in_pop)?,
            weight: weight_pa,
            first_step: u64::from(res.delay_steps(delay_ms).map_err(in_pop)?) + 1,
            last_step: u64::MAX,
        }),
    })
}

/// The poisson_generator populations of a recipe: their gids and parameters.
fn poisson_generators<R: Recipe>(recipe: &R) -> Vec<(Range<Gid>, &PoissonGeneratorParams)> {
    recipe
        .populations()
        .iter()
        .filter_map(|p| Some((p.first_gid..p.first_gid + p.size, p.neuron.as_model::<PoissonGeneratorParams>()?)))
        .collect()
}

/// The generator whose node `gid` is, if any.
fn generator_of<'a>(
    generators: &[(Range<Gid>, &'a PoissonGeneratorParams)],
    gid: Gid,
) -> Option<&'a PoissonGeneratorParams> {
    generators.iter().find(|(r, _)| r.contains(&gid)).map(|(_, p)| *p)
}

/// Builds the part of one thread: the neurons `share`, with a state block per model in `models`. Connections
/// from poisson_generators become trains drawn on this side; the rest go into the synapse table.
fn build_part<R: Recipe>(
    recipe: &R,
    share: NeuronSet,
    dynamics: &[PopulationDynamics],
    models: &[&'static dyn NeuronModel],
) -> Result<ThreadPart, SimError> {
    let n_local = share.len();
    let gid = |i: u32| share.gid(i);
    let n_sources = recipe.num_neurons() as usize;
    let t = if share.is_empty() { 0 } else { share.gid(0) };
    let generators = poisson_generators(recipe);
    let is_generator = |g: Gid| !generators.is_empty() && generator_of(&generators, g).is_some();

    let started = std::time::Instant::now();
    let classes = recipe.plastic_classes();
    let mut counter = TableCounter::new(n_sources);
    let mut plastic_counters: Vec<TableCounter> = classes.iter().map(|_| TableCounter::new(n_sources)).collect();
    for i in 0..n_local {
        recipe.connections_to(gid(i), Query::Sources, |c| {
            if is_generator(c.source) {
                return;
            }
            match plastic_counters.get_mut(usize::from(c.synapse).wrapping_sub(1)) {
                Some(plastic) => plastic.count(c.source),
                None => counter.count(c.source),
            }
        })?;
    }
    let mut filler = counter.finish()?;
    let mut plastic_fillers =
        plastic_counters.into_iter().map(TableCounter::finish::<PlasticSynapse>).collect::<Result<Vec<_>, _>>()?;
    let counted = started.elapsed().as_secs_f64();
    let mut incoming = Vec::new();
    let mut trains = ThreadPoissonInputs::default();
    let res = recipe.resolution();
    let mut history = SpikeHistory::new(n_local as usize, res);
    for i in 0..n_local {
        incoming.clear();
        recipe.connections_to(gid(i), Query::Full, |c| incoming.push(c))?;
        if !generators.is_empty() {
            let mut k = 0;
            for c in incoming.iter().filter(|c| is_generator(c.source)) {
                if let Some(p) = generator_of(&generators, c.source) {
                    let in_generator =
                        |source| NetError::Core { context: format!("poisson_generator node {}", c.source), source };
                    if c.synapse != STATIC {
                        return Err(not_plastic(c.source, gid(i)));
                    }
                    trains.push(recipe.seed(), i, gid(i), k, p.drive(&res, c.delay, c.weight).map_err(in_generator)?);
                    k += 1;
                }
            }
            incoming.retain(|c| !is_generator(c.source));
        }
        if !classes.is_empty() {
            place_plastic(classes, &mut plastic_fillers, &mut history, i, gid(i), &incoming)?;
            incoming.retain(|c| c.synapse == STATIC);
        }
        filler.place_target(i, &incoming)?;
    }
    let table = filler.finish()?;
    let tables: Vec<PlasticTable> = plastic_fillers
        .into_iter()
        .zip(classes)
        .map(|(f, spec)| Ok(PlasticTable::new(spec.rule, f.finish()?, &res)))
        .collect::<Result<_, CoreError>>()?;
    let max_delay = table.delay_range().map_or(1, |(_, hi)| u64::from(hi));
    check_fits(
        &format!("the ring buffer for delays of up to {max_delay} steps"),
        (max_delay + 1) * 8 * u64::from(n_local),
    )?;
    tracing::debug!(
        thread = t,
        synapses = table.len(),
        count_s = counted,
        fill_s = started.elapsed().as_secs_f64() - counted,
        "synapse table built"
    );

    let mut states: Vec<_> = models.iter().map(|m| m.new_state(n_local as usize)).collect();
    let mut segments: Vec<Segment> = Vec::new();
    let pops = recipe.populations();
    for i in 0..n_local {
        let g = gid(i);
        let class = recipe.dynamics_of(g);
        let d = &dynamics[class];
        let node = g - pops[recipe.population_of(g)].first_gid;
        d.neuron.init_node(states[d.block].as_mut(), i as usize, node, recipe.initial_v_m(g)?);
        match segments.last_mut() {
            Some(seg) if seg.dynamics == class => seg.local.end = i as usize + 1,
            _ => segments.push(Segment { dynamics: class, local: i as usize..i as usize + 1 }),
        }
    }
    if !classes.is_empty() {
        for i in 0..n_local {
            let g = gid(i);
            history.set_tau_minus(i as usize, pops[recipe.population_of(g)].neuron.tau_minus_ms());
        }
        history.reserve(ARCHIVE_CAPACITY);
    }
    let mut part = ThreadPart::new(share.clone(), segments, states, table, recipe.seed())
        .with_generator_inputs(trains)
        .with_plastic(PlasticPart::new(tables, history));
    if let Some(currents) = thread_currents(recipe, &share)? {
        part = part.with_currents(currents);
    }
    Ok(part)
}

/// Places the plastic connections among `incoming` (of local neuron `i`, `gid`) into their classes' tables
/// and registers them with the neuron's spike archive; refuses a weight the class's rule cannot start from.
fn place_plastic(
    classes: &[cajal_net::PlasticClass],
    fillers: &mut [TableFiller<PlasticSynapse>],
    history: &mut SpikeHistory,
    i: u32,
    gid: Gid,
    incoming: &[cajal_net::Connection],
) -> Result<(), SimError> {
    for c in incoming.iter().filter(|c| c.synapse != STATIC) {
        let class = usize::from(c.synapse) - 1;
        let (Some(filler), Some(spec)) = (fillers.get_mut(class), classes.get(class)) else {
            return Err(NetError::Invalid(format!("connection of neuron {gid} has no plastic class {class}")).into());
        };
        spec.rule.check_weight(c.weight).map_err(|reason| {
            NetError::Invalid(format!(
                "{}: weight {} of the synapse from neuron {} to {gid}: {reason}",
                spec.name, c.weight, c.source
            ))
        })?;
        let inhibitory = matches!(spec.rule, StdpRule::Bounded(p) if p.w_max < 0.0);
        filler.place(
            i,
            c.source,
            c.delay,
            PlasticSynapse { channel: 2 * i + u32::from(inhibitory), weight: c.weight },
        )?;
        history.register_input(i as usize, c.delay);
    }
    Ok(())
}

/// A plastic connection from a node that cannot spike.
fn not_plastic(source: Gid, target: Gid) -> SimError {
    NetError::Invalid(format!(
        "the connection from poisson_generator node {source} to neuron {target} is plastic: a generator's trains are drawn at the target and cannot take part in STDP (connect a parrot population or use a static synapse)"
    ))
    .into()
}

/// The current generators that drive some of `share`'s neurons, with their local targets (None: none).
fn thread_currents<R: Recipe>(recipe: &R, share: &NeuronSet) -> Result<Option<ThreadCurrents>, SimError> {
    let res = recipe.resolution();
    let mut sources = Vec::new();
    for g in recipe.current_generators() {
        let local: Vec<u32> = g.targets.iter().flat_map(|r| r.clone()).filter_map(|gid| share.index_of(gid)).collect();
        if !local.is_empty() {
            let schedule = g
                .params
                .schedule(&res)
                .map_err(|source| NetError::Core { context: format!("current generator {}", g.name), source })?;
            sources.push((Arc::new(schedule), local));
        }
    }
    Ok((!sources.is_empty()).then(|| ThreadCurrents::new(share.len() as usize, sources)))
}
