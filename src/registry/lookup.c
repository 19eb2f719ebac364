/* lookup.c - find, at and names over a registry table, and the name distance behind every
 * "did you mean" (include/sgld/registry.h). */
#include "sgld/registry.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

size_t sgld_registry_count(const sgld_registry *r) { return r->count + r->n_added; }

const void *sgld_registry_at(const sgld_registry *r, size_t i)
{
    if (i < r->count) return r->entries[i];
    return i - r->count < r->n_added ? r->added[i - r->count] : NULL;
}

const void *sgld_registry_find(const sgld_registry *r, const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0, n = sgld_registry_count(r); i < n; i++) {
        const void *e = sgld_registry_at(r, i);
        if (strcmp(r->name(e), name) == 0) return e;
    }
    return NULL;
}

/* Names are option values, INI values and HDF5 attributes: a plain word. */
static int plain_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_') return 0;
    return 1;
}

sgld_status sgld_registry_add(sgld_registry *r, const void *entry)
{
    SGLD_CHECK(entry, SGLD_ERR_ARG, "registering a %s: NULL type", r->what);
    const char *name = r->name(entry);
    SGLD_CHECK(name, SGLD_ERR_ARG, "registering a %s: the type has no name", r->what);
    SGLD_CHECK(plain_name(name), SGLD_ERR_ARG,
               "registering %s '%s': a name is 1 to 63 letters, digits, '-' or '_'", r->what, name);
    SGLD_CHECK(!sgld_registry_find(r, name), SGLD_ERR_EXISTS, "%s '%s' is already registered",
               r->what, name);
    SGLD_CHECK(r->n_added < SGLD_REGISTRY_MAX_ADDED, SGLD_ERR_NOMEM,
               "registering %s '%s': at most %d %ss may be added", r->what, name,
               SGLD_REGISTRY_MAX_ADDED, r->what);
    r->added[r->n_added++] = entry;
    return SGLD_OK;
}

void sgld_registry_names(const sgld_registry *r, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0) return;
    buf[0] = '\0';
    for (size_t i = 0, n = sgld_registry_count(r); i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                                 r->name(sgld_registry_at(r, i)));
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
