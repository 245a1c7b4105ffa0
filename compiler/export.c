/* export: trained graph -> ONNX (see export.h).
 *
 * The output model is the input ModelProto shallow-copied: untouched nodes, initializers and
 * value infos are shared with the original message, changed ones are fresh copies, and everything
 * allocated here is tracked and freed after packing — the original is never modified.
 */
#include "export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "ops.h"
#include "training.h"

struct ex {
    void **allocs;
    size_t n, cap;
    struct vm_error *err;
    bool oom;
};

static void *ex_alloc(struct ex *e, size_t n) {
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 256;
        void **na = realloc(e->allocs, cap * sizeof *na);
        if (!na) {
            e->oom = true;
            return NULL;
        }
        e->allocs = na;
        e->cap = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        e->oom = true;
        return NULL;
    }
    e->allocs[e->n++] = p;
    return p;
}

/* Hands p (malloc'd elsewhere) to the tracker, so it is freed with everything else. */
static bool ex_track(struct ex *e, void *p) {
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 256;
        void **na = realloc(e->allocs, cap * sizeof *na);
        if (!na) {
            free(p);
            e->oom = true;
            return false;
        }
        e->allocs = na;
        e->cap = cap;
    }
    e->allocs[e->n++] = p;
    return true;
}

static char *ex_str(struct ex *e, const char *s) {
    char *d = ex_alloc(e, strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

void vm_mask_word_keep(const float *table, int64_t V, int64_t E, const float *w1, const float *b1,
                       int64_t H, const float *w2, const float *b2, float *out) {
#pragma omp parallel
    {
        /* a: the hidden pre-activations of one word, accumulated row by row of W1 (contiguous) */
        double *a = malloc(sizeof(double) * (size_t)(H ? H : 1));
#pragma omp for
        for (int64_t v = 0; v < V; v++) {
            const float *x = table + v * E;
            double p0 = b2[0], p1 = b2[1];
            if (a) {
                for (int64_t h = 0; h < H; h++) a[h] = b1[h];
                for (int64_t k = 0; k < E; k++) {
                    const float *w = w1 + k * H;
                    double xk = x[k];
                    for (int64_t h = 0; h < H; h++) a[h] += xk * w[h];
                }
            }
            for (int64_t h = 0; h < H; h++) {
                double ah = b1[h];
                if (a) ah = a[h];
                else
                    for (int64_t k = 0; k < E; k++) ah += (double)x[k] * w1[k * H + h];
                double t = tanh(ah);
                p0 += t * w2[2 * h];
                p1 += t * w2[2 * h + 1];
            }
            out[v] = (float)(1.0 / (1.0 + exp(-(p1 - p0))));
        }
        free(a);
    }
}

/* A tensor whose raw_data points at `data` (not copied, not freed with the export's allocations):
 * the trained weights stay in the runtime while the file is written, and a copy of BERT-base's
 * 330 MiB of them was the peak of the export. */
static Onnx__TensorProto *mk_tensor_borrowed(struct ex *e, const char *name, int32_t dtype, int rank, const int64_t *dims,
                                             const void *data, size_t nbytes) {
    Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
    int64_t *d = ex_alloc(e, sizeof(int64_t) * (size_t)(rank ? rank : 1));
    if (!t || !d) return NULL;
    onnx__tensor_proto__init(t);
    t->name = ex_str(e, name);
    for (int i = 0; i < rank; i++) d[i] = dims[i];
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = nbytes;
    return t;
}

static Onnx__TensorProto *mk_tensor(struct ex *e, const char *name, int32_t dtype, int rank, const int64_t *dims,
                                    const void *data, size_t nbytes) {
    uint8_t *raw = ex_alloc(e, nbytes);
    if (!raw) return NULL;
    if (nbytes) memcpy(raw, data, nbytes);
    return mk_tensor_borrowed(e, name, dtype, rank, dims, raw, nbytes);
}

static Onnx__AttributeProto *mk_attr_ints(struct ex *e, const char *name, const int64_t *v, size_t n) {
    Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
    int64_t *d = ex_alloc(e, sizeof(int64_t) * (n ? n : 1));
    if (!a || !d) return NULL;
    onnx__attribute_proto__init(a);
    a->name = ex_str(e, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    memcpy(d, v, sizeof(int64_t) * n);
    a->ints = d;
    a->n_ints = n;
    return a;
}

static Onnx__AttributeProto *mk_attr_int(struct ex *e, const char *name, int64_t v) {
    Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = ex_str(e, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__NodeProto *mk_node(struct ex *e, const char *op, const char *name, int nin, const char *const *in,
                                const char *out, Onnx__AttributeProto *attr) {
    Onnx__NodeProto *n = ex_alloc(e, sizeof *n);
    char **ins = ex_alloc(e, sizeof(char *) * (size_t)nin);
    char **outs = ex_alloc(e, sizeof(char *));
    Onnx__AttributeProto **attrs = ex_alloc(e, sizeof *attrs);
    if (!n || !ins || !outs || !attrs) return NULL;
    onnx__node_proto__init(n);
    n->op_type = ex_str(e, op);
    n->name = ex_str(e, name);
    for (int i = 0; i < nin; i++) ins[i] = ex_str(e, in[i]);
    n->input = ins;
    n->n_input = (size_t)nin;
    outs[0] = ex_str(e, out);
    n->output = outs;
    n->n_output = 1;
    if (attr) {
        attrs[0] = attr;
        n->attribute = attrs;
        n->n_attribute = 1;
    }
    return n;
}

/* Adds attribute a to node n (whose attribute array mk_node sized for one). */
static bool add_attr(struct ex *e, Onnx__NodeProto *n, Onnx__AttributeProto *a) {
    Onnx__AttributeProto **attrs = ex_alloc(e, sizeof *attrs * (n->n_attribute + 1));
    if (!n || !a || !attrs) return false;
    for (size_t i = 0; i < n->n_attribute; i++) attrs[i] = n->attribute[i];
    attrs[n->n_attribute++] = a;
    n->attribute = attrs;
    return true;
}

/* Unsqueeze / ReduceSum (keepdims 0) over one axis, in the form of the model's opset: the axes
 * are an attribute before opset 13 and an int64 initializer input from 13 on. */
static Onnx__NodeProto *mk_axis_node(struct ex *e, Onnx__GraphProto *gp, int opset, const char *op, const char *name, const char *in,
                                     int64_t axis, const char *out) {
    Onnx__NodeProto *n;
    if (opset >= 13) {
        char an[300];
        snprintf(an, sizeof an, "%s.axes", out);
        Onnx__TensorProto *ax = mk_tensor(e, an, VM_DTYPE_INT64, 1, &(int64_t){1}, &axis, 8);
        if (!ax) return NULL;
        gp->initializer[gp->n_initializer++] = ax;
        const char *ins[2] = {in, an};
        n = mk_node(e, op, name, 2, ins, out, NULL);
    } else {
        n = mk_node(e, op, name, 1, &in, out, mk_attr_ints(e, "axes", &axis, 1));
    }
    if (n && !strcmp(op, "ReduceSum") && !add_attr(e, n, mk_attr_int(e, "keepdims", 0))) return NULL;
    return n;
}

static const float *param(vm_param_lookup lookup, void *ctx, const char *name, size_t want, struct vm_error *err) {
    size_t nb = 0;
    const float *p = lookup ? lookup(ctx, name, &nb) : NULL;
    if (!p || nb != want * sizeof(float)) {
        vm_errorf(err, VM_EINTERNAL, "export: the mask parameter %s is missing", name);
        return NULL;
    }
    return p;
}

enum vm_status vm_mask_word_importance(int method, const float *table, int64_t V, int64_t E, vm_param_lookup lookup, void *ctx,
                                       float *out, struct vm_error *err) {
    if (method == VM_METHOD_VMASK) {
        size_t nb = 0;
        const float *b1 = lookup ? lookup(ctx, VM_MASK_B1, &nb) : NULL;
        int64_t H = (int64_t)(nb / sizeof(float));
        const float *w1 = b1 ? param(lookup, ctx, VM_MASK_W1, (size_t)(E * H), err) : NULL,
                    *w2 = w1 ? param(lookup, ctx, VM_MASK_W2, (size_t)(2 * H), err) : NULL, *b2 = w2 ? param(lookup, ctx, VM_MASK_B2, 2, err) : NULL;
        if (!b2) return b1 ? err->code : vm_errorf(err, VM_EINTERNAL, "export: the mask parameter %s is missing", VM_MASK_B1);
        vm_mask_word_keep(table, V, E, w1, b1, H, w2, b2, out);
        return VM_OK;
    }
    bool iba = method == VM_METHOD_IBA;
    const float *w = param(lookup, ctx, iba ? VM_IBA_W : VM_L2X_W, (size_t)E, err), *b = w && iba ? param(lookup, ctx, VM_IBA_B, 1, err) : NULL;
    if (!w || (iba && !b)) return err->code;
#pragma omp parallel for if (V * E > 32768)
    for (int64_t v = 0; v < V; v++) {
        double a = b ? b[0] : 0.0;
        for (int64_t k = 0; k < E; k++) a += (double)table[v * E + k] * w[k];
        out[v] = (float)(iba ? 1.0 / (1.0 + exp(-a)) : a);
    }
    return VM_OK;
}

/* The exported L2X and IBA layers (see export.h): nodes appended to nn[*k], tables to gp. z is
 * what the model reads instead of x, q the per-token importance. */
static enum vm_status export_competitor(struct ex *e, Onnx__GraphProto *gp, int opset, const struct vm_export_opts *o, const float *table,
                                        int64_t V, int64_t E, const char *x, const char *ids, const char *z, const char *q,
                                        vm_param_lookup lookup, void *ctx, Onnx__NodeProto **nn, int *k, struct vm_error *err) {
    bool iba = o->method == VM_METHOD_IBA;
    float *imp = ex_alloc(e, sizeof(float) * (size_t)(V ? V : 1));
    int64_t *kind = ex_alloc(e, sizeof(int64_t) * (size_t)(V ? V : 1));
    if (!imp || !kind) return vm_errorf(err, VM_ENOMEM, "out of memory while exporting");
    enum vm_status s = vm_mask_word_importance(o->method, table, V, E, lookup, ctx, imp, err);
    if (s) return s;
    /* kind: 0 pad, 1 a word the layer acts on, 2 a special token it leaves alone */
    for (int64_t v = 0; v < V; v++) kind[v] = v == o->pad_id ? 0 : 1;
    for (int j = 0; j < o->n_keep_ids; j++)
        if (o->keep_ids[j] >= 0 && o->keep_ids[j] < V) kind[o->keep_ids[j]] = 2;
    const char *tab = iba ? "iba.word_lambda" : "l2x.word_score";
    if (iba)
        for (int64_t v = 0; v < V; v++) imp[v] = kind[v] == 1 ? imp[v] : 1.0f;
    Onnx__TensorProto *t = mk_tensor(e, tab, VM_DTYPE_FLOAT, 1, &V, imp, sizeof(float) * (size_t)V);
    if (!t) goto oom;
    gp->initializer[gp->n_initializer++] = t;
    const char *gin[2] = {tab, ids};
    if (!(nn[(*k)++] = mk_node(e, "Gather", iba ? "iba/Gather" : "l2x/Gather", 2, gin, q, mk_attr_int(e, "axis", 0)))) goto oom;
    if (iba) {
        /* z = mu + lambda (x - mu): the noise at its mean */
        if (!o->iba_mu) return vm_errorf(err, VM_EINTERNAL, "export: the IBA statistics %s are missing", VM_IBA_MU);
        if (!(t = mk_tensor(e, VM_IBA_MU, VM_DTYPE_FLOAT, 1, &E, o->iba_mu, sizeof(float) * (size_t)E))) goto oom;
        gp->initializer[gp->n_initializer++] = t;
        const char *a1[2] = {x, VM_IBA_MU}, *a2[2] = {"iba.centered", "iba.lambda3"}, *a3[2] = {"iba.scaled", VM_IBA_MU};
        if (!(nn[(*k)++] = mk_axis_node(e, gp, opset, "Unsqueeze", "iba/Unsqueeze", q, -1, "iba.lambda3")) ||
            !(nn[(*k)++] = mk_node(e, "Sub", "iba/Sub", 2, a1, "iba.centered", NULL)) ||
            !(nn[(*k)++] = mk_node(e, "Mul", "iba/Mul", 2, a2, "iba.scaled", NULL)) ||
            !(nn[(*k)++] = mk_node(e, "Add", "iba/Add", 2, a3, z, NULL)))
            goto oom;
        return VM_OK;
    }
    /* L2X: keep a ranked token when fewer than k ranked tokens of its text score strictly higher */
    float low = -3.0e38f, kf = (float)o->l2x_k;
    int64_t one = 1, two = 2;
    Onnx__TensorProto *ts[5] = {mk_tensor(e, "l2x.word_kind", VM_DTYPE_INT64, 1, &V, kind, sizeof(int64_t) * (size_t)V),
                                mk_tensor(e, "l2x.one", VM_DTYPE_INT64, 0, NULL, &one, 8), mk_tensor(e, "l2x.two", VM_DTYPE_INT64, 0, NULL, &two, 8),
                                mk_tensor(e, "l2x.low", VM_DTYPE_FLOAT, 0, NULL, &low, 4), mk_tensor(e, "l2x.k", VM_DTYPE_FLOAT, 0, NULL, &kf, 4)};
    for (int i = 0; i < 5; i++) {
        if (!ts[i]) goto oom;
        gp->initializer[gp->n_initializer++] = ts[i];
    }
    int64_t seq = o->seq_axis;
    const char *a1[2] = {"l2x.word_kind", ids}, *a2[2] = {"l2x.kind", "l2x.one"}, *a3[2] = {"l2x.kind", "l2x.two"},
               *a4[3] = {"l2x.ranked", q, "l2x.low"}, *a5[2] = {"l2x.others", "l2x.self"}, *a6[1] = {"l2x.greater"},
               *a7[2] = {"l2x.higher", "l2x.k"}, *a8[2] = {"l2x.topk", "l2x.ranked"}, *a9[2] = {"l2x.selected", "l2x.kept"},
               *a10[1] = {"l2x.keep"}, *a11[2] = {x, "l2x.r3"};
    if (!(nn[(*k)++] = mk_node(e, "Gather", "l2x/kind", 2, a1, "l2x.kind", mk_attr_int(e, "axis", 0))) ||
        !(nn[(*k)++] = mk_node(e, "Equal", "l2x/ranked", 2, a2, "l2x.ranked", NULL)) ||
        !(nn[(*k)++] = mk_node(e, "Equal", "l2x/kept", 2, a3, "l2x.kept", NULL)) ||
        !(nn[(*k)++] = mk_node(e, "Where", "l2x/ranked_score", 3, a4, "l2x.ranked_score", NULL)) ||
        !(nn[(*k)++] = mk_axis_node(e, gp, opset, "Unsqueeze", "l2x/others", "l2x.ranked_score", seq, "l2x.others")) ||
        !(nn[(*k)++] = mk_axis_node(e, gp, opset, "Unsqueeze", "l2x/self", "l2x.ranked_score", seq + 1, "l2x.self")) ||
        !(nn[(*k)++] = mk_node(e, "Greater", "l2x/Greater", 2, a5, "l2x.greater", NULL)) ||
        !(nn[(*k)++] = mk_node(e, "Cast", "l2x/Cast", 1, a6, "l2x.greater_f", mk_attr_int(e, "to", VM_DTYPE_FLOAT))) ||
        !(nn[(*k)++] = mk_axis_node(e, gp, opset, "ReduceSum", "l2x/ReduceSum", "l2x.greater_f", seq + 1, "l2x.higher")) ||
        !(nn[(*k)++] = mk_node(e, "Less", "l2x/Less", 2, a7, "l2x.topk", NULL)) ||
        !(nn[(*k)++] = mk_node(e, "And", "l2x/And", 2, a8, "l2x.selected", NULL)) ||
        !(nn[(*k)++] = mk_node(e, "Or", "l2x/Or", 2, a9, "l2x.keep", NULL)) ||
        !(nn[(*k)++] = mk_node(e, "Cast", "l2x/r", 1, a10, "l2x.r", mk_attr_int(e, "to", VM_DTYPE_FLOAT))) ||
        !(nn[(*k)++] = mk_axis_node(e, gp, opset, "Unsqueeze", "l2x/Unsqueeze", "l2x.r", -1, "l2x.r3")) ||
        !(nn[(*k)++] = mk_node(e, "Mul", "l2x/Mul", 2, a11, z, NULL)))
        goto oom;
    return VM_OK;
oom:
    return vm_errorf(err, VM_ENOMEM, "out of memory while exporting");
}

/* Copies a node with every input named `from` renamed to `to`. */
static Onnx__NodeProto *renamed_inputs(struct ex *e, const Onnx__NodeProto *orig, const char *from, const char *to) {
    Onnx__NodeProto *n = ex_alloc(e, sizeof *n);
    char **ins = ex_alloc(e, sizeof(char *) * (orig->n_input ? orig->n_input : 1));
    if (!n || !ins) return NULL;
    *n = *orig;
    for (size_t i = 0; i < orig->n_input; i++) ins[i] = orig->input[i] && !strcmp(orig->input[i], from) ? (char *)to : orig->input[i];
    n->input = ins;
    return n;
}

/* An initializer the source kept in an external file, made inline: the output lives elsewhere,
 * so its locations would not resolve there. raw_data points into the source's mapping (borrowed
 * through g->external) or, when that was unaligned, into a copy tracked by e. */
static Onnx__TensorProto *inlined(struct ex *e, const struct vm_graph *g, const Onnx__TensorProto *t, struct vm_error *err) {
    struct vm_tensor vt;
    char what[600];
    snprintf(what, sizeof what, "export: initializer '%s'", t->name ? t->name : "");
    if (vm_onnx_tensor_decode_ext(t, g->external, what, &vt, err)) return NULL;
    free(vt.name);
    if (!vt.borrowed && vt.data && !ex_track(e, vt.data)) return NULL;
    Onnx__TensorProto *nt = ex_alloc(e, sizeof *nt);
    if (!nt) return NULL;
    *nt = *t;
    nt->has_data_location = 0;
    nt->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    nt->n_external_data = 0;
    nt->external_data = NULL;
    nt->has_raw_data = 1;
    nt->raw_data.data = vt.data;
    nt->raw_data.len = vt.nbytes;
    return nt;
}

/* n itself, or a copy whose external tensor attributes (a Constant's `value`) are inline. */
static Onnx__NodeProto *inlined_constant(struct ex *e, const struct vm_graph *g, Onnx__NodeProto *n, struct vm_error *err) {
    bool any = false;
    for (size_t k = 0; k < n->n_attribute; k++) any |= n->attribute[k]->t && vm_onnx_tensor_is_external(n->attribute[k]->t);
    if (!any) return n;
    Onnx__NodeProto *c = ex_alloc(e, sizeof *c);
    Onnx__AttributeProto **attrs = ex_alloc(e, sizeof *attrs * n->n_attribute);
    if (!c || !attrs) return NULL;
    *c = *n;
    c->attribute = attrs;
    for (size_t k = 0; k < n->n_attribute; k++) {
        attrs[k] = n->attribute[k];
        if (!attrs[k]->t || !vm_onnx_tensor_is_external(attrs[k]->t)) continue;
        Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
        if (!a) return NULL;
        *a = *n->attribute[k];
        if (!(a->t = inlined(e, g, a->t, err))) return NULL;
        attrs[k] = a;
    }
    return c;
}

/* The min-length pad block (export.h), prepended to gp's nodes: ids -> VM_MINLEN_IDS, padded at the
 * end of seq_axis to max(T, min_seq) with pad_id; `T` ([1] int64) is left as VM_MINLEN_PREFIX's
 * "vmaskc.minlen.T" for the word_mask Slice. Every other reader of ids reads VM_MINLEN_IDS. */
static bool export_min_len(struct ex *e, Onnx__GraphProto *gp, const char *ids, int32_t ids_dtype, int seq_axis, int64_t min_seq,
                           int64_t pad_id) {
    for (size_t i = 0; i < gp->n_node; i++) {
        bool reads = false;
        for (size_t k = 0; k < gp->node[i]->n_input; k++) reads |= gp->node[i]->input[k] && !strcmp(gp->node[i]->input[k], ids);
        if (reads && !(gp->node[i] = renamed_inputs(e, gp->node[i], ids, VM_MINLEN_IDS))) return false;
    }
    int64_t one = 1, n_zeros = 2 + seq_axis, zeros[3] = {0, 0, 0}, axis = seq_axis, zero = 0;
    int32_t pv32 = (int32_t)pad_id;
    Onnx__TensorProto *t[6] = {
        mk_tensor(e, "vmaskc.minlen.axis", VM_DTYPE_INT64, 1, &one, &axis, 8),
        mk_tensor(e, "vmaskc.minlen.k", VM_DTYPE_INT64, 1, &one, &min_seq, 8),
        mk_tensor(e, "vmaskc.minlen.zero", VM_DTYPE_INT64, 1, &one, &zero, 8),
        mk_tensor(e, "vmaskc.minlen.zeros", VM_DTYPE_INT64, 1, &n_zeros, zeros, 8 * (size_t)n_zeros),
        ids_dtype == VM_DTYPE_INT32 ? mk_tensor(e, "vmaskc.minlen.pad_id", VM_DTYPE_INT32, 0, NULL, &pv32, 4)
                                    : mk_tensor(e, "vmaskc.minlen.pad_id", VM_DTYPE_INT64, 0, NULL, &pad_id, 8),
    };
    for (int i = 0; i < 5; i++) {
        if (!t[i]) return false;
        gp->initializer[gp->n_initializer++] = t[i];
    }
    const char *a_shape[1] = {ids}, *a_t[2] = {"vmaskc.minlen.shape", "vmaskc.minlen.axis"},
               *a_short[2] = {"vmaskc.minlen.T", "vmaskc.minlen.k"}, *a_diff[2] = {"vmaskc.minlen.k", "vmaskc.minlen.T"},
               *a_extra[3] = {"vmaskc.minlen.short", "vmaskc.minlen.diff", "vmaskc.minlen.zero"},
               *a_pads[3] = {"vmaskc.minlen.zeros", "vmaskc.minlen.extra", "vmaskc.minlen.zero"},
               *a_pad[3] = {ids, "vmaskc.minlen.pads", "vmaskc.minlen.pad_id"};
    Onnx__NodeProto *nn[7] = {
        mk_node(e, "Shape", VM_MINLEN_PREFIX "Shape", 1, a_shape, "vmaskc.minlen.shape", NULL),
        mk_node(e, "Gather", VM_MINLEN_PREFIX "Gather", 2, a_t, "vmaskc.minlen.T", mk_attr_int(e, "axis", 0)),
        mk_node(e, "Less", VM_MINLEN_PREFIX "Less", 2, a_short, "vmaskc.minlen.short", NULL),
        mk_node(e, "Sub", VM_MINLEN_PREFIX "Sub", 2, a_diff, "vmaskc.minlen.diff", NULL),
        mk_node(e, "Where", VM_MINLEN_PREFIX "Where", 3, a_extra, "vmaskc.minlen.extra", NULL),
        /* pads [b0, b1, e0, e1]: the extra length at the end of the sequence axis */
        mk_node(e, "Concat", VM_MINLEN_PREFIX "Concat", seq_axis ? 2 : 3, a_pads, "vmaskc.minlen.pads", mk_attr_int(e, "axis", 0)),
        mk_node(e, "Pad", VM_MINLEN_PREFIX "Pad", 3, a_pad, VM_MINLEN_IDS, NULL),
    };
    for (int i = 0; i < 7; i++)
        if (!nn[i]) return false;
    memmove(&gp->node[7], &gp->node[0], sizeof(Onnx__NodeProto *) * gp->n_node);
    memcpy(&gp->node[0], nn, sizeof nn);
    gp->n_node += 7;
    return true;
}

static int opset_of(const Onnx__ModelProto *m) {
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !*m->opset_import[i]->domain) return (int)m->opset_import[i]->version;
    return 13;
}

size_t vm_export_release_trained(Onnx__ModelProto *orig, struct vm_graph *g, vm_param_lookup lookup, void *ctx) {
    size_t freed = 0;
    Onnx__GraphProto *og = orig->graph;
    for (size_t i = 0; og && i < og->n_initializer; i++) {
        Onnx__TensorProto *t = og->initializer[i];
        size_t nb = 0;
        if (!t->name || !t->has_raw_data || !t->raw_data.data || !lookup(ctx, t->name, &nb) || nb != t->raw_data.len) continue;
        int32_t v = vm_graph_find_value(g, t->name);
        if (v >= 0 && g->values[v].data == (void *)t->raw_data.data) {
            g->values[v].data = NULL; /* borrowed (vm_import_opts.borrow_initializers): nothing to free */
            g->values[v].nbytes = 0;
            g->values[v].data_borrowed = false;
        }
        free(t->raw_data.data); /* protobuf-c's allocator in onnx_io.c is malloc/free underneath */
        t->raw_data.data = NULL;
        t->raw_data.len = 0;
        freed += nb;
    }
    return freed;
}

enum vm_status vm_export_onnx(const Onnx__ModelProto *orig, const struct vm_graph *g,
                              const struct vm_export_opts *o, vm_param_lookup lookup, void *ctx,
                              const char *path, struct vm_error *err) {
    struct ex e = {.err = err};
    enum vm_status s = VM_OK;
    struct vm_onnx_view view; /* a model exported before: read without its min-length block */
    const Onnx__GraphProto *og = vm_onnx_view_without_minlen(orig, &view);
    if (!og) return vm_errorf(err, VM_ENOMEM, "out of memory while exporting");
    Onnx__ModelProto m = *orig;
    Onnx__GraphProto gp = *og;
    m.graph = &gp;
    int opset = opset_of(orig);
    size_t extra = 48;
    /* the min-length pad block: the token ids must be the graph's only input */
    const char *min_ids = NULL;
    int32_t min_ids_dtype = 0;
    if (o->min_seq > 1 && opset >= 11) {
        int n_real = 0;
        for (size_t i = 0; i < og->n_input; i++) {
            bool init = false;
            for (size_t k = 0; k < og->n_initializer && !init; k++)
                init = og->initializer[k]->name && og->input[i]->name && !strcmp(og->initializer[k]->name, og->input[i]->name);
            if (init) continue;
            n_real++;
            const Onnx__ValueInfoProto *vi = og->input[i];
            if (vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
                (vi->type->tensor_type->elem_type == VM_DTYPE_INT64 || vi->type->tensor_type->elem_type == VM_DTYPE_INT32)) {
                min_ids = vi->name;
                min_ids_dtype = vi->type->tensor_type->elem_type;
            }
        }
        if (n_real != 1) min_ids = NULL;
    }
    /* initializers: trained values replace the originals */
    gp.initializer = ex_alloc(&e, sizeof(Onnx__TensorProto *) * (og->n_initializer + extra));
    gp.node = ex_alloc(&e, sizeof(Onnx__NodeProto *) * (og->n_node + extra));
    gp.output = ex_alloc(&e, sizeof(Onnx__ValueInfoProto *) * (og->n_output + 1));
    if (e.oom) goto oom;
    gp.n_initializer = 0;
    for (size_t i = 0; i < og->n_initializer; i++) {
        const Onnx__TensorProto *t = og->initializer[i];
        if (view.mem && t->name && !strncmp(t->name, "vmaskc.minlen.", 14)) continue; /* the old block's */
        size_t nb = 0;
        const void *trained = lookup && t->name ? lookup(ctx, t->name, &nb) : NULL;
        if (!trained) {
            Onnx__TensorProto *kept = og->initializer[i];
            if (vm_onnx_tensor_is_external(kept) && !(kept = inlined(&e, g, kept, err))) {
                if (e.oom) goto oom;
                s = err->code;
                goto done;
            }
            gp.initializer[gp.n_initializer++] = kept;
            continue;
        }
        int64_t dims[VM_MAX_RANK];
        for (size_t d = 0; d < t->n_dims && d < VM_MAX_RANK; d++) dims[d] = t->dims[d];
        Onnx__TensorProto *nt = mk_tensor_borrowed(&e, t->name, VM_DTYPE_FLOAT, (int)t->n_dims, dims, trained, nb);
        if (!nt) goto oom;
        gp.initializer[gp.n_initializer++] = nt;
    }
    for (size_t i = 0; i < og->n_node; i++)
        if (!(gp.node[i] = inlined_constant(&e, g, og->node[i], err))) {
            if (e.oom) goto oom;
            s = err->code;
            goto done;
        }
    gp.n_node = og->n_node;
    for (size_t i = 0; i < og->n_output; i++) gp.output[i] = og->output[i];
    gp.n_output = og->n_output;

    if (o->mask) {
        /* x: the value the mask multiplies; insert after its producer */
        char x_name[512], ids_name[512] = "";
        int32_t emb = -1;
        if ((s = vm_find_embedding(g, o->embedding, &emb, err))) goto done;
        if (o->mask_after) snprintf(x_name, sizeof x_name, "%s", o->mask_after);
        else if (emb >= 0) snprintf(x_name, sizeof x_name, "%s", g->values[g->nodes[emb].out[0]].name);
        else {
            s = vm_errorf(err, VM_EINVAL, "export: the model has no word embedding to attach the mask to");
            goto done;
        }
        if (emb >= 0) snprintf(ids_name, sizeof ids_name, "%s", g->values[g->nodes[emb].in[1]].name);
        size_t pos = 0;
        for (size_t i = 0; i < og->n_node; i++)
            for (size_t k = 0; k < og->node[i]->n_output; k++)
                if (og->node[i]->output[k] && !strcmp(og->node[i]->output[k], x_name)) pos = i + 1;
        /* rewire every reader of x to z */
        const char *z = "vmask.z";
        for (size_t i = 0; i < gp.n_node; i++) {
            bool reads = false;
            for (size_t k = 0; k < gp.node[i]->n_input; k++) reads |= gp.node[i]->input[k] && !strcmp(gp.node[i]->input[k], x_name);
            if (reads && !(gp.node[i] = renamed_inputs(&e, gp.node[i], x_name, z))) goto oom;
        }
        for (size_t i = 0; i < gp.n_output; i++) {
            if (strcmp(gp.output[i]->name, x_name)) continue;
            Onnx__ValueInfoProto *vi = ex_alloc(&e, sizeof *vi);
            if (!vi) goto oom;
            *vi = *gp.output[i];
            vi->name = (char *)z;
            gp.output[i] = vi;
        }
        Onnx__NodeProto *nn[32];
        int k = 0;
        const char *q_name = o->method == VM_METHOD_L2X ? "l2x.score" : o->method == VM_METHOD_IBA ? "iba.lambda" : "vmask.q";
        bool competitor = o->method == VM_METHOD_L2X || o->method == VM_METHOD_IBA;
        if (competitor && (o->mask_after || emb < 0)) {
            s = vm_errorf(err, VM_EUNSUPPORTED, "export: the %s layer is exported after the word embedding only", o->method == VM_METHOD_L2X ? "L2X" : "IBA");
            goto done;
        }
        if (competitor) {
            const struct vm_value *tv = &g->values[g->nodes[emb].in[0]];
            int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
            size_t nb;
            const float *table = lookup ? lookup(ctx, tv->name, &nb) : NULL;
            if (!table) table = tv->data;
            if ((s = export_competitor(&e, &gp, opset, o, table, V, E, x_name, ids_name, z, q_name, lookup, ctx, nn, &k, err))) goto done;
        } else if (!o->mask_after && emb >= 0) {
            /* exact per-word table */
            const struct vm_value *tv = &g->values[g->nodes[emb].in[0]];
            int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
            size_t nb;
            const float *table = lookup ? lookup(ctx, tv->name, &nb) : NULL;
            if (!table) table = tv->data;
            size_t n1, n2, n3, n4;
            const float *w1 = lookup(ctx, VM_MASK_W1, &n1), *b1 = lookup(ctx, VM_MASK_B1, &n2), *w2 = lookup(ctx, VM_MASK_W2, &n3),
                        *b2 = lookup(ctx, VM_MASK_B2, &n4);
            if (!w1 || !b1 || !w2 || !b2) {
                s = vm_errorf(err, VM_EINTERNAL, "export: the mask parameters are missing");
                goto done;
            }
            int64_t H = (int64_t)(n2 / sizeof(float));
            float *keep = ex_alloc(&e, sizeof(float) * (size_t)V);
            if (!keep) goto oom;
            vm_mask_word_keep(table, V, E, w1, b1, H, w2, b2, keep);
            for (int j = 0; j < o->n_keep_ids; j++)
                if (o->keep_ids[j] >= 0 && o->keep_ids[j] < V) keep[o->keep_ids[j]] = 1.0f;
            Onnx__TensorProto *kt = mk_tensor(&e, "vmask.word_keep", VM_DTYPE_FLOAT, 1, &V, keep, sizeof(float) * (size_t)V);
            if (!kt) goto oom;
            gp.initializer[gp.n_initializer++] = kt;
            const char *gin[2] = {"vmask.word_keep", ids_name};
            if (!(nn[k++] = mk_node(&e, "Gather", "vmask/Gather", 2, gin, q_name, mk_attr_int(&e, "axis", 0)))) goto oom;
        } else {
            /* the mask network */
            const char *names[4] = {VM_MASK_W1, VM_MASK_B1, VM_MASK_W2, VM_MASK_B2};
            size_t nbs[4];
            const void *data[4];
            for (int i = 0; i < 4; i++)
                if (!(data[i] = lookup(ctx, names[i], &nbs[i]))) {
                    s = vm_errorf(err, VM_EINTERNAL, "export: the mask parameters are missing");
                    goto done;
                }
            int64_t H = (int64_t)(nbs[1] / sizeof(float)), E = (int64_t)(nbs[0] / sizeof(float)) / H;
            int64_t d1[2] = {E, H}, d2[1] = {H}, d3[2] = {H, 2}, d4[1] = {2};
            const int64_t *dd[4] = {d1, d2, d3, d4};
            int rr[4] = {2, 1, 2, 1};
            for (int i = 0; i < 4; i++) {
                Onnx__TensorProto *t = mk_tensor(&e, names[i], VM_DTYPE_FLOAT, rr[i], dd[i], data[i], nbs[i]);
                if (!t) goto oom;
                gp.initializer[gp.n_initializer++] = t;
            }
            int64_t one = 1;
            Onnx__TensorProto *ki = mk_tensor(&e, "vmask.keep_index", VM_DTYPE_INT64, 0, NULL, &one, 8);
            if (!ki) goto oom;
            gp.initializer[gp.n_initializer++] = ki;
            const char *a1[2] = {x_name, VM_MASK_W1}, *a2[2] = {"vmask.h0", VM_MASK_B1}, *a3[1] = {"vmask.h1"}, *a4[2] = {"vmask.h", VM_MASK_W2},
                       *a5[2] = {"vmask.p0", VM_MASK_B2}, *a6[1] = {"vmask.p"}, *a7[2] = {"vmask.probs", "vmask.keep_index"};
            if (!(nn[k++] = mk_node(&e, "MatMul", "vmask/fc1/MatMul", 2, a1, "vmask.h0", NULL)) ||
                !(nn[k++] = mk_node(&e, "Add", "vmask/fc1/Add", 2, a2, "vmask.h1", NULL)) ||
                !(nn[k++] = mk_node(&e, "Tanh", "vmask/Tanh", 1, a3, "vmask.h", NULL)) ||
                !(nn[k++] = mk_node(&e, "MatMul", "vmask/fc2/MatMul", 2, a4, "vmask.p0", NULL)) ||
                !(nn[k++] = mk_node(&e, "Add", "vmask/fc2/Add", 2, a5, "vmask.p", NULL)) ||
                !(nn[k++] = mk_node(&e, "Softmax", "vmask/Softmax", 1, a6, "vmask.probs", mk_attr_int(&e, "axis", -1))) ||
                !(nn[k++] = mk_node(&e, "Gather", "vmask/keep", 2, a7, q_name, mk_attr_int(&e, "axis", -1))))
                goto oom;
        }
        if (!competitor) {
            int64_t minus1 = -1;
            if (!(nn[k++] = mk_axis_node(&e, &gp, opset, "Unsqueeze", "vmask/Unsqueeze", q_name, minus1, "vmask.r"))) goto oom;
            const char *mi[2] = {x_name, "vmask.r"};
            if (!(nn[k++] = mk_node(&e, "Mul", "vmask/Mul", 2, mi, z, NULL))) goto oom;
        }
        memmove(&gp.node[pos + (size_t)k], &gp.node[pos], sizeof(Onnx__NodeProto *) * (gp.n_node - pos));
        for (int i = 0; i < k; i++) gp.node[pos + (size_t)i] = nn[i];
        gp.n_node += (size_t)k;
        if (o->mask_output) {
            /* word_mask [B, T]: typed like the token-id input */
            Onnx__ValueInfoProto *vi = ex_alloc(&e, sizeof *vi);
            Onnx__TypeProto *tp = ex_alloc(&e, sizeof *tp);
            Onnx__TypeProto__Tensor *tt = ex_alloc(&e, sizeof *tt);
            if (!vi || !tp || !tt) goto oom;
            onnx__value_info_proto__init(vi);
            onnx__type_proto__init(tp);
            onnx__type_proto__tensor__init(tt);
            const Onnx__TensorShapeProto *shape = NULL;
            for (size_t i = 0; i < og->n_input; i++)
                if (og->input[i]->name && !strcmp(og->input[i]->name, ids_name) && og->input[i]->type &&
                    og->input[i]->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
                    shape = og->input[i]->type->tensor_type->shape;
            tt->has_elem_type = 1;
            tt->elem_type = VM_DTYPE_FLOAT;
            tt->shape = (Onnx__TensorShapeProto *)shape;
            tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
            tp->tensor_type = tt;
            vi->name = (char *)"word_mask";
            vi->type = tp;
            /* word_mask is the importance under its public name (cut back to the text's length
             * when the min-length block padded it) */
            const char *ii[1] = {q_name}, *sl[4] = {q_name, "vmaskc.minlen.zero", "vmaskc.minlen.T", "vmaskc.minlen.axis"};
            Onnx__NodeProto *idn = min_ids ? mk_node(&e, "Slice", VM_MINLEN_PREFIX "word_mask", 4, sl, "word_mask", NULL)
                                           : mk_node(&e, "Identity", "vmask/word_mask", 1, ii, "word_mask", NULL);
            if (!idn) goto oom;
            gp.node[gp.n_node++] = idn;
            gp.output[gp.n_output++] = vi;
        }
    }
    if (min_ids && !export_min_len(&e, &gp, min_ids, min_ids_dtype, o->seq_axis, o->min_seq, o->min_pad_id)) goto oom;
    /* metadata: original entries not overridden, the input roles training used (so every later
     * command feeds the inputs the same way), then ours */
    m.metadata_props = ex_alloc(&e, sizeof(Onnx__StringStringEntryProto *) *
                                        (orig->n_metadata_props + (size_t)o->n_meta + (size_t)g->n_meta + 2));
    if (!m.metadata_props) goto oom;
    m.n_metadata_props = 0;
    if (min_ids) {
        Onnx__StringStringEntryProto *kv = ex_alloc(&e, sizeof *kv);
        if (!kv) goto oom;
        onnx__string_string_entry_proto__init(kv);
        kv->key = (char *)VM_MINLEN_META;
        kv->value = (char *)min_ids;
        m.metadata_props[m.n_metadata_props++] = kv;
    }
    for (size_t i = 0; i < orig->n_metadata_props; i++) {
        bool overridden = orig->metadata_props[i]->key && !strcmp(orig->metadata_props[i]->key, VM_MINLEN_META);
        for (int k = 0; k < o->n_meta; k++)
            overridden |= orig->metadata_props[i]->key && !strcmp(orig->metadata_props[i]->key, o->meta_keys[k]);
        for (int32_t k = 0; k < g->n_meta; k++)
            overridden |= orig->metadata_props[i]->key && !strncmp(g->meta[k].key, "vmaskc.role.", 12) &&
                          !strcmp(orig->metadata_props[i]->key, g->meta[k].key);
        if (!overridden) m.metadata_props[m.n_metadata_props++] = orig->metadata_props[i];
    }
    for (int32_t k = 0; k < g->n_meta; k++) {
        if (strncmp(g->meta[k].key, "vmaskc.role.", 12)) continue;
        Onnx__StringStringEntryProto *kv = ex_alloc(&e, sizeof *kv);
        if (!kv) goto oom;
        onnx__string_string_entry_proto__init(kv);
        kv->key = g->meta[k].key;
        kv->value = g->meta[k].value;
        m.metadata_props[m.n_metadata_props++] = kv;
    }
    for (int k = 0; k < o->n_meta; k++) {
        Onnx__StringStringEntryProto *kv = ex_alloc(&e, sizeof *kv);
        if (!kv) goto oom;
        onnx__string_string_entry_proto__init(kv);
        kv->key = (char *)o->meta_keys[k];
        kv->value = (char *)o->meta_values[k];
        m.metadata_props[m.n_metadata_props++] = kv;
    }
    s = vm_onnx_save_model_split(path, &m, o->max_inline, err);
    goto done;
oom:
    s = vm_errorf(err, VM_ENOMEM, "out of memory while exporting");
done:
    for (size_t i = 0; i < e.n; i++) free(e.allocs[i]);
    free(e.allocs);
    vm_onnx_view_free(&view);
    return s;
}
