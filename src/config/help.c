/* help.c - sgld-dist's --help, --help-sampler NAME and --help-model NAME, and the effective
 * configuration as INI text (sgld_config_write), all printed from the merged option table
 * (config_impl.h): a sampler's or model's rows appear under its section with its name in
 * front ("psgld: ...", "smile/psmile: ..."). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "sgld/model.h"
#include "sgld/sampler.h"
#include "sgld/version.h"

#define HELP_COLUMN 30
#define HELP_WIDTH 100

/* Marks a space that put_wrapped must not break at ("(default: 100 draws)" stays whole). */
#define NBSP '\x01'

static void keep_together(char *s)
{
    for (; *s; s++)
        if (*s == ' ') *s = NBSP;
}

/* Writes text word by word from column *col, wrapping at HELP_WIDTH to HELP_COLUMN. */
static void put_wrapped(FILE *f, const char *text, int *col)
{
    while (*text) {
        while (*text == ' ') text++;
        int len = (int)strcspn(text, " ");
        if (len == 0) break;
        if (*col > HELP_COLUMN && *col + 1 + len > HELP_WIDTH) {
            fprintf(f, "\n%*s", HELP_COLUMN, "");
            *col = HELP_COLUMN;
        } else if (*col > HELP_COLUMN) {
            fputc(' ', f);
            (*col)++;
        }
        for (int i = 0; i < len; i++) fputc(text[i] == NBSP ? ' ' : text[i], f);
        *col += len;
        text += len;
    }
}

/* "psgld: ", "smile/psmile: " for a type's entry, "" for the run's. */
static void owner_prefix(const config_entry *e, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < e->n_owners && e->owner != OWNER_RUN && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", k ? "/" : "", e->owner_names[k]);
    if (buf[0] && used + 2 < n) strcat(buf, ": ");
}

static void help_option(FILE *f, const config_entry *e, int prefixed)
{
    const sgld_option *o = &e->o;
    char left[128], text[768], range[128] = "", def[128] = "", prefix[128] = "";
    int n;
    if (e->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s", e->short_name, o->name);
    else
        n = snprintf(left, sizeof left, "      --%s", o->name);
    if (o->type == SGLD_OPT_BOOL)
        n += snprintf(left + n, sizeof left - n, "[=yes|no]");
    else if (o->type != SGLD_OPT_SWITCH)
        n += snprintf(left + n, sizeof left - n, " %s", o->arg);
    fputs(left, f);
    if (n >= HELP_COLUMN - 1) { /* at least two spaces before the description */
        fprintf(f, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(f, "%*s", HELP_COLUMN - n, "");
    }
    /* a number that also takes a word ("a|auto") names its range by the number ("a > 0") */
    char var[64];
    snprintf(var, sizeof var, "%.*s", (int)strcspn(o->arg, "|"), o->arg);
    config_describe_range(&o->range, o->type == SGLD_OPT_DOUBLE ? var : o->arg, range, sizeof range);
    if (o->type == SGLD_OPT_SWITCH)
        def[0] = '\0';
    else if (o->def[0] == '\0')
        snprintf(def, sizeof def, " (default: none)");
    else
        snprintf(def, sizeof def, " (default: %s%s%s)", o->def, o->unit[0] ? " " : "", o->unit);
    keep_together(range);
    if (def[0]) keep_together(def + 1); /* the leading space may break */
    if (prefixed) owner_prefix(e, prefix, sizeof prefix);
    snprintf(text, sizeof text, "%s%s%s%s%s", prefix, o->help, range[0] ? "; " : "", range, def);
    int col = HELP_COLUMN;
    put_wrapped(f, text, &col);
    fputc('\n', f);
}

/* "Models:" / "Samplers:" and one line per registered type: its name and description. */
static void list_types(FILE *f, int models)
{
    size_t n = models ? sgld_model_count() : sgld_sampler_count();
    fprintf(f, "\n%s (%s NAME: one and its options):\n", models ? "Models" : "Samplers",
            models ? "--help-model" : "--help-sampler");
    for (size_t i = 0; i < n; i++) {
        const char *name = models ? sgld_model_at(i)->name : sgld_sampler_at(i)->name;
        const char *what = models ? sgld_model_at(i)->description : sgld_sampler_at(i)->description;
        char text[512];
        int col = fprintf(f, "  %-*s", HELP_COLUMN - 2, name);
        if (col > HELP_COLUMN) {
            fprintf(f, "\n%*s", HELP_COLUMN, "");
            col = HELP_COLUMN;
        }
        snprintf(text, sizeof text, "%s", what);
        put_wrapped(f, text, &col);
        fputc('\n', f);
    }
}

/* "linreg|logreg|..." of the registered models or samplers. */
static void type_names(int models, char *buf, size_t size)
{
    size_t used = 0, n = models ? sgld_model_count() : sgld_sampler_count();
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "|" : "",
                                 models ? sgld_model_at(i)->name : sgld_sampler_at(i)->name);
}

void sgld_config_help(FILE *f, const char *prog)
{
    static const char *const titles[G_COUNT] = {"General", "Model and data", "Sampler", "Output"};
    config_table t;
    (void)config_table_build(&t);
    char models[512], samplers[512];
    type_names(1, models, sizeof models);
    type_names(0, samplers, sizeof samplers);
    if (!prog || !prog[0]) prog = "sgld-dist";
    fprintf(f,
            "Usage: %s [--config FILE] [options]\n"
            "       mpiexec -n P %s [--config FILE] [options]\n"
            "\n"
            "Stochastic-gradient Langevin dynamics (Welling & Teh 2011) for Bayesian regression,\n"
            "with C chains on P MPI ranks.  Every step of every chain is\n"
            "  theta <- theta + (eps_t / 2) (grad log p(theta) + (N / B) sum_batch grad log "
            "p(y|x, theta)) + N(0, eps_t T I)\n"
            "with the step-size schedule\n"
            "  eps_t = a (b + t)^(-g) (g = 0: constant)\n"
            "where N is the number of training examples, B = --batch-size, t the iteration,\n"
            "T = --temperature, a = --step-size, b = --step-b, g = --step-gamma.\n"
            "Models: %s.  Samplers: %s.\n",
            prog, prog, models, samplers);
    for (int g = 0; g < G_COUNT; g++) {
        fprintf(f, "\n%s:\n", titles[g]);
        for (size_t i = 0; i < t.n; i++)
            if ((int)t.e[i].group == g) help_option(f, &t.e[i], 1);
    }
    list_types(f, 1);
    list_types(f, 0);
    fprintf(f,
            "\n"
            "Data (--data, --test-data):\n"
            "  a CSV file      header row, numeric columns, the last column is the target; class\n"
            "                  targets are integers 0..K-1 or string labels mapped in sorted order\n"
            "  an HDF5 file    datasets /X [n, d] and /y [n]\n"
            "  built-ins       synthetic:linreg, synthetic:linreg3, synthetic:logreg,\n"
            "                  synthetic:softmax\n"
            "\n"
            "Parallelism: the run uses P MPI ranks = chains x shards (mpiexec -n P, P a multiple\n"
            "of --chains); every chain's data are split over its shards, and --batch-size is the\n"
            "total per chain across its shards.\n"
            "\n"
            "Configuration file (--config): one `key = value` per line, keys are the long options\n"
            "without dashes (step-size = 1e-4); [section] headers are ignored; # and ; start\n"
            "comments; values may be quoted with \"...\"; flags are true/false, yes/no, on/off,\n"
            "1/0.  Flags on the command line override the file whatever their order.\n"
            "\n"
            "Integers may be written in e-notation when whole (--steps 1e4, 2.5e3).  An option\n"
            "of one sampler or model (\"sghmc: ...\", \"mlp/cnn: ...\" above) given with another\n"
            "is an error; in a file, a key at its default value is accepted (the `config` of a\n"
            "sample file lists every key).\n"
            "\n"
            "Exit status: 0 success, 2 bad input/usage, 1 other failure (runtime error).\n"
            "3 incomplete: stopped by SIGTERM, SIGINT or SIGUSR1 after flushing the draws and\n"
            "saving --checkpoint; continue it with the same options and --resume.\n");
}

/* Writes what type `name` is (kind "sampler" or "model") and its options. */
static void help_type(FILE *f, const config_table *t, const char *kind, const char *name,
                      const char *description, config_owner owner)
{
    fprintf(f, "%s %s: %s\n", kind, name, description);
    int n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const config_entry *e = &t->e[i];
        int mine = 0;
        for (int k = 0; e->owner == owner && k < e->n_owners; k++)
            mine |= strcmp(e->owner_names[k], name) == 0;
        if (!mine) continue;
        if (n++ == 0) fprintf(f, "\nIts options (INI keys without the dashes):\n");
        help_option(f, e, 0);
    }
    if (n == 0) fprintf(f, "\nIt has no options of its own.\n");
    fprintf(f, "\nEvery run's options: --help.\n");
}

void sgld_config_help_for(const sgld_config *c, FILE *f, const char *prog)
{
    config_table t;
    (void)config_table_build(&t);
    const sgld_sampler_type *s = c->help_sampler[0] ? sgld_sampler_find(c->help_sampler) : NULL;
    const sgld_model_type *m = c->help_model[0] ? sgld_model_find(c->help_model) : NULL;
    if (s) help_type(f, &t, "sampler", s->name, s->description, OWNER_SAMPLER);
    if (s && m) fputc('\n', f);
    if (m) help_type(f, &t, "model", m->name, m->description, OWNER_MODEL);
    if (!s && !m) sgld_config_help(f, prog);
}

/* Shortest %.Ng (N = 15..17) that reads back as exactly x. */
static void format_double(double x, char *buf, size_t n)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* Formats entry e's value in c into buf as INI text: strings and choices quoted when quote
 * is set, booleans true/false, doubles in the shortest exact form. */
static void format_value(const config_entry *e, const sgld_config *c, int quote, char *buf,
                         size_t size)
{
    const char *field = (const char *)c + e->at[0], *q = quote ? "\"" : "";
    char word[128];
    switch (e->o.type) {
    case SGLD_OPT_STRING: snprintf(buf, size, "%s%s%s", q, field, q); return;
    case SGLD_OPT_CHOICE: {
        int k;
        memcpy(&k, field, sizeof k);
        if (!config_list_word(e->o.arg, k, word, sizeof word)) word[0] = '\0';
        snprintf(buf, size, "%s%s%s", q, word, q);
        return;
    }
    case SGLD_OPT_BOOL:
    case SGLD_OPT_SWITCH: {
        int b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, size, "%s", b ? "true" : "false");
        return;
    }
    case SGLD_OPT_INT: {
        int x;
        memcpy(&x, field, sizeof x);
        snprintf(buf, size, "%d", x);
        return;
    }
    case SGLD_OPT_INT64: {
        int64_t x;
        memcpy(&x, field, sizeof x);
        snprintf(buf, size, "%lld", (long long)x);
        return;
    }
    case SGLD_OPT_UINT32: {
        uint32_t x;
        memcpy(&x, field, sizeof x);
        snprintf(buf, size, "%lu", (unsigned long)x);
        return;
    }
    case SGLD_OPT_DOUBLE: {
        double x;
        memcpy(&x, field, sizeof x);
        if (e->owner == OWNER_RUN && e->at[0] == offsetof(sgld_config, step_size) && c->step_size_auto) {
            snprintf(buf, size, "auto");
            return;
        }
        format_double(x, buf, size);
        return;
    }
    }
    buf[0] = '\0';
}

sgld_status sgld_config_get(const sgld_config *c, const char *name, char *buf, size_t size)
{
    SGLD_CHECK(c && name && buf && size > 0, SGLD_ERR_ARG, "sgld_config_get: NULL argument");
    config_table t;
    (void)config_table_build(&t);
    const config_entry *e = config_table_find(&t, name, strlen(name));
    SGLD_CHECK(e, SGLD_ERR_USAGE, "unknown option '--%s'", name);
    format_value(e, c, 0, buf, size);
    return SGLD_OK;
}

void sgld_config_write(const sgld_config *c, FILE *f)
{
    /* Section headers (ignored when read back). */
    static const char *const sections[G_COUNT] = {"", "model", "sampler", "output"};
    config_table t;
    (void)config_table_build(&t);
    fprintf(f, "# sgld-dist configuration (read it back with --config FILE)\n");
    for (int g = G_GENERAL + 1; g < G_COUNT; g++) {
        fprintf(f, "\n[%s]\n", sections[g]);
        for (size_t i = 0; i < t.n; i++) {
            if ((int)t.e[i].group != g) continue;
            char value[SGLD_PLUGIN_LIST_MAX + 8];
            format_value(&t.e[i], c, 1, value, sizeof value);
            if (t.e[i].o.offset == offsetof(sgld_config, plugin) && c->plugin[0])
                fprintf(f, "# the plug-ins were loaded under ABI %d (sgld/version.h)\n", SGLD_ABI_VERSION);
            fprintf(f, "%s = %s\n", t.e[i].o.name, value);
        }
    }
}

int sgld_config_key_is_default(const char *key, size_t klen, const char *value, size_t vlen)
{
    config_table *t = malloc(sizeof *t);
    sgld_config *def = malloc(sizeof *def);
    int same = 0;
    if (t && def) {
        (void)config_table_build(t);
        const config_entry *e = config_table_find(t, key, klen);
        if (e) {
            sgld_config_defaults(def);
            char text[SGLD_PLUGIN_LIST_MAX + 8];
            format_value(e, def, 1, text, sizeof text);
            same = strlen(text) == vlen && strncmp(text, value, vlen) == 0;
        }
    }
    free(t);
    free(def);
    return same;
}
