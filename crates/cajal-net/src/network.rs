//! A network of populations joined by projections: the recipe behind the microcircuit and every other
//! population-based model.

use std::sync::OnceLock;

use rayon::prelude::*;

use cajal_core::iaf_psc_exp::Propagators;
use cajal_core::rng::{Purpose, Stream};
use cajal_core::{Gid, Resolution};

use crate::recipe::{Connection, PopulationSpec, Query, Recipe};
use crate::rules::{bernoulli_sources, split_total_over_targets, Rule};
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
            Propagators::new(&p.neuron, &resolution)
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
            check_delay_rounds_to_a_step(&pr.delay_ms, &resolution, &what)?;
            incoming[pr.target].push(i);
        }
        Ok(Self {
            seed,
            resolution,
            populations,
            projections,
            incoming,
            per_target: OnceLock::new(),
            num_neurons: next as Gid,
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
    }

    fn expected_in_degree(&self, gid: Gid) -> f64 {
        let tpop = self.population_of(gid);
        self.incoming[tpop]
            .iter()
            .map(|&pi| match self.projections[pi].rule {
                // The expectation, not the drawn count: cheap, and the same before and after the split.
                Rule::FixedTotalNumber(n) => n as f64 / f64::from(self.populations[tpop].size),
                Rule::FixedIndegree(k) => f64::from(k),
                Rule::PairwiseBernoulli(p) => p * f64::from(self.populations[self.projections[pi].source].size),
            })
            .sum()
    }

    fn initial_v_m(&self, gid: Gid) -> Result<f64, NetError> {
        let pop = &self.populations[self.population_of(gid)];
        let mut s = Stream::new(self.seed, Purpose::InitialState, u64::from(gid));
        pop.v_init.sample(&mut s, "initial V_m")
    }

    fn connections_to<F: FnMut(Connection)>(&self, target: Gid, query: Query, mut sink: F) -> Result<(), NetError> {
        let tpop = self.population_of(target);
        let local = (target - self.populations[tpop].first_gid) as usize;
        let id = u64::from(target);
        let mut sources = Stream::new(self.seed, Purpose::Sources, id);
        let mut delays = Stream::new(self.seed, Purpose::Delays, id);
        let mut weights = Stream::new(self.seed, Purpose::Weights, id);
        for &pi in &self.incoming[tpop] {
            let pr = &self.projections[pi];
            let src = &self.populations[pr.source];
            let mut failure = None;
            let mut emit = |j: u32, delays: &mut Stream, weights: &mut Stream| {
                if failure.is_some() {
                    return;
                }
                match self.draw_connection(pr, src.first_gid + j, query, delays, weights) {
                    Ok(c) => sink(c),
                    Err(e) => failure = Some(e),
                }
            };
            match pr.rule {
                Rule::FixedTotalNumber(_) => {
                    for _ in 0..self.splits()[pi][local] {
                        let j = sources.below(u64::from(src.size)) as u32;
                        emit(j, &mut delays, &mut weights);
                    }
                }
                Rule::FixedIndegree(k) => {
                    for _ in 0..k {
                        let j = sources.below(u64::from(src.size)) as u32;
                        emit(j, &mut delays, &mut weights);
                    }
                }
                Rule::PairwiseBernoulli(p) => {
                    bernoulli_sources(p, src.size, &mut sources, |j| emit(j, &mut delays, &mut weights));
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
    fn draw_connection(
        &self,
        pr: &Projection,
        source: Gid,
        query: Query,
        delays: &mut Stream,
        weights: &mut Stream,
    ) -> Result<Connection, NetError> {
        if query == Query::Sources {
            return Ok(Connection { source, delay: 0, weight: 0.0 });
        }
        let delay_ms = pr.delay_ms.sample(delays, "delay")?;
        let delay = self
            .resolution
            .delay_steps(delay_ms)
            .map_err(|source| NetError::Core { context: format!("{} delay", self.projection_name(pr)), source })?;
        let weight = pr.weight.sample(weights, "weight")? as f32;
        Ok(Connection { source, delay, weight })
    }
}
