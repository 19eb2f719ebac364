/* registry.c - the table of models.  Adding a model: one file and one line here. */
#include "sgld/model.h"

#include <stdio.h>
#include <string.h>

extern const sgld_model_type sgld_model_linreg;
extern const sgld_model_type sgld_model_logreg;
extern const sgld_model_type sgld_model_softmax;
extern const sgld_model_type sgld_model_mlp;
extern const sgld_model_type sgld_model_cnn;

static const sgld_model_type *const models[] = {
    &sgld_model_linreg,
    &sgld_model_logreg,
    &sgld_model_softmax,
    &sgld_model_mlp,
    &sgld_model_cnn,
};

const sgld_model_type *sgld_model_find(const char *name)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (strcmp(models[i]->name, name) == 0) return models[i];
    return NULL;
}

void sgld_model_names(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof models / sizeof models[0] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", models[i]->name);
}
