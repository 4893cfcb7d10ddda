"""Compile one generated module in this (separate) process, for the argument
types given, so that Numba writes its disk cache; see ``_compile_in_process``
and ``compile_chunks_ahead``.

    python -m funcgrad.backends.numba_backend._worker MODULE_PATH DIGEST ARG_SPECS_JSON
    python -m funcgrad.backends.numba_backend._worker --functions MODULE_PATH DIGEST SIGNATURES_JSON

The second form compiles only the named functions of the module (chunk
functions of a large program, each with its argument specs).
"""
import json
import sys

from funcgrad.backends.numba_backend import (_compile_dispatcher, _compile_functions,
                                             _module_from_file, _sample)


def main(argv):
    if argv[0] == "--functions":
        path, digest, signatures = argv[1:]
        _compile_functions(_module_from_file(path, digest), json.loads(signatures))
        return
    path, digest, specs = argv
    mod = _module_from_file(path, digest)   # refuses a file that no longer holds the program
    _compile_dispatcher(mod, [_sample(s) for s in json.loads(specs)])


if __name__ == "__main__":
    main(sys.argv[1:])
