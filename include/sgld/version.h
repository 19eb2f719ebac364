/* version.h - the library's version and ABI number.
 *
 * SGLD_VERSION_MAJOR/MINOR/PATCH follow the project's version (meson.build; a test checks that
 * they agree).  SGLD_ABI_VERSION counts incompatible changes of what a plug-in or an embedding
 * program compiles against (the public structs and hooks, the registration calls); it is the
 * shared library's soname number, a plug-in records it (SGLD_PLUGIN_ABI in sgld/plugin.h), and
 * a plug-in built for another number is refused. */
#ifndef SGLD_VERSION_H
#define SGLD_VERSION_H

#define SGLD_VERSION_MAJOR 0
#define SGLD_VERSION_MINOR 1
#define SGLD_VERSION_PATCH 0
#define SGLD_ABI_VERSION 1

#endif
