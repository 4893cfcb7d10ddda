"""The CUDA backend (``backend="cuda"``): programs as ``@cuda.jit`` kernels.

Work in progress (issue 13). What runs where today:

- each fused elementwise or reduction group of the program's fusion plan
  (``passes.fusion``) is one kernel (``kernels.py``: grid-stride loops;
  reductions as block-level trees in shared memory), its rules in
  ``lowering.cuda_scalar`` and ``lowering.cuda_reduction``;
- matrix products run on the device (``matmul.py``: CuPy's cuBLAS where
  CuPy is installed, a tiled ``@cuda.jit`` kernel on the simulator);
- ``transpose``, ``slice``, ``rev``, ``pad``, ``concatenate`` and ``take``
  are one kernel each (``indexing.py``: each output element read from its
  source); ``structural.device_rules`` run reshapes as views and
  ``scatter_add`` with atomic additions; ``threefry2x32`` (``funcgrad.random``'s
  bits) is a kernel too, with the CPU's bits;
- every other group (the remaining indexing operations, control flow,
  decompositions) runs on the host, through the primitives' NumPy implementations (the
  interpreter's);
- a value stays where the step that made it ran, and is copied to the
  host or the device once per call when a later step needs it there
  (consecutive kernels pass device arrays); inputs that are device arrays
  (``DeviceArray``, or anything with ``__cuda_array_interface__``) are read
  in place; results are ``funcgrad.DeviceArray`` s, which stay on the device
  (``np.asarray`` or ``fg.device_get`` copies them to the host).

So the backend is correct (it is tested against the interpreter under Numba's
CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``) but not yet fast; device-resident
values, reductions and cuBLAS products are the next steps.

Requires Numba's CUDA target (``numba.cuda``, or the ``numba-cuda``
package) and a GPU, or the simulator.
"""
from __future__ import annotations

import math

import numpy as np

from ...core.ir import Literal, Program, _names
from ...device_array import DeviceArray
from ...errors import UnsupportedError
from .. import register_backend

__all__ = ["compile_program", "available", "plan_program"]

THREADS = 256          # threads per block
MAX_BLOCKS = 1024      # blocks per launch (the grid-stride loops cover the rest)
SIM_THREADS, SIM_BLOCKS = 8, 4   # on the simulator, where every thread is a Python thread


def _launch_limits(cuda) -> tuple:
    from numba import config
    return (SIM_THREADS, SIM_BLOCKS) if config.ENABLE_CUDASIM else (THREADS, MAX_BLOCKS)


def _cuda():
    """``numba.cuda``, checked: a clear error where it or a GPU is missing."""
    try:
        from numba import cuda
    except ImportError as e:   # pragma: no cover - numba always has it, numba-cuda may replace it
        raise UnsupportedError("backend='cuda' needs Numba's CUDA target: pip install -e \".[cuda]\"") from e
    if not cuda.is_available():
        raise UnsupportedError("backend='cuda': no CUDA GPU was found (numba.cuda.is_available() is False); "
                               "set NUMBA_ENABLE_CUDASIM=1 to run on Numba's CUDA simulator")
    return cuda


def available() -> bool:
    try:
        _cuda()
    except UnsupportedError:
        return False
    return True


def plan_program(program: Program):
    """``(program, plan)``: the program through the pass pipeline, and its fusion plan."""
    from ...passes import inline_calls, optimize
    from ...passes.fusion import plan_fusion

    program = inline_calls(optimize(program))
    return program, plan_fusion(program, uniform_reductions=True)


def _load(kernel, cuda):
    from . import device

    import numba

    namespace = {"cuda": cuda, "math": math, "np": np, "nbt": numba}
    namespace.update({name: getattr(device, name) for name in device.__all__})
    exec(compile(kernel.source, f"<funcgrad cuda kernel {kernel.name}>", "exec"), namespace)
    return cuda.jit(namespace[kernel.name])


class _Context:
    """What a device rule (``structural.device_rules``) works with."""

    def __init__(self, cuda, vals, limits):
        self.cuda, self.vals, self.limits = cuda, vals, limits


class _Values:
    """The values of one call: each on the host (a NumPy array), on the
    device (a device array of its shape, 0-d ones as shape (1,)), or both
    once copied; a copy is made when a step needs the value where it is not,
    once per call. Inputs with ``__cuda_array_interface__`` (CuPy, PyTorch,
    Numba device arrays) are used on the device as they are."""

    def __init__(self, cuda, keep=None):
        self.cuda, self.on_host, self.on_device = cuda, {}, {}
        self.keep = keep if keep is not None else {}   # program constants: their device copies, kept across calls

    def put(self, v, x):
        cuda = self.cuda
        if isinstance(x, DeviceArray):
            self.put_device(v, x.device_array)
        elif hasattr(cuda, "is_cuda_array") and cuda.is_cuda_array(x):   # Numba's, CuPy's, PyTorch's: zero copy
            self.put_device(v, cuda.as_cuda_array(x).reshape(v.aval.shape or (1,)))
        elif not isinstance(x, np.ndarray) and cuda.devicearray.is_cuda_ndarray(x):   # the simulator's
            self.put_device(v, x.reshape(v.aval.shape or (1,)))
        else:
            self.on_host[v] = np.asarray(x)

    def put_device(self, v, d):
        self.on_device[v] = d

    def host(self, v):
        x = self.on_host.get(v)
        if x is None:
            x = self.on_host[v] = self.on_device[v].copy_to_host().reshape(v.aval.shape)
        return x

    def device_or_literal(self, a):
        if type(a) is Literal:
            return self.cuda.to_device(np.asarray(a.value, a.aval.dtype).reshape(a.aval.shape or (1,)))
        return self.device(a)

    def on_device_now(self, v):
        return type(v) is not Literal and v in self.on_device

    def device(self, v):
        d = self.on_device.get(v)
        if d is None:
            d = self.keep.get(v)
        if d is None:
            x = np.ascontiguousarray(np.asarray(self.on_host[v], dtype=v.aval.dtype).reshape(v.aval.shape or (1,)))
            d = self.cuda.to_device(x)
            if v in self.const_vars:
                self.keep[v] = d
        self.on_device[v] = d
        return d


def compile_program(program: Program):
    """Return ``run(*flat_args) -> list`` for ``program`` (NumPy arrays)."""
    from ...primitives.linalg import matmul_p
    from .kernels import reducible, render, render_reduction
    from .matmul import device_matmul
    from ...primitives.random import threefry2x32_p
    from .indexing import cuda_index, render_index, render_threefry
    from .structural import device_rules

    cuda = _cuda()
    program, plan = plan_program(program)
    gen, named = _names(), {}

    def names(v):
        if v not in named:
            named[v] = next(gen)
        return named[v]

    threads, max_blocks = _launch_limits(cuda)
    steps = []
    for k, group in enumerate(plan.groups):
        if group.kind == "elementwise":
            kernel = render(group, f"kernel_{k}", names)
            steps.append(("kernel", kernel, _load(kernel, cuda)))
        elif group.kind == "reduction" and reducible(group):
            kernel = render_reduction(group, f"kernel_{k}", names, threads)
            steps.append(("kernel", kernel, _load(kernel, cuda)))
        elif group.kind == "single" and group.eqns[0].primitive is matmul_p:
            steps.append(("matmul", group.eqns[0], None))
        elif group.kind == "single" and group.eqns[0].primitive is threefry2x32_p:
            kernel = render_threefry(group.eqns[0], f"kernel_{k}")
            steps.append(("kernel", kernel, _load(kernel, cuda)))
        elif group.kind == "single" and group.eqns[0].primitive in cuda_index:
            kernel = render_index(group.eqns[0], f"kernel_{k}")
            steps.append(("kernel", kernel, _load(kernel, cuda)))
        elif group.kind == "single" and group.eqns[0].primitive in device_rules:
            steps.append(("device", group.eqns[0], device_rules[group.eqns[0].primitive]))
        else:
            sub = Program([], [], [], list(group.eqns), [])
            steps.append(("host", sub, None))


    consts_on_device = {}
    const_vars = frozenset(program.const_vars)

    def execute(args, to_host):
        vals = _Values(cuda, consts_on_device)
        vals.const_vars = const_vars
        ctx = _Context(cuda, vals, (threads, max_blocks))
        for v, c in zip(program.const_vars, program.consts):
            vals.put(v, c)
        for v, a in zip(program.in_vars, args):
            vals.put(v, a)
        for kind, item, fn in steps:
            if kind == "matmul":
                (a, b), out = item.inputs, item.outputs[0]
                d = device_matmul(cuda, vals.device_or_literal(a), vals.device_or_literal(b), out.aval,
                                  item.params["transpose_a"], item.params["transpose_b"])
                vals.put_device(out, d.reshape(out.aval.shape or (1,)))
                continue
            if kind == "device" and fn(ctx, item):
                continue
            if kind in ("host", "device"):
                for eqn in (item.eqns if kind == "host" else [item]):
                    invals = [a.value if type(a) is Literal else vals.host(a) for a in eqn.inputs]
                    outs = eqn.primitive.impl(*invals, **eqn.params)
                    outs = outs if eqn.primitive.multiple_results else [outs]
                    for v, o in zip(eqn.outputs, outs):
                        vals.put(v, o)
                continue
            n = item.kept or int(np.prod(item.loop_shape))
            ins = [vals.device_or_literal(v) for v in item.inputs]
            outs = [cuda.device_array(v.aval.shape or (1,), v.aval.dtype) for v in item.outputs]
            blocks = max(1, min(max_blocks, n if item.kept else -(-n // threads)))
            fn[blocks, threads](n, *ins, *outs)
            for v, d in zip(item.outputs, outs):
                vals.put_device(v, d)
        if not to_host:
            return [DeviceArray(vals.device_or_literal(a), a.aval.shape, a.aval.dtype) for a in program.out_atoms]
        return [np.array(a.value, copy=True) if type(a) is Literal else np.array(vals.host(a), copy=True)
                for a in program.out_atoms]

    def run(*args):
        return execute(args, False)

    run.program, run.plan, run.kernels = program, plan, [s[1] for s in steps if s[0] == "kernel"]
    # per plan group: "kernel", "matmul", "device" (a device rule, which may leave a call's equation
    # to the host: a reshape of a value on the host) or "host"
    run.where = [kind for kind, _, _ in steps]
    run.to_host = lambda *args: execute(args, True)    # results as NumPy arrays
    return run


register_backend("cuda", compile_program)
