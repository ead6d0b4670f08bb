#!/usr/bin/env python3
"""Weight trajectories of NEST's stdp_synapse and stdp_pl_synapse_hom for hand-made pre/post spike trains:
the references that cajal's STDP synapses are compared with, weight update by weight update.

    python scripts/nest_stdp_pairs.py --out tests/data/nest_stdp [--case NAME ...]

Each case builds (resolution 0.1 ms, 1 thread): two presynaptic parrot_neurons, each fed by its own
spike_generator (static synapse, weight 1, delay 0.1 ms), and two postsynaptic iaf_psc_delta neurons that
cannot fire on their own (V_th = 1e6 mV, t_ref = 0) but fire exactly when their own spike_generator makes
them (static synapse, weight 1e7 mV, delay 0.1 ms). The parrots connect to the posts all to all through a
copy of the case's plastic synapse model with a weight_recorder attached, so every weight update (at each
presynaptic spike delivery) is recorded. Writes OUT/<case>.json with the spike times NEST recorded, the
weight_recorder's events and the final weights (format in tests/data/nest_stdp/README.md).

The trains (intended pre = parrot spike times, intended post spike times) hit edge cases: post spikes
before any pre spike; pre and post in the same step; a post spike exactly one dendritic delay after and
exactly one before a pre spike; bursts in consecutive steps on both sides; both pres in the same step; pre
spikes close to each other; a seeded random stretch; a silence longer than 5 tau of every trace. The script
checks that NEST's pre and post spikes are exactly the intended ones.
Needs NEST (pip package nest-simulator, here 3.10.0) and numpy.
"""

import argparse
import json
from pathlib import Path

import numpy as np

DT = 0.1
T_SIM = 320.0  # ms; the trains end at 300 ms, so every spike is delivered
SEED = 20240607  # the random stretch of the trains
DRIVE_WEIGHT = 1e7  # mV: far above V_th
DRIVE_DELAY = 0.1
PRE_DELAY = 0.1  # spike_generator -> parrot

POST_NEURON = {"E_L": 0.0, "V_reset": 0.0, "V_m": 0.0, "V_th": 1e6, "t_ref": 0.0, "C_m": 250.0, "tau_m": 10.0,
               "I_e": 0.0}

PL_HPC = {"lambda": 0.1, "alpha": 0.0513, "mu": 0.4, "tau_plus": 15.0}  # hpc_benchmark
PL_ALT = {"lambda": 0.05, "alpha": 1.2, "mu": 0.3, "tau_plus": 20.0}
STDP = {"lambda": 0.05, "alpha": 1.1, "mu_plus": 0.5, "mu_minus": 0.8, "tau_plus": 16.8, "Wmax": 100.0}
STDP_NEG = dict(STDP, Wmax=-100.0)

# Initial weights, [[pre0->post0, pre0->post1], [pre1->post0, pre1->post1]].
W_PL = [[20.0, 30.0], [40.0, 50.0]]
W_STDP = [[10.0, 40.0], [70.0, 95.0]]
W_STDP_NEG = [[-10.0, -40.0], [-70.0, -95.0]]


def _cases():
    cases = {}
    for d in (0.1, 0.5, 1.0):
        cases[f"pl_hpc_d{d}"] = ("stdp_pl_synapse_hom", PL_HPC, 30.0, d, W_PL)
        cases[f"stdp_d{d}"] = ("stdp_synapse", STDP, 33.7, d, W_STDP)
    cases["pl_alt_d0.5"] = ("stdp_pl_synapse_hom", PL_ALT, 25.0, 0.5, W_PL)
    cases["stdp_negative_d1.0"] = ("stdp_synapse", STDP_NEG, 33.7, 1.0, W_STDP_NEG)
    return cases


CASES = _cases()


def steps_to_ms(steps):
    # k / 10 is the double nearest to k * 0.1 ms as written in decimal
    return [k / 10 for k in sorted(steps)]


def intended_trains(delay_ms):
    """(pre, post): per neuron a set of 0.1 ms steps at which it is to spike (pre: the parrot's spike)."""
    d = int(round(delay_ms / DT))
    pre = [set(), set()]
    post = [set(), set()]

    def ms(t):
        return int(round(t / DT))

    # post spikes before any pre spike
    post[0].add(ms(3.0))
    post[1].add(ms(5.5))
    # an isolated pre, then post 2 ms later
    pre[0].add(ms(10.0))
    post[0].add(ms(12.0))
    # both pres in the same step; then both posts in the same step
    pre[0].add(ms(15.0))
    pre[1].add(ms(15.0))
    post[0].add(ms(18.0))
    post[1].add(ms(18.0))
    # pre and post in the same step; the other post exactly one delay after the pre
    pre[0].add(ms(20.0))
    post[0].add(ms(20.0))
    post[1].add(ms(20.0) + d)
    # a post exactly one delay before a pre, the other post one delay after it
    pre[1].add(ms(25.0))
    post[0].add(ms(25.0) - d)
    post[1].add(ms(25.0) + d)
    # pre burst (5 consecutive steps) overlapping a post burst (4 steps); the other post one delay after
    # the burst's first spike
    pre[0].update(range(ms(30.0), ms(30.0) + 5))
    post[1].update(range(ms(30.2), ms(30.2) + 4))
    post[0].add(ms(30.0) + d)
    # post burst (5 steps); a pre burst starting in it; a pre exactly one delay after the post burst's end
    post[0].update(range(ms(35.0), ms(35.0) + 5))
    pre[1].update(range(ms(35.3), ms(35.3) + 4))
    pre[0].add(ms(35.4) + d)
    # pre spikes close to each other
    pre[0].update([ms(40.0), ms(40.5), ms(41.0), ms(42.0)])
    pre[1].update([ms(40.2), ms(40.7)])
    post[0].add(ms(41.5))
    post[1].add(ms(43.0))
    # one pre with posts exactly one delay before it, in its step, and exactly one delay after it
    pre[0].add(ms(50.0))
    post[0].update([ms(50.0) - d, ms(50.0), ms(50.0) + d])
    # two pre spikes exactly one delay apart, a post at the second one
    pre[1].update([ms(60.0), ms(60.0) + d])
    post[1].add(ms(60.0) + d)
    # a seeded random stretch, 65..110 ms, about 100 Hz per train
    rng = np.random.default_rng(SEED)
    lo, hi = ms(65.0), ms(110.0)
    for train in pre + post:
        train.update(int(k) for k in np.nonzero(rng.random(hi - lo) < 100.0 * DT * 1e-3)[0] + lo)
    # a silence: nothing in (110, 290) ms, 180 ms > 5 * 33.7 ms
    # then a few spikes after it; the last pre spikes come after the last post spikes
    post[0].add(ms(290.0))
    pre[0].add(ms(291.0))
    pre[1].add(ms(291.0))
    post[1].add(ms(292.0))
    pre[0].add(ms(295.0))
    pre[1].add(ms(296.5))
    post[0].add(ms(298.0))
    pre[0].add(ms(300.0))
    pre[1].add(ms(300.0))
    return pre, post


def run_case(name, command):
    model, params, tau_minus, delay, w0 = CASES[name]
    pre_steps, post_steps = intended_trains(delay)
    # The parrot spikes one step (its input delay) after its generator; a post spikes DRIVE_OFFSET after
    # its generator (checked below).
    pre_gen = [steps_to_ms(k - round(PRE_DELAY / DT) for k in s) for s in pre_steps]
    drive = [steps_to_ms(k - round(DRIVE_DELAY / DT) for k in s) for s in post_steps]

    import nest  # imported late: it prints a banner
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": 1})

    parrots = nest.Create("parrot_neuron", 2)
    post_params = dict(POST_NEURON, tau_minus=tau_minus)
    posts = nest.Create("iaf_psc_delta", 2, params=post_params)
    for i in range(2):
        g = nest.Create("spike_generator", params={"spike_times": pre_gen[i], "allow_offgrid_times": False})
        nest.Connect(g, parrots[i], syn_spec={"synapse_model": "static_synapse", "weight": 1.0,
                                              "delay": PRE_DELAY})
        g = nest.Create("spike_generator", params={"spike_times": drive[i], "allow_offgrid_times": False})
        nest.Connect(g, posts[i], syn_spec={"synapse_model": "static_synapse", "weight": DRIVE_WEIGHT,
                                            "delay": DRIVE_DELAY})
    sr_pre = nest.Create("spike_recorder")
    nest.Connect(parrots, sr_pre)
    sr_post = nest.Create("spike_recorder")
    nest.Connect(posts, sr_post)
    wr = nest.Create("weight_recorder")
    syn = f"{model}_rec"
    # the copy's default weight must have Wmax's sign (stdp_synapse checks it); each connection sets its own
    nest.CopyModel(model, syn, dict(params, weight=w0[0][0], weight_recorder=wr))
    for i in range(2):
        for j in range(2):
            nest.Connect(parrots[i], posts[j], syn_spec={"synapse_model": syn, "weight": w0[i][j],
                                                         "delay": delay})
    nest.Simulate(T_SIM)

    pre_index = {int(n): i for i, n in enumerate(parrots.tolist())}
    post_index = {int(n): i for i, n in enumerate(posts.tolist())}

    def split(ev, index):
        out = [[], []]
        for s, t in zip(ev["senders"], ev["times"]):
            out[index[int(s)]].append(float(t))
        return out

    pre_times = split(sr_pre.get("events"), pre_index)
    post_times = split(sr_post.get("events"), post_index)
    for i in range(2):
        got = [int(round(t / DT)) for t in pre_times[i]]
        assert got == sorted(pre_steps[i]), f"{name}: pre {i} spikes {got} != intended {sorted(pre_steps[i])}"
        assert len(post_times[i]) == len(drive[i]), f"{name}: post {i}: {len(post_times[i])} spikes for " \
                                                    f"{len(drive[i])} drive spikes"
        got = [int(round(t / DT)) for t in post_times[i]]
        assert got == sorted(post_steps[i]), f"{name}: post {i} spikes {got} != intended {sorted(post_steps[i])}"
    drive_offsets = {round(t - g, 6) for i in range(2) for t, g in zip(post_times[i], drive[i])}
    pre_offsets = {round(t - g, 6) for i in range(2) for t, g in zip(pre_times[i], pre_gen[i])}

    ev = wr.get("events")
    events = []
    for s, r, t, w in zip(ev["senders"], ev["targets"], ev["times"], ev["weights"]):
        events.append({"pre": pre_index[int(s)], "post": post_index[int(r)], "t_ms": float(t), "weight": float(w)})
    final = [[float(nest.GetConnections(source=parrots[i], target=posts[j], synapse_model=syn).get("weight"))
              for j in range(2)] for i in range(2)]

    # Sanity: plasticity visible both ways, bounds kept.
    prev = {(i, j): w0[i][j] for i in range(2) for j in range(2)}
    ups = downs = 0
    for e in events:
        key = (e["pre"], e["post"])
        ups += e["weight"] > prev[key]
        downs += e["weight"] < prev[key]
        prev[key] = e["weight"]
        if model == "stdp_synapse":
            lo, hi = sorted((0.0, params["Wmax"]))
            assert lo <= e["weight"] <= hi, f"{name}: weight {e['weight']} outside [{lo}, {hi}]"
        else:
            assert e["weight"] >= 0.0, f"{name}: negative weight {e['weight']}"
    assert ups and downs, f"{name}: {ups} increases, {downs} decreases"
    assert final == [[prev[(i, j)] for j in range(2)] for i in range(2)], f"{name}: final weights {final}"

    doc = {
        "nest_version": nest.__version__,
        "command": command,
        "synapse_model": model,
        "params": params,
        "tau_minus": tau_minus,
        "delay_ms": delay,
        "resolution_ms": DT,
        "t_sim_ms": T_SIM,
        "post_neuron": post_params,
        "drive_weight": DRIVE_WEIGHT,
        "drive_delay_ms": DRIVE_DELAY,
        "pre_times": pre_times,
        "post_drive_times": drive,
        "post_times": post_times,
        "initial_weights": w0,
        "weight_events": events,
        "final_weights": final,
    }
    summary = (f"{name}: {len(events)} weight events ({ups} up, {downs} down), pre spikes "
               f"{len(pre_times[0])}+{len(pre_times[1])}, post spikes {len(post_times[0])}+{len(post_times[1])}, "
               f"generator->parrot offset {sorted(pre_offsets)} ms, drive->post offset {sorted(drive_offsets)} ms")
    return doc, summary


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--case", action="append", choices=sorted(CASES),
                   help="run only this case (repeatable); default: all")
    args = p.parse_args()
    names = args.case or list(CASES)
    command = f"python scripts/nest_stdp_pairs.py --out {args.out}" + "".join(f" --case {c}" for c in args.case or [])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        doc, summary = run_case(name, command)
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(summary)


if __name__ == "__main__":
    main()
