/* test_config_set.h - tests set any option of a configuration by name, as a flag would
 * (sgld_config_set): a sampler's or model's option lives in its own struct, not in a field of
 * sgld_config.  Fails the running cmocka test when the value is refused or the name is
 * unknown. */
#ifndef SGLD_TEST_CONFIG_SET_H
#define SGLD_TEST_CONFIG_SET_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sgld/config.h"
#include "sgld_test.h"

/* Sets option `name` of c to the printf-formatted value. */
static inline __attribute__((format(printf, 3, 4))) void sgld_test_set(sgld_config *c,
                                                                       const char *name,
                                                                       const char *fmt, ...)
{
    char value[SGLD_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    sgld_status st = sgld_config_set(c, name, value);
    if (st != SGLD_OK) fail_msg("--%s %s: %s", name, value, sgld_error_message());
}

/* Option `name` of c as a double (its text read by strtod). */
static inline double sgld_test_get_double(const sgld_config *c, const char *name)
{
    char value[64];
    if (sgld_config_get(c, name, value, sizeof value) != SGLD_OK)
        fail_msg("--%s: %s", name, sgld_error_message());
    return strtod(value, NULL);
}

#endif
