"""Execute the notebooks in ``notebooks/`` and check what a reader relies on.

Used by ``tests/test_notebooks.py``, and by hand to look at the figures:

    python tests/notebook_runner.py notebooks/03_*.ipynb --figures /tmp/figs

executes each notebook top to bottom (in a fresh kernel, with the notebooks
folder as the working directory), prints the time of every cell that took
over a second, and writes every figure the notebook shows as a PNG file.

The checks, made while the notebook runs:

- every figure that is drawn labels the axes it plots on (x and y labels;
  a colour bar needs its own label), checked when the figure is rendered;
- a cell that raises stops the run with the cell's source and the error.

And on the committed file (``check_committed``): a title, an introduction
that names the lecture, at least one figure, no stored outputs.
"""
from __future__ import annotations

import argparse
import base64
import pathlib
import re
import sys
import time

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"

# Run in the kernel before the notebook's first cell: refuse to render a
# figure whose axes have data but no labels.
_LABEL_CHECK = r'''
%matplotlib inline
import matplotlib
import matplotlib.backend_bases as _fg_bb

_fg_print_figure = _fg_bb.FigureCanvasBase.print_figure

def _fg_checked_print_figure(self, *args, **kwargs):
    problems = []
    for i, ax in enumerate(self.figure.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        if hasattr(ax, "_colorbar"):
            if not (ax.get_ylabel() or ax.get_xlabel()):
                problems.append(f"colour bar {i} has no label")
            continue
        if not (ax.has_data() or ax.images):
            continue
        missing = [n for n, lab in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if not lab]
        if missing:
            title = ax.get_title() or f"axes {i}"
            problems.append(f"{title!r}: no {' or '.join(missing)} label")
    if problems:
        raise AssertionError("figure with unlabelled axes: " + "; ".join(problems))
    return _fg_print_figure(self, *args, **kwargs)

_fg_bb.FigureCanvasBase.print_figure = _fg_checked_print_figure
del _fg_bb
'''


class NotebookFailed(AssertionError):
    pass


def notebook_paths():
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _text(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_committed(path) -> list[str]:
    """What is wrong with the file as committed (an empty list if nothing)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    problems = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not _text(cells[0]).lstrip().startswith("# "):
        problems.append("the first cell is not a markdown title ('# ...')")
    elif not re.search(r"lecture", _text(cells[0]), re.IGNORECASE):
        problems.append("the introduction does not name the lecture it follows")
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {i} has stored outputs (strip them before committing)")
    code = "\n".join(_text(c) for c in cells if c.cell_type == "code")
    if "plt." not in code and "matplotlib" not in code:
        problems.append("no matplotlib figure")
    if cells and cells[-1].cell_type != "markdown":
        problems.append("the last cell is not a markdown reading of the result")
    return problems


def execute(path, timeout: int = 300, kernel: str = "python3"):
    """Run the notebook in a fresh kernel; returns (executed notebook, seconds per cell)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = pathlib.Path(path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_LABEL_CHECK))
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    seconds = []
    original = client.async_execute_cell

    async def timed(cell, index, **kwargs):
        start = time.perf_counter()
        try:
            return await original(cell, index, **kwargs)
        finally:
            seconds.append((index - 1, time.perf_counter() - start))

    client.async_execute_cell = timed
    try:
        client.execute()
    except CellExecutionError as exc:
        raise NotebookFailed(f"{path.name}: a cell raised\n{exc}") from None
    nb.cells.pop(0)
    for i, cell in enumerate(nb.cells):   # errors IPython caught (in a figure's rendering, say)
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                raise NotebookFailed(f"{path.name}, cell {i}: {o.get('ename')}: {o.get('evalue')}\n"
                                     f"{_text(cell)}")
    return nb, seconds[1:]


def figures(nb):
    """The PNG figures an executed notebook shows, as (cell index, bytes)."""
    out = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            png = o.get("data", {}).get("image/png")
            if png:
                out.append((i, base64.b64decode(png)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: every notebook")
    parser.add_argument("--figures", help="write every figure shown as PNG files here")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = [pathlib.Path(p) for p in args.notebooks] or notebook_paths()
    failed = False
    for path in paths:
        for p in check_committed(path):
            print(f"{path.name}: {p}")
        start = time.perf_counter()
        try:
            nb, seconds = execute(path, timeout=args.timeout)
        except NotebookFailed as exc:
            print(exc)
            failed = True
            continue
        total = time.perf_counter() - start
        slow = ", ".join(f"cell {i}: {s:.1f} s" for i, s in seconds if s > 1.0)
        print(f"{path.name}: {total:.1f} s in all" + (f" ({slow})" if slow else ""))
        if args.figures:
            folder = pathlib.Path(args.figures)
            folder.mkdir(parents=True, exist_ok=True)
            for k, (cell, png) in enumerate(figures(nb)):
                name = folder / f"{path.stem}_cell{cell:02d}_{k}.png"
                name.write_bytes(png)
                print(f"  figure: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
