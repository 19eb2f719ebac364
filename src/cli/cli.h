/* cli.h - what the programs (sgld-dist, sgld-ess) share on the command line (cli.c): one
 * context (program name, communicator, rank), one error helper, the number parsers, the
 * spelling check of long options and the JSON number. */
#ifndef SGLD_CLI_H
#define SGLD_CLI_H

#include <getopt.h>
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>

#include "sgld/status.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_BAD_INPUT = 2 };

/* The program's context: its name as messages print it and the communicator it runs on. */
typedef struct cli_ctx {
    const char *prog;
    MPI_Comm comm;
    int rank, size;
} cli_ctx;

void cli_init(cli_ctx *c, const char *prog, MPI_Comm comm);

/* Prints "PROG: <message>" and a newline on stderr from rank 0 and returns status, so that
 * `return cli_fail(c, CLI_EXIT_BAD_INPUT, "...")` reads naturally.  Not collective. */
int cli_fail(const cli_ctx *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A library call's failure: prints its message (sgld_error_message) as cli_fail does and
 * returns CLI_EXIT_BAD_INPUT for SGLD_ERR_USAGE (the input does not fit), else
 * CLI_EXIT_RUNTIME. */
int cli_fail_status(const cli_ctx *c, sgld_status st);

/* Prints "PROG VERSION" on stdout from rank 0 (--version). */
void cli_version(const cli_ctx *c);

/* A double as JSON: %.10g when finite, else null. */
void cli_json_num(FILE *f, double x);

#endif
