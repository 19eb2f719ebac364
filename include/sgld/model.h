/* model.h - models: a table of types (vtables) and an instance with its parameter layout.
 *
 * All parameters of a model live in one flat float vector theta (one allreduce per step);
 * `vars` says how it splits into the named tensors written to the sample file.  Every model
 * has the same prior: N(0, prior_sd^2) on every weight and bias.
 *
 * Adding a model is one file in src/model/ defining a `const sgld_model_type`, one line in
 * the registry table of src/model/model_registry.c, and its cases in
 * tests/model/test_model_conformance.c and tests/model/test_gradcheck.c (which fail for a
 * registered model without one); a model outside the library is a plug-in that registers its
 * type (sgld_model_register, sgld/plugin.h; tools/examples/poisson.c). */
#ifndef SGLD_MODEL_H
#define SGLD_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/rng.h"
#include "sgld/status.h"

#define SGLD_MODEL_MAX_VARS 16
#define SGLD_MODEL_MAX_DIMS 4

typedef struct sgld_param_var {
    char name[32];                  /* "w", "b", ... */
    size_t offset;                  /* first element in theta */
    size_t size;                    /* elements */
    int n_dims;
    int64_t dims[SGLD_MODEL_MAX_DIMS];
    char dim_names[SGLD_MODEL_MAX_DIMS][32]; /* "feature", "class", ... */
    int save;                       /* written to the sample file (default 1) */
    double prior_sd;                /* N(0, prior_sd^2) on this tensor; 0 = the model's prior_sd */
} sgld_param_var;

typedef struct sgld_model sgld_model;

#define SGLD_KFAC_MAX_LAYERS 16

/* K-FAC statistics of a network's dense and conv layers (for the ksgld sampler), owned by the
 * model (m->impl).  Layer l's weights and bias form the matrix W~ = [W | b] of n_g[l] rows
 * (outputs; conv: output channels) and n_a[l] columns (inputs, conv: c k k, then 1 for the
 * bias): W~[o][j] = theta[w_off + o (n_a - 1) + j] for j < n_a - 1, theta[b_off + o] for the
 * last column.  While `collect` is set, every loglik_grad call leaves in A[l] ([n_a][n_a],
 * row-major) the mean over its rows of a a^T (a = the layer's input with a trailing 1; conv:
 * the im2col patches, averaged over the output positions) and in G[l] ([n_g][n_g]) the mean
 * of g g^T (g = d log p(y~ | x) / d the layer's pre-activation output at one target y~ per
 * row drawn from the model's predictive distribution, Martens & Grosse 2015; conv: summed
 * over the positions, Grosse & Martens 2016), sets n_rows = n and then `fresh` = 1 (also for
 * n = 0: a shard that holds none of the minibatch leaves A = G = 0); the consumer clears it.
 * Collecting costs one extra backward pass per call.  These are the statistics of this rank's
 * rows only; the target of a row is keyed by its global index (data->row_begin + row), so the
 * shards of a chain draw the targets one rank holding the whole batch would.  `work` holds
 * 2 max(n_a^2, n_g^2) doubles and `tri` n_tri floats of scratch for the consumer
 * (factorizations; every layer's A then G as packed lower triangles, row i's i + 1 entries:
 * n_tri = sum_l n_a (n_a + 1) / 2 + n_g (n_g + 1) / 2). */
typedef struct sgld_kfac {
    int n_layers;
    int n_a[SGLD_KFAC_MAX_LAYERS], n_g[SGLD_KFAC_MAX_LAYERS];
    size_t w_off[SGLD_KFAC_MAX_LAYERS], b_off[SGLD_KFAC_MAX_LAYERS];
    float *A[SGLD_KFAC_MAX_LAYERS], *G[SGLD_KFAC_MAX_LAYERS];
    double *work;
    float *tri;
    size_t n_tri;
    int collect;         /* set by the consumer */
    int fresh;           /* set by loglik_grad after collecting, cleared by the consumer */
    size_t n_rows;       /* rows of the last collecting call (the A, G above are means over them) */
    double n_train;      /* rows of the whole training set (set by the consumer) */
} sgld_kfac;

typedef struct sgld_model_type {
    const char *name;
    const char *description;
    int classification;  /* the type's task without --task: 1 = targets are class indices */
    int any_task;        /* 1: --task chooses regression or classification (mlp); 0: only the
                          * task above (a model's own task is sgld_model_task, and an
                          * instance's is sgld_model.classification, never this flag alone) */
    int n_classes;       /* classes the model requires (2 for logreg), 0 = any / n/a */
    /* Its options: n_options rows parsed into a struct of options_size bytes (NULL, 0, 0:
     * none), read back with sgld_config_opts(cfg, m->type); --help-model NAME lists them. */
    const sgld_option *options;
    size_t n_options, options_size;
    /* Optional: checks that span options, once every source is applied (see
     * sgld_sampler_type.check).  Called only when this model is chosen. */
    sgld_status (*check)(const sgld_config *cfg, const void *opts, const sgld_option_where *w);
    /* Fills n_params and vars from m->d, m->n_classes and the options in cfg (the run's and
     * its own); sets m->noise_sd when it has a Gaussian likelihood of fixed variance; may
     * allocate m->impl (its workspace: activations etc.), freed by destroy. */
    sgld_status (*setup)(sgld_model *m, const sgld_config *cfg);
    /* Optional: frees m->impl. */
    void (*destroy)(sgld_model *m);
    /* Optional: initial parameters from the chain's stream (NULL: N(0, 0.1^2) each). */
    void (*init_params)(const sgld_model *m, const sgld_rng *r, float *theta);
    /* Sum over the n local rows `rows` of log p(y | x, theta); adds its gradient with
     * respect to theta into grad (n_params floats).  No allocation (workspaces live in
     * m->impl, sized by setup). */
    double (*loglik_grad)(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad);
    /* Per-row predictive output for n rows of x ([n][d]): regression: the mean and the
     * variance of the Gaussian likelihood (out[n][2]: noise_sd^2, or a heteroscedastic
     * network's own); classification: class probabilities (out[n][K], K = max(2, n_classes)). */
    void (*predict)(const sgld_model *m, const float *theta, const float *x, size_t n,
                    double *out);
    /* Optional (regression models whose likelihood is not the Gaussian of predict's mean and
     * variance, e.g. counts): log p(y_i | x_i, theta) of each of n rows of x ([n][d]) with
     * targets y ([n]) into out[n], the same density loglik_grad sums.  The test log-likelihood
     * of sgld-dist's run and of sgld-ess predict is then the mixture of these densities over
     * the draws (log-mean-exp) instead of the Gaussian one; the RMSE and the interval
     * coverages stay those of predict's mean and variance.  No allocation. */
    void (*loglik_rows)(const sgld_model *m, const float *theta, const float *x, const float *y,
                        size_t n, double *out);
    /* Optional: refuses data the likelihood cannot take (a count model's negative or fractional
     * targets): returns SGLD_OK, or SGLD_ERR_USAGE with one line naming the row
     * (sgld_data_row_where: the file and its line or row), the column and the value of the
     * first bad row of `data` (this rank's rows: a training shard, or a whole test set).
     * Called after setup on every set the model will read: sgld-dist's training and test data,
     * sgld-ess predict's --data (not its --ood inputs, whose targets are not read).  Not
     * collective (the callers agree the status). */
    sgld_status (*check_data)(const sgld_model *m, const sgld_dataset *data);
    /* Optional (networks; NULL elsewhere): predict with dropout on, one fresh mask per row (MC
     * dropout): row i of x is row row0 + i of the caller's numbering and takes mask number
     * `mask` of draw `draw` from the stream r (the keying: sgld_net_predict_dropout in
     * sgld/net.h).  The same outputs as predict otherwise.  No allocation. */
    void (*predict_dropout)(const sgld_model *m, const float *theta, const float *x, size_t n,
                            const sgld_rng *r, uint32_t draw, uint32_t row0, uint32_t mask, double *out);
    /* Optional (networks; NULL elsewhere): the number of dropout layers (dropP in --net, any
     * rate); *units (may be NULL) receives their outputs per row summed. */
    int (*dropout_layers)(const sgld_model *m, size_t *units);
    /* Optional (networks; NULL elsewhere): sum over the n rows of x ([n][d]) with targets y of
     * log p(y | x, theta), and its gradient with respect to x into dx ([n][d], overwritten):
     * what FGSM-style adversarial evaluation needs.  Dropout off.  No allocation. */
    double (*loglik_grad_input)(const sgld_model *m, const float *theta, const float *x,
                                const float *y, size_t n, float *dx);
    /* Optional (networks; NULL elsewhere): the model's K-FAC statistics (see sgld_kfac),
     * allocated on the first call (before any work); collection starts off.  Errors:
     * SGLD_ERR_NOMEM, SGLD_ERR_USAGE (more than SGLD_KFAC_MAX_LAYERS layers). */
    sgld_status (*kfac)(const sgld_model *m, sgld_kfac **out);
    /* Optional (networks; NULL elsewhere): flops of one row's forward pass (2 per
     * multiply-add, GEMMs only), for throughput reports; 0 when unknown. */
    double (*forward_flops)(const sgld_model *m);
} sgld_model_type;

struct sgld_model {
    const sgld_model_type *type;
    int classification;  /* this instance's task (sgld_model_task): 1 = class targets */
    int d;               /* features */
    int n_classes;       /* K (classification) or 0 */
    double noise_sd;     /* known noise sd of a Gaussian likelihood */
    double prior_sd;     /* N(0, prior_sd^2) prior on every parameter */
    size_t max_rows;     /* most rows one call may pass (the workspace of a network model) */
    size_t n_params;
    int n_vars;
    sgld_param_var vars[SGLD_MODEL_MAX_VARS];
    void *impl;          /* the type's own data (NULL for the linear models) */
};

/* The registered type called name, or NULL.  Not collective. */
const sgld_model_type *sgld_model_find(const char *name);

/* Writes the registered names ("linreg, logreg, ...") into buf.  Not collective. */
void sgld_model_names(char *buf, size_t size);

/* Number of registered models, and the i-th in table order (NULL when i is out of range):
 * for conformance tests that loop over the registry.  Not collective. */
size_t sgld_model_count(void);
const sgld_model_type *sgld_model_at(size_t i);

/* Registers t (which must outlive every use: a static object) after the built-in models, so
 * that --model, --help-model, sgld-ess predict and the conformance suite see it and its
 * option rows join sgld-dist's.  Call before sgld_config_parse, on every rank, in the same
 * order.  Not collective, not thread-safe.  Errors: SGLD_ERR_ARG (no setup, loglik_grad or
 * predict; option rows outside options_size; a name that is not 1-63 letters, digits, '-',
 * '_'), SGLD_ERR_EXISTS (the name is taken), SGLD_ERR_NOMEM (too many registered). */
sgld_status sgld_model_register(const sgld_model_type *t);

/* The task of a model of type t under cfg's --task ("" = the type's own): *classification
 * = 1 for class targets, 0 for a real target.  SGLD_ERR_USAGE (one line naming --task and the
 * value) when t cannot do the task asked for: cnn, logreg and softmax are classifiers,
 * linreg a regression; mlp does both (default regression).  Not collective. */
sgld_status sgld_model_task(const sgld_model_type *t, const sgld_config *cfg, int *classification);

/* Initializes m for type t on data with d features and n_classes classes, with the model
 * options of cfg (its own, prior_sd, --task, ...), for calls of at most --batch-size rows.
 * Release with sgld_model_finalize.  Not collective. */
sgld_status sgld_model_init(sgld_model *m, const sgld_model_type *t, int d, int n_classes,
                            const sgld_config *cfg);

/* sgld_model_init for calls (loglik_grad, predict) of at most max_rows rows: the workspace a
 * network model allocates, whatever --batch-size the configuration says (prediction streams
 * its own blocks of rows).  max_rows >= 1.  Not collective. */
sgld_status sgld_model_init_rows(sgld_model *m, const sgld_model_type *t, int d, int n_classes,
                                 const sgld_config *cfg, size_t max_rows);

/* Frees what init allocated (the type's impl).  NULL-safe, idempotent.  Not collective. */
void sgld_model_finalize(sgld_model *m);

/* Adds a variable to m's layout (used by setup functions); dims_names may be NULL.
 * Not collective. */
sgld_status sgld_model_add_var(sgld_model *m, const char *name, int n_dims, const int64_t *dims,
                               const char *const *dim_names);

/* A setup function for linear predictors: layout w [feature] then b (scalar).  Not collective. */
sgld_status sgld_model_setup_linear(sgld_model *m, const sgld_config *cfg);

/* Log prior (up to nothing: the full normalized Gaussian log density) of theta; adds its
 * gradient into grad when grad != NULL.  Not collective. */
double sgld_model_log_prior(const sgld_model *m, const float *theta, float *grad);

/* The same log prior, and grad[i] = (float)(scale sum[i]) + the prior's gradient (rounded as
 * `grad[i] = (float)(scale sum[i])` followed by sgld_model_log_prior), in one pass over the
 * parameters: the step's N/B-scaled minibatch sum and its prior.  Not collective. */
double sgld_model_log_prior_scaled(const sgld_model *m, const float *theta, double scale, const float *sum,
                                   float *grad);

/* 1, with *prec = 1 / prior_sd^2, when every parameter has the model's one prior
 * N(0, prior_sd^2) (no tensor has its own sd); else 0.  Not collective. */
int sgld_model_prior_single(const sgld_model *m, double *prec);

/* That one prior's log density at a theta whose sum of squares is ss (the value
 * sgld_model_log_prior returns for it, up to the order of the sum).  Not collective. */
double sgld_model_log_prior_sumsq(const sgld_model *m, double ss);

/* Initial parameters from the chain's stream (purpose INIT): the type's init_params, or
 * N(0, 0.1^2) per element.  Not collective. */
void sgld_model_init_params(const sgld_model *m, const sgld_rng *r, float *theta);

/* The name of element e (row-major) of tensor v, ArviZ style: "b", "w[3]", "w[2,1]"
 * (zero-based), into buf (size > 0 bytes; truncated to fit).  Not collective. */
void sgld_model_elem_name(const sgld_param_var *v, size_t e, char *buf, size_t size);

/* Outputs per row of predict: 2 for regression (mean, variance), max(2, n_classes) for
 * classification (m->classification).  Not collective. */
int sgld_model_n_outputs(const sgld_model *m);

/* ---- the gradient check (src/model/gradcheck.c; sgld-dist --check-gradient) ----
 *
 * loglik_grad's gradient and sgld_model_log_prior's against central differences of their
 * double values, at n_points parameter points on real rows of the data:
 *   point k    chain k's initialization: sgld_model_init_params on the stream (seed, k) (the
 *              points a run starts from; a network at its prior's scale, sd 1 per weight, is
 *              far from where it is used and its log-likelihood can change by orders of
 *              magnitude within a step)
 *   rows       min(batch_rows, n_total, m->max_rows) global rows drawn uniformly (with
 *              replacement) from the stream (seed, k), purpose BATCH, step 1, element i: the
 *              same rows whatever the number of shards; each rank sums its own and an
 *              MPI_Allreduce adds them up over comm
 *   elements   every element of a tensor of at most SGLD_GRADCHECK_ELEMS, else that many
 *              drawn from the stream (seed, k), purpose INIT, step 1
 *   quotient   D(h) = (f(theta + h e_j) - f(theta - h e_j)) / (2 h), theta_j +- h rounded to
 *              float and the division by the float difference exact, at h = h0 2^(3 - l),
 *              l = 0 .. 15: from 8 h0 to h0 / 4096, h0 = cbrt(FLT_EPSILON) max(1, |theta_j|)
 *              (the step where a float value's truncation h^2 f''' / 6 and rounding
 *              FLT_EPSILON |f| / h balance); levels 8 .. 15 only for an element that levels
 *              0 .. 7 leave above tol / 4
 *   error      the least over the levels of |g - D(h)| / max(|g|, |D(h)|, floor): the gradient
 *              is judged at the step where the quotient agrees with it best, because no one
 *              step serves every element (truncation spoils the large steps, rounding the
 *              small ones, and a ReLU or max-pool kink within h of theta_j every step above its
 *              distance); floor = 4 FLT_EPSILON^(2/3) G / tol, G the tensor's largest |D(h0)|
 *              at the point: a float quotient resolves an element to about 1e-4 of G at best,
 *              so an element far below G passes when |g - D| < 4 FLT_EPSILON^(2/3) G; a
 *              non-finite gradient or value counts as infinite
 * An element fails when its error exceeds tol.  tol = 1e-2 (--check-gradient-tol's default)
 * is above what correct float gradients show (the quotient's truncation ~1e-5 and a float
 * value's rounding ~1e-4 relative at the best step, the gradient's own float sum n
 * FLT_EPSILON ~1e-5 at n = 100 rows: the linear models and smooth networks measure <= 5e-4
 * over 30 points) and far below what a wrong one shows (a wrong factor, sign or missing term
 * is off by O(1) relative at every step).  Kinks are the limit: a kink closer than h0 / 4096
 * leaves up to half the jump of its slope in every quotient (a ReLU network on 100 rows
 * measures up to ~1e-2 at rare elements), and with many rows a ReLU or max-pool network has
 * one near almost every point of a convolution filter; check such networks on few rows
 * (batch_rows 10).  Models with dropout layers are refused: their log-likelihood draws a
 * new mask at every call.  The cost is 16 to 32 loglik_grad calls of batch_rows rows per
 * checked element and point. */

#define SGLD_GRADCHECK_ELEMS 24
#define SGLD_GRADCHECK_ROWS (2 * SGLD_MODEL_MAX_VARS)

typedef struct sgld_gradcheck_options {
    int n_points;        /* >= 1 */
    double tol;          /* > 0 */
    int64_t batch_rows;  /* rows per point (>= 1; fewer when the data or m->max_rows have fewer) */
    uint32_t seed;
} sgld_gradcheck_options;

/* One row of the report: one tensor of one term. */
typedef struct sgld_gradcheck_row {
    char term[8];        /* "loglik" or "prior" */
    char var[32];        /* the tensor's name */
    size_t size;         /* its elements */
    int64_t n_checked;   /* element checks over all points */
    double worst;        /* the largest relative error */
    char at[64];         /* its element, "w[3]" */
    int point;           /* and point */
    double analytic, numeric; /* the gradient and the difference quotient there */
} sgld_gradcheck_row;

typedef struct sgld_gradcheck_report {
    char model[64], source[256]; /* what was checked: the model's name, the data's source */
    int n_points;
    int64_t n_rows;      /* rows per point */
    double tol;
    int n_rows_table;    /* rows of the table: loglik per tensor, then prior per tensor */
    sgld_gradcheck_row row[SGLD_GRADCHECK_ROWS];
    double worst;        /* over the table */
    int failed;          /* 1: some error exceeds tol */
} sgld_gradcheck_report;

/* Checks m's loglik_grad on the rows of `data` (each rank of comm holds one shard of it, every
 * row exactly once: a chain's ranks) and sgld_model_log_prior at opt->n_points points (above)
 * and fills *rep; a failed check is rep->failed = 1 with SGLD_OK.  Collective over comm: every
 * rank returns the same status and report.  Errors: SGLD_ERR_USAGE (a model with dropout
 * layers), SGLD_ERR_ARG (bad options), SGLD_ERR_NOMEM. */
sgld_status sgld_model_check_gradient(MPI_Comm comm, const sgld_model *m, const sgld_dataset *data,
                                      const sgld_gradcheck_options *opt, sgld_gradcheck_report *rep);

/* Prints rep as a table (term, variable, elements, checks, worst relative error, where) and a
 * closing line: "passed" or one "FAILED" line per failing row with the analytic gradient and
 * the quotient.  Not collective (rank 0 prints). */
void sgld_model_gradcheck_print(FILE *f, const sgld_gradcheck_report *rep);

#endif
