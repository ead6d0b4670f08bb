//! The step loop of a rate network: explicit Euler, V <- V + dt (-V + b + sum_j w_ij f(V_j) + x) / max(tau, dt),
//! where every f(V_j) is from the previous step, so the coupling is a one-step exchange of the values of
//! neurons with remote targets. Per step, on each rank:
//! ```text
//! threads: gather inputs from values[s % 2], update V, write f(V) into values[(s + 1) % 2]  [barrier]
//! main:    send owned values to the ranks that need them, receive ghosts, record, next drive  [barrier]
//! ```
//! Each target sums its inputs in the recipe's order from one buffer, and a neuron's noise at step s is the
//! s-th normal of its own stream, so results are bitwise the same on any number of ranks and threads.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cajal_comm::Communicator;
use cajal_core::rng::{normal_at, stream_key, Purpose};
use cajal_core::{Gid, Step};
use cajal_metrics::{Phase, PhaseTimers};
use cajal_net::{Decomposition, Drive, NeuronSet, RateNeuron, Transfer};

use cajal_checkpoint::{ColumnValues, ShardState};

use crate::driver::RunControl;
use crate::rank_engine::{f64_column, RankEngine};
use crate::thread_team::{run_rounds, Flow};
use crate::SimError;

/// Steps of recorded values a rank keeps before sending them to rank 0.
const RECORD_FLUSH_STEPS: usize = 256;
/// Marks a neuron without a stimulus channel.
const NO_CHANNEL: u32 = u32::MAX;

/// One thread's targets and their inputs, as compressed rows.
#[derive(Clone, Debug, Default)]
pub struct ThreadRows {
    /// Local indices of the targets.
    pub targets: Range<usize>,
    /// Row of target `targets.start + i` is `row_start[i]..row_start[i + 1]`.
    pub row_start: Vec<u32>,
    /// Value slot of each input's source (local index, or the rank's count + ghost index).
    pub slots: Vec<u32>,
    pub weights: Vec<f64>,
}

/// Where a rank's values come from and go to.
#[derive(Clone, Debug)]
pub struct RateLayout {
    pub owned: NeuronSet,
    pub decomposition: Decomposition,
    /// Remote sources, sorted by (owner rank, gid): the order their values arrive in.
    pub ghosts: Vec<Gid>,
    /// Per destination rank: the local indices whose values it needs, in the order it expects them.
    pub send_lists: Vec<Vec<u32>>,
}

/// Receives recorded voltages on rank 0, one row per step in the order given to [`RateEngine::record`].
pub trait ValueObserver {
    /// `rows` holds `rows.len() / width` rows; the first is the state after `first_step + 1` steps.
    fn rows(&mut self, first_step: Step, width: usize, rows: &[f64]) -> Result<(), SimError>;
}

/// What to record and the rows not yet sent to rank 0.
#[derive(Debug, Default)]
struct Recording {
    /// Local indices of this rank's recorded neurons, in record order.
    local: Vec<u32>,
    /// Rank 0 only: per rank, the positions in the record order of what it sends.
    positions: Vec<Vec<usize>>,
    width: usize,
    buffered: Vec<f64>,
    /// Steps in `buffered`, and the step (count) before the first of them.
    steps: usize,
    first_step: Step,
}

/// The constants and state that the threads share during a run (state in atomics: each thread writes only
/// its own targets, and the barriers order the steps).
#[derive(Debug)]
struct Network {
    transfer: Transfer,
    dt_s: f64,
    bias: Vec<f64>,
    /// max(tau, dt), so explicit Euler never overshoots.
    tau_eff: Vec<f64>,
    channel: Vec<u32>,
    /// Noise amplitude and stream key per neuron (amplitude 0: no noise).
    noise: Vec<(f64, u64)>,
    /// Voltages of the owned neurons (f64 bits).
    voltage: Vec<AtomicU64>,
    /// f(V) of the owned neurons then the ghosts, for even and odd steps.
    values: [Vec<AtomicU64>; 2],
}

fn load(a: &AtomicU64) -> f64 {
    f64::from_bits(a.load(Ordering::Relaxed))
}

fn store(a: &AtomicU64, v: f64) {
    a.store(v.to_bits(), Ordering::Relaxed);
}

impl Network {
    /// Step `s` for one thread's targets: inputs from the values of step `s`, results into those of `s + 1`.
    fn advance(&self, rows: &ThreadRows, s: Step, drive: &[AtomicU64]) {
        let read = &self.values[(s % 2) as usize];
        let write = &self.values[((s + 1) % 2) as usize];
        for (j, i) in rows.targets.clone().enumerate() {
            let (lo, hi) = (rows.row_start[j] as usize, rows.row_start[j + 1] as usize);
            let mut input = 0.0;
            for (&slot, &w) in rows.slots[lo..hi].iter().zip(&rows.weights[lo..hi]) {
                input += w * load(&read[slot as usize]);
            }
            let mut x = match self.channel[i] {
                NO_CHANNEL => 0.0,
                c => load(&drive[c as usize]),
            };
            let (sigma, key) = self.noise[i];
            if sigma > 0.0 {
                x += sigma * normal_at(key, s);
            }
            let v = load(&self.voltage[i]);
            let v = v + self.dt_s * (-v + self.bias[i] + input + x) / self.tau_eff[i];
            store(&self.voltage[i], v);
            store(&write[i], self.transfer.apply(v));
        }
    }

    /// Sends each rank the values it needs (from the buffer of step `s`) and stores the ghosts that arrive;
    /// returns the bytes sent to other ranks.
    fn exchange(&self, layout: &RateLayout, s: Step, comm: &mut dyn Communicator) -> Result<u64, SimError> {
        if comm.size() == 1 {
            return Ok(0);
        }
        let buf = &self.values[(s % 2) as usize];
        let send: Vec<Vec<u64>> = layout
            .send_lists
            .iter()
            .map(|list| list.iter().map(|&i| buf[i as usize].load(Ordering::Relaxed)).collect())
            .collect();
        let me = comm.rank();
        let bytes = send.iter().enumerate().filter(|(r, _)| *r != me).map(|(_, l)| 8 * l.len() as u64).sum();
        let got = comm.all_to_all_v(&send)?;
        if got.len() != layout.ghosts.len() {
            return Err(SimError::Routing(format!("expected {} values, got {}", layout.ghosts.len(), got.len())));
        }
        for (slot, bits) in buf[self.voltage.len()..].iter().zip(got) {
            slot.store(bits, Ordering::Relaxed);
        }
        Ok(bytes)
    }
}

/// A rank's rate network and its state.
#[derive(Debug)]
pub struct RateEngine {
    layout: RateLayout,
    rows: Vec<ThreadRows>,
    net: Network,
    next_step: Step,
    recording: Recording,
    timers: PhaseTimers,
    bytes_sent: u64,
    /// Steps simulated since the last metrics reset (for the synaptic event count).
    steps_since_reset: Step,
}

/// What a chunk of a rate network's run reads and writes: the stimulus and where recorded values go.
pub struct RateIo<'a> {
    pub drive: &'a dyn Drive,
    pub observer: &'a mut dyn ValueObserver,
}

/// The state column of a rate neuron in checkpoints.
pub const VOLTAGE_COLUMN: &str = "V";

impl RateEngine {
    pub(crate) fn new(
        layout: RateLayout,
        neurons: &[RateNeuron],
        rows: Vec<ThreadRows>,
        (transfer, seed): (Transfer, u64),
        dt_s: f64,
        comm: &mut dyn Communicator,
    ) -> Result<Self, SimError> {
        let slots = neurons.len() + layout.ghosts.len();
        let noise = neurons
            .iter()
            .enumerate()
            .map(|(i, n)| (n.noise_std, stream_key(seed, Purpose::Noise, u64::from(layout.owned.gid(i as u32)))))
            .collect();
        let net = Network {
            transfer,
            dt_s,
            bias: neurons.iter().map(|n| n.bias).collect(),
            tau_eff: neurons.iter().map(|n| n.tau_s.max(dt_s)).collect(),
            channel: neurons.iter().map(|n| n.input_channel.unwrap_or(NO_CHANNEL)).collect(),
            noise,
            voltage: neurons.iter().map(|n| AtomicU64::new(n.v_init.to_bits())).collect(),
            values: [(0..slots).map(|_| AtomicU64::new(0)).collect(), (0..slots).map(|_| AtomicU64::new(0)).collect()],
        };
        for (slot, n) in net.values[0].iter().zip(neurons) {
            store(slot, transfer.apply(n.v_init));
        }
        let bytes_sent = net.exchange(&layout, 0, comm)?;
        let recording = Recording::default();
        Ok(Self {
            layout,
            rows,
            net,
            next_step: 0,
            recording,
            timers: PhaseTimers::new(),
            bytes_sent,
            steps_since_reset: 0,
        })
    }

    /// The next step to simulate (steps done so far).
    #[must_use]
    pub fn step(&self) -> Step {
        self.next_step
    }

    /// The time step in seconds.
    #[must_use]
    pub fn dt_s(&self) -> f64 {
        self.net.dt_s
    }

    /// Per-phase timers of this rank.
    #[must_use]
    pub fn timers(&self) -> &PhaseTimers {
        &self.timers
    }

    /// Bytes of values sent to other ranks so far.
    #[must_use]
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Starts the timers afresh (e.g. after a warm-up).
    pub fn reset_metrics(&mut self) {
        self.timers = PhaseTimers::new();
        self.bytes_sent = 0;
        self.steps_since_reset = 0;
    }

    /// (gid, voltage) of every owned neuron.
    #[must_use]
    pub fn voltages(&self) -> Vec<(Gid, f64)> {
        self.net.voltage.iter().enumerate().map(|(i, v)| (self.layout.owned.gid(i as u32), load(v))).collect()
    }

    /// Records the voltages of `gids` (the same list on every rank) after every step from now on; rank 0's
    /// observer gets them in this order.
    pub fn record(&mut self, gids: &[Gid]) {
        let d = &self.layout.decomposition;
        let me = &self.layout.owned;
        let mut positions = vec![Vec::new(); d.size()];
        for (k, &g) in gids.iter().enumerate() {
            positions[d.rank_of(g)].push(k);
        }
        let local = gids.iter().filter_map(|&g| me.index_of(g)).collect();
        self.recording = Recording { local, positions, width: gids.len(), ..Recording::default() };
    }

    /// Simulates `n_steps` more steps under `drive`; returns whether `control` stopped it early (then
    /// [`RateEngine::step`] says where). `progress` is called after each step with the steps done in this
    /// call. Collective: every rank calls it with the same arguments.
    pub fn run(
        &mut self,
        n_steps: Step,
        drive: &dyn Drive,
        comm: &mut dyn Communicator,
        observer: &mut dyn ValueObserver,
        progress: &mut dyn FnMut(Step),
        control: RunControl<'_>,
    ) -> Result<bool, SimError> {
        let start = self.next_step;
        let end = start + n_steps;
        let drive_now: Vec<AtomicU64> = (0..drive.channels()).map(|_| AtomicU64::new(0)).collect();
        let mut frame = vec![0.0; drive.channels()];
        let mut fill = |step: Step| {
            drive.fill(step, &mut frame);
            for (a, &x) in drive_now.iter().zip(frame.iter()) {
                store(a, x);
            }
        };
        fill(start);
        let Self { layout, rows, net, next_step, recording, timers, bytes_sent, steps_since_reset } = self;
        let (net, layout) = (&*net, &*layout);
        let work = |rows: &mut ThreadRows, _: usize, round: u64, timers: Option<&mut PhaseTimers>| {
            let _g = timers.map(|t| t.time(Phase::Update));
            net.advance(rows, start + round, &drive_now);
        };
        let mut between = |round: u64, timers: &mut PhaseTimers| -> Result<Flow, SimError> {
            let done = start + round + 1;
            *next_step = done;
            *steps_since_reset += 1;
            let started = Instant::now();
            *bytes_sent += net.exchange(layout, done, comm)?;
            timers.record(Phase::Exchange, started.elapsed().as_nanos() as u64);
            {
                let _g = timers.time(Phase::Record);
                recording.keep(net, done, done == end, comm, observer)?;
            }
            fill(done);
            progress(done - start);
            Ok(if control.agree_to_stop(done - start, comm)? { Flow::Stop } else { Flow::Continue })
        };
        let outcome = run_rounds(rows, n_steps, &work, timers, &mut between)?;
        if outcome.stopped {
            recording.flush(comm, observer)?;
        }
        Ok(outcome.stopped)
    }
}

impl RankEngine for RateEngine {
    type Io<'a> = RateIo<'a>;

    fn step(&self) -> Step {
        self.next_step
    }

    fn advance(
        &mut self,
        n_steps: Step,
        io: RateIo<'_>,
        comm: &mut dyn Communicator,
        control: RunControl<'_>,
        progress: &mut dyn FnMut(Step),
    ) -> Result<bool, SimError> {
        self.run(n_steps, io.drive, comm, io.observer, progress, control)
    }

    fn timers(&self) -> &PhaseTimers {
        &self.timers
    }

    fn timers_mut(&mut self) -> &mut PhaseTimers {
        &mut self.timers
    }

    fn reset_metrics(&mut self) {
        RateEngine::reset_metrics(self);
    }

    /// No spikes; every input of every target is read once per step.
    fn activity(&self) -> (u64, u64) {
        let inputs: u64 = self.rows.iter().map(|r| r.slots.len() as u64).sum();
        (0, inputs * self.steps_since_reset)
    }

    fn neurons(&self) -> &NeuronSet {
        &self.layout.owned
    }

    /// The voltages: every f(V) of this step follows from them (ghosts from their owners' voltages).
    fn export_state(&mut self, _comm: &mut dyn Communicator) -> Result<ShardState, SimError> {
        let mut shard = ShardState { neurons: vec![self.layout.owned.clone()], ..ShardState::default() };
        shard.extend_column(VOLTAGE_COLUMN, ColumnValues::F64(self.net.voltage.iter().map(load).collect()));
        Ok(shard)
    }

    fn import_state(&mut self, step: Step, shard: &ShardState) -> Result<u64, SimError> {
        self.next_step = step;
        let voltages = f64_column(shard, VOLTAGE_COLUMN)?;
        let mut taken = 0;
        for (gid, &v) in shard.gids().zip(voltages) {
            if let Some(i) = self.layout.owned.index_of(gid) {
                store(&self.net.voltage[i as usize], v);
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Rebuilds f(V) of the restored step, owned and ghosts, exactly as the step before had written it.
    fn finish_restore(&mut self, comm: &mut dyn Communicator) -> Result<(), SimError> {
        let now = &self.net.values[(self.next_step % 2) as usize];
        for (slot, v) in now.iter().zip(&self.net.voltage) {
            store(slot, self.net.transfer.apply(load(v)));
        }
        self.bytes_sent += self.net.exchange(&self.layout, self.next_step, comm)?;
        Ok(())
    }
}

impl Recording {
    /// Keeps the recorded voltages after `done` steps; sends them to rank 0 when enough have gathered or
    /// on `last`. Collective when it sends.
    fn keep(
        &mut self,
        net: &Network,
        done: Step,
        last: bool,
        comm: &mut dyn Communicator,
        observer: &mut dyn ValueObserver,
    ) -> Result<(), SimError> {
        if self.width == 0 {
            return Ok(());
        }
        if self.steps == 0 {
            self.first_step = done - 1;
        }
        self.buffered.extend(self.local.iter().map(|&i| load(&net.voltage[i as usize])));
        self.steps += 1;
        if last || self.steps >= RECORD_FLUSH_STEPS {
            self.flush(comm, observer)?;
        }
        Ok(())
    }

    /// Sends the kept rows to rank 0, which puts them in record order for its observer. Collective.
    fn flush(&mut self, comm: &mut dyn Communicator, observer: &mut dyn ValueObserver) -> Result<(), SimError> {
        if self.width == 0 || self.steps == 0 {
            return Ok(());
        }
        let steps = std::mem::take(&mut self.steps);
        let rows = if comm.size() == 1 {
            std::mem::take(&mut self.buffered)
        } else {
            let mut send = vec![Vec::new(); comm.size()];
            send[0] = self.buffered.drain(..).map(f64::to_bits).collect();
            let got = comm.all_to_all_v(&send)?;
            if comm.rank() != 0 {
                return Ok(());
            }
            if got.len() != steps * self.width {
                return Err(SimError::Routing(format!(
                    "expected {} recorded values, got {}",
                    steps * self.width,
                    got.len()
                )));
            }
            let mut rows = vec![0.0; steps * self.width];
            let mut at = 0;
            for positions in &self.positions {
                for step in 0..steps {
                    for &k in positions {
                        rows[step * self.width + k] = f64::from_bits(got[at]);
                        at += 1;
                    }
                }
            }
            rows
        };
        observer.rows(self.first_step, self.width, &rows)
    }
}
