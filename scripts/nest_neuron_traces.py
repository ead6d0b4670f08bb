#!/usr/bin/env python3
"""One neuron of a given NEST model fed seeded Poisson spike trains into both synapse types, with a constant
current, recorded every step: the references that cajal's neuron models are compared with trace by trace
(crates/cajal-core/tests/models_vs_nest.rs).

    python scripts/nest_neuron_traces.py --model iaf_psc_delta --case inputs --out tests/data/nest_traces

Writes OUT/MODEL-CASE/{params.json, inputs.csv, v_m.csv, spikes.csv}: the neuron's parameters (NEST's
names), the input spikes entering in each 0-based step (step,ex_count,in_count, with the weights in
params.json: nS for the conductance-based models, an inhibitory weight negative as NEST users give it), NEST's
V_m after each step (and the model's other recordables, e.g. g_ex, g_in, w, as further columns) and the steps
of the output spikes. Cases:
  inputs           excitatory and inhibitory trains and a constant current that brings the neuron near
                   threshold, so that it fires now and then;
  refractory_input iaf_psc_delta: the same with refractory_input = true (input arriving during the refractory
                   period is kept and added after it); the conductance-based models: t_ref = 5 ms and
                   stronger trains, so that much input arrives while the membrane is held at V_reset;
  dc_steps         no trains; I_e changed with SetStatus between Simulate calls (below, at and far above
                   threshold, negative), listed in params.json as "I_e_schedule": [[first step, I_e], ...].
Needs NEST (pip package nest-simulator, here 3.10.0).
"""

import argparse
import json
from pathlib import Path

import numpy as np

DT = 0.1
STEPS = 10000  # 1 s

# Per model: parameters (NEST's names) and the weights of the two trains (mV for delta synapses).
MODELS = {
    "iaf_psc_delta": {
        "params": {"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_th": -55.0, "V_reset": -70.0, "t_ref": 2.0,
                   "I_e": 300.0, "V_m": -70.0},
        "weights": (0.5, -1.0),
        "rates_hz": (8000.0, 2000.0),
    },
    "iaf_psc_alpha": {
        "params": {"C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 2.0, "tau_syn_in": 2.0, "E_L": -70.0,
                   "V_th": -55.0, "V_reset": -70.0, "t_ref": 2.0, "I_e": 320.0, "V_m": -70.0},
        "weights": (5.0, -10.0),
        "rates_hz": (8000.0, 2000.0),
        "refractory": {"t_ref": 5.0},
        "refractory_rates_hz": (16000.0, 2000.0),
    },
    # The conductance-based models: NEST's defaults, with weights (nS) exactly representable in f32 as
    # cajal's synapse tables hold them.
    "iaf_cond_exp": {
        "params": {"I_e": 520.0, "V_m": -70.0},
        "weights": (2.0, -4.0),
        "rates_hz": (8000.0, 2000.0),
        "refractory": {"t_ref": 5.0},
        "refractory_rates_hz": (16000.0, 2000.0),
        "recordables": ["V_m", "g_ex", "g_in"],
    },
    "aeif_cond_exp": {
        "params": {"I_e": 1500.0, "V_m": -70.6},
        "weights": (2.0, -4.0),
        "rates_hz": (8000.0, 2000.0),
        "refractory": {"t_ref": 5.0},
        "refractory_rates_hz": (16000.0, 2000.0),
        "recordables": ["V_m", "w", "g_ex", "g_in"],
    },
}

# dc_steps: (first step, I_e in pA) for each Simulate call; the last one runs to the end.
DC_STEPS = [(0, 0.0), (1500, 200.0), (3000, 400.0), (4500, 1200.0), (6000, -300.0), (7000, 600.0),
            (8500, 2500.0)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=sorted(MODELS))
    p.add_argument("--case", default="inputs", choices=["inputs", "refractory_input", "dc_steps"])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=21)
    args = p.parse_args()
    spec = MODELS[args.model]
    params = dict(spec["params"])
    rates = spec["rates_hz"]
    if args.case == "refractory_input":
        if args.model == "iaf_psc_delta":
            params["refractory_input"] = True
        else:
            params.update(spec["refractory"])
            rates = spec["refractory_rates_hz"]
    if args.case == "dc_steps":
        rates = (0.0, 0.0)
        params["I_e"] = DC_STEPS[0][1]
    recordables = spec.get("recordables", ["V_m"])
    rng = np.random.default_rng(args.seed)
    # Counts per generator step k = 1 .. STEPS-1 (spike times k * dt); with a delay of one step, a spike at
    # time k dt enters in 0-based step k.
    counts = [rng.poisson(rate * DT * 1e-3, STEPS) for rate in rates]
    for c in counts:
        c[0] = 0

    import nest  # imported late: it prints a banner
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT})
    neuron = nest.Create(args.model, params=params)
    for c, w in zip(counts, spec["weights"]):
        k = np.nonzero(c)[0]
        if len(k) == 0:
            continue
        g = nest.Create("spike_generator", params={"spike_times": [float(x) * DT for x in k],
                                                   "spike_multiplicities": [int(n) for n in c[k]]})
        nest.Connect(g, neuron, syn_spec={"weight": w, "delay": DT})
    mm = nest.Create("multimeter", params={"record_from": recordables, "interval": DT})
    nest.Connect(mm, neuron)
    sr = nest.Create("spike_recorder")
    nest.Connect(neuron, sr)
    schedule = DC_STEPS if args.case == "dc_steps" else [(0, params["I_e"])]
    ends = [first for first, _ in schedule[1:]] + [STEPS + 1]
    for (first, i_e), end in zip(schedule, ends):
        neuron.set({"I_e": i_e})
        nest.Simulate((end - first) * DT)

    out = Path(args.out) / f"{args.model}-{args.case}"
    out.mkdir(parents=True, exist_ok=True)
    command = (f"python scripts/nest_neuron_traces.py --model {args.model} --case {args.case} "
               f"--out {args.out} --seed {args.seed}")
    header = f"# NEST {nest.__version__}: {command}\n"
    extra = {}
    if args.case == "dc_steps":
        extra["I_e_schedule"] = [list(x) for x in DC_STEPS]
    if "recordables" in spec:  # the conductance-based models
        # NEST's defaults of every numeric parameter: cajal's defaults are checked against them.
        d = nest.GetDefaults(args.model)
        extra["nest_defaults"] = {k: d[k] for k in sorted(d) if isinstance(d[k], float)}
    (out / "params.json").write_text(json.dumps({"nest": nest.__version__, "command": command, "dt_ms": DT,
                                                 "params": params, "weights": spec["weights"],
                                                 **extra}, indent=1) + "\n")
    ex, inh = counts
    (out / "inputs.csv").write_text(header + "step,ex_count,in_count\n" + "".join(
        f"{k},{ex[k]},{inh[k]}\n" for k in range(STEPS) if ex[k] or inh[k]))
    ev = mm.get("events")
    # The state after 0-based step s is recorded at time (s + 1) dt.
    steps = [int(round(t / DT)) - 1 for t in ev["times"]]
    names = ["v_m" if r == "V_m" else r for r in recordables]
    (out / "v_m.csv").write_text(header + ",".join(["step"] + names) + "\n" + "".join(
        ",".join([str(s)] + [repr(float(ev[r][k])) for r in recordables]) + "\n"
        for k, s in enumerate(steps) if s < STEPS))
    spikes = [int(round(t / DT)) - 1 for t in sr.get("events")["times"]]
    (out / "spikes.csv").write_text(header + "step\n" + "".join(f"{s}\n" for s in spikes))
    print(f"{out}: {len(spikes)} output spikes, {int(ex.sum())} + {int(inh.sum())} input spikes")


if __name__ == "__main__":
    main()
