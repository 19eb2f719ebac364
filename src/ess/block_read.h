/* block_read.h - the fast reader of sgld-ess: blocks of elements of a 3-D floating-point
 * variable [chain][draw][element], read in the file's chunk order (block_read.c). */
#ifndef SGLD_ESS_BLOCK_READ_H
#define SGLD_ESS_BLOCK_READ_H

#include <stdint.h>

typedef struct block_reader block_reader;

/* Opens /group/name of path for block reads when it is a 3-D dataset of 4- or 8-byte IEEE
 * floats; returns NULL otherwise (or on any HDF5 failure), and the caller falls back on
 * sgld_samples_read_elems.  Not collective: each rank opens the file read-only. */
block_reader *block_reader_open(const char *path, const char *group, const char *name);
void block_reader_close(block_reader **br); /* NULL-safe; *br = NULL */

/* Reads elements [e0, e0 + ne) into out[e][c * n_draws + t] (doubles, exact for float data).
 * Returns 0 on success, -1 on an HDF5 failure. */
int block_reader_read(block_reader *br, int64_t e0, int64_t ne, double *out);

#endif
