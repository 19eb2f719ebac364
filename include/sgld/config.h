/* config.h - one struct for a run: defaults, INI file, getopt_long flags, validation.
 *
 * Every key of the INI file is a long option without the dashes (`step-size = 1e-4`);
 * `[section]` headers are allowed and ignored; `#` and `;` start comments.  Flags given on
 * the command line override the file whatever their order.  Unknown keys/options, values
 * that do not parse, out-of-range values and options that do not apply to the chosen
 * --sampler or --model are errors whose message names the source (file:line or "command
 * line"), the key and the value.  Integer options also take whole numbers in e-notation. */
#ifndef SGLD_CONFIG_H
#define SGLD_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "sgld/status.h"

#define SGLD_PATH_MAX 1024
#define SGLD_NAME_MAX 64

typedef struct sgld_config {
    char config_path[SGLD_PATH_MAX]; /* --config, "" if none */
    /* model and data */
    char model[SGLD_NAME_MAX];       /* --model: a registered model name, see the model
                                        registry (sgld_model_names) (linreg) */
    char task[SGLD_NAME_MAX];        /* --task regression|classification ("" = the model's own) */
    double noise_sd;                 /* --noise-sd, linreg known noise sd (default 0.5) */
    double prior_sd;                 /* --prior-sd, N(0, s^2) prior on every weight (1) */
    char data[SGLD_PATH_MAX];        /* --data (default synthetic:linreg) */
    char test_data[SGLD_PATH_MAX];   /* --test-data, "" if none */
    double test_fraction;            /* --test-fraction in [0, 1) (0) */
    int standardize;                 /* --standardize (off) */
    /* network models (their --net, input shape, saved tensors and per-layer priors) */
    char net[256];                   /* --net layer spec ("" = the model's default) */
    char input_shape[64];            /* --input-shape CxHxW of one data row ("" = from the data) */
    char save_params[256];           /* --save-params tensors or layers to write ("" = all) */
    char prior_sd_layers[256];       /* --prior-sd-layers one sd per fc/conv layer ("" = --prior-sd) */
    /* sampler */
    char sampler[SGLD_NAME_MAX];     /* --sampler: a registered sampler name, see the sampler
                                        registry (sgld_sampler_names) (sgld) */
    int chains;                      /* --chains C >= 1 (default 1) */
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
    /* sampler family options (see src/sampler/<name>.c for the equations) */
    double psgld_alpha;              /* --psgld-alpha a in (0, 1): RMSprop decay (0.99) */
    double psgld_lambda;             /* --psgld-lambda l > 0: G = 1 / (l + sqrt V) (1e-5) */
    int psgld_gamma;                 /* --psgld-gamma: add the Gamma drift term (off) */
    double friction;                 /* --friction C in (0, 1]: SGHMC momentum decay (0.1) */
    double sghmc_beta;               /* --sghmc-beta b in [0, C): noise estimate beta-hat (0) */
    int sghmc_adapt;                 /* --sghmc-adapt: scale adaptation in burn-in (off) */
    int64_t cycles;                  /* --cycles M >= 1, <= steps: cSGLD cycles (4) */
    double explore;                  /* --explore f in [0, 1): cSGLD exploration fraction (0.8) */
    char smile_integrator[SGLD_NAME_MAX]; /* --smile-integrator mclachlan|leapfrog (mclachlan) */
    double smile_energy_var;         /* --smile-energy-var v > 0: target Var[dE] / d (5e-4) */
    double smile_l;                  /* --smile-L L >= 0: momentum decoherence length, 0 = auto (0) */
    double psmile_alpha;             /* --psmile-alpha a in (0, 1): gradient-noise decay (0.99) */
    char precondition[SGLD_NAME_MAX]; /* --precondition both|noise: ksgld preconditions drift and
                                        noise, or the noise only (both) */
    double kfac_damping;             /* --kfac-damping d > 0: factors + sqrt(d) I (1) */
    double kfac_decay;               /* --kfac-decay r in [0, 1): running-average decay (0.95) */
    int64_t kfac_every;              /* --kfac-every k >= 1: inverses refreshed every k steps (10) */
    /* output */
    char output[SGLD_PATH_MAX];      /* --output FILE, "" = no sample file */
    int force;                       /* --force: overwrite an existing output */
    int quiet;                       /* --quiet */
    int progress;                    /* --progress: progress line even when not a TTY */
    int64_t flush_draws;             /* --flush-every draws buffered per collective write (100) */
    char checkpoint[SGLD_PATH_MAX];  /* --checkpoint FILE: run state for --resume, "" = none */
    int64_t checkpoint_every;        /* --checkpoint-every K: a checkpoint every K steps (0 = off) */
    double checkpoint_seconds;       /* --checkpoint-seconds S: at the first flush after S s (0 = off) */
    int log_view;                    /* --log-view: table of timed events at the end */
    int64_t max_rows;                /* --max-rows N: rows of the end-of-run summary (40; 0 = all) */
    int resume;                      /* --resume: continue from --checkpoint (command line only) */
    int dry_run;                     /* --dry-run: print the plan and exit (command line only) */
    int help;                        /* --help was given */
    int version;                     /* --version was given */
    int burnin_clipped;              /* 1 when the default burn-in was clipped to steps / 10 */
} sgld_config;

/* Fills c with the defaults above. */
void sgld_config_defaults(sgld_config *c);

/* Parses argv (and the --config file named there, applied before the flags), validates,
 * and fills c.  Not collective (every rank parses the same argv).  On error returns
 * SGLD_ERR_USAGE with a one-line message such as
 *   "run.ini:4: unknown key 'step_size' (did you mean 'step-size'?)"
 *   "--steps: '10k' is not an integer"  /  "--step-size: must be > 0, got -1" */
sgld_status sgld_config_parse(sgld_config *c, int argc, char **argv);

/* Fills c from INI text such as sgld_config_write makes (the `config` attribute of a sample
 * file): the defaults, then every `key = value` line, then the same cross-checks as
 * sgld_config_parse.  `name` labels the messages ("run.h5:config:4: ...").  Not collective.
 * Errors: SGLD_ERR_USAGE (one line naming name:line, the key and the value). */
sgld_status sgld_config_parse_text(sgld_config *c, const char *text, const char *name);

/* Writes the --help text (every option, its default and unit) to f. */
void sgld_config_help(FILE *f, const char *prog);

/* Writes "key = value" lines for every option (the effective configuration, INI syntax). */
void sgld_config_write(const sgld_config *c, FILE *f);

#endif
