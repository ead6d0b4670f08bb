//! Criterion micro-benchmarks of the two hot loops: neuron update (neurons per second, with Poisson
//! background as in the microcircuit) and spike delivery (synaptic events per second).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use cajal_core::iaf_psc_exp::{IafPscExpParams, IafPscExpState, PoissonDrive, Propagators};
use cajal_core::partition::{PopulationDynamics, Segment, ThreadPart};
use cajal_core::poisson::PoissonTable;
use cajal_core::ring_buffer::RingBuffer;
use cajal_core::rng::{Purpose, Stream};
use cajal_core::synapse_table::{Connection, SynapseTable, TableCounter};
use cajal_core::Resolution;

const NEURONS: u32 = 40_000;

fn params() -> IafPscExpParams {
    IafPscExpParams::potjans_diesmann()
}

fn neuron_update(c: &mut Criterion) {
    let res = Resolution::new(0.1).expect("valid dt");
    // Background as L4E at full scale: 8 Hz x 2100 inputs of 87.81 pA.
    let dynamics = vec![PopulationDynamics {
        propagators: Propagators::new(&params(), &res).expect("valid parameters"),
        poisson: Some(PoissonDrive {
            table: PoissonTable::new(8.0 * 2100.0 * 1e-4).expect("valid mean"),
            weight: 87.81,
            first_step: 0,
        }),
    }];
    let mut state = IafPscExpState::new(NEURONS as usize);
    let mut s = Stream::new(1, Purpose::InitialState, 0);
    for v in &mut state.v_rel {
        *v = 5.0 * s.normal();
    }
    let segments = vec![Segment { population: 0, local: 0..NEURONS as usize }];
    let mut part = ThreadPart::new(0, 1, segments, state, SynapseTable::default(), 1);
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
            .map(|_| Connection {
                source: s.below(u64::from(sources)) as u32,
                delay: 1 + s.below(60) as u32,
                weight: 80.0,
            })
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

criterion_group!(benches, neuron_update, spike_delivery);
criterion_main!(benches);
