"""Pseudonymous identifiers: unique, non-sequential, reproducible from the seed.

An id is a keyed bijection of a running index, written in hex. Being a bijection, two
indexes never share an id, and an index outside the real range (used for orphan
defects) can never name a real patient or session. Nothing about a person goes in.
"""

from __future__ import annotations

import numpy as np

from pipelines.tools.synth.config import PLAN_MONTH, Stream, rng_for

_HEX = np.frombuffer(b"0123456789abcdef", dtype="S1")
_ODD_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)

# prefix -> number of hex digits (4 bits each)
KINDS: dict[str, tuple[str, int]] = {
    "patient": ("P-", 10),
    "clinician": ("C-", 8),
    "session": ("SE-", 12),
    "response": ("R-", 12),
}


def _keys(seed: int, kind: str) -> tuple[int, int]:
    rng = rng_for(seed, PLAN_MONTH, Stream.IDS + 100 * (list(KINDS).index(kind) + 1))
    a, b = rng.integers(0, 2**62, size=2)
    return int(a), int(b)


def _mix(index: np.ndarray, bits: int, key_add: int, key_xor: int) -> np.ndarray:
    """A bijection on [0, 2**bits): add a key, then xor-shift/multiply rounds, then xor a key."""
    mask = np.uint64((1 << bits) - 1)
    x = (index.astype(np.uint64) + np.uint64(key_add & int(mask))) & mask
    half, third = np.uint64(bits // 2), np.uint64(max(bits // 3, 1))
    with np.errstate(over="ignore"):
        for multiplier in _ODD_MULTIPLIERS:
            x ^= x >> half
            x = (x * np.uint64(multiplier)) & mask  # odd multiplier: invertible modulo 2**bits
            x ^= x >> third
    return x ^ np.uint64(key_xor & int(mask))


def _hex(values: np.ndarray, digits: int) -> np.ndarray:
    """Fixed-width lowercase hex of unsigned integers, vectorised (no per-id Python formatting)."""
    shifts = np.uint64(4) * np.arange(digits - 1, -1, -1, dtype=np.uint64)
    nibbles = (values[:, None] >> shifts) & np.uint64(0xF)
    chars = np.ascontiguousarray(_HEX[nibbles.astype(np.intp)])
    return chars.view(f"S{digits}").ravel().astype(f"U{digits}")


def make_ids(kind: str, index: np.ndarray, seed: int) -> np.ndarray:
    """Ids for the given running indexes, e.g. `P-3f09a1c2d4` for patients."""
    prefix, digits = KINDS[kind]
    key_add, key_xor = _keys(seed, kind)
    mixed = _mix(np.asarray(index, dtype=np.uint64), 4 * digits, key_add, key_xor)
    return np.char.add(prefix, _hex(mixed, digits))
