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

#endif
