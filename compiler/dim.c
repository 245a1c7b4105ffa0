/* dim: canonical polynomial arithmetic for symbolic dimensions (see dim.h). Terms are kept sorted
 * by monomial (lexicographic on the padded symbol array) with non-zero coefficients, so two equal
 * polynomials have equal representations. */
#include "dim.h"

#include <stdio.h>
#include <string.h>

static int mono_cmp(const int8_t *a, const int8_t *b) {
    for (int i = 0; i < VM_DIM_DEGREE; i++) {
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

static int mono_degree(const int8_t *m) {
    int d = 0;
    while (d < VM_DIM_DEGREE && m[d] >= 0) d++;
    return d;
}

struct vm_dim vm_dim_const(int64_t c) {
    struct vm_dim d;
    memset(&d, 0, sizeof d);
    if (c != 0) {
        d.n = 1;
        d.t[0].coef = c;
        memset(d.t[0].sym, -1, sizeof d.t[0].sym);
    }
    return d;
}

struct vm_dim vm_dim_sym(int sym) {
    struct vm_dim d = vm_dim_const(1);
    d.t[0].sym[0] = (int8_t)sym;
    return d;
}

bool vm_dim_is_const(const struct vm_dim *d) {
    return d->n == 0 || (d->n == 1 && d->t[0].sym[0] < 0);
}

int64_t vm_dim_value(const struct vm_dim *d) {
    VM_ASSERT(vm_dim_is_const(d));
    return d->n ? d->t[0].coef : 0;
}

bool vm_dim_eq(const struct vm_dim *a, const struct vm_dim *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        if (a->t[i].coef != b->t[i].coef || mono_cmp(a->t[i].sym, b->t[i].sym) != 0) return false;
    }
    return true;
}

bool vm_dim_is_const_eq(const struct vm_dim *d, int64_t c) {
    return vm_dim_is_const(d) && vm_dim_value(d) == c;
}

/* Adds coef*mono into an accumulator that may hold up to cap terms, keeping it canonical. */
static enum vm_status acc_add(struct vm_dim_term *acc, int *n, int cap, int64_t coef,
                              const int8_t *mono) {
    if (coef == 0) return VM_OK;
    int i = 0;
    while (i < *n && mono_cmp(acc[i].sym, mono) < 0) i++;
    if (i < *n && mono_cmp(acc[i].sym, mono) == 0) {
        if (__builtin_add_overflow(acc[i].coef, coef, &acc[i].coef)) return VM_EUNSUPPORTED;
        if (acc[i].coef == 0) {
            memmove(&acc[i], &acc[i + 1], (size_t)(*n - i - 1) * sizeof *acc);
            (*n)--;
        }
        return VM_OK;
    }
    if (*n >= cap) return VM_EUNSUPPORTED;
    memmove(&acc[i + 1], &acc[i], (size_t)(*n - i) * sizeof *acc);
    acc[i].coef = coef;
    memcpy(acc[i].sym, mono, VM_DIM_DEGREE);
    (*n)++;
    return VM_OK;
}

static enum vm_status finish(struct vm_dim *out, const struct vm_dim_term *acc, int n) {
    if (n > VM_DIM_TERMS) return VM_EUNSUPPORTED;
    struct vm_dim d;
    memset(&d, 0, sizeof d);
    d.n = (int8_t)n;
    memcpy(d.t, acc, (size_t)n * sizeof *acc);
    *out = d;
    return VM_OK;
}

enum vm_status vm_dim_add(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b) {
    struct vm_dim_term acc[2 * VM_DIM_TERMS];
    int n = 0;
    enum vm_status s = VM_OK;
    for (int i = 0; i < a->n && !s; i++) s = acc_add(acc, &n, 2 * VM_DIM_TERMS, a->t[i].coef, a->t[i].sym);
    for (int i = 0; i < b->n && !s; i++) s = acc_add(acc, &n, 2 * VM_DIM_TERMS, b->t[i].coef, b->t[i].sym);
    return s ? s : finish(out, acc, n);
}

enum vm_status vm_dim_sub(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b) {
    struct vm_dim nb = *b;
    for (int i = 0; i < nb.n; i++) {
        if (nb.t[i].coef == INT64_MIN) return VM_EUNSUPPORTED;
        nb.t[i].coef = -nb.t[i].coef;
    }
    return vm_dim_add(out, a, &nb);
}

static enum vm_status mono_mul(int8_t *out, const int8_t *a, const int8_t *b) {
    int da = mono_degree(a), db = mono_degree(b);
    if (da + db > VM_DIM_DEGREE) return VM_EUNSUPPORTED;
    int8_t m[VM_DIM_DEGREE];
    int i = 0, j = 0, k = 0;
    while (k < VM_DIM_DEGREE && (i < da || j < db)) {
        if (j >= db || (i < da && a[i] <= b[j])) m[k++] = a[i++];
        else m[k++] = b[j++];
    }
    memset(out, -1, VM_DIM_DEGREE);
    memcpy(out, m, (size_t)k);
    return VM_OK;
}

enum vm_status vm_dim_mul(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b) {
    struct vm_dim_term acc[VM_DIM_TERMS * VM_DIM_TERMS];
    int n = 0;
    for (int i = 0; i < a->n; i++) {
        for (int j = 0; j < b->n; j++) {
            int8_t m[VM_DIM_DEGREE];
            int64_t c;
            if (mono_mul(m, a->t[i].sym, b->t[j].sym)) return VM_EUNSUPPORTED;
            if (__builtin_mul_overflow(a->t[i].coef, b->t[j].coef, &c)) return VM_EUNSUPPORTED;
            enum vm_status s = acc_add(acc, &n, VM_DIM_TERMS * VM_DIM_TERMS, c, m);
            if (s) return s;
        }
    }
    return finish(out, acc, n);
}

/* a / m for monomials: true when every symbol of m occurs in a (with multiplicity). */
static bool mono_div(int8_t *out, const int8_t *a, const int8_t *m) {
    int8_t rest[VM_DIM_DEGREE];
    memset(rest, -1, sizeof rest);
    int da = mono_degree(a), dm = mono_degree(m), k = 0, j = 0;
    for (int i = 0; i < da; i++) {
        if (j < dm && a[i] == m[j]) j++;
        else rest[k++] = a[i];
    }
    if (j != dm) return false;
    memcpy(out, rest, VM_DIM_DEGREE);
    return true;
}

enum vm_status vm_dim_div(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b) {
    if (b->n == 0) return VM_EUNSUPPORTED;
    if (b->n == 1) {
        /* division by a monomial: termwise */
        struct vm_dim_term acc[VM_DIM_TERMS];
        int n = 0;
        for (int i = 0; i < a->n; i++) {
            int8_t m[VM_DIM_DEGREE];
            if (!mono_div(m, a->t[i].sym, b->t[0].sym)) return VM_EUNSUPPORTED;
            if (a->t[i].coef % b->t[0].coef != 0) return VM_EUNSUPPORTED;
            enum vm_status s = acc_add(acc, &n, VM_DIM_TERMS, a->t[i].coef / b->t[0].coef, m);
            if (s) return s;
        }
        return finish(out, acc, n);
    }
    /* a = q * b with q a monomial: guess q from the leading terms, then verify */
    if (a->n == 0) {
        *out = vm_dim_const(0);
        return VM_OK;
    }
    struct vm_dim lead_a = vm_dim_const(1), lead_b = vm_dim_const(1), q, check;
    lead_a.t[0] = a->t[0];
    lead_b.t[0] = b->t[0];
    if (vm_dim_div(&q, &lead_a, &lead_b)) return VM_EUNSUPPORTED;
    if (vm_dim_mul(&check, &q, b) || !vm_dim_eq(&check, a)) return VM_EUNSUPPORTED;
    *out = q;
    return VM_OK;
}

enum vm_status vm_dim_floordiv(struct vm_dim *out, const struct vm_dim *a, int64_t b) {
    if (b == 0) return VM_EUNSUPPORTED;
    if (vm_dim_is_const(a)) {
        int64_t x = vm_dim_value(a), q = x / b;
        if ((x % b != 0) && ((x < 0) != (b < 0))) q--;
        *out = vm_dim_const(q);
        return VM_OK;
    }
    struct vm_dim bd = vm_dim_const(b);
    return vm_dim_div(out, a, &bd);
}

enum vm_status vm_dim_binop(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b,
                            char op) {
    switch (op) {
    case '+': return vm_dim_add(out, a, b);
    case '-': return vm_dim_sub(out, a, b);
    case '*': return vm_dim_mul(out, a, b);
    case '/':
        if (vm_dim_is_const(b)) return vm_dim_floordiv(out, a, vm_dim_value(b));
        return vm_dim_div(out, a, b);
    default: return VM_EUNSUPPORTED;
    }
}

int64_t vm_dim_eval(const struct vm_dim *d, const int64_t *symvals) {
    int64_t sum = 0;
    for (int i = 0; i < d->n; i++) {
        int64_t v = d->t[i].coef;
        for (int k = 0; k < VM_DIM_DEGREE && d->t[i].sym[k] >= 0; k++) v *= symvals[d->t[i].sym[k]];
        sum += v;
    }
    return sum;
}

int vm_dim_sign(const struct vm_dim *d) {
    if (d->n == 0) return 0;
    /* With every symbol >= 1, a polynomial whose non-constant coefficients share a sign and whose
     * value at all-ones has that sign keeps it everywhere. */
    int64_t at_ones = 0;
    bool all_pos = true, all_neg = true;
    for (int i = 0; i < d->n; i++) {
        at_ones += d->t[i].coef;
        if (d->t[i].sym[0] >= 0) {
            if (d->t[i].coef < 0) all_pos = false;
            if (d->t[i].coef > 0) all_neg = false;
        }
    }
    if (all_pos && at_ones > 0) return 1;
    if (all_neg && at_ones < 0) return -1;
    return 0;
}

char *vm_dim_str(const struct vm_dim *d, const char *const *names, char *buf, size_t len) {
    size_t pos = 0;
    buf[0] = 0;
    if (d->n == 0) {
        snprintf(buf, len, "0");
        return buf;
    }
    for (int i = 0; i < d->n && pos < len; i++) {
        int64_t c = d->t[i].coef;
        bool has_sym = d->t[i].sym[0] >= 0;
        const char *sign = c < 0 ? (i ? " - " : "-") : (i ? " + " : "");
        int64_t mag = c < 0 ? -c : c;
        int w;
        if (has_sym && mag == 1) w = snprintf(buf + pos, len - pos, "%s", sign);
        else w = snprintf(buf + pos, len - pos, "%s%lld%s", sign, (long long)mag, has_sym ? "*" : "");
        if (w < 0) break;
        pos += (size_t)w;
        for (int k = 0; k < VM_DIM_DEGREE && d->t[i].sym[k] >= 0 && pos < len; k++) {
            int s = d->t[i].sym[k];
            if (names) w = snprintf(buf + pos, len - pos, "%s%s", k ? "*" : "", names[s]);
            else w = snprintf(buf + pos, len - pos, "%ss%d", k ? "*" : "", s);
            if (w < 0) break;
            pos += (size_t)w;
        }
    }
    return buf;
}
