/* config.h - one struct for a run: defaults, INI file, getopt_long flags, validation.
 *
 * Every key of the INI file is a long option without the dashes (`step-size = 1e-4`);
 * `[section]` headers are allowed and ignored; `#` and `;` start comments.  Flags given on
 * the command line override the file whatever their order.  Unknown keys/options, values
 * that do not parse, out-of-range values and options that do not apply to the chosen
 * --sampler or --model are errors whose message names the source (file:line or "command
 * line"), the key and the value.  Integer options also take whole numbers in e-notation.
 * A file key whose value is the option's default is not range-checked (defaults never are), so
 * that the INI text sgld_config_write makes reads back; --superchains' default 0 ("not given")
 * is outside its range and valid only so.
 *
 * Options have two owners.  The run's own (data, chains, steps, output, ...) are fields of
 * sgld_config below, declared by config.c's table.  A sampler's or model's own options are
 * rows (sgld_option) in that type's file, parsed into a typed struct that the type defines
 * and reads back with sgld_config_opts: config merges the tables of every registered sampler
 * and model, so that adding one with options touches no file but its own (and its registry
 * line).  Several types may declare the same row (smile and psmile share three): the value
 * then goes to each. */
#ifndef SGLD_CONFIG_H
#define SGLD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sgld/status.h"

#define SGLD_PATH_MAX 1024

/* --save-observed: the training targets as the sample file's observed_data group; auto writes
 * them when they take at most SGLD_OBSERVED_AUTO_BYTES as float64 (a million rows). */
enum { SGLD_OBSERVED_AUTO = 0, SGLD_OBSERVED_YES = 1, SGLD_OBSERVED_NO = 2 };
#define SGLD_OBSERVED_AUTO_BYTES ((int64_t)8 << 20)
#define SGLD_NAME_MAX 64
#define SGLD_PLUGIN_LIST_MAX 4096 /* the loaded plug-ins' paths, ':'-separated */

/* Value types of an option row.  STRING fills char[size]; BOOL an int 0/1 (`--flag` or
 * `--flag=no` on the line, true/false/yes/no/on/off/1/0 in a file); SWITCH an int set by a
 * bare flag, command line only; CHOICE an int, the index of the value among the
 * '|'-separated words of the row's `arg` ("both|noise": both = 0), so that a step compares
 * no strings. */
typedef enum {
    SGLD_OPT_STRING,
    SGLD_OPT_INT,
    SGLD_OPT_INT64,
    SGLD_OPT_UINT32,
    SGLD_OPT_DOUBLE,
    SGLD_OPT_BOOL,
    SGLD_OPT_SWITCH,
    SGLD_OPT_CHOICE
} sgld_opt_type;

/* The range a value must lie in (checked for every value given, not for the default). */
typedef enum {
    SGLD_RANGE_NONE,
    SGLD_RANGE_GE,       /* x >= lo */
    SGLD_RANGE_GT,       /* x > lo */
    SGLD_RANGE_GE_LT,    /* lo <= x < hi */
    SGLD_RANGE_GE_LE,    /* lo <= x <= hi */
    SGLD_RANGE_GT_LT,    /* lo < x < hi */
    SGLD_RANGE_GT_LE,    /* lo < x <= hi */
    SGLD_RANGE_NONEMPTY  /* strings: not "" */
} sgld_range_kind;

typedef struct sgld_range {
    sgld_range_kind kind;
    double lo, hi;
} sgld_range;

/* One option: a long flag and INI key, parsed into the field at `offset` of its owner's
 * struct (sgld_config for the run's own rows, the type's options struct otherwise). */
typedef struct sgld_option {
    const char *name;  /* long option and INI key ("psgld-alpha") */
    sgld_opt_type type;
    size_t offset;     /* of the field in the owner's struct */
    size_t size;       /* of the field (the bound of a STRING) */
    const char *def;   /* default, as text, read by the same parser as user input */
    const char *arg;   /* metavariable in --help ("a"; CHOICE: the words, "both|noise") */
    const char *unit;  /* appended to values in --help ("" if none) */
    sgld_range range;
    int chain;         /* 1: the value defines the chain, so a checkpoint made with another
                        * value is refused on --resume; 0: output and control only */
    const char *help;  /* one sentence; --help prefixes a type's rows with its name */
} sgld_option;

/* offsetof and size of field f of struct S, failing to compile when the field's type is not
 * T (so a row cannot point an int64 parser at an int). */
#define SGLD_OPTION_FIELD(S, f, T)                                                   \
    offsetof(S, f) + (sizeof(char[_Generic(((S *)0)->f, T: 1, default: -1)]) - 1),   \
        sizeof(((S *)0)->f)

/* Parses text as a value of row o into val (o->size bytes; never more) as every program
 * does: a STRING copied (at most size - 1 characters); an integer exactly, also in e-notation
 * when whole (1e4), within the field's type; a double by strtod, whole text, finite; a BOOL
 * true/false/yes/no/on/off/1/0; a CHOICE as its index among o->arg's '|'-separated words.
 * With checked = 1 the row's range applies too.  `where` begins every message ("--steps",
 * "run.ini:3: key 'steps'").  Not collective.  Errors: SGLD_ERR_USAGE, one line with where,
 * the rule and the value ("--steps: must be >= 1, got 0"). */
sgld_status sgld_option_parse(const sgld_option *o, const char *text, const char *where,
                              int checked, void *val);

/* The name among rows[0..n) closest to name (len bytes) within edit distance 2 (the first in
 * row order on ties), or NULL: every "did you mean" of flags and keys.  Not collective. */
const char *sgld_option_nearest(const sgld_option *const *rows, size_t n, const char *name,
                                size_t len);

/* Called by sgld_option_parse_argv for each option in argv order, with its row (and index),
 * its text ("1" for a bare SWITCH or BOOL) and where ("--steps"); for an operand (a word that
 * is no option) with row NULL, value = where = the word.  An error stops the walk and is
 * returned. */
typedef sgld_status (*sgld_option_fn)(void *self, const sgld_option *row, size_t index,
                                      const char *value, const char *where);

#define SGLD_CMDLINE_MAX_ROWS 1024

/* A command line to walk: its rows (pointers, so a program can list rows of several owners),
 * optional one-letter names, and where the options start. */
typedef struct sgld_cmdline {
    const sgld_option *const *rows;
    size_t n_rows;
    const int *short_names; /* per row, 0 = none; NULL = no short options */
    int first;              /* argv index of the first option (1; 2 after a subcommand) */
    int lenient;            /* 1: skip unknown options, bad values' rows and operands silently
                             * (a first pass that only looks for a few options) */
    const char *hint;       /* appended to "unknown option" messages without a suggestion
                             * (" (see sgld-ess --help)"), "" for none */
} sgld_cmdline;

/* Walks argv[cl->first..argc) with getopt_long over cl's rows and calls fn for every option
 * and operand in order.  Long options must be spelled in full (no abbreviations); a SWITCH
 * takes no value, a BOOL an optional one (--flag, --flag=no), others a required one
 * (--name value, --name=value); "--" ends the options.  getopt's global state is restored.
 * Not collective.  Errors: fn's, or SGLD_ERR_USAGE with one line: "unknown option '--stpes'
 * (did you mean '--steps'?)", "--steps: missing value", "--force: takes no value, got 'x'". */
sgld_status sgld_option_parse_argv(const sgld_cmdline *cl, int argc, char **argv,
                                   sgld_option_fn fn, void *self);

/* Where the values of the options of a checked type came from, for messages (opaque). */
typedef struct sgld_option_where sgld_option_where;

/* Writes into buf where option `name`'s value came from: "--cycles", "run.ini:4: key
 * 'cycles'" or "cycles (default)"; returns buf.  For a type's check hook.  Not collective. */
const char *sgld_option_origin(const sgld_option_where *w, const char *name, char *buf,
                               size_t size);

/* Registered samplers and models with options, and bytes for their option structs. */
#define SGLD_CONFIG_MAX_TYPES 48
#define SGLD_CONFIG_TYPE_BYTES 8192

typedef struct sgld_config {
    char config_path[SGLD_PATH_MAX]; /* --config, "" if none */
    char plugin[SGLD_PLUGIN_LIST_MAX]; /* every plug-in loaded (sgld/plugin.h), absolute paths,
                                        ':'-separated: --plugin (repeatable), the file's
                                        `plugin` key, SGLD_PLUGIN_PATH ("" if none) */
    /* model and data */
    char model[SGLD_NAME_MAX];       /* --model: a registered model name, see the model
                                        registry (sgld_model_names) (linreg) */
    char task[SGLD_NAME_MAX];        /* --task regression|classification ("" = the model's own) */
    double prior_sd;                 /* --prior-sd, N(0, s^2) prior on every weight (1) */
    char data[SGLD_PATH_MAX];        /* --data (default synthetic:linreg) */
    char test_data[SGLD_PATH_MAX];   /* --test-data, "" if none */
    double test_fraction;            /* --test-fraction in [0, 1) (0) */
    int standardize;                 /* --standardize (off) */
    /* sampler */
    char sampler[SGLD_NAME_MAX];     /* --sampler: a registered sampler name, see the sampler
                                        registry (sgld_sampler_names) (sgld) */
    int chains;                      /* --chains C >= 1 (default 1) */
    int threads;                     /* --threads T in [1, 256] per rank: OpenBLAS and the noise (1) */
    int superchains;                 /* --superchains K >= 1 dividing C: chains c of one
                                        superchain c / (C / K) start from one point (0, the
                                        default: not given, no grouping) */
    int64_t steps;                   /* --steps N >= 1 (20000) */
    int64_t burnin;                  /* --burnin B >= 0, < steps (2000; when not given and
                                        not below steps: steps / 10) */
    int64_t thin;                    /* --thin T >= 1 (1) */
    int64_t batch_size;              /* --batch-size B >= 1, total per chain (100) */
    uint32_t seed;                   /* --seed S in [0, 2^32) (1) */
    double step_size;                /* --step-size a > 0 (1e-5) */
    double step_b;                   /* --step-b b >= 0 (0) */
    double step_gamma;               /* --step-gamma g in [0, 1] (0: constant) */
    double temperature;              /* --temperature T > 0 (1) */
    char on_divergence[SGLD_NAME_MAX]; /* --on-divergence abort|shrink|skip (abort) */
    int step_size_auto;              /* --step-size auto: a from the curvature at the mode */
    char gradient[SGLD_NAME_MAX];    /* --gradient minibatch|cv|svrg:E (minibatch; gradient.h) */
    char init[SGLD_NAME_MAX];        /* --init random|map|sgd:K (random) */
    int init_iterations;             /* --init-iterations: L-BFGS cap of --init map (1000) */
    double init_tol;                 /* --init-tol: --init map's gradient test (1e-3) */
    /* output */
    char output[SGLD_PATH_MAX];      /* --output FILE, "" = no sample file */
    int force;                       /* --force: overwrite an existing output */
    int save_observed;               /* --save-observed auto|yes|no (SGLD_OBSERVED_*) */
    int quiet;                       /* --quiet */
    int progress;                    /* --progress: progress line even when not a TTY */
    int64_t flush_draws;             /* --flush-every draws buffered per collective write (100) */
    char checkpoint[SGLD_PATH_MAX];  /* --checkpoint FILE: run state for --resume, "" = none */
    int64_t checkpoint_every;        /* --checkpoint-every K: a checkpoint every K steps (0 = off) */
    double checkpoint_seconds;       /* --checkpoint-seconds S: at the first flush after S s (0 = off) */
    char stop_when[SGLD_NAME_MAX];   /* --stop-when RULE ("" = run all --steps) */
    int log_view;                    /* --log-view: table of timed events at the end */
    int64_t max_rows;                /* --max-rows N: rows of the end-of-run summary (40; 0 = all) */
    int resume;                      /* --resume: continue from --checkpoint (command line only) */
    int dry_run;                     /* --dry-run: print the plan and exit (command line only) */
    int check_gradient;              /* --check-gradient: check the model's gradients and exit
                                        (command line only) */
    int check_gradient_points;       /* --check-gradient-points K: parameter points (5) */
    double check_gradient_tol;       /* --check-gradient-tol: largest relative error (0.01) */
    int help;                        /* --help was given */
    int version;                     /* --version was given */
    int burnin_clipped;              /* 1 when the default burn-in was clipped to steps / 10 */
    char help_sampler[SGLD_NAME_MAX]; /* --help-sampler NAME ("" = none) */
    char help_model[SGLD_NAME_MAX];  /* --help-model NAME ("" = none) */
    /* The option structs of every registered sampler and model (sgld_config_opts): type i's
     * struct starts at type_opts + type_offset[i].  Filled by sgld_config_defaults. */
    int n_types;
    const void *types[SGLD_CONFIG_MAX_TYPES];
    size_t type_offset[SGLD_CONFIG_MAX_TYPES];
    _Alignas(16) unsigned char type_opts[SGLD_CONFIG_TYPE_BYTES];
} sgld_config;

/* The options struct of sampler or model type `type` (a `const sgld_sampler_type *` or
 * `const sgld_model_type *`) in c, or NULL when the type declares no options or was not
 * registered when c's defaults were set.  A lookup by address, no string comparison.  Not
 * collective. */
static inline const void *sgld_config_opts(const sgld_config *c, const void *type)
{
    for (int i = 0; i < c->n_types; i++)
        if (c->types[i] == type) return c->type_opts + c->type_offset[i];
    return NULL;
}

/* Fills c with the defaults above, and the defaults of every sampler and model registered
 * so far (register a type of one's own before this).  Not collective. */
void sgld_config_defaults(sgld_config *c);

/* Parses argv (and the --config file named there, applied before the flags), validates,
 * and fills c.  First loads the plug-ins of SGLD_PLUGIN_PATH, of the file's `plugin` key and
 * of every --plugin flag, in that order (sgld_plugin_load), so that their models, samplers
 * and option rows are known to the rest of the line and file.  Not collective (every rank
 * parses the same argv).  On error returns
 * SGLD_ERR_USAGE with a one-line message such as
 *   "run.ini:4: unknown key 'step_size' (did you mean 'step-size'?)"
 *   "--steps: '10k' is not an integer"  /  "--step-size: must be > 0, got -1" */
sgld_status sgld_config_parse(sgld_config *c, int argc, char **argv);

/* Parses a --stop-when rule: any of "ess>=E", "rhat<=R", "mess>=M", comma-separated, each at
 * most once, E > 0, R >= 1, M > 0, numbers as strtod reads them with nothing after.  Sets *ess,
 * *rhat and *mess (any may be NULL) to the bounds, 0 for a bound not given; SGLD_ERR_USAGE (no
 * message set) when text is not such a rule.  Not collective. */
sgld_status sgld_config_parse_stop_when(const char *text, double *ess, double *rhat, double *mess);

/* Fills c from INI text such as sgld_config_write makes (the `config` attribute of a sample
 * file): the defaults, then every `key = value` line, then the same cross-checks as
 * sgld_config_parse.  When the text's model or sampler is not registered, the plug-ins its
 * `plugin` key lists are loaded first (a program that loaded a replacement with its own
 * --plugin is not sent to the recorded path).  `name` labels the messages
 * ("run.h5:config:4: ...").  Not collective.  Errors: SGLD_ERR_USAGE (one line naming
 * name:line, the key and the value; for a plug-in that cannot be loaded, the model or sampler
 * that needs it and the path). */
sgld_status sgld_config_parse_text(sgld_config *c, const char *text, const char *name);

/* Sets option `name` (a long option without dashes, the run's own or a registered type's)
 * from text as a flag would, with the same checks.  Not collective.  Errors: SGLD_ERR_USAGE
 * (unknown name, a value that does not parse or is out of range). */
sgld_status sgld_config_set(sgld_config *c, const char *name, const char *value);

/* Writes option `name`'s value in c into buf (size > 0) as text: a string or choice as it is,
 * a boolean true/false, a number in the shortest form that reads back exactly.  Not
 * collective.  Errors: SGLD_ERR_USAGE (unknown name). */
sgld_status sgld_config_get(const sgld_config *c, const char *name, char *buf, size_t size);

/* SGLD_OK when the option rows of every registered sampler and model fit together and with
 * the run's (no name declared twice with another type, default or range; within the
 * table's limits); else SGLD_ERR_USAGE naming the row and both owners.  What the plug-in
 * loader checks after each plug-in (sgld_plugin_load_file's `after`).  Not collective. */
sgld_status sgld_config_check_rows(void);

/* Writes the --help text (every option, its default and unit) to f.  Not collective. */
void sgld_config_help(FILE *f, const char *prog);

/* Writes the help of the sampler or model that c->help_sampler or c->help_model names (a
 * registered one: sgld_config_parse checks): its description and its options;
 * sgld_config_help when neither is set.  Not collective. */
void sgld_config_help_for(const sgld_config *c, FILE *f, const char *prog);

/* 0 when key (len bytes, not NUL-terminated) is an output or control option (the `chain`
 * column of its row is 0), 1 otherwise: every other option, and an unknown key, defines the
 * chain.  Not collective. */
int sgld_config_key_defines_chain(const char *key, size_t len);

/* 1 when value (vlen bytes, as sgld_config_write writes it: strings quoted) is the default of
 * option key (klen bytes), 0 otherwise and for an unknown key.  A checkpoint made before an
 * option existed lacks its line and ran as its default does.  Not collective. */
int sgld_config_key_is_default(const char *key, size_t klen, const char *value, size_t vlen);

/* Writes "key = value" lines for every option (the effective configuration, INI syntax).  Not
 * collective. */
void sgld_config_write(const sgld_config *c, FILE *f);

#endif
