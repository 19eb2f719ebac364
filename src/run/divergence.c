/* divergence.c - --on-divergence abort|shrink|skip: what the run does when a step makes a
 * chain non-finite (its parameters after the step, or the minibatch log posterior at the next
 * step's start).  abort ends the run with a message naming the chain and step; skip undoes
 * the step (theta and the state restored from the copies taken before it); shrink undoes it
 * and halves the chain's step size from then on, at most DIV_MAX_SHRINKS times.  The factor
 * and the count of undone steps live in the DIV_STATE floats after the sampler's state, so a
 * checkpoint carries them and a resumed chain continues bitwise.  No draw is ever non-finite. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "run_impl.h"

#define DIV_MAX_SHRINKS 30

void sgld_run_div_init(run *r)
{
    if (r->on_div == DIV_ABORT) return;
    r->state[r->sampler_state + DIV_EPS_SCALE] = 1.0f;
    r->state[r->sampler_state + DIV_COUNT] = 0.0f;
}

double sgld_run_div_before_step(run *r, double eps)
{
    if (r->on_div == DIV_ABORT) return eps;
    memcpy(r->theta_prev, r->theta, r->model.n_params * sizeof(float));
    memcpy(r->state_prev, r->state, r->state_size * sizeof(float));
    return eps * r->state[r->sampler_state + DIV_EPS_SCALE];
}

float sgld_run_div_count(const run *r)
{
    return r->on_div == DIV_ABORT ? 0.0f : r->state[r->sampler_state + DIV_COUNT];
}

/* Undoes the last step of a chain whose parameters went non-finite (or whose log posterior
 * did, seen at the next step's start): restores the state saved before it, counts it, and
 * with shrink halves the chain's step size from then on.  Local. */
static sgld_status undo_step(run *r, int64_t t)
{
    memcpy(r->theta, r->theta_prev, r->model.n_params * sizeof(float));
    memcpy(r->state, r->state_prev, r->state_size * sizeof(float));
    float *extra = r->state + r->sampler_state;
    extra[DIV_COUNT] += 1.0f;
    if (r->on_div == DIV_SHRINK) {
        extra[DIV_EPS_SCALE] *= 0.5f;
        if (extra[DIV_EPS_SCALE] < ldexpf(1.0f, -DIV_MAX_SHRINKS))
            return sgld_error_set(SGLD_ERR_NUMERIC,
                                  "chain %d still diverges at step %lld after its step size was halved "
                                  "%d times: the model or data give non-finite updates",
                                  r->grid->chain, (long long)t, DIV_MAX_SHRINKS);
    }
    return SGLD_OK;
}

static sgld_status diverged(const run *r, int64_t t, const char *what)
{
    return sgld_error_set(SGLD_ERR_NUMERIC,
                          "chain %d diverged at step %lld (%s): lower --step-size (now %g), raise "
                          "--batch-size, or use --on-divergence shrink|skip",
                          r->grid->chain, (long long)t, what, r->cfg->step_size);
}

/* At the start of step t the minibatch log posterior *lp is not finite: the previous step
 * went too far.  Ends the run (abort, or nothing to undo), or undoes that step and recomputes
 * the gradient at the restored parameters on this step's minibatch (collective over the
 * chain like every gradient: all its ranks see the same lp). */
sgld_status sgld_run_div_lp_not_finite(run *r, int64_t t, int can_undo, double *lp)
{
    if (r->on_div == DIV_ABORT || !can_undo) return diverged(r, t, "non-finite log posterior");
    SGLD_TRY(undo_step(r, t - 1));
    SGLD_TRY(sgld_run_gradient(r, r->theta, r->grad, lp));
    if (!isfinite(*lp))
        return sgld_error_set(SGLD_ERR_NUMERIC,
                              "chain %d: the minibatch log posterior is %g at step %lld even after "
                              "undoing the previous step: check the data and the model",
                              r->grid->chain, *lp, (long long)t);
    return SGLD_OK;
}

/* GCC: AVX-512 and AVX2 clones of the check (chosen at load time). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
/* 1 when every x[i], i < n, is finite: an exponent of all ones marks an infinity or a NaN.  No
 * early exit (a finite vector, the usual case, is read whole anyway), so it vectorizes. */
static int all_finite(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* After the step: non-finite parameters end the run (abort) or the step is undone. */
sgld_status sgld_run_div_check_theta(run *r, int64_t t)
{
    if (all_finite(r->theta, r->model.n_params)) return SGLD_OK;
    if (r->on_div == DIV_ABORT) return diverged(r, t, "non-finite parameters");
    return undo_step(r, t);
}

/* --on-divergence shrink|skip: every chain's count of undone steps and final step-size
 * factor (the run's two state floats on its writer) into rep on rank 0, allocated there.
 * Collective over the writers (shard 0 of every chain). */
sgld_status sgld_run_div_gather(run *r, sgld_run_report *rep)
{
    rep->div_tracked = r->on_div != DIV_ABORT;
    if (!rep->div_tracked || !r->writer) return SGLD_OK;
    const int C = r->grid->n_chains;
    float mine[2] = {r->state[r->sampler_state + DIV_COUNT], r->state[r->sampler_state + DIV_EPS_SCALE]};
    float *all = NULL;
    sgld_status st = SGLD_OK;
    if (r->grid->rank == 0) {
        all = sgld_malloc(2 * (size_t)C * sizeof *all);
        rep->div_count = sgld_malloc((size_t)C * sizeof *rep->div_count);
        rep->div_eps_scale = sgld_malloc((size_t)C * sizeof *rep->div_eps_scale);
        if (!all || !rep->div_count || !rep->div_eps_scale)
            st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory gathering the divergences of %d chains", C);
    }
    st = sgld_status_agree(r->grid->shard_comm, st); /* no writer left waiting in the gather */
    if (st == SGLD_OK && MPI_Gather(mine, 2, MPI_FLOAT, all, 2, MPI_FLOAT, 0, r->grid->shard_comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Gather of the divergence counts failed");
    if (st == SGLD_OK && all)
        for (int c = 0; c < C; c++) {
            rep->div_count[c] = (int64_t)all[2 * c];
            rep->div_eps_scale[c] = all[2 * c + 1];
        }
    sgld_free(all);
    return st;
}
