/* api: the public C API of runtime/vmaskc.h over the library's own modules — textmodel.c (model,
 * vocabulary, tokenizer, feeder), text.c (encoding), train.c (the feeder's batches) and explain.c
 * (LIME, SampleShapley). Each function checks its arguments, calls the internals with a struct
 * vm_error, and copies that error into the caller's vmaskc_error; results are assembled in full
 * before they are handed out, so a failure returns nothing half-made. Training is api_train.c. */
#include "../vmaskc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/training.h"
#include "../explain.h"
#include "api_util.h"
#include "textmodel.h"

_Static_assert((int)VMASKC_OK == (int)VM_OK && (int)VMASKC_EINVAL == (int)VM_EINVAL && (int)VMASKC_EIO == (int)VM_EIO &&
                   (int)VMASKC_EINTERRUPTED == (int)VM_EINTERRUPTED && (int)VMASKC_EINTERNAL == (int)VM_EINTERNAL,
               "vmaskc_status numbers are vm_status numbers");

static int mask_output(const struct vm_text_model *tm);

/* ---- errors (api_util.h) ---- */

vmaskc_status vm_api_fail(vmaskc_error *e, const struct vm_error *ie, int64_t item) {
    vmaskc_status s = ie->code ? (vmaskc_status)ie->code : VMASKC_EINTERNAL;
    if (e) {
        e->code = s;
        e->item = item;
        snprintf(e->message, sizeof e->message, "%s", ie->msg[0] ? ie->msg : vmaskc_status_name(s));
    }
    return s;
}

vmaskc_status vm_api_failf(vmaskc_error *e, vmaskc_status code, int64_t item, const char *fmt, ...) {
    if (e) {
        e->code = code;
        e->item = item;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *vmaskc_version(void) { return VMASKC_VERSION; }

const char *vmaskc_status_name(vmaskc_status s) {
    return s >= VMASKC_OK && s <= VMASKC_EINTERNAL ? vm_status_name((enum vm_status)s) : "unknown status";
}

vmaskc_status vm_api_data_opts(const vmaskc_data_options *d, const char *who, struct vm_data_opts *o, vmaskc_error *err) {
    if (d->format && !vm_data_parse_format(d->format, &o->format))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.format is \"%s\"; it is \"tsv\", \"csv\" or \"jsonl\"", who, d->format);
    if (d->header < -1 || d->header > 1)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.header is %d (1 has one, -1 has none, 0 detect)", who, d->header);
    o->text_column = d->text_column;
    o->label_column = d->label_column;
    o->header = d->header;
    o->text_field = d->text_field;
    o->label_field = d->label_field;
    o->replace_invalid = d->replace_invalid != 0;
    return VMASKC_OK;
}

/* ---- models ---- */

void vmaskc_model_options_init(vmaskc_model_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->lowercase = -1;
    o->split_punct = -1;
}

void vmaskc_model_close(vmaskc_model *m) {
    if (!m) return;
    vm_text_model_free(&m->tm);
    free(m->class_names);
    for (int i = 0; i < 4; i++) free(m->data_strings[i]);
    free(m);
}

/* Class names: the text model's (vmaskc.labels, parsed and checked when it loaded), else "0", "1",
 * ...: one block, the pointers followed by the numbers' strings. */
static enum vm_status class_names(vmaskc_model *m, struct vm_error *err) {
    int C = m->n_classes;
    bool named = m->tm.labels.n == C;
    char **names = vm_malloc(sizeof(char *) * (size_t)(C > 0 ? C : 1) + (named ? 0 : (size_t)C * 12) + 1, err);
    if (!names) return VM_ENOMEM;
    char *p = (char *)(names + (C > 0 ? C : 1));
    for (int c = 0; c < C; c++) {
        if (named) {
            names[c] = m->tm.labels.names[c];
            continue;
        }
        names[c] = p;
        p += snprintf(p, 12, "%d", c) + 1;
    }
    m->class_names = names;
    return VM_OK;
}

/* Opens path with the loader's options (vmaskc_model_open maps the public ones onto them). */
static vmaskc_status model_open(const char *path, const struct vm_text_opts *to, vmaskc_model **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(path);
    struct vm_error ie = {0};
    vmaskc_model *m = vm_calloc(1, sizeof *m, &ie);
    if (!m) return vm_api_fail(err, &ie, -1);
    if (vm_text_model_load(&m->tm, path, to, &ie)) {
        free(m);
        return vm_api_fail(err, &ie, -1);
    }
    if (m->tm.n_classes < 1 || m->tm.n_classes > 1 << 20) {
        vm_errorf(&ie, VM_EUNSUPPORTED, "%s: the number of classes is not known (no vmaskc.classes and no [batch, C] output)", path);
        vmaskc_model_close(m);
        return vm_api_fail(err, &ie, -1);
    }
    /* the data options' strings are the caller's, read only during the call: the model keeps copies */
    const char **fields[4] = {&m->tm.data.text_column, &m->tm.data.label_column, &m->tm.data.text_field, &m->tm.data.label_field};
    const char **corpus[4] = {&m->tm.corpus.text_column, &m->tm.corpus.label_column, &m->tm.corpus.text_field, &m->tm.corpus.label_field};
    for (int i = 0; i < 4; i++) {
        if (!*fields[i]) continue;
        if (!(m->data_strings[i] = strdup(*fields[i]))) {
            vmaskc_model_close(m);
            return vm_api_failf(err, VMASKC_ENOMEM, -1, "vmaskc_model_open: out of memory");
        }
        *fields[i] = *corpus[i] = m->data_strings[i];
    }
    m->n_classes = (int)m->tm.n_classes;
    m->word_mask = mask_output(&m->tm);
    if (m->tm.word_keep) {
        m->mask_method = m->tm.method;
        m->mask_importance = m->tm.importance;
    } else if (m->word_mask >= 0) {
        /* no per-word table (a mask after a contextual layer): the run's word_mask output */
        const char *meth = vm_text_model_meta(&m->tm, "vmaskc.method");
        m->mask_method = meth && !strcmp(meth, "l2x") ? "l2x" : meth && !strcmp(meth, "iba") ? "iba" : "vmask";
        m->mask_importance = !strcmp(m->mask_method, "l2x") ? "score" : !strcmp(m->mask_method, "iba") ? "lambda" : "q";
    }
    if (class_names(m, &ie)) {
        vmaskc_model_close(m);
        return vm_api_fail(err, &ie, -1);
    }
    *out = m;
    return VMASKC_OK;
}

/* The public options into the loader's. Shapes and roles point into the caller's strings and into
 * roles[] ("NAME=ROLE", the form the importer parses), both alive for the model_open call. */
static vmaskc_status model_opts(const vmaskc_model_options *o, struct vm_text_opts *to, char roles[8][512], vmaskc_error *err) {
    static const char who[] = "vmaskc_model_open: options";
    if (o->tokenizer && strcmp(o->tokenizer, "words") && strcmp(o->tokenizer, "kim") && strcmp(o->tokenizer, "wordpiece"))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.tokenizer is \"words\", \"kim\" or \"wordpiece\", not \"%s\"", who, o->tokenizer);
    if (o->threads < 0) return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.threads is %d (0 = default)", who, o->threads);
    int ns = o->n_shapes, nr = o->n_input_roles;
    if (ns < 0 || ns > 16 || (ns && !o->shapes))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s: n_shapes is %d (0..16, with shapes not NULL)", who, ns);
    if (nr < 0 || nr > 8 || (nr && !o->input_roles))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "%s: n_input_roles is %d (0..8, with input_roles not NULL)", who, nr);
    vm_text_opts_init(to);
    to->vocab = o->vocab;
    to->pad = o->pad;
    to->unk = o->unk;
    to->tokenizer = o->tokenizer;
    to->lowercase = o->lowercase < 0 ? -1 : o->lowercase != 0;
    to->split_punct = o->split_punct < 0 ? -1 : o->split_punct != 0;
    to->allow_short_vocab = o->allow_short_vocab != 0;
    to->model.embedding = o->embedding;
    to->model.threads = o->threads;
    to->model.max_memory = o->max_memory;
    to->model.ref_kernels = o->reference_kernels != 0;
    for (int i = 0; i < ns; i++) {
        const vmaskc_input_shape *sh = &o->shapes[i];
        if (!sh->input || !*sh->input || sh->rank < 1 || sh->rank > VM_MAX_RANK)
            return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.shapes[%d]: %s", who, i,
                                !sh->input || !*sh->input ? "input has no name" : "rank is not 1..8");
        struct vm_shape_override *so = &to->model.shapes[i];
        so->name = sh->input;
        so->rank = sh->rank;
        for (int d = 0; d < sh->rank; d++) {
            if (sh->dims[d] < 0)
                return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.shapes[%d] (%s): dimension %d is %lld", who, i, sh->input, d, (long long)sh->dims[d]);
            so->dims[d] = sh->dims[d];
        }
    }
    to->model.n_shapes = ns;
    for (int i = 0; i < nr; i++) {
        const vmaskc_input_role *r = &o->input_roles[i];
        if (!r->input || !*r->input || !r->role || !vm_role_name_valid(r->role))
            return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.input_roles[%d]: needs an input name and a role \"ids\", \"mask\", \"types\" or "
                                "\"positions\"%s%s%s", who, i, r->role ? " (not \"" : "", r->role ? r->role : "", r->role ? "\")" : "");
        if ((size_t)snprintf(roles[i], 512, "%s=%s", r->input, r->role) >= 512)
            return vm_api_failf(err, VMASKC_EINVAL, -1, "%s.input_roles[%d]: the input name is too long", who, i);
        to->model.input_roles[i] = roles[i];
    }
    to->model.n_input_roles = nr;
    to->pairs = o->pairs != 0;
    vmaskc_status ds = vm_api_data_opts(&o->data, "vmaskc_model_open: options.data", &to->data, err);
    to->data.text_pair_column = o->text_pair_column && *o->text_pair_column ? o->text_pair_column : NULL;
    to->data.text_pair_field = o->text_pair_field && *o->text_pair_field ? o->text_pair_field : NULL;
    return ds;
}

vmaskc_status vmaskc_model_open(const char *path, const vmaskc_model_options *o, vmaskc_model **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(path);
    vmaskc_model_options def;
    if (!o) {
        vmaskc_model_options_init(&def);
        o = &def;
    }
    struct vm_text_opts to;
    char roles[8][512];
    vmaskc_status vs = model_opts(o, &to, roles, err);
    return vs ? vs : model_open(path, &to, out, err);
}

vmaskc_status vmaskc_model_num_classes(const vmaskc_model *m, int *n, vmaskc_error *err) {
    NEED(m);
    NEED(n);
    *n = m->n_classes;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_class_name(const vmaskc_model *m, int c, const char **name, vmaskc_error *err) {
    NEED(m);
    NEED(name);
    *name = NULL;
    if (c < 0 || c >= m->n_classes)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_model_class_name: class %d out of range (the model has %d classes)", c, m->n_classes);
    *name = m->class_names[c];
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_mask(const vmaskc_model *m, const char **method, const char **importance, vmaskc_error *err) {
    NEED(m);
    if (method) *method = m->mask_method;
    if (importance) *importance = m->mask_importance;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_meta(const vmaskc_model *m, const char *key, const char **value, vmaskc_error *err) {
    NEED(m);
    NEED(key);
    NEED(value);
    *value = vm_text_model_meta(&m->tm, key);
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_tokenizer(const vmaskc_model *m, const char **name, vmaskc_error *err) {
    NEED(m);
    NEED(name);
    *name = vm_tokenizer_name(&m->tm.tok);
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_vocab_size(const vmaskc_model *m, int32_t *n, vmaskc_error *err) {
    NEED(m);
    NEED(n);
    *n = m->tm.vocab.n;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_token(const vmaskc_model *m, int32_t id, const char **token, vmaskc_error *err) {
    NEED(m);
    NEED(token);
    *token = NULL;
    if (id < 0 || id >= m->tm.vocab.n)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_model_token: id %d out of range (the vocabulary has %d tokens)", id, m->tm.vocab.n);
    *token = m->tm.vocab.tokens[id];
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_text_settings(const vmaskc_model *m, int *lowercase, int *split_punct, vmaskc_error *err) {
    NEED(m);
    NEED(lowercase);
    NEED(split_punct);
    *lowercase = m->tm.tok.lowercase;
    *split_punct = m->tm.tok.split_punct;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_special_tokens(const vmaskc_model *m, int32_t *pad, int32_t *unk, vmaskc_error *err) {
    NEED(m);
    NEED(pad);
    NEED(unk);
    *pad = m->tm.vocab.pad_id;
    *unk = m->tm.vocab.unk_id;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_token_id(const vmaskc_model *m, const char *token, int32_t *id, vmaskc_error *err) {
    NEED(m);
    NEED(token);
    NEED(id);
    *id = vm_vocab_find(&m->tm.vocab, token);
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_token_special(const vmaskc_model *m, int32_t id, int *special, vmaskc_error *err) {
    NEED(m);
    NEED(special);
    if (id < 0 || id >= m->tm.vocab.n)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_model_token_special: id %d out of range (the vocabulary has %d tokens)", id, m->tm.vocab.n);
    *special = vm_vocab_is_special(&m->tm.vocab, id);
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_training(const vmaskc_model *m, const char **method, vmaskc_error *err) {
    NEED(m);
    NEED(method);
    *method = vm_text_model_method(&m->tm);
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_importance(vmaskc_model *m, int32_t batch, double **importance, const char **source, vmaskc_error *err) {
    NEED(importance);
    *importance = NULL;
    NEED(m);
    NEED(source);
    *source = NULL;
    const struct vm_text_model *tm = &m->tm;
    const char *mask = vm_text_model_meta(tm, "vmaskc.mask");
    struct vm_error ie = {0};
    double *imp = NULL;
    /* a mask after a contextual layer (--mask-after: vmaskc.mask = network) has no per-word value */
    if (!(mask && !strcmp(mask, "network")) && vm_text_model_mask_importance(tm, batch > 0 ? batch : 512, &imp, &ie)) return vm_api_fail(err, &ie, -1);
    if (imp) {
        *source = "word_mask";
    } else if (tm->word_keep) {
        if (!(imp = vm_malloc(sizeof(double) * (size_t)(tm->vocab.n > 0 ? tm->vocab.n : 1), &ie))) return vm_api_fail(err, &ie, -1);
        for (int32_t id = 0; id < tm->vocab.n; id++) imp[id] = id < tm->n_words ? tm->word_keep[id] : NAN;
        *source = "table";
    }
    *importance = imp;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_profile(vmaskc_model *m, int enable, vmaskc_error *err) {
    NEED(m);
    vm_rt_profile_enable(m->tm.rt, enable != 0);
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_profile_report(const vmaskc_model *m, char **text, vmaskc_error *err) {
    NEED(text);
    *text = NULL;
    NEED(m);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return vm_api_failf(err, VMASKC_ENOMEM, -1, "vmaskc_model_profile_report: out of memory");
    vm_rt_profile_print(m->tm.rt, f);
    if (fclose(f) || !buf) {
        free(buf);
        return vm_api_failf(err, VMASKC_ENOMEM, -1, "vmaskc_model_profile_report: out of memory");
    }
    *text = buf;
    return VMASKC_OK;
}

vmaskc_status vmaskc_model_build_stats(const vmaskc_model *m, int64_t *instances, double *ms, vmaskc_error *err) {
    NEED(m);
    NEED(instances);
    NEED(ms);
    vm_rt_build_stats(m->tm.rt, instances, ms);
    return VMASKC_OK;
}

/* ---- tokenize ---- */

void vmaskc_tokens_free(vmaskc_tokens *t) {
    if (!t) return;
    for (int32_t i = 0; t->tokens && i < t->n; i++) free(t->tokens[i]);
    free(t->tokens);
    free(t->ids);
    free(t->word);
    free(t);
}

vmaskc_status vmaskc_tokenize(const vmaskc_model *m, const char *text, int32_t max_len, vmaskc_tokens **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(text);
    struct vm_error ie = {0};
    struct vm_encoding e;
    vmaskc_tokens *t = NULL;
    enum vm_status s = vm_text_model_encode(&m->tm, text, max_len > 0 ? max_len : 0, &e, &ie);
    if (!s && !(t = vm_calloc(1, sizeof *t, &ie))) s = VM_ENOMEM;
    if (!s) {
        /* the encoding's arrays become the result's */
        t->n = e.n;
        t->ids = e.ids;
        t->word = e.word_of;
        t->tokens = e.pieces;
        t->n_words = e.n_words;
        t->n_unknown = e.n_unk;
        e.ids = e.word_of = NULL;
        e.pieces = NULL;
    }
    vm_encoding_free(&e);
    if (s) return vm_api_fail(err, &ie, -1);
    *out = t;
    return VMASKC_OK;
}

/* ---- predict ---- */

void vmaskc_prediction_free(vmaskc_prediction *p) {
    if (!p) return;
    for (int64_t i = 0; p->tokens && p->offset && i < p->offset[p->n]; i++) free(p->tokens[i]);
    free(p->tokens);
    free(p->ids);
    free(p->keep);
    free(p->probs);
    free(p->label);
    free(p->offset);
    free(p);
}

/* Per-token importance of the model's mask comes from its exported table (what `predict` has always
 * shown), else from the model's word_mask output of the run: its index, -1 without one. */
static int mask_output(const struct vm_text_model *tm) {
    for (int i = 0; i < vm_rt_num_outputs(tm->rt); i++)
        if (!strcmp(vm_rt_output_name(tm->rt, i), "word_mask")) return i;
    return -1;
}

int vm_api_cmp_len_idx(const void *a, const void *b) {
    const struct vm_api_len_idx *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Runs texts order[0..nb) (all of one token count) and writes their rows of p. */
static enum vm_status predict_run(vmaskc_model *m, vmaskc_prediction *p, const struct vm_encoding *enc, const struct vm_api_len_idx *order,
                                  int64_t nb, int wm, const int32_t **seqs, int32_t *lens, float *probs, struct vm_error *ie) {
    struct vm_text_model *tm = &m->tm;
    for (int64_t k = 0; k < nb; k++) {
        seqs[k] = enc[order[k].i].ids;
        lens[k] = enc[order[k].i].n;
    }
    struct vm_rt_inst *inst;
    int64_t T = 0;
    enum vm_status s = vm_feed(&tm->feeder, seqs, lens, nb, 0, NULL, 0, 0, &inst, &T, ie);
    vm_mark("feed"); /* start-up timings (VMASKC_TIMINGS): the first batch's feed and run */
    if (!s) s = vm_rt_run(inst, VM_RT_FORWARD, false, ie);
    vm_mark("first_run");
    if (s) return s;
    int C = p->n_classes;
    vm_feeder_probs(&tm->feeder, inst, nb, probs);
    for (int64_t k = 0; k < nb; k++) memcpy(p->probs + order[k].i * C, probs + k * C, sizeof(float) * (size_t)C);
    if (wm >= 0 && !tm->word_keep) {
        struct vm_rt_tensor t = vm_rt_output(inst, wm);
        if (t.dtype != VM_DTYPE_FLOAT || t.numel != nb * T)
            return vm_errorf(ie, VM_EINVAL, "the model's output word_mask has %lld values (%s) for %lld texts of %lld tokens; expected float [B, T]",
                             (long long)t.numel, vm_dtype_name(t.dtype), (long long)nb, (long long)T);
        const float *d = t.data;
        for (int64_t k = 0; k < nb; k++) {
            float *keep = p->keep + p->offset[order[k].i];
            for (int32_t j = 0; j < lens[k]; j++) keep[j] = d[tm->feeder.ids_batch_axis ? (int64_t)j * nb + k : k * T + j];
        }
    }
    return VM_OK;
}

vmaskc_status vmaskc_predict(vmaskc_model *m, const char *const *texts, int64_t n, int32_t max_len, int32_t batch,
                             vmaskc_prediction **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(texts);
    if (n < 1) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_predict: n is %lld; give at least one text", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) return vm_api_failf(err, VMASKC_EINVAL, i, "vmaskc_predict: texts[%lld] is NULL", (long long)i);
    if (batch <= 0) batch = 64;
    if (batch > 4096) batch = 4096;
    struct vm_text_model *tm = &m->tm;
    struct vm_error ie = {0};
    int64_t bad = -1;
    int C = m->n_classes, wm = m->mask_method ? m->word_mask : -1;
    struct vm_encoding *enc = vm_calloc((size_t)n, sizeof *enc, &ie);
    struct vm_api_len_idx *order = vm_malloc(sizeof *order * (size_t)n, &ie);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)batch, &ie);
    int32_t *lens = vm_malloc(sizeof *lens * (size_t)batch, &ie);
    float *probs = vm_malloc(sizeof(float) * (size_t)batch * (size_t)C, &ie);
    vmaskc_prediction *p = vm_calloc(1, sizeof *p, &ie);
    enum vm_status s = enc && order && seqs && lens && probs && p ? VM_OK : VM_ENOMEM;
    if (!s) {
        p->n = n;
        p->n_classes = C;
        p->probs = vm_malloc(sizeof(float) * (size_t)n * (size_t)C, &ie);
        p->label = vm_malloc(sizeof(int) * (size_t)n, &ie);
        p->offset = vm_calloc((size_t)(n + 1), sizeof(int64_t), &ie);
        if (!p->probs || !p->label || !p->offset) s = VM_ENOMEM;
    }
    /* every text encoded (and checked) before anything runs */
    for (int64_t i = 0; i < n && !s; i++) {
        s = vm_text_model_encode(tm, texts[i], max_len > 0 ? max_len : 0, &enc[i], &ie);
        if (!s && (enc[i].n == 0 || enc[i].n_words == 0)) s = vm_errorf(&ie, VM_EINVAL, "text %lld has no tokens", (long long)i + 1);
        if (s) {
            bad = i;
            break;
        }
        order[i] = (struct vm_api_len_idx){enc[i].n, i};
        p->offset[i + 1] = (i ? p->offset[i] : 0) + enc[i].n;
    }
    if (!s) {
        p->offset[0] = 0;
        int64_t total = p->offset[n];
        p->ids = vm_malloc(sizeof(int32_t) * (size_t)(total + 1), &ie);
        p->tokens = vm_calloc((size_t)(total + 1), sizeof(char *), &ie);
        if (tm->word_keep || wm >= 0) p->keep = vm_malloc(sizeof(float) * (size_t)(total + 1), &ie);
        if (!p->ids || !p->tokens || ((tm->word_keep || wm >= 0) && !p->keep)) s = VM_ENOMEM;
    }
    for (int64_t i = 0; i < n && !s; i++) {
        const struct vm_encoding *e = &enc[i];
        for (int32_t j = 0; j < e->n; j++) {
            int64_t at = p->offset[i] + j;
            p->ids[at] = e->ids[j];
            p->tokens[at] = e->pieces[j];
            e->pieces[j] = NULL; /* moved */
            if (tm->word_keep) p->keep[at] = e->ids[j] < tm->n_words ? tm->word_keep[e->ids[j]] : NAN;
        }
    }
    /* runs of texts of one token count, at most `batch` each: a text's result is independent of the others */
    if (!s) qsort(order, (size_t)n, sizeof *order, vm_api_cmp_len_idx);
    for (int64_t b0 = 0; b0 < n && !s;) {
        int64_t nb = 1;
        while (b0 + nb < n && nb < batch && order[b0 + nb].len == order[b0].len) nb++;
        s = predict_run(m, p, enc, order + b0, nb, wm, seqs, lens, probs, &ie);
        if (s == VM_EINVAL) bad = order[b0].i; /* a text the model cannot take (longer than its position table, ...) */
        b0 += nb;
    }
    for (int64_t i = 0; i < n && !s; i++) {
        int best = 0;
        for (int c = 1; c < C; c++)
            if (p->probs[i * C + c] > p->probs[i * C + best]) best = c;
        p->label[i] = best;
    }
    for (int64_t i = 0; enc && i < n; i++) vm_encoding_free(&enc[i]);
    free(enc);
    free(order);
    free(seqs);
    free(lens);
    free(probs);
    if (s) {
        vmaskc_prediction_free(p);
        return vm_api_fail(err, &ie, bad);
    }
    *out = p;
    return VMASKC_OK;
}

/* ---- global word importance ---- */

void vmaskc_words_free(vmaskc_words *w) {
    if (!w) return;
    free(w->ids);
    free(w->tokens);
    free(w->importance);
    free(w->frequency);
    free(w);
}

struct word_q {
    float q;
    int32_t id;
};

/* importance descending, then id: the order of `vmaskc words` */
static int cmp_word_q(const void *a, const void *b) {
    const struct word_q *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? 1 : -1;
    return x->id - y->id;
}

vmaskc_status vmaskc_words_rank(const vmaskc_model *m, vmaskc_words **out, vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    const struct vm_text_model *tm = &m->tm;
    if (!tm->word_keep)
        return vm_api_failf(err, VMASKC_EUNSUPPORTED, -1,
                            "the model has no word-level mask (vmask.word_keep, l2x.word_score or iba.word_lambda): train it with 'vmaskc train'");
    struct vm_error ie = {0};
    int64_t V = tm->vocab.n < tm->n_words ? tm->vocab.n : tm->n_words, n = 0;
    struct word_q *ws = vm_malloc(sizeof *ws * (size_t)(V + 1), &ie);
    vmaskc_words *w = vm_calloc(1, sizeof *w, &ie);
    if (w) {
        w->ids = vm_malloc(sizeof(int32_t) * (size_t)(V + 1), &ie);
        w->tokens = vm_malloc(sizeof(char *) * (size_t)(V + 1), &ie);
        w->importance = vm_malloc(sizeof(float) * (size_t)(V + 1), &ie);
    }
    if (!ws || !w || !w->ids || !w->tokens || !w->importance) {
        free(ws);
        vmaskc_words_free(w);
        return vm_api_fail(err, &ie, -1);
    }
    for (int32_t id = 0; id < V; id++)
        if (!vm_vocab_is_special(&tm->vocab, id)) ws[n++] = (struct word_q){tm->word_keep[id], id};
    qsort(ws, (size_t)n, sizeof *ws, cmp_word_q);
    for (int64_t k = 0; k < n; k++) {
        w->ids[k] = ws[k].id;
        w->tokens[k] = tm->vocab.tokens[ws[k].id];
        w->importance[k] = ws[k].q;
    }
    w->n = n;
    free(ws);
    *out = w;
    return VMASKC_OK;
}

/* ---- explain one text ---- */

void vmaskc_explain_options_init(vmaskc_explain_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->method = VMASKC_EXPLAIN_LIME;
    o->target = -1;
    o->seed = 1;
}

void vmaskc_explanation_free(vmaskc_explanation *e) {
    if (!e) return;
    for (int32_t i = 0; e->tokens && i < e->n; i++) free(e->tokens[i]);
    free(e->tokens);
    free(e->word);
    free(e->score);
    free(e->probs);
    free(e);
}

/* The explainer's scores per token (x: the encoded text; word_of NULL for a word vocabulary, where
 * every token is a word) into score [n]. */
static enum vm_status explain_scores(const struct vm_text_model *tm, struct vm_classifier *c, const vmaskc_explain_options *o,
                                     const struct vm_encoding *x, const int32_t *word_of, int target, double *score,
                                     struct vm_error *ie) {
    int32_t n = x->n;
    uint64_t seed = vm_explain_example_seed(o->seed, 0);
    enum vm_status s = VM_OK;
    if (o->method == VMASKC_EXPLAIN_LIME) {
        struct vm_lime_opts lo;
        vm_lime_opts_default(&lo);
        if (o->samples > 0) lo.samples = o->samples;
        struct vm_lime l = {0};
        s = vm_lime_explain(c, x->ids, n, word_of, target, seed, &lo, &l, ie);
        for (int32_t i = 0; !s && i < n; i++) score[i] = l.feature_of[i] >= 0 ? l.weight[l.feature_of[i]] : NAN;
        vm_lime_free(&l);
    } else if (o->method == VMASKC_EXPLAIN_SHAPLEY) {
        struct vm_shapley sh = {0};
        s = vm_shapley_explain(c, x->ids, n, word_of, target, seed, o->permutations > 0 ? o->permutations : VM_SHAPLEY_DEFAULT_PERMUTATIONS,
                               &sh, ie);
        for (int32_t i = 0; !s && i < n; i++) {
            int32_t w = word_of ? word_of[i] : i;
            score[i] = w >= 0 ? sh.phi[w] : NAN;
        }
        vm_shapley_free(&sh);
    } else {
        if (!tm->word_keep)
            return vm_errorf(ie, VM_EUNSUPPORTED, "the mask explainer needs a model with a word-level mask (VMASK, L2X or IBA)");
        /* a word's mask score is the mean keep probability of its pieces (as `vmaskc explain`) */
        int32_t nw = word_of ? vm_words_count(word_of, n) : n;
        double *q = vm_malloc(sizeof(double) * (size_t)(n + nw + 1), ie);
        if (!q) return VM_ENOMEM;
        for (int32_t i = 0; i < n; i++) q[i] = x->ids[i] < tm->n_words ? tm->word_keep[x->ids[i]] : NAN;
        vm_word_mean(q, word_of, n, nw, q + n);
        for (int32_t i = 0; i < n; i++) {
            int32_t w = word_of ? word_of[i] : i;
            score[i] = w >= 0 ? q[n + w] : NAN;
        }
        free(q);
    }
    return s;
}

vmaskc_status vmaskc_explain(vmaskc_model *m, const char *text, const vmaskc_explain_options *o, vmaskc_explanation **out,
                             vmaskc_error *err) {
    NEED(out);
    *out = NULL;
    NEED(m);
    NEED(text);
    vmaskc_explain_options def;
    if (!o) {
        vmaskc_explain_options_init(&def);
        o = &def;
    }
    if (o->method < VMASKC_EXPLAIN_LIME || o->method > VMASKC_EXPLAIN_MASK)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_explain: method %d is not LIME (0), SHAPLEY (1) or MASK (2)", (int)o->method);
    if (o->target >= m->n_classes)
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_explain: target class %d out of range (the model has %d classes)", o->target,
                            m->n_classes);
    struct vm_text_model *tm = &m->tm;
    struct vm_error ie = {0};
    struct vm_encoding x;
    struct vm_classifier c = {0};
    vmaskc_explanation *e = NULL;
    enum vm_status s = vm_text_model_encode(tm, text, o->max_len > 0 ? o->max_len : 0, &x, &ie);
    if (!s && (x.n == 0 || x.n_words == 0)) s = vm_errorf(&ie, VM_EINVAL, "the text has no tokens: nothing to explain");
    if (!s) s = vm_classifier_init_feeder(&c, &tm->feeder, o->batch > 0 ? o->batch : 512, &ie);
    if (!s && !(e = vm_calloc(1, sizeof *e, &ie))) s = VM_ENOMEM;
    if (!s) {
        e->n_classes = m->n_classes;
        e->probs = vm_malloc(sizeof(float) * (size_t)m->n_classes, &ie);
        e->score = vm_malloc(sizeof(double) * (size_t)x.n, &ie);
        if (!e->probs || !e->score) s = VM_ENOMEM;
    }
    if (!s) {
        const int32_t *seq = x.ids;
        s = vm_classifier_probs(&c, &seq, &x.n, 1, 0, e->probs, &ie);
    }
    if (!s) {
        e->target = o->target;
        if (e->target < 0) {
            e->target = 0;
            for (int k = 1; k < m->n_classes; k++)
                if (e->probs[k] > e->probs[e->target]) e->target = k;
        }
        const int32_t *word_of = tm->tok.kind == VM_TOKENIZER_WORDPIECE ? x.word_of : NULL;
        s = explain_scores(tm, &c, o, &x, word_of, e->target, e->score, &ie);
    }
    if (!s) {
        e->n = x.n;
        e->tokens = x.pieces;
        e->word = x.word_of;
        x.pieces = NULL;
        x.word_of = NULL;
    }
    vm_encoding_free(&x);
    vm_classifier_free(&c);
    if (s) {
        vmaskc_explanation_free(e);
        return vm_api_fail(err, &ie, -1);
    }
    *out = e;
    return VMASKC_OK;
}
