"""Process-wide settings, read from the environment at import and settable
at run time (``funcgrad.config.default_backend = "interpret"``).

- ``default_backend`` (``FUNCGRAD_BACKEND``): ``"numba"`` (default) or
  ``"interpret"``, for transformations called without ``backend=``.
- ``compile_mode`` (``FUNCGRAD_COMPILE``): ``"async"`` (default): a new
  program's first calls run in the NumPy interpreter while Numba compiles it
  on a background thread, then calls switch to the compiled code, so no call
  waits on a compile; ``"sync"``: the first call compiles and waits.
"""
import os

default_backend: str = os.environ.get("FUNCGRAD_BACKEND", "numba")
compile_mode: str = os.environ.get("FUNCGRAD_COMPILE", "async")
