/* test_checkpoint.c - the checkpoint file: round trip, the previous generation, every way a
 * file can be bad (missing, not a checkpoint, other version, truncated at each region,
 * corrupted in each region), configuration mismatch naming the key, a failed write leaving the
 * old file untouched, and CRC-32 against zlib's published check value. */
#include "sgld_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sgld/checkpoint.h"

enum { CHAINS = 3, P = 5, NS = 7 };

static char path[1024];

static void fill(sgld_checkpoint *ck, char *config, float *data, float base)
{
    memset(ck, 0, sizeof *ck);
    ck->config = config;
    ck->config_hash = sgld_checkpoint_hash(config);
    ck->step = 12345;
    ck->n_draws = 678;
    ck->n_chains = CHAINS;
    ck->n_shards = 2;
    ck->n_params = P;
    ck->state_size = NS;
    for (int i = 0; i < CHAINS * (P + NS); i++) data[i] = base + 0.37f * (float)i - 1.5f;
    ck->data = data;
}

static char *slurp(const char *p, long *n)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*n + 1);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static void spit(const char *p, const char *b, long n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

static void set_path(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", sgld_test_tmpdir(), name);
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(sgld_checkpoint_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = sgld_checkpoint_crc32(0, "1234", 4);
    assert_int_equal(sgld_checkpoint_crc32(c, "56789", 5), 0xCBF43926u);
}

static void test_round_trip_and_generations(void **state)
{
    (void)state;
    set_path("rt.ckpt");
    char config[] = "model = \"linreg\"\nseed = 7\nstep-size = 0.0001\n";
    float data[CHAINS * (P + NS)], data2[CHAINS * (P + NS)];
    sgld_checkpoint ck, back;
    fill(&ck, config, data, 0.25f);
    assert_int_equal(sgld_checkpoint_save(path, &ck), SGLD_OK);
    assert_int_equal(sgld_checkpoint_load(path, &back), SGLD_OK);
    assert_int_equal(back.step, 12345);
    assert_int_equal(back.n_draws, 678);
    assert_int_equal(back.n_chains, CHAINS);
    assert_int_equal(back.n_shards, 2);
    assert_int_equal(back.n_params, P);
    assert_int_equal(back.state_size, NS);
    assert_string_equal(back.config, config);
    assert_memory_equal(back.data, data, sizeof data);
    sgld_checkpoint_free(&back);
    assert_null(back.data);

    /* A second save keeps the first as .prev and leaves no temporary file. */
    fill(&ck, config, data2, 9.5f);
    ck.step = 20000;
    assert_int_equal(sgld_checkpoint_save(path, &ck), SGLD_OK);
    char prev[1100], tmp[1100];
    snprintf(prev, sizeof prev, "%s.prev", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(sgld_checkpoint_load(path, &back), SGLD_OK);
    assert_int_equal(back.step, 20000);
    assert_memory_equal(back.data, data2, sizeof data2);
    sgld_checkpoint_free(&back);
    assert_int_equal(sgld_checkpoint_load(prev, &back), SGLD_OK);
    assert_int_equal(back.step, 12345);
    assert_memory_equal(back.data, data, sizeof data);
    sgld_checkpoint_free(&back);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

/* Every failure: the message names the file and the problem; the code is IO or PARSE. */
static void expect_load_error(const char *p, sgld_status code, const char *needle)
{
    sgld_checkpoint back;
    assert_int_equal(sgld_checkpoint_load(p, &back), code);
    if (!strstr(sgld_error_message(), needle) || !strstr(sgld_error_message(), p))
        fail_msg("message '%s' lacks '%s' or the path", sgld_error_message(), needle);
    assert_null(back.data);
    assert_null(back.config);
}

static void test_bad_files(void **state)
{
    (void)state;
    set_path("bad.ckpt");
    char config[] = "seed = 3\nsampler = \"sgld\"\n";
    float data[CHAINS * (P + NS)];
    sgld_checkpoint ck;
    fill(&ck, config, data, 1.75f);
    assert_int_equal(sgld_checkpoint_save(path, &ck), SGLD_OK);
    long n;
    char *good = slurp(path, &n);
    char bad[1100];
    snprintf(bad, sizeof bad, "%s/broken.ckpt", sgld_test_tmpdir());

    expect_load_error("/nonexistent/dir/x.ckpt", SGLD_ERR_IO, "cannot open");
    spit(bad, "hello world, not a checkpoint at all, but long enough to have a header......"
              "..............", 90);
    expect_load_error(bad, SGLD_ERR_PARSE, "not an sgld-dist checkpoint");
    spit(bad, good, 0);
    expect_load_error(bad, SGLD_ERR_PARSE, "not an sgld-dist checkpoint");
    /* Truncated in the header, in the configuration, in the payload, in the trailer. */
    long cuts[] = {40, 80 + 5, n - 30, n - 2};
    const char *what[] = {"truncated: 40 bytes", "truncated", "truncated", "truncated"};
    for (int i = 0; i < 4; i++) {
        spit(bad, good, cuts[i]);
        expect_load_error(bad, SGLD_ERR_PARSE, what[i]);
    }
    /* One flipped bit in the header, the configuration, the payload, the trailer. */
    long flips[] = {30, 80 + 2, n - 9, n - 1};
    const char *fwhat[] = {"corrupted header", "CRC-32 mismatch", "CRC-32 mismatch", "CRC-32 mismatch"};
    for (int i = 0; i < 4; i++) {
        char *c = malloc((size_t)n);
        memcpy(c, good, (size_t)n);
        c[flips[i]] ^= 0x10;
        spit(bad, c, n);
        expect_load_error(bad, SGLD_ERR_PARSE, fwhat[i]);
        free(c);
    }
    /* Bytes appended. */
    char *longer = malloc((size_t)n + 3);
    memcpy(longer, good, (size_t)n);
    memcpy(longer + n, "xyz", 3);
    spit(bad, longer, n + 3);
    expect_load_error(bad, SGLD_ERR_PARSE, "corrupted");
    free(longer);
    /* Another version (header checksum recomputed, so only the version is wrong). */
    char *v2 = malloc((size_t)n);
    memcpy(v2, good, (size_t)n);
    v2[8] = 2;
    uint32_t h = sgld_checkpoint_crc32(0, v2, 72);
    for (int i = 0; i < 4; i++) v2[72 + i] = (char)(h >> (8 * i));
    spit(bad, v2, n);
    expect_load_error(bad, SGLD_ERR_PARSE, "format version 2");
    free(v2);
    free(good);
}

static void test_failed_save_keeps_old(void **state)
{
    (void)state;
    set_path("keep.ckpt");
    char config[] = "seed = 3\n";
    float data[CHAINS * (P + NS)];
    sgld_checkpoint ck;
    fill(&ck, config, data, 2.0f);
    assert_int_equal(sgld_checkpoint_save(path, &ck), SGLD_OK);
    /* A directory where the temporary file must go makes the write fail before the rename. */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0755), 0);
    ck.step = 99;
    assert_int_equal(sgld_checkpoint_save(path, &ck), SGLD_ERR_WRITE);
    assert_non_null(strstr(sgld_error_message(), tmp));
    rmdir(tmp);
    sgld_checkpoint back;
    assert_int_equal(sgld_checkpoint_load(path, &back), SGLD_OK);
    assert_int_equal(back.step, 12345);
    sgld_checkpoint_free(&back);
    assert_int_equal(sgld_checkpoint_save("/nonexistent/dir/x.ckpt", &ck), SGLD_ERR_WRITE);
}

static void test_config_text_and_match(void **state)
{
    (void)state;
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    char *a = NULL, *b = NULL;
    assert_int_equal(sgld_checkpoint_config(&cfg, &a), SGLD_OK);
    assert_non_null(strstr(a, "seed = 1\n"));
    assert_non_null(strstr(a, "step-size = "));
    assert_null(strstr(a, "output"));
    assert_null(strstr(a, "flush-every"));
    assert_null(strstr(a, "checkpoint"));
    assert_null(strstr(a, "["));
    /* Output and control options do not change the chain. */
    snprintf(cfg.output, sizeof cfg.output, "elsewhere.h5");
    cfg.flush_draws = 7;
    cfg.quiet = 1;
    cfg.checkpoint_every = 5;
    assert_int_equal(sgld_checkpoint_config(&cfg, &b), SGLD_OK);
    assert_string_equal(a, b);
    sgld_free(b);

    float data[CHAINS * (P + NS)];
    sgld_checkpoint ck;
    fill(&ck, a, data, 0.0f);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, a, CHAINS, 2, P, NS), SGLD_OK);
    cfg.seed = 2;
    assert_int_equal(sgld_checkpoint_config(&cfg, &b), SGLD_OK);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, b, CHAINS, 2, P, NS), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "seed = 1 in the checkpoint but 2 now"));
    sgld_free(b);
    cfg.seed = 1;
    cfg.step_size = 3e-4;
    assert_int_equal(sgld_checkpoint_config(&cfg, &b), SGLD_OK);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, b, CHAINS, 2, P, NS), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "step-size = "));
    sgld_free(b);
    /* A key only one side has (an option added since) is named too. */
    char extra[4096];
    snprintf(extra, sizeof extra, "%snew-key = 4\n", a);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, extra, CHAINS, 2, P, NS), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "new-key = (absent) in the checkpoint but 4 now"));
    /* A checkpoint of a version before an option existed (its line absent) resumes when the
     * option is at its default now, and is refused when it is not. */
    char older[4096];
    const char *line = strstr(a, "superchains = 0\n");
    assert_non_null(line);
    snprintf(older, sizeof older, "%.*s%s", (int)(line - a), a, line + strlen("superchains = 0\n"));
    sgld_checkpoint ck_old;
    fill(&ck_old, older, data, 0.0f);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck_old, a, CHAINS, 2, P, NS), SGLD_OK);
    cfg.step_size = 1e-5; /* a's */
    cfg.superchains = 2;
    assert_int_equal(sgld_checkpoint_config(&cfg, &b), SGLD_OK);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck_old, b, CHAINS, 2, P, NS), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "superchains = (absent) in the checkpoint but 2 now"));
    sgld_free(b);
    cfg.superchains = 0;
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, a, CHAINS, 4, P, NS), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "2 ranks per chain in the checkpoint but 4 now"));
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, a, CHAINS, 2, P + 1, NS), SGLD_ERR_USAGE);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, a, CHAINS + 1, 2, P, NS), SGLD_ERR_USAGE);
    assert_int_equal(sgld_checkpoint_steps(&ck), 20000);
    sgld_free(a);
}

/* A run may be lengthened on --resume (steps is not compared), except csgld's, whose cycles
 * span --steps; the summary's --max-rows is output only.  The refusal says how to start
 * afresh. */
static void test_match_steps(void **state)
{
    (void)state;
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    char *a = NULL, *b = NULL;
    float data[CHAINS * (P + NS)];
    sgld_checkpoint ck;
    assert_int_equal(sgld_checkpoint_config(&cfg, &a), SGLD_OK);
    fill(&ck, a, data, 0.0f);
    cfg.steps = 30000;
    cfg.max_rows = 0;
    assert_int_equal(sgld_checkpoint_config(&cfg, &b), SGLD_OK);
    assert_null(strstr(b, "max-rows"));
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, b, CHAINS, 2, P, NS), SGLD_OK);
    sgld_free(a);
    sgld_free(b);
    snprintf(cfg.sampler, sizeof cfg.sampler, "csgld");
    cfg.steps = 20000;
    assert_int_equal(sgld_checkpoint_config(&cfg, &a), SGLD_OK);
    fill(&ck, a, data, 0.0f);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, a, CHAINS, 2, P, NS), SGLD_OK);
    cfg.steps = 30000;
    assert_int_equal(sgld_checkpoint_config(&cfg, &b), SGLD_OK);
    assert_int_equal(sgld_checkpoint_match("c.ckpt", &ck, b, CHAINS, 2, P, NS), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "steps = 20000 in the checkpoint but 30000 now: it is another "
                                                 "chain, since csgld's cycles span --steps"));
    assert_non_null(strstr(sgld_error_message(), "start afresh: without --resume"));
    sgld_free(a);
    sgld_free(b);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_round_trip_and_generations),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_failed_save_keeps_old),
        cmocka_unit_test(test_config_text_and_match),
        cmocka_unit_test(test_match_steps),
    };
    return sgld_test_run(argc, argv, "checkpoint", tests, sizeof tests / sizeof tests[0]);
}
