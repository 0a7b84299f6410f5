/* SPDX-License-Identifier: MIT */
/*
 * ctrace-report: the stand-alone report command, the same as `ctrace report` (report.h).
 */
#include "../view/report.h"
#include "cli.h"

int main(int argc, char **argv)
{
	ctr_cli_init(&argc, argv);
	return ctr_cmd_report(argc, argv);
}
