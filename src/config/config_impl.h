/* config_impl.h - private to src/config: the merged option table that config.c parses with
 * and help.c prints from.
 *
 * The table is built on every use from the run's own rows (config.c) and the rows of every
 * registered sampler and model (their `options`), in that order: the run's rows, then the
 * samplers' in registry order, then the models'.  A name declared by several types (smile and
 * psmile share three rows) is one entry with several owners; its value goes to each owner's
 * struct.  Building is local and allocates nothing. */
#ifndef SGLD_CONFIG_IMPL_H
#define SGLD_CONFIG_IMPL_H

#include <stddef.h>

#include "sgld/config.h"

/* Sections of --help and of sgld_config_write.  G_GENERAL rows are command-line only: not
 * INI keys and not written by sgld_config_write. */
typedef enum { G_GENERAL, G_MODEL, G_SAMPLER, G_OUTPUT, G_COUNT } config_group;

/* Whose field an entry fills: the run's (sgld_config), or the chosen sampler's or model's. */
typedef enum { OWNER_RUN, OWNER_SAMPLER, OWNER_MODEL } config_owner;

#define CONFIG_MAX_ENTRIES 160
#define CONFIG_MAX_OWNERS 8

typedef struct config_entry {
    sgld_option o;         /* the first declaring row (name, type, default, help, ...) */
    int short_name;        /* 'h', or 0 (the run's rows only) */
    config_group group;
    config_owner owner;
    int n_owners;          /* 1 for the run's rows */
    const char *owner_names[CONFIG_MAX_OWNERS]; /* types declaring it, registry order */
    size_t at[CONFIG_MAX_OWNERS]; /* each owner's field: byte offset in sgld_config */
} config_entry;

typedef struct config_table {
    config_entry e[CONFIG_MAX_ENTRIES];
    size_t n;
    /* The registered types with options and their structs' offsets in type_opts. */
    int n_types;
    const void *types[SGLD_CONFIG_MAX_TYPES];
    size_t type_offset[SGLD_CONFIG_MAX_TYPES];
} config_table;

/* Builds the table.  SGLD_ERR_INTERNAL when the registered types do not fit (entries, owners,
 * types, bytes) or two types declare one name differently (type, size, default, range);
 * the table then holds what fitted. */
sgld_status config_table_build(config_table *t);

/* The entry called name (len bytes), or NULL. */
const config_entry *config_table_find(const config_table *t, const char *name, size_t len);

/* "a", "a and b", "a, b and c" (conj "and"; "or" for choices) from the '|'-separated list. */
void config_list_words(const char *list, const char *conj, char *buf, size_t cap);

/* "must be > 0" / "must be in [0, 1)"; with var, "N >= 1" (for --help).  "" for none. */
void config_describe_range(const sgld_range *k, const char *var, char *buf, size_t n);

/* The k-th word of a '|'-separated list into buf; 0 when there is none. */
int config_list_word(const char *list, int k, char *buf, size_t cap);

#endif
