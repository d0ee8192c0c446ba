/* arenatrace: where a process's resident memory sits, arena by arena. */
#include <stdio.h>
#include <string.h>
#include "agent.h"
#include "cli.h"
#include "report.h"
#include "tracer.h"

int main(int argc, char **argv)
{
	struct options o;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "agent"))
		return agent__main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "report"))
		return report__main(argc - 1, argv + 1);
	rc = cli__parse(argc, argv, &o);

	if (rc >= 0)
		return rc;
	return tracer__run(&o);
}
