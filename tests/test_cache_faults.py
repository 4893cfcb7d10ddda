"""The Numba backend's disk cache under faults: never wrong code, never a
crash, never a hang.

Each scenario runs real Python processes (``_CHILD``) on a cache directory
under ``tmp_path``; a child injects its fault (a write that pauses half-way
until the test kills the process, writes that fail with EACCES, EROFS or
ENOSPC, another funcgrad version), runs small programs and prints their
results, which the test compares with NumPy computed here. Independent
children run two at a time.
"""
import errno
import importlib.util
import json
import os
import py_compile
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("numba")

X = np.linspace(-1.5, 1.5, 7)

# The programs: the tanh ones differ only in a constant, so their generated
# functions have identical bytecode and argument types; only the source file
# (and so the cache entry) tells them apart. The children run with
# FUNCGRAD_SHAPE_GENERIC=0, which keeps such constants in the source (with it
# on, these four share one module; constants it leaves in the source, nan,
# the infinities and booleans, give the same situation).
_PROGRAMS = textwrap.dedent("""
    PROGRAMS = {
        "tanh2": lambda x: fnp.tanh(x) * 2.0 + 1.0,
        "tanh3": lambda x: fnp.tanh(x) * 3.0 + 1.0,
        "tanh5": lambda x: fnp.tanh(x) * 5.0 + 1.0,
        "tanh7": lambda x: fnp.tanh(x) * 7.0 + 1.0,
        "sin": lambda x: fnp.sin(x) * 3.0 - 1.0,
    }
""")
REFERENCE = {
    "tanh2": lambda x: np.tanh(x) * 2.0 + 1.0,
    "tanh3": lambda x: np.tanh(x) * 3.0 + 1.0,
    "tanh5": lambda x: np.tanh(x) * 5.0 + 1.0,
    "tanh7": lambda x: np.tanh(x) * 7.0 + 1.0,
    "sin": lambda x: np.sin(x) * 3.0 - 1.0,
}

_CHILD = textwrap.dedent("""
    import builtins, json, os, sys, tempfile, time, warnings
    cfg = json.loads(sys.argv[1])
    import numpy as np
    import funcgrad as fg
    import funcgrad.numpy as fnp
    from funcgrad.backends import numba_backend as nb
""") + _PROGRAMS + textwrap.dedent("""
    def under(path, root):
        try:
            path = os.path.abspath(os.fsdecode(path))
        except TypeError:            # a file descriptor
            return False
        return path == root or path.startswith(root + os.sep)

    def pause_writes(root, where):
        # A write of a cache file (where: "module", "index" or "data") writes half
        # its bytes, says so, and waits to be killed.
        real_open, real_fdopen = builtins.open, os.fdopen
        pycache = os.path.join(root, "__pycache__")

        def chosen(name):
            if not isinstance(name, str):
                return False
            folder, base = os.path.split(os.path.abspath(name))
            if where == "module":
                return folder == root
            return folder == pycache and base.startswith("fg_") and \\
                {"index": ".nbi", "data": ".nbc"}[where] in base

        class Paused:
            def __init__(self, f, name):
                self._f, self._name = f, name
            def write(self, data):
                self._f.write(data[:len(data) // 2])
                self._f.flush()
                print("PAUSED", self._name, flush=True)
                time.sleep(600)
            def __getattr__(self, attr):
                return getattr(self._f, attr)
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return self._f.__exit__(*exc)

        def open_(file, mode="r", *a, **k):
            f = real_open(file, mode, *a, **k)
            return Paused(f, file) if any(c in mode for c in "wax+") and chosen(file) else f

        def fdopen(fd, *a, **k):
            name = os.readlink(f"/proc/self/fd/{fd}")
            f = real_fdopen(fd, *a, **k)
            return Paused(f, name) if chosen(name) else f
        builtins.open, os.fdopen = open_, fdopen

    def deny_writes(root, err, match=""):
        # Every change under root (to files whose name contains match) fails with
        # errno err: a read-only or full file system, even for root.
        def denied(path):
            return under(path, root) and match in os.path.basename(os.fsdecode(path))

        def fail(path):
            raise OSError(err, os.strerror(err), os.fsdecode(path))
        real_open, real_os_open = builtins.open, os.open

        def open_(file, mode="r", *a, **k):
            if any(c in mode for c in "wax+") and denied(file):
                fail(file)
            return real_open(file, mode, *a, **k)

        def os_open(path, flags, *a, **k):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and denied(path):
                fail(path)
            return real_os_open(path, flags, *a, **k)
        builtins.open, os.open = open_, os_open
        for name in ("mkdir", "rmdir", "remove", "unlink"):
            def one(path, *a, _real=getattr(os, name), **k):
                if denied(path):
                    fail(path)
                return _real(path, *a, **k)
            setattr(os, name, one)
        for name in ("replace", "rename"):
            def two(src, dst, *a, _real=getattr(os, name), **k):
                if denied(src) or denied(dst):
                    fail(dst)
                return _real(src, dst, *a, **k)
            setattr(os, name, two)

    cache = os.path.abspath(os.environ["FUNCGRAD_CACHE_DIR"])
    if cfg.get("xdg"):
        os.environ["XDG_CACHE_HOME"] = cfg["xdg"]   # where Numba caches when __pycache__ is read-only
    if cfg.get("tempdir"):
        tempfile.tempdir = cfg["tempdir"]
    if cfg.get("pause"):
        pause_writes(cache, cfg["pause"])
    if cfg.get("deny"):
        deny_writes(os.path.abspath(cfg["deny"]["root"]), cfg["deny"]["errno"], cfg["deny"].get("match", ""))
    if cfg.get("other_version"):
        # another funcgrad release, whose tanh kernel differs, sharing the directory
        from numba import njit
        from funcgrad.backends.numba_backend import fastmath
        fg.__version__ = "0.0.1+other"
        fastmath.tanh_f64 = njit(lambda v: np.tanh(v) + 0.5)

    out = {"results": {}, "hits": {}, "misses": {}, "in_memory": {}, "compiled": {}}
    x = np.array(cfg["x"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cfg.get("deny"):
            nb.cache_dir()                      # must not raise
        for name in cfg["programs"]:
            f = fg.jit(PROGRAMS[name], backend="numba")
            out["results"][name] = np.asarray(f(x)).tolist()
            compiled = f.lower(x).compiled
            out["compiled"][name] = bool(compiled.wait())
            mod = nb._modules[nb._digest(compiled.source)]
            out["hits"][name] = sum(mod.program.stats.cache_hits.values())
            out["misses"][name] = sum(mod.program.stats.cache_misses.values())
            out["in_memory"][name] = mod.__file__ is None
    out["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
    print("RESULT", json.dumps(out), flush=True)
""")


def _env(cache, tmp):
    env = dict(os.environ, FUNCGRAD_CACHE_DIR=str(cache), FUNCGRAD_COMPILE="sync",
               FUNCGRAD_SHAPE_GENERIC="0",
               XDG_CACHE_HOME=str(tmp / "xdg"),     # Numba's own fallback cache stays in tmp
               TMPDIR=str(tmp / "tmp"))
    env.pop("NUMBA_CACHE_DIR", None)     # Numba's files go to __pycache__ beside the modules
    os.makedirs(tmp / "tmp", exist_ok=True)
    return env


def _start(cache, tmp, programs, **cfg):
    cfg = dict(cfg, programs=programs, x=X.tolist())
    return subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(cfg)], env=_env(cache, tmp),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc, what=""):
    try:
        out, err = proc.communicate(timeout=120)   # a cold compile takes seconds: more is a hang
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{what}: the child hung\n{err[-3000:]}")
    assert proc.returncode == 0, f"{what}: the child failed\n{err[-3000:]}"
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _run(cache, tmp, programs, **cfg):
    return _finish(_start(cache, tmp, programs, **cfg), str(cfg))


def _run_all(cache_tmp_programs_cfgs):
    """Run the children two at a time; their outputs in order."""
    outs = []
    for i in range(0, len(cache_tmp_programs_cfgs), 2):
        batch = [(args, _start(*args[:3], **args[3])) for args in cache_tmp_programs_cfgs[i:i + 2]]
        outs += [_finish(p, f"{args[0]} {args[3]}") for args, p in batch]
    return outs


def _check(out, programs=None, reference=REFERENCE):
    for name in programs or out["results"]:
        np.testing.assert_allclose(out["results"][name], reference[name](X), rtol=1e-12, atol=1e-12,
                                   err_msg=name)
        assert out["compiled"][name], name


def _runtime_warnings(out):
    return [msg for cat, msg in out["warnings"] if cat == "RuntimeWarning"]


def _entry_files(cache, digest_of):
    """Numba's files in ``cache``'s ``__pycache__`` for the module named by ``digest_of``."""
    pycache = cache / "__pycache__"
    return sorted(pycache / n for n in os.listdir(pycache) if n.startswith(digest_of + "."))


def _module_of(cache, program):
    """The fg_<digest> stem of ``program``'s module in ``cache``, found by its constant."""
    k = {"tanh2": "2.0", "tanh3": "3.0", "tanh5": "5.0", "tanh7": "7.0"}[program]
    for name in os.listdir(cache):
        if name.endswith(".py") and f"np.float64({k})" in (cache / name).read_text():
            return name[:-3]
    raise AssertionError(f"no module for {program} in {cache}")


# --- 1. killed writers --------------------------------------------------------------------------

def _pause_and_kill(cache, tmp, where):
    """Start a child whose write of ``where`` stops half-way; SIGKILL it there.
    Returns the half-written file."""
    proc = _start(cache, tmp, ["tanh2"], pause=where)
    deadline = time.monotonic() + 120
    try:
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = proc.stdout.readline() if ready else ""
            if line.startswith("PAUSED "):
                leftover = line.split(" ", 1)[1].strip()
                assert os.path.getsize(leftover) > 0   # killed in the middle of the write
                return leftover
            if not ready or not line:
                pytest.fail(f"the child never reached the {where} write:\n{proc.stderr.read()[-3000:]}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_processes_killed_while_writing_leave_nothing_loaded_wrongly(tmp_path):
    cache = tmp_path / "cache"
    # one after another in the same directory, so each child also meets the
    # previous one's leftovers: the module half-written; then the module
    # written and Numba's index half-written; then the index written and its
    # object file half-written (an index naming a file that is not there)
    leftovers = [_pause_and_kill(cache, tmp_path, where) for where in ("module", "index", "data")]
    for f in leftovers:
        assert not f.endswith((".py", ".nbi", ".nbc")), f"{f}: a cache entry written in place"
    # as if the writers had been killed long ago; and a fresh temporary file,
    # which may be a live writer's and must be left alone
    long_ago = time.time() - 2 * 3600
    for f in leftovers:
        os.utime(f, (long_ago, long_ago))
    live = cache / "fg_0123456789abcdef.live.tmp"
    live.write_text("half a modu")
    out = _run(cache, tmp_path, ["tanh2"])        # no hang, no crash, correct
    _check(out)
    assert not _runtime_warnings(out)
    assert [f for f in leftovers if os.path.exists(f)] == [], "stale temporary files were not deleted"
    assert live.exists()
    out = _run(cache, tmp_path, ["tanh2"])        # and the entry it wrote is sound
    _check(out)
    assert out["hits"]["tanh2"] == 1 and out["misses"]["tanh2"] == 0


# --- 2. two funcgrad versions, one directory ----------------------------------------------------

def test_two_versions_sharing_a_directory_each_load_their_own_entries(tmp_path):
    cache = tmp_path / "cache"
    other = {"tanh2": lambda x: (np.tanh(x) + 0.5) * 2.0 + 1.0}   # the other version's tanh
    for round_ in (1, 2):   # both compile at once, then both load
        this_out, other_out = _run_all([(cache, tmp_path, ["tanh2"], {}),
                                        (cache, tmp_path, ["tanh2"], {"other_version": True})])
        _check(this_out)
        _check(other_out, reference=other)
        if round_ == 2:
            assert this_out["hits"]["tanh2"] == 1 and other_out["hits"]["tanh2"] == 1
    assert len([n for n in os.listdir(cache) if n.endswith(".py")]) == 2


# --- 3. read-only and full directories ----------------------------------------------------------

def test_unwritable_cache_directories_warn_once_and_run_compiled(tmp_path, filled_cache):
    ro, full, nbc, chmod, notdir, shared = (tmp_path / n for n in ("ro", "full", "nbc", "chmod", "notdir",
                                                                  "shared"))
    for d in (ro / "existing", full / "cache", nbc, chmod):
        d.mkdir(parents=True)
    shutil.copytree(filled_cache, shared / "cache")
    chmod.chmod(0o500)
    notdir.write_text("a file where the cache directory's parent should be")
    try:
        blocked = not os.access(chmod, os.W_OK)       # False when the tests run as root
        outs = _run_all([
            # a read-only parent: cache_dir() cannot even create the directory
            (ro / "missing", tmp_path, ["tanh2"], {"deny": {"root": str(ro), "errno": errno.EACCES}}),
            (ro / "existing", tmp_path, ["tanh2"], {"deny": {"root": str(ro), "errno": errno.EROFS}}),
            # a full disk, where the temporary directory is too: compile in memory
            (full / "cache", tmp_path, ["tanh2", "sin"],
             {"deny": {"root": str(full), "errno": errno.ENOSPC}, "tempdir": str(full / "tmp")}),
            # the module fits, Numba's object file does not
            (nbc, tmp_path, ["tanh2", "sin"], {"deny": {"root": str(nbc), "errno": errno.ENOSPC,
                                                        "match": ".nbc"}}),
            (chmod, tmp_path, ["tanh2"], {}),
            (notdir / "cache", tmp_path, ["tanh2"], {}),  # a real failure, even for root
            # a read-only cache another process filled, and no writable place for
            # Numba's files (which it loads only from a directory it can write)
            (shared / "cache", tmp_path, ["tanh2"], {"deny": {"root": str(shared), "errno": errno.EROFS},
                                                     "xdg": str(shared / "xdg")}),
        ])
    finally:
        chmod.chmod(0o700)
    eacces, erofs, enospc, enospc_nbc, read_only, not_a_dir, filled_read_only = outs
    for out, where, why in [(eacces, ro / "missing", "Permission denied"),
                            (erofs, ro / "existing", "Read-only file system"),
                            (enospc, full / "cache", "No space left on device"),
                            (enospc_nbc, nbc / "__pycache__", "No space left on device"),
                            (not_a_dir, notdir / "cache", "Not a directory"),
                            (filled_read_only, shared / "cache", "no locator available")]:
        _check(out)
        (msg,) = _runtime_warnings(out)
        assert msg.startswith("funcgrad: ") and str(where) in msg and why in msg, msg
    for out in (eacces, erofs, not_a_dir):           # a private temporary directory instead
        assert "temporary directory" in _runtime_warnings(out)[0]
        assert not out["in_memory"]["tanh2"]
    assert "in memory" in _runtime_warnings(enospc)[0]
    assert enospc["in_memory"] == {"tanh2": True, "sin": True}
    assert filled_read_only["in_memory"] == {"tanh2": True}
    assert "the next process compiles" in _runtime_warnings(enospc_nbc)[0]
    _check(read_only)
    assert len(_runtime_warnings(read_only)) == (1 if blocked else 0)
    # the entry whose object file could not be written is not half-loaded later
    out = _run(nbc, tmp_path, ["tanh2", "sin"])
    _check(out)
    assert not _runtime_warnings(out)


# --- 4 and 5. altered, foreign and truncated entries --------------------------------------------

@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory):
    """A cache directory holding the four tanh programs' entries."""
    tmp = tmp_path_factory.mktemp("filled")
    out = _run(tmp / "cache", tmp, ["tanh2", "tanh3", "tanh5", "tanh7"])
    _check(out)
    return tmp / "cache"


def test_altered_modules_and_foreign_numba_files_are_never_loaded(filled_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(filled_cache, cache)
    t2, t3, t5, t7 = (_module_of(cache, p) for p in ("tanh2", "tanh3", "tanh5", "tanh7"))
    # tanh3: tanh2's object file under tanh3's name, beside tanh3's intact index
    (nbc2,) = [f for f in _entry_files(cache, t2) if f.suffix == ".nbc"]
    (nbc3,) = [f for f in _entry_files(cache, t3) if f.suffix == ".nbc"]
    shutil.copyfile(nbc2, nbc3)
    # tanh5: the module altered (and no longer valid UTF-8), and tanh2's index and
    # object file copied over its own
    module5 = cache / f"{t5}.py"
    source5 = module5.read_bytes()
    module5.write_bytes(source5.replace(b"np.float64(5.0)", b"np.float64(9.0)") + b"# \xff\n")
    for f in _entry_files(cache, t5):
        f.unlink()
    for f in _entry_files(cache, t2):
        shutil.copyfile(f, cache / "__pycache__" / f.name.replace(t2, t5))
    # tanh7: Numba's entry gone, and bytecode compiled from an altered module,
    # whose recorded mtime and size still match the restored module file
    module7 = cache / f"{t7}.py"
    source7 = module7.read_bytes()
    module7.write_bytes(source7.replace(b"np.float64(7.0)", b"np.float64(9.0)"))
    py_compile.compile(str(module7), cfile=importlib.util.cache_from_source(str(module7)))
    stamp = os.stat(module7).st_mtime
    module7.write_bytes(source7)
    os.utime(module7, (stamp, stamp))
    for f in _entry_files(cache, t7):
        if f.suffix in (".nbi", ".nbc"):
            f.unlink()
    out = _run(cache, tmp_path, ["tanh2", "tanh3", "tanh5", "tanh7"])  # tanh2's code loaded first
    _check(out)
    assert out["hits"]["tanh2"] == 1
    assert not _runtime_warnings(out)
    assert module5.read_bytes() == source5      # rewritten
    out = _run(cache, tmp_path, ["tanh3", "tanh5", "tanh7"])          # what they cached is sound
    _check(out)
    assert out["hits"] == {"tanh3": 1, "tanh5": 1, "tanh7": 1}


def test_truncated_numba_files_are_compiled_again(filled_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(filled_cache, cache)
    cuts = {"tanh2": (".nbi", 0), "tanh3": (".nbi", 0.5), "tanh5": (".nbc", 0), "tanh7": (".nbc", 0.5)}
    for program, (suffix, keep) in cuts.items():
        (f,) = [f for f in _entry_files(cache, _module_of(cache, program)) if f.suffix == suffix]
        os.truncate(f, int(os.path.getsize(f) * keep))
    out = _run(cache, tmp_path, list(cuts))
    _check(out)
    assert out["misses"] == {p: 1 for p in cuts}          # compiled, not loaded
    assert not _runtime_warnings(out)
    out = _run(cache, tmp_path, list(cuts))
    _check(out)
    assert out["hits"] == {p: 1 for p in cuts}            # the entries were written again


# --- in this process ----------------------------------------------------------------------------

def test_cache_dir_does_not_raise_when_it_cannot_be_created(tmp_path, monkeypatch):
    from funcgrad.backends import numba_backend as nb

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert nb.cache_dir() == str(tmp_path / "file" / "cache")
    nb.clear_cache()


def test_the_compile_worker_refuses_a_module_that_does_not_hold_its_program(tmp_path, monkeypatch):
    import funcgrad as fg
    import funcgrad.numpy as fnp
    from funcgrad.backends import numba_backend as nb

    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))
    source = fg.jit(lambda x: fnp.tanh(x) * 11.0, backend="numba").lower(X).source
    digest = nb._digest(source)
    path = nb.disk_cache.write_module(source, digest)
    assert open(path).read() == source
    with open(path, "w") as fh:
        fh.write(source.replace("tanh", "sinh"))
    with pytest.raises(RuntimeError, match="does not hold the program"):
        nb._module_from_file(path, digest)
