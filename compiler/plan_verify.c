/* plan_verify: checks a plan file that came from outside this process before the runtime trusts it.
 *
 * The runtime's kernels rely on what the compiler guarantees when it emits a plan: every step's
 * attributes are valid for its op and its outputs have exactly the shapes and dtypes its op computes
 * from its inputs. A plan file can be edited, truncated or forged, so `vmaskc` rebuilds the IR from
 * the plan (values with their symbolic shapes and known content, one node per step) and runs every
 * step through its op row — the same required-input, attribute-kind and infer checks an imported
 * ONNX node gets — comparing what the row computes with what the plan declares. Steps must read
 * only values that exist before them. The runtime itself never includes the compiler (DESIGN.md);
 * the tool calls this first for every plan it loads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "ops.h"
#include "vmplan.pb-c.h"

static enum vm_status plan_dim(struct vm_graph *g, const Vmplan__Dim *pd, struct vm_dim *out, struct vm_error *err) {
    *out = vm_dim_const(0);
    if (!pd || pd->n_term > VM_DIM_TERMS) return vm_errorf(err, VM_EFORMAT, "a dimension has too many terms");
    for (size_t i = 0; i < pd->n_term; i++) {
        const Vmplan__Term *t = pd->term[i];
        if (t->n_sym > VM_DIM_DEGREE) return vm_errorf(err, VM_EFORMAT, "a dimension term has too many symbols");
        struct vm_dim term = vm_dim_const(t->coef);
        for (size_t k = 0; k < t->n_sym; k++) {
            if (t->sym[k] < 0 || t->sym[k] >= g->n_symbols)
                return vm_errorf(err, VM_EFORMAT, "a dimension names symbol %d of %d", t->sym[k], g->n_symbols);
            struct vm_dim s = vm_dim_sym(t->sym[k]);
            if (vm_dim_mul(&term, &term, &s)) return vm_errorf(err, VM_EFORMAT, "a dimension is not a small polynomial");
        }
        if (vm_dim_add(out, out, &term)) return vm_errorf(err, VM_EFORMAT, "a dimension is not a small polynomial");
    }
    return VM_OK;
}

static enum vm_status plan_value(struct vm_graph *g, const Vmplan__Plan *pp, size_t i, struct vm_error *err) {
    const Vmplan__Value *pv = pp->value[i];
    char fresh[32];
    snprintf(fresh, sizeof fresh, "value_%zu", i);
    const char *name = pv->name && *pv->name ? pv->name : fresh;
    int32_t v = vm_graph_add_value(g, name, pv->dtype, err);
    if (v < 0) return vm_errorf(err, VM_EFORMAT, "value %zu ('%s') is defined twice", i, name);
    VM_ASSERT(v == (int32_t)i);
    if (pv->n_dim > VM_MAX_RANK) return vm_errorf(err, VM_EFORMAT, "value '%s' has rank %zu", name, pv->n_dim);
    if (vm_dtype_size(pv->dtype) == 0) return vm_errorf(err, VM_EFORMAT, "value '%s' has type %s", name, vm_dtype_name(pv->dtype));
    struct vm_dim dims[VM_MAX_RANK];
    for (size_t d = 0; d < pv->n_dim; d++)
        if (plan_dim(g, pv->dim[d], &dims[d], err)) return vm_error_prefix(err, "value '%s'", name);
    struct vm_value *val = &g->values[v];
    vm_value_set_shape(val, (int)pv->n_dim, dims);
    val->flags = pv->flags;
    if (pv->n_known) {
        struct vm_dim *known = vm_malloc(pv->n_known * sizeof *known, err);
        if (!known) return VM_ENOMEM;
        enum vm_status s = VM_OK;
        for (size_t k = 0; k < pv->n_known && !s; k++) s = plan_dim(g, pv->known[k], &known[k], err);
        if (!s) s = vm_value_set_known(val, known, (int64_t)pv->n_known, err);
        free(known);
        if (s) return vm_error_prefix(err, "value '%s'", name);
    } else if (pv->flags & VM_VALUE_INIT) {
        int64_t n = vm_value_numel(val);
        size_t want;
        if (n < 0 || __builtin_mul_overflow((size_t)n, vm_dtype_size(pv->dtype), &want) || want != pv->init_bytes ||
            pv->init_offset > pp->init_blob.len || pv->init_bytes > pp->init_blob.len - pv->init_offset)
            return vm_errorf(err, VM_EFORMAT, "value '%s': its initializer does not fit its shape or the plan's blob", name);
        /* borrowed: the caller's plan bytes outlive the check */
        vm_value_borrow_data(val, pp->init_blob.data + pv->init_offset, pv->init_bytes);
    }
    return VM_OK;
}

static enum vm_status plan_attrs(struct vm_graph *g, int32_t node, const Vmplan__Step *ps, struct vm_error *err) {
    for (size_t k = 0; k < ps->n_attr; k++) {
        const Vmplan__Attr *a = ps->attr[k];
        if (!a->name) return vm_node_errorf(g, node, err, VM_EFORMAT, "an attribute has no name");
        enum vm_status s;
        switch (a->type) {
        case VM_ATTR_INT: s = vm_node_set_int(g, node, a->name, a->i, err); break;
        case VM_ATTR_FLOAT: s = vm_node_set_float(g, node, a->name, a->f, err); break;
        case VM_ATTR_STRING: s = vm_node_set_string(g, node, a->name, a->s ? a->s : "", err); break;
        case VM_ATTR_INTS:
            if (a->n_ints > 1024) return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' is too long", a->name);
            s = vm_node_set_ints(g, node, a->name, a->ints, (int32_t)a->n_ints, err);
            break;
        case VM_ATTR_FLOATS:
            if (a->n_floats > 1024) return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' is too long", a->name);
            s = vm_node_set_floats(g, node, a->name, a->floats, (int32_t)a->n_floats, err);
            break;
        default: return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' has unknown type %d", a->name, a->type);
        }
        if (s) return s;
        /* a declared attribute must have its declared kind (a tensor attribute is kept as a float) */
        char kind;
        const struct vm_op_row *row = vm_op_row(g->nodes[node].op);
        if (vm_op_attr_spec(row, a->name, &kind, NULL)) {
            static const char expect[] = {0, 'i', 'f', 's', 'I', 'F'};
            char have = expect[a->type];
            bool ok = have == kind || (kind == 't' && have == 'f') || (kind == 'S' && have == 's');
            if (!ok)
                return vm_node_errorf(g, node, err, VM_EFORMAT, "attribute '%s' must be of type %s", a->name,
                                      vm_op_attr_kind_name(kind));
        }
    }
    return VM_OK;
}

/* Runs step i's op row and compares its outputs with the plan's declaration. */
static enum vm_status plan_step(struct vm_graph *g, const Vmplan__Step *ps, size_t i, bool *defined,
                                struct vm_error *err) {
    if (!ps->op) return vm_errorf(err, VM_EFORMAT, "step %zu has no op", i);
    int32_t op = vm_op_find(NULL, ps->op);
    if (op < 0) op = vm_op_find("vmaskc", ps->op);
    if (op < 0) return vm_errorf(err, VM_EFORMAT, "step %zu: op '%s' is not one vmaskc runs", i, ps->op);
    if (ps->n_input > 64 || ps->n_output > 64) return vm_errorf(err, VM_EFORMAT, "step %zu has too many inputs or outputs", i);
    int32_t in[64], out[64];
    for (size_t k = 0; k < ps->n_input; k++) {
        in[k] = ps->input[k];
        if (in[k] < -1 || in[k] >= g->n_values) return vm_errorf(err, VM_EFORMAT, "step %zu reads value %d, which does not exist", i, in[k]);
        if (in[k] >= 0 && !defined[in[k]])
            return vm_errorf(err, VM_EFORMAT, "step %zu (%s) reads '%s' before any step writes it", i, ps->op, g->values[in[k]].name);
    }
    for (size_t k = 0; k < ps->n_output; k++) {
        out[k] = ps->output[k];
        if (out[k] < -1 || out[k] >= g->n_values) return vm_errorf(err, VM_EFORMAT, "step %zu writes value %d, which does not exist", i, out[k]);
        if (out[k] >= 0 && (g->values[out[k]].producer >= 0 || (defined[out[k]] && !(g->values[out[k]].flags & VM_VALUE_PERSIST) &&
                                                                 !(g->values[out[k]].flags & VM_VALUE_GRAD))))
            return vm_errorf(err, VM_EFORMAT, "step %zu (%s) writes '%s', which already has a value", i, ps->op, g->values[out[k]].name);
    }
    char nm[64];
    snprintf(nm, sizeof nm, "step_%zu", i);
    int32_t id = vm_graph_add_node(g, op, ps->name && *ps->name ? ps->name : nm, (int32_t)ps->n_input, in, (int32_t)ps->n_output,
                                   out, err);
    if (id < 0) return err->code;
    const struct vm_op_row *row = vm_op_row(op);
    if ((int)ps->n_input < row->min_in || (row->max_in != VM_OP_VARIADIC && (int)ps->n_input > row->max_in) ||
        (int)ps->n_output < row->min_out || (row->max_out != VM_OP_VARIADIC && (int)ps->n_output > row->max_out))
        return vm_node_errorf(g, id, err, VM_EFORMAT, "has %zu inputs and %zu outputs, which the op does not take", ps->n_input,
                              ps->n_output);
    enum vm_status s = plan_attrs(g, id, ps, err);
    if (!s) s = vm_node_check_required(g, id, err);
    if (s) return s;
    for (size_t k = 0; k < ps->n_input; k++)
        if (in[k] >= 0 && (row->shape_in & (1u << (k < 32 ? k : 31))) && !vm_value_is_known(&g->values[in[k]]))
            return vm_node_errorf(g, id, err, VM_EFORMAT, "input %zu decides the output shape but is not known", k);
    /* what the plan declares, then what the op computes */
    struct vm_value declared[64]; /* dtype, rank, dims and flags only (no owned pointers) */
    for (size_t k = 0; k < ps->n_output; k++) {
        if (out[k] < 0) continue;
        const struct vm_value *v = &g->values[out[k]];
        declared[k] = (struct vm_value){.name = v->name, .dtype = v->dtype, .rank = v->rank, .flags = v->flags};
        memcpy(declared[k].dims, v->dims, sizeof v->dims);
        g->values[out[k]].rank = -1;
        g->values[out[k]].dtype = VM_DTYPE_UNDEFINED;
    }
    if ((s = row->infer(g, id, err))) return s;
    for (size_t k = 0; k < ps->n_output; k++) {
        if (out[k] < 0) continue;
        struct vm_value *v = &g->values[out[k]];
        bool same = v->dtype == declared[k].dtype && v->rank == declared[k].rank;
        for (int d = 0; same && d < v->rank; d++) same = vm_dim_eq(&v->dims[d], &declared[k].dims[d]);
        /* a workspace's size is the kernel's business (it sizes it at bind) */
        if (!same && !(declared[k].flags & VM_VALUE_WORKSPACE)) {
            char a[256], b[256];
            vm_value_shape_str(g, &declared[k], a, sizeof a);
            vm_value_shape_str(g, v, b, sizeof b);
            return vm_node_errorf(g, id, err, VM_EFORMAT, "output '%s' is declared %s %s, but the op computes %s %s", v->name,
                                  vm_dtype_name(declared[k].dtype), a, vm_dtype_name(v->dtype), b);
        }
        v->dtype = declared[k].dtype;
        v->rank = declared[k].rank;
        memcpy(v->dims, declared[k].dims, sizeof v->dims);
        defined[out[k]] = true;
    }
    return VM_OK;
}

enum vm_status vm_plan_verify(const uint8_t *buf, size_t len, const char *what, struct vm_error *err) {
    Vmplan__Plan *pp = len ? vmplan__plan__unpack(NULL, len, buf) : NULL;
    if (!pp) return vm_errorf(err, VM_EFORMAT, "%s is not a vmaskc plan (protobuf could not be parsed)", what);
    struct vm_graph *g = vm_graph_new(err);
    bool *defined = g ? vm_calloc(pp->n_value + 1, 1, err) : NULL;
    enum vm_status s = defined ? VM_OK : VM_ENOMEM;
    for (size_t i = 0; !s && i < pp->n_symbol; i++)
        if (vm_graph_add_symbol(g, pp->symbol[i] ? pp->symbol[i] : "?", err) < 0) s = err->code;
    for (size_t i = 0; !s && i < pp->n_value; i++) s = plan_value(g, pp, i, err);
    /* values that exist before any step: inputs, initializers, known content, persistent state */
    const uint32_t given = VM_VALUE_INPUT | VM_VALUE_INIT | VM_VALUE_PARAM | VM_VALUE_OPTSTATE | VM_VALUE_PERSIST | VM_VALUE_AUX;
    for (size_t i = 0; !s && i < pp->n_value; i++)
        defined[i] = (g->values[i].flags & given) || vm_value_is_known(&g->values[i]);
    for (size_t i = 0; !s && i < pp->n_step; i++) s = plan_step(g, pp->step[i], i, defined, err);
    if (s && s != VM_ENOMEM) {
        vm_error_prefix(err, "%s: the plan is corrupt or was not written by this vmaskc", what);
        s = VM_EFORMAT;
    }
    free(defined);
    vm_graph_free(g);
    vmplan__plan__free_unpacked(pp, NULL);
    return s;
}
