/* Test helpers for files the code under test writes. */
#ifndef ARENATRACE_UNIT_FILES_H
#define ARENATRACE_UNIT_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* The whole file as a NUL-terminated string (the caller frees it); fails the test otherwise. */
static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

#endif
