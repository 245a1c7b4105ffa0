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
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && !strcmp(m->metadata_props[i]->key, key)) return m->metadata_props[i]->value;
    return NULL;
}

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
    if ((s = vm_emit_plan(tm->g, path, &plan, &len, err))) goto fail;
    struct vm_rt_opts ro = {.threads = o->model.threads, .ref_kernels = o->model.ref_kernels,
                            .max_memory = o->model.max_memory};
    s = vm_rt_model_from_buffer(&tm->rt, plan, len, path, &ro, err);
    free(plan);
    if (s) goto fail;
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
