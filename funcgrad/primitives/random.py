"""``threefry2x32``: the Threefry-2x32 block cipher (20 rounds), the hash
behind :mod:`funcgrad.random`.

Threefry (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy
as 1, 2, 3", SC 2011) encrypts a block of two 32-bit words ``(x0, x1)``
under a key of two 32-bit words ``(k0, k1)``. With a counter as the block,
the outputs are random numbers: any element can be computed on its own,
from its key and its index, with no state.

The primitive takes four uint32 operands that broadcast together,
``k0, k1, x0, x1``, and returns the two words of each encrypted block,
``(y0, y1)``, with the broadcast shape. Its outputs are integers: no gradient
flows through it (its VJP rule, in :mod:`funcgrad.transforms.vjp.rules`, is
zero).

One encryption, all arithmetic modulo 2**32::

    k2 = k0 ^ k1 ^ 0x1BD11BDA           # the key schedule's third word
    x0 += k0; x1 += k1
    for g in 0..4:                      # 5 groups of 4 rounds
        for r in ROTATIONS[g % 2]:      # one round
            x0 += x1; x1 = rotl(x1, r) ^ x0
        x0 += ks[(g + 1) % 3]; x1 += ks[(g + 2) % 3] + g + 1   # key injection
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive
from ..errors import DtypeError
from ._common import broadcast_shapes, describe

__all__ = ["threefry2x32", "threefry2x32_p", "ROTATIONS", "KS_PARITY"]

# Rotation constants of Threefry-2x32 (Salmon et al. 2011, table 4), for the
# even and odd groups of four rounds, and the key schedule's parity constant.
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
KS_PARITY = 0x1BD11BDA

threefry2x32_p = Primitive("threefry2x32", multiple_results=True)


@threefry2x32_p.def_abstract_eval
def _threefry_abstract(k0, k1, x0, x1):
    avals = (k0, k1, x0, x1)
    if any(a.dtype != np.dtype(np.uint32) for a in avals):
        raise DtypeError(f"threefry2x32: needs uint32 operands (k0, k1, x0, x1), got {describe(*avals)}")
    shape = broadcast_shapes("threefry2x32", *avals)
    return [ShapedArray(shape, np.uint32), ShapedArray(shape, np.uint32)]


def _rotl(x, r):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


@threefry2x32_p.def_impl
def _threefry_impl(k0, k1, x0, x1):
    shape = np.broadcast_shapes(*(np.shape(a) for a in (k0, k1, x0, x1)))
    # 1-d uint32 arrays: NumPy wraps array arithmetic silently (0-d values would be
    # NumPy scalars, whose arithmetic warns on overflow)
    k0, k1, x0, x1 = (np.broadcast_to(np.asarray(a, np.uint32), shape).reshape(-1) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(KS_PARITY))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for g in range(5):
        for r in ROTATIONS[g % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(g + 1) % 3]
        x1 = x1 + ks[(g + 2) % 3] + np.uint32(g + 1)
    return [x0.reshape(shape), x1.reshape(shape)]


def threefry2x32(k0, k1, x0, x1):
    """``(y0, y1)``: the blocks ``(x0, x1)`` encrypted under the keys ``(k0, k1)``."""
    return threefry2x32_p.bind(k0, k1, x0, x1)
