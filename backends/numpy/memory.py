"""Ask the C allocator to keep freed memory, so a training step does not page-fault.

A training step allocates a few megabytes of temporary arrays (attention scores, MLP
activations ...) and frees them all at the end. glibc's malloc then hands the top of
its heap back to the operating system (it "trims" anything above 128 KB by default),
and the next step gets fresh pages from the kernel, each one a page fault on first
touch. On this model that doubled the time of a 32-name step. Raising the trim and
mmap thresholds makes freed memory stay in the process for the next step.

The setting is process-wide and harmless: the process holds on to at most
`TRIM_THRESHOLD` bytes of freed memory instead of returning them. On other C libraries
(macOS, musl) nothing happens and training is just slower.
"""

from __future__ import annotations

import ctypes

# mallopt parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 64 << 20  # keep up to 64 MiB of freed memory
MMAP_THRESHOLD = 16 << 20  # serve arrays below 16 MiB from the heap, not from mmap

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's trim and mmap thresholds once per process; True if that worked."""
    global _done
    if _done:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return _done
