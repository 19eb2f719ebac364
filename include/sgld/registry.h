/* registry.h - lookup over a table of named types: the one implementation behind the sampler
 * and model registries (sgld_sampler_find/names/count/at/register, sgld_model_...).
 *
 * A registry is a fixed table of pointers to constant type structs (vtables), in listing
 * order, followed by the types registered at run time (a plug-in's, or a program's own:
 * sgld_model_register, sgld_sampler_register), and a function giving an entry's name.
 * Nothing is allocated; every call is local (no MPI).  Lookups are reentrant; registering is
 * not thread-safe and must happen before the configuration is parsed, in the same order on
 * every rank. */
#ifndef SGLD_REGISTRY_H
#define SGLD_REGISTRY_H

#include <stddef.h>

#include "sgld/status.h"

/* Types that may be registered at run time, per registry. */
#define SGLD_REGISTRY_MAX_ADDED 32

typedef struct sgld_registry {
    const void *const *entries;             /* the built-in types, in listing order */
    size_t count;                           /* built-in entries */
    const char *(*name)(const void *entry); /* an entry's name (non-NULL, unique) */
    const char *what;                       /* "model", "sampler": for messages */
    const void *added[SGLD_REGISTRY_MAX_ADDED]; /* registered at run time, in order */
    size_t n_added;
} sgld_registry;

/* Entries in all: the built-in ones, then those added. */
size_t sgld_registry_count(const sgld_registry *r);

/* Appends entry (whose checks the caller has made) to r.  Errors: SGLD_ERR_ARG (NULL entry
 * or name, a name that is empty, longer than 63 characters or holds other than letters,
 * digits, '-' and '_'), SGLD_ERR_EXISTS (a registered entry has that name: "model 'linreg'
 * is already registered"; registering the same pointer twice is this error too), SGLD_ERR_NOMEM
 * (SGLD_REGISTRY_MAX_ADDED reached). */
sgld_status sgld_registry_add(sgld_registry *r, const void *entry);

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

/* Defines a module's five registry functions over `entries`, a static array of `const void *`
 * pointing to the built-in `const TYPE` objects (each with a `const char *name` member):
 *   const TYPE *sgld_MODULE_find(const char *name)      the entry called name, or NULL
 *   void sgld_MODULE_names(char *buf, size_t size)      "a, b, ..." into buf
 *   size_t sgld_MODULE_count(void)                      entries
 *   const TYPE *sgld_MODULE_at(size_t i)                entry i, NULL when i >= count
 *   sgld_status sgld_MODULE_register(const TYPE *t)     validate(t), then sgld_registry_add
 * (declared in the module's header).  validate is the module's own check of a type's hooks
 * (`static sgld_status validate(const TYPE *)`).  One line per registry, so that the sampler
 * and model registries are one implementation and differ only in their tables. */
#define SGLD_REGISTRY_DEFINE(MODULE, TYPE, entries, validate)                                     \
    static const char *MODULE##_entry_name(const void *t) { return ((const TYPE *)t)->name; }    \
    static sgld_registry MODULE##_registry = {entries, sizeof entries / sizeof entries[0],        \
                                              MODULE##_entry_name, #MODULE, {0}, 0};             \
    const TYPE *sgld_##MODULE##_find(const char *name)                                           \
    {                                                                                            \
        return sgld_registry_find(&MODULE##_registry, name);                                     \
    }                                                                                            \
    void sgld_##MODULE##_names(char *buf, size_t size)                                           \
    {                                                                                            \
        sgld_registry_names(&MODULE##_registry, buf, size);                                      \
    }                                                                                            \
    size_t sgld_##MODULE##_count(void) { return sgld_registry_count(&MODULE##_registry); }        \
    const TYPE *sgld_##MODULE##_at(size_t i) { return sgld_registry_at(&MODULE##_registry, i); } \
    sgld_status sgld_##MODULE##_register(const TYPE *t)                                          \
    {                                                                                            \
        SGLD_CHECK(t, SGLD_ERR_ARG, "sgld_" #MODULE "_register: NULL type");                     \
        SGLD_TRY(validate(t));                                                                   \
        return sgld_registry_add(&MODULE##_registry, t);                                         \
    }

#endif
