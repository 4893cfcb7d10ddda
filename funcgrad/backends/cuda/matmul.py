"""Matrix products on the device: ``matmul[transpose_a, transpose_b]`` over
stacks ``(batch, M, K) @ (batch, K, N)``.

On a GPU with CuPy installed the product is CuPy's (cuBLAS), on the
operands' memory as it is (a device array is a CuPy array without a copy;
the transpose flags are views). Elsewhere, and on Numba's CUDA simulator
(which has no cuBLAS), a tiled ``@cuda.jit`` kernel: each block computes a
``TILE x TILE`` tile of the result, staging tiles of both operands in shared
memory; accumulation in the operands' dtype. On the simulator, where every
``syncthreads`` of every thread is a Python-level barrier, products run by
default through a plain kernel (one thread per output element, the K loop
in registers), which the training tests can afford; ``SIM_TILED = True``
runs the tiled kernel there instead (its own test does).
"""
from __future__ import annotations

import math

import numpy as np

from .counters import count_launch
from .memory import cupy_or_none, empty

__all__ = ["device_matmul", "TILE"]

SIM_TILED = False     # on the simulator: the tiled kernel (True) or the plain one (False)

TILE = 16
SIM_TILE = 4

_SOURCE = '''
def gemm(a, b, out, ta, tb):
    tile_a = cuda.shared.array(({t}, {t}), nbt.{dtype})
    tile_b = cuda.shared.array(({t}, {t}), nbt.{dtype})
    q = cuda.blockIdx.z
    row = cuda.blockIdx.y * {t} + cuda.threadIdx.y
    col = cuda.blockIdx.x * {t} + cuda.threadIdx.x
    m, n = out.shape[1], out.shape[2]
    k_len = a.shape[1] if ta else a.shape[2]
    acc = nbt.{dtype}(0)
    for k0 in range(0, k_len, {t}):
        ka = k0 + cuda.threadIdx.x
        kb = k0 + cuda.threadIdx.y
        if row < m and ka < k_len:
            tile_a[cuda.threadIdx.y, cuda.threadIdx.x] = a[q, ka, row] if ta else a[q, row, ka]
        else:
            tile_a[cuda.threadIdx.y, cuda.threadIdx.x] = 0
        if col < n and kb < k_len:
            tile_b[cuda.threadIdx.y, cuda.threadIdx.x] = b[q, col, kb] if tb else b[q, kb, col]
        else:
            tile_b[cuda.threadIdx.y, cuda.threadIdx.x] = 0
        cuda.syncthreads()
        for j in range({t}):
            acc += tile_a[cuda.threadIdx.y, j] * tile_b[j, cuda.threadIdx.x]
        cuda.syncthreads()
    if row < m and col < n:
        out[q, row, col] = acc
'''

_PLAIN = '''
def gemm_plain(a, b, out, ta, tb):
    f = cuda.grid(1)
    stride = cuda.gridsize(1)
    m, n = out.shape[1], out.shape[2]
    k_len = a.shape[1] if ta else a.shape[2]
    total = out.shape[0] * m * n
    while f < total:
        col = f % n
        row = (f // n) % m
        q = f // (m * n)
        acc = nbt.{dtype}(0)
        for k in range(k_len):
            acc += (a[q, k, row] if ta else a[q, row, k]) * (b[q, col, k] if tb else b[q, k, col])
        out[q, row, col] = acc
        f += stride
'''

_kernels = {}


def _gemm(cuda, dtype, tile):
    key = (np.dtype(dtype).name, tile)
    fn = _kernels.get(key)
    if fn is None:
        import numba

        namespace = {"cuda": cuda, "nbt": numba}
        source, name = (_SOURCE.format(t=tile, dtype=key[0]), "gemm") if tile else (_PLAIN.format(dtype=key[0]),
                                                                                   "gemm_plain")
        exec(compile(source, f"<funcgrad cuda {name} {key}>", "exec"), namespace)
        fn = _kernels[key] = cuda.jit(namespace[name])
    return fn




def device_matmul(cuda, a, b, out_aval, transpose_a, transpose_b):
    """``op(a) @ op(b)`` for device arrays of shape ``(..., M, K)``; a device array of ``out_aval``."""
    shape = tuple(out_aval.shape)
    cupy = cupy_or_none()
    count_launch()
    if cupy is not None:
        ca, cb = cupy.asarray(a), cupy.asarray(b)
        ca = cupy.swapaxes(ca, -1, -2) if transpose_a else ca
        cb = cupy.swapaxes(cb, -1, -2) if transpose_b else cb
        return cuda.as_cuda_array(cupy.ascontiguousarray(cupy.matmul(ca, cb)), sync=False)
    from numba import config

    tile = (SIM_TILE if SIM_TILED else 0) if config.ENABLE_CUDASIM else TILE
    batch = int(np.prod(shape[:-2], dtype=np.int64))
    m, n = shape[-2], shape[-1]
    a3 = a.reshape((batch,) + tuple(a.shape[-2:]))
    b3 = b.reshape((batch,) + tuple(b.shape[-2:]))
    out = empty(cuda, (batch, m, n), out_aval.dtype)
    if batch and m and n and not tile:
        from . import SIM_BLOCKS, SIM_THREADS
        blocks = max(1, min(SIM_BLOCKS, -(-(batch * m * n) // SIM_THREADS)))
        _gemm(cuda, out_aval.dtype, 0)[blocks, SIM_THREADS](a3, b3, out, bool(transpose_a), bool(transpose_b))
    elif batch and m and n:
        grid = (math.ceil(n / tile), math.ceil(m / tile), batch)
        _gemm(cuda, out_aval.dtype, tile)[grid, (tile, tile)](a3, b3, out, bool(transpose_a), bool(transpose_b))
    return out.reshape(shape)
