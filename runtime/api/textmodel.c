/* textmodel: loading a text classifier for words / eval / predict / explain (see textmodel.h). */
#include "textmodel.h"

#include <stdlib.h>
#include <string.h>

#include "../../compiler/passes.h"
#include "../../compiler/training.h"

void vm_text_opts_init(struct vm_text_opts *o) {
    memset(o, 0, sizeof *o);
    o->lowercase = -1;
    o->split_punct = -1;
}

static const char *onnx_meta(const Onnx__ModelProto *m, const char *key) {
    for (size_t i = 0; m && i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && !strcmp(m->metadata_props[i]->key, key)) return m->metadata_props[i]->value;
    return NULL;
}

const char *vm_text_model_meta(const struct vm_text_model *tm, const char *key) {
    return tm->onnx ? onnx_meta(tm->onnx, key) : tm->rt ? vm_rt_meta(tm->rt, key) : NULL;
}

const char *vm_text_model_class(const struct vm_text_model *tm, int64_t c, char *buf, size_t n) {
    return vm_labels_name(&tm->labels, c, buf, n);
}

void vm_text_model_free(struct vm_text_model *tm) {
    vm_rt_model_free(tm->rt);
    vm_graph_free(tm->g);
    vm_onnx_free_model(tm->onnx);
    vm_vocab_free(&tm->vocab);
    vm_labels_free(&tm->labels);
    free(tm->word_keep);
    memset(tm, 0, sizeof *tm);
}

enum vm_status vm_text_model_load(struct vm_text_model *tm, const char *path,
                                  const struct vm_text_opts *o, struct vm_error *err) {
    memset(tm, 0, sizeof *tm);
    struct vm_rt_opts ro = {.threads = o->model.threads, .ref_kernels = o->model.ref_kernels, .max_memory = o->model.max_memory};
    enum vm_status s = vm_load_is_plan_path(path) ? vm_load_plan(path, &ro, &tm->rt, err)
                                                  : vm_load_compile_onnx(path, &o->model, NULL, 0, &tm->onnx, &tm->g, err);
    if (s) return s;
    if (tm->rt && !vm_rt_meta(tm->rt, "vmaskc.classes")) {
        s = vm_errorf(err, VM_EINVAL, "%s lacks the text-model metadata (vmaskc.classes): compile it with 'vmaskc compile' from a model 'vmaskc train' exported",
                      path);
        goto fail;
    }
    const char *stored = vm_text_model_meta(tm, "vmaskc.vocab");
    const char *pad = o->pad ? o->pad : vm_text_model_meta(tm, "vmaskc.pad");
    const char *unk = o->unk ? o->unk : vm_text_model_meta(tm, "vmaskc.unk");
    if (pad && !*pad) pad = NULL;
    if (unk && !*unk) unk = NULL;
    if (o->vocab) s = vm_vocab_load(&tm->vocab, o->vocab, o->pad, o->unk, err);
    else if (stored) s = vm_vocab_from_text(&tm->vocab, stored, pad, unk, err);
    else s = vm_errorf(err, VM_EINVAL, "%s carries no vocabulary (it was not exported by vmaskc train); give one with --vocab", path);
    /* a --vocab for a model with its own must be that one: a different list gives every id the wrong row */
    if (!s && o->vocab && stored) s = vm_vocab_check_stored(&tm->vocab, o->vocab, stored, path, err);
    if (s) goto fail;
    vm_mark("vocab");
    /* the tokenizer: forced, else the model's own (a words model without vmaskc.words.cleanup, and an
     * older vmaskc export without vmaskc.tokenizer, used Kim's), else what the --vocab file looks like */
    const char *kind = o->tokenizer, *mkind = vm_text_model_meta(tm, "vmaskc.tokenizer");
    if (!kind && (mkind || (stored && !o->vocab))) kind = vm_tokenizer_from_meta(mkind, vm_text_model_meta(tm, "vmaskc.words.cleanup"));
    vm_tokenizer_default(&tm->tok);
    const char *mp = vm_text_model_meta(tm, "vmaskc.pairs");
    tm->tok.pairs = o->pairs || (mp && !strcmp(mp, "1")) || o->data.text_pair_column || o->data.text_pair_field;
    if ((s = vm_tokenizer_for_vocab(&tm->tok, &tm->vocab, kind, o->vocab ? o->vocab : path, err))) goto fail;
    const char *lc = vm_text_model_meta(tm, "vmaskc.lowercase"), *sp = vm_text_model_meta(tm, "vmaskc.split_punct");
    tm->tok.lowercase = o->lowercase >= 0 ? o->lowercase : !(lc && !strcmp(lc, "0"));
    tm->tok.split_punct = o->split_punct >= 0 ? o->split_punct : !(sp && !strcmp(sp, "0"));
    const char *names = vm_text_model_meta(tm, "vmaskc.labels");
    if (names && (s = vm_labels_from_text(&tm->labels, names, "the model's class names (vmaskc.labels)", err))) goto fail;
    tm->data = o->data;
    tm->data.labels = &tm->labels;
    tm->corpus = tm->data;
    tm->corpus.ignore_labels = true;
    /* the vocabulary must fit the embedding table */
    int32_t emb = -1;
    if (tm->g && (s = vm_find_embedding(tm->g, o->model.embedding, &emb, err))) goto fail;
    if (emb >= 0) {
        int64_t rows = vm_dim_value(&tm->g->values[tm->g->nodes[emb].in[0]].dims[0]);
        if (tm->vocab.n > rows) {
            s = vm_errorf(err, VM_EINVAL, "the vocabulary has %d tokens but the model's embedding table has %lld rows: they do not belong together",
                          tm->vocab.n, (long long)rows);
            goto fail;
        }
        if (o->vocab && !stored && tm->vocab.n < rows && !o->allow_short_vocab) {
            s = vm_errorf(err, VM_EINVAL, "the vocabulary %s has %d tokens but the model's embedding table '%s' has %lld rows: is it the model's "
                          "vocabulary? (--allow-short-vocab if the extra rows are meant to stay unused)", o->vocab, tm->vocab.n,
                          tm->g->values[tm->g->nodes[emb].in[0]].name, (long long)rows);
            goto fail;
        }
    }
    /* per-word importance: the exported table of the model's mask layer */
    static const struct {
        const char *method, *table, *name;
    } tables[] = {{"vmask", "vmask.word_keep", "q"}, {"l2x", "l2x.word_score", "score"}, {"iba", "iba.word_lambda", "lambda"}};
    const char *method = vm_text_model_meta(tm, "vmaskc.method");
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && !tm->word_keep; i++) {
        const void *data = NULL;
        int64_t n = 0;
        if (tm->g) {
            int32_t wk = vm_graph_find_value(tm->g, tables[i].table);
            if (wk >= 0 && tm->g->values[wk].rank == 1 && tm->g->values[wk].dtype == VM_DTYPE_FLOAT) {
                data = tm->g->values[wk].data;
                n = vm_value_numel(&tm->g->values[wk]);
            }
        } else {
            /* a plan keeps the table as a persistent constant */
            struct vm_rt_tensor t = vm_rt_persistent(tm->rt, tables[i].table);
            if (t.rank == 1 && t.dtype == VM_DTYPE_FLOAT) data = t.data, n = t.numel;
        }
        if ((method && strcmp(method, tables[i].method)) || !data) continue;
        tm->n_words = n;
        tm->word_keep = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        if (!tm->word_keep) {
            s = vm_errorf(err, VM_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(tm->word_keep, data, sizeof(float) * (size_t)n);
        tm->importance = tables[i].name;
        tm->method = tables[i].method;
    }
    if (tm->g) {
        if ((s = vm_annotate_text_model(tm->g, o->model.embedding, (const char *const *)o->model.input_roles, o->model.n_input_roles,
                                        err)))
            goto fail;
        uint8_t *plan;
        size_t len;
        vm_mark("text_setup");
        if ((s = vm_emit_plan(tm->g, path, &plan, &len, err))) goto fail;
        vm_mark("emit");
        s = vm_rt_model_from_buffer(&tm->rt, plan, len, path, &ro, err);
        free(plan);
        if (s) goto fail;
        vm_mark("runtime");
    }
    if ((s = vm_feeder_init(&tm->feeder, tm->rt, tm->vocab.pad_id >= 0 ? tm->vocab.pad_id : 0, err))) goto fail;
    if (tm->tok.pairs) tm->feeder.sep_id = tm->vocab.sep_id;
    tm->n_classes = tm->feeder.n_classes;
    return VM_OK;
fail:
    vm_text_model_free(tm);
    return s;
}

enum vm_status vm_text_model_encode(const struct vm_text_model *tm, const char *text, int32_t max_len,
                                    struct vm_encoding *e, struct vm_error *err) {
    /* text is UTF-8 without NUL bytes (or, with --replace-invalid, read with U+FFFD in their place) */
    char *fixed = NULL;
    enum vm_status s = vm_utf8_check(text, strlen(text), tm->data.replace_invalid, &fixed, "the text", err);
    if (!s) s = vm_text_encode(&tm->tok, &tm->vocab, fixed ? fixed : text, max_len, true, e, err);
    free(fixed);
    return s;
}

const char *vm_text_model_method(const struct vm_text_model *tm) {
    static const char *const known[] = {"base", "l2", "l2x", "iba", "vmask"};
    const char *m = vm_text_model_meta(tm, "vmaskc.method");
    if (m) {
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (!strcmp(m, known[i])) return known[i];
        return m; /* a method this build does not know: shown as written */
    }
    const char *mask = vm_text_model_meta(tm, "vmaskc.mask");
    if (mask) {
        if (strcmp(mask, "none") && strcmp(mask, "0")) return "vmask";
        const char *wd = vm_text_model_meta(tm, "vmaskc.weight_decay");
        return wd && strtod(wd, NULL) > 0 ? "l2" : "base";
    }
    return tm->word_keep ? "vmask" : NULL;
}

enum vm_status vm_text_model_mask_importance(const struct vm_text_model *tm, int32_t batch, double **imp,
                                             struct vm_error *err) {
    *imp = NULL;
    int out = -1;
    for (int i = 0; i < vm_rt_num_outputs(tm->rt); i++)
        if (!strcmp(vm_rt_output_name(tm->rt, i), "word_mask")) out = i;
    if (out < 0) return VM_OK;
    int32_t V = tm->vocab.n;
    if (batch < 1) batch = 512;
    double *v = vm_malloc(sizeof(double) * (size_t)(V > 0 ? V : 1), err);
    int32_t *ids = vm_malloc(sizeof(int32_t) * (size_t)batch, err), *lens = vm_malloc(sizeof(int32_t) * (size_t)batch, err);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)batch, err);
    enum vm_status s = v && ids && lens && seqs ? VM_OK : VM_ENOMEM;
    for (int32_t b0 = 0; b0 < V && !s; b0 += batch) {
        int32_t nb = V - b0 < batch ? V - b0 : batch;
        for (int32_t i = 0; i < nb; i++) {
            ids[i] = b0 + i;
            seqs[i] = &ids[i];
            lens[i] = 1;
        }
        struct vm_rt_inst *inst;
        int64_t T = 0;
        s = vm_feed(&tm->feeder, seqs, lens, nb, 0, NULL, 0.0, 0.0, &inst, &T, err);
        if (!s) s = vm_rt_run(inst, VM_RT_FORWARD, false, err);
        if (s) break;
        struct vm_rt_tensor t = vm_rt_output(inst, out);
        if (t.dtype != VM_DTYPE_FLOAT || t.numel != (int64_t)nb * T) {
            s = vm_errorf(err, VM_EINVAL, "its output word_mask has %lld values (%s) for %d one-word texts of %lld tokens; expected float [B, T]",
                          (long long)t.numel, vm_dtype_name(t.dtype), nb, (long long)T);
            break;
        }
        const float *d = t.data;
        /* position 0 of text i: [B, T] -> i * T; time-major [T, B] -> i */
        for (int32_t i = 0; i < nb; i++) v[b0 + i] = d[tm->feeder.ids_batch_axis ? i : (int64_t)i * T];
    }
    free(ids);
    free(lens);
    free(seqs);
    if (s) {
        free(v);
        return s;
    }
    *imp = v;
    return VM_OK;
}
