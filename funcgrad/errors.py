"""funcgrad's exceptions.

Every error raised because of a user's input is a :class:`FuncgradError`. Its
message names the operation, the shapes and dtypes involved, and the line of
the user's code that asked for it. Each subclass also derives from the builtin
exception a NumPy user would expect (``TypeError``, ``ValueError``...), so
existing ``except`` clauses keep working.
"""
from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = None


def _internal(filename: str) -> bool:
    global _NUMPY_DIR
    if _NUMPY_DIR is None:
        import numpy

        _NUMPY_DIR = os.path.dirname(os.path.abspath(numpy.__file__))
    # compare whole directory names: /src/funcgrad_demo/train.py is user code
    return (filename.startswith(_PACKAGE_DIR + os.sep) or filename.startswith(_NUMPY_DIR + os.sep)
            or filename.startswith("<frozen"))


def user_frame():
    """Return ``(filename, lineno, function)`` of the innermost frame outside
    funcgrad and numpy, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _internal(os.path.abspath(filename)):
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
    return None


def format_location(loc) -> str:
    if loc is None:
        return ""
    filename, lineno, func = loc
    line = ""
    try:
        import linecache

        line = linecache.getline(filename, lineno).strip()
    except Exception:  # pragma: no cover - best effort only
        pass
    where = f"{filename}:{lineno} in {func}"
    return f"\n  at {where}" + (f"\n    {line}" if line else "")


class FuncgradError(Exception):
    """Base class of funcgrad's errors about user input."""

    def __init__(self, message: str, location=None):
        self.location = location if location is not None else user_frame()
        self.bare_message = message
        super().__init__(message + format_location(self.location))


class ShapeError(FuncgradError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DtypeError(FuncgradError, TypeError):
    """Operands whose dtypes do not fit the operation."""


class TracerBoolError(FuncgradError, TypeError):
    """Python control flow (``if``, ``while``, ``bool()``, ``int()``) on a traced value."""


class UnsupportedError(FuncgradError, NotImplementedError):
    """A NumPy function or feature that funcgrad does not implement."""


class InputError(FuncgradError, TypeError):
    """A bad argument to a transformation: a leaf that is not an array, a wrong
    ``argnums``, differentiation with respect to an integer input..."""


class TreeError(FuncgradError, ValueError):
    """Pytrees whose structures do not match."""


class LeakedTracerError(FuncgradError, RuntimeError):
    """A traced value used after the trace that made it has finished."""
