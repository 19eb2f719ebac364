/* status.c - the result-code table, the per-process error buffer, the allocation wrappers
 * (with a fail-the-n-th-allocation hook for fault-injection tests) and the input-file check. */
#include "sgld/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const messages[] = {
#define SGLD_STATUS_MSG(code, msg) msg,
    SGLD_STATUS_LIST(SGLD_STATUS_MSG)
#undef SGLD_STATUS_MSG
};

static char err_msg[1024];
static char err_trace[2048];

const char *sgld_strerror(sgld_status st)
{
    if ((int)st < 0 || st >= SGLD_STATUS_COUNT) return "unknown status";
    return messages[st];
}

sgld_status sgld_error_set(sgld_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    err_trace[0] = '\0';
    return st;
}

void sgld_error_frame(const char *file, int line, const char *expr)
{
    size_t used = strlen(err_trace);
    if (used + 1 >= sizeof err_trace) return;
    snprintf(err_trace + used, sizeof err_trace - used, "  from %s:%d (%s)\n", file, line, expr);
}

const char *sgld_error_message(void) { return err_msg; }
const char *sgld_error_trace(void) { return err_trace; }

void sgld_error_clear(void)
{
    err_msg[0] = '\0';
    err_trace[0] = '\0';
}

static long fail_countdown;

void sgld_alloc_fail_after(long n) { fail_countdown = n > 0 ? n : 0; }

/* True when the injected failure is due now. */
static int injected_failure(void)
{
    if (fail_countdown == 0) return 0;
    if (--fail_countdown == 0) return 1;
    return 0;
}

void *sgld_malloc(size_t size) { return injected_failure() ? NULL : malloc(size ? size : 1); }

void *sgld_calloc(size_t n, size_t size)
{
    return injected_failure() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *sgld_realloc(void *p, size_t size)
{
    return injected_failure() ? NULL : realloc(p, size ? size : 1);
}

char *sgld_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = sgld_malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

void sgld_free(void *p) { free(p); }

sgld_status sgld_status_agree(MPI_Comm comm, sgld_status local)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* Lowest failing rank, or size when none failed. */
    int mine = local != SGLD_OK ? rank : size, first = size;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return sgld_error_set(SGLD_ERR_MPI, "MPI_Allreduce failed while agreeing on a status");
    if (first == size) return SGLD_OK;
    int code = (int)local;
    char msg[sizeof err_msg];
    if (rank == first) memcpy(msg, err_msg, sizeof msg);
    MPI_Bcast(&code, 1, MPI_INT, first, comm);
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    if (rank != first) {
        memcpy(err_msg, msg, sizeof err_msg);
        err_msg[sizeof err_msg - 1] = '\0';
        err_trace[0] = '\0';
    }
    return (sgld_status)code;
}

sgld_status sgld_input_check(const char *path)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || S_ISREG(sb.st_mode)) return SGLD_OK;
    const char *kind = S_ISFIFO(sb.st_mode) ? "a FIFO"
                       : S_ISDIR(sb.st_mode) ? "a directory"
                       : S_ISCHR(sb.st_mode) ? "a character device"
                       : S_ISBLK(sb.st_mode) ? "a block device"
                       : S_ISSOCK(sb.st_mode) ? "a socket"
                                              : "of an unknown type";
    return sgld_error_set(SGLD_ERR_USAGE, "%s: %s, not a regular file (inputs are read with seeks and "
                          "more than once, so they must be regular files)", path, kind);
}
