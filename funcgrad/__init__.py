"""funcgrad: JIT-compiled functional automatic differentiation.

    import funcgrad as fg
    import funcgrad.numpy as fnp

    g = fg.grad(loss)(params, x, y)
    print(fg.make_ir(fg.grad(loss))(params, x, y))
"""
from . import numpy  # noqa: F401  (installs NumPy's operators on traced values)
from . import config, tree
from . import optim
from . import random
from . import data
from . import nn
from .api import grad, make_ir, stop_gradient, value_and_grad, vjp
from .jacobians import hessian, hvp, jacfwd, jacobian, jacrev, jvp, linearize
from .vectorize import vmap
from .core.ir import Program, ShapedArray
from .jit import Lowered, jit
from .control_flow import cond, fori_loop, scan, switch, while_loop
from .custom_derivatives import CustomRuleError, checkpoint, custom_jvp, custom_vjp, remat
from .device_array import DeviceArray, device_get, device_put
from .errors import (DtypeError, FuncgradError, InputError, LeakedTracerError, ShapeError,
                     TracerBoolError, TreeError, UnsupportedError)

__version__ = "0.1.0"


def clear_cache():
    """Delete funcgrad's on-disk cache of generated and compiled programs."""
    from .backends.numba_backend import clear_cache as _clear

    _clear()

__all__ = ["fori_loop", "while_loop", "scan", "cond", "switch", "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "jacobian", "hessian",
           "hvp", "vmap", "custom_jvp", "custom_vjp", "checkpoint", "remat", "CustomRuleError", "make_ir", "stop_gradient", "jit", "Lowered", "tree", "numpy", "config", "optim", "random", "data", "clear_cache",
           "DeviceArray", "device_put", "device_get", "Program", "ShapedArray", "FuncgradError", "ShapeError", "DtypeError", "InputError",
           "TracerBoolError", "TreeError", "UnsupportedError", "LeakedTracerError", "__version__"]
