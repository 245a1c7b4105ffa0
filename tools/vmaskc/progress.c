/* progress.c: an explained example as bytes, and progress.bin's records (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/vm_base.h"

static void strings_free(char **v, int32_t n) {
    for (int32_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

void xex_free(struct xex *e) {
    free(e->ids);
    strings_free(e->tokens, e->n);
    free(e->probs);
    for (int m = 0; m < N_METHODS; m++) {
        free(e->w[m]);
        free(e->ww[m]);
    }
    free(e->word_of);
    strings_free(e->words, e->n_words);
    free(e->match);
}

/* ---- writing ---- */

static void put_strings(struct sbuf *b, char *const *v, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(v[i]);
        sb_put(b, &len, sizeof len);
        sb_put(b, v[i], len);
    }
}

/* presence flag, then n elements */
static void put_opt(struct sbuf *b, const void *v, size_t elem, int32_t n) {
    uint8_t has = v != NULL;
    sb_put(b, &has, 1);
    if (has) sb_put(b, v, elem * (size_t)n);
}

void xex_pack(struct sbuf *b, const struct xex *e, int64_t C, int32_t kmax) {
    sb_put(b, &e->n, sizeof e->n);
    sb_put(b, e->ids, sizeof(int32_t) * (size_t)e->n);
    put_strings(b, e->tokens, e->n);
    put_opt(b, e->word_of, sizeof(int32_t), e->n);
    sb_put(b, &e->n_words, sizeof e->n_words);
    if (e->word_of) put_strings(b, e->words, e->n_words);
    for (int m = 0; m < N_METHODS; m++) {
        put_opt(b, e->w[m], sizeof(float), e->n);
        put_opt(b, e->ww[m], sizeof(float), e->n_words > 0 ? e->n_words : 1);
    }
    sb_put(b, &e->pred, sizeof e->pred);
    put_opt(b, e->probs, sizeof(float), (int32_t)C);
    sb_put(b, &e->lime_intercept, sizeof e->lime_intercept);
    sb_put(b, &e->lime_score, sizeof e->lime_score);
    sb_put(b, &e->lime_d, sizeof e->lime_d);
    sb_put(b, &e->lime_seed, sizeof e->lime_seed);
    sb_put(b, &e->shap_seed, sizeof e->shap_seed);
    sb_put(b, e->steps, sizeof e->steps);
    for (int m = 0; m < N_METHODS; m++) /* the drops that exist (at most K each) */
        sb_put(b, e->delta[m], sizeof(double) * (size_t)(e->steps[m] > 0 && e->steps[m] <= MAX_AOPC_K ? e->steps[m] : 0));
    put_opt(b, e->match, 1, kmax);
}

/* ---- reading ---- */

struct unpacker {
    const uint8_t *p, *end;
    bool bad;
};

static size_t left(const struct unpacker *u) { return (size_t)(u->end - u->p); }

static void get(struct unpacker *u, void *v, size_t n) {
    if (u->bad || left(u) < n) {
        u->bad = true;
        if (n) memset(v, 0, n);
        return;
    }
    if (n) memcpy(v, u->p, n);
    u->p += n;
}

/* presence flag, then n elements; NULL when absent or when the bytes cannot hold them */
static void *get_opt(struct unpacker *u, size_t elem, int32_t n) {
    uint8_t has = 0;
    get(u, &has, 1);
    if (!has || u->bad) return NULL;
    if (n < 0 || has != 1 || left(u) / elem < (size_t)n) {
        u->bad = true;
        return NULL;
    }
    void *v = malloc(elem * (size_t)n + 1);
    if (!v) u->bad = true;
    else get(u, v, elem * (size_t)n);
    return v;
}

static char **get_strings(struct unpacker *u, int32_t n) {
    char **v = calloc((size_t)(n > 0 ? n : 0) + 1, sizeof *v);
    if (!v) {
        u->bad = true;
        return NULL;
    }
    for (int32_t i = 0; i < n && !u->bad; i++) {
        uint32_t len = 0;
        get(u, &len, sizeof len);
        if (u->bad || left(u) < len || !(v[i] = malloc((size_t)len + 1))) {
            u->bad = true;
            break;
        }
        get(u, v[i], len);
        v[i][len] = 0;
    }
    return v;
}

bool xex_unpack(const uint8_t **p, const uint8_t *end, struct xex *e, int64_t C, int32_t kmax) {
    struct unpacker u = {*p, end, false};
    get(&u, &e->n, sizeof e->n);
    /* every token is at least its 4-byte id and its string's 4-byte length: a count the bytes
     * cannot hold is a damaged record, refused before allocating */
    if (e->n < 0 || (size_t)e->n > left(&u) / 8) u.bad = true;
    if (u.bad) {
        e->n = 0;
        return false;
    }
    e->ids = malloc(sizeof(int32_t) * (size_t)e->n + 1);
    if (!e->ids) u.bad = true;
    else get(&u, e->ids, sizeof(int32_t) * (size_t)e->n);
    e->tokens = get_strings(&u, e->n);
    e->word_of = get_opt(&u, sizeof(int32_t), e->n);
    get(&u, &e->n_words, sizeof e->n_words);
    if (e->n_words < 0 || (size_t)e->n_words > left(&u) / 4) {
        u.bad = true;
        e->n_words = 0;
    }
    if (e->word_of && !u.bad) e->words = get_strings(&u, e->n_words);
    for (int m = 0; m < N_METHODS; m++) {
        e->w[m] = get_opt(&u, sizeof(float), e->n);
        e->ww[m] = get_opt(&u, sizeof(float), e->n_words > 0 ? e->n_words : 1);
    }
    get(&u, &e->pred, sizeof e->pred);
    e->probs = get_opt(&u, sizeof(float), (int32_t)C);
    get(&u, &e->lime_intercept, sizeof e->lime_intercept);
    get(&u, &e->lime_score, sizeof e->lime_score);
    get(&u, &e->lime_d, sizeof e->lime_d);
    get(&u, &e->lime_seed, sizeof e->lime_seed);
    get(&u, &e->shap_seed, sizeof e->shap_seed);
    get(&u, e->steps, sizeof e->steps);
    for (int m = 0; m < N_METHODS; m++) {
        if (e->steps[m] < 0 || e->steps[m] > MAX_AOPC_K) u.bad = true;
        if (!u.bad) get(&u, e->delta[m], sizeof(double) * (size_t)e->steps[m]);
    }
    e->match = get_opt(&u, 1, kmax);
    *p = u.p;
    return !u.bad;
}

bool xex_sane(const struct xex *e, const struct xex_expect *x) {
    if (e->n <= 0 || !e->ids || !e->tokens || !e->probs || e->pred < 0 || e->pred >= x->n_classes) return false;
    for (int32_t i = 0; i < e->n; i++) {
        if (e->ids[i] < 0 || e->ids[i] >= x->vocab_n || !e->tokens[i]) return false;
        if (e->word_of && (e->word_of[i] < -1 || e->word_of[i] >= e->n_words)) return false;
    }
    for (int32_t w = 0; e->word_of && w < e->n_words; w++)
        if (!e->words || !e->words[w]) return false;
    for (int m = 0; m < N_METHODS; m++)
        if ((e->w[m] != NULL) != x->method[m] || (e->word_of && (e->ww[m] != NULL) != (e->w[m] != NULL))) return false;
    if ((e->match != NULL) != x->posthoc) return false;
    return true;
}

/* ---- progress.bin records ---- */

bool progress_write(FILE *f, const struct progress_record *r, const uint8_t *bytes, uint32_t len) {
    uint32_t magic = PROGRESS_RECORD;
    uint64_t h = vm_fnv1a(VM_FNV1A_INIT, bytes, len);
    return fwrite(&magic, sizeof magic, 1, f) == 1 && fwrite(&r->model, sizeof r->model, 1, f) == 1 &&
           fwrite(&r->index, sizeof r->index, 1, f) == 1 && fwrite(r->secs, sizeof r->secs, 1, f) == 1 &&
           fwrite(r->passes, sizeof r->passes, 1, f) == 1 && fwrite(&r->texts, sizeof r->texts, 1, f) == 1 &&
           fwrite(&r->runs, sizeof r->runs, 1, f) == 1 && fwrite(&len, sizeof len, 1, f) == 1 && fwrite(bytes, 1, len, f) == len &&
           fwrite(&h, sizeof h, 1, f) == 1 && fflush(f) == 0;
}

/* the cost figures a record adds to the report's table: finite, not negative */
static bool costs_sane(const struct progress_record *r) {
    for (int m = 0; m < N_METHODS; m++)
        if (!isfinite(r->secs[m]) || r->secs[m] < 0 || r->passes[m] < 0) return false;
    return r->texts >= 0 && r->runs >= 0;
}

int progress_read(FILE *f, int n_models, int64_t n_sel, const struct xex_expect *x, int32_t kmax, struct progress_record *r) {
    uint32_t magic = 0, len = 0;
    uint64_t h = 0;
    memset(r, 0, sizeof *r);
    if (fread(&magic, sizeof magic, 1, f) != 1) return 0;
    if (magic != PROGRESS_RECORD || fread(&r->model, sizeof r->model, 1, f) != 1 || fread(&r->index, sizeof r->index, 1, f) != 1 ||
        fread(r->secs, sizeof r->secs, 1, f) != 1 || fread(r->passes, sizeof r->passes, 1, f) != 1 || fread(&r->texts, sizeof r->texts, 1, f) != 1 ||
        fread(&r->runs, sizeof r->runs, 1, f) != 1 || fread(&len, sizeof len, 1, f) != 1 || r->model < 0 || r->model >= n_models ||
        r->index < 0 || r->index >= n_sel || !costs_sane(r))
        return 0;
    /* a length the rest of the file cannot hold is damage: refused before allocating it */
    long pos = ftell(f), end = -1;
    if (pos >= 0 && fseek(f, 0, SEEK_END) == 0) end = ftell(f);
    if (end < 0 || fseek(f, pos, SEEK_SET) != 0 || (uint64_t)len + sizeof h > (uint64_t)(end - pos)) return 0;
    uint8_t *buf = malloc((size_t)len + 1);
    if (!buf) return -1;
    bool whole = fread(buf, 1, len, f) == len && fread(&h, sizeof h, 1, f) == 1 && h == vm_fnv1a(VM_FNV1A_INIT, buf, len);
    const uint8_t *p = buf;
    bool ok = whole && xex_unpack(&p, buf + len, &r->e, x[r->model].n_classes, kmax) && p == buf + len && xex_sane(&r->e, &x[r->model]);
    free(buf);
    if (!ok) {
        xex_free(&r->e);
        memset(&r->e, 0, sizeof r->e);
        return 0;
    }
    return 1;
}

void progress_first_difference(const char *a, const char *b, char *out, size_t n) {
    while (*a && *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la)) {
            snprintf(out, n, "'%.*s' there, '%.*s' now", (int)(la > 200 ? 200 : la), a, (int)(lb > 200 ? 200 : lb), b);
            return;
        }
        a += la + (ea != NULL);
        b += lb + (eb != NULL);
    }
    snprintf(out, n, "%s", *a ? "it has more settings" : "it ends early");
}
