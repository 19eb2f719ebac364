/* cli.h - what sgld-ess's two subcommands share on the command line (cli.c): long options
 * must be spelled out, as sgld-dist's must. */
#ifndef SGLD_ESS_CLI_H
#define SGLD_ESS_CLI_H

#include <getopt.h>
#include <stddef.h>

/* Checks argv[first..argc) before getopt_long sees it: every "--name" or "--name=value"
 * (up to a bare "--") must name an entry of longopts in full, since getopt_long would take a
 * unique abbreviation (--jso for --json) and sgld-dist does not.  The value of a
 * required_argument option given as the next element is skipped.  Returns 0, or -1 with a
 * one-line message in msg such as "unknown option '--jso' (did you mean '--json'?)".  Not
 * collective: every rank finds the same. */
int sgld_ess_check_spelling(int argc, char **argv, int first, const struct option *longopts,
                            char *msg, size_t cap);

#endif
