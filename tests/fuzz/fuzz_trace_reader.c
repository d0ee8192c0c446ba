/*
 * libFuzzer target for the recording reader (`make fuzz`): any bytes as a
 * recording file, read to the end, every item taken the way `report` takes it
 * (fixed-size answers, regions with paths). Must never crash, leak or allocate
 * without bound; ASan and UBSan watch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "recorder.h"
#include "region.h"
#include "trace_file.h"

/* Plain reading, serial or with the prefetching workers: returns the item count. */
static uint64_t count_items(const uint8_t *data, size_t size, bool threads, enum trace_status *st)
{
	struct trace_reader r;
	uint32_t type, len;
	const void *p;
	uint64_t n = 0;
	FILE *f = fmemopen((void *)data, size, "rb");

	if (!f)
		abort();
	if (trace_reader__open(&r, f) == 0) {
		if (threads)
			trace_reader__prefetch(&r, TRACE_READER_WORKERS);
		while (trace_reader__next(&r, &type, &p, &len))
			n++;
		*st = r.status;
	}
	trace_reader__close(&r);
	fclose(f);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_reader r;
	enum trace_status s1 = TRACE_OK, s2 = TRACE_OK;
	FILE *f;

	if (!size)
		return 0;
	/* Both ways of reading see the same items and end the same way (for half
	 * the inputs: starting threads is most of a run's time). */
	if ((size & 1) &&
	    (count_items(data, size, false, &s1) != count_items(data, size, true, &s2) || s1 != s2))
		abort();
	f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	if (trace_reader__open(&r, f)) {
		trace_reader__close(&r);
		fclose(f);
		return 0;
	}
	input__replay(&r);
	for (uint32_t t; (t = input__peek_type()); ) {
		struct region reg;
		const void *p;
		uint32_t n;
		uint64_t v;
		bool ok;

		switch (t) {
		case IN_SEED_REGION:
		case IN_RESOLVE:
			if (input__take_region(t, &ok, &reg) == INPUT_GOT)
				free(reg.path);
			break;
		case IN_NOW:
		case IN_RSS:
		case IN_LOST:
		case IN_MEASURE:
		case IN_START_BRK:
		case IN_UNIX_MS:
			input__take(t, &v, sizeof(v));
			break;
		case IN_RECORD:
		case IN_RUN: {
			_Alignas(8) unsigned char rec[512];

			input__take_record(rec, sizeof(rec), &n);
			break;
		}
		default:
			input__take_var(t, &p, &n);
		}
	}
	input__reset();
	trace_reader__close(&r);
	fclose(f);
	return 0;
}
