//! Criterion micro-benchmarks: neuron update (neurons per second, with Poisson background as in the
//! microcircuit), spike delivery (synaptic events per second), exchange packing (spikes per second sorted
//! into per-rank send buffers) and checkpoint encoding (bytes of state per second).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use cajal_core::iaf_psc_exp::{IafPscExpParams, IafPscExpState, PoissonDrive};
use cajal_core::partition::{PopulationDynamics, Segment, ThreadPart};
use cajal_core::poisson::PoissonTable;
use cajal_core::ring_buffer::RingBuffer;
use cajal_core::rng::{Purpose, Stream};
use cajal_core::synapse_table::{Connection, SynapseTable, TableCounter};
use cajal_core::NeuronParameters;
use cajal_core::Resolution;

const NEURONS: u32 = 40_000;

fn params() -> IafPscExpParams {
    IafPscExpParams::potjans_diesmann()
}

fn neuron_update(c: &mut Criterion) {
    let res = Resolution::new(0.1).expect("valid dt");
    // Background as L4E at full scale: 8 Hz x 2100 inputs of 87.81 pA.
    let dynamics = vec![PopulationDynamics {
        neuron: params().compile(&res).expect("valid parameters"),
        block: 0,
        poisson: Some(PoissonDrive {
            table: PoissonTable::new(8.0 * 2100.0 * 1e-4).expect("valid mean"),
            weight: 87.81,
            first_step: 0,
            last_step: u64::MAX,
        }),
    }];
    let mut state = IafPscExpState::new(NEURONS as usize);
    let mut s = Stream::new(1, Purpose::InitialState, 0);
    for v in &mut state.v_rel {
        *v = 5.0 * s.normal();
    }
    let segments = vec![Segment { dynamics: 0, local: 0..NEURONS as usize }];
    let mut part = ThreadPart::new(
        cajal_core::neuron_set::NeuronSet::strided(0, 1, NEURONS),
        segments,
        vec![Box::new(state)],
        SynapseTable::default(),
        1,
    );
    let steps = 100u32;
    let mut group = c.benchmark_group("neuron_update");
    group.throughput(Throughput::Elements(u64::from(NEURONS) * u64::from(steps)));
    let mut t0 = 0;
    let mut spikes = Vec::new();
    group.bench_function("iaf_psc_exp_poisson_40k_x100_steps", |b| {
        b.iter(|| {
            spikes.clear();
            part.update(&dynamics, t0, steps, &mut spikes);
            t0 += u64::from(steps);
        });
    });
    group.finish();
}

/// A table of `NEURONS` targets with `k` synapses each from `sources` sources, delays 1..=60 steps.
fn random_table(sources: u32, k: u32) -> SynapseTable {
    let draw = |t: u32| {
        let mut s = Stream::new(5, Purpose::Sources, u64::from(t));
        (0..k)
            .map(|_| Connection::fixed(s.below(u64::from(sources)) as u32, 1 + s.below(60) as u32, 80.0))
            .collect::<Vec<_>>()
    };
    let mut counter = TableCounter::new(sources as usize);
    for t in 0..NEURONS {
        draw(t).iter().for_each(|c| counter.count(c.source));
    }
    let mut filler = counter.finish().expect("table fits");
    for t in 0..NEURONS {
        filler.place_target(t, &draw(t)).expect("same connections twice");
    }
    filler.finish().expect("complete table")
}

fn spike_delivery(c: &mut Criterion) {
    let (sources, k) = (40_000u32, 1_000u32);
    let table = random_table(sources, k);
    let mut ring = RingBuffer::new(NEURONS as usize, 60);
    let mut s = Stream::new(9, Purpose::Sources, 0);
    let spikes: Vec<u32> = (0..200).map(|_| s.below(u64::from(sources)) as u32).collect();
    let events: usize = spikes.iter().map(|&src| table.synapses_from(src).len()).sum();
    let mut group = c.benchmark_group("spike_delivery");
    group.throughput(Throughput::Elements(events as u64));
    let mut step = 0;
    group.bench_function("200_spikes_40M_synapse_table", |b| {
        b.iter_batched(
            || (),
            |()| {
                for &src in &spikes {
                    table.deliver(src, step, &mut ring);
                }
                step += 1;
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn exchange_packing(c: &mut Criterion) {
    // A full-scale window on 16 ranks: ~25 spikes per rank and window; each source reaches ~12 ranks.
    let ranks = 16usize;
    let routes: Vec<Vec<u32>> =
        (0..NEURONS).map(|g| (0..ranks as u32).filter(|r| (g + r) % 4 != 0).collect()).collect();
    let mut s = Stream::new(3, Purpose::Sources, 0);
    let mut spikes: Vec<u64> =
        (0..400).map(|_| cajal_core::pack_spike(0, s.below(u64::from(NEURONS)) as u32)).collect();
    spikes.sort_unstable();
    let mut group = c.benchmark_group("exchange_packing");
    group.throughput(Throughput::Elements(spikes.len() as u64));
    group.bench_function("400_spikes_to_16_ranks", |b| {
        b.iter(|| cajal_sim::pack_for_ranks(&spikes, ranks, |g| routes[g as usize].as_slice()));
    });
    group.finish();
}

fn f64_column(name: &str, values: Vec<f64>) -> cajal_checkpoint::StateColumn {
    cajal_checkpoint::StateColumn { name: name.into(), values: cajal_checkpoint::ColumnValues::F64(values) }
}

fn checkpoint_encoding(c: &mut Criterion) {
    // 40,000 neurons with noisy state and input in flight for 60 steps, one in eight slots busy.
    let n = NEURONS as usize;
    let horizon = 60usize;
    let mut s = Stream::new(4, Purpose::InitialState, 0);
    let state = cajal_checkpoint::ShardState {
        neurons: vec![cajal_checkpoint::NeuronSet::strided(0, 1, NEURONS)],
        columns: vec![
            f64_column("V_m_rel", (0..n).map(|_| 5.0 * s.normal()).collect()),
            f64_column("I_syn_ex", (0..n).map(|_| 100.0 * s.uniform()).collect()),
            f64_column("I_syn_in", (0..n).map(|_| -300.0 * s.uniform()).collect()),
            cajal_checkpoint::StateColumn {
                name: "refractory_steps".into(),
                values: cajal_checkpoint::ColumnValues::U32(
                    (0..n).map(|_| (s.below(8) as u32).saturating_sub(5) * 10).collect(),
                ),
            },
        ],
        horizon: horizon as u32,
        pending_input: (0..2 * n * horizon)
            .map(|_| if s.below(8) == 0 { 87.81 * s.uniform() as f32 } else { 0.0 })
            .collect(),
        plastic: None,
    };
    let (bytes, raw) = state.encode(1, 1).expect("encodable");
    let mut group = c.benchmark_group("checkpoint_encoding");
    group.throughput(Throughput::Bytes(raw));
    group.bench_function("encode_zstd1_one_worker", |b| b.iter(|| state.encode(1, 1).expect("encodable")));
    group.bench_function("decode", |b| {
        b.iter(|| cajal_checkpoint::ShardState::decode(&bytes, "bench").expect("decodable"))
    });
    group.finish();
}

criterion_group!(benches, neuron_update, spike_delivery, exchange_packing, checkpoint_encoding);
criterion_main!(benches);
