/* plug_good.c - a well-formed test plug-in: the model `plugtest` (linear regression with a
 * known noise sd given by its own option --plugtest-noise-sd) and the sampler `plugtest-sgd`
 * (plain gradient ascent, no noise).  The loader tests load it through --plugin, the
 * `plugin` key and SGLD_PLUGIN_PATH and run both types. */
#include <math.h>

#include "sgld/model.h"
#include "sgld/plugin.h"
#include "sgld/sampler.h"

SGLD_PLUGIN_ABI;

typedef struct {
    double noise_sd;
} plugtest_opts;

static const sgld_option options[] = {
    {"plugtest-noise-sd", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(plugtest_opts, noise_sd, double), "0.5",
     "SD", "", {SGLD_RANGE_GT, 0, 0}, 1, "noise sd of the plugtest model"},
};

static sgld_status setup(sgld_model *m, const sgld_config *cfg)
{
    const plugtest_opts *o = sgld_config_opts(cfg, m->type);
    SGLD_CHECK(o, SGLD_ERR_INTERNAL, "model plugtest: no options in the configuration");
    m->noise_sd = o->noise_sd;
    return sgld_model_setup_linear(m, cfg);
}

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    const double prec = 1.0 / (m->noise_sd * m->noise_sd);
    double ll = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *x = data->X + rows[i] * m->d;
        double f = theta[m->d];
        for (int j = 0; j < m->d; j++) f += (double)theta[j] * x[j];
        double r = data->y[rows[i]] - f;
        ll -= 0.5 * prec * r * r + log(m->noise_sd * 2.5066282746310002);
        for (int j = 0; j < m->d; j++) grad[j] += (float)(prec * r * x[j]);
        grad[m->d] += (float)(prec * r);
    }
    return ll;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        double f = theta[m->d];
        for (int j = 0; j < m->d; j++) f += (double)theta[j] * x[i * m->d + j];
        out[2 * i] = f;
        out[2 * i + 1] = m->noise_sd * m->noise_sd;
    }
}

static const sgld_model_type plugtest_model = {
    .name = "plugtest",
    .description = "test plug-in: linear regression, noise sd --plugtest-noise-sd",
    .options = options,
    .n_options = 1,
    .options_size = sizeof(plugtest_opts),
    .setup = setup,
    .loglik_grad = loglik_grad,
    .predict = predict,
};

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    for (size_t i = 0; i < ctx->n_params; i++) theta[i] += (float)(0.5 * ctx->eps * grad[i]);
    return SGLD_OK;
}

static const sgld_sampler_type plugtest_sgd = {
    .name = "plugtest-sgd",
    .description = "test plug-in: gradient ascent on the log posterior",
    .adds_noise = 0,
    .step = step,
};

sgld_status sgld_plugin_init(void)
{
    SGLD_TRY(sgld_model_register(&plugtest_model));
    return sgld_sampler_register(&plugtest_sgd);
}
