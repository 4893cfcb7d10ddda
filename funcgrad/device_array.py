"""``DeviceArray``: a value in GPU memory, as the CUDA backend returns it.

A thin holder of a Numba device array with NumPy's ``shape``, ``dtype``,
``ndim`` and ``size``; ``np.asarray(x)`` (and :func:`device_get`) copies it
to the host; ``__cuda_array_interface__`` hands it to CuPy, PyTorch or Numba
without a copy; passed back to a function compiled for ``backend="cuda"`` it
is read where it is. :func:`device_put` copies NumPy values (any pytree) to
the device. Importing this module does not import ``numba.cuda``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DeviceArray", "device_put", "device_get"]


class DeviceArray:
    __slots__ = ("_d", "shape", "dtype")

    def __init__(self, d, shape, dtype):
        self._d, self.shape, self.dtype = d, tuple(shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def device_array(self):
        """The Numba device array (0-d values as shape (1,))."""
        return self._d

    @property
    def __cuda_array_interface__(self):
        return self._d.__cuda_array_interface__

    def __array__(self, dtype=None, copy=None):
        host = self._d.copy_to_host().reshape(self.shape)
        return host if dtype is None else host.astype(dtype, copy=False)

    def block_until_ready(self):
        from numba import cuda
        cuda.synchronize()
        return self

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d DeviceArray")
        return self.shape[0]

    def __repr__(self):
        return f"DeviceArray({np.asarray(self)!r})"


def device_put(x):
    """``x`` (a pytree of arrays and numbers) copied to the GPU: DeviceArrays."""
    from numba import cuda

    from . import tree

    def put(v):
        if isinstance(v, DeviceArray):
            return v
        a = np.ascontiguousarray(np.asarray(v))
        return DeviceArray(cuda.to_device(a.reshape(a.shape or (1,))), a.shape, a.dtype)
    return tree.map(put, x)


def device_get(x):
    """``x`` (a pytree) with every DeviceArray copied to a NumPy array."""
    from . import tree
    return tree.map(lambda v: np.asarray(v) if isinstance(v, DeviceArray) else v, x)
