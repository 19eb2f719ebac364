/* config.c - the run configuration: one merged option table (the run's own rows below and
 * every registered sampler's and model's rows, config_impl.h) drives the defaults, the INI
 * file reader, the command line (through option.c's parser, which sgld-ess shares), --help
 * (help.c) and sgld_config_write.
 *
 * Precedence: defaults < the --config file < command-line flags, whatever the order of the
 * flags on the line.  parse() therefore walks argv twice: the first pass only looks for
 * --config, --plugin, --help, --version, --help-sampler and --help-model; then the plug-ins
 * are loaded (their rows join the table) and the file is applied; the second pass applies
 * every other flag.  Adding a run option is one row in
 * `run_rows[]` (plus its field in sgld_config); a sampler's or model's option is a row in its
 * own file.  Every value, from a file or a flag, goes through assign() and sgld_option_parse,
 * which parses it fully (exact integers, also in e-notation; strtod, no trailing junk, finite doubles; a choice
 * among its words) and checks the row's range.  At the end, options that do not apply to the
 * chosen sampler or model (the types that declare the row) are refused, the cross-field rule
 * of the run (burnin < steps) is checked, and the chosen types' check hooks run. */
#include "sgld/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_impl.h"
#include "config_table.h"
#include "sgld/gradient.h"
#include "sgld/model.h"
#include "sgld/plugin.h"
#include "sgld/registry.h"
#include "sgld/sampler.h"

/* Short names of the value types and ranges for the run's rows. */
#define T_STRING SGLD_OPT_STRING
#define T_INT SGLD_OPT_INT
#define T_INT64 SGLD_OPT_INT64
#define T_UINT32 SGLD_OPT_UINT32
#define T_DOUBLE SGLD_OPT_DOUBLE
#define T_BOOL SGLD_OPT_BOOL
#define T_SWITCH SGLD_OPT_SWITCH

/* A row of the run's own options: the public row plus its short flag and --help section. */
typedef struct {
    const char *name;
    int short_name;
    sgld_opt_type type;
    size_t offset, size;
    const char *def, *arg, *unit;
    sgld_range range;
    config_group group;
    int chain; /* CHAIN: defines the chain (checkpoint compatibility); CONTROL: output only */
    const char *help;
} run_row;

#define CHAIN 1
#define CONTROL 0
#define FIELD(f, T) SGLD_OPTION_FIELD(sgld_config, f, T)
#define NOCHECK {SGLD_RANGE_NONE, 0, 0}
#define GE(x) {SGLD_RANGE_GE, (x), 0}
#define GT(x) {SGLD_RANGE_GT, (x), 0}
#define GE_LT(x, y) {SGLD_RANGE_GE_LT, (x), (y)}
#define GE_LE(x, y) {SGLD_RANGE_GE_LE, (x), (y)}
#define GT_LT(x, y) {SGLD_RANGE_GT_LT, (x), (y)}
#define GT_LE(x, y) {SGLD_RANGE_GT_LE, (x), (y)}
#define NONEMPTY {SGLD_RANGE_NONEMPTY, 0, 0}

/* Largest --flush-every: 2^29 - 1 draws, 8 bytes each in the draw coordinate's chunk. */
#define FLUSH_DRAWS_MAX 536870911

static const run_row run_rows[] = {
    /* general (command line only) */
    {"config", 0, T_STRING, FIELD(config_path, char *), "", "FILE", "", NONEMPTY, G_GENERAL, CONTROL,
     "read options from an INI file (`key = value`, keys are the long options); "
     "flags given on the command line override it"},
    {"help", 'h', T_SWITCH, FIELD(help, int), "0", "", "", NOCHECK, G_GENERAL, CONTROL,
     "print this help and exit"},
    {"version", 'V', T_SWITCH, FIELD(version, int), "0", "", "", NOCHECK, G_GENERAL, CONTROL,
     "print the version and exit"},
    {"help-sampler", 0, T_STRING, FIELD(help_sampler, char *), "", "NAME", "", NONEMPTY, G_GENERAL,
     CONTROL, "print what sampler NAME is and its options, and exit"},
    {"help-model", 0, T_STRING, FIELD(help_model, char *), "", "NAME", "", NONEMPTY, G_GENERAL,
     CONTROL, "print what model NAME is and its options, and exit"},
    {"plugin", 0, T_STRING, FIELD(plugin, char *), "", "FILE", "", NOCHECK, G_MODEL, CONTROL,
     "load a plug-in: a shared object whose sgld_plugin_init registers models and samplers, "
     "with their options (repeatable; in a file, a ':'-separated list; the files and "
     "directories of SGLD_PLUGIN_PATH load first); read before every other option"},
    {"resume", 0, T_SWITCH, FIELD(resume, int), "0", "", "", NOCHECK, G_GENERAL, CONTROL,
     "continue the run saved in --checkpoint (the sample file is cut back to its draws)"},
    {"dry-run", 0, T_SWITCH, FIELD(dry_run, int), "0", "", "", NOCHECK, G_GENERAL, CONTROL,
     "check the configuration and data, print the plan and exit"},
    {"check-gradient", 0, T_SWITCH, FIELD(check_gradient, int), "0", "", "", NOCHECK, G_GENERAL, CONTROL,
     "compare the model's log-likelihood and prior gradients with central differences on rows "
     "of --data at a few parameter points, print the worst relative error per variable and "
     "exit (status 1 when one exceeds --check-gradient-tol)"},
    {"check-gradient-points", 0, T_INT, FIELD(check_gradient_points, int), "5", "K", "", GE_LE(1, 1000),
     G_GENERAL, CONTROL, "parameter points of --check-gradient (point k: chain k's initialization, "
     "on --batch-size rows of --data; ReLU and max-pool networks: kinks, check them on "
     "--batch-size 10)"},
    {"check-gradient-tol", 0, T_DOUBLE, FIELD(check_gradient_tol, double), "0.01", "TOL", "", GT(0),
     G_GENERAL, CONTROL, "largest relative error --check-gradient accepts (correct float gradients "
     "measure <= 5e-4, a wrong factor, sign or term O(1))"},
    /* model and data */
    {"model", 0, T_STRING, FIELD(model, char *), "linreg", "NAME", "", NOCHECK, G_MODEL, CHAIN,
     "the model: one of the registered models listed below (--help-model NAME shows one and "
     "its options)"},
    {"task", 0, T_STRING, FIELD(task, char *), "", "regression|classification", "", NOCHECK,
     G_MODEL, CHAIN,
     "what the target is, for a model that does either (regression when none is given; "
     "classification reads integer labels 0..K-1 or string labels, and needs K outputs); the "
     "other models do their own task only (naming it is accepted, the other task an error)"},
    {"prior-sd", 0, T_DOUBLE, FIELD(prior_sd, double), "1", "S", "", GT(0), G_MODEL, CHAIN,
     "N(0, S^2) prior on every weight"},
    {"data", 0, T_STRING, FIELD(data, char *), "synthetic:linreg", "SOURCE", "", NONEMPTY,
     G_MODEL, CHAIN, "training data: a CSV or HDF5 file or a built-in synthetic:NAME (see below)"},
    {"test-data", 0, T_STRING, FIELD(test_data, char *), "", "SOURCE", "", NOCHECK, G_MODEL, CHAIN,
     "held-out test data, same formats as --data"},
    {"test-fraction", 0, T_DOUBLE, FIELD(test_fraction, double), "0", "F", "", GE_LT(0, 1),
     G_MODEL, CHAIN, "fraction of --data held out as test data (the rows are stored in --output as "
     "test_row; `sgld-ess predict FILE --data test-split` scores exactly them)"},
    {"standardize", 0, T_BOOL, FIELD(standardize, int), "off", "", "", NOCHECK, G_MODEL, CHAIN,
     "standardize every feature column to mean 0 and sd 1"},
    /* networks (grammar in include/sgld/net.h) */
    {"sampler", 0, T_STRING, FIELD(sampler, char *), "sgld", "NAME", "", NOCHECK, G_SAMPLER,
     CHAIN, "the sampler: one of the registered samplers listed below (sgld: the update above; "
     "--help-sampler NAME shows one and its options)"},
    {"chains", 0, T_INT, FIELD(chains, int), "1", "C", "", GE(1), G_SAMPLER, CHAIN,
     "independent chains; the P ranks form C groups of P / C shards"},
    /* A speed setting: CONTROL, so a resumed run may change it.  The noise's bits do not depend
     * on T; OpenBLAS's threaded GEMM sums in another order, so a network's draws do. */
    {"threads", 0, T_INT, FIELD(threads, int), "1", "T", "", GE_LE(1, 256), G_SAMPLER, CONTROL,
     "threads per rank: OpenBLAS's (openblas_set_num_threads, in place of OPENBLAS_NUM_THREADS) "
     "and the noise's (OpenMP); P ranks x T threads on P T cores (mpiexec --bind-to none, or "
     "--map-by slot:PE=T, so that a rank's threads get cores of their own)"},
    /* 0, the default, is "not given": every chain starts from its own point and the sample
     * file has no superchain coordinate. */
    {"superchains", 0, T_INT, FIELD(superchains, int), "0", "K", "", GE(0), G_SAMPLER, CHAIN,
     "group the chains into K superchains of C / K consecutive chains (K must divide --chains): "
     "the chains of a superchain start from one point, its first chain's initial draw, and keep "
     "their own noise; the sample file gets a superchain coordinate for the nested R-hat of "
     "sgld-ess summary (0, the default: no grouping, every chain starts from its own point)"},
    {"steps", 0, T_INT64, FIELD(steps, int64_t), "20000", "N", "iterations", GE(1), G_SAMPLER, CHAIN,
     "iterations per chain"},
    {"burnin", 0, T_INT64, FIELD(burnin, int64_t), "2000", "B", "iterations", GE(0), G_SAMPLER, CHAIN,
     "iterations discarded at the start of every chain, B < --steps (when not given and the "
     "default is not below --steps: steps / 10)"},
    {"thin", 0, T_INT64, FIELD(thin, int64_t), "1", "T", "", GE(1), G_SAMPLER, CHAIN,
     "keep one draw every T iterations after burn-in"},
    {"batch-size", 0, T_INT64, FIELD(batch_size, int64_t), "100", "B", "examples", GE(1),
     G_SAMPLER, CHAIN, "minibatch size, total per chain across its shards"},
    {"seed", 0, T_UINT32, FIELD(seed, uint32_t), "1", "S", "", GE_LE(0, 4294967295.0),
     G_SAMPLER, CHAIN, "key of the counter-based random streams"},
    {"step-size", 0, T_DOUBLE, FIELD(step_size, double), "1e-5", "a|auto", "", GT(0), G_SAMPLER, CHAIN,
     "a in the step-size schedule; auto (with --init map): 0.1 / lambda_max, the largest "
     "eigenvalue of -log p(theta | data)'s Hessian at the mode (20 power iterations of "
     "Hessian-vector products; the largest over the chains), printed and stored"},
    {"step-b", 0, T_DOUBLE, FIELD(step_b, double), "0", "b", "", GE(0), G_SAMPLER, CHAIN,
     "b in the step-size schedule"},
    {"step-gamma", 0, T_DOUBLE, FIELD(step_gamma, double), "0", "g", "", GE_LE(0, 1),
     G_SAMPLER, CHAIN,
     "g in the step-size schedule (0: constant step)"},
    {"temperature", 0, T_DOUBLE, FIELD(temperature, double), "1", "T", "", GT(0), G_SAMPLER, CHAIN,
     "T in the noise N(0, eps_t T I) (1: the posterior)"},
    {"on-divergence", 0, T_STRING, FIELD(on_divergence, char *), "abort", "abort|shrink|skip", "",
     NONEMPTY, G_SAMPLER, CHAIN,
     "a step that makes theta or the log posterior non-finite: abort the run; shrink (undo it "
     "and halve the chain's step size from then on); skip (undo it and go on); never a NaN draw"},
    {"gradient", 0, T_STRING, FIELD(gradient, char *), "minibatch", "minibatch|cv|svrg:E", "", NONEMPTY,
     G_SAMPLER, CHAIN,
     "the gradient estimator, for any sampler: minibatch ((N / B) times the batch's gradient); "
     "cv (control variate: the full-data gradient at the mode found by --init map or sgd:K, plus "
     "(N / B) times the batch's change since: one more batch gradient per step); svrg:E (cv "
     "whose centre moves to the chain's point every E epochs, the full gradient recomputed)"},
    {"init", 0, T_STRING, FIELD(init, char *), "random", "random|map|sgd:K", "", NONEMPTY, G_SAMPLER,
     CHAIN,
     "where a chain starts: random (the model's initialization); map (then the posterior mode "
     "by L-BFGS on full-data gradients summed over the chain's shards, see --init-iterations, "
     "--init-tol); sgd:K (then K epochs of minibatch gradient ascent at the first step size, "
     "for networks); reported and stored in --output"},
    {"init-iterations", 0, T_INT, FIELD(init_iterations, int), "1000", "N", "", GE_LE(1, 1000000),
     G_SAMPLER, CHAIN, "most L-BFGS iterations of --init map; a mode not reached by then ends the run"},
    {"init-tol", 0, T_DOUBLE, FIELD(init_tol, double), "1e-3", "TOL", "", GT(0), G_SAMPLER, CHAIN,
     "--init map stops when every |d log p(theta | data) / d theta_j| <= TOL sqrt(N) (about TOL / "
     "sqrt(h) posterior sds from the mode, h the curvature per row)"},
    /* sampler family: one group per sampler */
    {"output", 0, T_STRING, FIELD(output, char *), "", "FILE", "", NOCHECK, G_OUTPUT, CONTROL,
     "HDF5 file for the retained draws (none: no sample file); a second run on it is refused "
     "while FILE.lock is held"},
    {"force", 0, T_BOOL, FIELD(force, int), "off", "", "", NOCHECK, G_OUTPUT, CONTROL,
     "replace an existing --output or --checkpoint (FILE, FILE.prev, FILE.tmp); never a file "
     "the run reads (--data, --test-data, --config: compared by device and inode)"},
    {"quiet", 0, T_BOOL, FIELD(quiet, int), "off", "", "", NOCHECK, G_OUTPUT, CONTROL,
     "print nothing but errors"},
    {"progress", 0, T_BOOL, FIELD(progress, int), "off", "", "", NOCHECK, G_OUTPUT, CONTROL,
     "print the progress line even when stderr is not a terminal"},
    /* The bound keeps the draw coordinate's chunk (N int64) under HDF5's 4 GiB chunk limit. */
    {"flush-every", 0, T_INT64, FIELD(flush_draws, int64_t), "100", "N", "draws",
     GE_LE(1, FLUSH_DRAWS_MAX), G_OUTPUT, CONTROL, "draws buffered per collective write"},
    {"checkpoint", 0, T_STRING, FIELD(checkpoint, char *), "", "FILE", "", NOCHECK, G_OUTPUT, CONTROL,
     "save the run state here (atomically, keeping FILE.prev) at --checkpoint-every, "
     "--checkpoint-seconds and on SIGTERM/SIGINT/SIGUSR1"},
    {"checkpoint-every", 0, T_INT64, FIELD(checkpoint_every, int64_t), "0", "K", "iterations",
     GE(0), G_OUTPUT, CONTROL, "checkpoint every K iterations (0: off)"},
    {"checkpoint-seconds", 0, T_DOUBLE, FIELD(checkpoint_seconds, double), "0", "S", "s", GE(0),
     G_OUTPUT, CONTROL, "checkpoint at the first flush S seconds after the last one (0: off)"},
    {"stop-when", 0, T_STRING, FIELD(stop_when, char *), "", "RULE", "", NOCHECK, G_OUTPUT, CONTROL,
     "stop at the first flush point where the monitored draws meet RULE: any of ess>=E, rhat<=R, "
     "mess>=E, comma-separated (min batch-means ESS over chains, max split R-hat, or with "
     "--superchains K >= 2 max nested R-hat, whose threshold is 1.01; multivariate ESS of 4 random "
     "projections); the run ends complete (exit 0) after flushing and checkpointing (\"\": run all "
     "--steps)"},
    {"save-observed", 0, SGLD_OPT_CHOICE, FIELD(save_observed, int), "auto", "auto|yes|no", "", NOCHECK,
     G_OUTPUT, CONTROL,
     "write the training targets to --output as group observed_data, y [obs] in the data's row "
     "order (ArviZ's observed_data); auto: when they take at most 8 MB as float64 (1048576 rows)"},
    {"log-view", 0, T_BOOL, FIELD(log_view, int), "off", "", "", NOCHECK, G_OUTPUT, CONTROL,
     "print a table of timed events (count, min/max/mean over ranks, share of the step)"},
    {"max-rows", 0, T_INT64, FIELD(max_rows, int64_t), "40", "N", "rows", GE(0), G_OUTPUT, CONTROL,
     "parameter rows of the posterior summary printed at the end (0: all; sgld-ess summary "
     "FILE reads them all from the sample file)"},

};

#define N_RUN_ROWS (sizeof run_rows / sizeof run_rows[0])


/* ---- the merged table ---- */

static sgld_status add_run_rows(config_table *t)
{
    for (size_t i = 0; i < N_RUN_ROWS; i++) {
        const run_row *r = &run_rows[i];
        config_entry *e = &t->e[t->n++];
        e->o = (sgld_option){r->name, r->type, r->offset, r->size, r->def, r->arg, r->unit,
                             r->range, r->chain, r->help};
        e->short_name = r->short_name;
        e->group = r->group;
        e->owner = OWNER_RUN;
        e->n_owners = 1;
        e->owner_names[0] = NULL;
        e->at[0] = r->offset;
    }
    return SGLD_OK;
}

/* 1 when rows a and b parse and default alike (what two types sharing a name must agree on). */
static int same_row(const sgld_option *a, const sgld_option *b)
{
    return a->type == b->type && a->size == b->size && strcmp(a->def, b->def) == 0 &&
           strcmp(a->arg, b->arg) == 0 && a->range.kind == b->range.kind &&
           a->range.lo == b->range.lo && a->range.hi == b->range.hi && a->chain == b->chain;
}

/* Adds the rows of one type (name, its rows, its struct's offset in sgld_config). */
static sgld_status add_type_rows(config_table *t, config_owner owner, const char *type_name,
                                 const sgld_option *rows, size_t n_rows, size_t base)
{
    for (size_t i = 0; i < n_rows; i++) {
        const sgld_option *r = &rows[i];
        config_entry *e = (config_entry *)config_table_find(t, r->name, strlen(r->name));
        if (e) {
            SGLD_CHECK(e->owner == owner && same_row(&e->o, r), SGLD_ERR_INTERNAL,
                       "option --%s of %s %s is already declared differently by %s%s", r->name,
                       owner == OWNER_SAMPLER ? "sampler" : "model", type_name,
                       e->owner == OWNER_RUN ? "sgld-dist itself" : e->owner_names[0],
                       e->owner == OWNER_RUN ? "" : " (a shared row needs the same type, "
                                                    "default and range)");
            SGLD_CHECK(e->n_owners < CONFIG_MAX_OWNERS, SGLD_ERR_INTERNAL,
                       "option --%s: more than %d types declare it", r->name, CONFIG_MAX_OWNERS);
        } else {
            SGLD_CHECK(t->n < CONFIG_MAX_ENTRIES, SGLD_ERR_INTERNAL,
                       "more than %d options (at --%s of %s)", CONFIG_MAX_ENTRIES, r->name, type_name);
            e = &t->e[t->n++];
            e->o = *r;
            e->short_name = 0;
            e->group = owner == OWNER_SAMPLER ? G_SAMPLER : G_MODEL;
            e->owner = owner;
            e->n_owners = 0;
        }
        e->owner_names[e->n_owners] = type_name;
        e->at[e->n_owners++] = base + r->offset;
    }
    return SGLD_OK;
}

/* Places a type's options struct in type_opts and adds its rows. */
static sgld_status add_type(config_table *t, config_owner owner, const void *type, const char *name,
                            const sgld_option *rows, size_t n_rows, size_t size, size_t *used)
{
    if (!rows || n_rows == 0) return SGLD_OK;
    SGLD_CHECK(t->n_types < SGLD_CONFIG_MAX_TYPES, SGLD_ERR_INTERNAL,
               "more than %d samplers and models with options (at %s)", SGLD_CONFIG_MAX_TYPES, name);
    size_t at = (*used + 15) / 16 * 16;
    SGLD_CHECK(at + size <= SGLD_CONFIG_TYPE_BYTES, SGLD_ERR_INTERNAL,
               "the options of %s do not fit (%zu bytes at %zu of %d)", name, size, at,
               SGLD_CONFIG_TYPE_BYTES);
    t->types[t->n_types] = type;
    t->type_offset[t->n_types++] = at;
    *used = at + size;
    return add_type_rows(t, owner, name, rows, n_rows, offsetof(sgld_config, type_opts) + at);
}

sgld_status config_table_build(config_table *t)
{
    t->n = 0;
    t->n_types = 0;
    size_t used = 0;
    SGLD_TRY(add_run_rows(t));
    for (size_t i = 0; i < sgld_sampler_count(); i++) {
        const sgld_sampler_type *s = sgld_sampler_at(i);
        SGLD_TRY(add_type(t, OWNER_SAMPLER, s, s->name, s->options, s->n_options, s->options_size,
                          &used));
    }
    for (size_t i = 0; i < sgld_model_count(); i++) {
        const sgld_model_type *m = sgld_model_at(i);
        SGLD_TRY(add_type(t, OWNER_MODEL, m, m->name, m->options, m->n_options, m->options_size,
                          &used));
    }
    return SGLD_OK;
}

const config_entry *config_table_find(const config_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->e[i].o.name) == len && strncmp(t->e[i].o.name, name, len) == 0) return &t->e[i];
    return NULL;
}

int config_list_word(const char *list, int k, char *buf, size_t cap)
{
    for (const char *p = list; *p; k--) {
        size_t len = strcspn(p, "|");
        if (k == 0) {
            snprintf(buf, cap, "%.*s", (int)len, p);
            return 1;
        }
        p += len + (p[len] == '|');
    }
    return 0;
}

void config_list_words(const char *list, const char *conj, char *buf, size_t cap)
{
    size_t used = 0, n_items = 1;
    for (const char *p = list; *p; p++) n_items += *p == '|';
    buf[0] = '\0';
    size_t i = 0;
    for (const char *p = list; *p && used < cap; i++) {
        size_t len = strcspn(p, "|");
        const char *sep = i == 0 ? "" : i + 1 == n_items ? " " : ", ";
        used += (size_t)snprintf(buf + used, cap - used, "%s%s%s%.*s", sep,
                                 i > 0 && i + 1 == n_items ? conj : "",
                                 i > 0 && i + 1 == n_items ? " " : "", (int)len, p);
        p += len + (p[len] == '|');
    }
}

/* The table, built once per public call.  A build that fails keeps what fitted; the status
 * reaches the user through sgld_config_parse. */
static sgld_status table_of(config_table *t) { return config_table_build(t); }

size_t sgld_config_option_count(void)
{
    static config_table t;
    (void)table_of(&t);
    return t.n;
}

const char *sgld_config_option_name(size_t i)
{
    static config_table t;
    (void)table_of(&t);
    return i < t.n ? t.e[i].o.name : NULL;
}

int sgld_config_option_cli_only(size_t i)
{
    static config_table t;
    (void)table_of(&t);
    return i < t.n && t.e[i].group == G_GENERAL;
}

int sgld_config_key_defines_chain(const char *key, size_t len)
{
    static config_table t; /* not reentrant across threads: called from one thread per rank */
    (void)table_of(&t);
    const config_entry *e = config_table_find(&t, key, len);
    return !e || e->o.chain;
}



/* Room for "FILE:LINE: key 'NAME'" with FILE up to SGLD_PATH_MAX - 1 characters. */
#define WHERE_MAX (SGLD_PATH_MAX + 128)

/* Longest INI line accepted (without its newline). */
#define LINE_MAX_CHARS 4096

/* What a parse is filling, and where each value came from (for messages that are checked
 * after all sources are applied).  Also what a type's check hook sees as sgld_option_where. */
struct sgld_option_where {
    sgld_config *c;
    const config_table *t;
    const char *path;                /* the --config file, or NULL */
    long origin[CONFIG_MAX_ENTRIES]; /* ORIGIN_DEFAULT, ORIGIN_FLAG, or the file line */
    /* The plug-in pass (prescan set): apply_line only records the file's `plugin`, `model`
     * and `sampler` values (and the plugin key's line), so that plug-ins load before the
     * keys they declare are looked up. */
    int prescan;
    long plugin_line;
    char plugin[SGLD_PLUGIN_LIST_MAX], model[SGLD_NAME_MAX], sampler[SGLD_NAME_MAX];
};
typedef struct sgld_option_where parse_ctx;

#define ORIGIN_DEFAULT 0
#define ORIGIN_FLAG (-1)


/* The closest key a file may set (sgld_option_nearest over the rows that are not
 * command-line only), or NULL. */
static const char *suggest_key(const config_table *t, const char *name, size_t len)
{
    const sgld_option *rows[CONFIG_MAX_ENTRIES];
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].group != G_GENERAL) rows[n++] = &t->e[i].o;
    return sgld_option_nearest(rows, n, name, len);
}

/* Parses text as a value of entry e and stores it in the field of every owner in c. */
static sgld_status assign(sgld_config *c, const config_entry *e, const char *text,
                          const char *where, int checked)
{
    unsigned char val[SGLD_PLUGIN_LIST_MAX]; /* the largest field */
    SGLD_CHECK(e->o.size <= sizeof val, SGLD_ERR_INTERNAL, "%s: field of %zu bytes", where,
               e->o.size);
    /* --step-size auto: the schedule's a is set by the run from the curvature at the mode
     * (gradient.h); the field keeps the default until then. */
    if (e->owner == OWNER_RUN && e->at[0] == offsetof(sgld_config, step_size)) {
        c->step_size_auto = strcmp(text, "auto") == 0;
        if (c->step_size_auto) text = e->o.def;
    }
    SGLD_TRY(sgld_option_parse(&e->o, text, where, checked, val));
    for (int k = 0; k < e->n_owners; k++) memcpy((char *)c + e->at[k], val, e->o.size);
    return SGLD_OK;
}

/* Fills c with the defaults of table t and records where each type's struct lies. */
static void apply_defaults(sgld_config *c, const config_table *t)
{
    memset(c, 0, sizeof *c);
    c->n_types = t->n_types;
    for (int i = 0; i < t->n_types; i++) {
        c->types[i] = t->types[i];
        c->type_offset[i] = t->type_offset[i];
    }
    for (size_t i = 0; i < t->n; i++) (void)assign(c, &t->e[i], t->e[i].o.def, "default", 0);
    (void)sgld_plugin_list(c->plugin, sizeof c->plugin);
}

void sgld_config_defaults(sgld_config *c)
{
    config_table t;
    (void)config_table_build(&t);
    apply_defaults(c, &t);
}

sgld_status sgld_config_set(sgld_config *c, const char *name, const char *value)
{
    SGLD_CHECK(c && name && value, SGLD_ERR_ARG, "sgld_config_set: NULL argument");
    config_table t;
    SGLD_TRY(config_table_build(&t));
    const config_entry *e = config_table_find(&t, name, strlen(name));
    SGLD_CHECK(e && e->group != G_GENERAL, SGLD_ERR_USAGE, "unknown option '--%s'", name);
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "--%s", name);
    return assign(c, e, value, where, 1);
}


/* ---- INI file ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* Strips quotes or a trailing comment from a trimmed value in place.  A value that starts
 * with '"' runs to the last '"' on the line (no escapes), and only a comment may follow;
 * otherwise '#' or ';' after whitespace starts a comment. */
static sgld_status unquote(char **value, const char *where)
{
    char *v = *value;
    if (v[0] == '"') {
        char *close = strrchr(v, '"');
        SGLD_CHECK(close != v, SGLD_ERR_USAGE, "%s: unterminated quote in '%s'", where, v);
        char *rest = trim(close + 1);
        SGLD_CHECK(rest[0] == '\0' || rest[0] == '#' || rest[0] == ';', SGLD_ERR_USAGE,
                   "%s: unexpected text '%s' after the closing quote", where, rest);
        *close = '\0';
        *value = v + 1;
        return SGLD_OK;
    }
    for (char *p = v + 1; *p; p++) {
        if ((*p == '#' || *p == ';') && isspace((unsigned char)p[-1])) {
            *p = '\0';
            break;
        }
    }
    *value = trim(v);
    return SGLD_OK;
}

/* The plug-in pass's part of a line: keeps the values of `plugin`, `model` and `sampler`. */
static sgld_status record_prescan(parse_ctx *ctx, long line_no, const char *key, char *value)
{
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "%s:%ld: key '%s'", ctx->path, line_no, key);
    char *field = !strcmp(key, "plugin") ? ctx->plugin : !strcmp(key, "model") ? ctx->model
                  : !strcmp(key, "sampler") ? ctx->sampler : NULL;
    if (!field) return SGLD_OK;
    size_t cap = field == ctx->plugin ? sizeof ctx->plugin : sizeof ctx->model;
    SGLD_TRY(unquote(&value, where));
    SGLD_CHECK(strlen(value) < cap, SGLD_ERR_USAGE,
               "%s: value is too long (%zu characters, at most %zu)", where, strlen(value), cap - 1);
    memcpy(field, value, strlen(value) + 1);
    if (field == ctx->plugin) ctx->plugin_line = line_no;
    return SGLD_OK;
}

static sgld_status apply_line(parse_ctx *ctx, long line_no, char *line)
{
    const char *path = ctx->path;
    char *s = trim(line);
    if (s[0] == '\0' || s[0] == '#' || s[0] == ';') return SGLD_OK;
    if (s[0] == '[') {
        SGLD_CHECK(s[strlen(s) - 1] == ']', SGLD_ERR_USAGE, "%s:%ld: malformed section header '%s'",
                   path, line_no, s);
        return SGLD_OK;
    }
    char *eq = strchr(s, '=');
    SGLD_CHECK(eq && eq != s, SGLD_ERR_USAGE, "%s:%ld: expected 'key = value', got '%s'", path,
               line_no, s);
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    size_t key_len = strlen(key);
    if (ctx->prescan) return record_prescan(ctx, line_no, key, value);
    if (strcmp(key, "plugin") == 0) return SGLD_OK; /* loaded by the plug-in pass */
    const config_entry *o = config_table_find(ctx->t, key, key_len);
    if (!o) {
        const char *near = suggest_key(ctx->t, key, key_len);
        if (near)
            return sgld_error_set(SGLD_ERR_USAGE, "%s:%ld: unknown key '%s' (did you mean '%s'?)",
                                  path, line_no, key, near);
        return sgld_error_set(SGLD_ERR_USAGE, "%s:%ld: unknown key '%s'", path, line_no, key);
    }
    SGLD_CHECK(o->group != G_GENERAL, SGLD_ERR_USAGE,
               "%s:%ld: key '%s' is only valid on the command line", path, line_no, key);
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "%s:%ld: key '%s'", path, line_no, key);
    SGLD_TRY(unquote(&value, where));
    SGLD_TRY(assign(ctx->c, o, value, where, 1));
    ctx->origin[o - ctx->t->e] = line_no;
    return SGLD_OK;
}

/* Applies every `key = value` line of the file ctx->path. */
static sgld_status apply_file(parse_ctx *ctx)
{
    const char *path = ctx->path;
    SGLD_TRY(sgld_input_check(path));
    FILE *f = fopen(path, "r");
    SGLD_CHECK(f, SGLD_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    char line[LINE_MAX_CHARS + 2];
    long line_no = 0;
    sgld_status st = SGLD_OK;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        if (!strchr(line, '\n') && !feof(f)) {
            st = sgld_error_set(SGLD_ERR_USAGE, "%s:%ld: line is longer than %d characters", path,
                                line_no, LINE_MAX_CHARS);
            break;
        }
        /* A UTF-8 byte order mark (editors on Windows write one) is not part of the first key,
         * as in the CSV reader. */
        char *text = line_no == 1 && !strncmp(line, "\xEF\xBB\xBF", 3) ? line + 3 : line;
        st = apply_line(ctx, line_no, text);
        if (st != SGLD_OK) break;
    }
    if (st == SGLD_OK && ferror(f))
        st = sgld_error_set(SGLD_ERR_USAGE, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    return st;
}

/* ---- command line ---- */

/* What the first pass finds: the options that are read before anything else. */
#define FLAG_PLUGINS_MAX 32

typedef struct {
    const char *config, *help_sampler, *help_model;
    int help, version;
    const char *plugins[FLAG_PLUGINS_MAX]; /* every --plugin, in order */
    int n_plugins;
} first_pass;

/* The table as a command line for sgld_option_parse_argv. */
typedef struct {
    const sgld_option *rows[CONFIG_MAX_ENTRIES];
    int short_names[CONFIG_MAX_ENTRIES];
    sgld_cmdline cl;
} table_cmdline;

static void cmdline_of(const config_table *t, table_cmdline *tc, int lenient)
{
    for (size_t i = 0; i < t->n; i++) {
        tc->rows[i] = &t->e[i].o;
        tc->short_names[i] = t->e[i].short_name;
    }
    tc->cl = (sgld_cmdline){tc->rows, t->n, tc->short_names, 1, lenient, ""};
}

/* The first pass's view of one option (operands and errors are the second pass's). */
static sgld_status note_first(void *self, const sgld_option *o, size_t index, const char *value,
                              const char *where)
{
    first_pass *fp = self;
    if (o->offset == offsetof(sgld_config, config_path)) fp->config = value;
    if (o->offset == offsetof(sgld_config, help_sampler)) fp->help_sampler = value;
    if (o->offset == offsetof(sgld_config, help_model)) fp->help_model = value;
    if (o->offset == offsetof(sgld_config, help)) fp->help = 1;
    if (o->offset == offsetof(sgld_config, version)) fp->version = 1;
    if (o->offset == offsetof(sgld_config, plugin) && fp->n_plugins++ < FLAG_PLUGINS_MAX)
        fp->plugins[fp->n_plugins - 1] = value;
    return SGLD_OK;
}

/* First pass: finds the last --config, --help-sampler and --help-model values, every
 * --plugin, and whether --help or --version was given, ignoring everything else (the second
 * pass reports it).  Only the run's own rows are looked at (the table's first N_RUN_ROWS). */
static void scan_first(const config_table *t, int argc, char **argv, first_pass *fp)
{
    table_cmdline *tc = malloc(sizeof *tc);
    if (!tc) return; /* the second pass fails the same way */
    cmdline_of(t, tc, 1);
    tc->cl.n_rows = N_RUN_ROWS;
    (void)sgld_option_parse_argv(&tc->cl, argc, argv, note_first, fp);
    free(tc);
}

/* A file option given "" on the command line is refused: it is almost always an unset shell
 * variable, and "" means "no file", so the run would go ahead and write nothing.  (A config
 * file may say `output = ""`: sgld_config_write writes it so for a run without one.)  The rows
 * that name files are those whose metavariable is FILE or SOURCE (those that may never be
 * empty, --data and --config, say so through their NONEMPTY check). */
static sgld_status check_file_flag(const sgld_option *o, const char *value, const char *where)
{
    int names_file = o->type == SGLD_OPT_STRING && o->range.kind != SGLD_RANGE_NONEMPTY &&
                     (!strcmp(o->arg, "FILE") || !strcmp(o->arg, "SOURCE"));
    SGLD_CHECK(!names_file || !value || value[0], SGLD_ERR_USAGE,
               "%s: empty file name (leave the option out for none)", where);
    return SGLD_OK;
}

/* The second pass's handling of one option or operand. */
static sgld_status apply_flag(void *self, const sgld_option *o, size_t index, const char *value,
                              const char *where)
{
    parse_ctx *ctx = self;
    if (!o) return sgld_error_set(SGLD_ERR_USAGE, "unexpected argument '%s'", value);
    const config_entry *e = &ctx->t->e[index];
    if (e->owner == OWNER_RUN && (o->offset == offsetof(sgld_config, config_path) ||
                                  o->offset == offsetof(sgld_config, plugin)))
        return SGLD_OK; /* applied by the first pass */
    SGLD_TRY(check_file_flag(o, value, where));
    SGLD_TRY(assign(ctx->c, e, value, where, 1));
    ctx->origin[index] = ORIGIN_FLAG;
    return SGLD_OK;
}

/* Second pass: applies every flag but --config and --plugin (already applied) in argv order. */
static sgld_status apply_flags(parse_ctx *ctx, int argc, char **argv)
{
    table_cmdline *tc = malloc(sizeof *tc);
    SGLD_CHECK(tc, SGLD_ERR_NOMEM, "out of memory parsing the command line");
    cmdline_of(ctx->t, tc, 0);
    sgld_status st = sgld_option_parse_argv(&tc->cl, argc, argv, apply_flag, ctx);
    free(tc);
    return st;
}

/* ---- checks once every source is applied ---- */

const char *sgld_option_origin(const sgld_option_where *ctx, const char *name, char *buf,
                               size_t n)
{
    const config_entry *e = config_table_find(ctx->t, name, strlen(name));
    long origin = e ? ctx->origin[e - ctx->t->e] : ORIGIN_DEFAULT;
    if (origin == ORIGIN_FLAG)
        snprintf(buf, n, "--%s", name);
    else if (origin == ORIGIN_DEFAULT)
        snprintf(buf, n, "%s (default)", name);
    else
        snprintf(buf, n, "%s:%ld: key '%s'", ctx->path, origin, name);
    return buf;
}

/* The one rule of the run's options that spans two of them.  A default burn-in that is not
 * below --steps is clipped to steps / 10 (and c->burnin_clipped set), so a short trial run
 * needs no --burnin; a burn-in that was given is refused instead. */
static sgld_status check_burnin(parse_ctx *ctx)
{
    sgld_config *c = ctx->c;
    if (c->burnin < c->steps) return SGLD_OK;
    char where[WHERE_MAX];
    const config_entry *burnin = config_table_find(ctx->t, "burnin", 6);
    if (ctx->origin[burnin - ctx->t->e] == ORIGIN_DEFAULT) {
        c->burnin = c->steps / 10;
        c->burnin_clipped = 1;
        return SGLD_OK;
    }
    return sgld_error_set(SGLD_ERR_USAGE, "%s: must be < steps (%lld), got %lld",
                          sgld_option_origin(ctx, "burnin", where, sizeof where),
                          (long long)c->steps, (long long)c->burnin);
}

/* --superchains K (when given) must divide --chains C: every superchain holds C / K chains. */
static sgld_status check_superchains(parse_ctx *ctx)
{
    const sgld_config *c = ctx->c;
    if (c->superchains == 0 || c->chains % c->superchains == 0) return SGLD_OK;
    char where[WHERE_MAX];
    return sgld_error_set(SGLD_ERR_USAGE, "%s: %d does not divide --chains %d (every superchain holds "
                          "C / K chains)", sgld_option_origin(ctx, "superchains", where, sizeof where),
                          c->superchains, c->chains);
}

/* 1 when entry e holds the same value in a and b. */
static int same_value(const sgld_config *a, const sgld_config *b, const config_entry *e)
{
    const char *x = (const char *)a + e->at[0], *y = (const char *)b + e->at[0];
    return e->o.type == SGLD_OPT_STRING ? strcmp(x, y) == 0 : memcmp(x, y, e->o.size) == 0;
}

/* 1 when the chosen type (c->sampler or c->model, by owner) is registered, with *declares = 1
 * when it is one of e's owners. */
static int chosen_type(const sgld_config *c, const config_entry *e, int *declares)
{
    const char *chosen = e->owner == OWNER_SAMPLER ? c->sampler : c->model;
    const void *type = e->owner == OWNER_SAMPLER ? (const void *)sgld_sampler_find(chosen)
                                                 : (const void *)sgld_model_find(chosen);
    *declares = 0;
    for (int k = 0; k < e->n_owners; k++) *declares |= strcmp(e->owner_names[k], chosen) == 0;
    return type != NULL;
}

/* Refuses an option that was set but does not apply to the chosen sampler or model (the
 * types that declare its row), so that a setting is never silently ignored.  A flag counts as
 * set whatever its value; a file key only when its value is not the default, because
 * sgld_config_write (the sample file's `config`, meant to be read back with --config) lists
 * every key.  A sampler or model name that is not registered is left to the registries' own
 * message. */
static sgld_status check_owners(const parse_ctx *ctx)
{
    sgld_config defaults;
    apply_defaults(&defaults, ctx->t);
    for (size_t i = 0; i < ctx->t->n; i++) {
        const config_entry *e = &ctx->t->e[i];
        long origin = ctx->origin[i];
        int declares;
        if (e->owner == OWNER_RUN || origin == ORIGIN_DEFAULT) continue;
        if (origin != ORIGIN_FLAG && same_value(&defaults, ctx->c, e)) continue;
        if (!chosen_type(ctx->c, e, &declares) || declares) continue;
        char where[WHERE_MAX], names[256] = "", owners[256];
        for (int k = 0, used = 0; k < e->n_owners && used < (int)sizeof names; k++)
            used += snprintf(names + used, sizeof names - (size_t)used, "%s%s", k ? "|" : "",
                             e->owner_names[k]);
        config_list_words(names, "and", owners, sizeof owners);
        const int sampler = e->owner == OWNER_SAMPLER;
        return sgld_error_set(SGLD_ERR_USAGE, "%s applies to %s only, not --%s %s",
                              sgld_option_origin(ctx, e->o.name, where, sizeof where), owners,
                              sampler ? "sampler" : "model",
                              sampler ? ctx->c->sampler : ctx->c->model);
    }
    return SGLD_OK;
}

/* --gradient, --init and --step-size auto, and what they need of each other and of the
 * sampler (a model's own refusal, a network with dropout under cv, comes with the model). */
static sgld_status check_gradient_init(const parse_ctx *ctx)
{
    const sgld_config *c = ctx->c;
    char where[WHERE_MAX], iw[WHERE_MAX];
    const sgld_gradient_type *g;
    int64_t arg, epochs;
    int init;
    SGLD_TRY(sgld_gradient_parse(c->gradient, sgld_option_origin(ctx, "gradient", where, sizeof where), &g, &arg));
    SGLD_TRY(sgld_init_parse(c->init, sgld_option_origin(ctx, "init", iw, sizeof iw), &init, &epochs));
    if (g->needs_mode && init == SGLD_INIT_RANDOM)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: %s is centred at a mode: it needs --init map (or sgd:K "
                              "for a network), got --init random", where, c->gradient);
    const sgld_sampler_type *s = sgld_sampler_find(c->sampler);
    if (init != SGLD_INIT_RANDOM && s && !s->adds_noise)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: sampler %s is an optimizer (it adds no noise): started at "
                              "the mode it has nothing left to do; use --init random", iw, c->sampler);
    if (c->step_size_auto && init != SGLD_INIT_MAP)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: auto takes the curvature at the mode: it needs --init map, "
                              "got --init %s", sgld_option_origin(ctx, "step-size", where, sizeof where), c->init);
    /* eps multiplies the raw gradient in these; the preconditioned samplers scale it first */
    static const char *const auto_ok[] = {"sgld", "sghmc", "sgnht", "csgld"};
    int ok = 0;
    for (size_t i = 0; i < sizeof auto_ok / sizeof auto_ok[0]; i++) ok |= strcmp(c->sampler, auto_ok[i]) == 0;
    if (c->step_size_auto && !ok)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: auto sets the step of a sampler that moves along the raw "
                              "gradient (sgld, sghmc, sgnht, csgld), not of --sampler %s",
                              sgld_option_origin(ctx, "step-size", where, sizeof where), c->sampler);
    return SGLD_OK;
}

/* The run's choices (--on-divergence, --task), then the chosen sampler's and model's own
 * check hooks. */
static sgld_status check_choices(const parse_ctx *ctx)
{
    const sgld_config *c = ctx->c;
    char where[WHERE_MAX];
    if (strcmp(c->on_divergence, "abort") != 0 && strcmp(c->on_divergence, "shrink") != 0 &&
        strcmp(c->on_divergence, "skip") != 0)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be abort, shrink or skip, got '%s'",
                              sgld_option_origin(ctx, "on-divergence", where, sizeof where),
                              c->on_divergence);
    if (c->stop_when[0] &&
        sgld_config_parse_stop_when(c->stop_when, NULL, NULL, NULL) != SGLD_OK)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: '%s' is not a stop rule: expected ess>=E, mess>=E "
                              "and/or rhat<=R, comma-separated, with E > 0 and R >= 1 (e.g. ess>=1000,rhat<=1.01)",
                              sgld_option_origin(ctx, "stop-when", where, sizeof where), c->stop_when);
    if (c->task[0] && strcmp(c->task, "regression") != 0 && strcmp(c->task, "classification") != 0)
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be regression or classification, got '%s'",
                              sgld_option_origin(ctx, "task", where, sizeof where), c->task);
    SGLD_TRY(check_gradient_init(ctx));
    const sgld_sampler_type *s = sgld_sampler_find(c->sampler);
    if (s && s->check) SGLD_TRY(s->check(c, sgld_config_opts(c, s), ctx));
    const sgld_model_type *m = sgld_model_find(c->model);
    if (m && m->check) SGLD_TRY(m->check(c, sgld_config_opts(c, m), ctx));
    return SGLD_OK;
}

/* --help-sampler NAME / --help-model NAME: registered names, stored in c (c->help set too, so
 * that the program prints help and exits). */
static sgld_status take_help(sgld_config *c, const first_pass *fp)
{
    char names[512];
    c->help = fp->help || fp->help_sampler || fp->help_model;
    c->version = fp->version;
    if (fp->help_sampler) {
        if (!sgld_sampler_find(fp->help_sampler)) {
            sgld_sampler_names(names, sizeof names);
            return sgld_error_set(SGLD_ERR_USAGE, "--help-sampler: '%s' is not a sampler (%s)",
                                  fp->help_sampler, names);
        }
        snprintf(c->help_sampler, sizeof c->help_sampler, "%s", fp->help_sampler);
    }
    if (fp->help_model) {
        if (!sgld_model_find(fp->help_model)) {
            sgld_model_names(names, sizeof names);
            return sgld_error_set(SGLD_ERR_USAGE, "--help-model: '%s' is not a model (%s)",
                                  fp->help_model, names);
        }
        snprintf(c->help_model, sizeof c->help_model, "%s", fp->help_model);
    }
    return SGLD_OK;
}

/* After plug-ins registered types: the table again (their rows), and the defaults over it.
 * A plug-in's row that clashes with a registered one is the user's input: SGLD_ERR_USAGE. */
static sgld_status retable(parse_ctx *ctx, config_table *t)
{
    sgld_status st = config_table_build(t);
    apply_defaults(ctx->c, t);
    if (st != SGLD_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        return sgld_error_set(SGLD_ERR_USAGE, "plug-in: %s", msg);
    }
    return SGLD_OK;
}

sgld_status sgld_config_check_rows(void)
{
    config_table *t = malloc(sizeof *t);
    SGLD_CHECK(t, SGLD_ERR_NOMEM, "out of memory checking a plug-in's options");
    sgld_status st = config_table_build(t);
    free(t);
    if (st == SGLD_OK) return st;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sgld_error_message());
    return sgld_error_set(SGLD_ERR_USAGE, "%s", msg);
}

/* Loads the plug-ins of SGLD_PLUGIN_PATH, of the --config file's `plugin` key (with_file:
 * not for --help, which reads no file) and of every --plugin flag, in that order. */
static sgld_status load_plugins(parse_ctx *ctx, const first_pass *fp, int with_file)
{
    SGLD_TRY(sgld_plugin_load_list(getenv("SGLD_PLUGIN_PATH"), "SGLD_PLUGIN_PATH", sgld_config_check_rows));
    if (with_file && fp->config) {
        /* The value's own checks (not empty, not too long) come before the file is opened. */
        SGLD_TRY(assign(ctx->c, config_table_find(ctx->t, "config", 6), fp->config, "--config", 1));
        ctx->path = fp->config;
        ctx->prescan = 1;
        sgld_status st = apply_file(ctx);
        ctx->prescan = 0;
        SGLD_TRY(st);
        char where[WHERE_MAX];
        snprintf(where, sizeof where, "%s:%ld: key 'plugin'", fp->config, ctx->plugin_line);
        SGLD_TRY(sgld_plugin_load_list(ctx->plugin, where, sgld_config_check_rows));
    }
    SGLD_CHECK(fp->n_plugins <= FLAG_PLUGINS_MAX, SGLD_ERR_USAGE, "--plugin: given %d times, at most %d",
               fp->n_plugins, FLAG_PLUGINS_MAX);
    for (int i = 0; i < fp->n_plugins; i++) {
        SGLD_CHECK(fp->plugins[i][0], SGLD_ERR_USAGE,
                   "--plugin: empty file name (leave the option out for none)");
        SGLD_TRY(sgld_plugin_load_file(fp->plugins[i], "--plugin", sgld_config_check_rows));
    }
    return SGLD_OK;
}

/* Parses argv into c over the defaults already in c (ctx->t is t, rebuilt once plug-ins
 * are loaded). */
static sgld_status parse_argv(parse_ctx *ctx, config_table *t, int argc, char **argv)
{
    first_pass fp = {0};
    scan_first(t, argc, argv, &fp);
    /* --version works whatever else is on the line; --help, --help-sampler and --help-model
     * after the plug-ins (whose types they may name), before the --config file's options. */
    const int help = fp.help || fp.help_sampler || fp.help_model;
    if (!fp.version) {
        size_t before = sgld_model_count() + sgld_sampler_count();
        SGLD_TRY(load_plugins(ctx, &fp, !help));
        if (sgld_model_count() + sgld_sampler_count() != before) SGLD_TRY(retable(ctx, t));
    }
    if (fp.help || fp.version || fp.help_sampler || fp.help_model) return take_help(ctx->c, &fp);
    if (fp.config) {
        SGLD_TRY(assign(ctx->c, config_table_find(t, "config", 6), fp.config, "--config", 1));
        ctx->path = ctx->c->config_path;
        SGLD_TRY(apply_file(ctx));
    }
    SGLD_TRY(apply_flags(ctx, argc, argv));
    SGLD_TRY(check_owners(ctx));
    SGLD_TRY(check_burnin(ctx));
    SGLD_TRY(check_superchains(ctx));
    return check_choices(ctx);
}

sgld_status sgld_config_parse(sgld_config *c, int argc, char **argv)
{
    SGLD_CHECK(c && argc >= 0 && (argc == 0 || argv), SGLD_ERR_ARG,
               "sgld_config_parse: NULL config or argv");
    config_table t;
    sgld_status st = config_table_build(&t);
    apply_defaults(c, &t);
    SGLD_TRY(st);
    parse_ctx *ctx = calloc(1, sizeof *ctx);
    SGLD_CHECK(ctx, SGLD_ERR_NOMEM, "out of memory parsing the command line");
    *ctx = (parse_ctx){.c = c, .t = &t};
    st = parse_argv(ctx, &t, argc, argv);
    free(ctx);
    return st;
}

/* Applies every line of text to ctx (ctx->path names it in messages). */
static sgld_status apply_text(parse_ctx *ctx, const char *text)
{
    char line[LINE_MAX_CHARS + 2];
    long line_no = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        line_no++;
        SGLD_CHECK(len <= LINE_MAX_CHARS, SGLD_ERR_USAGE, "%s:%ld: line is longer than %d characters",
                   ctx->path, line_no, LINE_MAX_CHARS);
        memcpy(line, p, len);
        line[len] = '\0';
        SGLD_TRY(apply_line(ctx, line_no, line));
        p += len;
        if (*p) p++;
    }
    return SGLD_OK;
}

/* The plug-ins a recorded configuration lists, loaded when its model or sampler is not
 * registered yet. */
static sgld_status load_recorded_plugins(parse_ctx *ctx, config_table *t, const char *text)
{
    ctx->prescan = 1;
    sgld_status st = apply_text(ctx, text);
    ctx->prescan = 0;
    SGLD_TRY(st);
    const char *model = ctx->model[0] ? ctx->model : "linreg";
    const char *sampler = ctx->sampler[0] ? ctx->sampler : "sgld";
    int need_model = !sgld_model_find(model), need_sampler = !sgld_sampler_find(sampler);
    if (!ctx->plugin[0] || (!need_model && !need_sampler)) return SGLD_OK;
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "%s:%ld: key 'plugin'", ctx->path, ctx->plugin_line);
    st = sgld_plugin_load_list(ctx->plugin, where, sgld_config_check_rows);
    if (st != SGLD_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        return sgld_error_set(st, "%s %s '%s' comes from a plug-in that cannot be loaded (give it "
                              "with --plugin PATH): %s", ctx->path, need_model ? "model" : "sampler",
                              need_model ? model : sampler, msg);
    }
    return retable(ctx, t);
}

sgld_status sgld_config_parse_text(sgld_config *c, const char *text, const char *name)
{
    SGLD_CHECK(c && text && name, SGLD_ERR_ARG, "sgld_config_parse_text: NULL argument");
    config_table t;
    sgld_status st = config_table_build(&t);
    apply_defaults(c, &t);
    SGLD_TRY(st);
    parse_ctx *ctx = calloc(1, sizeof *ctx);
    SGLD_CHECK(ctx, SGLD_ERR_NOMEM, "out of memory parsing %s", name);
    *ctx = (parse_ctx){.c = c, .t = &t, .path = name};
    st = load_recorded_plugins(ctx, &t, text);
    if (st == SGLD_OK) st = apply_text(ctx, text);
    if (st == SGLD_OK) st = check_burnin(ctx);
    if (st == SGLD_OK) st = check_superchains(ctx);
    if (st == SGLD_OK) st = check_choices(ctx);
    free(ctx);
    return st;
}

sgld_status sgld_config_parse_stop_when(const char *text, double *ess, double *rhat, double *mess)
{
    double b[3] = {0.0, 0.0, 0.0}; /* ess, rhat, mess */
    static const char *const key[3] = {"ess>=", "rhat<=", "mess>="};
    const char *p = text;
    for (;;) {
        int which = -1;
        for (int i = 0; i < 3 && which < 0; i++)
            if (!strncmp(p, key[i], strlen(key[i]))) which = i;
        if (which < 0) return SGLD_ERR_USAGE;
        p += strlen(key[which]);
        char *end;
        errno = 0;
        const double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v)) return SGLD_ERR_USAGE;
        if (b[which] > 0.0 || !(which == 1 ? v >= 1.0 : v > 0.0)) return SGLD_ERR_USAGE;
        b[which] = v;
        p = end;
        if (!*p) break;
        if (*p++ != ',') return SGLD_ERR_USAGE;
    }
    if (ess) *ess = b[0];
    if (rhat) *rhat = b[1];
    if (mess) *mess = b[2];
    return SGLD_OK;
}
