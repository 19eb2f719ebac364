/* lookup.c - find, at and names over a registry table, and the name distance behind every
 * "did you mean" (include/sgld/registry.h). */
#include "sgld/registry.h"

#include <limits.h>
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

int sgld_name_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    if (na > 63 || nb > 63) return INT_MAX;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}
