/* test_grid.c - the chain x shard split at every layout the rank count allows. */
#include "sgld_test.h"

#include <stdio.h>
#include <string.h>

#include "sgld/grid.h"

static void test_every_layout(void **state)
{
    (void)state;
    int P = sgld_test_size(), rank = sgld_test_rank();
    for (int C = 1; C <= P; C++) {
        if (P % C) continue;
        sgld_grid *g = NULL;
        assert_int_equal(sgld_grid_create(MPI_COMM_WORLD, C, &g), SGLD_OK);
        int S = P / C;
        assert_int_equal(g->n_shards, S);
        assert_int_equal(g->chain, rank / S);
        assert_int_equal(g->shard, rank % S);
        int cs, cr, ss, sr;
        MPI_Comm_size(g->chain_comm, &cs);
        MPI_Comm_rank(g->chain_comm, &cr);
        MPI_Comm_size(g->shard_comm, &ss);
        MPI_Comm_rank(g->shard_comm, &sr);
        assert_int_equal(cs, S);
        assert_int_equal(cr, g->shard);
        assert_int_equal(ss, C);
        assert_int_equal(sr, g->chain);
        /* the chain communicator really groups my chain: sum of chain ids = S * chain */
        int sum = 0;
        MPI_Allreduce(&g->chain, &sum, 1, MPI_INT, MPI_SUM, g->chain_comm);
        assert_int_equal(sum, S * g->chain);
        sgld_grid_destroy(&g);
        assert_null(g);
        sgld_grid_destroy(&g);
    }
}

static void test_chains_must_divide(void **state)
{
    (void)state;
    int P = sgld_test_size();
    sgld_grid *g = NULL;
    assert_int_equal(sgld_grid_create(MPI_COMM_WORLD, P + 1, &g), SGLD_ERR_USAGE);
    assert_null(g);
    char want[128];
    snprintf(want, sizeof want, "--chains %d does not divide the %d MPI rank%s (ranks = chains x shards)",
             P + 1, P, P == 1 ? "" : "s");
    assert_string_equal(sgld_error_message(), want);
    assert_int_equal(sgld_grid_create(MPI_COMM_WORLD, 0, &g), SGLD_ERR_USAGE);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_layout),
        cmocka_unit_test(test_chains_must_divide),
    };
    return sgld_test_run(argc, argv, "grid", tests, sizeof tests / sizeof tests[0]);
}
