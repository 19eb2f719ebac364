/* data_private.h - what the data readers share: the metadata a scan finds, the plan saying
 * where each source row goes (test set, this rank's training shard, or nowhere), and the
 * reader table.
 *
 * Every reader works in two steps.  scan() reads enough of the source to know its shape,
 * names and class labels and validates what it can; data.c then draws the train/test split
 * and the shard block; fill() streams the rows again and stores only the rows the plan routes
 * here.  So a rank never holds more than its shard and the test rows. */
#ifndef SGLD_DATA_PRIVATE_H
#define SGLD_DATA_PRIVATE_H

#include <stdint.h>

#include "sgld/data.h"

/* Most distinct string labels a classification target may have. */
#define DATA_MAX_CLASSES 1024

typedef struct data_meta {
    int64_t n;            /* rows in the source */
    int d;                /* feature columns */
    char **feature_names; /* [d] */
    char *target_name;
    int n_classes;        /* 0: real target */
    char **class_names;   /* [n_classes], sorted (strcmp) when string_labels */
    int string_labels;    /* 1: labels are strings mapped through class_names */
    int ignore_target;    /* 1: targets are not read (sgld_data_options) */
} data_meta;

/* Where source rows go.  Training rows are numbered 0..n_train-1 in source order; this rank
 * keeps training rows [begin, end).  test[i] = 1 marks a test row (test = NULL: no split). */
typedef struct data_plan {
    int64_t n;
    const uint8_t *test;
    int64_t n_train, n_test;
    int64_t begin, end;
} data_plan;

enum data_route { ROUTE_SKIP, ROUTE_TRAIN, ROUTE_TEST };

/* Streams the rows of a source in order: where row i goes, counting training rows in *seen
 * (start at 0; rows must be routed in increasing order). */
static inline enum data_route data_route_row(const data_plan *p, int64_t i, int64_t *seen)
{
    if (p->test && p->test[i]) return ROUTE_TEST;
    int64_t t = (*seen)++;
    return (t >= p->begin && t < p->end) ? ROUTE_TRAIN : ROUTE_SKIP;
}

/* A reader.  scan: fills *meta (caller frees with data_meta_free, also on failure).  When ref
 * is not NULL the source is a separate test file: it must have ref->d features and its class
 * labels map through ref's (meta then copies ref's classes).  fill: stores row k of the
 * train rows routed here in train->X/y row k (in order), likewise test; both are allocated
 * by the caller with the plan's sizes (test may be NULL when the plan has no test rows). */
typedef struct data_reader {
    const char *name;
    sgld_status (*scan)(const char *path, const sgld_data_options *opt, const data_meta *ref,
                        data_meta *meta);
    sgld_status (*fill)(const char *path, const data_meta *meta, const data_plan *plan,
                        sgld_dataset *train, sgld_dataset *test);
} data_reader;

extern const data_reader data_reader_csv;
extern const data_reader data_reader_hdf5;
extern const data_reader data_reader_synthetic;

/* ---- helpers shared by the readers (data.c) ---- */

void data_meta_free(data_meta *m);

/* Names "x0".."x{d-1}" and target "y" (sources without a header). */
sgld_status data_meta_default_names(data_meta *m);

/* Class names "0".."K-1" (numeric labels); sets m->n_classes = K. */
sgld_status data_meta_numeric_classes(data_meta *m, int K);

/* Copies ref's classes into m (a test source maps its labels through the training map). */
sgld_status data_meta_copy_classes(data_meta *m, const data_meta *ref);

/* Number of classes fixed by the options or a reference, or 0 to infer. */
static inline int data_required_classes(const sgld_data_options *opt, const data_meta *ref)
{
    return ref ? ref->n_classes : opt->n_classes;
}

#endif
