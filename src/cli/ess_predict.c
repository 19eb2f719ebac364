/* ess_predict.c - `sgld-ess predict`: the posterior predictive of a sample file on test data, with
 * calibration and out-of-distribution scores, computed by sgld_ens_predictive_create (metrics
 * and their definitions in include/sgld/ensemble.h) and printed here as a table or JSON, with
 * the --per-example HDF5 file and the --hist CSV.  Reported: the Bayesian model average of all
 * selected draws, each chain alone, and the last selected draw of chain 0 alone (what a plain
 * SGD user would have).  --mc-dropout K: every draw K times with fresh dropout masks, each
 * (draw, mask) one member (MC dropout).
 *
 * Exit status: 0 success, 2 bad input or usage (one line on stderr), 1 runtime failure. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ess.h"
#include "sgld/config.h"
#include "sgld/ensemble.h"
#include "sgld/plugin.h"
#include "sgld/fileguard.h"
#include "sgld/net.h"

void ess_predict_usage(FILE *f)
{
    fprintf(f,
"usage: sgld-ess predict FILE --data TEST [--ood OTHER] [--draws I|A:B[:S]] [--json]\n"
"                        [--per-example OUT.h5] [--hist OUT.csv]\n"
"                        [--log-likelihood OUT.h5] [--force]\n"
"                        [--mc-dropout K [--seed S]] [--fgsm EPS[,EPS...]]\n"
"                        [--plugin PATH.so]\n"
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
"--fgsm EPS attacks every TEST row with the fast gradient sign method, x' = clip(x + EPS\n"
"sign(grad_x loss), 0, 1), against the model average (loss: its NLL) and against each draw\n"
"alone (loss: that draw's NLL), and scores x' like TEST.\n"
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
"  --log-likelihood OUT  each selected draw's log density of each TEST row, log p(y_i | x_i,\n"
"                      draw), to OUT in FILE's layout: group log_likelihood, variable y\n"
"                      [chain, draw, obs] (float64; draw = the draws' indices in FILE, obs =\n"
"                      TEST's rows in order): ArviZ's input of LOO and WAIC (arviz.loo,\n"
"                      the R package loo); not with --mc-dropout\n"
"  --force             replace an existing --per-example, --hist or --log-likelihood file\n"
"                      (without it they are created only when absent); never one that is\n"
"                      FILE, TEST or OTHER (the same file by device and inode, whatever the\n"
"                      name or link)\n"
"  --mc-dropout K      MC dropout: evaluate every draw K times (1..%d) with fresh masks of\n"
"                      the net's dropout layers (dropP in --net; an error without them),\n"
"                      every (draw, mask) one ensemble member in every metric; the last\n"
"                      draw of chain 0 becomes its K members (with K > 1 its mutual\n"
"                      information is scored too: AUROC/AUPR, last_mutual_info in\n"
"                      --per-example).  Default: dropout off\n"
"  --fgsm EPS[,EPS...] FGSM examples of TEST at each EPS >= 0 (at most %d values; TEST's\n"
"                      inputs in [0, 1], as pixels; a classification network: mlp or cnn;\n"
"                      not with --mc-dropout): accuracy, NLL, max probability and mutual\n"
"                      information of the model average on the examples made against it,\n"
"                      and the mean accuracy, NLL and max probability of each draw alone on\n"
"                      the examples made against that draw (the table, JSON; --per-example:\n"
"                      /fgsm)\n"
"  --seed S            key of the masks' random stream, with the chain (default 1); a\n"
"                      (draw, row, mask) has the same mask whatever the ranks or K\n"
"  --batch N           rows per predict call (default 500)\n"
"  --block N           draws read per block (default 8): memory ~ N x parameters x 4 B\n"
"  --timing            predict seconds and forward GFLOP/s on stderr\n"
"  --plugin PATH.so    load a plug-in (repeatable) before FILE is read: for a model or\n"
"                      sampler of a plug-in whose path FILE records (its `plugins`\n"
"                      attribute) but which is no longer there; without it the recorded\n"
"                      plug-ins are loaded\n"
"  -h, --help          this text\n"
"\n"
"exit status: 0 success, 2 bad input or usage (test data that do not fit the model, a file\n"
"without the model attributes, an empty draw selection, --mc-dropout on a model without\n"
"dropout layers, --fgsm on a regression, on a model without input gradient or with a bad\n"
"EPS, an output that exists without --force or is an input, a bad option), 1 runtime\n"
"failure.\n",
            SGLD_ENS_HIST_BINS, SGLD_NET_MC_MASKS, SGLD_ENS_FGSM_MAX);
}

/* An output option's directory must be writable before any work starts (bad input, exit 2, with
 * the reason), as sgld-dist checks --checkpoint's: otherwise the evaluation runs to the end
 * and the write fails there.  Returns -1 when it is, else the exit status. */
static int check_output_dir(const cli_ctx *c, const char *option, const char *path)
{
    if (!path) return -1;
    if (!path[0]) return cli_fail(c, CLI_EXIT_BAD_INPUT, "%s: empty file name", option);
    char dir[SGLD_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    if (access(dir, W_OK | X_OK) != 0)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "%s %s: cannot write in directory '%s': %s", option, path, dir, strerror(errno));
    return -1;
}

/* The checks of predict's options beyond their values: --data is required and the output
 * files' directories must be writable before any work starts.  Returns -1 when they pass,
 * else the exit status. */
/* --fgsm EPS[,EPS...] into o->fgsm_eps: each a finite number >= 0, at most SGLD_ENS_FGSM_MAX.
 * Returns -1 when it parses, else the exit status. */
static int parse_fgsm(const cli_ctx *c, ess_args *o)
{
    if (!o->fgsm) return -1;
    const char *q = o->fgsm;
    for (;;) {
        const char *comma = strchr(q, ',');
        const size_t len = comma ? (size_t)(comma - q) : strlen(q);
        char item[64], *end;
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), q);
        errno = 0;
        const double v = strtod(item, &end);
        if (len == 0 || len >= sizeof item || *end || errno || !isfinite(v) || v < 0 || end == item)
            return cli_fail(c, CLI_EXIT_BAD_INPUT, "--fgsm: '%.*s' is not a number >= 0 (in '%s')", (int)len, q, o->fgsm);
        if (o->n_fgsm == SGLD_ENS_FGSM_MAX)
            return cli_fail(c, CLI_EXIT_BAD_INPUT, "--fgsm '%s': more than %d values", o->fgsm, SGLD_ENS_FGSM_MAX);
        o->fgsm_eps[o->n_fgsm++] = v;
        if (!comma) return -1;
        q = comma + 1;
    }
}

static int check_args(const cli_ctx *c, ess_args *o)
{
    if (!o->data) return cli_fail(c, CLI_EXIT_BAD_INPUT, "predict: --data TEST is required (see sgld-ess predict --help)");
    if (parse_fgsm(c, o) >= 0) return CLI_EXIT_BAD_INPUT;
    int st = check_output_dir(c, "--per-example", o->per_example);
    if (st < 0) st = check_output_dir(c, "--hist", o->hist);
    if (st < 0) st = check_output_dir(c, "--log-likelihood", o->log_likelihood);
    if (st < 0 && o->n_fgsm && o->mc_dropout)
        st = cli_fail(c, CLI_EXIT_BAD_INPUT, "--fgsm %s: not with --mc-dropout (the attack's gradient is of the network "
                      "without dropout)", o->fgsm);
    if (st < 0 && o->log_likelihood && o->mc_dropout)
        st = cli_fail(c, CLI_EXIT_BAD_INPUT, "--log-likelihood %s: not with --mc-dropout (a draw is K members there, "
                      "not one density per row)", o->log_likelihood);
    return st;
}

/* The outputs (--per-example, --hist, --log-likelihood) are neither an input (FILE, --data, --ood) nor each
 * other, by identity, and exist only with --force.  Rank 0 (the one that writes them); returns
 * -1 when they may be written, else the exit status. */
static int check_outputs(const cli_ctx *c, const ess_args *o)
{
    const sgld_file_use uses[] = {
        {"--per-example", o->per_example, o->per_example, 1},
        {"--hist", o->hist, o->hist, 1},
        {"--log-likelihood", o->log_likelihood, o->log_likelihood, 1},
        {"FILE", o->file, o->file, 0},
        {"--data", o->data, strncmp(o->data, "synthetic:", 10) ? o->data : NULL, 0},
        {"--ood", o->ood, o->ood && strncmp(o->ood, "synthetic:", 10) ? o->ood : NULL, 0},
    };
    if (sgld_fileguard_check(uses, 6) != SGLD_OK) return cli_fail(c, CLI_EXIT_BAD_INPUT, "%s", sgld_error_message());
    for (int k = 0; k < 3; k++)
        if (!o->force && uses[k].path && sgld_fileguard_exists(uses[k].path))
            return cli_fail(c, CLI_EXIT_BAD_INPUT, "%s %s: file exists (use --force to overwrite)", uses[k].option, uses[k].path);
    return -1;
}

/* Opens an output for writing: created only when absent unless --force (check_outputs found it
 * absent; O_EXCL keeps a file made since then). */
static FILE *create_text(const ess_args *o, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | (o->force ? O_TRUNC : O_EXCL), 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !f) close(fd);
    return f;
}

static hid_t create_h5(const ess_args *o, const char *path)
{
    return H5Fcreate(path, o->force ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
}

/* One JSON object: "draws" then the named values (non-finite ones as null). */
static void json_object(FILE *f, int64_t n_draws, const char *const *names, const double *values, int n)
{
    fprintf(f, "{\"draws\": %lld", (long long)n_draws);
    for (int k = 0; k < n; k++) {
        fprintf(f, ", \"%s\": ", names[k]);
        cli_json_num(f, values[k]);
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

/* The regression report of TEST: table or JSON. */
static void print_reg(const ess_args *o, const sgld_ens_predictive *p, const char *masks)
{
    const int64_t n = p->data[0]->n_local;
    if (o->format == ESS_JSON) {
        printf("{\"file\": \"%s\", \"model\": \"%s\", \"task\": \"regression\", \"chains\": %d, "
               "\"draws_per_chain\": %lld, \"mc_dropout\": %d, \"data\": {\"path\": \"%s\", \"n\": %lld, "
               "\"ensemble\": ", o->file, p->model, p->n_chains, (long long)p->n_draws, p->mc_dropout, o->data,
               (long long)n);
        json_reg(stdout, &p->reg_ens);
        printf(", \"last\": ");
        json_reg(stdout, &p->reg_last);
        printf(", \"chains\": [");
        for (int c = 0; c < p->n_chain_scores; c++) {
            if (c) printf(", ");
            json_reg(stdout, &p->chain_reg[c]);
        }
        printf("]}, \"timing\": {\"seconds\": %.6g, \"gflop\": %.6g}}\n", p->seconds, p->flops * 1e-9);
        return;
    }
    printf("%s: %s model, %d chains x %lld draws%s; %s: %lld rows\n\n", o->file, p->model, p->n_chains,
           (long long)p->n_draws, masks, o->data, (long long)n);
    printf("%-22s %10s %10s %8s %8s %8s %10s\n", "", "rmse", "loglik", "cover50", "cover90", "cover95", "pred_sd");
    row_reg("ensemble", &p->reg_ens);
    for (int c = 0; c < p->n_chain_scores; c++) {
        char lab[32];
        snprintf(lab, sizeof lab, "chain %d", c);
        row_reg(lab, &p->chain_reg[c]);
    }
    row_reg("last draw (chain 0)", &p->reg_last);
}

/* JSON numbers of n values, comma-separated. */
static void json_list(const double *x, int n)
{
    for (int b = 0; b < n; b++) {
        printf(b ? ", " : "");
        cli_json_num(stdout, x[b]);
    }
}

/* The OOD part of the classification JSON. */
static void print_class_json_ood(const ess_args *o, const sgld_ens_predictive *p)
{
    static const char *const score_names[3] = {"max_prob", "entropy", "mutual_info"};
    printf(",\n \"ood\": {\"path\": \"%s\", \"n\": %lld, \"ensemble\": ", o->ood, (long long)p->set[1].n);
    json_class(stdout, &p->set[1].ens);
    printf(",\n  \"last\": ");
    json_class(stdout, &p->set[1].last);
    const char *which[2] = {"ensemble", "last"};
    for (int w = 0; w < 2; w++) {
        printf(",\n  \"auroc_%s\": {", which[w]);
        for (int k = 0; k < 3; k++) {
            printf("%s\"%s\": ", k ? ", " : "", score_names[k]);
            cli_json_num(stdout, p->auroc[w][k]);
        }
        printf("}, \"aupr_%s\": {", which[w]);
        for (int k = 0; k < 3; k++) {
            printf("%s\"%s\": ", k ? ", " : "", score_names[k]);
            cli_json_num(stdout, p->aupr[w][k]);
        }
        printf("}");
    }
    const char *hn[4] = {"data_ensemble", "ood_ensemble", "data_last", "ood_last"};
    printf(",\n  \"max_prob_histogram\": {\"bins\": %d", SGLD_ENS_HIST_BINS);
    for (int q = 0; q < 4; q++) {
        printf(", \"%s\": [", hn[q]);
        for (int b = 0; b < SGLD_ENS_HIST_BINS; b++) printf("%s%lld", b ? ", " : "", (long long)p->hist[q][b]);
        printf("]");
    }
    printf("}}");
}

/* The table's FGSM section. */
static void print_fgsm_table(const sgld_ens_predictive *p)
{
    printf("\nFGSM examples of TEST, x' = clip(x + eps sign(grad_x NLL), 0, 1): against the model average, "
           "and against each draw alone (means over the draws)\n");
    printf("%-8s %12s %8s %8s %9s  %14s %8s %8s\n", "eps", "ens accuracy", "nll", "max_prob", "epistemic",
           "draw accuracy", "nll", "max_prob");
    for (int e = 0; e < p->n_fgsm; e++) {
        const sgld_ens_fgsm_result *r = &p->fgsm[e];
        printf("%-8g %12.4f %8.4f %8.4f %9.4f  %14.4f %8.4f %8.4f\n", r->eps, r->ens.accuracy, r->ens.nll,
               r->ens.max_prob, r->ens.mutual_info, r->draw_accuracy, r->draw_nll, r->draw_max_prob);
    }
}

/* The JSON list "fgsm" (after a comma). */
static void print_fgsm_json(const sgld_ens_predictive *p)
{
    printf(",\n \"fgsm\": [");
    for (int e = 0; e < p->n_fgsm; e++) {
        const sgld_ens_fgsm_result *r = &p->fgsm[e];
        printf("%s{\"eps\": ", e ? ",\n  " : "");
        cli_json_num(stdout, r->eps);
        printf(", \"ensemble\": ");
        json_class(stdout, &r->ens);
        static const char *const names[] = {"accuracy", "nll", "max_prob"};
        const double v[] = {r->draw_accuracy, r->draw_nll, r->draw_max_prob};
        printf(", \"each_draw\": ");
        json_object(stdout, p->n_chains * p->n_draws, names, v, 3);
        printf("}");
    }
    printf("]");
}

static void print_class_json(const ess_args *o, const sgld_ens_predictive *p)
{
    printf("{\"file\": \"%s\", \"model\": \"%s\", \"task\": \"classification\", \"classes\": %d, "
           "\"chains\": %d, \"draws_per_chain\": %lld, \"mc_dropout\": %d,\n \"data\": {\"path\": \"%s\", "
           "\"n\": %lld, \"ensemble\": ", o->file, p->model, p->n_classes, p->n_chains, (long long)p->n_draws,
           p->mc_dropout, o->data, (long long)p->set[0].n);
    json_class(stdout, &p->set[0].ens);
    printf(",\n  \"last\": ");
    json_class(stdout, &p->set[0].last);
    printf(",\n  \"chains\": [");
    for (int c = 0; c < p->n_chain_scores; c++) {
        printf(c ? ",\n   " : "");
        json_class(stdout, &p->chain_class[c]);
    }
    printf("],\n  \"reliability\": {\"count\": [");
    for (int b = 0; b < SGLD_ENS_ECE_BINS; b++) printf("%s%lld", b ? ", " : "", (long long)p->ece_count[b]);
    printf("], \"confidence\": [");
    json_list(p->ece_conf, SGLD_ENS_ECE_BINS);
    printf("], \"accuracy\": [");
    json_list(p->ece_acc, SGLD_ENS_ECE_BINS);
    printf("]}}");
    if (o->ood) print_class_json_ood(o, p);
    if (p->n_fgsm) print_fgsm_json(p);
    printf(",\n \"timing\": {\"seconds\": %.6g, \"gflop\": %.6g}}\n", p->seconds, p->flops * 1e-9);
}

static void print_class_table(const ess_args *o, const sgld_ens_predictive *p, const char *masks)
{
    printf("%s: %s model, %d classes, %d chains x %lld draws%s; %s: %lld rows\n\n", o->file, p->model, p->n_classes,
           p->n_chains, (long long)p->n_draws, masks, o->data, (long long)p->set[0].n);
    printf("%-22s %8s %8s %8s %8s %8s %9s %9s %8s\n", "", "accuracy", "nll", "brier", "ece", "entropy", "aleatoric",
           "epistemic", "max_prob");
    row_class("ensemble", &p->set[0].ens);
    for (int c = 0; c < p->n_chain_scores; c++) {
        char lab[32];
        snprintf(lab, sizeof lab, "chain %d", c);
        row_class(lab, &p->chain_class[c]);
    }
    row_class("last draw (chain 0)", &p->set[0].last);
    if (p->n_fgsm) print_fgsm_table(p);
    if (!o->ood) return;
    const sgld_ens_class_summary *se = &p->set[1].ens, *sl = &p->set[1].last;
    printf("\nout of distribution: %s: %lld rows\n", o->ood, (long long)p->set[1].n);
    printf("%-22s %8s %9s %9s %8s\n", "", "entropy", "aleatoric", "epistemic", "max_prob");
    printf("%-22s %8.4f %9.4f %9.4f %8.4f\n", "ensemble", se->entropy, se->expected_entropy, se->mutual_info,
           se->max_prob);
    printf("%-22s %8.4f %9.4f %9.4f %8.4f\n", "last draw (chain 0)", sl->entropy, sl->expected_entropy,
           sl->mutual_info, sl->max_prob);
    printf("\ndetection of %s (positive) against %s: AUROC / AUPR\n", o->ood, o->data);
    printf("%-22s %17s %17s %17s\n", "", "1 - max_prob", "entropy", "mutual_info");
    const char *which[2] = {"ensemble", "last draw (chain 0)"};
    for (int w = 0; w < 2; w++) {
        printf("%-22s", which[w]);
        for (int k = 0; k < 3; k++) {
            if (isnan(p->auroc[w][k]))
                printf(" %17s", "-");
            else
                printf("    %6.4f / %6.4f", p->auroc[w][k], p->aupr[w][k]);
        }
        printf("\n");
    }
}

/* --hist: the max-probability histograms of TEST and OTHER.  Returns 0, or -1 when the file
 * cannot be written. */
static int write_hist(const ess_args *o, const sgld_ens_predictive *p)
{
    FILE *h = create_text(o, o->hist);
    if (!h) return -1;
    fprintf(h, "bin_lo,bin_hi,data_ensemble,ood_ensemble,data_last,ood_last\n");
    for (int b = 0; b < SGLD_ENS_HIST_BINS; b++)
        fprintf(h, "%g,%g,%lld,%lld,%lld,%lld\n", (double)b / SGLD_ENS_HIST_BINS, (double)(b + 1) / SGLD_ENS_HIST_BINS,
                (long long)p->hist[0][b], (long long)p->hist[1][b], (long long)p->hist[2][b], (long long)p->hist[3][b]);
    fclose(h);
    return 0;
}

/* --per-example: /data (and /ood) of a classification. */
static int write_class_examples(hid_t f, const ess_args *o, const sgld_ens_predictive *p)
{
    const char *gn[2] = {"data", "ood"};
    int rc = 0;
    for (int s = 0; rc == 0 && s < p->n_sets; s++) {
        hid_t g = H5Gcreate2(f, gn[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) return -1;
        const int64_t n = p->set[s].n;
        const sgld_ens_class_examples *x = &p->set[s].ex, *l = &p->set[s].last_ex;
        if (s == 0) {
            rc |= write_ds(g, "y", H5T_NATIVE_FLOAT, 1, n, 1, p->data[0]->y);
            rc |= write_ds(g, "nll", H5T_NATIVE_DOUBLE, 1, n, 1, x->nll);
            rc |= write_ds(g, "correct", H5T_NATIVE_INT, 1, n, 1, x->correct);
        }
        rc |= write_ds(g, "prob", H5T_NATIVE_DOUBLE, 2, n, p->n_classes, x->prob);
        rc |= write_ds(g, "pred", H5T_NATIVE_INT, 1, n, 1, x->pred);
        rc |= write_ds(g, "max_prob", H5T_NATIVE_DOUBLE, 1, n, 1, x->max_prob);
        rc |= write_ds(g, "entropy", H5T_NATIVE_DOUBLE, 1, n, 1, x->entropy);
        rc |= write_ds(g, "expected_entropy", H5T_NATIVE_DOUBLE, 1, n, 1, x->expected_entropy);
        rc |= write_ds(g, "mutual_info", H5T_NATIVE_DOUBLE, 1, n, 1, x->mutual_info);
        rc |= write_ds(g, "last_max_prob", H5T_NATIVE_DOUBLE, 1, n, 1, l->max_prob);
        rc |= write_ds(g, "last_entropy", H5T_NATIVE_DOUBLE, 1, n, 1, l->entropy);
        if (o->mc_dropout > 1) rc |= write_ds(g, "last_mutual_info", H5T_NATIVE_DOUBLE, 1, n, 1, l->mutual_info);
        H5Gclose(g);
    }
    return rc;
}

/* --per-example: /fgsm, each array [eps][row]. */
static int write_fgsm_examples(hid_t f, const sgld_ens_predictive *p)
{
    const int64_t n = p->set[0].n;
    const size_t nn = (size_t)(n > 0 ? n : 1), E = (size_t)p->n_fgsm;
    double *eps = malloc(E * sizeof *eps), *d[4];
    int *correct = malloc(E * nn * sizeof *correct);
    for (int k = 0; k < 4; k++) d[k] = malloc(E * nn * sizeof **d);
    int rc = eps && correct && d[0] && d[1] && d[2] && d[3] ? 0 : -1;
    for (size_t e = 0; rc == 0 && e < E; e++) {
        const sgld_ens_fgsm_result *r = &p->fgsm[e];
        eps[e] = r->eps;
        memcpy(correct + e * nn, r->ens_ex.correct, (size_t)n * sizeof *correct);
        memcpy(d[0] + e * nn, r->ens_ex.nll, (size_t)n * sizeof **d);
        memcpy(d[1] + e * nn, r->ens_ex.max_prob, (size_t)n * sizeof **d);
        memcpy(d[2] + e * nn, r->ens_ex.mutual_info, (size_t)n * sizeof **d);
        memcpy(d[3] + e * nn, r->draw_correct, (size_t)n * sizeof **d);
    }
    hid_t g = rc == 0 ? H5Gcreate2(f, "fgsm", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (g < 0) rc = -1;
    if (rc == 0) {
        rc |= write_ds(g, "eps", H5T_NATIVE_DOUBLE, 1, (int64_t)E, 1, eps);
        rc |= write_ds(g, "correct", H5T_NATIVE_INT, 2, (int64_t)E, (int)n, correct);
        rc |= write_ds(g, "nll", H5T_NATIVE_DOUBLE, 2, (int64_t)E, (int)n, d[0]);
        rc |= write_ds(g, "max_prob", H5T_NATIVE_DOUBLE, 2, (int64_t)E, (int)n, d[1]);
        rc |= write_ds(g, "mutual_info", H5T_NATIVE_DOUBLE, 2, (int64_t)E, (int)n, d[2]);
        rc |= write_ds(g, "draw_correct", H5T_NATIVE_DOUBLE, 2, (int64_t)E, (int)n, d[3]);
        H5Gclose(g);
    }
    free(eps);
    free(correct);
    for (int k = 0; k < 4; k++) free(d[k]);
    return rc;
}

/* --per-example: /data of a regression. */
static int write_reg_examples(hid_t f, const sgld_ens_predictive *p)
{
    hid_t g = H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    const int64_t n = p->data[0]->n_local;
    int rc = write_ds(g, "y", H5T_NATIVE_FLOAT, 1, n, 1, p->data[0]->y);
    rc |= write_ds(g, "mean", H5T_NATIVE_DOUBLE, 1, n, 1, p->reg_ex.mean);
    rc |= write_ds(g, "sd", H5T_NATIVE_DOUBLE, 1, n, 1, p->reg_ex.sd);
    rc |= write_ds(g, "loglik", H5T_NATIVE_DOUBLE, 1, n, 1, p->reg_ex.loglik);
    rc |= write_ds(g, "pit", H5T_NATIVE_DOUBLE, 1, n, 1, p->reg_ex.pit);
    H5Gclose(g);
    return rc;
}

/* --per-example.  Returns 0, or -1 when the file cannot be written. */
static int write_examples(const ess_args *o, const sgld_ens_predictive *p)
{
    hid_t f = create_h5(o, o->per_example);
    if (f < 0) return -1;
    int rc = p->classification ? write_class_examples(f, o, p) : write_reg_examples(f, p);
    if (rc == 0 && p->n_fgsm) rc = write_fgsm_examples(f, p);
    H5Fclose(f);
    return rc;
}

/* A 1-D int64 coordinate NAME of group g holding values (NULL: 0..n-1), a dimension scale as
 * the sample file's (samples.h).  Returns the dataset, or < 0. */
static hid_t write_coord(hid_t g, const char *name, int64_t n, const int64_t *values)
{
    int64_t *v = sgld_malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return -1;
    for (int64_t i = 0; i < n; i++) v[i] = values ? values[i] : i;
    hsize_t len = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &len, NULL);
    hid_t ds = sp >= 0 ? H5Dcreate2(g, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (ds >= 0 && (H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 || H5DSset_scale(ds, name) < 0)) {
        H5Dclose(ds);
        ds = -1;
    }
    if (sp >= 0) H5Sclose(sp);
    sgld_free(v);
    return ds;
}

/* --log-likelihood: group log_likelihood with y [chain, draw, obs] (float64) and its three
 * coordinates, in the netCDF-4 layout of the sample file (creation order tracked, as
 * netCDF-C writes, so readers list chain, draw, obs, y).  Returns 0, or -1 when the file cannot
 * be written. */
static int write_log_likelihood(const ess_args *o, const sgld_ens_predictive *p)
{
    const unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (fcpl < 0 || gcpl < 0 || H5Pset_link_creation_order(fcpl, order) < 0 || H5Pset_attr_creation_order(fcpl, order) < 0 ||
        H5Pset_link_creation_order(gcpl, order) < 0 || H5Pset_attr_creation_order(gcpl, order) < 0) {
        if (fcpl >= 0) H5Pclose(fcpl);
        if (gcpl >= 0) H5Pclose(gcpl);
        return -1;
    }
    hid_t f = H5Fcreate(o->log_likelihood, o->force ? H5F_ACC_TRUNC : H5F_ACC_EXCL, fcpl, H5P_DEFAULT);
    hid_t g = f >= 0 ? H5Gcreate2(f, "log_likelihood", H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
    H5Pclose(fcpl);
    H5Pclose(gcpl);
    const int64_t n = p->data[0]->n_local;
    hid_t dims[3] = {-1, -1, -1}, y = -1;
    int rc = g >= 0 ? 0 : -1;
    if (rc == 0) {
        dims[0] = write_coord(g, "chain", p->n_chains, NULL);
        dims[1] = write_coord(g, "draw", p->n_draws, p->draw_index);
        dims[2] = write_coord(g, "obs", n, NULL);
        hsize_t shape[3] = {(hsize_t)p->n_chains, (hsize_t)p->n_draws, (hsize_t)n};
        hid_t sp = H5Screate_simple(3, shape, NULL);
        y = sp >= 0 ? H5Dcreate2(g, "y", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        if (sp >= 0) H5Sclose(sp);
        rc = y < 0 || H5Dwrite(y, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->loglik) < 0 ? -1 : 0;
        for (unsigned k = 0; k < 3; k++)
            if (rc == 0 && (dims[k] < 0 || H5DSattach_scale(y, dims[k], k) < 0)) rc = -1;
    }
    if (y >= 0) H5Dclose(y);
    for (int k = 0; k < 3; k++)
        if (dims[k] >= 0) H5Dclose(dims[k]);
    if (g >= 0) H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0) rc = -1;
    return rc;
}

/* Rank 0's output: the timing (--timing), the --hist CSV, the report, the --per-example and
 * --log-likelihood files.
 * Returns the exit status. */
static int report(const ess_args *o, const sgld_ens_predictive *p, int size)
{
    if (o->timing) {
        double wall = p->seconds, gflop = p->flops * 1e-9;
        fprintf(stderr, "timing (%d ranks): %lld draws x %lld rows, evaluate %.3f s wall, predict %.3f s "
                "(slowest rank), forward %.3g GFLOP, %.2f GFLOP/s\n", size,
                (long long)(p->n_chains * p->n_draws) * (o->mc_dropout ? o->mc_dropout : 1),
                (long long)(p->data[0]->n_local + (o->ood ? p->data[1]->n_local : 0)), wall, p->predict_seconds, gflop,
                wall > 0 ? gflop / wall : 0.0);
    }
    if (p->classification && o->ood && o->hist && write_hist(o, p) != 0) {
        fprintf(stderr, "sgld-ess: %s: cannot write the histogram CSV\n", o->hist);
        return CLI_EXIT_RUNTIME;
    }
    char masks[64] = ""; /* " x K dropout masks" after the draws (MC dropout) */
    if (o->mc_dropout)
        snprintf(masks, sizeof masks, " x %lld dropout mask%s", (long long)o->mc_dropout,
                 o->mc_dropout > 1 ? "s" : "");
    if (!p->classification)
        print_reg(o, p, masks);
    else if (o->format == ESS_JSON)
        print_class_json(o, p);
    else
        print_class_table(o, p, masks);
    fflush(stdout);
    if (o->per_example && write_examples(o, p) != 0) {
        fprintf(stderr, "sgld-ess: %s: cannot write the per-example file\n", o->per_example);
        return CLI_EXIT_RUNTIME;
    }
    if (o->log_likelihood && write_log_likelihood(o, p) != 0) {
        fprintf(stderr, "sgld-ess: %s: cannot write the log-likelihood file\n", o->log_likelihood);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

/* Runs the prediction of o and reports it on rank 0; returns the exit status (the same on
 * every rank).  Collective. */
static int run(const cli_ctx *c, const ess_args *o)
{
    sgld_ens_predictive_opts po = {.file = o->file, .data = o->data, .ood = o->ood, .draws = o->draws,
                                   .block_draws = o->block, .batch_rows = o->batch, .mc_dropout = (int)o->mc_dropout,
                                   .seed = (uint32_t)o->seed, .pointwise = o->log_likelihood != NULL,
                                   .fgsm_eps = o->fgsm_eps, .n_fgsm = o->n_fgsm};
    sgld_ens_predictive *p = NULL;
    /* The plug-ins named here come before the file's recorded ones (which are then not
     * loaded when they provide the file's model and sampler). */
    sgld_status st = SGLD_OK;
    for (int i = 0; i < o->n_plugins && st == SGLD_OK; i++)
        st = sgld_plugin_load_file(o->plugins[i], "--plugin", sgld_config_check_rows);
    if (st != SGLD_OK) return cli_fail_status(c, st);
    st = sgld_ens_predictive_create(c->comm, &po, &p);
    if (st != SGLD_OK) return cli_fail_status(c, st);
    int status = c->rank == 0 ? report(o, p, c->size) : CLI_EXIT_OK;
    sgld_ens_predictive_destroy(&p);
    MPI_Bcast(&status, 1, MPI_INT, 0, c->comm);
    return status;
}

int ess_predict(const cli_ctx *c, int argc, char **argv)
{
    ess_args o;
    int status = ess_args_parse(c, ESS_PREDICT, argc, argv, &o);
    if (status < 0) status = check_args(c, &o);
    /* The outputs are checked on rank 0, the one that writes them. */
    if (status < 0 && c->rank == 0) status = check_outputs(c, &o);
    MPI_Bcast(&status, 1, MPI_INT, 0, c->comm);
    if (status < 0) status = run(c, &o);
    ess_args_free(&o);
    return status;
}
