/* csv.c - the CSV reader.
 *
 * Format: the first non-blank line is the header (column names); every later non-blank line
 * is a row with the same number of comma-separated fields: numeric features, the target last.
 * Fields may be quoted ("...", with "" for a quote; no line breaks inside); spaces around a
 * field are ignored; CRLF or LF line ends, with or without a final newline; a UTF-8 byte order
 * mark is skipped.  Line numbers in messages are physical, 1-based.
 *
 * Class targets: when the first row's target is a number, labels are numeric (integers
 * 0..K-1, K = opt->n_classes or the largest label + 1) and every target must be a number;
 * otherwise every target is a string label and the distinct labels, sorted with strcmp, are
 * the classes 0..K-1.  A test file's labels go through the training labels.  With
 * ignore_target the target column must be there but is not parsed (y = 0).
 *
 * The file is read twice (scan, then fill), so memory never holds more than one line, the
 * label set and the rows routed to this rank. */
#include "data_private.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct csv_file {
    const char *path;
    FILE *f;
    char *line;
    size_t cap;
    long long line_no;
    char **fields;
    int n_fields, fields_cap;
} csv_file;

static void csv_close(csv_file *c)
{
    if (c->f) fclose(c->f);
    sgld_free(c->line);
    sgld_free(c->fields);
    memset(c, 0, sizeof *c);
}

static sgld_status csv_open(csv_file *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->f = fopen(path, "rb");
    SGLD_CHECK(c->f, SGLD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return SGLD_OK;
}

/* The 1-based column of byte pos of line (commas outside quotes before it, plus one). */
static int column_at(const char *line, size_t pos)
{
    int col = 1, quoted = 0;
    for (size_t i = 0; i < pos; i++) {
        if (line[i] == '"') quoted = !quoted;
        else if (line[i] == ',' && !quoted) col++;
    }
    return col;
}

/* Reads the next line without its line end into c->line; *got = 0 at end of file.  Bytes are
 * counted as they are read (not found with strlen), so a NUL byte cannot hide the rest of a
 * line, nor join it to the next one: it is refused, naming its line and column. */
static sgld_status read_line(csv_file *c, int *got)
{
    size_t len = 0, nul = SIZE_MAX;
    *got = 0;
    for (;;) {
        int ch = getc_unlocked(c->f);
        if (ch == EOF) break;
        if (c->cap - len < 2) {
            size_t cap = c->cap ? 2 * c->cap : 256;
            char *p = sgld_realloc(c->line, cap);
            SGLD_CHECK(p, SGLD_ERR_NOMEM, "%s:%lld: out of memory reading a line", c->path,
                       c->line_no + 1);
            c->line = p;
            c->cap = cap;
        }
        if (ch == '\0' && nul == SIZE_MAX) nul = len;
        c->line[len++] = (char)ch;
        if (ch == '\n') break;
    }
    SGLD_CHECK(!ferror(c->f), SGLD_ERR_IO, "%s: cannot read: %s", c->path, strerror(errno));
    if (len == 0) return SGLD_OK;
    SGLD_CHECK(nul == SIZE_MAX, SGLD_ERR_PARSE, "%s:%lld: column %d: a NUL byte (a binary file, or a broken "
               "export?)", c->path, c->line_no + 1, column_at(c->line, nul));
    while (len > 0 && (c->line[len - 1] == '\n' || c->line[len - 1] == '\r')) len--;
    c->line[len] = '\0';
    c->line_no++;
    *got = 1;
    return SGLD_OK;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* The next non-blank line; *got = 0 at end of file. */
static sgld_status next_record(csv_file *c, int *got)
{
    do {
        SGLD_TRY(read_line(c, got));
    } while (*got && is_blank(c->line));
    return SGLD_OK;
}

/* Splits c->line in place into c->fields (quotes removed, surrounding spaces trimmed). */
static sgld_status split_fields(csv_file *c)
{
    char *p = c->line;
    c->n_fields = 0;
    for (;;) {
        if (c->n_fields == c->fields_cap) {
            int cap = c->fields_cap ? 2 * c->fields_cap : 16;
            char **f = sgld_realloc(c->fields, (size_t)cap * sizeof *f);
            SGLD_CHECK(f, SGLD_ERR_NOMEM, "%s:%lld: out of memory splitting a line", c->path,
                       c->line_no);
            c->fields = f;
            c->fields_cap = cap;
        }
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *out = p;
        if (*p == '"') {
            p++;
            for (;;) {
                SGLD_CHECK(*p, SGLD_ERR_PARSE, "%s:%lld: unterminated quoted field", c->path,
                           c->line_no);
                if (*p == '"') {
                    if (p[1] != '"') break;
                    p++;
                }
                *out++ = *p++;
            }
            p++;
            while (*p == ' ' || *p == '\t') p++;
            SGLD_CHECK(*p == ',' || *p == '\0', SGLD_ERR_PARSE,
                       "%s:%lld: unexpected text after a quoted field", c->path, c->line_no);
        } else {
            while (*p != ',' && *p != '\0') p++;
            out = p;
            while (out > start && (out[-1] == ' ' || out[-1] == '\t')) out--;
        }
        char sep = *p;
        *out = '\0';
        c->fields[c->n_fields++] = start;
        if (sep == '\0') return SGLD_OK;
        p++;
    }
}

/* The end of a "got 1 column" message: why a record did not split, when it holds another
 * common separator (only commas separate fields here), else "". */
static const char *separator_hint(const csv_file *c)
{
    if (c->n_fields != 1) return "";
    if (strchr(c->fields[0], ';')) return " (it looks ;-separated: only comma-separated CSV is read)";
    if (strchr(c->fields[0], '\t')) return " (it looks tab-separated: only comma-separated CSV is read)";
    return "";
}

/* 1 when a field spells a missing value as R, pandas and spreadsheets write it. */
static int is_missing(const char *s)
{
    return !*s || !strcasecmp(s, "NA") || !strcasecmp(s, "N/A") || !strcasecmp(s, "NULL");
}

enum { NUM_OK, NUM_NOT_NUMBER, NUM_NONFINITE, NUM_RANGE };

/* Parses a whole field as a finite number that fits in a float. */
static int parse_number(const char *s, double *v)
{
    if (!*s) return NUM_NOT_NUMBER;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end) return NUM_NOT_NUMBER;
    if (isnan(x)) return NUM_NONFINITE;
    if (isinf(x)) return errno == ERANGE ? NUM_RANGE : NUM_NONFINITE;
    if (fabs(x) > FLT_MAX) return NUM_RANGE;
    *v = x;
    return NUM_OK;
}

/* A numeric field of column `name`, or the message for why it is not one. */
static sgld_status field_number(const csv_file *c, const char *name, const char *s, double *v)
{
    switch (parse_number(s, v)) {
    case NUM_OK:
        return SGLD_OK;
    case NUM_NOT_NUMBER:
        return sgld_error_set(SGLD_ERR_PARSE, "%s:%lld: column '%s': '%s' is not a number%s",
                              c->path, c->line_no, name, s,
                              is_missing(s) ? " (missing values (NA) are not supported)" : "");
    case NUM_NONFINITE:
        return sgld_error_set(SGLD_ERR_PARSE, "%s:%lld: column '%s': NaN/Inf not allowed ('%s')",
                              c->path, c->line_no, name, s);
    default:
        return sgld_error_set(SGLD_ERR_PARSE,
                              "%s:%lld: column '%s': '%s' is outside the float range", c->path,
                              c->line_no, name, s);
    }
}

/* 1 when s is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF).  Column names and string labels go into the sample file as UTF-8 attributes,
 * which must hold UTF-8. */
static int valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && c < 0xC2) || (n == 3 && c > 0xF4)) return 0;
        unsigned cp = n == 0 ? c : c & (0x3F >> n);
        for (int k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* ---- class labels ---- */

typedef struct csv_labels {
    int classification;
    int mode;        /* LABELS_UNDECIDED, LABELS_NUMERIC, LABELS_STRING */
    int limit;       /* numeric labels must be < limit */
    int required;    /* K fixed by the options or the training set, or 0 */
    char **names;    /* sorted string labels */
    int n_names, cap;
    int owned;       /* names belong to this set (training scan) or are borrowed (fixed) */
    double max_label;
} csv_labels;

enum { LABELS_UNDECIDED, LABELS_NUMERIC, LABELS_STRING };

static void labels_free(csv_labels *l)
{
    if (l->owned) {
        for (int i = 0; i < l->n_names; i++) sgld_free(l->names[i]);
        sgld_free(l->names);
    }
    memset(l, 0, sizeof *l);
}

/* Position of s in the sorted names (found: *pos is its index, returns 1). */
static int labels_find(const csv_labels *l, const char *s, int *pos)
{
    int lo = 0, hi = l->n_names;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int cmp = strcmp(l->names[mid], s);
        if (cmp == 0) {
            *pos = mid;
            return 1;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return 0;
}

/* "a, b, c" (shortened with "..." to fit). */
static void join_names(char *buf, size_t size, char *const *names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 1 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - used) {
            if (size > 4) snprintf(buf + size - 4, 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

/* The class index of target field s on the current line. */
static sgld_status label_index(csv_labels *l, const csv_file *c, const char *target_name,
                               const char *s, double *y)
{
    if (l->mode == LABELS_UNDECIDED) {
        double v;
        l->mode = parse_number(s, &v) == NUM_NOT_NUMBER ? LABELS_STRING : LABELS_NUMERIC;
    }
    if (l->mode == LABELS_NUMERIC) {
        double v = 0;
        SGLD_TRY(field_number(c, target_name, s, &v));
        SGLD_CHECK(v == floor(v), SGLD_ERR_ARG, "%s:%lld: class label '%s' is not an integer",
                   c->path, c->line_no, s);
        SGLD_CHECK(v >= 0 && v < l->limit, SGLD_ERR_ARG,
                   "%s:%lld: class label %.17g out of range 0..%d", c->path, c->line_no, v,
                   l->limit - 1);
        if (v > l->max_label) l->max_label = v;
        *y = v;
        return SGLD_OK;
    }
    int pos;
    if (!labels_find(l, s, &pos)) {
        if (!l->owned) {
            char list[256];
            join_names(list, sizeof list, l->names, l->n_names);
            return sgld_error_set(SGLD_ERR_ARG,
                                  "%s:%lld: class label '%s' is not one of the training labels (%s)",
                                  c->path, c->line_no, s, list);
        }
        int most = l->required ? l->required : DATA_MAX_CLASSES;
        SGLD_CHECK(l->n_names < most, SGLD_ERR_ARG, "%s:%lld: more than %d class labels ('%s' is new)",
                   c->path, c->line_no, most, s);
        if (l->n_names == l->cap) {
            int cap = l->cap ? 2 * l->cap : 8;
            char **p = sgld_realloc(l->names, (size_t)cap * sizeof *p);
            SGLD_CHECK(p, SGLD_ERR_NOMEM, "out of memory for class labels");
            l->names = p;
            l->cap = cap;
        }
        SGLD_CHECK(valid_utf8(s), SGLD_ERR_PARSE, "%s:%lld: column '%s': class label is not valid UTF-8",
                   c->path, c->line_no, target_name);
        char *copy = sgld_strdup(s);
        SGLD_CHECK(copy, SGLD_ERR_NOMEM, "out of memory for class labels");
        memmove(l->names + pos + 1, l->names + pos, (size_t)(l->n_names - pos) * sizeof *l->names);
        l->names[pos] = copy;
        l->n_names++;
    }
    *y = pos;
    return SGLD_OK;
}

/* Label rules for a scan (ref = NULL: training file) or a fill (ref = the finished meta). */
static void labels_init(csv_labels *l, const sgld_data_options *opt, const data_meta *ref)
{
    memset(l, 0, sizeof *l);
    l->max_label = -1;
    if (ref) {
        l->classification = ref->n_classes > 0;
        l->required = l->limit = ref->n_classes;
        l->mode = ref->string_labels ? LABELS_STRING : LABELS_NUMERIC;
        l->names = ref->class_names;
        l->n_names = ref->string_labels ? ref->n_classes : 0;
    } else {
        l->classification = opt->classification;
        l->required = opt->n_classes;
        l->limit = opt->n_classes ? opt->n_classes : DATA_MAX_CLASSES;
        l->owned = 1;
    }
}

/* Parses the current record (already split, d + 1 fields) into x[d] and *y. */
static sgld_status parse_row(const csv_file *c, const data_meta *m, csv_labels *l, float *x,
                             float *y)
{
    SGLD_CHECK(c->n_fields == m->d + 1, SGLD_ERR_PARSE, "%s:%lld: expected %d columns, got %d%s",
               c->path, c->line_no, m->d + 1, c->n_fields, separator_hint(c));
    for (int j = 0; j < m->d; j++) {
        double v = 0;
        SGLD_TRY(field_number(c, m->feature_names[j], c->fields[j], &v));
        x[j] = (float)v;
    }
    double v = 0;
    if (m->ignore_target)
        v = 0;
    else if (l->classification)
        SGLD_TRY(label_index(l, c, m->target_name, c->fields[m->d], &v));
    else
        SGLD_TRY(field_number(c, m->target_name, c->fields[m->d], &v));
    *y = (float)v;
    return SGLD_OK;
}

/* Reads the header into m->d and the names (when m->feature_names is still NULL). */
static sgld_status read_header(csv_file *c, data_meta *m)
{
    int got;
    SGLD_TRY(next_record(c, &got));
    SGLD_CHECK(got, SGLD_ERR_PARSE, "%s: no data rows", c->path);
    if (strncmp(c->line, "\xef\xbb\xbf", 3) == 0) memmove(c->line, c->line + 3, strlen(c->line) - 2);
    SGLD_TRY(split_fields(c));
    SGLD_CHECK(c->n_fields >= 2, SGLD_ERR_PARSE,
               "%s:%lld: need at least one feature column and a target column, got %d column(s)%s",
               c->path, c->line_no, c->n_fields, separator_hint(c));
    if (m->feature_names) return SGLD_OK;
    for (int j = 0; j < c->n_fields; j++)
        SGLD_CHECK(valid_utf8(c->fields[j]), SGLD_ERR_PARSE, "%s:%lld: column %d: name is not valid UTF-8",
                   c->path, c->line_no, j + 1);
    m->d = c->n_fields - 1;
    SGLD_ALLOC(m->feature_names, m->d);
    for (int j = 0; j < m->d; j++) {
        m->feature_names[j] = sgld_strdup(c->fields[j]);
        SGLD_CHECK(m->feature_names[j], SGLD_ERR_NOMEM, "out of memory for column names");
    }
    m->target_name = sgld_strdup(c->fields[m->d]);
    SGLD_CHECK(m->target_name, SGLD_ERR_NOMEM, "out of memory for column names");
    return SGLD_OK;
}

/* After a training scan: the classes from the labels seen. */
static sgld_status finish_classes(const char *path, csv_labels *l, data_meta *m)
{
    char list[256];
    if (l->mode == LABELS_STRING) {
        join_names(list, sizeof list, l->names, l->n_names);
        SGLD_CHECK(!l->required || l->n_names == l->required, SGLD_ERR_ARG,
                   "%s: found %d class labels (%s) but n_classes = %d", path, l->n_names, list,
                   l->required);
        SGLD_CHECK(l->n_names >= 2, SGLD_ERR_ARG,
                   "%s: only one class label (%s) found; classification needs at least 2", path,
                   list);
        m->class_names = l->names;
        m->n_classes = l->n_names;
        m->string_labels = 1;
        l->names = NULL;
        l->n_names = 0;
        return SGLD_OK;
    }
    int K = l->required ? l->required : (int)l->max_label + 1;
    SGLD_CHECK(K >= 2, SGLD_ERR_ARG,
               "%s: only one class label (0) found; classification needs at least 2", path);
    SGLD_TRY(data_meta_numeric_classes(m, K));
    return SGLD_OK;
}

static sgld_status csv_scan(const char *path, const sgld_data_options *opt, const data_meta *ref,
                            data_meta *m)
{
    csv_file c;
    csv_labels l;
    float *x = NULL, y;
    sgld_status st = SGLD_OK;
    labels_init(&l, opt, ref);
    m->ignore_target = opt->ignore_target && !l.classification;
    SGLD_TRY_GOTO(csv_open(&c, path), st, done);
    SGLD_TRY_GOTO(read_header(&c, m), st, done);
    if (ref && m->d != ref->d) {
        st = sgld_error_set(SGLD_ERR_PARSE, "%s:%lld: %d feature columns, but the training data have %d",
                            path, c.line_no, m->d, ref->d);
        goto done;
    }
    x = sgld_malloc((size_t)m->d * sizeof *x);
    if (!x) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for a row of %s", path);
        goto done;
    }
    for (;;) {
        int got;
        SGLD_TRY_GOTO(next_record(&c, &got), st, done);
        if (!got) break;
        SGLD_TRY_GOTO(split_fields(&c), st, done);
        SGLD_TRY_GOTO(parse_row(&c, m, &l, x, &y), st, done);
        m->n++;
    }
    if (m->n == 0) {
        st = sgld_error_set(SGLD_ERR_PARSE, "%s: no data rows", path);
        goto done;
    }
    if (ref)
        SGLD_TRY_GOTO(data_meta_copy_classes(m, ref), st, done);
    else if (l.classification)
        SGLD_TRY_GOTO(finish_classes(path, &l, m), st, done);
done:
    sgld_free(x);
    labels_free(&l);
    csv_close(&c);
    return st;
}

static sgld_status csv_fill(const char *path, const data_meta *m, const data_plan *plan,
                            sgld_dataset *train, sgld_dataset *test)
{
    csv_file c;
    csv_labels l;
    sgld_status st = SGLD_OK;
    int64_t seen = 0, k_train = 0, k_test = 0, row = 0;
    labels_init(&l, NULL, m);
    SGLD_TRY_GOTO(csv_open(&c, path), st, done);
    data_meta header = {.d = m->d, .feature_names = m->feature_names};
    SGLD_TRY_GOTO(read_header(&c, &header), st, done);
    for (;; row++) {
        int got;
        SGLD_TRY_GOTO(next_record(&c, &got), st, done);
        if (!got) break;
        if (row >= plan->n) { /* more rows than the scan saw */
            row++;
            break;
        }
        enum data_route to = data_route_row(plan, row, &seen);
        if (to == ROUTE_SKIP) continue;
        sgld_dataset *ds = to == ROUTE_TRAIN ? train : test;
        int64_t k = to == ROUTE_TRAIN ? k_train++ : k_test++;
        SGLD_TRY_GOTO(split_fields(&c), st, done);
        SGLD_TRY_GOTO(parse_row(&c, m, &l, ds->X + k * m->d, ds->y + k), st, done);
        ds->origin[k] = c.line_no;
        ds->origin_is_line = 1;
    }
    if (row != plan->n || (k_train != train->n_local) || (test && k_test != test->n_local))
        st = sgld_error_set(SGLD_ERR_IO, "%s: file changed while reading", path);
done:
    labels_free(&l);
    csv_close(&c);
    return st;
}

const data_reader data_reader_csv = {"csv", csv_scan, csv_fill};
