/* test_status.c - messages, traceback frames, the propagation macros and injected
 * allocation failures. */
#include "sgld_test.h"

#include <stdio.h>
#include <string.h>

#include "sgld/status.h"

static sgld_status fails_with_arg(int value)
{
    SGLD_CHECK(value > 0, SGLD_ERR_ARG, "run.ini:4: key 'steps': must be > 0, got %d", value);
    return SGLD_OK;
}

static sgld_status propagates(int value)
{
    SGLD_TRY(fails_with_arg(value));
    return SGLD_OK;
}

static sgld_status allocates(size_t n)
{
    double *p;
    SGLD_ALLOC(p, n);
    sgld_free(p);
    return SGLD_OK;
}

static void test_messages(void **state)
{
    (void)state;
    assert_string_equal(sgld_strerror(SGLD_OK), "success");
    assert_string_equal(sgld_strerror(SGLD_ERR_NOMEM), "out of memory");
    assert_string_equal(sgld_strerror((sgld_status)999), "unknown status");
    for (int s = 0; s < SGLD_STATUS_COUNT; s++) assert_true(strlen(sgld_strerror(s)) > 0);
}

static void test_check_and_try(void **state)
{
    (void)state;
    sgld_error_clear();
    assert_int_equal(propagates(3), SGLD_OK);
    assert_int_equal(propagates(-2), SGLD_ERR_ARG);
    assert_string_equal(sgld_error_message(), "run.ini:4: key 'steps': must be > 0, got -2");
    assert_non_null(strstr(sgld_error_trace(), "test_status.c"));
    assert_non_null(strstr(sgld_error_trace(), "fails_with_arg(value)"));
    sgld_error_clear();
    assert_string_equal(sgld_error_message(), "");
}

static void test_injected_allocation_failure(void **state)
{
    (void)state;
    assert_int_equal(allocates(10), SGLD_OK);
    sgld_alloc_fail_after(2);
    assert_int_equal(allocates(10), SGLD_OK);
    assert_int_equal(allocates(10), SGLD_ERR_NOMEM);
    assert_non_null(strstr(sgld_error_message(), "out of memory"));
    assert_int_equal(allocates(10), SGLD_OK); /* one-shot */
}

/* Every rank gets the lowest failing rank's status and message (run at several sizes). */
static void test_agree(void **state)
{
    (void)state;
    int rank = sgld_test_rank(), size = sgld_test_size();
    assert_int_equal(sgld_status_agree(MPI_COMM_WORLD, SGLD_OK), SGLD_OK);
    int failing = size > 1 ? 1 : 0;
    sgld_status local = SGLD_OK;
    if (rank >= failing) local = sgld_error_set(rank == failing ? SGLD_ERR_PARSE : SGLD_ERR_IO,
                                                "rank %d: bad.csv:3: broken", rank);
    sgld_status st = sgld_status_agree(MPI_COMM_WORLD, local);
    assert_int_equal(st, SGLD_ERR_PARSE);
    char want[64];
    snprintf(want, sizeof want, "rank %d: bad.csv:3: broken", failing);
    assert_string_equal(sgld_error_message(), want);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_check_and_try),
        cmocka_unit_test(test_injected_allocation_failure),
        cmocka_unit_test(test_agree),
    };
    return sgld_test_run(argc, argv, "status", tests, sizeof tests / sizeof tests[0]);
}
