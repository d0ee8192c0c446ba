"""py_objects: CPython small-object workload for arenatrace's allocator tests.

    /usr/bin/python3 py_objects.py [MIB]

Creates about MIB MiB (default 96) of small objects (tuples, floats, short
strings: all <= 512 bytes, so obmalloc puts them in its arenas), drops 3 in 4
of them in a scattered pattern (survivors pin the arenas), then checkpoints with
the same protocol as memops: `READY objects` on stdout, then it blocks until a
line arrives on stdin (EOF: exit 0), then `DONE`.
"""
import gc
import os
import sys


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 96
    gc.disable()  # no collection while the test looks
    per_obj = 24 + 64 + 56 + 56  # float + str + two tuples, roughly
    n = mib * (1 << 20) // per_obj
    # Chunks of lists, so that no single list's pointer array gets huge.
    chunks = []
    for start in range(0, n, 4096):
        chunk = []
        for i in range(start, min(n, start + 4096)):
            chunk.append((float(i) + 0.5, ("s%07d" % i, (i, i + 1))))
        chunks.append(chunk)
    for chunk in chunks:
        del chunk[1::4]
        del chunk[1::3]  # 1 in 2 survive so far
        del chunk[1::2]  # 1 in 4
    os.write(1, b"READY objects\n")
    line = sys.stdin.readline()
    if not line:
        return
    del chunks
    os.write(1, b"DONE\n")


if __name__ == "__main__":
    main()
