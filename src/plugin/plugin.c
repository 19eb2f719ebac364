/* plugin.c - loading plug-ins (include/sgld/plugin.h): dlopen, the ABI check, the entry point.
 *
 * A plug-in is opened with RTLD_NOW | RTLD_LOCAL: every symbol it needs must resolve at once
 * (against the program's libsgld), and its own symbols (sgld_plugin_init, sgld_plugin_abi,
 * which every plug-in defines) stay out of the global scope, so two plug-ins do not see each
 * other's.  Handles are never closed: the registries keep pointers into the plug-ins. */
#include "sgld/plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sgld/config.h"

#define PLUGIN_MAX 32

typedef struct {
    dev_t dev;
    ino_t ino;
    char path[SGLD_PATH_MAX]; /* absolute */
    int ok;                   /* its init succeeded */
} loaded_plugin;

static loaded_plugin loaded[PLUGIN_MAX];
static size_t n_loaded;

/* The first line of dlerror()'s text without the path it repeats. */
static const char *dl_reason(const char *path)
{
    const char *e = dlerror();
    if (!e) return "unknown reason";
    size_t n = strlen(path);
    if (strncmp(e, path, n) == 0 && e[n] == ':') e += n + 1;
    while (*e == ' ') e++;
    return e;
}

/* The plug-in's ABI number and entry point, checked. */
static sgld_status entry_point(void *h, const char *path, sgld_status (**init)(void))
{
    dlerror();
    const int *abi = dlsym(h, "sgld_plugin_abi");
    SGLD_CHECK(abi, SGLD_ERR_USAGE,
               "%s: not an sgld plug-in: it defines no sgld_plugin_abi (put SGLD_PLUGIN_ABI; in it, "
               "sgld/plugin.h)", path);
    SGLD_CHECK(*abi == SGLD_ABI_VERSION, SGLD_ERR_USAGE,
               "%s: built for plug-in ABI %d, this program's is %d (rebuild it against this "
               "version's headers)", path, *abi, SGLD_ABI_VERSION);
    void *f = dlsym(h, "sgld_plugin_init");
    SGLD_CHECK(f, SGLD_ERR_USAGE, "%s: not an sgld plug-in: it defines no sgld_plugin_init", path);
    /* POSIX guarantees that a data pointer from dlsym converts to a function pointer. */
    memcpy(init, &f, sizeof f);
    return SGLD_OK;
}

static sgld_status load(const char *path, sgld_status (*after)(void));

sgld_status sgld_plugin_load(const char *path) { return load(path, NULL); }

static sgld_status load(const char *path, sgld_status (*after)(void))
{
    SGLD_CHECK(path && path[0], SGLD_ERR_USAGE, "plug-in: empty file name");
    struct stat st;
    SGLD_CHECK(stat(path, &st) == 0, SGLD_ERR_USAGE, "%s: cannot open plug-in: %s", path,
               strerror(errno));
    SGLD_CHECK(S_ISREG(st.st_mode), SGLD_ERR_USAGE, "%s: a plug-in must be a shared object file, "
               "not a %s", path, S_ISDIR(st.st_mode) ? "directory" : "special file");
    for (size_t i = 0; i < n_loaded; i++)
        if (loaded[i].dev == st.st_dev && loaded[i].ino == st.st_ino) {
            SGLD_CHECK(loaded[i].ok, SGLD_ERR_USAGE, "%s: this plug-in failed to load before", path);
            return SGLD_OK;
        }
    SGLD_CHECK(n_loaded < PLUGIN_MAX, SGLD_ERR_USAGE, "%s: more than %d plug-ins", path, PLUGIN_MAX);
    char abs[PATH_MAX];
    SGLD_CHECK(realpath(path, abs), SGLD_ERR_USAGE, "%s: %s", path, strerror(errno));
    SGLD_CHECK(strlen(abs) < SGLD_PATH_MAX, SGLD_ERR_USAGE, "%s: path longer than %d characters",
               path, SGLD_PATH_MAX - 1);
    /* dlopen resolves a name without '/' through the library search path: abs has one. */
    void *h = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
    SGLD_CHECK(h, SGLD_ERR_USAGE,
               "%s: cannot load plug-in (not a shared object, or a symbol or library it needs is "
               "missing): %s", path, dl_reason(abs));
    loaded_plugin *p = &loaded[n_loaded++];
    *p = (loaded_plugin){.dev = st.st_dev, .ino = st.st_ino, .ok = 0};
    memcpy(p->path, abs, strlen(abs) + 1);
    sgld_status (*init)(void) = NULL;
    SGLD_TRY(entry_point(h, path, &init));
    sgld_status s = init();
    const char *what = "sgld_plugin_init failed: ";
    if (s == SGLD_OK && after) {
        s = after();
        what = "";
    }
    if (s != SGLD_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        return sgld_error_set(s, "%s: %s%s", path, what, msg[0] ? msg : sgld_strerror(s));
    }
    p->ok = 1;
    return SGLD_OK;
}

/* sgld_plugin_load with `where` before its message. */
static sgld_status load_from(const char *path, const char *where, sgld_status (*after)(void))
{
    sgld_status st = load(path, after);
    if (st == SGLD_OK) return st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", sgld_error_message());
    return sgld_error_set(st, "%s: %s", where, msg);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_so(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

/* Every *.so in directory dir, in name order. */
static sgld_status load_dir(const char *dir, const char *where, sgld_status (*after)(void))
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_so, by_name);
    SGLD_CHECK(n >= 0, SGLD_ERR_IO, "%s: %s: %s", where, dir, strerror(errno));
    sgld_status st = SGLD_OK;
    char path[SGLD_PATH_MAX];
    for (int i = 0; i < n; i++) {
        if (st == SGLD_OK) {
            int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            st = len < (int)sizeof path ? load_from(path, where, after)
                                        : sgld_error_set(SGLD_ERR_USAGE, "%s: %s/%s: path too long",
                                                         where, dir, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    return st;
}

sgld_status sgld_plugin_load_file(const char *path, const char *where, sgld_status (*after)(void))
{
    return load_from(path, where, after);
}

sgld_status sgld_plugin_load_list(const char *list, const char *where, sgld_status (*after)(void))
{
    if (!list) return SGLD_OK;
    char entry[SGLD_PATH_MAX];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ":");
        SGLD_CHECK(n < sizeof entry, SGLD_ERR_USAGE, "%s: an entry is longer than %d characters",
                   where, SGLD_PATH_MAX - 1);
        memcpy(entry, p, n);
        entry[n] = '\0';
        p += n + (p[n] == ':');
        if (!entry[0]) continue;
        struct stat st;
        if (stat(entry, &st) == 0 && S_ISDIR(st.st_mode))
            SGLD_TRY(load_dir(entry, where, after));
        else
            SGLD_TRY(load_from(entry, where, after));
    }
    return SGLD_OK;
}

size_t sgld_plugin_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < n_loaded; i++) n += loaded[i].ok;
    return n;
}

const char *sgld_plugin_path(size_t i)
{
    for (size_t k = 0; k < n_loaded; k++)
        if (loaded[k].ok && i-- == 0) return loaded[k].path;
    return NULL;
}

sgld_status sgld_plugin_list(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sgld_plugin_count(); i++) {
        const char *path = sgld_plugin_path(i);
        int n = snprintf(buf + used, size - used, "%s%s", i ? ":" : "", path);
        SGLD_CHECK(n >= 0 && (size_t)n < size - used, SGLD_ERR_USAGE,
                   "the plug-ins' paths do not fit in %zu characters (at %s)", size - 1, path);
        used += (size_t)n;
    }
    return SGLD_OK;
}
