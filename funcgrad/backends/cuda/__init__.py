"""The CUDA backend (``backend="cuda"``): programs as ``@cuda.jit`` kernels.

What runs where (issue 13):

- each fused elementwise or reduction group of the program's fusion plan
  (``passes.fusion``) is one kernel (``kernels.py``: grid-stride loops;
  reductions as block-level trees in shared memory), its rules in
  ``lowering.cuda_scalar`` and ``lowering.cuda_reduction``; kernels are
  module files in the cache directory, compiled with ``cache=True``
  (``kernel_cache.py``); consecutive elementwise kernels that do not read
  one another's results are merged into one launch (``_horizontal``);
- matrix products run on the device (``matmul.py``: CuPy's cuBLAS where
  CuPy is installed, a ``@cuda.jit`` kernel elsewhere and on the simulator);
- ``transpose``, ``slice``, ``rev``, ``pad``, ``pad_add``, ``concatenate``,
  ``take``, ``argmax``/``argmin``, ``argsort`` and ``threefry2x32`` are one kernel each
  (``indexing.py``); ``structural.device_rules`` run reshapes as views and
  ``scatter_add`` with atomic additions;
- control flow (``control.py``): loop bodies and branches are compiled for
  the device once and driven from the host on values that stay on the
  device;
- what ``host_only()`` lists (the decompositions) runs on the host, through the primitives' NumPy implementations (the interpreter's);
- a value stays where the step that made it ran, and is copied to the
  host or the device once per call when a later step needs it there;
  inputs that are device arrays (``DeviceArray``, or anything with
  ``__cuda_array_interface__``) are read in place; results are
  ``funcgrad.DeviceArray`` s, which stay on the device (``np.asarray`` or
  ``fg.device_get`` copies them to the host); memory comes from CuPy's pool
  where CuPy is installed (``memory.py``).

The backend is tested against the interpreter under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``); it has not yet run on a GPU.

Requires Numba's CUDA target (``numba.cuda``, or the ``numba-cuda``
package) and a GPU, or the simulator.
"""
from __future__ import annotations

import functools

import numpy as np

from ...core.ir import Literal, Program, _names
from ...device_array import DeviceArray
from ...errors import UnsupportedError
from .counters import count_launch, launches
from .. import register_backend

__all__ = ["compile_program", "available", "plan_program", "host_only", "launches"]

THREADS = 256          # threads per block
MAX_BLOCKS = 1024      # blocks per launch (the grid-stride loops cover the rest)
SIM_THREADS, SIM_BLOCKS = 4, 2   # on the simulator, where every thread is a Python thread


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


class _Context:
    """What a device rule (``structural.device_rules``, ``control.control_rules``) works with."""

    def __init__(self, cuda, vals, limits, compiled, ran_on_host):
        self.cuda, self.vals, self.limits = cuda, vals, limits
        self._compiled, self._ran_on_host = compiled, ran_on_host

    def call(self, body: Program, *args, to_host=False):
        """``body`` (a sub-program: a loop's body, a branch) run on ``args`` (device arrays, NumPy arrays):
        its results as Numba device arrays (0-d ones as shape (1,)), or NumPy arrays ``to_host``."""
        run = self._compiled(body)
        out = (run.to_host if to_host else run.raw)(*args)
        self._ran_on_host.extend(run.ran_on_host)
        return out


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


def _step(group, k, names, cuda, threads, max_blocks):
    """``(kind, item, fn)``: how the plan's group ``k`` runs."""
    from ...primitives.linalg import matmul_p
    from ...primitives.random import threefry2x32_p
    from .control import control_rules
    from ...primitives.sort import argsort_p
    from .indexing import (arg_reductions, cuda_index, render_argreduction, render_argsort, render_index,
                           render_threefry)
    from .kernels import reducible, render, render_reduction
    from .structural import device_rules

    name = f"kernel_{k}"
    if group.kind == "elementwise":
        kernel = render(group, name, names)
    elif group.kind == "reduction" and reducible(group):
        kernel = render_reduction(group, name, names, threads)
    elif group.kind != "single":
        return "host", Program([], [], [], list(group.eqns), []), None
    else:
        eqn = group.eqns[0]
        prim = eqn.primitive
        if prim is matmul_p:
            return "matmul", eqn, None
        if prim in device_rules:
            return "device", eqn, device_rules[prim]
        if prim in control_rules:
            return "device", eqn, control_rules[prim]
        if prim is threefry2x32_p:
            kernel = render_threefry(eqn, name)
        elif prim in cuda_index:
            kernel = render_index(eqn, name)
        elif prim in arg_reductions:
            kernel = render_argreduction(eqn, name)
        elif prim is argsort_p:
            kernel = render_argsort(eqn, name)
        else:
            return "host", Program([], [], [], [eqn], []), None
    return "kernel", kernel, None          # its launcher is made after _horizontal


def _launcher(kernel, cuda, threads, max_blocks):
    """``launch(*inputs, *outputs)``: the kernel (``kernel_cache.load``) configured once for its grid (the
    sizes are static), so that a call pays no per-launch configuration in Python beyond Numba's own
    dispatch. A first launch that fails is retried once with the kernel compiled without the disk cache
    (a cache entry that could not be read or written); a genuine error raises again."""
    from .kernel_cache import load

    fn, uncached = load(kernel, cuda)
    n = kernel.kept or int(np.prod(kernel.loop_shape))
    blocks = max(1, min(max_blocks, n if kernel.kept else -(-n // threads)))
    configured, retry = fn[blocks, threads], uncached

    def launch(*arrays):
        nonlocal configured, retry
        if retry is None:                      # every launch after the first (or no cache to retry without)
            configured(n, *arrays)
        else:
            try:
                configured(n, *arrays)
            except Exception as e:  # noqa: BLE001 - retried once without the disk cache, then raised
                import warnings
                warnings.warn(f"funcgrad: the CUDA kernel {kernel.name} failed with its disk cache "
                              f"({type(e).__name__}: {str(e)[:200]}); compiling it without the cache",
                              RuntimeWarning)
                configured = retry()[blocks, threads]
                retry = None
                configured(n, *arrays)
            retry = None
        count_launch()
    launch.grid = (blocks, threads)
    return launch


HORIZONTAL = True     # merge consecutive independent elementwise kernels into one launch (_horizontal)


def _horizontal(steps, cuda, threads, max_blocks):
    """Runs of consecutive elementwise kernels that do not read one another's results (the parameter
    updates at the end of a training step, say), each merged into one kernel: one launch for the run
    (``kernels.render_horizontal``)."""
    from .kernels import independent, render_horizontal

    out, run = [], []

    def flush():
        if len(run) > 1:
            kernel = render_horizontal([k for _, k, _ in run], f"{run[0][1].name}_h{len(run)}")
            out.append(("kernel", kernel, None))
        else:
            out.extend(run)
        run.clear()

    for step in steps:
        kind, item, _ = step
        if kind == "kernel" and item.body and not item.kept and independent([k for _, k, _ in run] + [item]):
            run.append(step)
            continue
        flush()
        if kind == "kernel" and item.body and not item.kept:
            run.append(step)
        else:
            out.append(step)
    flush()
    return out


def compile_program(program: Program):
    """Return ``run(*flat_args) -> list`` of DeviceArrays for ``program``; ``run.to_host`` gives NumPy
    arrays, ``run.raw`` Numba device arrays (0-d values as shape (1,))."""
    from .matmul import device_matmul
    from .memory import empty

    cuda = _cuda()
    program, plan = plan_program(program)
    gen, named = _names(), {}

    def names(v):
        if v not in named:
            named[v] = next(gen)
        return named[v]

    threads, max_blocks = _launch_limits(cuda)
    steps = [_step(group, k, names, cuda, threads, max_blocks) for k, group in enumerate(plan.groups)]
    if HORIZONTAL:
        steps = _horizontal(steps, cuda, threads, max_blocks)
    steps = [(kind, item, _launcher(item, cuda, threads, max_blocks) if kind == "kernel" else fn)
             for kind, item, fn in steps]
    subprograms = {}          # id(body) -> (body, its compiled run): the bodies of control flow, compiled once

    def sub(body):
        hit = subprograms.get(id(body))
        if hit is None or hit[0] is not body:
            hit = subprograms[id(body)] = (body, compile_program(body))
        return hit[1]

    consts_on_device = {}
    const_vars = frozenset(program.const_vars)

    def execute(args, mode):
        ran_on_host = run.ran_on_host = []
        vals = _Values(cuda, consts_on_device)
        vals.const_vars = const_vars
        ctx = _Context(cuda, vals, (threads, max_blocks), sub, ran_on_host)
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
                ran_on_host.append(item)
                for eqn in (item.eqns if kind == "host" else [item]):
                    invals = [a.value if type(a) is Literal else vals.host(a) for a in eqn.inputs]
                    outs = eqn.primitive.impl(*invals, **eqn.params)
                    outs = outs if eqn.primitive.multiple_results else [outs]
                    for v, o in zip(eqn.outputs, outs):
                        vals.put(v, o)
                continue
            ins = [vals.device_or_literal(v) for v in item.inputs]
            outs = [empty(cuda, v.aval.shape, v.aval.dtype) for v in item.outputs]
            fn(*ins, *outs)
            for v, d in zip(item.outputs, outs):
                vals.put_device(v, d)
        if mode == "raw":
            return [vals.device_or_literal(a) for a in program.out_atoms]
        if mode == "device":
            return [DeviceArray(vals.device_or_literal(a), a.aval.shape, a.aval.dtype) for a in program.out_atoms]
        return [np.array(a.value, copy=True) if type(a) is Literal else np.array(vals.host(a), copy=True)
                for a in program.out_atoms]

    def run(*args):
        return execute(args, "device")

    run.program, run.plan, run.kernels = program, plan, [s[1] for s in steps if s[0] == "kernel"]
    # per plan group: "kernel", "matmul", "device" (a device rule, which may leave a call's equation
    # to the host: a reshape of a value on the host) or "host"
    run.where = [kind for kind, _, _ in steps]
    run.to_host = lambda *args: execute(args, "host")    # results as NumPy arrays
    run.raw = lambda *args: execute(args, "raw")         # results as Numba device arrays
    run.ran_on_host = []     # the last call's steps that ran on the host (a Program or an equation each)
    return run


@functools.cache
def host_only() -> dict:
    """``{primitive: reason}``: what runs on the host by design, for now (the conformance test's list)."""
    from ...primitives import decompositions as D
    later = "on the host until the cuSOLVER path (CuPy) is written: issue 13"
    return {p: later for p in (D.cholesky_p, D.lu_p, D.eigh_p, D.svd_p, D.qr_p, D.triangular_solve_p,
                               D.triangular_matmul_p)}


register_backend("cuda", compile_program)
