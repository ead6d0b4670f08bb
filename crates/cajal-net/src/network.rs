//! A network of populations joined by projections: the recipe behind the microcircuit and every other
//! population-based model.

use std::sync::OnceLock;

use rayon::prelude::*;

use cajal_core::rng::{Purpose, Stream};
use cajal_core::{Gid, Resolution};

use crate::recipe::{Connection, PopulationSpec, Query, Recipe};
use crate::rules::{bernoulli_sources, split_total_over_targets, Rule};
use crate::space::{Boundary, CellIndex, Point};
use crate::{Distribution, NetError};

/// Connections from one population to another.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// Index of the source population.
    pub source: usize,
    /// Index of the target population.
    pub target: usize,
    pub rule: Rule,
    /// Weight in pA.
    pub weight: Distribution,
    /// Delay in ms; rounded to the nearest step, and it must round to at least one step.
    pub delay_ms: Distribution,
    /// Delays and weights that depend on the distance (spatial rules only).
    pub distance: DistanceTerms,
    /// Whether a neuron may connect to itself (NEST's `allow_autapses`). Pairwise rules leave the pair
    /// out; fixed_indegree draws again, as NEST does.
    pub allow_autapses: bool,
    /// The STDP rule of the projection's synapses (None: static).
    pub plasticity: Option<cajal_core::stdp::StdpRule>,
}

/// How distance shapes a spatial projection's delays and weights.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct DistanceTerms {
    /// delay = d0_ms + distance / velocity (mm/ms) instead of a draw from `delay_ms`.
    pub delay: Option<(f64, f64)>,
    /// weight x exp(-distance / length_mm).
    pub weight_decay_mm: Option<f64>,
}

/// Populations and projections, with the per-target counts of fixed-total projections precomputed.
#[derive(Debug)]
pub struct PopulationNetwork {
    seed: u64,
    resolution: Resolution,
    populations: Vec<PopulationSpec>,
    projections: Vec<Projection>,
    /// For each population, the indices of the projections into it, in definition order.
    incoming: Vec<Vec<usize>>,
    /// Per projection: synapses per target (fixed total number only; empty otherwise), once computed.
    per_target: OnceLock<Vec<Vec<u32>>>,
    /// Per projection with a spatial rule: its sources' positions in a cell index, once built.
    source_index: Vec<OnceLock<CellIndex>>,
    boundary: Boundary,
    /// Expected in-degree of a neuron of each population (the same for all its neurons).
    expected_in: Vec<f64>,
    /// An imported edge table, which then replaces the projections.
    edges: Option<crate::imported::EdgeTable>,
    /// Neurons with parameters of their own (imported), and their initial potentials if given.
    classes: Option<crate::neuron_params::NeuronClasses>,
    initial_v: Option<Vec<f64>>,
    current_generators: Vec<crate::CurrentGenerator>,
    /// The plastic projections' classes, and each projection's `Connection::synapse`.
    plastic_classes: Vec<crate::PlasticClass>,
    projection_synapse: Vec<u16>,
    /// Expected plastic in-degree of a neuron of each population.
    expected_plastic_in: Vec<f64>,
    num_neurons: Gid,
}

impl PopulationNetwork {
    /// Checks the description and prepares it. Populations get consecutive gids in the given order.
    pub fn new(
        seed: u64,
        resolution: Resolution,
        mut populations: Vec<PopulationSpec>,
        projections: Vec<Projection>,
    ) -> Result<Self, NetError> {
        let mut next: u64 = 0;
        for p in &mut populations {
            if p.size == 0 {
                return Err(NetError::Invalid(format!("population {}: size is 0", p.name)));
            }
            p.neuron
                .params()
                .compile(&resolution)
                .map_err(|source| NetError::Core { context: format!("population {}", p.name), source })?;
            p.v_init.validate(&format!("population {}: initial V_m", p.name))?;
            p.first_gid = next as Gid;
            next += u64::from(p.size);
            if next > u64::from(Gid::MAX) {
                return Err(NetError::Invalid(format!("more than {} neurons", Gid::MAX)));
            }
        }
        let mut incoming = vec![Vec::new(); populations.len()];
        for (i, pr) in projections.iter().enumerate() {
            let (Some(src), Some(tgt)) = (populations.get(pr.source), populations.get(pr.target)) else {
                return Err(NetError::Invalid(format!("projection {i} names a population that does not exist")));
            };
            let what = format!("projection {}->{}", src.name, tgt.name);
            pr.rule.validate(&what)?;
            pr.weight.validate(&format!("{what} weight"))?;
            if pr.weight.magnitude_bound() >= f64::from(f32::MAX) {
                return Err(NetError::Invalid(format!(
                    "{what} weight: weights are stored as f32 and must stay below 3.4e38 pA"
                )));
            }
            pr.delay_ms.validate(&format!("{what} delay"))?;
            check_spatial(pr, src, tgt, &resolution, &what)?;
            check_pairing(pr, src, tgt, &what)?;
            if pr.distance.delay.is_none() {
                check_delay_rounds_to_a_step(&pr.delay_ms, &resolution, &what)?;
            }
            incoming[pr.target].push(i);
        }
        let (plastic_classes, projection_synapse) = plastic_classes(&populations, &projections)?;
        let expected_static = expected_in_degrees(&populations, &projections, &incoming, false);
        let expected_plastic = expected_in_degrees(&populations, &projections, &incoming, true);
        let expected_in = expected_static.iter().zip(&expected_plastic).map(|(a, b)| a + b).collect();
        Ok(Self {
            edges: None,
            classes: None,
            initial_v: None,
            expected_in,
            seed,
            resolution,
            populations,
            incoming,
            per_target: OnceLock::new(),
            source_index: projections_len(&projections),
            projections,
            boundary: Boundary::default(),
            current_generators: Vec::new(),
            plastic_classes,
            projection_synapse,
            expected_plastic_in: expected_plastic,
            num_neurons: next as Gid,
        })
    }

    /// The same network with the plastic classes of an imported edge table's `synapse` column (the
    /// table's connections name them; projections' own classes are replaced).
    #[must_use]
    pub fn with_plastic_classes(mut self, classes: Vec<crate::PlasticClass>) -> Self {
        self.plastic_classes = classes;
        self
    }

    /// The same populations with their connections from an imported edge table instead of projections.
    #[must_use]
    pub fn with_edge_table(mut self, table: crate::imported::EdgeTable) -> Self {
        self.edges = Some(table);
        self
    }

    /// The same network whose neurons carry their own parameters (`classes`) and, if given, start at their
    /// own membrane potentials (`initial_v`, mV, one per gid).
    pub fn with_neuron_parameters(
        mut self,
        classes: crate::neuron_params::NeuronClasses,
        initial_v: Option<Vec<f64>>,
    ) -> Result<Self, NetError> {
        if let Some(v) = &initial_v {
            if v.len() != self.num_neurons as usize {
                return Err(NetError::Invalid(format!(
                    "{} initial potentials for {} neurons",
                    v.len(),
                    self.num_neurons
                )));
            }
        }
        self.classes = Some(classes);
        self.initial_v = initial_v;
        Ok(self)
    }

    /// Whether neurons carry parameters or initial potentials of their own (a node table's columns).
    #[must_use]
    pub fn has_neuron_columns(&self) -> (bool, bool) {
        (self.classes.as_ref().is_some_and(|c| !c.extra().is_empty()), self.initial_v.is_some())
    }

    /// The same network with current generators bound to some of its neurons; refuses a target outside
    /// the network or a generator that does not compile on the grid.
    pub fn with_current_generators(mut self, generators: Vec<crate::CurrentGenerator>) -> Result<Self, NetError> {
        for g in &generators {
            g.params
                .schedule(&self.resolution)
                .map_err(|source| NetError::Core { context: format!("current generator {}", g.name), source })?;
            if let Some(r) = g.targets.iter().find(|r| r.end > self.num_neurons || r.start >= r.end) {
                return Err(NetError::Invalid(format!(
                    "current generator {}: targets {}..{} are not within the network's {} neurons",
                    g.name, r.start, r.end, self.num_neurons
                )));
            }
        }
        self.current_generators = generators;
        Ok(self)
    }

    /// The same network with distances measured under `boundary` (e.g. periodic).
    #[must_use]
    pub fn with_boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }

    /// The position of `gid` (the origin for a population without a placement).
    #[must_use]
    pub fn position_or_origin(&self, gid: Gid) -> Point {
        let pop = &self.populations[self.population_of(gid)];
        pop.placement.as_ref().map_or([0.0; 3], |p| p.position(self.seed, pop.first_gid, gid - pop.first_gid))
    }

    /// The cell index of projection `pi`'s sources (built on first use).
    fn source_index(&self, pi: usize, cutoff: f64) -> &CellIndex {
        self.source_index[pi].get_or_init(|| {
            let src = &self.populations[self.projections[pi].source];
            let points = (0..src.size).map(|i| self.position_or_origin(src.first_gid + i)).collect();
            CellIndex::new(points, cutoff, self.boundary)
        })
    }

    /// Synapses per target of every fixed-total projection: O(total synapses) work, done by
    /// [`Recipe::prepare`] (in parallel) once a rank has checked that it can hold its part, or else by the
    /// first query (sequentially: a parallel loop inside a once-cell entered from pool threads would
    /// deadlock them).
    fn splits(&self) -> &[Vec<u32>] {
        self.per_target.get_or_init(|| self.projections.iter().map(|pr| self.split(pr)).collect())
    }

    fn split(&self, pr: &Projection) -> Vec<u32> {
        match pr.rule {
            Rule::FixedTotalNumber(n) => {
                let pair_key = ((pr.source as u64) << 32) | pr.target as u64;
                split_total_over_targets(n, self.populations[pr.target].size, self.seed, pair_key)
            }
            _ => Vec::new(),
        }
    }

    /// The projections, in definition order.
    #[must_use]
    pub fn projections(&self) -> &[Projection] {
        &self.projections
    }

    fn projection_name(&self, pr: &Projection) -> String {
        format!("projection {}->{}", self.populations[pr.source].name, self.populations[pr.target].name)
    }
}

/// The sources of one target under a distance-dependent Bernoulli rule: each candidate within the cutoff
/// connects with probability kernel(d). Cells with the same distance bound form a group; within a group
/// the draw skips geometrically at the group's envelope p = kernel(bound) and keeps a hit at distance d
/// with probability kernel(d) / p, which is one Bernoulli(kernel(d)) draw per candidate at the cost of the
/// hits. The bounds make the envelope tight: far cells are visited at their own, lower, probability.
fn distance_bernoulli(
    index: &CellIndex,
    x: Point,
    kernel: crate::space::Kernel,
    cutoff: f64,
    sources: &mut Stream,
    mut emit: impl FnMut(u32, f64),
) {
    let mut cells = index.nearby_cells(x, cutoff);
    // Stable: within a group, cells keep the index's fixed order.
    cells.sort_by(|a, b| a.min_distance.total_cmp(&b.min_distance));
    let mut hits = Vec::new();
    for group in cells.chunk_by(|a, b| a.min_distance == b.min_distance) {
        let p_env = kernel.value(group[0].min_distance);
        if p_env <= 0.0 {
            continue;
        }
        let total: usize = group.iter().map(|c| c.slots.len()).sum();
        hits.clear();
        bernoulli_sources(p_env, total as u32, sources, |k| hits.push(k as usize));
        let (mut cell, mut before) = (0, 0);
        for &k in &hits {
            while k >= before + group[cell].slots.len() {
                before += group[cell].slots.len();
                cell += 1;
            }
            let slot = group[cell].slots.start + (k - before);
            let d = index.distance_to_member(x, slot);
            // Keep with probability q / p_env: certain where q reaches the envelope (a step kernel, or
            // a point on the bound), else one more draw. Not `p_env >= 1`: with p0 = 1 the envelope of the
            // nearest cells is 1 while q(d) may be far below it.
            let q = kernel.value(d);
            if d <= cutoff && (q >= p_env || sources.uniform() * p_env < q) {
                emit(index.member(slot), d);
            }
        }
    }
}

/// One plastic class per plastic projection, each checked: its source population must spike (a
/// poisson_generator's trains are drawn at the target) and a constant weight must suit the rule.
fn plastic_classes(
    populations: &[PopulationSpec],
    projections: &[Projection],
) -> Result<(Vec<crate::PlasticClass>, Vec<u16>), NetError> {
    let mut classes = Vec::new();
    let mut synapse = Vec::with_capacity(projections.len());
    for pr in projections {
        let Some(rule) = pr.plasticity else {
            synapse.push(cajal_core::synapse_table::STATIC);
            continue;
        };
        let (src, tgt) = (&populations[pr.source], &populations[pr.target]);
        let name = format!("{}->{}", src.name, tgt.name);
        if src.neuron.as_model::<cajal_core::poisson_generator::PoissonGeneratorParams>().is_some() {
            return Err(NetError::Invalid(format!(
                "projection {name}: {} is a poisson_generator, whose trains are drawn at each target and cannot take part in {} (use a static synapse)",
                src.name,
                rule.name()
            )));
        }
        if let Distribution::Constant(w) = pr.weight {
            rule.check_weight(w)
                .map_err(|reason| NetError::Invalid(format!("projection {name}: weight {w}: {reason}")))?;
        }
        if classes.len() >= usize::from(u16::MAX) - 1 {
            return Err(NetError::Invalid(format!("more than {} plastic projections", u16::MAX - 1)));
        }
        classes.push(crate::PlasticClass { name, rule });
        synapse.push(classes.len() as u16);
    }
    Ok((classes, synapse))
}

/// Checks what the pairing rules need: equal sizes for one_to_one, and autapses refused only where leaving
/// them out keeps the rule's meaning (pairwise rules: the pair is simply not drawn).
fn check_pairing(pr: &Projection, src: &PopulationSpec, tgt: &PopulationSpec, what: &str) -> Result<(), NetError> {
    if pr.rule == Rule::OneToOne && src.size != tgt.size {
        return Err(NetError::Invalid(format!(
            "{what}: one_to_one needs populations of one size ({} and {})",
            src.size, tgt.size
        )));
    }
    let supported =
        matches!(pr.rule, Rule::PairwiseBernoulli(_) | Rule::AllToAll | Rule::OneToOne | Rule::FixedIndegree(_));
    if !pr.allow_autapses && !supported {
        return Err(NetError::Invalid(format!(
            "{what}: allow_autapses = false is supported for pairwise_bernoulli, all_to_all, one_to_one and fixed_indegree only"
        )));
    }
    if !pr.allow_autapses && matches!(pr.rule, Rule::FixedIndegree(_)) && src.first_gid == tgt.first_gid && src.size < 2
    {
        return Err(NetError::Invalid(format!("{what}: fixed_indegree without autapses needs at least 2 sources")));
    }
    Ok(())
}

/// The expected in-degree of a neuron of each population: the expectation of each rule, not the drawn
/// count (cheap, and the same before and after any split); for a distance Bernoulli rule, source density x
/// the kernel's integral over the cutoff ball (edges of open boundaries ignored).
/// The same, counting only `plastic` projections (or only static ones).
fn expected_in_degrees(
    pops: &[PopulationSpec],
    projections: &[Projection],
    incoming: &[Vec<usize>],
    plastic: bool,
) -> Vec<f64> {
    incoming
        .iter()
        .enumerate()
        .map(|(tpop, into)| {
            into.iter()
                .filter(|&&pi| projections[pi].plasticity.is_some() == plastic)
                .map(|&pi| {
                    let src = &pops[projections[pi].source];
                    match projections[pi].rule {
                        Rule::FixedTotalNumber(n) => n as f64 / f64::from(pops[tpop].size),
                        Rule::FixedIndegree(k) | Rule::DistanceIndegree { k, .. } => f64::from(k),
                        Rule::PairwiseBernoulli(p) => p * f64::from(src.size),
                        Rule::OneToOne => 1.0,
                        Rule::AllToAll => f64::from(src.size),
                        Rule::DistanceBernoulli { kernel, cutoff } => {
                            let (dims, volume) = src.placement.as_ref().map_or((0, 0.0), |p| p.extent(src.size));
                            if volume > 0.0 {
                                f64::from(src.size) / volume * kernel.integral(cutoff, dims)
                            } else {
                                kernel.value(0.0) * f64::from(src.size)
                            }
                        }
                    }
                })
                .sum()
        })
        .collect()
}

fn projections_len(projections: &[Projection]) -> Vec<OnceLock<CellIndex>> {
    projections.iter().map(|_| OnceLock::new()).collect()
}

/// A spatial rule needs both populations placed; distance terms need a spatial rule and sane values.
fn check_spatial(
    pr: &Projection,
    src: &PopulationSpec,
    tgt: &PopulationSpec,
    res: &Resolution,
    what: &str,
) -> Result<(), NetError> {
    for p in [src, tgt] {
        if let Some(placement) = &p.placement {
            placement.validate(p.size, &format!("population {} placement", p.name))?;
        }
    }
    let spatial = pr.rule.is_spatial();
    if spatial && (src.placement.is_none() || tgt.placement.is_none()) {
        return Err(NetError::Invalid(format!("{what}: a distance rule needs positions for both populations")));
    }
    if !spatial && pr.distance != DistanceTerms::default() {
        return Err(NetError::Invalid(format!("{what}: distance-dependent delays or weights need a distance rule")));
    }
    if let Some((d0, v)) = pr.distance.delay {
        if !(v.is_finite() && v > 0.0) || d0 < res.dt_ms() / 2.0 || !d0.is_finite() {
            return Err(NetError::Invalid(format!(
                "{what}: delay {d0} ms + d / {v} mm/ms needs a velocity > 0 and d0 >= dt/2 (at least one step)"
            )));
        }
    }
    if let Some(len) = pr.distance.weight_decay_mm {
        if !(len.is_finite() && len > 0.0) {
            return Err(NetError::Invalid(format!("{what}: weight decay length {len} mm must be > 0")));
        }
    }
    Ok(())
}

/// A delay distribution whose values can round below one step is refused unless it is bounded above dt/2.
fn check_delay_rounds_to_a_step(d: &Distribution, res: &Resolution, what: &str) -> Result<(), NetError> {
    let lowest = match *d {
        Distribution::Constant(v) => v,
        Distribution::Normal { min, .. } => min,
        Distribution::Uniform { low, .. } => low,
    };
    if lowest < res.dt_ms() / 2.0 {
        return Err(NetError::Invalid(format!(
            "{what} delay: values down to {lowest} ms round below one step of {} ms (bound the delay at >= dt/2)",
            res.dt_ms()
        )));
    }
    Ok(())
}

impl Recipe for PopulationNetwork {
    fn current_generators(&self) -> &[crate::CurrentGenerator] {
        &self.current_generators
    }

    fn plastic_classes(&self) -> &[crate::PlasticClass] {
        &self.plastic_classes
    }

    fn num_neurons(&self) -> Gid {
        self.num_neurons
    }

    fn seed(&self) -> u64 {
        self.seed
    }

    fn resolution(&self) -> Resolution {
        self.resolution
    }

    fn populations(&self) -> &[PopulationSpec] {
        &self.populations
    }

    fn prepare(&self) {
        if self.per_target.get().is_none() {
            let splits: Vec<Vec<u32>> = self.projections.par_iter().map(|pr| self.split(pr)).collect();
            let _ = self.per_target.set(splits);
        }
        self.projections.par_iter().enumerate().for_each(|(pi, pr)| {
            if let Rule::DistanceBernoulli { cutoff, .. } | Rule::DistanceIndegree { cutoff, .. } = pr.rule {
                self.source_index(pi, cutoff);
            }
        });
    }

    fn expected_in_degree(&self, gid: Gid) -> f64 {
        match &self.edges {
            Some(table) => f64::from(table.in_degree(gid)),
            None => self.expected_in[self.population_of(gid)],
        }
    }

    /// An edge table with plastic synapse types counts every row (the estimate errs on the safe side).
    fn expected_plastic_in_degree(&self, gid: Gid) -> f64 {
        match &self.edges {
            Some(table) if !self.plastic_classes.is_empty() => f64::from(table.in_degree(gid)),
            Some(_) => 0.0,
            None => self.expected_plastic_in[self.population_of(gid)],
        }
    }

    fn for_each_edge(&self, f: &mut dyn FnMut(Gid, Gid)) -> Result<(), NetError> {
        match &self.edges {
            Some(table) => table.for_each_edge(f),
            None => {
                for t in 0..self.num_neurons {
                    self.connections_to(t, Query::Sources, |c| f(c.source, t))?;
                }
                Ok(())
            }
        }
    }

    fn prepare_rank(&self, owned: &crate::NeuronSet) -> Result<(), NetError> {
        // Per-node data of devices (a spike generator's trains): this rank's nodes only.
        for p in &self.populations {
            let nodes: Vec<u32> = owned
                .iter()
                .filter(|g| (p.first_gid..p.first_gid + p.size).contains(g))
                .map(|g| g - p.first_gid)
                .collect();
            p.neuron
                .params()
                .load_nodes(&nodes)
                .map_err(|source| NetError::Core { context: format!("population {}", p.name), source })?;
        }
        match &self.edges {
            Some(table) => table.load(owned),
            None => Ok(()),
        }
    }

    fn position(&self, gid: Gid) -> Option<Point> {
        let pop = &self.populations[self.population_of(gid)];
        pop.placement.as_ref().map(|p| p.position(self.seed, pop.first_gid, gid - pop.first_gid))
    }

    fn extra_neuron_classes(&self) -> &[(usize, cajal_core::NeuronSpec)] {
        self.classes.as_ref().map_or(&[], |c| c.extra())
    }

    fn dynamics_of(&self, gid: Gid) -> usize {
        match &self.classes {
            Some(c) => c.class_of(gid),
            None => self.population_of(gid),
        }
    }

    fn initial_v_m(&self, gid: Gid) -> Result<f64, NetError> {
        if let Some(v) = &self.initial_v {
            return Ok(v[gid as usize]);
        }
        let pop = &self.populations[self.population_of(gid)];
        let mut s = Stream::new(self.seed, Purpose::InitialState, u64::from(gid));
        pop.v_init.sample(&mut s, "initial V_m")
    }

    fn connections_to<F: FnMut(Connection)>(&self, target: Gid, query: Query, mut sink: F) -> Result<(), NetError> {
        if let Some(table) = &self.edges {
            return table.connections_to(target, sink);
        }
        let tpop = self.population_of(target);
        let local = (target - self.populations[tpop].first_gid) as usize;
        let id = u64::from(target);
        let mut sources = Stream::new(self.seed, Purpose::Sources, id);
        let mut delays = Stream::new(self.seed, Purpose::Delays, id);
        let mut weights = Stream::new(self.seed, Purpose::Weights, id);
        for &pi in &self.incoming[tpop] {
            let pr = &self.projections[pi];
            let synapse = self.projection_synapse[pi];
            let src = &self.populations[pr.source];
            let mut failure = None;
            let autapse = |j: u32| !pr.allow_autapses && src.first_gid + j == target;
            let mut emit = |j: u32, distance: f64, delays: &mut Stream, weights: &mut Stream| {
                if failure.is_some() || autapse(j) {
                    return;
                }
                match self.draw_connection(pr, synapse, src.first_gid + j, distance, query, delays, weights) {
                    Ok(c) => sink(c),
                    Err(e) => failure = Some(e),
                }
            };
            match pr.rule {
                Rule::FixedTotalNumber(_) => {
                    for _ in 0..self.splits()[pi][local] {
                        let j = sources.below(u64::from(src.size)) as u32;
                        emit(j, 0.0, &mut delays, &mut weights);
                    }
                }
                Rule::FixedIndegree(k) if !pr.allow_autapses && src.first_gid == self.populations[tpop].first_gid => {
                    // NEST draws again when it draws the target itself.
                    let mut drawn = 0;
                    while drawn < k {
                        let j = sources.below(u64::from(src.size)) as u32;
                        if src.first_gid + j != target {
                            emit(j, 0.0, &mut delays, &mut weights);
                            drawn += 1;
                        }
                    }
                }
                Rule::FixedIndegree(k) => {
                    for _ in 0..k {
                        let j = sources.below(u64::from(src.size)) as u32;
                        emit(j, 0.0, &mut delays, &mut weights);
                    }
                }
                Rule::PairwiseBernoulli(p) => {
                    bernoulli_sources(p, src.size, &mut sources, |j| emit(j, 0.0, &mut delays, &mut weights));
                }
                Rule::OneToOne => emit(local as u32, 0.0, &mut delays, &mut weights),
                Rule::AllToAll => (0..src.size).for_each(|j| emit(j, 0.0, &mut delays, &mut weights)),
                Rule::DistanceBernoulli { kernel, cutoff } => {
                    let index = self.source_index(pi, cutoff);
                    distance_bernoulli(index, self.position_or_origin(target), kernel, cutoff, &mut sources, |j, d| {
                        emit(j, d, &mut delays, &mut weights);
                    });
                }
                Rule::DistanceIndegree { k, kernel, cutoff } => {
                    let candidates = self.source_index(pi, cutoff).within(self.position_or_origin(target), cutoff);
                    let mut total = 0.0;
                    let cumulative: Vec<f64> = candidates
                        .iter()
                        .map(|&(_, d)| {
                            total += kernel.value(d);
                            total
                        })
                        .collect();
                    if total > 0.0 {
                        for _ in 0..k {
                            let u = sources.uniform() * total;
                            let at = cumulative.partition_point(|&c| c <= u).min(candidates.len() - 1);
                            let (j, d) = candidates[at];
                            emit(j, d, &mut delays, &mut weights);
                        }
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl PopulationNetwork {
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn draw_connection(
        &self,
        pr: &Projection,
        synapse: u16,
        source: Gid,
        distance: f64,
        query: Query,
        delays: &mut Stream,
        weights: &mut Stream,
    ) -> Result<Connection, NetError> {
        if query == Query::Sources {
            return Ok(Connection { source, delay: 0, weight: 0.0, synapse });
        }
        let delay_ms = match pr.distance.delay {
            Some((d0, velocity)) => d0 + distance / velocity,
            None => pr.delay_ms.sample(delays, "delay")?,
        };
        let delay = self
            .resolution
            .delay_steps(delay_ms)
            .map_err(|source| NetError::Core { context: format!("{} delay", self.projection_name(pr)), source })?;
        let mut weight = pr.weight.sample(weights, "weight")?;
        if let Some(length) = pr.distance.weight_decay_mm {
            weight *= (-distance / length).exp();
        }
        // Static synapses hold f32 weights; plastic ones keep NEST's f64.
        let weight = if synapse == cajal_core::synapse_table::STATIC { f64::from(weight as f32) } else { weight };
        Ok(Connection { source, delay, weight, synapse })
    }
}
