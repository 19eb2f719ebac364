/* files.c - the files a run touches, checked before any is written (fileguard.h).
 *
 * Inputs (--data, --test-data, --config) are never outputs, and no two outputs (--output,
 * --checkpoint, FILE.prev, FILE.tmp, their .lock files) are one file, compared by identity so
 * that no spelling of a name and no --force lets an output replace an input.  Rank 0 locks
 * --output and --checkpoint before it touches them and holds the locks to the end of the run,
 * so a second run on either fails at its start.  A fresh run creates checkpoint files only
 * where none are (unless --force); a resumed run replaces FILE.prev and FILE.tmp only when they
 * are checkpoints.  The checks and locks run on rank 0 only and the caller agrees their
 * status; releasing is a no-op on a rank that holds nothing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sgld/checkpoint.h"

#include "run_impl.h"

/* No file the run writes (the sample file, the checkpoint, its .prev and .tmp, their lock
 * files) may be a file it reads (--data, --test-data, --config) or another one it writes,
 * compared by identity (fileguard.h), so that neither --force nor a second spelling of a name
 * lets an output replace an input.  Rank 0; touches nothing. */
sgld_status sgld_run_files_check(const sgld_config *cfg)
{
    char prev[SGLD_PATH_MAX + 8], tmp[SGLD_PATH_MAX + 8], out_lock[SGLD_PATH_MAX + 8],
        ck_lock[SGLD_PATH_MAX + 8];
    const char *ck = cfg->checkpoint[0] ? cfg->checkpoint : NULL, *out = cfg->output[0] ? cfg->output : NULL;
    snprintf(prev, sizeof prev, "%s.prev", cfg->checkpoint);
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg->checkpoint);
    snprintf(out_lock, sizeof out_lock, "%s.lock", cfg->output);
    snprintf(ck_lock, sizeof ck_lock, "%s.lock", cfg->checkpoint);
    const int synthetic = strncmp(cfg->data, "synthetic:", 10) == 0;
    const sgld_file_use uses[] = {
        {"--output", cfg->output, out, 1},
        {"--checkpoint", cfg->checkpoint, ck, 1},
        {"--checkpoint", cfg->checkpoint, ck ? prev : NULL, 1},
        {"--checkpoint", cfg->checkpoint, ck ? tmp : NULL, 1},
        {"--output", cfg->output, out ? out_lock : NULL, 1},
        {"--checkpoint", cfg->checkpoint, ck ? ck_lock : NULL, 1},
        {"--data", cfg->data, synthetic ? NULL : cfg->data, 0},
        {"--test-data", cfg->test_data, cfg->test_data, 0},
        {"--config", cfg->config_path, cfg->config_path, 0},
    };
    return sgld_fileguard_check(uses, (int)(sizeof uses / sizeof uses[0]));
}

/* --checkpoint's directory must be writable before any work starts (bad input, exit 2); a
 * checkpoint that cannot be written later (a full disk) is a runtime failure. */
sgld_status sgld_run_files_check_checkpoint_dir(const sgld_config *cfg)
{
    if (!cfg->checkpoint[0]) return SGLD_OK;
    char dir[SGLD_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", cfg->checkpoint);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    SGLD_CHECK(access(dir, W_OK | X_OK) == 0, SGLD_ERR_USAGE,
               "--checkpoint %s: cannot write in directory '%s': %s", cfg->checkpoint, dir, strerror(errno));
    return SGLD_OK;
}

/* A fresh run creates --checkpoint FILE, FILE.prev and FILE.tmp only where none is (--force
 * replaces them: a checkpoint left by another run is not silently lost); a resumed run replaces
 * FILE.prev and FILE.tmp only when they are checkpoints (an earlier generation, a save cut
 * short).  Rank 0, under the checkpoint's lock. */
static sgld_status check_checkpoint_files(const sgld_config *cfg)
{
    if (!cfg->checkpoint[0] || cfg->force) return SGLD_OK;
    char names[3][SGLD_PATH_MAX + 8];
    snprintf(names[0], sizeof names[0], "%s", cfg->checkpoint);
    snprintf(names[1], sizeof names[1], "%s.prev", cfg->checkpoint);
    snprintf(names[2], sizeof names[2], "%s.tmp", cfg->checkpoint);
    for (int k = cfg->resume ? 1 : 0; k < 3; k++) {
        if (!sgld_fileguard_exists(names[k])) continue;
        if (!cfg->resume && k == 0)
            return sgld_error_set(SGLD_ERR_EXISTS, "--checkpoint %s: file exists (use --force to replace "
                                  "it, or --resume to continue from it)", cfg->checkpoint);
        if (!cfg->resume)
            return sgld_error_set(SGLD_ERR_EXISTS, "--checkpoint %s: %s exists (use --force to replace it)",
                                  cfg->checkpoint, names[k]);
        if (!sgld_checkpoint_sniff(names[k]))
            return sgld_error_set(SGLD_ERR_EXISTS, "--checkpoint %s: %s exists and is not a checkpoint "
                                  "(use --force to replace it)", cfg->checkpoint, names[k]);
    }
    return SGLD_OK;
}

/* Rank 0 takes the locks of the sample file and of the checkpoint (a second run on either fails
 * here, before anything is written) and checks the checkpoint's names.  On failure no lock is
 * held and no lock file is left. */
sgld_status sgld_run_files_claim(run *r)
{
    const sgld_config *cfg = r->cfg;
    sgld_status st = SGLD_OK;
    if (cfg->output[0]) st = sgld_fileguard_lock("--output", cfg->output, &r->out_lock);
    if (st == SGLD_OK && cfg->checkpoint[0]) st = sgld_fileguard_lock("--checkpoint", cfg->checkpoint, &r->ck_lock);
    if (st == SGLD_OK) st = check_checkpoint_files(cfg);
    if (st != SGLD_OK) sgld_run_files_release(r);
    return st;
}

void sgld_run_files_release(run *r)
{
    sgld_fileguard_unlock(&r->ck_lock);
    sgld_fileguard_unlock(&r->out_lock);
}
