/* predictive.c - the posterior predictive of a sample file on data: the model is rebuilt from
 * the file's root attributes (`config`: the run's INI text, parsed by sgld_config_parse_text;
 * `model`, `n_features`, `n_classes`, `class_names`, `standardize_mean/sd`), the data sets are
 * loaded on every rank and standardized with the stored training statistics, and every selected
 * (chain, draw) is evaluated by sgld_ens_evaluate (split over the ranks, streamed in draw
 * blocks); rank 0 scores the accumulators (predictive_scores.c).  Definitions of the metrics in
 * include/sgld/ensemble.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ensemble_impl.h"
#include "sgld/net.h"

/* The failure of a call on the user's input is the input's: its message, SGLD_ERR_USAGE. */
static sgld_status unfit(sgld_status st)
{
    return st == SGLD_OK ? SGLD_OK : SGLD_ERR_USAGE;
}

/* MC dropout needs dropout layers, and the masks' numbering of net.h to fit them. */
static sgld_status check_dropout(const predictive_ctx *c)
{
    const sgld_ens_predictive_opts *o = c->o;
    const sgld_model *m = &c->m;
    if (!o->mc_dropout) return SGLD_OK;
    char net[SGLD_PATH_MAX] = "";
    if (m->type->dropout_layers) (void)sgld_config_get(&c->cfg, "net", net, sizeof net);
    size_t drop_units = 0;
    const int n_drop = m->type->dropout_layers ? m->type->dropout_layers(m, &drop_units) : 0;
    SGLD_CHECK(n_drop > 0 || !m->type->dropout_layers, SGLD_ERR_USAGE,
               "--mc-dropout %d: the %s network of %s ('%s') has no dropout layer (a dropP token in --net): "
               "nothing to sample", o->mc_dropout, c->cfg.model, o->file, net[0] ? net : "the default --net");
    SGLD_CHECK(n_drop > 0, SGLD_ERR_USAGE,
               "--mc-dropout %d: the %s model of %s has no dropout layer (MC dropout needs an mlp or cnn with dropP "
               "in --net)", o->mc_dropout, c->cfg.model, o->file);
    SGLD_CHECK(drop_units < SGLD_NET_MC_UNITS, SGLD_ERR_USAGE,
               "--mc-dropout %d: the network of %s has %zu dropout units per row, at most %u", o->mc_dropout, o->file,
               drop_units, SGLD_NET_MC_UNITS - 1);
    return SGLD_OK;
}

/* The model of the file from its `config` and `model` attributes (the features and classes
 * from `n_features` and `n_classes`).  SGLD_ERR_USAGE when the file is not one sgld-dist wrote. */
static sgld_status read_model(predictive_ctx *c, const char *ini, const char *model_attr)
{
    const sgld_ens_predictive_opts *o = c->o;
    double facts[2];
    int nf = 0;
    SGLD_CHECK(sgld_samples_read_attr_double(c->rd, "", "n_features", 1, &nf, &facts[0]) == SGLD_OK &&
                   sgld_samples_read_attr_double(c->rd, "", "n_classes", 1, &nf, &facts[1]) == SGLD_OK,
               SGLD_ERR_USAGE, "%s: no model attributes ('n_features' and 'n_classes' on the root group): not a sample "
               "file written by sgld-dist", o->file);
    c->d = (int)facts[0];
    c->n_classes = (int)facts[1];
    char label[SGLD_PATH_MAX + 16];
    snprintf(label, sizeof label, "%s:config", o->file);
    SGLD_TRY(unfit(sgld_config_parse_text(&c->cfg, ini, label)));
    const sgld_model_type *t = sgld_model_find(c->cfg.model);
    SGLD_CHECK(t && strcmp(c->cfg.model, model_attr) == 0, SGLD_ERR_USAGE, "%s: model '%s' of the config attribute is %s",
               o->file, c->cfg.model, t ? "not the file's 'model' attribute" : "not a registered model");
    if (sgld_model_init_rows(&c->m, t, c->d, c->n_classes, &c->cfg, (size_t)o->batch_rows) != SGLD_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        return sgld_error_set(SGLD_ERR_USAGE, "%s: cannot rebuild the model: %s", o->file, msg);
    }
    c->have_model = 1;
    sgld_ens_predictive *p = c->p;
    p->classification = c->m.classification;
    p->n_classes = c->m.classification ? sgld_model_n_outputs(&c->m) : 0;
    p->mc_dropout = o->mc_dropout;
    SGLD_CHECK(p->model = sgld_strdup(c->cfg.model), SGLD_ERR_NOMEM, "out of memory");
    SGLD_TRY(check_dropout(c));
    int nd;
    int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    for (int v = 0; v < c->m.n_vars; v++)
        SGLD_CHECK(sgld_samples_shape(c->rd, "posterior", c->m.vars[v].name, &nd, dims) == SGLD_OK, SGLD_ERR_USAGE,
                   "%s: the file does not hold tensor '%s' of the %s model (was it written with --save-params?): "
                   "cannot predict", o->file, c->m.vars[v].name, c->cfg.model);
    return SGLD_OK;
}

/* Opens the file and rebuilds its model.  SGLD_ERR_USAGE when it does not fit.  Local. */
static sgld_status rebuild(predictive_ctx *c)
{
    const sgld_ens_predictive_opts *o = c->o;
    SGLD_TRY(unfit(sgld_samples_open(o->file, &c->rd)));
    char *ini = NULL, *model_attr = NULL;
    sgld_status st = SGLD_OK;
    if (sgld_samples_read_attr_string(c->rd, "", "config", &ini) != SGLD_OK ||
        sgld_samples_read_attr_string(c->rd, "", "model", &model_attr) != SGLD_OK)
        st = sgld_error_set(SGLD_ERR_USAGE, "%s: no model attributes ('config' and 'model' on the root group): not a "
                            "sample file written by sgld-dist", o->file);
    if (st == SGLD_OK) st = read_model(c, ini, model_attr);
    sgld_free(ini);
    sgld_free(model_attr);
    return st;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    *out = strtoll(s, &end, 10);
    return *s && !*end;
}

/* Parses a draw selection into the ascending draw indices of [0, n); *n_sel = 0 when empty.
 * Returns 0 when the spec does not parse. */
static int parse_draws(const char *spec, int64_t n, int64_t *sel, int64_t *n_sel)
{
    *n_sel = 0;
    if (!strcmp(spec, "all")) spec = ":";
    long long v[3] = {0, n, 1};
    int given[3] = {0, 0, 0}, parts = 1;
    char buf[128];
    if (strlen(spec) >= sizeof buf) return 0;
    strcpy(buf, spec);
    char *p = buf;
    for (int k = 0; k < 3; k++) {
        char *colon = strchr(p, ':');
        if (colon) *colon = '\0';
        if (*p) {
            if (!parse_ll(p, &v[k])) return 0;
            given[k] = 1;
        }
        if (!colon) break;
        if (k == 2) return 0;
        p = colon + 1;
        parts++;
    }
    if (parts == 1) { /* a single index */
        if (!given[0]) return 0;
        long long i = v[0] < 0 ? v[0] + n : v[0];
        if (i >= 0 && i < n) sel[(*n_sel)++] = i;
        return 1;
    }
    if (v[2] < 1) return 0; /* negative steps would not be ascending */
    long long a = given[0] ? v[0] : 0, b = given[1] ? v[1] : n;
    if (a < 0) a += n;
    if (b < 0) b += n;
    a = a < 0 ? 0 : a > n ? n : a;
    b = b < 0 ? 0 : b > n ? n : b;
    for (long long i = a; i < b; i += v[2]) sel[(*n_sel)++] = i;
    return 1;
}

/* The selected draws of every chain.  SGLD_ERR_USAGE for a selection that is malformed or
 * empty; SGLD_ERR_NOMEM. */
static sgld_status select_draws(predictive_ctx *c)
{
    const sgld_ens_predictive_opts *o = c->o;
    int nd;
    int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    sgld_samples_shape(c->rd, "posterior", c->m.vars[0].name, &nd, dims);
    const int n_chains = (int)dims[0];
    const int64_t n_draws = dims[1];
    c->p->n_chains = n_chains;
    SGLD_ALLOC(c->sel, n_draws > 0 ? n_draws : 1);
    SGLD_CHECK(parse_draws(o->draws, n_draws, c->sel, &c->n_sel), SGLD_ERR_USAGE,
               "--draws: '%s' is not all, an index or a slice A:B[:S] with S >= 1", o->draws);
    SGLD_CHECK(c->n_sel > 0 && n_chains > 0, SGLD_ERR_USAGE, "--draws '%s' selects no draw (%s has %d chains x %lld draws)",
               o->draws, o->file, n_chains, (long long)n_draws);
    SGLD_CHECK(!o->mc_dropout || c->sel[c->n_sel - 1] <= (int64_t)UINT32_MAX, SGLD_ERR_USAGE,
               "--mc-dropout: draw %lld of %s is past the masks' 2^32 draws", (long long)c->sel[c->n_sel - 1], o->file);
    c->p->n_draws = c->n_sel;
    return SGLD_OK;
}

/* The held-out rows of the run (SGLD_ENS_TEST_SPLIT): rows `test_row` of the sample file (the
 * rows sgld-dist's --test-fraction held out and scored) of the run's own --data, read whole
 * and cut down to them, in file order.  SGLD_ERR_USAGE when there are none or they do not fit
 * the data; SGLD_ERR_NOMEM.  Local. */
static sgld_status load_test_split(predictive_ctx *c, sgld_dataset **out)
{
    const char *file = c->o->file;
    const sgld_config *cfg = &c->cfg;
    SGLD_CHECK(cfg->test_fraction > 0, SGLD_ERR_USAGE,
               "--data test-split: %s is from a run without --test-fraction: no rows were held out", file);
    int64_t n, *rows;
    sgld_status st = sgld_samples_read_coord(c->rd, "test_row", &n, &rows);
    if (st == SGLD_ERR_NOMEM) return st;
    SGLD_CHECK(st == SGLD_OK, SGLD_ERR_USAGE, "--data test-split: %s has no 1-D coordinate test_row (the held-out rows; "
               "sample files of runs with --test-fraction hold one)", file);
    sgld_data_options dopt = {.path = cfg->data, .classification = c->m.classification};
    if (sgld_data_load(MPI_COMM_SELF, 0, 1, &dopt, out, NULL) != SGLD_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        sgld_free(rows);
        return sgld_error_set(SGLD_ERR_USAGE, "--data test-split: the run's data: %s", msg);
    }
    sgld_dataset *d = *out;
    for (int64_t k = 0; k < n; k++) {
        if (rows[k] < 0 || rows[k] >= d->n_total || (k > 0 && rows[k] <= rows[k - 1])) {
            st = sgld_error_set(SGLD_ERR_USAGE, "--data test-split: %s: test_row[%lld] = %lld is not an ascending row "
                                "of the %lld rows of %s (has the data file changed since the run?)", file, (long long)k,
                                (long long)rows[k], (long long)d->n_total, cfg->data);
            break;
        }
        memmove(d->X + (size_t)k * d->d, d->X + (size_t)rows[k] * d->d, (size_t)d->d * sizeof *d->X);
        d->y[k] = d->y[rows[k]];
        if (d->origin) d->origin[k] = d->origin[rows[k]];
    }
    if (st == SGLD_OK) d->n_total = d->n_local = n;
    sgld_free(rows);
    return st;
}

/* Maps TEST's class labels to the file's class indices by name (TEST may name fewer
 * classes); without stored names, label k is class k. */
static sgld_status map_classes(predictive_ctx *c)
{
    sgld_dataset *ds = c->p->data[0];
    char *class_text = NULL, *names[1024];
    int n_names = 0, n_classes = c->n_classes;
    if (sgld_samples_read_attr_string(c->rd, "", "class_names", &class_text) == SGLD_OK)
        for (char *q = class_text; q && n_names < 1024;) { /* newline-joined */
            names[n_names++] = q;
            char *nl = strchr(q, '\n');
            if (nl) *nl = '\0';
            q = nl ? nl + 1 : NULL;
        }
    int *map = sgld_malloc(sizeof *map * (size_t)(ds->n_classes > 0 ? ds->n_classes : 1));
    sgld_status st = map ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "out of memory");
    for (int k = 0; st == SGLD_OK && k < ds->n_classes; k++) {
        map[k] = -1;
        for (int j = 0; j < n_names; j++)
            if (!strcmp(ds->class_names[k], names[j])) map[k] = j;
        if (n_names == 0 && k < n_classes) map[k] = k;
        if (map[k] < 0)
            st = sgld_error_set(SGLD_ERR_USAGE, "%s: class '%s' is not one of the %d classes the model of %s was trained "
                                "on", c->o->data, ds->class_names[k], n_classes, c->o->file);
    }
    for (int64_t i = 0; st == SGLD_OK && i < ds->n_local; i++) ds->y[i] = (float)map[(int)ds->y[i]];
    sgld_free(map);
    sgld_free(class_text);
    return st;
}

/* Standardizes every set with the training statistics stored in the file, if any, and keeps
 * them in c->mean and c->sd (NULL when there are none). */
static sgld_status standardize(predictive_ctx *c)
{
    const int d = c->d;
    int n_mean = 0, n_sd = 0;
    if (sgld_samples_read_attr_double(c->rd, "", "standardize_mean", 0, &n_mean, NULL) != SGLD_OK) return SGLD_OK;
    double *mean = c->mean = sgld_malloc(sizeof *mean * (size_t)d), *sdv = c->sd = sgld_malloc(sizeof *sdv * (size_t)d);
    sgld_status st = SGLD_OK;
    if (!mean || !sdv || n_mean != d || sgld_samples_read_attr_double(c->rd, "", "standardize_mean", d, &n_mean, mean) != SGLD_OK ||
        sgld_samples_read_attr_double(c->rd, "", "standardize_sd", d, &n_sd, sdv) != SGLD_OK || n_sd != d)
        st = sgld_error_set(SGLD_ERR_USAGE, "%s: standardize_mean / standardize_sd do not hold %d values each", c->o->file, d);
    for (int s = 0; st == SGLD_OK && s < c->p->n_sets; s++) {
        sgld_dataset *ds = c->p->data[s];
        for (int64_t i = 0; i < ds->n_local; i++)
            for (int j = 0; j < d; j++) ds->X[i * d + j] = (float)((ds->X[i * d + j] - mean[j]) / sdv[j]);
    }
    return st; /* c->mean and c->sd are kept for FGSM's examples */
}

/* Loads TEST (and OTHER) whole on this rank, makes them fit the model and lets the model check
 * TEST (its check_data hook).  SGLD_ERR_USAGE when they do not fit.  Local. */
static sgld_status load_sets(predictive_ctx *c)
{
    const sgld_ens_predictive_opts *o = c->o;
    sgld_ens_predictive *p = c->p;
    const char *paths[2] = {o->data, o->ood};
    p->n_sets = o->ood ? 2 : 1;
    for (int s = 0; s < p->n_sets; s++) {
        /* OOD inputs are scored without their targets, which may be of any type. */
        sgld_data_options dopt = {.path = paths[s], .classification = s == 0 && c->m.classification,
                                  .ignore_target = s == 1};
        if (s == 0 && !strcmp(o->data, SGLD_ENS_TEST_SPLIT))
            SGLD_TRY(load_test_split(c, &p->data[0]));
        else
            SGLD_TRY(unfit(sgld_data_load(MPI_COMM_SELF, 0, 1, &dopt, &p->data[s], NULL)));
        SGLD_CHECK(p->data[s]->d == c->d, SGLD_ERR_USAGE, "%s: %d features per row, but the model of %s was trained on %d",
                   paths[s], p->data[s]->d, o->file, c->d);
    }
    SGLD_CHECK(!o->mc_dropout || p->data[0]->n_local + (o->ood ? p->data[1]->n_local : 0) <= (int64_t)UINT32_MAX,
               SGLD_ERR_USAGE, "--mc-dropout: %s%s%s have more than 2^32 rows (the masks' row numbering)", o->data,
               o->ood ? " and " : "", o->ood ? o->ood : "");
    if (c->m.classification) SGLD_TRY(map_classes(c));
    /* The model's own refusal of targets it cannot take (TEST's only: OTHER's are not read). */
    if (c->m.type->check_data) SGLD_TRY(unfit(c->m.type->check_data(&c->m, p->data[0])));
    SGLD_TRY(sgld_ens_fgsm_check(c));
    if (o->n_fgsm) { /* the pixels, which FGSM steps and clips */
        const size_t nx = (size_t)p->data[0]->n_local * (size_t)c->d;
        SGLD_ALLOC(c->raw, nx > 0 ? nx : 1);
        memcpy(c->raw, p->data[0]->X, nx * sizeof *c->raw);
    }
    return standardize(c);
}

/* Accumulators: one per chain and set, the last draw, the ensemble.  SGLD_ERR_USAGE for OTHER
 * on a regression; SGLD_ERR_NOMEM. */
static sgld_status init_accs(predictive_ctx *c)
{
    sgld_ens_predictive *p = c->p;
    for (int s = 0; s < 2 + c->o->n_fgsm; s++) {
        if (s == p->n_sets && s < 2) continue; /* no OTHER */
        const int64_t n = p->data[s < 2 ? s : 0]->n_local;
        const int has_y = s != 1;
        SGLD_ALLOC(c->chain[s], p->n_chains);
        for (int k = 0; k < p->n_chains; k++) SGLD_TRY(sgld_ens_acc_init(&c->chain[s][k], n, p->n_classes, has_y));
        SGLD_TRY(sgld_ens_acc_init(&c->last[s], n, p->n_classes, has_y));
        SGLD_TRY(sgld_ens_acc_init(&c->ens[s], n, p->n_classes, has_y));
    }
    if (c->o->pointwise) { /* every rank fills its part, rank 0 receives the whole */
        SGLD_CHECK(!c->o->mc_dropout, SGLD_ERR_USAGE, "--log-likelihood: not with --mc-dropout (a draw is K members "
                   "there, not one density per row)");
        SGLD_ALLOC(p->loglik, (size_t)p->n_chains * (size_t)c->n_sel * (size_t)(p->data[0]->n_local > 0 ? p->data[0]->n_local : 1));
        SGLD_ALLOC(p->draw_index, c->n_sel);
        memcpy(p->draw_index, c->sel, (size_t)c->n_sel * sizeof *c->sel);
    }
    SGLD_CHECK(c->m.classification || !c->o->ood, SGLD_ERR_USAGE,
               "--ood: the %s model of %s is a regression; out-of-distribution scores need a classifier", c->cfg.model,
               c->o->file);
    return SGLD_OK;
}

/* Evaluates the selected draws on the sets, split over the ranks, and reduces the figures of
 * the evaluation to rank 0.  Collective. */
static sgld_status evaluate(predictive_ctx *c)
{
    const sgld_ens_predictive_opts *o = c->o;
    sgld_ens_predictive *p = c->p;
    sgld_ens_set sets[SGLD_ENS_SETS];
    for (int s = 0; s < p->n_sets; s++)
        sets[s] = (sgld_ens_set){.X = p->data[s]->X, .y = s == 0 ? p->data[s]->y : NULL, .n = p->data[s]->n_local,
                                 .chain = c->chain[s], .last = &c->last[s],
                                 .pointwise = s == 0 ? p->loglik : NULL};
    for (int e = 0; e < o->n_fgsm; e++) /* TEST's FGSM examples against the model average */
        sets[p->n_sets + e] = (sgld_ens_set){.X = c->adv[e], .y = p->data[0]->y, .n = p->data[0]->n_local,
                                             .chain = c->chain[2 + e], .last = &c->last[2 + e]};
    sgld_ens_eval_options eo = {.group = "posterior", .n_chains = p->n_chains, .draws = c->sel, .n_sel = c->n_sel,
                                .block_draws = o->block_draws, .batch_rows = (size_t)o->batch_rows,
                                .mc_dropout = o->mc_dropout, .mc_seed = o->seed};
    double secs = 0, flops = 0, t0 = MPI_Wtime();
    sgld_status st = sgld_ens_evaluate(c->comm, c->rd, &c->m, &eo, p->n_sets + o->n_fgsm, sets, &secs, &flops);
    double wall = MPI_Wtime() - t0;
    if (st != SGLD_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        return sgld_error_set(st == SGLD_ERR_PARSE ? SGLD_ERR_USAGE : st, "%s: %s", o->file, msg);
    }
    SGLD_MPI(MPI_Reduce(&flops, &p->flops, 1, MPI_DOUBLE, MPI_SUM, 0, c->comm));
    SGLD_MPI(MPI_Reduce(&secs, &p->predict_seconds, 1, MPI_DOUBLE, MPI_MAX, 0, c->comm));
    if (c->rank == 0) p->seconds = wall;
    return SGLD_OK;
}

static void free_ctx(predictive_ctx *c)
{
    for (int s = 0; s < SGLD_ENS_SETS; s++) {
        for (int k = 0; c->chain[s] && k < c->p->n_chains; k++) sgld_ens_acc_finalize(&c->chain[s][k]);
        sgld_free(c->chain[s]);
        sgld_ens_acc_finalize(&c->last[s]);
        sgld_ens_acc_finalize(&c->ens[s]);
    }
    sgld_free(c->sel);
    sgld_free(c->raw);
    sgld_free(c->mean);
    sgld_free(c->sd);
    for (int e = 0; e < SGLD_ENS_FGSM_MAX; e++) sgld_free(c->adv[e]);
    if (c->have_model) sgld_model_finalize(&c->m);
    sgld_samples_reader_close(&c->rd);
}

void sgld_ens_predictive_destroy(sgld_ens_predictive **pp)
{
    if (!pp || !*pp) return;
    sgld_ens_predictive *p = *pp;
    for (int s = 0; s < 2; s++) {
        sgld_ens_class_examples *x = &p->set[s].ex, *l = &p->set[s].last_ex;
        void *arrays[] = {x->prob, x->max_prob, x->entropy, x->expected_entropy, x->mutual_info, x->nll, x->pred,
                          x->correct, l->max_prob, l->entropy, l->mutual_info};
        for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) sgld_free(arrays[k]);
        sgld_data_destroy(&p->data[s]);
    }
    for (int e = 0; e < p->n_fgsm; e++) {
        sgld_ens_class_examples *x = &p->fgsm[e].ens_ex;
        void *arrays[] = {x->max_prob, x->mutual_info, x->nll, x->pred, x->correct, p->fgsm[e].draw_correct};
        for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) sgld_free(arrays[k]);
    }
    sgld_free(p->reg_ex.mean);
    sgld_free(p->reg_ex.sd);
    sgld_free(p->reg_ex.loglik);
    sgld_free(p->reg_ex.pit);
    sgld_free(p->loglik);
    sgld_free(p->draw_index);
    sgld_free(p->model);
    sgld_free(p);
    *pp = NULL;
}

sgld_status sgld_ens_predictive_create(MPI_Comm comm, const sgld_ens_predictive_opts *opt, sgld_ens_predictive **out)
{
    SGLD_CHECK(opt && out && opt->file && opt->data && opt->draws && opt->block_draws >= 1 && opt->batch_rows >= 1 &&
                   opt->mc_dropout >= 0 && opt->n_fgsm >= 0 && opt->n_fgsm <= SGLD_ENS_FGSM_MAX &&
                   (opt->n_fgsm == 0 || opt->fgsm_eps), SGLD_ERR_ARG, "sgld_ens_predictive_create: bad arguments");
    *out = NULL;
    predictive_ctx c = {.comm = comm, .o = opt};
    MPI_Comm_rank(comm, &c.rank);
    MPI_Comm_size(comm, &c.size);
    sgld_status st = (c.p = sgld_calloc(1, sizeof *c.p)) ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "out of memory");
    if (st == SGLD_OK) st = rebuild(&c);
    if (st == SGLD_OK) st = select_draws(&c);
    if (st == SGLD_OK) st = load_sets(&c);
    if (st == SGLD_OK) st = init_accs(&c);
    st = sgld_status_agree(comm, st);
    if (st == SGLD_OK && opt->n_fgsm) st = sgld_ens_fgsm_attack(&c);
    if (st == SGLD_OK) st = evaluate(&c);
    if (st == SGLD_OK && c.rank == 0) st = sgld_ens_predictive_score(&c);
    st = sgld_status_agree(comm, st);
    if (c.p) free_ctx(&c);
    if (st == SGLD_OK)
        *out = c.p;
    else
        sgld_ens_predictive_destroy(&c.p);
    return st;
}
