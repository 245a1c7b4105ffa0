/* test_report: the static HTML report (tools/vmaskc/report.c) built from synthetic records.
 *
 *   test_report [OUTDIR]
 *
 * Writes, into OUTDIR (kept) or a temporary directory (removed):
 *   nasty.html   two models, three methods, 20 texts whose tokens hold markup, entities, quotes,
 *                unicode, invalid UTF-8 and control bytes; NaN values; 5000 words; all curves
 *   demo.html    realistic-looking base vs VMASK comparison (synthetic numbers; docs/report-screenshot.png)
 *   minimal.html one model, one method, no curves, no words, NULL fields
 *   empty.html   nothing but a title
 *   big.html     1000 texts x 2 models x 3 methods (size and time bound)
 * and checks each: no script, nothing from the network, every element closed and nested right (the
 * markup is polyglot, so void elements must be self-closed), only the five XML entities, all text
 * escaped, each section present exactly when its data is. tests/report/validate.sh runs real
 * validators over the same files. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/vm_base.h"
#include "../../tools/vmaskc/report.h"
#include "vmtest.h"

/* ---------------------------------------------------------------------------------------------- */
/* checks over the produced markup */

static const char *const VOID_ELEMENTS[] = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                            "link", "meta", "source", "track", "wbr", NULL};

static bool is_void(const char *name) {
    for (int i = 0; VOID_ELEMENTS[i]; i++)
        if (!strcmp(VOID_ELEMENTS[i], name)) return true;
    return false;
}

/* Tag balance, quoting and entity check. Returns NULL when fine, else a message in why. */
static const char *check_markup(const char *h, char *why, size_t wn) {
    char stack[64][16];
    int depth = 0;
    int line = 1;
    const char *p = h;
    if (strncmp(p, "<!DOCTYPE html>", 15)) return "missing <!DOCTYPE html>";
    p += 15;
    while (*p) {
        if (*p == '\n') line++;
        if (*p == '&') {
            static const char *const ok[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;", NULL};
            bool good = false;
            for (int i = 0; ok[i]; i++)
                if (!strncmp(p, ok[i], strlen(ok[i]))) good = true;
            if (!good) {
                snprintf(why, wn, "line %d: bare or unknown entity '%.10s'", line, p);
                return why;
            }
            p++;
            continue;
        }
        if (*p == '>') {
            snprintf(why, wn, "line %d: raw '>' in text", line);
            return why;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        if (!strncmp(p, "<!--", 4)) {
            const char *e = strstr(p, "-->");
            if (!e) return "unterminated comment";
            p = e + 3;
            continue;
        }
        bool closing = p[1] == '/';
        const char *n = p + 1 + closing;
        char name[16];
        size_t len = 0;
        while (isalnum((unsigned char)n[len]) && len < sizeof name - 1) {
            name[len] = (char)tolower((unsigned char)n[len]);
            len++;
        }
        name[len] = 0;
        if (!len) {
            snprintf(why, wn, "line %d: '<' that opens no tag: '%.12s'", line, p);
            return why;
        }
        /* scan to the end of the tag, honouring quoted attribute values */
        const char *q = n + len;
        char quote = 0;
        while (*q && (quote || *q != '>')) {
            if (*q == '\n') line++;
            if (quote) {
                if (*q == quote) quote = 0;
                else if (*q == '<') {
                    snprintf(why, wn, "line %d: raw '<' in an attribute of <%s>", line, name);
                    return why;
                }
            } else if (*q == '"' || *q == '\'') {
                quote = *q;
            } else if (*q == '=' && q[1] != '"') {
                snprintf(why, wn, "line %d: unquoted attribute in <%s>", line, name);
                return why;
            }
            q++;
        }
        if (!*q) return "unterminated tag";
        bool self = q[-1] == '/';
        p = q + 1;
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name)) {
                snprintf(why, wn, "line %d: </%s> closes <%s>", line, name, depth ? stack[depth - 1] : "(nothing)");
                return why;
            }
            depth--;
            continue;
        }
        if (is_void(name) && !self) {
            snprintf(why, wn, "line %d: void <%s> not self-closed (polyglot)", line, name);
            return why;
        }
        if (self) continue;
        if (!strcmp(name, "style")) { /* raw text: skip to its end tag */
            const char *e = strstr(p, "</style>");
            if (!e) return "unterminated <style>";
            for (const char *c = p; c < e; c++) {
                if (*c == '<' || *c == '&') return "'<' or '&' inside <style>";
                if (*c == '\n') line++;
            }
            p = e + 8;
            continue;
        }
        if (depth == 64) return "nesting too deep";
        snprintf(stack[depth++], sizeof stack[0], "%s", name);
    }
    if (depth) {
        snprintf(why, wn, "<%s> never closed (%d open)", stack[depth - 1], depth);
        return why;
    }
    return NULL;
}

static int count(const char *h, const char *needle) {
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = strstr(h, needle); p; p = strstr(p + nl, needle)) n++;
    return n;
}

static bool contains_ci(const char *h, const char *needle) {
    size_t nl = strlen(needle);
    for (const char *p = h; *p; p++)
        if (!strncasecmp(p, needle, nl)) return true;
    return false;
}

/* last c in [lo, p) */
static const char *strrchr_before(const char *lo, const char *p, char c) {
    while (p > lo && p[-1] != c) p--;
    return p > lo ? p - 1 : lo;
}

/* an on...="..." attribute inside a tag */
static bool has_event_attr(const char *h) {
    bool in_tag = false;
    for (const char *p = h; *p; p++) {
        if (*p == '<') in_tag = true;
        else if (*p == '>') in_tag = false;
        else if (in_tag && *p == ' ' && !strncasecmp(p + 1, "on", 2)) {
            const char *q = p + 3;
            while (isalpha((unsigned char)*q)) q++;
            if (*q == '=' && q > p + 3) return true;
        }
    }
    return false;
}

/* Reads the file; checks the invariants every report must hold. Caller frees. */
static char *load_and_check(const char *path) {
    uint8_t *data = NULL;
    size_t len = 0;
    struct vm_error err = {0};
    CHECK_MSG(vm_file_read(path, &data, &len, &err) == VM_OK, "%s: %s", path, err.msg);
    if (!data) return NULL;
    char *h = realloc(data, len + 1);
    VM_ASSERT(h);
    h[len] = 0;
    CHECK_MSG(strlen(h) == len, "%s: NUL byte in the report", path);
    char why[256];
    const char *bad = check_markup(h, why, sizeof why);
    CHECK_MSG(!bad, "%s: %s", path, bad);
    CHECK_MSG(!contains_ci(h, "<script"), "%s has a script", path);
    CHECK_MSG(!contains_ci(h, "javascript:"), "%s has javascript:", path);
    CHECK_MSG(!has_event_attr(h), "%s has an event handler attribute", path);
    CHECK_MSG(!contains_ci(h, "http://") && !contains_ci(h, "https://") && !contains_ci(h, "url(") &&
                  !contains_ci(h, "@import") && !contains_ci(h, " src=") && !contains_ci(h, "<link"),
              "%s refers to the network", path);
    CHECK(strstr(h, "<meta charset=\"utf-8\" />") != NULL);
    CHECK(count(h, "<html") == 1 && count(h, "</html>") == 1);
    return h;
}

/* ---------------------------------------------------------------------------------------------- */
/* synthetic data */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double rnd(void) { /* xorshift64*, uniform in [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Owns everything a synthetic report points at. */
struct pool {
    void **p;
    size_t n, cap;
};
static struct pool pool;
static void *pmalloc(size_t n) {
    if (pool.n == pool.cap) {
        pool.cap = pool.cap ? pool.cap * 2 : 1024;
        pool.p = realloc(pool.p, pool.cap * sizeof *pool.p);
        VM_ASSERT(pool.p);
    }
    void *x = calloc(1, n ? n : 1);
    VM_ASSERT(x);
    return pool.p[pool.n++] = x;
}
static char *pstrdup(const char *s) {
    char *d = pmalloc(strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}
static void pool_free(void) {
    for (size_t i = 0; i < pool.n; i++) free(pool.p[i]);
    free(pool.p);
    pool = (struct pool){0};
}

/* Splits text on spaces into pooled tokens. */
static const char *const *split(const char *text, int32_t *n_out) {
    char *copy = pstrdup(text);
    int32_t n = 0;
    for (char *t = copy; *t; t++)
        if (*t != ' ' && (t == copy || t[-1] == ' ')) n++;
    const char **tok = pmalloc(sizeof *tok * (size_t)(n ? n : 1));
    n = 0;
    for (char *t = strtok(copy, " "); t; t = strtok(NULL, " ")) tok[n++] = t;
    *n_out = n;
    return tok;
}

static double *curve(int n, double start, double end, double noise) {
    double *c = pmalloc(sizeof *c * (size_t)n);
    for (int k = 0; k < n; k++) {
        double t = n > 1 ? (double)k / (n - 1) : 1;
        c[k] = start + (end - start) * (1 - (1 - t) * (1 - t)) + noise * (rnd() - 0.5);
    }
    return c;
}

static const char *const NASTY_TOKENS[] = {
    "<script>alert(\"x\")</script>", "&amp;", "&", "\"quoted\"", "it's", "<b>bold</b>", "na\xc3\xafve",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80", "bad\xff\xfeutf8", "ctl\x01\x7f", "tab\there",
    "--> <!--", "]]>", "x>y", "truncated\xe2\x82", "##ing", "a_very_long_token_without_any_space_at_all_to_wrap",
    "<", ">", "'", "\"", "&#39;", "\xef\xb7\x90nonchar", "plain", "words", "movie", "good", "bad",
};
#define N_NASTY (int)(sizeof NASTY_TOKENS / sizeof NASTY_TOKENS[0])

static void fill_words(struct vm_report_model *md, int64_t n, bool with_nasty) {
    char buf[64];
    const char **w = pmalloc(sizeof *w * (size_t)n);
    float *q = pmalloc(sizeof *q * (size_t)n);
    int64_t *f = pmalloc(sizeof *f * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        if (with_nasty && i < N_NASTY) w[i] = NASTY_TOKENS[i];
        else {
            snprintf(buf, sizeof buf, "word%lld", (long long)i);
            w[i] = pstrdup(buf);
        }
        f[i] = (int64_t)(200000.0 / pow((double)i + 1, 1.07));
        q[i] = (float)(0.2 + 0.25 * rnd() + (i % 97 == 3 ? 0.5 : 0));
    }
    md->n_words = n;
    md->words = w;
    md->word_q = q;
    md->word_freq = f;
}

/* nasty.html: every hostile string we can think of, and NaNs. */
static void build_nasty(struct vm_report *r) {
    memset(r, 0, sizeof *r);
    r->title = "Report <title> & \"quotes\" 'single'";
    r->data_path = "data/test<&>.tsv";
    r->class_names[0] = "<neg>";
    r->class_names[1] = "pos & \"good\"";
    r->n_classes = 2;
    r->n_methods = 3;
    r->method_names[0] = "LIME";
    r->method_names[1] = "SampleShapley";
    r->method_names[2] = "mask q";
    r->n_models = 2;
    r->n_examples = 20;
    r->settings = "seed=1 samples=5000 <removal>=delete & more\nsecond line 'quoted'\t\"tab\"";
    for (int m = 0; m < 2; m++) {
        struct vm_report_model *md = &r->models[m];
        md->name = m ? "VMASK <b>" : "base & co";
        md->path = m ? "models/vmask\"x\".onnx" : "models/base<1>.onnx";
        md->accuracy = m ? 0.873 : NAN;
        struct vm_report_example *ex = pmalloc(sizeof *ex * 20);
        for (int i = 0; i < 20; i++) {
            struct vm_report_example *e = &ex[i];
            int n = 3 + (i * 7) % N_NASTY;
            const char **tok = pmalloc(sizeof *tok * (size_t)n);
            for (int t = 0; t < n; t++) tok[t] = NASTY_TOKENS[(i + t) % N_NASTY];
            e->index = 100 + i;
            e->text = "Original <text> with & and \"quotes\"\nand a newline \xe2\x9c\x93";
            e->n_tokens = n;
            e->tokens = tok;
            e->label = i % 3 == 2 ? -1 : i % 2;
            e->predicted = (i + m) % 2;
            float *pr = pmalloc(sizeof *pr * 2);
            pr[e->predicted] = 0.5f + 0.5f * (float)rnd();
            pr[1 - e->predicted] = 1 - pr[e->predicted];
            e->probs = pr;
            for (int k = 0; k < 3; k++) {
                if (k == 2 && m == 0) continue; /* the base model has no mask */
                if (k == 1 && i == 5) continue; /* a method not computed for one text */
                float *w = pmalloc(sizeof *w * (size_t)n);
                for (int t = 0; t < n; t++) w[t] = (float)(k == 2 ? rnd() : rnd() * 2 - 1);
                if (n > 2) w[1] = NAN;
                e->weights[k] = w;
            }
        }
        md->examples = ex;
        md->n_posthoc = 10;
        md->posthoc_acc = curve(10, m ? 0.7 : 0.5, m ? 0.95 : 0.8, 0.02);
        ((double *)md->posthoc_acc)[3] = NAN;
        md->n_aopc = 5;
        for (int k = 0; k < 2; k++) md->aopc[k] = curve(5, 0.02, m ? 0.3 : 0.2, 0.01);
        md->pearson = m ? -0.0234 : NAN;
    }
    fill_words(&r->models[1], 5000, true);
}

/* demo.html: what `vmaskc compare` shows on a sentiment data set (synthetic numbers). */
static const struct {
    const char *w;
    double s;
} LEXICON[] = {
    {"great", 0.9},     {"excellent", 1.0}, {"wonderful", 0.9}, {"best", 0.8},     {"beautiful", 0.8},
    {"funniest", 0.85}, {"delightful", 0.9}, {"heartwarming", 0.85}, {"brilliant", 0.95}, {"fine", 0.55},
    {"favorite", 0.8},  {"recommend", 0.7}, {"enjoyed", 0.75},  {"charming", 0.8},  {"moving", 0.6},
    {"bad", -0.9},      {"boring", -0.9},   {"worst", -1.0},    {"dull", -0.85},    {"poor", -0.8},
    {"waste", -0.9},    {"mess", -0.75},    {"tedious", -0.85}, {"awful", -0.95},   {"flat", -0.6},
    {"too", -0.25},     {"no", -0.3},       {"not", -0.45},     {"fails", -0.8},    {"predictable", -0.6},
};
#define N_LEX (int)(sizeof LEXICON / sizeof LEXICON[0])

static double lex(const char *w) {
    for (int i = 0; i < N_LEX; i++)
        if (!strcmp(LEXICON[i].w, w)) return LEXICON[i].s;
    return 0;
}

static const struct {
    const char *text;
    int label;
} DEMO_TEXTS[] = {
    {"Great story, great music. A heartwarming love story that's beautiful to watch and delightful to listen to. "
     "Too bad there is no soundtrack CD.", 1},
    {"Primary plot, primary direction, poor interpretation.", 0},
    {"John Leguizamo's Freak is one of the funniest one man shows I've ever seen. I recommend it to anyone with "
     "a good sense of humor.", 1},
    {"The plot is predictable and the jokes fall flat; a tedious mess from start to finish.", 0},
    {"An excellent cast and a brilliant script make this one of my favorite films of the year.", 1},
    {"I wanted to like it, but the pacing is dull and the ending fails to deliver.", 0},
    {"A charming, moving little film that I enjoyed far more than I expected.", 1},
    {"Not the worst movie ever made, but a waste of two hours and a fine cast.", 0},
};
#define N_DEMO (int)(sizeof DEMO_TEXTS / sizeof DEMO_TEXTS[0])

/* vmaskc-style tokens: lowercase, punctuation split off, "'s" kept as its own token */
static const char *tokenize_demo(const char *text) {
    size_t n = strlen(text);
    char *o = pmalloc(n * 3 + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == '\'' ) {
            o[j++] = ' ';
            o[j++] = c;
            continue;
        }
        if (ispunct((unsigned char)c)) {
            o[j++] = ' ';
            o[j++] = c;
            o[j++] = ' ';
            continue;
        }
        o[j++] = (char)tolower((unsigned char)c);
    }
    o[j] = 0;
    return o;
}

static void build_demo(struct vm_report *r) {
    memset(r, 0, sizeof *r);
    r->title = "vmaskc compare: CNN base vs. CNN-VMASK on IMDB (synthetic demo)";
    r->data_path = "data/imdb/test.tsv";
    r->class_names[0] = "negative";
    r->class_names[1] = "positive";
    r->n_classes = 2;
    r->n_methods = 3;
    r->method_names[0] = "LIME";
    r->method_names[1] = "SampleShapley";
    r->method_names[2] = "mask q";
    r->n_models = 2;
    r->n_examples = N_DEMO;
    r->settings = "seed 42 \xc2\xb7 LIME: 5000 samples, kernel width 25, ridge \xce\xb1 = 1, removal by deletion "
                  "\xc2\xb7 SampleShapley: 250 permutations, pad baseline \xc2\xb7 AOPC: K = 5 over 1000 "
                  "texts (random, seed 42) \xc2\xb7 post-hoc accuracy: k = 1..10 over all 25,000 texts";
    static const double aopc_end[2][2] = {{0.162, 0.149}, {0.254, 0.231}};
    for (int m = 0; m < 2; m++) {
        struct vm_report_model *md = &r->models[m];
        md->name = m ? "CNN-VMASK" : "CNN-base";
        md->path = m ? "models/imdb-cnn-vmask.onnx" : "models/imdb-cnn.onnx";
        md->accuracy = m ? 0.8904 : 0.8861;
        struct vm_report_example *ex = pmalloc(sizeof *ex * N_DEMO);
        for (int i = 0; i < N_DEMO; i++) {
            struct vm_report_example *e = &ex[i];
            e->index = 17 + i * 131;
            e->text = DEMO_TEXTS[i].text;
            e->tokens = split(tokenize_demo(DEMO_TEXTS[i].text), &e->n_tokens);
            e->label = DEMO_TEXTS[i].label;
            e->predicted = (m == 0 && i == 5) ? 1 : e->label; /* the base model gets one wrong */
            float *pr = pmalloc(sizeof *pr * 2);
            pr[e->predicted] = (float)(0.74 + 0.25 * rnd());
            pr[1 - e->predicted] = 1 - pr[e->predicted];
            e->probs = pr;
            double sign = e->predicted ? 1 : -1;
            for (int k = 0; k < 3; k++) {
                if (k == 2 && m == 0) continue;
                float *w = pmalloc(sizeof *w * (size_t)e->n_tokens);
                for (int t = 0; t < e->n_tokens; t++) {
                    double s = lex(e->tokens[t]);
                    bool filler = !strcmp(e->tokens[t], "plot") || !strcmp(e->tokens[t], "of") ||
                                  !strcmp(e->tokens[t], "to") || !strcmp(e->tokens[t], "the");
                    if (k == 2) w[t] = (float)(0.08 + 0.85 * fabs(s) + 0.07 * rnd());
                    else if (m == 1) w[t] = (float)(0.3 * sign * s + 0.03 * (rnd() - 0.5));
                    else w[t] = (float)(0.14 * sign * s + (filler ? 0.12 : 0.05) * (rnd() - 0.35));
                    if (k == 1 && k != 2) w[t] *= (float)(0.8 + 0.4 * rnd());
                }
                e->weights[k] = w;
            }
        }
        md->examples = ex;
        md->n_posthoc = 10;
        double *ph = pmalloc(sizeof *ph * 10);
        for (int k = 0; k < 10; k++)
            ph[k] = m ? 0.985 - 0.23 * exp(-0.55 * k) : 0.93 - 0.36 * exp(-0.3 * k);
        md->posthoc_acc = ph;
        md->n_aopc = 5;
        for (int k = 0; k < 2; k++) {
            double *a = pmalloc(sizeof *a * 5);
            for (int j = 0; j < 5; j++)
                a[j] = aopc_end[m][k] * (1 - exp(-0.6 * (j + 1))) / (1 - exp(-3.0));
            md->aopc[k] = a;
        }
        md->pearson = NAN;
    }
    /* VMASK's global importance: the lexicon words on top, a frequency-heavy tail below */
    struct vm_report_model *v = &r->models[1];
    int64_t n = 20000;
    const char **w = pmalloc(sizeof *w * (size_t)n);
    float *q = pmalloc(sizeof *q * (size_t)n);
    int64_t *f = pmalloc(sizeof *f * (size_t)n);
    static const char *const common[] = {"the", ",", ".", "and", "a", "of", "to", "is", "it", "in", "i", "this",
                                         "that", "'s", "was", "as", "with", "movie", "for", "film", "but", "plot"};
    int nc = (int)(sizeof common / sizeof common[0]);
    char buf[32];
    for (int64_t i = 0; i < n; i++) {
        f[i] = (int64_t)(330000.0 / pow((double)i + 1.3, 1.02)) + 1;
        if (i < nc) {
            w[i] = common[i];
            q[i] = (float)(0.12 + 0.1 * rnd());
        } else if (i >= 40 && (i - 40) % 9 == 0 && (i - 40) / 9 < N_LEX) {
            int l = (int)((i - 40) / 9);
            w[i] = LEXICON[l].w;
            q[i] = (float)(0.55 + 0.42 * fabs(LEXICON[l].s) * (0.85 + 0.15 * rnd()));
        } else {
            snprintf(buf, sizeof buf, "w%05lld", (long long)i);
            w[i] = pstrdup(buf);
            double u = rnd();
            q[i] = (float)(0.08 + 0.3 * u * u + 0.14 * rnd() + (rnd() < 0.03 ? 0.3 * rnd() : 0));
        }
    }
    v->n_words = n;
    v->words = w;
    v->word_q = q;
    v->word_freq = f;
    /* the Pearson r of the numbers above, as the explain command would report it */
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)f[i], y = q[i];
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    double cov = sxy - sx * sy / (double)n;
    v->pearson = cov / sqrt((sxx - sx * sx / (double)n) * (syy - sy * sy / (double)n));
}

/* minimal.html: one model, one method, no curves, no words, sparse NULLs */
static void build_minimal(struct vm_report *r) {
    memset(r, 0, sizeof *r);
    r->n_classes = 3;
    r->n_methods = 1;
    r->method_names[0] = NULL; /* unnamed: "method 1" */
    r->n_models = 1;
    r->n_examples = 3;
    struct vm_report_model *md = &r->models[0];
    md->accuracy = -1;
    md->pearson = NAN;
    struct vm_report_example *ex = pmalloc(sizeof *ex * 3);
    static const char *const toks[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        ex[i].index = i;
        ex[i].label = -1;
        ex[i].predicted = i == 2 ? 7 : i; /* out of range: no probability shown */
        ex[i].n_tokens = i; /* the first text has no tokens */
        ex[i].tokens = toks;
        float *w = pmalloc(sizeof *w * 3);
        w[0] = 0.5f, w[1] = -0.25f, w[2] = 0;
        ex[i].weights[0] = i == 1 ? NULL : w;
    }
    md->examples = ex;
}

static void build_big(struct vm_report *r, int n_ex, int n_tok) {
    build_nasty(r);
    r->title = "big";
    r->n_examples = n_ex;
    static const char *const vocab[] = {"the", "movie", "was", "great", "and", "boring", "plot", "acting", "i",
                                        "loved", "it", "not", "a", "bad", "film", "."};
    for (int m = 0; m < 2; m++) {
        struct vm_report_example *ex = pmalloc(sizeof *ex * (size_t)n_ex);
        for (int i = 0; i < n_ex; i++) {
            struct vm_report_example *e = &ex[i];
            const char **tok = pmalloc(sizeof *tok * (size_t)n_tok);
            for (int t = 0; t < n_tok; t++) tok[t] = vocab[(int)(rnd() * 16)];
            e->index = i;
            e->text = "the movie was great and the plot was not bad";
            e->n_tokens = n_tok;
            e->tokens = tok;
            e->label = i % 2;
            e->predicted = (i / 3) % 2;
            float *pr = pmalloc(sizeof *pr * 2);
            pr[0] = 0.3f, pr[1] = 0.7f;
            e->probs = pr;
            for (int k = 0; k < 3; k++) {
                if (k == 2 && m == 0) continue;
                float *w = pmalloc(sizeof *w * (size_t)n_tok);
                for (int t = 0; t < n_tok; t++) { /* LIME-like: a few large weights, many small */
                    double u = rnd() * 2 - 1;
                    w[t] = (float)(k == 2 ? rnd() * rnd() : u * u * u);
                }
                e->weights[k] = w;
            }
        }
        r->models[m].examples = ex;
    }
}

/* ---------------------------------------------------------------------------------------------- */

static char outdir[4096];

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", outdir, name); }

static char *write_and_load(const struct vm_report *r, const char *name) {
    char path[4200];
    path_in(path, sizeof path, name);
    struct vm_error err = {0};
    enum vm_status st = vm_report_write_html(r, path, &err);
    CHECK_MSG(st == VM_OK, "%s: %s", name, err.msg);
    if (st != VM_OK) return NULL;
    return load_and_check(path);
}

/* five.html: `vmaskc compare` over the paper's five training methods (synthetic numbers): the
 * Table 3/4/11 row per model, Figure 1 (VMASK solid against IBA dashed), an AOPC chart per method,
 * SP-LIME words side by side, each model's importance under its own name. */
static void build_five(struct vm_report *r) {
    build_demo(r);
    static const char *const names[5] = {"base", "l2", "L2X", "IBA", "VMASK"};
    static const char *const methods[5] = {"base", "l2", "l2x", "iba", "vmask"};
    static const char *const symbols[5] = {NULL, NULL, "score", "\xce\xbb", "q"};
    struct vm_report_model proto[2] = {r->models[0], r->models[1]};
    r->title = "vmaskc compare: five training methods (synthetic)";
    r->n_models = 5;
    r->n_data = 1821;
    for (int m = 0; m < 5; m++) {
        struct vm_report_model *md = &r->models[m];
        *md = proto[m == 4 ? 1 : 0];
        md->name = names[m];
        md->method = methods[m];
        md->test_accuracy = 0.80 + 0.01 * m;
        md->importance_name = symbols[m];
        if (m < 2) {
            md->n_words = 0; /* no importance of its own */
            md->words = NULL;
        } else if (m < 4) {
            md->n_words = proto[1].n_words;
            md->words = proto[1].words;
            md->word_q = proto[1].word_q;
            md->word_freq = proto[1].word_freq;
            md->pearson = proto[1].pearson;
        }
        double *ph = pmalloc(sizeof *ph * 10);
        for (int k = 0; k < 10; k++) ph[k] = 0.5 + 0.04 * k + 0.01 * m;
        md->posthoc_acc = ph;
        md->n_posthoc = 10;
        struct vm_report_word *sp = pmalloc(sizeof *sp * 12);
        static const char *const w[12] = {"excellent", "fine", "favorite", "plot", "brilliant", "live", "butcher", "thrilling",
                                          "powerful", "<b>", "liked", "of"};
        for (int i = 0; i < 12; i++) sp[i] = (struct vm_report_word){w[(i + m) % 12], 3.0 - 0.2 * i, 12 - i};
        md->splime = sp;
        md->n_splime = m == 1 ? 3 : 12; /* a short list leaves cells empty */
    }
}

static void test_five(void) {
    struct vm_report r;
    build_five(&r);
    char *h = write_and_load(&r, "five.html");
    if (!h) return;
    CHECK(strstr(h, "id=\"paper\"") && strstr(h, "id=\"figure1\"") && strstr(h, "id=\"splime\""));
    CHECK(strstr(h, "aria-label=\"Figure 1: post-hoc accuracy of VMASK and IBA versus k\"") != NULL);
    /* Figure 1 has exactly the VMASK (solid) and IBA (dashed) curves */
    const char *f1 = strstr(h, "id=\"figure1\""), *f1e = f1 ? strstr(f1, "</figure>") : NULL;
    if (f1 && f1e) {
        int curves = 0, dashed = 0;
        for (const char *p = strstr(f1, "stroke-linejoin"); p && p < f1e; p = strstr(p + 1, "stroke-linejoin")) {
            curves++;
            const char *end = strstr(p, "/>");
            const char *d = strstr(p, "stroke-dasharray");
            dashed += d && d < end;
        }
        CHECK_MSG(curves == 2 && dashed == 1, "figure 1: %d curves, %d dashed", curves, dashed);
    }
    CHECK(strstr(h, "aria-label=\"AOPC versus k, LIME\"") && strstr(h, "aria-label=\"AOPC versus k, SampleShapley\""));
    CHECK(strstr(h, "Test accuracy (all 1,821 texts)") != NULL);
    CHECK(strstr(h, "<td>84.00</td>") != NULL);   /* VMASK's test accuracy in the paper table */
    CHECK(strstr(h, "words by \xce\xbb, IBA") != NULL && strstr(h, "words by score, L2X") != NULL);
    CHECK(strstr(h, "&lt;b&gt; <span class=\"qv\">") != NULL); /* SP-LIME words are escaped */
    CHECK(count(h, "<td></td>") >= 7);             /* l2 lists 3 of the 10 rows */
    CHECK(strstr(h, "href=\"#splime\"") != NULL);
    free(h);
    /* without an IBA model there is no Figure 1 chart */
    r.models[3].method = "vmask";
    h = write_and_load(&r, "five.html");
    if (h) CHECK(!strstr(h, "id=\"figure1\""));
    free(h);
}

static void test_nasty(void) {
    struct vm_report r;
    build_nasty(&r);
    char *h = write_and_load(&r, "nasty.html");
    if (!h) return;
    /* hostile tokens arrive escaped, never raw */
    CHECK(strstr(h, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") != NULL);
    CHECK(strstr(h, "&amp;amp;") != NULL);
    CHECK(strstr(h, "&lt;b&gt;bold&lt;/b&gt;") != NULL);
    CHECK(strstr(h, "it&#39;s") != NULL);
    CHECK(strstr(h, "--&gt; &lt;!--") != NULL);
    CHECK(strstr(h, "]]&gt;") != NULL);
    CHECK(strstr(h, "na\xc3\xafve") != NULL);
    CHECK(strstr(h, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e") != NULL);
    CHECK(strstr(h, "\xf0\x9f\x98\x80") != NULL);
    CHECK(strstr(h, "bad\xef\xbf\xbd\xef\xbf\xbdutf8") != NULL); /* invalid bytes -> U+FFFD */
    CHECK(strstr(h, "ctl\xef\xbf\xbd\xef\xbf\xbd") != NULL);      /* control bytes -> U+FFFD */
    CHECK(strstr(h, "truncated\xef\xbf\xbd") != NULL);
    CHECK(strstr(h, "\xef\xbf\xbdnonchar") != NULL);
    CHECK(strstr(h, "tab here") != NULL);
    CHECK(!strstr(h, "\xff") && !strstr(h, "\x01") && !strstr(h, "\x7f"));
    CHECK(strstr(h, "<title>Report &lt;title&gt; &amp; &quot;quotes&quot; &#39;single&#39;</title>") != NULL);
    CHECK(strstr(h, "data/test&lt;&amp;&gt;.tsv") != NULL);
    CHECK(strstr(h, "VMASK &lt;b&gt;") != NULL && strstr(h, "base &amp; co") != NULL);
    CHECK(strstr(h, "pos &amp; &quot;good&quot;") != NULL && strstr(h, "&lt;neg&gt;") != NULL);
    CHECK(strstr(h, "&lt;removal&gt;=delete &amp; more\nsecond line") != NULL); /* settings keep newlines */
    CHECK(strstr(h, "Original &lt;text&gt; with &amp; and &quot;quotes&quot;") != NULL);
    /* sections and charts */
    CHECK(strstr(h, "id=\"summary\"") && strstr(h, "id=\"curves\"") && strstr(h, "id=\"words\"") &&
          strstr(h, "id=\"examples\""));
    CHECK_MSG(count(h, "<svg") == 3, "%d svg", count(h, "<svg"));
    CHECK(count(h, "<svg") == count(h, "</svg>"));
    CHECK(strstr(h, "aria-label=\"Post-hoc accuracy versus k\"") != NULL);
    CHECK(strstr(h, "aria-label=\"AOPC versus k\"") != NULL);
    CHECK(strstr(h, "Word frequency versus mask importance q") != NULL);
    CHECK(strstr(h, "3,000 of 5,000 words shown") != NULL); /* the scatter is subsampled */
    {
        const char *pts = strstr(h, "class=\"pts\"");
        CHECK(pts != NULL);
        if (pts) {
            const char *end = strstr(pts, "/>");
            int n = 0;
            for (const char *c = pts; c < end; c++) n += *c == 'M';
            CHECK_MSG(n == 3000, "%d scatter points", n);
        }
    }
    CHECK(strstr(h, "Pearson <i>r</i> = -0.023") != NULL);
    CHECK(strstr(h, "Top 30 words by q") != NULL);
    CHECK(count(h, "<article class=\"ex\"") == 20);
    CHECK(strstr(h, "id=\"ex-19\"") != NULL && strstr(h, "#119") != NULL);
    /* NaN prints as an en dash: base accuracy, a post-hoc point, a weight's title never "nan" */
    CHECK(strstr(h, "<td>\xe2\x80\x93</td>") != NULL);
    CHECK(!contains_ci(h, "nan<") && !contains_ci(h, "\"nan\"") && !contains_ci(h, "\"-nan\"") &&
          !contains_ci(h, ">inf") && !contains_ci(h, ">-nan"));
    /* colour buckets, the mask hue and the legend */
    CHECK(strstr(h, "class=\"p3\"") && strstr(h, "class=\"n3\"") && strstr(h, "class=\"q3\""));
    CHECK(strstr(h, "class=\"legend\"") != NULL);
    CHECK(strstr(h, "no mask layer") != NULL);  /* the base model's mask row */
    CHECK(strstr(h, "not computed") != NULL);   /* SampleShapley missing for one text */
    CHECK(strstr(h, "models disagree") != NULL);
    CHECK(strstr(h, "\xe2\x9c\x97 wrong") != NULL);
    /* WordPiece continuations are glued to the previous token */
    {
        const char *ex = strstr(h, "id=\"examples\"");
        CHECK(ex != NULL);
        int glued = 0;
        for (const char *p = ex ? strstr(ex, "ing") : NULL; p; p = strstr(p + 3, "ing")) {
            bool hashes = p[-1] == '#' && p[-2] == '#';
            const char *b = hashes ? p - 2 : p; /* start of the token's text */
            if (b[-1] == '>' && b[-2] == '"') b = strrchr_before(ex, b, '<'); /* inside a span */
            bool first = b - ex >= 14 && !strncmp(b - 14, "<p class=\"tx\">", 14);
            if (hashes) CHECK_MSG(first, "'##ing' kept in the middle of a text");
            else if (!first && b[-1] != ' ') glued++;
        }
        CHECK(glued > 0);
    }
    free(h);
}

static void test_demo(void) {
    struct vm_report r;
    build_demo(&r);
    char *h = write_and_load(&r, "demo.html");
    if (!h) return;
    CHECK(count(h, "<svg") == 3);
    CHECK(strstr(h, "3,000 of 20,000 words shown") != NULL);
    CHECK(count(h, "<article class=\"ex\"") == N_DEMO);
    /* the top-words table starts with the most important word */
    const char *t = strstr(h, "Top 30 words by q");
    t = t ? strstr(t, "<td class=\"w\">") : NULL;
    CHECK(t != NULL);
    if (t) {
        char first[32] = {0};
        sscanf(t + strlen("<td class=\"w\">"), "%31[^<]", first);
        CHECK_MSG(lex(first) != 0, "top word '%s' is not a sentiment word", first);
    }
    free(h);
}

static void test_minimal(void) {
    struct vm_report r;
    build_minimal(&r);
    char *h = write_and_load(&r, "minimal.html");
    if (!h) return;
    CHECK(count(h, "<svg") == 0);
    CHECK(!strstr(h, "id=\"summary\"") && !strstr(h, "id=\"curves\"") && !strstr(h, "id=\"words\""));
    CHECK(strstr(h, "id=\"examples\"") != NULL);
    CHECK(!strstr(h, "<nav>"));
    CHECK(strstr(h, "model 1") != NULL && strstr(h, "method 1") != NULL);
    CHECK(strstr(h, "vmaskc explanation report") != NULL);
    CHECK(strstr(h, "(no tokens)") != NULL);
    CHECK(strstr(h, "class 7") != NULL);
    CHECK(count(h, "<article class=\"ex\"") == 3);
    CHECK(!strstr(h, "class=\"q")); /* no mask method: no mask legend, no mask hue */
    free(h);
}

static void test_empty(void) {
    struct vm_report r;
    memset(&r, 0, sizeof r);
    r.title = "empty";
    char *h = write_and_load(&r, "empty.html");
    if (!h) return;
    CHECK(count(h, "<svg") == 0 && !strstr(h, "<section"));
    CHECK(strstr(h, "Nothing to show") != NULL);
    free(h);
    /* examples promised but no model carries them; curves with zero length */
    build_nasty(&r);
    r.models[0].examples = r.models[1].examples = NULL;
    r.models[0].n_posthoc = r.models[1].n_posthoc = 0;
    r.models[0].n_aopc = r.models[1].n_aopc = 0;
    r.models[1].word_freq = NULL; /* words without frequencies: table, no scatter */
    h = write_and_load(&r, "nocurves.html");
    if (!h) return;
    CHECK(count(h, "<svg") == 0);
    CHECK(strstr(h, "Top 30 words by q") && !strstr(h, "Frequency</th>"));
    CHECK(!strstr(h, "id=\"examples\"") && !strstr(h, "id=\"curves\""));
    free(h);
    /* every number NaN: curves, q, probabilities, weights */
    build_nasty(&r);
    for (int m = 0; m < 2; m++) {
        struct vm_report_model *md = &r.models[m];
        double *ph = (double *)md->posthoc_acc;
        for (int k = 0; k < md->n_posthoc; k++) ph[k] = NAN;
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < md->n_aopc; k++) ((double *)md->aopc[j])[k] = NAN;
        for (int64_t i = 0; i < r.n_examples; i++) {
            struct vm_report_example *e = (struct vm_report_example *)&md->examples[i];
            ((float *)e->probs)[0] = ((float *)e->probs)[1] = NAN;
            for (int k = 0; k < 3; k++)
                for (int32_t t = 0; e->weights[k] && t < e->n_tokens; t++) ((float *)e->weights[k])[t] = NAN;
        }
    }
    for (int64_t i = 0; i < r.models[1].n_words; i++) ((float *)r.models[1].word_q)[i] = NAN;
    h = write_and_load(&r, "allnan.html");
    if (!h) return;
    CHECK(count(h, "<svg") == 2); /* the two curve charts, axes only; no scatter */
    CHECK(!strstr(h, "Top 30 words") && !strstr(h, "class=\"pts\""));
    static const char *const buckets[] = {"p1", "p2", "p3", "n1", "n2", "n3", "q1", "q2", "q3"};
    char needle[32];
    for (int i = 0; i < 9; i++) {
        snprintf(needle, sizeof needle, "<span class=\"%s\"", buckets[i]);
        CHECK_MSG(!strstr(h, needle), "%s with NaN weights", needle);
    }
    CHECK(!contains_ci(h, ">nan") && !contains_ci(h, ">-nan") && !contains_ci(h, "nan%") &&
          !contains_ci(h, " nan<") && !contains_ci(h, "\"nan"));
    free(h);
}

static void test_big(void) {
    struct vm_report r;
    build_big(&r, 1000, 25);
    char path[4200];
    path_in(path, sizeof path, "big.html");
    struct vm_error err = {0};
    clock_t t0 = clock();
    CHECK_MSG(vm_report_write_html(&r, path, &err) == VM_OK, "%s", err.msg);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    char *h = load_and_check(path);
    if (!h) return;
    size_t len = strlen(h);
    printf("big.html: 1000 texts x 25 tokens x 2 models x 3 methods: %.2f MB in %.2f s\n", (double)len / 1e6,
           secs);
    CHECK_MSG(len < 6u * 1000 * 1000, "big report is %zu bytes", len);
    CHECK(count(h, "<article class=\"ex\"") == 1000);
    free(h);
}

static void test_errors(void) {
    struct vm_report r;
    memset(&r, 0, sizeof r);
    struct vm_error err = {0};
    CHECK(vm_report_write_html(NULL, "/tmp/x.html", &err) == VM_EINVAL);
    CHECK(vm_report_write_html(&r, NULL, &err) == VM_EINVAL);
    r.n_models = VM_REPORT_MAX_MODELS + 1;
    CHECK(vm_report_write_html(&r, "/tmp/x.html", &err) == VM_EINVAL);
    r.n_models = 0;
    r.n_methods = VM_REPORT_MAX_METHODS + 1;
    CHECK(vm_report_write_html(&r, "/tmp/x.html", &err) == VM_EINVAL);
    r.n_methods = 0;
    char path[4200];
    path_in(path, sizeof path, "no/such/dir/report.html");
    CHECK(vm_report_write_html(&r, path, &err) == VM_EIO);
    CHECK_MSG(strstr(err.msg, "report") != NULL, "%s", err.msg);
}

int main(int argc, char **argv) {
    bool keep = argc > 1;
    if (keep) {
        snprintf(outdir, sizeof outdir, "%s", argv[1]);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(outdir, sizeof outdir, "%s/vmreportXXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(outdir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    test_nasty();
    test_demo();
    test_minimal();
    test_empty();
    test_big();
    test_five();
    test_errors();
    pool_free();
    if (!keep) {
        static const char *const names[] = {"nasty.html", "demo.html", "minimal.html", "empty.html",
                                            "nocurves.html", "allnan.html", "big.html", "five.html", NULL};
        char path[4200];
        for (int i = 0; names[i]; i++) {
            path_in(path, sizeof path, names[i]);
            unlink(path);
        }
        rmdir(outdir);
    }
    VMTEST_DONE("test_report");
}
