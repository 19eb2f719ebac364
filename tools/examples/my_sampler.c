/* my_sampler.c - an example sampler plug-in, the file to copy when writing one: `diag-sgld`,
 * SGLD (Welling & Teh, ICML 2011; src/sampler/sgld.c) with a fixed diagonal preconditioner M
 * read from a file.
 *
 *   theta <- theta + (eps_t / 2) M g + N(0, eps_t T M),   M = diag(m_1 .. m_n), m_i > 0, fixed
 *
 * This is SGLD in the coordinates theta_i / sqrt(m_i).  M does not depend on theta, so the
 * drift needs no correction term (the Gamma of a position-dependent preconditioner, Ma, Chen &
 * Fox, NeurIPS 2015, is the divergence of M: zero): the stationary law is the posterior up to
 * SGLD's O(eps) discretization and minibatch biases, which now follow the eigenvalues of
 * M^(1/2) H M^(1/2) (H the posterior precision) instead of those of H.  A good M is the
 * posterior's marginal variances (from a pilot run or a Laplace approximation): the step size
 * then becomes dimensionless and the stiff and the wide directions mix at one rate.
 *
 * With every m_i = 1 the chain is sgld's bit for bit: the same normals (elements [0, n) of the
 * chain's NOISE stream at this step, the values sgld's fused sgld_rng_normal_update uses)
 * and the same float operations in the same order (m g = g and
 * sd sqrt(m) = sd exactly).  That needs the compiler not to contract a * b + c into an FMA:
 * GCC does not under -std=c11, which the project builds with (-std=gnu11 would allow it).
 *
 * --precond-file FILE (required; it defines the chain): a text file of exactly n_params
 * numbers in the model's parameter order (the order of --output's posterior variables),
 * separated by white space (one per line is usual); `#` starts a comment to the end of the
 * line.  Each must be a positive finite number as a float.  prepare reads and checks the file
 * on every rank before the run starts, with one-line errors that name the file, the line and
 * the value; init reads it again into the state.  Every rank reads it, so it must read the same
 * on every rank (a shared file system, as for --data).
 *
 * State: M (n floats) then sqrt(M) (n floats), written by init and only read afterwards: the
 * copies of a chain hold the same bits, a checkpoint carries M, and --resume continues with
 * the M the chain started with (the option's `chain` column refuses a checkpoint made with
 * another file name; a file edited under the same name is not read on --resume).
 * Randomness: NOISE elements [0, n), as sgld.  No sample_stats.  A step allocates nothing: it
 * writes M g to ctx->work, then runs the samplers' shared building block sgld_rng_normal_axpy
 * (the normals used a chunk at a time while in L1, the per-element scale sqrt(M)): one more
 * pass over n floats than sgld.
 *
 * As a plug-in: the file includes only the public headers, defines its type as a static
 * object, and exports the two symbols sgld/plugin.h asks for (SGLD_PLUGIN_ABI and
 * sgld_plugin_init, which registers the type); its sgld_* calls resolve against the loading
 * program.  Build: tools/examples/meson.build; use: tools/examples/README.md. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/model.h"
#include "sgld/plugin.h"
#include "sgld/sampler.h"

typedef struct diag_opts {
    char precond_file[SGLD_PATH_MAX]; /* --precond-file ("" = not given) */
} diag_opts;

static const sgld_option options[] = {
    {"precond-file", SGLD_OPT_STRING, SGLD_OPTION_FIELD(diag_opts, precond_file, char *), "", "FILE", "",
     {SGLD_RANGE_NONE, 0, 0}, 1,
     "text file of the diagonal preconditioner M: one positive number per parameter, in the "
     "model's parameter order"},
};

static const sgld_sampler_type diag_sgld; /* defined at the end, after its hooks */

#define NEEDS_FILE "--sampler diag-sgld needs --precond-file FILE (one positive number per parameter)"

/* Longest number read; a longer word is reported cut. */
enum { WORD_MAX = 64 };

/* Reads the numbers of `path` and checks that there are exactly n, each a positive finite
 * float; stores them in m[0..n) unless m is NULL (a check only).  `model` names the model in
 * the count message.  Local; allocates nothing but the FILE.  Errors (SGLD_ERR_USAGE, one
 * line): "--precond-file: cannot open 'M.txt': No such file or directory",
 * "M.txt:3: value 3: 'abc' is not a number", "M.txt:3: value 3: '-1' is not a positive finite
 * number" (" as a float" when it is, but not once rounded to a float), "M.txt: 3 values, but
 * model 'linreg' has 4 parameters (one per parameter)". */
static sgld_status read_precond(const char *path, size_t n, const char *model, float *m)
{
    SGLD_TRY(sgld_input_check(path)); /* a FIFO would block the open */
    FILE *f = fopen(path, "r");
    if (!f)
        return sgld_error_set(SGLD_ERR_USAGE, "--precond-file: cannot open '%s': %s", path, strerror(errno));
    sgld_status st = SGLD_OK;
    size_t count = 0, line = 1;
    int c = getc(f);
    while (c != EOF && st == SGLD_OK) {
        if (c == '#') {
            while (c != EOF && c != '\n') c = getc(f);
            continue;
        }
        if (isspace(c)) {
            line += c == '\n';
            c = getc(f);
            continue;
        }
        char word[WORD_MAX + 1];
        size_t len = 0, full = 0;
        for (; c != EOF && !isspace(c) && c != '#'; c = getc(f), full++)
            if (len < WORD_MAX) word[len++] = (char)c;
        word[len] = '\0';
        const char *cut = full > len ? "..." : "";
        count++;
        char *end;
        const double v = strtod(word, &end);
        const float x = (float)v;
        if (end == word || *end || full > len)
            st = sgld_error_set(SGLD_ERR_USAGE, "%s:%zu: value %zu: '%s%s' is not a number", path, line, count,
                                word, cut);
        else if (!(x > 0.0f && isfinite(x))) /* also catches values a float rounds to 0 or inf */
            st = sgld_error_set(SGLD_ERR_USAGE, "%s:%zu: value %zu: '%s' is not a positive finite number%s", path,
                                line, count, word, isfinite(v) && v > 0 ? " as a float" : "");
        else if (m && count <= n)
            m[count - 1] = x;
    }
    if (st == SGLD_OK && ferror(f)) st = sgld_error_set(SGLD_ERR_USAGE, "--precond-file: cannot read '%s'", path);
    fclose(f);
    if (st == SGLD_OK && count != n)
        st = sgld_error_set(SGLD_ERR_USAGE, "%s: %zu values, but %s has %zu parameters (one per parameter)", path,
                            count, model, n);
    return st;
}

static sgld_status check(const sgld_config *cfg, const void *opts, const sgld_option_where *w)
{
    (void)cfg;
    (void)w;
    const diag_opts *o = opts;
    SGLD_CHECK(o->precond_file[0], SGLD_ERR_USAGE, NEEDS_FILE);
    return SGLD_OK;
}

static size_t state_size(size_t n_params) { return 2 * n_params; }

/* Checks the file against the model before any work: a usage error stops the run with one
 * line here, where init (void) could not. */
static sgld_status prepare(const sgld_model *m, const sgld_config *cfg, int n_shards, double n_train,
                           size_t *n_floats, size_t *n_local)
{
    (void)n_shards;
    (void)n_train;
    const diag_opts *o = sgld_config_opts(cfg, &diag_sgld);
    SGLD_CHECK(o && o->precond_file[0], SGLD_ERR_USAGE, NEEDS_FILE); /* a caller of sgld_run skips check */
    char model[SGLD_NAME_MAX + 16];
    snprintf(model, sizeof model, "model '%s'", m->type->name);
    SGLD_TRY(read_precond(o->precond_file, m->n_params, model, NULL));
    *n_floats = state_size(m->n_params);
    *n_local = 0;
    return SGLD_OK;
}

/* M and sqrt(M) into the state.  prepare has checked the file; one that no longer reads
 * (changed since) leaves M NaN, so the first step makes theta non-finite and the run loop
 * stops the run as a divergence. */
static void init(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    (void)theta;
    const size_t n = ctx->n_params;
    const diag_opts *o = ctx->opts;
    if (!o || read_precond(o->precond_file, n, "the model", state) != SGLD_OK)
        for (size_t i = 0; i < n; i++) state[i] = NAN;
    for (size_t i = 0; i < n; i++) state[n + i] = sqrtf(state[i]);
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const float *m = state, *root = state + n;
    float *mg = ctx->work;
    for (size_t i = 0; i < n; i++) mg[i] = m[i] * grad[i];
    /* theta[i] = 1 theta[i] + (half (m g)[i] + (sd sqrt(m_i)) z_i) */
    const sgld_rng_axpy op = {.b = 1.0f, .a = (float)(0.5 * ctx->eps), .sd = (float)sqrt(ctx->eps * ctx->temperature),
                              .x = mg, .s = root, .y = theta};
    sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, &op);
    return SGLD_OK;
}

static const sgld_sampler_type diag_sgld = {
    .name = "diag-sgld",
    .description = "SGLD with a fixed diagonal preconditioner from --precond-file (example plug-in)",
    .adds_noise = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(diag_opts),
    .check = check,
    .state_size = state_size,
    .prepare = prepare,
    .init = init,
    .step = step,
};

SGLD_PLUGIN_ABI;

sgld_status sgld_plugin_init(void) { return sgld_sampler_register(&diag_sgld); }
