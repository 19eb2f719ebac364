/* synthetic.c - the built-in data sets (include/sgld/data.h lists them).
 *
 * Fixed data, independent of opt->seed: set `id` draws from the Philox stream with key
 * {SYNTH_SEED, id}, purpose SGLD_RNG_DATA, step 0, and row r uses the standard normals with
 * element index r * width + c, c = 0..width-1.  So any rank generates exactly its own rows, and
 * a row does not depend on how many rows or ranks there are.  Every draw is a normal; a uniform
 * is made from one as u = Phi(z) (the normal CDF), which is exactly U(0, 1).
 *
 *   linreg  (id 1, width 2)  x = -1.5 + 3 Phi(z0), y = 0.9 x - 0.7 + 0.5 z1
 *   linreg3 (id 2, width 4)  x = L (z0, z1, z2), L L' = C, C_ij = 0.8^|i-j| (Cholesky, computed),
 *                            y = x . (1, -0.5, 0.25) + 0.3 + 0.5 z3
 *   logreg  (id 3, width 3)  x = (z0, z1), y = [Phi(z2) < sigmoid(1.5 x0 - x1 + 0.5)]
 *   softmax (id 4, width 2)  y = r mod 3 (200 rows per class), x = mu_y + (z0, z1) with the
 *                            class means on a triangle, mu_k = 2 (cos t_k, sin t_k),
 *                            t_k = pi/2 + 2 pi k / 3; equal covariances, so the true posterior
 *                            is exactly a softmax-linear model. */
#include "data_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/rng.h"

#define SYNTH_SEED 0x53474c44u /* "SGLD" */
#define SYNTH_MAX_WIDTH 4
#define SYNTH_PREFIX "synthetic:"

static const double PI = 3.14159265358979323846;

static double Phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

typedef struct synth_set synth_set;
struct synth_set {
    const char *name;
    uint32_t id;
    int64_t n;
    int d, n_classes, width;
    /* One row from its `width` normals; ctx is the set's precomputed constants. */
    void (*row)(int64_t r, const double *z, const double *ctx, float *x, float *y);
};

static void linreg_row(int64_t r, const double *z, const double *ctx, float *x, float *y)
{
    double x0 = -1.5 + 3.0 * Phi(z[0]);
    x[0] = (float)x0;
    *y = (float)(0.9 * x0 - 0.7 + 0.5 * z[1]);
}

/* ctx: the lower Cholesky factor L of C, row-major 3 x 3. */
static void linreg3_row(int64_t r, const double *z, const double *L, float *x, float *y)
{
    static const double beta[3] = {1.0, -0.5, 0.25};
    double eta = 0.3 + 0.5 * z[3];
    for (int i = 0; i < 3; i++) {
        double xi = 0;
        for (int k = 0; k <= i; k++) xi += L[3 * i + k] * z[k];
        x[i] = (float)xi;
        eta += beta[i] * xi;
    }
    *y = (float)eta;
}

static void logreg_row(int64_t r, const double *z, const double *ctx, float *x, float *y)
{
    double p = 1.0 / (1.0 + exp(-(1.5 * z[0] - z[1] + 0.5)));
    x[0] = (float)z[0];
    x[1] = (float)z[1];
    *y = Phi(z[2]) < p ? 1.0f : 0.0f;
}

static void softmax_row(int64_t r, const double *z, const double *ctx, float *x, float *y)
{
    int k = (int)(r % 3);
    double t = PI / 2 + 2 * PI * k / 3;
    x[0] = (float)(2.0 * cos(t) + z[0]);
    x[1] = (float)(2.0 * sin(t) + z[1]);
    *y = (float)k;
}

static const synth_set sets[] = {
    {"linreg", 1, 1000, 1, 0, 2, linreg_row},
    {"linreg3", 2, 500, 3, 0, 4, linreg3_row},
    {"logreg", 3, 1000, 2, 2, 3, logreg_row},
    {"softmax", 4, 600, 2, 3, 2, softmax_row},
};
static const int n_sets = (int)(sizeof sets / sizeof sets[0]);

static sgld_status find_set(const char *path, const synth_set **out)
{
    const char *name = path + strlen(SYNTH_PREFIX);
    for (int i = 0; i < n_sets; i++) {
        if (strcmp(name, sets[i].name) == 0) {
            *out = &sets[i];
            return SGLD_OK;
        }
    }
    char valid[256] = "";
    size_t used = 0;
    for (int i = 0; i < n_sets; i++)
        used += (size_t)snprintf(valid + used, sizeof valid - used, "%s" SYNTH_PREFIX "%s",
                                 i ? ", " : "", sets[i].name);
    return sgld_error_set(SGLD_ERR_ARG, "unknown built-in data set '%s' (valid: %s)", path, valid);
}

/* The lower Cholesky factor of C_ij = 0.8^|i-j| (3 x 3, row-major). */
static void cholesky_ar1(double L[9])
{
    double C[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) C[3 * i + j] = pow(0.8, abs(i - j));
    memset(L, 0, 9 * sizeof *L);
    for (int j = 0; j < 3; j++) {
        double s = C[3 * j + j];
        for (int k = 0; k < j; k++) s -= L[3 * j + k] * L[3 * j + k];
        L[3 * j + j] = sqrt(s);
        for (int i = j + 1; i < 3; i++) {
            double t = C[3 * i + j];
            for (int k = 0; k < j; k++) t -= L[3 * i + k] * L[3 * j + k];
            L[3 * i + j] = t / L[3 * j + j];
        }
    }
}

static sgld_status synth_scan(const char *path, const sgld_data_options *opt,
                              const data_meta *ref, data_meta *m)
{
    const synth_set *s;
    SGLD_TRY(find_set(path, &s));
    int classification = ref ? ref->n_classes > 0 : opt->classification;
    int required = data_required_classes(opt, ref);
    SGLD_CHECK(classification == (s->n_classes > 0), SGLD_ERR_ARG,
               "%s has a %s target, but a %s target was asked for", path,
               s->n_classes ? "class" : "real-valued", classification ? "class" : "real-valued");
    SGLD_CHECK(!required || required == s->n_classes, SGLD_ERR_ARG,
               "%s has %d classes, but n_classes = %d", path, s->n_classes, required);
    SGLD_CHECK(!ref || ref->d == s->d, SGLD_ERR_ARG,
               "%s: %d feature columns, but the training data have %d", path, s->d, ref->d);
    m->n = s->n;
    m->d = s->d;
    SGLD_TRY(data_meta_default_names(m));
    if (ref) return data_meta_copy_classes(m, ref);
    if (s->n_classes) SGLD_TRY(data_meta_numeric_classes(m, s->n_classes));
    return SGLD_OK;
}

static sgld_status synth_fill(const char *path, const data_meta *m, const data_plan *plan,
                              sgld_dataset *train, sgld_dataset *test)
{
    const synth_set *s;
    SGLD_TRY(find_set(path, &s));
    double ctx[9] = {0}, z[SYNTH_MAX_WIDTH];
    if (s->row == linreg3_row) cholesky_ar1(ctx);
    sgld_rng key = {SYNTH_SEED, s->id};
    int64_t first = plan->test ? 0 : plan->begin, last = plan->test ? plan->n : plan->end;
    int64_t seen = first, k_train = 0, k_test = 0;
    for (int64_t r = first; r < last; r++) {
        enum data_route to = data_route_row(plan, r, &seen);
        if (to == ROUTE_SKIP) continue;
        sgld_dataset *ds = to == ROUTE_TRAIN ? train : test;
        int64_t k = to == ROUTE_TRAIN ? k_train++ : k_test++;
        sgld_rng_normal(&key, 0, SGLD_RNG_DATA, (uint64_t)r * (uint64_t)s->width,
                        (size_t)s->width, z);
        s->row(r, z, ctx, ds->X + k * s->d, ds->y + k);
        ds->origin[k] = r;
    }
    return SGLD_OK;
}

const data_reader data_reader_synthetic = {"synthetic", synth_scan, synth_fill};
