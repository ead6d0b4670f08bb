#!/usr/bin/env python3
"""A `model = "network"` file (e.g. models/brunel.toml) built and run in NEST 3.10: each population with
its neuron model and parameters, its Poisson background as one poisson_generator (independent trains per
target) with the given weight and delay, projections with NEST's rules and constant weights and delays.
Devices as cajal reads them: spike_generator populations (times from the CSV `node_id,time_ms`, off-grid
times allowed), poisson_generator populations, [[current_generators]] (dc_generator,
step_current_generator) on population ids. Populations are created first, in file order, so NEST's node
ids are cajal's gids + 1. Writes DIR/summary.json (shaped like cajal's: sizes, wall times, peak RSS, per-population rates) and
DIR/spikes/<population>.csv in cajal's spike-file layout, so `cajal spike-stats` reads both alike.

    python scripts/nest_network.py models/brunel.toml --seed 1 --threads 2 --out DIR [--scale F]
        [--t-presim MS] [--t-sim MS]
"""

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nest_microcircuit import peak_rss_bytes, write_spikes  # noqa: E402  (our own helpers)

RULES = {"fixed_indegree": ("indegree", "indegree"), "pairwise_bernoulli": ("p", "p"),
         "fixed_total_number": ("number", "N"), "one_to_one": (None, None), "all_to_all": (None, None)}


def create_population(nest, spec, n, model_dir):
    """The NEST nodes of one population (neurons or a device), with their size."""
    device = spec.get("device")
    if device is None:
        neuron = dict(spec["neuron"])
        model = neuron.pop("model")
        size = int(round(spec["size"] * n))
        params = dict(neuron)
        if isinstance(spec.get("V_m"), dict):
            low, high = spec["V_m"]["uniform"]
            params["V_m"] = nest.random.uniform(min=low, max=high)
        elif "V_m" in spec:
            params["V_m"] = spec["V_m"]
        return nest.Create(model, size, params=params), size
    device = dict(device)
    model = device.pop("model")
    size = int(spec["size"])
    if model == "spike_generator":
        times = [[] for _ in range(size)]
        lines = (model_dir / device.pop("spike_times")).read_text().split("\n")[1:]
        for line in filter(str.strip, lines):
            node, t = line.split(",")
            times[int(node)].append(float(t))
        nodes = nest.Create("spike_generator", size, params={"allow_offgrid_times": True, **device})
        for k, node in enumerate(nodes):
            node.set(spike_times=times[k])
        return nodes, size
    return nest.Create(model, size, params=device), size


def connect_current_generators(nest, m, pops):
    """Creates and connects the current generators; returns them."""
    generators = []
    for g in m.get("current_generators", []):
        g = dict(g)
        model, targets = g.pop("model"), g.pop("targets")
        g.pop("name", None)
        delay = g.pop("delay_ms", 1.0)
        pop = pops[targets["population"]]
        ids = []
        for part in targets.get("ids", f"0-{len(pop) - 1}").split(","):
            lo, _, hi = part.strip().partition("-")
            ids.extend(range(int(lo), int(hi or lo) + 1))
        gen = nest.Create(model, params=g)
        nest.Connect(gen, pop[sorted(set(ids))], syn_spec={"delay": delay})
        generators.append(gen)
    return generators


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--t-presim", type=float, default=None, help="warm-up (ms) instead of the file's")
    p.add_argument("--t-sim", type=float, default=None, help="analysed time (ms) instead of the file's")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    m = tomllib.loads(Path(args.model).read_text())
    if m.get("model") != "network":
        sys.exit(f"{args.model}: not a `model = \"network\"` file")
    sim = m["simulation"]
    n = args.scale if args.scale is not None else m.get("scaling", {}).get("N", 1.0)
    dt, t_presim, t_sim = sim["dt_ms"], sim["t_presim_ms"], sim["t_sim_ms"]
    t_presim = t_presim if args.t_presim is None else args.t_presim
    t_sim = t_sim if args.t_sim is None else args.t_sim

    import nest  # imported late: it prints a banner
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": args.threads, "rng_seed": args.seed})
    started = time.perf_counter()
    pops, names, sizes, recorders, sources_outside_tables = {}, [], [], [], []
    for spec in m["populations"]:
        pop, size = create_population(nest, spec, n, Path(args.model).parent)
        pops[spec["name"]] = pop
        names.append(spec["name"])
        sizes.append(size)
    for spec in m["populations"]:
        pop = pops[spec["name"]]
        bg = spec.get("background")
        if bg:
            g = nest.Create("poisson_generator", params={"rate": bg["rate_hz"]})
            nest.Connect(g, pop, syn_spec={"weight": bg["weight"], "delay": bg["delay_ms"]})
            sources_outside_tables.append(g)
        if spec.get("device", {}).get("model") == "poisson_generator":
            sources_outside_tables.append(pop)
            recorders.append(None)  # its trains are per target: nothing of its own to record
            continue
        rec = nest.Create("spike_recorder", params={"start": t_presim, "stop": t_presim + t_sim})
        nest.Connect(pop, rec)
        recorders.append(rec)
    for pr in m.get("projections", []):
        key, nest_key = RULES[pr["rule"]]
        conn = {"rule": pr["rule"], "allow_autapses": pr.get("allow_autapses", True)}
        if key is not None:
            conn[nest_key] = pr[key] if pr["rule"] != "fixed_total_number" else int(round(pr[key] * n))
        nest.Connect(pops[pr["source"]], pops[pr["target"]], conn_spec=conn,
                     syn_spec={"weight": pr["weight"], "delay": pr["delay_ms"]})
    sources_outside_tables.extend(connect_current_generators(nest, m, pops))
    nest.Prepare()
    construct = time.perf_counter() - started
    started = time.perf_counter()
    nest.Run(t_presim)
    presim_wall = time.perf_counter() - started
    started = time.perf_counter()
    nest.Run(t_sim)
    simulate_wall = time.perf_counter() - started
    nest.Cleanup()

    # Connections into recorders and out of generators that cajal keeps outside its synapse tables.
    device_links = sum(len(nest.GetConnections(source=s)) for s in sources_outside_tables)
    device_links += sum(len(nest.GetConnections(target=rec)) for rec in recorders if rec is not None)
    out = Path(args.out)
    (out / "spikes").mkdir(parents=True, exist_ok=True)
    populations = []
    for name, size, rec in zip(names, sizes, recorders):
        ev = rec.get("events") if rec is not None else {"senders": [], "times": []}
        count = write_spikes(out / "spikes" / f"{name}.csv", ev["senders"], ev["times"], t_presim, t_presim + t_sim, dt)
        populations.append({"name": name, "size": size, "spike_count": count,
                            "rate_hz": count / (size * t_sim / 1000.0)})
    summary = {
        "simulator": "nest", "version": nest.__version__, "model_file": args.model, "scale": n,
        "threads": args.threads, "seed": args.seed, "dt_ms": dt, "t_presim_ms": t_presim, "t_sim_ms": t_sim,
        # Without the connections of the recorders and the background generators.
        "neurons": int(sum(sizes)), "synapses": int(nest.GetKernelStatus("num_connections")) - device_links,
        "wall_s": {"construct": construct, "presim": presim_wall, "simulate": simulate_wall},
        "rtf": simulate_wall / (t_sim / 1000.0), "peak_rss_bytes": peak_rss_bytes(), "populations": populations,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("neurons", "synapses", "wall_s", "rtf")}))


if __name__ == "__main__":
    main()
