/* sampler_registry.c - the table of samplers and the step-size schedule.  Adding a sampler:
 * one file and one word in SAMPLERS below. */
#include <math.h>

#include "sgld/registry.h"
#include "sgld/sampler.h"

/* The registered samplers in listing order: adding one is its name here (its file defines
 * `const sgld_sampler_type sgld_sampler_NAME`). */
#define SAMPLERS(X) X(sgd) X(sgld) X(fsgd) X(psgld) X(sghmc) X(csgld) X(ksgld) X(smile) X(psmile) X(sgnht)

#define DECLARE(name) extern const sgld_sampler_type sgld_sampler_##name;
#define ENTRY(name) &sgld_sampler_##name,
SAMPLERS(DECLARE)
static const void *const samplers[] = {SAMPLERS(ENTRY)};

/* sgld_sampler_find, _names, _count and _at. */
SGLD_REGISTRY_DEFINE(sampler, sgld_sampler_type, samplers)

double sgld_step_size(double a, double b, double g, uint64_t t)
{
    return g == 0.0 ? a : a * pow(b + (double)t, -g);
}

size_t sgld_sampler_state_size(const sgld_sampler_type *s, size_t n_params)
{
    return s->state_size ? s->state_size(n_params) : 0;
}

void sgld_sampler_init(const sgld_sampler_type *s, const sgld_step_ctx *ctx, const float *theta,
                       float *state)
{
    if (s->init) s->init(ctx, theta, state);
}

double sgld_sampler_step_size(const sgld_sampler_type *s, const sgld_config *cfg, uint64_t t)
{
    if (s->step_size) return s->step_size(cfg, sgld_config_opts(cfg, s), t);
    return sgld_step_size(cfg->step_size, cfg->step_b, cfg->step_gamma, t);
}

int sgld_sampler_keep_draw(const sgld_sampler_type *s, const sgld_config *cfg, uint64_t t)
{
    return !s->keep_draw || s->keep_draw(cfg, sgld_config_opts(cfg, s), t);
}
