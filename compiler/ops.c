/* ops: joins the family tables into one op table and provides the helpers rows share (dtype
 * checks, axis normalization, broadcasting, reading known inputs). Row ids are positions in the
 * joined table; they never leave the process (plans name ops by string). */
#include "ops.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct vm_op_row *const families[] = {
    vm_ops_elementwise, vm_ops_shape, vm_ops_nn, vm_ops_rnn, vm_ops_reduce, vm_ops_train, vm_ops_mask,
};

#define VM_MAX_OPS 256
static const struct vm_op_row *table[VM_MAX_OPS];
static int32_t n_table = -1;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void fill_table(void) {
    n_table = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const struct vm_op_row *r = families[f]; r->name; r++) {
            VM_ASSERT(n_table < VM_MAX_OPS);
            table[n_table++] = r;
        }
}

/* Once per process, whichever thread comes first: two threads opening models (libvmaskc) at once must not both fill it. */
static void build_table(void) { pthread_once(&table_once, fill_table); }

int32_t vm_op_count(void) {
    build_table();
    return n_table;
}

const struct vm_op_row *vm_op_row(int32_t op) {
    build_table();
    VM_ASSERT(op >= 0 && op < n_table);
    return table[op];
}

const char *vm_op_name(int32_t op) {
    build_table();
    return op >= 0 && op < n_table ? table[op]->name : "?";
}

int32_t vm_op_find(const char *domain, const char *name) {
    build_table();
    bool onnx_domain = !domain || !*domain || strcmp(domain, "ai.onnx") == 0;
    for (int32_t i = 0; i < n_table; i++) {
        const struct vm_op_row *r = table[i];
        if (strcmp(r->name, name) != 0) continue;
        if (onnx_domain ? r->domain == NULL : (r->domain && strcmp(r->domain, domain) == 0)) return i;
    }
    return -1;
}

/* Walks "name:k name:k! ..." entries; fn gets each one, stops on a non-zero return. */
static int each_attr(const struct vm_op_row *row, int (*fn)(const char *name, size_t len, char kind, bool req, void *ctx),
                     void *ctx) {
    for (const char *p = row->attrs ? row->attrs : ""; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ' ' && *e != ':') e++;
        size_t len = (size_t)(e - p);
        char kind = 0;
        bool req = false;
        if (*e == ':') {
            kind = e[1];
            e += kind ? 2 : 1;
            if (*e == '!') req = true, e++;
        }
        int r = fn(p, len, kind, req, ctx);
        if (r) return r;
        while (*e && *e != ' ') e++;
        p = e;
    }
    return 0;
}

struct attr_find {
    const char *name;
    char kind;
    bool req;
};

static int attr_find_fn(const char *name, size_t len, char kind, bool req, void *ctx) {
    struct attr_find *f = ctx;
    if (strlen(f->name) != len || strncmp(f->name, name, len) != 0) return 0;
    f->kind = kind;
    f->req = req;
    return 1;
}

bool vm_op_attr_spec(const struct vm_op_row *row, const char *name, char *kind, bool *required) {
    struct attr_find f = {.name = name};
    if (!each_attr(row, attr_find_fn, &f)) return false;
    if (kind) *kind = f.kind;
    if (required) *required = f.req;
    return true;
}

struct req_walk {
    int (*fn)(const char *name, size_t len, char kind, void *ctx);
    void *ctx;
};

static int req_walk_fn(const char *name, size_t len, char kind, bool req, void *ctx) {
    struct req_walk *w = ctx;
    return req ? w->fn(name, len, kind, w->ctx) : 0;
}

int vm_op_each_required_attr(const struct vm_op_row *row, int (*fn)(const char *name, size_t len, char kind, void *ctx),
                             void *ctx) {
    struct req_walk w = {fn, ctx};
    return each_attr(row, req_walk_fn, &w);
}

const char *vm_op_attr_kind_name(char kind) {
    switch (kind) {
    case 'i': return "int";
    case 'f': return "float";
    case 's': return "string";
    case 'I': return "ints";
    case 'F': return "floats";
    case 'S': return "strings";
    case 't': return "tensor";
    default: return "?";
    }
}

enum vm_status vm_node_errorf(const struct vm_graph *g, int32_t node, struct vm_error *err,
                              enum vm_status code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct vm_node *n = &g->nodes[node];
    return vm_errorf(err, code, "node '%s' (%s): %s", n->name, vm_op_name(n->op), msg);
}

enum vm_status vm_node_check_required(const struct vm_graph *g, int32_t node, struct vm_error *err) {
    const struct vm_node *n = &g->nodes[node];
    const struct vm_op_row *row = vm_op_row(n->op);
    /* ONNX puts required inputs and outputs first and marks an omitted optional one by an empty
     * name; the first min_in / min_out are required, so rows may read them without checking. */
    for (int32_t k = 0; k < row->min_in; k++)
        if (k >= n->n_in || n->in[k] < 0)
            return vm_node_errorf(g, node, err, VM_EFORMAT, "input %d is required, but %s", k,
                                  k >= n->n_in ? "the node has fewer inputs" : "its name is empty");
    for (int32_t k = 0; k < row->min_out; k++)
        if (k >= n->n_out || n->out[k] < 0)
            return vm_node_errorf(g, node, err, VM_EFORMAT, "output %d is required, but %s", k,
                                  k >= n->n_out ? "the node has fewer outputs" : "its name is empty");
    return VM_OK;
}

void vm_set_out(struct vm_graph *g, int32_t node, int i, int32_t dtype, int rank,
                const struct vm_dim *dims) {
    struct vm_value *v = vm_out(g, node, i);
    if (!v) return;
    v->dtype = dtype;
    vm_value_set_shape(v, rank, dims);
}

bool vm_dtype_is_float(int32_t dt) {
    return dt == VM_DTYPE_FLOAT || dt == VM_DTYPE_DOUBLE || dt == VM_DTYPE_FLOAT16;
}

bool vm_dtype_is_int(int32_t dt) {
    return dt == VM_DTYPE_INT64 || dt == VM_DTYPE_INT32 || dt == VM_DTYPE_INT16 || dt == VM_DTYPE_INT8 ||
           dt == VM_DTYPE_UINT8 || dt == VM_DTYPE_UINT16 || dt == VM_DTYPE_UINT32 || dt == VM_DTYPE_UINT64;
}

enum vm_status vm_check_dtype(struct vm_graph *g, int32_t node, int i, struct vm_error *err, ...) {
    struct vm_value *v = vm_in(g, node, i);
    if (!v) return VM_OK;
    va_list ap;
    va_start(ap, err);
    char allowed[256] = "";
    size_t pos = 0;
    for (;;) {
        int dt = va_arg(ap, int);
        if (dt == 0) break;
        if (dt == v->dtype) {
            va_end(ap);
            return VM_OK;
        }
        pos += (size_t)snprintf(allowed + pos, sizeof allowed - pos, "%s%s", pos ? ", " : "", vm_dtype_name(dt));
        if (pos >= sizeof allowed) pos = sizeof allowed - 1;
    }
    va_end(ap);
    return vm_node_errorf(g, node, err, VM_EUNSUPPORTED, "input %d '%s' has type %s; vmaskc supports %s here",
                          i, v->name, vm_dtype_name(v->dtype), allowed);
}

enum vm_status vm_norm_axis(struct vm_graph *g, int32_t node, int64_t *axis, int rank,
                            struct vm_error *err) {
    if (*axis < -rank || *axis >= (rank ? rank : 1))
        return vm_node_errorf(g, node, err, VM_EINVAL, "axis %lld is out of range for rank %d",
                              (long long)*axis, rank);
    if (*axis < 0) *axis += rank;
    return VM_OK;
}

enum vm_status vm_broadcast(struct vm_graph *g, int32_t node, int ra, const struct vm_dim *a, int rb,
                            const struct vm_dim *b, int *rout, struct vm_dim *out,
                            struct vm_error *err) {
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - ra), ib = i - (r - rb);
        struct vm_dim da = ia >= 0 ? a[ia] : vm_dim_const(1);
        struct vm_dim db = ib >= 0 ? b[ib] : vm_dim_const(1);
        if (vm_dim_eq(&da, &db) || vm_dim_is_const_eq(&db, 1)) out[i] = da;
        else if (vm_dim_is_const_eq(&da, 1)) out[i] = db;
        else {
            char s1[128], s2[128];
            vm_dim_str(&da, (const char *const *)g->symbols, s1, sizeof s1);
            vm_dim_str(&db, (const char *const *)g->symbols, s2, sizeof s2);
            return vm_node_errorf(g, node, err, VM_EINVAL,
                                  "shapes do not broadcast: dimension %d is %s in one input and %s in the other",
                                  i, s1, s2);
        }
    }
    *rout = r;
    return VM_OK;
}

bool vm_known_input(struct vm_graph *g, int32_t node, int i, struct vm_dim *out, int64_t cap,
                    int64_t *n) {
    struct vm_value *v = vm_in(g, node, i);
    if (!v || !vm_value_is_known(v)) return false;
    int64_t cnt = vm_value_numel(v);
    if (cnt < 0 || cnt > cap) return false;
    for (int64_t k = 0; k < cnt; k++)
        if (!vm_value_known_elem(v, k, &out[k])) return false;
    *n = cnt;
    return true;
}

bool vm_known_input_ints(struct vm_graph *g, int32_t node, int i, int64_t *out, int64_t cap,
                         int64_t *n) {
    struct vm_dim tmp[64];
    int64_t cnt;
    if (cap > 64) cap = 64;
    if (!vm_known_input(g, node, i, tmp, cap, &cnt)) return false;
    for (int64_t k = 0; k < cnt; k++) {
        if (!vm_dim_is_const(&tmp[k])) return false;
        out[k] = vm_dim_value(&tmp[k]);
    }
    *n = cnt;
    return true;
}
