/* sampler_bench.c - the noise path of every registered sampler that adds noise, on one
 * thread: its step function alone on a parameter vector of a given size (the networks of
 * tools/bench/nn-bench), with a synthetic gradient.  Prints per sampler
 *   sampler-noise NAME N normals_M_per_s step_M_params_per_s
 * normals/s = the normals the step draws / the time inside the generators (the fused update
 * included: the --log-view "noise" event); params/s = N / the whole step's time.  ksgld is
 * left out (its step needs a network's K-FAC statistics; its normals come from
 * sgld_rng_normal_fill, which nn_bench times).  smile/psmile's two extra gradients are
 * g = -theta here (a standard normal target), timed apart and left out.  csgld runs with
 * --explore 0 (every step draws).  Driven by
 * tools/bench/nn-bench; built, not a test.
 *   sampler_bench N SECONDS [NAME...]      (default: every sampler that adds noise) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/config.h"
#include "sgld/rng.h"
#include "sgld/sampler.h"
#include "sgld/timer.h"

enum { EV_STEP, EV_NOISE, EV_GRAD };

static sgld_timer tm;

/* The extra gradients of smile/psmile: their own event, outside the step's time. */
static sgld_status normal_target(void *self, const float *theta, float *grad, double *lp)
{
    size_t n = *(const size_t *)self;
    sgld_timer_begin(&tm, EV_GRAD);
    double s = 0;
    for (size_t i = 0; i < n; i++) grad[i] = -theta[i], s += (double)theta[i] * theta[i];
    *lp = -0.5 * s;
    sgld_timer_end(&tm, EV_GRAD);
    return SGLD_OK;
}

static int bench(const sgld_sampler_type *s, sgld_config *cfg, size_t n, double seconds)
{
    float *theta = malloc(n * sizeof *theta), *grad = malloc(n * sizeof *grad);
    float *work = malloc(4 * n * sizeof *work);
    size_t ns = sgld_sampler_state_size(s, n);
    float *state = malloc((ns ? ns : 1) * sizeof *state);
    if (!theta || !grad || !work || !state) return 1;
    sgld_rng rng = {1, 0};
    sgld_rng_normal_fill(&rng, 0, SGLD_RNG_INIT, n, theta);
    for (size_t i = 0; i < n; i++) grad[i] = -theta[i];
    sgld_step_ctx ctx = {.n_params = n, .temperature = 1.0, .rng = &rng, .cfg = cfg,
                         .opts = sgld_config_opts(cfg, s), .work = work, .gradient = normal_target,
                         .gradient_self = &n};
    sgld_sampler_init(s, &ctx, theta, state);
    static const char *const names[] = {"step", "noise", "gradient"};
    sgld_timer_init(&tm, 3, names);
    sgld_rng_time_normals(&rng, &tm, EV_NOISE);
    long steps = 0;
    double t0 = sgld_timer_now();
    do {
        ctx.step = (uint64_t)++steps;
        ctx.eps = 1e-4;
        sgld_timer_begin(&tm, EV_STEP);
        sgld_status st = s->step(&ctx, theta, grad, state);
        sgld_timer_end(&tm, EV_STEP);
        if (st != SGLD_OK) {
            fprintf(stderr, "sampler_bench: %s: %s\n", s->name, sgld_error_message());
            return 1;
        }
    } while (sgld_timer_now() - t0 < seconds);
    sgld_rng_time_normals(NULL, NULL, 0);
    /* normals drawn: n per call of the generators (a momentum redraw is a call too) */
    double normals = (double)n * (double)tm.count[EV_NOISE];
    /* exclusive times: the whole step without the extra gradients */
    double step_s = tm.seconds[EV_STEP] + tm.seconds[EV_NOISE];
    printf("sampler-noise %s %zu %.1f %.1f\n", s->name, n, normals / tm.seconds[EV_NOISE] * 1e-6,
           (double)n * steps / step_s * 1e-6);
    free(theta), free(grad), free(work), free(state);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sampler_bench N SECONDS [NAME...]\n");
        return 2;
    }
    size_t n = (size_t)strtoull(argv[1], NULL, 10);
    double sec = atof(argv[2]);
    static sgld_config cfg;
    sgld_config_defaults(&cfg);
    cfg.burnin = 0; /* the sampling phase: no adaptation */
    if (sgld_config_set(&cfg, "explore", "0") != SGLD_OK) {
        fprintf(stderr, "sampler_bench: %s\n", sgld_error_message());
        return 2;
    }
    int rc = 0;
    for (size_t i = 0; i < sgld_sampler_count(); i++) {
        const sgld_sampler_type *s = sgld_sampler_at(i);
        int chosen = argc == 3;
        for (int a = 3; a < argc; a++) chosen |= strcmp(argv[a], s->name) == 0;
        if (!chosen || !s->adds_noise || (argc == 3 && strcmp(s->name, "ksgld") == 0)) continue;
        rc |= bench(s, &cfg, n, sec);
    }
    return rc;
}
