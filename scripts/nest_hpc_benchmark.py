#!/usr/bin/env python3
"""NEST's HPC benchmark network (balanced random network with power-law STDP on E->E) built in NEST 3.10.

Our own script for the network of NEST's example pynest/examples/hpc_benchmark.py (Morrison et al. 2007,
Kunkel et al. 2014): 9000*S excitatory and 2250*S inhibitory iaf_psc_alpha neurons, fixed in-degrees
(9000 E and 2250 I per neuron whatever the scale, autapses off, multapses on), one Poisson generator
driving every neuron, delay 1.5 ms everywhere, E->E synapses stdp_pl_synapse_hom (all others static).
Weights are given as PSP peaks (J = 0.14 mV) and turned into PSC amplitudes for the alpha kernel.
Writes DIR/nest_hpc.json: parameters, wall times, peak RSS, connection count, E and I rates over the
analysed period and the E->E weight statistics (mean, sd after connect and at the end, final histogram).

    python scripts/nest_hpc_benchmark.py --scale 0.02 --threads 2 --seed 1 --out DIR [--static]
        [--t-presim MS] [--t-sim MS] [--in-degree-e K] [--in-degree-i K] [--no-hpc-models]
        [--weights both|end|none] [--weight-sources N] [--spikes]

Timing: "construct" is Create + Connect + nest.Prepare() (as in scripts/nest_network.py; "connect" and
"prepare" are also given on their own), "presim" and "simulate" the two nest.Run() calls. The example
counts Prepare in its presimulation time instead. Reading the E->E weights is timed apart ("weights").
Peak RSS (peak_rss_bytes) is taken right after the simulation, before the final weight read-out. The
read-out after connect (--weights both, the default) distorts both: its GetConnections does part of
Prepare's work (sorting the connections) and its transient memory stays in the process. For benchmark
figures use --weights end (dw/w0 then takes w0 = J_E, the start weight of every E->E synapse) or none.
With --spikes, DIR/nest_spikes.csv holds the analysed period's spikes (t_presim, t_presim + t_sim] as
`node_id,time_ms` (node_id = NEST node id - 1: E first, then I), sorted by time then node.
"""

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

NEST_DEFAULT_SEED = 143202461  # NEST's rng_seed when none is set (the example sets none)

# iaf_psc_alpha as the example sets it; tau_syn gives a PSP rise time of 1.700759 ms with tau_m = 10 ms.
TAU_SYN = 0.32582722403722841
NEURON = {"E_L": 0.0, "C_m": 250.0, "tau_m": 10.0, "t_ref": 0.5, "V_th": 20.0, "V_reset": 0.0,
          "tau_syn_ex": TAU_SYN, "tau_syn_in": TAU_SYN, "tau_minus": 30.0}
V_M_MEAN, V_M_SD = 5.7, 7.2  # initial V_m ~ normal(5.7, 7.2) mV, untruncated
J_MV, G, ETA, DELAY, DT = 0.14, -5.0, 1.685, 1.5, 0.1
STDP = {"alpha": 0.0513, "lambda": 0.1, "mu": 0.4, "tau_plus": 15.0}  # tau_minus is the neuron's (30 ms)
N_E, N_I = 9000, 2250  # per unit scale
CHUNK_CONNECTIONS = 1 << 14  # E->E weights are read this many (about) at a time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="11250*S neurons: int(9000*S) E, int(2250*S) I")
    p.add_argument("--threads", type=int, default=1, help="NEST local_num_threads")
    p.add_argument("--seed", type=int, default=NEST_DEFAULT_SEED, help="NEST rng_seed (default: NEST's own)")
    p.add_argument("--t-presim", type=float, default=50.0, help="warm-up in ms (the example: 50)")
    p.add_argument("--t-sim", type=float, default=250.0, help="analysed period in ms (the example: 250)")
    p.add_argument("--static", action="store_true", help="E->E static too (weight J_E pA), no plasticity")
    p.add_argument("--in-degree-e", type=int, default=9000, help="CE, excitatory in-degree (not scaled)")
    p.add_argument("--in-degree-i", type=int, default=2250, help="CI, inhibitory in-degree (not scaled)")
    p.add_argument("--hpc-models", dest="hpc_models", action=argparse.BooleanOptionalAction, default=True,
                   help="the example's *_hpc synapse models (smaller; --no-hpc-models: static_synapse, "
                        "stdp_pl_synapse_hom)")
    p.add_argument("--weights", choices=("both", "end", "none"), default="both",
                   help="read the E->E weights after connect and at the end (both), at the end only (end: "
                        "clean construct time and peak RSS) or not at all")
    p.add_argument("--weight-sources", type=int, default=None, metavar="N",
                   help="weight statistics over the E->E synapses out of the first N E neurons only "
                        "(default: all; reading weights costs some microseconds and ~1 KB per synapse)")
    p.add_argument("--spikes", action="store_true", help="also write DIR/nest_spikes.csv")
    p.add_argument("--out", required=True, help="output directory")
    return p.parse_args()


def lambert_w_minus1(x):
    """The W_{-1} branch of Lambert's W for -1/e <= x < 0 (Halley's iteration)."""
    if not -1.0 / math.e <= x < 0.0:
        raise ValueError(f"W_-1 undefined at {x}")
    if x < -0.25:  # near the branch point
        w = -1.0 - math.sqrt(2.0 * (1.0 + math.e * x))
    else:
        l1 = math.log(-x)
        l2 = math.log(-l1)
        w = l1 - l2 + l2 / l1
    for _ in range(100):
        ew = math.exp(w)
        f = w * ew - x
        step = f / (ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0))
        w -= step
        if abs(step) <= 1e-15 * abs(w):
            break
    return w


def pa_per_mv(tau_m, tau_syn, c_m):
    """PSC amplitude (pA) of an alpha current whose PSP peaks at 1 mV for a LIF neuron at rest.

    With PSC I(t) = A e t/tau_s exp(-t/tau_s), the PSP peaks at t* = (-W_-1(-exp(-1/a)/a) - 1/a)/b
    (a = tau_m/tau_s, b = 1/tau_s - 1/tau_m) with the value
    V(t*) = A e/(tau_s C b) ((exp(-t*/tau_m) - exp(-t*/tau_s))/b - t* exp(-t*/tau_s)); A = 1/V(t*) per mV.
    """
    a = tau_m / tau_syn
    b = 1.0 / tau_syn - 1.0 / tau_m
    t_peak = (-lambert_w_minus1(-math.exp(-1.0 / a) / a) - 1.0 / a) / b
    v_peak = math.e / (tau_syn * c_m * b) * (
        (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_syn)) / b - t_peak * math.exp(-t_peak / tau_syn))
    return 1.0 / v_peak, t_peak


def rss():
    """Peak resident set size so far: getrusage's ru_maxrss (KiB) and /proc/self/status VmHWM, in bytes."""
    out = {"ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "vmhwm_bytes": None}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["vmhwm_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def ee_weights(nest, sources, chunk_sources):
    """The weights of the E->E connections out of `sources`, one numpy array per range of sources
    (the model "hpc_ee" is used by E->E only). SynapseCollection.get builds a status dictionary per
    connection (about 1 KB each and some microseconds), hence the small chunks; GetConnections filtered
    by source costs in proportion to the connections it returns (filtered by target it scans them all)."""
    for lo in range(0, len(sources), chunk_sources):
        conns = nest.GetConnections(source=sources[lo:min(lo + chunk_sources, len(sources))],
                                    synapse_model="hpc_ee")
        if len(conns):
            yield np.asarray(conns.get("weight"), dtype=np.float64)
        del conns


def weight_stats(nest, sources, chunk_sources, w_ref, bins=None):
    """Count, mean and sd (sums shifted by w_ref), min and max of the E->E weights out of `sources`; with
    bins, also a histogram over [min, max] (the weights are kept for it: 8 bytes each)."""
    n, s1, s2, kept = 0, 0.0, 0.0, []
    lo, hi = math.inf, -math.inf
    for w in ee_weights(nest, sources, chunk_sources):
        d = w - w_ref
        n += w.size
        s1 += float(d.sum())
        s2 += float((d * d).sum())
        lo, hi = min(lo, float(w.min())), max(hi, float(w.max()))
        if bins:
            kept.append(w)
    if n == 0:
        return {"count": 0}
    mean_d = s1 / n
    stats = {"count": n, "mean_pA": w_ref + mean_d, "sd_pA": math.sqrt(max(s2 / n - mean_d * mean_d, 0.0)),
             "min_pA": lo, "max_pA": hi}
    if bins:
        # All weights equal (static): numpy spans [w - 0.5, w + 0.5].
        counts, edges = np.histogram(np.concatenate(kept), bins=bins, range=(lo, hi) if hi > lo else None)
        stats["histogram"] = {"bin_edges_pA": edges.tolist(), "counts": counts.tolist()}
    return stats


def main():
    args = parse_args()
    if args.threads < 1 or args.scale <= 0 or args.in_degree_e < 0 or args.in_degree_i < 0:
        sys.exit("--threads >= 1, --scale > 0 and in-degrees >= 0 needed")
    n_e, n_i = int(N_E * args.scale), int(N_I * args.scale)
    ce, ci = args.in_degree_e, args.in_degree_i
    if n_e < 2 or n_i < 2:
        sys.exit(f"--scale {args.scale}: {n_e} E and {n_i} I neurons, too few (autapses are excluded)")
    t_presim, t_sim = args.t_presim, args.t_sim

    factor, t_peak = pa_per_mv(NEURON["tau_m"], TAU_SYN, NEURON["C_m"])
    j_e = factor * J_MV  # pA
    j_i = G * j_e
    # Rate (per ms) at which CE inputs of weight J_E bring the mean free membrane potential to threshold:
    # the integral of the alpha PSC is J_E e tau_syn (pA ms), so the mean drive is nu CE J_E e tau_syn tau_m/C_m.
    nu_th = NEURON["V_th"] / (ce * NEURON["tau_m"] / NEURON["C_m"] * j_e * math.e * TAU_SYN)
    p_rate = ETA * nu_th * ce * 1000.0  # Hz, one independent train per neuron
    static_model = "static_synapse_hpc" if args.hpc_models else "static_synapse"
    stdp_model = "stdp_pl_synapse_hom_hpc" if args.hpc_models else "stdp_pl_synapse_hom"

    import nest  # imported late: it prints a banner
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": args.threads, "rng_seed": args.seed})
    rss_start = rss()
    started = time.perf_counter()
    e_nodes = nest.Create("iaf_psc_alpha", n_e, params=NEURON)
    i_nodes = nest.Create("iaf_psc_alpha", n_i, params=NEURON)
    v_m = nest.random.normal(mean=V_M_MEAN, std=V_M_SD)
    e_nodes.V_m = v_m
    i_nodes.V_m = v_m
    drive = nest.Create("poisson_generator", params={"rate": p_rate})
    recorders = [nest.Create("spike_recorder", params={"start": t_presim, "stop": t_presim + t_sim})
                 for _ in range(2)]
    create_wall = time.perf_counter() - started

    started = time.perf_counter()
    nest.CopyModel(static_model, "hpc_ex", {"weight": j_e, "delay": DELAY})
    nest.CopyModel(static_model, "hpc_in", {"weight": j_i, "delay": DELAY})
    # E->E gets a model of its own (also when static) so its connections can be read out alone.
    if args.static:
        nest.CopyModel(static_model, "hpc_ee", {"weight": j_e, "delay": DELAY})
    else:
        nest.CopyModel(stdp_model, "hpc_ee", {"weight": j_e, "delay": DELAY, **STDP})
    all_nodes = e_nodes + i_nodes
    nest.Connect(drive, all_nodes, "all_to_all", {"synapse_model": "hpc_ex"})

    def indegree(k):
        return {"rule": "fixed_indegree", "indegree": k, "allow_autapses": False, "allow_multapses": True}

    nest.Connect(e_nodes, e_nodes, indegree(ce), {"synapse_model": "hpc_ee"})
    nest.Connect(i_nodes, e_nodes, indegree(ci), {"synapse_model": "hpc_in"})
    nest.Connect(e_nodes, i_nodes, indegree(ce), {"synapse_model": "hpc_ex"})
    nest.Connect(i_nodes, i_nodes, indegree(ci), {"synapse_model": "hpc_in"})
    nest.Connect(e_nodes, recorders[0])
    nest.Connect(i_nodes, recorders[1])
    connect_wall = time.perf_counter() - started
    rss_connect = rss()

    chunk_sources = max(1, CHUNK_CONNECTIONS // max(ce, 1))  # mean out-degree of an E neuron: CE
    w_sources = e_nodes if args.weight_sources is None else e_nodes[:max(1, min(args.weight_sources, n_e))]
    weights_wall = 0.0
    w_start = None
    if args.weights == "both":
        started = time.perf_counter()
        w_start = weight_stats(nest, w_sources, chunk_sources, j_e)
        weights_wall += time.perf_counter() - started

    started = time.perf_counter()
    nest.Prepare()
    prepare_wall = time.perf_counter() - started
    started = time.perf_counter()
    nest.Run(t_presim)
    presim_wall = time.perf_counter() - started
    started = time.perf_counter()
    nest.Run(t_sim)
    simulate_wall = time.perf_counter() - started
    nest.Cleanup()
    rss_sim = rss()
    num_connections = int(nest.GetKernelStatus("num_connections"))

    w_end = None
    if args.weights != "none":
        started = time.perf_counter()
        w_end = weight_stats(nest, w_sources, chunk_sources, j_e, bins=50)
        weights_wall += time.perf_counter() - started

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rates, spike_parts = {}, []
    for name, rec, size in (("E", recorders[0], n_e), ("I", recorders[1], n_i)):
        ev = rec.get("events")
        count = len(ev["times"])
        rates[name] = {"size": size, "spike_count": count, "rate_hz": count / (size * t_sim / 1000.0)}
        if args.spikes:
            spike_parts.append((np.asarray(ev["senders"], dtype=np.int64) - 1, np.asarray(ev["times"])))
    if args.spikes:
        ids = np.concatenate([p[0] for p in spike_parts])
        steps = np.rint(np.concatenate([p[1] for p in spike_parts]) / DT).astype(np.int64)
        order = np.lexsort((ids, steps))
        with open(out / "nest_spikes.csv", "w", newline="\n") as f:
            f.write("node_id,time_ms\n")
            f.writelines(f"{g},{s * DT:.1f}\n" for g, s in zip(ids[order].tolist(), steps[order].tolist()))

    device_links = len(all_nodes) * 2  # Poisson generator -> neuron, neuron -> spike recorder
    dw = None
    if w_end and w_end.get("count"):  # w0: the mean read after connect, else J_E (every E->E weight's start)
        w0 = w_start["mean_pA"] if w_start and w_start.get("count") else j_e
        dw = (w_end["mean_pA"] - w0) / w0
    construct = create_wall + connect_wall + prepare_wall
    summary = {
        "simulator": "nest", "nest_version": nest.__version__,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "parameters": {
            "scale": args.scale, "threads": args.threads,
            "total_num_virtual_procs": int(nest.GetKernelStatus("total_num_virtual_procs")),
            "seed": args.seed, "dt_ms": DT, "t_presim_ms": t_presim, "t_sim_ms": t_sim,
            "n_e": n_e, "n_i": n_i, "in_degree_e": ce, "in_degree_i": ci,
            "allow_autapses": False, "allow_multapses": True, "neuron_model": "iaf_psc_alpha", "neuron": NEURON,
            "V_m_init": {"normal_mean_mV": V_M_MEAN, "normal_sd_mV": V_M_SD},
            "J_mV": J_MV, "pA_per_mV": factor, "psp_peak_time_ms": t_peak, "J_E_pA": j_e, "g": G, "J_I_pA": j_i,
            "eta": ETA, "nu_th_per_ms": nu_th, "poisson_rate_hz": p_rate,
            "poisson_weight_pA": j_e, "poisson_delay_ms": DELAY, "delay_ms": DELAY,
            "plastic": not args.static, "stdp": None if args.static else dict(STDP, tau_minus=NEURON["tau_minus"]),
            "synapse_models": {"E->E": stdp_model if not args.static else static_model,
                               "E->I, poisson": static_model, "I->E, I->I": static_model},
        },
        "wall_s": {"create": create_wall, "connect": connect_wall, "prepare": prepare_wall,
                   "construct": construct, "presim": presim_wall, "simulate": simulate_wall,
                   "weights": weights_wall},
        "rtf": simulate_wall / (t_sim / 1000.0),
        "peak_rss_bytes": rss_sim["vmhwm_bytes"] or rss_sim["ru_maxrss_bytes"],
        "rss": {"start": rss_start, "after_connect": rss_connect, "after_simulate": rss_sim, "end": rss()},
        "num_connections": num_connections,
        "num_connections_without_devices": num_connections - device_links,
        "rates": rates,
        "ee_weights_read": args.weights, "ee_weight_sources": len(w_sources) if args.weights != "none" else 0,
        "ee_weights_start": w_start, "ee_weights_end": w_end, "ee_mean_weight_rel_change": dw,
    }
    (out / "nest_hpc.json").write_text(json.dumps(summary, indent=2) + "\n")
    brief = {"neurons": n_e + n_i, "connections": num_connections, "wall_s": summary["wall_s"],
             "rate_e_hz": rates["E"]["rate_hz"], "rate_i_hz": rates["I"]["rate_hz"], "dw_rel": dw}
    print(json.dumps(brief))


if __name__ == "__main__":
    main()
