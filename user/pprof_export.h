/*
 * All three profile types as ONE pprof profile (user/proto/profile.proto),
 * gzip-compressed the way `go tool pprof`, Pyroscope, Parca and speedscope
 * read it.
 *
 * - sample_type: resident_space/bytes, faulted_space/bytes, growth_space/bytes
 *   (PROFILE_RESIDENT, PROFILE_FAULTED, PROFILE_GROWTH); default_sample_type
 *   resident_space.
 * - One Sample per (stack, arena) cell with any value > 0; each carries all
 *   three values (negative ones, more released than seen arriving, as 0) and
 *   string labels "arena" (the arena id) and "kind".
 * - location_id[0] is the leaf. Locations are deduplicated by address; frames
 *   of one stack in a row at the same address (inlined functions, leaf first)
 *   become one Location with one Line each. Frames with no address get one
 *   Location per distinct frame. A frame with no function has no Line.
 * - Functions deduplicated by (name, file); name and system_name are the
 *   function name.
 * - One Mapping per (module, build id, load base) where load base is
 *   address - module_offset: filename, build_id, and [memory_start,
 *   memory_limit) page-aligned around the addresses seen, file_offset chosen so
 *   address - memory_start + file_offset == module_offset. has_functions,
 *   has_filenames, has_line_numbers and has_inline_frames say what the frames
 *   carried. A frame with a module but no address gets address =
 *   module_offset (load base 0). Frames with no module have mapping_id 0.
 * - string_table[0] is ""; time_nanos and duration_nanos as given; a comment
 *   when the profile store overflowed its limits (see profile.h).
 */
#ifndef ARENATRACE_PPROF_EXPORT_H
#define ARENATRACE_PPROF_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include "profile.h"

/* The gzipped profile in a malloc'ed buffer (*out, the caller frees it).
 * Returns 0 or -errno (nothing printed). */
int pprof_export__build(const struct profile *p, uint64_t duration_ns, uint64_t time_unix_ns,
			uint8_t **out, size_t *out_len);
/* Returns 0 or -errno (message printed). */
int pprof_export__write(const char *path, const struct profile *p, uint64_t duration_ns,
			uint64_t time_unix_ns);

#endif /* ARENATRACE_PPROF_EXPORT_H */
