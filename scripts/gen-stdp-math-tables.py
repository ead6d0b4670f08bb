#!/usr/bin/env python3
"""Writes crates/cajal-core/src/stdp_math_tables.rs: the constants of cajal's own exp and ln for STDP
(crates/cajal-core/src/stdp_math.rs), each computed with 60 significant digits (Python's decimal module)
and rounded once to the nearest double, so that no machine's libm decides them.

    python3 scripts/gen-stdp-math-tables.py > crates/cajal-core/src/stdp_math_tables.rs
"""
from decimal import Decimal, getcontext
import struct

getcontext().prec = 60
N = 128  # table entries of both ln and exp
LN2 = Decimal(2).ln()


def nearest(d: Decimal) -> float:
    """The double nearest to d (Python's float of a decimal string rounds correctly)."""
    return float(format(d, ".50e"))


def bits(x: float) -> str:
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def truncated(x: float, keep: int) -> float:
    """x with only its `keep` leading significand bits (the rest zero)."""
    b = struct.unpack("<Q", struct.pack("<d", x))[0]
    b &= ~((1 << (52 - (keep - 1))) - 1)
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def const(name: str, x: float, doc: str) -> str:
    return f"/// {doc}\npub(crate) const {name}: f64 = f64::from_bits({bits(x)}); // {x!r}\n"


def table(name: str, values, doc: str) -> str:
    rows = "".join(f"    f64::from_bits({bits(v)}), // {v!r}\n" for v in values)
    return f"/// {doc}\npub(crate) const {name}: [f64; {N}] = [\n{rows}];\n"


ln2_hi = truncated(nearest(LN2), 42)  # e * LN2_HI is exact for |e| < 2^11
ln2_lo = nearest(LN2 - Decimal(ln2_hi))
step = LN2 / N
step_hi = truncated(nearest(step), 32)  # k * LN2_BY_N_HI is exact for |k| < 2^21
step_lo = nearest(step - Decimal(step_hi))
centres = [Decimal(1) + (Decimal(i) + Decimal("0.5")) / N for i in range(N)]

out = [
    "//! Constants of cajal's exp and ln for STDP (`stdp_math.rs`), written by\n"
    "//! `python3 scripts/gen-stdp-math-tables.py`: each value computed to 60 digits and rounded once to the\n"
    "//! nearest double. Do not edit by hand.\n",
    f"/// Entries of each table.\npub(crate) const N: usize = {N};\n",
    const("LN2_HI", ln2_hi, "ln 2, its leading 42 bits."),
    const("LN2_LO", ln2_lo, "ln 2 - LN2_HI."),
    const("LN2_BY_N_HI", step_hi, "ln 2 / N, its leading 32 bits."),
    const("LN2_BY_N_LO", step_lo, "ln 2 / N - LN2_BY_N_HI."),
    const("N_BY_LN2", nearest(N / LN2), "N / ln 2."),
    table("INV_CENTRE", [nearest(1 / c) for c in centres], "1 / c_i, c_i = 1 + (i + 1/2) / N."),
    table("LN_CENTRE", [nearest(c.ln()) for c in centres], "ln c_i."),
    table("EXP2_FRACTION", [nearest((LN2 * j / N).exp()) for j in range(N)], "2^(j / N)."),
]
print("\n".join(out), end="")
