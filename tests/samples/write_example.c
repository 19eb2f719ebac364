/* write_example.c - writes a small sample file for check_layout.py (run under mpiexec).
 *
 * Usage: write_example PATH.  4 chains dealt round-robin to the ranks (so at 1 or 2 ranks a
 * rank writes several chains through sgld_samples_append_chains), 12 draws in 3 appends of 4
 * with chunk_draws 5; values are exact binary fractions given by the formulas that
 * check_layout.py recomputes:
 *   posterior/w[c, t, k]          = 100 c + t + 0.25 k + 0.125   (f64, dim w_dim_0 = 3)
 *   posterior/b[c, t]             = c - 0.5 t                    (f32)
 *   sample_stats/lp[c, t]         = -1.5 - 0.5 (c + 1) t         (f64)
 *   sample_stats/step_size[c, t]  = 1 / (t + 1)                  (f64) */
#include <stdio.h>
#include <stdlib.h>

#include "sgld/samples.h"

#define N_CHAINS 4
#define N_DRAWS 12
#define BLOCK 4

static int fail(const char *what)
{
    fprintf(stderr, "write_example: %s: %s\n", what, sgld_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: write_example PATH\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    sgld_var_spec vars[4] = {
        {.group = "posterior", .name = "w", .n_dims = 1, .dims = {3}, .dtype = SGLD_F64},
        {.group = "posterior", .name = "b", .n_dims = 0, .dtype = SGLD_F32},
        {.group = "sample_stats", .name = "lp", .n_dims = 0, .dtype = SGLD_F64},
        {.group = "sample_stats", .name = "step_size", .n_dims = 0, .dtype = SGLD_F64},
    };
    sgld_samples *s = NULL;
    int rc = 0;
    if (sgld_samples_create(MPI_COMM_WORLD, argv[1], 1, N_CHAINS, 4, vars, 5, &s))
        return MPI_Finalize(), fail("create");
    const int64_t seed = 20240611, shape[2] = {3, 4};
    const double prior[2] = {0.5, 2.25}, eps = 0.001;
    if (sgld_samples_attr_string(s, "", "inference_library", "sgld-dist") ||
        sgld_samples_attr_string(s, "/", "created_by", "write_example") ||
        sgld_samples_attr_string(s, "posterior", "sampler", "sgld") ||
        sgld_samples_attr_string(s, "posterior", "empty", "") ||
        sgld_samples_attr_string(s, "posterior", "unit", "\xc2\xb5m") ||
        sgld_samples_attr_double(s, "posterior", "prior_scale", 2, prior) ||
        sgld_samples_attr_double(s, "sample_stats", "eps", 1, &eps) ||
        sgld_samples_attr_int(s, "", "seed", 1, &seed) ||
        sgld_samples_attr_int(s, "", "shape", 2, shape))
        rc = fail("attributes");

    int chains[N_CHAINS], n_local = 0;
    for (int c = rank; c < N_CHAINS; c += size) chains[n_local++] = c;
    static double w[N_CHAINS][BLOCK * 3], lp[N_CHAINS][BLOCK], st[N_CHAINS][BLOCK];
    static float b[N_CHAINS][BLOCK];
    const void *ptrs[N_CHAINS][4];
    const void *const *data[N_CHAINS];
    for (int t0 = 0; t0 < N_DRAWS && !rc; t0 += BLOCK) {
        for (int i = 0; i < n_local; i++) {
            int c = chains[i];
            for (int j = 0; j < BLOCK; j++) {
                int t = t0 + j;
                for (int k = 0; k < 3; k++) w[i][j * 3 + k] = 100.0 * c + t + 0.25 * k + 0.125;
                b[i][j] = (float)(c - 0.5 * t);
                lp[i][j] = -1.5 - 0.5 * (c + 1) * t;
                st[i][j] = 1.0 / (t + 1);
            }
            ptrs[i][0] = w[i];
            ptrs[i][1] = b[i];
            ptrs[i][2] = lp[i];
            ptrs[i][3] = st[i];
            data[i] = ptrs[i];
        }
        if (sgld_samples_append_chains(s, n_local, chains, BLOCK, data)) rc = fail("append");
    }
    if (sgld_samples_close(&s) && !rc) rc = fail("close");
    MPI_Finalize();
    return rc;
}
