"""Ground truth for arenatrace's tests: what the kernel really has resident.

Resident pages are counted from /proc/PID/pagemap the way the kernel's RSS
counters count them: present, and not the shared zero page nor the huge zero
page (both mapped on read faults, neither counted in RSS). Special mappings
without struct pages ([vvar], [vvar_vclock], [vsyscall]) are skipped.
Needs root (PFNs are hidden from others, /proc/kpageflags is root-only).
"""
import array
import os

PAGE = 4096
PM_PRESENT = 1 << 63
PM_PFN_MASK = (1 << 55) - 1
KPF_ZERO_PAGE = 1 << 24
SKIP_NAMES = ("[vvar]", "[vvar_vclock]", "[vsyscall]")

_zero_pfn_cache = {}  # pfn -> True if it is a (huge) zero page


def parse_maps(pid):
    """[(start, end, perms, name)] from /proc/PID/maps."""
    vmas = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5].strip() if len(parts) > 5 else ""
            vmas.append((start, end, parts[1], name))
    return vmas


def _zero_flags(pfns):
    """Look up pfns not seen yet in /proc/kpageflags, in contiguous chunks."""
    todo = sorted(p for p in set(pfns) if p not in _zero_pfn_cache)
    if not todo:
        return
    with open("/proc/kpageflags", "rb", buffering=0) as kf:
        i = 0
        while i < len(todo):
            first = todo[i]
            j = i
            while j + 1 < len(todo) and todo[j + 1] - first < 4096:
                j += 1
            count = todo[j] - first + 1
            data = os.pread(kf.fileno(), count * 8, first * 8)
            flags = array.array("Q")
            flags.frombytes(data[: len(data) // 8 * 8])
            for p in todo[i : j + 1]:
                k = p - first
                _zero_pfn_cache[p] = k < len(flags) and bool(flags[k] & KPF_ZERO_PAGE)
            i = j + 1


class Snapshot:
    """Per-page residency of every VMA of a process at one moment."""

    def __init__(self, pid):
        self.pid = pid
        self.vmas = parse_maps(pid)
        self.resident = {}  # (start, end) -> bytearray, 1 per resident page
        self.zero_pages = 0
        with open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pm:
            for start, end, _perms, name in self.vmas:
                if name in SKIP_NAMES:
                    continue
                n = (end - start) // PAGE
                data = os.pread(pm.fileno(), n * 8, start // PAGE * 8)
                ents = array.array("Q")
                ents.frombytes(data[: len(data) // 8 * 8])
                present = [(i, e & PM_PFN_MASK) for i, e in enumerate(ents) if e & PM_PRESENT]
                if present and all(pfn == 0 for _, pfn in present):
                    raise PermissionError("pagemap hides PFNs: ground truth needs root")
                _zero_flags(pfn for _, pfn in present)
                bits = bytearray(n)
                for i, pfn in present:
                    if _zero_pfn_cache.get(pfn):
                        self.zero_pages += 1
                    else:
                        bits[i] = 1
                self.resident[(start, end)] = bits
        self.rss_rollup = smaps_rollup_rss(pid)

    def resident_bytes(self, ranges):
        """Resident bytes inside the half-open ranges [(start, end), ...]."""
        total = 0
        for rs, re_ in ranges:
            for (vs, ve), bits in self.resident.items():
                lo, hi = max(rs, vs), min(re_, ve)
                if lo < hi:
                    total += bits.count(1, (lo - vs) // PAGE, (hi - vs + PAGE - 1) // PAGE)
        return total * PAGE

    def mapped_bytes(self, ranges):
        """Bytes of the half-open ranges that /proc/PID/maps shows mapped."""
        total = 0
        for rs, re_ in ranges:
            for vs, ve, _perms, name in self.vmas:
                if name in SKIP_NAMES:
                    continue
                lo, hi = max(rs, vs), min(re_, ve)
                if lo < hi:
                    total += hi - lo
        return total

    def total_mapped(self):
        return sum(ve - vs for vs, ve, _p, name in self.vmas if name not in SKIP_NAMES)

    def total_bytes(self):
        return sum(b.count(1) for b in self.resident.values()) * PAGE

    def vma_at(self, addr):
        for v in self.vmas:
            if v[0] <= addr < v[1]:
                return v
        return None

    def same_as(self, other):
        return self.vmas == other.vmas and self.resident == other.resident


def smaps_rollup_rss(pid):
    """Rss from /proc/PID/smaps_rollup, in bytes."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Rss in /proc/{pid}/smaps_rollup")


def resident_bytes(pid, ranges):
    """One-shot: resident bytes of pid inside ranges."""
    return Snapshot(pid).resident_bytes(ranges)


if __name__ == "__main__":
    import sys

    pid = int(sys.argv[1])
    snap = Snapshot(pid)
    print(f"pid {pid}: pagemap resident {snap.total_bytes()} B, smaps_rollup Rss "
          f"{snap.rss_rollup} B, zero-page mappings {snap.zero_pages}")
    for (s, e), bits in snap.resident.items():
        n = bits.count(1)
        if n:
            name = next(v[3] for v in snap.vmas if v[0] == s)
            print(f"  {s:x}-{e:x} {n * PAGE // 1024:>8} kB {name}")
