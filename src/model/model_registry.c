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

/* sgld_model_find, _names, _count and _at. */
SGLD_REGISTRY_DEFINE(model, sgld_model_type, models)
