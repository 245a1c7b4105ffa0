/* sbuf.c: the growable buffer of sbuf.h. */
#include "sbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sb_reserve(struct sbuf *b, size_t extra) {
    if (b->oom) return false;
    if (extra > SIZE_MAX / 4 - b->n) {
        b->oom = true;
        return false;
    }
    if (b->p && b->n + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 1 << 12;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void sb_put(struct sbuf *b, const void *data, size_t n) {
    if (!sb_reserve(b, n)) return;
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
}

void sb_puts(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap) {
    char small[256];
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        sb_put(b, small, (size_t)n);
        return;
    }
    if (!sb_reserve(b, (size_t)n)) return;
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    b->n += (size_t)n;
}

void sb_printf(struct sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}
