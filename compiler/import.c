/* import: ONNX ModelProto -> vm_graph.
 *
 * Resolves every edge by name in two passes (outputs first, then inputs) so a graph that is not
 * topologically sorted still imports; vm_graph_sort then orders it and reports cycles. Unsupported
 * ops are collected over the whole graph and reported in one message. Constant nodes become values
 * with data (no node). Attribute names are checked against the row's list: an attribute vmaskc
 * does not know is an error, never silently ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "ops.h"

/* vmaskc targets opsets 11-17. Older models import too, because an op's meaning only changes at the
 * versions where it was redefined: rows normalize the older forms they accept (Slice-1's
 * attributes, Squeeze-1's axes) and reject the others by their attributes or arity. */
#define VM_MIN_OPSET 1
#define VM_MAX_OPSET 17

/* The kind letter of the op table's attribute spec (ops.h) that an ONNX attribute type gives. */
static char onnx_attr_kind(int type) {
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return 'i';
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return 'f';
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return 's';
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return 'I';
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return 'F';
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return 'S';
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return 't';
    default: return 0;
    }
}

static const char *onnx_attr_type_name(int type) {
    static const char *const names[] = {"UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS",
                                        "STRINGS", "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO",
                                        "TYPE_PROTOS"};
    return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : "unknown";
}

struct required_ctx {
    const Onnx__NodeProto *np;
    const char *missing; /* first required attribute the node lacks */
    size_t missing_len;
};

static int find_missing_attr(const char *name, size_t len, char kind, void *ctx) {
    struct required_ctx *c = ctx;
    (void)kind;
    for (size_t i = 0; i < c->np->n_attribute; i++) {
        const char *an = c->np->attribute[i]->name;
        if (an && strlen(an) == len && strncmp(an, name, len) == 0) return 0;
    }
    c->missing = name;
    c->missing_len = len;
    return 1;
}

/* The model's external-data handle, opened at the first external tensor so models without any
 * never touch their folder. NULL model_path leaves it NULL (decoding then names the location). */
static enum vm_status external_of(struct vm_graph *g, const Onnx__TensorProto *tp, const char *model_path,
                                  struct vm_error *err) {
    if (g->external || !model_path || !vm_onnx_tensor_is_external(tp)) return VM_OK;
    return vm_onnx_external_open(model_path, &g->external, err);
}

static enum vm_status tensor_to_value(struct vm_graph *g, int32_t v, const Onnx__TensorProto *tp,
                                      const char *model_path, bool borrow, const char *what, struct vm_error *err) {
    struct vm_tensor t;
    if (external_of(g, tp, model_path, err)) return err->code;
    if (vm_onnx_tensor_decode_borrow(tp, g->external, what, borrow, &t, err)) return err->code;
    struct vm_value *val = &g->values[v];
    val->dtype = t.dtype;
    vm_value_set_shape_ints(val, t.rank, t.dims);
    if (t.borrowed) vm_value_borrow_data(val, t.data, t.nbytes);
    else vm_value_set_data(val, t.data, t.nbytes);
    t.data = NULL;
    vm_tensor_free(&t);
    return VM_OK;
}

/* Constant node: the output becomes a known value. The attribute's name and ONNX type must agree
 * (value: TENSOR, value_float: FLOAT, ...), so a malformed node is an error, not a guess. */
static enum vm_status import_constant(struct vm_graph *g, const Onnx__NodeProto *np, int32_t v,
                                      const char *model_path, struct vm_error *err) {
    char what[600];
    snprintf(what, sizeof what, "node '%s' (Constant)", np->name ? np->name : "");
    if (np->n_attribute != 1)
        return vm_errorf(err, VM_EFORMAT, "%s: expected exactly one attribute, found %zu", what, np->n_attribute);
    const Onnx__AttributeProto *a = np->attribute[0];
    if (!a->name || !*a->name) return vm_errorf(err, VM_EFORMAT, "%s: its attribute has no name", what);
    int type = a->has_type ? (int)a->type : 0;
    static const struct {
        const char *name;
        int type;
    } forms[] = {
        {"value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR},
        {"value_float", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT},
        {"value_int", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT},
        {"value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS},
        {"value_ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS},
    };
    int form = -1;
    for (int k = 0; k < (int)(sizeof forms / sizeof forms[0]); k++)
        if (strcmp(a->name, forms[k].name) == 0) form = k;
    if (form < 0)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s: attribute '%s' is not supported (vmaskc reads value, value_float(s), value_int(s))",
                         what, a->name);
    if (type != forms[form].type)
        return vm_errorf(err, VM_EFORMAT, "%s: attribute '%s' must have type %s, the model gives %s", what, a->name,
                         onnx_attr_type_name(forms[form].type), onnx_attr_type_name(type));
    struct vm_value *val = &g->values[v];
    if (form == 0) {
        if (!a->t) return vm_errorf(err, VM_EFORMAT, "%s: attribute 'value' holds no tensor", what);
        return tensor_to_value(g, v, a->t, model_path, false, what, err);
    }
    bool isf = form == 1 || form == 3;
    size_t esz = isf ? 4 : 8;
    size_t n = form <= 2 ? 1 : (isf ? a->n_floats : a->n_ints);
    void *d = vm_malloc(n ? n * esz : esz, err);
    if (!d) return VM_ENOMEM;
    if (form <= 2) memcpy(d, isf ? (const void *)&a->f : (const void *)&a->i, esz);
    else if (n) memcpy(d, isf ? (const void *)a->floats : (const void *)a->ints, n * esz);
    int64_t dim = (int64_t)n;
    val->dtype = isf ? VM_DTYPE_FLOAT : VM_DTYPE_INT64;
    vm_value_set_shape_ints(val, form <= 2 ? 0 : 1, &dim);
    vm_value_set_data(val, d, n * esz);
    return VM_OK;
}

static enum vm_status import_attrs(struct vm_graph *g, int32_t node, const Onnx__NodeProto *np,
                                   const struct vm_op_row *row, const char *model_path, struct vm_error *err) {
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        if (!a->name) return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute without a name");
        if (a->ref_attr_name)
            return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "attribute '%s' refers to a function attribute", a->name);
        char kind;
        if (!vm_op_attr_spec(row, a->name, &kind, NULL))
            return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "attribute '%s' is not supported by vmaskc", a->name);
        for (size_t j = 0; j < i; j++)
            if (np->attribute[j]->name && strcmp(np->attribute[j]->name, a->name) == 0)
                return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' is given twice", a->name);
        enum vm_status s = VM_OK;
        int type = a->has_type ? (int)a->type : 0;
        if (onnx_attr_kind(type) != kind)
            return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' must be of type %s, the model gives %s", a->name,
                                  vm_op_attr_kind_name(kind), onnx_attr_type_name(type));
        switch (type) {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: s = vm_node_set_int(g, node, a->name, a->i, err); break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: s = vm_node_set_float(g, node, a->name, a->f, err); break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
            char *str = vm_malloc(a->s.len + 1, err);
            if (!str) return VM_ENOMEM;
            if (a->s.len) memcpy(str, a->s.data, a->s.len); /* an absent s has data NULL */
            str[a->s.len] = 0;
            s = vm_node_set_string(g, node, a->name, str, err);
            free(str);
            break;
        }
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: s = vm_node_set_ints(g, node, a->name, a->ints, (int32_t)a->n_ints, err); break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: {
            double *d = vm_malloc((a->n_floats + 1) * sizeof *d, err);
            if (!d) return VM_ENOMEM;
            for (size_t k = 0; k < a->n_floats; k++) d[k] = a->floats[k];
            s = vm_node_set_floats(g, node, a->name, d, (int32_t)a->n_floats, err);
            free(d);
            break;
        }
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: {
            /* Only LSTM's `activations` uses a string list; keep it as one comma-joined string. */
            size_t len = 1;
            for (size_t k = 0; k < a->n_strings; k++) len += a->strings[k].len + 1;
            char *str = vm_calloc(len, 1, err);
            if (!str) return VM_ENOMEM;
            for (size_t k = 0; k < a->n_strings; k++) {
                if (k) strcat(str, ",");
                if (a->strings[k].len) strncat(str, (const char *)a->strings[k].data, a->strings[k].len);
            }
            s = vm_node_set_string(g, node, a->name, str, err);
            free(str);
            break;
        }
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
            /* ConstantOfShape's one-element `value`: kept as a float plus its dtype. */
            if (!a->t) return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' has no tensor", a->name);
            struct vm_tensor t;
            char what[600];
            snprintf(what, sizeof what, "node '%s' attribute '%s'", g->nodes[node].name, a->name);
            if (external_of(g, a->t, model_path, err) || vm_onnx_tensor_decode_ext(a->t, g->external, what, &t, err)) return err->code;
            int64_t n = vm_numel(t.dims, t.rank);
            if (n != 1) {
                vm_tensor_free(&t);
                return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "attribute '%s' must hold one element", a->name);
            }
            struct vm_value tmp = {.dtype = t.dtype, .data = t.data, .nbytes = t.nbytes};
            double x = vm_value_data_f64(&tmp, 0);
            char dn[300];
            snprintf(dn, sizeof dn, "%s_dtype", a->name);
            s = vm_node_set_float(g, node, a->name, x, err);
            if (!s) s = vm_node_set_int(g, node, dn, t.dtype, err);
            vm_tensor_free(&t);
            break;
        }
        default:
            return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "attribute '%s' has a kind vmaskc does not support (graphs, sparse tensors, type protos)", a->name);
        }
        if (s) return s;
    }
    struct required_ctx rc = {.np = np};
    if (vm_op_each_required_attr(row, find_missing_attr, &rc))
        return vm_node_errorf(g, node, err, VM_EFORMAT, "required attribute '%.*s' is missing", (int)rc.missing_len,
                              rc.missing);
    return VM_OK;
}

static enum vm_status import_input(struct vm_graph *g, const Onnx__ValueInfoProto *vi,
                                   const struct vm_import_opts *o, struct vm_error *err) {
    const char *name = vi->name;
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return vm_errorf(err, VM_EUNSUPPORTED, "graph input '%s' is not a tensor (sequences, maps and optionals are not supported)", name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    int32_t v = vm_graph_add_value(g, name, tt->has_elem_type ? tt->elem_type : 0, err);
    if (v < 0) return err->code;
    struct vm_value *val = &g->values[v];
    for (int i = 0; o && i < o->n_fixed; i++) {
        const struct vm_tensor *t = &o->fixed[i];
        if (!t->name || strcmp(t->name, name) != 0) continue;
        void *d = vm_malloc(t->nbytes, err);
        if (!d) return VM_ENOMEM;
        memcpy(d, t->data, t->nbytes);
        val->dtype = t->dtype;
        vm_value_set_shape_ints(val, t->rank, t->dims);
        vm_value_set_data(val, d, t->nbytes);
        return VM_OK;
    }
    if (vm_dtype_size(val->dtype) == 0)
        return vm_errorf(err, VM_EUNSUPPORTED, "graph input '%s' has element type %s, which vmaskc does not support",
                         name, vm_dtype_name(val->dtype));
    const Onnx__TensorShapeProto *sp = tt->shape;
    for (int i = 0; o && i < o->n_shapes; i++) {
        if (strcmp(o->shapes[i].name, name) != 0) continue;
        if (sp && (int)sp->n_dim != o->shapes[i].rank)
            return vm_errorf(err, VM_EINVAL, "--shape %s: the model's input has rank %zu, not %d", name, sp->n_dim, o->shapes[i].rank);
        vm_value_set_shape_ints(val, o->shapes[i].rank, o->shapes[i].dims);
        goto done;
    }
    if (!sp)
        return vm_errorf(err, VM_EUNSUPPORTED, "graph input '%s' has no shape (not even a rank); give one with --shape %s=D0,D1,...", name, name);
    if (sp->n_dim > VM_MAX_RANK)
        return vm_errorf(err, VM_EUNSUPPORTED, "graph input '%s' has rank %zu; vmaskc supports at most %d", name, sp->n_dim, VM_MAX_RANK);
    val->rank = (int32_t)sp->n_dim;
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0) return vm_errorf(err, VM_EFORMAT, "graph input '%s' has a negative dimension", name);
            val->dims[i] = vm_dim_const(d->dim_value);
        } else {
            char sym[300];
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param && *d->dim_param)
                snprintf(sym, sizeof sym, "%s", d->dim_param);
            else
                snprintf(sym, sizeof sym, "%s_dim%zu", name, i);
            int s = vm_graph_add_symbol(g, sym, err);
            if (s < 0) return err->code;
            val->dims[i] = vm_dim_sym(s);
        }
    }
done:
    val->flags |= VM_VALUE_INPUT;
    int32_t *ni = vm_realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *ni, err);
    if (!ni) return VM_ENOMEM;
    g->inputs = ni;
    g->inputs[g->n_inputs++] = v;
    return VM_OK;
}

static const char *minlen_ids(const Onnx__ModelProto *m) {
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && !strcmp(m->metadata_props[i]->key, VM_MINLEN_META)) return m->metadata_props[i]->value;
    return NULL;
}

const Onnx__GraphProto *vm_onnx_view_without_minlen(const Onnx__ModelProto *m, struct vm_onnx_view *view) {
    memset(view, 0, sizeof *view);
    const Onnx__GraphProto *gp = m->graph;
    const char *ids = minlen_ids(m);
    if (!gp || !ids || !*ids) return gp;
    size_t pl = strlen(VM_MINLEN_PREFIX), n = gp->n_node, n_in = 0;
    for (size_t i = 0; i < n; i++) n_in += gp->node[i]->n_input;
    /* one block: the node pointer array, then node copies, then input pointer arrays */
    size_t bytes = n * sizeof(Onnx__NodeProto *) + n * sizeof(Onnx__NodeProto) + (n_in + 1) * sizeof(char *);
    char *mem = calloc(1, bytes);
    if (!mem) return NULL;
    view->mem = mem;
    Onnx__NodeProto **nodes = (Onnx__NodeProto **)mem;
    Onnx__NodeProto *copies = (Onnx__NodeProto *)(mem + n * sizeof *nodes);
    char **ins = (char **)(mem + n * sizeof *nodes + n * sizeof *copies);
    view->graph = *gp;
    view->graph.node = nodes;
    view->graph.n_node = 0;
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        bool block = np->name && !strncmp(np->name, VM_MINLEN_PREFIX, pl);
        if (block && strcmp(np->name + pl, "word_mask")) continue;
        Onnx__NodeProto *c = &copies[i];
        *c = *np;
        if (block) { /* word_mask = the mask itself */
            c->op_type = (char *)"Identity";
            c->n_input = np->n_input ? 1 : 0;
            c->n_attribute = 0;
        }
        c->input = ins;
        for (size_t k = 0; k < c->n_input; k++)
            *ins++ = np->input[k] && !strcmp(np->input[k], VM_MINLEN_IDS) ? (char *)ids : np->input[k];
        nodes[view->graph.n_node++] = c;
    }
    return &view->graph;
}

void vm_onnx_view_free(struct vm_onnx_view *view) {
    free(view->mem);
    view->mem = NULL;
}

enum vm_status vm_import(const Onnx__ModelProto *m, const struct vm_import_opts *o,
                         struct vm_graph **out, struct vm_error *err) {
    *out = NULL;
    if (!m->has_ir_version || m->ir_version < 3 || m->ir_version > 8)
        return vm_errorf(err, VM_EUNSUPPORTED, "ONNX IR version %lld is not supported (vmaskc reads IR versions 3 to 8, i.e. ONNX up to 1.12)",
                         (long long)m->ir_version);
    int64_t opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = m->opset_import[i];
        if (!os->domain || !*os->domain || strcmp(os->domain, "ai.onnx") == 0) opset = os->version;
    }
    if (opset < 0) return vm_errorf(err, VM_EFORMAT, "the model imports no default-domain opset");
    if (opset < VM_MIN_OPSET || opset > VM_MAX_OPSET)
        return vm_errorf(err, VM_EUNSUPPORTED, "opset %lld is not supported (vmaskc supports default-domain opsets %d to %d)",
                         (long long)opset, VM_MIN_OPSET, VM_MAX_OPSET);
    struct vm_onnx_view view;
    const Onnx__GraphProto *gp = vm_onnx_view_without_minlen(m, &view);
    if (!gp) return vm_errorf(err, VM_ENOMEM, "out of memory reading the graph");
    const char *model_path = o ? o->model_path : NULL;

    struct vm_graph *g = vm_graph_new(err);
    if (!g) {
        vm_onnx_view_free(&view);
        return VM_ENOMEM;
    }
    g->opset = opset;
    g->ir_version = m->ir_version;
    enum vm_status s = VM_OK;

    /* Unsupported ops and model-local functions first, all at once. */
    {
        char list[900] = "";
        size_t pos = 0;
        int n_bad = 0;
        for (size_t i = 0; i < gp->n_node; i++) {
            const Onnx__NodeProto *np = gp->node[i];
            const char *dom = np->domain ? np->domain : "";
            if (!np->op_type) {
                s = vm_errorf(err, VM_EFORMAT, "node %zu has no op_type", i);
                goto fail;
            }
            if (strcmp(np->op_type, "Constant") == 0 && !*dom) continue;
            if (vm_op_find(dom, np->op_type) >= 0 && (!*dom || strcmp(dom, "ai.onnx") == 0)) continue;
            bool seen = false;
            for (size_t j = 0; j < i; j++) {
                const Onnx__NodeProto *pj = gp->node[j];
                if (strcmp(pj->op_type, np->op_type) == 0 && strcmp(pj->domain ? pj->domain : "", dom) == 0) seen = true;
            }
            if (seen) continue;
            bool is_func = false;
            for (size_t f = 0; f < m->n_functions; f++)
                if (m->functions[f]->name && strcmp(m->functions[f]->name, np->op_type) == 0) is_func = true;
            n_bad++;
            int w = snprintf(list + pos, sizeof list - pos, "%s%s%s%s%s (node '%s')", pos ? ", " : "",
                             *dom ? dom : "", *dom ? "." : "", np->op_type,
                             is_func ? " [model-local function; vmaskc does not inline functions]" : "",
                             np->name ? np->name : "");
            if (w > 0 && pos + (size_t)w < sizeof list) pos += (size_t)w;
        }
        if (n_bad) {
            /* PyTorch's pack_padded_sequence exports as TopK (sort by length) + ScatterElements
             * (unsort) around an LSTM/GRU with a per-text sequence_lens: say what to change */
            bool topk = strstr(list, "TopK (") != NULL, scatter = strstr(list, "ScatterElements (") != NULL, rnn = false;
            for (size_t i = 0; i < gp->n_node && topk && scatter; i++)
                rnn |= gp->node[i]->op_type && (!strcmp(gp->node[i]->op_type, "LSTM") || !strcmp(gp->node[i]->op_type, "GRU")) &&
                       gp->node[i]->n_input > 4 && gp->node[i]->input[4] && *gp->node[i]->input[4];
            s = vm_errorf(err, VM_EUNSUPPORTED, "%d unsupported op%s: %s%s", n_bad, n_bad > 1 ? "s" : "", list,
                          rnn ? " — the pattern of an RNN exported from pack_padded_sequence (texts sorted by length, "
                                "per-text sequence_lens), which vmaskc does not run: export the model without packing "
                                "(the LSTM then reads the pad tokens too, as the VMASK release's does)"
                              : "");
            goto fail;
        }
    }

    /* Initializers. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name) {
            s = vm_errorf(err, VM_EFORMAT, "initializer %zu has no name", i);
            goto fail;
        }
        int32_t v = vm_graph_add_value(g, tp->name, 0, err);
        if (v < 0) {
            s = err->code;
            goto fail;
        }
        char what[600];
        snprintf(what, sizeof what, "initializer '%s'", tp->name);
        if ((s = tensor_to_value(g, v, tp, model_path, o && o->borrow_initializers, what, err))) goto fail;
        g->values[v].flags |= VM_VALUE_INIT;
    }
    if (gp->n_sparse_initializer) {
        s = vm_errorf(err, VM_EUNSUPPORTED, "sparse initializers are not supported");
        goto fail;
    }
    /* Graph inputs (IR < 4 lists initializers as inputs too: those stay constants). */
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name) {
            s = vm_errorf(err, VM_EFORMAT, "graph input %zu has no name", i);
            goto fail;
        }
        if (vm_graph_find_value(g, vi->name) >= 0) continue;
        if ((s = import_input(g, vi, o, err))) goto fail;
    }
    /* a --shape for an input the graph does not have is a mistake, not a no-op */
    for (int i = 0; o && i < o->n_shapes; i++) {
        bool found = false;
        char names[512] = "";
        size_t pos = 0;
        for (size_t k = 0; k < gp->n_input; k++) {
            const char *nm = gp->input[k]->name;
            if (!nm) continue;
            found |= strcmp(nm, o->shapes[i].name) == 0;
            int w = snprintf(names + pos, sizeof names - pos, "%s%s", pos ? ", " : "", nm);
            if (w > 0 && pos + (size_t)w < sizeof names) pos += (size_t)w;
        }
        if (!found) {
            s = vm_errorf(err, VM_EINVAL, "--shape %s: the model has no input '%s' (its inputs: %s)", o->shapes[i].name,
                          o->shapes[i].name, names);
            goto fail;
        }
    }
    /* Node outputs, then node inputs. */
    int32_t *node_of = vm_malloc((gp->n_node + 1) * sizeof *node_of, err);
    if (!node_of) {
        s = VM_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        node_of[i] = -1;
        int32_t outs[32];
        if (np->n_output > 32) {
            s = vm_errorf(err, VM_EUNSUPPORTED, "node '%s' has %zu outputs", np->name ? np->name : "", np->n_output);
            break;
        }
        for (size_t k = 0; k < np->n_output; k++) {
            const char *on = np->output[k];
            if (!on || !*on) {
                outs[k] = -1;
                continue;
            }
            outs[k] = vm_graph_add_value(g, on, 0, err);
            if (outs[k] < 0) {
                s = vm_errorf(err, VM_EFORMAT, "node '%s' (%s): output '%s' is already defined elsewhere", np->name ? np->name : "",
                              np->op_type, on);
                break;
            }
        }
        if (s) break;
        if (strcmp(np->op_type, "Constant") == 0) {
            if (np->n_output != 1 || outs[0] < 0) {
                s = vm_errorf(err, VM_EFORMAT, "Constant node '%s' must have one output", np->name ? np->name : "");
                break;
            }
            if ((s = import_constant(g, np, outs[0], model_path, err))) break;
            continue;
        }
        int32_t op = vm_op_find(np->domain, np->op_type);
        const struct vm_op_row *row = vm_op_row(op);
        char nm[64];
        const char *name = np->name;
        if (!name || !*name) {
            snprintf(nm, sizeof nm, "%s_%zu", np->op_type, i);
            name = nm;
        }
        int32_t id = vm_graph_add_node(g, op, name, 0, NULL, (int32_t)np->n_output, outs, err);
        if (id < 0) {
            s = err->code;
            break;
        }
        node_of[i] = id;
        if ((int)np->n_output < row->min_out || (row->max_out != VM_OP_VARIADIC && (int)np->n_output > row->max_out)) {
            s = vm_node_errorf(g, id, err, VM_EFORMAT, "has %zu outputs; the op takes %d to %d", np->n_output, row->min_out, row->max_out);
            break;
        }
        if ((s = import_attrs(g, id, np, row, model_path, err))) break;
    }
    for (size_t i = 0; !s && i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        int32_t id = node_of[i];
        if (id < 0) continue;
        struct vm_node *n = &g->nodes[id];
        const struct vm_op_row *row = vm_op_row(n->op);
        if ((int)np->n_input < row->min_in || (row->max_in != VM_OP_VARIADIC && (int)np->n_input > row->max_in)) {
            s = vm_node_errorf(g, id, err, VM_EFORMAT, "has %zu inputs; the op takes %d to %d", np->n_input, row->min_in,
                               row->max_in == VM_OP_VARIADIC ? 9999 : row->max_in);
            break;
        }
        n->in = vm_realloc(n->in, (np->n_input + 1) * sizeof *n->in, err);
        if (!n->in) {
            s = VM_ENOMEM;
            break;
        }
        n->n_in = (int32_t)np->n_input;
        for (size_t k = 0; k < np->n_input; k++) {
            const char *in = np->input[k];
            if (!in || !*in) {
                n->in[k] = -1;
                continue;
            }
            n->in[k] = vm_graph_find_value(g, in);
            if (n->in[k] < 0) {
                s = vm_node_errorf(g, id, err, VM_EFORMAT, "input '%s' is not produced by any node, initializer or graph input", in);
                break;
            }
        }
        if (!s) s = vm_node_check_required(g, id, err);
        if (!s && row->normalize) s = row->normalize(g, id, err);
    }
    free(node_of);
    if (s) goto fail;

    /* Graph outputs. */
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *on = gp->output[i]->name;
        int32_t v = on ? vm_graph_find_value(g, on) : -1;
        if (v < 0) {
            s = vm_errorf(err, VM_EFORMAT, "graph output '%s' is not produced by any node", on ? on : "");
            goto fail;
        }
        int32_t *no = vm_realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *no, err);
        if (!no) {
            s = VM_ENOMEM;
            goto fail;
        }
        g->outputs = no;
        g->outputs[g->n_outputs++] = v;
        g->values[v].flags |= VM_VALUE_OUTPUT;
    }
    if (!g->n_outputs) {
        s = vm_errorf(err, VM_EFORMAT, "the graph has no outputs");
        goto fail;
    }
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        if (e->key && e->value && (s = vm_graph_set_meta(g, e->key, e->value, err))) goto fail;
    }
    if ((s = vm_graph_sort(g, err))) goto fail;
    vm_onnx_view_free(&view);
    *out = g;
    return VM_OK;
fail:
    vm_onnx_view_free(&view);
    vm_graph_free(g);
    return s;
}
