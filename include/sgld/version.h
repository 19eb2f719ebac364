/* version.h - the library's version and ABI number.
 *
 * SGLD_VERSION_MAJOR/MINOR/PATCH follow the project's version (meson.build refuses to configure
 * when they disagree).  SGLD_ABI_VERSION counts incompatible changes of what a plug-in or an
 * embedding program compiles against (the public structs and hooks, the registration calls);
 * it is the shared library's soname number (libsgld.so.N: meson.build reads it from here), a
 * plug-in records it (SGLD_PLUGIN_ABI in sgld/plugin.h), and a plug-in built for another
 * number is refused.  Keep each #define on one line of three words: meson.build parses them. */
#ifndef SGLD_VERSION_H
#define SGLD_VERSION_H

#define SGLD_VERSION_MAJOR 0
#define SGLD_VERSION_MINOR 3
#define SGLD_VERSION_PATCH 0
#define SGLD_ABI_VERSION 3

#endif
