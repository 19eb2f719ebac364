/* killsuper.c - an LD_PRELOAD shim: kill -9 at the worst instant of a flush.  The process
 * sends itself SIGKILL just before its SGLD_KILL_AT-th write at offset 0 (counting from 1) to
 * the file whose path ends with SGLD_KILL_PATH.  HDF5 writes the superblock (at offset 0) last
 * in a flush, after every object header and chunk index node, so at one rank the file is then
 * left with the whole flush on disk but the superblock's end-of-allocation address.  With
 * SGLD_KILL_AT unset or 0 the shim only counts, and at exit writes the count of such writes to
 * the file SGLD_KILL_COUNT.  Used by check_resume.py killsuper.
 *
 * Intercepted: pwrite(64), pwritev(64), pwritev2 (how OMPIO's fbtl/posix and HDF5's sec2
 * driver write; see tests/hardening/failwrite.c). */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* 1 when fd is the watched file. */
static int watched(int fd)
{
    const char *want = getenv("SGLD_KILL_PATH");
    if (!want || !*want || fd < 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    size_t lp = strlen(path), lw = strlen(want);
    return lp >= lw && strcmp(path + lp - lw, want) == 0;
}

static long long count;

/* Counts writes at offset 0 of the watched file; SIGKILL before the SGLD_KILL_AT-th. */
static void maybe_die(int fd, long long off, long long len)
{
    if (off != 0 || len <= 0 || !watched(fd)) return;
    const char *at = getenv("SGLD_KILL_AT");
    if (++count == (at ? atoll(at) : 0)) raise(SIGKILL);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("SGLD_KILL_COUNT");
    if (!path || !*path || !count) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%lld\n", count);
    fclose(f);
}

static long long iov_len(const struct iovec *iov, int n)
{
    long long t = 0;
    for (int i = 0; i < n; i++) t += (long long)iov[i].iov_len;
    return t;
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);

#define REAL(name, type)                                                                     \
    static type real_##name;                                                                 \
    if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite, pwrite_fn);
    maybe_die(fd, off, (long long)n);
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite64, pwrite_fn);
    maybe_die(fd, off, (long long)n);
    return real_pwrite64(fd, buf, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev, pwritev_fn);
    maybe_die(fd, off, iov_len(iov, cnt));
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev64, pwritev_fn);
    maybe_die(fd, off, iov_len(iov, cnt));
    return real_pwritev64(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    REAL(pwritev2, pwritev2_fn);
    maybe_die(fd, off, iov_len(iov, cnt));
    return real_pwritev2(fd, iov, cnt, off, flags);
}
