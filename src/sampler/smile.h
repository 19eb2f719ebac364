/* smile.h - private: the stochastic microcanonical Langevin step shared by smile.c and
 * psmile.c (which differ only in the gradient-noise preconditioner). */
#ifndef SGLD_SAMPLER_SMILE_H
#define SGLD_SAMPLER_SMILE_H

#include "sgld/sampler.h"

size_t sgld_smile_state_size(size_t n_params);
void sgld_smile_init(const sgld_step_ctx *ctx, const float *theta, float *state);
sgld_status sgld_smile_step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state,
                            int precondition);
void sgld_smile_stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out);

#define SGLD_SMILE_N_STATS 4
#define SGLD_SMILE_STAT_NAMES {"energy_error", "smile_step_size", "reset", "n_resets"}

#endif
