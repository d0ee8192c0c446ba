/* The run's timeline as CSV for spreadsheets (RFC 4180), written at the end. */
#ifndef ARENATRACE_CSV_EXPORT_H
#define ARENATRACE_CSV_EXPORT_H

#include "history.h"

/*
 * Columns: t,arena,kind,mapped_bytes,resident_bytes,faulted_bytes,released_bytes,
 * retained_bytes,rss_bytes,accounted_bytes. Per sample one row with arena
 * "(process)" (empty kind, only rss_bytes and accounted_bytes filled), then one
 * row per arena (rss_bytes and accounted_bytes empty). CRLF line ends.
 * path "-" = stdout. Returns 0 or -errno (message printed).
 */
int csv_export__write(const char *path, const struct history *h);

#endif
