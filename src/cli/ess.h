/* ess.h - the subcommands of sgld-ess (sgld_ess.c dispatches on argv[1]): `summary`
 * (ess_summary.c) and `predict` (ess_predict.c), and their command line (ess_args.c). */
#ifndef SGLD_CLI_ESS_H
#define SGLD_CLI_ESS_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "sgld/ensemble.h"

enum { ESS_SUMMARY = 1, ESS_PREDICT = 2 };   /* the subcommands, as bits */
enum { ESS_TABLE = 0, ESS_JSON, ESS_CSV };  /* output formats */

/* The options of a subcommand (those of the other keep their zero). */
typedef struct ess_args {
    const char *file;                 /* FILE, the one operand */
    int format, timing, help, version;
    int json, csv;                    /* --json, --csv: format */
    uint32_t seed;
    int64_t block;
    /* summary */
    const char *group;
    const char **vars;                /* --var, n_vars of them */
    int n_vars, method;               /* method: a sgld_mess_method */
    int mcse_sd_rule;                 /* a sgld_mcse_sd_rule, in the order of its CHOICE row */
    int64_t max_rows, batch_size, project;
    int64_t superchains;              /* --superchains K (0: the file's superchain coordinate) */
    int64_t curve;                    /* --curve K (0: none) */
    double alpha, eps;
    /* predict */
    const char *data, *ood, *draws, *per_example, *hist, *log_likelihood;
    const char **plugins;             /* --plugin, n_plugins of them, loaded before FILE is read */
    int n_plugins;
    int force;
    int64_t batch, mc_dropout;
    const char *fgsm;                 /* --fgsm EPS[,EPS...] as given */
    double fgsm_eps[SGLD_ENS_FGSM_MAX]; /* parsed, n_fgsm of them */
    int n_fgsm;
} ess_args;

/* Parses argv[2..] of subcommand cmd (argv[1] is its name) into *a, after the subcommand's
 * defaults.  Returns -1 when it is to run, else the exit status: 0 after --help or --version,
 * CLI_EXIT_BAD_INPUT after a bad option or operand (one line printed by rank 0).  Free a with
 * ess_args_free whatever it returns.  Not collective: every rank finds the same. */
int ess_args_parse(const cli_ctx *c, int cmd, int argc, char **argv, ess_args *a);
void ess_args_free(ess_args *a);

/* Each subcommand takes the whole argv and returns the exit status, the same on every rank of
 * c's communicator; collective on it. */
int ess_summary(const cli_ctx *c, int argc, char **argv);
int ess_predict(const cli_ctx *c, int argc, char **argv);

/* The subcommands' --help texts (summary's is also part of `sgld-ess --help`). */
void ess_summary_usage(FILE *f);
void ess_predict_usage(FILE *f);

#endif
