/* plug_bad.c - test plug-ins that must be refused, one per PLUG_BAD_* macro (meson builds
 * this file once per case):
 *   ABI     built for another ABI number
 *   NOINIT  no sgld_plugin_init
 *   NOABI   no sgld_plugin_abi (not built with SGLD_PLUGIN_ABI)
 *   FAILS   sgld_plugin_init returns an error
 *   CLASH   registers a model called linreg (a built-in name)
 *   OPTION  registers a model whose option row --steps clashes with the run's --steps */
#include "sgld/model.h"
#include "sgld/plugin.h"

#if defined PLUG_BAD_ABI
const int sgld_plugin_abi = SGLD_ABI_VERSION + 998;
#elif !defined PLUG_BAD_NOABI
SGLD_PLUGIN_ABI;
#endif

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    return 0.0;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out) {}

typedef struct {
    int steps;
} bad_opts;

__attribute__((unused)) static const sgld_option options[] = {
    {"steps", SGLD_OPT_INT, SGLD_OPTION_FIELD(bad_opts, steps, int), "3", "N", "",
     {SGLD_RANGE_GE, 1, 0}, 1, "a row whose name the run's options already use"},
};

__attribute__((unused)) static const sgld_model_type bad_model = {
#if defined PLUG_BAD_CLASH
    .name = "linreg",
#else
    .name = "plugbad",
#endif
    .description = "a test plug-in that must be refused",
#if defined PLUG_BAD_OPTION
    .options = options,
    .n_options = 1,
    .options_size = sizeof(bad_opts),
#endif
    .setup = sgld_model_setup_linear,
    .loglik_grad = loglik_grad,
    .predict = predict,
};

#if !defined PLUG_BAD_NOINIT
sgld_status sgld_plugin_init(void)
{
#if defined PLUG_BAD_FAILS
    return sgld_error_set(SGLD_ERR_USAGE, "plugbad: cannot find its licence file");
#else
    return sgld_model_register(&bad_model);
#endif
}
#endif
