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

int cli_parse_ll(const char *s, long long *out)
{
    char *end;
    *out = strtoll(s, &end, 10);
    return *s && !*end;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end;
}

void cli_json_num(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.10g", x);
    else
        fprintf(f, "null");
}

int cli_check_spelling(int argc, char **argv, int first, const struct option *longopts, char *msg, size_t cap)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) return 0;
        if (arg[0] != '-' || arg[1] != '-') continue;
        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        const struct option *hit = NULL, *near = NULL;
        int near_d = 3;
        for (const struct option *o = longopts; o->name; o++) {
            if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) hit = o;
            int d = sgld_name_distance(name, len, o->name);
            if (d < near_d) {
                near_d = d;
                near = o;
            }
        }
        if (hit) {
            if (hit->has_arg == required_argument && name[len] != '=') i++; /* its value */
            continue;
        }
        if (near)
            snprintf(msg, cap, "unknown option '%.*s' (did you mean '--%s'?)", (int)(len + 2), arg,
                     near->name);
        else
            snprintf(msg, cap, "unknown option '%.*s'", (int)(len + 2), arg);
        return -1;
    }
    return 0;
}
