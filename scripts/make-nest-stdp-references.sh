#!/usr/bin/env bash
# Makes the NEST weight trajectories of stdp_synapse and stdp_pl_synapse_hom that cajal's STDP synapses are
# compared with: 8 cases (scripts/nest_stdp_pairs.py) into tests/data/nest_stdp/<case>.json, with the
# provenance in tests/data/nest_stdp/README.md. A few seconds.
#
#   NEST_VENV=/path/to/venv bash scripts/make-nest-stdp-references.sh
#
# The venv is ${NEST_VENV:-.venv-nest}; if `import nest` does not give NEST 3.10.0 there, it is created
# and nest-simulator 3.10.0 and numpy are installed into it with pip (scripts/nest-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nest-venv.sh
VENV=${NEST_VENV:-.venv-nest}
ensure_nest_venv "$VENV" 3.10.0
OUT=tests/data/nest_stdp
mkdir -p "$OUT"
rm -f "$OUT"/*.json
"$VENV/bin/python" scripts/nest_stdp_pairs.py --out "$OUT" | grep -v '^ \|^$' || true
[[ $(ls "$OUT"/*.json | wc -l) == 8 ]] || { echo "make-nest-stdp-references: error: NEST run failed" >&2; exit 1; }
NEST_VERSION=$("$VENV/bin/python" -c 'import nest; print(nest.__version__)' 2>/dev/null | tail -1)
PYVER=$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')
NUMPYVER=$("$VENV/bin/python" -c 'import numpy; print(numpy.__version__)')
cat > "$OUT/README.md" <<MD
# NEST weight trajectories of stdp_synapse and stdp_pl_synapse_hom

Made by \`NEST_VENV=/path/to/venv bash scripts/make-nest-stdp-references.sh\` on $(date -u +%Y-%m-%d) with NEST
$NEST_VERSION (pip \`nest-simulator==3.10.0\`), Python $PYVER, numpy $NUMPYVER; the script runs
\`python scripts/nest_stdp_pairs.py --out tests/data/nest_stdp\`. Every weight update NEST makes, for hand-made
pre and post spike trains, to be compared with cajal's STDP synapses update by update.

## Cases

| file | synapse model | parameters | post tau_minus | delay | initial weights |
|---|---|---|---|---|---|
| \`pl_hpc_d0.1.json\`, \`pl_hpc_d0.5.json\`, \`pl_hpc_d1.0.json\` | stdp_pl_synapse_hom | lambda 0.1, alpha 0.0513, mu 0.4, tau_plus 15 (hpc_benchmark) | 30 ms | 0.1, 0.5, 1.0 ms | 20, 30, 40, 50 |
| \`pl_alt_d0.5.json\` | stdp_pl_synapse_hom | lambda 0.05, alpha 1.2, mu 0.3, tau_plus 20 | 25 ms | 0.5 ms | 20, 30, 40, 50 |
| \`stdp_d0.1.json\`, \`stdp_d0.5.json\`, \`stdp_d1.0.json\` | stdp_synapse | lambda 0.05, alpha 1.1, mu_plus 0.5, mu_minus 0.8, tau_plus 16.8, Wmax 100 | 33.7 ms | 0.1, 0.5, 1.0 ms | 10, 40, 70, 95 |
| \`stdp_negative_d1.0.json\` | stdp_synapse | the same with Wmax -100 | 33.7 ms | 1.0 ms | -10, -40, -70, -95 |

(initial weights in the order pre0->post0, pre0->post1, pre1->post0, pre1->post1).

## Network (each case)

Resolution 0.1 ms, 1 thread, 320 ms simulated (the trains end at 300 ms).

- 2 presynaptic \`parrot_neuron\`s, each fed by its own \`spike_generator\` (on-grid times,
  \`allow_offgrid_times\` false) through a static synapse, weight 1, delay 0.1 ms. The parrot spikes 0.1 ms
  after its generator's time; the parrots' spikes (recorded) are the pre spikes.
- 2 postsynaptic \`iaf_psc_delta\`s (E_L = V_reset = V_m = 0 mV, V_th = 1e6 mV, t_ref = 0 ms, C_m = 250 pF,
  tau_m = 10 ms, I_e = 0, tau_minus of the case) that fire only when their own \`spike_generator\` makes them:
  static synapse, weight 1e7 mV, delay 0.1 ms; each drive spike gives exactly one post spike, 0.1 ms after the
  generator's time (the script checks it).
- The plastic connections, parrots to posts all to all (4 synapses), through a copy of the case's synapse
  model (\`nest.CopyModel\`) with the parameters above and a \`weight_recorder\`.

The trains (the same in every case but for the delay-dependent spikes) cover: post spikes before any pre
spike; pre and post in the same step; post spikes exactly one delay after and exactly one delay before a pre
spike; bursts in consecutive steps on both sides, overlapping; both pres in the same step; pre spikes close
to each other; a seeded random stretch (65-110 ms); a silence (no spike between 110 and 290 ms, > 5 tau of every trace) before the
last spikes. The last pre spikes come after the last post spikes.

## Format

One JSON object per case: \`nest_version\`, \`command\`, \`synapse_model\`, \`params\` (the synapse parameters,
NEST's names), \`tau_minus\`, \`delay_ms\` (the plastic synapses' delay, all dendritic in NEST),
\`resolution_ms\`, \`t_sim_ms\`, \`post_neuron\` (the iaf_psc_delta parameters set, NEST's names),
\`drive_weight\`, \`drive_delay_ms\`, \`pre_times\` (per pre, the parrot's recorded spikes, ms),
\`post_drive_times\` (per post, its generator's times), \`post_times\` (per post, its recorded spikes),
\`initial_weights\` and \`final_weights\` (\`[[pre0->post0, pre0->post1], [pre1->post0, pre1->post1]]\`; the final
ones from \`nest.GetConnections\` after the run), \`weight_events\` (the weight_recorder's events in its order:
\`{"pre", "post", "t_ms", "weight"}\`, pre and post 0-based within the case). Times are NEST's as recorded (a
multiple of 0.1 ms computed in floating point, e.g. 30.400000000000002: round to steps before comparing).

Each pre spike gives one event per post (the weight after the update at its delivery), stamped with the
pre spike's time (not the time plus the delay); the events are in time order, pre 0 before pre 1 in a step.

## Licence

The data are NEST's output, made by running NEST (a GPL program) with the script above; no NEST code is
included, only its outputs are stored. They are licensed like the rest of this repository.
MD
echo "wrote $OUT"
