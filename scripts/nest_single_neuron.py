#!/usr/bin/env python3
"""One iaf_psc_exp neuron in NEST, fed seeded Poisson spike trains through static synapses, recorded every
step: the reference for how far cajal's f32 weights and f32 input buffer move the membrane away from
NEST's double-precision one (crates/cajal-core/tests/membrane_vs_nest.rs).

    python scripts/nest_single_neuron.py --out tests/data/nest_single_neuron

Writes OUT/inputs.csv (step,ex_count,in_count: spikes entering the synaptic currents at the end of that
0-based step), OUT/v_m.csv (step,v_m: NEST's V_m after each step) and OUT/spikes.csv (step of each
output spike). The neuron has the microcircuit's parameters plus I_e; excitatory inputs weigh 87.81 pA and
inhibitory ones -351.23 pA (the full-scale microcircuit's weights), at 16 kHz and 4 kHz in total.
Needs NEST (pip package nest-simulator, here 3.10.0).
"""

import argparse
from pathlib import Path

import numpy as np

DT = 0.1
STEPS = 10000  # 1 s
W_EX, W_IN = 87.81, -351.23
RATE_EX_HZ, RATE_IN_HZ = 16000.0, 4000.0
PARAMS = {"C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5, "E_L": -65.0, "V_th": -50.0,
          "V_reset": -65.0, "t_ref": 2.0, "I_e": 350.0, "V_m": -65.0}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=12)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    # Counts per generator step k = 1 .. STEPS-1 (spike times k * dt); a spike at time k dt with a delay of
    # one step enters the current at the end of 0-based step k.
    ex = rng.poisson(RATE_EX_HZ * DT * 1e-3, STEPS)
    inh = rng.poisson(RATE_IN_HZ * DT * 1e-3, STEPS)
    ex[0] = inh[0] = 0

    import nest  # imported late: it prints a banner
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT})
    neuron = nest.Create("iaf_psc_exp", params=PARAMS)
    gens = []
    for counts, w in ((ex, W_EX), (inh, W_IN)):
        k = np.nonzero(counts)[0]
        g = nest.Create("spike_generator", params={"spike_times": [float(x) * DT for x in k],
                                                   "spike_multiplicities": [int(c) for c in counts[k]]})
        nest.Connect(g, neuron, syn_spec={"weight": w, "delay": DT})
        gens.append(g)
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT})
    nest.Connect(mm, neuron)
    sr = nest.Create("spike_recorder")
    nest.Connect(neuron, sr)
    nest.Simulate(STEPS * DT + DT)

    ev = mm.get("events")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = f"# NEST {nest.__version__}: python scripts/nest_single_neuron.py --out {args.out} --seed {args.seed}\n"
    (out / "inputs.csv").write_text(header + "step,ex_count,in_count\n" + "".join(
        f"{k},{ex[k]},{inh[k]}\n" for k in range(STEPS) if ex[k] or inh[k]))
    # V_m at time (s + 1) dt is the state after 0-based step s.
    rows = [(int(round(t / DT)) - 1, v) for t, v in zip(ev["times"], ev["V_m"])]
    (out / "v_m.csv").write_text(header + "step,v_m\n" + "".join(f"{s},{float(v)!r}\n" for s, v in rows if s < STEPS))
    spikes = [int(round(t / DT)) - 1 for t in sr.get("events")["times"]]
    (out / "spikes.csv").write_text(header + "step\n" + "".join(f"{s}\n" for s in spikes))
    print(f"{len(spikes)} output spikes, {int(ex.sum())} + {int(inh.sum())} input spikes")


if __name__ == "__main__":
    main()
