//! The window loop of spiking networks: one thread per part for each chunk (the thread team), two cheap
//! barriers per window, and the main thread (thread 0) collecting, exchanging and recording spikes between them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use cajal_comm::Communicator;
use cajal_core::neuron_model::NeuronModel;
use cajal_core::partition::{PopulationDynamics, ThreadPart};
use cajal_core::{unpack_spike, Gid, PackedSpike, Step};
use cajal_metrics::{Phase, PhaseTimers};

use crate::routing::SpikeRoutes;
use crate::state_probe::{StateRecording, StateSamples, ThreadProbe};
use crate::thread_team::{run_rounds, Flow};
use crate::SimError;

/// Receives the spikes this rank emitted in each window, sorted by (lag, gid), on the main thread.
pub trait SpikeObserver {
    /// `t0` is the first step of the window; each spike is packed as (lag << 32 | gid).
    fn observe(&mut self, t0: Step, spikes: &[PackedSpike]) -> Result<(), SimError>;

    /// Receives the state rows this rank sampled in the window (one entry per recording, each sorted by
    /// (step, gid)), right after [`SpikeObserver::observe`]; only called while something is recorded.
    fn observe_states(&mut self, samples: &[StateSamples]) -> Result<(), SimError> {
        let _ = samples;
        Ok(())
    }
}

/// A rank's simulation state between runs.
#[derive(Debug)]
pub struct Engine {
    parts: Vec<ThreadPart>,
    dynamics: Vec<PopulationDynamics>,
    /// The neuron models on this rank: state block `k` of every part holds model `k`'s state.
    models: Vec<&'static dyn NeuronModel>,
    window: u32,
    next_step: Step,
    /// Spikes of the last window (all ranks), not yet delivered, and that window's first step.
    pending: (Vec<PackedSpike>, Step),
    population_first_gids: Vec<Gid>,
    routes: SpikeRoutes,
    exchange: ExchangeStats,
    timers: PhaseTimers,
    /// Windows run so far (all calls): the stop check counts across calls, so short chunks still check.
    windows_run: u64,
    /// Time a barrier before each exchange (separates waiting for other ranks from the transfer).
    sync_timer: bool,
    /// Spikes this rank's neurons emitted since the last metrics reset.
    spikes_emitted: u64,
    /// One entry per state recording (none: nothing is recorded): the window's rows of every thread.
    state_rows: Vec<StateSamples>,
    /// Plastic state gathered from a checkpoint's shards until the restore finishes.
    pub(crate) plastic_restore: Option<crate::plastic_state::PlasticRestore>,
}

/// What this rank's spike exchange has cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExchangeStats {
    /// Windows exchanged.
    pub windows: u64,
    /// Bytes of spikes sent to other ranks.
    pub bytes_sent: u64,
    /// Wall seconds in the exchange collective (including waiting for slower ranks).
    pub seconds: f64,
}

/// The spikes the threads share during a run: each thread's own of this window, and everybody's of the
/// previous window (with its first step), which every thread delivers; and, while state is recorded, each
/// thread's rows of this window (one entry per recording).
struct Shared {
    local: Vec<Mutex<Vec<PackedSpike>>>,
    global: RwLock<(Vec<PackedSpike>, Step)>,
    states: Vec<Mutex<Vec<StateSamples>>>,
}

/// How a run may be stopped early (e.g. by a signal): a flag, checked collectively every few windows.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunControl<'a> {
    pub stop: Option<&'a AtomicBool>,
    /// Windows between two collective checks (each costs one all-reduce).
    pub check_every_windows: u64,
}

impl RunControl<'_> {
    /// On the checking windows: whether any rank has its flag set (the same answer on every rank).
    pub(crate) fn agree_to_stop(&self, windows: u64, comm: &mut dyn Communicator) -> Result<bool, SimError> {
        let Some(flag) = self.stop else { return Ok(false) };
        if windows % self.check_every_windows.max(1) != 0 {
            return Ok(false);
        }
        let mine = u64::from(flag.load(Ordering::Acquire));
        Ok(comm.all_reduce_u64(&[mine], cajal_comm::ReduceOp::Max)?[0] > 0)
    }
}

impl Engine {
    pub(crate) fn new(
        parts: Vec<ThreadPart>,
        dynamics: Vec<PopulationDynamics>,
        models: Vec<&'static dyn NeuronModel>,
        window: u32,
        population_first_gids: Vec<Gid>,
        routes: SpikeRoutes,
    ) -> Self {
        Self {
            parts,
            dynamics,
            models,
            window,
            next_step: 0,
            pending: (Vec::new(), 0),
            population_first_gids,
            routes,
            exchange: ExchangeStats::default(),
            timers: PhaseTimers::new(),
            windows_run: 0,
            sync_timer: false,
            spikes_emitted: 0,
            state_rows: Vec::new(),
            plastic_restore: None,
        }
    }

    /// Records `recordings` from step `from` on (see [`crate::state_probe`]): each thread samples its own
    /// recorded neurons, and the observer receives the rows after every window. Replaces earlier
    /// recordings; an empty list records nothing (and costs nothing). Refuses a variable that a recorded
    /// neuron's model lacks, naming the model's recordables.
    pub fn record_states(&mut self, recordings: &[StateRecording], from: Step) -> Result<(), SimError> {
        let mut probes = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            probes.push(ThreadProbe::for_part(part, &self.dynamics, recordings, from)?);
        }
        for (part, probe) in self.parts.iter_mut().zip(probes) {
            part.set_probe(probe.map(|p| Box::new(p) as Box<dyn cajal_core::partition::StateProbe>));
        }
        self.state_rows = recordings.iter().map(|r| StateSamples::new(r.variables.len())).collect();
        Ok(())
    }

    /// The neuron models on this rank, in state-block order.
    #[must_use]
    pub fn models(&self) -> &[&'static dyn NeuronModel] {
        &self.models
    }

    /// Times a barrier before every exchange from now on.
    pub fn set_sync_timer(&mut self, on: bool) {
        self.sync_timer = on;
    }

    /// The per-phase timers of this rank.
    #[must_use]
    pub fn timers(&self) -> &PhaseTimers {
        &self.timers
    }

    /// The per-phase timers, e.g. to time a checkpoint.
    pub fn timers_mut(&mut self) -> &mut PhaseTimers {
        &mut self.timers
    }

    /// Spikes this rank emitted and synaptic events it delivered since the last reset.
    #[must_use]
    pub fn activity(&self) -> (u64, u64) {
        (self.spikes_emitted, self.parts.iter().map(ThreadPart::synaptic_events).sum())
    }

    /// Starts timers and activity counts afresh (e.g. after the warm-up).
    pub fn reset_metrics(&mut self) {
        self.timers = PhaseTimers::new();
        self.spikes_emitted = 0;
        self.exchange = ExchangeStats::default();
        for p in &mut self.parts {
            p.reset_synaptic_events();
        }
    }

    /// The threads' parts, for restoring a checkpoint.
    pub(crate) fn parts_mut(&mut self) -> &mut [ThreadPart] {
        &mut self.parts
    }

    /// Moves the clock (restoring a checkpoint); the engine must hold no undelivered spikes.
    pub(crate) fn set_step(&mut self, step: Step) {
        self.next_step = step;
        self.pending = (Vec::new(), step);
    }

    /// Delivers the last window's spikes now (they would be delivered before the next window's update).
    pub(crate) fn flush_pending(&mut self) {
        let (spikes, t0) = std::mem::take(&mut self.pending);
        for part in &mut self.parts {
            part.deliver(&spikes, t0);
        }
        self.pending = (Vec::new(), self.next_step);
    }

    /// The cost of the spike exchange so far.
    #[must_use]
    pub fn exchange_stats(&self) -> ExchangeStats {
        self.exchange
    }

    /// Where this rank's spikes go.
    #[must_use]
    pub fn routes(&self) -> &SpikeRoutes {
        &self.routes
    }

    /// The exchange window in steps (the global minimum delay).
    #[must_use]
    pub fn window(&self) -> u32 {
        self.window
    }

    /// The next step to be simulated (steps done so far).
    #[must_use]
    pub fn step(&self) -> Step {
        self.next_step
    }

    /// The threads' parts.
    #[must_use]
    pub fn parts(&self) -> &[ThreadPart] {
        &self.parts
    }

    /// First gid of each population (for mapping spikes to populations).
    #[must_use]
    pub fn population_first_gids(&self) -> &[Gid] {
        &self.population_first_gids
    }

    /// Simulates `n_steps` more steps; every `control.check_every_windows` windows the ranks agree (one
    /// all-reduce) whether any of them saw `control.stop` set, and if so all stop after that same window.
    /// `progress` is called on the main thread after each window with the steps done in this call. Returns
    /// whether the run stopped early; [`Engine::step`] tells where. Collective: every rank calls it with
    /// the same `n_steps`.
    pub fn run_controlled(
        &mut self,
        n_steps: Step,
        comm: &mut dyn Communicator,
        observer: &mut dyn SpikeObserver,
        progress: &mut dyn FnMut(Step),
        control: RunControl<'_>,
    ) -> Result<bool, SimError> {
        let start = self.next_step;
        let end = start + n_steps;
        let window = u64::from(self.window);
        let span = move |round: u64| {
            let t0 = start + round * window;
            (t0, window.min(end - t0))
        };
        let recordings = self.state_rows.len();
        let shared = Shared {
            local: self.parts.iter().map(|_| Mutex::new(Vec::new())).collect(),
            global: RwLock::new(std::mem::take(&mut self.pending)),
            states: if recordings == 0 {
                Vec::new()
            } else {
                let empty: Vec<StateSamples> = self.state_rows.iter().map(|r| StateSamples::new(r.width)).collect();
                self.parts.iter().map(|_| Mutex::new(empty.clone())).collect()
            },
        };
        let Self {
            parts, dynamics, routes, exchange, timers, windows_run, sync_timer, spikes_emitted, state_rows, ..
        } = self;
        let (dynamics, routes, sync_timer) = (&*dynamics, &*routes, *sync_timer);
        let work = |part: &mut ThreadPart, thread: usize, round: u64, timers: Option<&mut PhaseTimers>| {
            let (t0, len) = span(round);
            advance_part(part, thread, dynamics, &shared, t0, len, timers);
        };
        let mut between = |round: u64, timers: &mut PhaseTimers| -> Result<Flow, SimError> {
            let (t0, len) = span(round);
            *windows_run += 1;
            let mut link = Link {
                comm: &mut *comm,
                observer: &mut *observer,
                routes,
                stats: &mut *exchange,
                timers,
                sync_timer,
                spikes_emitted: &mut *spikes_emitted,
                state_rows: &mut *state_rows,
            };
            collect_and_exchange(&shared, t0, &mut link)?;
            progress(t0 + len - start);
            Ok(if control.agree_to_stop(*windows_run, comm)? { Flow::Stop } else { Flow::Continue })
        };
        let result = run_rounds(parts, n_steps.div_ceil(window), &work, timers, &mut between);
        self.pending = shared.global.into_inner().unwrap_or_else(PoisonError::into_inner);
        let done = result?;
        self.next_step = end.min(start + done.rounds * window);
        Ok(done.stopped)
    }
}

/// Delivers the previous window's spikes into this part, then updates it through the window; the main
/// thread (with `timers`) times the two phases.
fn advance_part(
    part: &mut ThreadPart,
    index: usize,
    dynamics: &[PopulationDynamics],
    shared: &Shared,
    t0: Step,
    len: Step,
    mut timers: Option<&mut PhaseTimers>,
) {
    {
        let _g = timers.as_deref_mut().map(|t| t.time(Phase::Deliver));
        let global = shared.global.read().unwrap_or_else(PoisonError::into_inner);
        part.deliver(&global.0, global.1);
    }
    let _g = timers.map(|t| t.time(Phase::Update));
    let mut local = shared.local[index].lock().unwrap_or_else(PoisonError::into_inner);
    local.clear();
    part.update(dynamics, t0, len as u32, &mut local);
    if let Some(probe) = part.probe_mut().and_then(|p| p.as_any_mut().downcast_mut::<ThreadProbe>()) {
        if let Some(rows) = shared.states.get(index) {
            probe.drain_into(&mut rows.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }
}

/// Main thread: every thread's state rows of the window (each thread's in (step, gid) order), merged per
/// recording into (step, gid) order, to the observer.
fn pass_on_states(
    shared: &Shared,
    state_rows: &mut [StateSamples],
    observer: &mut dyn SpikeObserver,
) -> Result<(), SimError> {
    let mut threads: Vec<_> = shared.states.iter().map(|t| t.lock().unwrap_or_else(PoisonError::into_inner)).collect();
    for (k, rows) in state_rows.iter_mut().enumerate() {
        rows.clear();
        let runs: Vec<&StateSamples> = threads.iter().map(|t| &t[k]).collect();
        rows.merge_from(&runs);
    }
    for t in &mut threads {
        t.iter_mut().for_each(StateSamples::clear);
    }
    drop(threads);
    if state_rows.iter().all(StateSamples::is_empty) {
        return Ok(());
    }
    let observed = observer.observe_states(state_rows);
    for rows in state_rows.iter_mut() {
        rows.clear();
    }
    observed
}

/// Sorts a window's spikes into one send buffer per rank: each spike goes to every rank `ranks_for` names
/// (the ranks that hold one of its targets), keeping the (lag, gid) order within each buffer.
pub fn pack_for_ranks<'r>(
    spikes: &[PackedSpike],
    size: usize,
    ranks_for: impl Fn(Gid) -> &'r [u32],
) -> Vec<Vec<PackedSpike>> {
    let mut send = vec![Vec::new(); size];
    for &s in spikes {
        let (_, gid) = unpack_spike(s);
        for &r in ranks_for(gid) {
            send[r as usize].push(s);
        }
    }
    send
}

/// What the main thread needs between the barriers.
struct Link<'a> {
    comm: &'a mut dyn Communicator,
    observer: &'a mut dyn SpikeObserver,
    routes: &'a SpikeRoutes,
    stats: &'a mut ExchangeStats,
    timers: &'a mut PhaseTimers,
    sync_timer: bool,
    spikes_emitted: &'a mut u64,
    state_rows: &'a mut [StateSamples],
}

/// Main thread, between the barriers: merge the threads' spikes in (lag, gid) order, record them, and
/// send each to the ranks that hold its targets; what arrives, sorted by (lag, gid), is what every part
/// delivers next. Every phase is timed once per window (sync only with the sync timer).
fn collect_and_exchange(shared: &Shared, t0: Step, link: &mut Link<'_>) -> Result<(), SimError> {
    let started = Instant::now();
    let mut merged = Vec::new();
    for local in &shared.local {
        merged.extend_from_slice(&local.lock().unwrap_or_else(PoisonError::into_inner));
    }
    merged.sort_unstable();
    *link.spikes_emitted += merged.len() as u64;
    let mut pack_ns = started.elapsed().as_nanos() as u64;
    {
        let _g = link.timers.time(Phase::Record);
        link.observer.observe(t0, &merged)?;
        if !link.state_rows.is_empty() {
            pass_on_states(shared, link.state_rows, &mut *link.observer)?;
        }
    }
    let comm = &mut *link.comm;
    let all = if comm.size() == 1 {
        link.timers.record(Phase::Exchange, 0);
        merged
    } else {
        let started = Instant::now();
        let me = comm.rank();
        let routes = link.routes;
        let send = pack_for_ranks(&merged, comm.size(), |gid| routes.ranks_for(gid));
        link.stats.bytes_sent +=
            send.iter().enumerate().filter(|(r, _)| *r != me).map(|(_, b)| 8 * b.len() as u64).sum::<u64>();
        pack_ns += started.elapsed().as_nanos() as u64;
        if link.sync_timer {
            let _g = link.timers.time(Phase::Sync);
            comm.barrier()?;
        }
        let started = Instant::now();
        let mut all = comm.all_to_all_v(&send)?;
        let exchange = started.elapsed();
        link.stats.seconds += exchange.as_secs_f64();
        link.timers.record(Phase::Exchange, exchange.as_nanos() as u64);
        let started = Instant::now();
        all.sort_unstable();
        pack_ns += started.elapsed().as_nanos() as u64;
        all
    };
    link.timers.record(Phase::Pack, pack_ns);
    link.stats.windows += 1;
    *shared.global.write().unwrap_or_else(PoisonError::into_inner) = (all, t0);
    Ok(())
}
