/* sgld_ess.c - the sgld-ess program: diagnostics of sample files written by sgld-dist.
 * `summary` (ess_summary.c) prints convergence diagnostics, `predict` (ess_predict.c) the
 * posterior predictive of the draws on test data; both are thin layers over library calls
 * (sgld_diag_report_create, sgld_ens_predictive_create).
 *
 * Exit status: 0 success, 2 bad input or usage (one line on stderr), 1 runtime failure. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "ess.h"

/* The whole program's usage (sgld-ess --help): both subcommands, then summary's options. */
static void usage_all(FILE *f)
{
    fprintf(f,
"usage: sgld-ess summary FILE [options]         convergence diagnostics of a sample file\n"
"       sgld-ess predict FILE --data TEST [...] predictive metrics of its draws on test data\n"
"                                               (sgld-ess predict --help lists its options)\n"
"       sgld-ess --version\n"
"\n");
    ess_summary_usage(f);
}

static int dispatch(const cli_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "predict")) return ess_predict(c, argc, argv);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        if (c->rank == 0) usage_all(stdout);
        return CLI_EXIT_OK;
    }
    if (argc >= 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
        cli_version(c);
        return CLI_EXIT_OK;
    }
    if (argc < 2)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "missing subcommand (expected 'summary' or 'predict'; see sgld-ess --help)");
    if (strcmp(argv[1], "summary") != 0)
        return cli_fail(c, CLI_EXIT_BAD_INPUT,
                        "unknown subcommand '%s' (expected 'summary' or 'predict'; see sgld-ess --help)", argv[1]);
    return ess_summary(c, argc, argv);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    cli_ctx c;
    cli_init(&c, "sgld-ess", MPI_COMM_WORLD);
    int status = dispatch(&c, argc, argv);
    MPI_Finalize();
    return status;
}
