/* predict.c - `sgld-ess predict`: the posterior predictive of a sample file on test data, with
 * calibration and out-of-distribution scores (metrics and their definitions in
 * include/sgld/ensemble.h).
 *
 * The model is rebuilt from the file's root attributes (`config`: the run's INI text, parsed by
 * sgld_config_parse_text; `n_features`, `n_classes`, `class_names`, `standardize_mean/sd`), the
 * test rows are standardized with the stored training statistics, and every selected
 * (chain, draw) is evaluated by sgld_ens_evaluate (split over the ranks, streamed in draw
 * blocks).  Reported: the Bayesian model average of all selected draws, each chain alone, and
 * the last selected draw of chain 0 alone (what a plain SGD user would have).  --mc-dropout K:
 * every draw K times with fresh dropout masks, each (draw, mask) one member (MC dropout).
 *
 * Exit status: 0 success, 2 bad input or usage (one line on stderr), 1 runtime failure. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "predict.h"
#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/ensemble.h"
#include "sgld/fileguard.h"
#include "sgld/model.h"
#include "sgld/net.h"
#include "sgld/samples.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_BAD_INPUT = 2 };
#define HIST_BINS 20
#define TEST_SPLIT "test-split" /* --data: the rows the run held out with --test-fraction */

typedef struct popts {
    const char *file, *data, *ood, *draws, *per_example, *hist;
    int json, timing, force;
    long long batch, block, mc_dropout, seed;
} popts;

static int rank, size;

static void usage(FILE *f)
{
    fprintf(f,
"usage: sgld-ess predict FILE --data TEST [--ood OTHER] [--draws I|A:B[:S]] [--json]\n"
"                        [--per-example OUT.h5] [--hist OUT.csv] [--force]\n"
"                        [--mc-dropout K [--seed S]]\n"
"\n"
"Rebuilds the model of a sample file written by sgld-dist (its `config` attribute: model,\n"
"--task, --net; and data facts), standardizes TEST with the stored training statistics, and\n"
"evaluates every selected (chain, draw) on it: the Bayesian model average of the draws, each\n"
"chain alone, and the last selected draw of chain 0 alone (a plain SGD user's single network).\n"
"  classification: accuracy, NLL (logsumexp over draws), Brier score (summed over classes),\n"
"    ECE (15 equal-width confidence bins), predictive entropy, expected entropy (aleatoric),\n"
"    mutual information (epistemic), mean max probability;\n"
"  regression: RMSE of the predictive mean, log-likelihood of the Gaussian mixture (target\n"
"    units; the heteroscedastic mlp's own variances), coverage of central 50/90/95%% intervals;\n"
"  --ood OTHER: AUROC and AUPR of 1 - max probability, entropy and mutual information for\n"
"    telling TEST (negative) from OTHER (positive), and max-probability histograms.\n"
"--mc-dropout K evaluates a network trained with dropout as MC dropout (every draw K times\n"
"with fresh masks); without it dropout is off and the prediction deterministic.\n"
"Run under mpirun -n P to split the draws over P ranks.\n"
"\n"
"options:\n"
"  --data TEST         test data (HDF5 /X /y or CSV, as sgld-dist --data); required.\n"
"                      test-split: the rows the run held out with --test-fraction (stored in\n"
"                      FILE as test_row), read from the run's --data (a relative path is\n"
"                      taken from the current directory): the test rows the run scored\n"
"  --ood OTHER         out-of-distribution inputs (same features; targets ignored: a CSV's\n"
"                      target column may hold anything, an HDF5 file needs no /y)\n"
"  --draws SPEC        draws of every chain, with Python's indexing (zero-based): all\n"
"                      (default), one index I (5 = the sixth draw, -1 = the last), or a\n"
"                      slice A:B[:S] (:100 = the first 100, -100: = the last 100, ::10 =\n"
"                      every 10th)\n"
"  --json              one JSON object (with the reliability bins and histograms)\n"
"  --per-example OUT   per-example scores to HDF5 (/data/..., /ood/...)\n"
"  --hist OUT.csv      max-probability histograms (%d bins) of TEST and OTHER, ensemble and\n"
"                      last draw\n"
"  --force             replace an existing --per-example or --hist file (without it they are\n"
"                      created only when absent); never one that is FILE, TEST or OTHER (the\n"
"                      same file by device and inode, whatever the name or link)\n"
"  --mc-dropout K      MC dropout: evaluate every draw K times (1..%d) with fresh masks of\n"
"                      the net's dropout layers (dropP in --net; an error without them),\n"
"                      every (draw, mask) one ensemble member in every metric; the last\n"
"                      draw of chain 0 becomes its K members (with K > 1 its mutual\n"
"                      information is scored too: AUROC/AUPR, last_mutual_info in\n"
"                      --per-example).  Default: dropout off\n"
"  --seed S            key of the masks' random stream, with the chain (default 1); a\n"
"                      (draw, row, mask) has the same mask whatever the ranks or K\n"
"  --batch N           rows per predict call (default 500)\n"
"  --block N           draws read per block (default 8): memory ~ N x parameters x 4 B\n"
"  --timing            predict seconds and forward GFLOP/s on stderr\n"
"  -h, --help          this text\n"
"\n"
"exit status: 0 success, 2 bad input or usage (test data that do not fit the model, a file\n"
"without the model attributes, an empty draw selection, --mc-dropout on a model without\n"
"dropout layers, an output that exists without --force or is an input, a bad option),\n"
"1 runtime failure.\n",
            HIST_BINS, SGLD_NET_MC_MASKS);
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    if (rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "sgld-ess: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    return EXIT_BAD_INPUT;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    *out = strtoll(s, &end, 10);
    return *s && !*end;
}

/* An output option's directory must be writable before any work starts (bad input, exit 2, with
 * the reason), as sgld-dist checks --checkpoint's: otherwise the evaluation runs to the end
 * and the write fails there.  Returns -1 when it is, else the exit status. */
static int check_output_dir(const char *option, const char *path)
{
    if (!path) return -1;
    if (!path[0]) return bad("%s: empty file name", option);
    char dir[SGLD_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    if (access(dir, W_OK | X_OK) != 0)
        return bad("%s %s: cannot write in directory '%s': %s", option, path, dir, strerror(errno));
    return -1;
}

/* Returns -1 on success, else the exit status. */
static int parse_args(int argc, char **argv, popts *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},        {"ood", required_argument, 0, 'o'},
        {"draws", required_argument, 0, 'D'},       {"json", no_argument, 0, 'j'},
        {"per-example", required_argument, 0, 'p'}, {"hist", required_argument, 0, 'H'},
        {"batch", required_argument, 0, 'b'},       {"block", required_argument, 0, 'B'},
        {"timing", no_argument, 0, 'T'},            {"help", no_argument, 0, 'h'},
        {"mc-dropout", required_argument, 0, 'M'},  {"seed", required_argument, 0, 'S'},
        {"force", no_argument, 0, 'F'},             {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->draws = "all";
    o->batch = 500;
    o->block = 8;
    o->seed = 1;
    char msg[256];
    if (sgld_ess_check_spelling(argc, argv, 2, longopts, msg, sizeof msg) != 0) return bad("%s", msg);
    opterr = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'o': o->ood = optarg; break;
        case 'D': o->draws = optarg; break;
        case 'j': o->json = 1; break;
        case 'p': o->per_example = optarg; break;
        case 'H': o->hist = optarg; break;
        case 'b':
            if (!parse_ll(optarg, &o->batch) || o->batch < 1 || o->batch > 1000000)
                return bad("--batch: '%s' is not an integer in [1, 1000000]", optarg);
            break;
        case 'B':
            if (!parse_ll(optarg, &o->block) || o->block < 1 || o->block > 100000)
                return bad("--block: '%s' is not an integer in [1, 100000]", optarg);
            break;
        case 'M':
            if (!parse_ll(optarg, &o->mc_dropout) || o->mc_dropout < 1 || o->mc_dropout > SGLD_NET_MC_MASKS)
                return bad("--mc-dropout: '%s' is not an integer in [1, %d] (masks per draw)", optarg,
                           SGLD_NET_MC_MASKS);
            break;
        case 'S':
            if (!parse_ll(optarg, &o->seed) || o->seed < 0 || o->seed > 4294967295LL)
                return bad("--seed: '%s' is not an integer in [0, 4294967295]", optarg);
            break;
        case 'T': o->timing = 1; break;
        case 'F': o->force = 1; break;
        case 'h':
            if (rank == 0) usage(stdout);
            return EXIT_OK;
        case ':': return bad("option '%s' needs a value (see sgld-ess predict --help)", argv[optind - 1]);
        default: return bad("unknown option '%s' (see sgld-ess predict --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) return bad("predict: missing FILE (see sgld-ess predict --help)");
    if (optind < argc - 1) return bad("predict: expected one FILE, got extra '%s'", argv[optind + 1]);
    o->file = argv[optind];
    if (!o->data) return bad("predict: --data TEST is required (see sgld-ess predict --help)");
    int st = check_output_dir("--per-example", o->per_example);
    if (st < 0) st = check_output_dir("--hist", o->hist);
    return st;
}

/* The outputs (--per-example, --hist) are neither an input (FILE, --data, --ood) nor each
 * other, by identity, and exist only with --force.  Rank 0 (the one that writes them); returns
 * -1 when they may be written, else the exit status. */
static int check_outputs(const popts *o)
{
    const sgld_file_use uses[] = {
        {"--per-example", o->per_example, o->per_example, 1},
        {"--hist", o->hist, o->hist, 1},
        {"FILE", o->file, o->file, 0},
        {"--data", o->data, strncmp(o->data, "synthetic:", 10) ? o->data : NULL, 0},
        {"--ood", o->ood, o->ood && strncmp(o->ood, "synthetic:", 10) ? o->ood : NULL, 0},
    };
    if (sgld_fileguard_check(uses, 5) != SGLD_OK) return bad("%s", sgld_error_message());
    for (int k = 0; k < 2; k++)
        if (!o->force && uses[k].path && sgld_fileguard_exists(uses[k].path))
            return bad("%s %s: file exists (use --force to overwrite)", uses[k].option, uses[k].path);
    return -1;
}

/* Opens an output for writing: created only when absent unless --force (check_outputs found it
 * absent; O_EXCL keeps a file made since then). */
static FILE *create_text(const popts *o, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | (o->force ? O_TRUNC : O_EXCL), 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !f) close(fd);
    return f;
}

static hid_t create_h5(const popts *o, const char *path)
{
    return H5Fcreate(path, o->force ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
}

/* Parses --draws into the ascending draw indices of [0, n); *n_sel = 0 when empty.  Returns 0
 * when the spec does not parse. */
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

/* Splits newline-joined names (attribute text) into an array; returns the count. */
static int split_lines(char *text, char **out, int max)
{
    int n = 0;
    for (char *p = text; p && n < max;) {
        out[n++] = p;
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static void jnum(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.10g", x);
    else
        fprintf(f, "null");
}

/* One JSON object: "draws" then the named values (non-finite ones as null). */
static void json_object(FILE *f, int64_t n_draws, const char *const *names, const double *values, int n)
{
    fprintf(f, "{\"draws\": %lld", (long long)n_draws);
    for (int k = 0; k < n; k++) {
        fprintf(f, ", \"%s\": ", names[k]);
        jnum(f, values[k]);
    }
    fprintf(f, "}");
}

static void json_class(FILE *f, const sgld_ens_class_summary *s)
{
    static const char *const names[] = {"accuracy", "nll", "brier", "ece", "entropy",
                                        "expected_entropy", "mutual_info", "max_prob"};
    const double v[] = {s->accuracy, s->nll, s->brier, s->ece, s->entropy, s->expected_entropy,
                        s->mutual_info, s->max_prob};
    json_object(f, s->n_draws, names, v, 8);
}

static void json_reg(FILE *f, const sgld_ens_reg_summary *s)
{
    static const char *const names[] = {"rmse", "loglik", "cover50", "cover90", "cover95", "sd"};
    const double v[] = {s->rmse, s->loglik, s->cover50, s->cover90, s->cover95, s->sd};
    json_object(f, s->n_draws, names, v, 6);
}

static void row_class(const char *label, const sgld_ens_class_summary *s)
{
    printf("%-22s %8.4f %8.4f %8.4f %8.4f %8.4f %9.4f %9.4f %8.4f\n", label, s->accuracy, s->nll,
           s->brier, s->ece, s->entropy, s->expected_entropy, s->mutual_info, s->max_prob);
}

static void row_reg(const char *label, const sgld_ens_reg_summary *s)
{
    printf("%-22s %10.5g %10.5g %8.4f %8.4f %8.4f %10.5g\n", label, s->rmse, s->loglik, s->cover50,
           s->cover90, s->cover95, s->sd);
}

/* Writes a 1-D or 2-D dataset into group g (serial HDF5); returns < 0 on failure. */
static int write_ds(hid_t g, const char *name, hid_t type, int nd, int64_t n, int k, const void *data)
{
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)k};
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t ds = sp >= 0 ? H5Dcreate2(g, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = ds >= 0 ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

/* Per-example classification scores of one set (ensemble and last draw). */
typedef struct class_ex {
    int64_t n;
    double *prob, *mp, *h, *eh, *mi, *nll, *last_mp, *last_h, *last_mi, *one_minus, *last_one_minus;
    int *pred, *corr;
} class_ex;

static int class_ex_alloc(class_ex *e, int64_t n, int K)
{
    memset(e, 0, sizeof *e);
    e->n = n;
    size_t m = (size_t)(n > 0 ? n : 1);
    e->prob = malloc(m * (size_t)K * sizeof(double));
    double **d[] = {&e->mp, &e->h, &e->eh, &e->mi, &e->nll, &e->last_mp, &e->last_h, &e->last_mi, &e->one_minus,
                    &e->last_one_minus};
    int ok = e->prob != NULL;
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) ok &= (*d[i] = malloc(m * sizeof(double))) != NULL;
    ok &= (e->pred = malloc(m * sizeof(int))) != NULL;
    ok &= (e->corr = malloc(m * sizeof(int))) != NULL;
    return ok;
}

static void class_ex_free(class_ex *e)
{
    free(e->prob), free(e->mp), free(e->h), free(e->eh), free(e->mi), free(e->nll), free(e->last_mp);
    free(e->last_h), free(e->last_mi), free(e->one_minus), free(e->last_one_minus), free(e->pred), free(e->corr);
}

/* The held-out rows of the run (`--data test-split`): rows `test_row` of the sample file (the
 * rows sgld-dist's --test-fraction held out and scored) of the run's own --data (its config),
 * read whole and cut down to them, in file order.  *out owns them.  Returns -1 on success, else
 * the exit status (one line printed).  Local (every rank reads the same). */
static int load_test_split(const char *file, const sgld_config *cfg, int classification, sgld_dataset **out)
{
    if (cfg->test_fraction <= 0)
        return bad("--data test-split: %s is from a run without --test-fraction: no rows were held out", file);
    int status = -1;
    int64_t *rows = NULL;
    hssize_t n = -1;
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = f >= 0 && H5Lexists(f, "test_row", H5P_DEFAULT) > 0 ? H5Dopen2(f, "test_row", H5P_DEFAULT) : -1;
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1) n = H5Sget_simple_extent_npoints(sp);
    if (n > 0 && (rows = malloc((size_t)n * sizeof *rows)) != NULL &&
        H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
        n = -1;
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    if (n <= 0 || !rows) {
        status = n > 0 ? EXIT_RUNTIME
                       : bad("--data test-split: %s has no 1-D coordinate test_row (the held-out rows; sample files "
                             "of runs with --test-fraction hold one)", file);
        goto done;
    }
    sgld_data_options dopt = {.path = cfg->data, .classification = classification};
    if (sgld_data_load(MPI_COMM_SELF, 0, 1, &dopt, out, NULL) != SGLD_OK) {
        status = bad("--data test-split: the run's data: %s", sgld_error_message());
        goto done;
    }
    sgld_dataset *d = *out;
    for (int64_t k = 0; k < n; k++) {
        if (rows[k] < 0 || rows[k] >= d->n_total || (k > 0 && rows[k] <= rows[k - 1])) {
            status = bad("--data test-split: %s: test_row[%lld] = %lld is not an ascending row of the %lld rows of "
                         "%s (has the data file changed since the run?)", file, (long long)k, (long long)rows[k],
                         (long long)d->n_total, cfg->data);
            goto done;
        }
        memmove(d->X + (size_t)k * d->d, d->X + (size_t)rows[k] * d->d, (size_t)d->d * sizeof *d->X);
        d->y[k] = d->y[rows[k]];
    }
    d->n_total = d->n_local = n;
done:
    free(rows);
    return status;
}

static int run_predict(const popts *o, MPI_Comm comm)
{
    int status = EXIT_OK;
    sgld_samples_reader *rd = NULL;
    char *ini = NULL, *model_attr = NULL, *class_text = NULL;
    sgld_model m;
    int have_model = 0;
    memset(&m, 0, sizeof m);
    sgld_dataset *ds[2] = {NULL, NULL};
    int64_t *sel = NULL;
    sgld_ens_acc *accs[2] = {NULL, NULL}, last[2], ens[2];
    memset(last, 0, sizeof last);
    memset(ens, 0, sizeof ens);
    class_ex cx[2];
    memset(cx, 0, sizeof cx);
    int n_sets = o->ood ? 2 : 1, n_chains = 0;
    double *mean = NULL, *sdv = NULL;

    if (sgld_samples_open(o->file, &rd) != SGLD_OK) return bad("%s", sgld_error_message());
    if (sgld_samples_read_attr_string(rd, "", "config", &ini) != SGLD_OK ||
        sgld_samples_read_attr_string(rd, "", "model", &model_attr) != SGLD_OK) {
        status = bad("%s: no model attributes ('config' and 'model' on the root group): not a sample file "
                     "written by sgld-dist", o->file);
        goto done;
    }
    double facts[2];
    int nf = 0;
    if (sgld_samples_read_attr_double(rd, "", "n_features", 1, &nf, &facts[0]) != SGLD_OK ||
        sgld_samples_read_attr_double(rd, "", "n_classes", 1, &nf, &facts[1]) != SGLD_OK) {
        status = bad("%s: no model attributes ('n_features' and 'n_classes' on the root group): not a sample "
                     "file written by sgld-dist", o->file);
        goto done;
    }
    const int d = (int)facts[0], n_classes = (int)facts[1];
    sgld_config cfg;
    char label[SGLD_PATH_MAX + 16];
    snprintf(label, sizeof label, "%s:config", o->file);
    if (sgld_config_parse_text(&cfg, ini, label) != SGLD_OK) {
        status = bad("%s", sgld_error_message());
        goto done;
    }
    const sgld_model_type *t = sgld_model_find(cfg.model);
    if (!t || strcmp(cfg.model, model_attr) != 0) {
        status = bad("%s: model '%s' of the config attribute is %s", o->file, cfg.model,
                     t ? "not the file's 'model' attribute" : "not a registered model");
        goto done;
    }
    cfg.batch_size = o->batch; /* the networks' workspace rows */
    if (sgld_model_init(&m, t, d, n_classes, &cfg) != SGLD_OK) {
        status = bad("%s: cannot rebuild the model: %s", o->file, sgld_error_message());
        goto done;
    }
    have_model = 1;
    const int K = m.classification ? sgld_model_n_outputs(&m) : 0;
    /* MC dropout needs dropout layers (and the masks' numbering of net.h to fit). */
    size_t drop_units = 0;
    const int n_drop = m.type->dropout_layers ? m.type->dropout_layers(&m, &drop_units) : 0;
    if (o->mc_dropout && n_drop == 0) {
        char net[SGLD_PATH_MAX] = "";
        if (m.type->dropout_layers) (void)sgld_config_get(&cfg, "net", net, sizeof net);
        if (m.type->dropout_layers)
            status = bad("--mc-dropout %lld: the %s network of %s ('%s') has no dropout layer (a dropP token "
                         "in --net): nothing to sample", o->mc_dropout, cfg.model, o->file,
                         net[0] ? net : "the default --net");
        else
            status = bad("--mc-dropout %lld: the %s model of %s has no dropout layer (MC dropout needs an mlp "
                         "or cnn with dropP in --net)", o->mc_dropout, cfg.model, o->file);
        goto done;
    }
    if (o->mc_dropout && drop_units >= SGLD_NET_MC_UNITS) {
        status = bad("--mc-dropout %lld: the network of %s has %zu dropout units per row, at most %u", o->mc_dropout,
                     o->file, drop_units, SGLD_NET_MC_UNITS - 1);
        goto done;
    }

    /* The draws: every tensor of the model must be in the file. */
    int nd;
    int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    for (int v = 0; v < m.n_vars; v++) {
        if (sgld_samples_shape(rd, "posterior", m.vars[v].name, &nd, dims) != SGLD_OK) {
            status = bad("%s: the file does not hold tensor '%s' of the %s model (was it written with "
                         "--save-params?): cannot predict", o->file, m.vars[v].name, cfg.model);
            goto done;
        }
    }
    sgld_samples_shape(rd, "posterior", m.vars[0].name, &nd, dims);
    n_chains = (int)dims[0];
    const int64_t n_draws = dims[1];
    sel = malloc(sizeof *sel * (size_t)(n_draws > 0 ? n_draws : 1));
    int64_t n_sel = 0;
    if (!sel) {
        status = EXIT_RUNTIME;
        goto done;
    }
    if (!parse_draws(o->draws, n_draws, sel, &n_sel)) {
        status = bad("--draws: '%s' is not all, an index or a slice A:B[:S] with S >= 1", o->draws);
        goto done;
    }
    if (n_sel == 0 || n_chains == 0) {
        status = bad("--draws '%s' selects no draw (%s has %d chains x %lld draws)", o->draws, o->file, n_chains,
                     (long long)n_draws);
        goto done;
    }
    if (o->mc_dropout && sel[n_sel - 1] > (int64_t)UINT32_MAX) {
        status = bad("--mc-dropout: draw %lld of %s is past the masks' 2^32 draws", (long long)sel[n_sel - 1],
                     o->file);
        goto done;
    }

    /* The data: loaded whole by every rank; targets checked against the model's classes. */
    const char *paths[2] = {o->data, o->ood};
    for (int s = 0; s < n_sets; s++) {
        /* OOD inputs are scored without their targets, which may be of any type. */
        sgld_data_options dopt = {.path = paths[s], .classification = s == 0 && m.classification,
                                  .ignore_target = s == 1};
        if (s == 0 && !strcmp(o->data, TEST_SPLIT)) {
            int split = load_test_split(o->file, &cfg, m.classification, &ds[0]);
            if (split >= 0) {
                status = split;
                goto done;
            }
        } else if (sgld_data_load(MPI_COMM_SELF, 0, 1, &dopt, &ds[s], NULL) != SGLD_OK) {
            status = bad("%s", sgld_error_message());
            goto done;
        }
        if (ds[s]->d != d) {
            status = bad("%s: %d features per row, but the model of %s was trained on %d", paths[s], ds[s]->d,
                         o->file, d);
            goto done;
        }
    }
    if (o->mc_dropout && ds[0]->n_local + (o->ood ? ds[1]->n_local : 0) > (int64_t)UINT32_MAX) {
        status = bad("--mc-dropout: %s%s%s have more than 2^32 rows (the masks' row numbering)", o->data,
                     o->ood ? " and " : "", o->ood ? o->ood : "");
        goto done;
    }
    if (m.classification) {
        /* Map the test labels through the file's class names (the test file may name fewer). */
        char *names[1024];
        int n_names = 0;
        if (sgld_samples_read_attr_string(rd, "", "class_names", &class_text) == SGLD_OK)
            n_names = split_lines(class_text, names, 1024);
        int map[1024];
        for (int k = 0; k < ds[0]->n_classes; k++) {
            map[k] = -1;
            for (int j = 0; j < n_names; j++)
                if (!strcmp(ds[0]->class_names[k], names[j])) map[k] = j;
            if (n_names == 0 && k < n_classes) map[k] = k;
            if (map[k] < 0) {
                status = bad("%s: class '%s' is not one of the %d classes the model of %s was trained on", o->data,
                             ds[0]->class_names[k], n_classes, o->file);
                goto done;
            }
        }
        for (int64_t i = 0; i < ds[0]->n_local; i++) ds[0]->y[i] = (float)map[(int)ds[0]->y[i]];
    }
    /* Standardize with the training statistics stored in the file. */
    int n_mean = 0, n_sd = 0;
    if (sgld_samples_read_attr_double(rd, "", "standardize_mean", 0, &n_mean, NULL) == SGLD_OK) {
        mean = malloc(sizeof *mean * (size_t)d);
        sdv = malloc(sizeof *sdv * (size_t)d);
        if (!mean || !sdv || n_mean != d ||
            sgld_samples_read_attr_double(rd, "", "standardize_mean", d, &n_mean, mean) != SGLD_OK ||
            sgld_samples_read_attr_double(rd, "", "standardize_sd", d, &n_sd, sdv) != SGLD_OK || n_sd != d) {
            status = bad("%s: standardize_mean / standardize_sd do not hold %d values each", o->file, d);
            goto done;
        }
        for (int s = 0; s < n_sets; s++)
            for (int64_t i = 0; i < ds[s]->n_local; i++)
                for (int j = 0; j < d; j++)
                    ds[s]->X[i * d + j] = (float)((ds[s]->X[i * d + j] - mean[j]) / sdv[j]);
    }

    /* Accumulators: one per chain and set, the last draw, the ensemble. */
    sgld_ens_set sets[2];
    for (int s = 0; s < n_sets; s++) {
        int has_y = s == 0;
        accs[s] = calloc((size_t)n_chains, sizeof *accs[s]);
        if (!accs[s]) {
            status = EXIT_RUNTIME;
            goto done;
        }
        for (int c = 0; c < n_chains; c++)
            if (sgld_ens_acc_init(&accs[s][c], ds[s]->n_local, K, has_y) != SGLD_OK) {
                status = EXIT_RUNTIME;
                goto done;
            }
        if (sgld_ens_acc_init(&last[s], ds[s]->n_local, K, has_y) != SGLD_OK ||
            sgld_ens_acc_init(&ens[s], ds[s]->n_local, K, has_y) != SGLD_OK) {
            status = EXIT_RUNTIME;
            goto done;
        }
        sets[s] = (sgld_ens_set){.X = ds[s]->X, .y = has_y ? ds[s]->y : NULL, .n = ds[s]->n_local,
                                 .chain = accs[s], .last = &last[s]};
    }
    if (!m.classification && o->ood) {
        status = bad("--ood: the %s model of %s is a regression; out-of-distribution scores need a classifier",
                     cfg.model, o->file);
        goto done;
    }
    sgld_ens_eval_options eo = {.group = "posterior", .n_chains = n_chains, .draws = sel, .n_sel = n_sel,
                                .block_draws = o->block, .batch_rows = (size_t)o->batch,
                                .mc_dropout = (int)o->mc_dropout, .mc_seed = (uint32_t)o->seed};
    double secs = 0, flops = 0;
    double t0 = MPI_Wtime();
    sgld_status st = sgld_ens_evaluate(comm, rd, &m, &eo, n_sets, sets, &secs, &flops);
    double wall = MPI_Wtime() - t0;
    if (st != SGLD_OK) {
        if (rank == 0) fprintf(stderr, "sgld-ess: %s: %s\n", o->file, sgld_error_message());
        status = st == SGLD_ERR_PARSE ? EXIT_BAD_INPUT : EXIT_RUNTIME;
        goto done;
    }
    double sum_flops = 0, max_secs = 0;
    MPI_Reduce(&flops, &sum_flops, 1, MPI_DOUBLE, MPI_SUM, 0, comm);
    MPI_Reduce(&secs, &max_secs, 1, MPI_DOUBLE, MPI_MAX, 0, comm);
    if (rank != 0) goto done;

    for (int s = 0; s < n_sets; s++)
        for (int c = 0; c < n_chains; c++) sgld_ens_acc_merge(&ens[s], &accs[s][c]);
    if (o->timing)
        fprintf(stderr, "timing (%d ranks): %lld draws x %lld rows, evaluate %.3f s wall, predict %.3f s "
                "(slowest rank), forward %.3g GFLOP, %.2f GFLOP/s\n", size,
                (long long)(n_chains * n_sel) * (o->mc_dropout ? o->mc_dropout : 1),
                (long long)(ds[0]->n_local + (o->ood ? ds[1]->n_local : 0)), wall, max_secs, sum_flops * 1e-9,
                wall > 0 ? sum_flops * 1e-9 / wall : 0.0);

    FILE *out = stdout;
    char masks[64] = ""; /* " x K dropout masks" after the draws (MC dropout) */
    if (o->mc_dropout)
        snprintf(masks, sizeof masks, " x %lld dropout mask%s", o->mc_dropout, o->mc_dropout > 1 ? "s" : "");
    if (!m.classification) {
        sgld_ens_reg_summary re, rl, rc[256];
        int shown = n_chains < 256 ? n_chains : 256;
        size_t nn = (size_t)(ds[0]->n_local > 0 ? ds[0]->n_local : 1);
        double *em = malloc(nn * sizeof(double)), *esd = malloc(nn * sizeof(double));
        double *ell = malloc(nn * sizeof(double)), *epit = malloc(nn * sizeof(double));
        sgld_ens_reg_examples rex = {em, esd, ell, epit};
        if (!em || !esd || !ell || !epit || sgld_ens_reg_scores(&ens[0], ds[0]->y, &re, &rex) != SGLD_OK ||
            sgld_ens_reg_scores(&last[0], ds[0]->y, &rl, NULL) != SGLD_OK) {
            free(em), free(esd), free(ell), free(epit);
            status = EXIT_RUNTIME;
            goto done;
        }
        for (int c = 0; c < shown; c++) sgld_ens_reg_scores(&accs[0][c], ds[0]->y, &rc[c], NULL);
        if (o->json) {
            fprintf(out, "{\"file\": \"%s\", \"model\": \"%s\", \"task\": \"regression\", \"chains\": %d, "
                    "\"draws_per_chain\": %lld, \"mc_dropout\": %lld, \"data\": {\"path\": \"%s\", \"n\": %lld, "
                    "\"ensemble\": ", o->file, cfg.model, n_chains, (long long)n_sel, o->mc_dropout, o->data,
                    (long long)ds[0]->n_local);
            json_reg(out, &re);
            fprintf(out, ", \"last\": ");
            json_reg(out, &rl);
            fprintf(out, ", \"chains\": [");
            for (int c = 0; c < shown; c++) {
                if (c) fprintf(out, ", ");
                json_reg(out, &rc[c]);
            }
            fprintf(out, "]}, \"timing\": {\"seconds\": %.6g, \"gflop\": %.6g}}\n", wall, sum_flops * 1e-9);
        } else {
            fprintf(out, "%s: %s model, %d chains x %lld draws%s; %s: %lld rows\n\n", o->file, cfg.model, n_chains,
                    (long long)n_sel, masks, o->data, (long long)ds[0]->n_local);
            fprintf(out, "%-22s %10s %10s %8s %8s %8s %10s\n", "", "rmse", "loglik", "cover50", "cover90",
                    "cover95", "pred_sd");
            row_reg("ensemble", &re);
            for (int c = 0; c < shown; c++) {
                char lab[32];
                snprintf(lab, sizeof lab, "chain %d", c);
                row_reg(lab, &rc[c]);
            }
            row_reg("last draw (chain 0)", &rl);
        }
        if (o->per_example) {
            hid_t f = create_h5(o, o->per_example);
            hid_t g = f >= 0 ? H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
            int rc_w = g >= 0 ? 0 : -1;
            int64_t n = ds[0]->n_local;
            rc_w |= g >= 0 ? write_ds(g, "y", H5T_NATIVE_FLOAT, 1, n, 1, ds[0]->y) : -1;
            rc_w |= g >= 0 ? write_ds(g, "mean", H5T_NATIVE_DOUBLE, 1, n, 1, em) : -1;
            rc_w |= g >= 0 ? write_ds(g, "sd", H5T_NATIVE_DOUBLE, 1, n, 1, esd) : -1;
            rc_w |= g >= 0 ? write_ds(g, "loglik", H5T_NATIVE_DOUBLE, 1, n, 1, ell) : -1;
            rc_w |= g >= 0 ? write_ds(g, "pit", H5T_NATIVE_DOUBLE, 1, n, 1, epit) : -1;
            if (g >= 0) H5Gclose(g);
            if (f >= 0) H5Fclose(f);
            if (rc_w) {
                fprintf(stderr, "sgld-ess: %s: cannot write the per-example file\n", o->per_example);
                status = EXIT_RUNTIME;
            }
        }
        free(em), free(esd), free(ell), free(epit);
        fflush(out);
        goto done;
    }

    /* Classification. */
    sgld_ens_class_summary se[2], sl[2], sc[256];
    int shown = n_chains < 256 ? n_chains : 256;
    for (int s = 0; s < n_sets; s++) {
        if (!class_ex_alloc(&cx[s], ds[s]->n_local, K)) {
            status = EXIT_RUNTIME;
            goto done;
        }
        const float *y = s == 0 ? ds[0]->y : NULL;
        sgld_ens_class_examples ex = {cx[s].prob, cx[s].mp, cx[s].h, cx[s].eh, cx[s].mi, cx[s].nll, cx[s].pred,
                                      cx[s].corr};
        /* the last draw's mutual information: its K members' disagreement (MC dropout only) */
        sgld_ens_class_examples lx = {NULL, cx[s].last_mp, cx[s].last_h, NULL, cx[s].last_mi, NULL, NULL, NULL};
        if (sgld_ens_class_scores(&ens[s], y, &se[s], &ex) != SGLD_OK ||
            sgld_ens_class_scores(&last[s], y, &sl[s], &lx) != SGLD_OK) {
            status = EXIT_RUNTIME;
            goto done;
        }
        for (int64_t i = 0; i < ds[s]->n_local; i++) {
            cx[s].one_minus[i] = 1.0 - cx[s].mp[i];
            cx[s].last_one_minus[i] = 1.0 - cx[s].last_mp[i];
        }
    }
    for (int c = 0; c < shown; c++) sgld_ens_class_scores(&accs[0][c], ds[0]->y, &sc[c], NULL);
    int64_t bin_n[SGLD_ENS_ECE_BINS];
    double bin_conf[SGLD_ENS_ECE_BINS], bin_acc[SGLD_ENS_ECE_BINS];
    sgld_ens_ece(cx[0].mp, cx[0].corr, ds[0]->n_local, SGLD_ENS_ECE_BINS, bin_n, bin_conf, bin_acc);
    /* OOD: AUROC / AUPR of three scores, ensemble and last draw; histograms. */
    double roc[2][3] = {{NAN, NAN, NAN}, {NAN, NAN, NAN}}, pr[2][3] = {{NAN, NAN, NAN}, {NAN, NAN, NAN}};
    int64_t hist[4][HIST_BINS];
    const char *score_names[3] = {"max_prob", "entropy", "mutual_info"};
    if (o->ood) {
        const double *in_e[3] = {cx[0].one_minus, cx[0].h, cx[0].mi}, *out_e[3] = {cx[1].one_minus, cx[1].h, cx[1].mi};
        for (int k = 0; k < 3; k++)
            sgld_ens_auroc_aupr(in_e[k], ds[0]->n_local, out_e[k], ds[1]->n_local, &roc[0][k], &pr[0][k]);
        sgld_ens_auroc_aupr(cx[0].last_one_minus, ds[0]->n_local, cx[1].last_one_minus, ds[1]->n_local, &roc[1][0],
                            &pr[1][0]);
        sgld_ens_auroc_aupr(cx[0].last_h, ds[0]->n_local, cx[1].last_h, ds[1]->n_local, &roc[1][1], &pr[1][1]);
        if (o->mc_dropout > 1)
            sgld_ens_auroc_aupr(cx[0].last_mi, ds[0]->n_local, cx[1].last_mi, ds[1]->n_local, &roc[1][2], &pr[1][2]);
        sgld_ens_histogram(cx[0].mp, ds[0]->n_local, HIST_BINS, 0, 1, hist[0]);
        sgld_ens_histogram(cx[1].mp, ds[1]->n_local, HIST_BINS, 0, 1, hist[1]);
        sgld_ens_histogram(cx[0].last_mp, ds[0]->n_local, HIST_BINS, 0, 1, hist[2]);
        sgld_ens_histogram(cx[1].last_mp, ds[1]->n_local, HIST_BINS, 0, 1, hist[3]);
        if (o->hist) {
            FILE *h = create_text(o, o->hist);
            if (!h) {
                fprintf(stderr, "sgld-ess: %s: cannot write the histogram CSV\n", o->hist);
                status = EXIT_RUNTIME;
                goto done;
            }
            fprintf(h, "bin_lo,bin_hi,data_ensemble,ood_ensemble,data_last,ood_last\n");
            for (int b = 0; b < HIST_BINS; b++)
                fprintf(h, "%g,%g,%lld,%lld,%lld,%lld\n", (double)b / HIST_BINS, (double)(b + 1) / HIST_BINS,
                        (long long)hist[0][b], (long long)hist[1][b], (long long)hist[2][b], (long long)hist[3][b]);
            fclose(h);
        }
    }
    if (o->json) {
        fprintf(out, "{\"file\": \"%s\", \"model\": \"%s\", \"task\": \"classification\", \"classes\": %d, "
                "\"chains\": %d, \"draws_per_chain\": %lld, \"mc_dropout\": %lld,\n \"data\": {\"path\": \"%s\", "
                "\"n\": %lld, \"ensemble\": ", o->file, cfg.model, K, n_chains, (long long)n_sel, o->mc_dropout, o->data,
                (long long)ds[0]->n_local);
        json_class(out, &se[0]);
        fprintf(out, ",\n  \"last\": ");
        json_class(out, &sl[0]);
        fprintf(out, ",\n  \"chains\": [");
        for (int c = 0; c < shown; c++) {
            fprintf(out, c ? ",\n   " : "");
            json_class(out, &sc[c]);
        }
        fprintf(out, "],\n  \"reliability\": {\"count\": [");
        for (int b = 0; b < SGLD_ENS_ECE_BINS; b++) fprintf(out, "%s%lld", b ? ", " : "", (long long)bin_n[b]);
        fprintf(out, "], \"confidence\": [");
        for (int b = 0; b < SGLD_ENS_ECE_BINS; b++) {
            fprintf(out, b ? ", " : "");
            jnum(out, bin_conf[b]);
        }
        fprintf(out, "], \"accuracy\": [");
        for (int b = 0; b < SGLD_ENS_ECE_BINS; b++) {
            fprintf(out, b ? ", " : "");
            jnum(out, bin_acc[b]);
        }
        fprintf(out, "]}}");
        if (o->ood) {
            fprintf(out, ",\n \"ood\": {\"path\": \"%s\", \"n\": %lld, \"ensemble\": ", o->ood, (long long)ds[1]->n_local);
            json_class(out, &se[1]);
            fprintf(out, ",\n  \"last\": ");
            json_class(out, &sl[1]);
            const char *which[2] = {"ensemble", "last"};
            for (int w = 0; w < 2; w++) {
                fprintf(out, ",\n  \"auroc_%s\": {", which[w]);
                for (int k = 0; k < 3; k++) {
                    fprintf(out, "%s\"%s\": ", k ? ", " : "", score_names[k]);
                    jnum(out, roc[w][k]);
                }
                fprintf(out, "}, \"aupr_%s\": {", which[w]);
                for (int k = 0; k < 3; k++) {
                    fprintf(out, "%s\"%s\": ", k ? ", " : "", score_names[k]);
                    jnum(out, pr[w][k]);
                }
                fprintf(out, "}");
            }
            const char *hn[4] = {"data_ensemble", "ood_ensemble", "data_last", "ood_last"};
            fprintf(out, ",\n  \"max_prob_histogram\": {\"bins\": %d", HIST_BINS);
            for (int q = 0; q < 4; q++) {
                fprintf(out, ", \"%s\": [", hn[q]);
                for (int b = 0; b < HIST_BINS; b++) fprintf(out, "%s%lld", b ? ", " : "", (long long)hist[q][b]);
                fprintf(out, "]");
            }
            fprintf(out, "}}");
        }
        fprintf(out, ",\n \"timing\": {\"seconds\": %.6g, \"gflop\": %.6g}}\n", wall, sum_flops * 1e-9);
    } else {
        fprintf(out, "%s: %s model, %d classes, %d chains x %lld draws%s; %s: %lld rows\n\n", o->file, cfg.model, K,
                n_chains, (long long)n_sel, masks, o->data, (long long)ds[0]->n_local);
        fprintf(out, "%-22s %8s %8s %8s %8s %8s %9s %9s %8s\n", "", "accuracy", "nll", "brier", "ece", "entropy",
                "aleatoric", "epistemic", "max_prob");
        row_class("ensemble", &se[0]);
        for (int c = 0; c < shown; c++) {
            char lab[32];
            snprintf(lab, sizeof lab, "chain %d", c);
            row_class(lab, &sc[c]);
        }
        row_class("last draw (chain 0)", &sl[0]);
        if (o->ood) {
            fprintf(out, "\nout of distribution: %s: %lld rows\n", o->ood, (long long)ds[1]->n_local);
            fprintf(out, "%-22s %8s %9s %9s %8s\n", "", "entropy", "aleatoric", "epistemic", "max_prob");
            fprintf(out, "%-22s %8.4f %9.4f %9.4f %8.4f\n", "ensemble", se[1].entropy, se[1].expected_entropy,
                    se[1].mutual_info, se[1].max_prob);
            fprintf(out, "%-22s %8.4f %9.4f %9.4f %8.4f\n", "last draw (chain 0)", sl[1].entropy,
                    sl[1].expected_entropy, sl[1].mutual_info, sl[1].max_prob);
            fprintf(out, "\ndetection of %s (positive) against %s: AUROC / AUPR\n", o->ood, o->data);
            fprintf(out, "%-22s %17s %17s %17s\n", "", "1 - max_prob", "entropy", "mutual_info");
            const char *which[2] = {"ensemble", "last draw (chain 0)"};
            for (int w = 0; w < 2; w++) {
                fprintf(out, "%-22s", which[w]);
                for (int k = 0; k < 3; k++) {
                    if (isnan(roc[w][k]))
                        fprintf(out, " %17s", "-");
                    else
                        fprintf(out, "    %6.4f / %6.4f", roc[w][k], pr[w][k]);
                }
                fprintf(out, "\n");
            }
        }
    }
    fflush(out);
    if (o->per_example) {
        hid_t f = create_h5(o, o->per_example);
        int rc_w = f >= 0 ? 0 : -1;
        const char *gn[2] = {"data", "ood"};
        for (int s = 0; rc_w == 0 && s < n_sets; s++) {
            hid_t g = H5Gcreate2(f, gn[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g < 0) {
                rc_w = -1;
                break;
            }
            int64_t n = ds[s]->n_local;
            if (s == 0) {
                rc_w |= write_ds(g, "y", H5T_NATIVE_FLOAT, 1, n, 1, ds[0]->y);
                rc_w |= write_ds(g, "nll", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].nll);
                rc_w |= write_ds(g, "correct", H5T_NATIVE_INT, 1, n, 1, cx[s].corr);
            }
            rc_w |= write_ds(g, "prob", H5T_NATIVE_DOUBLE, 2, n, K, cx[s].prob);
            rc_w |= write_ds(g, "pred", H5T_NATIVE_INT, 1, n, 1, cx[s].pred);
            rc_w |= write_ds(g, "max_prob", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].mp);
            rc_w |= write_ds(g, "entropy", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].h);
            rc_w |= write_ds(g, "expected_entropy", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].eh);
            rc_w |= write_ds(g, "mutual_info", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].mi);
            rc_w |= write_ds(g, "last_max_prob", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].last_mp);
            rc_w |= write_ds(g, "last_entropy", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].last_h);
            if (o->mc_dropout > 1)
                rc_w |= write_ds(g, "last_mutual_info", H5T_NATIVE_DOUBLE, 1, n, 1, cx[s].last_mi);
            H5Gclose(g);
        }
        if (f >= 0) H5Fclose(f);
        if (rc_w) {
            fprintf(stderr, "sgld-ess: %s: cannot write the per-example file\n", o->per_example);
            status = EXIT_RUNTIME;
        }
    }
done:
    for (int s = 0; s < 2; s++) {
        for (int c = 0; accs[s] && c < n_chains; c++) sgld_ens_acc_finalize(&accs[s][c]);
        free(accs[s]);
        sgld_ens_acc_finalize(&last[s]);
        sgld_ens_acc_finalize(&ens[s]);
        class_ex_free(&cx[s]);
        sgld_data_destroy(&ds[s]);
    }
    free(sel);
    free(mean);
    free(sdv);
    if (have_model) sgld_model_finalize(&m);
    sgld_free(ini);
    sgld_free(model_attr);
    sgld_free(class_text);
    sgld_samples_reader_close(&rd);
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
    return status;
}

int sgld_ess_predict(int argc, char **argv, MPI_Comm comm)
{
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    popts o;
    int status = parse_args(argc, argv, &o);
    if (status >= 0) return status;
    status = rank == 0 ? check_outputs(&o) : -1;
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
    if (status >= 0) return status;
    return run_predict(&o, comm);
}
