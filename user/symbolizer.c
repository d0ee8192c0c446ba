// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Symbolizer on elfutils libdwfl; see symbolizer.h for what it promises. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>

#include "procmaps.h"
#include "recorder.h"
#include "symbolizer.h"

static const char unknown_function[] = "[unknown]";

/* What we know of one module reported by libdwfl, kept after libdwfl drops the
 * module (an unmapped library) so that earlier results keep their strings. Hung
 * on the Dwfl_Module's userdata, which libdwfl hands to find_elf. */
struct sym_module {
	struct symbolizer *s;
	const char *path;        /* interned; the name in the target's maps */
	const char *build_id;    /* interned hex or NULL */
	const char *key;         /* build_id, else path: what the cache is keyed by */
	uint64_t start, end;     /* where it was mapped */
	uint64_t bias;           /* load bias: ip - bias = address in the ELF file */
	struct sym_module *next;
};

/* A file mapping from the last maps read: where find_elf finds map_files. */
struct sym_mapping {
	uint64_t start, end, offset;
	char *path;
	bool exec;
	size_t line, line_len;   /* its line in the maps text (while refreshing) */
};

/* A cached answer, keyed by (module key, ELF address looked up). */
struct sym_entry {
	const char *key;         /* NULL = empty slot */
	uint64_t addr;
	const char *function;
	const char *file;
	int line;
};

struct symbolizer {
	pid_t pid;
	bool replay;               /* `report`: modules come from the recording */
	Dwfl *dwfl;
	/* The unwinder's own Dwfl: libdwfl's thread state, once attached, does not
	 * survive re-reporting modules, so it is rebuilt from the last report
	 * whenever the mappings changed (see symbolizer__unwind_dwfl). */
	Dwfl *unwind_dwfl;
	uint64_t unwind_digest;
	char *maps_text;           /* the file mappings last reported, maps format */
	uint64_t vdso_start, vdso_end;
	Dwfl_Callbacks callbacks;  /* libdwfl keeps a pointer to it */
	uint64_t maps_digest;      /* of the file mappings last reported */
	bool reported;
	struct sym_mapping *maps;
	size_t nr_maps;
	struct sym_module *modules;
	struct sym_entry *cache;   /* open addressing, power-of-two size */
	size_t cache_cap, cache_len;
	char **strings;            /* interned strings, open addressing */
	size_t strings_cap, strings_len;
	char *(*demangle)(const char *, char *, size_t *, int *);
	bool demangle_tried;
	struct symbolizer_stats stats;
};

/* ---- small hash tables ------------------------------------------------------- */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;   /* FNV-1a */
	return h;
}

static uint64_t hash_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* Returns one stable copy of str per distinct string, or NULL on ENOMEM. */
static const char *intern(struct symbolizer *s, const char *str)
{
	uint64_t h;
	size_t i;

	if (!str)
		return NULL;
	if (2 * (s->strings_len + 1) > s->strings_cap) {
		size_t cap = s->strings_cap ? 2 * s->strings_cap : 256;
		char **n = calloc(cap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j < s->strings_cap; j++) {
			char *o = s->strings[j];

			if (!o)
				continue;
			i = hash_bytes(0xcbf29ce484222325ULL, o, strlen(o)) & (cap - 1);
			while (n[i])
				i = (i + 1) & (cap - 1);
			n[i] = o;
		}
		free(s->strings);
		s->strings = n;
		s->strings_cap = cap;
	}
	h = hash_bytes(0xcbf29ce484222325ULL, str, strlen(str));
	for (i = h & (s->strings_cap - 1); s->strings[i]; i = (i + 1) & (s->strings_cap - 1))
		if (!strcmp(s->strings[i], str))
			return s->strings[i];
	s->strings[i] = strdup(str);
	if (!s->strings[i])
		return NULL;
	s->strings_len++;
	return s->strings[i];
}

/* Keys are interned, so pointer equality is string equality. */
static size_t cache_slot(const struct sym_entry *tab, size_t cap, const char *key, uint64_t addr)
{
	size_t i = hash_mix((uint64_t)(uintptr_t)key ^ hash_mix(addr)) & (cap - 1);

	while (tab[i].key && (tab[i].key != key || tab[i].addr != addr))
		i = (i + 1) & (cap - 1);
	return i;
}

static struct sym_entry *cache_find(struct symbolizer *s, const char *key, uint64_t addr)
{
	size_t i;

	if (!s->cache_cap)
		return NULL;
	i = cache_slot(s->cache, s->cache_cap, key, addr);
	return s->cache[i].key ? &s->cache[i] : NULL;
}

/* At most this many answers cached (about 5 MiB of table): past it the cache is
 * emptied and refills with what is looked up now (an agent runs for days over
 * code that changes, JITs, dlopen). Only time is lost; strings stay interned. */
#define SYM_CACHE_MAX (1u << 16)

/* Inserts (the caller checked it is absent). Failing to cache only costs time. */
static void cache_add(struct symbolizer *s, const struct sym_entry *e)
{
	if (s->cache_len >= SYM_CACHE_MAX) {
		memset(s->cache, 0, s->cache_cap * sizeof(*s->cache));
		s->cache_len = 0;
		s->stats.cache_evictions++;
	}
	if (2 * (s->cache_len + 1) > s->cache_cap) {
		size_t cap = s->cache_cap ? 2 * s->cache_cap : 1024;
		struct sym_entry *n = calloc(cap, sizeof(*n));

		if (!n)
			return;
		for (size_t j = 0; j < s->cache_cap; j++)
			if (s->cache[j].key)
				n[cache_slot(n, cap, s->cache[j].key, s->cache[j].addr)] = s->cache[j];
		free(s->cache);
		s->cache = n;
		s->cache_cap = cap;
	}
	s->cache[cache_slot(s->cache, s->cache_cap, e->key, e->addr)] = *e;
	s->cache_len++;
}

/* ---- finding the module's ELF file --------------------------------------------- */

static int open_regular(const char *path, char **file_name)
{
	struct stat st;
	int fd;

	/* Only regular files: a device in the maps might block or act on open. */
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	*file_name = strdup(path);
	if (!*file_name) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Dwfl_Callbacks.find_elf. The maps path is as the target sees it: open it under
 * /proc/PID/root (its mount namespace and root, a container's too). A deleted
 * file is only reachable through /proc/PID/map_files/START-END of one of its
 * mappings (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).
 */
static int symbolizer_find_elf(Dwfl_Module *mod, void **userdata, const char *name,
			       Dwarf_Addr base, char **file_name, Elf **elfp)
{
	struct sym_module *m = *userdata;
	struct symbolizer *s = m ? m->s : NULL;
	size_t n = strlen(name);
	char path[PATH_MAX + 64];
	int fd;

	if (name[0] == '[')     /* "[vdso: PID]": read from the target's memory */
		return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
	if (name[0] != '/' || !s)
		return -1;
	if (s->replay)             /* the target is gone: the files as they are here */
		return open_regular(name, file_name);
	if (n > 10 && !strcmp(name + n - 10, " (deleted)")) {
		for (size_t i = 0; i < s->nr_maps; i++) {
			const struct sym_mapping *mp = &s->maps[i];

			if (mp->start < m->start || mp->end > m->end || strcmp(mp->path, name))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
				 s->pid, mp->start, mp->end);
			fd = open_regular(path, file_name);
			if (fd >= 0)
				return fd;
		}
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/root%s", s->pid, name);
	fd = open_regular(path, file_name);
	/* The plain path when /proc/PID/root is not ours to read (not root, or the
	 * target is gone): right unless the target lives in another mount namespace. */
	if (fd < 0)
		fd = open_regular(name, file_name);
	return fd;
}

/* ---- reporting modules ------------------------------------------------------------ */

/*
 * Takes a module libdwfl reported for the first time: loads its ELF now, while
 * the target is alive (a deleted file or a container path is reachable only
 * through its /proc entries), and notes its build-id and load bias.
 */
static int module_adopt(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
			void *arg)
{
	struct symbolizer *s = arg;
	struct sym_module *m;
	const unsigned char *bits;
	GElf_Addr bias = 0, vaddr;
	Dwarf_Addr end = 0;
	int len;

	if (*userdata)
		return DWARF_CB_OK;
	m = calloc(1, sizeof(*m));
	if (!m)
		return DWARF_CB_OK;   /* resolves as a module without a record */
	dwfl_module_info(mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
	m->s = s;
	m->path = intern(s, name);
	m->start = start;
	m->end = end;
	*userdata = m;
	m->next = s->modules;
	s->modules = m;
	s->stats.modules++;

	if (dwfl_module_getelf(mod, &bias))
		m->bias = bias;
	else
		m->bias = start;      /* no ELF: offsets from the mapping start */
	len = dwfl_module_build_id(mod, &bits, &vaddr);
	if (len > 0) {
		char hex[2 * 64 + 1];

		if (len > 64)
			len = 64;
		for (int i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", bits[i]);
		m->build_id = intern(s, hex);
	}
	m->key = m->build_id ? m->build_id : m->path;
	if (!m->key)
		m->key = unknown_function;
	return DWARF_CB_OK;
}

static void maps_clear(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nr_maps; i++)
		free(s->maps[i].path);
	free(s->maps);
	s->maps = NULL;
	s->nr_maps = 0;
}

/* Reads /proc/PID/maps whole, so that what is reported is one consistent view. */
static char *maps_read(pid_t pid, size_t *len)
{
	char path[64], *buf = NULL;
	size_t cap = 0, n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		if (cap - n < 4096) {
			char *nb = realloc(buf, cap ? 2 * cap : 16384);

			if (!nb) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap = cap ? 2 * cap : 16384;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == 0) {             /* a zombie or exited process has no maps */
		free(buf);
		errno = ESRCH;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Whether the run of consecutive mappings of one file that holds maps[i] (what
 * libdwfl makes one module of) has an executable one: only those hold code. A
 * mapping at file offset 0 starts a new run: a read-only copy of the whole file
 * (libdwfl reading an ELF file of this very process) can land right next to the
 * loaded object's own mappings. */
static bool maps_run_has_exec(const struct sym_mapping *maps, size_t nr, size_t i)
{
	size_t lo = i, hi = i;

	while (lo > 0 && maps[lo].offset && !strcmp(maps[lo - 1].path, maps[i].path) &&
	       maps[lo - 1].end == maps[lo].start)
		lo--;
	while (hi + 1 < nr && maps[hi + 1].offset && !strcmp(maps[hi + 1].path, maps[i].path) &&
	       maps[hi].end == maps[hi + 1].start)
		hi++;
	for (size_t j = lo; j <= hi; j++)
		if (maps[j].exec)
			return true;
	return false;
}

static int refresh_live(struct symbolizer *s)
{
	uint64_t digest = 0xcbf29ce484222325ULL, vdso_start = 0, vdso_end = 0;
	struct sym_mapping *maps = NULL;
	size_t len, nr = 0, cap = 0, kept = 0;
	char *buf, *p, *eol, *text = NULL;
	FILE *f;
	int err = 0;

	if (!s)
		return -EINVAL;
	buf = maps_read(s->pid, &len);
	if (!buf)
		return errno == ENOENT ? -ESRCH : -errno;

	for (p = buf; *p; p = eol + (*eol != '\0')) {
		char line[PATH_MAX + 128];
		struct region r;
		size_t n;

		eol = strchrnul(p, '\n');
		n = (size_t)(eol - p);
		if (n >= sizeof(line))
			continue;
		memcpy(line, p, n);   /* the parser wants one line, NUL-terminated */
		line[n] = '\0';
		if (!procmaps__parse_line(line, &r))
			continue;
		if (r.path && !strcmp(r.path, "[vdso]")) {
			vdso_start = r.start;
			vdso_end = r.end;
			digest = hash_bytes(digest, &r.start, sizeof(r.start));
		}
		if (!region__is_file(&r)) {
			free(r.path);
			continue;
		}
		if (nr == cap) {
			struct sym_mapping *nm = realloc(maps, (cap ? 2 * cap : 64) * sizeof(*nm));

			if (!nm) {
				free(r.path);
				err = -ENOMEM;
				goto out;
			}
			maps = nm;
			cap = cap ? 2 * cap : 64;
		}
		maps[nr++] = (struct sym_mapping){ r.start, r.end, 0, r.path, r.prot & PROT_EXEC,
						   (size_t)(p - buf), n + (*eol != '\0') };
		sscanf(line, "%*x-%*x %*s %" SCNx64, &maps[nr - 1].offset);
	}

	/*
	 * libdwfl makes a module of every mapped file; keep only loaded objects
	 * with code. Data files (locale archive, fonts, caches) can hold no ip and
	 * would cost an ELF open each; and when the target is this process, the
	 * whole-file copies libdwfl maps to read ELF files would become modules
	 * themselves, more with every refresh. The digest
	 * covers what is kept: anonymous churn (malloc) changes nothing.
	 */
	text = malloc(len + 1);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nr; i++) {
		if (!maps_run_has_exec(maps, nr, i))
			continue;
		memcpy(text + kept, buf + maps[i].line, maps[i].line_len);
		kept += maps[i].line_len;
		digest = hash_bytes(digest, buf + maps[i].line, maps[i].line_len);
	}
	text[kept] = '\0';
	if (s->reported && digest == s->maps_digest)
		goto out;

	f = kept ? fmemopen(text, kept, "r") : NULL;
	if (kept && !f) {
		err = -errno;
		goto out;
	}
	maps_clear(s);
	s->maps = maps;
	s->nr_maps = nr;
	maps = NULL;
	nr = 0;

	/* Modules reported again unchanged keep their ELF, DWARF and userdata;
	 * those no longer mapped are dropped by dwfl_report_end (our records stay). */
	dwfl_report_begin(s->dwfl);
	if (f) {
		if (dwfl_linux_proc_maps_report(s->dwfl, f) != 0)
			err = -EIO;
		fclose(f);
	}
	if (vdso_start) {
		char name[32];

		/* The name dwfl_linux_proc_find_elf reads the image from memory for. */
		snprintf(name, sizeof(name), "[vdso: %d]", s->pid);
		dwfl_report_module(s->dwfl, name, vdso_start, vdso_end);
	}
	if (dwfl_report_end(s->dwfl, NULL, NULL) != 0 && !err)
		err = -EIO;
	dwfl_getmodules(s->dwfl, module_adopt, s, 0);
	free(s->maps_text);
	s->maps_text = strndup(text, kept);
	s->vdso_start = vdso_start;
	s->vdso_end = vdso_end;
	s->maps_digest = digest;
	s->reported = true;
	s->stats.refreshes++;
out:
	for (size_t i = 0; i < nr; i++)
		free(maps[i].path);
	free(maps);
	free(text);
	free(buf);
	return err;
}

/* Replay: the refresh's outcome as recorded; the modules from the logged text. */
static int refresh_replay(struct symbolizer *s)
{
	struct input_modules h;
	const char *p;
	uint32_t len;
	char *text;
	FILE *f;

	if (input__take_var(IN_MODULES, (const void **)&p, &len) != INPUT_GOT || len < sizeof(h))
		return -EIO;
	memcpy(&h, p, sizeof(h));
	if (!h.changed || (s->reported && h.digest == s->maps_digest))
		return h.err;
	text = strndup(p + sizeof(h), len - sizeof(h));
	if (!text)
		return -ENOMEM;
	/* The vdso is not reported: its image was in the target's memory. */
	dwfl_report_begin(s->dwfl);
	f = *text ? fmemopen(text, strlen(text), "r") : NULL;
	if (f) {
		dwfl_linux_proc_maps_report(s->dwfl, f);
		fclose(f);
	}
	dwfl_report_end(s->dwfl, NULL, NULL);
	dwfl_getmodules(s->dwfl, module_adopt, s, 0);
	free(s->maps_text);
	s->maps_text = text;
	s->vdso_start = h.vdso_start;
	s->vdso_end = h.vdso_end;
	s->maps_digest = h.digest;
	s->reported = true;
	s->stats.refreshes++;
	return h.err;
}

int symbolizer__refresh(struct symbolizer *s)
{
	struct input_modules h;
	uint64_t before;
	char *buf;
	size_t tlen;
	int err;

	if (!s)
		return -EINVAL;
	if (s->replay)
		return refresh_replay(s);
	before = s->stats.refreshes;
	err = refresh_live(s);
	if (input__mode() != INPUT_RECORD)
		return err;
	/* Logged every time (replay takes one per refresh), the text only when the
	 * code mappings changed. */
	h = (struct input_modules){ .err = err, .changed = s->stats.refreshes != before,
				    .digest = s->maps_digest, .vdso_start = s->vdso_start, .vdso_end = s->vdso_end };
	tlen = h.changed && s->maps_text ? strlen(s->maps_text) : 0;
	if (sizeof(h) + tlen > TRACE_ITEM_MAX) {
		/* Cut after a whole line (never seen: ~10k code mappings). */
		tlen = TRACE_ITEM_MAX - sizeof(h);
		while (tlen && s->maps_text[tlen - 1] != '\n')
			tlen--;
	}
	buf = malloc(sizeof(h) + tlen);
	if (!buf)
		abort();
	memcpy(buf, &h, sizeof(h));
	if (tlen)
		memcpy(buf + sizeof(h), s->maps_text, tlen);
	input__put(IN_MODULES, buf, sizeof(h) + tlen);
	free(buf);
	return err;
}

/* ---- resolving ------------------------------------------------------------------------ */

/* C++ names through libstdc++'s demangler when the process can load it; a C
 * program does not pay for it (it is only looked for when a _Z name shows up). */
static const char *demangle(struct symbolizer *s, const char *name)
{
	const char *out, *at = strchr(name, '@');
	char *d, plain[512];
	int status = -1;

	/* libdwfl names dynamic symbols with their version ("f@@GLIBC_2.34"):
	 * a profile wants the function, as the static symbol table spells it. */
	if (at && at != name && (size_t)(at - name) < sizeof(plain)) {
		memcpy(plain, name, (size_t)(at - name));
		plain[at - name] = '\0';
		name = plain;
	}
	if (strncmp(name, "_Z", 2))
		return intern(s, name);
	if (!s->demangle_tried) {
		void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);

		s->demangle_tried = true;
		if (h)
			*(void **)&s->demangle = dlsym(h, "__cxa_demangle");
	}
	if (!s->demangle)
		return intern(s, name);
	d = s->demangle(name, NULL, NULL, &status);
	out = intern(s, status == 0 && d ? d : name);
	free(d);
	return out;
}

static void lookup(struct symbolizer *s, Dwfl_Module *mod, uint64_t pc, struct sym_entry *e)
{
	GElf_Off off;
	GElf_Sym sym;
	const char *name, *file;
	Dwfl_Line *l;
	int line = 0;

	name = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
	e->function = name ? demangle(s, name) : NULL;
	if (!e->function)
		e->function = unknown_function;
	l = dwfl_module_getsrc(mod, pc);
	file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
	e->file = intern(s, file);
	e->line = e->file ? line : 0;
}

int symbolizer__resolve_frame(struct symbolizer *s, uint64_t ip, bool return_address,
			      struct sym_frame *out)
{
	uint64_t pc = return_address && ip ? ip - 1 : ip;
	struct sym_module *m = NULL;
	struct sym_entry *hit, e;
	Dwfl_Module *mod;
	void **userdata;

	if (!s || !out)
		return -EINVAL;
	s->stats.lookups++;
	*out = (struct sym_frame){ .ip = ip, .function = unknown_function, .module_offset = ip };
	mod = dwfl_addrmodule(s->dwfl, pc);
	if (!mod) {
		s->stats.no_module++;
		return -ENOENT;
	}
	dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	m = *userdata;
	if (!m) {                 /* adopting it failed (ENOMEM): no cache, no strings */
		s->stats.cache_misses++;
		e.key = NULL;
		lookup(s, mod, pc, &e);
		out->function = e.function;
		out->file = e.file;
		out->line = e.line;
		return 0;
	}
	out->module = m->path;
	out->build_id = m->build_id;
	out->module_offset = ip - m->bias;

	hit = cache_find(s, m->key, pc - m->bias);
	if (hit) {
		s->stats.cache_hits++;
	} else {
		s->stats.cache_misses++;
		e = (struct sym_entry){ .key = m->key, .addr = pc - m->bias };
		lookup(s, mod, pc, &e);
		cache_add(s, &e);
		hit = &e;
	}
	out->function = hit->function;
	out->file = hit->file;
	out->line = hit->line;
	return 0;
}

int symbolizer__resolve(struct symbolizer *s, uint64_t ip, struct sym_frame *out)
{
	return symbolizer__resolve_frame(s, ip, false, out);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

struct symbolizer *symbolizer__new(pid_t pid, bool debuginfod)
{
	struct symbolizer *s;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	/* libdwfl asks debuginfod servers when this is set, and may wait 90 s. */
	if (!debuginfod)
		unsetenv("DEBUGINFOD_URLS");
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pid = pid;
	s->replay = input__mode() == INPUT_REPLAY;
	s->callbacks.find_elf = symbolizer_find_elf;
	s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	s->callbacks.section_address = dwfl_offline_section_address;
	s->dwfl = dwfl_begin(&s->callbacks);
	if (!s->dwfl) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	err = symbolizer__refresh(s);
	if (err) {
		symbolizer__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	if (!st)
		return;
	if (!s) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = s->stats;
}

struct Dwfl *symbolizer__dwfl(struct symbolizer *s)
{
	return s ? s->dwfl : NULL;
}

struct Dwfl *symbolizer__unwind_dwfl(struct symbolizer *s)
{
	FILE *f;

	if (!s || !s->reported)
		return NULL;
	if (s->unwind_dwfl && s->unwind_digest == s->maps_digest)
		return s->unwind_dwfl;
	if (s->unwind_dwfl)
		dwfl_end(s->unwind_dwfl);
	s->unwind_dwfl = dwfl_begin(&s->callbacks);
	if (!s->unwind_dwfl)
		return NULL;
	dwfl_report_begin(s->unwind_dwfl);
	f = s->maps_text && *s->maps_text ? fmemopen(s->maps_text, strlen(s->maps_text), "r") : NULL;
	if (f) {
		dwfl_linux_proc_maps_report(s->unwind_dwfl, f);
		fclose(f);
	}
	if (s->vdso_start) {
		char name[32];

		snprintf(name, sizeof(name), "[vdso: %d]", s->pid);
		dwfl_report_module(s->unwind_dwfl, name, s->vdso_start, s->vdso_end);
	}
	dwfl_report_end(s->unwind_dwfl, NULL, NULL);
	/* find_elf needs each module's record (deleted files, containers). */
	dwfl_getmodules(s->unwind_dwfl, module_adopt, s, 0);
	s->unwind_digest = s->maps_digest;
	return s->unwind_dwfl;
}

pid_t symbolizer__pid(const struct symbolizer *s)
{
	return s ? s->pid : -1;
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	if (s->unwind_dwfl)
		dwfl_end(s->unwind_dwfl);   /* also detaches the unwinder's thread state */
	free(s->maps_text);
	while (s->modules) {
		struct sym_module *m = s->modules;

		s->modules = m->next;
		free(m);
	}
	maps_clear(s);
	free(s->cache);
	for (size_t i = 0; i < s->strings_cap; i++)
		free(s->strings[i]);
	free(s->strings);
	free(s);
}
