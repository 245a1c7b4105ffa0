/* ir: graph storage, the builder API, attributes, name lookup, topological sorting and dumps.
 * Values are found by name through an open-addressing hash (import resolves every edge by name). */
#include "ir.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../onnx/onnx_io.h"
#include "ops.h"

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static enum vm_status hash_rebuild(struct vm_graph *g, uint32_t cap, struct vm_error *err) {
    int32_t *h = vm_malloc(cap * sizeof *h, err);
    if (!h) return VM_ENOMEM;
    for (uint32_t i = 0; i < cap; i++) h[i] = -1;
    for (int32_t v = 0; v < g->n_values; v++) {
        uint32_t k = hash_str(g->values[v].name) & (cap - 1);
        while (h[k] >= 0) k = (k + 1) & (cap - 1);
        h[k] = v;
    }
    free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    return VM_OK;
}

struct vm_graph *vm_graph_new(struct vm_error *err) {
    struct vm_graph *g = vm_calloc(1, sizeof *g, err);
    if (!g) return NULL;
    g->loss = -1;
    g->opset = 17;
    if (hash_rebuild(g, 256, err)) {
        free(g);
        return NULL;
    }
    return g;
}

static void attr_free(struct vm_attr *a) {
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
}

void vm_graph_free(struct vm_graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        if (!g->values[i].data_borrowed) free(g->values[i].data);
        free(g->values[i].known);
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct vm_node *n = &g->nodes[i];
        free(n->name);
        free(n->in);
        free(n->out);
        for (int32_t a = 0; a < n->n_attrs; a++) attr_free(&n->attrs[a]);
        free(n->attrs);
    }
    for (int i = 0; i < g->n_symbols; i++) free(g->symbols[i]);
    for (int32_t i = 0; i < g->n_meta; i++) {
        free(g->meta[i].key);
        free(g->meta[i].value);
    }
    free(g->meta);
    free(g->values);
    free(g->nodes);
    free(g->order);
    free(g->inputs);
    free(g->outputs);
    free(g->hash);
    vm_onnx_external_free(g->external); /* after the values that borrowed from it */
    free(g);
}

int32_t vm_graph_find_value(const struct vm_graph *g, const char *name) {
    if (!name) return -1;
    uint32_t k = hash_str(name) & (g->hash_cap - 1);
    while (g->hash[k] >= 0) {
        if (strcmp(g->values[g->hash[k]].name, name) == 0) return g->hash[k];
        k = (k + 1) & (g->hash_cap - 1);
    }
    return -1;
}

static int32_t add_value_named(struct vm_graph *g, char *owned_name, int32_t dtype,
                               struct vm_error *err) {
    if (g->n_values == g->cap_values) {
        int32_t cap = g->cap_values ? 2 * g->cap_values : 64;
        struct vm_value *nv = vm_realloc(g->values, (size_t)cap * sizeof *nv, err);
        if (!nv) {
            free(owned_name);
            return -1;
        }
        g->values = nv;
        g->cap_values = cap;
    }
    if ((uint32_t)(g->n_values + 1) * 2 > g->hash_cap && hash_rebuild(g, g->hash_cap * 2, err)) {
        free(owned_name);
        return -1;
    }
    int32_t id = g->n_values++;
    struct vm_value *v = &g->values[id];
    memset(v, 0, sizeof *v);
    v->name = owned_name;
    v->dtype = dtype;
    v->rank = -1;
    v->producer = -1;
    v->grad = -1;
    uint32_t k = hash_str(owned_name) & (g->hash_cap - 1);
    while (g->hash[k] >= 0) k = (k + 1) & (g->hash_cap - 1);
    g->hash[k] = id;
    return id;
}

int32_t vm_graph_add_value(struct vm_graph *g, const char *name, int32_t dtype, struct vm_error *err) {
    if (!name || !*name) return vm_graph_fresh_value(g, "v", dtype, err);
    if (vm_graph_find_value(g, name) >= 0) {
        vm_errorf(err, VM_EFORMAT, "value name '%s' is defined twice", name);
        return -1;
    }
    char *n = vm_strdup(name, err);
    if (!n) return -1;
    return add_value_named(g, n, dtype, err);
}

int32_t vm_graph_fresh_value(struct vm_graph *g, const char *prefix, int32_t dtype,
                             struct vm_error *err) {
    char buf[512];
    do {
        snprintf(buf, sizeof buf, "%s~%u", prefix, g->name_counter++);
    } while (vm_graph_find_value(g, buf) >= 0);
    char *n = vm_strdup(buf, err);
    if (!n) return -1;
    return add_value_named(g, n, dtype, err);
}

enum vm_status vm_graph_rename_value(struct vm_graph *g, int32_t v, const char *name,
                                     struct vm_error *err) {
    if (vm_graph_find_value(g, name) >= 0)
        return vm_errorf(err, VM_EINVAL, "value name '%s' already exists", name);
    char *n = vm_strdup(name, err);
    if (!n) return VM_ENOMEM;
    free(g->values[v].name);
    g->values[v].name = n;
    return hash_rebuild(g, g->hash_cap, err);
}

int vm_graph_find_symbol(const struct vm_graph *g, const char *name) {
    for (int i = 0; i < g->n_symbols; i++)
        if (strcmp(g->symbols[i], name) == 0) return i;
    return -1;
}

int vm_graph_add_symbol(struct vm_graph *g, const char *name, struct vm_error *err) {
    int s = vm_graph_find_symbol(g, name);
    if (s >= 0) return s;
    if (g->n_symbols >= VM_MAX_SYMBOLS) {
        vm_errorf(err, VM_EUNSUPPORTED, "too many symbolic dimensions (more than %d)", VM_MAX_SYMBOLS);
        return -1;
    }
    g->symbols[g->n_symbols] = vm_strdup(name, err);
    if (!g->symbols[g->n_symbols]) return -1;
    return g->n_symbols++;
}

void vm_value_set_shape(struct vm_value *v, int rank, const struct vm_dim *dims) {
    VM_ASSERT(rank >= 0 && rank <= VM_MAX_RANK);
    v->rank = rank;
    for (int i = 0; i < rank; i++) v->dims[i] = dims[i];
}

void vm_value_set_shape_ints(struct vm_value *v, int rank, const int64_t *dims) {
    VM_ASSERT(rank >= 0 && rank <= VM_MAX_RANK);
    v->rank = rank;
    for (int i = 0; i < rank; i++) v->dims[i] = vm_dim_const(dims[i]);
}

void vm_value_set_data(struct vm_value *v, void *data, size_t nbytes) {
    if (!v->data_borrowed) free(v->data);
    v->data = data;
    v->nbytes = nbytes;
    v->data_borrowed = false;
}

void vm_value_borrow_data(struct vm_value *v, const void *data, size_t nbytes) {
    vm_value_set_data(v, NULL, 0);
    v->data = (void *)data;
    v->nbytes = nbytes;
    v->data_borrowed = true;
}

enum vm_status vm_value_set_known(struct vm_value *v, const struct vm_dim *elems, int64_t n,
                                  struct vm_error *err) {
    struct vm_dim *k = vm_malloc((size_t)(n ? n : 1) * sizeof *k, err);
    if (!k) return VM_ENOMEM;
    memcpy(k, elems, (size_t)n * sizeof *k);
    free(v->known);
    v->known = k;
    v->n_known = n;
    return VM_OK;
}

bool vm_value_is_known(const struct vm_value *v) {
    /* a trainable parameter has data but is not a compile-time constant */
    if (v->flags & VM_VALUE_PARAM) return false;
    return v->data != NULL || v->known != NULL;
}

int64_t vm_value_numel(const struct vm_value *v) {
    if (v->rank < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < v->rank; i++) {
        if (!vm_dim_is_const(&v->dims[i])) return -1;
        int64_t d = vm_dim_value(&v->dims[i]);
        if (d < 0 || (d && n > INT64_MAX / d)) return -1;
        n *= d;
    }
    return n;
}

bool vm_value_shape_is_const(const struct vm_value *v) {
    return vm_value_numel(v) >= 0;
}

double vm_value_data_f64(const struct vm_value *v, int64_t i) {
    const uint8_t *p = v->data;
    switch (v->dtype) {
    case VM_DTYPE_FLOAT: { float x; memcpy(&x, p + 4 * i, 4); return x; }
    case VM_DTYPE_DOUBLE: { double x; memcpy(&x, p + 8 * i, 8); return x; }
    default: return (double)vm_value_data_i64(v, i);
    }
}

int64_t vm_value_data_i64(const struct vm_value *v, int64_t i) {
    const uint8_t *p = v->data;
    switch (v->dtype) {
    case VM_DTYPE_INT64: { int64_t x; memcpy(&x, p + 8 * i, 8); return x; }
    case VM_DTYPE_UINT64: { uint64_t x; memcpy(&x, p + 8 * i, 8); return (int64_t)x; }
    case VM_DTYPE_INT32: { int32_t x; memcpy(&x, p + 4 * i, 4); return x; }
    case VM_DTYPE_UINT32: { uint32_t x; memcpy(&x, p + 4 * i, 4); return x; }
    case VM_DTYPE_INT16: { int16_t x; memcpy(&x, p + 2 * i, 2); return x; }
    case VM_DTYPE_UINT16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return x; }
    case VM_DTYPE_INT8: return ((const int8_t *)p)[i];
    case VM_DTYPE_UINT8: case VM_DTYPE_BOOL: return p[i];
    case VM_DTYPE_FLOAT: { float x; memcpy(&x, p + 4 * i, 4); return (int64_t)x; }
    case VM_DTYPE_DOUBLE: { double x; memcpy(&x, p + 8 * i, 8); return (int64_t)x; }
    default: return 0;
    }
}

bool vm_value_known_elem(const struct vm_value *v, int64_t i, struct vm_dim *out) {
    if (v->known) {
        if (i < 0 || i >= v->n_known) return false;
        *out = v->known[i];
        return true;
    }
    if (v->data && (vm_dtype_is_int(v->dtype) || v->dtype == VM_DTYPE_BOOL)) {
        size_t es = vm_dtype_size(v->dtype);
        if (i < 0 || (size_t)i >= v->nbytes / es) return false;
        *out = vm_dim_const(vm_value_data_i64(v, i));
        return true;
    }
    return false;
}

int32_t vm_graph_add_node(struct vm_graph *g, int32_t op, const char *name, int32_t n_in,
                          const int32_t *in, int32_t n_out, const int32_t *out,
                          struct vm_error *err) {
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        struct vm_node *nn = vm_realloc(g->nodes, (size_t)cap * sizeof *nn, err);
        if (!nn) return -1;
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    int32_t id = g->n_nodes;
    struct vm_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->fwd = -1;
    n->phase = VM_PHASE_FORWARD;
    char buf[64];
    if (!name || !*name) {
        snprintf(buf, sizeof buf, "%s_%d", vm_op_name(op), id);
        name = buf;
    }
    n->name = vm_strdup(name, err);
    n->in = vm_malloc((size_t)(n_in ? n_in : 1) * sizeof *n->in, err);
    n->out = vm_malloc((size_t)(n_out ? n_out : 1) * sizeof *n->out, err);
    if (!n->name || !n->in || !n->out) {
        free(n->name);
        free(n->in);
        free(n->out);
        return -1;
    }
    n->n_in = n_in;
    n->n_out = n_out;
    if (n_in) memcpy(n->in, in, (size_t)n_in * sizeof *in);
    if (n_out) memcpy(n->out, out, (size_t)n_out * sizeof *out);
    for (int32_t i = 0; i < n_out; i++) {
        if (out[i] < 0) continue;
        g->values[out[i]].producer = id;
        g->values[out[i]].slot = i;
    }
    g->n_nodes++;
    return id;
}

int32_t vm_graph_build(struct vm_graph *g, const char *op_name, const char *name, int32_t n_in,
                       const int32_t *in, int32_t n_out, int32_t *outs, struct vm_error *err) {
    int32_t op = vm_op_find(NULL, op_name);
    if (op < 0) op = vm_op_find("vmaskc", op_name);
    VM_ASSERT(op >= 0);
    int32_t out[16];
    VM_ASSERT(n_out <= 16);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s", name && *name ? name : op_name);
    for (int32_t i = 0; i < n_out; i++) {
        out[i] = vm_graph_fresh_value(g, prefix, VM_DTYPE_UNDEFINED, err);
        if (out[i] < 0) return -1;
    }
    int32_t id = vm_graph_add_node(g, op, name, n_in, in, n_out, out, err);
    if (id >= 0 && outs)
        for (int32_t i = 0; i < n_out; i++) outs[i] = out[i];
    return id;
}

static struct vm_attr *attr_slot(struct vm_graph *g, int32_t node, const char *name,
                                 struct vm_error *err) {
    struct vm_node *n = &g->nodes[node];
    for (int32_t i = 0; i < n->n_attrs; i++) {
        if (strcmp(n->attrs[i].name, name) == 0) {
            char *keep = n->attrs[i].name;
            n->attrs[i].name = NULL;
            attr_free(&n->attrs[i]);
            memset(&n->attrs[i], 0, sizeof n->attrs[i]);
            n->attrs[i].name = keep;
            return &n->attrs[i];
        }
    }
    struct vm_attr *na = vm_realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *na, err);
    if (!na) return NULL;
    n->attrs = na;
    struct vm_attr *a = &n->attrs[n->n_attrs];
    memset(a, 0, sizeof *a);
    a->name = vm_strdup(name, err);
    if (!a->name) return NULL;
    n->n_attrs++;
    return a;
}

enum vm_status vm_node_set_int(struct vm_graph *g, int32_t node, const char *name, int64_t v,
                               struct vm_error *err) {
    struct vm_attr *a = attr_slot(g, node, name, err);
    if (!a) return VM_ENOMEM;
    a->type = VM_ATTR_INT;
    a->i = v;
    return VM_OK;
}

enum vm_status vm_node_set_float(struct vm_graph *g, int32_t node, const char *name, double v,
                                 struct vm_error *err) {
    struct vm_attr *a = attr_slot(g, node, name, err);
    if (!a) return VM_ENOMEM;
    a->type = VM_ATTR_FLOAT;
    a->f = v;
    return VM_OK;
}

enum vm_status vm_node_set_string(struct vm_graph *g, int32_t node, const char *name,
                                  const char *s, struct vm_error *err) {
    struct vm_attr *a = attr_slot(g, node, name, err);
    if (!a) return VM_ENOMEM;
    a->type = VM_ATTR_STRING;
    a->s = vm_strdup(s, err);
    return a->s ? VM_OK : VM_ENOMEM;
}

enum vm_status vm_node_set_ints(struct vm_graph *g, int32_t node, const char *name,
                                const int64_t *v, int32_t n, struct vm_error *err) {
    struct vm_attr *a = attr_slot(g, node, name, err);
    if (!a) return VM_ENOMEM;
    a->type = VM_ATTR_INTS;
    a->ints = vm_malloc((size_t)(n ? n : 1) * sizeof *a->ints, err);
    if (!a->ints) return VM_ENOMEM;
    if (n) memcpy(a->ints, v, (size_t)n * sizeof *v);
    a->n = n;
    return VM_OK;
}

enum vm_status vm_node_set_floats(struct vm_graph *g, int32_t node, const char *name,
                                  const double *v, int32_t n, struct vm_error *err) {
    struct vm_attr *a = attr_slot(g, node, name, err);
    if (!a) return VM_ENOMEM;
    a->type = VM_ATTR_FLOATS;
    a->floats = vm_malloc((size_t)(n ? n : 1) * sizeof *a->floats, err);
    if (!a->floats) return VM_ENOMEM;
    if (n) memcpy(a->floats, v, (size_t)n * sizeof *v);
    a->n = n;
    return VM_OK;
}

const struct vm_attr *vm_node_attr(const struct vm_graph *g, int32_t node, const char *name) {
    const struct vm_node *n = &g->nodes[node];
    for (int32_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t vm_node_int(const struct vm_graph *g, int32_t node, const char *name, int64_t def) {
    const struct vm_attr *a = vm_node_attr(g, node, name);
    return a && a->type == VM_ATTR_INT ? a->i : def;
}

double vm_node_float(const struct vm_graph *g, int32_t node, const char *name, double def) {
    const struct vm_attr *a = vm_node_attr(g, node, name);
    if (!a) return def;
    if (a->type == VM_ATTR_FLOAT) return a->f;
    if (a->type == VM_ATTR_INT) return (double)a->i;
    return def;
}

const char *vm_node_string(const struct vm_graph *g, int32_t node, const char *name,
                           const char *def) {
    const struct vm_attr *a = vm_node_attr(g, node, name);
    return a && a->type == VM_ATTR_STRING ? a->s : def;
}

void vm_node_remove_attr(struct vm_graph *g, int32_t node, const char *name) {
    struct vm_node *n = &g->nodes[node];
    for (int32_t i = 0; i < n->n_attrs; i++) {
        if (strcmp(n->attrs[i].name, name) == 0) {
            attr_free(&n->attrs[i]);
            memmove(&n->attrs[i], &n->attrs[i + 1], (size_t)(n->n_attrs - i - 1) * sizeof *n->attrs);
            n->n_attrs--;
            return;
        }
    }
}

void vm_graph_replace_uses(struct vm_graph *g, int32_t from, int32_t to) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct vm_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] == from) n->in[k] = to;
    }
    for (int32_t k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == from) g->outputs[k] = to;
}

int32_t vm_graph_count_uses(const struct vm_graph *g, int32_t v) {
    int32_t c = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int32_t k = 0; k < n->n_in; k++) c += n->in[k] == v;
    }
    for (int32_t k = 0; k < g->n_outputs; k++) c += g->outputs[k] == v;
    return c;
}

enum vm_status vm_graph_sort(struct vm_graph *g, struct vm_error *err) {
    /* Kahn's algorithm over live nodes, taking the lowest node id first among ready nodes so an
     * already-sorted import keeps its order (stable dumps and plans). */
    int32_t n = g->n_nodes;
    int32_t *indeg = vm_calloc((size_t)n + 1, sizeof *indeg, err);
    int32_t *order = vm_malloc(((size_t)n + 1) * sizeof *order, err);
    uint8_t *ready = vm_calloc((size_t)n + 1, 1, err);
    if (!indeg || !order || !ready) {
        free(indeg);
        free(order);
        free(ready);
        return VM_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct vm_node *nd = &g->nodes[i];
        if (nd->dead) continue;
        for (int32_t k = 0; k < nd->n_in; k++) {
            int32_t v = nd->in[k];
            if (v < 0) continue;
            int32_t p = g->values[v].producer;
            if (p >= 0 && !g->nodes[p].dead) indeg[i]++;
        }
    }
    int32_t cnt = 0, live = 0;
    for (int32_t i = 0; i < n; i++) {
        if (g->nodes[i].dead) continue;
        live++;
        if (indeg[i] == 0) ready[i] = 1;
    }
    /* consumers lists would be faster; graphs are small (hundreds to a few thousand nodes) and
     * this runs a handful of times per compile, so the quadratic scan is acceptable. */
    /* nodes with sort_before (recomputed values, pass_remat.c) take the place of the node they
     * precede: picked once every ready node has a higher id than it */
    int32_t n_keyed = 0, *keyed = vm_malloc(((size_t)n + 1) * sizeof *keyed, err);
    if (!keyed) {
        free(indeg);
        free(order);
        free(ready);
        return VM_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++)
        if (!g->nodes[i].dead && g->nodes[i].sort_before > 0) keyed[n_keyed++] = i;
    int32_t lo = 0;
    while (cnt < live) {
        int32_t pick = -1;
        for (int32_t i = lo; i < n; i++) {
            if (ready[i] == 1) {
                pick = i;
                break;
            }
        }
        for (int32_t j = 0, key = pick < 0 ? INT32_MAX : pick; j < n_keyed; j++) {
            int32_t k = keyed[j];
            if (ready[k] == 1 && g->nodes[k].sort_before - 1 < key) {
                pick = k;
                key = g->nodes[k].sort_before - 1;
            }
        }
        if (pick < 0) break;
        ready[pick] = 2;
        order[cnt++] = pick;
        const struct vm_node *pn = &g->nodes[pick];
        for (int32_t i = 0; i < n; i++) {
            const struct vm_node *c = &g->nodes[i];
            if (c->dead || ready[i]) continue;
            for (int32_t k = 0; k < c->n_in; k++) {
                int32_t v = c->in[k];
                if (v < 0 || g->values[v].producer != pick) continue;
                (void)pn;
                if (--indeg[i] == 0) ready[i] = 1;
            }
        }
        while (lo < n && (g->nodes[lo].dead || ready[lo] == 2)) lo++;
    }
    free(keyed);
    enum vm_status st = VM_OK;
    if (cnt < live) {
        for (int32_t i = 0; i < n; i++) {
            if (!g->nodes[i].dead && ready[i] != 2) {
                st = vm_errorf(err, VM_EFORMAT, "node '%s' is part of a cycle", g->nodes[i].name);
                break;
            }
        }
    }
    free(indeg);
    free(ready);
    if (st) {
        free(order);
        return st;
    }
    free(g->order);
    g->order = order;
    g->n_order = cnt;
    return VM_OK;
}

enum vm_status vm_node_copy_attrs(struct vm_graph *g, int32_t from, int32_t to, struct vm_error *err) {
    for (int32_t i = 0; i < g->nodes[from].n_attrs; i++) {
        const struct vm_attr *a = &g->nodes[from].attrs[i];
        enum vm_status s = VM_OK;
        switch (a->type) {
        case VM_ATTR_INT: s = vm_node_set_int(g, to, a->name, a->i, err); break;
        case VM_ATTR_FLOAT: s = vm_node_set_float(g, to, a->name, a->f, err); break;
        case VM_ATTR_STRING: s = vm_node_set_string(g, to, a->name, a->s, err); break;
        case VM_ATTR_INTS: s = vm_node_set_ints(g, to, a->name, a->ints, a->n, err); break;
        case VM_ATTR_FLOATS: s = vm_node_set_floats(g, to, a->name, a->floats, a->n, err); break;
        default: return vm_node_errorf(g, from, err, VM_EINTERNAL, "attribute '%s' cannot be copied", a->name);
        }
        if (s) return s;
    }
    return VM_OK;
}

enum vm_status vm_graph_prune(struct vm_graph *g, struct vm_error *err) {
    uint8_t *need = vm_calloc((size_t)g->n_values + 1, 1, err);
    if (!need) return VM_ENOMEM;
    for (int32_t k = 0; k < g->n_outputs; k++) need[g->outputs[k]] = 1;
    if (g->loss >= 0) need[g->loss] = 1;
    for (int32_t v = 0; v < g->n_values; v++)
        if (g->values[v].flags & (VM_VALUE_OPTSTATE | VM_VALUE_GRAD)) need[v] = 1;
    /* Walk the schedule backwards; a node lives if any output is needed. */
    for (int32_t oi = g->n_order - 1; oi >= 0; oi--) {
        struct vm_node *n = &g->nodes[g->order[oi]];
        bool live = n->n_out == 0; /* in-place updates (optimizer steps) are kept for their effect */
        for (int32_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && need[n->out[k]]) live = true;
        if (!live) {
            n->dead = true;
            continue;
        }
        /* a node whose outputs are all known content (a folded Shape) runs no step: it does not
         * need its inputs computed (an LSTM's Shape of its input keeps the embedding lookup alive) */
        bool known = n->n_out > 0;
        for (int32_t k = 0; k < n->n_out; k++) known &= n->out[k] < 0 || vm_value_is_known(&g->values[n->out[k]]);
        if (known) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) need[n->in[k]] = 1;
    }
    free(need);
    return vm_graph_sort(g, err);
}

enum vm_status vm_graph_set_meta(struct vm_graph *g, const char *key, const char *value,
                                 struct vm_error *err) {
    for (int32_t i = 0; i < g->n_meta; i++) {
        if (strcmp(g->meta[i].key, key) == 0) {
            char *v = vm_strdup(value, err);
            if (!v) return VM_ENOMEM;
            free(g->meta[i].value);
            g->meta[i].value = v;
            return VM_OK;
        }
    }
    struct vm_meta *m = vm_realloc(g->meta, (size_t)(g->n_meta + 1) * sizeof *m, err);
    if (!m) return VM_ENOMEM;
    g->meta = m;
    m[g->n_meta].key = vm_strdup(key, err);
    m[g->n_meta].value = vm_strdup(value, err);
    if (!m[g->n_meta].key || !m[g->n_meta].value) return VM_ENOMEM;
    g->n_meta++;
    return VM_OK;
}

const char *vm_graph_get_meta(const struct vm_graph *g, const char *key) {
    for (int32_t i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) return g->meta[i].value;
    return NULL;
}

char *vm_value_shape_str(const struct vm_graph *g, const struct vm_value *v, char *buf, size_t len) {
    if (v->rank < 0) {
        snprintf(buf, len, "[?]");
        return buf;
    }
    size_t pos = 0;
    pos += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < v->rank && pos < len; i++) {
        char d[128];
        vm_dim_str(&v->dims[i], (const char *const *)g->symbols, d, sizeof d);
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "", d);
    }
    if (pos < len) snprintf(buf + pos, len - pos, "]");
    return buf;
}

void vm_graph_dump(const struct vm_graph *g, void *file) {
    FILE *f = file;
    char sh[512];
    fprintf(f, "graph opset=%lld symbols=", (long long)g->opset);
    for (int i = 0; i < g->n_symbols; i++) fprintf(f, "%s%s", i ? "," : "", g->symbols[i]);
    fprintf(f, "\n");
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const struct vm_value *v = &g->values[g->inputs[i]];
        fprintf(f, "  input %s: %s%s\n", v->name, vm_dtype_name(v->dtype), vm_value_shape_str(g, v, sh, sizeof sh));
    }
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        fprintf(f, "  %s%s = %s(", n->phase == VM_PHASE_BACKWARD ? "bwd " : n->phase == VM_PHASE_OPTIMIZER ? "opt " : "",
                n->name, vm_op_name(n->op));
        for (int32_t k = 0; k < n->n_in; k++)
            fprintf(f, "%s%s", k ? ", " : "", n->in[k] >= 0 ? g->values[n->in[k]].name : "-");
        fprintf(f, ") ->");
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0) {
                fprintf(f, " -");
                continue;
            }
            const struct vm_value *v = &g->values[n->out[k]];
            fprintf(f, " %s:%s%s", v->name, vm_dtype_name(v->dtype), vm_value_shape_str(g, v, sh, sizeof sh));
        }
        fprintf(f, "\n");
    }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        const struct vm_value *v = &g->values[g->outputs[i]];
        fprintf(f, "  output %s: %s%s\n", v->name, vm_dtype_name(v->dtype), vm_value_shape_str(g, v, sh, sizeof sh));
    }
}
