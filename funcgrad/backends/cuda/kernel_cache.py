"""Compiled kernels of the CUDA backend, kept on disk and in the process.

A rendered kernel (``kernels.Kernel``) becomes a module file in funcgrad's
cache directory (``fg_cuda_<digest>.py``, written as the Numba backend writes
its modules: ``numba_backend.disk_cache``), executed from that source, and
its function is compiled with ``cuda.jit(cache=True)``: Numba keeps the
compiled code (PTX/cubin) beside the file, keyed by the file's contents and
the device, so a second process loads it instead of compiling. The digest
hashes the module's source, the device functions it calls (``device.py``)
and the versions of funcgrad, Numba and NumPy. In the process, kernels with
the same source are compiled once (a loop body compiled again, the same
kernel in two programs).

Where no cache directory can be written, kernels compile in memory. Should
loading or writing Numba's cache fail at the first launch, the launcher
(``__init__._launcher``) compiles the kernel again without the disk cache,
with a warning, and launches that. On Numba's CUDA simulator ``cache=True``
is accepted and ignored; the module files are still written and shared.
"""
from __future__ import annotations

import hashlib
import pathlib
import sys
import threading
import types

__all__ = ["load"]

_modules: dict = {}
_lock = threading.Lock()
_VERSIONS = []


def _versions() -> str:
    if not _VERSIONS:
        import numba
        import numpy

        from ... import __version__
        device = (pathlib.Path(__file__).parent / "device.py").read_bytes()
        simulator = (pathlib.Path(__file__).parent / "simulator.py").read_bytes()
        _VERSIONS.append(f"funcgrad {__version__} numba {numba.__version__} numpy {numpy.__version__} "
                         f"device.py {hashlib.sha256(device + simulator).hexdigest()}")
    return _VERSIONS[0]


def _header(simulated: bool) -> str:
    return ("import numpy as np\nimport numba as nbt\nfrom numba import cuda\n"
            + ("from funcgrad.backends.cuda.simulator import math\n" if simulated else "import math\n")
            + "from funcgrad.backends.cuda.device import *  # noqa: F401,F403\n\n")


def _source_and_key(kernel):
    from numba import config

    source = _header(bool(config.ENABLE_CUDASIM)) + kernel.source
    digest = hashlib.sha256((_versions() + "\n" + source).encode()).hexdigest()[:32]
    return source, digest, (digest, kernel.name)


def load(kernel, cuda):
    """``(jitted, uncached)``: ``kernel``'s function compiled for the device, with the disk cache where its
    file could be written, and a function that compiles it again without the cache (None where there is
    no cache to do without: no file, or the simulator)."""
    from numba import config

    from ..numba_backend.disk_cache import write_module

    source, digest, key = _source_and_key(kernel)
    with _lock:
        hit = _modules.get(key)
        if hit is None:
            path = write_module(source, f"cuda_{digest}")
            name = f"funcgrad_cuda_{digest}"
            mod = types.ModuleType(name)
            mod.__file__ = path
            sys.modules[name] = mod      # Numba finds a cached function's module by name
            exec(compile(source, path or f"<funcgrad cuda kernel {digest}>", "exec"), mod.__dict__)
            fn = getattr(mod, kernel.name)
            cached = path is not None and not config.ENABLE_CUDASIM
            hit = _modules[key] = (cuda.jit(fn, cache=cached), (lambda: cuda.jit(fn)) if cached else None, path)
    return hit[0], hit[1]


def module_path(kernel) -> str | None:
    """The file ``kernel`` was loaded from (None: compiled in memory, or not loaded yet)."""
    hit = _modules.get(_source_and_key(kernel)[2])
    return hit[2] if hit else None
