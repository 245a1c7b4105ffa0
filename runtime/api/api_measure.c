/* api_measure: vmaskc_measure (runtime/vmaskc.h) — one text explained by several methods, each
 * ranking measured by AOPC, and the post-hoc accuracy terms of a global importance: the per-example
 * work of `vmaskc explain` and `compare`, which call it. The algorithms are runtime/explain.c's; this
 * file only encodes the text, picks the explained class and turns each method's output into a
 * ranking of words, in the order (and with the random streams) the commands always used, so their
 * numbers stay the same. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../explain.h"
#include "api_util.h"

_Static_assert(VMASKC_SHAPLEY_PERMUTATIONS == VM_SHAPLEY_DEFAULT_PERMUTATIONS, "vmaskc.h's default is explain.h's");

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void vmaskc_measure_options_init(vmaskc_measure_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->methods = 1u << VMASKC_EXPLAIN_LIME | 1u << VMASKC_EXPLAIN_SHAPLEY;
    o->target = -1;
    o->seed = 1;
}

uint64_t vmaskc_explain_seed(uint64_t seed, int64_t index) { return vm_explain_example_seed(seed, index); }

vmaskc_status vmaskc_explain_sample(uint64_t seed, int64_t n, int64_t k, int64_t *out, vmaskc_error *err) {
    NEED(out);
    if (n < 0 || k < 0 || k > n)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_explain_sample: k is %lld of n %lld (0 <= k <= n)", (long long)k, (long long)n);
    struct vm_error ie = {0};
    int64_t *idx = vm_malloc(sizeof(int64_t) * (size_t)(n + 1), &ie);
    if (!idx) return vm_api_fail(err, &ie, -1);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    if (k < n) {
        struct vm_rng r;
        vm_rng_init(&r, seed ^ 0x6c696d6974ull /* "limit" */);
        for (int64_t i = 0; i < k; i++) {
            int64_t j = i + (int64_t)vm_rng_below(&r, (uint64_t)(n - i));
            int64_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        /* back in file order */
        for (int64_t i = 1; i < k; i++) {
            int64_t v = idx[i], j = i;
            while (j > 0 && idx[j - 1] > v) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    memcpy(out, idx, sizeof(int64_t) * (size_t)k);
    free(idx);
    return VMASKC_OK;
}

double vmaskc_aopc(const double *delta, int32_t steps, int32_t k, int by_k) {
    if (!delta || k < 1) return NAN;
    return vm_aopc_value_norm(delta, steps, k, by_k != 0);
}

void vmaskc_measurement_free(vmaskc_measurement *x) {
    if (!x) return;
    for (int32_t i = 0; x->tokens && i < x->n; i++) free(x->tokens[i]);
    for (int32_t i = 0; x->words && i < x->n_words; i++) free(x->words[i]);
    free(x->tokens);
    free(x->words);
    free(x->ids);
    free(x->word);
    free(x->probs);
    for (int k = 0; k < VMASKC_EXPLAIN_METHODS; k++) {
        free(x->method[k].score);
        free(x->method[k].word_score);
    }
    free(x->posthoc_match);
    free(x);
}

/* The text's words: each one's text, its pieces joined without the ## (word_of as vm_text_encode). */
static enum vm_status word_texts(vmaskc_measurement *x, struct vm_error *ie) {
    x->words = vm_calloc((size_t)(x->n_words > 0 ? x->n_words : 1), sizeof(char *), ie);
    if (!x->words) return VM_ENOMEM;
    for (int32_t i = 0; i < x->n;) {
        int32_t w = x->word[i], j = i;
        size_t len = 0;
        for (; j < x->n && x->word[j] == w; j++) len += strlen(vm_piece_text(x->tokens[j], j > i));
        if (w >= 0) {
            char *t = x->words[w] = vm_malloc(len + 1, ie);
            if (!t) return VM_ENOMEM;
            t[0] = 0;
            for (int32_t k = i; k < j; k++) strcat(t, vm_piece_text(x->tokens[k], k > i));
        }
        i = j;
    }
    return VM_OK;
}

/* What one method needs besides the classifier: the text (ids, word_of NULL for a word vocabulary),
 * the class, the seed, the per-id importance and frequency. */
struct text_job {
    const int32_t *ids, *word_of;
    int32_t n, nw;
    int32_t y;
    double p0;
    uint64_t seed;
    const double *imp;
    const int64_t *freq;
    const vmaskc_measure_options *o;
    struct vm_aopc_opts ao;
    int32_t K;
};

/* Method k's word scores into r and its ranking, then its AOPC (explain_one of `vmaskc explain`,
 * unchanged: LIME's "for" list, the others every word by score, ties by position). */
static enum vm_status run_method(struct vm_classifier *clf, const struct text_job *j, int k, vmaskc_measurement *x, int32_t *order,
                                 double *score, double *wscore, struct vm_error *ie) {
    vmaskc_method_result *r = &x->method[k];
    int32_t n = j->n, nw = j->nw;
    const int32_t *word_of = j->word_of;
    double t0 = now_s();
    int64_t f0 = clf->forward_passes;
    r->score = vm_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1), ie);
    r->word_score = vm_malloc(sizeof(double) * (size_t)(x->n_words > 0 ? x->n_words : 1), ie);
    if (!r->score || !r->word_score) return VM_ENOMEM;
    const int32_t *feature_of = word_of;
    int32_t n_order = 0;
    struct vm_lime l = {0};
    enum vm_status s = VM_OK;
    if (k == VMASKC_EXPLAIN_LIME) {
        struct vm_lime_opts lo;
        vm_lime_opts_default(&lo);
        VM_ASSERT(lo.samples == VMASKC_LIME_SAMPLES && lo.kernel_width == VMASKC_LIME_KERNEL_WIDTH && lo.alpha == VMASKC_LIME_ALPHA);
        if (j->o->samples > 0) lo.samples = j->o->samples;
        if (j->o->kernel_width > 0) lo.kernel_width = j->o->kernel_width;
        if ((s = vm_lime_explain(clf, j->ids, n, word_of, j->y, j->seed, &lo, &l, ie))) return s;
        for (int32_t i = 0; i < n; i++) wscore[i] = l.feature_of[i] >= 0 ? l.weight[l.feature_of[i]] : NAN;
        x->lime_intercept = l.intercept;
        x->lime_score = l.score;
        x->lime_features = l.d;
        r->seed = l.seed;
        n_order = vm_lime_top_features(&l, order);
        feature_of = l.feature_of;
        for (int32_t i = 0; i < n; i++) r->score[i] = wscore[i];
        for (int32_t i = 0; i < n; i++)
            if (x->word[i] >= 0) r->word_score[x->word[i]] = wscore[i];
    } else {
        if (k == VMASKC_EXPLAIN_SHAPLEY) {
            struct vm_shapley sh;
            int32_t P = j->o->permutations > 0 ? j->o->permutations : VM_SHAPLEY_DEFAULT_PERMUTATIONS;
            if ((s = vm_shapley_explain(clf, j->ids, n, word_of, j->y, j->seed, P, &sh, ie))) return s;
            memcpy(wscore, sh.phi, sizeof(double) * (size_t)nw);
            r->seed = sh.seed;
            vm_shapley_free(&sh);
        } else if (k == VMASKC_EXPLAIN_FREQUENCY) {
            /* most frequent first; a WordPiece word by its first piece */
            for (int32_t i = 0; i < n; i++) score[i] = word_of && word_of[i] < 0 ? NAN : (double)j->freq[j->ids[i]];
            for (int32_t i = 0, w = -1; i < n; i++)
                if (!word_of || (word_of[i] >= 0 && word_of[i] != w)) wscore[word_of ? (w = word_of[i]) : i] = score[i];
        } else if (k == VMASKC_EXPLAIN_RANDOM) {
            struct vm_rng rng;
            vm_rng_init(&rng, j->seed ^ 0x72616e646f6d0001ULL);
            for (int32_t w = 0; w < nw; w++) order[w] = w;
            for (int32_t w = nw - 1; w > 0; w--) {
                int32_t q = (int32_t)vm_rng_below(&rng, (uint64_t)w + 1), t = order[w];
                order[w] = order[q];
                order[q] = t;
            }
            for (int32_t q = 0; q < nw; q++) wscore[order[q]] = (double)(nw - q) / nw; /* shown as the weight */
        } else {
            /* the mask: a word's score is the mean importance of its pieces */
            for (int32_t i = 0; i < n; i++) score[i] = j->imp[j->ids[i]];
            vm_word_mean(score, word_of, n, nw, wscore);
        }
        for (int32_t i = 0; i < n; i++) {
            int32_t w = word_of ? word_of[i] : i;
            r->score[i] = w >= 0 ? wscore[w] : NAN;
        }
        if (k == VMASKC_EXPLAIN_MASK) /* a token shows its piece's own importance (the word's mean is the ranking) */
            for (int32_t i = 0; i < n; i++) r->score[i] = word_of && word_of[i] < 0 ? NAN : j->imp[j->ids[i]];
        for (int32_t w = 0; w < nw; w++) r->word_score[w] = wscore[w];
        if (k == VMASKC_EXPLAIN_MASK)
            for (int32_t w = 0; w < nw; w++)
                if (!isfinite(wscore[w])) wscore[w] = -INFINITY;
        vm_rank_positions(wscore, nw, order);
        n_order = nw;
    }
    s = vm_aopc_deltas_opts(clf, j->ids, n, feature_of, order, n_order, j->K, j->y, j->p0, &j->ao, r->aopc_delta, &r->aopc_steps, ie);
    vm_lime_free(&l);
    r->seconds = now_s() - t0;
    r->texts_run = clf->forward_passes - f0;
    return s;
}

/* Post-hoc accuracy terms: the words ranked by the mean importance of their pieces. */
static enum vm_status posthoc(struct vm_classifier *clf, const struct text_job *j, vmaskc_measurement *x, double *score, double *wscore,
                              struct vm_error *ie) {
    x->posthoc_k = j->o->posthoc_k;
    x->posthoc_match = vm_malloc((size_t)x->posthoc_k, ie);
    if (!x->posthoc_match) return VM_ENOMEM;
    for (int32_t i = 0; i < j->n; i++) score[i] = j->imp[j->ids[i]];
    vm_word_mean(score, j->word_of, j->n, j->nw, wscore);
    for (int32_t w = 0; w < j->nw; w++)
        if (!isfinite(wscore[w])) wscore[w] = -INFINITY;
    return vm_posthoc_text(clf, j->ids, j->n, j->word_of, wscore, x->posthoc_k, j->y, x->posthoc_match, ie);
}

/* The options a call cannot run with, named; *own = the model's importance when o has none. */
static vmaskc_status check_options(const vmaskc_model *m, const vmaskc_measure_options *o, vmaskc_error *err) {
    static const char who[] = "vmaskc_measure: options";
    if (!o->methods && o->posthoc_k <= 0) return vm_api_failf(err, VMASKC_EINVAL, -1, "%s: no method and no posthoc_k: nothing to do", who);
    if (o->methods >> VMASKC_EXPLAIN_METHODS)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.methods is 0x%x: bits 0..%d (LIME, SHAPLEY, MASK, RANDOM, FREQUENCY)", who, o->methods,
                            VMASKC_EXPLAIN_METHODS - 1);
    if (o->target < -1 || o->target >= m->n_classes)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.target is %d: -1 (the predicted class) or a class 0..%d", who, o->target, m->n_classes - 1);
    if (o->aopc_k < 0 || o->aopc_k > VMASKC_AOPC_MAX_K)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.aopc_k is %d (1..%d, 0 = 5)", who, o->aopc_k, VMASKC_AOPC_MAX_K);
    if (o->posthoc_k < 0 || o->posthoc_k > 1000) return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.posthoc_k is %d (0..1000)", who, o->posthoc_k);
    if (o->aopc_removal < VMASKC_AOPC_DELETE || o->aopc_removal > VMASKC_AOPC_UNK)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.aopc_removal is %d (DELETE 0, PAD 1, UNK 2)", who, (int)o->aopc_removal);
    if (o->samples < 0 || o->permutations < 0 || o->batch < 0 || o->max_len < 0 || !(o->kernel_width >= 0))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s: samples, permutations, batch, max_len and kernel_width are >= 0 (0 = default)", who);
    if (o->aopc_removal == VMASKC_AOPC_UNK && m->tm.vocab.unk_id < 0)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.aopc_removal is UNK but the model's vocabulary has no unknown-word token", who);
    if ((o->methods & 1u << VMASKC_EXPLAIN_FREQUENCY) && !o->frequency)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s: the frequency order needs options.frequency (a count per token id)", who);
    if (((o->methods & 1u << VMASKC_EXPLAIN_MASK) || o->posthoc_k > 0) && !o->importance && !m->tm.word_keep)
        return vm_api_failf(err, VMASKC_EUNSUPPORTED, -1, "%s: the mask method and post-hoc accuracy need options.importance or a model with a "
                            "word-level mask table (VMASK, L2X or IBA)", who);
    return VMASKC_OK;
}

/* The encoded text as the result's tokens and words; s an error when there is nothing to explain. */
static enum vm_status take_text(const struct vm_text_model *tm, const char *text, int32_t max_len, vmaskc_measurement *x, struct vm_error *ie) {
    struct vm_encoding enc;
    enum vm_status s = vm_text_model_encode(tm, text, max_len, &enc, ie);
    if (!s) {
        x->n = enc.n;
        x->ids = enc.ids;
        x->tokens = enc.pieces;
        x->word = enc.word_of;
        enc.ids = enc.word_of = NULL;
        enc.pieces = NULL;
        if (x->n == 0) s = vm_errorf(ie, VM_EINVAL, "the text has no tokens: nothing to explain");
    }
    vm_encoding_free(&enc);
    if (!s) x->n_words = vm_words_count(x->word, x->n);
    if (!s && x->n_words == 0) s = vm_errorf(ie, VM_EINVAL, "the text has no words between [CLS] and [SEP]: nothing to explain");
    return s ? s : word_texts(x, ie);
}

vmaskc_status vmaskc_measure(vmaskc_model *m, const char *text, const vmaskc_measure_options *o, vmaskc_measurement **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(text);
    vmaskc_measure_options def;
    if (!o) {
        vmaskc_measure_options_init(&def);
        o = &def;
    }
    vmaskc_status vs = check_options(m, o, err);
    if (vs) return vs;
    struct vm_text_model *tm = &m->tm;
    struct vm_error ie = {0};
    struct vm_classifier clf = {0};
    bool clf_ok = false;
    double *own = NULL, *score = NULL, *wscore = NULL;
    int32_t *order = NULL;
    vmaskc_measurement *x = vm_calloc(1, sizeof *x, &ie);
    enum vm_status s = x ? take_text(tm, text, o->max_len, x, &ie) : VM_ENOMEM;
    if (!s) s = vm_classifier_init_feeder(&clf, &tm->feeder, o->batch > 0 ? o->batch : 512, &ie);
    clf_ok = !s;
    struct text_job j = {.o = o, .ids = x ? x->ids : NULL, .n = x ? x->n : 0, .seed = o->seed, .imp = o->importance, .freq = o->frequency};
    if (!s) {
        bool wp = tm->tok.kind == VM_TOKENIZER_WORDPIECE;
        j.word_of = wp ? x->word : NULL; /* a word vocabulary: every token is a word */
        j.nw = wp ? x->n_words : x->n;
        j.K = o->aopc_k > 0 ? o->aopc_k : 5;
        vm_aopc_opts_default(&j.ao);
        if (o->aopc_removal != VMASKC_AOPC_DELETE) j.ao.removal = VM_AOPC_REPLACE;
        j.ao.replace_id = o->aopc_removal == VMASKC_AOPC_PAD ? clf.pad_id : o->aopc_removal == VMASKC_AOPC_UNK ? tm->vocab.unk_id : j.ao.replace_id;
        j.ao.single = o->aopc_single != 0;
        j.ao.score = o->aopc_logodds ? VM_AOPC_LOGODDS : VM_AOPC_PROB;
        if (!j.imp && tm->word_keep) { /* the model's own table; ids beyond it have none */
            if (!(own = vm_malloc(sizeof(double) * (size_t)tm->vocab.n, &ie))) s = VM_ENOMEM;
            for (int32_t id = 0; own && id < tm->vocab.n; id++) own[id] = id < tm->n_words ? tm->word_keep[id] : NAN;
            j.imp = own;
        }
        x->n_classes = m->n_classes;
        x->probs = vm_malloc(sizeof(float) * (size_t)m->n_classes, &ie);
        order = vm_malloc(sizeof(int32_t) * (size_t)x->n, &ie);
        score = vm_malloc(sizeof(double) * (size_t)x->n, &ie);
        wscore = vm_malloc(sizeof(double) * (size_t)x->n, &ie);
        if (!x->probs || !order || !score || !wscore) s = VM_ENOMEM;
    }
    if (!s) s = vm_classifier_probs(&clf, &j.ids, &j.n, 1, 0, x->probs, &ie);
    if (!s) {
        x->predicted = vm_argmax_f(x->probs, m->n_classes);
        x->target = o->target >= 0 ? o->target : x->predicted;
        j.y = x->target;
        j.p0 = x->probs[j.y];
    }
    for (int k = 0; k < VMASKC_EXPLAIN_METHODS && !s; k++)
        if (o->methods & 1u << k) s = run_method(&clf, &j, k, x, order, score, wscore, &ie);
    if (!s && o->posthoc_k > 0) s = posthoc(&clf, &j, x, score, wscore, &ie);
    if (!s) {
        x->texts_run = clf.forward_passes;
        x->runs = clf.runs;
    }
    if (clf_ok) vm_classifier_free(&clf);
    free(own);
    free(order);
    free(score);
    free(wscore);
    if (s) {
        vmaskc_measurement_free(x);
        return vm_api_fail(err, &ie, -1);
    }
    *out = x;
    return VMASKC_OK;
}
