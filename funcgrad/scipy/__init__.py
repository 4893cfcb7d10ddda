"""``funcgrad.scipy``: SciPy's functions on traced values, written with
:mod:`funcgrad.numpy` so that every transformation and backend handles them.

- :mod:`funcgrad.scipy.special`: error and gamma functions, logistic, ``xlogy``,
  Bessel ``i0e``/``i1e``, ``logsumexp``/``softmax``.
- :mod:`funcgrad.scipy.stats`: ``norm``, ``multivariate_normal``, ``t``,
  ``gamma``, ``beta``, ``bernoulli``, ``poisson``.
- :mod:`funcgrad.scipy.linalg`: ``solve_triangular``, ``cho_factor``/``cho_solve``,
  ``lu_factor``/``lu_solve``, ``lu``, ``expm`` and SciPy's names of the
  :mod:`funcgrad.numpy.linalg` functions.
"""
from . import linalg, special, stats

__all__ = ["linalg", "special", "stats"]
