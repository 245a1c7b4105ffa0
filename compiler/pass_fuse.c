/* pass_fuse: recognizes two formulas PyTorch exports as chains of small ops and replaces each by
 * one op that runs as a single oneDNN primitive (bench/README.md: these chains made BERT-style
 * models 2x slower than ONNX Runtime):
 *
 *  - LayerNorm below opset 17: m = ReduceMean(x); d = x - m; v = ReduceMean(d ^ 2); y = d /
 *    sqrt(v + eps) [* gamma + beta] over trailing axes -> LayerNormalization(x, gamma, beta);
 *  - the erf GELU: x * 0.5 * (1 + erf(x / sqrt(2))) in any association of its products -> Gelu(x).
 *
 * and, for inference graphs only (vm_pass_fuse_matmul_bias; MatMulT has no gradient rule):
 *  - MatMul(A, W) -> Add(bias [N]) -> MatMulT(A, W, bias): oneDNN adds the bias as the matmul
 *    writes its output, instead of another pass over it.
 *
 * and, for training graphs after autodiff (vm_pass_fuse_matmul_add):
 *  - MatMulT(A, W[, bias]) -> Add(Z) of the same shape -> MatMulT(A, W, bias, Z): the residual
 *    adds of the forward and the gradient accumulations of the backward (dX of a layer read by
 *    several) become oneDNN's binary-add post-op, added as the matmul writes its output.
 *
 * A chain is fused only when its intermediate values have no readers outside it, so nothing else
 * observes the difference. The chain's last value keeps its id and name (a graph output, or a
 * --mask-after value, stays addressable); the other nodes die.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

/* The single live node reading v (with the input slot), or -1 when zero or several. */
static int32_t only_reader(const struct vm_graph *g, int32_t v, int *slot) {
    int32_t found = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] != v) continue;
            if (found >= 0) return -1;
            found = i;
            if (slot) *slot = k;
        }
    }
    if (g->values[v].flags & VM_VALUE_OUTPUT) return -1;
    return found;
}

static int32_t readers(const struct vm_graph *g, int32_t v) { return vm_graph_count_uses(g, v); }

static bool is_op(const struct vm_graph *g, int32_t node, const char *op) {
    return node >= 0 && !g->nodes[node].dead && !strcmp(vm_op_name(g->nodes[node].op), op);
}

static int32_t producer(const struct vm_graph *g, int32_t v) { return v >= 0 ? g->values[v].producer : -1; }

/* A float constant scalar (any rank, one element) equal to want within tol. */
static bool const_near(const struct vm_graph *g, int32_t v, double want, double tol) {
    const struct vm_value *val = &g->values[v];
    if (!val->data || (val->flags & VM_VALUE_PARAM) || !vm_dtype_is_float(val->dtype) || vm_value_numel(val) != 1) return false;
    return fabs(vm_value_data_f64(val, 0) - want) <= tol;
}

static bool const_scalar(const struct vm_graph *g, int32_t v, double *out) {
    const struct vm_value *val = &g->values[v];
    if (!val->data || (val->flags & VM_VALUE_PARAM) || !vm_dtype_is_float(val->dtype) || vm_value_numel(val) != 1) return false;
    *out = vm_value_data_f64(val, 0);
    return true;
}

/* Binary node n = op(a, other) in either order: returns the other operand, -1 when a is not one. */
static int32_t other_operand(const struct vm_graph *g, int32_t n, int32_t a) {
    const struct vm_node *nd = &g->nodes[n];
    if (nd->n_in != 2) return -1;
    if (nd->in[0] == a) return nd->in[1];
    if (nd->in[1] == a && strcmp(vm_op_name(nd->op), "Sub") && strcmp(vm_op_name(nd->op), "Div")) return nd->in[0];
    return -1;
}

static void kill(struct vm_graph *g, int32_t n) { g->nodes[n].dead = true; }

/* The ReduceMean node's axes if they are the trailing block of a rank-r input, keepdims 1. */
static int trailing_axes(const struct vm_graph *g, int32_t n, int r) {
    const struct vm_attr *a = vm_node_attr(g, n, "axes");
    if (!a || a->type != VM_ATTR_INTS || a->n < 1 || vm_node_int(g, n, "keepdims", 1) != 1) return -1;
    for (int i = 0; i < a->n; i++)
        if (a->ints[i] != r - a->n + i) return -1;
    return a->n;
}

static enum vm_status replace_with(struct vm_graph *g, const char *op, const char *name, int n_in, const int32_t *in,
                                   int32_t out, int32_t *node_out, struct vm_error *err) {
    int32_t opi = vm_op_find(NULL, op);
    if (opi < 0) opi = vm_op_find("vmaskc", op);
    int32_t id = vm_graph_add_node(g, opi, name, n_in, in, 1, &out, err);
    if (id < 0) return err->code;
    *node_out = id;
    return VM_OK;
}

static enum vm_status fuse_layernorm(struct vm_graph *g, int32_t div, bool *changed, struct vm_error *err) {
    /* n = Div(d, sd), sd = Sqrt(ve), ve = Add(v, eps), v = ReduceMean(p), p = Pow(d, 2),
     * d = Sub(x, m), m = ReduceMean(x) */
    const struct vm_node *dn = &g->nodes[div];
    int32_t d = dn->in[0], sd = dn->in[1], n = dn->out[0];
    int32_t sqrt_n = producer(g, sd);
    if (!is_op(g, sqrt_n, "Sqrt")) return VM_OK;
    int32_t ve = g->nodes[sqrt_n].in[0], add_n = producer(g, ve);
    if (!is_op(g, add_n, "Add")) return VM_OK;
    int32_t v = -1;
    double eps = 0;
    for (int k = 0; k < 2; k++) {
        int32_t a = g->nodes[add_n].in[k], b = g->nodes[add_n].in[1 - k];
        if (const_scalar(g, b, &eps) && is_op(g, producer(g, a), "ReduceMean")) v = a;
    }
    if (v < 0 || !(eps > 0)) return VM_OK;
    int32_t rv = producer(g, v), p = g->nodes[rv].in[0], pow_n = producer(g, p);
    if (!is_op(g, pow_n, "Pow") || g->nodes[pow_n].in[0] != d || !const_near(g, g->nodes[pow_n].in[1], 2.0, 0)) return VM_OK;
    int32_t sub_n = producer(g, d);
    if (!is_op(g, sub_n, "Sub")) return VM_OK;
    int32_t x = g->nodes[sub_n].in[0], m = g->nodes[sub_n].in[1], rm = producer(g, m);
    if (!is_op(g, rm, "ReduceMean") || g->nodes[rm].in[0] != x) return VM_OK;
    const struct vm_value *xv = &g->values[x];
    if (xv->dtype != VM_DTYPE_FLOAT) return VM_OK;
    const int xrank = xv->rank; /* xv may move when values are added below */
    int k1 = trailing_axes(g, rm, xrank), k2 = trailing_axes(g, rv, xrank);
    if (k1 < 1 || k1 != k2) return VM_OK;
    /* intermediates read only inside the chain */
    if (readers(g, m) != 1 || readers(g, d) != 2 || readers(g, p) != 1 || readers(g, v) != 1 || readers(g, ve) != 1 ||
        readers(g, sd) != 1 || (g->values[m].flags | g->values[d].flags | g->values[p].flags | g->values[v].flags |
                                g->values[ve].flags | g->values[sd].flags) & VM_VALUE_OUTPUT)
        return VM_OK;
    /* optional affine: y = n * gamma + beta, gamma/beta shaped like the normalized dims */
    int32_t gamma = -1, beta = -1, out = n, mul_n = -1, badd_n = -1;
    int slot;
    int32_t r1 = only_reader(g, n, &slot);
    if (is_op(g, r1, "Mul")) {
        int32_t o = other_operand(g, r1, n);
        if (o >= 0 && g->values[o].rank == k1 && g->values[o].dtype == VM_DTYPE_FLOAT) {
            bool shape_ok = true;
            for (int i = 0; i < k1; i++) shape_ok &= vm_dim_eq(&g->values[o].dims[i], &xv->dims[xv->rank - k1 + i]);
            if (shape_ok) {
                gamma = o;
                mul_n = r1;
                out = g->nodes[r1].out[0];
                int32_t r2 = only_reader(g, out, &slot);
                if (is_op(g, r2, "Add")) {
                    int32_t ob = other_operand(g, r2, out);
                    if (ob >= 0 && g->values[ob].rank == k1 && g->values[ob].dtype == VM_DTYPE_FLOAT) {
                        bool ok = true;
                        for (int i = 0; i < k1; i++) ok &= vm_dim_eq(&g->values[ob].dims[i], &xv->dims[xv->rank - k1 + i]);
                        if (ok) {
                            beta = ob;
                            badd_n = r2;
                            out = g->nodes[r2].out[0];
                        }
                    }
                }
            }
        }
    }
    if (gamma < 0) {
        /* LayerNormalization needs a scale: a constant of ones over the normalized dims */
        int64_t dims[VM_MAX_RANK], cnt = 1;
        for (int i = 0; i < k1; i++) {
            if (!vm_dim_is_const(&xv->dims[xv->rank - k1 + i])) return VM_OK;
            dims[i] = vm_dim_value(&xv->dims[xv->rank - k1 + i]);
            cnt *= dims[i];
        }
        gamma = vm_graph_fresh_value(g, "layernorm.ones", VM_DTYPE_FLOAT, err);
        float *ones = vm_malloc(sizeof(float) * (size_t)cnt, err);
        if (gamma < 0 || !ones) return VM_ENOMEM;
        for (int64_t i = 0; i < cnt; i++) ones[i] = 1.0f;
        vm_value_set_shape_ints(&g->values[gamma], k1, dims);
        vm_value_set_data(&g->values[gamma], ones, sizeof(float) * (size_t)cnt);
    }
    char name[512];
    snprintf(name, sizeof name, "%s/fused_LayerNormalization", g->nodes[div].name);
    int32_t in[3] = {x, gamma, beta}, ln = -1;
    kill(g, rm);
    kill(g, sub_n);
    kill(g, pow_n);
    kill(g, rv);
    kill(g, add_n);
    kill(g, sqrt_n);
    kill(g, div);
    if (mul_n >= 0) kill(g, mul_n);
    if (badd_n >= 0) kill(g, badd_n);
    enum vm_status s = replace_with(g, "LayerNormalization", name, beta >= 0 ? 3 : 2, in, out, &ln, err);
    if (!s) s = vm_node_set_int(g, ln, "axis", xrank - k1, err);
    if (!s) s = vm_node_set_float(g, ln, "epsilon", eps, err);
    if (!s) s = vm_op_row(g->nodes[ln].op)->infer(g, ln, err);
    *changed = true;
    return s;
}

static enum vm_status fuse_gelu(struct vm_graph *g, int32_t erf_n, bool *changed, struct vm_error *err) {
    /* c = Add(Erf(Div(x, sqrt2) | Mul(x, 1/sqrt2)), 1) */
    int32_t a = g->nodes[erf_n].in[0], b = g->nodes[erf_n].out[0], pre = producer(g, a), x = -1;
    if (is_op(g, pre, "Div") && const_near(g, g->nodes[pre].in[1], M_SQRT2, 1e-6)) x = g->nodes[pre].in[0];
    else if (is_op(g, pre, "Mul")) {
        for (int k = 0; k < 2; k++)
            if (const_near(g, g->nodes[pre].in[1 - k], M_SQRT1_2, 1e-6)) x = g->nodes[pre].in[k];
    }
    if (x < 0 || g->values[x].dtype != VM_DTYPE_FLOAT || readers(g, a) != 1) return VM_OK;
    int slot;
    int32_t add1 = only_reader(g, b, &slot);
    if (!is_op(g, add1, "Add")) return VM_OK;
    int32_t one = other_operand(g, add1, b);
    if (one < 0 || !const_near(g, one, 1.0, 0)) return VM_OK;
    int32_t c = g->nodes[add1].out[0];
    /* the products: {x, c, 0.5} in any association */
    int32_t m1 = only_reader(g, c, &slot), t_n = -1, last = -1;
    if (!is_op(g, m1, "Mul")) return VM_OK;
    int32_t o1 = other_operand(g, m1, c), d = g->nodes[m1].out[0];
    if (o1 == x) {
        /* (x * c) * 0.5 */
        int32_t m2 = only_reader(g, d, &slot);
        if (!is_op(g, m2, "Mul")) return VM_OK;
        int32_t half = other_operand(g, m2, d);
        if (half < 0 || !const_near(g, half, 0.5, 0)) return VM_OK;
        last = m2;
    } else if (o1 >= 0 && const_near(g, o1, 0.5, 0)) {
        /* (c * 0.5) * x */
        int32_t m2 = only_reader(g, d, &slot);
        if (!is_op(g, m2, "Mul") || other_operand(g, m2, d) != x) return VM_OK;
        last = m2;
    } else if (o1 >= 0 && is_op(g, producer(g, o1), "Mul") && readers(g, o1) == 1) {
        /* (x * 0.5) * c */
        t_n = producer(g, o1);
        int32_t other = other_operand(g, t_n, x);
        if (other < 0 || !const_near(g, other, 0.5, 0)) return VM_OK;
        last = m1;
    } else {
        return VM_OK;
    }
    int32_t out = g->nodes[last].out[0];
    char name[512];
    snprintf(name, sizeof name, "%s/fused_Gelu", g->nodes[erf_n].name);
    kill(g, pre);
    kill(g, erf_n);
    kill(g, add1);
    kill(g, m1);
    if (last != m1) kill(g, last);
    if (t_n >= 0) kill(g, t_n);
    int32_t gid = -1;
    enum vm_status s = replace_with(g, "Gelu", name, 1, &x, out, &gid, err);
    if (!s) s = vm_op_row(g->nodes[gid].op)->infer(g, gid, err);
    *changed = true;
    return s;
}

enum vm_status vm_pass_fuse_norm_gelu(struct vm_graph *g, struct vm_error *err) {
    bool changed = false;
    enum vm_status s = VM_OK;
    int32_t n_nodes = g->n_nodes;
    for (int32_t i = 0; i < n_nodes && !s; i++) {
        if (g->nodes[i].dead) continue;
        const char *op = vm_op_name(g->nodes[i].op);
        if (!strcmp(op, "Div")) s = fuse_layernorm(g, i, &changed, err);
        else if (!strcmp(op, "Erf")) s = fuse_gelu(g, i, &changed, err);
    }
    if (s) return s;
    return changed ? vm_graph_sort(g, err) : VM_OK;
}

/* The matmul node mm takes over the Add (or Mul) it was fused with: it writes that node's output
 * (which keeps its id and name), the Add dies, mm's shapes are inferred again. */
static enum vm_status absorb_add(struct vm_graph *g, int32_t mm, int32_t add, bool *changed, struct vm_error *err) {
    int32_t y = g->nodes[mm].out[0], out = g->nodes[add].out[0];
    g->nodes[mm].out[0] = out;
    g->values[y].producer = -1;
    g->values[out].producer = mm;
    g->values[out].slot = 0;
    kill(g, add);
    *changed = true;
    return vm_op_row(g->nodes[mm].op)->infer(g, mm, err);
}

static enum vm_status fuse_matmul_bias(struct vm_graph *g, int32_t mm, bool *changed, struct vm_error *err) {
    const struct vm_node *n = &g->nodes[mm];
    int32_t a = n->in[0], w = n->in[1], y = n->out[0], slot;
    if (g->values[a].rank < 2 || g->values[w].rank != 2 || g->values[y].dtype != VM_DTYPE_FLOAT) return VM_OK;
    int32_t add = only_reader(g, y, &slot);
    if (!is_op(g, add, "Add") || g->nodes[add].phase != VM_PHASE_FORWARD) return VM_OK;
    int32_t bias = other_operand(g, add, y);
    if (bias < 0 || bias == y) return VM_OK;
    const struct vm_value *bv = &g->values[bias];
    if (bv->rank != 1 || bv->dtype != VM_DTYPE_FLOAT || !vm_dim_eq(&bv->dims[0], &g->values[w].dims[1])) return VM_OK;
    /* the MatMul node itself becomes the fused one, so it keeps its place in the schedule (in a
     * training graph the backward nodes come after every forward one) */
    size_t len = strlen(g->nodes[mm].name) + sizeof "/fused_MatMulT";
    char *name = vm_malloc(len, err);
    int32_t *in = vm_realloc(g->nodes[mm].in, 3 * sizeof *in, err);
    if (!name || !in) {
        free(name);
        if (in) g->nodes[mm].in = in;
        return VM_ENOMEM;
    }
    struct vm_node *nd = &g->nodes[mm];
    snprintf(name, len, "%s/fused_MatMulT", nd->name);
    free(nd->name);
    nd->name = name;
    nd->in = in;
    in[2] = bias;
    nd->n_in = 3;
    int32_t op = vm_op_find(NULL, "MatMulT");
    nd->op = op >= 0 ? op : vm_op_find("vmaskc", "MatMulT");
    return absorb_add(g, mm, add, changed, err);
}

typedef enum vm_status (*fuse_fn)(struct vm_graph *g, int32_t n, bool *changed, struct vm_error *err);

/* fn on every live node of op `op` (forward ones only when forward_only), then one sort. */
static enum vm_status fuse_each(struct vm_graph *g, int32_t op, bool forward_only, fuse_fn fn, struct vm_error *err) {
    bool changed = false;
    enum vm_status s = VM_OK;
    int32_t n_nodes = g->n_nodes;
    for (int32_t i = 0; i < n_nodes && !s; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == op && (!forward_only || g->nodes[i].phase == VM_PHASE_FORWARD))
            s = fn(g, i, &changed, err);
    if (s) return s;
    return changed ? vm_graph_sort(g, err) : VM_OK;
}

enum vm_status vm_pass_fuse_matmul_bias(struct vm_graph *g, struct vm_error *err) {
    return fuse_each(g, vm_op_find(NULL, "MatMul"), true, fuse_matmul_bias, err);
}

/* MatMulT -> `op`(T), T of the output's shape, both in the same phase (a forward node must not
 * come to wait for a backward value): T becomes the matmul's input `slot`, a binary post-op —
 * Add(Z) at 3 (vm_pass_fuse_matmul_add), Mul(M) at 4 (vm_pass_fuse_matmul_mul; M is added after Z,
 * so a product that already has a factor takes no addend). Not with a perm (the strided product
 * has no post-ops). */
static enum vm_status fuse_matmul_post(struct vm_graph *g, int32_t mm, const char *op, int slot, bool *changed, struct vm_error *err) {
    int32_t y = g->nodes[mm].out[0], rs;
    if (g->nodes[mm].n_in > slot || g->values[y].dtype != VM_DTYPE_FLOAT) return VM_OK;
    if (vm_node_attr(g, mm, "permA") || vm_node_attr(g, mm, "permB") || vm_node_attr(g, mm, "permY")) return VM_OK;
    int32_t r = only_reader(g, y, &rs);
    if (!is_op(g, r, op) || g->nodes[r].phase != g->nodes[mm].phase) return VM_OK;
    int32_t t = other_operand(g, r, y), out = g->nodes[r].out[0];
    if (t < 0 || t == y) return VM_OK;
    const struct vm_value *yv = &g->values[y], *tv = &g->values[t], *ov = &g->values[out];
    if (tv->dtype != VM_DTYPE_FLOAT || tv->rank != yv->rank || ov->rank != yv->rank) return VM_OK;
    for (int i = 0; i < yv->rank; i++)
        if (!vm_dim_eq(&tv->dims[i], &yv->dims[i]) || !vm_dim_eq(&ov->dims[i], &yv->dims[i])) return VM_OK;
    int32_t *in = vm_realloc(g->nodes[mm].in, (size_t)(slot + 1) * sizeof *in, err);
    if (!in) return VM_ENOMEM;
    struct vm_node *nd = &g->nodes[mm];
    nd->in = in;
    for (int k = nd->n_in; k < slot; k++) in[k] = -1; /* no bias (, no addend) */
    in[slot] = t;
    nd->n_in = slot + 1;
    return absorb_add(g, mm, r, changed, err);
}

static enum vm_status fuse_matmul_add(struct vm_graph *g, int32_t mm, bool *changed, struct vm_error *err) {
    return fuse_matmul_post(g, mm, "Add", 3, changed, err);
}

static enum vm_status fuse_matmul_mul(struct vm_graph *g, int32_t mm, bool *changed, struct vm_error *err) {
    return fuse_matmul_post(g, mm, "Mul", 4, changed, err);
}

enum vm_status vm_pass_fuse_matmul_add(struct vm_graph *g, struct vm_error *err) {
    return fuse_each(g, vm_op_find("vmaskc", "MatMulT"), false, fuse_matmul_add, err);
}

enum vm_status vm_pass_fuse_matmul_mul(struct vm_graph *g, struct vm_error *err) {
    return fuse_each(g, vm_op_find("vmaskc", "MatMulT"), false, fuse_matmul_mul, err);
}

/* ---- Transpose -> MatMul / MatMulT -> Transpose (vm_pass_fuse_transpose_matmul) ----
 * An operand that is Transpose(X, p) is read from X through strides (permA / permB = p), and a
 * product whose only reader is Transpose(., q) writes that transpose's output through strides
 * (permY = q): the attention heads' split and merge of a BERT-style encoder, forward and backward,
 * cost no pass of their own. A MatMul becomes a MatMulT (transA = transB = 0) when it takes a perm.
 * Both operands must have one rank (no broadcast padding), and a product with an addend keeps its
 * output. oneDNN's fast matmul (brgemm) needs a unit stride in one of an operand's two last dims
 * and in the output's last dim (others run its reference: 20x slower in BERT-mini's step), so only
 * such perms are folded. A Transpose left without readers dies. */

static const struct vm_attr *transpose_perm(const struct vm_graph *g, int32_t t, int rank) {
    if (!is_op(g, t, "Transpose")) return NULL;
    const struct vm_attr *p = vm_node_attr(g, t, "perm");
    return p && p->type == VM_ATTR_INTS && p->n == rank ? p : NULL;
}

static enum vm_status as_matmul_t(struct vm_graph *g, int32_t mm, struct vm_error *err) {
    if (!strcmp(vm_op_name(g->nodes[mm].op), "MatMulT")) return VM_OK;
    int32_t op = vm_op_find(NULL, "MatMulT");
    g->nodes[mm].op = op >= 0 ? op : vm_op_find("vmaskc", "MatMulT");
    enum vm_status s = vm_node_set_int(g, mm, "transA", 0, err);
    return s ? s : vm_node_set_int(g, mm, "transB", 0, err);
}

static enum vm_status fuse_transpose_matmul(struct vm_graph *g, int32_t mm, bool *changed, struct vm_error *err) {
    struct vm_node *nd = &g->nodes[mm];
    if (nd->n_in < 2 || (nd->n_in > 3 && nd->in[3] >= 0) || (nd->n_in > 4 && nd->in[4] >= 0)) return VM_OK;
    int32_t a = nd->in[0], b = nd->in[1], y = nd->out[0];
    int rank = g->values[a].rank;
    if (rank < 2 || g->values[b].rank != rank || g->values[y].rank != rank || g->values[y].dtype != VM_DTYPE_FLOAT) return VM_OK;
    static const char *const names[2] = {"permA", "permB"};
    bool folded = false;
    enum vm_status s;
    for (int k = 0; k < 2; k++) {
        int32_t v = g->nodes[mm].in[k], t = producer(g, v);
        const struct vm_attr *p = transpose_perm(g, t, rank);
        if (!p || vm_node_attr(g, mm, names[k]) || (p->ints[rank - 1] != rank - 1 && p->ints[rank - 2] != rank - 1)) continue;
        int64_t perm[VM_MAX_RANK];
        for (int i = 0; i < rank; i++) perm[i] = p->ints[i];
        if ((s = as_matmul_t(g, mm, err)) || (s = vm_node_set_ints(g, mm, names[k], perm, rank, err))) return s;
        int32_t x = g->nodes[t].in[0];
        g->nodes[mm].in[k] = x;
        /* a backward product now reads the forward value behind the transpose */
        if (g->nodes[mm].phase == VM_PHASE_BACKWARD && producer(g, x) >= 0 && g->nodes[producer(g, x)].phase == VM_PHASE_FORWARD)
            g->values[x].flags |= VM_VALUE_SAVED;
        if (!readers(g, v) && !(g->values[v].flags & VM_VALUE_OUTPUT)) kill(g, t);
        folded = true;
    }
    int slot;
    int32_t t = only_reader(g, y, &slot);
    const struct vm_attr *q = transpose_perm(g, t, rank);
    if (q && q->ints[rank - 1] == rank - 1 && g->nodes[t].phase == g->nodes[mm].phase && !vm_node_attr(g, mm, "permY")) {
        int64_t perm[VM_MAX_RANK];
        for (int i = 0; i < rank; i++) perm[i] = q->ints[i];
        if ((s = as_matmul_t(g, mm, err)) || (s = vm_node_set_ints(g, mm, "permY", perm, rank, err))) return s;
        int32_t out = g->nodes[t].out[0];
        g->nodes[mm].out[0] = out;
        g->values[y].producer = -1;
        g->values[out].producer = mm;
        g->values[out].slot = 0;
        kill(g, t);
        folded = true;
    }
    if (!folded) return VM_OK;
    *changed = true;
    return vm_op_row(g->nodes[mm].op)->infer(g, mm, err);
}

enum vm_status vm_pass_fuse_transpose_matmul(struct vm_graph *g, struct vm_error *err) {
    const char *env = getenv("VMASKC_FUSE_TRANSPOSE");
    if (env && !strcmp(env, "0")) return VM_OK;
    bool changed = false;
    enum vm_status s = VM_OK;
    int32_t n_nodes = g->n_nodes, mm = vm_op_find(NULL, "MatMul"), mmt = vm_op_find("vmaskc", "MatMulT");
    for (int32_t i = 0; i < n_nodes && !s; i++)
        if (!g->nodes[i].dead && (g->nodes[i].op == mm || g->nodes[i].op == mmt)) s = fuse_transpose_matmul(g, i, &changed, err);
    if (s) return s;
    return changed ? vm_graph_sort(g, err) : VM_OK;
}
