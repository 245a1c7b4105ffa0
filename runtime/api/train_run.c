/* train_run: the whole of `vmaskc train` below its command line — vocabulary (given or stored in the
 * model), class names, data (TSV, CSV, JSON Lines), pre-trained vectors, the ONNX model compiled for
 * training with the method's mask layer, loss, backward pass and Adam (compiler/training.c), the
 * loop (runtime/train.c vm_train), the export with its metadata (train_export.c) and the list of
 * the globally most important words. One implementation for the command (tools/vmaskc/cmd_train.c,
 * which parses options, handles Ctrl-C and Open MPI, and prints to stdout) and for vmaskc_train
 * (api_train.c, silent, with a progress callback). */
#include "train_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../compiler/training.h"
#include "../dist.h"
#include "load.h"
#include "train_export.h"

/* Gradients from this size on live in the arena, each optimizer step inside backward (vm_train_run) */
#define VM_OPTIMIZER_IN_BACKWARD_BYTES (64.0 * 1024 * 1024)

/* The report lines: to log, or nowhere (the library's callers print nothing). */
static void say(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *log, const char *fmt, ...) {
    if (!log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
}

double vm_train_job_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum vm_status vm_vectors_read_report(const char *path, enum vm_vectors_format fmt, const struct vm_vocab *v, int32_t dim,
                                      const char *dim_what, float *table, uint8_t *found, const int64_t *tok_count,
                                      int64_t tok_total, const char *tok_what, FILE *log, struct vm_error *err) {
    struct vm_vectors_opts o = {.format = fmt, .dim = dim, .dim_what = dim_what, .progress = log ? stderr : NULL,
                                .progress_tty = log && isatty(fileno(stderr)) != 0};
    struct vm_vectors_info info;
    if (log) fflush(log);
    if (vm_vectors_read(path, v, &o, table, found, &info, err)) return err->code;
    int32_t hit = info.n_exact + info.n_lower;
    say(log, "vectors: %s (%s%s, %lld x %d): %d of %d vocabulary words found (%.1f%%; %d exact, %d lower-cased)", path,
        info.format == VM_VECTORS_BINARY ? "word2vec binary" : info.header ? "word2vec/fastText text" : "GloVe text",
        info.header ? "" : ", no header", (long long)info.rows, info.dim, hit, info.n_words,
        info.n_words ? 100.0 * hit / info.n_words : 0.0, info.n_exact, info.n_lower);
    if (tok_count && tok_total > 0) {
        int64_t cov = 0;
        for (int32_t id = 0; id < v->n; id++)
            if (found[id] != VM_VECTOR_MISSING) cov += tok_count[id];
        say(log, "; %.1f%% of the %lld tokens of %s", 100.0 * (double)cov / (double)tok_total, (long long)tok_total, tok_what);
    }
    say(log, "\n");
    return VM_OK;
}

void vm_train_job_init(struct vm_train_job *j) {
    memset(j, 0, sizeof *j);
    vm_train_opts_default(&j->to);
    vm_train_cfg_default(&j->tc);
    vm_tokenizer_default(&j->tok);
    j->vectors_format = VM_VECTORS_AUTO;
    j->oov_init = 0.25;
    j->iba_beta = 0.1; /* not the reference's 10: see train --help and the README's IBA row */
    j->top = 20;
    j->min_freq = 3;
    j->lead = true;
    j->n_proc = 1;
    j->t_start = vm_train_job_clock();
}

void vm_train_job_free(struct vm_train_job *j) { vm_train_result_free(&j->res); }

struct lookup_ctx {
    struct vm_rt_model *m;
    const struct vm_graph *g;
    int32_t table; /* value index of a frozen embedding table initialized from --vectors, else -1 */
    /* frozen weights the runtime holds byte for byte as the ONNX file did (same_constants): the
     * file's copy is released, the export and the word ranking read the runtime's */
    struct same_constant {
        const char *name;
        const void *data;
        size_t nbytes;
    } *same;
    size_t n_same;
};

static const void *param_lookup(void *ctx, const char *name, size_t *nbytes) {
    struct lookup_ctx *c = ctx;
    int i = vm_rt_find_param(c->m, name);
    if (i < 0 && c->table >= 0 && !strcmp(name, c->g->values[c->table].name)) { /* not trained, not the file's either */
        *nbytes = c->g->values[c->table].nbytes;
        return c->g->values[c->table].data;
    }
    for (size_t k = 0; i < 0 && k < c->n_same; k++)
        if (!strcmp(name, c->same[k].name)) {
            *nbytes = c->same[k].nbytes;
            return c->same[k].data;
        }
    if (i < 0) return NULL;
    struct vm_rt_tensor t = vm_rt_param(c->m, i);
    *nbytes = t.nbytes;
    return t.data;
}

/* The ONNX file's untrained initializers of 1 MiB or more (a frozen word embedding: 89 MiB in a
 * BERT-base) that the runtime's persistent region holds with the same bytes: releasing the file's
 * copy with the trained weights' takes them off the training peak. Checked byte for byte, so a
 * constant a compiler pass rewrote under the same name keeps the file's copy. */
static enum vm_status same_constants(struct lookup_ctx *c, const Onnx__ModelProto *onnx, struct vm_error *err) {
    const Onnx__GraphProto *og = onnx->graph;
    size_t n = og ? og->n_initializer : 0;
    if (!(c->same = vm_calloc(n + 1, sizeof *c->same, err))) return VM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const Onnx__TensorProto *t = og->initializer[i];
        if (!t->name || !t->has_raw_data || !t->raw_data.data || t->raw_data.len < ((size_t)1 << 20) || vm_rt_find_param(c->m, t->name) >= 0 ||
            (c->table >= 0 && !strcmp(t->name, c->g->values[c->table].name)))
            continue;
        struct vm_rt_tensor rt = vm_rt_persistent(c->m, t->name);
        if (!rt.data || rt.nbytes != t->raw_data.len || memcmp(rt.data, t->raw_data.data, rt.nbytes)) continue;
        c->same[c->n_same++] = (struct same_constant){t->name, rt.data, rt.nbytes};
    }
    return VM_OK;
}

struct word_score {
    float q;
    int32_t id;
};

/* What each method reports as a word's global importance. */
static const char *importance_label(enum vm_mask_method m) {
    return m == VM_METHOD_L2X ? "L2X score" : m == VM_METHOD_IBA ? "IBA lambda (information kept)" : "q (keep probability)";
}

/* IBA's noise statistics over the training tokens, from the (frozen) word embedding. */
static enum vm_status iba_statistics(const struct vm_graph *g, int32_t emb, const struct vm_dataset *d, struct vm_train_opts *to,
                                     float **stats, FILE *log, struct vm_error *err) {
    if (emb < 0) return vm_errorf(err, VM_EUNSUPPORTED, "--method iba: no word embedding found (name it with --embedding)");
    const struct vm_value *tv = &g->values[g->nodes[emb].in[0]];
    int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
    if (!tv->data || tv->dtype != VM_DTYPE_FLOAT) return vm_errorf(err, VM_EUNSUPPORTED, "--method iba: the word embedding '%s' is not a float initializer", tv->name);
    if (!(*stats = vm_malloc(sizeof(float) * (size_t)(2 * E), err))) return VM_ENOMEM;
    int64_t n = vm_iba_estimate(tv->data, V, E, d->ids, d->start[d->n], to->pad_id, to->keep_ids, to->n_keep_ids, *stats, *stats + E);
    if (n < 2) return vm_errorf(err, VM_EINVAL, "--method iba: the training data has %lld real tokens; the noise statistics need at least 2", (long long)n);
    to->iba_mu = *stats;
    to->iba_sigma = *stats + E;
    to->iba_dim = E;
    double mm = 0, ms = 0;
    for (int64_t e = 0; e < E; e++) mm += (*stats)[e], ms += (*stats)[E + e];
    say(log, "IBA noise: mean and standard deviation per embedding dimension over %lld training tokens (average mean %.4g, sigma %.4g)\n",
           (long long)n, mm / (double)E, ms / (double)E);
    return VM_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_score(const void *a, const void *b) {
    const struct word_score *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? 1 : -1;
    return x->id - y->id;
}

/* Training a model vmaskc exported (the second stage of the paper's BERT protocol: fine-tune with
 * --no-mask, then train the mask) needs no --vocab: the vocabulary and tokenizer settings stored in
 * its metadata are used, as eval and predict do. */
static enum vm_status stored_vocab(const char *model, struct vm_vocab *vocab, const char *pad, const char *unk, const char **kind,
                                   char *kind_buf, size_t kind_cap, struct vm_tokenizer *tok, bool case_given, bool punct_given,
                                   struct vm_labels *labels, FILE *log, struct vm_error *err) {
    Onnx__ModelProto *m = vm_onnx_load_model(model, err);
    if (!m) return err->code;
    const char *text = NULL, *spad = NULL, *sunk = NULL, *skind = NULL, *lc = NULL, *sp = NULL, *clean = NULL, *names = NULL;
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        if (!e->key || !e->value) continue;
        if (!strcmp(e->key, "vmaskc.vocab")) text = e->value;
        else if (!strcmp(e->key, "vmaskc.pad")) spad = e->value;
        else if (!strcmp(e->key, "vmaskc.unk")) sunk = e->value;
        else if (!strcmp(e->key, "vmaskc.tokenizer")) skind = e->value;
        else if (!strcmp(e->key, "vmaskc.lowercase")) lc = e->value;
        else if (!strcmp(e->key, "vmaskc.split_punct")) sp = e->value;
        else if (!strcmp(e->key, "vmaskc.words.cleanup")) clean = e->value;
        else if (!strcmp(e->key, "vmaskc.labels")) names = e->value;
        else if (!strcmp(e->key, "vmaskc.pairs") && !strcmp(e->value, "1")) tok->pairs = true; /* a sentence-pair model stays one */
    }
    enum vm_status s;
    if (!text) {
        s = vm_errorf(err, VM_EINVAL, "missing --vocab VOCAB.txt (%s carries no vocabulary: it was not exported by vmaskc train)", model);
    } else {
        s = vm_vocab_from_text(vocab, text, pad ? pad : spad && *spad ? spad : NULL, unk ? unk : sunk && *sunk ? sunk : NULL, err);
        /* the tokenizer the model was trained with, unless the command line says otherwise */
        if (!*kind) {
            snprintf(kind_buf, kind_cap, "%s", vm_tokenizer_from_meta(skind, clean));
            *kind = kind_buf;
        }
        if (!case_given && lc) tok->lowercase = strcmp(lc, "0") != 0;
        if (!punct_given && sp) tok->split_punct = strcmp(sp, "0") != 0;
        if (!s && names && !labels->n && (s = vm_labels_from_text(labels, names, "vmaskc.labels", err))) vm_vocab_free(vocab);
        if (!s) say(log, "vocabulary and tokenizer: stored in %s\n", model);
    }
    vm_onnx_free_model(m);
    return s;
}

/* --vectors: the embedding table's rows for the vocabulary's words from the file, the others
 * uniform(-a, a) by seed, the pad row zero; coverage counted over the training tokens. */
static enum vm_status embedding_from_vectors(struct vm_graph *g, int32_t emb, const char *path, enum vm_vectors_format fmt,
                                             const struct vm_vocab *vocab, const struct vm_dataset *dtrain, double a,
                                             uint64_t seed, int32_t *table_out, FILE *log, struct vm_error *err) {
    if (emb < 0) return vm_errorf(err, VM_EINVAL, "--vectors: the model has no word embedding (a Gather of a 2-D float table); see --embedding");
    struct vm_value *tv = &g->values[g->nodes[emb].in[0]];
    if (tv->dtype != VM_DTYPE_FLOAT || tv->rank != 2 || !tv->data)
        return vm_errorf(err, VM_EINVAL, "--vectors: the word embedding '%s' is not a 2-D float initializer", tv->name);
    int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
    if (E > INT32_MAX) return vm_errorf(err, VM_EINVAL, "--vectors: the embedding '%s' is %lld wide", tv->name, (long long)E);
    char what[600];
    snprintf(what, sizeof what, "the embedding table '%s' [%lld, %lld]", tv->name, (long long)V, (long long)E);
    size_t nbytes = sizeof(float) * (size_t)V * (size_t)E;
    float *table = vm_alloc_big(nbytes ? nbytes : 1);
    uint8_t *found = vm_calloc((size_t)V, 1, err);
    int64_t *tok = vm_calloc((size_t)V, sizeof *tok, err);
    enum vm_status s = table && found && tok ? VM_OK : vm_errorf(err, VM_ENOMEM, "--vectors: out of memory for a %lld x %lld table",
                                                                  (long long)V, (long long)E);
    for (int64_t i = 0; !s && i < dtrain->start[dtrain->n]; i++)
        if (dtrain->ids[i] >= 0 && dtrain->ids[i] < V) tok[dtrain->ids[i]]++;
    if (!s) s = vm_vectors_read_report(path, fmt, vocab, (int32_t)E, what, table, found, tok, dtrain->start[dtrain->n],
                                       "the training data", log, err);
    if (!s) {
        vm_vectors_fill_missing(table, V, (int32_t)E, found, vocab->n, vocab->pad_id, a, seed);
        int64_t missing = 0;
        for (int64_t id = 0; id < V; id++) missing += id != vocab->pad_id && (id >= vocab->n || found[id] == VM_VECTOR_MISSING);
        say(log, "vectors: the other %lld rows uniform(-%g, %g) (seed %llu)%s\n", (long long)missing, a, a, (unsigned long long)seed,
               vocab->pad_id >= 0 ? ", the pad row zero" : "");
        vm_value_set_data(tv, table, nbytes);
        table = NULL;
        *table_out = g->nodes[emb].in[0];
    }
    free(table);
    free(found);
    free(tok);
    return s;
}

enum vm_status vm_train_job_run(struct vm_train_job *j, struct vm_error *err_out) {
    /* the command's variables, as it named them */
    const char *model = j->model, *vocab_path = j->vocab_path, *train_path = j->train_path, *dev_path = j->dev_path,
               *test_path = j->test_path, *out = j->out, *pad = j->pad, *unk = j->unk, *vectors = j->vectors,
               *labels_path = j->labels_path, *tok_kind = j->tok_kind;
    enum vm_vectors_format vectors_format = j->vectors_format;
    double oov_init = j->oov_init, dev_split = j->dev_split, iba_beta = j->iba_beta, t_start = j->t_start, t_loaded = 0, t_export = 0;
    long long top = j->top, max_len = j->max_len, min_freq = j->min_freq;
    bool mask_output = j->mask_output, profile = j->profile, case_given = j->case_given, punct_given = j->punct_given,
         timings = j->timings, allow_short = j->allow_short, lead = j->lead;
    int n_proc = j->n_proc;
    struct vm_model_opts mo = j->mo;
    struct vm_train_opts to = j->to;
    struct vm_train_cfg tc = j->tc;
    struct vm_tokenizer tok = j->tok;
    struct vm_data_opts dopts = j->dopts;
    FILE *log = j->log;
    char kind_buf[32];
    struct vm_error err = {0};
    enum vm_status rs = VM_OK;
    struct vm_labels labels = {0};
    float *iba_stats = NULL;
    struct vm_vocab vocab = {0};
    struct vm_dataset dtrain = {0}, ddev = {0}, dtest = {0};
    Onnx__ModelProto *onnx = NULL;
    struct vm_graph *g = NULL;
    struct vm_rt_model *rt = NULL;
    struct vm_plan_parts plan = {0};
    struct vm_train_result res = {0};
    enum vm_status s_split;
    int32_t vec_table = -1;
    struct lookup_ctx lc = {.table = -1};

    if (labels_path && vm_labels_load(&labels, labels_path, &err)) goto fail;
    if (vocab_path) {
        if (vm_vocab_load(&vocab, vocab_path, pad, unk, &err)) goto fail;
    } else if (stored_vocab(model, &vocab, pad, unk, &tok_kind, kind_buf, sizeof kind_buf, &tok, case_given, punct_given, &labels, log, &err)) {
        goto fail;
    }
    /* class names: --labels, the model's own, else TRAIN's labels when they are not all integers */
    if (!labels.n && vm_data_collect_labels(train_path, &dopts, &labels, &err)) goto fail;
    dopts.labels = &labels;
    if (dopts.text_pair_column || dopts.text_pair_field) tok.pairs = true;
    if (vm_tokenizer_for_vocab(&tok, &vocab, tok_kind, vocab_path ? vocab_path : model, &err)) goto fail;
    to.pad_id = vocab.pad_id;
    int64_t keep_ids[8];
    to.n_keep_ids = vm_vocab_special_ids(&vocab, keep_ids, 8);
    to.keep_ids = keep_ids;
    if (vm_dataset_load(&dtrain, train_path, &vocab, &tok, (int32_t)max_len, &dopts, &err) ||
        (dev_path && vm_dataset_load(&ddev, dev_path, &vocab, &tok, (int32_t)max_len, &dopts, &err)) ||
        (test_path && vm_dataset_load(&dtest, test_path, &vocab, &tok, (int32_t)max_len, &dopts, &err)))
        goto fail;
    vm_mark("data");
    if (dev_split) {
        struct vm_dataset all = dtrain;
        s_split = vm_dataset_split(&all, dev_split, (uint64_t)tc.seed, &dtrain, &ddev, &err);
        vm_dataset_free(&all);
        if (s_split) {
            vm_error_prefix(&err, "--dev-split %g of %s", dev_split, train_path);
            goto fail;
        }
        say(log, "dev: %lld %s held out of %s (--dev-split %g, seed %lld)\n", (long long)ddev.n, vm_plural(ddev.n, "example", "examples"), train_path, dev_split,
               (long long)tc.seed);
    }
    say(log, "data: %lld train, %lld dev%s", (long long)dtrain.n, (long long)ddev.n, test_path ? ", " : "");
    if (test_path) say(log, "%lld test", (long long)dtest.n);
    say(log, " %s; vocabulary %d tokens (pad %s, unk %s; %s tokenizer%s); %.1f%% of training %s unknown\n",
           vm_plural(test_path ? dtest.n : ddev.n, "example", "examples"), vocab.n,
           vocab.pad_id >= 0 ? vocab.tokens[vocab.pad_id] : "none", vocab.unk_id >= 0 ? vocab.tokens[vocab.unk_id] : "none",
           vm_tokenizer_name(&tok), tok.kind == VM_TOKENIZER_WORDPIECE ? tok.lowercase ? ", uncased" : ", cased" : "",
           dtrain.n_tokens ? 100.0 * (double)dtrain.n_unk / (double)dtrain.n_tokens : 0.0,
           tok.kind == VM_TOKENIZER_WORDPIECE ? "words" : "tokens");

    if (labels.n) {
        say(log, "classes:");
        for (int32_t k = 0; k < labels.n; k++) /* a name with a space or '=' in quotes, so the list reads one way */
            say(log, strpbrk(labels.names[k], " =\"") ? " \"%s\"=%d" : " %s=%d", labels.names[k], k);
        say(log, "%s\n", labels_path ? " (--labels)" : "");
    }
    if (vm_load_compile_onnx_training(model, &mo, &onnx, &g, &err)) goto fail;
    for (size_t k = 0; vocab_path && k < onnx->n_metadata_props; k++) /* a vmaskc export: --vocab must be its own */
        if (onnx->metadata_props[k]->key && !strcmp(onnx->metadata_props[k]->key, "vmaskc.vocab") && onnx->metadata_props[k]->value &&
            vm_vocab_check_stored(&vocab, vocab_path, onnx->metadata_props[k]->value, model, &err))
            goto fail;
    {
        int32_t emb;
        if (vm_find_embedding(g, mo.embedding, &emb, &err)) goto fail;
        if (emb >= 0) {
            int64_t rows = vm_dim_value(&g->values[g->nodes[emb].in[0]].dims[0]);
            if (vocab.n > rows) {
                vm_errorf(&err, VM_EINVAL, "the vocabulary has %d tokens but the model's embedding table '%s' has %lld rows; "
                          "use the vocabulary the model was built with", vocab.n, g->values[g->nodes[emb].in[0]].name, (long long)rows);
                goto fail;
            }
            if (vocab_path && vocab.n < rows && !allow_short) {
                vm_errorf(&err, VM_EINVAL, "the vocabulary %s has %d tokens but the model's embedding table '%s' has %lld rows: is it the "
                          "model's vocabulary? (--allow-short-vocab if the extra rows are meant to stay unused)", vocab_path, vocab.n,
                          g->values[g->nodes[emb].in[0]].name, (long long)rows);
                goto fail;
            }
        }
        if (vectors && embedding_from_vectors(g, emb, vectors, vectors_format, &vocab, &dtrain, oov_init, (uint64_t)tc.seed, &vec_table, log, &err))
            goto fail;
    }
    if (to.method == VM_METHOD_IBA) {
        int32_t emb;
        if (vm_find_embedding(g, mo.embedding, &emb, &err) || iba_statistics(g, emb, &dtrain, &to, &iba_stats, log, &err)) goto fail;
    }
    struct vm_train_info info;
    if (vm_build_training(g, &to, &info, &err)) {
        vm_error_prefix(&err, "%s", model);
        goto fail;
    }
    vm_mark("training_graph"); /* VMASKC_TIMINGS: the mask, loss, backward and optimizer added */
    if (labels.n > info.n_classes) {
        vm_errorf(&err, VM_EINVAL, "%s has %d classes (%s%s%s ...) but the model has %lld outputs", labels_path ? labels_path : train_path,
                  labels.n, labels.names[0], labels.n > 1 ? ", " : "", labels.n > 1 ? labels.names[1] : "", (long long)info.n_classes);
        goto fail;
    }
    if (vm_dataset_check_labels(&dtrain, info.n_classes, &err) || vm_dataset_check_labels(&ddev, info.n_classes, &err) ||
        (test_path && vm_dataset_check_labels(&dtest, info.n_classes, &err)))
        goto fail;
    char method_desc[128];
    if (to.method == VM_METHOD_BASE) snprintf(method_desc, sizeof method_desc, "mask off (--no-mask)");
    else if (to.method == VM_METHOD_L2) snprintf(method_desc, sizeof method_desc, "mask off, weight decay %g (--method l2)", to.weight_decay);
    else if (to.method == VM_METHOD_L2X)
        snprintf(method_desc, sizeof method_desc, "L2X mask (k %lld, tau %g) after the word embedding", (long long)to.l2x_k, to.l2x_tau);
    else if (to.method == VM_METHOD_IBA) snprintf(method_desc, sizeof method_desc, "IBA mask (beta %g) after the word embedding", iba_beta);
    else snprintf(method_desc, sizeof method_desc, "mask %s", to.mask_after ? "after the given value" : "after the word embedding");
    say(log, "model: %s, %lld classes; %lld of %lld parameters trainable%s; %s\n", model, (long long)info.n_classes,
           (long long)info.n_trainable, (long long)info.n_params, to.train_embedding ? "" : " (word embedding frozen)", method_desc);
    /* the plan in pieces: the runtime copies the weights once, from the ModelProto they were read into */
    if (vm_emit_plan_parts(g, model, &plan, &err)) goto fail;
    vm_mark("emit");
    /* each Adam step as soon as backward has its gradient, gradients in the arena (plan.c,
     * fuse_optimizer), when the gradients are large enough for the memory to matter (BERT-base: 329
     * MiB less); below VM_OPTIMIZER_IN_BACKWARD_BYTES the optimizer runs apart, after backward, where
     * its one pass over all parameters is faster than 76 passes between backward's ops (BERT-mini:
     * Adam 5.0-5.7 -> 1.4-3.5 ms of a 70-80 ms step) — the same bits either way. Never under mpirun,
     * where the gradients are summed over processes between backward and the optimizer and the
     * Ctrl-C saver needs the parameters still at the step's start. VMASKC_OPTIMIZER_APART=1 / =0
     * forces either (tests compare the two, bit for bit) */
    const char *apart = getenv("VMASKC_OPTIMIZER_APART");
    bool in_backward = (double)info.n_trainable * sizeof(float) >= VM_OPTIMIZER_IN_BACKWARD_BYTES;
    if (apart && *apart) in_backward = !strcmp(apart, "0");
    struct vm_rt_opts ro = {.threads = mo.threads, .max_memory = mo.max_memory,
                            .optimizer_in_backward = vm_dist_size() <= 1 && !vm_dist_launched() && in_backward};
    if (vm_rt_model_from_parts(&rt, &plan, model, &ro, &err)) goto fail;
    vm_mark("runtime");
    vm_plan_parts_free(&plan);
    lc = (struct lookup_ctx){.m = rt, .g = g, .table = vec_table};
    if (same_constants(&lc, onnx, &err)) goto fail;
    vm_export_release_trained(onnx, g, param_lookup, &lc);
    t_loaded = vm_train_job_clock();
    struct vm_feeder feeder;
    if (vm_feeder_init(&feeder, rt, vocab.pad_id >= 0 ? vocab.pad_id : 0, &err)) goto fail;
    if (tok.pairs) feeder.sep_id = vocab.sep_id;

    if (vm_feeder_check_longest(&feeder, &dtrain, tc.batch, &err) || vm_feeder_check_longest(&feeder, &ddev, tc.batch, &err) ||
        (test_path && vm_feeder_check_longest(&feeder, &dtest, tc.batch, &err)))
        goto fail;
    j->setup_passed = true;
    if (j->setup_done && (j->setup_rc = j->setup_done())) {
        err.code = VM_EINVAL; /* reported by another process */
        snprintf(err.msg, sizeof err.msg, "another process failed to set up");
        goto fail;
    }
    if (profile) vm_rt_profile_enable(rt, true);
    if (n_proc > 1)
        say(log, "data-parallel: %d processes, each runs about %d of every %d examples\n", n_proc, (tc.batch + n_proc - 1) / n_proc, tc.batch);
    enum vm_status s = vm_train(&feeder, &tc, &dtrain, &ddev, test_path ? &dtest : NULL, &res, &err);
    if (s) goto fail;
    say(log, "best dev accuracy %.2f%% (epoch %d of %d)", 100 * res.best_dev_acc, res.best_epoch, res.epochs_run);
    if (test_path) say(log, "; test accuracy %.2f%%", 100 * res.test_acc);
    say(log, "; %.0f training sentences/s\n", res.sentences_per_s);
    if (n_proc > 1 && res.n_steps)
        say(log, "data-parallel: %d processes summed %.3f MiB of gradients per step (%lld steps); %lld of %lld buckets started "
               "during the backward pass\n", n_proc, (double)res.comm_bytes / (double)res.n_steps / 1048576.0, (long long)res.n_steps,
               (long long)res.buckets_early, (long long)res.buckets);
    {
        int64_t n_inst;
        double ms;
        vm_rt_build_stats(rt, &n_inst, &ms);
        size_t per, arena, scratch;
        vm_rt_memory(rt, &per, &arena, &scratch);
        say(log, "runtime: %lld batch %s compiled (%.1f s), memory %.1f MiB parameters and state + %.1f MiB arena + %.1f MiB scratch\n",
               (long long)n_inst, vm_plural(n_inst, "shape", "shapes"), ms / 1e3, (double)per / 1048576.0, (double)arena / 1048576.0, (double)scratch / 1048576.0);
    }

    if (profile) {
        say(log, "time per op over the whole run (training steps and evaluation):\n");
        vm_rt_profile_print(rt, stdout);
        vm_rt_memory_print(rt, stdout);
        if (res.best_copy_bytes)
            say(log, "memory (MiB): best epoch's parameters %.3f (a copy held while later epochs train: best-on-dev selection)\n",
                (double)res.best_copy_bytes / 1048576.0);
    }
    /* export */
    struct vm_train_export tx = {.vocab = &vocab, .tok = &tok, .labels = &labels, .to = &to, .n_classes = info.n_classes,
                                 .dev_acc = res.best_dev_acc, .test_acc = res.test_acc, .iba_beta = iba_beta, .embedding = mo.embedding,
                                 .mask_output = mask_output, .min_seq = feeder.min_len};
    double t0 = vm_train_job_clock();
    if (lead && vm_train_export(onnx, g, &tx, param_lookup, &lc, out, &err)) goto fail;
    t_export = vm_train_job_clock() - t0;
    say(log, "exported %s\n", out);
    if (timings && res.n_steps) {
        /* steps differ in padded length (2x in work for BERT's 10-60 pieces), so a step's rate is its
         * own counted FLOPs over its own time; the median of those is the typical step's rate */
        double *st = malloc(sizeof(double) * (size_t)res.n_steps * 4), sum = 0;
        if (st) {
            /* warm: the steps whose batch shape was seen before (a new shape's step also binds and
             * prepares its instance: oneDNN primitives, ~15 ms for BERT-mini), the steady state of
             * a longer run */
            double *rate = st + res.n_steps, *wst = rate + res.n_steps, *wrate = wst + res.n_steps;
            int64_t nw = 0;
            for (int64_t i = 0; i < res.n_steps; i++) {
                sum += (st[i] = res.step_seconds[i]);
                rate[i] = st[i] > 0 ? res.step_flops[i] / st[i] / 1e9 : 0.0;
                if (!res.step_cold[i]) {
                    wst[nw] = st[i];
                    wrate[nw++] = rate[i];
                }
            }
            qsort(st, (size_t)res.n_steps, sizeof *st, cmp_double);
            qsort(rate, (size_t)res.n_steps, sizeof *rate, cmp_double);
            qsort(wst, (size_t)nw, sizeof *wst, cmp_double);
            qsort(wrate, (size_t)nw, sizeof *wrate, cmp_double);
            say(log, "timings: load %.3f first_step %.3f steps %lld step_median %.4f step_mean %.4f step_min %.4f export %.3f "
                   "gflop_per_step %.4f gflops %.2f gflops_step_median %.2f gflops_step_max %.2f warm_steps %lld step_median_warm %.4f "
                   "gflops_step_median_warm %.2f\n",
                   t_loaded - t_start, res.first_step_at - t_start, (long long)res.n_steps, st[res.n_steps / 2],
                   sum / (double)res.n_steps, st[0], t_export, res.flops / (double)res.n_steps / 1e9, sum > 0 ? res.flops / sum / 1e9 : 0.0,
                   rate[res.n_steps / 2], rate[res.n_steps - 1], (long long)nw, nw ? wst[nw / 2] : 0.0, nw ? wrate[nw / 2] : 0.0);
            free(st);
        }
    }

    /* the globally most important words */
    if (!to.no_mask && !to.mask_after && info.embedding_node >= 0 && top > 0) {
        const struct vm_value *tv = &g->values[g->nodes[info.embedding_node].in[0]];
        int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
        size_t nb;
        const float *table = param_lookup(&lc, tv->name, &nb);
        if (!table) table = tv->data;
        float *keep = malloc(sizeof(float) * (size_t)V);
        struct word_score *ws = malloc(sizeof *ws * (size_t)V);
        if (keep && ws && !vm_mask_word_importance((int)to.method, table, V, E, param_lookup, &lc, keep, &err)) {
            /* rank words the training data shows often enough for their q to mean something */
            int64_t *freq = calloc((size_t)V + 1, sizeof *freq);
            int64_t n = 0;
            if (freq) {
                for (int64_t i = 0; i < dtrain.start[dtrain.n]; i++)
                    if (dtrain.ids[i] < V) freq[dtrain.ids[i]]++;
                for (int32_t id = 0; id < vocab.n && id < V; id++)
                    if (!vm_vocab_is_special(&vocab, id) && freq[id] >= min_freq) ws[n++] = (struct word_score){keep[id], id};
                qsort(ws, (size_t)n, sizeof *ws, cmp_score);
                say(log, "top %lld words by global importance, the %s (words seen at least %lld times in training):\n",
                       top < n ? top : (long long)n, importance_label(to.method), min_freq);
                for (int64_t i = 0; i < top && i < n; i++)
                    say(log, "  %3lld  %-20s %s %.4f  (%lld times)\n", (long long)i + 1, vocab.tokens[ws[i].id],
                           to.method == VM_METHOD_VMASK ? "q" : to.method == VM_METHOD_L2X ? "score" : "lambda", ws[i].q,
                           (long long)freq[ws[i].id]);
                free(freq);
            }
        }
        free(keep);
        free(ws);
    }
    j->res = res;
    memset(&res, 0, sizeof res);
    j->n_classes = info.n_classes;
    goto done;
fail:
    rs = err.code ? err.code : VM_EINTERNAL;
    j->shared_error = res.shared_error;
    *err_out = err;
done:
    free(lc.same);
    vm_train_result_free(&res);
    free(iba_stats);
    vm_labels_free(&labels);
    vm_plan_parts_free(&plan);
    vm_rt_model_free(rt);
    vm_graph_free(g);
    vm_onnx_free_model(onnx);
    vm_dataset_free(&dtrain);
    vm_dataset_free(&ddev);
    vm_dataset_free(&dtest);
    vm_vocab_free(&vocab);
    return rs;
}
