/* grid.h - the chain x shard process grid.
 *
 * P ranks of a communicator are split into C chains of S = P / C shards:
 * rank r -> chain r / S, shard r % S.
 *   chain_comm: the S ranks of one chain (allreduce of the minibatch gradient)
 *   shard_comm: the C ranks holding the same shard, one per chain
 * S = 1 is a pure multi-chain run; C = 1 is one chain on data-parallel ranks. */
#ifndef SGLD_GRID_H
#define SGLD_GRID_H

#include <mpi.h>

#include "sgld/status.h"

typedef struct sgld_grid {
    MPI_Comm comm;       /* duplicate of the communicator given to create */
    MPI_Comm chain_comm; /* ranks of my chain, ordered by shard */
    MPI_Comm shard_comm; /* ranks of my shard, ordered by chain */
    int rank, size;      /* in comm */
    int n_chains, n_shards;
    int chain, shard;
} sgld_grid;

/* Splits comm into n_chains chains.  Collective over comm.  SGLD_ERR_USAGE when n_chains
 * does not divide the number of ranks ("--chains 3 does not divide the 4 MPI ranks"). */
sgld_status sgld_grid_create(MPI_Comm comm, int n_chains, sgld_grid **out);

/* Frees the communicators and the grid; *g = NULL.  Collective over the grid's comm (the
 * communicator given to create); NULL-safe. */
void sgld_grid_destroy(sgld_grid **g);

#endif
