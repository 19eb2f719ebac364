/* test_plugin_sampler.c - the example plug-in sampler diag-sgld (tools/examples/my_sampler.c),
 * compiled into this program and registered by its sgld_plugin_init as a loader would (suite
 * 'unit' at one rank; 'mpi' at the test_ranks counts, where the runs are one chain over every
 * rank).
 *
 * Verified: registration and its refusal a second time; the option row (a chain-defining
 * FILE) and its check hook; every error of --precond-file with its exact one line (missing
 * file, FIFO, not a number, not positive or finite, out of float range, a cut word, too few
 * and too many values); the state init writes (M and sqrt M, bit for bit the file's floats; NaN
 * when the file has gone bad since prepare); a step with M = 1 bitwise sgld's at sizes that
 * hit every path of the noise generator (the tail of a chunk, whole chunks); a step with a
 * non-trivial M the update equation to float rounding; through sgld_run, M = 1 draws within
 * 1e-6 (1 + |theta|) of sgld's (measured 6e-8: sgld folds the prior into its own pass where
 * diag-sgld takes the formed gradient, so each step rounds differently by up to 2 ulps, and the
 * Gaussian target's contraction keeps that from growing), theta the same bits on every rank of
 * the chain, and --resume continuing with the M
 * in the checkpoint although the file changed (the uninterrupted run's theta bits), while a
 * fresh run with the changed file differs and a checkpoint made with another file name is
 * refused; a file that one rank cannot open stops the run on every rank with its message. */
#include "sgld_test.h"
#include "test_config_set.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sgld/config.h"
#include "sgld/model.h"
#include "sgld/plugin.h"
#include "sgld/rng.h"
#include "sgld/run.h"
#include "sgld/sampler.h"

enum { NMAX = 1000 };

/* The path of `name` in the test's directory, written into buf; returns buf. */
static const char *tmp_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%.900s/%s", sgld_test_tmpdir(), name);
    return buf;
}

/* Writes text to the test directory's file `name` (rank 0) once every rank is done with the
 * file's old text, and returns when every rank can read the new one; returns its path in buf.
 * Collective. */
static const char *write_file(const char *name, const char *text, char *buf, size_t size)
{
    tmp_path(name, buf, size);
    MPI_Barrier(MPI_COMM_WORLD);
    if (sgld_test_rank() == 0) {
        FILE *f = fopen(buf, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return buf;
}

/* n copies of "1\n". */
static const char *ones(size_t n)
{
    static char text[2 * NMAX + 1];
    for (size_t i = 0; i < n; i++) text[2 * i] = '1', text[2 * i + 1] = '\n';
    text[2 * n] = '\0';
    return text;
}

static const sgld_sampler_type *diag(void)
{
    const sgld_sampler_type *s = sgld_sampler_find("diag-sgld");
    assert_non_null(s);
    return s;
}

static void test_registered(void **state)
{
    (void)state;
    const sgld_sampler_type *s = diag();
    assert_ptr_equal(sgld_sampler_at(sgld_sampler_count() - 1), s); /* after the built-in ones */
    assert_true(s->adds_noise);
    assert_non_null(s->prepare);
    assert_int_equal((int)s->n_options, 1);
    assert_string_equal(s->options[0].name, "precond-file");
    assert_int_equal(s->options[0].chain, 1);
    assert_int_equal(sgld_config_key_defines_chain("precond-file", strlen("precond-file")), 1);
    assert_int_equal(sgld_plugin_init(), SGLD_ERR_EXISTS);
    assert_string_equal(sgld_error_message(), "sampler 'diag-sgld' is already registered");
}

static sgld_status parse(sgld_config *c, int argc, const char **argv)
{
    return sgld_config_parse(c, argc, (char **)argv);
}

static void test_options(void **state)
{
    (void)state;
    char path[SGLD_PATH_MAX];
    write_file("m4.txt", "1\n2\n3\n4\n", path, sizeof path);
    sgld_config c;
    const char *ok[] = {"sgld-dist", "--sampler", "diag-sgld", "--precond-file", path};
    assert_int_equal(parse(&c, 5, ok), SGLD_OK);
    char got[SGLD_PATH_MAX];
    assert_int_equal(sgld_config_get(&c, "precond-file", got, sizeof got), SGLD_OK);
    assert_string_equal(got, path);
    const char *missing[] = {"sgld-dist", "--sampler", "diag-sgld"};
    assert_int_equal(parse(&c, 3, missing), SGLD_ERR_USAGE);
    assert_string_equal(sgld_error_message(),
                        "--sampler diag-sgld needs --precond-file FILE (one positive number per parameter)");
    const char *empty[] = {"sgld-dist", "--sampler", "diag-sgld", "--precond-file", ""};
    assert_int_equal(parse(&c, 5, empty), SGLD_ERR_USAGE);
    const char *other[] = {"sgld-dist", "--sampler", "sgld", "--precond-file", path};
    assert_int_equal(parse(&c, 5, other), SGLD_ERR_USAGE); /* not an option of sgld */
    assert_non_null(strstr(sgld_error_message(), "precond-file"));
}

/* prepare on a linreg layout of n parameters with --precond-file path: its status, and the
 * message in msg. */
static sgld_status prepare(const char *path, size_t n, size_t *n_floats)
{
    sgld_config c;
    sgld_config_defaults(&c);
    snprintf(c.sampler, sizeof c.sampler, "diag-sgld");
    if (path) sgld_test_set(&c, "precond-file", "%s", path);
    sgld_model m;
    memset(&m, 0, sizeof m);
    m.type = sgld_model_find("linreg");
    m.n_params = n;
    size_t n_local = 99;
    *n_floats = 0;
    sgld_status st = diag()->prepare(&m, &c, 1, 100.0, n_floats, &n_local);
    if (st == SGLD_OK) assert_int_equal((int)n_local, 0);
    return st;
}

/* prepare refuses the file `text` (as name) with exactly the message want, in which "%s" is
 * replaced by the file's path. */
static void refused(const char *name, const char *text, const char *want)
{
    char path[SGLD_PATH_MAX], msg[2 * SGLD_PATH_MAX];
    write_file(name, text, path, sizeof path);
    size_t nf;
    assert_int_equal(prepare(path, 4, &nf), SGLD_ERR_USAGE);
    snprintf(msg, sizeof msg, want, path);
    assert_string_equal(sgld_error_message(), msg);
}

static void test_file_errors(void **state)
{
    (void)state;
    char path[SGLD_PATH_MAX], msg[2 * SGLD_PATH_MAX];
    size_t nf;
    /* accepted: comments, several per line, any white space, e-notation */
    write_file("good.txt", "# M for linreg\n1 2.5\n\t3e-1   # the third\n\n4\n", path, sizeof path);
    assert_int_equal(prepare(path, 4, &nf), SGLD_OK);
    assert_int_equal((int)nf, 8);
    /* no file given (a caller of sgld_run, which skips the check hook) */
    assert_int_equal(prepare(NULL, 4, &nf), SGLD_ERR_USAGE);
    assert_string_equal(sgld_error_message(),
                        "--sampler diag-sgld needs --precond-file FILE (one positive number per parameter)");
    tmp_path("absent.txt", path, sizeof path);
    assert_int_equal(prepare(path, 4, &nf), SGLD_ERR_USAGE);
    snprintf(msg, sizeof msg, "--precond-file: cannot open '%s': No such file or directory", path);
    assert_string_equal(sgld_error_message(), msg);
    tmp_path("fifo", path, sizeof path);
    if (sgld_test_rank() == 0) assert_int_equal(mkfifo(path, 0600), 0);
    MPI_Barrier(MPI_COMM_WORLD);
    assert_int_equal(prepare(path, 4, &nf), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), ": a FIFO, not a regular file"));
    refused("word.txt", "# header\n1\nabc\n4\n", "%s:3: value 2: 'abc' is not a number");
    refused("suffix.txt", "1 2\n1.5x 4\n", "%s:2: value 3: '1.5x' is not a number");
    refused("negative.txt", "1\n2\n-1\n4\n", "%s:3: value 3: '-1' is not a positive finite number");
    refused("zero.txt", "0 1 2 3\n", "%s:1: value 1: '0' is not a positive finite number");
    refused("nan.txt", "1\nnan\n", "%s:2: value 2: 'nan' is not a positive finite number");
    refused("inf.txt", "1\n2\n3\ninf\n", "%s:4: value 4: 'inf' is not a positive finite number");
    refused("huge.txt", "1\n1e39\n", "%s:2: value 2: '1e39' is not a positive finite number as a float");
    refused("tiny.txt", "1e-50\n", "%s:1: value 1: '1e-50' is not a positive finite number as a float");
    refused("long.txt", "1\n11111111111111111111111111111111111111111111111111111111111111111111\n",
            "%s:2: value 2: '1111111111111111111111111111111111111111111111111111111111111111...' is not a "
            "number");
    refused("few.txt", "1\n2\n3\n", "%s: 3 values, but model 'linreg' has 4 parameters (one per parameter)");
    refused("many.txt", "1 2 3 4 5\n", "%s: 5 values, but model 'linreg' has 4 parameters (one per parameter)");
    refused("none.txt", "# nothing\n", "%s: 0 values, but model 'linreg' has 4 parameters (one per parameter)");
}

/* A step context for n parameters (cfg's options, work of 4 n floats). */
static sgld_step_ctx context(const sgld_config *c, const sgld_sampler_type *s, size_t n, const sgld_rng *rng,
                             float *work)
{
    return (sgld_step_ctx){.n_params = n, .temperature = c->temperature, .rng = rng, .cfg = c,
                           .opts = sgld_config_opts(c, s), .work = work};
}

static void test_init_state(void **state)
{
    (void)state;
    char path[SGLD_PATH_MAX];
    write_file("m3.txt", "0.25 2\n0.1\n", path, sizeof path);
    sgld_config c;
    sgld_config_defaults(&c);
    sgld_test_set(&c, "precond-file", "%s", path);
    const sgld_sampler_type *s = diag();
    assert_int_equal((int)sgld_sampler_state_size(s, 3), 6);
    sgld_rng rng = {1, 0};
    float work[12], st[6], theta[3] = {0};
    sgld_step_ctx ctx = context(&c, s, 3, &rng, work);
    sgld_sampler_init(s, &ctx, theta, st);
    const float want[6] = {0.25f, 2.0f, 0.1f, 0.5f, sqrtf(2.0f), sqrtf(0.1f)};
    assert_memory_equal(st, want, sizeof want);
    /* the file went bad after prepare: M NaN, so the first step leaves theta non-finite */
    write_file("m3.txt", "0.25 2\n", path, sizeof path);
    sgld_sampler_init(s, &ctx, theta, st);
    for (int i = 0; i < 6; i++) assert_true(isnan(st[i]));
    ctx.step = 1;
    ctx.eps = 0.01;
    const float g[3] = {1, 2, 3};
    assert_int_equal(s->step(&ctx, theta, g, st), SGLD_OK);
    for (int i = 0; i < 3; i++) assert_false(isfinite(theta[i]));
}

/* Pseudo-random gradients and thetas that are not 0 or 1. */
static void fill(float *x, size_t n, uint64_t key, float scale)
{
    sgld_rng r = {7, (uint32_t)key};
    sgld_rng_normal_float(&r, key, SGLD_RNG_DATA, 0, n, x);
    for (size_t i = 0; i < n; i++) x[i] = scale * x[i] + 0.3f;
}

/* M = 1: every step bitwise sgld's, at sizes that take the noise generator's chunk tail (n <
 * 128, odd n) and its whole chunks (128 normals each). */
static void test_step_is_sgld(void **state)
{
    (void)state;
    const sgld_sampler_type *s = diag(), *sg = sgld_sampler_find("sgld");
    static const size_t sizes[] = {1, 2, 127, 128, 129, 256, NMAX};
    static float work[4 * NMAX], st[2 * NMAX], th_d[NMAX], th_s[NMAX], g[NMAX];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        char name[64], path[SGLD_PATH_MAX];
        snprintf(name, sizeof name, "ones-%zu.txt", n);
        write_file(name, ones(n), path, sizeof path);
        sgld_config c;
        sgld_config_defaults(&c);
        c.temperature = 1.7;
        sgld_test_set(&c, "precond-file", "%s", path);
        sgld_rng rng = {20250605, 3};
        sgld_step_ctx cd = context(&c, s, n, &rng, work), cs = context(&c, sg, n, &rng, NULL);
        fill(th_d, n, 100 + n, 2.0f);
        memcpy(th_s, th_d, n * sizeof *th_d);
        sgld_sampler_init(s, &cd, th_d, st);
        for (uint64_t t = 1; t <= 20; t++) {
            fill(g, n, t, 50.0f);
            cd.step = cs.step = t;
            cd.eps = cs.eps = sgld_step_size(3e-3, 1.0, 0.55, t);
            assert_int_equal(s->step(&cd, th_d, g, st), SGLD_OK);
            assert_int_equal(sg->step(&cs, th_s, g, NULL), SGLD_OK);
            assert_memory_equal(th_d, th_s, n * sizeof *th_d);
        }
    }
}

/* A non-trivial M: theta' = theta + (eps/2) m g + sqrt(eps T m) z with z the stream's
 * normals, computed in double, to float rounding: a few roundings of terms no larger than
 * |theta| + |(eps/2) m g| + |sqrt(eps T m) z|, so within 4 ulps (2^-21) of that sum. */
static void test_step_equation(void **state)
{
    (void)state;
    enum { N = 300 };
    char text[N * 16], path[SGLD_PATH_MAX];
    float m[N];
    size_t used = 0;
    for (int i = 0; i < N; i++) {
        m[i] = (float)(0.01 * (1 + (i * 37) % 400)); /* 0.01 .. 4 */
        used += (size_t)snprintf(text + used, sizeof text - used, "%.9g\n", (double)m[i]);
    }
    write_file("m300.txt", text, path, sizeof path);
    sgld_config c;
    sgld_config_defaults(&c);
    c.temperature = 0.6;
    sgld_test_set(&c, "precond-file", "%s", path);
    const sgld_sampler_type *s = diag();
    sgld_rng rng = {11, 2};
    float work[4 * N], st[2 * N], theta[N], before[N], g[N], z[N];
    sgld_step_ctx ctx = context(&c, s, N, &rng, work);
    fill(theta, N, 1, 1.5f);
    sgld_sampler_init(s, &ctx, theta, st);
    double worst = 0;
    for (uint64_t t = 1; t <= 5; t++) {
        fill(g, N, 10 + t, 20.0f);
        memcpy(before, theta, sizeof theta);
        ctx.step = t;
        ctx.eps = 0.02 / (double)t;
        assert_int_equal(s->step(&ctx, theta, g, st), SGLD_OK);
        sgld_rng_normal_fill(&rng, t, SGLD_RNG_NOISE, N, z);
        for (int i = 0; i < N; i++) {
            const double drift = 0.5 * ctx.eps * m[i] * g[i], noise = sqrt(ctx.eps * c.temperature * m[i]) * z[i];
            const double want = before[i] + drift + noise;
            const double scale = fabs(before[i]) + fabs(drift) + fabs(noise);
            worst = fmax(worst, fabs(theta[i] - want) / scale);
        }
    }
    if (sgld_test_rank() == 0) printf("  step vs its equation: worst error %.2g of the terms' size (tol 4.8e-7)\n", worst);
    assert_true(worst <= 0x1p-21);
}

/* A linreg3 run configuration (1 chain over every rank). */
static void run_config(sgld_config *c, const char *sampler, const char *precond)
{
    sgld_config_defaults(c);
    snprintf(c->sampler, sizeof c->sampler, "%s", sampler);
    snprintf(c->data, sizeof c->data, "synthetic:linreg3");
    snprintf(c->model, sizeof c->model, "linreg");
    if (precond) sgld_test_set(c, "precond-file", "%s", precond);
    c->steps = 2000;
    c->burnin = 0;
    c->batch_size = 50;
    c->step_size = 2e-5;
    c->seed = 31;
    c->quiet = 1;
}

static int same_on_all_ranks(uint64_t h)
{
    uint64_t lo, hi;
    MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

static void test_run_is_sgld(void **state)
{
    (void)state;
    char path[SGLD_PATH_MAX];
    write_file("ones-4.txt", ones(4), path, sizeof path);
    sgld_config c;
    sgld_run_report a, b;
    run_config(&c, "diag-sgld", path);
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 1, &a), SGLD_OK);
    run_config(&c, "sgld", NULL);
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 1, &b), SGLD_OK);
    assert_int_equal(a.n_shards, sgld_test_size());
    assert_true(same_on_all_ranks(a.theta_hash));
    if (sgld_test_rank() == 0) {
        assert_int_equal((int)a.n_draws, (int)b.n_draws);
        double worst = 0;
        for (size_t i = 0; i < (size_t)a.n_draws * a.draws_width; i++)
            worst = fmax(worst, fabs((double)a.draws[i] - b.draws[i]) / (1.0 + fabs((double)b.draws[i])));
        printf("  M = 1 on %d shard(s): %lld draws, worst difference from sgld's %.3g (relative to 1 + |theta|)\n",
               a.n_shards, (long long)a.n_draws, worst);
        assert_true(worst <= 1e-6);
    }
    sgld_run_report_free(&a);
    sgld_run_report_free(&b);
}

static void test_resume_keeps_m(void **state)
{
    (void)state;
    char m1[SGLD_PATH_MAX], other[SGLD_PATH_MAX], ck[SGLD_PATH_MAX], out[SGLD_PATH_MAX];
    write_file("resume-m.txt", "0.5\n2\n1.5\n0.25\n", m1, sizeof m1);
    tmp_path("resume.ckpt", ck, sizeof ck);
    tmp_path("resume.h5", out, sizeof out);
    sgld_config c;
    sgld_run_report whole, part, resumed, changed;
    run_config(&c, "diag-sgld", m1);
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 0, &whole), SGLD_OK);
    /* 1000 steps with a checkpoint, then the file changes, then --resume to 2000 */
    run_config(&c, "diag-sgld", m1);
    c.steps = 1000;
    snprintf(c.checkpoint, sizeof c.checkpoint, "%s", ck);
    snprintf(c.output, sizeof c.output, "%s", out);
    c.force = 1;
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 0, &part), SGLD_OK);
    write_file("resume-m.txt", "4\n0.125\n3\n1\n", m1, sizeof m1);
    c.steps = 2000;
    c.force = 0;
    c.resume = 1;
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 0, &resumed), SGLD_OK);
    assert_int_equal((int)resumed.first_step, 1000);
    assert_true(same_on_all_ranks(resumed.theta_hash));
    assert_true(resumed.theta_hash == whole.theta_hash);
    /* the control: the changed file does change a chain that starts afresh */
    run_config(&c, "diag-sgld", m1);
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 0, &changed), SGLD_OK);
    assert_true(changed.theta_hash != whole.theta_hash);
    /* another file name: the checkpoint is refused */
    write_file("resume-other.txt", "0.5\n2\n1.5\n0.25\n", other, sizeof other);
    run_config(&c, "diag-sgld", other);
    c.steps = 3000;
    snprintf(c.checkpoint, sizeof c.checkpoint, "%s", ck);
    snprintf(c.output, sizeof c.output, "%s", out);
    c.resume = 1;
    sgld_run_report refused;
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 0, &refused), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "precond-file"));
    if (sgld_test_rank() == 0)
        printf("  resumed at step %lld with the file changed: final theta bitwise the uninterrupted run's\n"
               "  refused with another file name: %s\n", (long long)resumed.first_step, sgld_error_message());
    sgld_run_report_free(&whole);
    sgld_run_report_free(&part);
    sgld_run_report_free(&resumed);
    sgld_run_report_free(&changed);
    sgld_run_report_free(&refused);
}

/* The file unreadable on one rank only (the last: on a one-rank run, the only one): every rank
 * returns the error, none waits in a collective for it. */
static void test_prepare_fails_on_one_rank(void **state)
{
    (void)state;
    char good[SGLD_PATH_MAX], absent[SGLD_PATH_MAX], msg[2 * SGLD_PATH_MAX];
    write_file("ones-4.txt", ones(4), good, sizeof good);
    tmp_path("on-one-rank-only.txt", absent, sizeof absent);
    const int last = sgld_test_rank() == sgld_test_size() - 1;
    sgld_config c;
    run_config(&c, "diag-sgld", last ? absent : good);
    sgld_run_report rep;
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &c, 0, &rep), SGLD_ERR_USAGE);
    snprintf(msg, sizeof msg, "--precond-file: cannot open '%s': No such file or directory", absent);
    assert_string_equal(sgld_error_message(), msg);
    sgld_run_report_free(&rep);
}

int main(int argc, char **argv)
{
    /* As a loader would: the plug-in registers its sampler before any configuration. */
    if (sgld_plugin_init() != SGLD_OK) {
        fprintf(stderr, "sgld_plugin_init: %s\n", sgld_error_message());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_init_state),
        cmocka_unit_test(test_step_is_sgld),
        cmocka_unit_test(test_step_equation),
        cmocka_unit_test(test_run_is_sgld),
        cmocka_unit_test(test_resume_keeps_m),
        cmocka_unit_test(test_prepare_fails_on_one_rank),
    };
    return sgld_test_run(argc, argv, "sampler-plugin", tests, sizeof tests / sizeof tests[0]);
}
