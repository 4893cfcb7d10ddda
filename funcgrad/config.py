"""Process-wide settings, read from the environment at import and settable
at run time (``funcgrad.config.default_backend = "interpret"``).

- ``default_backend`` (``FUNCGRAD_BACKEND``): ``"numba"`` (default),
  ``"interpret"``, ``"vm"`` or ``"cuda"`` (the GPU backend's first stage,
  README "GPU"), for transformations called without ``backend=``.
- ``compile_mode`` (``FUNCGRAD_COMPILE``): ``"async"`` (default): a new
  program's first calls run in the NumPy interpreter while Numba compiles it
  on a background thread, then calls switch to the compiled code, so no call
  waits on a compile; ``"sync"``: the first call compiles and waits.
- ``max_compiled_eqns`` (``FUNCGRAD_MAX_COMPILED_EQNS``, default 2500): programs
  with more equations are not compiled with Numba (whose compile time grows
  with the program: minutes there) but run on the vm backend's machine, one
  Numba function compiled once that runs any program encoded as data
  (``funcgrad/backends/vm``); programs it cannot hold (float16, complex) on
  the NumPy interpreter.
- ``blas_threads`` (``FUNCGRAD_BLAS_THREADS``): ``"auto"`` (default), an integer, or
  ``"openblas"``: threads for matrix products. ``auto``: as many as the usable
  cores (at most OpenBLAS's own count), on OpenBLAS's threads while the cores
  are free and on funcgrad's own pool (chunks taken from a shared counter, idle
  threads sleep) while other processes use them; an integer: the pool with
  that many threads (1: single-threaded); ``openblas``: OpenBLAS's threads
  always. Read when the Numba backend is first used; later changes through
  ``funcgrad.backends.numba_backend.blas.set_threads``.
- ``max_compiled_programs`` (``FUNCGRAD_MAX_COMPILED_PROGRAMS``, default 256):
  how many programs one process compiles with Numba. Numba's compiled code
  stays in memory until the process exits (LLVM's MCJIT cannot free it,
  numba#5976), about 1-4 MiB a program; past this many, new programs run on
  the vm backend's machine instead, whose memory per program is its encoding,
  freed with it.
- ``vm_first_calls`` (``FUNCGRAD_VM``, default on; ``0`` turns it off): in
  ``async`` mode, a new program's first calls run on the vm's machine while
  Numba compiles the program (the interpreter serves them until the machine
  is loaded).
- ``shape_generic`` (``FUNCGRAD_SHAPE_GENERIC``: ``auto`` (default),
  ``always`` / ``1``, ``never`` / ``0``): whether the Numba backend compiles
  code that reads a program's sizes and constants at run time
  (``numba_backend/lift.py``), which every program differing only in them
  (a new batch size, another learning rate) shares. ``auto``: a program's
  first sizes compile as they are (the fastest code), and the shared code
  once a second set of sizes turns up (in this process or, noted in the cache
  directory, an earlier one); from then on no size change compiles.
- ``parallel`` (``FUNCGRAD_PARALLEL``): ``"auto"`` (default), ``"1"`` or ``"0"``:
  whether large fused loops (2**17 elements or more) run on several threads.
  ``auto`` enables it only with Numba's TBB threading layer (``pip install tbb``),
  which is safe with several calling threads and with ``fork``; the OpenMP and
  workqueue layers are not, so elsewhere it is opt-in.
- ``passes`` (``FUNCGRAD_PASSES``, default on; ``0`` turns it off): whether the
  Numba backend runs the IR pass pipeline (``funcgrad.passes.default_pipeline``:
  simplification, common-subexpression and dead-code elimination) on a program
  before generating code. The interpreter backend never does.
- ``tune_malloc`` (``FUNCGRAD_TUNE_MALLOC``, default on; ``0`` turns it off): on
  Linux with glibc, when the Numba backend is first used and neither
  ``MALLOC_MMAP_THRESHOLD_`` nor ``MALLOC_TRIM_THRESHOLD_`` is set, funcgrad
  raises glibc's mmap threshold to 32 MiB and its trim threshold to 256 MiB
  (``mallopt``). Compiled programs allocate their arrays afresh on every
  call; with glibc's defaults an array over 128 KiB (the stacked residuals of
  a long ``scan``: 16 MiB for an RNN of 1,000 steps) is a new ``mmap`` each
  time, every page of it faulted in and zeroed by the kernel on first touch,
  which cost a third of the time of such a training step. The cost: up to
  256 MiB of freed memory stays with the process for reuse.
- ``compile_workers`` (``FUNCGRAD_COMPILE_WORKERS``, default 0 = one per core):
  how many processes compile the chunk functions of a large program side by
  side on a cold cache in sync mode (this process counts as one); 1 compiles
  everything here.
"""
import os

default_backend: str = os.environ.get("FUNCGRAD_BACKEND", "numba")
compile_mode: str = os.environ.get("FUNCGRAD_COMPILE", "async")
max_compiled_eqns: int = int(os.environ.get("FUNCGRAD_MAX_COMPILED_EQNS", "2500"))
parallel: str = os.environ.get("FUNCGRAD_PARALLEL", "auto")
passes: bool = os.environ.get("FUNCGRAD_PASSES", "1").strip().lower() not in ("0", "false", "off", "no")
compile_workers: int = int(os.environ.get("FUNCGRAD_COMPILE_WORKERS", "0"))
blas_threads: str = os.environ.get("FUNCGRAD_BLAS_THREADS", "auto")
max_compiled_programs: int = int(os.environ.get("FUNCGRAD_MAX_COMPILED_PROGRAMS", "256"))
shape_generic: str = os.environ.get("FUNCGRAD_SHAPE_GENERIC", "auto")
vm_first_calls: bool = os.environ.get("FUNCGRAD_VM", "1").strip().lower() not in ("0", "false", "off", "no")
tune_malloc: bool = os.environ.get("FUNCGRAD_TUNE_MALLOC", "1").strip().lower() not in ("0", "false", "off", "no")
