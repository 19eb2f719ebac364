/* config_table.h - private, read-only view of config.c's option table, so that the tests
 * can loop over every option (help mentions each, write emits each) without a second list. */
#ifndef SGLD_CONFIG_TABLE_H
#define SGLD_CONFIG_TABLE_H

#include <stddef.h>

/* Number of rows in the option table. */
size_t sgld_config_option_count(void);

/* Long name of row i ("step-size"), or NULL when i is out of range. */
const char *sgld_config_option_name(size_t i);

/* 1 when row i is accepted only on the command line (--config, --help, --version), i.e. it
 * is neither an INI key nor written by sgld_config_write. */
int sgld_config_option_cli_only(size_t i);

#endif
