"""Test settings.

The mathematical tests check transformations against the NumPy interpreter,
the reference backend (fast to start, no compile). Tests of the Numba backend
name ``backend="numba"`` and compare with the interpreter; they compile
synchronously so that every call they time or check runs compiled code.
"""
import os

# The CUDA backend's tests run on Numba's CUDA simulator unless told otherwise
# (benchmarks/gpu/run_all.sh sets NUMBA_ENABLE_CUDASIM=0 on a GPU machine);
# numba.cuda reads this when it is first imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import funcgrad  # noqa: E402

funcgrad.config.default_backend = "interpret"
funcgrad.config.compile_mode = "sync"
# The suite compiles hundreds of programs in one process; the tests of the
# Numba backend expect compiled code, not the vm machine that programs past
# the per-process budget run on (tests/test_vm.py tests the budget itself).
funcgrad.config.max_compiled_programs = 10**9
