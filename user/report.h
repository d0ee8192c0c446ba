/* `arenatrace report FILE`: the analysis of a recording (-o), redone offline. */
#ifndef ARENATRACE_REPORT_H
#define ARENATRACE_REPORT_H

/* argv[0] is "report". Returns the exit code. */
int report__main(int argc, char **argv);

#endif
