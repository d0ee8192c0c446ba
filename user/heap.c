/*
 * Heap mode (see heap.h): loading bpf/heap.bpf.c, probing the allocators'
 * files, and turning the kernel's per-page live bytes into per-arena figures.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "allocators.h"
#include "arenatrace_records.h"
#include "heap_records.h"
#include "heap.skel.h"
#include "growable.h"
#include "heap.h"
#include "heap_attach.h"
#include "procmaps.h"
#include "stacks.h"

/* A file whose entry points are probed, by identity (one inode, many paths). */
struct probed_file {
	dev_t dev;
	ino_t ino;
};

/* A stack-sampled block still live: where its weight sits in the inuse profile. */
struct sampled_block {
	uint64_t addr;       /* 0: empty slot */
	int64_t cell;
	uint64_t weight;
};

struct heap {
	struct heap_config c;
	struct heap_bpf *skel;
	struct ring_buffer *rb;
	int nr_cpus;
	struct bpf_link **links;
	size_t nr_links, cap_links;
	size_t exec_links;               /* links that are not uprobes */
	struct probed_file *files;
	size_t nr_files, cap_files;
	bool rescan_due;
	uint64_t probe_failures;
	uint64_t unplaced_bytes;
	/* The inuse profile: open addressing over sampled blocks (no tombstones:
	 * backward-shift deletion). */
	struct sampled_block *sampled;
	size_t sampled_cap, sampled_nr;
	struct stacks *stacks;           /* for the drain callback */
	const struct ledger *ledger;
	/* The per-tick page read. */
	uint64_t *keys;
	int64_t *vals;
	uint64_t *dead;                  /* page keys to delete */
	size_t cap_dead;
	uint64_t ticks;
};

/* Ticks per page map epoch. */
#define HEAP_EPOCH_TICKS 8

#define BATCH 4096

/* ---- the inuse profile's sampled blocks ----------------------------------------- */

static size_t slot_of(const struct heap *h, uint64_t addr)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ULL;

	return (size_t)(x >> 20) & (h->sampled_cap - 1);
}

static void sampled_put(struct heap *h, uint64_t addr, int64_t cell, uint64_t weight);

static void sampled_grow(struct heap *h)
{
	struct sampled_block *old = h->sampled;
	size_t cap = h->sampled_cap;

	h->sampled_cap = cap ? cap * 2 : 1024;
	h->sampled = calloc(h->sampled_cap, sizeof(*h->sampled));
	if (!h->sampled)
		abort();
	h->sampled_nr = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i].addr)
			sampled_put(h, old[i].addr, old[i].cell, old[i].weight);
	free(old);
}

static void sampled_put(struct heap *h, uint64_t addr, int64_t cell, uint64_t weight)
{
	size_t k;

	if ((h->sampled_nr + 1) * 2 > h->sampled_cap)
		sampled_grow(h);
	for (k = slot_of(h, addr); h->sampled[k].addr && h->sampled[k].addr != addr; k = (k + 1) & (h->sampled_cap - 1))
		;
	if (!h->sampled[k].addr)
		h->sampled_nr++;
	h->sampled[k] = (struct sampled_block){ .addr = addr, .cell = cell, .weight = weight };
}

static bool sampled_take(struct heap *h, uint64_t addr, struct sampled_block *out)
{
	size_t mask = h->sampled_cap - 1, k, j;

	if (!h->sampled_cap || !addr)
		return false;
	for (k = slot_of(h, addr); h->sampled[k].addr != addr; k = (k + 1) & mask)
		if (!h->sampled[k].addr)
			return false;
	*out = h->sampled[k];
	h->sampled[k].addr = 0;
	h->sampled_nr--;
	/* Backward shift: move later members of the cluster into the hole. */
	for (j = (k + 1) & mask; h->sampled[j].addr; j = (j + 1) & mask) {
		size_t home = slot_of(h, h->sampled[j].addr);

		if ((j > k && (home <= k || home > j)) || (j < k && home <= k && home > j)) {
			h->sampled[k] = h->sampled[j];
			h->sampled[j].addr = 0;
			k = j;
		}
	}
	return true;
}

/* ---- ring records ------------------------------------------------------------------ */

static int on_record(void *cookie, void *data, size_t len)
{
	struct heap *h = cookie;
	const struct arenatrace_heap_free_record *f = data;
	struct sampled_block b;

	uint32_t type;

	if (len < sizeof(__u32))
		return 0;
	/* The low 16 bits: the type, whatever the upper half holds (records are
	 * to lead with a u16 type and a u16 slot). */
	type = f->type & 0xffff;
	if (type == ARENATRACE_HEAP_REC_FREE && len >= sizeof(*f)) {
		if (h->stacks && sampled_take(h, f->addr, &b))
			stacks__heap_free(h->stacks, b.cell, (int64_t)b.weight);
		return 0;
	}
	if (type == ARENATRACE_REC_STACK && len >= sizeof(struct arenatrace_stack_record) && h->stacks) {
		const struct arenatrace_stack_record *r = data;
		int64_t cell = stacks__heap_alloc(h->stacks, h->ledger, r, len);

		if (cell >= 0)
			sampled_put(h, r->addr, cell, r->weight_bytes);
	}
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

struct heap *heap__new(const struct heap_config *c)
{
	struct heap *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		abort();
	h->c = *c;
	h->nr_cpus = libbpf_num_possible_cpus();
	h->skel = heap_bpf__open();
	if (!h->skel) {
		fprintf(stderr, "arenatrace: --heap: opening its BPF object failed: %s\n", strerror(errno));
		goto fail;
	}
	h->skel->rodata->target_tgid = (__u32)c->pid;
	h->skel->rodata->heap_sample_bytes = c->sample_bytes;
	h->skel->rodata->stack_mode = c->stack_mode;
	h->skel->rodata->stack_sample_bytes = c->stack_sample_bytes ? c->stack_sample_bytes : 512 * 1024;
	/* Sampled mode keeps few blocks. */
	if (c->sample_bytes)
		bpf_map__set_max_entries(h->skel->maps.blocks, 1 << 18);
	err = heap_bpf__load(h->skel);
	if (err) {
		fprintf(stderr, "arenatrace: --heap: loading its BPF programs failed: %s (run with -v for the "
			"verifier log)\n", strerror(-err));
		goto fail;
	}
	/* The exec hook only; the uprobes are attached per file (heap__rescan). */
	{
		struct bpf_link *link = bpf_program__attach(h->skel->progs.heap_exec);

		if (!link) {
			fprintf(stderr, "arenatrace: --heap: attaching to sched_process_exec failed: %s\n",
				strerror(errno));
			goto fail;
		}
		h->links = growable__reserve(h->links, &h->cap_links, h->nr_links + 1, sizeof(*h->links));
		h->links[h->nr_links++] = link;
		h->exec_links = 1;
	}
	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.heap_events), on_record, h, NULL);
	if (!h->rb) {
		fprintf(stderr, "arenatrace: --heap: ring buffer: %s\n", strerror(errno));
		goto fail;
	}
	h->keys = malloc(BATCH * sizeof(*h->keys));
	h->vals = malloc(BATCH * sizeof(*h->vals));
	if (!h->keys || !h->vals)
		abort();
	return h;
fail:
	heap__free(h);
	return NULL;
}

void heap__free(struct heap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nr_links; i++)
		bpf_link__destroy(h->links[i]);
	free(h->links);
	ring_buffer__free(h->rb);
	heap_bpf__destroy(h->skel);
	free(h->files);
	free(h->sampled);
	free(h->keys);
	free(h->vals);
	free(h->dead);
	free(h);
}

bool heap__probing(const struct heap *h)
{
	return h->nr_links > h->exec_links;
}

const char *heap__mode(const struct heap *h)
{
	return h->c.sample_bytes ? "sampled" : "exact";
}

uint64_t heap__sample_bytes(const struct heap *h)
{
	return h->c.sample_bytes;
}

/* ---- probing -------------------------------------------------------------------------- */

static bool file_probed(struct heap *h, const struct stat *st)
{
	for (size_t i = 0; i < h->nr_files; i++)
		if (h->files[i].dev == st->st_dev && h->files[i].ino == st->st_ino)
			return true;
	return false;
}

static struct bpf_link *attach_one(struct heap *h, struct bpf_program *prog, const char *path,
				   const struct heap_probe *p, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = p->cookie, .retprobe = ret);
	struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, h->c.pid, path, p->offset, &opts);

	if (!link) {
		if (h->c.verbose || !h->probe_failures)
			fprintf(stderr, "arenatrace: --heap: cannot attach a uprobe%s to %s in %s: %s\n",
				ret ? " (return)" : "", p->name, path, strerror(errno));
		h->probe_failures++;
		return NULL;
	}
	h->links = growable__reserve(h->links, &h->cap_links, h->nr_links + 1, sizeof(*h->links));
	h->links[h->nr_links++] = link;
	return link;
}

/*
 * Probes the allocator entry points of one file (once per inode). cxx: also the
 * C++ operators (an allocator library's own). Returns 1 when probed now, 0 when
 * it has none or was done before, -1 when a probe failed.
 */
static int probe_file(struct heap *h, const char *path, bool cxx)
{
	struct heap_probe *p;
	struct stat st;
	size_t n;
	uint64_t failures = h->probe_failures;

	if (stat(path, &st) || file_probed(h, &st))
		return 0;
	h->files = growable__reserve(h->files, &h->cap_files, h->nr_files + 1, sizeof(*h->files));
	h->files[h->nr_files++] = (struct probed_file){ .dev = st.st_dev, .ino = st.st_ino };
	p = heap_attach__scan(path, cxx, &n);
	for (size_t i = 0; i < n; i++) {
		if (!attach_one(h, h->skel->progs.heap_enter, path, &p[i], false))
			continue;
		if (ARENATRACE_HEAP_CLASS(p[i].cookie) != ARENATRACE_HEAP_FREE)
			attach_one(h, h->skel->progs.heap_exit, path, &p[i], true);
	}
	if (h->c.verbose && n)
		fprintf(stderr, "arenatrace: --heap: %zu entry points probed in %s\n", n, path);
	free(p);
	if (h->probe_failures > failures)
		return -1;
	return n ? 1 : 0;
}

/* The executable: its own allocator, when it defines one (static jemalloc, Rust). */
static int probe_exe(struct heap *h)
{
	char exe[64];

	snprintf(exe, sizeof(exe), "/proc/%d/exe", h->c.pid);
	return probe_file(h, exe, true);
}

static void probe_preloads(struct heap *h, int *files, bool *failed)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
					    "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib" };
	char path[64], *env = NULL, *p, *save = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "/proc/%d/environ", h->c.pid);
	f = fopen(path, "re");
	if (!f)
		return;
	/* NUL-separated NAME=value strings; only LD_PRELOAD matters. */
	for (;;) {
		len = 0;
		while ((c = fgetc(f)) != EOF && c) {
			env = growable__reserve(env, &cap, len + 2, 1);
			env[len++] = (char)c;
		}
		if (env)
			env[len] = '\0';
		if (env && !strncmp(env, "LD_PRELOAD=", 11))
			break;
		if (c == EOF) {
			len = 0;
			break;
		}
	}
	fclose(f);
	if (!len) {
		free(env);
		return;
	}
	for (p = strtok_r(env + 11, ": \t", &save); p; p = strtok_r(NULL, ": \t", &save)) {
		char full[4096];
		int r = 0;

		if (strchr(p, '/')) {
			snprintf(full, sizeof(full), "%s", p);
		} else {
			size_t i;

			for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
				snprintf(full, sizeof(full), "%s/%s", dirs[i], p);
				if (!access(full, R_OK))
					break;
			}
			if (i == sizeof(dirs) / sizeof(dirs[0]))
				continue;
		}
		if (heap_attach__is_allocator_lib(full))
			r = probe_file(h, full, true);
		if (r > 0)
			(*files)++;
		else if (r < 0)
			*failed = true;
	}
	free(env);
}

int heap__attach_launch(struct heap *h)
{
	char exe[64], libc[256];
	bool failed = false;
	int files = 0, r;

	r = probe_exe(h);
	files += r > 0;
	failed |= r < 0;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", h->c.pid);
	if (heap_attach__find_libc(exe, libc, sizeof(libc))) {
		r = probe_file(h, libc, false);
		files += r > 0;
		failed |= r < 0;
	}
	probe_preloads(h, &files, &failed);
	return failed ? -1 : files;
}

struct rescan {
	struct heap *h;
	int files;
	bool failed;
};

static void rescan_one(void *cookie, const struct region *r)
{
	struct rescan *rs = cookie;
	char path[4352];
	int res;

	if (!region__is_file(r) || !(r->prot & 4 /* PROT_EXEC */) || !heap_attach__is_allocator_lib(r->path))
		return;
	/* Through the target's root: right in a container too. */
	snprintf(path, sizeof(path), "/proc/%d/root%s", rs->h->c.pid, r->path);
	res = probe_file(rs->h, path, !(allocators__from_path(r->path) & ALLOC_GLIBC));
	if (res > 0)
		rs->files++;
	else if (res < 0)
		rs->failed = true;
}

int heap__rescan(struct heap *h)
{
	struct rescan rs = { .h = h };
	int r;

	h->rescan_due = false;
	r = probe_exe(h);
	rs.files += r > 0;
	rs.failed |= r < 0;
	procmaps__for_each(h->c.pid, rescan_one, &rs);
	if (h->c.verbose)
		fprintf(stderr, "arenatrace: --heap: rescanned the maps: %d new files probed\n", rs.files);
	return rs.failed ? -1 : rs.files;
}

void heap__maps_changed(struct heap *h)
{
	h->rescan_due = true;
}

/* Deletes the keys of a hash map whose generation ((key >> shift) & mask) is not
 * gen: its keys first (a bounded walk), then each one. */
static void drop_stale(int fd, uint32_t max_entries, unsigned shift, uint64_t mask, uint64_t gen)
{
	uint64_t *keys = malloc((size_t)max_entries * sizeof(*keys));
	uint32_t n = 0;

	if (!keys)
		abort();
	if (!bpf_map_get_next_key(fd, NULL, &keys[0]))
		for (n = 1; n < max_entries && !bpf_map_get_next_key(fd, &keys[n - 1], &keys[n]); n++)
			;
	for (uint32_t i = 0; i < n; i++)
		if (((keys[i] >> shift) & mask) != (gen & mask))
			bpf_map_delete_elem(fd, &keys[i]);
	free(keys);
}

void heap__exec(struct heap *h)
{
	/* The probes stay on their files (a new image mapping the same libc is
	 * covered). The kernel started a new generation at the exec itself: the
	 * old image's blocks and pages are dropped, the new one's kept. */
	uint64_t gen = h->skel->bss->heap_gen;

	drop_stale(bpf_map__fd(h->skel->maps.blocks), bpf_map__max_entries(h->skel->maps.blocks), 48, ~0ULL, gen);
	drop_stale(bpf_map__fd(h->skel->maps.pages), bpf_map__max_entries(h->skel->maps.pages),
		   ARENATRACE_HEAP_GEN_SHIFT, ARENATRACE_HEAP_GEN_MASK, gen);
	free(h->sampled);
	h->sampled = NULL;
	h->sampled_cap = h->sampled_nr = 0;
	h->rescan_due = true;
}

int heap__drain(struct heap *h, struct stacks *stacks, const struct ledger *l)
{
	int n;

	if (h->rescan_due)
		heap__rescan(h);
	h->stacks = stacks;
	h->ledger = l;
	n = ring_buffer__consume(h->rb);
	return n == -EINTR ? 0 : n;
}

/* ---- every interval ------------------------------------------------------------------- */

void heap__tick(struct heap *h, struct ledger *l, struct sample *s)
{
	int fd = bpf_map__fd(h->skel->maps.pages);
	__u64 batch = 0;
	bool first = true;
	int64_t total = 0, unplaced = 0;
	uint64_t gen = h->skel->bss->heap_gen & ARENATRACE_HEAP_GEN_MASK;
	uint64_t epoch = h->skel->bss->heap_epoch & ARENATRACE_HEAP_EPOCH_MASK;
	size_t nr_dead = 0;
	struct heap_stats st;

	for (struct arena *a = l->arenas; a; a = a->next)
		a->live_bytes = 0;
	for (;;) {
		__u32 count = BATCH;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, h->keys, h->vals, &count, NULL);

		if (err && errno != ENOENT) {
			fprintf(stderr, "arenatrace: --heap: reading the live bytes failed: %s\n", strerror(errno));
			break;
		}
		for (__u32 i = 0; i < count; i++) {
			const struct region *r;

			uint64_t k = h->keys[i];

			/* The old image's (dropped at its exec record). */
			if (((k >> ARENATRACE_HEAP_GEN_SHIFT) & ARENATRACE_HEAP_GEN_MASK) != gen)
				continue;
			if (!h->vals[i]) {
				/* Dead for good when its epoch is over (see heap.bpf.c). */
				if (((k >> ARENATRACE_HEAP_EPOCH_SHIFT) & ARENATRACE_HEAP_EPOCH_MASK) != epoch) {
					h->dead = growable__reserve(h->dead, &h->cap_dead, nr_dead + 1, sizeof(*h->dead));
					h->dead[nr_dead++] = k;
				}
				continue;
			}
			total += h->vals[i];
			r = ledger__region_at(l, (k & ARENATRACE_HEAP_PAGE_MASK) << 12);
			if (r && r->arena)
				r->arena->live_bytes += h->vals[i];
			else
				unplaced += h->vals[i];
		}
		if (err)
			break;
		first = false;
	}
	for (size_t i = 0; i < nr_dead; i++)
		bpf_map_delete_elem(fd, &h->dead[i]);
	/* A new epoch now and then: the pages of the one that ends can be
	 * deleted once their blocks are all freed. */
	if (++h->ticks % HEAP_EPOCH_TICKS == 0)
		h->skel->bss->heap_epoch++;
	h->unplaced_bytes = unplaced > 0 ? (uint64_t)unplaced : 0;
	heap__stats(h, &st);
	s->heap = true;
	s->live_bytes = total > 0 ? (uint64_t)total : 0;
	s->retained_bytes = s->rss_bytes > s->live_bytes ? s->rss_bytes - s->live_bytes : 0;
	s->heap_unknown_frees = st.unknown_frees;
	s->heap_unplaced_bytes = h->unplaced_bytes;
	s->heap_lost = st.lost + st.blocks_full + st.pages_full;
}

void heap__stats(struct heap *h, struct heap_stats *out)
{
	__u64 vals[ARENATRACE_MAX_CPUS];
	uint64_t sums[ARENATRACE_HEAP_STAT_NR] = {0};
	int fd = bpf_map__fd(h->skel->maps.heap_stats);

	for (__u32 k = 0; k < ARENATRACE_HEAP_STAT_NR; k++) {
		if (h->nr_cpus <= 0 || h->nr_cpus > ARENATRACE_MAX_CPUS || bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int i = 0; i < h->nr_cpus; i++)
			sums[k] += vals[i];
	}
	*out = (struct heap_stats){
		.allocs = sums[ARENATRACE_HEAP_STAT_ALLOCS],
		.alloc_bytes = sums[ARENATRACE_HEAP_STAT_ALLOC_BYTES],
		.frees = sums[ARENATRACE_HEAP_STAT_FREES],
		.unknown_frees = sums[ARENATRACE_HEAP_STAT_UNKNOWN_FREES],
		.sampled = sums[ARENATRACE_HEAP_STAT_SAMPLED],
		.blocks_full = sums[ARENATRACE_HEAP_STAT_BLOCKS_FULL],
		.pages_full = sums[ARENATRACE_HEAP_STAT_PAGES_FULL],
		.lost = sums[ARENATRACE_HEAP_STAT_LOST],
		.nested = sums[ARENATRACE_HEAP_STAT_NESTED],
		.replaced = sums[ARENATRACE_HEAP_STAT_REPLACED],
		.probes = h->nr_links - h->exec_links,
		.probe_failures = h->probe_failures,
		.unplaced_bytes = h->unplaced_bytes,
	};
}
