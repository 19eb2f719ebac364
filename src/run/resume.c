/* resume.c - checkpoints of a run (--checkpoint, --resume; the file format is checkpoint.h).
 *
 * A chain's record is theta, then the state its ranks share (the sampler's without its local
 * part, then the run's DIV_STATE floats), then every shard's local part in shard order
 * (sampler.h, prepare): r->ck_pack, n_params + ck_state floats.  Saving packs each chain's
 * record on its writer (gathering the local parts over the chain), gathers the writers'
 * records to rank 0 over the shard-0 communicator, and rank 0 writes the file atomically.
 * Restoring is the reverse: rank 0 reads and checks the file, scatters the records to the
 * writers, which broadcast them over their chains.  The counter-based streams are keyed by
 * step, so a chain restored at step T continues bitwise as the uninterrupted one. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sgld/checkpoint.h"

#include "run_impl.h"

/* Draws a chain has kept after step t. */
static int64_t draws_until(const sgld_config *cfg, const sgld_sampler_type *s, int64_t step)
{
    int64_t n = 0;
    for (int64_t t = cfg->burnin + cfg->thin; t <= step; t += cfg->thin)
        n += sgld_sampler_keep_draw(s, cfg, (uint64_t)t);
    return n;
}

/* The chain's checkpoint record in r->ck_pack on its writer: theta, the state its ranks share
 * (the sampler's without its local part, then the run's), then every shard's local part,
 * gathered over the chain in shard order.  Collective over the chain. */
static sgld_status pack_chain(run *r)
{
    const size_t P = r->model.n_params, local = r->sampler_local, shared = r->sampler_state - local;
    float *p = r->ck_pack + P;
    if (r->writer) {
        memcpy(r->ck_pack, r->theta, P * sizeof(float));
        memcpy(p, r->state, shared * sizeof(float));
        memcpy(p + shared, r->state + r->sampler_state, (r->state_size - r->sampler_state) * sizeof(float));
    }
    p += r->state_size - local;
    if (local && r->grid->n_shards > 1) {
        if (MPI_Gather(r->state + shared, (int)local, MPI_FLOAT, r->writer ? p : NULL, (int)local, MPI_FLOAT, 0,
                       r->grid->chain_comm) != MPI_SUCCESS)
            return sgld_error_set(SGLD_ERR_MPI, "checkpoint %s: gathering the shards' state failed",
                                  r->cfg->checkpoint);
    } else if (local) {
        memcpy(p, r->state + shared, local * sizeof(float));
    }
    return SGLD_OK;
}

/* The inverse of pack_chain on every rank of the chain (each takes its own shard's part).
 * Local. */
static void unpack_chain(run *r)
{
    const size_t P = r->model.n_params, local = r->sampler_local, shared = r->sampler_state - local;
    const float *p = r->ck_pack + P;
    memcpy(r->theta, r->ck_pack, P * sizeof(float));
    memcpy(r->state, p, shared * sizeof(float));
    memcpy(r->state + r->sampler_state, p + shared, (r->state_size - r->sampler_state) * sizeof(float));
    p += r->state_size - local;
    memcpy(r->state + shared, p + (size_t)r->grid->shard * local, local * sizeof(float));
}

/* Saves the state after the current step (collective over the grid, right after a flush): each
 * chain packs its record on its writer (pack_chain), the writers gather them to rank 0 over
 * the shard-0 communicator and rank 0 writes the file atomically; every rank returns the
 * agreed status. */
sgld_status sgld_run_checkpoint_save(run *r, int64_t step)
{
    const size_t P = r->model.n_params, per = P + r->ck_state;
    sgld_status st = pack_chain(r);
    if (r->writer) { /* the writers' gather even after a failed pack: no rank is left waiting */
        if (MPI_Gather(r->ck_pack, (int)per, MPI_FLOAT, r->ck_all, (int)per, MPI_FLOAT, 0,
                       r->grid->shard_comm) != MPI_SUCCESS && st == SGLD_OK)
            st = sgld_error_set(SGLD_ERR_MPI, "checkpoint %s: gathering the chains failed", r->cfg->checkpoint);
        if (st == SGLD_OK && r->grid->rank == 0) {
            sgld_checkpoint ck = {.config_hash = sgld_checkpoint_hash(r->ck_config), .step = step,
                                  .n_draws = r->n_draws_done, .n_chains = r->grid->n_chains,
                                  .n_shards = r->grid->n_shards, .n_params = P,
                                  .state_size = r->ck_state, .config = r->ck_config, .data = r->ck_all};
            st = sgld_checkpoint_save(r->cfg->checkpoint, &ck);
        }
    }
    return sgld_status_agree(r->grid->comm, st);
}

/* Reads --checkpoint on rank 0 and checks it against this run (collective: the status is
 * agreed).  With apply, every rank takes its chain's theta and sampler state (rank 0 scatters
 * the chains' records to their shard-0 ranks, which broadcast them over their chain, and each
 * rank unpacks its part: unpack_chain) and *step and *draws are set on every rank. */
sgld_status sgld_run_checkpoint_restore(run *r, int apply, int64_t *step, int64_t *draws)
{
    const sgld_config *cfg = r->cfg;
    const size_t P = r->model.n_params, per = P + r->ck_state;
    sgld_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    sgld_status st = SGLD_OK;
    if (r->grid->rank == 0) {
        st = sgld_checkpoint_load(cfg->checkpoint, &ck);
        if (st == SGLD_OK)
            st = sgld_checkpoint_match(cfg->checkpoint, &ck, r->ck_config, r->grid->n_chains,
                                       r->grid->n_shards, P, r->ck_state);
        if (st == SGLD_OK && ck.step > cfg->steps)
            st = sgld_error_set(SGLD_ERR_USAGE, "checkpoint %s: taken at step %lld, past --steps %lld: resume "
                                "with --steps %lld or more", cfg->checkpoint, (long long)ck.step,
                                (long long)cfg->steps, (long long)ck.step);
        if (st == SGLD_OK && ck.n_draws != draws_until(cfg, r->sampler, ck.step))
            st = sgld_error_set(SGLD_ERR_PARSE, "checkpoint %s: step %lld with %lld draws does not fit "
                                "this run (%lld draws by then)", cfg->checkpoint, (long long)ck.step,
                                (long long)ck.n_draws, (long long)draws_until(cfg, r->sampler, ck.step));
    }
    if (st == SGLD_ERR_PARSE) { /* point at the previous generation when it is there */
        char prev[SGLD_PATH_MAX + 8], msg[2 * SGLD_PATH_MAX + 256];
        snprintf(prev, sizeof prev, "%s.prev", cfg->checkpoint);
        if (access(prev, R_OK) == 0) {
            snprintf(msg, sizeof msg, "%s; the previous generation %s may be intact (resume from a copy "
                     "of it with --checkpoint)", sgld_error_message(), prev);
            st = sgld_error_set(st, "%s", msg);
        }
    }
    st = sgld_status_agree(r->grid->comm, st);
    int64_t pos[3] = {ck.step, ck.n_draws, sgld_checkpoint_steps(&ck)};
    if (st == SGLD_OK && MPI_Bcast(pos, 3, MPI_INT64_T, 0, r->grid->comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Bcast of the checkpoint's position failed");
    if (st == SGLD_OK && apply) {
        if (r->writer &&
            MPI_Scatter(ck.data, (int)per, MPI_FLOAT, r->ck_pack, (int)per, MPI_FLOAT, 0,
                        r->grid->shard_comm) != MPI_SUCCESS)
            st = sgld_error_set(SGLD_ERR_MPI, "MPI_Scatter of the checkpoint failed");
        if (MPI_Bcast(r->ck_pack, (int)per, MPI_FLOAT, 0, r->grid->chain_comm) != MPI_SUCCESS && st == SGLD_OK)
            st = sgld_error_set(SGLD_ERR_MPI, "MPI_Bcast of the checkpoint failed");
        unpack_chain(r);
    }
    *step = pos[0];
    *draws = pos[1];
    r->ck_steps = pos[2];
    sgld_checkpoint_free(&ck);
    return st;
}
