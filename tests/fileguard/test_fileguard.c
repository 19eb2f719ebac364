/* test_fileguard.c - file identity (fileguard.h): ./, hard links, symlinks, dangling links and
 * names not created yet; the writer lock: taken, refused to another process with its pid,
 * released with its sidecar, a stale sidecar taken over, a foreign one left alone. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sgld/fileguard.h"
#include "sgld_test.h"

static char dir[1024];

static const char *at(const char *name)
{
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void touch(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* sgld_fileguard_check on one output and one input. */
static sgld_status pair(const char *out, const char *in)
{
    sgld_file_use u[2] = {{"--output", out, out, 1}, {"--data", in, in, 0}};
    return sgld_fileguard_check(u, 2);
}

static void identity(void **state)
{
    (void)state;
    if (sgld_test_rank() != 0) skip();
    snprintf(dir, sizeof dir, "%s/id", sgld_test_tmpdir());
    mkdir(dir, 0755);
    touch(at("a.csv"), "x\n");
    touch(at("b.csv"), "x\n");
    assert_int_equal(link(at("a.csv"), at("hard.csv")), 0);
    assert_int_equal(symlink("a.csv", at("soft.csv")), 0);
    assert_int_equal(symlink("new.h5", at("dangling.h5")), 0);
    char dot[PATH_MAX];
    snprintf(dot, sizeof dot, "%s/./sub/../a.csv", dir);
    mkdir(at("sub"), 0755);

    assert_int_equal(pair(at("b.csv"), at("a.csv")), SGLD_OK); /* same bytes, another file */
    assert_int_equal(pair(at("a.csv"), at("a.csv")), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "are the same file: an output must not replace an input"));
    assert_int_equal(pair(dot, at("a.csv")), SGLD_ERR_USAGE);
    assert_int_equal(pair(at("hard.csv"), at("a.csv")), SGLD_ERR_USAGE);
    assert_int_equal(pair(at("soft.csv"), at("a.csv")), SGLD_ERR_USAGE);
    /* names not created yet: the same directory and last component, or a link to it */
    assert_int_equal(pair(at("new.h5"), at("sub/../new.h5")), SGLD_ERR_USAGE);
    assert_int_equal(pair(at("dangling.h5"), at("new.h5")), SGLD_ERR_USAGE);
    assert_int_equal(pair(at("new.h5"), at("other.h5")), SGLD_OK);
    /* two inputs may be one file; two outputs may not */
    sgld_file_use two_in[2] = {{"--data", "a", at("a.csv"), 0}, {"--test-data", "h", at("hard.csv"), 0}};
    assert_int_equal(sgld_fileguard_check(two_in, 2), SGLD_OK);
    sgld_file_use two_out[2] = {{"--hist", "n", at("new.h5"), 1}, {"--per-example", "d", at("dangling.h5"), 1}};
    assert_int_equal(sgld_fileguard_check(two_out, 2), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "two outputs cannot share one file"));
    /* unresolvable names match nothing; empty ones are skipped */
    assert_int_equal(pair(at("no/such/dir/x"), at("no/such/dir/x")), SGLD_OK);
    assert_int_equal(pair("", ""), SGLD_OK);
    assert_true(sgld_fileguard_exists(at("dangling.h5")));
    assert_false(sgld_fileguard_exists(at("new.h5")));
}

static void lock(void **state)
{
    (void)state;
    if (sgld_test_rank() != 0) skip();
    snprintf(dir, sizeof dir, "%s/lock", sgld_test_tmpdir());
    mkdir(dir, 0755);
    sgld_file_lock l;
    assert_int_equal(sgld_fileguard_lock("--output", at("run.h5"), &l), SGLD_OK);
    assert_true(l.fd >= 0);
    char text[256] = "";
    FILE *f = fopen(at("run.h5.lock"), "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    char want[64];
    snprintf(want, sizeof want, "sgld-dist pid %ld host ", (long)getpid());
    assert_memory_equal(text, want, strlen(want));

    /* Reading the sidecar (an open and close of it in this process) keeps the lock; another
     * process is refused, naming this one. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        sgld_file_lock other;
        sgld_status st = sgld_fileguard_lock("--output", at("run.h5"), &other);
        const char *msg = sgld_error_message();
        if (write(fds[1], &st, sizeof st) != sizeof st || write(fds[1], msg, strlen(msg) + 1) < 0) _exit(2);
        _exit(other.fd == -1 ? 0 : 1);
    }
    close(fds[1]);
    sgld_status st;
    char msg[1024] = "";
    assert_int_equal(read(fds[0], &st, sizeof st), (ssize_t)sizeof st);
    assert_true(read(fds[0], msg, sizeof msg - 1) > 0);
    close(fds[0]);
    int wst;
    assert_int_equal(waitpid(child, &wst, 0), child);
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) fail_msg("child: status %#x, message %s", wst, msg);
    assert_int_equal(st, SGLD_ERR_EXISTS);
    char holder[128];
    snprintf(holder, sizeof holder, "is in use by another run: process %ld on host ", (long)getpid());
    assert_non_null(strstr(msg, holder));

    sgld_fileguard_unlock(&l);
    assert_int_equal(l.fd, -1);
    assert_false(sgld_fileguard_exists(at("run.h5.lock")));
    sgld_fileguard_unlock(&l); /* not held: nothing */
    sgld_fileguard_unlock(NULL);

    /* a stale sidecar (its holder was killed) is taken over and removed; a foreign file is left */
    touch(at("stale.h5.lock"), "sgld-dist pid 999999 host gone\n");
    assert_int_equal(sgld_fileguard_lock("--output", at("stale.h5"), &l), SGLD_OK);
    sgld_fileguard_unlock(&l);
    assert_false(sgld_fileguard_exists(at("stale.h5.lock")));
    touch(at("notes.h5.lock"), "my notes\n");
    assert_int_equal(sgld_fileguard_lock("--output", at("notes.h5"), &l), SGLD_ERR_EXISTS);
    assert_non_null(strstr(sgld_error_message(), "is not a lock file of sgld-dist"));
    assert_int_equal(l.fd, -1);
    assert_true(sgld_fileguard_exists(at("notes.h5.lock")));
    /* a sidecar that cannot be created */
    assert_int_equal(sgld_fileguard_lock("--output", at("no/such/run.h5"), &l), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "cannot create its lock file"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity),
        cmocka_unit_test(lock),
    };
    return sgld_test_run(argc, argv, "fileguard", tests, sizeof tests / sizeof tests[0]);
}
