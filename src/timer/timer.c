/* timer.c - named event timers with exclusive time (see include/sgld/timer.h). */
#include "sgld/timer.h"

#include <string.h>
#include <time.h>

double sgld_timer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sgld_timer_init(sgld_timer *tm, int n_events, const char *const *names)
{
    memset(tm, 0, sizeof *tm);
    tm->n_events = n_events < 0 ? 0 : n_events > SGLD_TIMER_MAX_EVENTS ? SGLD_TIMER_MAX_EVENTS : n_events;
    for (int e = 0; e < tm->n_events; e++) tm->names[e] = names[e];
    tm->start = sgld_timer_now();
}

void sgld_timer_begin(sgld_timer *tm, int ev)
{
    if (ev < 0 || ev >= tm->n_events || tm->depth == SGLD_TIMER_MAX_DEPTH) return;
    tm->open[tm->depth] = ev;
    tm->since[tm->depth++] = sgld_timer_now();
}

void sgld_timer_end(sgld_timer *tm, int ev)
{
    if (tm->depth == 0 || tm->open[tm->depth - 1] != ev) return;
    const double dt = sgld_timer_now() - tm->since[--tm->depth];
    tm->seconds[ev] += dt;
    tm->count[ev]++;
    if (tm->depth > 0) tm->seconds[tm->open[tm->depth - 1]] -= dt;
}

void sgld_timer_stop(sgld_timer *tm) { tm->wall = sgld_timer_now() - tm->start; }

sgld_status sgld_timer_reduce(const sgld_timer *tm, MPI_Comm comm, sgld_timer_summary *out)
{
    const int n = tm->n_events;
    double local[SGLD_TIMER_MAX_EVENTS + 1], sum[SGLD_TIMER_MAX_EVENTS + 1];
    memset(out, 0, sizeof *out);
    memcpy(local, tm->seconds, (size_t)n * sizeof *local);
    local[n] = tm->wall; /* the wall rides along in the sum */
    SGLD_MPI(MPI_Comm_size(comm, &out->n_ranks));
    SGLD_MPI(MPI_Allreduce(tm->seconds, out->min, n, MPI_DOUBLE, MPI_MIN, comm));
    SGLD_MPI(MPI_Allreduce(tm->seconds, out->max, n, MPI_DOUBLE, MPI_MAX, comm));
    SGLD_MPI(MPI_Allreduce(local, sum, n + 1, MPI_DOUBLE, MPI_SUM, comm));
    for (int e = 0; e < n; e++) out->mean[e] = sum[e] / out->n_ranks;
    out->wall_mean = sum[n] / out->n_ranks;
    return SGLD_OK;
}
