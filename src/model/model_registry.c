/* model_registry.c - the table of models.  Adding a model: one file and one word in MODELS
 * below. */
#include "sgld/model.h"
#include "sgld/registry.h"

/* The registered models in listing order: adding one is its name here (its file defines
 * `const sgld_model_type sgld_model_NAME`). */
#define MODELS(X) X(linreg) X(logreg) X(softmax) X(mlp) X(cnn)

#define DECLARE(name) extern const sgld_model_type sgld_model_##name;
#define ENTRY(name) &sgld_model_##name,
MODELS(DECLARE)
static const void *const models[] = {MODELS(ENTRY)};

/* What a model registered at run time must have: the hooks every run calls, and option rows
 * that agree with their struct. */
static sgld_status validate(const sgld_model_type *t)
{
    const char *name = t->name ? t->name : "(no name)";
    SGLD_CHECK(t->setup && t->loglik_grad && t->predict, SGLD_ERR_ARG,
               "registering model '%s': setup, loglik_grad and predict are required", name);
    SGLD_CHECK(t->n_options == 0 || (t->options && t->options_size > 0), SGLD_ERR_ARG,
               "registering model '%s': %zu option rows but no rows or no options_size", name,
               t->n_options);
    for (size_t i = 0; i < t->n_options; i++)
        SGLD_CHECK(t->options[i].name && t->options[i].offset + t->options[i].size <= t->options_size,
                   SGLD_ERR_ARG, "registering model '%s': option row %zu lies outside its struct",
                   name, i);
    return SGLD_OK;
}

/* sgld_model_find, _names, _count, _at and _register. */
SGLD_REGISTRY_DEFINE(model, sgld_model_type, models, validate)
