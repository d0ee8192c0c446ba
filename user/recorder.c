#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arenatrace_records.h"
#include "recorder.h"
#include "region.h"

static struct {
	enum input_mode mode;
	struct trace_writer *w;
	struct trace_reader *r;
	/* Replay: one item of lookahead. */
	bool have;
	uint32_t type, len;
	const void *payload;
	bool exhausted;
	uint64_t taken;
	char problem[200];
	/* IN_RUN deltas: the previous fault run's timestamp. */
	uint64_t prev_ts;
} in;

void input__record(struct trace_writer *w)
{
	memset(&in, 0, sizeof(in));
	in.mode = INPUT_RECORD;
	in.w = w;
}

void input__replay(struct trace_reader *r)
{
	memset(&in, 0, sizeof(in));
	in.mode = INPUT_REPLAY;
	in.r = r;
}

void input__reset(void)
{
	memset(&in, 0, sizeof(in));
}

enum input_mode input__mode(void)
{
	return in.mode;
}

bool input__exhausted(void)
{
	return in.mode == INPUT_REPLAY && in.exhausted;
}

const char *input__problem(void)
{
	return in.problem[0] ? in.problem : NULL;
}

void input__put(uint32_t type, const void *payload, size_t len)
{
	if (in.mode == INPUT_RECORD)
		trace_writer__add(in.w, type, payload, len);
}

/* Fills the lookahead, skipping item types this version does not know. */
static bool fill(void)
{
	while (!in.have && !in.exhausted) {
		if (!trace_reader__next(in.r, &in.type, &in.payload, &in.len)) {
			in.exhausted = true;
			break;
		}
		if (in.type >= IN_META && in.type <= IN_LAST)
			in.have = true;
	}
	return in.have;
}

uint32_t input__peek_type(void)
{
	return in.mode == INPUT_REPLAY && fill() ? in.type : 0;
}

static void diverged(uint32_t want, uint32_t len)
{
	snprintf(in.problem, sizeof(in.problem),
		 "the recording does not match this version's replay at item %llu "
		 "(expected type %u, found type %u of %u bytes)",
		 (unsigned long long)in.taken + 1, want, in.type, len);
	in.exhausted = true;
	in.have = false;
}

enum input_got input__take_var(uint32_t type, const void **payload, uint32_t *len)
{
	if (in.mode != INPUT_REPLAY)
		return INPUT_ASK_LIVE;
	if (!fill())
		return INPUT_NONE;
	if (in.type != type) {
		diverged(type, in.len);
		return INPUT_NONE;
	}
	*payload = in.payload;
	*len = in.len;
	in.have = false;
	in.taken++;
	return INPUT_GOT;
}

enum input_got input__take(uint32_t type, void *buf, size_t len)
{
	const void *p;
	uint32_t n;
	enum input_got got = input__take_var(type, &p, &n);

	if (got != INPUT_GOT)
		return got;
	if (n != len) {
		in.type = type;
		diverged(type, n);
		return INPUT_NONE;
	}
	memcpy(buf, p, len);
	return INPUT_GOT;
}

void input__put_region(uint32_t type, bool ok, const struct region *r)
{
	unsigned char buf[1 + sizeof(struct input_region) + 4096];
	struct input_region ir = { 0 };
	size_t plen = 0;

	if (in.mode != INPUT_RECORD)
		return;
	buf[0] = ok;
	if (ok) {
		ir = (struct input_region){ .start = r->start, .end = r->end, .prot = r->prot,
					    .map_flags = r->map_flags, .shared = r->shared, .has_path = r->path != NULL };
		if (r->path) {
			plen = strlen(r->path);
			if (plen > 4095)
				plen = 4095;
			memcpy(buf + 1 + sizeof(ir), r->path, plen);
		}
	}
	memcpy(buf + 1, &ir, sizeof(ir));
	input__put(type, buf, 1 + sizeof(ir) + plen);
}

enum input_got input__take_region(uint32_t type, bool *ok, struct region *r)
{
	struct input_region ir;
	const unsigned char *p;
	uint32_t n;
	enum input_got got = input__take_var(type, (const void **)&p, &n);

	if (got != INPUT_GOT)
		return got;
	memset(r, 0, sizeof(*r));
	if (n < 1 + sizeof(ir)) {
		in.type = type;
		diverged(type, n);
		return INPUT_NONE;
	}
	memcpy(&ir, p + 1, sizeof(ir));
	if (p[0] && (ir.start >= ir.end || (ir.start | ir.end) & (AT_PAGE_SIZE - 1))) {
		in.type = type;
		diverged(type, n);
		return INPUT_NONE;
	}
	*ok = p[0] != 0;
	r->start = ir.start;
	r->end = ir.end;
	r->prot = ir.prot;
	r->map_flags = ir.map_flags;
	r->shared = ir.shared != 0;
	if (*ok && ir.has_path)
		r->path = strndup((const char *)p + 1 + sizeof(ir), n - 1 - sizeof(ir));
	return INPUT_GOT;
}

/* IN_RUN: a fault run without its type and padding, times and the low address
 * as deltas: 40 bytes instead of 64, fixed offsets so replay reads it with
 * plain loads (inflating is most of `report`'s work: fewer bytes, faster). */
struct packed_run {
	uint32_t tid, dts, dfirst, span;
	uint64_t lo;
	uint32_t added, removed, events, origin;
};
_Static_assert(sizeof(struct packed_run) == 40, "packed run size");

void input__put_record(const void *data, size_t len)
{
	const struct arenatrace_run_record *r = data;
	struct packed_run pr;

	if (in.mode != INPUT_RECORD)
		return;
	if (len != sizeof(*r) || r->type != ARENATRACE_REC_FAULT_RUN || r->ts_ns < in.prev_ts ||
	    r->ts_ns - in.prev_ts > UINT32_MAX || r->ts_ns < r->first_ns || r->ts_ns - r->first_ns > UINT32_MAX ||
	    r->hi < r->lo || r->hi - r->lo > UINT32_MAX || r->added_pages > UINT32_MAX ||
	    r->removed_pages > UINT32_MAX) {
		/* Does not fit: as the kernel sent it (and the deltas start from it). */
		if (len >= 16 && ((const struct arenatrace_rss_record *)data)->type == ARENATRACE_REC_FAULT_RUN)
			in.prev_ts = r->ts_ns;
		input__put(IN_RECORD, data, len);
		return;
	}
	pr = (struct packed_run){
		.tid = r->tid, .dts = (uint32_t)(r->ts_ns - in.prev_ts), .dfirst = (uint32_t)(r->ts_ns - r->first_ns),
		.span = (uint32_t)(r->hi - r->lo), .lo = r->lo, .added = (uint32_t)r->added_pages,
		.removed = (uint32_t)r->removed_pages, .events = r->events, .origin = r->origin,
	};
	in.prev_ts = r->ts_ns;
	input__put(IN_RUN, &pr, sizeof(pr));
}

enum input_got input__take_record(void *buf, size_t cap, uint32_t *len)
{
	struct arenatrace_run_record r = { .type = ARENATRACE_REC_FAULT_RUN };
	struct packed_run pr;
	const void *payload;
	uint32_t n;
	uint32_t t = input__peek_type();

	if (t == IN_RECORD) {
		if (input__take_var(IN_RECORD, &payload, &n) != INPUT_GOT)
			return INPUT_NONE;
		*len = n < cap ? n : (uint32_t)cap;
		memcpy(buf, payload, *len);
		if (n == sizeof(r) && ((const struct arenatrace_run_record *)buf)->type == ARENATRACE_REC_FAULT_RUN)
			in.prev_ts = ((const struct arenatrace_run_record *)buf)->ts_ns;
		return INPUT_GOT;
	}
	if (t != IN_RUN || input__take(IN_RUN, &pr, sizeof(pr)) != INPUT_GOT)
		return INPUT_NONE;
	r.tid = pr.tid;
	r.ts_ns = in.prev_ts + pr.dts;
	r.first_ns = r.ts_ns - pr.dfirst;
	r.lo = pr.lo;
	r.hi = pr.lo + pr.span;
	r.added_pages = pr.added;
	r.removed_pages = pr.removed;
	r.events = pr.events;
	r.origin = pr.origin;
	in.prev_ts = r.ts_ns;
	*len = sizeof(r) < cap ? sizeof(r) : (uint32_t)cap;
	memcpy(buf, &r, *len);
	return INPUT_GOT;
}

_Static_assert(IN_MODULES == 12 && IN_RUN == 23 && IN_STACK == 24, "item types are never renumbered");
