"""The processes of a job: MPI through mpi4py, or one process without it.

``init()`` is called by the first function that needs the world, so a script
runs unchanged on one process (no mpi4py needed) and under ``mpiexec``.

Failures never hang: every MPI operation funcgrad starts is non-blocking and
waited for with a deadline (``timeout`` seconds, ``FUNCGRAD_DIST_TIMEOUT``,
default 300), past which :class:`DistributedError` says which operation on
which rank is still waiting. A rank that dies of an uncaught Python exception
aborts the whole job at once (``init`` installs an excepthook that calls
``MPI_Abort``), instead of leaving the others waiting in a collective.
"""
from __future__ import annotations

import os
import sys
import time
import traceback

from ..errors import FuncgradError

DEFAULT_TIMEOUT_S = 300.0
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


class DistributedError(FuncgradError, RuntimeError):
    """A collective operation that failed: mismatched pytrees across ranks,
    a rank that stopped answering, an MPI error."""


class Timers:
    """Seconds spent in funcgrad's communication, for a compute/communication split."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.communication_s = 0.0   # waiting for MPI (transfers, and ranks still computing)
        self.local_s = 0.0           # packing, summing and unpacking buffers
        self.calls = 0
        self.bytes = 0

    def as_dict(self) -> dict:
        return {"communication_s": self.communication_s, "local_s": self.local_s,
                "calls": self.calls, "bytes": self.bytes}


class World:
    def __init__(self, comm, timeout: float):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.timeout = float(timeout)
        self.timers = Timers()
        self.checked: set = set()   # signatures already compared across ranks

    def wait(self, requests, what: str):
        """Wait for MPI requests, at most ``timeout`` seconds; a rank that
        stopped answering becomes a :class:`DistributedError`, not a hang."""
        from mpi4py import MPI

        start = time.perf_counter()
        deadline = start + self.timeout
        try:
            while not MPI.Request.Testall(requests):
                now = time.perf_counter()
                if now > deadline:
                    raise DistributedError(
                        f"distributed.{what}: rank {self.rank} of {self.size} waited {self.timeout:g} s "
                        f"for the other ranks (FUNCGRAD_DIST_TIMEOUT); a rank has died, hangs, or "
                        f"called the collectives in a different order")
                # MPI moves data only while it is polled, so keep polling (as MPI's own blocking
                # calls do), yielding the core between polls after 20 us (a rank that shares
                # the core may be the one we wait for; MPICH yields after 1,000 polls), and
                # sleeping between polls once a wait has lasted a second (a rank still computing)
                waited = now - start
                if waited > 1.0:
                    time.sleep(1e-4)
                elif waited > 2e-5:
                    os.sched_yield()
        except MPI.Exception as exc:
            raise DistributedError(f"distributed.{what}: rank {self.rank} of {self.size}: MPI error "
                                   f"{exc.Get_error_string()}") from None
        finally:
            self.timers.communication_s += time.perf_counter() - start


_world: World | None = None


def _launched_by_mpiexec() -> int:
    for var in _LAUNCHER_SIZE_VARS:
        try:
            n = int(os.environ.get(var, "1"))
        except ValueError:
            continue
        if n > 1:
            return n
    return 1


def _abort_on_uncaught(comm):
    previous = sys.excepthook

    def hook(kind, value, tb):
        if comm.Get_size() > 1:
            sys.stderr.write(f"funcgrad.distributed: rank {comm.Get_rank()} of {comm.Get_size()} stopped "
                             f"with an uncaught exception; aborting all ranks\n")
            sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))
            sys.stderr.flush()
            comm.Abort(1)
        previous(kind, value, tb)

    sys.excepthook = hook


def init(timeout: float | None = None, comm=None) -> World:
    """Join the job. Under ``mpiexec`` this uses ``mpi4py.MPI.COMM_WORLD``
    (or ``comm``); without mpi4py, or in a single process, the world has one
    rank. Calling it again returns the same world (``timeout`` updates it)."""
    global _world
    if timeout is None:
        timeout = float(os.environ.get("FUNCGRAD_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    if timeout <= 0:
        raise DistributedError(f"distributed.init: timeout must be positive, got {timeout}")
    if _world is not None and comm is None:
        _world.timeout = float(timeout)
        return _world
    if comm is None:
        try:
            from mpi4py import MPI
        except ImportError:
            n = _launched_by_mpiexec()
            if n > 1:
                raise DistributedError(
                    f"distributed.init: this process was started by an MPI launcher with {n} ranks, "
                    f"but mpi4py is not installed: pip install -e \".[mpi]\"") from None
            _world = World(None, timeout)
            return _world
        comm = MPI.COMM_WORLD
    _world = World(comm, timeout)
    if _world.size > 1:
        _abort_on_uncaught(comm)
    return _world


def world() -> World:
    return _world if _world is not None else init()


def rank() -> int:
    """This process's rank, 0 to ``size() - 1``."""
    return world().rank


def size() -> int:
    """The number of processes in the job (1 without MPI)."""
    return world().size


def timers() -> dict:
    """Seconds spent communicating (``communication_s``: waiting for MPI,
    which includes waiting for slower ranks) and in local buffer work
    (``local_s``), the number of collective calls and bytes sent, since the
    last :func:`reset_timers`."""
    return world().timers.as_dict()


def reset_timers():
    world().timers.reset()
