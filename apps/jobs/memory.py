"""Handing freed memory back to the system after /free: Python's unreachable objects, the
accelerator's cached blocks, and the C heap. glibc keeps the blocks of freed tensors for
reuse, so a process whose caches were just emptied kept its size (RSS did not drop after
/free) until `malloc_trim` returns what it can."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys


def give_back_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")  # only if something loaded it: nothing to free else
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    _trim_c_heap()


def _trim_c_heap() -> None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl): nothing to trim
        return
    trim(0)
