/* embed.c - libsgld inside a program of one's own: a model registered in-process, runs on
 * sub-communicators, the draws checked against the closed-form posterior.
 *
 * The model, gauss-mean: y_i ~ N(mu, s^2) with s known (--gauss-sd, default 1), prior
 * mu ~ N(0, p^2) (--prior-sd).  The features are ignored.  Its posterior is Gaussian:
 *   precision P = N / s^2 + 1 / p^2,  mean m = (sum_i y_i / s^2) / P,  sd 1 / sqrt(P).
 * SGLD with a constant step eps and minibatches of B of the N rows (drawn without
 * replacement) is here an AR(1) chain whose stationary law is known exactly, because the
 * minibatch gradient N / s^2 (mean of the batch's y - mu) - mu / p^2 is linear in mu with a
 * noise that does not depend on mu:
 *   mean m (no bias),  variance (1 + eps V / 4) / (P (1 - eps P / 4)),
 *   V = N^2 / s^4 S2 / B (N - B) / (N - 1)  (S2: the population variance of y),
 *   lag-1 autocorrelation 1 - eps P / 2.
 * The program asserts |sampled mean - m| <= 4 MCSE and |sampled sd - the SGLD sd above| <=
 * 4 MCSE of the sd (MCSE from the draws' own ESS, sgld/diag.h): a wrong gradient scale, prior
 * or noise level moves one of them by many MCSE (a missing N / B factor moves the mean by
 * hundreds).
 *
 * MPI_COMM_WORLD is split in two groups (one when there is one rank), each running its own
 * chains (one per rank, a seed of its own) with sgld_run on its sub-communicator at the same
 * time.  World rank 0 prints one report per group; the exit status is 0 when every group
 * passes, 1 otherwise.
 *
 * Build against an installed libsgld (pkg-config finds sgld.pc; for a prefix outside the
 * linker's search path add -Wl,-rpath,$(pkg-config --variable=libdir sgld)) and run:
 *   cc -o embed embed.c $(pkg-config --cflags --libs sgld) -lm
 *   mpiexec -n 2 ./embed */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/diag.h"
#include "sgld/model.h"
#include "sgld/run.h"
#include "sgld/status.h"

/* ---- the model ---- */

typedef struct gauss_mean_opts {
    double sd; /* --gauss-sd */
} gauss_mean_opts;

static const sgld_option gauss_mean_options[] = {
    {"gauss-sd", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(gauss_mean_opts, sd, double), "1", "SD", "",
     {SGLD_RANGE_GT, 0, 0}, 1, "known standard deviation of y for gauss-mean, y ~ N(mu, SD^2)"},
};

/* One parameter, mu (a scalar). */
static sgld_status gauss_mean_setup(sgld_model *m, const sgld_config *cfg)
{
    const gauss_mean_opts *o = sgld_config_opts(cfg, m->type);
    SGLD_CHECK(o, SGLD_ERR_INTERNAL, "model gauss-mean: no options in the configuration");
    m->noise_sd = o->sd;
    return sgld_model_add_var(m, "mu", 0, NULL, NULL);
}

/* Sum over the rows of log N(y; mu, s^2); adds (y - mu) / s^2 per row to grad[0]. */
static double gauss_mean_loglik_grad(const sgld_model *m, const float *theta,
                                     const sgld_dataset *data, const int64_t *rows, size_t n,
                                     float *grad)
{
    const double prec = 1.0 / (m->noise_sd * m->noise_sd);
    const double lognorm = log(m->noise_sd * 2.5066282746310002); /* sqrt(2 pi) */
    double ll = 0.0, g = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double r = data->y[rows[i]] - theta[0];
        ll -= 0.5 * prec * r * r + lognorm;
        g += prec * r;
    }
    grad[0] += (float)g;
    return ll;
}

/* The predictive of every row: mean mu, variance s^2. */
static void gauss_mean_predict(const sgld_model *m, const float *theta, const float *x, size_t n,
                               double *out)
{
    (void)x;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = theta[0];
        out[2 * i + 1] = m->noise_sd * m->noise_sd;
    }
}

static const sgld_model_type gauss_mean = {
    .name = "gauss-mean",
    .description = "the mean of a Gaussian of known sd (--gauss-sd); the features are ignored",
    .options = gauss_mean_options,
    .n_options = sizeof gauss_mean_options / sizeof gauss_mean_options[0],
    .options_size = sizeof(gauss_mean_opts),
    .setup = gauss_mean_setup,
    .loglik_grad = gauss_mean_loglik_grad,
    .predict = gauss_mean_predict,
};

/* ---- the run and its check ---- */

#define DATA "synthetic:linreg"
#define GAUSS_SD 1.0
#define PRIOR_SD 0.05 /* strong enough that the posterior mean is not just the data's mean */
#define STEPS 50000
#define BURNIN 5000
#define BATCH 100
#define STEP_SIZE 2e-4
#define TOL_MCSE 4.0

/* One group's figures, gathered to world rank 0 (plain doubles: one MPI_Gather). */
enum { F_GROUP, F_RANKS, F_N, F_EXACT_MEAN, F_EXACT_SD, F_SGLD_SD, F_MEAN, F_SD, F_MCSE_MEAN,
       F_MCSE_SD, F_ESS, F_STATUS, F_COUNT };

/* The closed form of the data the run samples: the training set loaded here alone. */
static sgld_status closed_form(double *fig)
{
    sgld_data_options opt = {.path = DATA};
    sgld_dataset *train = NULL;
    sgld_status st = sgld_data_load(MPI_COMM_SELF, 0, 1, &opt, &train, NULL);
    if (st != SGLD_OK) return st;
    const double n = (double)train->n_total, s2 = GAUSS_SD * GAUSS_SD;
    double sum = 0.0, ss = 0.0;
    for (int64_t i = 0; i < train->n_local; i++) sum += train->y[i];
    for (int64_t i = 0; i < train->n_local; i++) ss += (train->y[i] - sum / n) * (train->y[i] - sum / n);
    sgld_data_destroy(&train);

    const double P = n / s2 + 1.0 / (PRIOR_SD * PRIOR_SD);
    const double V = n * n / (s2 * s2) * (ss / n) / BATCH * (n - BATCH) / (n - 1.0);
    fig[F_N] = n;
    fig[F_EXACT_MEAN] = sum / s2 / P;
    fig[F_EXACT_SD] = 1.0 / sqrt(P);
    fig[F_SGLD_SD] = sqrt((1.0 + STEP_SIZE * V / 4.0) / (P * (1.0 - STEP_SIZE * P / 4.0)));
    return SGLD_OK;
}

/* Options are set by name from text, as on sgld-dist's command line (the same checks). */
static sgld_status set_number(sgld_config *cfg, const char *name, double value)
{
    char text[32];
    snprintf(text, sizeof text, "%.17g", value);
    return sgld_config_set(cfg, name, text);
}

static sgld_status configure(sgld_config *cfg, int chains, int group)
{
    sgld_config_defaults(cfg); /* after sgld_model_register: gauss-mean's option defaults too */
    const char *text[][2] = {{"model", "gauss-mean"}, {"data", DATA}, {"sampler", "sgld"},
                             {"quiet", "true"}};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        SGLD_TRY(sgld_config_set(cfg, text[i][0], text[i][1]));
    const struct { const char *name; double value; } number[] = {
        {"chains", chains}, {"seed", 1 + group}, {"steps", STEPS}, {"burnin", BURNIN},
        {"batch-size", BATCH}, {"step-size", STEP_SIZE}, {"prior-sd", PRIOR_SD},
        {"gauss-sd", GAUSS_SD},
    };
    for (size_t i = 0; i < sizeof number / sizeof number[0]; i++)
        SGLD_TRY(set_number(cfg, number[i].name, number[i].value));
    return SGLD_OK;
}

/* Mean, sd and their MCSE of mu from the run's draws ([chain][draw], rank 0 of the group). */
static sgld_status summarize(const sgld_run_report *rep, double *fig)
{
    const size_t n = (size_t)rep->n_chains * (size_t)rep->n_draws;
    SGLD_CHECK(rep->draws && rep->draws_width == 1, SGLD_ERR_INTERNAL,
               "embed: the run kept no draws of mu");
    double *x = malloc(n * sizeof *x);
    SGLD_CHECK(x, SGLD_ERR_NOMEM, "embed: out of memory for %zu draws", n);
    for (size_t i = 0; i < n; i++) x[i] = rep->draws[i];
    sgld_diag_ws *ws = NULL;
    sgld_status st = sgld_diag_ws_create(rep->n_chains, rep->n_draws, &ws);
    sgld_diag_summary s;
    if (st == SGLD_OK) sgld_diag_summarize(ws, x, &s, NULL);
    sgld_diag_ws_destroy(&ws);
    free(x);
    if (st != SGLD_OK) return st;
    fig[F_MEAN] = s.mean;
    fig[F_SD] = s.sd;
    fig[F_MCSE_MEAN] = s.mcse_mean;
    fig[F_MCSE_SD] = s.mcse_sd;
    fig[F_ESS] = s.ess_mean;
    return SGLD_OK;
}

/* Runs one group's chains on comm (collective over comm) and, on its rank 0, fills fig. */
static sgld_status run_group(MPI_Comm comm, int group, double *fig)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    fig[F_GROUP] = group;
    fig[F_RANKS] = size;

    sgld_config cfg;
    sgld_status st = configure(&cfg, size, group); /* one chain per rank */
    sgld_run_report rep;
    memset(&rep, 0, sizeof rep);
    if (st == SGLD_OK) st = sgld_run(comm, &cfg, 1, &rep);
    if (st == SGLD_OK && rank == 0) st = closed_form(fig);
    if (st == SGLD_OK && rank == 0) st = summarize(&rep, fig);
    sgld_run_report_free(&rep);
    return st;
}

static int check(const double *f)
{
    return fabs(f[F_MEAN] - f[F_EXACT_MEAN]) <= TOL_MCSE * f[F_MCSE_MEAN] &&
           fabs(f[F_SD] - f[F_SGLD_SD]) <= TOL_MCSE * f[F_MCSE_SD];
}

static void report(const double *f)
{
    printf("embed: group %d (%d rank%s, seed %d): gauss-mean on %s (N = %.0f), %d chain%s x %d "
           "draws\n", (int)f[F_GROUP], (int)f[F_RANKS], f[F_RANKS] == 1 ? "" : "s",
           1 + (int)f[F_GROUP], DATA, f[F_N], (int)f[F_RANKS], f[F_RANKS] == 1 ? "" : "s",
           STEPS - BURNIN);
    if (f[F_STATUS] != SGLD_OK) {
        printf("  failed: %s\n", sgld_strerror((sgld_status)f[F_STATUS]));
        return;
    }
    const double dm = f[F_MEAN] - f[F_EXACT_MEAN], ds = f[F_SD] - f[F_SGLD_SD];
    printf("  mean  %.6f, exact posterior %.6f: off by %+.6f = %+.2f MCSE (MCSE %.6f, ESS %.0f): %s\n",
           f[F_MEAN], f[F_EXACT_MEAN], dm, dm / f[F_MCSE_MEAN], f[F_MCSE_MEAN], f[F_ESS],
           fabs(dm) <= TOL_MCSE * f[F_MCSE_MEAN] ? "ok" : "MISMATCH");
    printf("  sd    %.6f, SGLD's stationary %.6f (the posterior's %.6f x %.3f, step size and "
           "minibatch noise): off by %+.2f MCSE: %s\n",
           f[F_SD], f[F_SGLD_SD], f[F_EXACT_SD], f[F_SGLD_SD] / f[F_EXACT_SD], ds / f[F_MCSE_SD],
           fabs(ds) <= TOL_MCSE * f[F_MCSE_SD] ? "ok" : "MISMATCH");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    /* Every rank registers, in the same order, before any configuration is made. */
    sgld_status st = sgld_model_register(&gauss_mean);

    const int n_groups = size >= 2 ? 2 : 1, group = rank % n_groups;
    MPI_Comm comm;
    MPI_Comm_split(MPI_COMM_WORLD, group, rank, &comm);
    int group_rank;
    MPI_Comm_rank(comm, &group_rank);

    double fig[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) fig[i] = NAN;
    if (st == SGLD_OK) st = run_group(comm, group, fig);
    if (st != SGLD_OK && group_rank == 0) fprintf(stderr, "embed: group %d: %s\n", group, sgld_error_message());
    fig[F_STATUS] = st;
    MPI_Comm_free(&comm);

    /* Rank 0 reports the figures of each group's rank 0, which is world rank g for group g. */
    double *all = NULL;
    if (rank == 0 && !(all = malloc((size_t)size * F_COUNT * sizeof *all))) {
        fprintf(stderr, "embed: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Gather(fig, F_COUNT, MPI_DOUBLE, all, F_COUNT, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    int failed = 0;
    if (rank == 0) {
        for (int g = 0; g < n_groups; g++) {
            report(all + g * F_COUNT);
            failed |= all[g * F_COUNT + F_STATUS] != SGLD_OK || !check(all + g * F_COUNT);
        }
        printf("embed: %s\n", failed ? "FAILED" : "every group agrees with the closed form");
    }
    free(all);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
