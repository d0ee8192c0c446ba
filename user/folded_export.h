/*
 * A profile type as "folded stacks", the input of flamegraph.pl, inferno and
 * speedscope: one line per (stack, arena), root first,
 *     ARENA_ID;root_frame;...;leaf_frame BYTES
 * The arena id is the root frame, so the flame graph splits by arena first.
 * A frame is its function name, or `module+0xoffset` (module's base name) when
 * the function is unknown, or `0xaddress` without a module, or `[unknown]`.
 * ';' and control characters in names become '_' (';' separates frames).
 * Only cells with bytes > 0 are written (a negative cell, more released than
 * seen arriving, counts 0); cells that print the same are summed into one line.
 * Lines sorted bytewise, so equal profiles give equal files.
 */
#ifndef ARENATRACE_FOLDED_EXPORT_H
#define ARENATRACE_FOLDED_EXPORT_H

#include <stddef.h>
#include "profile.h"

/* path "-" = stdout. Returns 0 or -errno (message printed). */
int folded_export__write(const char *path, const struct profile *p, enum profile_type t);

/* The name folded output gives a frame, in buf (always terminated). */
void folded_export__frame_name(const struct profile_frame *f, char *buf, size_t size);

#endif /* ARENATRACE_FOLDED_EXPORT_H */
