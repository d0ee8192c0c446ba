"""heap_dlopen: an allocator loaded with dlopen() while traced, for --heap.

    /usr/bin/python3 heap_dlopen.py LIBMIMALLOC

Loads mimalloc with ctypes (dlopen; it copes with that, unlike the
initial-exec TLS of Debian's jemalloc and tcmalloc), then allocates 64 blocks
of 256 KiB with mi_malloc and 4096 of 1000 bytes with mi_calloc, touches them,
prints their bytes ("LIVE N"), frees them with mi_free. Checkpoints as memops:
"READY start" (before loading), "READY loaded" (loaded, nothing allocated: the
tracer probes a library when it reads its mapping), "READY burst", "READY
freed", each waiting for a line on stdin (EOF: exit 0), then DONE.
"""
import ctypes
import sys


def ready(label):
    print(f"READY {label}", flush=True)
    if not sys.stdin.readline():
        sys.exit(0)


def main():
    ready("start")
    mi = ctypes.CDLL(sys.argv[1])
    for name in ("mi_malloc", "mi_calloc"):
        getattr(mi, name).restype = ctypes.c_void_p
    mi.mi_malloc.argtypes = [ctypes.c_size_t]
    mi.mi_calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    mi.mi_free.argtypes = [ctypes.c_void_p]
    ready("loaded")
    blocks, live = [], 0
    for _ in range(64):
        blocks.append(mi.mi_malloc(256 << 10))
        live += 256 << 10
    for _ in range(4096):
        blocks.append(mi.mi_calloc(10, 100))
        live += 1000
    for i, p in enumerate(blocks):
        ctypes.memset(p, 1, (256 << 10) if i < 64 else 1000)
    print(f"LIVE {live}", flush=True)
    ready("burst")
    for p in blocks:
        mi.mi_free(p)
    print("LIVE 0", flush=True)
    ready("freed")
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
