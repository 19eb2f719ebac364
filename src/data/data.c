/* data.c - sgld_data_load: picks the reader, draws the train/test split, shards the training
 * rows, standardizes, and makes the ranks of comm agree on the outcome.
 *
 * Split: with test_fraction f > 0 a Fisher-Yates permutation of 0..N-1 (swap i, for
 * i = N-1 down to 1, exchanges perm[i] with perm[j], j = sgld_rng_below(key {seed, 0}, step 0,
 * SGLD_RNG_SPLIT, element i, bound i + 1)) puts round(f N) rows, perm[0..n_test-1], in the test
 * set.  Training rows and test rows both keep their file order; the training rows are then
 * numbered 0..n_train-1 and sharded by sgld_data_shard_range.
 *
 * Agreement (SUNDIALS style): each rank loads locally without communicating, then
 * sgld_status_agree: every rank returns the status and the message of the lowest failing rank
 * (the real code, e.g. SGLD_ERR_PARSE, not SGLD_ERR_REMOTE, so that callers can act on it).
 * Nothing collective runs before the agreement; the standardization after it allocates
 * nothing and its one check is computed identically on every rank. */
#include "data_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sgld/rng.h"

/* ---- metadata helpers ---- */

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) sgld_free(names[i]);
    sgld_free(names);
}

void data_meta_free(data_meta *m)
{
    free_names(m->feature_names, m->d);
    free_names(m->class_names, m->n_classes);
    sgld_free(m->target_name);
    memset(m, 0, sizeof *m);
}

/* Copies n names into a fresh array; *out is NULL on failure. */
static sgld_status copy_names(char *const *src, int n, char ***out)
{
    *out = NULL;
    char **names;
    SGLD_ALLOC(names, n);
    for (int i = 0; i < n; i++) {
        names[i] = sgld_strdup(src[i]);
        if (!names[i]) {
            free_names(names, i);
            return sgld_error_set(SGLD_ERR_NOMEM, "out of memory copying a column name");
        }
    }
    *out = names;
    return SGLD_OK;
}

sgld_status data_meta_default_names(data_meta *m)
{
    SGLD_ALLOC(m->feature_names, m->d);
    for (int j = 0; j < m->d; j++) {
        char name[32];
        snprintf(name, sizeof name, "x%d", j);
        m->feature_names[j] = sgld_strdup(name);
        SGLD_CHECK(m->feature_names[j], SGLD_ERR_NOMEM, "out of memory naming columns");
    }
    m->target_name = sgld_strdup("y");
    SGLD_CHECK(m->target_name, SGLD_ERR_NOMEM, "out of memory naming columns");
    return SGLD_OK;
}

sgld_status data_meta_numeric_classes(data_meta *m, int K)
{
    SGLD_ALLOC(m->class_names, K);
    m->n_classes = K;
    m->string_labels = 0;
    for (int k = 0; k < K; k++) {
        char name[16];
        snprintf(name, sizeof name, "%d", k);
        m->class_names[k] = sgld_strdup(name);
        SGLD_CHECK(m->class_names[k], SGLD_ERR_NOMEM, "out of memory naming classes");
    }
    return SGLD_OK;
}

sgld_status data_meta_copy_classes(data_meta *m, const data_meta *ref)
{
    if (ref->n_classes == 0) return SGLD_OK;
    SGLD_TRY(copy_names(ref->class_names, ref->n_classes, &m->class_names));
    m->n_classes = ref->n_classes;
    m->string_labels = ref->string_labels;
    return SGLD_OK;
}

/* ---- data sets ---- */

void sgld_data_destroy(sgld_dataset **d)
{
    if (!d || !*d) return;
    sgld_dataset *s = *d;
    sgld_free(s->X);
    sgld_free(s->y);
    free_names(s->class_names, s->n_classes);
    free_names(s->feature_names, s->d);
    sgld_free(s->target_name);
    sgld_free(s->source);
    sgld_free(s->mean);
    sgld_free(s->sd);
    sgld_free(s->source_rows);
    sgld_free(s->origin);
    sgld_free(s);
    *d = NULL;
}

const char *sgld_data_row_where(const sgld_dataset *d, int64_t i, char *buf, size_t size)
{
    const char *src = d->source ? d->source : "data";
    if (!d->origin)
        snprintf(buf, size, "%s: row %lld", src, (long long)(d->row_begin + i));
    else if (d->origin_is_line)
        snprintf(buf, size, "%s:%lld", src, (long long)d->origin[i]);
    else if (strncmp(src, "synthetic:", 10) == 0)
        snprintf(buf, size, "%s: row %lld", src, (long long)d->origin[i]);
    else
        snprintf(buf, size, "%s: /y[%lld]", src, (long long)d->origin[i]);
    return buf;
}

void sgld_data_shard_range(int64_t n, int s, int S, int64_t *begin, int64_t *end)
{
    /* 128-bit products: s N cannot overflow even for huge N. */
    *begin = (int64_t)((__int128)n * s / S);
    *end = (int64_t)((__int128)n * (s + 1) / S);
}

/* A data set of n_local rows (of n_total, the first being global row row_begin) with meta's
 * names and classes.  *out is set as soon as it exists, so the caller frees a partial one. */
static sgld_status dataset_create(const data_meta *meta, const char *source, int64_t n_total,
                                  int64_t row_begin, int64_t n_local, sgld_dataset **out)
{
    sgld_dataset *s;
    SGLD_ALLOC(s, 1);
    *out = s;
    s->n_total = n_total;
    s->row_begin = row_begin;
    s->n_local = n_local;
    SGLD_ALLOC(s->X, (size_t)n_local * (size_t)meta->d);
    SGLD_ALLOC(s->y, n_local);
    SGLD_ALLOC(s->origin, n_local);
    SGLD_TRY(copy_names(meta->feature_names, meta->d, &s->feature_names));
    s->d = meta->d;
    if (meta->n_classes > 0) {
        SGLD_TRY(copy_names(meta->class_names, meta->n_classes, &s->class_names));
        s->n_classes = meta->n_classes;
    }
    s->target_name = sgld_strdup(meta->target_name);
    s->source = sgld_strdup(source);
    SGLD_CHECK(s->target_name && s->source, SGLD_ERR_NOMEM, "out of memory naming a data set");
    return SGLD_OK;
}

/* ---- readers ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* synthetic:NAME, a .h5/.hdf5 name or a file starting with the HDF5 signature, else CSV (an
 * unreadable file goes to the CSV reader, which reports it). */
static const data_reader *pick_reader(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (strncmp(path, "synthetic:", 10) == 0) return &data_reader_synthetic;
    if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) return &data_reader_hdf5;
    FILE *f = fopen(path, "rb");
    if (!f) return &data_reader_csv;
    unsigned char head[8];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == sizeof head && memcmp(head, sig, sizeof sig) == 0) return &data_reader_hdf5;
    return &data_reader_csv;
}

/* ---- split ---- */

/* mask[i] = 1 for the n_test rows perm[0..n_test-1] of the seeded Fisher-Yates permutation. */
static sgld_status split_mask(int64_t n, int64_t n_test, uint32_t seed, uint8_t *mask)
{
    int64_t *perm;
    SGLD_ALLOC(perm, n);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    sgld_rng key = {seed, 0};
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)sgld_rng_below(&key, 0, SGLD_RNG_SPLIT, (uint64_t)i, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memset(mask, 0, (size_t)n);
    for (int64_t k = 0; k < n_test; k++) mask[perm[k]] = 1;
    sgld_free(perm);
    return SGLD_OK;
}

/* ---- the local part of a load (no communication) ---- */

static sgld_status check_options(int shard, int n_shards, const sgld_data_options *opt)
{
    SGLD_CHECK(opt && opt->path && opt->path[0], SGLD_ERR_ARG, "no data path given");
    SGLD_CHECK(n_shards >= 1 && shard >= 0 && shard < n_shards, SGLD_ERR_ARG,
               "shard %d of %d is out of range", shard, n_shards);
    SGLD_CHECK(opt->test_fraction >= 0 && opt->test_fraction < 1, SGLD_ERR_ARG,
               "test_fraction %g is outside [0, 1)", opt->test_fraction);
    SGLD_CHECK(!(opt->test_path && opt->test_fraction > 0), SGLD_ERR_ARG,
               "give either a test file (%s) or a test_fraction (%g), not both",
               opt->test_path, opt->test_fraction);
    SGLD_CHECK(opt->classification || opt->n_classes == 0, SGLD_ERR_ARG,
               "n_classes = %d given for a real-valued target", opt->n_classes);
    SGLD_CHECK(opt->n_classes == 0 || opt->n_classes >= 2, SGLD_ERR_ARG,
               "n_classes = %d: a class target needs at least 2 classes", opt->n_classes);
    return SGLD_OK;
}

/* Loads this rank's training shard and the test rows into *tr and *te (*te NULL when there
 * are none); on failure the caller frees whatever was made.  With standardize it also
 * allocates the statistics (mean, sd) and the reduction workspace *work [3d + 1], so that the
 * collective part allocates nothing. */
static sgld_status load_local(int shard, int n_shards, const sgld_data_options *opt,
                              sgld_dataset **tr, sgld_dataset **te, double **work)
{
    SGLD_TRY(check_options(shard, n_shards, opt));
    sgld_status st = SGLD_OK;
    data_meta meta = {0}, tmeta = {0};
    uint8_t *mask = NULL;
    /* Before pick_reader opens anything: opening a FIFO without a writer never returns. */
    if (strncmp(opt->path, "synthetic:", 10) != 0) SGLD_TRY(sgld_input_check(opt->path));
    if (opt->test_path && strncmp(opt->test_path, "synthetic:", 10) != 0)
        SGLD_TRY(sgld_input_check(opt->test_path));
    const data_reader *rd = pick_reader(opt->path);
    SGLD_TRY_GOTO(rd->scan(opt->path, opt, NULL, &meta), st, done);

    data_plan plan = {.n = meta.n, .test = NULL, .n_test = 0};
    if (opt->test_fraction > 0) {
        plan.n_test = (int64_t)llround(opt->test_fraction * (double)meta.n);
        if (plan.n_test == 0 || plan.n_test == meta.n) {
            st = sgld_error_set(SGLD_ERR_ARG, "%s: test_fraction %g of %lld rows leaves no %s rows",
                                opt->path, opt->test_fraction, (long long)meta.n,
                                plan.n_test == 0 ? "test" : "training");
            goto done;
        }
        mask = sgld_malloc((size_t)meta.n);
        if (!mask) {
            st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for the split of %lld rows",
                                (long long)meta.n);
            goto done;
        }
        SGLD_TRY_GOTO(split_mask(meta.n, plan.n_test, opt->seed, mask), st, done);
        plan.test = mask;
    }
    plan.n_train = meta.n - plan.n_test;
    if (plan.n_train < n_shards) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: %lld training rows cannot fill %d shards", opt->path,
                            (long long)plan.n_train, n_shards);
        goto done;
    }
    sgld_data_shard_range(plan.n_train, shard, n_shards, &plan.begin, &plan.end);
    SGLD_TRY_GOTO(dataset_create(&meta, opt->path, plan.n_train, plan.begin,
                                 plan.end - plan.begin, tr), st, done);
    if (plan.n_test > 0)
        SGLD_TRY_GOTO(dataset_create(&meta, opt->path, plan.n_test, 0, plan.n_test, te), st, done);
    SGLD_TRY_GOTO(rd->fill(opt->path, &meta, &plan, *tr, *te), st, done);
    if (plan.n_test > 0) { /* the held-out rows, so that a sample file can name them */
        (*te)->source_rows = sgld_malloc((size_t)plan.n_test * sizeof *(*te)->source_rows);
        if (!(*te)->source_rows) {
            st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for the %lld held-out row numbers",
                                (long long)plan.n_test);
            goto done;
        }
        for (int64_t i = 0, k = 0; i < meta.n; i++)
            if (mask[i]) (*te)->source_rows[k++] = i;
    }

    if (opt->test_path) {
        const data_reader *trd = pick_reader(opt->test_path);
        SGLD_TRY_GOTO(trd->scan(opt->test_path, opt, &meta, &tmeta), st, done);
        data_plan whole = {.n = tmeta.n, .n_train = tmeta.n, .begin = 0, .end = tmeta.n};
        SGLD_TRY_GOTO(dataset_create(&tmeta, opt->test_path, tmeta.n, 0, tmeta.n, te), st, done);
        SGLD_TRY_GOTO(trd->fill(opt->test_path, &tmeta, &whole, *te, NULL), st, done);
    }

    if (opt->standardize) {
        int d = meta.d;
        (*tr)->mean = sgld_calloc((size_t)d, sizeof(double));
        (*tr)->sd = sgld_calloc((size_t)d, sizeof(double));
        *work = sgld_calloc(3 * (size_t)d + 1, sizeof(double));
        if (!(*tr)->mean || !(*tr)->sd || !*work) goto nomem;
        if (*te) {
            (*te)->mean = sgld_calloc((size_t)d, sizeof(double));
            (*te)->sd = sgld_calloc((size_t)d, sizeof(double));
            if (!(*te)->mean || !(*te)->sd) goto nomem;
        }
    }
    goto done;
nomem:
    st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for standardization statistics");
done:
    data_meta_free(&meta);
    data_meta_free(&tmeta);
    sgld_free(mask);
    return st;
}

/* ---- the collective part ---- */

/* z-scores the features of tr (and te) with mean and population sd over all training rows
 * of comm; a constant column (global min == max) gets sd = 1, so it becomes 0.  Collective;
 * the only failure (comm not holding each shard once) is seen identically by every rank. */
static sgld_status standardize(MPI_Comm comm, sgld_dataset *tr, sgld_dataset *te, double *work)
{
    int d = tr->d;
    double *sum = work, *lo = work + d + 1, *hi = work + 2 * d + 1;
    for (int j = 0; j < d; j++) {
        sum[j] = 0;
        lo[j] = INFINITY;
        hi[j] = -INFINITY;
    }
    sum[d] = (double)tr->n_local;
    for (int64_t i = 0; i < tr->n_local; i++) {
        const float *x = tr->X + i * d;
        for (int j = 0; j < d; j++) {
            sum[j] += x[j];
            if (x[j] < lo[j]) lo[j] = x[j];
            if (x[j] > hi[j]) hi[j] = x[j];
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, sum, d + 1, MPI_DOUBLE, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, lo, d, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, hi, d, MPI_DOUBLE, MPI_MAX, comm);
    SGLD_CHECK(sum[d] == (double)tr->n_total, SGLD_ERR_ARG,
               "standardize: the ranks of the communicator hold %.0f of %lld training rows "
               "(it must hold every shard exactly once)", sum[d], (long long)tr->n_total);
    double n = sum[d];
    for (int j = 0; j < d; j++) {
        tr->mean[j] = sum[j] / n;
        tr->sd[j] = 0;
    }
    for (int64_t i = 0; i < tr->n_local; i++) {
        const float *x = tr->X + i * d;
        for (int j = 0; j < d; j++) tr->sd[j] += (x[j] - tr->mean[j]) * (x[j] - tr->mean[j]);
    }
    MPI_Allreduce(MPI_IN_PLACE, tr->sd, d, MPI_DOUBLE, MPI_SUM, comm);
    for (int j = 0; j < d; j++) tr->sd[j] = lo[j] == hi[j] ? 1.0 : sqrt(tr->sd[j] / n);

    sgld_dataset *sets[2] = {tr, te};
    for (int s = 0; s < 2; s++) {
        sgld_dataset *ds = sets[s];
        if (!ds) continue;
        if (ds != tr) {
            memcpy(ds->mean, tr->mean, (size_t)d * sizeof(double));
            memcpy(ds->sd, tr->sd, (size_t)d * sizeof(double));
        }
        for (int64_t i = 0; i < ds->n_local; i++) {
            float *x = ds->X + i * d;
            for (int j = 0; j < d; j++) x[j] = (float)((x[j] - tr->mean[j]) / tr->sd[j]);
        }
    }
    return SGLD_OK;
}

sgld_status sgld_data_load(MPI_Comm comm, int shard, int n_shards,
                           const sgld_data_options *opt, sgld_dataset **train,
                           sgld_dataset **test)
{
    sgld_dataset *tr = NULL, *te = NULL;
    double *work = NULL;
    if (train) *train = NULL;
    if (test) *test = NULL;
    sgld_status st = train ? load_local(shard, n_shards, opt, &tr, &te, &work)
                           : sgld_error_set(SGLD_ERR_ARG, "sgld_data_load: train is NULL");
    st = sgld_status_agree(comm, st);
    if (st == SGLD_OK && opt->standardize) st = standardize(comm, tr, te, work);
    sgld_free(work);
    if (st != SGLD_OK) {
        sgld_data_destroy(&tr);
        sgld_data_destroy(&te);
        return st;
    }
    *train = tr;
    if (test)
        *test = te;
    else
        sgld_data_destroy(&te);
    return SGLD_OK;
}
