#!/usr/bin/env python3
"""Writes models/sernn/weights.csv: a seRNN-style sparse, distance-penalised weight matrix for 100 units on a
5 x 5 x 4 grid (1 mm spacing, x fastest): each ordered pair (no self-connections) is connected with probability
0.5 exp(-d / 1.5 mm); 80% of the connections excite (+0.12) and 20% inhibit (-0.3), each scaled by a factor
uniform in [0.5, 1.5). Row = target, column = source. Seeded, so the file is reproducible."""
import math
import random
import sys

rng = random.Random(2023)
shape = (5, 5, 4)
pos = [(i % 5, (i // 5) % 5, i // 25) for i in range(100)]
rows = []
for t in range(100):
    row = []
    for s in range(100):
        d = math.dist(pos[t], pos[s])
        w = 0.0
        if s != t and rng.random() < 0.5 * math.exp(-d / 1.5):
            w = (0.12 if rng.random() < 0.8 else -0.3) * rng.uniform(0.5, 1.5)
        row.append(f"{w:.4f}" if w else "0")
    rows.append(",".join(row))
out = sys.argv[1] if len(sys.argv) > 1 else "models/sernn/weights.csv"
with open(out, "w") as f:
    f.write("\n".join(rows) + "\n")
