"""The worker returns freed C heap memory to the OS: its RSS follows what it holds, not its peak."""

import os
import subprocess
import sys
import textwrap

# Fragment glibc's heap the way a batch does: many payloads over pymalloc's 512 bytes, a few kept
# (as cached states are) between the ones freed. free() returns only the heap's top to the OS.
SCRIPT = textwrap.dedent("""
    import psutil
    from streams.process import native_heap

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
    probe = "from streams.process import native_heap; print(native_heap.limit_arenas())"
    env_free = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"})
    assert env_free.stdout.strip() == "True"
    chosen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "MALLOC_ARENA_MAX": "4"})
    assert chosen.stdout.strip() == "False"


# A block freed once raises glibc's mmap threshold to its size; from then on blocks that large come
# from the heap, and those freed between kept ones stay in the RSS until a trim.
LARGE_BLOCKS = textwrap.dedent("""
    import sys
    import psutil
    from streams.process import native_heap

    if sys.argv[1] == "limited":
        native_heap.limit_arenas()
    rss = lambda: psutil.Process().memory_info().rss
    big = bytearray(8 << 20)
    del big  # freed: glibc's threshold rises to 8 MiB
    blocks, kept = [], []
    for i in range(200):
        blocks.append(bytearray(256 * 1024))
        blocks[-1][::4096] = b"x" * 64  # touched: resident
        kept.append(bytearray(1024))
    before = rss()
    del blocks
    print((before - rss()) >> 20, len(kept))
""")


def test_blocks_of_an_envelopes_size_go_back_to_the_os_when_freed():
    def released(mode: str) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        out = subprocess.run([sys.executable, "-c", LARGE_BLOCKS, mode], capture_output=True, text=True,
                             check=True, env=env)
        return int(out.stdout.split()[0])

    assert released("limited") >= 40  # of the 50 MiB the blocks took, without a trim
    assert released("default") < 10  # glibc's own threshold kept them in the heap
