"""How many threads the engine's numerical work uses, as torch.set_num_threads / torch.get_num_threads.

The threads are those of numpy's BLAS (OpenBLAS): the matrix products are the part of a step that runs
on several cores, every other numpy call runs on the calling thread. The default is what the process may
use: the CPUs of its affinity mask, capped by OMP_NUM_THREADS or OPENBLAS_NUM_THREADS when set, which is
also what OpenBLAS starts with, so a process started with OPENBLAS_NUM_THREADS=1 reports and keeps one.

set_num_threads(n) changes numpy's OpenBLAS at run time, through the library numpy loaded (found in the
process's memory map, Linux only). Elsewhere, or with another BLAS, it only records n; set the BLAS's own
environment variable before the process starts instead.

There is no pool of our own for the elementwise work: a second Python thread running numpy calls on the
other core gains nothing while OpenBLAS's threads are awake, because after every threaded product they spin
on the CPUs for about 0.1 s (see the README's "Threads").
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Checked in this order; the first set to a positive integer caps the default.
THREAD_LIMIT_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# Exported names of openblas_set_num_threads in the builds numpy ships with or links against.
_SETTER_NAMES = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def default_num_threads() -> int:
    """The CPUs this process may run on, capped by OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when set."""
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        threads = os.cpu_count() or 1
    for name in THREAD_LIMIT_VARIABLES:
        value = os.environ.get(name, "").split(",")[0].strip()  # OpenMP allows a list, one count per level
        if value.isdigit() and int(value) >= 1:
            threads = min(threads, int(value))
    return max(threads, 1)


@functools.cache  # numpy's libraries stay loaded: the memory map is read once
def _numpy_openblas_setter() -> Callable[[int], None] | None:
    """openblas_set_num_threads of the OpenBLAS numpy loaded, or None when there is none to be found."""
    maps = Path("/proc/self/maps")
    if not sys.platform.startswith("linux") or not maps.exists():
        return None
    numpy_home = str(Path(np.__file__).resolve().parent)  # the wheel's libraries are in numpy.libs beside it
    libraries = {line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.rsplit("/", 1)[-1]}
    for path in sorted(libraries, key=lambda path: not path.startswith(numpy_home)):
        try:
            library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)  # only a library already loaded
        except OSError:
            continue
        for name in _SETTER_NAMES:
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                return setter  # type: ignore[no-any-return]
    return None


_num_threads = default_num_threads()


def get_num_threads() -> int:
    """The number of threads the engine's work may use (see the module's docstring)."""
    return _num_threads


def set_num_threads(threads: int) -> None:
    """Use `threads` threads from now on: numpy's OpenBLAS is set to it when it can be found."""
    global _num_threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads needs a positive int, got {threads!r}")
    setter = _numpy_openblas_setter()
    if setter is not None:
        setter(threads)
    _num_threads = threads
