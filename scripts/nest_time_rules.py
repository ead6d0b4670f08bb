#!/usr/bin/env python3
"""Ask NEST how it turns milliseconds into steps, and write the answers as test data for cajal.

Two rules are probed, at resolutions 0.1, 0.25 and 0.01 ms:
  * delays: every half-step delay (k + 1/2) dt from dt/2 up to 20 ms, written as the shortest decimal,
    is set on a static_synapse and read back from NEST (a delay NEST holds is a whole number of steps);
  * refractory periods: iaf_psc_exp neurons driven hard enough to fire in the first step they may fire,
    with t_ref on and just off the grid; the refractory steps are (inter-spike interval / dt) - 1.

    python scripts/nest_time_rules.py --out tests/data/nest_time_rules.csv

Needs NEST (pip package nest-simulator, here 3.10.0). Output: CSV with columns
rule (delay | t_ref), dt_ms, ms (as written, the decimal both simulators parse), steps (NEST's answer).
"""

import argparse
from decimal import Decimal
from pathlib import Path

RESOLUTIONS = ["0.1", "0.25", "0.01"]
T_REF = ["0.1", "0.1004", "0.1005", "0.1006", "0.0996", "0.0994", "0.12", "0.15", "0.3", "0.7", "1.9999",
         "1.9994", "1.9995", "2", "2.0004", "2.0005", "2.0006", "2.05", "0.25", "0.2504", "0.2505", "0.01",
         "0.0104", "0.0105", "0.015", "0.375", "1.1", "3.3"]


def half_steps(dt):
    """(k + 1/2) dt for k = 0, 1, ... up to 20 ms, as shortest decimals."""
    d = Decimal(dt)
    k = 0
    out = []
    while (k + Decimal("0.5")) * d <= 20:
        out.append(str(((k + Decimal("0.5")) * d).normalize()))
        k += 1
    return out


def nest_delays(nest, dt, delays):
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": float(dt)})
    pre = nest.Create("parrot_neuron", len(delays))
    post = nest.Create("parrot_neuron", len(delays))
    nest.Connect(pre, post, "one_to_one", {"synapse_model": "static_synapse",
                                           "delay": [float(x) for x in delays]})
    conns = nest.GetConnections(pre, post)
    got = dict(zip(conns.get("source"), conns.get("delay")))
    steps = []
    for i, d in enumerate(delays):
        ms = got[pre[i].global_id]
        steps.append(int(round(ms / float(dt))))
    return steps


def nest_refractory(nest, dt, t_refs):
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": float(dt)})
    steps = []
    for t in t_refs:
        # A step of input far above threshold: the neuron fires in every step it is allowed to.
        n = nest.Create("iaf_psc_exp", params={"t_ref": float(t), "I_e": 1e7, "V_th": -55.0, "V_reset": -70.0,
                                               "E_L": -70.0, "V_m": -70.0})
        rec = nest.Create("spike_recorder")
        nest.Connect(n, rec)
        steps.append((n, rec))
    nest.Simulate(40.0)
    out = []
    for n, rec in steps:
        times = sorted(rec.get("events")["times"])
        intervals = {int(round((b - a) / float(dt))) for a, b in zip(times, times[1:])}
        if len(intervals) != 1:
            raise SystemExit(f"t_ref probe at dt {dt}: inter-spike intervals {sorted(intervals)} are not constant")
        out.append(intervals.pop() - 1)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import nest  # imported late: it prints a banner
    nest.verbosity = nest.VerbosityLevel.ERROR
    lines = [f"# NEST {nest.__version__}: python scripts/nest_time_rules.py --out {args.out}",
             "rule,dt_ms,ms,steps"]
    for dt in RESOLUTIONS:
        delays = half_steps(dt)
        for d, s in zip(delays, nest_delays(nest, dt, delays)):
            lines.append(f"delay,{dt},{d},{s}")
        for t, s in zip(T_REF, nest_refractory(nest, dt, T_REF)):
            lines.append(f"t_ref,{dt},{t},{s}")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
