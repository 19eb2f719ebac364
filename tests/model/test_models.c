/* test_models.c - models registered at start-up in the test builds of the programs
 * (sgld-dist-test-models, sgld-ess-test-models: tests/model/meson.build), so that the command
 * line reaches a plug-in model without a plug-in loader:
 *   poisson          the plug-in example tools/examples/poisson.c (its sgld_plugin_init)
 *   poisson-wrong-b  poisson with the gradient of b scaled by 1.5 (one element off by a
 *                    factor): what --check-gradient must fail
 * The registration runs as a constructor, before main, on every rank alike (the order
 * sgld_model_register asks for).  A failure ends the process with status 70. */
#include <stdio.h>
#include <unistd.h>

#include "sgld/model.h"
#include "sgld/plugin.h"

static sgld_model_type wrong_b;

static double wrong_b_grad(const sgld_model *m, const float *theta, const sgld_dataset *data, const int64_t *rows,
                           size_t n, float *grad)
{
    const float before = grad[m->d];
    const double ll = sgld_model_find("poisson")->loglik_grad(m, theta, data, rows, n, grad);
    grad[m->d] = before + 1.5f * (grad[m->d] - before);
    return ll;
}

__attribute__((constructor)) static void register_test_models(void)
{
    sgld_status st = sgld_plugin_init();
    if (st == SGLD_OK) {
        wrong_b = *sgld_model_find("poisson");
        wrong_b.name = "poisson-wrong-b";
        wrong_b.description = "poisson with the gradient of b off by a factor 1.5 (a test model)";
        wrong_b.loglik_grad = wrong_b_grad;
        st = sgld_model_register(&wrong_b);
    }
    if (st != SGLD_OK) {
        fprintf(stderr, "test_models: %s\n", sgld_error_message());
        _exit(70);
    }
}
