/* ess_args.c - the command line of sgld-ess's subcommands: a table of option rows per
 * subcommand (sgld_option, as sgld-dist's options are), walked by the same parser as
 * sgld-dist's (sgld_option_parse_argv, sgld_option_parse), so that both programs read a
 * number, a choice or a flag alike and word their errors alike. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ess.h"
#include "sgld/config.h"
#include "sgld/diag.h"
#include "sgld/net.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define FIELD(f, T) SGLD_OPTION_FIELD(ess_args, f, T)
#define NONE {SGLD_RANGE_NONE, 0, 0}
#define TEXT(name, f, arg) {name, SGLD_OPT_STRING, FIELD(f, const char *), "", arg, "", NONE, 0, ""}
#define LIST(name, f, arg) {name, SGLD_OPT_STRING, FIELD(f, const char **), "", arg, "", NONE, 0, ""}
#define SWITCH(name, f) {name, SGLD_OPT_SWITCH, FIELD(f, int), "0", "", "", NONE, 0, ""}
#define COUNT(name, f, lo, hi) \
    {name, SGLD_OPT_INT64, FIELD(f, int64_t), "", "N", "", {SGLD_RANGE_GE_LE, (lo), (hi)}, 0, ""}
#define SEED(name) \
    {name, SGLD_OPT_UINT32, FIELD(seed, uint32_t), "", "S", "", {SGLD_RANGE_GE_LE, 0, 4294967295.0}, 0, ""}
#define UNIT(name, f) {name, SGLD_OPT_DOUBLE, FIELD(f, double), "", "X", "", {SGLD_RANGE_GT_LT, 0, 1}, 0, ""}

/* A STRING row's field here is a `const char *` into argv (not a char array): ess_store
 * keeps the pointer.  --var and --plugin are repeatable (appended). */
static const sgld_option summary_rows[] = {
    LIST("var", vars, "NAME"),
    TEXT("group", group, "NAME"),
    SWITCH("json", json),
    SWITCH("csv", csv),
    COUNT("max-rows", max_rows, 0, 9.2e18),
    {"mess-method", SGLD_OPT_CHOICE, FIELD(method, int), "", "lugsail|bm|obm|bartlett", "", NONE, 0, ""},
    {"mcse-sd-rule", SGLD_OPT_CHOICE, FIELD(mcse_sd_rule, int), "", "posterior|stan", "", NONE, 0, ""},
    COUNT("batch-size", batch_size, 1, 9.2e18),
    COUNT("project", project, 1, 200),
    SEED("seed"),
    UNIT("alpha", alpha),
    UNIT("eps", eps),
    COUNT("block", block, 1, 1000000),
    COUNT("superchains", superchains, 2, 2147483647),
    COUNT("curve", curve, 2, 1000),
    SWITCH("timing", timing),
    SWITCH("help", help),
    SWITCH("version", version),
};

static const sgld_option predict_rows[] = {
    TEXT("data", data, "FILE"),
    TEXT("ood", ood, "FILE"),
    TEXT("draws", draws, "SPEC"),
    SWITCH("json", json),
    TEXT("per-example", per_example, "FILE"),
    TEXT("hist", hist, "FILE"),
    TEXT("log-likelihood", log_likelihood, "FILE"),
    COUNT("batch", batch, 1, 1000000),
    COUNT("block", block, 1, 100000),
    SWITCH("timing", timing),
    SWITCH("help", help),
    COUNT("mc-dropout", mc_dropout, 1, SGLD_NET_MC_MASKS),
    SEED("seed"),
    SWITCH("force", force),
    LIST("plugin", plugins, "FILE"),
    TEXT("fgsm", fgsm, "EPS[,EPS...]"),
};

#define N_SUMMARY (sizeof summary_rows / sizeof summary_rows[0])
#define N_PREDICT (sizeof predict_rows / sizeof predict_rows[0])

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

/* Stores one option or the operand FILE. */
static sgld_status ess_store(void *self, const sgld_option *o, size_t index, const char *value,
                             const char *where)
{
    ess_args *a = self;
    if (!o) {
        SGLD_CHECK(!a->file, SGLD_ERR_USAGE, "expected one FILE, got extra '%s'", value);
        a->file = value;
        return SGLD_OK;
    }
    if (o->offset == offsetof(ess_args, vars)) {
        a->vars[a->n_vars++] = value;
        return SGLD_OK;
    }
    if (o->offset == offsetof(ess_args, plugins)) {
        SGLD_CHECK(value[0], SGLD_ERR_USAGE, "--plugin: empty file name");
        a->plugins[a->n_plugins++] = value;
        return SGLD_OK;
    }
    if (o->type == SGLD_OPT_STRING) {
        memcpy((char *)a + o->offset, &value, sizeof value);
        return SGLD_OK;
    }
    return sgld_option_parse(o, value, where, 1, (char *)a + o->offset);
}

int ess_args_parse(const cli_ctx *c, int cmd, int argc, char **argv, ess_args *a)
{
    memset(a, 0, sizeof *a);
    defaults(cmd, a);
    a->vars = calloc((size_t)argc, sizeof *a->vars);
    a->plugins = calloc((size_t)argc, sizeof *a->plugins);
    if (!a->vars || !a->plugins) return cli_fail(c, CLI_EXIT_RUNTIME, "out of memory");
    const int summary = cmd == ESS_SUMMARY;
    const sgld_option *rows = summary ? summary_rows : predict_rows;
    const size_t n = summary ? N_SUMMARY : N_PREDICT;
    const sgld_option *row_ptrs[N_SUMMARY > N_PREDICT ? N_SUMMARY : N_PREDICT];
    for (size_t i = 0; i < n; i++) row_ptrs[i] = &rows[i];
    int shorts[N_SUMMARY > N_PREDICT ? N_SUMMARY : N_PREDICT] = {0};
    for (size_t i = 0; i < n; i++)
        shorts[i] = !strcmp(rows[i].name, "help") ? 'h' : !strcmp(rows[i].name, "version") ? 'V' : 0;
    const char *see = summary ? " (see sgld-ess --help)" : " (see sgld-ess predict --help)";
    sgld_cmdline cl = {row_ptrs, n, shorts, 2, 0, ""};
    if (sgld_option_parse_argv(&cl, argc, argv, ess_store, a) != SGLD_OK)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "%s", sgld_error_message());
    if (a->help) {
        if (c->rank == 0) (summary ? ess_summary_usage : ess_predict_usage)(stdout);
        return CLI_EXIT_OK;
    }
    if (a->version) {
        cli_version(c);
        return CLI_EXIT_OK;
    }
    if (a->json && a->csv) return cli_fail(c, CLI_EXIT_BAD_INPUT, "--json and --csv: give one");
    a->format = a->json ? ESS_JSON : a->csv ? ESS_CSV : ESS_TABLE;
    if (!a->file)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "%smissing FILE%s", summary ? "" : "predict: ", see);
    return -1;
}

void ess_args_free(ess_args *a)
{
    free(a->vars);
    free(a->plugins);
    a->vars = NULL;
    a->plugins = NULL;
}
