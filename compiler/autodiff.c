/* autodiff: the reverse-mode driver (see autodiff.h). */
#include "autodiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

struct vm_autodiff {
    struct vm_graph *g;
    struct vm_error *err;
    int32_t *grad;   /* value -> accumulated gradient value, -1 none (grows with the graph) */
    uint8_t *needs;  /* value needs a gradient */
    int32_t cap;
    int32_t cur;     /* forward node being differentiated */
};

struct vm_graph *vm_ad_graph(struct vm_autodiff *ad) { return ad->g; }
struct vm_error *vm_ad_err(struct vm_autodiff *ad) { return ad->err; }

static enum vm_status ensure_cap(struct vm_autodiff *ad) {
    if (ad->g->n_values <= ad->cap) return VM_OK;
    int32_t cap = ad->g->n_values * 2 + 16;
    int32_t *gr = vm_realloc(ad->grad, (size_t)cap * sizeof *gr, ad->err);
    if (!gr) return VM_ENOMEM;
    ad->grad = gr;
    uint8_t *nd = vm_realloc(ad->needs, (size_t)cap, ad->err);
    if (!nd) return VM_ENOMEM;
    ad->needs = nd;
    for (int32_t v = ad->cap; v < cap; v++) {
        ad->grad[v] = -1;
        ad->needs[v] = 0;
    }
    ad->cap = cap;
    return VM_OK;
}

int32_t vm_ad_dy(struct vm_autodiff *ad, int32_t node, int slot) {
    const struct vm_node *n = &ad->g->nodes[node];
    if (slot >= n->n_out || n->out[slot] < 0) return -1;
    return ad->grad[n->out[slot]];
}

bool vm_ad_wants(struct vm_autodiff *ad, int32_t node, int i) {
    const struct vm_node *n = &ad->g->nodes[node];
    if (i >= n->n_in || n->in[i] < 0) return false;
    if (vm_op_row(n->op)->nondiff & (1u << i)) return false;
    return ad->needs[n->in[i]] != 0;
}

int32_t vm_ad_begin(struct vm_autodiff *ad, const char *op, int n_in, const int32_t *in, int n_out,
                    int32_t *outs) {
    char name[512];
    snprintf(name, sizeof name, "%s/grad/%s", ad->g->nodes[ad->cur].name, op);
    int32_t id = vm_graph_build(ad->g, op, name, n_in, in, n_out, outs, ad->err);
    if (id < 0) return -1;
    ad->g->nodes[id].phase = VM_PHASE_BACKWARD;
    ad->g->nodes[id].fwd = ad->cur;
    if (ensure_cap(ad)) return -1;
    return id;
}

enum vm_status vm_ad_end(struct vm_autodiff *ad, int32_t node) {
    const struct vm_op_row *row = vm_op_row(ad->g->nodes[node].op);
    enum vm_status s = row->infer(ad->g, node, ad->err);
    if (!s && row->fold) s = row->fold(ad->g, node, ad->err);
    return s;
}

int32_t vm_ad_op(struct vm_autodiff *ad, const char *op, int n_in, const int32_t *in) {
    int32_t out;
    int32_t id = vm_ad_begin(ad, op, n_in, in, 1, &out);
    if (id < 0 || vm_ad_end(ad, id)) return -1;
    return out;
}

int32_t vm_ad_const_f32(struct vm_autodiff *ad, float v) {
    int32_t id = vm_graph_fresh_value(ad->g, "const", VM_DTYPE_FLOAT, ad->err);
    if (id < 0) return -1;
    float *d = vm_malloc(4, ad->err);
    if (!d) return -1;
    *d = v;
    vm_value_set_shape_ints(&ad->g->values[id], 0, NULL);
    vm_value_set_data(&ad->g->values[id], d, 4);
    if (ensure_cap(ad)) return -1;
    return id;
}

int32_t vm_ad_const_i64(struct vm_autodiff *ad, const int64_t *v, int n) {
    int32_t id = vm_graph_fresh_value(ad->g, "const", VM_DTYPE_INT64, ad->err);
    if (id < 0) return -1;
    int64_t *d = vm_malloc((size_t)(n ? n : 1) * 8, ad->err);
    if (!d) return -1;
    if (n) memcpy(d, v, (size_t)n * 8);
    int64_t dim = n;
    vm_value_set_shape_ints(&ad->g->values[id], 1, &dim);
    vm_value_set_data(&ad->g->values[id], d, (size_t)n * 8);
    if (ensure_cap(ad)) return -1;
    return id;
}

int32_t vm_ad_const_dims(struct vm_autodiff *ad, const struct vm_dim *dims, int n) {
    int32_t id = vm_graph_fresh_value(ad->g, "dims", VM_DTYPE_INT64, ad->err);
    if (id < 0) return -1;
    int64_t r = n;
    struct vm_value *s = &ad->g->values[id];
    vm_value_set_shape_ints(s, 1, &r);
    if (vm_value_set_known(s, dims, r, ad->err)) return -1;
    if (ensure_cap(ad)) return -1;
    return id;
}

int32_t vm_ad_shape_of(struct vm_autodiff *ad, int32_t v) {
    struct vm_dim dims[VM_MAX_RANK];
    int r = ad->g->values[v].rank;
    for (int d = 0; d < r; d++) dims[d] = ad->g->values[v].dims[d];
    return vm_ad_const_dims(ad, dims, r);
}

int32_t vm_ad_reshape_like(struct vm_autodiff *ad, int32_t x, int32_t like) {
    int32_t shape = vm_ad_shape_of(ad, like);
    if (shape < 0) return -1;
    int32_t in[2] = {x, shape};
    return vm_ad_op(ad, "Reshape", 2, in);
}

static bool same_shape(const struct vm_value *a, const struct vm_value *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!vm_dim_eq(&a->dims[d], &b->dims[d])) return false;
    return true;
}

enum vm_status vm_ad_give(struct vm_autodiff *ad, int32_t node, int i, int32_t grad) {
    struct vm_graph *g = ad->g;
    if (grad < 0) return VM_OK;
    if (!vm_ad_wants(ad, node, i)) return VM_OK;
    int32_t x = g->nodes[node].in[i];
    struct vm_value *xv = &g->values[x], *gv = &g->values[grad];
    if (gv->dtype != xv->dtype)
        return vm_node_errorf(g, node, ad->err, VM_EINTERNAL, "gradient rule gave %s for %s input %d", vm_dtype_name(gv->dtype),
                              vm_dtype_name(xv->dtype), i);
    if (!same_shape(gv, xv)) {
        /* broadcast: sum over leading extra axes and over axes where the input had size 1 */
        int64_t axes[VM_MAX_RANK];
        int na = 0, lead = gv->rank - xv->rank;
        if (lead < 0) return vm_node_errorf(g, node, ad->err, VM_EINTERNAL, "gradient of input %d has lower rank than the input", i);
        for (int d = 0; d < gv->rank; d++) {
            if (d < lead) {
                axes[na++] = d;
                continue;
            }
            struct vm_dim *xd = &g->values[x].dims[d - lead], *gd = &g->values[grad].dims[d];
            if (vm_dim_is_const_eq(xd, 1) && !vm_dim_is_const_eq(gd, 1)) axes[na++] = d;
            else if (!vm_dim_eq(xd, gd))
                return vm_node_errorf(g, node, ad->err, VM_EINTERNAL, "gradient of input %d does not broadcast to the input's shape", i);
        }
        if (na) {
            int32_t out;
            int32_t id = vm_ad_begin(ad, "ReduceSum", 1, &grad, 1, &out);
            if (id < 0) return ad->err->code;
            enum vm_status s = vm_node_set_ints(g, id, "axes", axes, na, ad->err);
            if (!s) s = vm_node_set_int(g, id, "keepdims", 1, ad->err);
            if (!s) s = vm_ad_end(ad, id);
            if (s) return s;
            grad = out;
        }
        grad = vm_ad_reshape_like(ad, grad, x);
        if (grad < 0) return ad->err->code;
    }
    if (ad->grad[x] < 0) {
        ad->grad[x] = grad;
        return VM_OK;
    }
    int32_t in[2] = {ad->grad[x], grad};
    int32_t sum = vm_ad_op(ad, "Add", 2, in);
    if (sum < 0) return ad->err->code;
    ad->grad[x] = sum;
    return VM_OK;
}

enum vm_status vm_autodiff(struct vm_graph *g, struct vm_error *err) {
    if (g->loss < 0) return vm_errorf(err, VM_EINVAL, "autodiff: the graph has no loss");
    struct vm_value *lv = &g->values[g->loss];
    if (lv->rank != 0 || lv->dtype != VM_DTYPE_FLOAT)
        return vm_errorf(err, VM_EINVAL, "autodiff: the loss '%s' must be a float scalar", lv->name);
    struct vm_autodiff ad = {.g = g, .err = err, .cur = -1};
    enum vm_status s = ensure_cap(&ad);
    if (s) return s;
    int32_t n_params = 0;
    for (int32_t v = 0; v < g->n_values; v++)
        if (g->values[v].flags & VM_VALUE_PARAM) n_params++;
    if (!n_params) {
        s = vm_errorf(err, VM_EINVAL, "autodiff: nothing to train (every parameter is frozen)");
        goto done;
    }
    /* forward sweep: values that depend on a parameter through differentiable edges */
    uint8_t *from_param = vm_calloc((size_t)g->n_values + 1, 1, err);
    uint8_t *to_loss = vm_calloc((size_t)g->n_values + 1, 1, err);
    if (!from_param || !to_loss) {
        free(from_param);
        free(to_loss);
        s = VM_ENOMEM;
        goto done;
    }
    for (int32_t v = 0; v < g->n_values; v++) from_param[v] = (g->values[v].flags & VM_VALUE_PARAM) != 0;
    int32_t n_fwd = g->n_order;
    for (int32_t oi = 0; oi < n_fwd; oi++) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        const struct vm_op_row *row = vm_op_row(n->op);
        if (row->flags & VM_OP_NO_GRAD) continue;
        bool any = false;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !(row->nondiff & (1u << k)) && from_param[n->in[k]]) any = true;
        if (!any) continue;
        for (int32_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && vm_dtype_is_float(g->values[n->out[k]].dtype)) from_param[n->out[k]] = 1;
    }
    to_loss[g->loss] = 1;
    for (int32_t oi = n_fwd - 1; oi >= 0; oi--) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        bool any = false;
        for (int32_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && to_loss[n->out[k]]) any = true;
        if (!any) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) to_loss[n->in[k]] = 1;
    }
    for (int32_t v = 0; v < g->n_values; v++) ad.needs[v] = from_param[v] && to_loss[v];
    free(from_param);
    free(to_loss);
    if (!ad.needs[g->loss]) {
        s = vm_errorf(err, VM_EINVAL, "autodiff: the loss does not depend on any trainable parameter");
        goto done;
    }
    /* seed and reverse sweep over the forward schedule (the order array is stable: new backward
     * nodes are appended to g->nodes but not to g->order until the final sort) */
    int32_t *order = vm_malloc((size_t)(n_fwd + 1) * sizeof *order, err);
    if (!order) {
        s = VM_ENOMEM;
        goto done;
    }
    memcpy(order, g->order, (size_t)n_fwd * sizeof *order);
    ad.cur = order[n_fwd ? n_fwd - 1 : 0];
    int32_t one = vm_ad_const_f32(&ad, 1.0f);
    if (one < 0) {
        free(order);
        s = err->code;
        goto done;
    }
    ad.grad[g->loss] = one;
    for (int32_t oi = n_fwd - 1; oi >= 0 && !s; oi--) {
        int32_t id = order[oi];
        const struct vm_node *n = &g->nodes[id];
        const struct vm_op_row *row = vm_op_row(n->op);
        bool has_dy = false, wants = false;
        for (int32_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && ad.grad[n->out[k]] >= 0) has_dy = true;
        for (int32_t k = 0; k < n->n_in; k++)
            if (vm_ad_wants(&ad, id, k)) wants = true;
        if (!has_dy || !wants) continue;
        if (!row->grad) {
            s = vm_node_errorf(g, id, err, VM_EUNSUPPORTED, "no gradient rule; vmaskc cannot train through this op");
            break;
        }
        ad.cur = id;
        s = row->grad(&ad, id, err);
    }
    free(order);
    if (s) goto done;
    for (int32_t v = 0; v < g->n_values && v < ad.cap; v++) {
        struct vm_value *val = &g->values[v];
        if (!(val->flags & VM_VALUE_PARAM)) continue;
        val->grad = ad.grad[v];
        if (val->grad >= 0) g->values[val->grad].flags |= VM_VALUE_GRAD | VM_VALUE_PERSIST;
    }
    /* values read by backward nodes are saved for backward */
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead || n->phase != VM_PHASE_BACKWARD) continue;
        for (int32_t k = 0; k < n->n_in; k++) {
            int32_t v = n->in[k];
            if (v < 0) continue;
            int32_t p = g->values[v].producer;
            if (p >= 0 && g->nodes[p].phase == VM_PHASE_FORWARD) g->values[v].flags |= VM_VALUE_SAVED;
        }
    }
    s = vm_graph_sort(g, err);
done:
    free(ad.grad);
    free(ad.needs);
    return s;
}
