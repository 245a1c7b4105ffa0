/* vectors: word2vec / GloVe / fastText readers for embedding rows (see vectors.h). One pass over
 * the file; the table is written in place, nothing else grows with the file. */
#include "vectors.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>
#include <zlib.h>

#include "rt.h"

#define MAX_DIM (1 << 20)
#define MAX_WORD 4096

bool vm_vectors_parse_format(const char *s, enum vm_vectors_format *out) {
    if (!strcmp(s, "auto")) *out = VM_VECTORS_AUTO;
    else if (!strcmp(s, "text")) *out = VM_VECTORS_TEXT;
    else if (!strcmp(s, "binary")) *out = VM_VECTORS_BINARY;
    else return false;
    return true;
}

/* A vocabulary entry whose lower-cased form differs from it (only those need the second lookup). */
struct lower_ent {
    char *lw;
    int32_t id;
};

struct rd {
    gzFile f;
    const char *path;
    const struct vm_vocab *v;
    const struct vm_vectors_opts *o;
    float *table;
    uint8_t *found;
    struct vm_vectors_info *info;
    struct vm_error *err;
    char *line;
    size_t cap;
    int64_t lineno;     /* text: line of the row at hand */
    int64_t pos;        /* binary: uncompressed byte offset */
    int64_t count;      /* header's count, -1 without a header */
    const char *dim_from; /* "the header" / "line 1" */
    struct lower_ent *low;
    int32_t n_low;
    float *row;         /* [dim] */
    int64_t file_size;
    double t_last;
    bool shown;         /* a progress line was printed */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(struct rd *r, bool done) {
    if (!r->o || !r->o->progress) return;
    if (!done && (r->info->rows & 0xffff)) return;
    double t = now_s();
    if (!done && t - r->t_last < (r->o->progress_tty ? 0.5 : 10.0)) return;
    if (done && !r->shown) return; /* a quick read needs no progress line */
    r->shown = true;
    r->t_last = t;
    z_off_t off = gzoffset(r->f); /* compressed bytes consumed */
    double pct = r->file_size > 0 && off >= 0 ? 100.0 * (double)off / (double)r->file_size : 0;
    if (pct > 100) pct = 100;
    fprintf(r->o->progress, "%svectors: %s: %lld rows (%.0f%%), %d of %d words found%s", r->o->progress_tty ? "\r" : "", r->path,
            (long long)r->info->rows, done ? 100.0 : pct, r->info->n_exact + r->info->n_lower, r->info->n_words,
            r->o->progress_tty && !done ? "" : "\n");
    fflush(r->o->progress);
}

/* Unicode lower case of s (malloc'd); bytes that are not UTF-8 are kept, ASCII ones lowered. */
static char *lower_utf8(const char *s, struct vm_error *err) {
    size_t n = strlen(s);
    char *out = vm_malloc(4 * n + 1, err);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) {
            out[o++] = (char)tolower((unsigned char)s[i]);
            i++;
            continue;
        }
        o += (size_t)utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *)out + o);
        i += (size_t)k;
    }
    out[o] = 0;
    return out;
}

static int cmp_lower(const void *a, const void *b) {
    const struct lower_ent *x = a, *y = b;
    int c = strcmp(x->lw, y->lw);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

static bool skipped(const struct vm_vocab *v, int32_t id) { return id == v->pad_id || id == v->unk_id; }

static enum vm_status build_lower(struct rd *r) {
    const struct vm_vocab *v = r->v;
    r->low = vm_malloc(sizeof *r->low * (size_t)(v->n ? v->n : 1), r->err);
    if (!r->low) return VM_ENOMEM;
    for (int32_t id = 0; id < v->n; id++) {
        if (skipped(v, id)) continue;
        r->info->n_words++;
        char *lw = lower_utf8(v->tokens[id], r->err);
        if (!lw) return VM_ENOMEM;
        if (!strcmp(lw, v->tokens[id])) {
            free(lw);
            continue;
        }
        r->low[r->n_low++] = (struct lower_ent){lw, id};
    }
    qsort(r->low, (size_t)r->n_low, sizeof *r->low, cmp_lower);
    return VM_OK;
}

/* Does the file's word (a row) serve any vocabulary entry? Then the row is parsed and stored. */
static bool wanted(const struct rd *r, const char *word, int32_t *exact, int32_t *lo, int32_t *hi) {
    int32_t id = vm_vocab_find(r->v, word);
    *exact = id >= 0 && !skipped(r->v, id) && r->found[id] != VM_VECTOR_EXACT ? id : -1;
    *lo = *hi = 0;
    if (r->n_low) {
        int32_t a = 0, b = r->n_low; /* first entry with lw >= word */
        while (a < b) {
            int32_t m = a + (b - a) / 2;
            if (strcmp(r->low[m].lw, word) < 0) a = m + 1;
            else b = m;
        }
        *lo = a;
        while (b < r->n_low && !strcmp(r->low[b].lw, word)) b++;
        *hi = b;
        for (int32_t k = a; k < b; k++)
            if (r->found[r->low[k].id] == VM_VECTOR_MISSING) return true;
    }
    return *exact >= 0;
}

static void store(struct rd *r, int32_t exact, int32_t lo, int32_t hi) {
    size_t d = (size_t)r->info->dim;
    if (exact >= 0) {
        if (r->found[exact] == VM_VECTOR_LOWER) r->info->n_lower--;
        r->found[exact] = VM_VECTOR_EXACT;
        r->info->n_exact++;
        if (r->table) memcpy(r->table + (size_t)exact * d, r->row, d * sizeof(float));
    }
    for (int32_t k = lo; k < hi; k++) {
        int32_t id = r->low[k].id;
        if (r->found[id] != VM_VECTOR_MISSING) continue;
        r->found[id] = VM_VECTOR_LOWER;
        r->info->n_lower++;
        if (r->table) memcpy(r->table + (size_t)id * d, r->row, d * sizeof(float));
    }
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* Fields of s separated by spaces/tabs (a trailing space, as fastText writes, is no field). */
static int64_t count_fields(const char *s) {
    int64_t n = 0;
    while (*s) {
        while (is_space(*s)) s++;
        if (!*s) break;
        n++;
        while (*s && !is_space(*s)) s++;
    }
    return n;
}

static bool has_binary_bytes(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
    }
    return false;
}

static bool parse_i64(const char *s, const char *e, int64_t *out) {
    if (s == e || e - s > 18) return false;
    int64_t v = 0;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

/* A printable excerpt of s for messages. */
static const char *excerpt(const char *s, size_t len, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (o + 4 < cap && len > 0 && o >= cap - 8) memcpy(buf + o, "...", 4), o += 3;
    buf[o < cap ? o : cap - 1] = 0;
    return buf;
}

/* The D values after the word of a text row into r->row. */
static enum vm_status parse_values(struct rd *r, const char *word, char *p) {
    for (int32_t k = 0; k < r->info->dim; k++) {
        while (is_space(*p)) p++;
        char *end;
        errno = 0;
        float x = strtof(p, &end);
        if (end == p || (*end && !is_space(*end))) {
            char buf[48];
            const char *q = p;
            while (*q && !is_space(*q)) q++;
            return vm_errorf(r->err, VM_EFORMAT, "%s:%lld: value %d of '%s' is not a number ('%s')", r->path, (long long)r->lineno,
                             k + 1, word, excerpt(p, (size_t)(q - p), buf, sizeof buf));
        }
        if (!isfinite(x)) {
            char buf[48];
            return vm_errorf(r->err, VM_EFORMAT, "%s:%lld: value %d of '%s' is not finite ('%s')", r->path, (long long)r->lineno,
                             k + 1, word, excerpt(p, (size_t)(end - p), buf, sizeof buf));
        }
        r->row[k] = x;
        p = end;
    }
    return VM_OK;
}

static enum vm_status check_dim(struct rd *r, int64_t dim, const char *where) {
    if (dim < 1 || dim > MAX_DIM)
        return vm_errorf(r->err, VM_EFORMAT, "%s: %s gives %lld dimensions (1 to %d expected)", r->path, where, (long long)dim, MAX_DIM);
    if (r->o && r->o->dim > 0 && dim != r->o->dim)
        return vm_errorf(r->err, VM_EINVAL, "%s: the vectors have %lld dimensions (%s), but %s has %d", r->path, (long long)dim, where,
                         r->o->dim_what ? r->o->dim_what : "the embedding", r->o->dim);
    r->info->dim = (int32_t)dim;
    r->row = vm_malloc(sizeof(float) * (size_t)dim, r->err);
    return r->row ? VM_OK : VM_ENOMEM;
}

/* One text row (line r->lineno, in r->line, length len). */
static enum vm_status text_row(struct rd *r, size_t len) {
    char *line = r->line;
    if (r->count >= 0 && r->info->rows >= r->count)
        return vm_errorf(r->err, VM_EFORMAT, "%s:%lld: more rows than the header's count of %lld", r->path, (long long)r->lineno,
                         (long long)r->count);
    char *w = line;
    while (*w && !is_space(*w)) w++;
    int64_t nv = count_fields(w);
    if (nv != r->info->dim || w == line) {
        char buf[64];
        if (has_binary_bytes(line, len) || strlen(line) != len)
            return vm_errorf(r->err, VM_EFORMAT, "%s:%lld: binary bytes in a text row ('%s'): a word2vec binary file read as text?%s",
                             r->path, (long long)r->lineno, excerpt(line, len < 24 ? len : 24, buf, sizeof buf),
                             r->o && r->o->format == VM_VECTORS_TEXT ? " (drop --vectors-format text)" : "");
        if (w == line)
            return vm_errorf(r->err, VM_EFORMAT, "%s:%lld: a row starts with whitespace (expected 'word v1 ... v%d')", r->path,
                             (long long)r->lineno, r->info->dim);
        *w = 0;
        return vm_errorf(r->err, VM_EFORMAT, "%s:%lld: '%s' has %lld values, expected %d (as %s says)", r->path, (long long)r->lineno,
                         excerpt(line, (size_t)(w - line), buf, sizeof buf), (long long)nv, r->info->dim, r->dim_from);
    }
    char *vals = w + 1;
    *w = 0;
    int32_t exact, lo, hi;
    if (wanted(r, line, &exact, &lo, &hi)) {
        enum vm_status s = parse_values(r, line, vals);
        if (s) return s;
        store(r, exact, lo, hi);
    }
    r->info->rows++;
    progress(r, false);
    return VM_OK;
}

/* With a header: is the row after it text? Looks at up to one row's worth of bytes past it. */
static enum vm_status first_row_is_text(struct rd *r, bool *text) {
    z_off_t at = gztell(r->f);
    size_t want = (size_t)r->info->dim * 40 + 4096; /* a row of text, as far as 64 KiB show it */
    if (want > 1 << 16) want = 1 << 16;
    char *buf = vm_malloc(want + 1, r->err);
    if (!buf) return VM_ENOMEM;
    int got = gzread(r->f, buf, (unsigned)want);
    if (got < 0) {
        free(buf);
        int e;
        return vm_errorf(r->err, VM_EIO, "%s: read error: %s", r->path, gzerror(r->f, &e));
    }
    buf[got] = 0;
    char *s = buf;
    while (*s == '\n' || *s == '\r') s++;
    char *nl = memchr(s, '\n', (size_t)(buf + got - s));
    if (!nl) nl = buf + got; /* a longer row, or the end of the file: judge the part seen */
    *text = false;
    if (!has_binary_bytes(s, (size_t)(nl - s)) && strlen(s) >= (size_t)(nl - s)) {
        *nl = 0;
        if (nl > s && nl[-1] == '\r') nl[-1] = 0;
        char *w = s;
        while (*w && !is_space(*w)) w++;
        if (w > s && count_fields(w) > 0) { /* text with the wrong count is text: text_row names the line */
            *text = true;
            for (char *p = w; *p && *text;) { /* every value a number */
                while (is_space(*p)) p++;
                if (!*p) break;
                char *end;
                strtod(p, &end);
                *text = end != p && (!*end || is_space(*end));
                p = end;
            }
        }
    }
    free(buf);
    if (gzseek(r->f, at, SEEK_SET) != at) return vm_errorf(r->err, VM_EIO, "%s: cannot seek back after the header", r->path);
    return VM_OK;
}

static enum vm_status read_text(struct rd *r, bool have_line, size_t len) {
    enum vm_status s = VM_OK;
    if (have_line) s = text_row(r, len);
    while (!s) {
        int got = vm_gz_getline(r->f, r->path, &r->line, &r->cap, &len, r->err);
        if (got < 0) return vm_error_prefix(r->err, "after line %lld", (long long)r->lineno);
        if (got == 0) break;
        r->lineno++;
        if (len == 0) continue;
        s = text_row(r, len);
    }
    return s;
}

static enum vm_status truncated(struct rd *r, const char *what) {
    return vm_errorf(r->err, VM_EFORMAT, "%s: byte offset %lld: the file ends inside %s (row %lld of the header's %lld): truncated?",
                     r->path, (long long)r->pos, what, (long long)r->info->rows + 1, (long long)r->count);
}

static enum vm_status read_binary(struct rd *r) {
    int32_t dim = r->info->dim;
    size_t nb = (size_t)dim * 4;
    uint8_t *raw = vm_malloc(nb, r->err);
    char *word = vm_malloc(MAX_WORD + 1, r->err);
    enum vm_status s = raw && word ? VM_OK : VM_ENOMEM;
    for (int64_t row = 0; !s && row < r->count; row++) {
        int c;
        while ((c = gzgetc(r->f)) == '\n' || c == '\r') r->pos++;
        int64_t word_at = r->pos;
        size_t n = 0;
        for (; c != -1 && c != ' ' && c != '\t'; c = gzgetc(r->f)) {
            r->pos++;
            if (c == 0 || n == MAX_WORD) {
                s = vm_errorf(r->err, VM_EFORMAT, "%s: byte offset %lld: %s in the word of row %lld: not a word2vec binary file?",
                              r->path, (long long)word_at, c == 0 ? "a NUL byte" : "over " "4096" " bytes without a space", (long long)row + 1);
                break;
            }
            word[n++] = (char)c;
        }
        if (s) break;
        if (c == -1) {
            s = truncated(r, "a word");
            break;
        }
        r->pos++;
        word[n] = 0;
        if (n == 0) {
            s = vm_errorf(r->err, VM_EFORMAT, "%s: byte offset %lld: row %lld has an empty word", r->path, (long long)word_at, (long long)row + 1);
            break;
        }
        int got = gzread(r->f, raw, (unsigned)nb);
        if (got < 0) {
            int e;
            s = vm_errorf(r->err, VM_EIO, "%s: read error at byte offset %lld: %s", r->path, (long long)r->pos, gzerror(r->f, &e));
            break;
        }
        if ((size_t)got < nb) {
            r->pos += got;
            s = truncated(r, "a vector");
            break;
        }
        int32_t exact, lo, hi;
        if (wanted(r, word, &exact, &lo, &hi)) {
            for (int32_t k = 0; k < dim; k++) {
                uint32_t u = (uint32_t)raw[4 * k] | (uint32_t)raw[4 * k + 1] << 8 | (uint32_t)raw[4 * k + 2] << 16 |
                             (uint32_t)raw[4 * k + 3] << 24; /* little-endian, whatever the host */
                float x;
                memcpy(&x, &u, 4);
                if (!isfinite(x)) {
                    s = vm_errorf(r->err, VM_EFORMAT, "%s: byte offset %lld: value %d of '%s' is not finite (%g)", r->path,
                                  (long long)r->pos + 4 * k, k + 1, word, (double)x);
                    break;
                }
                r->row[k] = x;
            }
            if (s) break;
            store(r, exact, lo, hi);
        }
        r->pos += (int64_t)nb;
        r->info->rows++;
        progress(r, false);
    }
    if (!s) { /* nothing but whitespace may follow the last row */
        int c;
        while ((c = gzgetc(r->f)) == '\n' || c == '\r' || c == ' ' || c == '\t') r->pos++;
        if (c != -1)
            s = vm_errorf(r->err, VM_EFORMAT, "%s: byte offset %lld: data after the header's %lld vectors", r->path, (long long)r->pos,
                          (long long)r->count);
        int e;
        const char *m = gzerror(r->f, &e);
        if (!s && e != Z_OK && e != Z_STREAM_END) s = vm_errorf(r->err, VM_EIO, "%s: read error: %s", r->path, m);
    }
    free(raw);
    free(word);
    return s;
}

/* Reads line 1: a `count dim` header, or the first text row (GloVe). */
static enum vm_status read_start(struct rd *r, bool *have_row, size_t *len) {
    int got = vm_gz_getline(r->f, r->path, &r->line, &r->cap, len, r->err);
    if (got < 0) return r->err->code;
    if (got == 0) return vm_errorf(r->err, VM_EFORMAT, "%s: the file is empty", r->path);
    r->lineno = 1;
    char *a = r->line;
    while (is_space(*a)) a++;
    char *ae = a;
    while (*ae && !is_space(*ae)) ae++;
    char *b = ae;
    while (is_space(*b)) b++;
    char *be = b;
    while (*be && !is_space(*be)) be++;
    char *rest = be;
    while (is_space(*rest)) rest++;
    int64_t count, dim;
    bool header = !*rest && parse_i64(a, ae, &count) && parse_i64(b, be, &dim);
    *have_row = false;
    if (header) {
        r->info->header = true;
        r->count = count;
        r->dim_from = "the header";
        if (count < 1) return vm_errorf(r->err, VM_EFORMAT, "%s:1: the header '%s' announces no vectors", r->path, r->line);
        return check_dim(r, dim, "the header");
    }
    if (!*rest && *b && parse_i64(a, ae, &count)) { /* "count something": a header gone wrong, not a 1-d row */
        char buf[64];
        return vm_errorf(r->err, VM_EFORMAT, "%s:1: the header should be 'count dim' (two positive integers), not '%s'", r->path,
                         excerpt(r->line, *len < 40 ? *len : 40, buf, sizeof buf));
    }
    if (r->o && r->o->format == VM_VECTORS_BINARY) {
        char buf[64];
        return vm_errorf(r->err, VM_EFORMAT, "%s:1: a word2vec binary file starts with a 'count dim' header line, not '%s'", r->path,
                         excerpt(r->line, *len < 40 ? *len : 40, buf, sizeof buf));
    }
    if (has_binary_bytes(r->line, *len) || strlen(r->line) != *len) {
        char buf[64];
        return vm_errorf(r->err, VM_EFORMAT, "%s:1: binary bytes in the first line ('%s'): not a vectors file, or a header is missing",
                         r->path, excerpt(r->line, *len < 24 ? *len : 24, buf, sizeof buf));
    }
    int64_t fields = count_fields(r->line);
    if (fields < 2 || is_space(r->line[0])) {
        char buf[64];
        return vm_errorf(r->err, VM_EFORMAT, "%s:1: expected a 'count dim' header or a row 'word v1 ... vD', found '%s'", r->path,
                         excerpt(r->line, *len < 40 ? *len : 40, buf, sizeof buf));
    }
    r->count = -1;
    r->dim_from = "line 1";
    *have_row = true;
    return check_dim(r, fields - 1, "line 1");
}

enum vm_status vm_vectors_read(const char *path, const struct vm_vocab *v, const struct vm_vectors_opts *o, float *table,
                               uint8_t *found, struct vm_vectors_info *info, struct vm_error *err) {
    memset(info, 0, sizeof *info);
    struct rd r = {.path = path, .v = v, .o = o, .table = table, .found = found, .info = info, .err = err, .count = -1};
    struct stat st;
    if (stat(path, &st)) return vm_errorf(err, VM_EIO, "cannot open vectors file '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return vm_errorf(err, VM_EIO, "vectors file '%s' is a directory", path);
    r.file_size = (int64_t)st.st_size;
    FILE *probe = fopen(path, "rb");
    if (!probe) return vm_errorf(err, VM_EIO, "cannot open vectors file '%s': %s", path, strerror(errno));
    fclose(probe);
    if (!(r.f = gzopen(path, "rb"))) return vm_errorf(err, VM_EIO, "cannot open vectors file '%s'", path);
    gzbuffer(r.f, 1 << 17);
    r.t_last = now_s();
    bool have_row = false;
    size_t len = 0;
    enum vm_status s = build_lower(&r);
    if (!s) s = read_start(&r, &have_row, &len);
    if (!s && info->header) {
        bool text = false;
        s = first_row_is_text(&r, &text);
        enum vm_vectors_format f = o ? o->format : VM_VECTORS_AUTO;
        if (!s && f == VM_VECTORS_BINARY && text)
            s = vm_errorf(err, VM_EFORMAT, "%s: byte offset %lld: the first row reads as text ('word v1 ... v%d'), not binary floats: "
                          "a text file read as binary? (drop --vectors-format binary)", path, (long long)gztell(r.f), info->dim);
        info->format = (f == VM_VECTORS_AUTO ? text : f == VM_VECTORS_TEXT) ? VM_VECTORS_TEXT : VM_VECTORS_BINARY;
        r.pos = (int64_t)gztell(r.f);
    } else if (!s) {
        info->format = VM_VECTORS_TEXT;
    }
    if (!s) s = info->format == VM_VECTORS_BINARY ? read_binary(&r) : read_text(&r, have_row, len);
    if (!s && r.count >= 0 && info->rows < r.count)
        s = vm_errorf(err, VM_EFORMAT, "%s:%lld: the header announces %lld vectors, the file ends after %lld: truncated?", path,
                      (long long)r.lineno, (long long)r.count, (long long)info->rows);
    if (!s) progress(&r, true);
    else if (o && o->progress && o->progress_tty) fputc('\n', o->progress);
    gzclose(r.f);
    free(r.line);
    free(r.row);
    for (int32_t k = 0; k < r.n_low; k++) free(r.low[k].lw);
    free(r.low);
    return s;
}

void vm_vectors_fill_missing(float *table, int64_t rows, int32_t dim, const uint8_t *found, int64_t n_found, int32_t pad_id,
                             double a, uint64_t seed) {
    const uint64_t stream = 0x6f6f762d696e6974ull; /* "oov-init" */
    for (int64_t id = 0; id < rows; id++) {
        float *row = table + (size_t)id * (size_t)dim;
        if (id == pad_id) {
            memset(row, 0, sizeof(float) * (size_t)dim);
            continue;
        }
        if (id < n_found && found[id] != VM_VECTOR_MISSING) continue;
        for (int32_t k = 0; k < dim; k++)
            row[k] = (float)((2.0 * vm_rt_rng_uniform(seed, (uint64_t)id, stream, (uint64_t)k) - 1.0) * a);
    }
}
