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


# In a fresh interpreter with the freed memory kept: 200 MB in 100 KB blocks from the
# heap, every other block freed (holes between live blocks, which glibc cannot trim from
# the heap's top), then the resident size before and after handing the free pages back.
TRIM_PROBE = """
import ctypes
import winback._runtime as runtime
assert runtime.keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def resident():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
blocks = [libc.malloc(100 * 1024) for _ in range(2000)]
for block in blocks:
    libc.memset(block, 1, 100 * 1024)  # touched: resident
for block in blocks[::2]:
    libc.free(block)
before = resident()
runtime.hand_back_freed_memory()
print(before, resident())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator (Linux) only")
def test_freed_pieces_scattered_through_the_heap_are_handed_back() -> None:
    """hand_back_freed_memory (the feature read, between its columns):
    the free pages between live blocks leave the resident set."""
    clean = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    clean = {k: v for k, v in clean.items() if not k.startswith("MALLOC_")}
    clean.pop("WINBACK_KEEP_FREED_MEMORY", None)
    out = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True, env=clean
    ).stdout.split()
    before, after = int(out[0]), int(out[1])
    assert before - after >= 80, (before, after)  # ~100 MB of holes
