/* start.c - where a chain starts and how its gradient is estimated (--init, --step-size auto,
 * --gradient; include/sgld/gradient.h has the mathematics).
 *
 * A fresh chain: the model's initialization (a superchain's first chain's), then --init map
 * (L-BFGS to the mode, every evaluation one full-data gradient summed over the chain's shards)
 * or --init sgd:K (K epochs of minibatch gradient ascent, theta += (eps_1 / 2) g, on the
 * WARMUP stream's batches); then --step-size auto (0.1 / the largest curvature over the
 * chains, the same a for all); then a centred estimator's centre; then the sampler's state.
 * A chain that finds no mode is a usage error (exit 2) naming the data, as a bad input is.
 * All of it happens before the sample file is created, so a chain that finds no mode leaves
 * no file behind.  The run's own state floats after the sampler's hold the estimator's centre
 * and the auto a, so a checkpoint carries them and a resumed chain recomputes nothing. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run_impl.h"

sgld_status sgld_run_start_size(run *r)
{
    const sgld_config *cfg = r->cfg;
    int64_t arg;
    SGLD_TRY(sgld_gradient_parse(cfg->gradient, "--gradient", &r->gtype, &arg));
    SGLD_TRY(sgld_init_parse(cfg->init, "--init", &r->init_kind, &r->init_epochs));
    const sgld_model *m = &r->model;
    const int64_t per_epoch = (r->train->n_total + cfg->batch_size - 1) / cfg->batch_size;
    r->scale = (double)r->train->n_total / (double)cfg->batch_size;
    r->recentre_every = r->gtype->recentre_every ? r->gtype->recentre_every(arg, per_epoch) : 0;
    if (r->gtype->centred && m->type->dropout_layers && m->type->dropout_layers(m, NULL) > 0)
        return sgld_error_set(SGLD_ERR_USAGE, "--gradient %s: model %s has dropout layers, whose masks change "
                              "at every call; a control variate needs a log-likelihood that is a function of "
                              "theta and the rows (remove the dropP layers from --net)", cfg->gradient,
                              cfg->model);
    r->grad_at = r->auto_at = 0;
    if (r->gtype->centred) {
        r->grad_at = r->state_size;
        r->state_size += SGLD_GRADIENT_STATE(m->n_params);
    }
    if (cfg->step_size_auto) r->auto_at = r->state_size++;
    return SGLD_OK;
}

/* The chain's step context outside the loop (for the sampler's init and --init sgd:K). */
static sgld_step_ctx start_ctx(run *r)
{
    return (sgld_step_ctx){.n_params = r->model.n_params, .temperature = r->cfg->temperature, .rng = &r->rng,
                           .work = r->work, .cfg = r->cfg, .opts = sgld_config_opts(r->cfg, r->sampler),
                           .model = &r->model, .gradient = sgld_run_gradient, .gradient_self = r};
}

/* --init sgd:K: K ceil(N / B) steps of theta += (eps_1 / 2) g on the WARMUP stream's batches
 * (the minibatch estimate whatever --gradient says: there is no centre yet).  Collective over
 * the chain. */
static sgld_status init_sgd(run *r)
{
    const sgld_config *cfg = r->cfg;
    const size_t P = r->model.n_params;
    const int64_t per_epoch = (r->train->n_total + cfg->batch_size - 1) / cfg->batch_size;
    const double half = 0.5 * sgld_sampler_step_size(r->sampler, cfg, 1);
    const sgld_gradient_type *g = r->gtype;
    r->gtype = sgld_gradient_find("minibatch");
    sgld_status st = SGLD_OK;
    double lp = 0.0;
    for (int64_t k = 1; k <= r->init_epochs * per_epoch && st == SGLD_OK; k++) {
        r->n_local = sgld_run_draw_batch(r, (uint64_t)k, SGLD_RNG_WARMUP);
        st = sgld_run_gradient(r, r->theta, r->grad, &lp);
        for (size_t j = 0; j < P && st == SGLD_OK; j++) r->theta[j] += (float)(half * r->grad[j]);
        if (st == SGLD_OK && !isfinite(lp))
            st = sgld_error_set(SGLD_ERR_NUMERIC, "--init %s: chain %d's log posterior is not finite at step %lld "
                                "of the warm-up; use a smaller --step-size", cfg->init, r->grid->chain,
                                (long long)k);
    }
    r->gtype = g;
    return st;
}

/* --init map on this chain, and the one-line failure (SGLD_ERR_USAGE) when the mode was not
 * reached. */
static sgld_status init_map(run *r)
{
    const sgld_config *cfg = r->cfg;
    const sgld_mode_options o = {.max_iterations = cfg->init_iterations, .tol = cfg->init_tol};
    SGLD_TRY(sgld_gradient_mode(r->grid->chain_comm, &r->model, r->train, &o, r->theta, &r->mode));
    if (r->mode.converged) return SGLD_OK;
    return sgld_error_set(SGLD_ERR_USAGE, "--init map on %s: chain %d found no mode in %d L-BFGS iterations "
                          "(max |d log p / d theta| %.3g, limit %.3g; distance to the mode %.3g posterior sds, "
                          "limit --init-tol %g): %s; separable data under a wide prior have no mode within reach: "
                          "raise --init-iterations, or use --init random", cfg->data, r->grid->chain,
                          r->mode.iterations, r->mode.grad_norm, r->mode.threshold, r->mode.decrement, cfg->init_tol,
                          r->mode.iterations >= cfg->init_iterations ? "the iteration cap was reached"
                                                                      : "the line search could go no further");
}

/* Rank 0's report of what --init and --step-size auto found (the worst over the chains). */
static sgld_status report_start(run *r)
{
    const sgld_config *cfg = r->cfg;
    double in[4] = {r->mode.iterations, r->mode.evaluations, r->mode.grad_norm, r->init_seconds}, out[4];
    SGLD_MPI(MPI_Allreduce(in, out, 4, MPI_DOUBLE, MPI_MAX, r->grid->comm));
    r->init_seconds = out[3];
    if (r->grid->rank != 0 || cfg->quiet) return SGLD_OK;
    if (r->init_kind == SGLD_INIT_MAP)
        fprintf(stderr, "sgld-dist: --init map: the mode in %.0f L-BFGS iterations (%.0f full gradients), max "
                "|d log p / d theta| %.3g <= %.3g, %.2f s%s\n", out[0], out[1], out[2], r->mode.threshold, out[3],
                r->grid->n_chains > 1 ? " (the most over the chains)" : "");
    else if (r->init_kind == SGLD_INIT_SGD)
        fprintf(stderr, "sgld-dist: --init %s: %lld steps of minibatch gradient ascent, %.2f s\n", cfg->init,
                (long long)(r->init_epochs * ((r->train->n_total + cfg->batch_size - 1) / cfg->batch_size)), out[3]);
    if (cfg->step_size_auto)
        fprintf(stderr, "sgld-dist: --step-size auto: lambda_max %.6g, a = %.9g\n", r->lambda_max,
                r->cfg->step_size);
    return SGLD_OK;
}

/* --step-size auto: the largest curvature over the chains, a = 0.1 / it, into the run's cfg
 * and the state.  Collective over the grid. */
static sgld_status auto_step(run *r)
{
    double lambda;
    sgld_status st = sgld_gradient_curvature(r->grid->chain_comm, &r->model, r->train, r->theta, 20, r->cfg->seed,
                                             &lambda);
    SGLD_TRY(sgld_status_agree(r->grid->comm, st));
    SGLD_MPI(MPI_Allreduce(&lambda, &r->lambda_max, 1, MPI_DOUBLE, MPI_MAX, r->grid->comm));
    r->cfg_auto->step_size = sgld_gradient_auto_step(r->lambda_max);
    r->state[r->auto_at] = (float)r->cfg_auto->step_size;
    return SGLD_OK;
}

sgld_status sgld_run_start_fresh(run *r)
{
    const sgld_config *cfg = r->cfg;
    /* --superchains: the chains of a superchain start from its first chain's initial draw
     * (that chain's INIT stream, as without the option); every later number is the chain's
     * own. */
    sgld_rng init = r->rng;
    if (cfg->superchains > 0) {
        const int per = r->grid->n_chains / cfg->superchains;
        init.chain = (uint32_t)(r->grid->chain / per * per);
    }
    sgld_model_init_params(&r->model, &init, r->theta);
    const double t0 = MPI_Wtime();
    sgld_status st = SGLD_OK;
    if (r->init_kind == SGLD_INIT_MAP) st = init_map(r);
    else if (r->init_kind == SGLD_INIT_SGD) st = init_sgd(r);
    r->init_seconds = r->init_kind == SGLD_INIT_RANDOM ? 0.0 : MPI_Wtime() - t0;
    SGLD_TRY(sgld_status_agree(r->grid->comm, st));
    if (cfg->step_size_auto) SGLD_TRY(auto_step(r));
    if (r->gtype->centred)
        SGLD_TRY(sgld_status_agree(r->grid->comm, sgld_gradient_recentre(r->grid->chain_comm, &r->model, r->train,
                                                                          r->theta, r->state + r->grad_at)));
    SGLD_TRY(report_start(r));
    sgld_step_ctx ctx = start_ctx(r);
    ctx.step = 0;
    sgld_sampler_init(r->sampler, &ctx, r->theta, r->state);
    sgld_run_div_init(r);
    return SGLD_OK;
}

void sgld_run_start_resumed(run *r)
{
    if (r->cfg_auto) r->cfg_auto->step_size = r->state[r->auto_at];
}

sgld_status sgld_run_start_recentre(run *r, int64_t t)
{
    if (!r->recentre_every || t <= 1 || (t - 1) % r->recentre_every != 0) return SGLD_OK;
    sgld_timer_begin(&r->timer, SGLD_EV_CONTROL);
    sgld_status st = sgld_gradient_recentre(r->grid->chain_comm, &r->model, r->train, r->theta, r->state + r->grad_at);
    sgld_timer_end(&r->timer, SGLD_EV_CONTROL);
    return st;
}
