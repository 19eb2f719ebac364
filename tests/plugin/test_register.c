/* test_register.c - registering models and samplers at run time (sgld_model_register,
 * sgld_sampler_register): what is refused, and that a registered type is found, listed,
 * enumerated and gets its option rows into the configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sgld/config.h"
#include "sgld/model.h"
#include "sgld/sampler.h"
#include "sgld_test.h"

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    return 0.0;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out) {}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    return SGLD_OK;
}

typedef struct {
    double rate;
} reg_opts;

static const sgld_option rows[] = {
    {"regtest-rate", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(reg_opts, rate, double), "2.5", "R", "",
     {SGLD_RANGE_GT, 0, 0}, 1, "a rate"},
};

static const sgld_model_type good = {.name = "regtest", .description = "t", .options = rows,
                                     .n_options = 1, .options_size = sizeof(reg_opts),
                                     .setup = sgld_model_setup_linear,
                                     .loglik_grad = loglik_grad, .predict = predict};
static const sgld_model_type taken = {.name = "logreg", .setup = sgld_model_setup_linear,
                                      .loglik_grad = loglik_grad, .predict = predict};
static const sgld_model_type no_grad = {.name = "nograd", .setup = sgld_model_setup_linear,
                                        .predict = predict};
static const sgld_model_type bad_name = {.name = "has space", .setup = sgld_model_setup_linear,
                                         .loglik_grad = loglik_grad, .predict = predict};
static const sgld_model_type outside = {.name = "outside", .options = rows, .n_options = 1,
                                        .options_size = 4, .setup = sgld_model_setup_linear,
                                        .loglik_grad = loglik_grad, .predict = predict};
static const sgld_sampler_type sampler = {.name = "regtest-step", .description = "t", .step = step};
static const sgld_sampler_type no_step = {.name = "nostep"};

static void test_refusals(void **state)
{
    (void)state;
    const size_t n = sgld_model_count();
    assert_int_equal(sgld_model_register(NULL), SGLD_ERR_ARG);
    assert_int_equal(sgld_model_register(&taken), SGLD_ERR_EXISTS);
    assert_string_equal(sgld_error_message(), "model 'logreg' is already registered");
    assert_int_equal(sgld_model_register(&no_grad), SGLD_ERR_ARG);
    assert_non_null(strstr(sgld_error_message(), "setup, loglik_grad and predict are required"));
    assert_int_equal(sgld_model_register(&bad_name), SGLD_ERR_ARG);
    assert_int_equal(sgld_model_register(&outside), SGLD_ERR_ARG);
    assert_non_null(strstr(sgld_error_message(), "option row 0 lies outside its struct"));
    assert_int_equal(sgld_sampler_register(&no_step), SGLD_ERR_ARG);
    assert_int_equal(sgld_model_count(), n); /* nothing refused was added */
}

static void test_registered_types(void **state)
{
    (void)state;
    const size_t n_models = sgld_model_count(), n_samplers = sgld_sampler_count();
    assert_int_equal(sgld_model_register(&good), SGLD_OK);
    assert_int_equal(sgld_sampler_register(&sampler), SGLD_OK);
    assert_int_equal(sgld_model_count(), n_models + 1);
    assert_ptr_equal(sgld_model_at(n_models), &good);
    assert_null(sgld_model_at(n_models + 1));
    assert_ptr_equal(sgld_model_find("regtest"), &good);
    assert_ptr_equal(sgld_sampler_find("regtest-step"), &sampler);
    assert_int_equal(sgld_sampler_count(), n_samplers + 1);
    char names[512];
    sgld_model_names(names, sizeof names);
    assert_non_null(strstr(names, ", regtest"));
    /* Twice is a clash, also for the same object. */
    assert_int_equal(sgld_model_register(&good), SGLD_ERR_EXISTS);
    /* Its option row is part of the configuration: default, flag, and the owner check. */
    sgld_config c;
    sgld_config_defaults(&c);
    const reg_opts *o = sgld_config_opts(&c, &good);
    assert_non_null(o);
    assert_true(o->rate == 2.5);
    char *argv[] = {"prog", "--model", "regtest", "--regtest-rate", "4", NULL};
    assert_int_equal(sgld_config_parse(&c, 5, argv), SGLD_OK);
    assert_true(((const reg_opts *)sgld_config_opts(&c, &good))->rate == 4.0);
    char *argv2[] = {"prog", "--regtest-rate", "4", NULL};
    assert_int_equal(sgld_config_parse(&c, 3, argv2), SGLD_ERR_USAGE);
    assert_string_equal(sgld_error_message(), "--regtest-rate applies to regtest only, not --model linreg");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_registered_types),
    };
    return sgld_test_run(argc, argv, "register", tests, sizeof tests / sizeof tests[0]);
}
