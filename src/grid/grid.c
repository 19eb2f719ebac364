/* grid.c - chain x shard communicators (see include/sgld/grid.h). */
#include "sgld/grid.h"

sgld_status sgld_grid_create(MPI_Comm comm, int n_chains, sgld_grid **out)
{
    *out = NULL;
    int size, rank;
    SGLD_MPI(MPI_Comm_size(comm, &size));
    SGLD_MPI(MPI_Comm_rank(comm, &rank));
    SGLD_CHECK(n_chains >= 1 && size % n_chains == 0, SGLD_ERR_USAGE,
               "--chains %d does not divide the %d MPI rank%s (ranks = chains x shards)",
               n_chains, size, size == 1 ? "" : "s");
    /* Ranks agree on the allocation before the collectives below: a rank that returned
     * here alone would leave the others waiting in MPI_Comm_dup. */
    sgld_grid *g = sgld_calloc(1, sizeof *g);
    sgld_status st = g ? SGLD_OK
                       : sgld_error_set(SGLD_ERR_NOMEM, "out of memory allocating the chain x shard grid");
    st = sgld_status_agree(comm, st);
    if (st != SGLD_OK) {
        sgld_free(g);
        return st;
    }
    g->rank = rank;
    g->size = size;
    g->n_chains = n_chains;
    g->n_shards = size / n_chains;
    g->chain = rank / g->n_shards;
    g->shard = rank % g->n_shards;
    g->comm = g->chain_comm = g->shard_comm = MPI_COMM_NULL;
    if (MPI_Comm_dup(comm, &g->comm) != MPI_SUCCESS ||
        MPI_Comm_split(g->comm, g->chain, g->shard, &g->chain_comm) != MPI_SUCCESS ||
        MPI_Comm_split(g->comm, g->shard, g->chain, &g->shard_comm) != MPI_SUCCESS) {
        sgld_grid_destroy(&g);
        return sgld_error_set(SGLD_ERR_MPI, "cannot split %d ranks into %d chains", size, n_chains);
    }
    *out = g;
    return SGLD_OK;
}

void sgld_grid_destroy(sgld_grid **g)
{
    if (!g || !*g) return;
    if ((*g)->shard_comm != MPI_COMM_NULL) MPI_Comm_free(&(*g)->shard_comm);
    if ((*g)->chain_comm != MPI_COMM_NULL) MPI_Comm_free(&(*g)->chain_comm);
    if ((*g)->comm != MPI_COMM_NULL) MPI_Comm_free(&(*g)->comm);
    sgld_free(*g);
    *g = NULL;
}
