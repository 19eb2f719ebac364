/* cli.c - what the programs share on the command line (cli.h). */
#include "cli.h"
#include "sgld/registry.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_init(cli_ctx *c, const char *prog, MPI_Comm comm)
{
    c->prog = prog;
    c->comm = comm;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
}

int cli_fail(const cli_ctx *c, int status, const char *fmt, ...)
{
    if (c->rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", c->prog);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    return status;
}

int cli_fail_status(const cli_ctx *c, sgld_status st)
{
    return cli_fail(c, st == SGLD_ERR_USAGE ? CLI_EXIT_BAD_INPUT : CLI_EXIT_RUNTIME, "%s", sgld_error_message());
}

void cli_version(const cli_ctx *c)
{
    if (c->rank == 0) printf("%s %s\n", c->prog, SGLD_VERSION);
}

void cli_json_num(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.10g", x);
    else
        fprintf(f, "null");
}
