/* test_explain: the explanation library (runtime/explain.h).
 *   (a) the LIME surrogate against sklearn: kernel weights recomputed from Z (1e-12) and the ridge
 *       weights and intercept (1e-6) for the committed fixtures (tests/explain/lime_*.txt, written
 *       by tests/explain/make_lime_fixture.py with Debian's python3-sklearn);
 *   (b) LIME sampling: row 0 is the original, removal counts are in 1..d and roughly uniform, the
 *       same seed gives the same Z, and the texts sent to the model are exactly the deletions
 *       described by Z (all occurrences of a removed token, padded to the text's length);
 *   (c) AOPC arithmetic on Nguyen's (2018) unit test: two removals with K = 2 give 0.5/3;
 *   (d) SampleShapley: every permutation's credits sum to f(x) - f(baseline), and an additive
 *       model's values are exact;
 *   (e) post-hoc accuracy on a toy model, ties by earlier position, k beyond the text;
 *   (f) whole words of a WordPiece text: a toy model whose output depends on all pieces of one word
 *       being present; LIME and SampleShapley have one feature per word, every perturbation keeps or
 *       drops a word's pieces together, AOPC deletes all pieces of a word, post-hoc accuracy keeps
 *       [CLS] / [SEP] in place, the mask's word score is the mean of its pieces, and the corpus word
 *       table joins pieces into words;
 *   and the feeder backend on a compiled fixture CNN: a text's probabilities do not depend on the
 *   other texts of its batch or on the chunking.
 * Toy models are C functions behind struct vm_classifier.
 *
 * Usage: test_explain [source dir]   (default VM_SOURCE_DIR)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/compiler.h"
#include "../../compiler/passes.h"
#include "../../runtime/explain.h"
#include "vmtest.h"

#ifndef VM_SOURCE_DIR
#define VM_SOURCE_DIR "."
#endif

static const char *src_dir = VM_SOURCE_DIR;

/* ---- toy classifiers ---- */

struct toy {
    int kind;           /* 0 Nguyen's rules, 1 additive, 2 additive + interaction, 3 sign of a sum,
                         * 4 the word 20 21 22 (all three pieces, in a row) */
    double a[64];       /* per-id contribution */
    /* recording (kind-independent): every sequence seen, in order */
    int32_t *rec;       /* [cap, rec_T] */
    int32_t *rec_len;
    int64_t n_rec, cap;
    int32_t rec_T;
    int32_t last_T;
};

static bool has(const int32_t *s, int32_t len, int32_t id) {
    for (int32_t i = 0; i < len; i++)
        if (s[i] == id) return true;
    return false;
}

static enum vm_status toy_run(struct vm_classifier *c, const int32_t *const *seqs, const int32_t *lens, int64_t n, int32_t T,
                              float *probs, struct vm_error *err) {
    struct toy *t = c->ctx;
    t->last_T = T;
    for (int64_t b = 0; b < n; b++) {
        const int32_t *s = seqs[b];
        int32_t len = lens[b];
        if (t->rec && t->n_rec < t->cap) {
            for (int32_t i = 0; i < t->rec_T; i++) t->rec[t->n_rec * t->rec_T + i] = i < len ? s[i] : -1;
            t->rec_len[t->n_rec++] = len;
        }
        double p1 = 0.5;
        if (t->kind == 4) {
            p1 = 0.1;
            for (int32_t i = 0; i + 2 < len; i++)
                if (s[i] == 20 && s[i + 1] == 21 && s[i + 2] == 22) p1 = 0.9;
        } else if (t->kind == 0) {
            /* Nguyen's mock_pipeline_prob: 'test' -> 1, 'a' -> 0.8, '125' -> 0.7, else 0.5 */
            p1 = has(s, len, 13) ? 1.0 : has(s, len, 12) ? 0.8 : has(s, len, 15) ? 0.7 : 0.5;
        } else {
            double z = 0;
            for (int32_t i = 0; i < len; i++)
                if (s[i] != c->pad_id) z += t->a[s[i] & 63];
            if (t->kind == 1) p1 = 0.5 + z;
            else if (t->kind == 2) p1 = 1.0 / (1.0 + exp(-(z + (has(s, len, 5) && has(s, len, 7) ? 1.5 : 0.0))));
            else p1 = z > 0 ? 0.9 : 0.1;
        }
        probs[b * 2] = (float)(1 - p1);
        probs[b * 2 + 1] = (float)p1;
    }
    return VM_OK;
}

static void toy_classifier(struct vm_classifier *c, struct toy *t, int32_t batch) {
    memset(c, 0, sizeof *c);
    c->run = toy_run;
    c->ctx = t;
    c->n_classes = 2;
    c->pad_id = 0;
    c->min_len = 1;
    c->batch = batch;
}

/* ---- (a) sklearn fixtures ---- */

static void test_ridge_fixture(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/explain/lime_%s.txt", src_dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK_MSG(0, "cannot open %s", path);
        return;
    }
    char line[8192];
    int N = 0, d = 0;
    double alpha = 0, width = 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#') break;
    CHECK(sscanf(line, "%d %d %lf %lf", &N, &d, &alpha, &width) == 4);
    double *coef = malloc(sizeof(double) * (size_t)d), *ours = malloc(sizeof(double) * (size_t)d);
    double *X = malloc(sizeof(double) * (size_t)N * (size_t)d), *pi = malloc(sizeof(double) * (size_t)N);
    double *pi_ours = malloc(sizeof(double) * (size_t)N), *y = malloc(sizeof(double) * (size_t)N), icpt = 0, icpt_ours = 0;
    uint8_t *Z = malloc((size_t)N * (size_t)d);
    bool ok = true;
    for (int j = 0; j < d; j++) ok &= fscanf(f, "%lf", &coef[j]) == 1;
    ok &= fscanf(f, "%lf", &icpt) == 1;
    for (int i = 0; i < N && ok; i++) {
        char bits[4096];
        ok &= fscanf(f, "%4095s %lf %lf", bits, &pi[i], &y[i]) == 3 && (int)strlen(bits) == d;
        for (int j = 0; j < d && ok; j++) {
            Z[(size_t)i * (size_t)d + (size_t)j] = bits[j] == '1';
            X[(size_t)i * (size_t)d + (size_t)j] = bits[j] == '1';
        }
    }
    fclose(f);
    CHECK_MSG(ok, "%s: malformed fixture", path);
    if (ok) {
        vm_lime_kernel(Z, N, d, width, pi_ours);
        double worst = 0;
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(pi_ours[i] - pi[i]));
        CHECK_MSG(worst < 1e-12, "%s: kernel weights differ from LIME's by %g", name, worst);
        struct vm_error err = {0};
        CHECK_MSG(!vm_ridge_fit(X, N, d, pi, y, alpha, ours, &icpt_ours, &err), "%s: %s", name, err.msg);
        worst = fabs(icpt_ours - icpt);
        for (int j = 0; j < d; j++) worst = fmax(worst, fabs(ours[j] - coef[j]));
        CHECK_MSG(worst < 1e-6, "%s: ridge differs from sklearn by %g", name, worst);
        printf("  ridge %-14s N=%4d d=%2d alpha=%g: max |ours - sklearn| = %.2e\n", name, N, d, alpha, worst);
    }
    free(coef);
    free(ours);
    free(X);
    free(pi);
    free(pi_ours);
    free(y);
    free(Z);
}

/* ---- (b) LIME sampling ---- */

static void test_lime_sampling(void) {
    enum { N = 5000, D = 9 };
    uint8_t *Z = malloc(N * D), *Z2 = malloc(N * D), *Z3 = malloc(N * D);
    vm_lime_sample(N, D, 42, Z);
    vm_lime_sample(N, D, 42, Z2);
    vm_lime_sample(N, D, 43, Z3);
    CHECK(!memcmp(Z, Z2, N * D));
    CHECK(memcmp(Z, Z3, N * D) != 0);
    for (int j = 0; j < D; j++) CHECK(Z[j] == 1);
    int64_t count[D + 1] = {0}, removed_per_feature[D] = {0};
    bool in_range = true;
    for (int i = 1; i < N; i++) {
        int r = 0;
        for (int j = 0; j < D; j++) {
            r += !Z[i * D + j];
            removed_per_feature[j] += !Z[i * D + j];
        }
        in_range &= r >= 1 && r <= D;
        count[r]++;
    }
    CHECK(in_range);
    /* uniform on 1..D: each count about (N-1)/D = 555, sd ~ 22 */
    for (int r = 1; r <= D; r++) CHECK_MSG(labs((long)count[r] - (N - 1) / D) < 120, "removal count %d drawn %lld times", r, (long long)count[r]);
    /* every feature is removed with the same probability: E = (N-1) (D+1)/2 / D = 2777 */
    for (int j = 0; j < D; j++) CHECK_MSG(labs((long)removed_per_feature[j] - 2777) < 200, "feature %d removed %lld times", j, (long long)removed_per_feature[j]);
    /* kernel: all removed gives D = 100, weight exp(-100^2 / (2 * 25^2)) = exp(-8) */
    uint8_t zero[3] = {0, 0, 0}, ones[3] = {1, 1, 1};
    double pi;
    vm_lime_kernel(zero, 1, 3, 25.0, &pi);
    CHECK(fabs(pi - exp(-8.0)) < 1e-18);
    vm_lime_kernel(ones, 1, 3, 25.0, &pi);
    CHECK(pi == 1.0);
    free(Z);
    free(Z2);
    free(Z3);

    /* the texts the model sees: token 3 occurs twice, so d = 5 features for 6 tokens */
    const int32_t ids[] = {3, 8, 9, 3, 11, 12};
    const int n = 6;
    struct toy t = {.kind = 1};
    for (int i = 0; i < 64; i++) t.a[i] = 0.01 * (i % 7) - 0.03;
    t.cap = 5000;
    t.rec_T = n;
    t.rec = malloc(sizeof(int32_t) * (size_t)t.cap * n);
    t.rec_len = malloc(sizeof(int32_t) * (size_t)t.cap);
    struct vm_classifier c;
    toy_classifier(&c, &t, 7); /* chunks of 7 with a partial last chunk */
    struct vm_lime_opts o;
    vm_lime_opts_default(&o);
    o.samples = 500;
    struct vm_lime l, l2;
    struct vm_error err = {0};
    CHECK_MSG(!vm_lime_explain(&c, ids, n, NULL, 1, vm_explain_example_seed(1, 17), &o, &l, &err), "%s", err.msg);
    CHECK(l.d == 5 && l.feature_of[0] == 0 && l.feature_of[3] == 0 && l.feature_of[5] == 4);
    CHECK(t.n_rec == 500 && c.forward_passes == 500 && c.runs == (500 + 6) / 7);
    CHECK(t.last_T == n);
    uint8_t *Zl = malloc(500 * 5);
    vm_lime_sample(500, 5, l.seed, Zl);
    bool same = true;
    for (int s = 0; s < 500; s++) {
        int32_t len = 0;
        for (int i = 0; i < n; i++)
            if (Zl[s * 5 + l.feature_of[i]]) same &= t.rec[s * n + len++] == ids[i];
        same &= t.rec_len[s] == len;
    }
    CHECK_MSG(same, "the LIME texts are not the deletions described by Z");
    CHECK(t.rec_len[0] == n);
    /* an additive model: LIME's weight of a token type ~ its total contribution (ridge shrinkage
     * is small with alpha = 1 against ~hundreds of kernel weight) */
    double expect[5] = {2 * t.a[3], t.a[8], t.a[9], t.a[11], t.a[12]};
    double worst = 0;
    for (int j = 0; j < 5; j++) worst = fmax(worst, fabs(l.weight[j] - expect[j]));
    CHECK_MSG(worst < 2e-3, "LIME on an additive model is off by %g", worst);
    CHECK(l.score > 0.99);
    /* determinism per seed, independent of the batch size */
    struct toy t2 = t;
    t2.rec = NULL;
    struct vm_classifier c2;
    toy_classifier(&c2, &t2, 64);
    CHECK(!vm_lime_explain(&c2, ids, n, NULL, 1, vm_explain_example_seed(1, 17), &o, &l2, &err));
    same = l2.intercept == l.intercept;
    for (int j = 0; j < 5; j++) same &= l2.weight[j] == l.weight[j];
    CHECK(same);
    vm_lime_free(&l2);
    CHECK(!vm_lime_explain(&c2, ids, n, NULL, 1, vm_explain_example_seed(1, 18), &o, &l2, &err));
    CHECK(l2.seed != l.seed);
    /* the "for" list: positive weights, descending */
    int32_t order[5];
    int32_t m = vm_lime_top_features(&l, order);
    bool sorted = true;
    for (int k = 0; k < m; k++) sorted &= l.weight[order[k]] > 0 && (k == 0 || l.weight[order[k - 1]] >= l.weight[order[k]]);
    CHECK(sorted);
    vm_lime_free(&l);
    vm_lime_free(&l2);
    free(Zl);
    free(t.rec);
    free(t.rec_len);
    /* no tokens */
    CHECK(vm_lime_explain(&c2, ids, 0, NULL, 1, 1, &o, &l2, &err) == VM_EINVAL);
}

/* ---- (c) AOPC ---- */

static void test_aopc(void) {
    /* "this is a test hello 125", explanation ["test", "a", "125", "this"], L = 2 */
    const int32_t ids[] = {10, 11, 12, 13, 14, 15};
    const int32_t order_types[] = {13, 12, 15, 10};
    int32_t feature_of[6], feature_id[6];
    int32_t d = vm_lime_features(ids, 6, feature_of, feature_id);
    CHECK(d == 6);
    int32_t order[4];
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < d; j++)
            if (feature_id[j] == order_types[k]) order[k] = j;
    struct toy t = {.kind = 0};
    struct vm_classifier c;
    toy_classifier(&c, &t, 512);
    struct vm_error err = {0};
    float p[2];
    const int32_t *seq = ids;
    int32_t len = 6;
    CHECK(!vm_classifier_probs(&c, &seq, &len, 1, 0, p, &err));
    CHECK(p[1] == 1.0f);
    double delta[5];
    int32_t steps;
    CHECK(!vm_aopc_deltas(&c, ids, 6, feature_of, order, 4, 2, 1, p[1], delta, &steps, &err));
    CHECK(steps == 2);
    CHECK(fabs(delta[0] - 0.2) < 1e-6 && fabs(delta[1] - 0.3) < 1e-6);
    CHECK_MSG(fabs(vm_aopc_value(delta, steps, 2) - 0.5 / 3) < 1e-6, "AOPC %g, expected 0.5/3", vm_aopc_value(delta, steps, 2));
    /* K = 5 with only 4 features: the denominator stays K + 1 */
    CHECK(!vm_aopc_deltas(&c, ids, 6, feature_of, order, 4, 5, 1, p[1], delta, &steps, &err));
    CHECK(steps == 4);
    /* removing test, a, 125, this: 0.8, 0.7, 0.5, 0.5 */
    CHECK(fabs(vm_aopc_value(delta, steps, 5) - (0.2 + 0.3 + 0.5 + 0.5) / 6) < 1e-6);
    CHECK(fabs(vm_aopc_value(delta, steps, 1) - 0.2 / 2) < 1e-6);
    /* position features (feature_of NULL): deleting position 3 ("test") */
    int32_t pos = 3;
    CHECK(!vm_aopc_deltas(&c, ids, 6, NULL, &pos, 1, 5, 1, p[1], delta, &steps, &err));
    CHECK(steps == 1 && fabs(delta[0] - 0.2) < 1e-6);
    /* nothing to remove */
    CHECK(!vm_aopc_deltas(&c, ids, 6, NULL, &pos, 0, 5, 1, p[1], delta, &steps, &err) && steps == 0);
    CHECK(vm_aopc_value(delta, 0, 5) == 0);

    /* the ablation variants (vm_aopc_deltas_opts) */
    struct vm_aopc_opts ao;
    vm_aopc_opts_default(&ao);
    CHECK(!vm_aopc_deltas_opts(&c, ids, 6, feature_of, order, 4, 2, 1, p[1], &ao, delta, &steps, &err));
    CHECK(steps == 2 && fabs(delta[0] - 0.2) < 1e-6 && fabs(delta[1] - 0.3) < 1e-6); /* the defaults are vm_aopc_deltas */
    CHECK(fabs(vm_aopc_value_norm(delta, steps, 2, true) - 0.5 / 2) < 1e-6);        /* divided by K */
    /* single: each step removes only its own word; only "test" matters alone */
    ao.single = true;
    CHECK(!vm_aopc_deltas_opts(&c, ids, 6, feature_of, order, 4, 4, 1, p[1], &ao, delta, &steps, &err));
    CHECK(steps == 4 && fabs(delta[0] - 0.2) < 1e-6 && fabs(delta[1]) < 1e-6 && fabs(delta[2]) < 1e-6 && fabs(delta[3]) < 1e-6);
    /* replace in place: with id 12 ("a") as the filler, removing "a" leaves an "a" behind */
    ao.single = false;
    ao.removal = VM_AOPC_REPLACE;
    ao.replace_id = 12;
    CHECK(!vm_aopc_deltas_opts(&c, ids, 6, feature_of, order, 4, 2, 1, p[1], &ao, delta, &steps, &err));
    CHECK(steps == 2 && fabs(delta[0] - 0.2) < 1e-6 && fabs(delta[1] - 0.2) < 1e-6);
    /* log-odds drops: p 1 (clamped to 1 - 1e-7) -> 0.8 */
    vm_aopc_opts_default(&ao);
    ao.score = VM_AOPC_LOGODDS;
    CHECK(!vm_aopc_deltas_opts(&c, ids, 6, feature_of, order, 4, 1, 1, p[1], &ao, delta, &steps, &err));
    CHECK_MSG(steps == 1 && fabs(delta[0] - (log((1 - 1e-7) / 1e-7) - log(4.0))) < 1e-4, "log-odds drop %g", delta[0]);
}

/* ---- (d) SampleShapley ---- */

static void test_shapley(void) {
    const int32_t ids[] = {5, 9, 7, 3, 5, 11, 2};
    const int n = 7;
    struct toy t = {.kind = 2};
    for (int i = 0; i < 64; i++) t.a[i] = 0.2 * ((i * 7) % 5) - 0.35;
    t.a[0] = 0; /* pad */
    struct vm_classifier c;
    toy_classifier(&c, &t, 50);
    struct vm_shapley s;
    struct vm_error err = {0};
    CHECK_MSG(!vm_shapley_explain(&c, ids, n, NULL, 1, vm_explain_example_seed(3, 0), 40, &s, &err), "%s", err.msg);
    CHECK(c.forward_passes == 2 + 40 * (n - 1));
    double worst = 0, sum = 0;
    for (int p = 0; p < 40; p++) worst = fmax(worst, fabs(s.perm_sum[p] - (s.f_full - s.f_base)));
    for (int i = 0; i < n; i++) sum += s.phi[i];
    CHECK_MSG(worst < 1e-9, "a permutation's credits miss f(x) - f(baseline) by %g", worst);
    CHECK(fabs(sum - (s.f_full - s.f_base)) < 1e-9);
    /* f(baseline) is the all-pad text: sigmoid(0) */
    CHECK(fabs(s.f_base - 0.5) < 1e-7);
    vm_shapley_free(&s);

    /* additive model: every permutation credits exactly a[id] */
    struct toy ta = {.kind = 1};
    for (int i = 0; i < 64; i++) ta.a[i] = 0.01 * ((i * 3) % 11) - 0.05;
    ta.a[0] = 0;
    toy_classifier(&c, &ta, 16);
    CHECK(!vm_shapley_explain(&c, ids, n, NULL, 1, 99, 25, &s, &err));
    worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(s.phi[i] - ta.a[ids[i]]));
    CHECK_MSG(worst < 1e-6, "additive Shapley off by %g", worst);
    /* a one-token text */
    vm_shapley_free(&s);
    CHECK(!vm_shapley_explain(&c, ids + 1, 1, NULL, 1, 99, 10, &s, &err));
    CHECK(fabs(s.phi[0] - ta.a[ids[1]]) < 1e-6);
    vm_shapley_free(&s);
    /* determinism */
    struct vm_shapley s1, s2;
    toy_classifier(&c, &t, 50);
    CHECK(!vm_shapley_explain(&c, ids, n, NULL, 1, 7, 30, &s1, &err));
    toy_classifier(&c, &t, 13);
    CHECK(!vm_shapley_explain(&c, ids, n, NULL, 1, 7, 30, &s2, &err));
    bool same = true;
    for (int i = 0; i < n; i++) same &= s1.phi[i] == s2.phi[i];
    CHECK(same);
    vm_shapley_free(&s1);
    vm_shapley_free(&s2);
}

/* ---- (e) post-hoc accuracy ---- */

static void test_posthoc(void) {
    /* p1 = 0.9 when the sum of contributions of the kept tokens is > 0 */
    struct toy t = {.kind = 3};
    t.a[1] = 1.0;   /* strongly positive */
    t.a[2] = -0.6;
    t.a[3] = -0.6;
    t.a[4] = 0.1;
    struct vm_classifier c;
    toy_classifier(&c, &t, 512);
    struct vm_error err = {0};
    const int32_t ids[] = {2, 3, 1, 4};
    /* full sum -0.1 -> class 0. Importance ranks 2, 3 (tie: earlier first), then 1, then 4 */
    double imp[] = {0.8, 0.8, 0.5, 0.1};
    uint8_t match[6];
    CHECK(!vm_posthoc_text(&c, ids, 4, NULL, imp, 6, -1, match, &err));
    /* k=1 keeps {2}: -0.6 -> 0 match; k=2 {2,3} -> match; k=3 {2,3,1}: -0.2 -> match;
     * k >= 4 keeps everything -> match */
    CHECK(match[0] == 1 && match[1] == 1 && match[2] == 1 && match[3] == 1 && match[4] == 1 && match[5] == 1);
    double imp2[] = {0.1, 0.2, 0.9, 0.3};
    /* ranks 1 (0.9), then 4, 3, 2: k=1 {1}: +1 -> class 1, mismatch; k=2 {1,4}: mismatch;
     * k=3 {1,4,3}: 0.5 -> mismatch */
    CHECK(!vm_posthoc_text(&c, ids, 4, NULL, imp2, 4, -1, match, &err));
    CHECK(match[0] == 0 && match[1] == 0 && match[2] == 0 && match[3] == 1);
    /* the pad id fills the removed positions in place (same length) */
    struct toy tr = t;
    tr.cap = 16;
    tr.rec_T = 4;
    tr.rec = malloc(sizeof(int32_t) * 64);
    tr.rec_len = malloc(sizeof(int32_t) * 16);
    toy_classifier(&c, &tr, 512);
    CHECK(!vm_posthoc_text(&c, ids, 4, NULL, imp2, 2, 0, match, &err));
    CHECK(tr.n_rec == 2); /* full_pred given: only k = 1, 2 are run */
    CHECK(tr.rec_len[0] == 4 && tr.rec[0] == 0 && tr.rec[1] == 0 && tr.rec[2] == 1 && tr.rec[3] == 0);
    CHECK(tr.rec[4] == 0 && tr.rec[5] == 0 && tr.rec[6] == 1 && tr.rec[7] == 4);
    free(tr.rec);
    free(tr.rec_len);
    /* ranking helper: ties by earlier position */
    double sc[] = {0.5, 0.9, 0.5, 0.9, 0.1};
    int32_t order[5];
    vm_rank_positions(sc, 5, order);
    CHECK(order[0] == 1 && order[1] == 3 && order[2] == 0 && order[3] == 2 && order[4] == 4);
}

/* ---- (f) whole words ---- */

/* [CLS] a X b Y [SEP] with X = 20 21 22 (three pieces) and Y = 23 21 (shares a piece with X) */
static const int32_t WP_IDS[] = {2, 10, 20, 21, 22, 11, 23, 21, 3};
static const int32_t WP_WORD[] = {-1, 0, 1, 1, 1, 2, 3, 3, -1};
enum { WP_N = 9, WP_CLS = 2, WP_SEP = 3 };

/* Every recorded sequence: [CLS] first, [SEP] last (deletion) or at its place (in place), and X's
 * pieces all there or none of 20, 22. Returns the number of bad sequences. */
static int wp_bad_sequences(const struct toy *t, bool in_place) {
    int bad = 0;
    for (int64_t r = 0; r < t->n_rec; r++) {
        const int32_t *q = t->rec + r * t->rec_T;
        int32_t len = t->rec_len[r];
        bool ok = q[0] == WP_CLS && q[len - 1] == WP_SEP && (!in_place || len == WP_N);
        int x = 0;
        for (int32_t i = 0; i < len; i++) x += q[i] == 20 || q[i] == 22;
        ok &= x == 0 || (x == 2 && has(q, len, 21));
        for (int32_t i = 0; i + 2 < len && x; i++)
            if (q[i] == 20) ok &= q[i + 1] == 21 && q[i + 2] == 22;
        bad += !ok;
    }
    return bad;
}

static void wp_record(struct toy *t, int64_t cap) {
    t->cap = cap;
    t->rec_T = WP_N;
    t->n_rec = 0;
    t->rec = malloc(sizeof(int32_t) * (size_t)(cap * WP_N));
    t->rec_len = malloc(sizeof(int32_t) * (size_t)cap);
}

static void test_words(void) {
    struct vm_error err = {0};
    struct vm_classifier c;
    CHECK(vm_words_count(WP_WORD, WP_N) == 4 && vm_words_count(NULL, WP_N) == WP_N);
    /* LIME's features: one per distinct word, none for [CLS] / [SEP]; X twice is one feature */
    int32_t fo[16], fid[16];
    CHECK(vm_lime_word_features(WP_IDS, WP_N, WP_WORD, fo, fid) == 4);
    for (int i = 0; i < WP_N; i++) CHECK_MSG(fo[i] == WP_WORD[i], "position %d is LIME feature %d, not %d", i, fo[i], WP_WORD[i]);
    CHECK(fid[1] == 20 && fid[3] == 23);
    const int32_t twice[] = {2, 20, 21, 22, 10, 20, 21, 22, 20, 3};
    const int32_t twice_w[] = {-1, 0, 0, 0, 1, 2, 2, 2, 3, -1};
    CHECK(vm_lime_word_features(twice, 10, twice_w, fo, fid) == 3);
    CHECK(fo[1] == 0 && fo[3] == 0 && fo[5] == 0 && fo[7] == 0 && fo[4] == 1 && fo[8] == 2 && fo[0] == -1 && fo[9] == -1);

    /* LIME: four features; X carries the prediction, its pieces come and go together */
    struct toy t = {.kind = 4};
    wp_record(&t, 4096);
    toy_classifier(&c, &t, 64);
    struct vm_lime_opts o;
    vm_lime_opts_default(&o);
    o.samples = 400;
    struct vm_lime l;
    CHECK_MSG(!vm_lime_explain(&c, WP_IDS, WP_N, WP_WORD, 1, 5, &o, &l, &err), "%s", err.msg);
    CHECK(l.d == 4);
    CHECK_MSG(l.weight[1] > 0.6 && fabs(l.weight[0]) < 0.05 && fabs(l.weight[2]) < 0.05 && fabs(l.weight[3]) < 0.05,
              "LIME word weights %g %g %g %g", l.weight[0], l.weight[1], l.weight[2], l.weight[3]);
    CHECK(t.n_rec == 400);
    CHECK_MSG(wp_bad_sequences(&t, false) == 0, "%d LIME texts split a word or drop [CLS]/[SEP]", wp_bad_sequences(&t, false));
    /* AOPC on LIME's ranking: deleting X deletes its three pieces and nothing else */
    int32_t order[4];
    int32_t n_order = vm_lime_top_features(&l, order);
    CHECK(n_order >= 1 && order[0] == 1);
    t.n_rec = 0;
    double delta[3];
    int32_t steps;
    CHECK(!vm_aopc_deltas(&c, WP_IDS, WP_N, l.feature_of, order, 1, 3, 1, 0.9, delta, &steps, &err));
    CHECK(steps == 1 && fabs(delta[0] - 0.8) < 1e-6);
    const int32_t without_x[] = {2, 10, 11, 23, 21, 3};
    CHECK(t.n_rec == 1 && t.rec_len[0] == 6 && !memcmp(t.rec, without_x, sizeof without_x));
    vm_lime_free(&l);

    /* SampleShapley: four players, X gets all of f(x) - f(baseline) in every permutation */
    t.n_rec = 0;
    struct vm_shapley sh;
    c.forward_passes = 0;
    CHECK_MSG(!vm_shapley_explain(&c, WP_IDS, WP_N, WP_WORD, 1, 9, 30, &sh, &err), "%s", err.msg);
    CHECK(sh.n == 4 && c.forward_passes == 2 + 30 * (4 - 1));
    CHECK_MSG(fabs(sh.phi[1] - 0.8) < 1e-6 && fabs(sh.phi[0]) < 1e-9 && fabs(sh.phi[2]) < 1e-9 && fabs(sh.phi[3]) < 1e-9,
              "Shapley word values %g %g %g %g", sh.phi[0], sh.phi[1], sh.phi[2], sh.phi[3]);
    CHECK(fabs(sh.f_base - 0.1) < 1e-6 && fabs(sh.f_full - 0.9) < 1e-6);
    CHECK_MSG(wp_bad_sequences(&t, true) == 0, "%d Shapley texts split a word or move [CLS]/[SEP]", wp_bad_sequences(&t, true));
    /* the baseline pads the words and keeps [CLS] / [SEP] */
    const int32_t base[] = {2, 0, 0, 0, 0, 0, 0, 0, 3};
    CHECK(!memcmp(t.rec, base, sizeof base));
    /* AOPC over words (feature_of = word_of), ranked by phi */
    vm_rank_positions(sh.phi, sh.n, order);
    CHECK(order[0] == 1);
    t.n_rec = 0;
    CHECK(!vm_aopc_deltas(&c, WP_IDS, WP_N, WP_WORD, order, 4, 3, 1, 0.9, delta, &steps, &err));
    CHECK(steps == 3 && fabs(delta[0] - 0.8) < 1e-6 && t.n_rec == 3);
    CHECK(t.rec_len[0] == 6 && !memcmp(t.rec, without_x, sizeof without_x));
    const int32_t only_y[] = {2, 23, 21, 3}; /* X, then a, then b deleted */
    CHECK(t.rec_len[2] == 4 && !memcmp(t.rec + 2 * WP_N, only_y, sizeof only_y));
    vm_shapley_free(&sh);

    /* post-hoc accuracy: k counts words; the kept word keeps all its pieces, [CLS] / [SEP] stay */
    double imp[] = {0.1, 0.9, 0.2, 0.3};
    uint8_t match[6];
    t.n_rec = 0;
    CHECK(!vm_posthoc_text(&c, WP_IDS, WP_N, WP_WORD, imp, 6, -1, match, &err));
    CHECK(t.n_rec == 4); /* the full text, then k = 1..3 (k >= 4 words keeps the text) */
    const int32_t keep_x[] = {2, 0, 20, 21, 22, 0, 0, 0, 3};
    CHECK(!memcmp(t.rec + WP_N, keep_x, sizeof keep_x));
    const int32_t keep_xy[] = {2, 0, 20, 21, 22, 0, 23, 21, 3};
    CHECK(!memcmp(t.rec + 2 * WP_N, keep_xy, sizeof keep_xy));
    for (int k = 0; k < 6; k++) CHECK(match[k] == 1);
    /* X ranked last: k = 1..3 lose it */
    double imp_low[] = {0.5, 0.0, 0.4, 0.3};
    CHECK(!vm_posthoc_text(&c, WP_IDS, WP_N, WP_WORD, imp_low, 4, 1, match, &err));
    CHECK(match[0] == 0 && match[1] == 0 && match[2] == 0 && match[3] == 1);
    CHECK_MSG(wp_bad_sequences(&t, true) == 0, "%d post-hoc texts split a word or move [CLS]/[SEP]", wp_bad_sequences(&t, true));
    free(t.rec);
    free(t.rec_len);

    /* the mask's word score: mean q of the pieces, [CLS] / [SEP] ignored, non-finite pieces skipped */
    double q[] = {1.0, 0.5, 0.2, 0.4, 0.6, 1.0, 0.3, NAN, 1.0}, wq[4];
    vm_word_mean(q, WP_WORD, WP_N, 4, wq);
    CHECK(fabs(wq[0] - 0.5) < 1e-12 && fabs(wq[1] - 0.4) < 1e-12 && fabs(wq[2] - 1.0) < 1e-12 && fabs(wq[3] - 0.3) < 1e-12);

    /* the corpus word table: pieces joined into words, mean q of the pieces, frequencies */
    struct vm_vocab v;
    struct vm_tokenizer tok;
    vm_tokenizer_default(&tok);
    CHECK_MSG(!vm_vocab_from_text(&v, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nplay\n##ing\n##s\nfun\n", NULL, NULL, &err), "%s", err.msg);
    CHECK_MSG(!vm_tokenizer_for_vocab(&tok, &v, NULL, "test", &err), "%s", err.msg);
    double idq[8] = {NAN, 0.1, NAN, NAN, 0.8, 0.4, 0.2, 0.9};
    char *texts[] = {"Playing plays fun", "playing <b>"};
    struct vm_word_table wt;
    CHECK_MSG(!vm_word_table_build(&tok, &v, texts, 2, 0, idq, &wt, &err), "%s", err.msg);
    /* playing, plays, fun, <, b, > ([UNK] words keep their own text) */
    CHECK_MSG(wt.n == 6, "%lld words", (long long)wt.n);
    if (wt.n == 6) {
        CHECK(!strcmp(wt.words[0], "playing") && !strcmp(wt.pieces[0], "play ##ing") && wt.freq[0] == 2 && fabs(wt.score[0] - 0.6) < 1e-12);
        CHECK(!strcmp(wt.words[1], "plays") && fabs(wt.score[1] - 0.5) < 1e-12 && wt.freq[1] == 1);
        CHECK(!strcmp(wt.words[2], "fun") && fabs(wt.score[2] - 0.9) < 1e-12);
        CHECK(!strcmp(wt.words[3], "<") && fabs(wt.score[3] - 0.1) < 1e-12);
    }
    vm_word_table_free(&wt);
    vm_vocab_free(&v);
}

/* ---- the feeder backend on a compiled model ---- */

static void test_feeder_backend(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx", src_dir);
    struct vm_error err = {0};
    Onnx__ModelProto *mp = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    uint8_t *plan = NULL;
    size_t len = 0;
    if (mp && !vm_import(mp, NULL, &g, &err) && !vm_infer_graph(g, &err) && !vm_pass_inference_cleanup(g, &err))
        vm_emit_plan(g, path, &plan, &len, &err);
    vm_graph_free(g);
    vm_onnx_free_model(mp);
    CHECK_MSG(plan != NULL, "%s: %s", path, err.msg);
    if (!plan) return;
    struct vm_rt_model *m = NULL;
    struct vm_feeder f;
    struct vm_classifier c;
    bool ok = !vm_rt_model_from_buffer(&m, plan, len, path, NULL, &err) && !vm_feeder_init(&f, m, 0, &err) &&
              !vm_classifier_init_feeder(&c, &f, 8, &err);
    free(plan);
    CHECK_MSG(ok, "%s", err.msg);
    if (!ok) {
        vm_rt_model_free(m);
        return;
    }
    CHECK(c.n_classes == 3);
    /* 13 texts of various lengths at T = 9: chunks of 8 and 5 (rounded up to 8); each text alone */
    int32_t buf[13][9];
    const int32_t *seqs[13];
    int32_t lens[13];
    for (int i = 0; i < 13; i++) {
        lens[i] = 4 + i % 6;
        for (int k = 0; k < lens[i]; k++) buf[i][k] = 1 + (i * 7 + k * 5) % 59;
        seqs[i] = buf[i];
    }
    float all[13 * 3], one[3];
    CHECK_MSG(!vm_classifier_probs(&c, seqs, lens, 13, 9, all, &err), "%s", err.msg);
    double worst = 0;
    for (int i = 0; i < 13; i++) {
        CHECK(!vm_classifier_probs(&c, seqs + i, lens + i, 1, 9, one, &err));
        for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(one[k] - all[i * 3 + k]));
    }
    CHECK_MSG(worst < 1e-5, "a text's probabilities depend on its batch by %g", worst);
    /* LIME and Shapley run end to end and Shapley stays efficient on the real model */
    struct vm_lime_opts o;
    vm_lime_opts_default(&o);
    o.samples = 300;
    struct vm_lime l;
    struct vm_shapley s;
    CHECK_MSG(!vm_lime_explain(&c, buf[5], lens[5], NULL, 2, 5, &o, &l, &err), "%s", err.msg);
    CHECK_MSG(!vm_shapley_explain(&c, buf[5], lens[5], NULL, 2, 5, 20, &s, &err), "%s", err.msg);
    double sum = 0;
    for (int i = 0; i < s.n; i++) sum += s.phi[i];
    CHECK(fabs(sum - (s.f_full - s.f_base)) < 1e-6);
    /* f_full is the text's own probability at its length */
    CHECK(!vm_classifier_probs(&c, seqs + 5, lens + 5, 1, 0, one, &err));
    CHECK(fabs(s.f_full - one[2]) < 1e-5);
    vm_lime_free(&l);
    vm_shapley_free(&s);
    vm_classifier_free(&c);
    vm_rt_model_free(m);
}

int main(int argc, char **argv) {
    if (argc > 1) src_dir = argv[1];
    static const char *fixtures[] = {"d20", "d6", "d1", "d45", "d12_alpha001"};
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) test_ridge_fixture(fixtures[i]);
    test_lime_sampling();
    test_aopc();
    test_shapley();
    test_posthoc();
    test_words();
    test_feeder_backend();
    VMTEST_DONE("test_explain");
}
