/* Terminal output: the live arena table (redrawn in place) and the final summary. */
#ifndef ARENATRACE_LIVE_VIEW_H
#define ARENATRACE_LIVE_VIEW_H

#include <stdio.h>
#include "ledger.h"
#include "retention.h"
#include "sample.h"

/* Redraws the table on a TTY. */
void live_view__draw(FILE *out, const struct sample *s, const struct ledger *l, unsigned top);
/* The final summary: arenas by resident bytes, and resident bytes by kind. */
void live_view__summary(FILE *out, const struct sample *s, const struct ledger *l, unsigned top);

/* The bursts the run saw and what they left resident. */
void live_view__bursts(FILE *out, const struct retention *r, uint64_t start_ns);

#endif
