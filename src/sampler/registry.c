/* registry.c - the table of samplers and the step-size schedule.  Adding a sampler: one file
 * and one line here. */
#include <math.h>

#include "sgld/registry.h"
#include "sgld/sampler.h"

extern const sgld_sampler_type sgld_sampler_sgd;
extern const sgld_sampler_type sgld_sampler_sgld;
extern const sgld_sampler_type sgld_sampler_fsgd;
extern const sgld_sampler_type sgld_sampler_psgld;
extern const sgld_sampler_type sgld_sampler_sghmc;
extern const sgld_sampler_type sgld_sampler_csgld;
extern const sgld_sampler_type sgld_sampler_ksgld;
extern const sgld_sampler_type sgld_sampler_smile;
extern const sgld_sampler_type sgld_sampler_psmile;

static const void *const samplers[] = {
    &sgld_sampler_sgd,
    &sgld_sampler_sgld,
    &sgld_sampler_fsgd,
    &sgld_sampler_psgld,
    &sgld_sampler_sghmc,
    &sgld_sampler_csgld,
    &sgld_sampler_ksgld,
    &sgld_sampler_smile,
    &sgld_sampler_psmile,
};

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
    if (s->step_size) return s->step_size(cfg, t);
    return sgld_step_size(cfg->step_size, cfg->step_b, cfg->step_gamma, t);
}
