/* fileguard.c - file identity and writer locks (include/sgld/fileguard.h).
 *
 * The lock protocol is the usual one for lock files that are removed on release: open (or
 * create) the sidecar, take a write lock on it (F_OFD_SETLK), then check that the name still
 * refers to the inode that was locked; if a releasing holder removed it in between, the lock
 * is on an orphan inode and the whole sequence is retried.  The holder removes the name before closing, so a
 * name that exists and is locked always belongs to a live holder. */
#include "sgld/fileguard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40   /* symlinks followed for a name that does not exist (as the kernel's ELOOP) */
#define LOCK_TRIES 20  /* retries when the sidecar was removed under us */
#define LOCK_TAG "sgld-dist pid "

/* Open file description locks: owned by the open file, not the process, so that no other
 * close() of the sidecar in this process drops them (a POSIX F_SETLK lock is dropped by any
 * close of the file), and a second open in the same process conflicts too.  Kernels before
 * 3.15 only have F_SETLK (EINVAL), which is used then. */
#ifndef F_OFD_SETLK
#define F_OFD_SETLK F_SETLK
#define F_OFD_GETLK F_GETLK
#endif

static int set_lock(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int rc = fcntl(fd, F_OFD_SETLK, &fl);
    if (rc != 0 && errno == EINVAL) rc = fcntl(fd, F_SETLK, &fl);
    return rc;
}

typedef struct file_key {
    int exists;           /* dev, ino are the file's; else its directory's, with name */
    dev_t dev;
    ino_t ino;
    char name[NAME_MAX + 1];
} file_key;

/* Identifies path (see fileguard.h).  Returns 0, or -1 when it cannot be resolved. */
static int identify(const char *path, file_key *k)
{
    struct stat sb;
    memset(k, 0, sizeof *k);
    if (!path || !path[0]) return -1;
    if (stat(path, &sb) == 0) {
        k->exists = 1;
        k->dev = sb.st_dev;
        k->ino = sb.st_ino;
        return 0;
    }
    if (errno != ENOENT) return -1;
    char buf[PATH_MAX], target[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (int depth = 0; lstat(buf, &sb) == 0 && S_ISLNK(sb.st_mode); depth++) {
        ssize_t n = readlink(buf, target, sizeof target - 1);
        if (depth == MAX_LINKS || n <= 0) return -1;
        target[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (target[0] == '/' || !slash) {
            snprintf(buf, sizeof buf, "%s", target);
        } else {
            slash[1] = '\0';
            size_t used = strlen(buf);
            if (used + (size_t)n >= sizeof buf) return -1;
            memcpy(buf + used, target, (size_t)n + 1);
        }
    }
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    char *slash = strrchr(buf, '/');
    const char *base = slash ? slash + 1 : buf;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || strlen(base) > NAME_MAX) return -1;
    snprintf(k->name, sizeof k->name, "%s", base);
    if (!slash) snprintf(buf, sizeof buf, ".");
    else if (slash == buf) buf[1] = '\0';
    else *slash = '\0';
    if (stat(buf, &sb) != 0) return -1;
    k->dev = sb.st_dev;
    k->ino = sb.st_ino;
    return 0;
}

static int same_key(const file_key *a, const file_key *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
           (a->exists || strcmp(a->name, b->name) == 0);
}

/* "--checkpoint ck" or, for a name made from the value, "--checkpoint ck (its ck.prev)". */
static void describe(const sgld_file_use *u, char *buf, size_t size)
{
    const char *given = u->given ? u->given : u->path;
    if (strcmp(given, u->path) != 0)
        snprintf(buf, size, "%s %s (its %s)", u->option, given, u->path);
    else
        snprintf(buf, size, "%s %s", u->option, given);
}

sgld_status sgld_fileguard_check(const sgld_file_use *uses, int n)
{
    for (int i = 0; i < n; i++) {
        file_key ki, kj;
        if (!uses[i].path || !uses[i].path[0] || identify(uses[i].path, &ki) != 0) continue;
        for (int j = i + 1; j < n; j++) {
            if (!uses[i].writes && !uses[j].writes) continue;
            if (!uses[j].path || !uses[j].path[0] || identify(uses[j].path, &kj) != 0) continue;
            if (!same_key(&ki, &kj)) continue;
            /* Name the output first: it is the one that would do the damage. */
            const sgld_file_use *w = uses[i].writes ? &uses[i] : &uses[j];
            const sgld_file_use *o = w == &uses[i] ? &uses[j] : &uses[i];
            char a[PATH_MAX + 64], b[PATH_MAX + 64];
            describe(w, a, sizeof a);
            describe(o, b, sizeof b);
            return sgld_error_set(SGLD_ERR_USAGE, "%s and %s are the same file: %s", a, b,
                                  o->writes ? "two outputs cannot share one file"
                                            : "an output must not replace an input");
        }
    }
    return SGLD_OK;
}

int sgld_fileguard_exists(const char *path)
{
    struct stat sb;
    return path && path[0] && lstat(path, &sb) == 0;
}

/* The holder named by a sidecar's text ("process 1234 on host h"), or by the kernel's F_GETLK
 * when the text is not there yet (the holder locks before it writes). */
static void holder(int fd, char *buf, size_t size)
{
    char text[256];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    long pid = 0;
    char host[128] = "";
    if (strncmp(text, LOCK_TAG, strlen(LOCK_TAG)) == 0 &&
        sscanf(text + strlen(LOCK_TAG), "%ld host %127s", &pid, host) >= 1 && pid > 0) {
        if (host[0]) snprintf(buf, size, "process %ld on host %s", pid, host);
        else snprintf(buf, size, "process %ld", pid);
        return;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0) /* OFD: l_pid is -1 */
        snprintf(buf, size, "process %ld", (long)fl.l_pid);
    else
        snprintf(buf, size, "another process");
}

/* 1 when the sidecar's text is empty or a lock of ours (a stale one is taken over). */
static int ours(int fd)
{
    char text[sizeof LOCK_TAG];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    return n == 0 || (n == (ssize_t)strlen(LOCK_TAG) && memcmp(text, LOCK_TAG, (size_t)n) == 0);
}

sgld_status sgld_fileguard_lock(const char *option, const char *path, sgld_file_lock *lock)
{
    lock->fd = -1;
    SGLD_CHECK(path && path[0] && snprintf(lock->path, sizeof lock->path, "%s.lock", path) <
                   (int)sizeof lock->path,
               SGLD_ERR_USAGE, "%s: the path is too long", option);
    for (int attempt = 0; attempt < LOCK_TRIES; attempt++) {
        int created = 0;
        int fd = open(lock->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT) {
            fd = open(lock->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            created = fd >= 0;
            if (fd < 0 && errno == EEXIST) continue; /* another process created it: look again */
        }
        if (fd < 0)
            return sgld_error_set(errno == ELOOP ? SGLD_ERR_EXISTS : SGLD_ERR_USAGE,
                                  "%s %s: cannot create its lock file %s: %s", option, path,
                                  lock->path, errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        if (set_lock(fd) != 0) {
            int err = errno;
            char who[256];
            if (err == EACCES || err == EAGAIN) holder(fd, who, sizeof who);
            close(fd); /* a sidecar we created and another process locked first is its now */
            if (err == EACCES || err == EAGAIN)
                return sgld_error_set(SGLD_ERR_EXISTS, "%s %s is in use by another run: %s holds %s",
                                      option, path, who, lock->path);
            return sgld_error_set(SGLD_ERR_USAGE, "%s %s: cannot lock %s: %s", option, path, lock->path,
                                  strerror(err));
        }
        struct stat held, named;
        if (fstat(fd, &held) != 0 || lstat(lock->path, &named) != 0 || held.st_dev != named.st_dev ||
            held.st_ino != named.st_ino) {
            close(fd); /* locked an inode its holder had just removed: start again */
            continue;
        }
        if (!created && !ours(fd)) {
            close(fd);
            return sgld_error_set(SGLD_ERR_EXISTS, "%s %s: %s exists and is not a lock file of sgld-dist "
                                  "(remove or rename it)", option, path, lock->path);
        }
        char text[256], host[128] = "";
        gethostname(host, sizeof host - 1);
        int len = snprintf(text, sizeof text, LOCK_TAG "%ld host %s\n", (long)getpid(),
                           host[0] ? host : "?");
        /* The text only names the holder for a refused writer; the lock works without it (a
         * full disk may refuse the bytes). */
        if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)len, 0) != len) (void)!ftruncate(fd, 0);
        lock->fd = fd;
        return SGLD_OK;
    }
    return sgld_error_set(SGLD_ERR_EXISTS, "%s %s: its lock file %s keeps being replaced by other "
                          "processes", option, path, lock->path);
}

void sgld_fileguard_unlock(sgld_file_lock *lock)
{
    if (!lock || lock->fd < 0) return;
    unlink(lock->path);
    close(lock->fd);
    lock->fd = -1;
}
