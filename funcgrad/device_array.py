"""``DeviceArray``: a value in GPU memory, as the CUDA backend returns it.

A thin holder of a Numba device array with NumPy's ``shape``, ``dtype``,
``ndim`` and ``size``; ``np.asarray(x)`` (and :func:`device_get`) copies it
to the host. Everything else NumPy arrays do (indexing, arithmetic and
comparisons, ``float(x)``, ``x.sum()``, iteration, NumPy's functions) works
too, on a copy on the host, and answers with NumPy arrays: device-side
computation is what ``jit(..., backend="cuda")`` is for; ``__cuda_array_interface__`` hands it to CuPy, PyTorch or Numba
without a copy; passed back to a function compiled for ``backend="cuda"`` it
is read where it is. :func:`device_put` copies NumPy values (any pytree) to
the device. Importing this module does not import ``numba.cuda``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DeviceArray", "device_put", "device_get", "is_device_array", "as_device_array"]


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

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = [np.asarray(x) if isinstance(x, DeviceArray) else x for x in inputs]
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import tree
        host = lambda v: np.asarray(v) if isinstance(v, DeviceArray) else v
        return func(*tree.map(host, list(args)), **tree.map(host, dict(kwargs)))

    def __getattr__(self, name):          # NumPy's methods and properties (sum, reshape, T, item...), on the host
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def __iter__(self):
        return iter(np.asarray(self))

    def __getitem__(self, index):
        return np.asarray(self)[index]

    def __bool__(self):
        return bool(np.asarray(self))

    def __float__(self):
        return float(np.asarray(self))

    def __int__(self):
        return int(np.asarray(self))

    def __index__(self):
        return np.asarray(self).__index__()

    def __complex__(self):
        return complex(np.asarray(self))


def _host_operator(name):
    def op(self, *args):
        return getattr(np.asarray(self), name)(*[np.asarray(a) if isinstance(a, DeviceArray) else a for a in args])
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    for _form in ("__{}__", "__r{}__"):
        setattr(DeviceArray, _form.format(_name), _host_operator(_form.format(_name)))
for _name in ("__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__", "__neg__", "__pos__", "__abs__",
              "__invert__", "__divmod__", "__rdivmod__"):
    setattr(DeviceArray, _name, _host_operator(_name))
DeviceArray.__hash__ = None


def is_device_array(x) -> bool:
    """Whether ``x`` is an array in GPU memory that funcgrad reads in place: a DeviceArray, anything with
    ``__cuda_array_interface__`` (CuPy, PyTorch, Numba), or a device array of Numba's CUDA simulator."""
    return isinstance(x, DeviceArray) or hasattr(type(x), "__cuda_array_interface__") or \
        type(x).__module__.startswith("numba.cuda.simulator")


def as_device_array(x) -> DeviceArray:
    """``x`` (:func:`is_device_array`) as a DeviceArray on the same memory: no copy."""
    if isinstance(x, DeviceArray):
        return x
    from numba import cuda

    d = cuda.as_cuda_array(x) if hasattr(cuda, "as_cuda_array") else x
    shape = tuple(d.shape)
    return DeviceArray(d if shape else d.reshape((1,)), shape, d.dtype)


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
