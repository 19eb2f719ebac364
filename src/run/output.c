/* output.c - the sample file of a run (samples.h; the layout is README.md's "The sample file").
 *
 * Variables: one per saved parameter tensor in group posterior (float32, [chain, draw, dims]),
 * the `feature` and `class` dimensions labelled with the data's column and class names,
 * then lp, step_size, divergences (with --on-divergence shrink|skip) and the sampler's own
 * stats in sample_stats (float64, [chain, draw]), then diverging (bool, with --on-divergence
 * shrink|skip), in that order (output_vars); the writer's
 * draw buffer holds them in the same order, so record and flush agree with the file by
 * construction.  Root attributes: the configuration as INI text (`config`, which a resumed run
 * checks against its checkpoint), versions, data facts, feature and class names, and, when
 * plug-ins were loaded, their paths (`plugins`) and ABI number (`plugin_abi`).  With
 * --superchains, the coordinate `superchain` on the chain dimension of each group.  The group
 * `monitor` (monitor.c's table, sgld_run_monitor_table) is created with the file and opened,
 * before the cut back, with a resumed one.  Every
 * collective here is over the grid; a writer (shard 0 of a chain) passes its chain's draws,
 * the other ranks take part with none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hdf5.h>

#include "sgld/checkpoint.h"
#include "sgld/version.h"

#include "run_impl.h"

/* Saved parameter tensors, lp, step_size, divergences, the sampler's stats, diverging. */
#define OUTPUT_MAX_VARS (SGLD_MODEL_MAX_VARS + 4 + SGLD_SAMPLER_MAX_STATS)

/* The labels of a model dimension: the data's column names for `feature` (d long) and its
 * class names for `class` (n_classes long), else NULL (the dimension is numbered 0..len-1). */
static const char *const *dim_labels(const run *r, const char *name, int64_t len)
{
    const sgld_dataset *d = r->train;
    if (!strcmp(name, "feature") && len == d->d && d->feature_names) return (const char *const *)d->feature_names;
    if (!strcmp(name, "class") && len == d->n_classes && d->class_names) return (const char *const *)d->class_names;
    return NULL;
}

/* The sample file's variables: one per saved parameter tensor (its `feature` and `class`
 * dimensions labelled, dim_labels), lp, step_size and the sampler's stats.  Returns their
 * number. */
static int output_vars(const run *r, sgld_var_spec *vars)
{
    int n = 0;
    for (int v = 0; v < r->model.n_vars; v++) {
        const sgld_param_var *pv = &r->model.vars[v];
        if (!pv->save) continue;
        vars[n].group = "posterior";
        vars[n].name = pv->name;
        vars[n].n_dims = pv->n_dims;
        for (int k = 0; k < pv->n_dims; k++) {
            vars[n].dims[k] = pv->dims[k];
            vars[n].dim_names[k] = pv->dim_names[k];
            vars[n].dim_labels[k] = dim_labels(r, pv->dim_names[k], pv->dims[k]);
        }
        vars[n++].dtype = SGLD_F32;
    }
    vars[n++] = (sgld_var_spec){.group = "sample_stats", .name = "lp", .dtype = SGLD_F64};
    vars[n++] = (sgld_var_spec){.group = "sample_stats", .name = "step_size", .dtype = SGLD_F64};
    if (r->on_div != DIV_ABORT)
        vars[n++] = (sgld_var_spec){.group = "sample_stats", .name = "divergences", .dtype = SGLD_F64};
    for (int k = 0; k < r->sampler->n_stats; k++)
        vars[n++] = (sgld_var_spec){.group = "sample_stats", .name = r->sampler->stat_names[k], .dtype = SGLD_F64};
    if (r->on_div != DIV_ABORT)
        vars[n++] = (sgld_var_spec){.group = "sample_stats", .name = "diverging", .dtype = SGLD_BOOL};
    return n;
}

/* --save-observed: the training targets as group observed_data, y [obs] (float64 for a
 * regression, int64 class indices for a classification) in the training set's row order,
 * written by the ranks of chain 0, each its own shard's rows.  Collective over the grid. */
static sgld_status write_observed(run *r)
{
    const sgld_dataset *d = r->train;
    const int save = r->cfg->save_observed;
    if (save == SGLD_OBSERVED_NO || (save == SGLD_OBSERVED_AUTO && d->n_total > SGLD_OBSERVED_AUTO_BYTES / 8))
        return SGLD_OK;
    const int mine = r->grid->chain == 0;
    return sgld_samples_observed(r->out, "observed_data", "y", "obs", d->n_total, mine ? d->row_begin : 0,
                                 mine ? d->n_local : 0, d->y, d->n_classes > 0);
}

/* The sample file's `config` attribute: this run's configuration as INI text.  Collective
 * over the grid. */
static sgld_status write_config_attr(run *r)
{
    char *ini = NULL;
    size_t ini_len = 0;
    FILE *f = open_memstream(&ini, &ini_len);
    SGLD_CHECK(f, SGLD_ERR_NOMEM, "out of memory formatting the configuration");
    sgld_config_write(r->cfg, f);
    fclose(f);
    sgld_status st = sgld_samples_attr_string(r->out, "", "config", ini);
    free(ini);
    return st;
}

/* --superchains K: the coordinate superchain[c] = c / (C / K) on the chain dimension, for
 * sgld-ess summary's nested R-hat.  Collective over the grid. */
static sgld_status write_superchains(run *r)
{
    const int n_chains = r->grid->n_chains, per = n_chains / r->cfg->superchains;
    int64_t *ids = sgld_malloc((size_t)n_chains * sizeof *ids);
    sgld_status st = ids ? SGLD_OK
                         : sgld_error_set(SGLD_ERR_NOMEM, "out of memory for %d superchain ids", n_chains);
    for (int c = 0; ids && c < n_chains; c++) ids[c] = c / per;
    st = sgld_status_agree(r->grid->comm, st);
    if (st == SGLD_OK) st = sgld_samples_chain_coord(r->out, "superchain", ids);
    sgld_free(ids);
    return st;
}

/* What --gradient, --init and --step-size auto chose and found (start.c): root attributes
 * gradient, init, init_seconds (the slowest chain's), and with --init map init_iterations,
 * init_evaluations, init_grad_norm and init_log_posterior (this writer's chain is chain 0's
 * on rank 0, which writes attributes), with auto step_size_auto (a) and lambda_max.
 * Collective over the grid. */
static sgld_status start_attrs(run *r)
{
    const sgld_config *cfg = r->cfg;
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "gradient", cfg->gradient));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "init", cfg->init));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "init_seconds", 1, &r->init_seconds));
    if (r->init_kind == SGLD_INIT_MAP) {
        const int64_t it[2] = {r->mode.iterations, r->mode.evaluations};
        SGLD_TRY(sgld_samples_attr_int(r->out, "", "init_iterations", 1, &it[0]));
        SGLD_TRY(sgld_samples_attr_int(r->out, "", "init_evaluations", 1, &it[1]));
        SGLD_TRY(sgld_samples_attr_double(r->out, "", "init_grad_norm", 1, &r->mode.grad_norm));
        SGLD_TRY(sgld_samples_attr_double(r->out, "", "init_log_posterior", 1, &r->mode.log_post));
    }
    if (cfg->step_size_auto) {
        SGLD_TRY(sgld_samples_attr_double(r->out, "", "step_size_auto", 1, &cfg->step_size));
        SGLD_TRY(sgld_samples_attr_double(r->out, "", "lambda_max", 1, &r->lambda_max));
    }
    return SGLD_OK;
}

/* Creates the sample file with output_vars and the run's attributes.  Collective over the
 * grid. */
sgld_status sgld_run_output_create(run *r)
{
    const sgld_config *cfg = r->cfg;
    sgld_var_spec vars[OUTPUT_MAX_VARS];
    memset(vars, 0, sizeof vars);
    int n = output_vars(r, vars);
    /* The data's feature and class names label the `feature` and `class` coordinates (char
     * coordinates, written collectively inside the file's creation, so the file keeps the
     * kill -9 guarantee of its appends) and stay the root attributes feature_names and
     * class_names, which sgld-ess predict reads. */
    SGLD_TRY(sgld_samples_create(r->grid->comm, cfg->output, cfg->force, r->grid->n_chains, n, vars,
                                 cfg->flush_draws, &r->out));
    SGLD_TRY(sgld_run_monitor_table(r));

    /* Attributes: the configuration (INI text), versions, data facts. */
    SGLD_TRY(write_config_attr(r));

    char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi_version, &len);
    char *nl = strchr(mpi_version, ',');
    if (nl) *nl = '\0';
    char hdf5_version[32], created[32];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(hdf5_version, sizeof hdf5_version, "%u.%u.%u", maj, min, rel);
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

    const char *groups[] = {"", "posterior", "sample_stats"};
    for (int g = 0; g < 3; g++) {
        SGLD_TRY(sgld_samples_attr_string(r->out, groups[g], "inference_library", "sgld-dist"));
        SGLD_TRY(sgld_samples_attr_string(r->out, groups[g], "inference_library_version", SGLD_VERSION));
        SGLD_TRY(sgld_samples_attr_string(r->out, groups[g], "created_at", created));
    }
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "hdf5_version", hdf5_version));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "mpi_version", mpi_version));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "model", cfg->model));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "task", r->model.classification ? "classification" : "regression"));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "sampler", cfg->sampler));
    if (cfg->plugin[0]) {
        /* Where the plug-in types came from, and the ABI they were loaded under. */
        const int64_t abi = SGLD_ABI_VERSION;
        SGLD_TRY(sgld_samples_attr_string(r->out, "", "plugins", cfg->plugin));
        SGLD_TRY(sgld_samples_attr_int(r->out, "", "plugin_abi", 1, &abi));
    }
    SGLD_TRY(start_attrs(r));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "data", cfg->data));
    int64_t facts[6] = {r->train->n_total, r->train->d, r->train->n_classes,
                        r->grid->n_chains, r->grid->n_shards, (int64_t)r->model.n_params};
    const char *fact_names[6] = {"n_train", "n_features", "n_classes", "n_chains", "n_shards", "n_params"};
    for (int k = 0; k < 6; k++) SGLD_TRY(sgld_samples_attr_int(r->out, "", fact_names[k], 1, &facts[k]));
    if (r->train->mean) {
        SGLD_TRY(sgld_samples_attr_double(r->out, "", "standardize_mean", r->train->d, r->train->mean));
        SGLD_TRY(sgld_samples_attr_double(r->out, "", "standardize_sd", r->train->d, r->train->sd));
    }
    /* Names joined with newlines (names may contain commas). */
    char names[8192];
    size_t used = 0;
    names[0] = '\0';
    for (int j = 0; j < r->train->d && used < sizeof names; j++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", j ? "\n" : "",
                                 r->train->feature_names[j]);
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "feature_names", names));
    SGLD_TRY(sgld_samples_attr_string(r->out, "", "target_name", r->train->target_name));
    if (r->train->n_classes) {
        used = 0;
        names[0] = '\0';
        for (int k = 0; k < r->train->n_classes && used < sizeof names; k++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", k ? "\n" : "",
                                     r->train->class_names[k]);
        SGLD_TRY(sgld_samples_attr_string(r->out, "", "class_names", names));
    }
    /* --test-fraction: the held-out rows, so that `sgld-ess predict --data test-split` scores
     * exactly them (every rank holds the whole test set). */
    if (r->test && r->test->source_rows)
        SGLD_TRY(sgld_samples_index_coord(r->out, "test_row", r->test->n_total, r->test->source_rows));
    if (cfg->superchains > 0) SGLD_TRY(write_superchains(r));
    return write_observed(r);
}

/* The sample file of a resumed run must hold the draws of this run's chains: the chain-defining
 * keys of its `config` attribute (the run that created it) must be the checkpoint's, which
 * this run's already matched.  Rank 0, before the file is opened for writing; a file that does
 * not open is left to sgld_samples_reopen to report. */
static sgld_status check_output_config(const run *r)
{
    const sgld_config *cfg = r->cfg;
    sgld_samples_reader *rd = NULL;
    if (sgld_samples_open(cfg->output, &rd) != SGLD_OK) {
        sgld_error_clear();
        return SGLD_OK;
    }
    char *ini = NULL, *text = NULL, label[SGLD_PATH_MAX + 16];
    sgld_config file_cfg;
    sgld_checkpoint_diff d;
    sgld_status st = SGLD_OK;
    snprintf(label, sizeof label, "%s:config", cfg->output);
    if (sgld_samples_read_attr_string(rd, "", "config", &ini) != SGLD_OK)
        st = sgld_error_set(SGLD_ERR_PARSE, "--output %s: no 'config' attribute, so not the sample file of "
                            "checkpoint %s (left unchanged)", cfg->output, cfg->checkpoint);
    else if (sgld_config_parse_text(&file_cfg, ini, label) != SGLD_OK)
        st = sgld_error_set(SGLD_ERR_PARSE, "%s (so it cannot be checked against checkpoint %s; left unchanged)",
                            sgld_error_message(), cfg->checkpoint);
    else if ((st = sgld_checkpoint_config(&file_cfg, &text)) == SGLD_OK &&
             sgld_checkpoint_compare(text, r->ck_config, &d))
        st = sgld_error_set(SGLD_ERR_USAGE, "--output %s: %s = %s in its config attribute but %s in checkpoint "
                            "%s: the sample file of another run (left unchanged)", cfg->output, d.key, d.a, d.b,
                            cfg->checkpoint);
    sgld_free(text);
    sgld_free(ini);
    sgld_samples_reader_close(&rd);
    return st;
}

/* Opens the existing sample file of a resumed run and cuts it back to the checkpoint's draws.
 * Collective.  A file of another run's chains, or with fewer draws, is not this run's. */
sgld_status sgld_run_output_reopen(run *r, int64_t draws)
{
    SGLD_TRY(sgld_status_agree(r->grid->comm, r->grid->rank == 0 ? check_output_config(r) : SGLD_OK));
    sgld_var_spec vars[OUTPUT_MAX_VARS];
    memset(vars, 0, sizeof vars);
    int n = output_vars(r, vars);
    SGLD_TRY(sgld_samples_reopen(r->grid->comm, r->cfg->output, r->grid->n_chains, n, vars, &r->out));
    SGLD_TRY(sgld_run_monitor_table(r)); /* its rows past the checkpoint go with the draws */
    int64_t have = sgld_samples_n_draws(r->out);
    SGLD_CHECK(have >= draws, SGLD_ERR_PARSE,
               "%s: has %lld draws per chain but checkpoint %s was taken after %lld: not the sample "
               "file of this checkpoint", r->cfg->output, (long long)have, r->cfg->checkpoint, (long long)draws);
    if (have > draws) SGLD_TRY(sgld_samples_truncate(r->out, draws));
    /* a lengthened run: the file says the --steps its draws now come from */
    if (r->ck_steps != r->cfg->steps) SGLD_TRY(write_config_attr(r));
    return SGLD_OK;
}

/* A resumed run that is already complete: checks on rank 0, read-only, that the sample file
 * is this checkpoint's (its config and at least its draws, as sgld_run_output_reopen checks)
 * without opening it for writing, which would touch a finished file.  Collective (the status
 * is agreed). */
sgld_status sgld_run_output_check_complete(run *r, int64_t draws)
{
    sgld_status st = SGLD_OK;
    if (r->grid->rank == 0 && r->cfg->output[0]) {
        sgld_samples_reader *rd = NULL;
        int n_dims = 0;
        int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2] = {0};
        st = check_output_config(r);
        if (st == SGLD_OK) st = sgld_samples_open(r->cfg->output, &rd);
        if (st == SGLD_OK) st = sgld_samples_shape(rd, "sample_stats", "lp", &n_dims, dims);
        if (st == SGLD_OK && (dims[0] != r->grid->n_chains || dims[1] < draws))
            st = sgld_error_set(SGLD_ERR_PARSE,
                                "%s: has %lld chains of %lld draws but checkpoint %s was taken after %lld "
                                "draws of %d chains: not the sample file of this checkpoint", r->cfg->output,
                                (long long)dims[0], (long long)dims[1], r->cfg->checkpoint, (long long)draws,
                                r->grid->n_chains);
        sgld_samples_reader_close(&rd);
    }
    return sgld_status_agree(r->grid->comm, st);
}

/* `divergences` (the chain's count of undone steps so far) and `diverging` (ArviZ's per-draw
 * flag: a step since the previous draw, so this draw's step when --thin is 1, was undone) into
 * row n_buf of the buffer. */
static void record_divergence(run *r)
{
    const float count = sgld_run_div_count(r);
    r->buf_stat[2][r->n_buf] = count;
    r->buf_diverging[r->n_buf] = count > r->div_at_draw;
    r->div_at_draw = count;
}

/* Into row n_buf of the buffer, in output_vars' order; the sampler's stats go through a stack
 * array (nothing is allocated per draw). */
void sgld_run_output_record(run *r, const sgld_step_ctx *ctx, double lp)
{
    for (int v = 0; v < r->model.n_vars; v++) {
        const sgld_param_var *pv = &r->model.vars[v];
        if (pv->save)
            memcpy(r->buf_var[v] + (size_t)r->n_buf * pv->size, r->theta + pv->offset, pv->size * sizeof(float));
    }
    r->buf_stat[0][r->n_buf] = lp;
    r->buf_stat[1][r->n_buf] = ctx->eps;
    if (r->on_div != DIV_ABORT) record_divergence(r);
    if (r->sampler->n_stats) {
        double st[SGLD_SAMPLER_MAX_STATS];
        r->sampler->stats(ctx, r->theta, r->state, st);
        for (int k = 0; k < r->sampler->n_stats; k++) r->buf_stat[r->n_run_stats + k][r->n_buf] = st[k];
    }
    r->n_buf++;
    if (r->kept) memcpy(r->kept + (size_t)r->n_kept++ * r->kept_width, r->theta,
                        r->kept_width * sizeof(float));
}

/* Appends the buffered draws in output_vars' order (collective).  Writers pass their chain. */
sgld_status sgld_run_output_flush(run *r)
{
    const void *data[OUTPUT_MAX_VARS];
    int n = 0;
    for (int v = 0; v < r->model.n_vars; v++)
        if (r->model.vars[v].save) data[n++] = r->buf_var[v];
    for (int k = 0; k < r->n_run_stats + r->sampler->n_stats; k++) data[n++] = r->buf_stat[k];
    if (r->on_div != DIV_ABORT) data[n++] = r->buf_diverging;
    sgld_status st = sgld_samples_append(r->out, r->writer ? r->grid->chain : -1, r->n_buf,
                                         r->writer ? data : NULL);
    r->n_buf = 0;
    return st;
}
