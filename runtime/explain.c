/* explain: LIME, SampleShapley, AOPC and post-hoc accuracy over a batched classifier (see
 * explain.h).
 *
 * Invariant: every sequence derived from one text is padded to the same length T = max(n, min_len),
 * so the full text and all its perturbations are scored under identical padding, whatever else
 * shares their batch. Perturbations are generated on the fly, chunk by chunk (a "stream"), so memory
 * stays at one chunk of ids plus one probability per sequence.
 */
#include "explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers ---- */

static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t vm_explain_example_seed(uint64_t seed, int64_t index) {
    return splitmix(seed ^ splitmix((uint64_t)index ^ 0x6578706c61696eull /* "explain" */));
}

/* The per-method streams of one example. */
static uint64_t lime_seed(uint64_t example_seed) { return splitmix(example_seed ^ 0x4c494d45ull /* "LIME" */); }
static uint64_t shapley_seed(uint64_t example_seed) { return splitmix(example_seed ^ 0x5348415059ull /* "SHAPY" */); }

void vm_rng_init(struct vm_rng *r, uint64_t seed) { r->state = seed; }

uint64_t vm_rng_next(struct vm_rng *r) {
    r->state += 0x9e3779b97f4a7c15ull;
    uint64_t z = r->state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t vm_rng_below(struct vm_rng *r, uint64_t n) {
    /* reject the low 2^64 mod n values so every residue is equally likely */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = vm_rng_next(r);
        if (x >= threshold) return x % n;
    }
}

int32_t vm_argmax_f(const float *p, int64_t n) {
    int64_t best = 0;
    for (int64_t k = 1; k < n; k++)
        if (p[k] > p[best]) best = k;
    return (int32_t)best;
}

/* ---- the classifier ---- */

/* Partial chunks are rounded up to one of these sizes (or the full batch), so a text length binds
 * at most a handful of shapes; the rows added repeat the first sequence and are discarded. */
static int64_t bucket(int64_t n, int64_t batch) {
    static const int64_t sizes[] = {1, 4, 16, 64, 256};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (n <= sizes[i] && sizes[i] < batch) return sizes[i];
    return batch;
}

static enum vm_status feeder_run(struct vm_classifier *c, const int32_t *const *seqs, const int32_t *lens,
                                 int64_t n, int32_t T, float *probs, struct vm_error *err) {
    const struct vm_feeder *f = c->feeder;
    int64_t nb = bucket(n, c->batch);
    for (int64_t i = 0; i < nb; i++) {
        c->seq_buf[i] = seqs[i < n ? i : 0];
        c->len_buf[i] = lens[i < n ? i : 0];
    }
    struct vm_rt_inst *inst;
    enum vm_status s = vm_feed(f, c->seq_buf, c->len_buf, nb, T, NULL, 0.0, 0.0, &inst, NULL, err);
    if (!s) s = vm_rt_run(inst, VM_RT_FORWARD, false, err);
    if (s) return s;
    struct vm_rt_tensor out = vm_rt_output(inst, f->logits_output);
    if (out.numel != nb * c->n_classes)
        return vm_errorf(err, VM_EINVAL, "the model's output has %lld values for %lld texts of %lld classes", (long long)out.numel,
                         (long long)nb, (long long)c->n_classes);
    vm_feeder_probs(f, inst, nb, c->scratch);
    memcpy(probs, c->scratch, sizeof(float) * (size_t)(n * c->n_classes));
    return VM_OK;
}

void vm_classifier_free(struct vm_classifier *c) {
    free(c->scratch);
    free(c->seq_buf);
    free(c->len_buf);
    c->scratch = NULL;
    c->seq_buf = NULL;
    c->len_buf = NULL;
}

enum vm_status vm_classifier_init_feeder(struct vm_classifier *c, const struct vm_feeder *f, int32_t batch,
                                         struct vm_error *err) {
    memset(c, 0, sizeof *c);
    c->run = feeder_run;
    c->feeder = f;
    c->pad_id = f->pad_id;
    c->min_len = f->min_len > 0 ? f->min_len : 1;
    c->batch = batch > 0 ? batch : 512;
    c->n_classes = f->n_classes;
    if (c->n_classes <= 0) {
        /* no vmaskc.classes metadata: ask the model with one all-pad text, long enough for the
         * usual convolution widths */
        int32_t pads[16];
        for (int i = 0; i < 16; i++) pads[i] = f->pad_id;
        const int32_t *seq = pads;
        int32_t len = 16;
        struct vm_rt_inst *inst;
        enum vm_status s = vm_feed(f, &seq, &len, 1, 0, NULL, 0.0, 0.0, &inst, NULL, err);
        if (!s) s = vm_rt_run(inst, VM_RT_FORWARD, false, err);
        if (s) return vm_error_prefix(err, "finding the number of classes");
        c->n_classes = vm_rt_output(inst, f->logits_output).numel;
        if (c->n_classes < 1) return vm_errorf(err, VM_EINVAL, "the model's first output is empty");
    }
    c->scratch = vm_malloc(sizeof(float) * (size_t)c->batch * (size_t)c->n_classes, err);
    c->seq_buf = vm_malloc(sizeof *c->seq_buf * (size_t)c->batch, err);
    c->len_buf = vm_malloc(sizeof *c->len_buf * (size_t)c->batch, err);
    if (!c->scratch || !c->seq_buf || !c->len_buf) {
        vm_classifier_free(c);
        return VM_ENOMEM;
    }
    return VM_OK;
}

enum vm_status vm_classifier_probs(struct vm_classifier *c, const int32_t *const *seqs, const int32_t *lens, int64_t n,
                                   int32_t T, float *probs, struct vm_error *err) {
    if (T <= 0) {
        T = c->min_len;
        for (int64_t i = 0; i < n; i++)
            if (lens[i] > T) T = lens[i];
    }
    for (int64_t b0 = 0; b0 < n; b0 += c->batch) {
        int64_t nb = n - b0 < c->batch ? n - b0 : c->batch;
        enum vm_status s = c->run(c, seqs + b0, lens + b0, nb, T, probs + b0 * c->n_classes, err);
        if (s) return s;
        c->forward_passes += nb;
        c->runs++;
    }
    return VM_OK;
}

/* A stream of `total` derived sequences, built on demand into `out` (room for T ids); returns the
 * length. y[s] = p(target | sequence s). */
typedef int32_t (*build_fn)(const void *ctx, int64_t s, int32_t *out);

static enum vm_status eval_stream(struct vm_classifier *c, int64_t total, int32_t T, build_fn build, const void *ctx,
                                  int32_t target, double *y, struct vm_error *err) {
    int64_t B = c->batch;
    int32_t *ids = vm_malloc(sizeof(int32_t) * (size_t)(B * T), err);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)B, err);
    int32_t *lens = vm_malloc(sizeof *lens * (size_t)B, err);
    float *probs = vm_malloc(sizeof(float) * (size_t)(B * c->n_classes), err);
    enum vm_status s = VM_OK;
    if (!ids || !seqs || !lens || !probs) s = VM_ENOMEM;
    for (int64_t s0 = 0; !s && s0 < total; s0 += B) {
        int64_t nb = total - s0 < B ? total - s0 : B;
        for (int64_t i = 0; i < nb; i++) {
            seqs[i] = ids + i * T;
            lens[i] = build(ctx, s0 + i, ids + i * T);
        }
        s = c->run(c, seqs, lens, nb, T, probs, err);
        if (s) break;
        c->forward_passes += nb;
        c->runs++;
        for (int64_t i = 0; i < nb; i++) y[s0 + i] = probs[i * c->n_classes + target];
    }
    free(ids);
    free(seqs);
    free(lens);
    free(probs);
    return s;
}

static int32_t text_T(const struct vm_classifier *c, int32_t n) { return n > c->min_len ? n : c->min_len; }

/* ---- LIME ---- */

void vm_lime_opts_default(struct vm_lime_opts *o) {
    o->samples = 5000;
    o->kernel_width = 25.0;
    o->alpha = 1.0;
}

void vm_lime_free(struct vm_lime *l) {
    free(l->feature_of);
    free(l->feature_id);
    free(l->weight);
    memset(l, 0, sizeof *l);
}

int32_t vm_lime_features(const int32_t *ids, int32_t n, int32_t *feature_of, int32_t *feature_id) {
    int32_t d = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t f = -1;
        for (int32_t j = 0; j < d; j++) /* d is at most a few hundred */
            if (feature_id[j] == ids[i]) {
                f = j;
                break;
            }
        if (f < 0) {
            f = d;
            feature_id[d++] = ids[i];
        }
        feature_of[i] = f;
    }
    return d;
}

int32_t vm_words_count(const int32_t *word_of, int32_t n) {
    if (!word_of) return n;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (word_of[i] + 1 > m) m = word_of[i] + 1;
    return m;
}

/* Positions of each word, CSR: the positions of word w are pos[start[w] .. start[w+1]), in text
 * order. start [m + 1], pos [n]. */
static void word_positions(const int32_t *word_of, int32_t n, int32_t m, int32_t *start, int32_t *pos) {
    for (int32_t w = 0; w <= m; w++) start[w] = 0;
    for (int32_t i = 0; i < n; i++)
        if (word_of[i] >= 0) start[word_of[i] + 1]++;
    for (int32_t w = 0; w < m; w++) start[w + 1] += start[w];
    for (int32_t i = 0; i < n; i++)
        if (word_of[i] >= 0) pos[start[word_of[i]]++] = i;
    for (int32_t w = m; w > 0; w--) start[w] = start[w - 1];
    start[0] = 0;
}

int32_t vm_lime_word_features(const int32_t *ids, int32_t n, const int32_t *word_of, int32_t *feature_of, int32_t *feature_id) {
    if (!word_of) return vm_lime_features(ids, n, feature_of, feature_id);
    int32_t d = 0;
    /* first[f]: the first position of feature f's first occurrence (its piece sequence) */
    for (int32_t i = 0; i < n; i++) feature_of[i] = -1;
    for (int32_t i = 0; i < n; i++) {
        if (word_of[i] < 0 || (i > 0 && word_of[i - 1] == word_of[i])) continue;
        int32_t len = 1;
        while (i + len < n && word_of[i + len] == word_of[i]) len++;
        int32_t f = -1;
        for (int32_t j = 0; j < d && f < 0; j++) { /* d is at most a few hundred */
            int32_t p = feature_id[j], plen = 1;
            while (p + plen < n && word_of[p + plen] == word_of[p]) plen++;
            if (plen == len && !memcmp(ids + p, ids + i, sizeof(int32_t) * (size_t)len)) f = j;
        }
        if (f < 0) {
            f = d;
            feature_id[d++] = i;
        }
        for (int32_t k = 0; k < len; k++) feature_of[i + k] = f;
    }
    for (int32_t j = 0; j < d; j++) feature_id[j] = ids[feature_id[j]];
    return d;
}

void vm_lime_sample(int32_t N, int32_t d, uint64_t seed, uint8_t *Z) {
    struct vm_rng r;
    vm_rng_init(&r, seed);
    if (N <= 0 || d <= 0) return;
    memset(Z, 1, (size_t)N * (size_t)d);
    for (int32_t i = 1; i < N; i++) {
        uint8_t *z = Z + (size_t)i * (size_t)d;
        int32_t size = 1 + (int32_t)vm_rng_below(&r, (uint64_t)d);
        /* Floyd's algorithm: a uniform subset of `size` features, no scratch memory */
        for (int32_t j = d - size; j < d; j++) {
            int32_t t = (int32_t)vm_rng_below(&r, (uint64_t)j + 1);
            if (z[t]) z[t] = 0;
            else z[j] = 0;
        }
    }
}

void vm_lime_kernel(const uint8_t *Z, int32_t N, int32_t d, double kernel_width, double *pi) {
    for (int32_t i = 0; i < N; i++) {
        int32_t k = 0;
        for (int32_t j = 0; j < d; j++) k += Z[(size_t)i * (size_t)d + (size_t)j] != 0;
        double D = k > 0 ? 100.0 * (1.0 - sqrt((double)k / (double)d)) : 100.0;
        pi[i] = exp(-D * D / (2.0 * kernel_width * kernel_width));
    }
}

enum vm_status vm_ridge_fit(const double *X, int64_t N, int32_t d, const double *w, const double *y, double alpha, double *coef,
                            double *intercept, struct vm_error *err) {
    double sw = 0, ybar = 0;
    for (int64_t i = 0; i < N; i++) {
        if (!(w[i] >= 0) || !isfinite(y[i])) return vm_errorf(err, VM_EINVAL, "ridge: sample %lld has weight %g and target %g", (long long)i, w[i], y[i]);
        sw += w[i];
        ybar += w[i] * y[i];
    }
    if (!(sw > 0)) return vm_errorf(err, VM_EINVAL, "ridge: the sample weights sum to %g", sw);
    ybar /= sw;
    size_t D = (size_t)(d > 0 ? d : 1);
    double *xbar = calloc(D, sizeof *xbar), *A = calloc(D * D, sizeof *A), *rhs = calloc(D, sizeof *rhs), *xc = malloc(D * sizeof *xc);
    if (!xbar || !A || !rhs || !xc) {
        free(xbar);
        free(A);
        free(rhs);
        free(xc);
        return vm_errorf(err, VM_ENOMEM, "ridge: out of memory for %d features", d);
    }
    for (int64_t i = 0; i < N; i++)
        for (int32_t a = 0; a < d; a++) xbar[a] += w[i] * X[i * d + a];
    for (int32_t a = 0; a < d; a++) xbar[a] /= sw;
    /* A = Xc' W Xc (upper triangle), rhs = Xc' W yc, on explicitly centred rows */
    for (int64_t i = 0; i < N; i++) {
        if (w[i] == 0) continue;
        for (int32_t a = 0; a < d; a++) xc[a] = X[i * d + a] - xbar[a];
        double yc = y[i] - ybar;
        for (int32_t a = 0; a < d; a++) {
            double t = w[i] * xc[a];
            if (t == 0) continue;
            rhs[a] += t * yc;
            double *row = A + (size_t)a * D;
            for (int32_t b = a; b < d; b++) row[b] += t * xc[b];
        }
    }
    for (int32_t a = 0; a < d; a++) A[(size_t)a * D + (size_t)a] += alpha;
    /* Cholesky A = L L' in the lower triangle (upper triangle holds A) */
    enum vm_status s = VM_OK;
    for (int32_t j = 0; j < d && !s; j++) {
        double v = A[(size_t)j * D + (size_t)j];
        for (int32_t k = 0; k < j; k++) v -= A[(size_t)j * D + (size_t)k] * A[(size_t)j * D + (size_t)k];
        if (!(v > 0)) {
            s = vm_errorf(err, VM_EINVAL, "ridge: the normal equations are singular at feature %d (alpha %g)", j, alpha);
            break;
        }
        double ljj = sqrt(v);
        A[(size_t)j * D + (size_t)j] = ljj;
        for (int32_t i = j + 1; i < d; i++) {
            double u = A[(size_t)j * D + (size_t)i]; /* A[i][j] from the upper triangle */
            for (int32_t k = 0; k < j; k++) u -= A[(size_t)i * D + (size_t)k] * A[(size_t)j * D + (size_t)k];
            A[(size_t)i * D + (size_t)j] = u / ljj;
        }
    }
    if (!s) {
        /* L z = rhs, then L' beta = z */
        for (int32_t i = 0; i < d; i++) {
            double v = rhs[i];
            for (int32_t k = 0; k < i; k++) v -= A[(size_t)i * D + (size_t)k] * rhs[k];
            rhs[i] = v / A[(size_t)i * D + (size_t)i];
        }
        for (int32_t i = d - 1; i >= 0; i--) {
            double v = rhs[i];
            for (int32_t k = i + 1; k < d; k++) v -= A[(size_t)k * D + (size_t)i] * rhs[k];
            rhs[i] = v / A[(size_t)i * D + (size_t)i];
        }
        double b = ybar;
        for (int32_t a = 0; a < d; a++) {
            coef[a] = rhs[a];
            b -= xbar[a] * rhs[a];
        }
        *intercept = b;
    }
    free(xbar);
    free(A);
    free(rhs);
    free(xc);
    return s;
}

struct lime_stream {
    const int32_t *ids;
    int32_t n, d;
    const int32_t *feature_of;
    const uint8_t *Z;
};

static int32_t lime_build(const void *ctx, int64_t s, int32_t *out) {
    const struct lime_stream *ls = ctx;
    const uint8_t *z = ls->Z + (size_t)s * (size_t)ls->d;
    int32_t len = 0;
    for (int32_t i = 0; i < ls->n; i++)
        if (ls->feature_of[i] < 0 || z[ls->feature_of[i]]) out[len++] = ls->ids[i];
    return len;
}

enum vm_status vm_lime_explain(struct vm_classifier *c, const int32_t *ids, int32_t n, const int32_t *word_of, int32_t target,
                               uint64_t example_seed,
                               const struct vm_lime_opts *o, struct vm_lime *out, struct vm_error *err) {
    memset(out, 0, sizeof *out);
    if (n < 1) return vm_errorf(err, VM_EINVAL, "LIME: the text has no tokens");
    if (target < 0 || target >= c->n_classes) return vm_errorf(err, VM_EINVAL, "LIME: class %d out of range", target);
    int32_t N = o->samples;
    if (N < 2) return vm_errorf(err, VM_EINVAL, "LIME: %d samples (at least 2)", N);
    out->n = n;
    out->target = target;
    out->samples = N;
    out->seed = lime_seed(example_seed);
    out->feature_of = vm_malloc(sizeof(int32_t) * (size_t)n, err);
    out->feature_id = vm_malloc(sizeof(int32_t) * (size_t)n, err);
    if (!out->feature_of || !out->feature_id) {
        vm_lime_free(out);
        return VM_ENOMEM;
    }
    int32_t d = out->d = vm_lime_word_features(ids, n, word_of, out->feature_of, out->feature_id);
    if (d < 1) {
        vm_lime_free(out);
        return vm_errorf(err, VM_EINVAL, "LIME: the text has no words, only [CLS] and [SEP]");
    }
    out->weight = vm_calloc((size_t)d, sizeof(double), err);
    uint8_t *Z = vm_malloc((size_t)N * (size_t)d, err);
    double *y = vm_malloc(sizeof(double) * (size_t)N, err), *pi = vm_malloc(sizeof(double) * (size_t)N, err);
    double *X = vm_malloc(sizeof(double) * (size_t)N * (size_t)d, err);
    enum vm_status s = VM_OK;
    if (!out->weight || !Z || !y || !pi || !X) s = VM_ENOMEM;
    if (!s) {
        vm_lime_sample(N, d, out->seed, Z);
        struct lime_stream ls = {ids, n, d, out->feature_of, Z};
        s = eval_stream(c, N, text_T(c, n), lime_build, &ls, target, y, err);
    }
    if (!s) {
        vm_lime_kernel(Z, N, d, o->kernel_width, pi);
        for (size_t i = 0; i < (size_t)N * (size_t)d; i++) X[i] = Z[i];
        s = vm_ridge_fit(X, N, d, pi, y, o->alpha, out->weight, &out->intercept, err);
    }
    if (!s) {
        /* weighted R^2 (sklearn's Ridge.score with sample_weight) and the prediction at row 0 */
        double sw = 0, ybar = 0, ss_res = 0, ss_tot = 0;
        for (int32_t i = 0; i < N; i++) {
            sw += pi[i];
            ybar += pi[i] * y[i];
        }
        ybar /= sw;
        for (int32_t i = 0; i < N; i++) {
            double p = out->intercept;
            for (int32_t j = 0; j < d; j++) p += Z[(size_t)i * (size_t)d + (size_t)j] ? out->weight[j] : 0.0;
            ss_res += pi[i] * (y[i] - p) * (y[i] - p);
            ss_tot += pi[i] * (y[i] - ybar) * (y[i] - ybar);
        }
        out->score = ss_tot > 0 ? 1.0 - ss_res / ss_tot : ss_res == 0 ? 1.0 : 0.0;
        out->local_pred = out->intercept;
        for (int32_t j = 0; j < d; j++) out->local_pred += out->weight[j];
    }
    free(Z);
    free(y);
    free(pi);
    free(X);
    if (s) {
        vm_lime_free(out);
        return vm_error_prefix(err, "LIME");
    }
    return VM_OK;
}

int32_t vm_lime_top_features(const struct vm_lime *l, int32_t *order) {
    int32_t m = 0;
    for (int32_t j = 0; j < l->d; j++)
        if (l->weight[j] > 0) order[m++] = j;
    /* insertion sort: weight descending, stable so ties keep the earlier first occurrence */
    for (int32_t i = 1; i < m; i++) {
        int32_t v = order[i], k = i;
        while (k > 0 && l->weight[order[k - 1]] < l->weight[v]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = v;
    }
    return m;
}

void vm_rank_positions(const double *score, int32_t n, int32_t *order) {
    for (int32_t i = 0; i < n; i++) order[i] = i;
    /* stable merge-free insertion sort is O(n^2); texts are at most a few thousand tokens, and a
     * stable descending sort is what "ties by earlier position" needs */
    for (int32_t i = 1; i < n; i++) {
        int32_t v = order[i], k = i;
        while (k > 0 && score[order[k - 1]] < score[v]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = v;
    }
}

/* ---- SampleShapley ---- */

void vm_shapley_free(struct vm_shapley *s) {
    free(s->phi);
    free(s->perm_sum);
    memset(s, 0, sizeof *s);
}

struct shapley_stream {
    const int32_t *ids;
    int32_t n;            /* ids */
    int32_t m;            /* words = features */
    int32_t pad;
    const int32_t *word_of; /* [n] or NULL (word = position) */
    const int32_t *wstart, *wpos; /* word -> positions (word_positions), NULL with word_of */
    const int32_t *perm;  /* [P, m] */
};

/* s = 0: every word padded; s = 1: the full text; s = 2 + p (m - 1) + (j - 1): permutation p's
 * first j words present. Positions outside every word ([CLS], [SEP]) are always present. */
static int32_t shapley_build(const void *ctx, int64_t s, int32_t *out) {
    const struct shapley_stream *st = ctx;
    int32_t n = st->n, m = st->m;
    if (s == 1) {
        memcpy(out, st->ids, sizeof(int32_t) * (size_t)n);
        return n;
    }
    for (int32_t i = 0; i < n; i++) out[i] = st->word_of && st->word_of[i] < 0 ? st->ids[i] : st->pad;
    if (s == 0) return n;
    int64_t p = (s - 2) / (m - 1), j = (s - 2) % (m - 1) + 1;
    const int32_t *perm = st->perm + p * m;
    for (int64_t k = 0; k < j; k++) {
        int32_t w = perm[k];
        if (!st->word_of) {
            out[w] = st->ids[w];
            continue;
        }
        for (int32_t q = st->wstart[w]; q < st->wstart[w + 1]; q++) out[st->wpos[q]] = st->ids[st->wpos[q]];
    }
    return n;
}

enum vm_status vm_shapley_explain(struct vm_classifier *c, const int32_t *ids, int32_t n, const int32_t *word_of, int32_t target,
                                  uint64_t example_seed, int32_t permutations, struct vm_shapley *out, struct vm_error *err) {
    memset(out, 0, sizeof *out);
    if (n < 1) return vm_errorf(err, VM_EINVAL, "SampleShapley: the text has no tokens");
    if (target < 0 || target >= c->n_classes) return vm_errorf(err, VM_EINVAL, "SampleShapley: class %d out of range", target);
    if (permutations < 1) return vm_errorf(err, VM_EINVAL, "SampleShapley: %d permutations (at least 1)", permutations);
    int32_t m = vm_words_count(word_of, n);
    if (m < 1) return vm_errorf(err, VM_EINVAL, "SampleShapley: the text has no words, only [CLS] and [SEP]");
    int32_t P = permutations;
    out->n = m;
    out->target = target;
    out->permutations = P;
    out->seed = shapley_seed(example_seed);
    out->phi = vm_calloc((size_t)m, sizeof(double), err);
    out->perm_sum = vm_calloc((size_t)P, sizeof(double), err);
    int32_t *perm = vm_malloc(sizeof(int32_t) * (size_t)P * (size_t)m, err);
    int32_t *wstart = word_of ? vm_malloc(sizeof(int32_t) * (size_t)(m + 1), err) : NULL;
    int32_t *wpos = word_of ? vm_malloc(sizeof(int32_t) * (size_t)n, err) : NULL;
    int64_t total = 2 + (int64_t)P * (m - 1);
    double *y = vm_malloc(sizeof(double) * (size_t)total, err);
    enum vm_status s = VM_OK;
    if (!out->phi || !out->perm_sum || !perm || !y || (word_of && (!wstart || !wpos))) s = VM_ENOMEM;
    if (!s) {
        if (word_of) word_positions(word_of, n, m, wstart, wpos);
        struct vm_rng r;
        vm_rng_init(&r, out->seed);
        for (int32_t p = 0; p < P; p++) {
            int32_t *q = perm + (size_t)p * (size_t)m;
            for (int32_t i = 0; i < m; i++) q[i] = i;
            for (int32_t i = m - 1; i > 0; i--) {
                int32_t k = (int32_t)vm_rng_below(&r, (uint64_t)i + 1);
                int32_t t = q[i];
                q[i] = q[k];
                q[k] = t;
            }
        }
        struct shapley_stream st = {ids, n, m, c->pad_id, word_of, wstart, wpos, perm};
        s = eval_stream(c, total, text_T(c, n), shapley_build, &st, target, y, err);
    }
    if (!s) {
        out->f_base = y[0];
        out->f_full = y[1];
        for (int32_t p = 0; p < P; p++) {
            const int32_t *q = perm + (size_t)p * (size_t)m;
            double prev = out->f_base;
            for (int32_t j = 1; j <= m; j++) {
                double cur = j == m ? out->f_full : y[2 + (int64_t)p * (m - 1) + (j - 1)];
                out->phi[q[j - 1]] += cur - prev;
                out->perm_sum[p] += cur - prev;
                prev = cur;
            }
        }
        for (int32_t i = 0; i < m; i++) out->phi[i] /= P;
    }
    free(perm);
    free(wstart);
    free(wpos);
    free(y);
    if (s) {
        vm_shapley_free(out);
        return vm_error_prefix(err, "SampleShapley");
    }
    return VM_OK;
}

/* ---- AOPC ---- */

void vm_aopc_opts_default(struct vm_aopc_opts *o) {
    memset(o, 0, sizeof *o);
    o->removal = VM_AOPC_DELETE;
    o->score = VM_AOPC_PROB;
}

/* log(p / (1 - p)) with p clamped to [1e-7, 1 - 1e-7], so a certain prediction stays finite */
static double log_odds(double p) {
    const double eps = 1e-7;
    if (p < eps) p = eps;
    if (p > 1 - eps) p = 1 - eps;
    return log(p / (1 - p));
}

enum vm_status vm_aopc_deltas_opts(struct vm_classifier *c, const int32_t *ids, int32_t n, const int32_t *feature_of,
                                   const int32_t *order, int32_t n_order, int32_t K, int32_t target, double p0,
                                   const struct vm_aopc_opts *o, double *delta, int32_t *steps, struct vm_error *err) {
    int32_t m = K < n_order ? K : n_order;
    *steps = m > 0 ? m : 0;
    if (m <= 0) return VM_OK;
    int32_t T = text_T(c, n);
    int32_t *buf = vm_malloc(sizeof(int32_t) * (size_t)m * (size_t)T, err);
    uint8_t *removed = vm_calloc((size_t)n, 1, err);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)m, err);
    int32_t *lens = vm_malloc(sizeof *lens * (size_t)m, err);
    float *probs = vm_malloc(sizeof(float) * (size_t)m * (size_t)c->n_classes, err);
    enum vm_status s = VM_OK;
    if (!buf || !removed || !seqs || !lens || !probs) s = VM_ENOMEM;
    for (int32_t k = 0; !s && k < m; k++) {
        /* cumulative: step k removes features order[0..k]; single: only order[k] */
        if (o->single) memset(removed, 0, (size_t)n);
        for (int32_t i = 0; i < n; i++)
            if ((feature_of ? feature_of[i] : i) == order[k]) removed[i] = 1;
        int32_t *seq = buf + (size_t)k * (size_t)T, len = 0;
        for (int32_t i = 0; i < n; i++)
            if (!removed[i]) seq[len++] = ids[i];
            else if (o->removal != VM_AOPC_DELETE) seq[len++] = o->replace_id; /* in place: same length */
        seqs[k] = seq;
        lens[k] = len;
    }
    if (!s) s = vm_classifier_probs(c, seqs, lens, m, T, probs, err);
    if (!s)
        for (int32_t k = 0; k < m; k++) {
            double pk = probs[(size_t)k * (size_t)c->n_classes + (size_t)target];
            delta[k] = o->score == VM_AOPC_LOGODDS ? log_odds(p0) - log_odds(pk) : p0 - pk;
        }
    free(buf);
    free(removed);
    free(seqs);
    free(lens);
    free(probs);
    return s ? vm_error_prefix(err, "AOPC") : VM_OK;
}

enum vm_status vm_aopc_deltas(struct vm_classifier *c, const int32_t *ids, int32_t n, const int32_t *feature_of,
                              const int32_t *order, int32_t n_order, int32_t K, int32_t target, double p0, double *delta,
                              int32_t *steps, struct vm_error *err) {
    struct vm_aopc_opts o;
    vm_aopc_opts_default(&o);
    return vm_aopc_deltas_opts(c, ids, n, feature_of, order, n_order, K, target, p0, &o, delta, steps, err);
}

double vm_aopc_value_norm(const double *delta, int32_t steps, int32_t k, bool by_k) {
    double sum = 0;
    for (int32_t j = 0; j < k && j < steps; j++) sum += delta[j];
    return sum / (double)(by_k ? k : k + 1);
}

double vm_aopc_value(const double *delta, int32_t steps, int32_t k) { return vm_aopc_value_norm(delta, steps, k, false); }

/* ---- post-hoc accuracy ---- */

enum vm_status vm_posthoc_text(struct vm_classifier *c, const int32_t *ids, int32_t n, const int32_t *word_of, const double *importance,
                               int32_t kmax, int32_t full_pred, uint8_t *match, struct vm_error *err) {
    if (n < 1) return vm_errorf(err, VM_EINVAL, "post-hoc accuracy: the text has no tokens");
    int32_t T = text_T(c, n);
    int32_t nw = vm_words_count(word_of, n);
    /* row 0: the full text (only when full_pred is not given); rows 1..: k = 1 .. min(kmax, nw - 1) */
    int32_t m = kmax < nw - 1 ? kmax : nw - 1;
    if (m < 0) m = 0;
    int64_t rows = m + 1;
    int32_t *buf = vm_malloc(sizeof(int32_t) * (size_t)rows * (size_t)n, err);
    int32_t *order = vm_malloc(sizeof(int32_t) * (size_t)(nw > 0 ? nw : 1), err);
    uint8_t *kept = vm_calloc((size_t)(nw > 0 ? nw : 1), 1, err);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)rows, err);
    int32_t *lens = vm_malloc(sizeof *lens * (size_t)rows, err);
    float *probs = vm_malloc(sizeof(float) * (size_t)rows * (size_t)c->n_classes, err);
    enum vm_status s = VM_OK;
    if (!buf || !order || !kept || !seqs || !lens || !probs) s = VM_ENOMEM;
    if (!s) {
        vm_rank_positions(importance, nw, order);
        memcpy(buf, ids, sizeof(int32_t) * (size_t)n);
        seqs[0] = buf;
        lens[0] = n;
        for (int32_t k = 1; k <= m; k++) {
            /* the top-k words keep every piece; [CLS] / [SEP] (word -1) stay in place */
            kept[order[k - 1]] = 1;
            int32_t *seq = buf + (size_t)k * (size_t)n;
            for (int32_t i = 0; i < n; i++) {
                int32_t w = word_of ? word_of[i] : i;
                seq[i] = w < 0 || kept[w] ? ids[i] : c->pad_id;
            }
            seqs[k] = seq;
            lens[k] = n;
        }
        int64_t first = full_pred >= 0 ? 1 : 0;
        if (rows > first) s = vm_classifier_probs(c, seqs + first, lens + first, rows - first, T, probs + first * c->n_classes, err);
        if (!s) {
            if (full_pred < 0) full_pred = vm_argmax_f(probs, c->n_classes);
            for (int32_t k = 1; k <= kmax; k++)
                match[k - 1] = k > m ? 1 : vm_argmax_f(probs + (size_t)k * (size_t)c->n_classes, c->n_classes) == full_pred;
        }
    }
    free(buf);
    free(order);
    free(kept);
    free(seqs);
    free(lens);
    free(probs);
    return s ? vm_error_prefix(err, "post-hoc accuracy") : VM_OK;
}

void vm_word_mean(const double *score, const int32_t *word_of, int32_t n, int32_t n_words, double *out) {
    for (int32_t w = 0; w < n_words; w++) out[w] = 0;
    if (!word_of) {
        for (int32_t i = 0; i < n && i < n_words; i++) out[i] = score[i];
        return;
    }
    for (int32_t w = 0; w < n_words; w++) out[w] = NAN;
    /* a word's pieces are contiguous (as vm_text_encode gives them): one run per word */
    for (int32_t i = 0; i < n;) {
        int32_t w = word_of[i], j = i;
        double sum = 0;
        int32_t cnt = 0;
        for (; j < n && word_of[j] == w; j++)
            if (isfinite(score[j])) {
                sum += score[j];
                cnt++;
            }
        if (w >= 0 && w < n_words) out[w] = cnt ? sum / cnt : NAN;
        i = j;
    }
}

/* ---- global importance per whole word ---- */

void vm_word_table_free(struct vm_word_table *wt) {
    for (int64_t i = 0; i < wt->n; i++) {
        free(wt->words[i]);
        free(wt->pieces[i]);
    }
    free(wt->words);
    free(wt->pieces);
    free(wt->score);
    free(wt->freq);
    free(wt->hash);
    memset(wt, 0, sizeof *wt);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The slot of word text t: its entry, or the empty slot where it goes. */
static int64_t *wt_slot(struct vm_word_table *wt, const char *t) {
    uint64_t mask = wt->hash_cap - 1;
    for (uint64_t h = fnv1a(t) & mask;; h = (h + 1) & mask)
        if (wt->hash[h] < 0 || !strcmp(wt->words[wt->hash[h]], t)) return &wt->hash[h];
}

static enum vm_status wt_grow(struct vm_word_table *wt, struct vm_error *err) {
    if (wt->n + 1 <= wt->cap && (uint64_t)(wt->n + 1) * 2 <= wt->hash_cap) return VM_OK;
    if (wt->n + 1 > wt->cap) {
        int64_t cap = wt->cap ? 2 * wt->cap : 1024;
        char **w = vm_realloc(wt->words, sizeof(char *) * (size_t)cap, err);
        if (!w) return VM_ENOMEM;
        wt->words = w;
        char **p = vm_realloc(wt->pieces, sizeof(char *) * (size_t)cap, err);
        if (!p) return VM_ENOMEM;
        wt->pieces = p;
        double *sc = vm_realloc(wt->score, sizeof(double) * (size_t)cap, err);
        if (!sc) return VM_ENOMEM;
        wt->score = sc;
        int64_t *f = vm_realloc(wt->freq, sizeof(int64_t) * (size_t)cap, err);
        if (!f) return VM_ENOMEM;
        wt->freq = f;
        wt->cap = cap;
    }
    if ((uint64_t)(wt->n + 1) * 2 > wt->hash_cap) {
        uint64_t hc = wt->hash_cap ? 2 * wt->hash_cap : 4096;
        int64_t *h = vm_malloc(sizeof(int64_t) * hc, err);
        if (!h) return VM_ENOMEM;
        free(wt->hash);
        wt->hash = h;
        wt->hash_cap = hc;
        for (uint64_t i = 0; i < hc; i++) h[i] = -1;
        for (int64_t i = 0; i < wt->n; i++) *wt_slot(wt, wt->words[i]) = i;
    }
    return VM_OK;
}

/* Adds one occurrence of the word made of pieces[0..len) with ids[0..len). */
static enum vm_status wt_add(struct vm_word_table *wt, char *const *pieces, const int32_t *ids, int32_t len, const double *id_score,
                             struct vm_error *err) {
    size_t tl = 0, pl = 0;
    for (int32_t k = 0; k < len; k++) {
        tl += strlen(vm_piece_text(pieces[k], k > 0));
        pl += strlen(pieces[k]) + 1;
    }
    char *text = vm_malloc(tl + 1, err);
    if (!text) return VM_ENOMEM;
    text[0] = 0;
    for (int32_t k = 0; k < len; k++) strcat(text, vm_piece_text(pieces[k], k > 0));
    double sum = 0;
    int32_t cnt = 0;
    for (int32_t k = 0; k < len; k++)
        if (isfinite(id_score[ids[k]])) {
            sum += id_score[ids[k]];
            cnt++;
        }
    enum vm_status s = wt_grow(wt, err);
    if (s) {
        free(text);
        return s;
    }
    int64_t *slot = wt_slot(wt, text);
    if (*slot >= 0) {
        free(text);
        int64_t i = *slot;
        /* the score accumulates the occurrences' sums here and is divided once at the end */
        wt->score[i] += cnt ? sum / cnt : NAN;
        wt->freq[i]++;
        return VM_OK;
    }
    char *pj = vm_malloc(pl + 1, err);
    if (!pj) {
        free(text);
        return VM_ENOMEM;
    }
    pj[0] = 0;
    for (int32_t k = 0; k < len; k++) {
        if (k) strcat(pj, " ");
        strcat(pj, pieces[k]);
    }
    int64_t i = wt->n++;
    wt->words[i] = text;
    wt->pieces[i] = pj;
    wt->score[i] = cnt ? sum / cnt : NAN;
    wt->freq[i] = 1;
    *slot = i;
    return VM_OK;
}

enum vm_status vm_word_table_build(const struct vm_tokenizer *t, const struct vm_vocab *v, char *const *texts, int64_t n_texts,
                                   int32_t max_len, const double *id_score, struct vm_word_table *out, struct vm_error *err) {
    memset(out, 0, sizeof *out);
    enum vm_status s = VM_OK;
    for (int64_t x = 0; x < n_texts && !s; x++) {
        struct vm_encoding e;
        s = vm_text_encode(t, v, texts[x], max_len, true, &e, err);
        for (int32_t i = 0; !s && i < e.n;) {
            int32_t j = i;
            /* the word tokenizer has no word_of: every token is a word */
            if (e.word_of)
                while (j < e.n && e.word_of[j] == e.word_of[i]) j++;
            else j = i + 1;
            if (!e.word_of || e.word_of[i] >= 0) s = wt_add(out, e.pieces + i, e.ids + i, j - i, id_score, err);
            i = j;
        }
        vm_encoding_free(&e);
        if (s) vm_error_prefix(err, "text %lld", (long long)x + 1);
    }
    for (int64_t i = 0; !s && i < out->n; i++) out->score[i] /= (double)out->freq[i];
    if (s) vm_word_table_free(out);
    return s;
}
