#!/usr/bin/env python3
"""Build and simulate the cortical microcircuit of models/microcircuit.toml with NEST (PyNEST).

This is the NEST side of scripts/compare-nest.sh. It derives population sizes, synapse totals, weights,
delays, external input and the DC compensation of downscaled in-degrees from the model file with the
same formulas cajal uses (crates/cajal-models/src/microcircuit.rs), builds the network in NEST, runs a
warm-up and an analysed period, and writes a JSON summary shaped like cajal's summary.json.

    python scripts/nest_microcircuit.py --scale 0.05 --threads 2 --t-presim 50 --t-sim 200 --out nest.json

With --spikes-dir DIR it also writes DIR/summary.json (the summary) and DIR/spikes/<population>.csv in
cajal's spike-file format: a `sender,time_ms` header, then one line per spike of the analysed period
(t_presim, t_presim + t_sim], sorted by (time, sender); sender is the 0-based global neuron index in
cajal's numbering (populations contiguous in the model file's order: NEST node id - 1) and time_ms is the
spike time with as many decimals as dt needs (1 for dt = 0.1 ms).

Timing: "construct" is Create + Connect + nest.Prepare() (Prepare builds NEST's connection
infrastructure and initialises the nodes), "presim" and "simulate" are the two nest.Run() calls.
"""

import argparse
import json
import math
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(REPO / "models" / "microcircuit.toml"), help="model file (TOML)")
    p.add_argument("--scale", type=float, default=None, help="scale N and K by F (default: the file's scaling)")
    p.add_argument("--threads", type=int, default=1, help="NEST local_num_threads")
    p.add_argument("--t-presim", type=float, default=None, help="warm-up in ms (default: the file's)")
    p.add_argument("--t-sim", type=float, default=None, help="analysed period in ms (default: the file's)")
    p.add_argument("--seed", type=int, default=None, help="NEST rng_seed (default: the file's)")
    p.add_argument("--out", default=None, help="write the JSON summary here (default: stdout only)")
    p.add_argument("--record-spikes", dest="record_spikes", action=argparse.BooleanOptionalAction, default=True,
                   help="one spike_recorder per population over the analysed period (needed for rates)")
    p.add_argument("--spikes-dir", dest="spikes_dir", default=None, metavar="DIR",
                   help="write DIR/summary.json and DIR/spikes/<population>.csv (cajal's spike-file format)")
    return p.parse_args()


def time_decimals(dt):
    """Enough decimals to write every multiple of dt exactly (0.1 -> 1, 0.125 -> 3), as cajal does."""
    for k in range(10):
        scaled = dt * 10.0 ** k
        if abs(scaled - round(scaled)) < 1e-9 * max(scaled, 1.0):
            return k
    return 12


def write_spikes(path, senders, times, t_lo, t_hi, dt):
    """One population's analysed spikes as cajal writes them; returns the number of lines written."""
    decimals = time_decimals(dt)
    steps = np.rint(np.asarray(times, dtype=np.float64) / dt).astype(np.int64)
    gids = np.asarray(senders, dtype=np.int64) - 1  # NEST node ids start at 1, cajal's gids at 0
    lo, hi = int(round(t_lo / dt)), int(round(t_hi / dt))
    keep = (steps > lo) & (steps <= hi)  # (t_presim, t_presim + t_sim]
    steps, gids = steps[keep], gids[keep]
    order = np.lexsort((gids, steps))  # by time, then sender
    with open(path, "w", newline="\n") as f:
        f.write("sender,time_ms\n")
        f.writelines(f"{g},{st * dt:.{decimals}f}\n" for g, st in zip(gids[order].tolist(), steps[order].tolist()))
    return int(len(order))


def psc_per_psp(c_m, tau_m, tau_syn):
    """Peak PSC (pA) that gives a 1 mV peak PSP for iaf_psc_exp."""
    a = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn * a / c_m
    f = (tau_m / tau_syn) ** a
    return 1.0 / (pre * (f ** tau_m - f ** tau_syn))


def derive(m, n_scaling, k_scaling):
    """Everything the network needs, at the given scaling, from the parsed model file."""
    pops, conn, nrn, bg = m["populations"], m["connectivity"], m["neuron"], m["background"]
    names = pops["names"]
    n = len(names)
    exc = pops["excitatory"]
    n_full = np.array(pops["N_full"], dtype=np.float64)
    k_ext_full = np.array(pops["K_ext"], dtype=np.float64)
    rates_full = np.array(pops["full_mean_rates"], dtype=np.float64)
    c = np.array(conn["conn_probs"], dtype=np.float64)  # C[target][source]

    sizes = [int(x) for x in np.rint(n_full * n_scaling)]  # ties to even

    # Full-scale synapse totals S[t][s] = ln(1 - C) / ln(1 - 1/(N_pre N_post)), computed element by element
    # in float64 exactly as written.
    s_full = [[math.log(1.0 - c[t][s]) / math.log(1.0 - 1.0 / (n_full[s] * n_full[t])) for s in range(n)]
              for t in range(n)]
    totals = [[int(np.rint(s_full[t][s] * n_scaling * k_scaling)) for s in range(n)] for t in range(n)]

    factor = [[1.0] * n for _ in range(n)]
    for e in conn.get("psp_factors", []):
        factor[names.index(e["target"])][names.index(e["source"])] = float(e["factor"])

    psc_over_psp = psc_per_psp(nrn["C_m"], nrn["tau_m"], nrn["tau_syn_ex"])
    psc_full = [[conn["PSP_exc_mean"] * (1.0 if exc[s] else conn["g"]) * factor[t][s] * psc_over_psp
                 for s in range(n)] for t in range(n)]
    psc_ext_full = conn["PSP_exc_mean"] * psc_over_psp
    k_ext = [float(np.rint(k * k_scaling)) for k in k_ext_full]

    poisson = bg["input"] == "poisson"
    if bg["input"] not in ("poisson", "dc"):
        sys.exit(f"background.input must be \"poisson\" or \"dc\", not {bg['input']!r}")
    tau_syn = nrn["tau_syn_ex"]
    # With DC background, the current replacing the Poisson input uses the full-scale K_ext (as cajal and
    # NEST's example do); the in-degree compensation below adds to it.
    dc = [0.0 if poisson else bg["rate"] * k_ext_full[t] * psc_ext_full * tau_syn * 0.001 for t in range(n)]
    root_k = math.sqrt(k_scaling)
    if k_scaling != 1.0:
        for t in range(n):
            rec = sum(psc_full[t][s] * (s_full[t][s] / n_full[t]) * rates_full[s] for s in range(n))
            dc[t] += 0.001 * tau_syn * (1.0 - root_k) * rec
            if poisson:
                dc[t] += 0.001 * tau_syn * (1.0 - root_k) * psc_ext_full * k_ext_full[t] * bg["rate"]

    return {
        "names": names, "excitatory": exc, "sizes": sizes, "totals": totals,
        "psc_mean": [[w / root_k for w in row] for row in psc_full], "psc_ext": psc_ext_full / root_k,
        "k_ext": k_ext, "dc": [float(x) for x in dc], "poisson": poisson, "psc_over_psp": psc_over_psp,
    }


def peak_rss_bytes():
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main():
    args = parse_args()
    if args.threads < 1:
        sys.exit("--threads must be >= 1")
    if args.spikes_dir is not None and not args.record_spikes:
        sys.exit("--spikes-dir needs the spike recorders (drop --no-record-spikes)")
    model = tomllib.loads(Path(args.model).read_text())
    sim = model["simulation"]
    n_scaling = args.scale if args.scale is not None else model["scaling"]["N"]
    k_scaling = args.scale if args.scale is not None else model["scaling"]["K"]
    t_presim = args.t_presim if args.t_presim is not None else sim["t_presim_ms"]
    t_sim = args.t_sim if args.t_sim is not None else sim["t_sim_ms"]
    seed = args.seed if args.seed is not None else sim["seed"]
    dt = sim["dt_ms"]
    d = derive(model, n_scaling, k_scaling)
    nrn, conn, bg = model["neuron"], model["connectivity"], model["background"]
    if nrn["model"] != "iaf_psc_exp":
        sys.exit(f"neuron.model {nrn['model']!r} is not supported (only iaf_psc_exp)")
    if conn["rule"] != "fixed_total_number":
        sys.exit(f"connectivity.rule {conn['rule']!r} is not supported here (only fixed_total_number)")
    if 0 in d["sizes"]:
        sys.exit(f"a population has size 0 at scale {n_scaling}")

    import nest  # imported late: it prints a banner

    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": args.threads, "rng_seed": seed,
                          "print_time": False})

    names, exc, sizes = d["names"], d["excitatory"], d["sizes"]
    n = len(names)
    pops_cfg = model["populations"]

    # ---- construction: Create ----
    t0 = time.perf_counter()
    pops = []
    for i in range(n):
        params = {
            "C_m": nrn["C_m"], "tau_m": nrn["tau_m"], "tau_syn_ex": nrn["tau_syn_ex"],
            "tau_syn_in": nrn["tau_syn_in"], "E_L": nrn["E_L"], "V_th": nrn["V_th"],
            "V_reset": nrn["V_reset"], "t_ref": nrn["t_ref"], "I_e": nrn["I_e"] + d["dc"][i],
            "V_m": nest.random.normal(mean=pops_cfg["V0_mean"][i], std=pops_cfg["V0_std"][i]),
        }
        pops.append(nest.Create("iaf_psc_exp", sizes[i], params=params))
    if args.spikes_dir is not None:
        # Spike files use cajal's numbering: populations contiguous in the file's order from gid 0, i.e.
        # NEST node id - 1, which holds because the populations are the first nodes created.
        first = 1
        for i, pop in enumerate(pops):
            ids = pop.tolist()
            if ids != list(range(first, first + sizes[i])):  # an assert that survives python -O
                sys.exit(f"population {names[i]} has node ids {ids[0]}..{ids[-1]} ({len(ids)}), "
                         f"expected {first}..{first + sizes[i] - 1}")
            first += sizes[i]
    generators = []
    if d["poisson"]:
        for i in range(n):
            if d["k_ext"][i] > 0:
                generators.append((i, nest.Create("poisson_generator", params={"rate": bg["rate"] * d["k_ext"][i]})))
    recorders = []
    if args.record_spikes:
        for i in range(n):
            recorders.append(nest.Create("spike_recorder",
                                         params={"start": t_presim, "stop": t_presim + t_sim}))
    t_create = time.perf_counter() - t0

    # ---- construction: Connect ----
    t0 = time.perf_counter()
    planned = 0
    rel_w, rel_d = conn["weight_rel_std"], conn["delay_rel_std"]
    for t in range(n):
        for s in range(n):
            total = d["totals"][t][s]
            if total == 0:
                continue
            w = d["psc_mean"][t][s]
            if rel_w > 0:
                # keep the sign: excitatory weights redrawn to >= 0, inhibitory to <= 0
                lo, hi = (0.0, math.inf) if w >= 0 else (-math.inf, 0.0)
                weight = nest.math.redraw(nest.random.normal(mean=w, std=abs(w) * rel_w), min=lo, max=hi)
            else:
                weight = w
            dm = conn["delay_exc_mean"] if exc[s] else conn["delay_inh_mean"]
            if rel_d > 0:
                delay = nest.math.redraw(nest.random.normal(mean=dm, std=dm * rel_d), min=dt / 2.0, max=math.inf)
            else:
                delay = dm
            nest.Connect(pops[s], pops[t],
                         {"rule": "fixed_total_number", "N": total,
                          "allow_autapses": True, "allow_multapses": True},
                         {"synapse_model": "static_synapse", "weight": weight, "delay": delay})
            planned += total
    device_conns = 0
    for i, gen in generators:
        nest.Connect(gen, pops[i], "all_to_all",
                     {"synapse_model": "static_synapse", "weight": d["psc_ext"], "delay": bg["delay"]})
        device_conns += sizes[i]
    for i, rec in enumerate(recorders):
        nest.Connect(pops[i], rec)
        device_conns += sizes[i]
    t_connect = time.perf_counter() - t0

    # ---- construction: Prepare (connection infrastructure, node initialisation) ----
    t0 = time.perf_counter()
    nest.Prepare()
    t_prepare = time.perf_counter() - t0

    synapses = nest.num_connections - device_conns
    if synapses != planned:
        print(f"warning: NEST holds {synapses} neuron-to-neuron connections, {planned} were requested",
              file=sys.stderr)

    t0 = time.perf_counter()
    if t_presim > 0:
        nest.Run(t_presim)
    t_presim_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    if t_sim > 0:
        nest.Run(t_sim)
    t_sim_wall = time.perf_counter() - t0
    nest.Cleanup()

    populations = []
    for i in range(n):
        entry = {"name": names[i], "size": sizes[i]}
        if recorders:
            count = int(recorders[i].get("n_events"))
            entry["spike_count"] = count
            entry["rate_hz"] = count / (sizes[i] * t_sim / 1000.0) if t_sim > 0 else None
        else:
            entry["rate_hz"] = None
        populations.append(entry)

    ks = nest.GetKernelStatus()
    summary = {
        "simulator": "nest",
        "version": nest.__version__,
        "model_file": str(args.model),
        "scale": n_scaling if n_scaling == k_scaling else {"N": n_scaling, "K": k_scaling},
        "threads": args.threads,
        "seed": seed,
        "dt_ms": dt,
        "t_presim_ms": t_presim,
        "t_sim_ms": t_sim,
        "neurons": int(sum(sizes)),
        "synapses": int(synapses),
        "synapses_requested": int(planned),
        "wall_s": {
            "construct": t_create + t_connect + t_prepare,
            "create": t_create,
            "connect": t_connect,
            "prepare": t_prepare,
            "presim": t_presim_wall,
            "simulate": t_sim_wall,
        },
        # NEST's own timers (some are per thread: the largest is kept)
        "nest_timers_s": {k: float(np.max(ks[k])) for k in ("time_construction_create",
                                                            "time_construction_connect",
                                                            "time_communicate_prepare", "time_simulate")
                          if k in ks},
        "rtf": t_sim_wall / (t_sim / 1000.0) if t_sim > 0 else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "populations": populations,
    }
    text = json.dumps(summary, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.spikes_dir is not None:
        out_dir = Path(args.spikes_dir)
        (out_dir / "spikes").mkdir(parents=True, exist_ok=True)
        for i, rec in enumerate(recorders):
            ev = rec.get("events")
            written = write_spikes(out_dir / "spikes" / f"{names[i]}.csv", ev["senders"], ev["times"],
                                   t_presim, t_presim + t_sim, dt)
            first = sum(sizes[:i])
            senders = np.asarray(ev["senders"], dtype=np.int64)
            if senders.size and (senders.min() - 1 < first or senders.max() - 1 >= first + sizes[i]):
                sys.exit(f"{names[i]}: a sender lies outside the population's gids {first}..{first + sizes[i] - 1}")
            if written != populations[i]["spike_count"]:
                sys.exit(f"{names[i]}: {written} spikes in the analysed period, the recorder counted "
                         f"{populations[i]['spike_count']}")
        (out_dir / "summary.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
