/* pass_remat: recompute cheap activations in the backward instead of keeping them (see passes.h).
 *
 * After autodiff a forward value is kept from the forward to the backward whenever a backward node
 * reads it. For a unary elementwise op y = f(x) both can be kept: BERT's feed-forward keeps the
 * GELU's input x (GELU's own gradient reads it) and its output y (the second matmul's weight
 * gradient reads it), 2 x [rows, 4 x hidden] per layer, the two largest activations of the layer.
 * When x is kept anyway, y costs one elementwise pass to recompute, so the backward readers of y
 * are given y' = f(x), a backward node scheduled just before the first of them (vm_node.sort_before;
 * vm_graph_sort would otherwise run it as soon as x exists, keeping y' alive through the whole
 * backward). y' lives from there to its last reader instead of from the forward on.
 *
 * Only ops whose kernel is the same in both phases and whose result depends on x alone (the same
 * bits as the forward's y); x must already be read by the backward, so its lifetime does not grow
 * past the point where y was kept until (y's backward readers come before f's own gradient).
 * VMASKC_REMAT=0 turns it off (tests compare the two trainings bit for bit).
 *
 * vm_pass_gelu_derivative, before it, makes the opposite choice for GELU: its gradient
 * EltwiseGrad(dy, x) evaluates erf and exp per element again, and recomputing y from x costs another
 * erf pass, where the forward can write y and the derivative d = Gelu'(x) in one pass (one exp
 * serves both). Then the backward keeps y and d instead of x, reads d in Mul(dy, d), which
 * vm_pass_fuse_matmul_mul folds into the matmul computing dy, and GELU costs no backward pass: two of
 * BERT-mini's passes over [rows, 4 x hidden] per layer, 4 ms of a 74 ms step. The price is one more
 * [rows, 4 x hidden] kept per layer (what PyTorch keeps: its GELU saves x, the next Linear y),
 * which is why it applies to narrow models only (GELU_DERIVATIVE_MAX_INNER below).
 * VMASKC_GELU_DERIVATIVE=0 turns it off, =1 on for every GELU.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

static bool cheap_unary(const char *op) {
    static const char *const ops[] = {"Gelu",     "Relu",     "Tanh",     "Sigmoid",     "Erf",       "Abs", "Neg", "LeakyRelu",
                                      "Elu",      "Selu",     "Softplus", "HardSigmoid", "HardSwish", "Softsign", NULL};
    for (int i = 0; ops[i]; i++)
        if (!strcmp(op, ops[i])) return true;
    return false;
}

static bool same_dims(const struct vm_value *a, const struct vm_value *b) {
    if (a->rank != b->rank || a->rank < 0) return false;
    for (int d = 0; d < a->rank; d++)
        if (!vm_dim_eq(&a->dims[d], &b->dims[d])) return false;
    return true;
}

static bool is_output(const struct vm_graph *g, int32_t v) {
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v) return true;
    return false;
}

/* The lowest id of a live backward node reading v, or -1. */
static int32_t first_backward_reader(const struct vm_graph *g, int32_t v) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead || n->phase != VM_PHASE_BACKWARD) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] == v) return i;
    }
    return -1;
}

enum vm_status vm_pass_remat(struct vm_graph *g, struct vm_error *err) {
    const char *env = getenv("VMASKC_REMAT");
    if (env && !strcmp(env, "0")) return VM_OK;
    bool changed = false;
    int32_t n_nodes = g->n_nodes;
    for (int32_t id = 0; id < n_nodes; id++) {
        const struct vm_node *n = &g->nodes[id];
        if (n->dead || n->phase != VM_PHASE_FORWARD || n->n_in != 1 || n->n_out != 1 || !cheap_unary(vm_op_name(n->op))) continue;
        int32_t x = n->in[0], y = n->out[0];
        if (x < 0 || y < 0 || g->values[y].dtype != VM_DTYPE_FLOAT || !same_dims(&g->values[x], &g->values[y])) continue;
        if (!(g->values[y].flags & VM_VALUE_SAVED) || is_output(g, y)) continue;
        int32_t first = first_backward_reader(g, y);
        if (first < 0 || first_backward_reader(g, x) < 0) continue;
        char name[600];
        snprintf(name, sizeof name, "%s/remat", n->name);
        int32_t op = n->op, out = vm_graph_fresh_value(g, name, VM_DTYPE_UNDEFINED, err);
        if (out < 0) return err->code;
        int32_t r = vm_graph_add_node(g, op, name, 1, &x, 1, &out, err); /* n is stale from here on */
        if (r < 0) return err->code;
        g->nodes[r].phase = VM_PHASE_BACKWARD;
        g->nodes[r].fwd = id;
        g->nodes[r].sort_before = first + 1;
        enum vm_status s = vm_node_copy_attrs(g, id, r, err);
        if (!s) s = vm_pass_reinfer(g, r, err);
        if (s) return s;
        for (int32_t i = 0; i < n_nodes; i++) {
            struct vm_node *c = &g->nodes[i];
            if (c->dead || c->phase != VM_PHASE_BACKWARD) continue;
            for (int32_t k = 0; k < c->n_in; k++)
                if (c->in[k] == y) c->in[k] = out;
        }
        g->values[y].flags &= ~(uint32_t)VM_VALUE_SAVED;
        changed = true;
    }
    return changed ? vm_graph_sort(g, err) : VM_OK;
}

/* GELU's backward passes cost about rows x F element operations against the rows x F x K
 * multiply-adds of the matmul that produced its input (K its inner dimension, the model's hidden
 * size in a BERT feed-forward): their share of a step shrinks as 1 / K, the memory the derivative
 * takes does not. Measured on the 2 cores here: BERT-mini (K = 256) steps 3.6% faster; BERT-base
 * (K = 768) no faster within the noise, but 113 MiB more to keep and to first-touch (training
 * peak 1,659 -> 1,775 MiB, one epoch). So only a GELU after a matmul of K <= 512 (or of unknown K)
 * writes its derivative; VMASKC_GELU_DERIVATIVE=1 makes every one. */
#define GELU_DERIVATIVE_MAX_INNER 512

/* The forward Gelu node an EltwiseGrad(alg gelu) differentiates, or -1. */
static int32_t gelu_of(const struct vm_graph *g, int32_t id) {
    const struct vm_node *e = &g->nodes[id];
    const char *alg = vm_node_string(g, id, "alg", NULL);
    int32_t f = e->fwd;
    if (!alg || strcmp(alg, "gelu") || e->n_in != 2 || f < 0 || f >= g->n_nodes) return -1;
    const struct vm_node *n = &g->nodes[f];
    const char *op = vm_op_name(n->op);
    if (n->dead || n->phase != VM_PHASE_FORWARD || n->in[0] != e->in[1] || (strcmp(op, "Gelu") && strcmp(op, "GeluD"))) return -1;
    return f;
}

/* The inner (reduced) dimension of the matmul producing v, or -1 when v is not a matmul's product
 * or the dimension is not a constant. */
static int64_t matmul_inner_dim(const struct vm_graph *g, int32_t v) {
    int32_t p = v >= 0 ? g->values[v].producer : -1;
    if (p < 0) return -1;
    const struct vm_node *n = &g->nodes[p];
    const char *op = vm_op_name(n->op);
    if ((strcmp(op, "MatMul") && strcmp(op, "MatMulT")) || n->n_in < 2 || n->in[0] < 0) return -1;
    const struct vm_value *a = &g->values[n->in[0]];
    bool ta = vm_node_int(g, p, "transA", 0) != 0;
    if (a->rank < 2 || vm_node_attr(g, p, "permA")) return -1;
    const struct vm_dim *d = &a->dims[a->rank - (ta ? 2 : 1)];
    return vm_dim_is_const(d) ? vm_dim_value(d) : -1;
}

enum vm_status vm_pass_gelu_derivative(struct vm_graph *g, struct vm_error *err) {
    const char *env = getenv("VMASKC_GELU_DERIVATIVE");
    if (env && !strcmp(env, "0")) return VM_OK;
    bool always = env && !strcmp(env, "1");
    int32_t gelu_d = vm_op_find("vmaskc", "GeluD"), mul = vm_op_find(NULL, "Mul"), egrad = vm_op_find("vmaskc", "EltwiseGrad");
    if (gelu_d < 0 || mul < 0 || egrad < 0) return vm_errorf(err, VM_EINTERNAL, "GeluD, Mul or EltwiseGrad is not in the op table");
    bool changed = false;
    int32_t n_nodes = g->n_nodes;
    for (int32_t id = 0; id < n_nodes; id++) {
        if (g->nodes[id].dead || g->nodes[id].op != egrad || g->nodes[id].phase != VM_PHASE_BACKWARD) continue;
        int32_t f = gelu_of(g, id);
        if (f < 0 || g->nodes[f].n_out != 1 + (g->nodes[f].op == gelu_d)) continue;
        int32_t x = g->nodes[f].in[0], y = g->nodes[f].out[0];
        if (g->values[y].dtype != VM_DTYPE_FLOAT || !same_dims(&g->values[x], &g->values[y])) continue;
        int64_t inner = matmul_inner_dim(g, x);
        if (!always && inner > GELU_DERIVATIVE_MAX_INNER) continue;
        int32_t d;
        if (g->nodes[f].op == gelu_d) {
            d = g->nodes[f].out[1];
        } else { /* Gelu(x) -> GeluD(x) writing y and d */
            char name[600];
            snprintf(name, sizeof name, "%s/derivative", g->nodes[f].name);
            d = vm_graph_fresh_value(g, name, VM_DTYPE_FLOAT, err);
            if (d < 0) return err->code;
            int32_t *out = realloc(g->nodes[f].out, 2 * sizeof *out);
            if (!out) return vm_errorf(err, VM_ENOMEM, "out of memory");
            g->nodes[f].out = out;
            out[1] = d;
            g->nodes[f].n_out = 2;
            g->nodes[f].op = gelu_d;
            g->values[d].producer = f;
            g->values[d].slot = 1;
            enum vm_status s = vm_pass_reinfer(g, f, err);
            if (s) return s;
        }
        /* EltwiseGrad(dy, x) -> Mul(dy, d), writing the same gradient value */
        int32_t in[2] = {g->nodes[id].in[0], d}, dx = g->nodes[id].out[0];
        char name[600];
        snprintf(name, sizeof name, "%s/Mul", g->nodes[id].name);
        g->nodes[id].dead = true;
        g->values[dx].producer = -1;
        int32_t m = vm_graph_add_node(g, mul, name, 2, in, 1, &dx, err);
        if (m < 0) return err->code;
        g->nodes[m].phase = VM_PHASE_BACKWARD;
        g->nodes[m].fwd = f;
        enum vm_status s = vm_pass_reinfer(g, m, err);
        if (s) return s;
        g->values[d].flags |= VM_VALUE_SAVED;
        if (first_backward_reader(g, x) < 0) g->values[x].flags &= ~(uint32_t)VM_VALUE_SAVED;
        changed = true;
    }
    return changed ? vm_graph_sort(g, err) : VM_OK;
}
