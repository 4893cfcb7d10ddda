"""Device memory of the CUDA backend: :func:`empty`, the one allocator.

On a GPU with CuPy installed, arrays come from CuPy's memory pool
(``cupy.empty``: freed blocks are kept and reused, so a training step's
dozens of temporaries cost no ``cudaMalloc`` after the first step), handed to
the kernels as Numba device arrays on the same memory (``as_cuda_array``,
no copy, no synchronization: one stream). Without CuPy, and on Numba's CUDA
simulator, ``cuda.device_array``.
"""
from __future__ import annotations

__all__ = ["empty", "cupy_or_none"]

_cupy = []


def cupy_or_none():
    """CuPy, where it is installed and usable (a GPU, not the simulator); else None."""
    if not _cupy:
        from numba import config
        found = None
        if not config.ENABLE_CUDASIM:
            try:
                import cupy
                cupy.cuda.runtime.getDeviceCount()
                found = cupy
            except Exception:     # not installed, or no driver/device for it: Numba's allocator
                found = None
        _cupy.append(found)
    return _cupy[0]


def empty(cuda, shape, dtype):
    """An uninitialized device array (0-d shapes as ``(1,)``)."""
    shape = tuple(shape) or (1,)
    cupy = cupy_or_none()
    if cupy is None:
        return cuda.device_array(shape, dtype)
    return cuda.as_cuda_array(cupy.empty(shape, dtype), sync=False)
