/* test_config.c - defaults, flags, INI files, precedence, every error message, the
 * write/parse round trip and the --help text of the config module. */
#include "sgld_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "sgld/config.h"
#include "sgld/model.h"
#include "sgld/sampler.h"

/* Parses a NULL-terminated argument list (program name added). */
#define PARSE(c, ...) parse_list((c), (const char *[]){"sgld-dist", __VA_ARGS__, NULL})
#define PARSE_NONE(c) parse_list((c), (const char *[]){"sgld-dist", NULL})

static sgld_status parse_list(sgld_config *c, const char **list)
{
    char *argv[64];
    int argc = 0;
    while (list[argc]) {
        assert_true(argc < 63);
        argv[argc] = (char *)list[argc];
        argc++;
    }
    argv[argc] = NULL;
    sgld_error_clear();
    return sgld_config_parse(c, argc, argv);
}

/* Asserts a usage error with exactly this message. */
static void expect_usage(sgld_status st, const char *message)
{
    assert_int_equal(st, SGLD_ERR_USAGE);
    assert_string_equal(sgld_error_message(), message);
}

/* Writes text to <tmpdir>/name and returns its path (static buffer per slot). */
static const char *write_file(const char *name, const char *text)
{
    static char paths[4][1024];
    static int slot;
    char *path = paths[slot++ % 4];
    snprintf(path, 1024, "%s/%s", sgld_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Option `name` of c as a double (a sampler's or model's option lives in its own struct). */
static double get_double(const sgld_config *c, const char *name)
{
    char buf[64];
    assert_int_equal(sgld_config_get(c, name, buf, sizeof buf), SGLD_OK);
    return strtod(buf, NULL);
}

/* Every field but config_path. */
static void assert_same_config(const sgld_config *a, const sgld_config *b)
{
    assert_string_equal(a->model, b->model);
    assert_true(get_double(a, "noise-sd") == get_double(b, "noise-sd"));
    assert_true(a->prior_sd == b->prior_sd);
    assert_string_equal(a->data, b->data);
    assert_string_equal(a->test_data, b->test_data);
    assert_true(a->test_fraction == b->test_fraction);
    assert_int_equal(a->standardize, b->standardize);
    assert_string_equal(a->sampler, b->sampler);
    assert_int_equal(a->chains, b->chains);
    assert_int_equal(a->steps, b->steps);
    assert_int_equal(a->burnin, b->burnin);
    assert_int_equal(a->thin, b->thin);
    assert_int_equal(a->batch_size, b->batch_size);
    assert_int_equal(a->seed, b->seed);
    assert_true(a->step_size == b->step_size);
    assert_true(a->step_b == b->step_b);
    assert_true(a->step_gamma == b->step_gamma);
    assert_true(a->temperature == b->temperature);
    assert_string_equal(a->output, b->output);
    assert_int_equal(a->force, b->force);
    assert_int_equal(a->quiet, b->quiet);
    assert_int_equal(a->progress, b->progress);
    assert_int_equal(a->flush_draws, b->flush_draws);
    assert_int_equal(a->help, b->help);
    assert_int_equal(a->version, b->version);
}

static void test_defaults(void **state)
{
    (void)state;
    sgld_config c, p;
    memset(&c, 0x5a, sizeof c);
    sgld_config_defaults(&c);
    assert_string_equal(c.config_path, "");
    assert_string_equal(c.model, "linreg");
    assert_true(get_double(&c, "noise-sd") == 0.5);
    assert_true(c.prior_sd == 1.0);
    assert_string_equal(c.data, "synthetic:linreg");
    assert_string_equal(c.test_data, "");
    assert_true(c.test_fraction == 0.0);
    assert_int_equal(c.standardize, 0);
    assert_string_equal(c.sampler, "sgld");
    assert_int_equal(c.chains, 1);
    assert_int_equal(c.superchains, 0); /* not given: no grouping */
    assert_int_equal(c.steps, 20000);
    assert_int_equal(c.burnin, 2000);
    assert_int_equal(c.thin, 1);
    assert_int_equal(c.batch_size, 100);
    assert_int_equal(c.seed, 1);
    assert_true(c.step_size == 1e-5);
    assert_true(c.step_b == 0.0);
    assert_true(c.step_gamma == 0.0);
    assert_true(c.temperature == 1.0);
    assert_string_equal(c.output, "");
    assert_int_equal(c.force, 0);
    assert_int_equal(c.quiet, 0);
    assert_int_equal(c.progress, 0);
    assert_int_equal(c.flush_draws, 100);
    assert_int_equal(c.help, 0);
    assert_int_equal(c.version, 0);
    /* No arguments at all gives the defaults. */
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(PARSE_NONE(&p), SGLD_OK);
    assert_same_config(&p, &c);
    assert_string_equal(p.config_path, "");
}

static void test_flags(void **state)
{
    (void)state;
    sgld_config c;
    assert_int_equal(PARSE(&c, "--model", "linreg", "--noise-sd=0.25", "--prior-sd", "2.5",
                           "--data", "iris.csv", "--test-data=iris-test.h5", "--test-fraction",
                           "0.2", "--standardize", "--sampler=sgd", "--chains", "3", "--steps",
                           "2500", "--burnin=300", "--thin", "7", "--batch-size", "64", "--seed",
                           "4294967295", "--step-size", "3e-5", "--step-b=12.5", "--step-gamma",
                           "0.55", "--temperature", "0.3", "--output", "draws.h5", "--force",
                           "--quiet=yes", "--progress=off", "--flush-every", "17"),
                     SGLD_OK);
    assert_string_equal(c.model, "linreg");
    assert_true(get_double(&c, "noise-sd") == 0.25);
    assert_true(c.prior_sd == 2.5);
    assert_string_equal(c.data, "iris.csv");
    assert_string_equal(c.test_data, "iris-test.h5");
    assert_true(c.test_fraction == 0.2);
    assert_int_equal(c.standardize, 1);
    assert_string_equal(c.sampler, "sgd");
    assert_int_equal(c.chains, 3);
    assert_int_equal(c.steps, 2500);
    assert_int_equal(c.burnin, 300);
    assert_int_equal(c.thin, 7);
    assert_int_equal(c.batch_size, 64);
    assert_int_equal(c.seed, 4294967295u);
    assert_true(c.step_size == 3e-5);
    assert_true(c.step_b == 12.5);
    assert_true(c.step_gamma == 0.55);
    assert_true(c.temperature == 0.3);
    assert_string_equal(c.output, "draws.h5");
    assert_int_equal(c.force, 1);
    assert_int_equal(c.quiet, 1);
    assert_int_equal(c.progress, 0);
    assert_int_equal(c.flush_draws, 17);
    assert_int_equal(c.help, 0);
    assert_string_equal(c.config_path, "");

    /* The last of repeated flags wins; boundary values are accepted. */
    assert_int_equal(PARSE(&c, "--seed", "9", "--seed", "0", "--step-gamma", "1", "--burnin", "0",
                           "--steps", "3", "--chains", "2147483647", "--step-size", "0x1p-3",
                           "--step-size", "+7.5e-3"),
                     SGLD_OK);
    assert_int_equal(c.seed, 0);
    assert_true(c.step_gamma == 1.0);
    assert_int_equal(c.burnin, 0);
    assert_int_equal(c.steps, 3);
    assert_int_equal(c.chains, 2147483647);
    assert_true(c.step_size == 7.5e-3);

    /* --superchains K divides --chains; K = C (one chain each) and K = 1 are groupings too. */
    assert_int_equal(PARSE(&c, "--chains", "12", "--superchains", "4"), SGLD_OK);
    assert_int_equal(c.superchains, 4);
    assert_int_equal(PARSE(&c, "--superchains", "12", "--chains", "12"), SGLD_OK);
    assert_int_equal(c.superchains, 12);
    assert_int_equal(PARSE(&c, "--chains", "5", "--superchains", "1"), SGLD_OK);
    assert_int_equal(c.superchains, 1);
}

static void test_help_and_version_flags(void **state)
{
    (void)state;
    sgld_config c;
    assert_int_equal(PARSE(&c, "-h"), SGLD_OK);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.version, 0);
    assert_int_equal(PARSE(&c, "--version"), SGLD_OK);
    assert_int_equal(c.help, 0);
    assert_int_equal(c.version, 1);
    assert_int_equal(PARSE(&c, "-V"), SGLD_OK);
    assert_int_equal(c.version, 1);
    /* --help wins over anything else on the line, and no file is read. */
    assert_int_equal(PARSE(&c, "--stpes", "9", "--config", "/nonexistent/run.ini", "--steps",
                           "abc", "positional", "--help"),
                     SGLD_OK);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.steps, 20000);
    /* An abbreviation is not --help. */
    expect_usage(PARSE(&c, "--hel"), "unknown option '--hel' (did you mean '--help'?)");
}

static void test_ini_file(void **state)
{
    (void)state;
    const char *path = write_file("full.ini",
                                  "# a run\n"
                                  "; another comment style\n"
                                  "\n"
                                  "[model]\n"
                                  "model = logreg\n"
                                  "  prior-sd=  3.5   \n"
                                  "data = \"my data/pima #2.csv\"   # quoted: # and spaces kept\n"
                                  "test-fraction = 0.25 ; inline comment\n"
                                  "standardize = YES\n"
                                  "[ sampler ]\n"
                                  "\tchains\t=\t4\r\n"
                                  "steps = 5000\n"
                                  "burnin = 700\n"
                                  "seed = 31337\n"
                                  "step-size = 2.5e-6\n"
                                  "step-gamma = 0.55\n"
                                  "[output]\n"
                                  "output = \"\"\n"
                                  "force = on\n"
                                  "quiet = 0\n"
                                  "progress = true\n"
                                  "flush-every = 23\n"
                                  "sampler = sgd"); /* last line without newline */
    sgld_config c;
    assert_int_equal(PARSE(&c, "--config", path), SGLD_OK);
    assert_string_equal(c.config_path, path);
    assert_string_equal(c.model, "logreg");
    assert_true(c.prior_sd == 3.5);
    assert_string_equal(c.data, "my data/pima #2.csv");
    assert_true(c.test_fraction == 0.25);
    assert_int_equal(c.standardize, 1);
    assert_int_equal(c.chains, 4);
    assert_int_equal(c.steps, 5000);
    assert_int_equal(c.burnin, 700);
    assert_int_equal(c.seed, 31337);
    assert_true(c.step_size == 2.5e-6);
    assert_true(c.step_gamma == 0.55);
    assert_string_equal(c.output, "");
    assert_int_equal(c.force, 1);
    assert_int_equal(c.quiet, 0);
    assert_int_equal(c.progress, 1);
    assert_int_equal(c.flush_draws, 23);
    assert_string_equal(c.sampler, "sgd");
    /* Untouched keys keep their defaults. */
    assert_true(get_double(&c, "noise-sd") == 0.5);
    assert_int_equal(c.batch_size, 100);

    /* --config=FILE works too. */
    char arg[1100];
    snprintf(arg, sizeof arg, "--config=%s", path);
    assert_int_equal(PARSE(&c, arg), SGLD_OK);
    assert_int_equal(c.seed, 31337);
}

static void test_flags_override_file(void **state)
{
    (void)state;
    const char *path = write_file("override.ini",
                                  "steps = 5000\nseed = 7\nmodel = softmax\nquiet = yes\n"
                                  "step-size = 0.003\n");
    sgld_config before, after, mixed;
    /* Flags before --config. */
    assert_int_equal(PARSE(&before, "--steps", "3000", "--quiet=no", "--config", path, "--seed=9"),
                     SGLD_OK);
    /* Flags after --config. */
    assert_int_equal(PARSE(&after, "--config", path, "--steps", "3000", "--quiet=no", "--seed=9"),
                     SGLD_OK);
    assert_same_config(&before, &after);
    assert_int_equal(after.steps, 3000);
    assert_int_equal(after.seed, 9);
    assert_int_equal(after.quiet, 0);
    assert_string_equal(after.model, "softmax");
    assert_true(after.step_size == 0.003);
    /* Only the flags present override. */
    assert_int_equal(PARSE(&mixed, "--temperature", "0.7", "--config", path), SGLD_OK);
    assert_int_equal(mixed.steps, 5000);
    assert_int_equal(mixed.seed, 7);
    assert_int_equal(mixed.quiet, 1);
    assert_true(mixed.temperature == 0.7);
}

/* Calling parse again (fresh getopt state) gives the same answers. */
static void test_repeated_parse(void **state)
{
    (void)state;
    sgld_config a, b;
    for (int i = 0; i < 3; i++) {
        expect_usage(PARSE(&a, "--steps", "12", "--thin", "zz"), "--thin: 'zz' is not an integer");
        assert_int_equal(PARSE(&b, "--thin", "5", "--burnin", "2", "--steps", "12"), SGLD_OK);
        assert_int_equal(b.thin, 5);
        assert_int_equal(b.steps, 12);
    }
}

/* One command line and the message it must produce. */
typedef struct {
    const char *args[6];
    const char *message;
} flag_case;

static void test_flag_errors(void **state)
{
    (void)state;
    static const flag_case cases[] = {
        /* unknown options, with and without a suggestion */
        {{"--stpes", "50"}, "unknown option '--stpes' (did you mean '--steps'?)"},
        {{"--step_size=0.5"}, "unknown option '--step_size' (did you mean '--step-size'?)"},
        {{"--burn", "5"}, "unknown option '--burn' (did you mean '--burnin'?)"},
        {{"--step", "5"}, "unknown option '--step' (did you mean '--steps'?)"},
        {{"--frobnicate"}, "unknown option '--frobnicate'"},
        {{"-steps", "5"}, "unknown option '-steps' (did you mean '--steps'?)"},
        {{"-x"}, "unknown option '-x'"},
        /* non-numeric, overflow, non-finite */
        {{"--steps", "10k"}, "--steps: '10k' is not an integer"},
        {{"--steps", "1.5"}, "--steps: '1.5' is not a whole number (e-notation such as 1e4 is "
                             "accepted when the value is whole)"},
        {{"--steps", "1e-3"}, "--steps: '1e-3' is not a whole number (e-notation such as 1e4 is "
                              "accepted when the value is whole)"},
        {{"--steps", "1e4x"}, "--steps: '1e4x' is not an integer"},
        {{"--steps", "1e"}, "--steps: '1e' is not an integer"},
        {{"--thin", "."}, "--thin: '.' is not an integer"},
        {{"--steps", "1e19"}, "--steps: '1e19' is out of range (at most 9223372036854775807)"},
        {{"--burnin", "-1e19"}, "--burnin: '-1e19' is out of range (at least -9223372036854775808)"},
        {{"--chains", "3e9"}, "--chains: must be <= 2147483647, got 3e9"},
        {{"--chains", " 3"}, "--chains: ' 3' is not an integer"},
        {{"--batch-size="}, "--batch-size: '' is not an integer"},
        {{"--steps", "99999999999999999999"},
         "--steps: '99999999999999999999' is out of range (at most 9223372036854775807)"},
        {{"--step-size", "abc"}, "--step-size: 'abc' is not a number"},
        {{"--step-size", "3e-5x"}, "--step-size: '3e-5x' is not a number"},
        {{"--temperature", "nan"}, "--temperature: 'nan' is not a finite number"},
        {{"--prior-sd", "inf"}, "--prior-sd: 'inf' is not a finite number"},
        {{"--noise-sd", "1e999"}, "--noise-sd: '1e999' is not a finite number"},
        {{"--standardize=maybe"},
         "--standardize: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)"},
        /* ranges */
        {{"--chains", "0"}, "--chains: must be >= 1, got 0"},
        {{"--chains", "2147483648"}, "--chains: must be <= 2147483647, got 2147483648"},
        {{"--steps", "-3"}, "--steps: must be >= 1, got -3"},
        {{"--burnin", "-2"}, "--burnin: must be >= 0, got -2"},
        {{"--thin", "0"}, "--thin: must be >= 1, got 0"},
        {{"--superchains", "-2"}, "--superchains: must be >= 0, got -2"},
        {{"--batch-size", "-64"}, "--batch-size: must be >= 1, got -64"},
        {{"--seed", "4294967296"}, "--seed: must be in [0, 4294967295], got 4294967296"},
        {{"--seed", "-1"}, "--seed: must be in [0, 4294967295], got -1"},
        {{"--step-size", "-1"}, "--step-size: must be > 0, got -1"},
        {{"--step-size", "0"}, "--step-size: must be > 0, got 0"},
        {{"--step-b", "-0.5"}, "--step-b: must be >= 0, got -0.5"},
        {{"--step-gamma", "1.5"}, "--step-gamma: must be in [0, 1], got 1.5"},
        {{"--step-gamma", "-0.25"}, "--step-gamma: must be in [0, 1], got -0.25"},
        {{"--temperature", "0"}, "--temperature: must be > 0, got 0"},
        {{"--noise-sd", "-0.5"}, "--noise-sd: must be > 0, got -0.5"},
        {{"--prior-sd", "0.0"}, "--prior-sd: must be > 0, got 0.0"},
        {{"--test-fraction", "1"}, "--test-fraction: must be in [0, 1), got 1"},
        {{"--test-fraction", "-0.1"}, "--test-fraction: must be in [0, 1), got -0.1"},
        {{"--check-gradient-points", "0"}, "--check-gradient-points: must be in [1, 1000], got 0"},
        {{"--check-gradient-tol", "0"}, "--check-gradient-tol: must be > 0, got 0"},
        {{"--check-gradient-tol", "nan"}, "--check-gradient-tol: 'nan' is not a finite number"},
        {{"--flush-every", "0"}, "--flush-every: must be in [1, 536870911], got 0"},
        {{"--flush-every", "536870912"}, "--flush-every: must be in [1, 536870911], got 536870912"},
        {{"--data", ""}, "--data: must not be empty"},
        {{"--output", ""}, "--output: empty file name (leave the option out for none)"},
        {{"--checkpoint", ""}, "--checkpoint: empty file name (leave the option out for none)"},
        {{"--test-data", ""}, "--test-data: empty file name (leave the option out for none)"},
        {{"--config", ""}, "--config: must not be empty"},
        /* a choice (the model-task pairs are model.c's: tests/net/test_net.c) */
        {{"--task", "foo"}, "--task: must be regression or classification, got 'foo'"},
        /* cross-field: burnin < steps, blaming the option the user set */
        {{"--steps", "500", "--burnin", "500"}, "--burnin: must be < steps (500), got 500"},
        /* cross-field: superchains divide the chains */
        {{"--chains", "8", "--superchains", "3"},
         "--superchains: 3 does not divide --chains 8 (every superchain holds C / K chains)"},
        {{"--superchains", "2"},
         "--superchains: 2 does not divide --chains 1 (every superchain holds C / K chains)"},
        /* options that do not apply to the chosen sampler or model */
        {{"--sampler", "psgld", "--friction", "0.2"},
         "--friction applies to sghmc only, not --sampler psgld"},
        {{"--friction", "0.1"}, "--friction applies to sghmc only, not --sampler sgld"},
        {{"--sampler", "sgd", "--smile-L", "2"},
         "--smile-L applies to smile and psmile only, not --sampler sgd"},
        {{"--sampler", "smile", "--psmile-alpha", "0.9"},
         "--psmile-alpha applies to psmile only, not --sampler smile"},
        {{"--kfac-every", "5", "--sampler", "sghmc"},
         "--kfac-every applies to ksgld only, not --sampler sghmc"},
        {{"--net", "fc5"}, "--net applies to mlp and cnn only, not --model linreg"},
        {{"--model", "logreg", "--noise-sd", "0.3"},
         "--noise-sd applies to linreg and mlp only, not --model logreg"},
        /* missing or unwanted values, positional arguments */
        {{"--steps"}, "--steps: missing value"},
        {{"--seed", "3", "--output"}, "--output: missing value"},
        {{"--help=yes"}, "--help: takes no value, got 'yes'"},
        {{"foo"}, "unexpected argument 'foo'"},
        {{"--steps", "20", "run.ini"}, "unexpected argument 'run.ini'"},
        {{"--", "--steps"}, "unexpected argument '--steps'"},
        {{"-"}, "unexpected argument '-'"},
        /* the config file */
        {{"--config", "/nonexistent-dir/run.ini"},
         "/nonexistent-dir/run.ini: cannot open: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *list[8] = {"sgld-dist"};
        for (int k = 0; k < 6 && cases[i].args[k]; k++) list[k + 1] = cases[i].args[k];
        sgld_config c;
        sgld_status st = parse_list(&c, list);
        if (st != SGLD_ERR_USAGE || strcmp(sgld_error_message(), cases[i].message) != 0)
            fail_msg("case %zu (%s): status %d, message '%s', expected '%s'", i, cases[i].args[0],
                     (int)st, sgld_error_message(), cases[i].message);
    }
}

static void test_long_values(void **state)
{
    (void)state;
    char path[SGLD_PATH_MAX + 8], name[SGLD_NAME_MAX + 1];
    memset(path, 'p', sizeof path);
    path[SGLD_PATH_MAX - 1] = '\0';
    sgld_config c;
    assert_int_equal(PARSE(&c, "--output", path), SGLD_OK); /* SGLD_PATH_MAX - 1 fits */
    assert_int_equal(strlen(c.output), SGLD_PATH_MAX - 1);
    path[SGLD_PATH_MAX - 1] = 'p';
    path[SGLD_PATH_MAX] = '\0';
    expect_usage(PARSE(&c, "--data", path), "--data: value is too long (1024 characters, at most 1023)");
    expect_usage(PARSE(&c, "--config", path),
                 "--config: value is too long (1024 characters, at most 1023)");
    memset(name, 'm', sizeof name);
    name[SGLD_NAME_MAX] = '\0';
    expect_usage(PARSE(&c, "--model", name), "--model: value is too long (64 characters, at most 63)");

    char ini[SGLD_PATH_MAX + 64];
    snprintf(ini, sizeof ini, "steps = 20\ntest-data = %s\n", path);
    const char *file = write_file("long.ini", ini);
    char expected[2 * SGLD_PATH_MAX];
    snprintf(expected, sizeof expected,
             "%s:2: key 'test-data': value is too long (1024 characters, at most 1023)", file);
    expect_usage(PARSE(&c, "--config", file), expected);
}

/* One INI text and the message after "<path>:". */
typedef struct {
    const char *text;
    const char *message;
} ini_case;

static void test_ini_errors(void **state)
{
    (void)state;
    static const ini_case cases[] = {
        {"steps = 20\n\n# ok\nstep_size = 1e-4\n",
         ":4: unknown key 'step_size' (did you mean 'step-size'?)"},
        {"stepz = 20\n", ":1: unknown key 'stepz' (did you mean 'steps'?)"},
        {"flux-capacitor = 88\n", ":1: unknown key 'flux-capacitor'"},
        {"helo = 1\n", ":1: unknown key 'helo'"}, /* command-line-only names are not suggested */
        {"steps = 20\nburnin = 3\nstep-size = abc\n", ":3: key 'step-size': 'abc' is not a number"},
        {"steps = 10k\n", ":1: key 'steps': '10k' is not an integer"},
        {"steps =\n", ":1: key 'steps': '' is not an integer"},
        {"temperature = -inf\n", ":1: key 'temperature': '-inf' is not a finite number"},
        {"thin = -4\n", ":1: key 'thin': must be >= 1, got -4"},
        {"quiet = maybe\n", ":1: key 'quiet': 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)"},
        {"[sampler]\nsteps = 20\n\n; c\n[output]\n\nfoo\n", ":7: expected 'key = value', got 'foo'"},
        {"= 5\n", ":1: expected 'key = value', got '= 5'"},
        {"[sampler\n", ":1: malformed section header '[sampler'"},
        {"data = \"abc\n", ":1: key 'data': unterminated quote in '\"abc'"},
        {"data = \"abc\" def\n", ":1: key 'data': unexpected text 'def' after the closing quote"},
        {"config = other.ini\n", ":1: key 'config' is only valid on the command line"},
        {"help = yes\n", ":1: key 'help' is only valid on the command line"},
        {"check-gradient-tol = 0.1\n", ":1: key 'check-gradient-tol' is only valid on the command line"},
        {"steps = 300\nburnin = 300\n", ":2: key 'burnin': must be < steps (300), got 300"},
        /* 0 is the default ("not given") that a written config repeats; any other value out of
         * the range is refused, and the grouping must divide the chains */
        {"superchains = -1\n", ":1: key 'superchains': must be >= 0, got -1"},
        {"chains = 6\nsuperchains = 4\n",
         ":2: key 'superchains': 4 does not divide --chains 6 (every superchain holds C / K chains)"},
        {"sampler = psgld\nfriction = 0.2\n",
         ":2: key 'friction' applies to sghmc only, not --sampler psgld"},
        {"model = softmax\nsave-params = fc1\n",
         ":2: key 'save-params' applies to mlp and cnn only, not --model softmax"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_file("bad.ini", cases[i].text);
        char expected[1200];
        snprintf(expected, sizeof expected, "%s%s", path, cases[i].message);
        sgld_config c;
        sgld_status st = PARSE(&c, "--config", path);
        if (st != SGLD_ERR_USAGE || strcmp(sgld_error_message(), expected) != 0)
            fail_msg("case %zu: status %d, message '%s', expected '%s'", i, (int)st,
                     sgld_error_message(), expected);
    }

    /* A flag that fixes the file's cross-field problem: the final values are what count. */
    const char *path = write_file("fixed.ini", "steps = 300\n");
    sgld_config c;
    assert_int_equal(PARSE(&c, "--config", path, "--burnin", "30"), SGLD_OK);
    assert_int_equal(c.burnin, 30);
    /* The file says burnin, a flag changes steps: burnin's line is blamed. */
    path = write_file("blame.ini", "\nburnin = 400\n");
    char expected[1200];
    snprintf(expected, sizeof expected, "%s:2: key 'burnin': must be < steps (200), got 400", path);
    expect_usage(PARSE(&c, "--steps", "200", "--config", path), expected);

    /* A directory (or a FIFO, a device) is refused before it is opened. */
    snprintf(expected, sizeof expected,
             "%s: a directory, not a regular file (inputs are read with seeks and more than once, so they "
             "must be regular files)", sgld_test_tmpdir());
    expect_usage(PARSE(&c, "--config", sgld_test_tmpdir()), expected);

    /* A UTF-8 byte order mark before the first key is skipped (as the CSV reader does); a
     * config file may say output = "" (no sample file), as sgld_config_write writes it. */
    path = write_file("bom.ini", "\xEF\xBB\xBFsteps = 300\nburnin = 30\noutput = \"\"\n");
    assert_int_equal(PARSE(&c, "--config", path), SGLD_OK);
    assert_int_equal(c.steps, 300);
    assert_string_equal(c.output, "");

    /* An overlong line. */
    char *big = malloc(5000);
    assert_non_null(big);
    strcpy(big, "steps = 20\n# ");
    memset(big + strlen(big), 'x', 4500);
    strcpy(big + 4513, "\n");
    path = write_file("longline.ini", big);
    free(big);
    snprintf(expected, sizeof expected, "%s:2: line is longer than 4096 characters", path);
    expect_usage(PARSE(&c, "--config", path), expected);
}

/* Whole numbers in e-notation are exact integers; the limits are the field's. */
static void test_integer_notation(void **state)
{
    (void)state;
    sgld_config c;
    assert_int_equal(PARSE(&c, "--steps", "1e4", "--burnin", "2.5e3", "--thin", "1000e-3",
                           "--batch-size", "+64", "--seed", "4.294967295e9", "--flush-every",
                           "0.00012e6"),
                     SGLD_OK);
    assert_int_equal(c.steps, 10000);
    assert_int_equal(c.burnin, 2500);
    assert_int_equal(c.thin, 1);
    assert_int_equal(c.batch_size, 64);
    assert_int_equal(c.seed, 4294967295u);
    assert_int_equal(c.flush_draws, 120);
    /* the largest int64, written out and with an exponent that keeps it whole */
    assert_int_equal(PARSE(&c, "--steps", "9223372036854775807", "--burnin", "9.223372036854775806e18"),
                     SGLD_OK);
    assert_true(c.steps == INT64_MAX);
    assert_true(c.burnin == INT64_MAX - 1);
    expect_usage(PARSE(&c, "--steps", "9.223372036854775808e18"),
                 "--steps: '9.223372036854775808e18' is out of range (at most 9223372036854775807)");
    expect_usage(PARSE(&c, "--seed", "4.294967296e9"),
                 "--seed: must be in [0, 4294967295], got 4.294967296e9");
    /* the same in a file */
    const char *path = write_file("enote.ini", "steps = 2e4\nburnin = 5e2\n");
    assert_int_equal(PARSE(&c, "--config", path), SGLD_OK);
    assert_int_equal(c.steps, 20000);
    assert_int_equal(c.burnin, 500);
}

/* A default burn-in that is not below --steps is clipped to steps / 10 and marked; a given
 * one is refused (test_flag_errors). */
static void test_burnin_clip(void **state)
{
    (void)state;
    sgld_config c;
    assert_int_equal(PARSE(&c, "--steps", "500"), SGLD_OK);
    assert_int_equal(c.burnin, 50);
    assert_int_equal(c.burnin_clipped, 1);
    assert_int_equal(PARSE(&c, "--steps", "7"), SGLD_OK);
    assert_int_equal(c.burnin, 0);
    assert_int_equal(PARSE(&c, "--steps", "2001"), SGLD_OK);
    assert_int_equal(c.burnin, 2000);
    assert_int_equal(c.burnin_clipped, 0);
    assert_int_equal(PARSE(&c, "--steps", "500", "--burnin", "499"), SGLD_OK);
    assert_int_equal(c.burnin, 499);
    assert_int_equal(c.burnin_clipped, 0);
    const char *path = write_file("short.ini", "steps = 300\n");
    assert_int_equal(PARSE(&c, "--config", path), SGLD_OK);
    assert_int_equal(c.burnin, 30);
    assert_int_equal(c.burnin_clipped, 1);
}

/* Options owned by a sampler or model are accepted with it; in a file, a key that does not
 * apply is accepted at its default value (sgld_config_write lists every key). */
static void test_option_owners(void **state)
{
    (void)state;
    sgld_config c;
    assert_int_equal(PARSE(&c, "--sampler", "sghmc", "--friction", "0.2", "--sghmc-beta", "0.1"),
                     SGLD_OK);
    assert_true(get_double(&c, "friction") == 0.2);
    assert_int_equal(PARSE(&c, "--sampler", "psmile", "--smile-L", "2", "--psmile-alpha", "0.9"),
                     SGLD_OK);
    assert_int_equal(PARSE(&c, "--model", "cnn", "--net", "fc10", "--save-params", "fc1"), SGLD_OK);
    assert_int_equal(PARSE(&c, "--model", "mlp", "--noise-sd", "0.2"), SGLD_OK);
    const char *path = write_file("owners.ini", "sampler = psgld\nfriction = 0.1\nnet = \"\"\n");
    assert_int_equal(PARSE(&c, "--config", path), SGLD_OK);
    /* ... but not on the command line, whatever the value */
    expect_usage(PARSE(&c, "--config", path, "--friction", "0.1"),
                 "--friction applies to sghmc only, not --sampler psgld");
    /* a flag that changes the sampler makes the file's key apply */
    path = write_file("owners2.ini", "friction = 0.3\n");
    assert_int_equal(PARSE(&c, "--config", path, "--sampler", "sghmc"), SGLD_OK);
    assert_true(get_double(&c, "friction") == 0.3);
    /* an unknown sampler is the registry's to report, not an owner error */
    assert_int_equal(PARSE(&c, "--sampler", "nuts", "--friction", "0.2"), SGLD_OK);
}

/* --help-sampler / --help-model print one type and its rows only; a name that is not
 * registered is a usage error listing the registered ones. */
/* What sgld-dist prints for c's --help, --help-sampler or --help-model (caller frees). */
static char *help_for(const sgld_config *c)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    sgld_config_help_for(c, f, "sgld-dist");
    fclose(f);
    return text;
}

static void test_help_type(void **state)
{
    (void)state;
    sgld_config c;
    assert_int_equal(PARSE(&c, "--help-sampler", "psgld", "--bogus"), SGLD_OK);
    assert_int_equal(c.help, 1);
    assert_string_equal(c.help_sampler, "psgld");
    char *text = help_for(&c);
    assert_non_null(strstr(text, "sampler psgld: SGLD with an RMSprop diagonal preconditioner"));
    assert_non_null(strstr(text, "--psgld-alpha a"));
    assert_non_null(strstr(text, "(default: 0.99)"));
    assert_null(strstr(text, "--friction"));
    assert_null(strstr(text, "--steps"));
    free(text);
    assert_int_equal(PARSE(&c, "--help-model", "mlp"), SGLD_OK);
    text = help_for(&c);
    assert_non_null(strstr(text, "model mlp:"));
    assert_non_null(strstr(text, "--noise-sd SD"));
    assert_non_null(strstr(text, "--prior-sd-layers LIST"));
    assert_null(strstr(text, "--psgld-alpha"));
    free(text);
    assert_int_equal(PARSE(&c, "--help-sampler", "sgld"), SGLD_OK);
    text = help_for(&c);
    assert_non_null(strstr(text, "It has no options of its own."));
    free(text);
    char names[512], want[640];
    sgld_sampler_names(names, sizeof names);
    snprintf(want, sizeof want, "--help-sampler: 'nuts' is not a sampler (%s)", names);
    expect_usage(PARSE(&c, "--help-sampler", "nuts"), want);
    sgld_model_names(names, sizeof names);
    snprintf(want, sizeof want, "--help-model: 'gp' is not a model (%s)", names);
    expect_usage(PARSE(&c, "--help-model", "gp"), want);
}

/* A choice is stored as its index and read back as its word; the chain column decides what a
 * checkpoint compares; sgld_config_set and _get reach every type's options by name. */
static void test_choices_and_columns(void **state)
{
    (void)state;
    sgld_config c;
    char buf[64];
    assert_int_equal(PARSE(&c, "--sampler", "ksgld", "--precondition", "noise"), SGLD_OK);
    assert_int_equal(sgld_config_get(&c, "precondition", buf, sizeof buf), SGLD_OK);
    assert_string_equal(buf, "noise");
    expect_usage(PARSE(&c, "--sampler", "ksgld", "--precondition", "all"),
                 "--precondition: must be both or noise, got 'all'");
    expect_usage(PARSE(&c, "--sampler", "smile", "--smile-integrator", "euler"),
                 "--smile-integrator: must be mclachlan or leapfrog, got 'euler'");
    /* the type's check hook names where the value came from */
    expect_usage(PARSE(&c, "--sampler", "csgld", "--steps", "20", "--cycles", "30"),
                 "--cycles: must be <= steps (20), got 30");
    expect_usage(PARSE(&c, "--sampler", "sghmc", "--friction", "0.2", "--sghmc-beta", "0.3"),
                 "--sghmc-beta: must be < friction (0.2), got 0.3");
    /* a hook runs only for the chosen type: csgld's default 4 cycles with another sampler */
    assert_int_equal(PARSE(&c, "--steps", "3"), SGLD_OK);
    sgld_config_defaults(&c);
    assert_int_equal(sgld_config_set(&c, "kfac-every", "7"), SGLD_OK);
    assert_int_equal(sgld_config_get(&c, "kfac-every", buf, sizeof buf), SGLD_OK);
    assert_string_equal(buf, "7");
    expect_usage(sgld_config_set(&c, "kfac-every", "0"), "--kfac-every: must be >= 1, got 0");
    expect_usage(sgld_config_set(&c, "no-such", "1"), "unknown option '--no-such'");
    assert_int_equal(sgld_config_key_defines_chain("seed", 4), 1);
    assert_int_equal(sgld_config_key_defines_chain("kfac-every", 10), 1);
    assert_int_equal(sgld_config_key_defines_chain("output", 6), 0);
    assert_int_equal(sgld_config_key_defines_chain("max-rows", 8), 0);
    assert_int_equal(sgld_config_key_defines_chain("flush-every", 11), 0);
    assert_int_equal(sgld_config_key_defines_chain("no-such", 7), 1);
    /* every registered type with options has its own struct, distinct from the others' */
    const void *smile = sgld_config_opts(&c, sgld_sampler_find("smile"));
    const void *psmile = sgld_config_opts(&c, sgld_sampler_find("psmile"));
    assert_non_null(smile);
    assert_non_null(psmile);
    assert_ptr_not_equal(smile, psmile);
    assert_null(sgld_config_opts(&c, sgld_sampler_find("sgld")));
}

static void test_write_round_trip(void **state)
{
    (void)state;
    sgld_config c, back;
    assert_int_equal(PARSE(&c, "--model", "linreg", "--noise-sd", "0.1", "--prior-sd",
                           "2.0000000000000004", "--data", "dir with space/x;y #z\"q\".csv",
                           "--test-data", " padded ", "--test-fraction", "0.3",
                           "--standardize", "--sampler", "sgd", "--chains", "6", "--superchains", "3",
                           "--steps",
                           "123457", "--burnin", "4567", "--thin", "3", "--batch-size", "33",
                           "--seed", "4000000001", "--step-size", "1.2345678901234567e-7",
                           "--step-b", "17.25", "--step-gamma", "0.55", "--temperature",
                           "0.3333333333333333", "--output", "out.h5", "--force", "--progress",
                           "--flush-every", "29", "--quiet"),
                     SGLD_OK);
    char path[1100];
    snprintf(path, sizeof path, "%s/written.ini", sgld_test_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    sgld_config_write(&c, f);
    fclose(f);
    assert_int_equal(PARSE(&back, "--config", path), SGLD_OK);
    assert_same_config(&back, &c);
    assert_string_equal(back.test_data, " padded ");
    assert_int_equal(back.superchains, 3);

    /* The defaults round-trip too, and every file key appears in the written text. */
    sgld_config_defaults(&c);
    char *text = NULL;
    size_t len = 0;
    f = open_memstream(&text, &len);
    assert_non_null(f);
    sgld_config_write(&c, f);
    fclose(f);
    for (size_t i = 0; i < sgld_config_option_count(); i++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s = ", sgld_config_option_name(i));
        if (sgld_config_option_cli_only(i))
            assert_null(strstr(text, key));
        else if (!strstr(text, key))
            fail_msg("config_write does not write '%s'", sgld_config_option_name(i));
    }
    /* ...the defaults' "superchains = 0" (no grouping) among them */
    assert_non_null(strstr(text, "\nsuperchains = 0\n"));
    const char *file = write_file("defaults.ini", text);
    free(text);
    assert_int_equal(PARSE(&back, "--config", file), SGLD_OK);
    assert_same_config(&back, &c);
}

/* --stop-when's grammar: any of the three bounds in any order; anything else refused. */
static void test_stop_when(void **state)
{
    (void)state;
    double e = -1, r = -1;
    assert_int_equal(sgld_config_parse_stop_when("ess>=1e3,rhat<=1.01", &e, &r, NULL), SGLD_OK);
    assert_true(e == 1000.0 && r == 1.01);
    assert_int_equal(sgld_config_parse_stop_when("rhat<=1.05", &e, &r, NULL), SGLD_OK);
    assert_true(e == 0.0 && r == 1.05);
    assert_int_equal(sgld_config_parse_stop_when("rhat<=1,ess>=250.5", &e, &r, NULL), SGLD_OK);
    assert_true(e == 250.5 && r == 1.0);
    double m = -1;
    assert_int_equal(sgld_config_parse_stop_when("mess>=400,rhat<=1.01", &e, &r, &m), SGLD_OK);
    assert_true(e == 0.0 && r == 1.01 && m == 400.0);
    static const char *const bad[] = {"", "ess", "ess>=", "ess>1000", "ess>=abc", "ess>=10x",
                                      "ess>=-5", "ess>=0", "rhat<=0.999", "rhat<=nan", "ess>=inf",
                                      "ess>=10,", ",ess>=10", "ess>=10,,rhat<=1.1",
                                      "ess>=10,ess>=20", "rhat<=1.1,rhat<=1.2", "ess>=10 ",
                                      "mess>=0", "mess>=10,mess>=20", "mess>10", "ESS>=10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sgld_config_parse_stop_when(bad[i], &e, &r, NULL) != SGLD_ERR_USAGE) fail_msg("'%s' was accepted", bad[i]);
}

static void test_help_text(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sgld_config_help(f, "sgld-dist");
    fclose(f);
    /* The table holds exactly the run's options of the contract (config.h) and every
     * registered sampler's and model's own rows (a name two types share counted once)... */
    static const char *const contract[] = {
        "config", "help", "version", "help-sampler", "help-model", "model", "prior-sd", "data",
        "test-data", "test-fraction", "standardize", "sampler", "chains", "steps", "burnin",
        "thin", "batch-size", "seed", "step-size", "step-b", "step-gamma", "temperature",
        "output", "force", "quiet", "progress", "flush-every", "on-divergence", "task",
        /* checkpoint and restart, run report */
        "resume", "dry-run", "checkpoint", "checkpoint-every", "checkpoint-seconds", "log-view",
        /* the end-of-run summary's length */
        "max-rows",
        /* the sample file's observed_data */
        "save-observed",
        /* plug-ins */
        "plugin",
        /* the model's gradients against central differences */
        "check-gradient", "check-gradient-points", "check-gradient-tol",
        /* chains grouped for the nested R-hat */
        "superchains",
        /* the convergence monitor's stop rule */
        "stop-when",
        /* the gradient estimator and where chains start (gradient.h) */
        "gradient", "init", "init-iterations", "init-tol",
        /* threads per rank (OpenBLAS and the noise) */
        "threads"};

    const char *names[256];
    size_t n_names = 0;
    for (size_t k = 0; k < sizeof contract / sizeof contract[0]; k++) names[n_names++] = contract[k];
    for (size_t t = 0; t < sgld_sampler_count() + sgld_model_count(); t++) {
        const int model = t >= sgld_sampler_count();
        const sgld_option *rows = model ? sgld_model_at(t - sgld_sampler_count())->options
                                        : sgld_sampler_at(t)->options;
        size_t n_rows = model ? sgld_model_at(t - sgld_sampler_count())->n_options
                              : sgld_sampler_at(t)->n_options;
        for (size_t r = 0; r < n_rows; r++) {
            size_t k = 0;
            while (k < n_names && strcmp(names[k], rows[r].name) != 0) k++;
            if (k == n_names && n_names < sizeof names / sizeof names[0]) names[n_names++] = rows[r].name;
        }
    }
    const size_t n_contract = n_names;
    assert_int_equal(sgld_config_option_count(), n_contract);
    for (size_t k = 0; k < n_contract; k++) {
        size_t i = 0;
        while (i < n_contract && strcmp(sgld_config_option_name(i), names[k]) != 0) i++;
        if (i == n_contract) fail_msg("option '%s' is not in the table", names[k]);
    }
    assert_null(sgld_config_option_name(n_contract));
    /* ...and --help shows every one of them as the flag it is. */
    for (size_t i = 0; i < sgld_config_option_count(); i++) {
        char flag[80];
        snprintf(flag, sizeof flag, "--%s", sgld_config_option_name(i));
        const char *at = strstr(text, flag);
        /* followed by a space, '[' or a newline, not a longer name (--step vs --step-size) */
        while (at && strchr(" [\n", at[strlen(flag)]) == NULL) at = strstr(at + 1, flag);
        if (!at) fail_msg("--help does not mention %s", flag);
    }
    static const char *const must[] = {
        "Usage: sgld-dist [--config FILE] [options]",
        "theta <- theta + (eps_t / 2) (grad log p(theta) + (N / B) sum_batch grad log "
        "p(y|x, theta)) + N(0, eps_t T I)",
        "eps_t = a (b + t)^(-g) (g = 0: constant)",
        "linreg|logreg|softmax",
        "sgd|sgld",
        "header row, numeric columns, the last column is the target",
        "integers 0..K-1 or string labels mapped in sorted order",
        "/X [n, d] and /y [n]",
        "synthetic:linreg, synthetic:linreg3, synthetic:logreg,",
        "synthetic:softmax",
        "P MPI ranks = chains x shards",
        "--batch-size is the\ntotal per chain across its shards",
        "Exit status: 0 success, 2 bad input/usage, 1 other failure (runtime error).",
        "Model and data:\n",
        "Sampler:\n",
        "Output:\n",
        /* defaults with units and ranges, from the table */
        "(default: 20000 iterations)",
        "(default: 100 draws)",
        "(default: 1e-5)",
        "(default: synthetic:linreg)",
        "S in [0, 4294967295]",
        "F in [0, 1)",
        "a > 0",
        "C >= 1",
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!strstr(text, must[i])) fail_msg("--help lacks '%s':\n%s", must[i], text);
    free(text);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_help_and_version_flags),
        cmocka_unit_test(test_ini_file),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_repeated_parse),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_ini_errors),
        cmocka_unit_test(test_integer_notation),
        cmocka_unit_test(test_burnin_clip),
        cmocka_unit_test(test_option_owners),
        cmocka_unit_test(test_help_type),
        cmocka_unit_test(test_choices_and_columns),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_help_text),
        cmocka_unit_test(test_stop_when),
    };
    return sgld_test_run(argc, argv, "config", tests, sizeof tests / sizeof tests[0]);
}
