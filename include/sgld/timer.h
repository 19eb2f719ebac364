/* timer.h - named event timers, in the manner of PETSc's -log_view (PetscLogEventBegin/End).
 *
 * A log (sgld_timer) names up to SGLD_TIMER_MAX_EVENTS events, numbered 0..n_events-1 by the
 * caller's own enum.  sgld_timer_begin and sgld_timer_end bracket one occurrence of an event:
 * the end adds one to the event's count and the elapsed seconds to its time on this rank.
 * Occurrences nest (up to SGLD_TIMER_MAX_DEPTH open at once): an occurrence inside another is
 * charged to its own event only and its seconds are taken off the enclosing one, so every
 * event's time is its own ("exclusive" time: a step's 'update' without the gradient and the
 * noise it calls) and the events of a log add up to the time they cover, once.
 * sgld_timer_reduce gives the minimum, maximum and mean of each event's time over the ranks of
 * a communicator.
 *
 * A module of its own (src/timer) because two modules time into one log: the run (src/run)
 * times its steps, collectives and I/O for --log-view, and the random streams (src/rng) time
 * the normals of the one stream the run hands them (sgld_rng_time_normals).
 *
 * Each occurrence reads the clock twice: time steps, collectives and calls, never elements
 * or rows.  A log is plain memory (no allocation, nothing to free).  Not thread-safe. */
#ifndef SGLD_TIMER_H
#define SGLD_TIMER_H

#include <mpi.h>
#include <stdint.h>

#include "sgld/status.h"

#define SGLD_TIMER_MAX_EVENTS 16
#define SGLD_TIMER_MAX_DEPTH 8

typedef struct sgld_timer {
    int n_events;
    const char *names[SGLD_TIMER_MAX_EVENTS]; /* not copied: static strings */
    double seconds[SGLD_TIMER_MAX_EVENTS];    /* this rank's exclusive time */
    int64_t count[SGLD_TIMER_MAX_EVENTS];     /* this rank's occurrences */
    double start, wall;                       /* sgld_timer_init's clock; seconds from it to sgld_timer_stop */
    int depth;                                /* occurrences open, innermost last: */
    int open[SGLD_TIMER_MAX_DEPTH];           /* their events */
    double since[SGLD_TIMER_MAX_DEPTH];       /* and the clock at their begin */
} sgld_timer;

/* Over the ranks of a communicator (sgld_timer_reduce), per event. */
typedef struct sgld_timer_summary {
    double min[SGLD_TIMER_MAX_EVENTS], max[SGLD_TIMER_MAX_EVENTS], mean[SGLD_TIMER_MAX_EVENTS];
    double wall_mean; /* mean of the ranks' wall (sgld_timer_stop) */
    int n_ranks;
} sgld_timer_summary;

/* Monotonic seconds (CLOCK_MONOTONIC): the clock of every log.  Not collective. */
double sgld_timer_now(void);

/* Empties tm, names its n_events events (names[e], 0 < n_events <= SGLD_TIMER_MAX_EVENTS; the
 * strings are not copied) and starts its wall clock.  Not collective. */
void sgld_timer_init(sgld_timer *tm, int n_events, const char *const *names);

/* Opens an occurrence of event ev, inside the innermost one open (if any).  Beyond
 * SGLD_TIMER_MAX_DEPTH open occurrences, or for an unknown ev, nothing is timed.  Local. */
void sgld_timer_begin(sgld_timer *tm, int ev);

/* Closes the innermost open occurrence, which must be of event ev (else nothing is done):
 * adds one to ev's count and the seconds since its begin to ev's time, and takes them off the
 * enclosing occurrence's event.  Local. */
void sgld_timer_end(sgld_timer *tm, int ev);

/* Freezes tm->wall: the seconds from sgld_timer_init to now.  Local. */
void sgld_timer_stop(sgld_timer *tm);

/* Each event's time over the ranks of comm (min, max, mean) and the mean wall, into *out on
 * every rank.  Collective over comm (three MPI_Allreduce); every rank must hold a log of the
 * same events. */
sgld_status sgld_timer_reduce(const sgld_timer *tm, MPI_Comm comm, sgld_timer_summary *out);

#endif
