/*
 * pprof exporter (format in pprof_export.h). Two passes: first the profile's
 * cells are turned into pprof's deduplicated tables (functions, mappings,
 * locations) in plain arrays, then those are wrapped in protobuf-c messages,
 * packed, gzipped and written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "profile.pb-c.h"
#include "pprof_export.h"

#define PP_PAGE_MASK 0xfffULL

struct pp_func {
	uint32_t name, file;	/* profile string ids */
};

struct pp_map {
	uint32_t module, build_id;
	uint64_t base, min_off, max_off;
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct pp_loc {
	uint64_t address;
	uint32_t mapping;	/* pprof id (index + 1), 0 none */
	uint32_t line_off, nr_lines;
};

struct pp_line {
	uint32_t function;	/* pprof id */
	int64_t line;
};

/*
 * Every function, mapping, location and line comes from a distinct frame
 * (locations have distinct addresses or are one per address-less frame), so
 * arrays of profile__nr_frames() entries never overflow.
 */
struct pprof_build {
	const struct profile *p;
	size_t nr_frames;
	struct profile_frame *fr;
	struct profile_frame_ids *fid;
	uint32_t *loc_of_frame;		/* address-less frames: pprof location id */

	struct pp_func *func;
	size_t nr_func;
	struct profile_index func_ix;
	struct pp_map *map;
	size_t nr_map;
	struct profile_index map_ix;
	struct pp_loc *loc;
	size_t nr_loc;
	struct profile_index loc_ix;	/* by address */
	struct pp_line *line;
	size_t nr_line;

	/* strings pprof needs that the profile does not hold; index nr_strings + i */
	char *extra[8];
	size_t nr_extra;
};

/* pprof string index of s: the profile's own id, or a new extra string. -1 on ENOMEM */
static int64_t pp__string(struct pprof_build *b, const char *s)
{
	int64_t id = profile__string_find(b->p, s);

	if (id >= 0)
		return id;
	for (size_t i = 0; i < b->nr_extra; i++)
		if (!strcmp(b->extra[i], s))
			return profile__nr_strings(b->p) + i;
	if (b->nr_extra == sizeof(b->extra) / sizeof(b->extra[0]) || !(b->extra[b->nr_extra] = strdup(s)))
		return -1;
	return profile__nr_strings(b->p) + b->nr_extra++;
}

static bool func__eq(const void *ctx, uint32_t id)
{
	const void *const *c = ctx;
	const struct pp_func *a = &((const struct pprof_build *)c[0])->func[id], *k = c[1];

	return a->name == k->name && a->file == k->file;
}

/* pprof function id for (name, file); 0 on ENOMEM */
static uint32_t pp__function(struct pprof_build *b, uint32_t name, uint32_t file)
{
	struct pp_func k = { name, file };
	const void *ctx[2] = { b, &k };
	uint64_t h = profile_index__mix((uint64_t)name << 32 | file);
	uint32_t id = profile_index__find(&b->func_ix, h, func__eq, ctx);

	if (id != UINT32_MAX)
		return id + 1;
	if (profile_index__insert(&b->func_ix, h, b->nr_func))
		return 0;
	b->func[b->nr_func++] = k;
	return b->nr_func;
}

static bool map__eq(const void *ctx, uint32_t id)
{
	const void *const *c = ctx;
	const struct pp_map *a = &((const struct pprof_build *)c[0])->map[id], *k = c[1];

	return a->module == k->module && a->build_id == k->build_id && a->base == k->base;
}

/* pprof mapping id for a module loaded at base; 0 on ENOMEM */
static uint32_t pp__mapping(struct pprof_build *b, uint32_t module, uint32_t build_id, uint64_t base,
			    uint64_t off)
{
	struct pp_map k = { .module = module, .build_id = build_id, .base = base,
			    .min_off = off, .max_off = off };
	const void *ctx[2] = { b, &k };
	uint64_t h = profile_index__mix(((uint64_t)module << 32 | build_id) ^ profile_index__mix(base));
	uint32_t id = profile_index__find(&b->map_ix, h, map__eq, ctx);

	if (id != UINT32_MAX) {
		struct pp_map *m = &b->map[id];

		m->min_off = off < m->min_off ? off : m->min_off;
		m->max_off = off > m->max_off ? off : m->max_off;
		return id + 1;
	}
	if (profile_index__insert(&b->map_ix, h, b->nr_map))
		return 0;
	b->map[b->nr_map++] = k;
	return b->nr_map;
}

static bool loc__eq(const void *ctx, uint32_t id)
{
	const void *const *c = ctx;

	return ((const struct pprof_build *)c[0])->loc[id].address == *(const uint64_t *)c[1];
}

/*
 * Frames stack[i..i+run) that share one nonzero address: the inline chain at
 * that return address. A frame seen again ends it: that is direct recursion
 * (same call site, same return address), not inlining.
 */
static size_t pp__run(const struct pprof_build *b, const uint32_t *stack, size_t i, size_t nr)
{
	uint64_t addr = b->fr[stack[i]].address;
	size_t run = 1;

	if (!addr)
		return 1;
	for (; i + run < nr && b->fr[stack[i + run]].address == addr; run++)
		for (size_t k = 0; k < run; k++)
			if (stack[i + k] == stack[i + run])
				return run;
	return run;
}

/* A new location for the frames stack[i..i+run); its pprof id, 0 on ENOMEM */
static uint32_t pp__new_location(struct pprof_build *b, const uint32_t *stack, size_t i, size_t run)
{
	const struct profile_frame *f0 = &b->fr[stack[i]];
	const struct profile_frame_ids *id0 = &b->fid[stack[i]];
	struct pp_loc *l = &b->loc[b->nr_loc];
	struct pp_map *m = NULL;

	*l = (struct pp_loc){ .address = f0->address, .line_off = b->nr_line };
	if (id0->module) {
		/* pprof's object offset is address - memory_start + file_offset: keep the
		 * module's load base as the mapping's anchor so that it is module_offset */
		uint64_t base = f0->address ? f0->address - f0->module_offset : 0;

		if (!f0->address)
			l->address = f0->module_offset;
		if (!(l->mapping = pp__mapping(b, id0->module, id0->build_id, base, f0->module_offset)))
			return 0;
		m = &b->map[l->mapping - 1];
		m->has_inline_frames |= run > 1;
	}
	for (size_t k = 0; k < run; k++) {
		const struct profile_frame *f = &b->fr[stack[i + k]];
		const struct profile_frame_ids *id = &b->fid[stack[i + k]];
		uint32_t fn;

		if (!id->function)
			continue;
		if (!(fn = pp__function(b, id->function, id->file)))
			return 0;
		b->line[b->nr_line++] = (struct pp_line){ .function = fn, .line = f->line };
		l->nr_lines++;
		if (m) {
			m->has_functions = true;
			m->has_filenames |= id->file != 0;
			m->has_line_numbers |= f->line > 0;
		}
	}
	return ++b->nr_loc;
}

/* The pprof location for the frames at stack[i]; *run of them taken. 0 on ENOMEM */
static uint32_t pp__location(struct pprof_build *b, const uint32_t *stack, size_t i, size_t nr,
			     size_t *run)
{
	uint32_t frame = stack[i], id;
	uint64_t addr = b->fr[frame].address, h = profile_index__mix(addr);
	const void *ctx[2] = { b, &addr };

	*run = pp__run(b, stack, i, nr);
	if (!addr) {
		if (!b->loc_of_frame[frame])
			b->loc_of_frame[frame] = pp__new_location(b, stack, i, 1);
		return b->loc_of_frame[frame];
	}
	/* the first stack through an address decides its lines */
	id = profile_index__find(&b->loc_ix, h, loc__eq, ctx);
	if (id != UINT32_MAX)
		return id + 1;
	if (profile_index__insert(&b->loc_ix, h, b->nr_loc))
		return 0;
	return pp__new_location(b, stack, i, *run);
}

static bool cell__wanted(const struct profile_cell *c)
{
	for (int t = 0; t < PROFILE_NR; t++)
		if (c->bytes[t] > 0)
			return true;
	return false;
}

/* gzip (zlib's own header and trailer: windowBits 15 + 16) of in into *out */
static int pp__gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream zs = { 0 };
	int ret;

	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	*out_len = deflateBound(&zs, len) + 32;
	*out = malloc(*out_len);
	if (!*out) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = *out;
	zs.avail_out = *out_len;
	ret = deflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	if (ret != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

static int pp__write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f) {
		err = errno;
		fprintf(stderr, "arenatrace: cannot write the pprof profile to %s: %s\n", path, strerror(err));
		return -err;
	}
	errno = 0;
	if (fwrite(buf, 1, len, f) != len || fflush(f))
		err = errno ? errno : EIO;
	if (fclose(f) && !err)
		err = errno ? errno : EIO;
	if (err)
		fprintf(stderr, "arenatrace: writing the pprof profile to %s failed: %s%s\n", path,
			strerror(err), err == ENOSPC ? " (disk full)" : "");
	return -err;
}

int pprof_export__build(const struct profile *p, uint64_t duration_ns, uint64_t time_unix_ns,
			uint8_t **out, size_t *out_len)
{
	static const char *const type_names[PROFILE_NR] = {
		[PROFILE_RESIDENT] = "resident_space",
		[PROFILE_FAULTED] = "faulted_space",
		[PROFILE_GROWTH] = "growth_space",
		[PROFILE_RELEASED] = "released_space",
		[PROFILE_INUSE] = "inuse_space",
	};
	struct pprof_build b = { .p = p, .nr_frames = profile__nr_frames(p) };
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType vt[PROFILE_NR], *vtp[PROFILE_NR];
	Perftools__Profiles__Function *fn = NULL, **fnp = NULL;
	Perftools__Profiles__Mapping *mp = NULL, **mpp = NULL;
	Perftools__Profiles__Location *lc = NULL, **lcp = NULL;
	Perftools__Profiles__Line *ln = NULL, **lnp = NULL;
	Perftools__Profiles__Sample *sm = NULL, **smp = NULL;
	Perftools__Profiles__Label *lb = NULL, **lbp = NULL;
	uint64_t *loc_ids = NULL;
	int64_t *values = NULL, s_bytes, s_arena, s_kind, s_comment = -1;
	char **strtab = NULL;
	uint8_t *packed = NULL, *gz = NULL;
	size_t nr_cells, nr_samples = 0, nr_loc_ids = 0, gz_len = 0, packed_len, nr_str;
	const struct profile_cell *cells = profile__cells(p, &nr_cells);
	struct profile_stats st;
	char comment[160];
	int err = -ENOMEM;
	/* inuse_space (--heap) is the last type, written only when there is one. */
	int nt = PROFILE_NR - 1;

	for (size_t c = 0; c < nr_cells; c++)
		if (cells[c].bytes[PROFILE_INUSE])
			nt = PROFILE_NR;

	/* the extra strings first: the string table is built from them below */
	s_bytes = pp__string(&b, "bytes");
	s_arena = pp__string(&b, "arena");
	s_kind = pp__string(&b, "kind");
	if (s_bytes < 0 || s_arena < 0 || s_kind < 0)
		goto out;
	for (int t = 0; t < nt; t++) {
		vt[t] = (Perftools__Profiles__ValueType)PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
		vt[t].type = pp__string(&b, type_names[t]);
		vt[t].unit = s_bytes;
		vtp[t] = &vt[t];
		if (vt[t].type < 0)
			goto out;
	}
	profile__stats(p, &st);
	if (st.overflow_adds || st.truncated_stacks || st.dropped_adds) {
		snprintf(comment, sizeof(comment),
			 "arenatrace: %" PRIu64 " adds past the store's limits under %s/%s, %" PRIu64
			 " stacks cut to %d frames, %" PRIu64 " adds lost to out of memory",
			 st.overflow_adds, PROFILE_OTHER_STACKS, PROFILE_OTHER_ARENAS, st.truncated_stacks,
			 PROFILE_MAX_DEPTH, st.dropped_adds);
		if ((s_comment = pp__string(&b, comment)) < 0)
			goto out;
	}

	/* pass 1: pprof's tables, in plain arrays */
	{
		size_t n = b.nr_frames ? b.nr_frames : 1;

		b.fr = calloc(n, sizeof(*b.fr));
		b.fid = calloc(n, sizeof(*b.fid));
		b.loc_of_frame = calloc(n, sizeof(*b.loc_of_frame));
		b.func = calloc(n, sizeof(*b.func));
		b.map = calloc(n, sizeof(*b.map));
		b.loc = calloc(n, sizeof(*b.loc));
		b.line = calloc(n, sizeof(*b.line));
		if (!b.fr || !b.fid || !b.loc_of_frame || !b.func || !b.map || !b.loc || !b.line)
			goto out;
	}
	for (size_t i = 0; i < b.nr_frames; i++)
		profile__frame(p, i, &b.fr[i], &b.fid[i]);
	for (size_t c = 0; c < nr_cells; c++) {
		size_t nr;

		if (!cell__wanted(&cells[c]))
			continue;
		profile__stack(p, cells[c].stack, &nr);
		nr_samples++;
		nr_loc_ids += nr;
	}
	sm = calloc(nr_samples + 1, sizeof(*sm));
	smp = calloc(nr_samples + 1, sizeof(*smp));
	values = calloc((nr_samples + 1) * (size_t)nt, sizeof(*values));
	lb = calloc((nr_samples + 1) * 2, sizeof(*lb));
	lbp = calloc((nr_samples + 1) * 2, sizeof(*lbp));
	loc_ids = calloc(nr_loc_ids + 1, sizeof(*loc_ids));
	if (!sm || !smp || !values || !lb || !lbp || !loc_ids)
		goto out;

	nr_loc_ids = 0;
	for (size_t c = 0, s = 0; c < nr_cells; c++) {
		const struct profile_cell *cell = &cells[c];
		Perftools__Profiles__Sample *x = &sm[s];
		const uint32_t *stack;
		size_t nr, run;

		if (!cell__wanted(cell))
			continue;
		*x = (Perftools__Profiles__Sample)PERFTOOLS__PROFILES__SAMPLE__INIT;
		stack = profile__stack(p, cell->stack, &nr);
		x->location_id = &loc_ids[nr_loc_ids];
		for (size_t i = 0; i < nr; i += run) {
			uint32_t loc = pp__location(&b, stack, i, nr, &run);

			if (!loc)
				goto out;
			x->location_id[x->n_location_id++] = loc;
		}
		nr_loc_ids += x->n_location_id;
		x->value = &values[s * (size_t)nt];
		x->n_value = (size_t)nt;
		for (int t = 0; t < nt; t++)
			x->value[t] = cell->bytes[t] > 0 ? cell->bytes[t] : 0;
		for (int k = 0; k < 2; k++) {
			Perftools__Profiles__Label *l = &lb[2 * s + k];

			*l = (Perftools__Profiles__Label)PERFTOOLS__PROFILES__LABEL__INIT;
			l->key = k ? s_kind : s_arena;
			l->str = k ? cell->kind : cell->arena;
			lbp[2 * s + k] = l;
		}
		x->label = &lbp[2 * s];
		x->n_label = 2;
		smp[s++] = x;
	}

	/* pass 2: the messages */
	fn = calloc(b.nr_func + 1, sizeof(*fn));
	fnp = calloc(b.nr_func + 1, sizeof(*fnp));
	mp = calloc(b.nr_map + 1, sizeof(*mp));
	mpp = calloc(b.nr_map + 1, sizeof(*mpp));
	lc = calloc(b.nr_loc + 1, sizeof(*lc));
	lcp = calloc(b.nr_loc + 1, sizeof(*lcp));
	ln = calloc(b.nr_line + 1, sizeof(*ln));
	lnp = calloc(b.nr_line + 1, sizeof(*lnp));
	nr_str = profile__nr_strings(p) + b.nr_extra;
	strtab = calloc(nr_str, sizeof(*strtab));
	if (!fn || !fnp || !mp || !mpp || !lc || !lcp || !ln || !lnp || !strtab)
		goto out;
	for (size_t i = 0; i < b.nr_func; i++) {
		fn[i] = (Perftools__Profiles__Function)PERFTOOLS__PROFILES__FUNCTION__INIT;
		fn[i].id = i + 1;
		fn[i].name = fn[i].system_name = b.func[i].name;
		fn[i].filename = b.func[i].file;
		fnp[i] = &fn[i];
	}
	for (size_t i = 0; i < b.nr_map; i++) {
		const struct pp_map *m = &b.map[i];

		mp[i] = (Perftools__Profiles__Mapping)PERFTOOLS__PROFILES__MAPPING__INIT;
		mp[i].id = i + 1;
		mp[i].file_offset = m->min_off & ~PP_PAGE_MASK;
		mp[i].memory_start = m->base + mp[i].file_offset;
		mp[i].memory_limit = m->base + ((m->max_off + 1 + PP_PAGE_MASK) & ~PP_PAGE_MASK);
		mp[i].filename = m->module;
		mp[i].build_id = m->build_id;
		mp[i].has_functions = m->has_functions;
		mp[i].has_filenames = m->has_filenames;
		mp[i].has_line_numbers = m->has_line_numbers;
		mp[i].has_inline_frames = m->has_inline_frames;
		mpp[i] = &mp[i];
	}
	for (size_t i = 0; i < b.nr_line; i++) {
		ln[i] = (Perftools__Profiles__Line)PERFTOOLS__PROFILES__LINE__INIT;
		ln[i].function_id = b.line[i].function;
		ln[i].line = b.line[i].line;
		lnp[i] = &ln[i];
	}
	for (size_t i = 0; i < b.nr_loc; i++) {
		lc[i] = (Perftools__Profiles__Location)PERFTOOLS__PROFILES__LOCATION__INIT;
		lc[i].id = i + 1;
		lc[i].mapping_id = b.loc[i].mapping;
		lc[i].address = b.loc[i].address;
		lc[i].line = &lnp[b.loc[i].line_off];
		lc[i].n_line = b.loc[i].nr_lines;
		lcp[i] = &lc[i];
	}
	/* protobuf-c only reads the strings; the casts drop a const it cannot express */
	for (size_t i = 0; i < profile__nr_strings(p); i++)
		strtab[i] = (char *)profile__string(p, i);
	for (size_t i = 0; i < b.nr_extra; i++)
		strtab[profile__nr_strings(p) + i] = b.extra[i];

	prof.n_sample_type = (size_t)nt;
	prof.sample_type = vtp;
	prof.n_sample = nr_samples;
	prof.sample = smp;
	prof.n_mapping = b.nr_map;
	prof.mapping = mpp;
	prof.n_location = b.nr_loc;
	prof.location = lcp;
	prof.n_function = b.nr_func;
	prof.function = fnp;
	prof.n_string_table = nr_str;
	prof.string_table = strtab;
	prof.time_nanos = time_unix_ns;
	prof.duration_nanos = duration_ns;
	prof.default_sample_type = vt[PROFILE_RESIDENT].type;
	if (s_comment >= 0) {
		prof.n_comment = 1;
		prof.comment = &s_comment;
	}

	packed_len = perftools__profiles__profile__get_packed_size(&prof);
	packed = malloc(packed_len ? packed_len : 1);
	if (!packed)
		goto out;
	perftools__profiles__profile__pack(&prof, packed);
	err = pp__gzip(packed, packed_len, &gz, &gz_len);
	if (!err) {
		*out = gz;
		*out_len = gz_len;
		gz = NULL;
	}
out:
	free(gz);
	free(packed);
	free(strtab);
	free(fn);
	free(fnp);
	free(mp);
	free(mpp);
	free(lc);
	free(lcp);
	free(ln);
	free(lnp);
	free(sm);
	free(smp);
	free(values);
	free(lb);
	free(lbp);
	free(loc_ids);
	free(b.fr);
	free(b.fid);
	free(b.loc_of_frame);
	free(b.func);
	free(b.map);
	free(b.loc);
	free(b.line);
	profile_index__free(&b.func_ix);
	profile_index__free(&b.map_ix);
	profile_index__free(&b.loc_ix);
	for (size_t i = 0; i < b.nr_extra; i++)
		free(b.extra[i]);
	return err;
}

int pprof_export__write(const char *path, const struct profile *p, uint64_t duration_ns,
			uint64_t time_unix_ns)
{
	uint8_t *gz = NULL;
	size_t len = 0;
	int err = pprof_export__build(p, duration_ns, time_unix_ns, &gz, &len);

	if (err) {
		fprintf(stderr, "arenatrace: cannot build the pprof profile for %s: %s\n", path, strerror(-err));
		return err;
	}
	err = pp__write_file(path, gz, len);
	free(gz);
	return err;
}
