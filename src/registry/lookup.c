/* lookup.c - find, at and names over a registry table (include/sgld/registry.h). */
#include "sgld/registry.h"

#include <stdio.h>
#include <string.h>

const void *sgld_registry_find(const sgld_registry *r, const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->name(r->entries[i]), name) == 0) return r->entries[i];
    return NULL;
}

const void *sgld_registry_at(const sgld_registry *r, size_t i)
{
    return i < r->count ? r->entries[i] : NULL;
}

void sgld_registry_names(const sgld_registry *r, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0) return;
    buf[0] = '\0';
    for (size_t i = 0; i < r->count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", r->name(r->entries[i]));
}
