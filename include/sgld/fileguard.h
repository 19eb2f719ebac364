/* fileguard.h - files by identity (so that an output never replaces an input) and exclusive
 * locks that keep a second writer off a run's files.
 *
 * Identity: two names are the same file when they resolve to the same (st_dev, st_ino) after
 * following symbolic links, so x, ./x, a hard link to x and a symlink to x are all x.  A name
 * that does not exist yet (an output to be created) is identified by its directory's
 * (st_dev, st_ino) and its last component, after following a dangling symlink to where it
 * points: two spellings of one new file are the same file too.
 *
 * Locks: a writer holds a write lock (fcntl F_OFD_SETLK, an open file description lock) on the
 * sidecar PATH.lock, not on PATH itself, for three reasons: HDF5 takes its own flock() on
 * files it opens serially (a lock of ours on the sample file would make that fail), MPI-IO
 * takes fcntl byte-range locks on NFS (which would conflict with or, for blocking locks, wait
 * on ours), and a checkpoint is replaced by rename at every save (a lock on the old inode
 * would protect nothing). The sidecar holds "sgld-dist pid N host H", so that a refused second
 * writer names the holder; it is removed when the lock is released. A sidecar left by a killed
 * run holds no lock (the kernel drops it with the process) and is taken over. */
#ifndef SGLD_FILEGUARD_H
#define SGLD_FILEGUARD_H

#include "sgld/status.h"

/* One file a program reads or writes, as the user named it. */
typedef struct sgld_file_use {
    const char *option; /* "--output", "--data", "FILE" ... */
    const char *given;  /* the option's value (for the message) */
    const char *path;   /* the file itself: given, or a name made from it (given.prev) */
    int writes;         /* 1: the program creates, replaces or changes it */
} sgld_file_use;

/* Compares every file written with every other entry (read or written) by identity and
 * returns SGLD_ERR_USAGE on the first pair that is the same file, with one line naming both
 * options and paths ("--output ./a.csv and --data a.csv are the same file: an output must not
 * replace an input").  Entries with a NULL or empty path are skipped; a name that cannot be
 * resolved (a missing directory, no permission) matches nothing (opening it fails later with
 * its own message).  Not collective; touches nothing. */
sgld_status sgld_fileguard_check(const sgld_file_use *uses, int n);

/* 1 when path names an existing file (links followed) or a dangling symbolic link.  Not
 * collective. */
int sgld_fileguard_exists(const char *path);

/* Bytes of a sidecar's name: Linux's PATH_MAX, spelled out because <limits.h> defines
 * PATH_MAX only under POSIX feature macros, and this header must compile without them. */
#define SGLD_FILE_LOCK_PATH_MAX 4096

typedef struct sgld_file_lock {
    int fd;                               /* -1 when not held */
    char path[SGLD_FILE_LOCK_PATH_MAX];   /* the sidecar */
} sgld_file_lock;

/* Takes the exclusive lock of path (the sidecar path.lock, created when absent).  Fails
 * without waiting: SGLD_ERR_EXISTS when another process holds it ("OPTION PATH is in use by
 * another run: process 1234 on host h holds PATH.lock") or when path.lock exists and is not a
 * lock of this program (it is left alone); SGLD_ERR_USAGE when the sidecar cannot be created.
 * On failure nothing is left behind and lock->fd = -1.  Not collective: one rank locks.
 * Allocates nothing. */
sgld_status sgld_fileguard_lock(const char *option, const char *path, sgld_file_lock *lock);

/* Removes the sidecar and releases the lock (while still holding it, so that no other
 * process can take the lock on a name that is about to disappear).  NULL-safe; a lock that is
 * not held (fd = -1) is ignored.  Not collective. */
void sgld_fileguard_unlock(sgld_file_lock *lock);

#endif
