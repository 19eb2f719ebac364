/* registry.c - the table of models.  Adding a model: one file and one line here. */
#include "sgld/model.h"
#include "sgld/registry.h"

extern const sgld_model_type sgld_model_linreg;
extern const sgld_model_type sgld_model_logreg;
extern const sgld_model_type sgld_model_softmax;
extern const sgld_model_type sgld_model_mlp;
extern const sgld_model_type sgld_model_cnn;

static const void *const models[] = {
    &sgld_model_linreg,
    &sgld_model_logreg,
    &sgld_model_softmax,
    &sgld_model_mlp,
    &sgld_model_cnn,
};

/* sgld_model_find, _names, _count and _at. */
SGLD_REGISTRY_DEFINE(model, sgld_model_type, models)
