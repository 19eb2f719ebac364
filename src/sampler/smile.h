/* smile.h - private: the stochastic microcanonical Langevin step shared by smile.c and
 * psmile.c (which differ only in the gradient-noise preconditioner). */
#ifndef SGLD_SAMPLER_SMILE_H
#define SGLD_SAMPLER_SMILE_H

#include <stddef.h>

#include "sgld/sampler.h"

enum { SGLD_SMILE_MCLACHLAN, SGLD_SMILE_LEAPFROG }; /* --smile-integrator's words, in order */

/* The options of smile and psmile (psmile's alpha unused by smile). */
typedef struct sgld_smile_opts {
    int integrator;    /* --smile-integrator: SGLD_SMILE_MCLACHLAN or SGLD_SMILE_LEAPFROG */
    double energy_var; /* --smile-energy-var v */
    double L;          /* --smile-L (0: automatic) */
    double alpha;      /* --psmile-alpha (psmile only) */
} sgld_smile_opts;

/* The option rows both samplers declare (each file lists them in its own table). */
#define SGLD_SMILE_OPTION_ROWS                                                                   \
    {"smile-integrator", SGLD_OPT_CHOICE, SGLD_OPTION_FIELD(sgld_smile_opts, integrator, int),   \
     "mclachlan", "mclachlan|leapfrog", "", {SGLD_RANGE_NONE, 0, 0}, 1,                          \
     "isokinetic integrator (2 or 1 extra gradients per step)"},                                 \
    {"smile-energy-var", SGLD_OPT_DOUBLE,                                                        \
     SGLD_OPTION_FIELD(sgld_smile_opts, energy_var, double), "5e-4", "v", "",                    \
     {SGLD_RANGE_GT, 0, 0}, 1, "target energy-error variance per parameter of the step-size tuner"}, \
    {"smile-L", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(sgld_smile_opts, L, double), "0", "L", "",    \
     {SGLD_RANGE_GE, 0, 0}, 1,                                                                   \
     "momentum decoherence length (0: sqrt(d), then 0.4 sqrt(sum Var theta) from the second "   \
     "half of burn-in)"}

size_t sgld_smile_state_size(size_t n_params);
void sgld_smile_init(const sgld_step_ctx *ctx, const float *theta, float *state);
sgld_status sgld_smile_step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state,
                            int precondition);
void sgld_smile_stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out);

#define SGLD_SMILE_N_STATS 5
#define SGLD_SMILE_STAT_NAMES {"energy_error", "smile_step_size", "reset", "n_resets", "energy"}

/* The fields of smile's and psmile's sgld_sampler_type that the two share (designated
 * initializers): each file adds its name, description, options table and step. */
#define SGLD_SMILE_HOOKS                                                                           \
    .adds_noise = 1, .options_size = sizeof(sgld_smile_opts),                                      \
    .state_size = sgld_smile_state_size, .init = sgld_smile_init, .n_stats = SGLD_SMILE_N_STATS,   \
    .stat_names = SGLD_SMILE_STAT_NAMES, .stats = sgld_smile_stats

#endif
