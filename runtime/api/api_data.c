/* api_data: the public API's calls over a data file — vmaskc_evaluate (`vmaskc eval`) and
 * vmaskc_words_count (`vmaskc words --data`). Files are read with the model's data options
 * (tm.data for labelled data, tm.corpus for word counts), so the API and the commands accept the
 * same files with the same file:line errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../explain.h"
#include "../train.h"
#include "api_util.h"

void vmaskc_evaluation_free(vmaskc_evaluation *e) {
    if (!e) return;
    free(e->confusion);
    free(e->support);
    free(e->predicted);
    free(e->precision);
    free(e->recall);
    free(e->f1);
    free(e);
}

/* Per-class counts and scores from the gold labels and the predictions of n examples. */
static enum vm_status evaluation_fill(vmaskc_evaluation *e, const int32_t *gold, const int32_t *pred, int64_t n, struct vm_error *ie) {
    size_t C = (size_t)e->n_classes;
    e->confusion = vm_calloc(C * C, sizeof(int64_t), ie);
    e->support = vm_calloc(C, sizeof(int64_t), ie);
    e->predicted = vm_calloc(C, sizeof(int64_t), ie);
    e->precision = vm_malloc(C * sizeof(double), ie);
    e->recall = vm_malloc(C * sizeof(double), ie);
    e->f1 = vm_malloc(C * sizeof(double), ie);
    if (!e->confusion || !e->support || !e->predicted || !e->precision || !e->recall || !e->f1) return VM_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        e->confusion[(size_t)gold[i] * C + (size_t)pred[i]]++;
        e->support[gold[i]]++;
        e->predicted[pred[i]]++;
    }
    for (size_t c = 0; c < C; c++) {
        double tp = (double)e->confusion[c * C + c];
        double p = e->predicted[c] ? tp / (double)e->predicted[c] : NAN, r = e->support[c] ? tp / (double)e->support[c] : NAN;
        e->precision[c] = p;
        e->recall[c] = r;
        e->f1[c] = isnan(p) || isnan(r) ? NAN : p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }
    return VM_OK;
}

vmaskc_status vmaskc_evaluate(vmaskc_model *m, const char *path, int32_t max_len, int32_t batch, vmaskc_evaluation **out,
                              vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(path);
    if (batch < 0 || batch > 4096) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_evaluate: batch is %d; it must be in [1, 4096] (0 = 100)", batch);
    if (max_len < 0) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_evaluate: max_len is %d (0 = no limit)", max_len);
    if (!batch) batch = 100;
    struct vm_text_model *tm = &m->tm;
    struct vm_error ie = {0};
    struct vm_dataset d;
    int32_t *pred = NULL;
    vmaskc_evaluation *e = NULL;
    enum vm_status s = vm_dataset_load(&d, path, &tm->vocab, &tm->tok, max_len, &tm->data, &ie);
    if (s) return vm_api_fail(err, &ie, -1);
    /* labels and the longest text are checked before anything runs */
    if (!(s = vm_dataset_check_labels(&d, m->n_classes, &ie))) s = vm_feeder_check_longest(&tm->feeder, &d, batch, &ie);
    if (!s && (!(pred = vm_calloc((size_t)d.n + 1, sizeof *pred, &ie)) || !(e = vm_calloc(1, sizeof *e, &ie)))) s = VM_ENOMEM;
    if (!s) {
        e->n = d.n;
        e->n_classes = m->n_classes;
        s = vm_evaluate_pred(&tm->feeder, &d, batch, &e->accuracy, pred, &ie);
        e->runs = (d.n + batch - 1) / batch;
    }
    if (!s) s = evaluation_fill(e, d.labels, pred, d.n, &ie);
    free(pred);
    vm_dataset_free(&d);
    if (s) {
        vmaskc_evaluation_free(e);
        return vm_api_fail(err, &ie, -1);
    }
    *out = e;
    return VMASKC_OK;
}

/* ---- datasets ---- */

/* The public record over the loader's dataset, which owns the arrays. */
struct dataset_box {
    vmaskc_dataset pub;
    struct vm_dataset d;
    bool labelled;
    int32_t max_len; /* as read */
    char *path;      /* d.path's copy: the caller's string may go after the call */
};

void vmaskc_dataset_free(vmaskc_dataset *d) {
    if (!d) return;
    struct dataset_box *b = (struct dataset_box *)d;
    vm_dataset_free(&b->d);
    free(b->path);
    free(b);
}

vmaskc_status vmaskc_dataset_read(const vmaskc_model *m, const char *path, int32_t max_len, int labelled, vmaskc_dataset **out,
                                  vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(path);
    if (max_len < 0) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_dataset_read: max_len is %d (0 = no limit)", max_len);
    const struct vm_text_model *tm = &m->tm;
    struct vm_error ie = {0};
    struct dataset_box *b = vm_calloc(1, sizeof *b, &ie);
    if (!b) return vm_api_fail(err, &ie, -1);
    if (!(b->path = strdup(path))) {
        free(b);
        return vm_api_failf(err, VMASKC_ENOMEM, -1, "vmaskc_dataset_read: out of memory");
    }
    enum vm_status s = vm_dataset_load(&b->d, b->path, &tm->vocab, &tm->tok, max_len, labelled ? &tm->data : &tm->corpus, &ie);
    if (s) {
        free(b->path);
        free(b);
        return vm_api_fail(err, &ie, -1);
    }
    if (labelled) s = vm_dataset_check_labels(&b->d, m->n_classes, &ie);
    if (s) {
        vmaskc_dataset_free(&b->pub);
        return vm_api_fail(err, &ie, -1);
    }
    b->labelled = labelled != 0;
    b->max_len = max_len;
    b->pub = (vmaskc_dataset){.n = b->d.n, .texts = b->d.texts, .labels = b->d.labels, .line = b->d.line, .start = b->d.start,
                              .ids = b->d.ids, .n_tokens = b->d.n_tokens, .n_unknown = b->d.n_unk};
    *out = &b->pub;
    return VMASKC_OK;
}

vmaskc_status vmaskc_dataset_check_fit(vmaskc_model *m, const vmaskc_dataset *d, int32_t batch, vmaskc_error *err) {
    NEED(m);
    NEED(d);
    if (batch < 1) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_dataset_check_fit: batch is %d (at least 1)", batch);
    struct vm_error ie = {0};
    if (vm_feeder_check_longest(&m->tm.feeder, &((const struct dataset_box *)d)->d, batch, &ie)) return vm_api_fail(err, &ie, -1);
    return VMASKC_OK;
}

/* Each text's predicted class, texts of one length together (through the explainers' classifier,
 * whose chunk sizes and padding `vmaskc explain` has always used for Table 3). */
static enum vm_status predict_by_length(struct vm_classifier *clf, const struct vm_dataset *d, int32_t *pred, struct vm_error *err) {
    int64_t n = d->n;
    struct vm_api_len_idx *li = vm_malloc(sizeof *li * (size_t)(n + 1), err);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)clf->batch, err);
    int32_t *lens = vm_malloc(sizeof *lens * (size_t)clf->batch, err);
    float *probs = vm_malloc(sizeof *probs * (size_t)clf->batch * (size_t)clf->n_classes, err);
    enum vm_status s = li && seqs && lens && probs ? VM_OK : VM_ENOMEM;
    for (int64_t i = 0; i < n && !s; i++) li[i] = (struct vm_api_len_idx){vm_dataset_len(d, i), i};
    if (!s) qsort(li, (size_t)n, sizeof *li, vm_api_cmp_len_idx);
    for (int64_t j = 0; j < n && !s;) {
        int64_t nb = 0;
        for (; j < n && nb < clf->batch && (nb == 0 || li[j].len == lens[0]); j++, nb++) {
            seqs[nb] = d->ids + d->start[li[j].i];
            lens[nb] = li[j].len;
        }
        s = vm_classifier_probs(clf, seqs, lens, nb, 0, probs, err);
        for (int64_t k = 0; k < nb && !s; k++) pred[li[j - nb + k].i] = vm_argmax_f(probs + k * clf->n_classes, clf->n_classes);
    }
    free(li);
    free(seqs);
    free(lens);
    free(probs);
    return s;
}

vmaskc_status vmaskc_dataset_evaluate(vmaskc_model *m, const vmaskc_dataset *d, int32_t batch, vmaskc_evaluation **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(d);
    if (batch < 0) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_dataset_evaluate: batch is %d (0 = 512)", batch);
    const struct dataset_box *box = (const struct dataset_box *)d;
    const struct vm_dataset *vd = &box->d;
    if (!box->labelled) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_dataset_evaluate: %s was read without its labels", vd->path);
    struct vm_error ie = {0};
    struct vm_classifier clf = {0};
    vmaskc_evaluation *e = NULL;
    int32_t *pred = NULL;
    enum vm_status s = vm_classifier_init_feeder(&clf, &m->tm.feeder, batch > 0 ? batch : 512, &ie);
    bool clf_ok = !s;
    if (!s && (!(pred = vm_calloc((size_t)vd->n + 1, sizeof *pred, &ie)) || !(e = vm_calloc(1, sizeof *e, &ie)))) s = VM_ENOMEM;
    if (!s) s = vm_dataset_check_labels(vd, m->n_classes, &ie); /* read for another model */
    if (!s) s = predict_by_length(&clf, vd, pred, &ie);
    if (!s) {
        int64_t correct = 0;
        for (int64_t i = 0; i < vd->n; i++) correct += pred[i] == vd->labels[i];
        e->n = vd->n;
        e->n_classes = m->n_classes;
        e->accuracy = vd->n ? (double)correct / (double)vd->n : NAN;
        e->runs = clf.runs;
        s = evaluation_fill(e, vd->labels, pred, vd->n, &ie);
    }
    free(pred);
    if (clf_ok) vm_classifier_free(&clf);
    if (s) {
        vmaskc_evaluation_free(e);
        return vm_api_fail(err, &ie, -1);
    }
    *out = e;
    return VMASKC_OK;
}

vmaskc_status vmaskc_dataset_token_counts(const vmaskc_model *m, const vmaskc_dataset *d, int64_t **counts, vmaskc_error *err) {
    NEED(counts);
    *counts = NULL;
    NEED(m);
    NEED(d);
    struct vm_error ie = {0};
    int32_t V = m->tm.vocab.n;
    int64_t *c = vm_calloc((size_t)(V > 0 ? V : 1), sizeof *c, &ie);
    if (!c) return vm_api_fail(err, &ie, -1);
    for (int64_t i = 0; i < d->start[d->n]; i++)
        if (d->ids[i] >= 0 && d->ids[i] < V) c[d->ids[i]]++;
    *counts = c;
    return VMASKC_OK;
}

/* Occurrences of each vocabulary id (below V) in the texts of a corpus: freq [V], caller frees. */
static enum vm_status corpus_freq(const struct vm_text_model *tm, const char *corpus, int64_t V, int64_t **freq, struct vm_error *ie) {
    struct vm_dataset d;
    enum vm_status s = vm_dataset_load(&d, corpus, &tm->vocab, &tm->tok, 0, &tm->corpus, ie);
    if (s) return s;
    if (!(*freq = vm_calloc((size_t)V + 1, sizeof **freq, ie))) s = VM_ENOMEM;
    for (int64_t i = 0; !s && i < d.start[d.n]; i++)
        if (d.ids[i] < V) (*freq)[d.ids[i]]++;
    vm_dataset_free(&d);
    return s;
}

vmaskc_status vmaskc_words_count(const vmaskc_model *m, const char *corpus, int64_t min_freq, vmaskc_words **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(corpus);
    if (min_freq < 0) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_words_count: min_freq is %lld (0 = every word)", (long long)min_freq);
    vmaskc_words *w;
    vmaskc_status vs = vmaskc_words_rank(m, &w, err);
    if (vs) return vs;
    struct vm_error ie = {0};
    int64_t *freq = NULL;
    enum vm_status s = corpus_freq(&m->tm, corpus, m->tm.vocab.n, &freq, &ie);
    if (!s && !(w->frequency = vm_malloc(sizeof(int64_t) * (size_t)(w->n + 1), &ie))) s = VM_ENOMEM;
    int64_t kept = 0;
    for (int64_t k = 0; !s && k < w->n; k++) {
        int64_t f = freq[w->ids[k]];
        if (f < min_freq) continue;
        w->ids[kept] = w->ids[k];
        w->tokens[kept] = w->tokens[k];
        w->importance[kept] = w->importance[k];
        w->frequency[kept++] = f;
    }
    free(freq);
    if (s) {
        vmaskc_words_free(w);
        return vm_api_fail(err, &ie, -1);
    }
    w->n = kept;
    *out = w;
    return VMASKC_OK;
}

/* ---- whole words of a WordPiece model ---- */

void vmaskc_whole_words_free(vmaskc_whole_words *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) {
        free(w->words[i]);
        free(w->pieces[i]);
    }
    free(w->words);
    free(w->pieces);
    free(w->importance);
    free(w->frequency);
    free(w);
}

struct whole_key {
    double score;
    int64_t freq, i;
};

/* score descending, then the more frequent, then first seen */
static int cmp_whole(const void *a, const void *b) {
    const struct whole_key *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->freq != y->freq) return x->freq < y->freq ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The whole-word table of texts [n] (encoded with max_len) under per-id scores q: the words with a
 * score, in the table's order of first occurrence, or sorted (most important first). The table's
 * strings move to the result. */
static enum vm_status whole_words(const struct vm_text_model *tm, char *const *texts, int64_t n_texts, int32_t max_len, const double *q,
                                  bool sorted, vmaskc_whole_words **out, struct vm_error *ie) {
    struct vm_word_table wt = {0};
    struct whole_key *key = NULL;
    vmaskc_whole_words *w = NULL;
    enum vm_status s = vm_word_table_build(&tm->tok, &tm->vocab, texts, n_texts, max_len, q, &wt, ie);
    if (!s) {
        key = vm_malloc(sizeof *key * (size_t)(wt.n + 1), ie);
        if (!key || !(w = vm_calloc(1, sizeof *w, ie))) s = VM_ENOMEM;
    }
    int64_t n = 0;
    for (int64_t i = 0; !s && i < wt.n; i++)
        if (!isnan(wt.score[i])) key[n++] = (struct whole_key){wt.score[i], wt.freq[i], i}; /* only [UNK]-like pieces: no score */
    if (!s) {
        if (sorted) qsort(key, (size_t)n, sizeof *key, cmp_whole);
        w->words = vm_calloc((size_t)n + 1, sizeof(char *), ie);
        w->pieces = vm_calloc((size_t)n + 1, sizeof(char *), ie);
        w->importance = vm_malloc(sizeof(double) * (size_t)(n + 1), ie);
        w->frequency = vm_malloc(sizeof(int64_t) * (size_t)(n + 1), ie);
        if (!w->words || !w->pieces || !w->importance || !w->frequency) s = VM_ENOMEM;
    }
    for (int64_t k = 0; !s && k < n; k++) {
        int64_t i = key[k].i;
        w->words[k] = wt.words[i];
        w->pieces[k] = wt.pieces[i];
        wt.words[i] = wt.pieces[i] = NULL;
        w->importance[k] = wt.score[i];
        w->frequency[k] = wt.freq[i];
        w->n_multi += strchr(w->pieces[k], ' ') != NULL;
        w->n = k + 1;
    }
    free(key);
    vm_word_table_free(&wt);
    if (s) {
        vmaskc_whole_words_free(w);
        return s;
    }
    *out = w;
    return VM_OK;
}

vmaskc_status vmaskc_words_whole(const vmaskc_model *m, const char *corpus, vmaskc_whole_words **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(corpus);
    const struct vm_text_model *tm = &m->tm;
    const struct vm_vocab *v = &tm->vocab;
    if (!tm->word_keep)
        return vm_api_failf(err, VMASKC_EUNSUPPORTED, -1,
                            "the model has no word-level mask (vmask.word_keep, l2x.word_score or iba.word_lambda): train it with 'vmaskc train'");
    struct vm_error ie = {0};
    struct vm_dataset d = {0};
    double *q = vm_malloc(sizeof(double) * (size_t)v->n, &ie);
    enum vm_status s = q ? vm_dataset_load(&d, corpus, v, &tm->tok, 0, &tm->corpus, &ie) : VM_ENOMEM;
    for (int32_t id = 0; !s && id < v->n; id++) q[id] = id < tm->n_words && !vm_vocab_is_special(v, id) ? tm->word_keep[id] : NAN;
    if (!s && (s = whole_words(tm, d.texts, d.n, 0, q, true, out, &ie))) vm_error_prefix(&ie, "%s", corpus);
    free(q);
    vm_dataset_free(&d);
    return s ? vm_api_fail(err, &ie, -1) : VMASKC_OK;
}

vmaskc_status vmaskc_dataset_words(const vmaskc_model *m, const vmaskc_dataset *d, const double *importance, vmaskc_whole_words **out,
                                   vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(d);
    NEED(importance);
    const struct vm_text_model *tm = &m->tm;
    const struct vm_vocab *v = &tm->vocab;
    const struct dataset_box *box = (const struct dataset_box *)d;
    struct vm_error ie = {0};
    double *q = vm_malloc(sizeof(double) * (size_t)(v->n > 0 ? v->n : 1), &ie);
    if (!q) return vm_api_fail(err, &ie, -1);
    for (int32_t id = 0; id < v->n; id++) q[id] = vm_vocab_is_special(v, id) ? NAN : importance[id];
    enum vm_status s = whole_words(tm, box->d.texts, box->d.n, box->max_len, q, false, out, &ie);
    free(q);
    return s ? vm_api_fail(err, &ie, -1) : VMASKC_OK;
}
