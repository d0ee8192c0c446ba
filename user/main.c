/* arenatrace: where a process's resident memory sits, arena by arena. */
#include <stdio.h>
#include "cli.h"
#include "tracer.h"

int main(int argc, char **argv)
{
	struct options o;
	int rc = cli__parse(argc, argv, &o);

	if (rc >= 0)
		return rc;
	return tracer__run(&o);
}
