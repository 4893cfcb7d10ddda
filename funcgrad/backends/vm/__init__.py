"""The vm backend: one compiled machine that runs every program.

A program is encoded as data (``encode.py``: instruction rows, shapes,
heap layout) and run by ``machine.execute``, a single Numba function
compiled once and kept in funcgrad's disk cache. So a new program runs at
once (encoding costs about 10 us per equation), at the speed of compiled
loops with one dispatch per operation, whatever its size:

- the Numba backend gives it programs over ``config.max_compiled_eqns``
  equations (they would take minutes to compile);
- in ``async`` mode it runs a new program's first calls while Numba
  compiles the program, once the machine is loaded (until then, and while
  a cold cache has the machine compiled by a background process, the NumPy
  interpreter does);
- ``backend="vm"`` selects it outright.

Floats are computed in float64 and float32 results rounded to float32 as
they are stored (exact float32 arithmetic for + - * / and sqrt; reductions
and transcendental functions at least as accurate as float32's), integers
in int64 bits wrapped to their width. float16 and complex values are not
held: such programs run on the interpreter.
"""
from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from ...core.ir import Program
from .. import register_backend
from .encode import Encoded, encode, vm_supported

__all__ = ["compile_program", "encode", "Encoded", "vm_supported", "ensure_machine", "machine_ready",
           "machine_cached", "prepare_in_background", "FirstTier", "make_runner"]

_ready = threading.Event()
_loading = threading.Lock()
_execute = None
_background = None
_background_lock = threading.Lock()
_failed = None

# the machine's one signature: int64 code [n, W] and aux, the float64 and int64 heaps
_SAMPLE = (np.zeros((1, 10), np.int64), np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.int64))


def _machine_source() -> str:
    """machine.py's text, with a hash of the instruction set it imports (so
    that a change there names a new cache entry too)."""
    import hashlib

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "machine.py"), encoding="utf-8") as fh:
        source = fh.read()
    with open(os.path.join(here, "opcodes.py"), "rb") as fh:
        stamp = hashlib.sha256(fh.read()).hexdigest()
    return source + f"\n# opcodes.py {stamp}\n"


def ensure_machine():
    """The machine's compiled entry point, compiled (tens of seconds, once
    per cache) or loaded from the disk cache (a fraction of a second)."""
    global _execute
    if _execute is not None:
        return _execute
    with _loading:
        if _execute is None:
            from ..numba_backend import _compile_dispatcher, _entry_point, _load

            mod = _load(_machine_source())
            _execute = _entry_point(_compile_dispatcher(mod, list(_SAMPLE)))
            _ready.set()
    return _execute


def machine_ready() -> bool:
    return _ready.is_set()


def machine_cached() -> bool:
    """Whether the disk cache holds the compiled machine."""
    from ..numba_backend import _chunks_cached, _digest, disk_cache

    source = _machine_source()
    path = disk_cache.write_module(source, _digest(source))
    return path is not None and _chunks_cached(path)


def prepare_in_background():
    """Have the machine loaded by a background thread (compiled first, in a
    separate process, when the cache lacks it: Numba's compiler holds the
    GIL, and the caller keeps running meanwhile)."""
    global _background
    if _ready.is_set() or _background is not None:
        return
    with _background_lock:
        if _background is None:
            _background = threading.Thread(target=_prepare, daemon=True, name="funcgrad-vm")
            _background.start()


def _prepare():
    global _failed
    try:
        if not machine_cached():
            from ..numba_backend import _compile_in_process
            _compile_in_process(_machine_source(), list(_SAMPLE))   # if it fails, compiled here
        ensure_machine()
    except Exception as e:   # the interpreter keeps serving first calls
        _failed = e
        warnings.warn(f"funcgrad: the vm backend's machine could not be compiled ({type(e).__name__}: {e}); "
                      "new programs' first calls run in the NumPy interpreter. Please report it.",
                      RuntimeWarning, stacklevel=2)


def wait_for_machine(timeout=None) -> bool:
    """Block until a background :func:`prepare_in_background` is done (tests, benchmarks)."""
    t = _background
    if t is not None:
        t.join(timeout)
    return _ready.is_set()


class FirstTier:
    """The machine's runner for one program, made once the machine is
    loaded: what a new program's first calls run on in async mode."""

    def __init__(self, program: Program):
        self.program = program
        self.runner = None
        self.lock = threading.Lock()
        self.usable = None      # decided at the first call

    def get(self):
        if self.runner is not None or self.usable is False:
            return self.runner
        if self.usable is None:
            self.usable = not vm_supported(self.program)
            if not self.usable:
                return None
        if not _ready.is_set():
            if _failed is None:
                prepare_in_background()
            return None
        with self.lock:
            if self.runner is None:
                self.runner = make_runner(encode(self.program), ensure_machine(), self.program)
        return self.runner


def compile_program(program: Program):
    """Return ``run(*flat_args) -> list`` for ``program`` on the machine."""
    enc = encode(program)
    return make_runner(enc, ensure_machine(), program)


def make_runner(enc: Encoded, execute, program: Program | None = None):
    code, aux = enc.code, enc.aux
    f_size, i_size = enc.f_size, enc.i_size
    f_consts, i_consts = enc.f_consts, enc.i_consts
    nf, ni = len(f_consts), len(i_consts)
    f_late_at, f_late = enc.f_late
    i_late_at, i_late = enc.i_late
    inputs = enc.inputs
    outputs = [(kind, off, off + size, shape, np.dtype(dtype)) for kind, off, size, shape, dtype in enc.outputs]

    def run(*args):
        F = np.empty(f_size)
        I = np.empty(i_size, np.int64)
        F[:nf] = f_consts
        I[:ni] = i_consts
        if len(f_late_at):
            F[f_late_at] = f_late
        if len(i_late_at):
            I[i_late_at] = i_late
        for (kind, off, size), a in zip(inputs, args):
            if size:
                (F if kind == "F" else I)[off:off + size] = np.ravel(a)
        execute(code, aux, F, I)
        outs = []
        for kind, lo, hi, shape, dtype in outputs:
            v = (F if kind == "F" else I)[lo:hi].astype(dtype)
            outs.append(v.reshape(shape) if shape else v[0])
        return outs

    run.encoded = enc
    run.program = program
    run.source = None
    run.wait = lambda: True
    return run


register_backend("vm", compile_program)
