/* SPDX-License-Identifier: MIT */
/* `ctrace`: the command-line entry point; dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "../view/report.h"
#include "cli.h"
#include "cmds.h"

#ifndef CTRACE_VERSION
#define CTRACE_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
    {"record", ctr_cmd_record, "run a program under the recorder, then commit the run"},
    {"attach", ctr_cmd_attach, "record a running program from now on, until it is detached"},
    {"detach", ctr_cmd_detach, "end 'ctrace attach PID': the program runs on untraced"},
    {"commit", ctr_cmd_commit, "symbolize raw run directories and save them in the store"},
    {"report", ctr_cmd_report, "flat profile, call tree, threads, callers/callees, diffs"},
    {"show", ctr_cmd_show,
     "a run's summary, or an export (--format chrome|folded|svg|html|otlp|json|perfetto)"},
    {"replay", ctr_cmd_replay, "a stored run call by call: an indented, timed call trace"},
    {"list", ctr_cmd_list, "list committed runs, newest first"},
    {"query", ctr_cmd_query, "list runs matching filters"},
    {"trend", ctr_cmd_trend, "one function's time across runs, with jumps beyond the noise"},
    {"check", ctr_cmd_check, "fail CI when a function got slower than the baselines' noise allows"},
    {"serve", ctr_cmd_serve, "serve the interactive viewer and its JSON API over the store"},
    {"delete", ctr_cmd_delete, "delete runs from the store"},
    {"export", ctr_cmd_export, "copy runs matching filters to another store (e.g. jsonl:FILE)"},
    {"import", ctr_cmd_import, "copy every run of another store into this one"},
    {"dump", ctr_cmd_dump, "print the raw events of a run directory, one per line"},
    {"exclusions", ctr_cmd_exclusions,
     "functions that cost more to trace than they take, for ctrace-cc's next build"},
    {"ctl", ctr_cmd_ctl, "switch recording on/off in a running preloaded process"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ctrace [--json-errors] COMMAND [ARGS]\n\n"
		   "A function-level tracing profiler for C and C++ (see docs/).\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f,
		"\n'ctrace COMMAND --help' describes a command. The store is $CTRACE_STORE or\n"
		"sqlite:./ctrace.db unless --store is given. Exit status: 0 ok, 1 error, 2 usage;\n"
		"'ctrace record' exits with the program's status.\n");
}

int main(int argc, char **argv)
{
	ctr_cli_init(&argc, argv);
	if (argc < 2)
		return usage(stderr), CTR_EXIT_USAGE;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			char *hv[] = {argv[2], "--help", NULL};

			for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
				if (!strcmp(cmds[i].name, argv[2]))
					return cmds[i].fn(2, hv);
		}
		usage(stdout);
		return CTR_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ctrace %s\n", CTRACE_VERSION);
		return CTR_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, argv[1]))
			return cmds[i].fn(argc - 1, argv + 1);
	return ctr_cli_usage("ctrace", "unknown command '%s'", argv[1]);
}
