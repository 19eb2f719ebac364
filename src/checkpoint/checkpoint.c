/* checkpoint.c - save and restore a run's state (format and atomicity: include/sgld/checkpoint.h).
 *
 * Durability follows the usual POSIX recipe (as in SQLite's journal and git's lock files):
 * write FILE.tmp, fsync it, link the current FILE to FILE.prev, rename FILE.tmp to FILE (atomic
 * replacement), fsync the directory so that the rename itself survives a power loss. */
#include "sgld/checkpoint.h"
#include "sgld/version.h"

#include "sgld/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c stores float32 payloads in host order and assumes a little-endian host"
#endif

#define MAGIC "SGLDCKPT"
#define HEADER_BYTES 80

/* Options that change the chain: the `chain` column of the option tables (output and control
 * options are not). */
static int chain_key(const char *key, size_t len) { return sgld_config_key_defines_chain(key, len); }

sgld_status sgld_checkpoint_config(const sgld_config *cfg, char **text)
{
    char *all = NULL;
    size_t n = 0;
    *text = NULL;
    FILE *f = open_memstream(&all, &n);
    SGLD_CHECK(f, SGLD_ERR_NOMEM, "out of memory formatting the configuration");
    sgld_config_write(cfg, f);
    fclose(f);
    char *out = sgld_malloc(n + 1);
    if (!out) {
        free(all);
        return sgld_error_set(SGLD_ERR_NOMEM, "out of memory formatting the configuration");
    }
    size_t used = 0;
    for (char *line = all; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *eq = memchr(line, '=', len);
        if (line[0] != '#' && line[0] != '[' && eq) {
            size_t klen = (size_t)(eq - line);
            while (klen > 0 && line[klen - 1] == ' ') klen--;
            if (chain_key(line, klen)) {
                memcpy(out + used, line, len);
                used += len;
                out[used++] = '\n';
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    out[used] = '\0';
    free(all);
    if (cfg->plugin[0]) {
        /* Where the plug-in types came from, for the reader: a comment, never compared. */
        size_t cap = used + strlen(cfg->plugin) + 64;
        char *more = sgld_malloc(cap);
        if (more) snprintf(more, cap, "%s# plug-ins (ABI %d): %s\n", out, SGLD_ABI_VERSION, cfg->plugin);
        sgld_free(out);
        SGLD_CHECK(more, SGLD_ERR_NOMEM, "out of memory formatting the configuration");
        out = more;
    }
    *text = out;
    return SGLD_OK;
}

uint64_t sgld_checkpoint_hash(const char *text)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

uint32_t sgld_checkpoint_crc32(uint32_t crc, const void *buf, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *b = buf;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put32(unsigned char *p, uint32_t x)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}

static void put64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)p[i] << (8 * i);
    return x;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}

/* Writes all n bytes or returns -1 with errno set. */
static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding path (makes the rename durable). */
static int sync_dir(const char *path)
{
    char buf[SGLD_PATH_MAX + 16];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

sgld_status sgld_checkpoint_save(const char *path, const sgld_checkpoint *ck)
{
    SGLD_CHECK(path && path[0] && strlen(path) < SGLD_PATH_MAX, SGLD_ERR_ARG,
               "checkpoint: bad path");
    char tmp[SGLD_PATH_MAX + 8], prev[SGLD_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(prev, sizeof prev, "%s.prev", path);
    const size_t config_len = strlen(ck->config);
    const size_t n_floats = (size_t)ck->n_chains * (size_t)(ck->n_params + ck->state_size);

    unsigned char h[HEADER_BYTES] = {0};
    memcpy(h, MAGIC, 8);
    put32(h + 8, SGLD_CHECKPOINT_VERSION);
    put32(h + 12, HEADER_BYTES);
    put64(h + 16, ck->config_hash);
    put64(h + 24, (uint64_t)ck->step);
    put64(h + 32, (uint64_t)ck->n_draws);
    put32(h + 40, (uint32_t)ck->n_chains);
    put32(h + 44, (uint32_t)ck->n_shards);
    put64(h + 48, ck->n_params);
    put64(h + 56, ck->state_size);
    put64(h + 64, config_len);
    put32(h + 72, sgld_checkpoint_crc32(0, h, 72));
    uint32_t crc = sgld_checkpoint_crc32(0, h, HEADER_BYTES);
    crc = sgld_checkpoint_crc32(crc, ck->config, config_len);
    crc = sgld_checkpoint_crc32(crc, ck->data, n_floats * sizeof(float));
    unsigned char trailer[4];
    put32(trailer, crc);

    /* A stale FILE.tmp (a save cut short) is removed, not truncated: should it be a link, the
     * file it points to is not written. */
    if (unlink(tmp) != 0 && errno != ENOENT)
        return sgld_error_set(SGLD_ERR_WRITE, "checkpoint %s: cannot remove %s: %s", path, tmp, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    SGLD_CHECK(fd >= 0, SGLD_ERR_WRITE, "checkpoint %s: cannot create %s: %s", path, tmp, strerror(errno));
    int rc = write_all(fd, h, HEADER_BYTES);
    if (rc == 0) rc = write_all(fd, ck->config, config_len);
    if (rc == 0) rc = write_all(fd, ck->data, n_floats * sizeof(float));
    if (rc == 0) rc = write_all(fd, trailer, 4);
    if (rc == 0) rc = fsync(fd);
    int err = errno;
    if (close(fd) != 0 && rc == 0) rc = -1, err = errno;
    if (rc != 0) {
        unlink(tmp);
        return sgld_error_set(SGLD_ERR_WRITE, "checkpoint %s: writing %s failed: %s", path, tmp,
                              strerror(err));
    }
    /* Keep the previous generation: FILE.prev becomes another name of the current FILE. */
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (unlink(prev) != 0 && errno != ENOENT) {
            err = errno;
            unlink(tmp);
            return sgld_error_set(SGLD_ERR_WRITE, "checkpoint %s: cannot remove %s: %s", path, prev,
                                  strerror(err));
        }
        if (link(path, prev) != 0 && rename(path, prev) != 0) {
            err = errno;
            unlink(tmp);
            return sgld_error_set(SGLD_ERR_WRITE, "checkpoint %s: cannot keep it as %s: %s", path,
                                  prev, strerror(err));
        }
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return sgld_error_set(SGLD_ERR_WRITE, "checkpoint %s: cannot rename %s to it: %s", path, tmp,
                              strerror(err));
    }
    SGLD_CHECK(sync_dir(path) == 0, SGLD_ERR_WRITE, "checkpoint %s: fsync of its directory failed: %s",
               path, strerror(errno));
    return SGLD_OK;
}

sgld_status sgld_checkpoint_load(const char *path, sgld_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    /* O_NONBLOCK: opening a FIFO without a writer would otherwise never return. */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    SGLD_CHECK(fd >= 0, SGLD_ERR_IO, "checkpoint %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return sgld_error_set(SGLD_ERR_IO, "checkpoint %s: not a regular file", path);
    }
    const uint64_t size = (uint64_t)sb.st_size;
    unsigned char *buf = sgld_malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return sgld_error_set(SGLD_ERR_NOMEM, "checkpoint %s: out of memory reading %llu bytes",
                              path, (unsigned long long)size);
    }
    uint64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    close(fd);
    sgld_status st = SGLD_OK;
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        st = sgld_error_set(SGLD_ERR_PARSE, __VA_ARGS__);                                          \
        goto done;                                                                                 \
    } while (0)
    if (got != size) {
        st = sgld_error_set(SGLD_ERR_IO, "checkpoint %s: read failed", path);
        goto done;
    }
    if (size < 8 || memcmp(buf, MAGIC, 8) != 0)
        FAIL("checkpoint %s: not an sgld-dist checkpoint (no SGLDCKPT magic)", path);
    if (size < HEADER_BYTES)
        FAIL("checkpoint %s: truncated: %llu bytes, the header alone has %d", path,
             (unsigned long long)size, HEADER_BYTES);
    if (get32(buf + 8) != SGLD_CHECKPOINT_VERSION)
        FAIL("checkpoint %s: format version %u, this sgld-dist reads version %d", path,
             get32(buf + 8), SGLD_CHECKPOINT_VERSION);
    if (get32(buf + 72) != sgld_checkpoint_crc32(0, buf, 72))
        FAIL("checkpoint %s: corrupted header (CRC-32 mismatch)", path);
    ck->config_hash = get64(buf + 16);
    ck->step = (int64_t)get64(buf + 24);
    ck->n_draws = (int64_t)get64(buf + 32);
    ck->n_chains = (int32_t)get32(buf + 40);
    ck->n_shards = (int32_t)get32(buf + 44);
    ck->n_params = get64(buf + 48);
    ck->state_size = get64(buf + 56);
    const uint64_t config_len = get64(buf + 64);
    /* Sizes come from a checksummed header, but bound them before multiplying. */
    if (ck->n_chains < 1 || ck->n_shards < 1 || ck->step < 0 || ck->n_draws < 0 ||
        ck->n_params > (1ull << 40) || ck->state_size > (1ull << 42) || config_len > (1ull << 30))
        FAIL("checkpoint %s: corrupted header (impossible sizes)", path);
    const uint64_t n_floats = (uint64_t)ck->n_chains * (ck->n_params + ck->state_size);
    const uint64_t expect = HEADER_BYTES + config_len + 4 * n_floats + 4;
    if (size < expect)
        FAIL("checkpoint %s: truncated: %llu of %llu bytes", path, (unsigned long long)size,
             (unsigned long long)expect);
    if (size > expect)
        FAIL("checkpoint %s: corrupted: %llu bytes, expected %llu", path, (unsigned long long)size,
             (unsigned long long)expect);
    uint32_t stored = get32(buf + size - 4), computed = sgld_checkpoint_crc32(0, buf, size - 4);
    if (stored != computed)
        FAIL("checkpoint %s: corrupted (CRC-32 mismatch: stored %08x, computed %08x)", path,
             stored, computed);
    ck->config = sgld_malloc(config_len + 1);
    ck->data = sgld_malloc(n_floats ? n_floats * sizeof(float) : 1);
    if (!ck->config || !ck->data) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "checkpoint %s: out of memory", path);
        goto done;
    }
    memcpy(ck->config, buf + HEADER_BYTES, config_len);
    ck->config[config_len] = '\0';
    memcpy(ck->data, buf + HEADER_BYTES + config_len, n_floats * sizeof(float));
    if (sgld_checkpoint_hash(ck->config) != ck->config_hash)
        FAIL("checkpoint %s: corrupted (configuration hash mismatch)", path);
#undef FAIL
done:
    sgld_free(buf);
    if (st != SGLD_OK) sgld_checkpoint_free(ck);
    return st;
}

/* The value of key in a "key = value\n" text, as (pointer, length); NULL if absent. */
static const char *lookup(const char *text, const char *key, size_t klen, size_t *vlen)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > klen + 3 && strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0) {
            *vlen = len - klen - 3;
            return line + klen + 3;
        }
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* The sampler named in a configuration text, or NULL. */
static const sgld_sampler_type *sampler_of(const char *config)
{
    size_t vlen = 0;
    const char *v = lookup(config, "sampler", 7, &vlen);
    char name[SGLD_NAME_MAX];
    if (!v || vlen < 2 || vlen - 2 >= sizeof name || v[0] != '"') return NULL;
    memcpy(name, v + 1, vlen - 2);
    name[vlen - 2] = '\0';
    return sgld_sampler_find(name);
}

/* 1 when key is "steps" and the run may be lengthened (or shortened down to the checkpoint's
 * step) on --resume: the draws so far depend on burn-in, thin and the step-size schedule,
 * none of which depends on --steps, except for a sampler whose chain does (its
 * steps_define_chain; config is the current configuration text; the sampler key itself must
 * match). */
static int steps_may_change(const char *key, size_t klen, const char *config)
{
    const sgld_sampler_type *s = sampler_of(config);
    return klen == 5 && strncmp(key, "steps", 5) == 0 && !(s && s->steps_define_chain);
}

/* First key of a whose value differs in b (or is missing there), steps_may_change keys of
 * config excepted; 0 if none. */
static int first_difference(const char *a, const char *b, const char *config, const char **key, size_t *klen)
{
    for (const char *line = a; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *eq = strstr(line, " = ");
        if (line[0] != '#' && eq && eq < line + len &&
            !steps_may_change(line, (size_t)(eq - line), config)) {
            size_t kl = (size_t)(eq - line), vl_b = 0;
            const char *vb = lookup(b, line, kl, &vl_b);
            size_t vl_a = len - kl - 3;
            /* An option newer than the checkpoint (absent from it) at its default: the same
             * chain, since the checkpoint's run had no other value. */
            if (!vb && b != config && sgld_config_key_is_default(line, kl, eq + 3, vl_a)) {
                line = nl ? nl + 1 : NULL;
                continue;
            }
            if (!vb || vl_b != vl_a || strncmp(vb, eq + 3, vl_a) != 0) {
                *key = line;
                *klen = kl;
                return 1;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

sgld_status sgld_checkpoint_match(const char *path, const sgld_checkpoint *ck, const char *config,
                                  int n_chains, int n_shards, size_t n_params, size_t state_size)
{
    const char *key;
    size_t klen, va_len = 0, vb_len = 0;
    if (first_difference(ck->config, config, config, &key, &klen) ||
        first_difference(config, ck->config, config, &key, &klen)) {
        const char *va = lookup(ck->config, key, klen, &va_len);
        const char *vb = lookup(config, key, klen, &vb_len);
        if (!va) va = "(absent)", va_len = 8;
        if (!vb) vb = "(absent)", vb_len = 8;
        const sgld_sampler_type *s = sampler_of(config);
        const int steps = klen == 5 && strncmp(key, "steps", 5) == 0 && s && s->steps_define_chain;
        return sgld_error_set(SGLD_ERR_USAGE,
                              "checkpoint %s: %.*s = %.*s in the checkpoint but %.*s now: it is "
                              "another chain%s%s%s (resume with the checkpoint's value, or start "
                              "afresh: without --resume, with a new --checkpoint or after removing "
                              "%s, and --force to replace the sample file)",
                              path, (int)klen, key, (int)va_len, va, (int)vb_len, vb,
                              steps ? ", since " : "", steps ? s->name : "",
                              steps ? s->steps_define_chain : "", path);
    }
    SGLD_CHECK(ck->n_chains == n_chains, SGLD_ERR_USAGE,
               "checkpoint %s: chains = %d in the checkpoint but %d now", path, ck->n_chains, n_chains);
    SGLD_CHECK(ck->n_shards == n_shards, SGLD_ERR_USAGE,
               "checkpoint %s: %d ranks per chain in the checkpoint but %d now (run on %d ranks: "
               "the sum order of the gradient, hence the chain, depends on the shards)",
               path, ck->n_shards, n_shards, ck->n_shards * n_chains);
    SGLD_CHECK(ck->n_params == n_params && ck->state_size == state_size, SGLD_ERR_USAGE,
               "checkpoint %s: %llu parameters and %llu sampler state floats, the model now has "
               "%zu and %zu",
               path, (unsigned long long)ck->n_params, (unsigned long long)ck->state_size,
               n_params, state_size);
    return SGLD_OK;
}

int64_t sgld_checkpoint_steps(const sgld_checkpoint *ck)
{
    size_t vlen = 0;
    const char *v = ck && ck->config ? lookup(ck->config, "steps", 5, &vlen) : NULL;
    if (!v) return -1;
    char buf[32];
    if (vlen >= sizeof buf) return -1;
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
    char *end;
    long long x = strtoll(buf, &end, 10);
    return *end || x < 1 ? -1 : (int64_t)x;
}

int sgld_checkpoint_sniff(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    char head[8];
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    return n >= 0 && memcmp(head, MAGIC, (size_t)n) == 0;
}

static void copy_value(char *dst, size_t size, const char *v, size_t len)
{
    if (!v) v = "(absent)", len = 8;
    if (len >= size) len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

int sgld_checkpoint_compare(const char *a, const char *b, sgld_checkpoint_diff *d)
{
    const char *key;
    size_t klen, va_len = 0, vb_len = 0;
    if (!first_difference(a, b, b, &key, &klen) && !first_difference(b, a, b, &key, &klen)) return 0;
    const char *va = lookup(a, key, klen, &va_len);
    const char *vb = lookup(b, key, klen, &vb_len);
    copy_value(d->key, sizeof d->key, key, klen);
    copy_value(d->a, sizeof d->a, va, va_len);
    copy_value(d->b, sizeof d->b, vb, vb_len);
    return 1;
}

void sgld_checkpoint_free(sgld_checkpoint *ck)
{
    if (!ck) return;
    sgld_free(ck->config);
    sgld_free(ck->data);
    memset(ck, 0, sizeof *ck);
}
