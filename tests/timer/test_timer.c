/* test_timer.c - event timers: counts, exclusive time of nested events, the guards against
 * unbalanced or unknown events, and the reduction over ranks. */
#include "sgld_test.h"

#include "sgld/timer.h"

enum { OUTER, INNER, OTHER, N_EVENTS };
static const char *const names[N_EVENTS] = {"outer", "inner", "other"};
#define TOL 1e-9

/* Busy-waits at least `seconds` on the timers' clock. */
static void spin(double seconds)
{
    const double t0 = sgld_timer_now();
    while (sgld_timer_now() - t0 < seconds) continue;
}

/* Two occurrences of an event nested in one of another: the inner event is charged its own
 * time, the outer one only what is left, and the two add up to the outer occurrence's span. */
static void test_nested_time_is_exclusive(void **state)
{
    (void)state;
    sgld_timer tm;
    sgld_timer_init(&tm, N_EVENTS, names);
    assert_string_equal(tm.names[INNER], "inner");
    const double before = sgld_timer_now();
    sgld_timer_begin(&tm, OUTER);
    spin(0.004);
    for (int k = 0; k < 2; k++) {
        sgld_timer_begin(&tm, INNER);
        spin(0.003);
        sgld_timer_end(&tm, INNER);
    }
    sgld_timer_end(&tm, OUTER);
    const double span = sgld_timer_now() - before;
    assert_int_equal(tm.count[OUTER], 1);
    assert_int_equal(tm.count[INNER], 2);
    assert_int_equal(tm.count[OTHER], 0);
    /* TOL: the rounding of differences of clock readings near 1e5 s (ulp 1.5e-11) */
    assert_true(tm.seconds[INNER] >= 0.006 - TOL);
    assert_true(tm.seconds[OUTER] >= 0.004 - TOL);
    assert_true(tm.seconds[OUTER] + tm.seconds[INNER] <= span + TOL);
    assert_true(tm.seconds[OTHER] == 0.0);
    assert_int_equal(tm.depth, 0);
    sgld_timer_stop(&tm);
    assert_true(tm.wall >= tm.seconds[OUTER] + tm.seconds[INNER] - TOL);
}

/* An end that does not close the innermost occurrence, an unknown event and occurrences past
 * the depth limit change nothing; the log stays usable. */
static void test_unbalanced_calls_are_ignored(void **state)
{
    (void)state;
    sgld_timer tm;
    sgld_timer_init(&tm, N_EVENTS, names);
    sgld_timer_end(&tm, OUTER); /* nothing open */
    sgld_timer_begin(&tm, N_EVENTS);
    sgld_timer_begin(&tm, -1);
    assert_int_equal(tm.depth, 0);
    sgld_timer_begin(&tm, OUTER);
    sgld_timer_end(&tm, INNER); /* not the innermost */
    assert_int_equal(tm.depth, 1);
    assert_int_equal(tm.count[INNER], 0);
    sgld_timer_end(&tm, OUTER);
    assert_int_equal(tm.count[OUTER], 1);
    for (int d = 0; d < SGLD_TIMER_MAX_DEPTH + 3; d++) sgld_timer_begin(&tm, OTHER);
    assert_int_equal(tm.depth, SGLD_TIMER_MAX_DEPTH);
    for (int d = 0; d < SGLD_TIMER_MAX_DEPTH; d++) sgld_timer_end(&tm, OTHER);
    assert_int_equal(tm.depth, 0);
    assert_int_equal(tm.count[OTHER], SGLD_TIMER_MAX_DEPTH);
    assert_true(tm.seconds[OTHER] >= 0.0);
}

/* Rank r holds r + 1.5 seconds of 'inner' and a wall of 2 (r + 1): min, max and mean over the
 * ranks are exact in double. */
static void test_reduce_over_ranks(void **state)
{
    (void)state;
    const int rank = sgld_test_rank(), size = sgld_test_size();
    sgld_timer tm;
    sgld_timer_init(&tm, N_EVENTS, names);
    tm.seconds[INNER] = rank + 1.5;
    tm.wall = 2.0 * (rank + 1);
    sgld_timer_summary s;
    assert_int_equal(sgld_timer_reduce(&tm, MPI_COMM_WORLD, &s), SGLD_OK);
    assert_int_equal(s.n_ranks, size);
    assert_true(s.min[INNER] == 1.5);
    assert_true(s.max[INNER] == size - 1 + 1.5);
    assert_true(s.mean[INNER] == (size - 1) / 2.0 + 1.5);
    assert_true(s.wall_mean == size + 1.0);
    assert_true(s.min[OUTER] == 0.0 && s.max[OUTER] == 0.0 && s.mean[OUTER] == 0.0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_time_is_exclusive),
        cmocka_unit_test(test_unbalanced_calls_are_ignored),
        cmocka_unit_test(test_reduce_over_ranks),
    };
    return sgld_test_run(argc, argv, "timer", tests, sizeof tests / sizeof tests[0]);
}
