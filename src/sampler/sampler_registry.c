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

/* What a sampler registered at run time must have: a step, and option rows that agree with
 * their struct. */
static sgld_status validate(const sgld_sampler_type *t)
{
    const char *name = t->name ? t->name : "(no name)";
    SGLD_CHECK(t->step, SGLD_ERR_ARG, "registering sampler '%s': step is required", name);
    SGLD_CHECK(t->n_options == 0 || (t->options && t->options_size > 0), SGLD_ERR_ARG,
               "registering sampler '%s': %zu option rows but no rows or no options_size", name,
               t->n_options);
    for (size_t i = 0; i < t->n_options; i++)
        SGLD_CHECK(t->options[i].name && t->options[i].offset + t->options[i].size <= t->options_size,
                   SGLD_ERR_ARG, "registering sampler '%s': option row %zu lies outside its struct",
                   name, i);
    SGLD_CHECK(t->n_stats >= 0 && t->n_stats <= SGLD_SAMPLER_MAX_STATS && (!t->n_stats || t->stats),
               SGLD_ERR_ARG, "registering sampler '%s': n_stats %d without a stats hook or above %d",
               name, t->n_stats, SGLD_SAMPLER_MAX_STATS);
    return SGLD_OK;
}

/* sgld_sampler_find, _names, _count, _at and _register. */
SGLD_REGISTRY_DEFINE(sampler, sgld_sampler_type, samplers, validate)

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
