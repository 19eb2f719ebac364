/* status.h - result codes, error messages and the three propagation macros.
 *
 * One list of result codes (an X-macro) with one message each; sgld_strerror() expands the
 * same list.  A failing call records one user-facing message (file, field, value) in a
 * per-process error buffer and returns its code; callers on the way up add "from file:line"
 * frames with SGLD_TRY.  The library never exits: main() prints sgld_error_message() and
 * decides.  Not thread-safe (one MPI rank = one thread of control). */
#ifndef SGLD_STATUS_H
#define SGLD_STATUS_H

#include <mpi.h>
#include <stddef.h>

#define SGLD_STATUS_LIST(X)                                              \
    X(SGLD_OK, "success")                                                \
    X(SGLD_ERR_ARG, "invalid argument")                                  \
    X(SGLD_ERR_USAGE, "invalid command line or configuration")           \
    X(SGLD_ERR_NOMEM, "out of memory")                                   \
    X(SGLD_ERR_IO, "input/output error")                                 \
    X(SGLD_ERR_WRITE, "cannot write output during the run")             \
    X(SGLD_ERR_PARSE, "malformed input")                                 \
    X(SGLD_ERR_EXISTS, "file exists")                                    \
    X(SGLD_ERR_MPI, "MPI error")                                         \
    X(SGLD_ERR_HDF5, "HDF5 error")                                       \
    X(SGLD_ERR_NUMERIC, "numerical failure")                             \
    X(SGLD_ERR_REMOTE, "another rank failed")                            \
    X(SGLD_ERR_INTERNAL, "internal error")

typedef enum {
#define SGLD_STATUS_ENUM(code, msg) code,
    SGLD_STATUS_LIST(SGLD_STATUS_ENUM)
#undef SGLD_STATUS_ENUM
    SGLD_STATUS_COUNT
} sgld_status;

/* Returns the fixed message of a code ("unknown status" for out-of-range values).
 * Not collective. */
const char *sgld_strerror(sgld_status st);

/* Records a formatted message for st (replacing any earlier one, clearing frames) and
 * returns st, so that `return sgld_error_set(SGLD_ERR_ARG, "...")` reads naturally.
 * Not collective. */
sgld_status sgld_error_set(sgld_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends a "from file:line (expr)" frame to the current error's traceback.  Not collective. */
void sgld_error_frame(const char *file, int line, const char *expr);

/* The current message (the one line for the user; "" if none) and the traceback frames
 * (newline-separated, "" if none).  Valid until the next sgld_error_set/clear.  Not collective. */
const char *sgld_error_message(void);
const char *sgld_error_trace(void);
void sgld_error_clear(void);

/* Fail with a formatted message when cond is false. */
#define SGLD_CHECK(cond, st, ...)                                        \
    do {                                                                 \
        if (!(cond)) return sgld_error_set((st), __VA_ARGS__);           \
    } while (0)

/* Propagate a failed call, adding a traceback frame. */
#define SGLD_TRY(expr)                                                   \
    do {                                                                 \
        sgld_status sgld_try_st_ = (expr);                               \
        if (sgld_try_st_ != SGLD_OK) {                                   \
            sgld_error_frame(__FILE__, __LINE__, #expr);                 \
            return sgld_try_st_;                                         \
        }                                                                \
    } while (0)

/* Same, for functions with a cleanup label: stores the code in `st` and jumps. */
#define SGLD_TRY_GOTO(expr, st, label)                                   \
    do {                                                                 \
        (st) = (expr);                                                   \
        if ((st) != SGLD_OK) {                                           \
            sgld_error_frame(__FILE__, __LINE__, #expr);                 \
            goto label;                                                  \
        }                                                                \
    } while (0)

/* Turn an MPI return code into a status with the failing expression in the message. */
#define SGLD_MPI(expr)                                                   \
    do {                                                                 \
        int sgld_mpi_rc_ = (expr);                                       \
        if (sgld_mpi_rc_ != 0)                                           \
            return sgld_error_set(SGLD_ERR_MPI, "%s failed (code %d) at %s:%d", \
                                  #expr, sgld_mpi_rc_, __FILE__, __LINE__); \
    } while (0)

/* Turn a negative HDF5 return value into a status naming the expression and a context
 * string (usually the file path). */
#define SGLD_H5(expr, path)                                              \
    do {                                                                 \
        if ((long long)(expr) < 0)                                       \
            return sgld_error_set(SGLD_ERR_HDF5, "%s: HDF5 call %s failed", (path), #expr); \
    } while (0)

/* Ranks agree on failure before the next collective (SUNDIALS' rule).  Every rank of comm
 * passes its local status and gets back the same status: OK if all were OK, otherwise the
 * status and message of the lowest failing rank (which every rank then holds, so rank 0 can
 * print it).  Collective over comm. */
sgld_status sgld_status_agree(MPI_Comm comm, sgld_status local);

/* ---- input files ---- */

/* Refuses an input path that exists but is not a regular file, with SGLD_ERR_USAGE and
 * "PATH: a FIFO, not a regular file (...)": a FIFO without a writer blocks open() forever,
 * and the readers seek and read a file more than once, which a FIFO, socket or device cannot
 * give.  Never opens the path (stat only).  A path that does not exist or that stat cannot
 * see returns SGLD_OK, left to the reader's own "cannot open" message.  Local. */
sgld_status sgld_input_check(const char *path);

/* ---- allocation: every allocation goes through these (fault injection hook) ---- */

/* malloc/calloc/realloc wrappers.  They return NULL on failure (including an injected
 * failure, see sgld_alloc_fail_after) and never exit.  Not collective. */
void *sgld_malloc(size_t size);
void *sgld_calloc(size_t n, size_t size);
void *sgld_realloc(void *p, size_t size);
char *sgld_strdup(const char *s);
void sgld_free(void *p);

/* Test hook: make the n-th allocation from now on fail (n >= 1); n = 0 disables.
 * Not collective. */
void sgld_alloc_fail_after(long n);

/* Allocate n elements into ptr or fail with SGLD_ERR_NOMEM naming what was allocated. */
#define SGLD_ALLOC(ptr, n)                                               \
    do {                                                                 \
        size_t sgld_alloc_n_ = (size_t)(n);                              \
        (ptr) = sgld_calloc(sgld_alloc_n_ ? sgld_alloc_n_ : 1, sizeof *(ptr)); \
        if (!(ptr))                                                      \
            return sgld_error_set(SGLD_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", \
                                  sgld_alloc_n_, sizeof *(ptr), #ptr);   \
    } while (0)

#endif
