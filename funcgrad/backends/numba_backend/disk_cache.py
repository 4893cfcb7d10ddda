"""Where the Numba backend writes generated modules, and how it survives faults.

A program's module is ``<cache dir>/fg_<digest>.py`` (the digest hashes the
source and the versions of everything that shapes the compiled code, see
``_digest``); Numba's ``cache=True`` keeps its index (``.nbi``) and object
code (``.nbc``) in the ``__pycache__`` folder beside it, named after the
module. The rules that keep a fault (a writer killed half-way, a full or
read-only disk, another funcgrad version, altered or truncated files) from
giving wrong code, a crash or a hang:

- A module file is used only when its bytes equal the source, and the module
  is executed from that source, not imported, so a stale ``.pyc`` can never
  stand in for it. Numba stamps its index with a hash of the module file, so
  an index (and its object code) written for other source is never loaded.
- Files are written to a temporary file in the same folder, then renamed over
  the entry (atomic): a killed writer leaves only a temporary file, which is
  never read, and is deleted by a later process once it is an hour old.
  Numba writes its own files the same way.
- If the cache directory cannot be written, this process warns once and
  writes to a private temporary directory instead (deleted at exit); if that
  fails too, programs compile in memory, without a disk cache.
- No file locks are taken: processes that compile the same program at once
  both write the same bytes, and the last rename wins.

Unreadable or foreign Numba entries are handled where they are loaded, in
``_compile_dispatcher``.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
import warnings

__all__ = ["cache_dir", "clear_cache", "write_module", "discard_numba_entries", "warn_once", "note_variant"]

# Temporary files older than this are left over from a killed writer: no write
# of a cache entry takes this long, so deleting them cannot break a live one.
STALE_TMP_AGE_S = 3600.0

_lock = threading.Lock()
# Per configured cache directory, how far this process has fallen back:
# 0 = the directory itself, 1 = the private temporary directory, 2 = memory.
_levels: dict[str, int] = {}
_private = None        # this process's temporary cache directory, once made
_swept: set[str] = set()   # directories already cleared of stale temporary files
_warned: set = set()


def configured_dir() -> str:
    """``$FUNCGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/funcgrad``, else ``~/.cache/funcgrad``."""
    path = os.environ.get("FUNCGRAD_CACHE_DIR")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "funcgrad")
    return path


def cache_dir() -> str:
    """The configured cache directory, created (owner-only) if it can be.
    Never raises: a directory that cannot be created or written is reported
    (one warning) when a program is first written, and this process then uses
    a private temporary directory instead."""
    path = configured_dir()
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        pass
    return path


def clear_cache():
    """Delete every generated module and compiled entry on disk (the
    configured directory, and this process's temporary one if it has one)."""
    for path in (configured_dir(), _private):
        if not path or not os.path.isdir(path):
            continue
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if os.path.isdir(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                try:
                    os.remove(full)
                except OSError:
                    pass


def warn_once(key, message: str):
    """A RuntimeWarning, once per process for ``key``."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def write_module(source: str, digest: str) -> str | None:
    """The path of a file that holds exactly ``source``, written if needed;
    None when no directory can be written (compile in memory)."""
    configured = configured_dir()
    name = f"fg_{digest}.py"
    level = _levels.get(configured, 0)
    failures = []          # (level, directory or None, error) for each place that failed in this call
    path = None
    while level < 2:
        where = configured if level == 0 else None
        try:
            where = configured if level == 0 else _private_dir()
            path = _write_into(where, name, source)
            break
        except OSError as e:
            failures.append((level, where, e))
            level += 1
    if failures:
        with _lock:
            first = _levels.get(configured, 0) < level   # another thread may have warned already
            if first:
                _levels[configured] = level
        if first:
            warnings.warn(_fallback_message(failures, path), RuntimeWarning, stacklevel=4)
    return path


def _fallback_message(failures, path) -> str:
    said = []
    for level, where, e in failures:
        why = f"{type(e).__name__}: {e}"
        if level == 0:
            said.append(f"cannot write to the compile cache directory {where!r} ({why})")
        elif where is not None:
            said.append(f"cannot write to the private temporary directory {where!r} either ({why})")
        else:
            said.append(f"cannot create a private temporary directory in {tempfile.gettempdir()!r} "
                        f"either ({why})")
    keep = " Set FUNCGRAD_CACHE_DIR to a writable directory to keep compiled programs."
    if path is not None:
        return (f"funcgrad: {'; '.join(said)}; this process caches compiled programs in the private "
                f"temporary directory {os.path.dirname(path)!r} instead (deleted at exit), so the next "
                "process compiles them again." + keep)
    return (f"funcgrad: {'; '.join(said)}; this process compiles programs in memory, without a disk "
            "cache, so the next process compiles them again." + keep)


def _private_dir() -> str:
    global _private
    with _lock:
        if _private is None:
            _private = tempfile.mkdtemp(prefix="funcgrad-cache-")
            atexit.register(shutil.rmtree, _private, ignore_errors=True)
        return _private


def _write_into(directory: str, name: str, source: str) -> str:
    _sweep_once(directory)
    path = os.path.join(directory, name)
    data = source.encode("utf-8")
    if _file_has(path, data):
        return path
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # the temporary name starts with the entry's, so that a leftover says whose it was
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.splitext(name)[0] + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # atomic: readers see the old entry or the whole new one
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return path


def _file_has(path: str, data: bytes) -> bool:
    # bytes, not text: an altered file need not even be valid UTF-8
    try:
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _is_tmp(name: str) -> bool:
    # ours: fg_<digest>.<random>.tmp (tmp<random>.tmp from earlier versions);
    # Numba's: <entry>.nbi.tmp.<uuid> and <entry>.nbc.tmp.<uuid>
    return (name.startswith(("fg_", "tmp")) and name.endswith(".tmp")) or ".nbi.tmp." in name \
        or ".nbc.tmp." in name


def _sweep_once(directory: str):
    """Delete temporary files that killed writers left in ``directory`` and its
    ``__pycache__`` (once per process and directory; best effort)."""
    with _lock:
        if directory in _swept:
            return
        _swept.add(directory)
    now = time.time()
    for folder in (directory, os.path.join(directory, "__pycache__")):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not _is_tmp(name):
                continue
            full = os.path.join(folder, name)
            try:
                if now - os.stat(full).st_mtime > STALE_TMP_AGE_S:
                    os.remove(full)
            except OSError:
                pass


def discard_numba_entries(cache_path: str | None, module_file: str) -> bool:
    """Delete Numba's index and object files for ``module_file`` (in Numba's
    ``cache_path``). True when none is left."""
    if not cache_path or not os.path.isdir(cache_path):
        return True
    stem = os.path.splitext(os.path.basename(module_file))[0] + "."
    left = False
    for name in os.listdir(cache_path):
        if name.startswith(stem):
            try:
                os.remove(os.path.join(cache_path, name))
            except FileNotFoundError:
                pass
            except OSError:
                left = True
    return not left


def note_variant(generic: str, specialized: str) -> bool:
    """Record in the cache directory that the lifted module ``generic`` (see
    ``lift.py``) was wanted for the sizes of the module ``specialized``; True
    when other sizes were recorded for it before (by any process). Never
    raises: without a writable directory, nothing is recorded."""
    path = os.path.join(configured_dir(), f"fg_{generic}.sizes")
    try:
        with open(path, encoding="ascii") as fh:
            seen = fh.read().split()
    except (OSError, ValueError):
        seen = []
    if specialized in seen:
        return len(seen) > 1
    try:
        _write_into(configured_dir(), os.path.basename(path), "\n".join(seen[:7] + [specialized]) + "\n")
    except OSError:
        pass
    return bool(seen)
