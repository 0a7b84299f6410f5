/* SPDX-License-Identifier: MIT */
/* The `ctrace` subcommands; each returns the process exit status (tools/cli.h). */
#ifndef CTR_CMDS_H
#define CTR_CMDS_H

int ctr_cmd_record(int argc, char **argv);
int ctr_cmd_attach(int argc, char **argv);
int ctr_cmd_detach(int argc, char **argv);
int ctr_cmd_commit(int argc, char **argv);
int ctr_cmd_dump(int argc, char **argv);
int ctr_cmd_list(int argc, char **argv);
int ctr_cmd_query(int argc, char **argv);
int ctr_cmd_delete(int argc, char **argv);
int ctr_cmd_export(int argc, char **argv);
int ctr_cmd_import(int argc, char **argv);
int ctr_cmd_ctl(int argc, char **argv);
int ctr_cmd_trend(int argc, char **argv);
int ctr_cmd_check(int argc, char **argv);
int ctr_cmd_replay(int argc, char **argv);
int ctr_cmd_serve(int argc, char **argv);
int ctr_cmd_exclusions(int argc, char **argv);

#endif
