"""Keep the memory numpy frees inside the process, so the next training step does not fault it in again.

A training step allocates and frees the same large arrays every step: activations, gradients, attention
scores, 1-8 MB each. By default glibc serves a block above a threshold with an mmap of its own, which
free() unmaps, and hands the free top of its heap back to the OS once more than a threshold is free
there; either way the next step touches fresh pages, and the kernel faults in and zeroes each 4 KiB
page: about 1.6 µs a page measured here, a third of a Transformer layer's step (10 700 faults a step
at seq 128). The kernels' buffer pool (`nn.buffers`) avoids this for their own work arrays; this does
it for every array.

`keep_freed_memory()` sets glibc's M_MMAP_THRESHOLD to 32 MiB (the largest value glibc's own dynamic
threshold reaches) and M_TRIM_THRESHOLD to 1 GiB, so freed blocks stay in the heap for the next
allocation. The process's resident memory then stays at its peak instead of shrinking between steps.
It is called when the process creates its first optimizer (`for_training()`): a process that trains, not
one that only imports the library (the API, which lists the apps, keeps glibc's defaults), unless the
environment variable AZURAFORGE_KEEP_FREED_MEMORY is "0". The settings are process-wide: they apply to
every allocation through malloc (PyTorch's CPU tensors too). Elsewhere than on Linux with glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Set glibc's thresholds as described above; True if they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # noqa: B018 (present in glibc only: mallopt's options differ elsewhere)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


_kept: bool | None = None


def for_training() -> bool:
    """keep_freed_memory() once per process, unless AZURAFORGE_KEEP_FREED_MEMORY is "0"; whether it is kept."""
    global _kept
    if _kept is None:
        _kept = os.environ.get("AZURAFORGE_KEEP_FREED_MEMORY", "1") != "0" and keep_freed_memory()
    return _kept


def keeps_freed_memory() -> bool:
    """Whether this process keeps freed memory (its first optimizer has been created, and it could)."""
    return bool(_kept)
