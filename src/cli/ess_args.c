/* ess_args.c - the command line of sgld-ess's subcommands: one table of every option, with the
 * subcommands that take it, what it takes and where it goes, and one parser for both. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ess.h"
#include "sgld/diag.h"
#include "sgld/net.h"

#define STR_(x) #x
#define STR(x) STR_(x)

typedef enum {
    SET,     /* no value: the field (an int) = lo */
    TEXT,    /* the value (const char *) */
    LIST,    /* the value appended to vars (repeatable) */
    INT,     /* an integer in [lo, hi] (long long), else "--NAME: 'V' is WHAT" */
    UNIT,    /* a double in (0, 1), else "--NAME: 'V' is not in (0, 1)" */
    CHOICE,  /* one of the names in what, comma-separated: its index (an int) */
    HELP,    /* print the subcommand's usage and exit 0 */
    VERSION  /* print the version and exit 0 */
} kind;

typedef struct option_row {
    const char *name;
    int key;      /* getopt's val, unique within a subcommand */
    int in;       /* ESS_SUMMARY | ESS_PREDICT */
    kind k;
    size_t field; /* offsetof(ess_args, ...) */
    long long lo, hi;
    const char *what;
} option_row;

#define F(x) offsetof(ess_args, x)
#define S ESS_SUMMARY
#define P ESS_PREDICT
static const option_row rows[] = {
    {"var", 'v', S, LIST, 0, 0, 0, NULL},
    {"group", 'g', S, TEXT, F(group), 0, 0, NULL},
    {"data", 'd', P, TEXT, F(data), 0, 0, NULL},
    {"ood", 'o', P, TEXT, F(ood), 0, 0, NULL},
    {"draws", 'D', P, TEXT, F(draws), 0, 0, NULL},
    {"json", 'j', S | P, SET, F(format), ESS_JSON, 0, NULL},
    {"csv", 'c', S, SET, F(format), ESS_CSV, 0, NULL},
    {"per-example", 'p', P, TEXT, F(per_example), 0, 0, NULL},
    {"hist", 'H', P, TEXT, F(hist), 0, 0, NULL},
    {"max-rows", 'r', S, INT, F(max_rows), 0, LLONG_MAX, "not a count"},
    {"mess-method", 'm', S, CHOICE, F(method), 0, 0, "lugsail, bm, obm, bartlett"},
    {"batch-size", 'b', S, INT, F(batch_size), 1, LLONG_MAX, "not a positive integer"},
    {"batch", 'b', P, INT, F(batch), 1, 1000000, "not an integer in [1, 1000000]"},
    {"project", 'p', S, INT, F(project), 1, 200, "not an integer in [1, 200]"},
    {"seed", 's', S, INT, F(seed), 0, 4294967295LL, "not an integer in [0, 2^32)"},
    {"alpha", 'a', S, UNIT, F(alpha), 0, 0, NULL},
    {"eps", 'e', S, UNIT, F(eps), 0, 0, NULL},
    {"block", 'B', S, INT, F(block), 1, 1000000, "not an integer in [1, 1000000]"},
    {"block", 'B', P, INT, F(block), 1, 100000, "not an integer in [1, 100000]"},
    {"timing", 'T', S | P, SET, F(timing), 1, 0, NULL},
    {"help", 'h', S | P, HELP, 0, 0, 0, NULL},
    {"mc-dropout", 'M', P, INT, F(mc_dropout), 1, SGLD_NET_MC_MASKS,
     "not an integer in [1, " STR(SGLD_NET_MC_MASKS) "] (masks per draw)"},
    {"seed", 'S', P, INT, F(seed), 0, 4294967295LL, "not an integer in [0, 4294967295]"},
    {"force", 'F', P, SET, F(force), 1, 0, NULL},
    {"version", 'V', S, VERSION, 0, 0, 0, NULL},
};
#undef F
#undef S
#undef P
#define N_ROWS (sizeof rows / sizeof rows[0])

/* The index of name in a comma-separated list of names, or -1. */
static int choice_index(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; *list; i++) {
        size_t n = strcspn(list, ",");
        if (n == len && strncmp(list, name, len) == 0) return i;
        list += n;
        while (*list == ',' || *list == ' ') list++;
    }
    return -1;
}

/* Applies the value arg of row r to a.  Returns -1, or the exit status (message printed, or
 * --help / --version done). */
static int apply(const cli_ctx *c, int cmd, const option_row *r, const char *arg, ess_args *a)
{
    char *field = (char *)a + r->field;
    long long ll;
    double d;
    switch (r->k) {
    case SET: *(int *)field = (int)r->lo; return -1;
    case TEXT: *(const char **)field = arg; return -1;
    case LIST: a->vars[a->n_vars++] = arg; return -1;
    case INT:
        if (!cli_parse_ll(arg, &ll) || ll < r->lo || ll > r->hi)
            return cli_fail(c, CLI_EXIT_BAD_INPUT, "--%s: '%s' is %s", r->name, arg, r->what);
        *(long long *)field = ll;
        return -1;
    case UNIT:
        if (!cli_parse_double(arg, &d) || !(d > 0 && d < 1))
            return cli_fail(c, CLI_EXIT_BAD_INPUT, "--%s: '%s' is not in (0, 1)", r->name, arg);
        *(double *)field = d;
        return -1;
    case CHOICE:
        if ((*(int *)field = choice_index(r->what, arg)) < 0)
            return cli_fail(c, CLI_EXIT_BAD_INPUT, "--%s: '%s' is not one of %s", r->name, arg, r->what);
        return -1;
    case HELP:
        if (c->rank == 0) (cmd == ESS_SUMMARY ? ess_summary_usage : ess_predict_usage)(stdout);
        return CLI_EXIT_OK;
    case VERSION: cli_version(c); return CLI_EXIT_OK;
    }
    return -1;
}

static void defaults(int cmd, ess_args *a)
{
    a->seed = 1;
    if (cmd == ESS_SUMMARY) {
        a->group = "posterior";
        a->max_rows = 40;
        a->block = 64;
        a->alpha = 0.05;
        a->eps = 0.05;
        a->method = SGLD_MESS_LUGSAIL;
    } else {
        a->draws = "all";
        a->batch = 500;
        a->block = 8;
    }
}

/* getopt_long's table of the subcommand's options; returns their number. */
static int long_options(int cmd, struct option *lo, const option_row **row_of)
{
    int n = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!(rows[i].in & cmd)) continue;
        int has_arg = rows[i].k == SET || rows[i].k == HELP || rows[i].k == VERSION ? no_argument : required_argument;
        lo[n] = (struct option){rows[i].name, has_arg, 0, rows[i].key};
        row_of[n++] = &rows[i];
    }
    lo[n] = (struct option){0, 0, 0, 0};
    return n;
}

/* The one-line message of getopt's '?' (unknown, or in summary a missing value) and ':'
 * (predict: a missing value). */
static int bad_option(const cli_ctx *c, int cmd, int opt, const char *arg)
{
    if (cmd == ESS_SUMMARY)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "unknown or incomplete option '%s' (see sgld-ess --help)", arg);
    if (opt == ':')
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "option '%s' needs a value (see sgld-ess predict --help)", arg);
    return cli_fail(c, CLI_EXIT_BAD_INPUT, "unknown option '%s' (see sgld-ess predict --help)", arg);
}

int ess_args_parse(const cli_ctx *c, int cmd, int argc, char **argv, ess_args *a)
{
    memset(a, 0, sizeof *a);
    defaults(cmd, a);
    a->vars = calloc((size_t)argc, sizeof *a->vars);
    if (!a->vars) return cli_fail(c, CLI_EXIT_RUNTIME, "out of memory");
    struct option lo[N_ROWS + 1];
    const option_row *row_of[N_ROWS];
    const int n = long_options(cmd, lo, row_of);
    char msg[256];
    if (cli_check_spelling(argc, argv, 2, lo, msg, sizeof msg) != 0) return cli_fail(c, CLI_EXIT_BAD_INPUT, "%s", msg);
    opterr = 0;
    optind = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, cmd == ESS_SUMMARY ? "hV" : ":h", lo, NULL)) != -1) {
        const option_row *r = NULL;
        for (int i = 0; i < n && !r; i++)
            if (row_of[i]->key == opt) r = row_of[i];
        if (!r) return bad_option(c, cmd, opt, argv[optind - 1]);
        int st = apply(c, cmd, r, optarg, a);
        if (st >= 0) return st;
    }
    const char *pre = cmd == ESS_PREDICT ? "predict: " : "";
    if (optind >= argc)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "%smissing FILE%s", pre,
                        cmd == ESS_PREDICT ? " (see sgld-ess predict --help)" : "");
    if (optind < argc - 1)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "%sexpected one FILE, got extra '%s'", pre, argv[optind + 1]);
    a->file = argv[optind];
    return -1;
}

void ess_args_free(ess_args *a)
{
    free(a->vars);
    a->vars = NULL;
}
