"""``Pipeline``: named passes applied in order, with a printable record."""
from __future__ import annotations

from ..core.ir import Program
from .verify import verify as _verify

__all__ = ["Pipeline", "PassTrace", "count_eqns"]


def count_eqns(program: Program) -> int:
    """Equations of ``program``, those of loop bodies and branches included."""
    from ._util import subprograms

    return sum(1 + sum(count_eqns(p) for p in subprograms(e)) for e in program.eqns)


class PassTrace:
    """The program before the passes and after each one: ``stages`` is a list
    of ``(name, Program)``, the first ``("traced", input)``. Printing it shows
    every stage with its equation count."""

    def __init__(self, stages):
        self.stages = list(stages)

    @property
    def input(self) -> Program:
        return self.stages[0][1]

    @property
    def output(self) -> Program:
        return self.stages[-1][1]

    def counts(self) -> list:
        """``[(name, equations)]`` per stage (bodies included)."""
        return [(name, count_eqns(p)) for name, p in self.stages]

    def summary(self) -> str:
        return " -> ".join(f"{name} {n}" for name, n in self.counts())

    def __iter__(self):
        return iter(self.stages)

    def __len__(self):
        return len(self.stages)

    def __getitem__(self, key):
        """A stage's program by position or by pass name."""
        if isinstance(key, str):
            for name, p in self.stages:
                if name == key:
                    return p
            raise KeyError(key)
        return self.stages[key][1]

    def __str__(self):
        parts = []
        for i, (name, p) in enumerate(self.stages):
            title = "as traced" if i == 0 else f"after {name}"
            parts.append(f"# {i}. IR {title} ({count_eqns(p)} equations)\n{p}")
        return "\n\n".join(parts)

    __repr__ = __str__


class Pipeline:
    """An ordered list of named passes, each a pure ``Program -> Program``.

        pipeline = Pipeline([("simplify", simplify), ("cse", cse), ("dce", dce)])
        optimized = pipeline.run(program)
        print(pipeline.run(program, record=True))   # the IR after every pass

    ``verify=True`` checks the IR's invariants after every pass
    (:func:`funcgrad.passes.verify`)."""

    def __init__(self, passes, *, verify: bool = False):
        self.passes = []
        for p in passes:
            name, fn = (p if isinstance(p, tuple) else (getattr(p, "__name__", repr(p)), p))
            self.passes.append((str(name), fn))
        self.verify = verify

    @property
    def names(self) -> list:
        return [n for n, _ in self.passes]

    def run(self, program: Program, record: bool = False):
        """The program after every pass; with ``record=True`` a
        :class:`PassTrace` of every stage instead."""
        stages = [("traced", program)] if record else None
        for name, fn in self.passes:
            program = fn(program)
            if self.verify:
                _verify(program, f"after {name}")
            if record:
                stages.append((name, program))
        return PassTrace(stages) if record else program

    __call__ = run

    def __repr__(self):
        return f"Pipeline({' -> '.join(self.names) or 'empty'})"
