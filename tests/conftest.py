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

# FUNCGRAD_TEST_BACKEND=cuda runs the same tests on the CUDA backend (tests/test_cuda_suite.py does, for the
# transformation and training tests, on the simulator).
funcgrad.config.default_backend = os.environ.get("FUNCGRAD_TEST_BACKEND", "interpret")
funcgrad.config.compile_mode = "sync"
# The suite compiles hundreds of programs in one process; the tests of the
# Numba backend expect compiled code, not the vm machine that programs past
# the per-process budget run on (tests/test_vm.py tests the budget itself).
funcgrad.config.max_compiled_programs = 10**9


def pytest_configure(config):
    config.addinivalue_line("markers", "numpy_outputs: checks what the CPU backends return (writable NumPy arrays "
                                       "of their own); skipped on the CUDA backend, which returns DeviceArrays")


# The longest files first (minutes each: notebooks executed cold, the CUDA suite on the simulator,
# finite differences of every primitive, MPI launches), so that `-n 2 --dist loadfile` starts them
# on both workers at once instead of leaving one of them to run at the end while the other idles.
_LONG_FIRST = ["test_notebooks.py", "test_cuda_suite.py", "test_vjp_fd.py", "test_distributed.py",
               "test_train_digits.py", "test_cuda_conformance.py", "test_conformance.py"]


def pytest_collection_modifyitems(config, items):
    import pytest
    rank = {name: i for i, name in enumerate(_LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: the rest keep their order
    if funcgrad.config.default_backend != "cuda":
        return
    skip = pytest.mark.skip(reason="the CUDA backend returns DeviceArrays (as JAX returns device arrays), "
                                   "not writable NumPy arrays")
    for item in items:
        if "numpy_outputs" in item.keywords:
            item.add_marker(skip)
