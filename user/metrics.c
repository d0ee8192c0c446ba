#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

void metrics__label_value(FILE *out, const char *v)
{
	fputc('"', out);
	for (; v && *v; v++) {
		if (*v == '\\')
			fputs("\\\\", out);
		else if (*v == '"')
			fputs("\\\"", out);
		else if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
	fputc('"', out);
}

static int by_resident(const void *a, const void *b)
{
	const struct metrics_arena *x = a, *y = b;

	if (x->resident_bytes != y->resident_bytes)
		return x->resident_bytes < y->resident_bytes ? 1 : -1;
	return strcmp(x->id ? x->id : "", y->id ? y->id : "");   /* stable across scrapes */
}

/* A process's series: its top arenas, then the rest summed per kind. */
struct proc_view {
	const struct metrics_process *p;
	size_t nr_top;
	struct metrics_arena *other;    /* id "other", one per kind */
	size_t nr_other;
};

static int view_init(struct proc_view *v, struct metrics_process *p, unsigned top)
{
	memset(v, 0, sizeof(*v));
	v->p = p;
	if (p->nr_arenas)
		qsort(p->arenas, p->nr_arenas, sizeof(*p->arenas), by_resident);
	v->nr_top = top && p->nr_arenas > top ? top : p->nr_arenas;
	if (v->nr_top == p->nr_arenas)
		return 0;
	v->other = calloc(p->nr_arenas - v->nr_top, sizeof(*v->other));
	if (!v->other)
		return -ENOMEM;
	for (size_t i = v->nr_top; i < p->nr_arenas; i++) {
		const struct metrics_arena *a = &p->arenas[i];
		struct metrics_arena *o = NULL;

		for (size_t k = 0; k < v->nr_other && !o; k++)
			if (!strcmp(v->other[k].kind, a->kind))
				o = &v->other[k];
		if (!o) {
			o = &v->other[v->nr_other++];
			o->id = "other";
			o->kind = a->kind;
		}
		o->mapped_bytes += a->mapped_bytes;
		o->resident_bytes += a->resident_bytes;
		o->peak_resident_bytes += a->peak_resident_bytes;
		o->retained_bytes += a->retained_bytes;
		o->faulted_bytes += a->faulted_bytes;
		o->released_bytes += a->released_bytes;
	}
	return 0;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void proc_labels(FILE *out, const struct metrics_process *p)
{
	fprintf(out, "pid=\"%d\",comm=", (int)p->pid);
	metrics__label_value(out, p->comm);
}

enum arena_field { F_MAPPED, F_RESIDENT, F_PEAK, F_RETAINED, F_FAULTED, F_RELEASED };

static uint64_t field_of(const struct metrics_arena *a, enum arena_field f)
{
	switch (f) {
	case F_MAPPED: return a->mapped_bytes;
	case F_RESIDENT: return a->resident_bytes;
	case F_PEAK: return a->peak_resident_bytes;
	case F_RETAINED: return a->retained_bytes;
	case F_FAULTED: return a->faulted_bytes;
	case F_RELEASED: return a->released_bytes;
	}
	return 0;
}

static void arena_series(FILE *out, const char *name, const struct metrics_process *p,
			 const struct metrics_arena *a, enum arena_field f)
{
	fprintf(out, "%s{", name);
	proc_labels(out, p);
	fputs(",kind=", out);
	metrics__label_value(out, a->kind);
	fputs(",arena=", out);
	metrics__label_value(out, a->id);
	fprintf(out, "} %" PRIu64 "\n", field_of(a, f));
}

static void proc_series(FILE *out, const char *name, const struct metrics_process *p, uint64_t v)
{
	fprintf(out, "%s{", name);
	proc_labels(out, p);
	fprintf(out, "} %" PRIu64 "\n", v);
}

static void kind_series(FILE *out, const char *name, const struct metrics_process *p,
			const struct metrics_kind *k, uint64_t v)
{
	fprintf(out, "%s{", name);
	proc_labels(out, p);
	fputs(",kind=", out);
	metrics__label_value(out, k->kind);
	fprintf(out, "} %" PRIu64 "\n", v);
}

int metrics__render(struct metrics_snapshot *s, FILE *out)
{
	static const struct {
		const char *name, *type, *help;
		enum arena_field f;
	} arena_families[] = {
		{ "arenatrace_arena_resident_bytes", "gauge",
		  "Resident bytes of the arena (present pages the kernel counts in RSS).", F_RESIDENT },
		{ "arenatrace_arena_mapped_bytes", "gauge", "Bytes mapped by the arena's regions.", F_MAPPED },
		{ "arenatrace_arena_peak_resident_bytes", "gauge",
		  "Highest resident bytes of the arena since the agent started following the process.", F_PEAK },
		{ "arenatrace_arena_retained_bytes", "gauge",
		  "Resident bytes in address blocks that released nothing for longer than --retain-after "
		  "(memory an allocator kept after use; a lower bound).", F_RETAINED },
		{ "arenatrace_arena_faulted_bytes_total", "counter",
		  "Bytes made resident in the arena (faults, populate, mlock).", F_FAULTED },
		{ "arenatrace_arena_released_bytes_total", "counter",
		  "Bytes the arena gave back (munmap, madvise, brk shrink, reclaim).", F_RELEASED },
	};
	struct proc_view *views = s->nr_procs ? calloc(s->nr_procs, sizeof(*views)) : NULL;
	int err = 0;

	if (s->nr_procs && !views)
		return -ENOMEM;
	for (size_t i = 0; i < s->nr_procs && !err; i++)
		err = view_init(&views[i], &s->procs[i], s->top_arenas);
	if (err)
		goto out;

	family(out, "arenatrace_build_info", "gauge", "The agent's version; always 1.");
	fputs("arenatrace_build_info{version=", out);
	metrics__label_value(out, s->version);
	fputs("} 1\n", out);
	family(out, "arenatrace_targets", "gauge", "Processes followed now.");
	fprintf(out, "arenatrace_targets %zu\n", s->nr_procs);
	family(out, "arenatrace_targets_followed_total", "counter", "Processes picked up since the agent started.");
	fprintf(out, "arenatrace_targets_followed_total %" PRIu64 "\n", s->processes_followed);
	family(out, "arenatrace_targets_skipped_total", "counter",
	       "Matching processes that could not be followed (no free target slot, or attaching failed).");
	fprintf(out, "arenatrace_targets_skipped_total %" PRIu64 "\n", s->targets_dropped);
	family(out, "arenatrace_lost_events_total", "counter",
	       "Kernel events dropped because the ring buffer was full (all targets).");
	fprintf(out, "arenatrace_lost_events_total %" PRIu64 "\n", s->lost_events);
	family(out, "arenatrace_tick_duration_seconds", "gauge", "Time the last interval's work took.");
	fprintf(out, "arenatrace_tick_duration_seconds %.6f\n", s->last_tick_seconds);

	family(out, "arenatrace_process_resident_bytes", "gauge",
	       "The process's RSS from the kernel's counters (file + anon + shmem).");
	for (size_t i = 0; i < s->nr_procs; i++)
		proc_series(out, "arenatrace_process_resident_bytes", &s->procs[i], s->procs[i].rss_bytes);
	family(out, "arenatrace_process_accounted_bytes", "gauge", "Sum of the process's arenas' resident bytes.");
	for (size_t i = 0; i < s->nr_procs; i++)
		proc_series(out, "arenatrace_process_accounted_bytes", &s->procs[i], s->procs[i].accounted_bytes);
	family(out, "arenatrace_process_retained_bytes", "gauge", "Sum of the process's arenas' retained bytes.");
	for (size_t i = 0; i < s->nr_procs; i++)
		proc_series(out, "arenatrace_process_retained_bytes", &s->procs[i], s->procs[i].retained_bytes);
	family(out, "arenatrace_process_drift_bytes_total", "counter",
	       "Bytes corrected by reconciliation with the page tables.");
	for (size_t i = 0; i < s->nr_procs; i++)
		proc_series(out, "arenatrace_process_drift_bytes_total", &s->procs[i], s->procs[i].drift_bytes);
	family(out, "arenatrace_process_start_time_seconds", "gauge",
	       "Unix time the agent started following the process.");
	for (size_t i = 0; i < s->nr_procs; i++) {
		fputs("arenatrace_process_start_time_seconds{", out);
		proc_labels(out, &s->procs[i]);
		fprintf(out, "} %.3f\n", s->procs[i].start_time_s);
	}

	family(out, "arenatrace_process_stack_trims_total", "counter",
	       "Times the process's stack tables reached --max-stacks and were trimmed.");
	for (size_t i = 0; i < s->nr_procs; i++)
		proc_series(out, "arenatrace_process_stack_trims_total", &s->procs[i], s->procs[i].stack_trims);
	family(out, "arenatrace_kind_faulted_bytes_total", "counter",
	       "Bytes made resident in the process's arenas of this kind, arenas gone since included "
	       "(monotonic: use it for rate()).");
	for (size_t i = 0; i < s->nr_procs; i++)
		for (size_t k = 0; k < s->procs[i].nr_kinds; k++)
			kind_series(out, "arenatrace_kind_faulted_bytes_total", &s->procs[i], &s->procs[i].kinds[k],
				    s->procs[i].kinds[k].faulted_bytes);
	family(out, "arenatrace_kind_released_bytes_total", "counter",
	       "Bytes the process's arenas of this kind gave back, arenas gone since included.");
	for (size_t i = 0; i < s->nr_procs; i++)
		for (size_t k = 0; k < s->procs[i].nr_kinds; k++)
			kind_series(out, "arenatrace_kind_released_bytes_total", &s->procs[i], &s->procs[i].kinds[k],
				    s->procs[i].kinds[k].released_bytes);

	for (size_t f = 0; f < sizeof(arena_families) / sizeof(arena_families[0]); f++) {
		family(out, arena_families[f].name, arena_families[f].type, arena_families[f].help);
		for (size_t i = 0; i < s->nr_procs; i++) {
			const struct proc_view *v = &views[i];

			for (size_t k = 0; k < v->nr_top; k++)
				arena_series(out, arena_families[f].name, v->p, &v->p->arenas[k], arena_families[f].f);
			for (size_t k = 0; k < v->nr_other; k++)
				arena_series(out, arena_families[f].name, v->p, &v->other[k], arena_families[f].f);
		}
	}
	if (fflush(out) || ferror(out))
		err = -EIO;
out:
	for (size_t i = 0; i < s->nr_procs; i++)
		free(views[i].other);
	free(views);
	return err;
}
