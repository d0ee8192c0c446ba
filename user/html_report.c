#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "classifier.h"
#include "folded_export.h"
#include "html_report.h"

/* Arenas given a detail section (resident by age), largest first. */
#define DETAIL_ARENAS 12
/* Ranges listed per arena in the table before "+N more". */
#define TABLE_RANGES 4
/* Arenas named per burst as where it stays. */
#define BURST_ARENAS 3
/* uint64_t, so byte counts print with PRIu64. */
#define PAGE_BYTES ((uint64_t)AT_PAGE_SIZE)

/* ---- escaping --------------------------------------------------------------------- */

/* Text for element content and attribute values. Arena ids are file paths and can
 * hold anything; control characters other than tab and newline become U+FFFD. */
static void html__text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n')
				fputs("&#xfffd;", f);
			else
				fputc(c, f);
		}
	}
}

/* A JSON string safe inside <script>: '<', '>' and '&' as \u escapes, so no
 * "</script>" or "<!--" can end or change the block, whatever the ids hold. */
static void json__safe_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == '<' || c == '>' || c == '&')
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *human(uint64_t bytes, char *buf, size_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

/* A table cell with the exact byte count in its title. */
static void bytes_cell(FILE *f, uint64_t bytes)
{
	char b[32];

	fprintf(f, "<td class=\"n\" title=\"%" PRIu64 " bytes\">%s</td>", bytes, human(bytes, b, sizeof(b)));
}

static uint64_t pages_bytes(int64_t pages)
{
	return pages > 0 ? (uint64_t)pages * PAGE_BYTES : 0;
}

static double t_of(const struct html_report_input *in, uint64_t ns)
{
	return ns > in->start_ns ? (ns - in->start_ns) / 1e9 : 0.0;
}

/* ---- what the chart plots --------------------------------------------------------- */

struct chart {
	size_t nr_top;                       /* arenas plotted on their own */
	uint32_t top[HTML_REPORT_TOP_ARENAS];
	size_t nr_other;                     /* arenas summed as "other" */
	int *slot;                           /* per history arena: 0..nr_top-1, nr_top = other, -1 = never resident */
	uint64_t *peak;                      /* per history arena: highest resident bytes */
};

static int chart__init(struct chart *c, const struct history *h)
{
	memset(c, 0, sizeof(*c));
	c->slot = calloc(h->nr_arenas + 1, sizeof(*c->slot));
	c->peak = calloc(h->nr_arenas + 1, sizeof(*c->peak));
	if (!c->slot || !c->peak)
		return -ENOMEM;
	for (size_t i = 0; i < h->nr_arena_points; i++) {
		const struct history_arena_point *ap = &h->arena_points[i];

		if (ap->resident_bytes > c->peak[ap->arena])
			c->peak[ap->arena] = ap->resident_bytes;
	}
	for (size_t i = 0; i < h->nr_arenas; i++)
		c->slot[i] = -1;
	/* Top arenas by peak: a few passes of a max search, n is small. */
	while (c->nr_top < HTML_REPORT_TOP_ARENAS) {
		size_t best = h->nr_arenas;

		for (size_t i = 0; i < h->nr_arenas; i++)
			if (c->slot[i] < 0 && c->peak[i] && (best == h->nr_arenas || c->peak[i] > c->peak[best]))
				best = i;
		if (best == h->nr_arenas)
			break;
		c->slot[best] = (int)c->nr_top;
		c->top[c->nr_top++] = (uint32_t)best;
	}
	for (size_t i = 0; i < h->nr_arenas; i++)
		if (c->slot[i] < 0 && c->peak[i]) {
			c->slot[i] = (int)c->nr_top;
			c->nr_other++;
		}
	return 0;
}

static void chart__free(struct chart *c)
{
	free(c->slot);
	free(c->peak);
}

/* Resident bytes of series `slot` at point p. */
static uint64_t chart__value(const struct chart *c, const struct history *h, const struct history_point *p,
			     int slot)
{
	uint64_t sum = 0;

	for (size_t j = 0; j < p->count; j++) {
		const struct history_arena_point *ap = &h->arena_points[p->first + j];

		if (c->slot[ap->arena] == slot)
			sum += ap->resident_bytes;
	}
	return sum;
}

/* ---- the final arenas ------------------------------------------------------------- */

struct final_arena {
	const struct arena *a;
	bool has_retention;
	struct arena_retention r;
};

static int by_resident_desc(const void *x, const void *y)
{
	const struct arena *a = ((const struct final_arena *)x)->a, *b = ((const struct final_arena *)y)->a;

	return (b->resident_pages > a->resident_pages) - (b->resident_pages < a->resident_pages);
}

/* Live arenas of the final ledger, largest resident first, with their retention. */
static struct final_arena *final_arenas(const struct html_report_input *in, size_t *n)
{
	struct final_arena *v;
	size_t k = 0;

	*n = 0;
	if (!in->ledger)
		return NULL;
	v = calloc(in->ledger->nr_arenas + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (const struct arena *a = in->ledger->arenas; a; a = a->next) {
		if (a->gone)
			continue;
		v[k].a = a;
		if (in->retention)
			v[k].has_retention = retention__arena(in->retention, a, in->now_ns, &v[k].r);
		if (in->heap) {   /* retained_basis "heap", as in the JSON timeline */
			uint64_t res = (uint64_t)a->resident_pages * 4096, live = a->live_bytes > 0 ? (uint64_t)a->live_bytes : 0;

			v[k].r.retained_bytes = res > live ? res - live : 0;
		}
		k++;
	}
	qsort(v, k, sizeof(*v), by_resident_desc);
	*n = k;
	return v;
}

/* The next range of a's regions from *i on, adjacent regions joined (as in the
 * JSON timeline). */
static bool next_range(const struct ledger *l, const struct arena *a, size_t *i, uint64_t *s, uint64_t *e)
{
	bool found = false;

	for (; *i < l->nr_regions; (*i)++) {
		const struct region *r = &l->regions[*i];

		if (r->arena != a)
			continue;
		if (!found) {
			*s = r->start;
			*e = r->end;
			found = true;
		} else if (r->start == *e) {
			*e = r->end;
		} else {
			break;
		}
	}
	return found;
}

static size_t nr_ages(const struct final_arena *fa)
{
	if (!fa->has_retention || !fa->r.age_edges_s)
		return 0;
	size_t max = sizeof(fa->r.age_bytes) / sizeof(fa->r.age_bytes[0]);

	return fa->r.nr_ages < max ? fa->r.nr_ages : max;
}

/* ---- the flame graph: profile (a) as a tree ---------------------------------------
 * "all", then the arena id, then the frames root to leaf, named as in the folded
 * output; a node's bytes are those of every stack through it. Nodes are keyed by
 * (parent, name), so frames that print alike (other addresses) share a node.
 */

struct flame_node {
	uint32_t parent;	/* UINT32_MAX for the root */
	uint32_t name;		/* index in flame.names */
	uint64_t bytes;
};

struct flame {
	char **names;
	size_t nr_names, cap_names;
	struct profile_index name_ix;
	struct flame_node *nodes;
	size_t nr_nodes, cap_nodes;
	struct profile_index child_ix;	/* (parent, name) -> node */
	uint32_t *child_start;		/* per node, + 1: its children's range in child_list */
	uint32_t *child_list;		/* children by parent, largest first */
	uint64_t total;
	size_t merged;			/* nodes merged into their parent (too narrow) */
};

struct flame_name_key {
	const struct flame *fl;
	const char *s;
};

struct flame_child_key {
	const struct flame *fl;
	uint32_t parent, name;
};

static bool flame__name_eq(const void *ctx, uint32_t id)
{
	const struct flame_name_key *k = ctx;

	return !strcmp(k->fl->names[id], k->s);
}

static bool flame__child_eq(const void *ctx, uint32_t id)
{
	const struct flame_child_key *k = ctx;

	return k->fl->nodes[id].parent == k->parent && k->fl->nodes[id].name == k->name;
}

static int flame__grow(void **arr, size_t *cap, size_t nr, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *n;

	if (nr < *cap)
		return 0;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

/* The id of name s in *id (copied when new). 0 or -ENOMEM. */
static int flame__intern(struct flame *fl, const char *s, uint32_t *id)
{
	struct flame_name_key k = { fl, s };
	uint64_t h = profile_index__hash_str(0, s);
	char *copy;

	*id = profile_index__find(&fl->name_ix, h, flame__name_eq, &k);
	if (*id != UINT32_MAX)
		return 0;
	if (flame__grow((void **)&fl->names, &fl->cap_names, fl->nr_names, sizeof(*fl->names)))
		return -ENOMEM;
	if (!(copy = strdup(s)))
		return -ENOMEM;
	if (profile_index__insert(&fl->name_ix, h, (uint32_t)fl->nr_names)) {
		free(copy);
		return -ENOMEM;
	}
	fl->names[fl->nr_names] = copy;
	*id = (uint32_t)fl->nr_names++;
	return 0;
}

/* The child of parent called name in *id (added when new). 0 or -ENOMEM. */
static int flame__child(struct flame *fl, uint32_t parent, uint32_t name, uint32_t *id)
{
	struct flame_child_key k = { fl, parent, name };
	uint64_t h = profile_index__mix(((uint64_t)parent << 32) ^ name);

	*id = profile_index__find(&fl->child_ix, h, flame__child_eq, &k);
	if (*id != UINT32_MAX)
		return 0;
	if (flame__grow((void **)&fl->nodes, &fl->cap_nodes, fl->nr_nodes, sizeof(*fl->nodes)))
		return -ENOMEM;
	if (profile_index__insert(&fl->child_ix, h, (uint32_t)fl->nr_nodes))
		return -ENOMEM;
	fl->nodes[fl->nr_nodes] = (struct flame_node){ .parent = parent, .name = name };
	*id = (uint32_t)fl->nr_nodes++;
	return 0;
}

/* As the folded output writes an arena id: ';' and control characters become '_'. */
static void flame__sanitize(char *s)
{
	for (; *s; s++)
		if (*s == ';' || (unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '_';
}

struct flame_sort_key {
	uint32_t parent, id;
	uint64_t bytes;
	const char *name;
};

/* By parent; then largest first, then by name (equal profiles, equal pages). */
static int flame__sort_cmp(const void *x, const void *y)
{
	const struct flame_sort_key *a = x, *b = y;

	if (a->parent != b->parent)
		return a->parent < b->parent ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Every node's children, in drawing order. 0 or -ENOMEM. */
static int flame__link(struct flame *fl)
{
	size_t n = fl->nr_nodes;
	struct flame_sort_key *keys = calloc(n, sizeof(*keys));

	fl->child_start = calloc(n + 1, sizeof(*fl->child_start));
	fl->child_list = calloc(n, sizeof(*fl->child_list));
	if (!keys || !fl->child_start || !fl->child_list) {
		free(keys);
		return -ENOMEM;
	}
	/* node 0 is the root; every other node has a parent with a smaller id */
	for (size_t i = 1; i < n; i++) {
		keys[i - 1] = (struct flame_sort_key){ .parent = fl->nodes[i].parent, .id = (uint32_t)i,
						      .bytes = fl->nodes[i].bytes,
						      .name = fl->names[fl->nodes[i].name] };
		fl->child_start[fl->nodes[i].parent + 1]++;
	}
	qsort(keys, n - 1, sizeof(*keys), flame__sort_cmp);
	for (size_t i = 0; i < n; i++)
		fl->child_start[i + 1] += fl->child_start[i];
	for (size_t i = 0; i + 1 < n; i++)
		fl->child_list[i] = keys[i].id;
	free(keys);
	return 0;
}

static void flame__free(struct flame *fl)
{
	for (size_t i = 0; i < fl->nr_names; i++)
		free(fl->names[i]);
	free(fl->names);
	free(fl->nodes);
	free(fl->child_start);
	free(fl->child_list);
	profile_index__free(&fl->name_ix);
	profile_index__free(&fl->child_ix);
	memset(fl, 0, sizeof(*fl));
}

/* The tree of one profile (a, or --heap's inuse): cells with bytes > 0, as the
 * folded output takes them. 0 or -ENOMEM. */
static int flame__build(struct flame *fl, const struct profile *p, enum profile_type type)
{
	size_t nr_cells, nr_frames = profile__nr_frames(p), nr_strings = profile__nr_strings(p);
	const struct profile_cell *cells = profile__cells(p, &nr_cells);
	uint32_t *frame_name = malloc((nr_frames ? nr_frames : 1) * sizeof(*frame_name));
	uint32_t *arena_name = malloc((nr_strings ? nr_strings : 1) * sizeof(*arena_name));
	uint32_t all, root;
	int err = -ENOMEM;

	memset(fl, 0, sizeof(*fl));
	if (!frame_name || !arena_name || flame__intern(fl, "all", &all) || flame__child(fl, UINT32_MAX, all, &root))
		goto out;
	memset(frame_name, 0xff, (nr_frames ? nr_frames : 1) * sizeof(*frame_name));
	memset(arena_name, 0xff, (nr_strings ? nr_strings : 1) * sizeof(*arena_name));
	for (size_t i = 0; i < nr_cells; i++) {
		const struct profile_cell *c = &cells[i];
		uint64_t bytes;
		uint32_t node;
		size_t depth;
		const uint32_t *ids;

		if (c->bytes[type] <= 0)
			continue;
		bytes = (uint64_t)c->bytes[type];
		if (arena_name[c->arena] == UINT32_MAX) {
			char *id = strdup(profile__string(p, c->arena));

			if (!id)
				goto out;
			flame__sanitize(id);
			err = flame__intern(fl, id, &arena_name[c->arena]);
			free(id);
			if (err)
				goto out;
			err = -ENOMEM;
		}
		fl->total += bytes;
		fl->nodes[root].bytes += bytes;
		if (flame__child(fl, root, arena_name[c->arena], &node))
			goto out;
		fl->nodes[node].bytes += bytes;
		ids = profile__stack(p, c->stack, &depth);
		for (size_t k = depth; k-- > 0;) {
			if (frame_name[ids[k]] == UINT32_MAX) {
				struct profile_frame fr;
				char buf[512];

				profile__frame(p, ids[k], &fr, NULL);
				folded_export__frame_name(&fr, buf, sizeof(buf));
				if (flame__intern(fl, buf, &frame_name[ids[k]]))
					goto out;
			}
			if (flame__child(fl, node, frame_name[ids[k]], &node))
				goto out;
			fl->nodes[node].bytes += bytes;
		}
	}
	err = flame__link(fl);
out:
	free(frame_name);
	free(arena_name);
	if (err)
		flame__free(fl);
	return err;
}

/* {"n":name,"v":bytes,"c":[children]}, children narrower than the minimum left out
 * (their bytes stay in this node's v: merged into it). */
static void flame__emit(FILE *f, struct flame *fl, uint32_t n, uint64_t min_bytes)
{
	bool open = false;

	fputs("{\"n\":", f);
	json__safe_string(f, fl->names[fl->nodes[n].name]);
	fprintf(f, ",\"v\":%" PRIu64, fl->nodes[n].bytes);
	for (uint32_t k = fl->child_start[n]; k < fl->child_start[n + 1]; k++) {
		uint32_t c = fl->child_list[k];

		if (fl->nodes[c].bytes < min_bytes) {
			fl->merged++;
			continue;
		}
		fputs(open ? "," : ",\"c\":[", f);
		open = true;
		flame__emit(f, fl, c, min_bytes);
	}
	if (open)
		fputc(']', f);
	fputc('}', f);
}

static void json_flame(FILE *f, struct flame *fl)
{
	/* narrower than total / MIN_SHARE, rounded up: bytes * MIN_SHARE < total */
	uint64_t min_bytes = fl->total / HTML_REPORT_FLAME_MIN_SHARE +
			     (fl->total % HTML_REPORT_FLAME_MIN_SHARE != 0);

	fl->merged = 0;
	fprintf(f, "{\"total\":%" PRIu64 ",\"min_bytes\":%" PRIu64 ",\"tree\":", fl->total, min_bytes);
	flame__emit(f, fl, 0, min_bytes);
	fprintf(f, ",\"merged\":%zu}", fl->merged);
}

/* ---- the embedded data ------------------------------------------------------------ */

static void json_u64_array(FILE *f, const struct history *h, uint64_t (*get)(const struct history_point *))
{
	fputc('[', f);
	for (size_t i = 0; i < h->nr_points; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", get(&h->points[i]));
	fputc(']', f);
}

static uint64_t point_rss(const struct history_point *p)
{
	return p->rss_bytes;
}

static uint64_t point_accounted(const struct history_point *p)
{
	return p->accounted_bytes;
}

static void json_series(FILE *f, const struct chart *c, const struct history *h, int slot, const char *id,
			const char *kind, uint64_t peak, bool other)
{
	fputs("{\"arena\":", f);
	json__safe_string(f, id);
	fputs(",\"kind\":", f);
	json__safe_string(f, kind);
	if (other)
		fprintf(f, ",\"other\":true,\"arenas\":%zu", c->nr_other);
	fprintf(f, ",\"peak\":%" PRIu64 ",\"resident\":[", peak);
	for (size_t i = 0; i < h->nr_points; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", chart__value(c, h, &h->points[i], slot));
	fputs("]}", f);
}

static void json_data(FILE *f, const struct html_report_input *in, const struct chart *c,
		      const struct final_arena *fa, size_t nfa, struct flame *fl, struct flame *fl_inuse)
{
	const struct history *h = in->history;
	size_t nb = in->retention ? retention__nr_bursts(in->retention) : 0;

	fprintf(f, "{\"schema\":1,\"pid\":%d,\"comm\":", (int)in->pid);
	json__safe_string(f, in->comm);
	fputs(",\"command\":", f);
	if (in->command) {
		fputc('[', f);
		for (size_t i = 0; in->command[i]; i++) {
			fputs(i ? "," : "", f);
			json__safe_string(f, in->command[i]);
		}
		fputc(']', f);
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\"start_unix_ms\":%" PRIu64 ",\"interval_s\":%.3f,\"retain_after_s\":", in->start_unix_ms,
		in->interval_s);
	if (in->retention)
		fprintf(f, "%.3f", retention__retain_after_s(in->retention));
	else
		fputs("null", f);

	fputs(",\n\"t\":[", f);
	for (size_t i = 0; i < h->nr_points; i++)
		fprintf(f, "%s%.3f", i ? "," : "", h->points[i].t);
	fputs("],\n\"rss\":", f);
	json_u64_array(f, h, point_rss);
	fputs(",\n\"accounted\":", f);
	json_u64_array(f, h, point_accounted);

	fputs(",\n\"series\":[", f);
	for (size_t k = 0; k < c->nr_top; k++) {
		uint32_t id = c->top[k];

		fputs(k ? ",\n" : "\n", f);
		json_series(f, c, h, (int)k, h->arena_ids[id], h->arena_kinds[id], c->peak[id], false);
	}
	if (c->nr_other) {
		uint64_t peak = 0;

		for (size_t i = 0; i < h->nr_points; i++) {
			uint64_t v = chart__value(c, h, &h->points[i], (int)c->nr_top);

			peak = v > peak ? v : peak;
		}
		fputs(c->nr_top ? ",\n" : "\n", f);
		json_series(f, c, h, (int)c->nr_top, "other", "other", peak, true);
	}

	fputs("],\n\"bursts\":[", f);
	for (size_t i = 0, shown = 0; i < nb; i++) {
		const struct burst *b = retention__burst(in->retention, i);

		if (!b)
			continue;
		fprintf(f, "%s{\"burst\":%zu,\"start\":%.3f,\"end\":%.3f,\"open\":%s,\"faulted_bytes\":%" PRIu64
			",\"released_bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64 "}",
			shown++ ? ",\n" : "\n", i + 1, t_of(in, b->start_ns), t_of(in, b->end_ns ? b->end_ns : in->now_ns),
			b->end_ns ? "false" : "true", b->faulted_bytes, b->released_bytes, b->resident_bytes);
	}

	fputs("],\n\"arenas\":[", f);
	for (size_t k = 0; k < nfa; k++) {
		const struct arena *a = fa[k].a;
		uint64_t s = 0, e = 0;
		size_t ri = 0;
		bool first = true;

		fputs(k ? ",\n{\"arena\":" : "\n{\"arena\":", f);
		json__safe_string(f, a->id);
		fputs(",\"kind\":", f);
		json__safe_string(f, a->kind ? a->kind->name : "?");
		fputs(",\"ranges\":[", f);
		while (next_range(in->ledger, a, &ri, &s, &e)) {
			fprintf(f, "%s[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\"]", first ? "" : ",", s, e);
			first = false;
		}
		fprintf(f, "],\"mapped_bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64
			",\"peak_resident_bytes\":%" PRIu64 ",\"faulted_bytes\":%" PRIu64
			",\"released_bytes\":%" PRIu64,
			a->mapped_bytes, pages_bytes(a->resident_pages), pages_bytes(a->peak_resident_pages),
			a->faulted_pages * PAGE_BYTES, a->released_pages * PAGE_BYTES);
		if (fa[k].has_retention) {
			const struct arena_retention *r = &fa[k].r;

			fprintf(f, ",\"retained_bytes\":%" PRIu64 ",\"peak_t\":%.3f,\"last_growth_t\":", r->retained_bytes,
				t_of(in, r->peak_ns));
			if (r->last_growth_ns)
				fprintf(f, "%.3f", t_of(in, r->last_growth_ns));
			else
				fputs("null", f);
			fprintf(f, ",\"released_since_peak_bytes\":%" PRIu64 ",\"ages\":[", r->released_since_peak_bytes);
			for (size_t i = 0; i < nr_ages(&fa[k]); i++) {
				fprintf(f, "%s{\"from_s\":%.3f,\"to_s\":", i ? "," : "", r->age_edges_s[i]);
				if (i + 1 < nr_ages(&fa[k]))
					fprintf(f, "%.3f", r->age_edges_s[i + 1]);
				else
					fputs("null", f);
				fprintf(f, ",\"bytes\":%" PRIu64 "}", r->age_bytes[i]);
			}
			fputc(']', f);
		}
		fputc('}', f);
	}
	fputs("],\n\"diagnosis\":", f);
	if (in->diagnosis)
		json__safe_string(f, in->diagnosis);
	else
		fputs("null", f);
	/* profile (a) as a tree; null without stacks */
	fputs(",\n\"flame\":", f);
	if (fl)
		json_flame(f, fl);
	else
		fputs("null", f);
	/* --heap's inuse profile; absent without it */
	if (fl_inuse) {
		fputs(",\n\"flame_inuse\":", f);
		json_flame(f, fl_inuse);
	}
	fputs("}\n", f);
}

/* ---- the page --------------------------------------------------------------------- */

static const char style[] =
	"body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;"
	"padding:16px 24px;color:#1d1d1f;background:#fff}\n"
	"h1{font-size:20px;margin:0 0 4px}h1 code{font-size:inherit}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}\n"
	"code,.id,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}\n"
	".meta{color:#555;margin:0}\n"
	"table{border-collapse:collapse;width:100%}th,td{padding:3px 8px;border-bottom:1px solid #eee;"
	"text-align:left;vertical-align:top}th{background:#f6f6f6;font-weight:600}\n"
	"td.n,th.n{text-align:right;white-space:nowrap}td.id{word-break:break-all}\n"
	"pre.diagnosis{white-space:pre-wrap;background:#fffbe6;border:1px solid #f0e0a0;padding:10px}\n"
	"#resident-chart{width:100%;height:auto;display:block;border:1px solid #eee}\n"
	"#resident-chart text{font-size:11px;fill:#444}\n"
	"#resident-chart .grid{stroke:#eee}#resident-chart .burst{fill:#e15759;fill-opacity:.12}\n"
	"#resident-chart .rss{fill:none;stroke:#222;stroke-width:1.5;stroke-dasharray:5 3}\n"
	"#resident-chart .cursor{stroke:#888;stroke-width:1}\n"
	"#chart-legend span.item{display:inline-block;margin:4px 14px 0 0;font-size:12px}\n"
	"#chart-legend span.swatch{display:inline-block;width:11px;height:11px;margin-right:5px;"
	"vertical-align:-1px}\n"
	"#chart-readout{font-size:12px;color:#333;min-height:1.4em;font-family:ui-monospace,monospace}\n"
	".bar{background:#4e79a7;height:10px;min-width:1px}\n"
	"details{margin:6px 0;border:1px solid #eee;padding:4px 8px}summary{cursor:pointer}\n"
	".muted{color:#777}\n"
	"#flame-graph{width:100%;height:auto;display:block;border:1px solid #eee}\n"
	"#flame-graph text{font-size:11px;fill:#1d1d1f;pointer-events:none;"
	"font-family:ui-monospace,Menlo,Consolas,monospace}\n"
	"#flame-graph g.frame{cursor:pointer}#flame-graph g.frame:hover rect{stroke:#222;stroke-width:.6}\n"
	"#flame-graph g.ancestor rect{fill-opacity:.45}\n"
	"#flame-readout{font-size:12px;color:#333;min-height:1.4em;font-family:ui-monospace,monospace;"
	"word-break:break-all}\n"
	"#flame-inuse{width:100%;height:auto;display:block;border:1px solid #eee}\n"
	"#flame-inuse text{font-size:11px;fill:#1d1d1f;pointer-events:none;"
	"font-family:ui-monospace,Menlo,Consolas,monospace}\n"
	"#flame-inuse g.frame{cursor:pointer}#flame-inuse g.frame:hover rect{stroke:#222;stroke-width:.6}\n"
	"#flame-inuse g.ancestor rect{fill-opacity:.45}\n"
	"#flame-inuse-readout{font-size:12px;color:#333;min-height:1.4em;font-family:ui-monospace,monospace;"
	"word-break:break-all}\n";

/* What both drawings use; the two follow inside the same closure. */
static const char script_common[] =
	"(function () {\n"
	"'use strict';\n"
	"var data = JSON.parse(document.getElementById('report-data').textContent);\n"
	"var NS = 'http://www.w3.org/2000/svg';\n"
	"function el(name, attrs, parent) {\n"
	"  var e = document.createElementNS(NS, name);\n"
	"  for (var k in attrs) e.setAttribute(k, attrs[k]);\n"
	"  if (parent) parent.appendChild(e);\n"
	"  return e;\n"
	"}\n"
	"function human(b) {\n"
	"  var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;\n"
	"  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }\n"
	"  return (i ? b.toFixed(b < 10 ? 1 : 0) : String(Math.round(b))) + ' ' + u[i];\n"
	"}\n";

/* Draws the stacked chart from the JSON block; strings go in with textContent only. */
static const char script[] =
	"(function () {\n"
	"var svg = document.getElementById('resident-chart');\n"
	"var W = 960, H = 400, L = 78, R = 14, T = 10, B = 38;\n"
	"var COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',\n"
	"              '#ff9da7', '#9c9c9c'];\n"
	"function nice(raw) {\n"
	"  if (!(raw > 0) || !isFinite(raw)) return 1;\n"
	"  var p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;\n"
	"  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;\n"
	"}\n"
	"function byteStep(max) {\n"
	"  var unit = 1;\n"
	"  while (max / unit >= 1024 && unit < Math.pow(1024, 4)) unit *= 1024;\n"
	"  return nice(max / unit / 5) * unit;\n"
	"}\n"
	"function color(s, k) { return COLORS[s.other ? 8 : k % 8]; }\n"
	"function fmtT(v) { return (Math.round(v * 1000) / 1000) + 's'; }\n"
	"function f(v) { return v.toFixed(1); }\n"
	"var t = data.t.slice(), rss = data.rss.slice(), n = t.length;\n"
	"var vals = data.series.map(function (s) { return s.resident.slice(); });\n"
	"if (n === 1) {\n"
	"  /* One sample: draw it as a band so it is visible. */\n"
	"  t.push(t[0] + 1); rss.push(rss[0]); n = 2;\n"
	"  vals.forEach(function (v) { v.push(v[0]); });\n"
	"}\n"
	"var t0 = n ? t[0] : 0, t1 = n ? t[n - 1] : 1;\n"
	"if (!(t1 > t0)) t1 = t0 + 1;\n"
	"var ymax = 4096, i, k;\n"
	"for (i = 0; i < n; i++) {\n"
	"  var sum = 0;\n"
	"  for (k = 0; k < vals.length; k++) sum += vals[k][i];\n"
	"  ymax = Math.max(ymax, sum, rss[i]);\n"
	"}\n"
	"var ystep = byteStep(ymax);\n"
	"ymax = Math.ceil(ymax / ystep) * ystep;\n"
	"function x(v) { return L + (v - t0) / (t1 - t0) * (W - L - R); }\n"
	"function y(v) { return T + (1 - v / ymax) * (H - T - B); }\n"
	"var axes = el('g', {'class': 'axes'}, svg);\n"
	"for (var v = 0; v <= ymax + ystep / 2; v += ystep) {\n"
	"  el('line', {'class': 'grid', x1: L, x2: W - R, y1: f(y(v)), y2: f(y(v))}, axes);\n"
	"  el('text', {x: L - 6, y: f(y(v) + 4), 'text-anchor': 'end'}, axes).textContent = human(v);\n"
	"}\n"
	"var tstep = nice((t1 - t0) / 8);\n"
	"for (var tv = Math.ceil(t0 / tstep) * tstep; tv <= t1 + tstep / 1000; tv += tstep)\n"
	"  el('text', {x: f(x(tv)), y: H - B + 16, 'text-anchor': 'middle'}, axes).textContent = fmtT(tv);\n"
	"el('text', {x: W - R, y: H - 4, 'text-anchor': 'end'}, axes).textContent = 'seconds since the tracer started';\n"
	"var bursts = el('g', {'class': 'bursts'}, svg);\n"
	"data.bursts.forEach(function (b) {\n"
	"  var s = Math.max(b.start, t0), e = Math.min(b.end, t1);\n"
	"  if (!(e >= s)) return;\n"
	"  var r = el('rect', {'class': 'burst', 'data-burst': b.burst, x: f(x(s)), y: T,\n"
	"                      width: f(Math.max(x(e) - x(s), 2)), height: H - T - B}, bursts);\n"
	"  el('title', {}, r).textContent = 'burst ' + b.burst + ': ' + fmtT(b.start) + ' to ' + fmtT(b.end) +\n"
	"    (b.open ? ' (in progress)' : '') + ', faulted ' + human(b.faulted_bytes) + ', still resident ' +\n"
	"    human(b.resident_bytes);\n"
	"});\n"
	"/* Largest peak at the bottom; each area spans its base to base + its bytes. */\n"
	"var areas = el('g', {'class': 'areas'}, svg);\n"
	"var base = [];\n"
	"for (i = 0; i < n; i++) base.push(0);\n"
	"data.series.forEach(function (s, j) {\n"
	"  var top = [], d = '', q;\n"
	"  for (q = 0; q < n; q++) {\n"
	"    top.push(base[q] + vals[j][q]);\n"
	"    d += (q ? 'L' : 'M') + f(x(t[q])) + ',' + f(y(top[q]));\n"
	"  }\n"
	"  for (q = n - 1; q >= 0; q--) d += 'L' + f(x(t[q])) + ',' + f(y(base[q]));\n"
	"  var p = el('path', {'class': 'area', 'data-arena': s.arena, d: d + 'Z', fill: color(s, j),\n"
	"                      'fill-opacity': 0.85, stroke: color(s, j)}, areas);\n"
	"  el('title', {}, p).textContent = (s.other ? s.arenas + ' other arenas' : s.arena) +\n"
	"    ' (peak ' + human(s.peak) + ')';\n"
	"  base = top;\n"
	"});\n"
	"if (n) {\n"
	"  var d = '';\n"
	"  for (i = 0; i < n; i++) d += (i ? 'L' : 'M') + f(x(t[i])) + ',' + f(y(rss[i]));\n"
	"  el('title', {}, el('path', {'class': 'rss', d: d}, svg)).textContent = 'process RSS';\n"
	"} else {\n"
	"  el('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle'}, svg).textContent = 'no samples';\n"
	"}\n"
	"var legend = document.getElementById('chart-legend');\n"
	"function legendItem(label, css) {\n"
	"  var item = document.createElement('span'), sw = document.createElement('span');\n"
	"  item.className = 'item'; sw.className = 'swatch';\n"
	"  for (var c in css) sw.style[c] = css[c];\n"
	"  item.appendChild(sw); item.appendChild(document.createTextNode(label));\n"
	"  legend.appendChild(item);\n"
	"}\n"
	"for (k = data.series.length - 1; k >= 0; k--) {\n"
	"  var s = data.series[k];\n"
	"  legendItem((s.other ? 'other (' + s.arenas + ' arenas)' : s.arena) + '  peak ' + human(s.peak),\n"
	"             {background: color(s, k)});\n"
	"}\n"
	"legendItem('process RSS', {borderTop: '2px dashed #222', height: '0'});\n"
	"if (data.bursts.length) legendItem('burst', {background: 'rgba(225,87,89,.25)'});\n"
	"var cursor = el('line', {'class': 'cursor', x1: -10, x2: -10, y1: T, y2: H - B}, svg);\n"
	"var readout = document.getElementById('chart-readout');\n"
	"svg.addEventListener('mousemove', function (ev) {\n"
	"  if (!data.t.length) return;\n"
	"  var box = svg.getBoundingClientRect();\n"
	"  var tv = t0 + ((ev.clientX - box.left) / box.width * W - L) / (W - L - R) * (t1 - t0);\n"
	"  var best = 0;\n"
	"  for (var q = 1; q < data.t.length; q++)\n"
	"    if (Math.abs(data.t[q] - tv) < Math.abs(data.t[best] - tv)) best = q;\n"
	"  cursor.setAttribute('x1', f(x(data.t[best]))); cursor.setAttribute('x2', f(x(data.t[best])));\n"
	"  var parts = ['t=' + fmtT(data.t[best]), 'rss ' + human(data.rss[best])];\n"
	"  data.series.forEach(function (s) {\n"
	"    if (s.resident[best]) parts.push((s.other ? 'other' : s.arena) + ' ' + human(s.resident[best]));\n"
	"  });\n"
	"  readout.textContent = parts.join('  \\u00b7  ');\n"
	"});\n"
	"document.body.dataset.chartDrawn = '1';\n"
	"})();\n";

/* Draws profile (a) as an icicle (root at the top) from data.flame, and with
 * --heap the inuse profile from data.flame_inuse; names go in with textContent
 * only. Hover: name and bytes; click: zoom; click "all": back. */
static const char flame_script[] =
	"function flameGraph(svgId, readoutId, fdata, what, flag) {\n"
	"var svg = document.getElementById(svgId);\n"
	"if (!svg || !fdata) return;\n"
	"var W = 960, ROW = 18, CHAR = 6.5, MIN_W = 0.4;\n"
	"var root = fdata.tree, total = root.v, maxDepth = 0;\n"
	"var readout = document.getElementById(readoutId);\n"
	"function pct(v, of) { return of > 0 ? (100 * v / of).toFixed(v * 1000 < of ? 2 : 1) + '%' : '-'; }\n"
	"function f(v) { return v.toFixed(1); }\n"
	"/* parents and depths, without recursion */\n"
	"var todo = [root];\n"
	"root.parent = null; root.depth = 0;\n"
	"while (todo.length) {\n"
	"  var n = todo.pop();\n"
	"  if (n.depth > maxDepth) maxDepth = n.depth;\n"
	"  (n.c || []).forEach(function (c) { c.parent = n; c.depth = n.depth + 1; todo.push(c); });\n"
	"}\n"
	"function color(n) {\n"
	"  if (n.depth === 0) return '#c9c9c9';\n"
	"  var h = 0;\n"
	"  for (var i = 0; i < n.n.length; i++) h = (h * 31 + n.n.charCodeAt(i)) >>> 0;\n"
	"  if (n.depth === 1) return 'hsl(' + (200 + h % 30) + ',45%,' + (62 + h % 10) + '%)';\n"
	"  return 'hsl(' + (8 + h % 42) + ',' + (70 + h % 20) + '%,' + (56 + (h >>> 8) % 12) + '%)';\n"
	"}\n"
	"function fit(s, w) {\n"
	"  var max = Math.floor((w - 6) / CHAR);\n"
	"  if (s.length <= max) return s;\n"
	"  return max >= 3 ? s.slice(0, max - 2) + '..' : '';\n"
	"}\n"
	"function describe(n, focus) {\n"
	"  var s = n.n + '  \\u00b7  ' + human(n.v) + ' (' + n.v + ' bytes, ' + pct(n.v, total) + ' of all';\n"
	"  if (focus !== root && n !== focus && focus.v > 0 && n.depth > focus.depth)\n"
	"    s += ', ' + pct(n.v, focus.v) + ' of ' + focus.n;\n"
	"  return s + ')';\n"
	"}\n"
	"var focus = root;\n"
	"function box(n, x, w, ancestor) {\n"
	"  var g = el('g', {'class': ancestor ? 'frame ancestor' : 'frame',\n"
	"                   transform: 'translate(' + f(x) + ',' + n.depth * ROW + ')'}, svg);\n"
	"  el('rect', {width: f(Math.max(w - 0.5, MIN_W)), height: ROW - 1, fill: color(n)}, g);\n"
	"  el('title', {}, g).textContent = describe(n, focus);\n"
	"  var label = fit(n.n, w);\n"
	"  if (label) el('text', {x: 3, y: ROW - 5}, g).textContent = label;\n"
	"  g.addEventListener('mouseenter', function () { readout.textContent = describe(n, focus); });\n"
	"  g.addEventListener('click', function () { draw(n === focus && n.parent ? n.parent : n); });\n"
	"}\n"
	"function layout(n, x, w) {\n"
	"  box(n, x, w, false);\n"
	"  if (!(n.v > 0)) return;\n"
	"  var cx = x;\n"
	"  (n.c || []).forEach(function (c) {\n"
	"    var cw = w * c.v / n.v;\n"
	"    if (cw >= MIN_W) layout(c, cx, cw);\n"
	"    cx += cw;\n"
	"  });\n"
	"}\n"
	"function draw(n) {\n"
	"  focus = n;\n"
	"  while (svg.firstChild) svg.removeChild(svg.firstChild);\n"
	"  var h = (maxDepth + 1) * ROW;\n"
	"  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + h);\n"
	"  for (var a = n.parent; a; a = a.parent) box(a, 0, W, true);\n"
	"  layout(n, 0, W);\n"
	"  if (!(total > 0))\n"
	"    el('text', {x: W / 2, y: ROW + 13, 'text-anchor': 'middle'}, svg).textContent =\n"
	"      'no ' + what + ' bytes in the sampled stacks';\n"
	"  readout.textContent = n === root ? 'all: ' + human(total) + ' ' + what + ' in the sampled stacks' :\n"
	"    'zoomed to ' + describe(n, root) + '; click \\u201call\\u201d or this frame to zoom out';\n"
	"}\n"
	"draw(root);\n"
	"document.body.dataset[flag] = '1';\n"
	"}\n"
	"flameGraph('flame-graph', 'flame-readout', data.flame, 'resident', 'flameDrawn');\n"
	"flameGraph('flame-inuse', 'flame-inuse-readout', data.flame_inuse, 'live', 'flameInuseDrawn');\n";

static void section_flame(FILE *f, const struct flame *fl)
{
	char b[32];

	fputs("<section id=\"flame\">\n<h2>Who faulted the resident memory in</h2>\n", f);
	if (!fl) {
		fputs("<p class=\"muted\" id=\"flame-note\">No stacks in this run: trace with "
		      "<code>--call-graph dwarf</code> to see which call stacks faulted the resident memory in.</p>\n"
		      "</section>\n", f);
		return;
	}
	fprintf(f, "<p class=\"meta\">Resident bytes at the end (%s sampled) by the stack that first faulted "
		   "each page in: the arena, then the frames from the root down to the leaf; width is bytes. "
		   "Hover for a frame's bytes, click to zoom, click &ldquo;all&rdquo; to zoom out. Frames under "
		   "%.1f%% of the total are merged into their caller.</p>\n",
		human(fl->total, b, sizeof(b)), 100.0 / HTML_REPORT_FLAME_MIN_SHARE);
	fputs("<svg id=\"flame-graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 960 18\" "
	      "role=\"img\" aria-label=\"Resident bytes by first-touch stack\"></svg>\n"
	      "<div id=\"flame-readout\"></div>\n"
	      "<noscript><p class=\"muted\">The flame graph needs JavaScript.</p></noscript>\n"
	      "</section>\n", f);
}

/* --heap: live bytes by allocation stack, next to the first-touch graph. */
static void section_flame_inuse(FILE *f, const struct flame *fl)
{
	char b[32];

	if (!fl)
		return;
	fputs("<section id=\"flame-live\">\n<h2>Who allocated the live bytes</h2>\n", f);
	fprintf(f, "<p class=\"meta\">Live bytes at the end (%s sampled, <code>--heap</code>) by the stack "
		   "that allocated them: the arena holding the block, then the frames from the root down to "
		   "the allocation's caller; width is bytes. Compare with the resident bytes above: what is "
		   "resident but not live is what the allocator retains.</p>\n", human(fl->total, b, sizeof(b)));
	fputs("<svg id=\"flame-inuse\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 960 18\" "
	      "role=\"img\" aria-label=\"Live bytes by allocation stack\"></svg>\n"
	      "<div id=\"flame-inuse-readout\"></div>\n"
	      "</section>\n", f);
}

static void page_header(FILE *f, const struct html_report_input *in)
{
	const struct history *h = in->history;
	const struct history_point *last = h->nr_points ? &h->points[h->nr_points - 1] : NULL;
	char b[32], when[64] = "";

	if (in->start_unix_ms) {
		time_t secs = (time_t)(in->start_unix_ms / 1000);
		struct tm tm;

		if (gmtime_r(&secs, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>arenatrace: ", f);
	html__text(f, in->comm ? in->comm : "?");
	fprintf(f, " (pid %d)</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>arenatrace: <code>", (int)in->pid,
		style);
	html__text(f, in->comm ? in->comm : "?");
	fprintf(f, "</code> pid %d</h1>\n<p class=\"meta\">", (int)in->pid);
	if (*when)
		fprintf(f, "started %s &middot; ", when);
	if (last)
		fprintf(f, "%.1f s traced &middot; %zu samples shown", last->t, h->nr_points);
	else
		fputs("no samples", f);
	if (in->interval_s > 0)
		fprintf(f, " (interval %.3g s)", in->interval_s);
	if (last)
		fprintf(f, " &middot; final rss %s", human(last->rss_bytes, b, sizeof(b)));
	if (last)
		fprintf(f, ", accounted %s", human(last->accounted_bytes, b, sizeof(b)));
	fputs("</p>\n", f);
	if (in->command && in->command[0]) {
		fputs("<p class=\"meta\">command: <code>", f);
		for (size_t i = 0; in->command[i]; i++) {
			fputs(i ? " " : "", f);
			html__text(f, in->command[i]);
		}
		fputs("</code></p>\n", f);
	}
	fputs("</header>\n", f);
}

static void section_diagnosis(FILE *f, const struct html_report_input *in)
{
	fputs("<section id=\"diagnosis\">\n<h2>Diagnosis</h2>\n", f);
	if (in->diagnosis && *in->diagnosis) {
		fputs("<pre class=\"diagnosis\">", f);
		html__text(f, in->diagnosis);
		fputs("</pre>\n", f);
	} else {
		fputs("<p class=\"muted\">No diagnosis for this run.</p>\n", f);
	}
	fputs("</section>\n", f);
}

/* Resident bytes by kind, as the terminal summary shows them. */
static void section_kinds(FILE *f, const struct final_arena *fa, size_t nfa)
{
	uint64_t total = 0;
	char b[32];

	for (size_t k = 0; k < nfa; k++)
		total += pages_bytes(fa[k].a->resident_pages);
	fputs("<section id=\"kinds\">\n<h2>Where the resident memory sits at the end</h2>\n", f);
	if (!nfa) {
		fputs("<p class=\"muted\">No arenas.</p>\n</section>\n", f);
		return;
	}
	fputs("<table>\n<tr><th>kind</th><th class=\"n\">resident</th><th class=\"n\">share</th>"
	      "<th class=\"n\">arenas</th></tr>\n", f);
	for (size_t i = 0; i < classifier__nr_kinds(); i++) {
		const struct arena_kind *kind = classifier__kind(i);
		uint64_t sum = 0;
		size_t count = 0;

		for (size_t k = 0; k < nfa; k++)
			if (fa[k].a->kind == kind) {
				sum += pages_bytes(fa[k].a->resident_pages);
				count++;
			}
		if (!count)
			continue;
		fprintf(f, "<tr><td>%s</td>", kind->name);
		bytes_cell(f, sum);
		fprintf(f, "<td class=\"n\">%.1f%%</td><td class=\"n\">%zu</td></tr>\n",
			total ? 100.0 * sum / total : 0.0, count);
	}
	fprintf(f, "</table>\n<p class=\"meta\">accounted %s in %zu arenas</p>\n</section>\n",
		human(total, b, sizeof(b)), nfa);
}

static void section_chart(FILE *f, const struct chart *c)
{
	fputs("<section id=\"chart\">\n<h2>Resident memory by arena over time</h2>\n", f);
	fprintf(f, "<p class=\"meta\">The %zu arenas with the highest peak%s, stacked; the dashed line is the "
		   "process RSS; shaded bands are bursts.</p>\n",
		c->nr_top, c->nr_other ? ", the rest summed as other" : "");
	fputs("<svg id=\"resident-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 960 400\" "
	      "role=\"img\" aria-label=\"Resident bytes per arena over time\"></svg>\n"
	      "<div id=\"chart-legend\"></div>\n<div id=\"chart-readout\"></div>\n"
	      "<noscript><p class=\"muted\">The chart needs JavaScript; the tables do not.</p></noscript>\n"
	      "</section>\n", f);
}

static void section_bursts(FILE *f, const struct html_report_input *in, const struct final_arena *fa, size_t nfa)
{
	size_t nb = in->retention ? retention__nr_bursts(in->retention) : 0;

	fputs("<section id=\"bursts\">\n<h2>Bursts</h2>\n", f);
	if (!in->retention) {
		fputs("<p class=\"muted\">No retention analysis in this run.</p>\n</section>\n", f);
		return;
	}
	if (!nb) {
		fputs("<p class=\"muted\">No bursts: memory grew at the process's usual rate.</p>\n</section>\n", f);
		return;
	}
	fputs("<table>\n<tr><th class=\"n\">#</th><th class=\"n\">start</th><th class=\"n\">end</th>"
	      "<th class=\"n\">faulted</th><th class=\"n\">released since</th><th class=\"n\">still resident</th>"
	      "<th>still resident in</th></tr>\n", f);
	for (size_t i = 0; i < nb; i++) {
		const struct burst *b = retention__burst(in->retention, i);
		char buf[32];

		if (!b)
			continue;
		fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"n\">%.3f s</td><td class=\"n\">", i + 1,
			t_of(in, b->start_ns));
		if (b->end_ns)
			fprintf(f, "%.3f s</td>", t_of(in, b->end_ns));
		else
			fputs("in progress</td>", f);
		bytes_cell(f, b->faulted_bytes);
		bytes_cell(f, b->released_bytes);
		bytes_cell(f, b->resident_bytes);
		fputs("<td>", f);
		/* fa is sorted by resident: the first arenas holding some of it are the big ones. */
		for (size_t k = 0, shown = 0; k < nfa && shown < BURST_ARENAS; k++) {
			uint64_t here = retention__burst_resident_in(in->retention, i, fa[k].a);

			if (!here)
				continue;
			fputs(shown++ ? ", " : "", f);
			fputs("<span class=\"id\">", f);
			html__text(f, fa[k].a->id);
			fprintf(f, "</span> %s", human(here, buf, sizeof(buf)));
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n</section>\n", f);
}

static void section_arenas(FILE *f, const struct html_report_input *in, const struct final_arena *fa, size_t nfa)
{
	fputs("<section id=\"arenas\">\n<h2>Arenas at the end</h2>\n", f);
	if (!nfa) {
		fputs("<p class=\"muted\">No arenas.</p>\n</section>\n", f);
		return;
	}
	fputs("<table id=\"arena-table\">\n<tr><th>kind</th><th>arena</th><th>ranges</th><th class=\"n\">mapped</th>"
	      "<th class=\"n\">resident</th><th class=\"n\">peak</th><th class=\"n\">faulted</th>"
	      "<th class=\"n\">released</th>", f);
	if (in->retention)
		fputs("<th class=\"n\">retained</th>", f);
	fputs("</tr>\n", f);
	for (size_t k = 0; k < nfa; k++) {
		const struct arena *a = fa[k].a;
		size_t ri = 0, nr = 0;
		uint64_t s = 0, e = 0;

		fputs("<tr><td>", f);
		html__text(f, a->kind ? a->kind->name : "?");
		fputs("</td><td class=\"id\">", f);
		html__text(f, a->id);
		fputs("</td><td class=\"mono\">", f);
		while (next_range(in->ledger, a, &ri, &s, &e)) {
			if (nr++ < TABLE_RANGES)
				fprintf(f, "%s%" PRIx64 "-%" PRIx64, nr > 1 ? "<br>" : "", s, e);
		}
		if (nr > TABLE_RANGES)
			fprintf(f, "<br>+%zu more", nr - TABLE_RANGES);
		fputs("</td>", f);
		bytes_cell(f, a->mapped_bytes);
		bytes_cell(f, pages_bytes(a->resident_pages));
		bytes_cell(f, pages_bytes(a->peak_resident_pages));
		bytes_cell(f, a->faulted_pages * PAGE_BYTES);
		bytes_cell(f, a->released_pages * PAGE_BYTES);
		if (in->retention) {
			if (fa[k].has_retention)
				bytes_cell(f, fa[k].r.retained_bytes);
			else
				fputs("<td class=\"n muted\">-</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n</section>\n", f);
}

/* 600 -> "10 min": the age edges are round numbers of seconds, minutes or hours. */
static void duration(FILE *f, double s)
{
	if (s < 60)
		fprintf(f, "%g s", s);
	else if (s < 3600)
		fprintf(f, "%g min", s / 60);
	else
		fprintf(f, "%g h", s / 3600);
}

static void age_label(FILE *f, const struct arena_retention *r, size_t i, size_t n)
{
	if (i + 1 < n) {
		duration(f, r->age_edges_s[i]);
		fputs(" &ndash; ", f);
		duration(f, r->age_edges_s[i + 1]);
		fputs(" ago", f);
	} else {
		fputs("over ", f);
		duration(f, r->age_edges_s[i]);
		fputs(" ago", f);
	}
}

static void section_details(FILE *f, const struct html_report_input *in, const struct final_arena *fa, size_t nfa)
{
	fputs("<section id=\"details\">\n<h2>The largest arenas: resident memory by age</h2>\n", f);
	if (!in->retention)
		fputs("<p class=\"muted\">No retention analysis in this run: ages are not known.</p>\n", f);
	for (size_t k = 0, shown = 0; k < nfa && shown < DETAIL_ARENAS; k++) {
		const struct arena *a = fa[k].a;
		const struct arena_retention *r = &fa[k].r;
		uint64_t resident = pages_bytes(a->resident_pages), top = 0;
		size_t n = nr_ages(&fa[k]);
		char b1[32], b2[32];

		if (!resident)
			break;
		shown++;
		fputs("<details class=\"arena-detail\"><summary><span class=\"id\">", f);
		html__text(f, a->id);
		fprintf(f, "</span> &mdash; %s resident", human(resident, b1, sizeof(b1)));
		if (fa[k].has_retention)
			fprintf(f, ", %s retained", human(r->retained_bytes, b2, sizeof(b2)));
		fputs("</summary>\n", f);
		if (!fa[k].has_retention) {
			fputs("<p class=\"muted\">No retention data for this arena.</p></details>\n", f);
			continue;
		}
		fprintf(f, "<p class=\"meta\">peak %s at %.3f s; ", human(pages_bytes(a->peak_resident_pages), b1, sizeof(b1)),
			t_of(in, r->peak_ns));
		if (r->last_growth_ns)
			fprintf(f, "last grew at %.3f s; ", t_of(in, r->last_growth_ns));
		else
			fputs("never grew while traced; ", f);
		fprintf(f, "released %s since the peak</p>\n", human(r->released_since_peak_bytes, b1, sizeof(b1)));
		for (size_t i = 0; i < n; i++)
			top = r->age_bytes[i] > top ? r->age_bytes[i] : top;
		fputs("<table class=\"ages\">\n<tr><th>first faulted in</th><th class=\"n\">resident</th><th></th></tr>\n", f);
		for (size_t i = 0; i < n; i++) {
			fputs("<tr><td>", f);
			age_label(f, r, i, n);
			fputs("</td>", f);
			bytes_cell(f, r->age_bytes[i]);
			fprintf(f, "<td style=\"width:50%%\"><div class=\"bar\" style=\"width:%.1f%%\"></div></td></tr>\n",
				top ? 100.0 * r->age_bytes[i] / top : 0.0);
		}
		fputs("</table>\n</details>\n", f);
	}
	fputs("</section>\n", f);
}

static void write_page(FILE *f, const struct html_report_input *in, const struct chart *c,
		       const struct final_arena *fa, size_t nfa, struct flame *fl, struct flame *fl_inuse)
{
	page_header(f, in);
	section_diagnosis(f, in);
	section_chart(f, c);
	section_kinds(f, fa, nfa);
	section_flame(f, fl);
	section_flame_inuse(f, fl_inuse);
	section_bursts(f, in, fa, nfa);
	section_arenas(f, in, fa, nfa);
	section_details(f, in, fa, nfa);
	fputs("<script type=\"application/json\" id=\"report-data\">\n", f);
	json_data(f, in, c, fa, nfa, fl, fl_inuse);
	fprintf(f, "</script>\n<script>\n%s%s%s})();\n</script>\n</body>\n</html>\n", script_common, script,
		flame_script);
}

/* The page into f (not closed). Returns 0 or -errno (nothing printed). */
int html_report__write_file(FILE *f, const struct html_report_input *in)
{
	struct final_arena *fa;
	struct chart c;
	struct flame fl = { .total = 0 }, fl_inuse = { .total = 0 };
	size_t nfa;
	int err = 0;

	if (chart__init(&c, in->history) || (in->profile && flame__build(&fl, in->profile, PROFILE_RESIDENT)) ||
	    (in->profile && flame__build(&fl_inuse, in->profile, PROFILE_INUSE))) {
		flame__free(&fl);
		chart__free(&c);
		return -ENOMEM;
	}
	fa = final_arenas(in, &nfa);
	errno = 0;
	/* The inuse graph only when --heap sampled allocation stacks. */
	write_page(f, in, &c, fa, nfa, in->profile ? &fl : NULL, in->profile && fl_inuse.total ? &fl_inuse : NULL);
	if (fflush(f) || ferror(f))
		err = errno ? errno : EIO;
	free(fa);
	flame__free(&fl);
	flame__free(&fl_inuse);
	chart__free(&c);
	return -err;
}

int html_report__write(const char *path, const struct html_report_input *in)
{
	int err = 0;
	FILE *f;

	f = fopen(path, "we");
	if (!f) {
		err = errno;
		fprintf(stderr, "arenatrace: cannot write the HTML report to %s: %s\n", path, strerror(err));
		return -err;
	}
	err = -html_report__write_file(f, in);
	if (fclose(f) && !err)
		err = errno ? errno : EIO;
	if (err == ENOMEM)
		fprintf(stderr, "arenatrace: cannot write the HTML report to %s: out of memory\n", path);
	else if (err)
		fprintf(stderr, "arenatrace: writing the HTML report to %s failed: %s%s\n", path, strerror(err),
			err == ENOSPC ? " (disk full)" : "");
	return -err;
}
