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

int vm_text_option(const char *cmd, int argc, char **argv, int *i, struct vm_text_opts *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "--no-lowercase") || !strcmp(a, "--cased")) {
        o->lowercase = 0;
        return 1;
    }
    if (!strcmp(a, "--no-split-punct")) {
        o->split_punct = 0;
        return 1;
    }
    if (!strcmp(a, "--vocab") || !strcmp(a, "--pad") || !strcmp(a, "--unk") || !strcmp(a, "--tokenizer")) {
        if (*i + 1 >= argc) {
            vm_cli_usage_error(cmd, "%s needs a value", a);
            return -1;
        }
        const char *v = argv[++*i];
        if (!strcmp(a, "--vocab")) o->vocab = v;
        else if (!strcmp(a, "--pad")) o->pad = v;
        else if (!strcmp(a, "--tokenizer")) {
            if (strcmp(v, "words") && strcmp(v, "wordpiece")) {
                vm_cli_usage_error(cmd, "--tokenizer is words or wordpiece, not '%s'", v);
                return -1;
            }
            o->tokenizer = v;
        }
        else o->unk = v;
        return 1;
    }
    return vm_cli_model_option(cmd, argc, argv, i, &o->model);
}

static const char *onnx_meta(const Onnx__ModelProto *m, const char *key) {
    for (size_t i = 0; m && i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && !strcmp(m->metadata_props[i]->key, key)) return m->metadata_props[i]->value;
    return NULL;
}

const char *vm_text_model_meta(const struct vm_text_model *tm, const char *key) { return onnx_meta(tm->onnx, key); }

void vm_text_model_free(struct vm_text_model *tm) {
    vm_rt_model_free(tm->rt);
    vm_graph_free(tm->g);
    vm_onnx_free_model(tm->onnx);
    vm_vocab_free(&tm->vocab);
    free(tm->word_keep);
    memset(tm, 0, sizeof *tm);
}

enum vm_status vm_text_model_load(struct vm_text_model *tm, const char *path,
                                  const struct vm_text_opts *o, struct vm_error *err) {
    memset(tm, 0, sizeof *tm);
    enum vm_status s = vm_cli_compile_onnx(path, &o->model, NULL, 0, &tm->onnx, &tm->g, err);
    if (s) return s;
    const char *stored = onnx_meta(tm->onnx, "vmaskc.vocab");
    const char *pad = o->pad ? o->pad : onnx_meta(tm->onnx, "vmaskc.pad");
    const char *unk = o->unk ? o->unk : onnx_meta(tm->onnx, "vmaskc.unk");
    if (pad && !*pad) pad = NULL;
    if (unk && !*unk) unk = NULL;
    if (o->vocab) s = vm_vocab_load(&tm->vocab, o->vocab, o->pad, o->unk, err);
    else if (stored) s = vm_vocab_from_text(&tm->vocab, stored, pad, unk, err);
    else s = vm_errorf(err, VM_EINVAL, "%s carries no vocabulary (it was not exported by vmaskc train); give one with --vocab", path);
    if (s) goto fail;
    vm_cli_mark("vocab");
    /* the tokenizer: forced, else the model's own, else (an older vmaskc export) words, else what
     * the --vocab file looks like */
    const char *kind = o->tokenizer ? o->tokenizer : onnx_meta(tm->onnx, "vmaskc.tokenizer");
    if (!kind && stored && !o->vocab) kind = "words";
    vm_tokenizer_default(&tm->tok);
    if ((s = vm_tokenizer_for_vocab(&tm->tok, &tm->vocab, kind, o->vocab ? o->vocab : path, err))) goto fail;
    const char *lc = onnx_meta(tm->onnx, "vmaskc.lowercase"), *sp = onnx_meta(tm->onnx, "vmaskc.split_punct");
    tm->tok.lowercase = o->lowercase >= 0 ? o->lowercase : !(lc && !strcmp(lc, "0"));
    tm->tok.split_punct = o->split_punct >= 0 ? o->split_punct : !(sp && !strcmp(sp, "0"));
    /* the vocabulary must fit the embedding table */
    int32_t emb;
    if ((s = vm_find_embedding(tm->g, o->model.embedding, &emb, err))) goto fail;
    if (emb >= 0) {
        int64_t rows = vm_dim_value(&tm->g->values[tm->g->nodes[emb].in[0]].dims[0]);
        if (tm->vocab.n > rows) {
            s = vm_errorf(err, VM_EINVAL, "the vocabulary has %d tokens but the model's embedding table has %lld rows: they do not belong together",
                          tm->vocab.n, (long long)rows);
            goto fail;
        }
    }
    /* per-word importance: the exported table of the model's mask layer */
    static const struct {
        const char *method, *table, *name;
    } tables[] = {{"vmask", "vmask.word_keep", "q"}, {"l2x", "l2x.word_score", "score"}, {"iba", "iba.word_lambda", "lambda"}};
    const char *method = onnx_meta(tm->onnx, "vmaskc.method");
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && !tm->word_keep; i++) {
        int32_t wk = vm_graph_find_value(tm->g, tables[i].table);
        if ((method && strcmp(method, tables[i].method)) || wk < 0 || !tm->g->values[wk].data || tm->g->values[wk].rank != 1) continue;
        tm->n_words = vm_value_numel(&tm->g->values[wk]);
        tm->word_keep = malloc(sizeof(float) * (size_t)tm->n_words);
        if (!tm->word_keep) {
            s = vm_errorf(err, VM_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(tm->word_keep, tm->g->values[wk].data, sizeof(float) * (size_t)tm->n_words);
        tm->importance = tables[i].name;
        tm->method = tables[i].method;
    }
    if ((s = vm_annotate_text_model(tm->g, o->model.embedding, (const char *const *)o->model.input_roles, o->model.n_input_roles,
                                    err)))
        goto fail;
    uint8_t *plan;
    size_t len;
    vm_cli_mark("text_setup");
    if ((s = vm_emit_plan(tm->g, path, &plan, &len, err))) goto fail;
    vm_cli_mark("emit");
    struct vm_rt_opts ro = {.threads = o->model.threads, .ref_kernels = o->model.ref_kernels,
                            .max_memory = o->model.max_memory};
    s = vm_rt_model_from_buffer(&tm->rt, plan, len, path, &ro, err);
    free(plan);
    if (s) goto fail;
    vm_cli_mark("runtime");
    if ((s = vm_feeder_init(&tm->feeder, tm->rt, tm->vocab.pad_id >= 0 ? tm->vocab.pad_id : 0, err))) goto fail;
    tm->n_classes = tm->feeder.n_classes;
    return VM_OK;
fail:
    vm_text_model_free(tm);
    return s;
}

enum vm_status vm_text_model_encode(const struct vm_text_model *tm, const char *text, int32_t max_len,
                                    struct vm_encoding *e, struct vm_error *err) {
    return vm_text_encode(&tm->tok, &tm->vocab, text, max_len, true, e, err);
}

const char *vm_text_model_method(const struct vm_text_model *tm) {
    static const char *const known[] = {"base", "l2", "l2x", "iba", "vmask"};
    const char *m = onnx_meta(tm->onnx, "vmaskc.method");
    if (m) {
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (!strcmp(m, known[i])) return known[i];
        return m; /* a method this build does not know: shown as written */
    }
    const char *mask = onnx_meta(tm->onnx, "vmaskc.mask");
    if (mask) {
        if (strcmp(mask, "none") && strcmp(mask, "0")) return "vmask";
        const char *wd = onnx_meta(tm->onnx, "vmaskc.weight_decay");
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
