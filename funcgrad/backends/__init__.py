"""Backends: evaluate or compile a Program.

Each backend exposes ``compile(program) -> callable(*flat_args) -> list``.
``interpret`` is the NumPy reference every compiled backend is tested against.
"""
from __future__ import annotations

from ..errors import InputError

_BACKENDS = {}


def register_backend(name: str, compile_fn):
    _BACKENDS[name] = compile_fn


def get_backend(name: str | None):
    from .. import config

    name = name or config.default_backend
    if name not in _BACKENDS and name == "numba":
        from . import numba_backend  # noqa: F401  (registers itself)
    if name not in _BACKENDS and name == "vm":
        from . import vm  # noqa: F401  (registers itself)
    if name not in _BACKENDS and name == "cuda":
        from . import cuda  # noqa: F401  (registers itself)
    try:
        return _BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown backend {name!r}; choose one of {sorted(set(_BACKENDS) | {'numba', 'vm', 'cuda'})}") from None


from . import interpreter  # noqa: E402,F401
