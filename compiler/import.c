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

static bool attr_allowed(const struct vm_op_row *row, const char *name) {
    if (!row->attrs) return false;
    size_t n = strlen(name);
    for (const char *p = row->attrs; *p;) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if ((size_t)(e - p) == n && strncmp(p, name, n) == 0) return true;
        p = e;
    }
    return false;
}

static enum vm_status tensor_to_value(struct vm_graph *g, int32_t v, const Onnx__TensorProto *tp,
                                      const char *what, struct vm_error *err) {
    struct vm_tensor t;
    if (vm_onnx_tensor_decode(tp, what, &t, err)) return err->code;
    struct vm_value *val = &g->values[v];
    val->dtype = t.dtype;
    vm_value_set_shape_ints(val, t.rank, t.dims);
    vm_value_set_data(val, t.data, t.nbytes);
    t.data = NULL;
    vm_tensor_free(&t);
    return VM_OK;
}

/* Constant node: the output becomes a known value. */
static enum vm_status import_constant(struct vm_graph *g, const Onnx__NodeProto *np, int32_t v,
                                      struct vm_error *err) {
    if (np->n_attribute != 1)
        return vm_errorf(err, VM_EFORMAT, "node '%s' (Constant): expected exactly one attribute", np->name ? np->name : "");
    const Onnx__AttributeProto *a = np->attribute[0];
    char what[600];
    snprintf(what, sizeof what, "node '%s' (Constant)", np->name ? np->name : "");
    struct vm_value *val = &g->values[v];
    if (!a->name) return vm_errorf(err, VM_EFORMAT, "%s: attribute without a name", what); /* interim guard (fuzz branch) */
    if (strcmp(a->name, "value") == 0 && a->t) return tensor_to_value(g, v, a->t, what, err);
    if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0) {
        bool isf = a->name[6] == 'f';
        void *d = vm_malloc(isf ? 4 : 8, err);
        if (!d) return VM_ENOMEM;
        if (isf) memcpy(d, &a->f, 4);
        else memcpy(d, &a->i, 8);
        val->dtype = isf ? VM_DTYPE_FLOAT : VM_DTYPE_INT64;
        vm_value_set_shape_ints(val, 0, NULL);
        vm_value_set_data(val, d, isf ? 4 : 8);
        return VM_OK;
    }
    if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
        bool isf = a->name[6] == 'f';
        size_t n = isf ? a->n_floats : a->n_ints;
        void *d = vm_malloc(n * (isf ? 4 : 8), err);
        if (!d) return VM_ENOMEM;
        if (n) memcpy(d, isf ? (void *)a->floats : (void *)a->ints, n * (isf ? 4 : 8));
        int64_t dim = (int64_t)n;
        val->dtype = isf ? VM_DTYPE_FLOAT : VM_DTYPE_INT64;
        vm_value_set_shape_ints(val, 1, &dim);
        vm_value_set_data(val, d, n * (isf ? 4 : 8));
        return VM_OK;
    }
    return vm_errorf(err, VM_EUNSUPPORTED, "%s: attribute '%s' is not supported (vmaskc reads value, value_float(s), value_int(s))",
                     what, a->name);
}

static enum vm_status import_attrs(struct vm_graph *g, int32_t node, const Onnx__NodeProto *np,
                                   const struct vm_op_row *row, struct vm_error *err) {
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        if (!a->name) return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute without a name");
        if (a->ref_attr_name)
            return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "attribute '%s' refers to a function attribute", a->name);
        if (!attr_allowed(row, a->name))
            return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "attribute '%s' is not supported by vmaskc", a->name);
        enum vm_status s = VM_OK;
        int type = a->has_type ? (int)a->type : 0;
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
            if (vm_onnx_tensor_decode(a->t, what, &t, err)) return err->code;
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
    const Onnx__GraphProto *gp = m->graph;

    struct vm_graph *g = vm_graph_new(err);
    if (!g) return VM_ENOMEM;
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
            s = vm_errorf(err, VM_EUNSUPPORTED, "%d unsupported op%s: %s", n_bad, n_bad > 1 ? "s" : "", list);
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
        if ((s = tensor_to_value(g, v, tp, what, err))) goto fail;
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
            if ((s = import_constant(g, np, outs[0], err))) break;
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
        if ((s = import_attrs(g, id, np, row, err))) break;
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
    *out = g;
    return VM_OK;
fail:
    vm_graph_free(g);
    return s;
}
