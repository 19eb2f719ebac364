/* registry.h - lookup over a table of named types: the one implementation behind the sampler
 * and model registries (sgld_sampler_find/names/count/at, sgld_model_find/names/count/at).
 *
 * A registry is a fixed table of pointers to constant type structs (vtables), in listing
 * order, and a function giving an entry's name.  Nothing is allocated; every call is local
 * (no MPI) and reentrant. */
#ifndef SGLD_REGISTRY_H
#define SGLD_REGISTRY_H

#include <stddef.h>

typedef struct sgld_registry {
    const void *const *entries;             /* the types, in listing order */
    size_t count;                           /* entries */
    const char *(*name)(const void *entry); /* an entry's name (non-NULL, unique) */
} sgld_registry;

/* The first entry whose name is `name`, or NULL (also for name NULL). */
const void *sgld_registry_find(const sgld_registry *r, const char *name);

/* Entry i in listing order, or NULL when i >= r->count. */
const void *sgld_registry_at(const sgld_registry *r, size_t i);

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions) of a[0..na)
 * and the string b: what "did you mean" suggestions rank names by.  Strings longer than 63
 * characters are far from everything (INT_MAX).  Local, allocates nothing. */
int sgld_name_distance(const char *a, size_t na, const char *b);

/* Writes every name in listing order, joined by ", ", into buf (size > 0 bytes), truncated to
 * fit; buf is always NUL-terminated. */
void sgld_registry_names(const sgld_registry *r, char *buf, size_t size);

/* Defines a module's four registry functions over `entries`, a static array of `const void *`
 * pointing to the registered `const TYPE` objects (each with a `const char *name` member):
 *   const TYPE *sgld_MODULE_find(const char *name)      the entry called name, or NULL
 *   void sgld_MODULE_names(char *buf, size_t size)      "a, b, ..." into buf
 *   size_t sgld_MODULE_count(void)                      entries
 *   const TYPE *sgld_MODULE_at(size_t i)                entry i, NULL when i >= count
 * (declared in the module's header).  One line per registry, so that the sampler and model
 * registries are one implementation and differ only in their tables. */
#define SGLD_REGISTRY_DEFINE(MODULE, TYPE, entries)                                               \
    static const char *MODULE##_entry_name(const void *t) { return ((const TYPE *)t)->name; }    \
    static const sgld_registry MODULE##_registry = {entries, sizeof entries / sizeof entries[0],  \
                                                    MODULE##_entry_name};                        \
    const TYPE *sgld_##MODULE##_find(const char *name)                                           \
    {                                                                                            \
        return sgld_registry_find(&MODULE##_registry, name);                                     \
    }                                                                                            \
    void sgld_##MODULE##_names(char *buf, size_t size)                                           \
    {                                                                                            \
        sgld_registry_names(&MODULE##_registry, buf, size);                                      \
    }                                                                                            \
    size_t sgld_##MODULE##_count(void) { return MODULE##_registry.count; }                        \
    const TYPE *sgld_##MODULE##_at(size_t i) { return sgld_registry_at(&MODULE##_registry, i); }

#endif
