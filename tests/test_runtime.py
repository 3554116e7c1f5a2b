"""Process-wide defaults (winback/_runtime.py): the allocator keeps freed memory, and
Arrow allocates from the same heap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# In a fresh interpreter (importing winback applies the setting): allocate a block the
# size of a scoring chunk's buffer and print how much of the heap is mapped on its own.
PROBE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] == "import":
    import winback._runtime as runtime
    print(runtime.keep_freed_memory())
else:
    print(None)
block = libc.malloc(32 * 2**20)
print(libc.mallinfo2().hblkhd)
import pyarrow
print(pyarrow.default_memory_pool().backend_name)
"""


def probe(how: str, **env: str) -> tuple[str, int, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GLIBC_TUNABLES", "ARROW_DEFAULT_MEMORY_POOL")
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, how],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1]), out[2]


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only"
)


def test_blocks_of_a_chunks_size_come_from_the_reused_heap() -> None:
    applied, mapped, arrow_pool = probe("import")
    assert applied == "True"
    assert mapped < 32 * 2**20  # from the heap, which keeps freed memory for reuse
    assert arrow_pool == "system"  # Arrow's frames from the same heap
    # Without the setting glibc maps such a block on its own (and unmaps it when freed),
    # and Arrow keeps its own pool.
    _, mapped_by_default, default_pool = probe("none")
    assert mapped_by_default >= 32 * 2**20
    assert default_pool != "system"


def test_an_allocator_tuned_by_the_user_or_switched_off_is_left_alone() -> None:
    for env in (
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"},
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"WINBACK_KEEP_FREED_MEMORY": "0"},
    ):
        applied, mapped, arrow_pool = probe("import", **env)
        assert applied == "False", env
        assert mapped >= 32 * 2**20, env
        assert arrow_pool != "system", env
    # A pool the user chose for Arrow is theirs.
    assert probe("import", ARROW_DEFAULT_MEMORY_POOL="jemalloc")[2] == "jemalloc"
