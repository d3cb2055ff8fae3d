"""The worker returns freed C heap memory to the OS: its RSS follows what it holds, not its peak."""

import os
import subprocess
import sys
import textwrap

# Fragment glibc's heap the way a batch does: many payloads over pymalloc's 512 bytes, a few kept
# (as cached states are) between the ones freed. free() returns only the heap's top to the OS.
SCRIPT = textwrap.dedent("""
    import psutil
    from streams.runtime import native_heap

    rss = lambda: psutil.Process().memory_info().rss
    batch = [bytes(2048) + i.to_bytes(4, "little") for i in range(60_000)]
    kept = batch[::500]
    del batch
    before = rss()
    released = native_heap.trim()
    print(released, (before - rss()) >> 20, len(kept))
""")


def test_trim_returns_the_pages_a_freed_batch_left_between_kept_values():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    released, mib, kept = out.stdout.split()
    assert released == "True" and int(kept) == 120
    assert int(mib) >= 80  # of the ~120 MiB the batch took


def test_arenas_are_limited_unless_the_environment_says_otherwise():
    probe = "from streams.runtime import native_heap; print(native_heap.limit_arenas())"
    env_free = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"})
    assert env_free.stdout.strip() == "True"
    chosen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "MALLOC_ARENA_MAX": "4"})
    assert chosen.stdout.strip() == "False"
