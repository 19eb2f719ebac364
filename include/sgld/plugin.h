/* plugin.h - plug-ins: shared objects that register models and samplers at run time.
 *
 * A plug-in is a shared object (built against this library's headers) that defines, once,
 *
 *   SGLD_PLUGIN_ABI;
 *   sgld_status sgld_plugin_init(void)
 *   {
 *       return sgld_model_register(&my_model);   // and/or sgld_sampler_register(...)
 *   }
 *
 * sgld-dist loads one with --plugin PATH (repeatable), the `plugin` key of a --config file or
 * the ':'-separated SGLD_PLUGIN_PATH; sgld-ess predict reloads the ones a sample file records.
 * The types it registers are then models and samplers like the built-in ones: --model NAME,
 * --help-model NAME, their option rows in the configuration.  Their objects must be static
 * (the library keeps pointers to them).  The plug-in's undefined symbols resolve against the
 * loading program's libsgld. */
#ifndef SGLD_PLUGIN_H
#define SGLD_PLUGIN_H

#include <stddef.h>

#include "sgld/status.h"
#include "sgld/version.h"

/* Defines the plug-in's ABI number, which the loader compares with its own before calling
 * sgld_plugin_init. */
#define SGLD_PLUGIN_ABI const int sgld_plugin_abi = SGLD_ABI_VERSION

/* A plug-in's entry point: registers its types.  Called once per process, on every rank, in
 * the same order; not collective.  Returns SGLD_OK, or an error with a message
 * (sgld_error_set) that the loader prefixes with the plug-in's path. */
sgld_status sgld_plugin_init(void);

/* ---- the loader (what sgld-dist and sgld-ess call; a program may call it too) ---- */

/* Loads the plug-in at path and runs its sgld_plugin_init, once per file: a file already
 * loaded (the same device and inode, whatever the name) is not loaded again.  Call before
 * sgld_config_parse, on every rank, in the same order (sgld_config_parse does so itself for
 * --plugin, the `plugin` key and SGLD_PLUGIN_PATH).  Not collective.  Errors, one line
 * naming path, all SGLD_ERR_USAGE (the path is the user's input): no such file, not a shared
 * object; no sgld_plugin_abi or sgld_plugin_init; an ABI number other than
 * SGLD_ABI_VERSION; sgld_plugin_init failed, e.g. a type whose name is taken: its message
 * follows the path).  A plug-in whose init failed stays loaded (it may have registered some
 * types) and is not listed. */
sgld_status sgld_plugin_load(const char *path);

/* sgld_plugin_load, with `where` (the path's origin: "--plugin", "run.ini:3: key 'plugin'")
 * before every message, and after (NULL: none) called once the plug-in's init succeeded: its
 * error (e.g. sgld_config's check that the new option rows fit with the registered ones) is
 * the plug-in's. */
sgld_status sgld_plugin_load_file(const char *path, const char *where, sgld_status (*after)(void));

/* sgld_plugin_load_file for every entry of a ':'-separated list (empty entries skipped; list
 * NULL: none): a file, or a directory's every "*.so" in name order (none is no error). */
sgld_status sgld_plugin_load_list(const char *list, const char *where, sgld_status (*after)(void));

/* Plug-ins loaded so far, in load order, and the absolute path of the i-th (NULL when i is
 * out of range). */
size_t sgld_plugin_count(void);
const char *sgld_plugin_path(size_t i);

/* Writes the loaded plug-ins' absolute paths, ':'-separated, into buf (size > 0): what a
 * sample file and a checkpoint record.  Errors: SGLD_ERR_USAGE when they do not fit. */
sgld_status sgld_plugin_list(char *buf, size_t size);

#endif
