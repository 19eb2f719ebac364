/* checkpoint.h - the saved state of a run, for --resume.
 *
 * A checkpoint holds everything a restart needs to continue the very same chains: the
 * parameters and the sampler state of every chain (plain floats, sgld_sampler_type's
 * state_size), the number of completed steps, the number of draws per chain in the sample
 * file, the layout (chains, shards, sizes) and the configuration that defines the chain.
 * The counter-based generator needs no state beyond the step number (rng.h).
 *
 * File format (version 1, little-endian):
 *   offset  0  char[8]  magic "SGLDCKPT"
 *           8  u32      version (1)
 *          12  u32      header bytes (80)
 *          16  u64      configuration hash (FNV-1a 64 of the configuration text)
 *          24  i64      step (completed iterations)
 *          32  i64      draws per chain in the sample file
 *          40  i32      chains            44  i32  shards (ranks per chain)
 *          48  u64      n_params          56  u64  state floats per chain
 *          64  u64      configuration text bytes
 *          72  u32      CRC-32 of bytes 0..71 (so sizes are trusted before use)
 *          76  u32      0
 *          80  the configuration text ("key = value" lines, see sgld_checkpoint_config)
 *              then per chain: theta[n_params], state[state floats] (IEEE float32): the
 *              state its ranks share, then the part each rank keeps of its own (sampler.h,
 *              prepare; ksgld's shares of the K-FAC factors), shard 0's first
 *     end - 4  u32      CRC-32 (IEEE 802.3, zlib's crc32) of every byte before it
 *
 * Writing is atomic: FILE.tmp is created anew (a stale one, or a symbolic link of that name, is
 * removed first, never written through) and fsync'd, the current FILE is hard-linked to
 * FILE.prev (the previous generation), FILE.tmp is renamed over FILE and the directory is
 * fsync'd.  At every moment FILE is a complete checkpoint (the old or the new one). */
#ifndef SGLD_CHECKPOINT_H
#define SGLD_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "sgld/config.h"
#include "sgld/status.h"

#define SGLD_CHECKPOINT_VERSION 1

typedef struct sgld_checkpoint {
    uint64_t config_hash; /* sgld_checkpoint_hash(config) */
    int64_t step;         /* completed iterations */
    int64_t n_draws;      /* draws per chain in the sample file at this step */
    int32_t n_chains, n_shards;
    uint64_t n_params, state_size;
    char *config;         /* NUL-terminated configuration text (owned) */
    float *data;          /* [n_chains][n_params + state_size] (owned) */
} sgld_checkpoint;

/* The lines "key = value\n" of sgld_config_write for every option that changes the chain:
 * all of them except the ones that only steer output and control (output, force, quiet,
 * progress, flush-every, log-view, checkpoint*, max-rows).  New options are chain-defining unless
 * added to that list; then, when plug-ins were loaded, the comment "# plug-ins (ABI N): PATHS"
 * (comments are not compared on --resume, so a plug-in may move).  *text is allocated
 * (sgld_free).  Not collective. */
sgld_status sgld_checkpoint_config(const sgld_config *cfg, char **text);

/* FNV-1a 64 of a NUL-terminated string.  Not collective. */
uint64_t sgld_checkpoint_hash(const char *text);

/* CRC-32 (IEEE, reflected, as zlib's crc32): crc = sgld_checkpoint_crc32(0, buf, n) and
 * chained as crc = sgld_checkpoint_crc32(crc, more, m).  Not collective. */
uint32_t sgld_checkpoint_crc32(uint32_t crc, const void *buf, size_t n);

/* Writes ck to path atomically (see above), keeping the previous file as path.prev.  On
 * failure (SGLD_ERR_IO naming the path and the system error) path is untouched and the
 * temporary file removed.  Not collective: one rank writes. */
sgld_status sgld_checkpoint_save(const char *path, const sgld_checkpoint *ck);

/* Reads and verifies path into ck (which then owns config and data; free with
 * sgld_checkpoint_free).  SGLD_ERR_IO when missing or unreadable, SGLD_ERR_PARSE when it is
 * not a checkpoint, of another version, truncated or corrupted (checksum mismatch); the
 * message names the file and what is wrong.  Not collective. */
sgld_status sgld_checkpoint_load(const char *path, sgld_checkpoint *ck);

/* Checks that ck continues the run described by config (sgld_checkpoint_config text) on
 * n_chains x n_shards ranks with these sizes.  SGLD_ERR_USAGE naming the first key that
 * differs ("seed = 1 in the checkpoint but 2 now") and how to start afresh.  `steps` may
 * differ (a run is lengthened on --resume: the draws so far do not depend on it) except with
 * csgld, whose step-size cycles span --steps; the caller checks that the checkpoint's step
 * is within the new --steps.  An option the checkpoint lacks (one added since it was made)
 * matches when it is at its default now (sgld_config_key_is_default).  Not collective. */
sgld_status sgld_checkpoint_match(const char *path, const sgld_checkpoint *ck, const char *config,
                                  int n_chains, int n_shards, size_t n_params, size_t state_size);

/* The `steps` value in ck's configuration text (the run length it was saved for), or -1
 * when absent or not a positive integer.  Not collective. */
int64_t sgld_checkpoint_steps(const sgld_checkpoint *ck);

/* 1 when the first bytes of path are a checkpoint's magic, or a prefix of it (a save cut short
 * leaves FILE.tmp with any length); 0 otherwise or when it cannot be read.  Not collective. */
int sgld_checkpoint_sniff(const char *path);

/* The first key whose value differs between two configuration texts a and b (made by
 * sgld_checkpoint_config), keys of a first, then keys only b has.  Returns 0 when they agree,
 * else 1 with the key and both values in d (NUL-terminated, cut to fit; "(absent)" for a key
 * one text lacks).  Not collective. */
typedef struct sgld_checkpoint_diff {
    char key[64];
    char a[300], b[300];
} sgld_checkpoint_diff;
int sgld_checkpoint_compare(const char *a, const char *b, sgld_checkpoint_diff *d);

/* Frees what ck owns and zeroes it.  NULL-safe.  Not collective. */
void sgld_checkpoint_free(sgld_checkpoint *ck);

#endif
