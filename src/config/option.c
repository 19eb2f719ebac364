/* option.c - the one parser of option values and command lines (config.h): sgld-dist's
 * configuration (config.c, for flags and INI keys) and sgld-ess's subcommands (src/cli)
 * parse with it, so that every program reads a number, a choice or a flag alike and words its
 * errors alike. */
#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_impl.h"
#include "sgld/config.h"
#include "sgld/registry.h"

/* ---- values ---- */

void config_describe_range(const sgld_range *k, const char *var, char *buf, size_t n)
{
    const char *pre = var ? var : "must be";
    switch (k->kind) {
    case SGLD_RANGE_GE: snprintf(buf, n, "%s >= %.15g", pre, k->lo); break;
    case SGLD_RANGE_GT: snprintf(buf, n, "%s > %.15g", pre, k->lo); break;
    case SGLD_RANGE_GE_LT: snprintf(buf, n, "%s in [%.15g, %.15g)", pre, k->lo, k->hi); break;
    case SGLD_RANGE_GE_LE: snprintf(buf, n, "%s in [%.15g, %.15g]", pre, k->lo, k->hi); break;
    case SGLD_RANGE_GT_LT: snprintf(buf, n, "%s in (%.15g, %.15g)", pre, k->lo, k->hi); break;
    case SGLD_RANGE_GT_LE: snprintf(buf, n, "%s in (%.15g, %.15g]", pre, k->lo, k->hi); break;
    default: buf[0] = '\0'; break;
    }
}

static int in_range(const sgld_range *k, double x)
{
    switch (k->kind) {
    case SGLD_RANGE_GE: return x >= k->lo;
    case SGLD_RANGE_GT: return x > k->lo;
    case SGLD_RANGE_GE_LT: return x >= k->lo && x < k->hi;
    case SGLD_RANGE_GE_LE: return x >= k->lo && x <= k->hi;
    case SGLD_RANGE_GT_LT: return x > k->lo && x < k->hi;
    case SGLD_RANGE_GT_LE: return x > k->lo && x <= k->hi;
    default: return 1;
    }
}

static sgld_status range_error(const sgld_option *o, const char *where, const char *text)
{
    char what[128];
    config_describe_range(&o->range, NULL, what, sizeof what);
    return sgld_error_set(SGLD_ERR_USAGE, "%s: %s, got %s", where, what, text);
}


/* Results of parse_integer. */
enum { INT_OK = 1, INT_SYNTAX = 0, INT_FRACTION = -1, INT_RANGE = -2 };

/* Significant digits parse_integer keeps.  A digit beyond them is dropped: the magnitude
 * stays exact, and a dropped non-zero digit of a value below 10^19 is a fraction. */
#define INT_DIGITS_MAX 64

/* An integer written in decimal, optionally with a fraction and an exponent whose value is
 * whole (1e4, 2.5e3, 1000e-3), so that run lengths can be written as they are thought of.
 * Exact: the digits are scaled by hand, never through a double.  Returns INT_OK with *out,
 * INT_SYNTAX (not a number, or leading space), INT_FRACTION (a number that is not whole:
 * 1.5, 1e-3) or INT_RANGE (whole but outside long long). */
static int parse_integer(const char *text, long long *out)
{
    const char *p = text;
    int neg = 0, dropped = 0, n_digits = 0, n_seen = 0, in_fraction = 0;
    char digits[INT_DIGITS_MAX];
    long scale = 0; /* value = digits * 10^scale */
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    for (;; p++) {
        if (*p == '.' && !in_fraction) {
            in_fraction = 1;
            continue;
        }
        if (!isdigit((unsigned char)*p)) break;
        n_seen++;
        scale -= in_fraction;
        if (n_digits == 0 && *p == '0') continue;
        if (n_digits < INT_DIGITS_MAX) {
            digits[n_digits++] = *p;
        } else {
            scale++;
            dropped |= *p != '0';
        }
    }
    if (n_seen == 0) return INT_SYNTAX;
    if (*p == 'e' || *p == 'E') {
        p++;
        int exp_neg = 0;
        if (*p == '+' || *p == '-') exp_neg = *p++ == '-';
        if (!isdigit((unsigned char)*p)) return INT_SYNTAX;
        long e = 0;
        for (; isdigit((unsigned char)*p); p++)
            if (e < 100000) e = 10 * e + (*p - '0');
        scale += exp_neg ? -e : e;
    }
    if (*p != '\0') return INT_SYNTAX;
    while (scale < 0 && n_digits > 0 && digits[n_digits - 1] == '0') {
        n_digits--;
        scale++;
    }
    if (n_digits == 0) return *out = 0, INT_OK;
    if (n_digits + scale > 19) return INT_RANGE; /* >= 10^19 > 2^63 */
    if (scale < 0 || dropped) return INT_FRACTION;
    unsigned long long v = 0; /* < 10^19 < 2^64: no wrap */
    for (int i = 0; i < n_digits; i++) v = 10 * v + (unsigned long long)(digits[i] - '0');
    for (long i = 0; i < scale; i++) v *= 10;
    if (v > (unsigned long long)LLONG_MAX + (unsigned long long)neg) return INT_RANGE;
    *out = !neg ? (long long)v : v > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)v;
    return INT_OK;
}

/* Largest value a field of integer type t holds, for the out-of-range message. */
static long long integer_max(sgld_opt_type t)
{
    return t == SGLD_OPT_INT ? INT_MAX : t == SGLD_OPT_UINT32 ? (long long)UINT32_MAX : LLONG_MAX;
}

/* Smallest value a field of integer type t holds. */
static long long integer_min(sgld_opt_type t)
{
    return t == SGLD_OPT_INT ? INT_MIN : t == SGLD_OPT_UINT32 ? 0 : LLONG_MIN;
}

static int parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) return *out = 1, 1;
        if (strcasecmp(text, no[i]) == 0) return *out = 0, 1;
    }
    return 0;
}

/* The index of text among the '|'-separated words of list, or -1. */
static int choice_index(const char *list, const char *text)
{
    size_t n = strlen(text);
    int k = 0;
    for (const char *p = list; *p; k++) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, text, n) == 0) return k;
        p += len + (p[len] == '|');
    }
    return -1;
}

/* Parses text as a value of row o into val (o->size bytes).  `where` prefixes every message
 * ("--steps", "run.ini:3: key 'steps'").  With checked = 0 the row's range is not applied
 * (defaults: --config's "" is a valid default but not a valid value). */
sgld_status sgld_option_parse(const sgld_option *o, const char *text, const char *where,
                              int checked, void *val)
{
    switch (o->type) {
    case SGLD_OPT_STRING: {
        size_t len = strlen(text);
        SGLD_CHECK(len < o->size, SGLD_ERR_USAGE,
                   "%s: value is too long (%zu characters, at most %zu)", where, len,
                   o->size - 1);
        SGLD_CHECK(!checked || o->range.kind != SGLD_RANGE_NONEMPTY || len > 0, SGLD_ERR_USAGE,
                   "%s: must not be empty", where);
        memset(val, 0, o->size);
        memcpy(val, text, len + 1);
        return SGLD_OK;
    }
    case SGLD_OPT_CHOICE: {
        int k = choice_index(o->arg, text);
        if (k < 0) {
            char words[256];
            config_list_words(o->arg, "or", words, sizeof words);
            return sgld_error_set(SGLD_ERR_USAGE, "%s: must be %s, got '%s'", where, words, text);
        }
        memcpy(val, &k, sizeof k);
        return SGLD_OK;
    }
    case SGLD_OPT_BOOL:
    case SGLD_OPT_SWITCH: {
        int b;
        SGLD_CHECK(parse_bool(text, &b), SGLD_ERR_USAGE,
                   "%s: '%s' is not a boolean (true/false, yes/no, on/off, 1/0)", where, text);
        memcpy(val, &b, sizeof b);
        return SGLD_OK;
    }
    case SGLD_OPT_INT:
    case SGLD_OPT_INT64:
    case SGLD_OPT_UINT32: {
        long long v = 0;
        int ok = parse_integer(text, &v);
        SGLD_CHECK(ok != INT_RANGE, SGLD_ERR_USAGE, "%s: '%s' is out of range (%s %lld)",
                   where, text, text[0] == '-' ? "at least" : "at most",
                   text[0] == '-' ? integer_min(o->type) : integer_max(o->type));
        SGLD_CHECK(ok != INT_FRACTION, SGLD_ERR_USAGE,
                   "%s: '%s' is not a whole number (e-notation such as 1e4 is accepted when "
                   "the value is whole)", where, text);
        SGLD_CHECK(ok == INT_OK, SGLD_ERR_USAGE, "%s: '%s' is not an integer", where, text);
        if (checked && !in_range(&o->range, (double)v)) return range_error(o, where, text);
        if (o->type == SGLD_OPT_INT) {
            SGLD_CHECK(v <= INT_MAX, SGLD_ERR_USAGE, "%s: must be <= %d, got %s", where, INT_MAX,
                       text);
            SGLD_CHECK(v >= INT_MIN, SGLD_ERR_USAGE, "%s: must be >= %d, got %s", where, INT_MIN,
                       text);
            int x = (int)v;
            memcpy(val, &x, sizeof x);
        } else if (o->type == SGLD_OPT_UINT32) {
            SGLD_CHECK(v >= 0 && v <= (long long)UINT32_MAX, SGLD_ERR_USAGE,
                       "%s: must be in [0, %lu], got %s", where, (unsigned long)UINT32_MAX,
                       text);
            uint32_t x = (uint32_t)v;
            memcpy(val, &x, sizeof x);
        } else {
            int64_t x = (int64_t)v;
            memcpy(val, &x, sizeof x);
        }
        return SGLD_OK;
    }
    case SGLD_OPT_DOUBLE: {
        char *end;
        int bad = !text[0] || isspace((unsigned char)text[0]);
        double x = bad ? 0 : strtod(text, &end);
        SGLD_CHECK(!bad && end != text && *end == '\0', SGLD_ERR_USAGE,
                   "%s: '%s' is not a number", where, text);
        SGLD_CHECK(isfinite(x), SGLD_ERR_USAGE, "%s: '%s' is not a finite number", where, text);
        if (checked && !in_range(&o->range, x)) return range_error(o, where, text);
        memcpy(val, &x, sizeof x);
        return SGLD_OK;
    }
    }
    return sgld_error_set(SGLD_ERR_INTERNAL, "%s: option type %d unknown", where, (int)o->type);
}


/* ---- command lines ---- */

/* getopt_long codes for rows start here, above every short option character. */
#define LONG_BASE 256

/* The option name written in argv element arg ("--stpes=5" -> "stpes"), as pointer and length. */
static const char *arg_name(const char *arg, size_t *len)
{
    const char *name = arg + (arg[0] == '-') + (arg[0] == '-' && arg[1] == '-');
    *len = strcspn(name, "=");
    return name;
}

const char *sgld_option_nearest(const sgld_option *const *rows, size_t n, const char *name,
                                size_t len)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < n; i++) {
        int d = sgld_name_distance(name, len, rows[i]->name);
        if (d < best_d) {
            best_d = d;
            best = rows[i]->name;
        }
    }
    return best;
}

static sgld_status unknown_option(const sgld_cmdline *cl, const char *arg)
{
    size_t len;
    const char *name = arg_name(arg, &len);
    int shown = (int)strcspn(arg, "=");
    const char *near = len > 1 || arg[1] == '-' ? sgld_option_nearest(cl->rows, cl->n_rows, name, len) : NULL;
    if (near)
        return sgld_error_set(SGLD_ERR_USAGE, "unknown option '%.*s' (did you mean '--%s'?)",
                              shown, arg, near);
    return sgld_error_set(SGLD_ERR_USAGE, "unknown option '%.*s'%s", shown, arg, cl->hint);
}

/* getopt_long accepts unique abbreviations (--burn for --burnin); INI keys must be exact,
 * so flags must be too.  True when argv element arg spells row o in full. */
static int spelled_out(const char *arg, const sgld_option *o)
{
    if (arg[0] != '-' || arg[1] != '-') return 1; /* a short option */
    size_t len;
    const char *name = arg_name(arg, &len);
    return len == strlen(o->name) && strncmp(name, o->name, len) == 0;
}

/* The row index of getopt_long's code, or -1. */
static long row_of_code(const sgld_cmdline *cl, int code)
{
    if (code >= LONG_BASE) return (size_t)(code - LONG_BASE) < cl->n_rows ? code - LONG_BASE : -1;
    for (size_t i = 0; cl->short_names && i < cl->n_rows; i++)
        if (cl->short_names[i] && cl->short_names[i] == code) return (long)i;
    return -1;
}

/* The message for getopt_long's '?' or ':' on argv element arg. */
static sgld_status flag_error(const sgld_cmdline *cl, int code, const char *arg)
{
    if (optopt >= LONG_BASE) {
        long r = row_of_code(cl, optopt);
        if (r < 0 || !spelled_out(arg, cl->rows[r])) return unknown_option(cl, arg);
        if (code == ':')
            return sgld_error_set(SGLD_ERR_USAGE, "--%s: missing value", cl->rows[r]->name);
        const char *eq = strchr(arg, '=');
        return sgld_error_set(SGLD_ERR_USAGE, "--%s: takes no value, got '%s'", cl->rows[r]->name,
                              eq ? eq + 1 : "");
    }
    /* "-steps" is one unknown word, not the short options s, t, e, ... */
    if (optopt == 0 || (arg[1] != '-' && strlen(arg) > 2)) return unknown_option(cl, arg);
    if (code == ':') return sgld_error_set(SGLD_ERR_USAGE, "-%c: missing value", optopt);
    return sgld_error_set(SGLD_ERR_USAGE, "unknown option '-%c'%s", optopt, cl->hint);
}

/* getopt_long's tables: longopts (n_rows + 1) and shortopts ("-:" first, so that operands
 * come back in order as code 1 and a missing value is reported as ':'). */
static void getopt_tables(const sgld_cmdline *cl, struct option *longopts, char *shortopts)
{
    size_t k = 0;
    shortopts[k++] = '-';
    shortopts[k++] = ':';
    for (size_t i = 0; i < cl->n_rows; i++) {
        const sgld_option *o = cl->rows[i];
        int has_arg = o->type == SGLD_OPT_SWITCH ? no_argument
                      : o->type == SGLD_OPT_BOOL ? optional_argument
                                                 : required_argument;
        longopts[i] = (struct option){o->name, has_arg, NULL, LONG_BASE + (int)i};
        if (cl->short_names && cl->short_names[i]) {
            shortopts[k++] = (char)cl->short_names[i];
            if (has_arg != no_argument) shortopts[k++] = ':';
            if (has_arg == optional_argument) shortopts[k++] = ':';
        }
    }
    longopts[cl->n_rows] = (struct option){NULL, 0, NULL, 0};
    shortopts[k] = '\0';
}

/* The walk itself, getopt's state already saved. */
static sgld_status walk(const sgld_cmdline *cl, int argc, char **argv, struct option *longopts,
                        const char *shortopts, sgld_option_fn fn, void *self)
{
    /* GNU getopt: optind = 0 re-initializes it completely, so a walk may run many times; the
     * elements before cl->first are skipped by a first call that consumes nothing. */
    optind = 0;
    opterr = 0;
    int skip = cl->first > 1 ? cl->first - 1 : 0;
    for (;;) {
        int before = optind > 0 ? optind : 1;
        int code = getopt_long(argc - skip, argv + skip, shortopts, longopts, NULL);
        if (code == -1) break;
        const char *arg = argv[skip + before];
        if (code == 1) {
            if (!cl->lenient) SGLD_TRY(fn(self, NULL, 0, optarg, optarg));
            continue;
        }
        long r = code == '?' || code == ':' ? -1 : row_of_code(cl, code);
        if (r < 0 || (code >= LONG_BASE && !spelled_out(arg, cl->rows[r]))) {
            if (cl->lenient) continue;
            if (r >= 0) return unknown_option(cl, arg);
            return code == '?' || code == ':' ? flag_error(cl, code, arg)
                                              : sgld_error_set(SGLD_ERR_INTERNAL, "getopt_long returned %d", code);
        }
        char where[SGLD_NAME_MAX + 8];
        snprintf(where, sizeof where, "--%s", cl->rows[r]->name);
        SGLD_TRY(fn(self, cl->rows[r], (size_t)r, optarg ? optarg : "1", where));
    }
    for (int i = skip + (optind > 0 ? optind : 1); i < argc && !cl->lenient; i++)
        SGLD_TRY(fn(self, NULL, 0, argv[i], argv[i]));
    return SGLD_OK;
}

sgld_status sgld_option_parse_argv(const sgld_cmdline *cl, int argc, char **argv,
                                   sgld_option_fn fn, void *self)
{
    SGLD_CHECK(cl && fn && argc >= 0 && (argc == 0 || argv) && cl->n_rows <= SGLD_CMDLINE_MAX_ROWS,
               SGLD_ERR_ARG, "sgld_option_parse_argv: bad arguments");
    if (argc <= cl->first) return SGLD_OK;
    struct option *longopts = malloc((cl->n_rows + 1) * sizeof *longopts);
    char *shortopts = malloc(3 * cl->n_rows + 3);
    sgld_status st = SGLD_ERR_NOMEM;
    if (longopts && shortopts) {
        getopt_tables(cl, longopts, shortopts);
        int saved_optind = optind, saved_opterr = opterr;
        st = walk(cl, argc, argv, longopts, shortopts, fn, self);
        optind = saved_optind;
        opterr = saved_opterr;
    } else {
        sgld_error_set(st, "out of memory parsing the command line");
    }
    free(longopts);
    free(shortopts);
    return st;
}
