/* sampler.h - samplers: a table of types (vtables) and the step-size schedule.
 *
 * A sampler moves theta given g = an unbiased estimate of grad log p(theta | data)
 * (the prior gradient plus N / B times the minibatch log-likelihood gradient).  Its state is
 * plain floats (part of a checkpoint).  It runs on every rank of a chain with the same noise
 * (drawn from the chain's stream at this step), so the copies stay bitwise identical.
 *
 * Adding a sampler is one file in src/sampler/ defining a `const sgld_sampler_type` and one
 * line in the table of src/sampler/registry.c. */
#ifndef SGLD_SAMPLER_H
#define SGLD_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "sgld/rng.h"
#include "sgld/status.h"

typedef struct sgld_step_ctx {
    size_t n_params;
    uint64_t step;      /* 1-based step number (the counter of the noise stream) */
    double eps;         /* step size eps_t of this step */
    double temperature; /* T: the noise variance is eps_t T */
    const sgld_rng *rng;/* the chain's stream */
    float *work;        /* n_params floats of scratch */
} sgld_step_ctx;

typedef struct sgld_sampler_type {
    const char *name;
    const char *description;
    int adds_noise;                        /* 0 for optimizers (sgd) */
    size_t (*state_size)(size_t n_params); /* floats of state */
    void (*init)(float *state, size_t n_params);
    void (*step)(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state);
} sgld_sampler_type;

/* The registered type called name, or NULL. */
const sgld_sampler_type *sgld_sampler_find(const char *name);

/* Writes the registered names ("sgd, sgld") into buf. */
void sgld_sampler_names(char *buf, size_t size);

/* eps_t = a (b + t)^(-g), t = 1, 2, ... (g = 0: constant a). */
double sgld_step_size(double a, double b, double g, uint64_t t);

#endif
