/* config.c - the run configuration: one option table drives the defaults, the INI file
 * reader, getopt_long's option array, --help and sgld_config_write.
 *
 * Precedence: defaults < the --config file < command-line flags, whatever the order of the
 * flags on the line.  parse() therefore walks argv twice with getopt_long: the first pass
 * only looks for --config, --help and --version; then the file is applied; the second pass
 * applies every other flag.  Adding an option is one row in `options[]` (plus its field in
 * sgld_config).  Every value, from a file or a flag, goes through assign(), which parses it
 * fully (exact integers, also in e-notation; strtod, no trailing junk, finite doubles) and
 * checks the row's range.  At the end, options that do not apply to the chosen sampler or
 * model (the row's owner) are refused, and the cross-field rules (burnin < steps, ...) are
 * checked once. */
#include "sgld/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_table.h"

typedef enum {
    T_STRING, /* char[size]; the row's size bounds the length */
    T_INT,    /* int */
    T_INT64,  /* int64_t */
    T_UINT32, /* uint32_t */
    T_DOUBLE, /* double, finite */
    T_BOOL,   /* int 0/1: `--flag` or `--flag=no` on the line, true/false/... in a file */
    T_SWITCH  /* int set to 1 by a bare flag, command line only (--help, --version) */
} opt_type;

typedef enum {
    CHECK_NONE,
    CHECK_GE,      /* x >= lo */
    CHECK_GT,      /* x > lo */
    CHECK_GE_LT,   /* lo <= x < hi */
    CHECK_GE_LE,   /* lo <= x <= hi */
    CHECK_GT_LT,   /* lo < x < hi */
    CHECK_GT_LE,   /* lo < x <= hi */
    CHECK_NONEMPTY /* strings: not "" */
} check_kind;

typedef struct {
    check_kind kind;
    double lo, hi;
} check;

/* G_GENERAL rows are command-line only: not INI keys and not written by config_write. */
typedef enum { G_GENERAL, G_MODEL, G_SAMPLER, G_OUTPUT, G_COUNT } group;

/* Which runs a row applies to: every run (OWNER_ANY), or only those whose --sampler
 * (OWNER_SAMPLER) or --model (OWNER_MODEL) is one of `names` ("smile|psmile").  An option
 * that does not apply is refused when it is set (check_owners), so nothing is silently
 * ignored.  The owner is data about the row, not about this table: when sampler and model
 * files carry their own rows, it is the type whose file declares the row. */
typedef enum { OWNER_ANY, OWNER_SAMPLER, OWNER_MODEL } owner_kind;

typedef struct {
    owner_kind kind;
    const char *names; /* '|'-separated type names; NULL for OWNER_ANY */
} owner;

#define ANY {OWNER_ANY, NULL}
#define FOR_SAMPLER(names) {OWNER_SAMPLER, (names)}
#define FOR_MODEL(names) {OWNER_MODEL, (names)}

typedef struct {
    const char *name;  /* long option and INI key */
    int short_name;    /* 'h', or 0 */
    opt_type type;
    size_t offset;     /* into sgld_config */
    size_t size;       /* of the field */
    const char *def;   /* default, as text, read by the same parser as user input */
    const char *arg;   /* metavariable in --help */
    const char *unit;  /* appended to values in --help ("" if none) */
    check check;
    group group;
    owner owner;
    const char *help;
} option_spec;

/* offsetof and size of a field, failing to compile when the field's type is not T (so a
 * row cannot point an int64 parser at an int). */
#define FIELD(f, T)                                                                  \
    offsetof(sgld_config, f) +                                                       \
        (sizeof(char[_Generic(((sgld_config *)0)->f, T: 1, default: -1)]) - 1),      \
        sizeof(((sgld_config *)0)->f)
#define NOCHECK {CHECK_NONE, 0, 0}
#define GE(x) {CHECK_GE, (x), 0}
#define GT(x) {CHECK_GT, (x), 0}
#define GE_LT(x, y) {CHECK_GE_LT, (x), (y)}
#define GE_LE(x, y) {CHECK_GE_LE, (x), (y)}
#define GT_LT(x, y) {CHECK_GT_LT, (x), (y)}
#define GT_LE(x, y) {CHECK_GT_LE, (x), (y)}
#define NONEMPTY {CHECK_NONEMPTY, 0, 0}

/* Largest --flush-every: 2^29 - 1 draws, 8 bytes each in the draw coordinate's chunk. */
#define FLUSH_DRAWS_MAX 536870911

static const option_spec options[] = {
    /* general (command line only) */
    {"config", 0, T_STRING, FIELD(config_path, char *), "", "FILE", "", NONEMPTY, G_GENERAL, ANY,
     "read options from an INI file (`key = value`, keys are the long options); "
     "flags given on the command line override it"},
    {"help", 'h', T_SWITCH, FIELD(help, int), "0", "", "", NOCHECK, G_GENERAL, ANY,
     "print this help and exit"},
    {"version", 'V', T_SWITCH, FIELD(version, int), "0", "", "", NOCHECK, G_GENERAL, ANY,
     "print the version and exit"},
    {"resume", 0, T_SWITCH, FIELD(resume, int), "0", "", "", NOCHECK, G_GENERAL, ANY,
     "continue the run saved in --checkpoint (the sample file is cut back to its draws)"},
    {"dry-run", 0, T_SWITCH, FIELD(dry_run, int), "0", "", "", NOCHECK, G_GENERAL, ANY,
     "check the configuration and data, print the plan and exit"},
    /* model and data */
    {"model", 0, T_STRING, FIELD(model, char *), "linreg", "linreg|logreg|softmax|mlp|cnn", "", NOCHECK,
     G_MODEL, ANY,
     "Bayesian linear, logistic or softmax (multinomial logistic) regression; a network "
     "from --net: mlp for a real target (fixed or heteroscedastic Gaussian) or, with --task "
     "classification, for classes; cnn for classes"},
    {"task", 0, T_STRING, FIELD(task, char *), "", "regression|classification", "", NOCHECK,
     G_MODEL, ANY,
     "what the target is: mlp does either (regression when none is given; classification reads "
     "integer labels 0..K-1 or string labels as cnn and softmax do, and needs K outputs); the other "
     "models do their own task only (naming it is accepted, the other task an error)"},
    {"noise-sd", 0, T_DOUBLE, FIELD(noise_sd, double), "0.5", "SD", "", GT(0),
     G_MODEL, FOR_MODEL("linreg|mlp"),
     "linreg/mlp: known standard deviation of the Gaussian noise, y ~ N(x'w, SD^2) for linreg "
     "(mlp: of a fixed-variance regression network)"},
    {"prior-sd", 0, T_DOUBLE, FIELD(prior_sd, double), "1", "S", "", GT(0), G_MODEL, ANY,
     "N(0, S^2) prior on every weight"},
    {"data", 0, T_STRING, FIELD(data, char *), "synthetic:linreg", "SOURCE", "", NONEMPTY,
     G_MODEL, ANY, "training data: a CSV or HDF5 file or a built-in synthetic:NAME (see below)"},
    {"test-data", 0, T_STRING, FIELD(test_data, char *), "", "SOURCE", "", NOCHECK, G_MODEL, ANY,
     "held-out test data, same formats as --data"},
    {"test-fraction", 0, T_DOUBLE, FIELD(test_fraction, double), "0", "F", "", GE_LT(0, 1),
     G_MODEL, ANY, "fraction of --data held out as test data (the rows are stored in --output as "
     "test_row; `sgld-ess predict FILE --data test-split` scores exactly them)"},
    {"standardize", 0, T_BOOL, FIELD(standardize, int), "off", "", "", NOCHECK, G_MODEL, ANY,
     "standardize every feature column to mean 0 and sd 1"},
    /* networks (grammar in include/sgld/net.h) */
    {"net", 0, T_STRING, FIELD(net, char *), "", "SPEC", "", NOCHECK, G_MODEL, FOR_MODEL("mlp|cnn"),
     "mlp/cnn layers, e.g. fc50-fc2 or conv32k5-pool2-conv64k5-pool2-fc1024-fc10 "
     "(none: mlp fc50-fc2, or fc50-fcK with --task classification; cnn that CNN with K outputs)"},
    {"input-shape", 0, T_STRING, FIELD(input_shape, char *), "", "CxHxW", "", NOCHECK,
     G_MODEL, FOR_MODEL("mlp|cnn"),
     "shape of one data row for mlp/cnn, e.g. 1x28x28 (none: flat, or 1xSxS for S^2 features "
     "when the net has conv/pool layers)"},
    {"save-params", 0, T_STRING, FIELD(save_params, char *), "", "LIST", "", NOCHECK,
     G_MODEL, FOR_MODEL("mlp|cnn"),
     "mlp/cnn: comma-separated tensors (fc2_w) or layers (fc2) written to --output (none: all)"},
    {"prior-sd-layers", 0, T_STRING, FIELD(prior_sd_layers, char *), "", "LIST", "", NOCHECK,
     G_MODEL, FOR_MODEL("mlp|cnn"),
     "mlp/cnn: comma-separated prior sd, one per fc/conv layer in order (none: --prior-sd)"},
    /* sampler */
    {"sampler", 0, T_STRING, FIELD(sampler, char *), "sgld",
     "sgd|sgld|fsgd|psgld|sghmc|csgld|ksgld|smile|psmile", "", NOCHECK, G_SAMPLER, ANY,
     "sgld: the update above; sgd: the same step without the noise term; the others: see the "
     "README's sampler table"},
    {"chains", 0, T_INT, FIELD(chains, int), "1", "C", "", GE(1), G_SAMPLER, ANY,
     "independent chains; the P ranks form C groups of P / C shards"},
    {"steps", 0, T_INT64, FIELD(steps, int64_t), "20000", "N", "iterations", GE(1), G_SAMPLER, ANY,
     "iterations per chain"},
    {"burnin", 0, T_INT64, FIELD(burnin, int64_t), "2000", "B", "iterations", GE(0), G_SAMPLER, ANY,
     "iterations discarded at the start of every chain, B < --steps (when not given and the "
     "default is not below --steps: steps / 10)"},
    {"thin", 0, T_INT64, FIELD(thin, int64_t), "1", "T", "", GE(1), G_SAMPLER, ANY,
     "keep one draw every T iterations after burn-in"},
    {"batch-size", 0, T_INT64, FIELD(batch_size, int64_t), "100", "B", "examples", GE(1),
     G_SAMPLER, ANY, "minibatch size, total per chain across its shards"},
    {"seed", 0, T_UINT32, FIELD(seed, uint32_t), "1", "S", "", GE_LE(0, 4294967295.0),
     G_SAMPLER, ANY, "key of the counter-based random streams"},
    {"step-size", 0, T_DOUBLE, FIELD(step_size, double), "1e-5", "a", "", GT(0), G_SAMPLER, ANY,
     "a in the step-size schedule"},
    {"step-b", 0, T_DOUBLE, FIELD(step_b, double), "0", "b", "", GE(0), G_SAMPLER, ANY,
     "b in the step-size schedule"},
    {"step-gamma", 0, T_DOUBLE, FIELD(step_gamma, double), "0", "g", "", GE_LE(0, 1),
     G_SAMPLER, ANY,
     "g in the step-size schedule (0: constant step)"},
    {"temperature", 0, T_DOUBLE, FIELD(temperature, double), "1", "T", "", GT(0), G_SAMPLER, ANY,
     "T in the noise N(0, eps_t T I) (1: the posterior)"},
    {"on-divergence", 0, T_STRING, FIELD(on_divergence, char *), "abort", "abort|shrink|skip", "",
     NONEMPTY, G_SAMPLER, ANY,
     "a step that makes theta or the log posterior non-finite: abort the run; shrink (undo it "
     "and halve the chain's step size from then on); skip (undo it and go on); never a NaN draw"},
    /* sampler family: one group per sampler */
    {"psgld-alpha", 0, T_DOUBLE, FIELD(psgld_alpha, double), "0.99", "a", "", GT_LT(0, 1),
     G_SAMPLER, FOR_SAMPLER("psgld"),
     "psgld: decay of the running mean square V <- a V + (1 - a) g^2"},
    {"psgld-lambda", 0, T_DOUBLE, FIELD(psgld_lambda, double), "1e-5", "l", "", GT(0),
     G_SAMPLER, FOR_SAMPLER("psgld"),
     "psgld: diagonal preconditioner G = 1 / (l + sqrt V)"},
    {"psgld-gamma", 0, T_BOOL, FIELD(psgld_gamma, int), "off", "", "", NOCHECK,
     G_SAMPLER, FOR_SAMPLER("psgld"),
     "psgld: add the drift Gamma_i = dG_i / dtheta_i (one extra gradient per step)"},
    {"friction", 0, T_DOUBLE, FIELD(friction, double), "0.1", "C", "", GT_LE(0, 1),
     G_SAMPLER, FOR_SAMPLER("sghmc"),
     "sghmc: momentum decay per step (friction), v <- (1 - C) v + eps g + noise"},
    {"sghmc-beta", 0, T_DOUBLE, FIELD(sghmc_beta, double), "0", "b", "", GE(0),
     G_SAMPLER, FOR_SAMPLER("sghmc"),
     "sghmc: estimate beta-hat of the gradient noise, b < --friction"},
    {"sghmc-adapt", 0, T_BOOL, FIELD(sghmc_adapt, int), "off", "", "", NOCHECK,
     G_SAMPLER, FOR_SAMPLER("sghmc"),
     "sghmc: adapt per-parameter scales during burn-in (Springenberg et al. 2016), then freeze"},
    {"cycles", 0, T_INT64, FIELD(cycles, int64_t), "4", "M", "", GE(1),
     G_SAMPLER, FOR_SAMPLER("csgld"),
     "csgld: cosine step-size cycles over --steps, M <= --steps"},
    {"explore", 0, T_DOUBLE, FIELD(explore, double), "0.8", "f", "", GE_LT(0, 1),
     G_SAMPLER, FOR_SAMPLER("csgld"),
     "csgld: fraction of each cycle spent exploring (no noise, no draws)"},
    {"precondition", 0, T_STRING, FIELD(precondition, char *), "both", "both|noise", "", NONEMPTY,
     G_SAMPLER, FOR_SAMPLER("ksgld"),
     "ksgld: K-FAC-precondition the drift and the noise (both), or the noise only "
     "(noise: the seed paper's eq. 2, which changes the stationary law)"},
    {"kfac-damping", 0, T_DOUBLE, FIELD(kfac_damping, double), "1", "d", "", GT(0),
     G_SAMPLER, FOR_SAMPLER("ksgld"),
     "ksgld: damping, P = (A + sqrt(d) I)^-1 kron (G + sqrt(d) I)^-1 per layer"},
    {"kfac-decay", 0, T_DOUBLE, FIELD(kfac_decay, double), "0.95", "r", "", GE_LT(0, 1),
     G_SAMPLER, FOR_SAMPLER("ksgld"),
     "ksgld: running averages A <- r A + (1 - r) A_batch (same for G)"},
    {"kfac-every", 0, T_INT64, FIELD(kfac_every, int64_t), "10", "k", "steps", GE(1),
     G_SAMPLER, FOR_SAMPLER("ksgld"),
     "ksgld: the factors' inverses are refreshed every k steps"},
    {"smile-integrator", 0, T_STRING, FIELD(smile_integrator, char *), "mclachlan",
     "mclachlan|leapfrog", "", NONEMPTY, G_SAMPLER, FOR_SAMPLER("smile|psmile"),
     "smile/psmile: isokinetic integrator (2 or 1 extra gradients per step)"},
    {"smile-energy-var", 0, T_DOUBLE, FIELD(smile_energy_var, double), "5e-4", "v", "", GT(0),
     G_SAMPLER, FOR_SAMPLER("smile|psmile"),
     "smile/psmile: target energy-error variance per parameter of the step-size tuner"},
    {"smile-L", 0, T_DOUBLE, FIELD(smile_l, double), "0", "L", "", GE(0),
     G_SAMPLER, FOR_SAMPLER("smile|psmile"),
     "smile/psmile: momentum decoherence length (0: sqrt(d), then 0.4 sqrt(sum Var theta) "
     "from the second half of burn-in)"},
    {"psmile-alpha", 0, T_DOUBLE, FIELD(psmile_alpha, double), "0.99", "a", "", GT_LT(0, 1),
     G_SAMPLER, FOR_SAMPLER("psmile"), "psmile: decay of the running gradient-noise moments"},
    /* output */
    {"output", 0, T_STRING, FIELD(output, char *), "", "FILE", "", NOCHECK, G_OUTPUT, ANY,
     "HDF5 file for the retained draws (none: no sample file); a second run on it is refused "
     "while FILE.lock is held"},
    {"force", 0, T_BOOL, FIELD(force, int), "off", "", "", NOCHECK, G_OUTPUT, ANY,
     "replace an existing --output or --checkpoint (FILE, FILE.prev, FILE.tmp); never a file "
     "the run reads (--data, --test-data, --config: compared by device and inode)"},
    {"quiet", 0, T_BOOL, FIELD(quiet, int), "off", "", "", NOCHECK, G_OUTPUT, ANY,
     "print nothing but errors"},
    {"progress", 0, T_BOOL, FIELD(progress, int), "off", "", "", NOCHECK, G_OUTPUT, ANY,
     "print the progress line even when stderr is not a terminal"},
    /* The bound keeps the draw coordinate's chunk (N int64) under HDF5's 4 GiB chunk limit. */
    {"flush-every", 0, T_INT64, FIELD(flush_draws, int64_t), "100", "N", "draws",
     GE_LE(1, FLUSH_DRAWS_MAX), G_OUTPUT, ANY, "draws buffered per collective write"},
    {"checkpoint", 0, T_STRING, FIELD(checkpoint, char *), "", "FILE", "", NOCHECK, G_OUTPUT, ANY,
     "save the run state here (atomically, keeping FILE.prev) at --checkpoint-every, "
     "--checkpoint-seconds and on SIGTERM/SIGINT/SIGUSR1"},
    {"checkpoint-every", 0, T_INT64, FIELD(checkpoint_every, int64_t), "0", "K", "iterations",
     GE(0), G_OUTPUT, ANY, "checkpoint every K iterations (0: off)"},
    {"checkpoint-seconds", 0, T_DOUBLE, FIELD(checkpoint_seconds, double), "0", "S", "s", GE(0),
     G_OUTPUT, ANY, "checkpoint at the first flush S seconds after the last one (0: off)"},
    {"log-view", 0, T_BOOL, FIELD(log_view, int), "off", "", "", NOCHECK, G_OUTPUT, ANY,
     "print a table of timed events (count, min/max/mean over ranks, share of the step)"},
    {"max-rows", 0, T_INT64, FIELD(max_rows, int64_t), "40", "N", "rows", GE(0), G_OUTPUT, ANY,
     "parameter rows of the posterior summary printed at the end (0: all; sgld-ess summary "
     "FILE reads them all from the sample file)"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static const char *const group_titles[G_COUNT] = {"General", "Model and data", "Sampler",
                                                  "Output"};
/* Section headers in sgld_config_write's output (ignored when read back). */
static const char *const group_sections[G_COUNT] = {"", "model", "sampler", "output"};

/* Room for "FILE:LINE: key 'NAME'" with FILE up to SGLD_PATH_MAX - 1 characters. */
#define WHERE_MAX (SGLD_PATH_MAX + 128)

/* Longest INI line accepted (without its newline). */
#define LINE_MAX_CHARS 4096

/* What a parse is filling, and where each value came from (for messages that are checked
 * after all sources are applied). */
typedef struct {
    sgld_config *c;
    const char *path;         /* the --config file, or NULL */
    long origin[N_OPTIONS];   /* ORIGIN_DEFAULT, ORIGIN_FLAG, or the file line */
} parse_ctx;

#define ORIGIN_DEFAULT 0
#define ORIGIN_FLAG (-1)

size_t sgld_config_option_count(void) { return N_OPTIONS; }

const char *sgld_config_option_name(size_t i) { return i < N_OPTIONS ? options[i].name : NULL; }

int sgld_config_option_cli_only(size_t i) { return i < N_OPTIONS && options[i].group == G_GENERAL; }

static const option_spec *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), capped:
 * strings longer than 63 characters are "far" from everything. */
static int edit_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    if (na > 63 || nb > 63) return INT_MAX;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[na][nb];
}

/* The closest option name within edit distance 2 (first in table order on ties), or NULL.
 * File keys are matched only against the options a file may set. */
static const char *suggest(const char *name, size_t len, int cli)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!cli && options[i].group == G_GENERAL) continue;
        int d = edit_distance(name, len, options[i].name);
        if (d < best_d) {
            best_d = d;
            best = options[i].name;
        }
    }
    return best;
}

/* "must be > 0" / "must be in [0, 1)"; with var, "N >= 1" (for --help).  "" for none. */
static void describe_check(const check *k, const char *var, char *buf, size_t n)
{
    const char *pre = var ? var : "must be";
    switch (k->kind) {
    case CHECK_GE: snprintf(buf, n, "%s >= %.15g", pre, k->lo); break;
    case CHECK_GT: snprintf(buf, n, "%s > %.15g", pre, k->lo); break;
    case CHECK_GE_LT: snprintf(buf, n, "%s in [%.15g, %.15g)", pre, k->lo, k->hi); break;
    case CHECK_GE_LE: snprintf(buf, n, "%s in [%.15g, %.15g]", pre, k->lo, k->hi); break;
    case CHECK_GT_LT: snprintf(buf, n, "%s in (%.15g, %.15g)", pre, k->lo, k->hi); break;
    case CHECK_GT_LE: snprintf(buf, n, "%s in (%.15g, %.15g]", pre, k->lo, k->hi); break;
    default: buf[0] = '\0'; break;
    }
}

static int in_range(const check *k, double x)
{
    switch (k->kind) {
    case CHECK_GE: return x >= k->lo;
    case CHECK_GT: return x > k->lo;
    case CHECK_GE_LT: return x >= k->lo && x < k->hi;
    case CHECK_GE_LE: return x >= k->lo && x <= k->hi;
    case CHECK_GT_LT: return x > k->lo && x < k->hi;
    case CHECK_GT_LE: return x > k->lo && x <= k->hi;
    default: return 1;
    }
}

static sgld_status range_error(const option_spec *o, const char *where, const char *text)
{
    char what[128];
    describe_check(&o->check, NULL, what, sizeof what);
    return sgld_error_set(SGLD_ERR_USAGE, "%s: %s, got %s", where, what, text);
}

/* Results of parse_integer. */
enum { INT_OK = 1, INT_SYNTAX = 0, INT_FRACTION = -1, INT_RANGE = -2 };

/* Significant digits parse_integer keeps.  A digit beyond them is dropped: the magnitude
 * stays exact, and a dropped non-zero digit of a value below 10^19 is a fraction. */
#define INT_DIGITS_MAX 64

/* An integer written in decimal, optionally with a fraction and an exponent whose value is
 * whole (1e4, 2.5e3, 1000e-3), so that run lengths can be written as they are thought of.
 * Exact: the digits are scaled by hand, never through a double.  Returns INT_OK with *out,
 * INT_SYNTAX (not a number, or leading space), INT_FRACTION (a number that is not whole:
 * 1.5, 1e-3) or INT_RANGE (whole but outside long long). */
static int parse_integer(const char *text, long long *out)
{
    const char *p = text;
    int neg = 0, dropped = 0, n_digits = 0, n_seen = 0, in_fraction = 0;
    char digits[INT_DIGITS_MAX];
    long scale = 0; /* value = digits * 10^scale */
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    for (;; p++) {
        if (*p == '.' && !in_fraction) {
            in_fraction = 1;
            continue;
        }
        if (!isdigit((unsigned char)*p)) break;
        n_seen++;
        scale -= in_fraction;
        if (n_digits == 0 && *p == '0') continue;
        if (n_digits < INT_DIGITS_MAX) {
            digits[n_digits++] = *p;
        } else {
            scale++;
            dropped |= *p != '0';
        }
    }
    if (n_seen == 0) return INT_SYNTAX;
    if (*p == 'e' || *p == 'E') {
        p++;
        int exp_neg = 0;
        if (*p == '+' || *p == '-') exp_neg = *p++ == '-';
        if (!isdigit((unsigned char)*p)) return INT_SYNTAX;
        long e = 0;
        for (; isdigit((unsigned char)*p); p++)
            if (e < 100000) e = 10 * e + (*p - '0');
        scale += exp_neg ? -e : e;
    }
    if (*p != '\0') return INT_SYNTAX;
    while (scale < 0 && n_digits > 0 && digits[n_digits - 1] == '0') {
        n_digits--;
        scale++;
    }
    if (n_digits == 0) return *out = 0, INT_OK;
    if (n_digits + scale > 19) return INT_RANGE; /* >= 10^19 > 2^63 */
    if (scale < 0 || dropped) return INT_FRACTION;
    unsigned long long v = 0; /* < 10^19 < 2^64: no wrap */
    for (int i = 0; i < n_digits; i++) v = 10 * v + (unsigned long long)(digits[i] - '0');
    for (long i = 0; i < scale; i++) v *= 10;
    if (v > (unsigned long long)LLONG_MAX + (unsigned long long)neg) return INT_RANGE;
    *out = !neg ? (long long)v : v > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)v;
    return INT_OK;
}

/* Largest value a field of integer type t holds, for the out-of-range message. */
static long long integer_max(opt_type t)
{
    return t == T_INT ? INT_MAX : t == T_UINT32 ? (long long)UINT32_MAX : LLONG_MAX;
}

/* Smallest value a field of integer type t holds. */
static long long integer_min(opt_type t)
{
    return t == T_INT ? INT_MIN : t == T_UINT32 ? 0 : LLONG_MIN;
}

static int parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) return *out = 1, 1;
        if (strcasecmp(text, no[i]) == 0) return *out = 0, 1;
    }
    return 0;
}

/* Parses text as a value of row o and stores it in c.  `where` prefixes every message
 * ("--steps", "run.ini:3: key 'steps'").  With checked = 0 the row's range is not applied
 * (defaults: --config's "" is a valid default but not a valid value). */
static sgld_status assign(sgld_config *c, const option_spec *o, const char *text,
                          const char *where, int checked)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case T_STRING: {
        size_t len = strlen(text);
        SGLD_CHECK(len < o->size, SGLD_ERR_USAGE,
                   "%s: value is too long (%zu characters, at most %zu)", where, len,
                   o->size - 1);
        SGLD_CHECK(!checked || o->check.kind != CHECK_NONEMPTY || len > 0, SGLD_ERR_USAGE,
                   "%s: must not be empty", where);
        memcpy(field, text, len + 1);
        return SGLD_OK;
    }
    case T_BOOL:
    case T_SWITCH: {
        int b;
        SGLD_CHECK(parse_bool(text, &b), SGLD_ERR_USAGE,
                   "%s: '%s' is not a boolean (true/false, yes/no, on/off, 1/0)", where, text);
        memcpy(field, &b, sizeof b);
        return SGLD_OK;
    }
    case T_INT:
    case T_INT64:
    case T_UINT32: {
        long long v = 0;
        int ok = parse_integer(text, &v);
        SGLD_CHECK(ok != INT_RANGE, SGLD_ERR_USAGE, "%s: '%s' is out of range (%s %lld)",
                   where, text, text[0] == '-' ? "at least" : "at most",
                   text[0] == '-' ? integer_min(o->type) : integer_max(o->type));
        SGLD_CHECK(ok != INT_FRACTION, SGLD_ERR_USAGE,
                   "%s: '%s' is not a whole number (e-notation such as 1e4 is accepted when "
                   "the value is whole)", where, text);
        SGLD_CHECK(ok == INT_OK, SGLD_ERR_USAGE, "%s: '%s' is not an integer", where, text);
        if (checked && !in_range(&o->check, (double)v)) return range_error(o, where, text);
        if (o->type == T_INT) {
            SGLD_CHECK(v <= INT_MAX, SGLD_ERR_USAGE, "%s: must be <= %d, got %s", where, INT_MAX,
                       text);
            SGLD_CHECK(v >= INT_MIN, SGLD_ERR_USAGE, "%s: must be >= %d, got %s", where, INT_MIN,
                       text);
            int x = (int)v;
            memcpy(field, &x, sizeof x);
        } else if (o->type == T_UINT32) {
            SGLD_CHECK(v >= 0 && v <= (long long)UINT32_MAX, SGLD_ERR_USAGE,
                       "%s: must be in [0, %lu], got %s", where, (unsigned long)UINT32_MAX,
                       text);
            uint32_t x = (uint32_t)v;
            memcpy(field, &x, sizeof x);
        } else {
            int64_t x = (int64_t)v;
            memcpy(field, &x, sizeof x);
        }
        return SGLD_OK;
    }
    case T_DOUBLE: {
        char *end;
        int bad = !text[0] || isspace((unsigned char)text[0]);
        double x = bad ? 0 : strtod(text, &end);
        SGLD_CHECK(!bad && end != text && *end == '\0', SGLD_ERR_USAGE,
                   "%s: '%s' is not a number", where, text);
        SGLD_CHECK(isfinite(x), SGLD_ERR_USAGE, "%s: '%s' is not a finite number", where, text);
        if (checked && !in_range(&o->check, x)) return range_error(o, where, text);
        memcpy(field, &x, sizeof x);
        return SGLD_OK;
    }
    }
    return sgld_error_set(SGLD_ERR_INTERNAL, "%s: option type %d unknown", where, (int)o->type);
}

void sgld_config_defaults(sgld_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++) (void)assign(c, &options[i], options[i].def, "default", 0);
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
    const option_spec *o = find_option(key, key_len);
    if (!o) {
        const char *near = suggest(key, key_len, 0);
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
    ctx->origin[o - options] = line_no;
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

/* getopt_long codes for table rows start here, above every short option character. */
#define LONG_BASE 256

/* Fills longopts (N_OPTIONS + 1 entries) and shortopts from the table.  shortopts starts with
 * "-:" so that positional arguments come back in order as code 1 (no permutation) and a
 * missing value is reported as ':' rather than '?'. */
static void build_getopt_tables(struct option *longopts, char *shortopts)
{
    size_t k = 0;
    shortopts[k++] = '-';
    shortopts[k++] = ':';
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option_spec *o = &options[i];
        int has_arg = o->type == T_SWITCH ? no_argument
                      : o->type == T_BOOL ? optional_argument
                                          : required_argument;
        longopts[i] = (struct option){o->name, has_arg, NULL, LONG_BASE + (int)i};
        if (o->short_name) {
            shortopts[k++] = (char)o->short_name;
            if (has_arg != no_argument) shortopts[k++] = ':';
            if (has_arg == optional_argument) shortopts[k++] = ':';
        }
    }
    longopts[N_OPTIONS] = (struct option){NULL, 0, NULL, 0};
    shortopts[k] = '\0';
}

/* GNU getopt: optind = 0 re-initializes it completely, so parse can run many times. */
static void reset_getopt(void)
{
    optind = 0;
    opterr = 0;
}

/* The option name written in argv element arg ("--stpes=5" -> "stpes"), as pointer and length. */
static const char *arg_name(const char *arg, size_t *len)
{
    const char *name = arg + (arg[0] == '-') + (arg[0] == '-' && arg[1] == '-');
    *len = strcspn(name, "=");
    return name;
}

static sgld_status unknown_option(const char *arg)
{
    size_t len;
    const char *name = arg_name(arg, &len);
    int shown = (int)strcspn(arg, "=");
    const char *near = len > 1 || arg[1] == '-' ? suggest(name, len, 1) : NULL;
    if (near)
        return sgld_error_set(SGLD_ERR_USAGE, "unknown option '%.*s' (did you mean '--%s'?)",
                              shown, arg, near);
    return sgld_error_set(SGLD_ERR_USAGE, "unknown option '%.*s'", shown, arg);
}

/* getopt_long accepts unique abbreviations (--burn for --burnin); INI keys must be exact,
 * so flags must be too.  True when argv element arg spells row o in full. */
static int spelled_out(const char *arg, const option_spec *o)
{
    if (arg[0] != '-' || arg[1] != '-') return 1; /* a short option */
    size_t len;
    const char *name = arg_name(arg, &len);
    return len == strlen(o->name) && strncmp(name, o->name, len) == 0;
}

/* First pass: finds the last --config value and whether --help or --version was given,
 * ignoring everything else (the second pass reports it). */
static void scan_first(int argc, char **argv, const struct option *longopts,
                       const char *shortopts, const char **config, int *help, int *version)
{
    reset_getopt();
    for (;;) {
        int before = optind > 0 ? optind : 1;
        int code = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (code == -1) break;
        int row = code >= LONG_BASE ? code - LONG_BASE : -1;
        for (size_t i = 0; row < 0 && i < N_OPTIONS; i++)
            if (options[i].short_name && options[i].short_name == code) row = (int)i;
        if (row < 0 || !spelled_out(argv[before], &options[row])) continue;
        if (strcmp(options[row].name, "config") == 0) *config = optarg;
        if (strcmp(options[row].name, "help") == 0) *help = 1;
        if (strcmp(options[row].name, "version") == 0) *version = 1;
    }
}

/* A file option given "" on the command line is refused: it is almost always an unset shell
 * variable, and "" means "no file", so the run would go ahead and write nothing.  (A config
 * file may say `output = ""`: sgld_config_write writes it so for a run without one.)  The rows
 * that name files are those whose metavariable is FILE or SOURCE (those that may never be
 * empty, --data and --config, say so through their NONEMPTY check). */
static sgld_status check_file_flag(const option_spec *o, const char *value, const char *where)
{
    int names_file = o->type == T_STRING && o->check.kind != CHECK_NONEMPTY &&
                     (!strcmp(o->arg, "FILE") || !strcmp(o->arg, "SOURCE"));
    SGLD_CHECK(!names_file || !value || value[0], SGLD_ERR_USAGE,
               "%s: empty file name (leave the option out for none)", where);
    return SGLD_OK;
}

/* Second pass: applies every flag but --config (already applied) in argv order. */
static sgld_status apply_flags(parse_ctx *ctx, int argc, char **argv,
                               const struct option *longopts, const char *shortopts)
{
    reset_getopt();
    for (;;) {
        int before = optind > 0 ? optind : 1;
        int code = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (code == -1) break;
        const char *arg = argv[before];
        if (code == 1) return sgld_error_set(SGLD_ERR_USAGE, "unexpected argument '%s'", optarg);
        if (code == '?' || code == ':') {
            if (optopt >= LONG_BASE) {
                const option_spec *o = &options[optopt - LONG_BASE];
                if (!spelled_out(arg, o)) return unknown_option(arg);
                if (code == ':')
                    return sgld_error_set(SGLD_ERR_USAGE, "--%s: missing value", o->name);
                const char *eq = strchr(arg, '=');
                return sgld_error_set(SGLD_ERR_USAGE, "--%s: takes no value, got '%s'", o->name,
                                      eq ? eq + 1 : "");
            }
            /* "-steps" is one unknown word, not the short options s, t, e, ... */
            if (optopt == 0 || (arg[1] != '-' && strlen(arg) > 2)) return unknown_option(arg);
            if (code == ':') return sgld_error_set(SGLD_ERR_USAGE, "-%c: missing value", optopt);
            return sgld_error_set(SGLD_ERR_USAGE, "unknown option '-%c'", optopt);
        }
        const option_spec *o = NULL;
        if (code >= LONG_BASE) {
            o = &options[code - LONG_BASE];
            if (!spelled_out(arg, o)) return unknown_option(arg);
        } else {
            for (size_t i = 0; i < N_OPTIONS; i++)
                if (options[i].short_name == code) o = &options[i];
            if (!o) return sgld_error_set(SGLD_ERR_INTERNAL, "getopt_long returned %d", code);
        }
        if (o->offset == offsetof(sgld_config, config_path)) continue;
        char where[WHERE_MAX];
        snprintf(where, sizeof where, "--%s", o->name);
        SGLD_TRY(check_file_flag(o, optarg, where));
        SGLD_TRY(assign(ctx->c, o, optarg ? optarg : "1", where, 1));
        ctx->origin[o - options] = ORIGIN_FLAG;
    }
    if (optind < argc)
        return sgld_error_set(SGLD_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
    return SGLD_OK;
}

/* "--steps", "run.ini:3: key 'steps'" or "steps (default)": where row i's value came from. */
static void origin_text(const parse_ctx *ctx, const char *name, char *buf, size_t n)
{
    const option_spec *o = find_option(name, strlen(name));
    long origin = ctx->origin[o - options];
    if (origin == ORIGIN_FLAG)
        snprintf(buf, n, "--%s", name);
    else if (origin == ORIGIN_DEFAULT)
        snprintf(buf, n, "%s (default)", name);
    else
        snprintf(buf, n, "%s:%ld: key '%s'", ctx->path, origin, name);
}

/* The one rule that spans two options.  A default burn-in that is not below --steps is
 * clipped to steps / 10 (and c->burnin_clipped set), so a short trial run needs no --burnin;
 * a burn-in that was given is refused instead. */
static sgld_status check_burnin(parse_ctx *ctx)
{
    sgld_config *c = ctx->c;
    if (c->burnin < c->steps) return SGLD_OK;
    char where[WHERE_MAX];
    const option_spec *burnin = find_option("burnin", 6);
    if (ctx->origin[burnin - options] == ORIGIN_DEFAULT) {
        c->burnin = c->steps / 10;
        c->burnin_clipped = 1;
        return SGLD_OK;
    }
    origin_text(ctx, "burnin", where, sizeof where);
    return sgld_error_set(SGLD_ERR_USAGE, "%s: must be < steps (%lld), got %lld", where,
                          (long long)c->steps, (long long)c->burnin);
}

/* The option whose value selects the type that owns a row, per owner kind. */
static const char *const owner_option[] = {[OWNER_SAMPLER] = "sampler", [OWNER_MODEL] = "model"};

/* 1 when the '|'-separated list has the entry name. */
static int list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p += len + (p[len] == '|');
    }
    return 0;
}

/* "sghmc", "smile and psmile", "a, b and c" from a '|'-separated list. */
static void list_words(const char *list, char *buf, size_t cap)
{
    size_t used = 0, n_items = 1;
    for (const char *p = list; *p; p++) n_items += *p == '|';
    buf[0] = '\0';
    size_t i = 0;
    for (const char *p = list; *p && used < cap; i++) {
        size_t len = strcspn(p, "|");
        const char *sep = i == 0 ? "" : i + 1 == n_items ? " and " : ", ";
        used += (size_t)snprintf(buf + used, cap - used, "%s%.*s", sep, (int)len, p);
        p += len + (p[len] == '|');
    }
}

/* 1 when row o holds the same value in a and b. */
static int same_value(const sgld_config *a, const sgld_config *b, const option_spec *o)
{
    const char *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;
    return o->type == T_STRING ? strcmp(x, y) == 0 : memcmp(x, y, o->size) == 0;
}

/* Refuses an option that was set but does not apply to the chosen sampler or model (its row's
 * owner), so that a setting is never silently ignored.  A flag counts as set whatever its
 * value; a file key only when its value is not the default, because sgld_config_write (the
 * sample file's `config`, meant to be read back with --config) lists every key.  A sampler
 * or model name that the table does not list is left to the registries' own message. */
static sgld_status check_owners(const parse_ctx *ctx)
{
    sgld_config defaults;
    sgld_config_defaults(&defaults);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option_spec *o = &options[i];
        long origin = ctx->origin[i];
        if (o->owner.kind == OWNER_ANY || origin == ORIGIN_DEFAULT) continue;
        if (origin != ORIGIN_FLAG && same_value(&defaults, ctx->c, o)) continue;
        const char *selector = owner_option[o->owner.kind];
        const option_spec *sel = find_option(selector, strlen(selector));
        const char *chosen = (const char *)ctx->c + sel->offset;
        if (!list_has(sel->arg, chosen) || list_has(o->owner.names, chosen)) continue;
        char where[WHERE_MAX], owners[256];
        origin_text(ctx, o->name, where, sizeof where);
        list_words(o->owner.names, owners, sizeof owners);
        return sgld_error_set(SGLD_ERR_USAGE, "%s applies to %s only, not --%s %s", where, owners,
                              selector, chosen);
    }
    return SGLD_OK;
}

/* Options that span two fields or name a choice (sampler options, --task). */
static sgld_status check_sampler_options(const parse_ctx *ctx)
{
    const sgld_config *c = ctx->c;
    char where[WHERE_MAX];
    if (c->sghmc_beta >= c->friction) {
        origin_text(ctx, "sghmc-beta", where, sizeof where);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be < friction (%g), got %g", where,
                              c->friction, c->sghmc_beta);
    }
    if (strcmp(c->sampler, "csgld") == 0 && c->cycles > c->steps) {
        origin_text(ctx, "cycles", where, sizeof where);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be <= steps (%lld), got %lld", where,
                              (long long)c->steps, (long long)c->cycles);
    }
    if (strcmp(c->on_divergence, "abort") != 0 && strcmp(c->on_divergence, "shrink") != 0 &&
        strcmp(c->on_divergence, "skip") != 0) {
        origin_text(ctx, "on-divergence", where, sizeof where);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be abort, shrink or skip, got '%s'", where,
                              c->on_divergence);
    }
    if (strcmp(c->precondition, "both") != 0 && strcmp(c->precondition, "noise") != 0) {
        origin_text(ctx, "precondition", where, sizeof where);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be both or noise, got '%s'", where, c->precondition);
    }
    if (c->task[0] && strcmp(c->task, "regression") != 0 && strcmp(c->task, "classification") != 0) {
        origin_text(ctx, "task", where, sizeof where);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be regression or classification, got '%s'", where,
                              c->task);
    }
    if (strcmp(c->smile_integrator, "mclachlan") != 0 && strcmp(c->smile_integrator, "leapfrog") != 0) {
        origin_text(ctx, "smile-integrator", where, sizeof where);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: must be mclachlan or leapfrog, got '%s'", where,
                              c->smile_integrator);
    }
    return SGLD_OK;
}

sgld_status sgld_config_parse(sgld_config *c, int argc, char **argv)
{
    SGLD_CHECK(c && argc >= 0 && (argc == 0 || argv), SGLD_ERR_ARG,
               "sgld_config_parse: NULL config or argv");
    sgld_config_defaults(c);
    if (argc <= 1) return SGLD_OK;

    struct option longopts[N_OPTIONS + 1];
    char shortopts[3 * N_OPTIONS + 3];
    build_getopt_tables(longopts, shortopts);
    int saved_optind = optind, saved_opterr = opterr;
    parse_ctx ctx = {.c = c, .path = NULL, .origin = {0}};

    const char *config = NULL;
    int help = 0, version = 0;
    scan_first(argc, argv, longopts, shortopts, &config, &help, &version);
    sgld_status st = SGLD_OK;
    if (help || version) {
        /* --help and --version work whatever else is on the line (no file is read). */
        c->help = help;
        c->version = version;
        goto done;
    }
    if (config) {
        SGLD_TRY_GOTO(assign(c, find_option("config", 6), config, "--config", 1), st, done);
        ctx.path = c->config_path;
        SGLD_TRY_GOTO(apply_file(&ctx), st, done);
    }
    SGLD_TRY_GOTO(apply_flags(&ctx, argc, argv, longopts, shortopts), st, done);
    SGLD_TRY_GOTO(check_owners(&ctx), st, done);
    SGLD_TRY_GOTO(check_burnin(&ctx), st, done);
    SGLD_TRY_GOTO(check_sampler_options(&ctx), st, done);
done:
    optind = saved_optind;
    opterr = saved_opterr;
    return st;
}

/* Applies the INI text `text` (as sgld_config_write makes it) over the defaults; `name` labels
 * the messages ("run.h5:config:4: unknown key ..."). */
sgld_status sgld_config_parse_text(sgld_config *c, const char *text, const char *name)
{
    SGLD_CHECK(c && text && name, SGLD_ERR_ARG, "sgld_config_parse_text: NULL argument");
    sgld_config_defaults(c);
    parse_ctx ctx = {.c = c, .path = name, .origin = {0}};
    char line[LINE_MAX_CHARS + 2];
    long line_no = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        line_no++;
        SGLD_CHECK(len <= LINE_MAX_CHARS, SGLD_ERR_USAGE, "%s:%ld: line is longer than %d characters",
                   name, line_no, LINE_MAX_CHARS);
        memcpy(line, p, len);
        line[len] = '\0';
        SGLD_TRY(apply_line(&ctx, line_no, line));
        p += len;
        if (*p) p++;
    }
    SGLD_TRY(check_burnin(&ctx));
    return check_sampler_options(&ctx);
}

/* ---- --help and the effective configuration ---- */

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

static void help_option(FILE *f, const option_spec *o)
{
    char left[128], text[512], range[128] = "", def[128] = "";
    int n;
    if (o->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name);
    else
        n = snprintf(left, sizeof left, "      --%s", o->name);
    if (o->type == T_BOOL)
        n += snprintf(left + n, sizeof left - n, "[=yes|no]");
    else if (o->type != T_SWITCH)
        n += snprintf(left + n, sizeof left - n, " %s", o->arg);
    fputs(left, f);
    if (n >= HELP_COLUMN) {
        fprintf(f, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(f, "%*s", HELP_COLUMN - n, "");
    }
    describe_check(&o->check, o->arg, range, sizeof range);
    if (o->type == T_SWITCH)
        def[0] = '\0';
    else if (o->def[0] == '\0')
        snprintf(def, sizeof def, " (default: none)");
    else
        snprintf(def, sizeof def, " (default: %s%s%s)", o->def, o->unit[0] ? " " : "", o->unit);
    keep_together(range);
    if (def[0]) keep_together(def + 1); /* the leading space may break */
    snprintf(text, sizeof text, "%s%s%s%s", o->help, range[0] ? "; " : "", range, def);
    int col = HELP_COLUMN;
    put_wrapped(f, text, &col);
    fputc('\n', f);
}

void sgld_config_help(FILE *f, const char *prog)
{
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
            "Models: linreg|logreg|softmax|mlp|cnn.  Samplers: sgd|fsgd|sgld|psgld|sghmc|csgld|ksgld|smile|psmile.\n",
            prog, prog);
    for (int g = 0; g < G_COUNT; g++) {
        fprintf(f, "\n%s:\n", group_titles[g]);
        for (size_t i = 0; i < N_OPTIONS; i++)
            if ((int)options[i].group == g) help_option(f, &options[i]);
    }
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

/* Shortest %.Ng (N = 15..17) that reads back as exactly x. */
static void format_double(double x, char *buf, size_t n)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

void sgld_config_write(const sgld_config *c, FILE *f)
{
    fprintf(f, "# sgld-dist configuration (read it back with --config FILE)\n");
    for (int g = G_GENERAL + 1; g < G_COUNT; g++) {
        fprintf(f, "\n[%s]\n", group_sections[g]);
        for (size_t i = 0; i < N_OPTIONS; i++) {
            const option_spec *o = &options[i];
            if ((int)o->group != g) continue;
            const char *field = (const char *)c + o->offset;
            char buf[64];
            fprintf(f, "%s = ", o->name);
            switch (o->type) {
            case T_STRING: fprintf(f, "\"%s\"\n", field); break;
            case T_BOOL:
            case T_SWITCH: {
                int b;
                memcpy(&b, field, sizeof b);
                fprintf(f, "%s\n", b ? "true" : "false");
                break;
            }
            case T_INT: {
                int x;
                memcpy(&x, field, sizeof x);
                fprintf(f, "%d\n", x);
                break;
            }
            case T_INT64: {
                int64_t x;
                memcpy(&x, field, sizeof x);
                fprintf(f, "%lld\n", (long long)x);
                break;
            }
            case T_UINT32: {
                uint32_t x;
                memcpy(&x, field, sizeof x);
                fprintf(f, "%lu\n", (unsigned long)x);
                break;
            }
            case T_DOUBLE: {
                double x;
                memcpy(&x, field, sizeof x);
                format_double(x, buf, sizeof buf);
                fprintf(f, "%s\n", buf);
                break;
            }
            }
        }
    }
}
