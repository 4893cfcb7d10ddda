"""Compile one generated module in this (separate) process, for the argument
types given, so that Numba writes its disk cache; see ``_compile_in_process``.

    python -m funcgrad.backends.numba_backend._worker MODULE_PATH DIGEST ARG_SPECS_JSON
"""
import json
import sys

from funcgrad.backends.numba_backend import _compile_dispatcher, _module_from_file, _sample


def main(argv):
    path, digest, specs = argv
    mod = _module_from_file(path, digest)   # refuses a file that no longer holds the program
    _compile_dispatcher(mod, [_sample(s) for s in json.loads(specs)])


if __name__ == "__main__":
    main(sys.argv[1:])
