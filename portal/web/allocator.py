"""How a long-lived server process keeps the memory it frees: for its next request.

The dashboards decode their stored distributions with numpy into arrays of hundreds of
kilobytes to megabytes each, and free them at the end of the request. glibc gives an allocation
above its mmap threshold fresh pages from the kernel and hands them back when it is freed; below
it, memory at the top of the heap is handed back once more than the trim threshold is free.
Either way the next request's arrays fault their pages in again: at a million reports that
made a dashboard a fifth slower (README, "Workers": ``bench/scale.py``, which sets its process
up the same way, against ``--default-allocator``).

A gunicorn worker (``portal/web/gunicorn_conf.py``) therefore raises the mmap threshold to its
largest (32 MiB) and keeps up to 64 MiB free before returning any, in each of at most two
arenas (glibc would give 32 threads up to 8 arenas a core, each keeping its own free memory): a
worker keeps at most 128 MiB more than it uses (about 100 MiB at 1M reports, measured by
``bench/supervisor_load.py``), and ``max_requests`` recycles workers now and then anyway.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024
# Each arena keeps up to TRIM_THRESHOLD free, and glibc gives threads up to 8 arenas a core:
# two bound what a worker of 32 threads keeps (its threads take turns on the GIL anyway).
ARENAS = 2


def keep_freed_memory() -> bool:
    """Apply the settings above to this process's allocator. False where there is no glibc
    ``mallopt`` (another C library or system): nothing changes then."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # glibc by its soname: find_library would run ldconfig in every worker to learn it.
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(
        mallopt(parameter, value)
        for parameter, value in (
            (M_ARENA_MAX, ARENAS),
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        )
    )
