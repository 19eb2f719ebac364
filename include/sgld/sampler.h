/* sampler.h - samplers: a table of types (vtables) and the step-size schedule.
 *
 * A sampler moves theta given g = an unbiased estimate of grad log p(theta | data)
 * (the prior gradient plus N / B times the minibatch log-likelihood gradient).  Its state is
 * plain floats (part of a checkpoint: no pointers).  It runs on every rank of a chain with
 * the same noise (drawn from the chain's stream at this step), so the copies stay bitwise
 * identical (a state part that is each rank's own, see prepare, enters only through
 * chain_sum).
 *
 * Adding a sampler is one file in src/sampler/ defining a `const sgld_sampler_type` and one
 * line in the table of src/sampler/sampler_registry.c (plus its case in tests/sampler, which the
 * conformance suite demands).  Its options are rows in its own file (`options`), parsed into
 * its own struct, which it reads with sgld_config_opts (or ctx->opts in a step). */
#ifndef SGLD_SAMPLER_H
#define SGLD_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "sgld/config.h"
#include "sgld/rng.h"
#include "sgld/status.h"

struct sgld_model;

/* Recomputes the minibatch gradient estimate g (prior included, N/B-scaled) and the minibatch
 * log posterior at a new theta, on this step's minibatch.  Collective over the chain (every
 * rank of the chain calls it the same number of times).  For multi-stage integrators. */
typedef sgld_status (*sgld_gradient_fn)(void *self, const float *theta, float *grad, double *lp);

/* Sums buf[0..n) in place over the ranks of the chain; every rank gets the same bits.
 * Collective over the chain (every rank of the chain calls it at the same point with the same
 * n).  For state that is a sum over the chain's data shards (ksgld's K-FAC factors). */
typedef sgld_status (*sgld_chain_sum_fn)(void *self, float *buf, size_t n);

typedef struct sgld_step_ctx {
    size_t n_params;
    uint64_t step;            /* 1-based step number (the counter of the noise stream) */
    double eps;               /* step size eps_t of this step (from the schedule) */
    double temperature;       /* T: the noise variance is eps_t T */
    double lp;                /* minibatch log posterior at theta (before the step) */
    const sgld_rng *rng;      /* the chain's stream (use SGLD_RNG_NOISE / SGLD_RNG_SAMPLER) */
    const sgld_config *cfg;   /* the run's options (burn-in, steps, ...) */
    const void *opts;         /* the sampler's own options (sgld_config_opts(cfg, type)) */
    const struct sgld_model *model; /* parameter layout (layers), for structured samplers */
    float *work;              /* 4 n_params floats of scratch */
    sgld_gradient_fn gradient;/* re-evaluation at a new theta (may be NULL in unit tests) */
    sgld_chain_sum_fn chain_sum; /* sum over the chain's ranks (NULL: a one-rank chain) */
    void *gradient_self;      /* the self argument of gradient and chain_sum */
    /* The gradient handed over unformed (only to a sampler with folds_prior set, on a step
     * where the run chose to): lik_sum non-NULL means the step's `grad` argument holds nothing
     * and g[i] = lik_scale lik_sum[i] - prior_prec theta[i] (the N/B-scaled minibatch sum and
     * the N(0, 1/prior_prec) prior), which the sampler folds into its own pass over theta. */
    const float *lik_sum;
    double lik_scale, prior_prec;
    /* Out, when non-NULL: a sampler may store sum_i theta[i]^2 after its step with the bits
     * of sgld_rng_sumsq (e.g. sgld_rng_normal_axpy's sumsq on theta); it is finite exactly
     * when every theta[i] is (float squares cannot overflow a double sum), so the run then
     * skips its own check of theta and uses the sum for the next step's log prior.  Left
     * alone (the run sets NAN before the step): the run checks theta itself. */
    double *theta_sumsq;
} sgld_step_ctx;

#define SGLD_SAMPLER_MAX_STATS 8

typedef struct sgld_sampler_type {
    const char *name;
    const char *description;
    int adds_noise;                        /* 0 for optimizers (sgd) */
    /* Its options: n_options rows parsed into a struct of options_size bytes (NULL, 0, 0:
     * none), merged into sgld-dist's options by config; --help-sampler NAME lists them. */
    const sgld_option *options;
    size_t n_options, options_size;
    /* Optional: checks that span options (its own and the run's, e.g. --cycles <= --steps)
     * once every source is applied, naming where a value came from with
     * sgld_option_origin.  Called only when this sampler is chosen.  Errors: SGLD_ERR_USAGE,
     * one line. */
    sgld_status (*check)(const sgld_config *cfg, const void *opts, const sgld_option_where *w);
    /* Non-NULL when the chain depends on --steps, so a resumed run may not change it: why,
     * after the sampler's name ("'s cycles span --steps"); NULL: --resume may lengthen it. */
    const char *steps_define_chain;
    /* Floats of state (NULL: none; callers use sgld_sampler_state_size). */
    size_t (*state_size)(size_t n_params);
    /* Optional, for samplers that need the model's structure (ksgld): checks that model m and
     * a grid of n_shards shards per chain suit the sampler, prepares the model (e.g. turns on
     * its K-FAC statistics; n_train = rows of the training set) and sets *n_floats, which
     * replaces state_size, and *n_local <= *n_floats: the last *n_local floats of the state
     * are this rank's own (e.g. sums over its shard's rows), which may differ between the
     * ranks of a chain -- they must reach theta only through chain_sum; a checkpoint keeps
     * every rank's (src/run/resume.c).  Called on every rank after the model's setup, before any work;
     * not collective (sgld_run agrees on its status, so it may fail on some ranks only, e.g.
     * a file one rank cannot read).  Errors: SGLD_ERR_USAGE, one line. */
    sgld_status (*prepare)(const struct sgld_model *m, const sgld_config *cfg, int n_shards,
                           double n_train, size_t *n_floats, size_t *n_local);
    /* Initial state (ctx->step = 0; NULL: nothing to do; callers use sgld_sampler_init). */
    void (*init)(const sgld_step_ctx *ctx, const float *theta, float *state);
    /* One step, on every rank of the chain at the same step.  Collective over the chain when
     * it calls ctx->gradient or ctx->chain_sum (every rank of the chain then calls them
     * alike).  Returns SGLD_OK or a failure (with sgld_error_set). */
    sgld_status (*step)(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state);
    /* Optional: its own step size for step t (NULL = the --step-size schedule); opts is its
     * options struct. */
    double (*step_size)(const sgld_config *cfg, const void *opts, uint64_t t);
    /* Optional: whether the draw after step t may be kept (NULL = always; cyclical SGLD keeps
     * none while exploring). */
    int (*keep_draw)(const sgld_config *cfg, const void *opts, uint64_t t);
    /* Extra sample_stats written with every draw (doubles), and their values now. */
    int n_stats;
    const char *stat_names[SGLD_SAMPLER_MAX_STATS];
    void (*stats)(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out);
    /* Nonzero: step() understands ctx->lik_sum (above), so the run may skip forming the
     * gradient (a pass over theta, the sum and the gradient) when the prior is one Gaussian
     * for every parameter and the gradient estimator is not centred. */
    int folds_prior;
} sgld_sampler_type;

/* The registered type called name, or NULL.  Not collective. */
const sgld_sampler_type *sgld_sampler_find(const char *name);

/* Number of registered samplers, and the i-th in table order (NULL when i is out of range):
 * for conformance tests that loop over the registry.  Not collective. */
size_t sgld_sampler_count(void);
const sgld_sampler_type *sgld_sampler_at(size_t i);

/* Registers s (a static object) after the built-in samplers, as sgld_model_register does for
 * models; the same rules and errors (SGLD_ERR_ARG: no step, stats without a hook).
 * Not collective. */
sgld_status sgld_sampler_register(const sgld_sampler_type *s);

/* Writes the registered names ("sgd, sgld, ...") into buf.  Not collective. */
void sgld_sampler_names(char *buf, size_t size);

/* eps_t = a (b + t)^(-g), t = 1, 2, ... (g = 0: constant a).  Not collective. */
double sgld_step_size(double a, double b, double g, uint64_t t);

/* s's state floats for n_params parameters (0 when it keeps none).  Not collective. */
size_t sgld_sampler_state_size(const sgld_sampler_type *s, size_t n_params);

/* Initializes s's state (nothing for a stateless sampler).  Not collective. */
void sgld_sampler_init(const sgld_sampler_type *s, const sgld_step_ctx *ctx, const float *theta,
                       float *state);

/* The step size of step t for sampler s under cfg (its own schedule or the generic one).
 * Not collective. */
double sgld_sampler_step_size(const sgld_sampler_type *s, const sgld_config *cfg, uint64_t t);

/* 1 when the draw after step t may be kept under cfg (s's keep_draw, or always).
 * Not collective. */
int sgld_sampler_keep_draw(const sgld_sampler_type *s, const sgld_config *cfg, uint64_t t);

#endif
