"""Every notebook in notebooks/ runs top to bottom, in a fresh kernel, without error.

The notebooks assert what their text claims (a cell fails if the result it
reads no longer holds), and ``notebook_runner`` refuses a figure drawn
without axis labels. The committed files carry no outputs.
"""
import pathlib
import time

import pytest

from notebook_runner import check_committed, execute, figures, notebook_paths

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

# Per notebook, with an empty compilation cache on a loaded 2-core machine;
# the notebooks take well under a minute once their programs are cached.
TIME_LIMIT_S = 300

PATHS = notebook_paths()


def test_there_are_notebooks():
    names = [p.name for p in PATHS]
    assert len(names) >= 9, names
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, len(names) + 1)], names


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_file(path: pathlib.Path):
    assert check_committed(path) == []


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_runs_top_to_bottom(path: pathlib.Path):
    start = time.perf_counter()
    nb, _ = execute(path, timeout=TIME_LIMIT_S)
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT_S, f"{path.name} took {elapsed:.0f} s (limit {TIME_LIMIT_S} s)"
    assert figures(nb), f"{path.name} showed no figure"


def test_readme_lists_every_notebook():
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [p.name for p in PATHS if f"notebooks/{p.name}" not in readme]
    assert not missing, f"README.md does not list {missing}"
