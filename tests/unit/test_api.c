/* test_api: the public C API (runtime/vmaskc.h) through libvmaskc.so itself, as a user links it.
 *   (a) the error model: a missing file, a malformed model, NULL arguments, out-of-range values
 *       and bad options each give a status and a message naming the thing, *out NULL, no crash
 *       (also with err NULL);
 *   (b) a plain fixture CNN with a vocabulary: tokenize, class names, a batch prediction equal to
 *       the texts' one-by-one predictions (bit for bit), a text without tokens named by err.item,
 *       explanations (LIME, SampleShapley) deterministic in the seed, the mask refused without one;
 *       evaluation on a data file equal to the texts predicted one by one (confusion, precision,
 *       recall, F1), a label outside the classes named by file:line; the same file as a dataset
 *       (texts, labels, lines, ids equal to tokenize's, token counts) evaluated by length gives the
 *       same confusion matrix; a corpus (labels not read) is not evaluated;
 *   (b2) two threads, each with its own model opened at the same time (first thing in the process),
 *        predict what one thread alone does;
 *   (c) training: bad configurations, an output folder that does not exist and a text too long for
 *       max_memory (file:line, no step run) refused before any work, a callback that stops at step 3
 *       gives VMASKC_EINTERRUPTED and no output file, a short VMASK run reports progress for every
 *       step and exports a model whose mask the API reads (words, with corpus frequencies counted
 *       by hand and min_freq, predict keep, mask explanation); on that model the 0.2 getters
 *       (text settings, special tokens, token ids, training method), its importance (= the words
 *       ranking's q) for a dataset's whole words and vmaskc_measure's mask, frequency order and
 *       post-hoc terms, build statistics, the profile, and --limit's sample.
 *   (d) vmaskc_train and `vmaskc train` (the same implementation) export the same model, byte for
 *       byte, from a CSV with class names and pre-trained vectors; the names are in the export and
 *       the history has a line per epoch.
 *   (e) the model options the commands have (0.2): an input shape and input roles give the very
 *       probabilities `vmaskc predict --shape / --input-role` prints (and differ from the defaults),
 *       the reference kernels agree with oneDNN, the pad and unknown-word tokens and the kim
 *       tokenizer are taken, and bad shapes, roles and tokens are EINVAL naming the field.
 * Usage: test_api [source dir] [scratch dir] [vmaskc binary]
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runtime/vm_base.h"
#include "../../runtime/vmaskc.h"
#include "vmtest.h"

#ifndef VM_SOURCE_DIR
#define VM_SOURCE_DIR "."
#endif

static char model_path[4096], vocab_path[4096], train_path[4096], dev_path[4096], scratch[4096], vmaskc_bin[4096];

static bool has(const vmaskc_error *e, const char *what) { return strstr(e->message, what) != NULL; }

static void test_errors(void) {
    vmaskc_error e;
    vmaskc_model *m = (vmaskc_model *)&e; /* must come back NULL */
    CHECK(vmaskc_model_open("/no/such/model.onnx", NULL, &m, &e) == VMASKC_EIO);
    CHECK(m == NULL && e.code == VMASKC_EIO && has(&e, "/no/such/model.onnx") && e.item == -1);
    CHECK(vmaskc_model_open(NULL, NULL, &m, &e) == VMASKC_EINVAL && has(&e, "path"));
    CHECK(vmaskc_model_open(model_path, NULL, NULL, &e) == VMASKC_EINVAL && has(&e, "out"));
    CHECK(vmaskc_model_open("/no/such/model.onnx", NULL, &m, NULL) == VMASKC_EIO); /* no error record wanted */
    /* a malformed model: not protobuf */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/garbage.onnx", scratch);
    FILE *f = fopen(bad, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("this is not an ONNX model\n\xff\xff\xff", f);
        fclose(f);
    }
    vmaskc_status s = vmaskc_model_open(bad, NULL, &m, &e);
    CHECK_MSG(s == VMASKC_EFORMAT && m == NULL && has(&e, "garbage.onnx"), "%s: %s", vmaskc_status_name(s), e.message);
    /* a model without stored vocabulary and none given */
    s = vmaskc_model_open(model_path, NULL, &m, &e);
    CHECK_MSG(s == VMASKC_EINVAL && has(&e, "vocab"), "%s", e.message);
    vmaskc_model_options o;
    vmaskc_model_options_init(&o);
    o.tokenizer = "bpe";
    CHECK(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_EINVAL && has(&e, "bpe"));
    /* NULL handles everywhere */
    int n;
    const char *str;
    vmaskc_tokens *t = (vmaskc_tokens *)&e;
    vmaskc_prediction *p = (vmaskc_prediction *)&e;
    vmaskc_explanation *x = (vmaskc_explanation *)&e;
    vmaskc_words *w = (vmaskc_words *)&e;
    CHECK(vmaskc_model_num_classes(NULL, &n, &e) == VMASKC_EINVAL && has(&e, "'m'"));
    CHECK(vmaskc_model_class_name(NULL, 0, &str, &e) == VMASKC_EINVAL);
    CHECK(vmaskc_tokenize(NULL, "a", 0, &t, &e) == VMASKC_EINVAL && t == NULL);
    CHECK(vmaskc_predict(NULL, NULL, 1, 0, 0, &p, &e) == VMASKC_EINVAL && p == NULL);
    CHECK(vmaskc_explain(NULL, "a", NULL, &x, &e) == VMASKC_EINVAL && x == NULL);
    CHECK(vmaskc_words_rank(NULL, &w, &e) == VMASKC_EINVAL && w == NULL);
    CHECK(vmaskc_train(NULL, NULL, &e) == VMASKC_EINVAL);
    vmaskc_model_close(NULL);
    vmaskc_tokens_free(NULL);
    vmaskc_prediction_free(NULL);
    vmaskc_explanation_free(NULL);
    vmaskc_words_free(NULL);
    CHECK(!strcmp(vmaskc_version(), VMASKC_VERSION));
    CHECK(!strcmp(VM_VERSION, VMASKC_VERSION)); /* `vmaskc --version`, plans and exports say the library's version */
    CHECK(!strcmp(vmaskc_status_name(VMASKC_EIO), "i/o error") && !strcmp(vmaskc_status_name((vmaskc_status)99), "unknown status"));
}

/* label<TAB>text lines of path: labels [n], texts [n] (malloc'd copies); returns n. */
static int read_tsv(const char *path, int *labels, char **texts, int cap) {
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && n < cap && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        labels[n] = atoi(line);
        texts[n++] = strdup(tab + 1);
    }
    if (f) fclose(f);
    return n;
}

/* vmaskc_evaluate against the texts predicted one by one (batch 1: no padding, so the same runs):
 * accuracy, the confusion matrix and each class's precision, recall and F1 from it. */
static void test_evaluate(vmaskc_model *m, int C) {
    vmaskc_error e;
    int gold[200];
    char *texts[200];
    int n = read_tsv(dev_path, gold, texts, 200);
    CHECK(n == 100);
    vmaskc_evaluation *ev = (vmaskc_evaluation *)&e;
    CHECK(vmaskc_evaluate(m, "/no/such.tsv", 0, 0, &ev, &e) == VMASKC_EIO && ev == NULL && has(&e, "/no/such.tsv"));
    CHECK(vmaskc_evaluate(m, dev_path, -1, 0, &ev, &e) == VMASKC_EINVAL && has(&e, "max_len"));
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/api_badlabel.tsv", scratch);
    FILE *f = fopen(bad, "w");
    if (f) {
        fputs("1\tw1 w2\n5\tw3\n", f);
        fclose(f);
    }
    CHECK(vmaskc_evaluate(m, bad, 0, 0, &ev, &e) == VMASKC_EFORMAT && has(&e, "api_badlabel.tsv:2") && has(&e, "label 5"));
    unlink(bad);
    vmaskc_status s = vmaskc_evaluate(m, dev_path, 0, 1, &ev, &e);
    CHECK_MSG(s == VMASKC_OK, "%s", e.message);
    if (s) ev = NULL;
    int64_t conf[9] = {0};
    for (int i = 0; i < n; i++) {
        vmaskc_prediction *p;
        if (vmaskc_predict(m, (const char *const *)&texts[i], 1, 0, 1, &p, &e)) continue;
        conf[gold[i] * C + p->label[0]]++;
        vmaskc_prediction_free(p);
    }
    if (ev && C == 3) {
        CHECK(ev->n == n && ev->n_classes == C && !memcmp(ev->confusion, conf, sizeof conf));
        CHECK(fabs(ev->accuracy - (double)(conf[0] + conf[4] + conf[8]) / n) < 1e-12);
        for (int c = 0; c < C; c++) {
            int64_t sup = conf[c * C] + conf[c * C + 1] + conf[c * C + 2], pred = conf[c] + conf[C + c] + conf[2 * C + c];
            CHECK(ev->support[c] == sup && ev->predicted[c] == pred);
            double pr = pred ? (double)conf[c * C + c] / (double)pred : NAN, re = (double)conf[c * C + c] / (double)sup;
            CHECK_MSG(pred ? fabs(ev->precision[c] - pr) < 1e-12 : isnan(ev->precision[c]), "class %d precision", c);
            CHECK(fabs(ev->recall[c] - re) < 1e-12);
            if (pred && pr + re > 0) CHECK(fabs(ev->f1[c] - 2 * pr * re / (pr + re)) < 1e-12);
        }
    }
    if (ev) CHECK(ev->runs == 100); /* batches of 1 */
    /* the same file as a dataset: its texts, labels and ids; evaluated by length, the same confusion */
    vmaskc_dataset *d = (vmaskc_dataset *)&e;
    CHECK(vmaskc_dataset_read(m, "/no/such.tsv", 0, 1, &d, &e) == VMASKC_EIO && d == NULL && has(&e, "/no/such.tsv"));
    CHECK(vmaskc_dataset_read(NULL, dev_path, 0, 1, &d, &e) == VMASKC_EINVAL && has(&e, "'m'"));
    CHECK(vmaskc_dataset_read(m, dev_path, -2, 1, &d, &e) == VMASKC_EINVAL && has(&e, "max_len"));
    f = fopen(bad, "w");
    if (f) {
        fputs("1\tw1 w2\n5\tw3\n", f);
        fclose(f);
    }
    CHECK(vmaskc_dataset_read(m, bad, 0, 1, &d, &e) == VMASKC_EFORMAT && d == NULL && has(&e, "api_badlabel.tsv:2") && has(&e, "label 5"));
    unlink(bad);
    s = vmaskc_dataset_read(m, dev_path, 0, 1, &d, &e);
    CHECK_MSG(s == VMASKC_OK, "%s", e.message);
    if (!s) {
        CHECK(d->n == n && d->start[0] == 0 && d->line[0] == 1 && d->line[n - 1] == n && d->n_tokens > 0 && d->n_unknown >= 0);
        for (int i = 0; i < n && i < d->n; i++) {
            CHECK(d->labels[i] == gold[i] && !strcmp(d->texts[i], texts[i]));
            vmaskc_tokens *t;
            if (vmaskc_tokenize(m, texts[i], 0, &t, &e)) continue;
            CHECK(t->n == d->start[i + 1] - d->start[i] && !memcmp(t->ids, d->ids + d->start[i], sizeof(int32_t) * (size_t)t->n));
            vmaskc_tokens_free(t);
        }
        int64_t *counts = NULL, total = 0;
        int32_t V = 0;
        vmaskc_model_vocab_size(m, &V, &e);
        CHECK(vmaskc_dataset_token_counts(m, d, &counts, &e) == VMASKC_OK && counts);
        for (int32_t id = 0; counts && id < V; id++) total += counts[id];
        CHECK(total == d->start[d->n]);
        if (counts && d->n) CHECK(counts[d->ids[0]] >= 1);
        free(counts);
        CHECK(vmaskc_dataset_check_fit(m, d, 0, &e) == VMASKC_EINVAL && has(&e, "batch"));
        CHECK(vmaskc_dataset_check_fit(m, d, 8, &e) == VMASKC_OK);
        for (int32_t b = 0; b <= 1; b++) {
            vmaskc_evaluation *dv = NULL;
            CHECK(vmaskc_dataset_evaluate(m, d, b, &dv, &e) == VMASKC_OK);
            if (dv && ev) CHECK_MSG(dv->n == n && !memcmp(dv->confusion, ev->confusion, sizeof conf) && dv->accuracy == ev->accuracy && dv->runs > 0,
                                    "batch %d: accuracy %g vs %g", b, dv->accuracy, ev->accuracy);
            if (dv) CHECK(b ? dv->runs == n : dv->runs < n);
            vmaskc_evaluation_free(dv);
        }
    }
    vmaskc_dataset_free(d);
    /* read as a corpus: labels not read, and not evaluated */
    if (!vmaskc_dataset_read(m, dev_path, 2, 0, &d, &e)) {
        CHECK(d->n == n && d->labels[0] == 0 && d->start[1] <= 2);
        vmaskc_evaluation *dv = NULL;
        CHECK(vmaskc_dataset_evaluate(m, d, 0, &dv, &e) == VMASKC_EINVAL && dv == NULL && has(&e, "without its labels"));
        vmaskc_dataset_free(d);
    } else CHECK_MSG(0, "%s", e.message);
    vmaskc_evaluation_free(ev);
    for (int i = 0; i < n; i++) free(texts[i]);
}

static void test_model(void) {
    vmaskc_error e;
    vmaskc_model_options o;
    vmaskc_model_options_init(&o);
    o.vocab = vocab_path;
    o.threads = 1;
    vmaskc_model *m;
    if (vmaskc_model_open(model_path, &o, &m, &e)) {
        CHECK_MSG(0, "open: %s", e.message);
        return;
    }
    int C = 0;
    const char *name = NULL, *method = "x";
    CHECK(vmaskc_model_num_classes(m, &C, &e) == VMASKC_OK && C == 3);
    CHECK(vmaskc_model_class_name(m, 2, &name, &e) == VMASKC_OK && !strcmp(name, "2"));
    CHECK(vmaskc_model_class_name(m, 3, &name, &e) == VMASKC_EINVAL && name == NULL && has(&e, "class 3"));
    CHECK(vmaskc_model_mask(m, &method, NULL, &e) == VMASKC_OK && method == NULL);
    vmaskc_tokens *t;
    CHECK(vmaskc_tokenize(m, "W1 w2, zzz", 0, &t, &e) == VMASKC_OK);
    if (t) {
        CHECK(t->n == 4 && !strcmp(t->tokens[0], "w1") && !strcmp(t->tokens[2], ",") && t->n_unknown == 2);
        const char *tok;
        CHECK(vmaskc_model_token(m, t->ids[1], &tok, &e) == VMASKC_OK && !strcmp(tok, "w2"));
        vmaskc_tokens_free(t);
    }
    /* a batch of texts of several lengths = each text on its own */
    const char *texts[] = {"w1 w2 w3", "w4", "w5 w6 w7 w8 w9 w10 w11", "w12 w13 w14", "w1"};
    vmaskc_prediction *all;
    CHECK(vmaskc_predict(m, texts, 5, 0, 2, &all, &e) == VMASKC_OK);
    for (int i = 0; all && i < 5; i++) {
        vmaskc_prediction *one;
        CHECK(vmaskc_predict(m, texts + i, 1, 0, 0, &one, &e) == VMASKC_OK);
        if (!one) continue;
        CHECK_MSG(!memcmp(one->probs, all->probs + i * C, sizeof(float) * (size_t)C), "text %d", i);
        CHECK(one->label[0] == all->label[i] && one->keep == NULL);
        CHECK(all->offset[i + 1] - all->offset[i] == one->offset[1]);
        float sum = 0;
        for (int c = 0; c < C; c++) sum += one->probs[c];
        CHECK(fabsf(sum - 1) < 1e-5f);
        vmaskc_prediction_free(one);
    }
    vmaskc_prediction_free(all);
    /* a text without tokens: named by its index */
    const char *gap[] = {"w1", "", "w2"};
    vmaskc_prediction *p = (vmaskc_prediction *)&e;
    CHECK(vmaskc_predict(m, gap, 3, 0, 0, &p, &e) == VMASKC_EINVAL && p == NULL && e.item == 1 && has(&e, "text 2 has no tokens"));
    CHECK(vmaskc_predict(m, gap, 0, 0, 0, &p, &e) == VMASKC_EINVAL && has(&e, "at least one text"));
    /* explanations */
    vmaskc_explain_options xo;
    vmaskc_explain_options_init(&xo);
    xo.samples = 300;
    vmaskc_explanation *x1, *x2;
    CHECK(vmaskc_explain(m, "w1 w2 w3 w1", &xo, &x1, &e) == VMASKC_OK);
    CHECK(vmaskc_explain(m, "w1 w2 w3 w1", &xo, &x2, &e) == VMASKC_OK);
    if (x1 && x2) {
        CHECK(x1->n == 4 && x1->target >= 0 && x1->target < C);
        CHECK(!memcmp(x1->score, x2->score, sizeof(double) * 4));
        CHECK(x1->score[0] == x1->score[3]); /* one LIME feature per distinct word */
        for (int i = 0; i < 4; i++) CHECK(isfinite(x1->score[i]));
    }
    vmaskc_explanation_free(x1);
    vmaskc_explanation_free(x2);
    xo.method = VMASKC_EXPLAIN_SHAPLEY;
    xo.permutations = 20;
    CHECK(vmaskc_explain(m, "w1 w2 w3", &xo, &x1, &e) == VMASKC_OK);
    if (x1) {
        double sum = 0;
        for (int i = 0; i < x1->n; i++) sum += x1->score[i];
        CHECK(isfinite(sum) && x1->n == 3);
    }
    vmaskc_explanation_free(x1);
    xo.method = VMASKC_EXPLAIN_MASK;
    CHECK(vmaskc_explain(m, "w1 w2", &xo, &x1, &e) == VMASKC_EUNSUPPORTED && x1 == NULL && has(&e, "mask"));
    xo.method = (vmaskc_explainer)7;
    CHECK(vmaskc_explain(m, "w1", &xo, &x1, &e) == VMASKC_EINVAL && has(&e, "method 7"));
    vmaskc_words *w;
    CHECK(vmaskc_words_rank(m, &w, &e) == VMASKC_EUNSUPPORTED && w == NULL);
    test_evaluate(m, C);
    vmaskc_model_close(m);
}

/* ---- two models in two threads (the header's thread statement) ---- */

struct thread_job {
    float probs[3 * 3];
    vmaskc_status s;
};

static const char *thread_texts[] = {"w1 w2 w3", "w9 w8", "w20 w21 w22 w23"};

static void *thread_run(void *arg) {
    struct thread_job *j = arg;
    vmaskc_model_options o;
    vmaskc_model_options_init(&o);
    o.vocab = vocab_path;
    vmaskc_model *m;
    vmaskc_prediction *p = NULL;
    j->s = vmaskc_model_open(model_path, &o, &m, NULL);
    if (!j->s) j->s = vmaskc_predict(m, thread_texts, 3, 0, 0, &p, NULL);
    if (!j->s) memcpy(j->probs, p->probs, sizeof j->probs);
    vmaskc_prediction_free(p);
    if (!j->s) vmaskc_model_close(m);
    return NULL;
}

static void test_threads(void) {
    struct thread_job one, a, b;
    pthread_t ta, tb; /* first thing in the process: the two also race to fill the op table */
    CHECK(pthread_create(&ta, NULL, thread_run, &a) == 0);
    CHECK(pthread_create(&tb, NULL, thread_run, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    thread_run(&one);
    CHECK(one.s == VMASKC_OK && a.s == VMASKC_OK && b.s == VMASKC_OK);
    CHECK(!memcmp(one.probs, a.probs, sizeof one.probs) && !memcmp(one.probs, b.probs, sizeof one.probs));
}

struct steps {
    int calls, stop_at;
    int64_t last_step;
    bool sane;
};

static int progress(const vmaskc_train_progress *p, void *user) {
    struct steps *s = user;
    s->calls++;
    s->sane &= p->epoch >= 1 && p->epoch <= p->epochs && p->step >= 1 && p->step <= p->steps && isfinite(p->loss) && p->rate >= 0 &&
               p->accuracy >= 0 && p->accuracy <= 1;
    s->last_step = p->step;
    return s->stop_at && s->calls >= s->stop_at;
}

/* The 0.2 getters and the mask's uses on a trained VMASK model: its importance is the words ranking's
 * q, the whole words of a dataset (a word vocabulary: one token each) carry it too, the mask method
 * and post-hoc accuracy of vmaskc_measure use it; settings, special tokens, build statistics, the
 * profile; and the examples `--limit` picks. */
static void test_masked_model(vmaskc_model *m) {
    vmaskc_error e;
    int lc = -1, sp = -1, special = -1;
    int32_t pad = -2, unk = -2, id = -2, V = 0;
    const char *training = NULL, *source = NULL, *tok = NULL;
    CHECK(vmaskc_model_text_settings(m, &lc, &sp, &e) == VMASKC_OK && lc == 1 && sp == 1);
    CHECK(vmaskc_model_special_tokens(m, &pad, &unk, &e) == VMASKC_OK && pad == 0 && unk == 1);
    CHECK(vmaskc_model_token_id(m, "w3", &id, &e) == VMASKC_OK && id >= 0 && !vmaskc_model_token(m, id, &tok, &e) && !strcmp(tok, "w3"));
    CHECK(vmaskc_model_token_id(m, "no-such-word", &id, &e) == VMASKC_OK && id == -1);
    CHECK(vmaskc_model_token_special(m, 0, &special, &e) == VMASKC_OK && special == 1);
    CHECK(vmaskc_model_token_special(m, 5, &special, &e) == VMASKC_OK && special == 0);
    CHECK(vmaskc_model_token_special(m, -1, &special, &e) == VMASKC_EINVAL && has(&e, "id -1"));
    CHECK(vmaskc_model_training(m, &training, &e) == VMASKC_OK && training && !strcmp(training, "vmask"));
    CHECK(vmaskc_model_text_settings(NULL, &lc, &sp, &e) == VMASKC_EINVAL && vmaskc_model_training(m, NULL, &e) == VMASKC_EINVAL);
    vmaskc_model_vocab_size(m, &V, &e);
    double *imp = NULL;
    vmaskc_words *w = NULL;
    CHECK(vmaskc_model_importance(m, 0, &imp, &source, &e) == VMASKC_OK && imp && source && !strcmp(source, "table"));
    CHECK(vmaskc_words_rank(m, &w, &e) == VMASKC_OK);
    for (int64_t k = 0; imp && w && k < w->n; k++) CHECK((float)imp[w->ids[k]] == w->importance[k]);
    /* whole words of the dev set, in first-occurrence order, scored by the importance */
    vmaskc_dataset *d = NULL;
    vmaskc_whole_words *ww = NULL;
    CHECK(vmaskc_dataset_read(m, dev_path, 0, 1, &d, &e) == VMASKC_OK);
    if (d && imp) {
        CHECK(vmaskc_dataset_words(m, d, NULL, &ww, &e) == VMASKC_EINVAL && ww == NULL && has(&e, "importance"));
        CHECK(vmaskc_dataset_words(m, d, imp, &ww, &e) == VMASKC_OK && ww && ww->n > 10 && ww->n_multi == 0);
        for (int64_t k = 0; ww && k < ww->n; k++) {
            int32_t wid = -1;
            vmaskc_model_token_id(m, ww->words[k], &wid, NULL);
            CHECK_MSG(wid >= 0 && ww->importance[k] == imp[wid] && ww->frequency[k] > 0, "%s", ww->words[k]);
        }
        /* the first text's first word comes first */
        vmaskc_tokens *t = NULL;
        if (ww && !vmaskc_tokenize(m, d->texts[0], 0, &t, &e)) CHECK(!strcmp(ww->words[0], t->tokens[0]));
        vmaskc_tokens_free(t);
        vmaskc_whole_words_free(ww);
    }
    /* the mask method ranks by the importance; post-hoc accuracy keeps the top words */
    vmaskc_measure_options o;
    vmaskc_measure_options_init(&o);
    o.methods = 1u << VMASKC_EXPLAIN_MASK;
    o.posthoc_k = 4;
    vmaskc_measurement *x = NULL;
    CHECK(vmaskc_measure(m, "w1 w2 w3 w4 w5 w6", &o, &x, &e) == VMASKC_OK);
    if (x && imp) {
        for (int32_t i = 0; i < x->n; i++) CHECK(x->method[VMASKC_EXPLAIN_MASK].score[i] == imp[x->ids[i]]);
        CHECK(x->posthoc_k == 4 && x->posthoc_match && x->method[VMASKC_EXPLAIN_MASK].aopc_steps == 5);
        for (int k = 0; k < 4; k++) CHECK(x->posthoc_match[k] <= 1);
    }
    vmaskc_measurement_free(x);
    /* the frequency order: the dataset's counts */
    int64_t *counts = NULL;
    if (d && !vmaskc_dataset_token_counts(m, d, &counts, &e)) {
        o.methods = 1u << VMASKC_EXPLAIN_FREQUENCY;
        o.frequency = counts;
        o.posthoc_k = 0;
        if (!vmaskc_measure(m, "w1 w2 w3", &o, &x, &e))
            for (int32_t i = 0; i < x->n; i++) CHECK(x->method[VMASKC_EXPLAIN_FREQUENCY].score[i] == (double)counts[x->ids[i]]);
        vmaskc_measurement_free(x);
    }
    free(counts);
    vmaskc_dataset_free(d);
    vmaskc_words_free(w);
    free(imp);
    /* statistics and the profile */
    int64_t inst = -1;
    double ms = -1;
    char *table = NULL;
    CHECK(vmaskc_model_build_stats(m, &inst, &ms, &e) == VMASKC_OK && inst > 0 && ms >= 0);
    CHECK(vmaskc_model_profile(m, 1, &e) == VMASKC_OK);
    const char *one = "w1 w2";
    vmaskc_prediction *p = NULL;
    CHECK(vmaskc_predict(m, &one, 1, 0, 0, &p, &e) == VMASKC_OK);
    vmaskc_prediction_free(p);
    CHECK(vmaskc_model_profile_report(m, &table, &e) == VMASKC_OK && table && strlen(table) > 0);
    free(table);
    CHECK(vmaskc_model_profile(m, 0, &e) == VMASKC_OK);
    /* --limit's examples: k distinct of n in increasing order, the same for the same seed */
    int64_t a[10], b[10], all[5];
    CHECK(vmaskc_explain_sample(1, 100, 10, a, &e) == VMASKC_OK && vmaskc_explain_sample(1, 100, 10, b, &e) == VMASKC_OK);
    CHECK(!memcmp(a, b, sizeof a));
    for (int i = 1; i < 10; i++) CHECK(a[i - 1] < a[i] && a[i] < 100);
    CHECK(vmaskc_explain_sample(2, 100, 10, b, &e) == VMASKC_OK && memcmp(a, b, sizeof a));
    CHECK(vmaskc_explain_sample(7, 5, 5, all, &e) == VMASKC_OK && all[0] == 0 && all[4] == 4);
    CHECK(vmaskc_explain_sample(1, 5, 6, all, &e) == VMASKC_EINVAL && has(&e, "k is 6"));
    CHECK(vmaskc_explain_sample(1, 5, 2, NULL, &e) == VMASKC_EINVAL && has(&e, "'out'"));
}

static void test_train(void) {
    vmaskc_error e;
    vmaskc_train_config c;
    vmaskc_train_config_init(&c);
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EINVAL && has(&e, "config.model"));
    char out[4200];
    snprintf(out, sizeof out, "%s/api.vmask.onnx", scratch);
    c.model = model_path;
    c.vocab = vocab_path;
    c.train = "/no/such/train.tsv";
    c.dev = dev_path;
    c.output = out;
    c.epochs = 2;
    c.batch = 32;
    c.lr = 0.01;
    c.mask_hidden = 16;
    c.threads = 1;
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EIO && has(&e, "/no/such/train.tsv"));
    c.train = train_path;
    c.method = "lasso";
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EINVAL && has(&e, "lasso"));
    c.method = "vmask";
    c.batch = 0;
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EINVAL && has(&e, "config.batch"));
    c.batch = 32;
    c.output = "/no/such/folder/out.onnx"; /* refused before any work */
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EIO && has(&e, "config.output") && has(&e, "/no/such/folder"));
    c.output = out;
    /* a text too long for the memory limit: its file:line, before the first step */
    char longf[4200];
    snprintf(longf, sizeof longf, "%s/api_long.tsv", scratch);
    FILE *f = fopen(longf, "w");
    if (f) {
        fputs("0\tw1 w2\n1\tw3", f);
        for (int i = 0; i < 20000; i++) fputs(" w4", f);
        fputs("\n", f);
        fclose(f);
    }
    struct steps st0 = {.sane = true};
    c.train = longf;
    c.max_memory = 4 << 20;
    c.progress = progress;
    c.progress_user = &st0;
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EINVAL && has(&e, "api_long.tsv:2") && has(&e, "--max-len") && st0.calls == 0 &&
          access(out, F_OK) != 0);
    unlink(longf);
    c.train = train_path;
    c.max_memory = 0;
    /* stopped by the callback */
    struct steps st = {.stop_at = 3, .sane = true};
    c.progress = progress;
    c.progress_user = &st;
    unlink(out);
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EINTERRUPTED && st.calls == 3 && access(out, F_OK) != 0);
    /* a short run to the end */
    st = (struct steps){.sane = true};
    vmaskc_train_result r;
    vmaskc_status s = vmaskc_train(&c, &r, &e);
    CHECK_MSG(s == VMASKC_OK, "%s", e.message);
    if (s) return;
    CHECK(st.sane && st.calls > 2 && r.epochs_run == 2 && r.best_epoch >= 1 && r.n_classes == 3 && r.dev_accuracy > 0.3);
    CHECK(r.test_accuracy == -1);
    /* the export carries its vocabulary and mask */
    vmaskc_model *m;
    if (vmaskc_model_open(out, NULL, &m, &e)) {
        CHECK_MSG(0, "open the export: %s", e.message);
        return;
    }
    const char *method, *imp;
    CHECK(vmaskc_model_mask(m, &method, &imp, &e) == VMASKC_OK && method && !strcmp(method, "vmask") && !strcmp(imp, "q"));
    vmaskc_words *w;
    CHECK(vmaskc_words_rank(m, &w, &e) == VMASKC_OK);
    if (w) {
        CHECK(w->n > 50 && w->frequency == NULL);
        for (int64_t k = 1; k < w->n; k++) CHECK(w->importance[k - 1] >= w->importance[k]);
    }
    /* with corpus frequencies: every word of the ranking, counted by hand; min_freq keeps the order */
    vmaskc_words *wf = NULL, *wm = NULL;
    CHECK(vmaskc_words_count(m, train_path, 0, &wf, &e) == VMASKC_OK);
    CHECK(vmaskc_words_count(m, train_path, -1, &wm, &e) == VMASKC_EINVAL && wm == NULL && has(&e, "min_freq"));
    CHECK(vmaskc_words_count(m, train_path, 100, &wm, &e) == VMASKC_OK);
    if (w && wf && wm) {
        int gold[700];
        char *texts[700];
        int n = read_tsv(train_path, gold, texts, 700);
        CHECK(wf->n == w->n && !memcmp(wf->ids, w->ids, sizeof(int32_t) * (size_t)w->n));
        for (int64_t k = 0; k < wf->n; k += 7) {
            int64_t count = 0;
            size_t len = strlen(wf->tokens[k]);
            for (int i = 0; i < n; i++)
                for (const char *t = texts[i]; (t = strstr(t, wf->tokens[k])); t += len)
                    count += (t == texts[i] || t[-1] == ' ') && (t[len] == ' ' || !t[len]);
            CHECK_MSG(wf->frequency[k] == count, "%s: %lld, counted %lld", wf->tokens[k], (long long)wf->frequency[k], (long long)count);
        }
        int64_t kept = 0;
        for (int64_t k = 0; k < wf->n; k++)
            if (wf->frequency[k] >= 100) CHECK(kept < wm->n && wm->ids[kept++] == wf->ids[k]);
        CHECK(kept == wm->n && kept > 0 && kept < wf->n);
        for (int i = 0; i < n; i++) free(texts[i]);
    }
    vmaskc_words_free(w);
    vmaskc_words_free(wf);
    vmaskc_words_free(wm);
    const char *texts[] = {"w1 w2 w40", "w3"};
    vmaskc_prediction *p;
    CHECK(vmaskc_predict(m, texts, 2, 0, 0, &p, &e) == VMASKC_OK);
    vmaskc_explain_options xo;
    vmaskc_explain_options_init(&xo);
    xo.method = VMASKC_EXPLAIN_MASK;
    vmaskc_explanation *x;
    CHECK(vmaskc_explain(m, "w1 w2 w40", &xo, &x, &e) == VMASKC_OK);
    if (p && x) {
        CHECK(p->keep != NULL && p->offset[1] == 3);
        for (int i = 0; p->keep && i < 3; i++) CHECK(p->keep[i] > 0 && p->keep[i] < 1 && (float)x->score[i] == p->keep[i]);
    }
    vmaskc_prediction_free(p);
    vmaskc_explanation_free(x);
    test_masked_model(m);
    vmaskc_model_close(m);
    unlink(out);
}

/* label<TAB>text lines as CSV with a header, classes by name ("beta, b" needs quoting) */
static bool tsv_to_csv(const char *tsv, const char *csv) {
    static const char *names[] = {"alpha", "\"beta, b\"", "gamma"};
    int labels[700];
    char *texts[700];
    int n = read_tsv(tsv, labels, texts, 700);
    FILE *f = fopen(csv, "w");
    if (f) fputs("text,label\n", f);
    for (int i = 0; i < n; i++) {
        if (f) fprintf(f, "%s,%s\n", texts[i], names[labels[i] % 3]);
        free(texts[i]);
    }
    return f && !fclose(f) && n > 0;
}

static bool same_file(const char *a, const char *b) {
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    bool same = x && y;
    for (int cx = 0, cy = 0; same && cx != EOF; same = cx == cy) {
        cx = fgetc(x);
        cy = fgetc(y);
    }
    if (x) fclose(x);
    if (y) fclose(y);
    return same;
}

/* ---- the API and `vmaskc train` train the same model (one implementation) ---- */

static void test_train_same_as_cli(void) {
    if (!vmaskc_bin[0]) {
        printf("skipped: same model as the CLI (no vmaskc binary given)\n");
        return;
    }
    char tr[4200], dv[4200], api_out[4200], cli_out[4200], hist[4200], cmd[40000];
    snprintf(tr, sizeof tr, "%s/api_train.csv", scratch);
    snprintf(dv, sizeof dv, "%s/api_dev.csv", scratch);
    snprintf(api_out, sizeof api_out, "%s/api_same.onnx", scratch);
    snprintf(cli_out, sizeof cli_out, "%s/cli_same.onnx", scratch);
    snprintf(hist, sizeof hist, "%s/api_history.csv", scratch);
    CHECK(tsv_to_csv(train_path, tr) && tsv_to_csv(dev_path, dv));
    vmaskc_error e;
    vmaskc_train_config c;
    vmaskc_train_config_init(&c);
    c.model = model_path;
    c.vocab = vocab_path;
    c.train = tr;
    c.dev = dv;
    c.output = api_out;
    c.epochs = 2;
    c.batch = 32;
    c.lr = 0.01;
    c.mask_hidden = 16;
    c.threads = 1;
    c.seed = 7;
    c.history = hist;
    c.vectors = NULL;
    char vec[4200];
    snprintf(vec, sizeof vec, "%.*s/vectors/w2v.txt.gz", (int)(strrchr(train_path, '/') - train_path), train_path);
    c.vectors = vec;
    vmaskc_train_result r;
    vmaskc_status s = vmaskc_train(&c, &r, &e);
    CHECK_MSG(s == VMASKC_OK, "%s", e.message);
    snprintf(cmd, sizeof cmd,
             "'%s' train '%s' --vocab '%s' --train '%s' --dev '%s' -o '%s' --epochs 2 --batch 32 --lr 0.01 --mask-hidden 16 --threads 1 "
             "--seed 7 --vectors '%s' >/dev/null 2>&1",
             vmaskc_bin, model_path, vocab_path, tr, dv, cli_out, vec);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    CHECK_MSG(same_file(api_out, cli_out), "vmaskc_train and vmaskc train exported different models (%s, %s)", api_out, cli_out);
    /* the class names are the CSV's, in the export; the history has a header and one line per epoch */
    vmaskc_model *m;
    vmaskc_model_options mo;
    vmaskc_model_options_init(&mo);
    mo.data.format = "xml";
    CHECK(vmaskc_model_open(api_out, &mo, &m, &e) == VMASKC_EINVAL && has(&e, "options.data.format"));
    mo.data.format = "csv";
    mo.data.header = 1;
    mo.threads = 1;
    char *column = strdup("text"); /* the caller's string may go after the call: the model keeps a copy */
    mo.data.text_column = column;
    bool opened = !s && !vmaskc_model_open(api_out, &mo, &m, &e);
    if (column) memset(column, 'x', 4);
    free(column);
    mo.data.text_column = NULL;
    if (opened) {
        const char *name = NULL;
        CHECK(vmaskc_model_class_name(m, 1, &name, &e) == VMASKC_OK && name && !strcmp(name, "beta, b"));
        /* the dev set evaluated as training evaluated it (batches of 32 in file order): its best dev accuracy */
        vmaskc_evaluation *ev;
        CHECK(vmaskc_evaluate(m, dv, 0, 32, &ev, &e) == VMASKC_OK);
        if (ev) CHECK_MSG(ev->n == 100 && ev->accuracy == r.dev_accuracy, "%g vs %g", ev->accuracy, r.dev_accuracy);
        vmaskc_evaluation_free(ev);
        vmaskc_model_close(m);
    } else CHECK_MSG(0, "open %s: %s", api_out, e.message);
    FILE *f = fopen(hist, "r");
    int lines = 0;
    for (int ch; f && (ch = fgetc(f)) != EOF;) lines += ch == '\n';
    if (f) fclose(f);
    CHECK_MSG(lines == 3, "history: %d lines", lines);
    /* a config the command would refuse is refused here too */
    c.data.format = "xml";
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EINVAL && has(&e, "config.data.format") && has(&e, "xml"));
    c.data.format = NULL;
    c.vectors = "/no/such/vectors.txt";
    CHECK(vmaskc_train(&c, NULL, &e) == VMASKC_EIO && has(&e, "/no/such/vectors.txt"));
    unlink(tr);
    unlink(dv);
    unlink(api_out);
    unlink(cli_out);
    unlink(hist);
}

/* ---- (e) model options: the same numbers as the command line's ---- */

/* `vmaskc predict MODEL TEXT ARGS --digits 9`'s probabilities into p[C]; false when it fails. */
static bool cli_probs(const char *model, const char *text, const char *args, float *p, int C) {
    char cmd[20000], line[4096];
    snprintf(cmd, sizeof cmd, "'%s' predict '%s' '%s' --digits 9 %s 2>&1", vmaskc_bin, model, text, args);
    FILE *f = popen(cmd, "r");
    bool ok = f && fgets(line, sizeof line, f) && strstr(line, "probabilities");
    if (ok) {
        const char *q = strstr(line, "probabilities") + strlen("probabilities");
        for (int c = 0; c < C && ok; c++) {
            char *end;
            p[c] = strtof(q, &end);
            ok = end != q;
            q = end;
        }
    }
    if (f) ok = pclose(f) == 0 && ok;
    CHECK_MSG(ok, "%s: %s", cmd, line);
    return ok;
}

/* The API's probabilities of text under options o, printed with 9 decimals as the command does. */
static bool api_probs(const char *model, const vmaskc_model_options *o, const char *text, float *p, int C) {
    vmaskc_model *m;
    vmaskc_prediction *pr = NULL;
    vmaskc_error e;
    bool ok = !vmaskc_model_open(model, o, &m, &e) && !vmaskc_predict(m, &text, 1, 0, 0, &pr, &e) && pr->n_classes == C;
    CHECK_MSG(ok, "%s: %s", model, e.message);
    for (int c = 0; ok && c < C; c++) {
        char b[32];
        snprintf(b, sizeof b, "%.9f", pr->probs[c]); /* the command's rounding */
        p[c] = strtof(b, NULL);
    }
    vmaskc_prediction_free(pr);
    vmaskc_model_close(ok ? m : NULL);
    return ok;
}

static void test_model_options(const char *src) {
    char roles_model[4200];
    snprintf(roles_model, sizeof roles_model, "%s/tests/fixtures/roles/model.onnx", src);
    vmaskc_model_options o;
    vmaskc_model_options_init(&o);
    CHECK(o.lowercase == -1 && o.split_punct == -1 && o.n_shapes == 0 && o.n_input_roles == 0 && o.shapes == NULL);
    o.vocab = vocab_path;
    o.threads = 1;
    float def[3], api[3], cli[3];
    const char *text = "w1 w2 w3";
    CHECK(api_probs(model_path, &o, text, def, 3));
    /* a fixed input shape: the text padded to 12 ids */
    vmaskc_input_shape sh = {.input = "input_ids", .rank = 2, .dims = {1, 12}};
    o.shapes = &sh;
    o.n_shapes = 1;
    char args[9000];
    snprintf(args, sizeof args, "--vocab '%s' --threads 1 --shape input_ids=1,12", vocab_path);
    if (vmaskc_bin[0] && api_probs(model_path, &o, text, api, 3) && cli_probs(model_path, text, args, cli, 3))
        CHECK_MSG(!memcmp(api, cli, sizeof api) && memcmp(api, def, sizeof api), "shape: api %.9f %.9f %.9f, cli %.9f %.9f %.9f", api[0], api[1],
                  api[2], cli[0], cli[1], cli[2]);
    vmaskc_model *m = (vmaskc_model *)&o;
    vmaskc_error e;
    sh.rank = 0;
    CHECK(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_EINVAL && m == NULL && has(&e, "shapes[0]") && has(&e, "rank"));
    sh.rank = 2;
    sh.dims[1] = -3;
    CHECK(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_EINVAL && has(&e, "shapes[0] (input_ids)") && has(&e, "-3"));
    o.n_shapes = 17;
    CHECK(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_EINVAL && has(&e, "n_shapes is 17"));
    o.shapes = NULL;
    o.n_shapes = 1;
    CHECK(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_EINVAL && has(&e, "n_shapes"));
    o.n_shapes = 0;
    /* the reference kernels: the same classifier within float rounding */
    o.reference_kernels = 1;
    if (api_probs(model_path, &o, text, api, 3))
        for (int c = 0; c < 3; c++) CHECK_MSG(fabsf(api[c] - def[c]) < 1e-5f, "reference kernels: %g vs %g", api[c], def[c]);
    o.reference_kernels = 0;
    /* pad / unknown-word tokens: taken (the vocabulary's own), refused when not in it */
    o.pad = "<pad>";
    o.unk = "<unk>";
    if (api_probs(model_path, &o, text, api, 3)) CHECK(!memcmp(api, def, sizeof api));
    o.pad = "<nope>";
    CHECK(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_EINVAL && m == NULL && has(&e, "'<nope>'"));
    o.pad = o.unk = NULL;
    /* the kim tokenizer: Kim (2014) splits "w1's" into w1 and 's; the words tokenizer does not */
    o.tokenizer = "kim";
    CHECK_MSG(vmaskc_model_open(model_path, &o, &m, &e) == VMASKC_OK, "%s", e.message);
    const char *tk = NULL;
    if (!e.code || m) {
        CHECK(vmaskc_model_tokenizer(m, &tk, &e) == VMASKC_OK && tk && !strcmp(tk, "kim"));
        vmaskc_model_close(m);
    }
    o.tokenizer = NULL;
    /* input roles: c and d swapped gives other numbers, the command's with the same swap */
    vmaskc_input_role r[2] = {{"c", "positions"}, {"d", "types"}};
    float rdef[3];
    CHECK(api_probs(roles_model, &o, "w1 w2", rdef, 3));
    o.input_roles = r;
    o.n_input_roles = 2;
    snprintf(args, sizeof args, "--vocab '%s' --threads 1 --input-role c=positions --input-role d=types", vocab_path);
    if (vmaskc_bin[0] && api_probs(roles_model, &o, "w1 w2", api, 3) && cli_probs(roles_model, "w1 w2", args, cli, 3))
        CHECK_MSG(!memcmp(api, cli, sizeof api) && memcmp(api, rdef, sizeof api), "roles: api %.9f %.9f %.9f, cli %.9f %.9f %.9f", api[0],
                  api[1], api[2], cli[0], cli[1], cli[2]);
    r[1].role = "attention";
    CHECK(vmaskc_model_open(roles_model, &o, &m, &e) == VMASKC_EINVAL && has(&e, "input_roles[1]") && has(&e, "attention"));
    r[1] = (vmaskc_input_role){"zz", "mask"};
    CHECK(vmaskc_model_open(roles_model, &o, &m, &e) != VMASKC_OK && m == NULL && has(&e, "zz"));
    o.n_input_roles = 9;
    CHECK(vmaskc_model_open(roles_model, &o, &m, &e) == VMASKC_EINVAL && has(&e, "n_input_roles is 9"));
}

/* ---- (f) explain and measure: the numbers of `vmaskc explain` ---- */

/* The JSON array after `key` inside the object that starts at `from` (a copy, up to 8000 bytes). */
static bool json_array(const char *from, const char *key, char *out, size_t cap) {
    const char *p = from ? strstr(from, key) : NULL;
    const char *q = p ? strchr(p, '[') : NULL, *e = q ? strchr(q, ']') : NULL;
    if (!e || (size_t)(e - q) >= cap) return false;
    memcpy(out, q + 1, (size_t)(e - q - 1));
    out[e - q - 1] = 0;
    return true;
}

/* n numbers printed as explanations.jsonl prints them: floats (%.7g of the float) or doubles. */
static void print_nums(char *out, size_t cap, const double *v, int32_t n, bool as_float) {
    size_t len = 0;
    out[0] = 0;
    for (int32_t i = 0; i < n && len < cap; i++) {
        double x = as_float ? (double)(float)v[i] : v[i];
        if (isfinite(x)) len += (size_t)snprintf(out + len, cap - len, "%s%.7g", i ? "," : "", x);
        else len += (size_t)snprintf(out + len, cap - len, "%snull", i ? "," : "");
    }
}

static void test_measure(void) {
    vmaskc_error e;
    vmaskc_measurement *x = (vmaskc_measurement *)&e;
    CHECK(vmaskc_measure(NULL, "a", NULL, &x, &e) == VMASKC_EINVAL && x == NULL && has(&e, "'m'"));
    CHECK(vmaskc_measure(NULL, "a", NULL, NULL, &e) == VMASKC_EINVAL && has(&e, "'out'"));
    double d[3] = {0.1, 0.2, 0.3};
    CHECK(fabs(vmaskc_aopc(d, 3, 3, 0) - 0.6 / 4) < 1e-12 && fabs(vmaskc_aopc(d, 3, 3, 1) - 0.2) < 1e-12);
    CHECK(fabs(vmaskc_aopc(d, 3, 5, 0) - 0.6 / 6) < 1e-12 && fabs(vmaskc_aopc(d, 2, 5, 0) - 0.3 / 6) < 1e-12);
    vmaskc_model_options mo;
    vmaskc_model_options_init(&mo);
    mo.vocab = vocab_path;
    mo.threads = 1;
    vmaskc_model *m;
    if (vmaskc_model_open(model_path, &mo, &m, &e)) {
        CHECK_MSG(0, "open: %s", e.message);
        return;
    }
    CHECK(vmaskc_measure(m, NULL, NULL, &x, &e) == VMASKC_EINVAL && has(&e, "'text'"));
    vmaskc_measure_options o;
    vmaskc_measure_options_init(&o);
    CHECK(o.methods == 3u && o.target == -1 && o.seed == 1 && o.posthoc_k == 0);
    CHECK(vmaskc_measure(m, "", &o, &x, &e) == VMASKC_EINVAL && x == NULL && has(&e, "no tokens"));
    o.methods = 1u << 6;
    CHECK(vmaskc_measure(m, "w1 w2", &o, &x, &e) == VMASKC_EINVAL && has(&e, "methods"));
    o.methods = 1u << VMASKC_EXPLAIN_FREQUENCY;
    CHECK(vmaskc_measure(m, "w1 w2", &o, &x, &e) == VMASKC_EINVAL && has(&e, "frequency"));
    o.methods = 1u << VMASKC_EXPLAIN_MASK; /* a model without a mask and no importance given */
    CHECK(vmaskc_measure(m, "w1 w2", &o, &x, &e) == VMASKC_EUNSUPPORTED && has(&e, "importance"));
    o.methods = 1u;
    o.target = 3;
    CHECK(vmaskc_measure(m, "w1 w2", &o, &x, &e) == VMASKC_EINVAL && has(&e, "target is 3"));
    o.target = -1;
    o.aopc_k = 65;
    CHECK(vmaskc_measure(m, "w1 w2", &o, &x, &e) == VMASKC_EINVAL && has(&e, "aopc_k is 65"));
    o.aopc_k = 0;
    o.aopc_removal = (vmaskc_aopc_removal)3;
    CHECK(vmaskc_measure(m, "w1 w2", &o, &x, &e) == VMASKC_EINVAL && has(&e, "aopc_removal"));
    /* the same text through `vmaskc explain` (one line of data, its gold class 1) and through the API */
    const char *text = "w3 w1 w7 w2 w9 w3 w12";
    o.methods = 1u << VMASKC_EXPLAIN_LIME | 1u << VMASKC_EXPLAIN_SHAPLEY | 1u << VMASKC_EXPLAIN_RANDOM;
    o.target = 1;
    o.seed = vmaskc_explain_seed(1, 0);
    o.samples = 200;
    o.permutations = 10;
    o.aopc_removal = VMASKC_AOPC_PAD;
    vmaskc_status s = vmaskc_measure(m, text, &o, &x, &e);
    CHECK_MSG(s == VMASKC_OK, "%s", e.message);
    if (!s) {
        CHECK(x->n == 7 && x->n_words == 7 && x->target == 1 && x->predicted >= 0 && x->predicted < 3 && x->posthoc_match == NULL);
        CHECK(x->method[VMASKC_EXPLAIN_MASK].score == NULL && x->method[VMASKC_EXPLAIN_LIME].score && x->lime_features == 6);
        CHECK(x->method[VMASKC_EXPLAIN_LIME].score[0] == x->method[VMASKC_EXPLAIN_LIME].score[5]); /* w3 twice: one feature */
        CHECK(x->texts_run > 200 && x->runs > 0 && !strcmp(x->words[2], "w7"));
    }
    if (!s && vmaskc_bin[0]) {
        char data[4200], rep[4200], cmd[20000];
        snprintf(data, sizeof data, "%s/api_measure.tsv", scratch);
        snprintf(rep, sizeof rep, "%s/api_measure_report", scratch);
        FILE *f = fopen(data, "w");
        if (f) {
            fprintf(f, "1\t%s\n", text);
            fclose(f);
        }
        snprintf(cmd, sizeof cmd,
                 "rm -rf '%s' && '%s' explain '%s' --vocab '%s' --data '%s' --method lime,shapley,random --samples 200 --permutations 10 "
                 "--aopc-removal pad --explain-class gold --threads 1 --report '%s' >/dev/null 2>&1",
                 rep, vmaskc_bin, model_path, vocab_path, data, rep);
        CHECK_MSG(system(cmd) == 0, "%s", cmd);
        snprintf(cmd, sizeof cmd, "%s/explanations.jsonl", rep);
        static char line[100000];
        f = fopen(cmd, "r");
        bool got = f && fgets(line, sizeof line, f);
        if (f) fclose(f);
        CHECK_MSG(got, "no %s", cmd);
        static const char *const keys[] = {"\"lime\":", "\"shapley\":", "\"random\":"};
        static const int methods[] = {VMASKC_EXPLAIN_LIME, VMASKC_EXPLAIN_SHAPLEY, VMASKC_EXPLAIN_RANDOM};
        for (int k = 0; got && k < 3; k++) {
            const vmaskc_method_result *r = &x->method[methods[k]];
            const char *obj = strstr(line, keys[k]);
            char cli[8000], api[8000];
            CHECK_MSG(json_array(obj, "\"weights\"", cli, sizeof cli), "%s: no weights", keys[k]);
            print_nums(api, sizeof api, r->score, x->n, true);
            CHECK_MSG(!strcmp(cli, api), "%s weights: cli [%s], api [%s]", keys[k], cli, api);
            CHECK_MSG(json_array(obj, "\"aopc_deltas\"", cli, sizeof cli), "%s: no aopc_deltas", keys[k]);
            print_nums(api, sizeof api, r->aopc_delta, r->aopc_steps, false);
            CHECK_MSG(!strcmp(cli, api) && r->aopc_steps > 0, "%s deltas: cli [%s], api [%s]", keys[k], cli, api);
            if (methods[k] != VMASKC_EXPLAIN_RANDOM) {
                char seed[64];
                snprintf(seed, sizeof seed, "\"seed\":%llu", (unsigned long long)r->seed);
                CHECK_MSG(obj && strstr(obj, seed), "%s: %s not in the CLI's record", keys[k], seed);
            }
        }
        char icpt[64];
        snprintf(icpt, sizeof icpt, "\"intercept\":%.7g", x->lime_intercept);
        CHECK_MSG(got && strstr(line, icpt), "LIME %s not in the CLI's record", icpt);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", rep, data);
        CHECK(system(cmd) == 0);
    }
    /* deterministic in the seed; another seed, other LIME weights */
    vmaskc_measurement *y = NULL;
    if (!s && !vmaskc_measure(m, text, &o, &y, &e)) {
        CHECK(!memcmp(x->method[0].score, y->method[0].score, sizeof(double) * 7) && !memcmp(x->probs, y->probs, sizeof(float) * 3));
        vmaskc_measurement_free(y);
        o.seed = 2;
        CHECK(vmaskc_measure(m, text, &o, &y, &e) == VMASKC_OK && y && memcmp(x->method[0].score, y->method[0].score, sizeof(double) * 7));
    }
    vmaskc_measurement_free(y);
    vmaskc_measurement_free(x);
    vmaskc_model_close(m);
}

int main(int argc, char **argv) {
    const char *src = argc > 1 ? argv[1] : VM_SOURCE_DIR;
    snprintf(scratch, sizeof scratch, "%s", argc > 2 ? argv[2] : ".");
    snprintf(vmaskc_bin, sizeof vmaskc_bin, "%s", argc > 3 ? argv[3] : "");
    snprintf(model_path, sizeof model_path, "%s/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx", src);
    snprintf(vocab_path, sizeof vocab_path, "%s/tests/train/vocab.txt", src);
    snprintf(train_path, sizeof train_path, "%s/tests/train/train.tsv", src);
    snprintf(dev_path, sizeof dev_path, "%s/tests/train/dev.tsv", src);
    test_threads();
    test_errors();
    test_model();
    test_train();
    test_train_same_as_cli();
    test_model_options(src);
    test_measure();
    printf("%d checks, %d failures\n", vmtest_checks, vmtest_failures);
    return vmtest_failures ? 1 : 0;
}
