/* spec.c - the network spec parser: "conv32k5-pool2-fc1024-fc10" on an input shape into
 * layers with their shapes and the parameter layout (grammar in include/sgld/net.h).
 *
 * Invariants of a parsed layout: shapes chain (layer l's output is layer l+1's input); the
 * last layer is fc; every fc/conv but the last is followed by exactly one activation layer
 * (ReLU unless the spec names tanh, or none for 'linear'); parameters are contiguous in
 * layer order, weights then bias. */
#include "sgld/net.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strict positive decimal integer text[0..len) (no sign, no spaces), or -1. */
static long parse_count(const char *text, size_t len)
{
    if (len == 0 || len > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i])) return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v;
}

static sgld_status bad(const char *spec, const char *tok, size_t len, const char *why)
{
    return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': layer '%.*s': %s", spec, (int)len, tok, why);
}

static sgld_status push(sgld_net_layout *L, const char *spec, sgld_layer_kind kind)
{
    if (L->n_layers >= SGLD_NET_MAX_LAYERS)
        return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': more than %d layers (activations included)",
                              spec, SGLD_NET_MAX_LAYERS);
    sgld_layer *y = &L->layer[L->n_layers++];
    memset(y, 0, sizeof *y);
    y->kind = kind;
    return SGLD_OK;
}

sgld_status sgld_net_parse_shape(const char *text, int *c, int *h, int *w)
{
    long v[3];
    int n = 0;
    const char *p = text;
    while (n < 3) {
        const char *q = p;
        while (*q && *q != 'x') q++;
        v[n] = parse_count(p, (size_t)(q - p));
        if (v[n] < 1)
            return sgld_error_set(SGLD_ERR_USAGE, "--input-shape '%s': expected CxHxW (e.g. 1x28x28) "
                                  "or D, with positive integers", text);
        n++;
        if (!*q) break;
        p = q + 1;
        if (n == 3) return sgld_error_set(SGLD_ERR_USAGE, "--input-shape '%s': more than 3 sizes", text);
    }
    if (n == 2) return sgld_error_set(SGLD_ERR_USAGE, "--input-shape '%s': expected CxHxW or D", text);
    if (n == 1) {
        *c = 1, *h = 1, *w = (int)v[0];
    } else {
        *c = (int)v[0], *h = (int)v[1], *w = (int)v[2];
    }
    if ((double)*c * *h * *w > 1e9)
        return sgld_error_set(SGLD_ERR_USAGE, "--input-shape '%s': too large", text);
    return SGLD_OK;
}

/* Fills shapes, numbering and the parameter layout of the tokens already pushed. */
static sgld_status lay_out(sgld_net_layout *L, const char *spec)
{
    int c = L->c, h = L->h, w = L->w, n_fc = 0, n_conv = 0, seen_fc = 0;
    size_t off = 0;
    for (int l = 0; l < L->n_layers; l++) {
        sgld_layer *y = &L->layer[l];
        y->c = c, y->h = h, y->w = w;
        y->in_size = (size_t)c * h * w;
        switch (y->kind) {
        case SGLD_LAYER_FC:
            y->index = ++n_fc;
            seen_fc = 1;
            y->n_w = (size_t)y->oc * y->in_size;
            y->n_b = (size_t)y->oc;
            c = y->oc, h = 1, w = 1;
            break;
        case SGLD_LAYER_CONV:
            y->index = ++n_conv;
            if (seen_fc)
                return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': conv%d after a fully connected layer "
                                      "(the fc output has no image shape)", spec, y->index);
            if (y->k > h || y->k > w)
                return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': conv%d's %dx%d kernel is larger than "
                                      "its %dx%d input image (check --input-shape)", spec, y->index, y->k,
                                      y->k, h, w);
            y->n_w = (size_t)y->oc * c * y->k * y->k;
            y->n_b = (size_t)y->oc;
            c = y->oc;
            break;
        case SGLD_LAYER_POOL:
            if (h < 2 || w < 2)
                return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': layer %d: 2x2 pooling of a %dx%d image "
                                      "(check --input-shape)", spec, l + 1, h, w);
            h /= 2, w /= 2;
            break;
        default: break;
        }
        if (y->n_w) {
            y->w_off = off;
            y->b_off = off + y->n_w;
            off += y->n_w + y->n_b;
        }
        y->oc = c, y->oh = h, y->ow = w;
        y->out_size = (size_t)c * h * w;
    }
    L->n_out = c * h * w;
    L->n_params = off;
    return SGLD_OK;
}

sgld_status sgld_net_parse(const char *spec, int c, int h, int w, sgld_net_layout *L)
{
    memset(L, 0, sizeof *L);
    L->c = c, L->h = h, L->w = w;
    L->in_size = (size_t)c * h * w;
    if (!spec || !spec[0])
        return sgld_error_set(SGLD_ERR_USAGE, "--net: empty network spec (e.g. \"fc50-fc2\")");
    const char *p = spec;
    int pending = 0; /* index + 1 of an fc/conv whose activation is not settled yet */
    for (;;) {
        const char *end = strchr(p, '-');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0) return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': empty layer (two '-' in a row, "
                                            "or a '-' at an end)", spec);
        int act = -1;
        if (len == 4 && !strncmp(p, "relu", 4)) act = SGLD_LAYER_RELU;
        else if (len == 4 && !strncmp(p, "tanh", 4)) act = SGLD_LAYER_TANH;
        else if (len == 6 && !strncmp(p, "linear", 6)) act = 99;
        if (act >= 0) {
            if (!pending) return bad(spec, p, len, "an activation must follow an fc or conv layer");
            L->layer[pending - 1].relu_after = act == SGLD_LAYER_RELU;
            if (act != 99) SGLD_TRY(push(L, spec, (sgld_layer_kind)act));
            pending = 0;
        } else {
            if (pending) { /* the default activation of the previous layer */
                L->layer[pending - 1].relu_after = 1;
                SGLD_TRY(push(L, spec, SGLD_LAYER_RELU));
                pending = 0;
            }
            if (len >= 2 && !strncmp(p, "fc", 2)) {
                long n = parse_count(p + 2, len - 2);
                if (n < 1) return bad(spec, p, len, "expected fcN with N >= 1 outputs");
                SGLD_TRY(push(L, spec, SGLD_LAYER_FC));
                L->layer[L->n_layers - 1].oc = (int)n;
                pending = L->n_layers;
            } else if (len >= 4 && !strncmp(p, "conv", 4)) {
                const char *k = memchr(p + 4, 'k', len - 4);
                long n = k ? parse_count(p + 4, (size_t)(k - p - 4)) : -1;
                long ks = k ? parse_count(k + 1, len - (size_t)(k + 1 - p)) : -1;
                if (n < 1 || ks < 1) return bad(spec, p, len, "expected convNkK (N channels, K x K kernel)");
                if (ks % 2 == 0) return bad(spec, p, len, "the kernel size must be odd ('same' padding)");
                SGLD_TRY(push(L, spec, SGLD_LAYER_CONV));
                L->layer[L->n_layers - 1].oc = (int)n;
                L->layer[L->n_layers - 1].k = (int)ks;
                pending = L->n_layers;
            } else if (len == 5 && !strncmp(p, "pool2", 5)) {
                SGLD_TRY(push(L, spec, SGLD_LAYER_POOL));
            } else if (len >= 4 && !strncmp(p, "drop", 4)) {
                char num[32];
                if (len - 4 >= sizeof num) return bad(spec, p, len, "expected dropP with P in [0, 1)");
                memcpy(num, p + 4, len - 4);
                num[len - 4] = '\0';
                char *e;
                errno = 0;
                double rate = strtod(num, &e);
                if (*e || e == num || errno || !(rate >= 0 && rate < 1) || !isdigit((unsigned char)num[0]))
                    return bad(spec, p, len, "expected dropP with P in [0, 1)");
                SGLD_TRY(push(L, spec, SGLD_LAYER_DROPOUT));
                L->layer[L->n_layers - 1].rate = (float)rate;
            } else {
                return bad(spec, p, len, "unknown layer (valid: fcN, convNkK, pool2, relu, tanh, linear, dropP)");
            }
        }
        if (!end) break;
        p = end + 1;
    }
    /* The last fc/conv carries no activation: it is the output layer. */
    int last = L->n_layers - 1;
    if (L->layer[last].kind != SGLD_LAYER_FC || !pending)
        return sgld_error_set(SGLD_ERR_USAGE, "--net '%s': the last layer must be fc (the output layer, "
                              "without activation or pooling after it)", spec);
    return lay_out(L, spec);
}
