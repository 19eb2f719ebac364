/* failwrite.c - an LD_PRELOAD fault shim: a full disk for the files whose path contains
 * SGLD_FAIL_PATH.  The "disk" holds SGLD_FAIL_AFTER_BYTES bytes of such a file: a write or a
 * space reservation that would reach past that offset fails with ENOSPC (SGLD_FAIL_ERRNO,
 * a number, for another error: 5 for EIO), as on a disk that holds nothing but the file.  The
 * limit is on the offset, not on a per-process count, so every MPI rank writing the shared
 * file sees the same disk.  Used by check_diskfull.py where root cannot mount a small tmpfs.
 *
 * Intercepted: write, pwrite(64), writev, pwritev(64), pwritev2 (Open MPI 4.1's OMPIO
 * fbtl/posix writes the sample file with pwrite64 and pwritev; ROMIO's ad_ufs with pwrite;
 * HDF5's sec2 driver with pwrite), and posix_fallocate(64) / fallocate(64), which the
 * sample writer uses to reserve the space of an append. */
/* Both pwrite and pwrite64 (etc.) are defined here, so no redirection of one to the other. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static long long limit(void)
{
    const char *v = getenv("SGLD_FAIL_AFTER_BYTES");
    return v && *v ? atoll(v) : -1;
}

static int fail_errno(void)
{
    const char *v = getenv("SGLD_FAIL_ERRNO");
    return v && *v ? atoi(v) : ENOSPC;
}

/* 1 when fd is a file whose path contains SGLD_FAIL_PATH. */
static int watched(int fd)
{
    const char *pat = getenv("SGLD_FAIL_PATH");
    if (!pat || !*pat || fd < 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    return strstr(path, pat) != NULL;
}

/* 1 (errno set) when [off, off + len) of fd reaches past the limit. */
static int refuse(int fd, long long off, long long len)
{
    long long lim = limit();
    if (lim < 0 || len <= 0 || !watched(fd)) return 0;
    if (off + len <= lim) return 0;
    errno = fail_errno();
    return 1;
}

static long long cur_off(int fd)
{
    static off_t (*real_lseek)(int, off_t, int);
    if (!real_lseek) real_lseek = (off_t(*)(int, off_t, int))dlsym(RTLD_NEXT, "lseek");
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_APPEND)) return real_lseek(fd, 0, SEEK_END);
    return real_lseek(fd, 0, SEEK_CUR);
}

static long long iov_len(const struct iovec *iov, int n)
{
    long long t = 0;
    for (int i = 0; i < n; i++) t += (long long)iov[i].iov_len;
    return t;
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);
typedef int (*pfalloc_fn)(int, off_t, off_t);
typedef int (*falloc_fn)(int, int, off_t, off_t);

/* The next definition of name (libc's), looked up once. */
#define REAL(name, type)                                                                     \
    static type real_##name;                                                                 \
    if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(write, write_fn);
    if (n && fd > 2 && refuse(fd, cur_off(fd), (long long)n)) return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite, pwrite_fn);
    if (refuse(fd, off, (long long)n)) return -1;
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite64, pwrite_fn);
    if (refuse(fd, off, (long long)n)) return -1;
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev, writev_fn);
    if (fd > 2 && refuse(fd, cur_off(fd), iov_len(iov, cnt))) return -1;
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev, pwritev_fn);
    if (refuse(fd, off, iov_len(iov, cnt))) return -1;
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev64, pwritev_fn);
    if (refuse(fd, off, iov_len(iov, cnt))) return -1;
    return real_pwritev64(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    REAL(pwritev2, pwritev2_fn);
    if (refuse(fd, off < 0 ? cur_off(fd) : off, iov_len(iov, cnt))) return -1;
    return real_pwritev2(fd, iov, cnt, off, flags);
}

/* posix_fallocate returns the error number instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len)
{
    REAL(posix_fallocate, pfalloc_fn);
    if (refuse(fd, off, len)) return errno;
    return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
    REAL(posix_fallocate64, pfalloc_fn);
    if (refuse(fd, off, len)) return errno;
    return real_posix_fallocate64(fd, off, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    REAL(fallocate, falloc_fn);
    if (!(mode & FALLOC_FL_PUNCH_HOLE) && refuse(fd, off, len)) return -1;
    return real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
    REAL(fallocate64, falloc_fn);
    if (!(mode & FALLOC_FL_PUNCH_HOLE) && refuse(fd, off, len)) return -1;
    return real_fallocate64(fd, mode, off, len);
}
