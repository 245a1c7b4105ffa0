/* training: builds the training graph (see training.h).
 *
 * The mask layer follows the VMASK release: per token, Linear(E->H) -> tanh -> Linear(H->2) gives
 * keep/drop logits (index 1 = keep), initialized like torch.nn.Linear (uniform within
 * 1/sqrt(fan_in)) from the seed. The layer multiplies the embedding by r (training: the hard
 * Gumbel sample; inference: q). Parameters are the float initializers with more than one element
 * that feed a differentiable input; the word embedding is frozen unless train_embedding.
 */
#include "training.h"
#include "passes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "compiler.h"
#include "ops.h"

static const char *const method_names[] = {"vmask", "base", "l2", "l2x", "iba"};

const char *vm_method_name(enum vm_mask_method m) {
    return (unsigned)m < sizeof method_names / sizeof method_names[0] ? method_names[m] : "?";
}

bool vm_method_parse(const char *s, enum vm_mask_method *out) {
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (!strcmp(s, method_names[i])) {
            *out = (enum vm_mask_method)i;
            return true;
        }
    return false;
}

int64_t vm_iba_estimate(const float *table, int64_t V, int64_t E, const int32_t *ids, int64_t n, int64_t pad, const int64_t *skip,
                        int n_skip, float *mu, float *sigma) {
    double *mean = calloc((size_t)(2 * E + 1), sizeof *mean), *m2 = mean ? mean + E : NULL;
    int64_t cnt = 0;
    for (int64_t i = 0; mean && i < n; i++) {
        int64_t id = ids[i];
        bool skipped = id == pad || id < 0 || id >= V;
        for (int k = 0; k < n_skip; k++) skipped |= id == skip[k];
        if (skipped) continue;
        cnt++;
        const float *x = table + id * E;
        for (int64_t e = 0; e < E; e++) {
            double d = x[e] - mean[e];
            mean[e] += d / (double)cnt;
            m2[e] += d * (x[e] - mean[e]);
        }
    }
    for (int64_t e = 0; e < E; e++) {
        double sd = mean && cnt > 1 ? sqrt(m2[e] / (double)(cnt - 1)) : 1.0;
        mu[e] = mean ? (float)mean[e] : 0.0f;
        sigma[e] = (float)(sd > 0.01 ? sd : 0.01);
    }
    free(mean);
    return mean ? cnt : -1;
}

void vm_train_opts_default(struct vm_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->mask_hidden = 100;
    o->tau = 1.0;
    o->l2x_k = 10;
    o->l2x_tau = 0.5;
    o->pad_id = -1;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->epsilon = 1e-8;
    o->seed = 1;
}

/* Adds a forward node and infers its outputs at once. */
static int32_t fwd(struct vm_graph *g, const char *op, const char *name, int n_in, const int32_t *in, int n_out,
                   int32_t *outs, struct vm_error *err) {
    int32_t id = vm_graph_build(g, op, name, n_in, in, n_out, outs, err);
    return id;
}

static enum vm_status fwd_done(struct vm_graph *g, int32_t id, struct vm_error *err) {
    const struct vm_op_row *row = vm_op_row(g->nodes[id].op);
    enum vm_status s = row->infer(g, id, err);
    if (!s && row->fold) s = row->fold(g, id, err);
    return s;
}

static int32_t fwd1(struct vm_graph *g, const char *op, const char *name, int n_in, const int32_t *in, struct vm_error *err) {
    int32_t out;
    int32_t id = fwd(g, op, name, n_in, in, 1, &out, err);
    if (id < 0 || fwd_done(g, id, err)) return -1;
    return out;
}

static int32_t add_named(struct vm_graph *g, const char *name, int32_t dtype, struct vm_error *err) {
    if (vm_graph_find_value(g, name) < 0) return vm_graph_add_value(g, name, dtype, err);
    return vm_graph_fresh_value(g, name, dtype, err);
}

static enum vm_status add_input(struct vm_graph *g, int32_t v, struct vm_error *err) {
    int32_t *ni = vm_realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *ni, err);
    if (!ni) return VM_ENOMEM;
    g->inputs = ni;
    g->inputs[g->n_inputs++] = v;
    g->values[v].flags |= VM_VALUE_INPUT | VM_VALUE_AUX;
    return VM_OK;
}

static enum vm_status add_output(struct vm_graph *g, int32_t v, struct vm_error *err) {
    int32_t *no = vm_realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *no, err);
    if (!no) return VM_ENOMEM;
    g->outputs = no;
    g->outputs[g->n_outputs++] = v;
    g->values[v].flags |= VM_VALUE_OUTPUT;
    return VM_OK;
}

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Float parameter of the given shape, uniform in [-bound, bound] from (seed, tag). */
static int32_t new_param(struct vm_graph *g, const char *name, int rank, const int64_t *dims, double bound, uint64_t seed,
                         uint64_t tag, struct vm_error *err) {
    int32_t v = add_named(g, name, VM_DTYPE_FLOAT, err);
    if (v < 0) return -1;
    int64_t n = vm_numel(dims, rank);
    float *d = vm_malloc((size_t)n * sizeof *d, err);
    if (!d) return -1;
    uint64_t st = mix(seed ^ mix(tag));
    for (int64_t i = 0; i < n; i++) {
        st = mix(st);
        double u = (double)(st >> 11) / 9007199254740992.0;
        d[i] = (float)((2 * u - 1) * bound);
    }
    vm_value_set_shape_ints(&g->values[v], rank, dims);
    vm_value_set_data(&g->values[v], d, (size_t)n * sizeof *d);
    g->values[v].flags |= VM_VALUE_INIT | VM_VALUE_PARAM;
    return v;
}

/* A persistent state value shaped like `like`, starting at zero. It gets no bytes here: the runtime
 * zero-fills its persistent region, and Adam's two moments of BERT-base (656 MiB) held as zeros in
 * the graph stayed resident through the whole training run. */
static int32_t zeros_like(struct vm_graph *g, const char *name, int32_t like, uint32_t flags, struct vm_error *err) {
    int32_t v = add_named(g, name, VM_DTYPE_FLOAT, err);
    if (v < 0) return -1;
    const struct vm_value *lv = &g->values[like];
    int64_t dims[VM_MAX_RANK];
    for (int d = 0; d < lv->rank; d++) dims[d] = vm_dim_value(&lv->dims[d]);
    vm_value_set_shape_ints(&g->values[v], lv->rank, dims);
    g->values[v].flags |= flags;
    return v;
}

/* Is value v read by some live node at a differentiable input position, and never at a position
 * whose value must be known at compile time? */
static bool used_as_weight(const struct vm_graph *g, int32_t v) {
    bool diff = false;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead) continue;
        const struct vm_op_row *row = vm_op_row(n->op);
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] != v) continue;
            if (k < 32 && (row->shape_in & (1u << k))) return false;
            if (!(row->flags & VM_OP_NO_GRAD) && !(k < 32 && (row->nondiff & (1u << k)))) diff = true;
        }
    }
    return diff;
}

static enum vm_status mark_params(struct vm_graph *g, const struct vm_train_opts *o, int32_t emb_table,
                                  struct vm_train_info *info, struct vm_error *err) {
    for (int i = 0; i < o->n_freeze; i++)
        if (vm_graph_find_value(g, o->freeze[i]) < 0)
            return vm_errorf(err, VM_EINVAL, "--freeze %s: the model has no initializer of that name", o->freeze[i]);
    for (int32_t v = 0; v < g->n_values; v++) {
        struct vm_value *val = &g->values[v];
        if (!(val->flags & VM_VALUE_INIT) || val->dtype != VM_DTYPE_FLOAT || !val->data) continue;
        int64_t n = vm_value_numel(val);
        if (n <= 1 || !used_as_weight(g, v)) continue;
        info->n_params += n;
        bool frozen = v == emb_table && !o->train_embedding;
        for (int i = 0; i < o->n_freeze; i++) frozen |= !strcmp(o->freeze[i], val->name);
        if (frozen) {
            val->flags |= VM_VALUE_FROZEN;
            continue;
        }
        val->flags |= VM_VALUE_PARAM;
        info->n_trainable += n;
    }
    return VM_OK;
}

/* The keep/drop logits [.., 2] of the mask network on x, -1 on error. When x = Gather(frozen table,
 * ids) on axis 0 the logits depend on the word alone, so one VMaskNet step runs the network once
 * per distinct word of the batch; otherwise Linear -> tanh -> Linear from ordinary rows. */
static int32_t mask_logits(struct vm_graph *g, const struct vm_train_opts *o, int32_t x, int32_t w1, int32_t b1, int32_t w2, int32_t b2,
                           struct vm_error *err) {
    int32_t gn = g->values[x].producer;
    const struct vm_node *ga = gn >= 0 ? &g->nodes[gn] : NULL;
    if (!o->unfused_mask && ga && !strcmp(vm_op_name(ga->op), "Gather") && ga->out[0] == x && vm_node_int(g, gn, "axis", 0) == 0 &&
        !(g->values[ga->in[0]].flags & VM_VALUE_PARAM) && g->values[ga->in[0]].rank == 2 && g->values[ga->in[1]].rank == 2) {
        int32_t in[6] = {ga->in[0], ga->in[1], w1, b1, w2, b2}, out[4];
        int32_t id = fwd(g, "VMaskNet", "vmask/net", 6, in, 4, out, err);
        return id < 0 || fwd_done(g, id, err) ? -1 : out[0];
    }
    int32_t in2[2] = {x, w1};
    int32_t h = fwd1(g, "MatMul", "vmask/fc1/MatMul", 2, in2, err);
    in2[0] = h;
    in2[1] = b1;
    h = h < 0 ? -1 : fwd1(g, "Add", "vmask/fc1/Add", 2, in2, err);
    h = h < 0 ? -1 : fwd1(g, "Tanh", "vmask/Tanh", 1, &h, err);
    in2[0] = h;
    in2[1] = w2;
    int32_t p = h < 0 ? -1 : fwd1(g, "MatMul", "vmask/fc2/MatMul", 2, in2, err);
    in2[0] = p;
    in2[1] = b2;
    return p < 0 ? -1 : fwd1(g, "Add", "vmask/fc2/Add", 2, in2, err);
}

/* The importer folds nodes whose inputs are all initializers (a Reshape, Transpose or Identity of
 * a weight) into compile-time copies, before anything is a parameter. A copy made from what is
 * now a trained parameter would stay frozen while the parameter trains, so those outputs (and
 * copies made from them) lose their data and run as steps again. */
static enum vm_status unfold_params(struct vm_graph *g, struct vm_error *err) {
    bool *from = vm_calloc((size_t)g->n_values + 1, sizeof *from, err);
    if (!from) return VM_ENOMEM;
    for (int32_t v = 0; v < g->n_values; v++) from[v] = (g->values[v].flags & VM_VALUE_PARAM) != 0;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        bool reads = false;
        for (int32_t k = 0; k < n->n_in; k++) reads |= n->in[k] >= 0 && from[n->in[k]];
        if (n->dead || !reads) continue;
        for (int32_t k = 0; k < n->n_out; k++) {
            struct vm_value *o = n->out[k] >= 0 ? &g->values[n->out[k]] : NULL;
            if (!o || !o->data || (o->flags & VM_VALUE_INIT)) continue;
            vm_value_set_data(o, NULL, 0);
            from[n->out[k]] = true;
        }
    }
    free(from);
    return VM_OK;
}

/* k[B,T] = 1.0 where ids is one of keep_ids, else 0 (Equal per id, Or, Cast). */
static int32_t keep_indicator(struct vm_graph *g, int32_t ids, const int64_t *keep, int n_keep, struct vm_error *err) {
    int32_t any = -1;
    for (int j = 0; j < n_keep; j++) {
        int32_t c = vm_graph_fresh_value(g, "vmask/keep_id", g->values[ids].dtype, err);
        size_t es = vm_dtype_size(g->values[ids].dtype);
        void *d = c < 0 ? NULL : vm_malloc(8, err);
        if (!d) return -1;
        if (es == 8) memcpy(d, &keep[j], 8);
        else {
            int32_t v32 = (int32_t)keep[j];
            memcpy(d, &v32, 4);
        }
        vm_value_set_shape_ints(&g->values[c], 0, NULL);
        vm_value_set_data(&g->values[c], d, es);
        int32_t in[2] = {ids, c};
        int32_t eq = fwd1(g, "Equal", "vmask/keep/Equal", 2, in, err);
        if (eq < 0) return -1;
        if (any < 0) any = eq;
        else {
            int32_t o2[2] = {any, eq};
            if ((any = fwd1(g, "Or", "vmask/keep/Or", 2, o2, err)) < 0) return -1;
        }
    }
    int32_t out;
    int32_t id = fwd(g, "Cast", "vmask/keep/Cast", 1, &any, 1, &out, err);
    if (id < 0 || vm_node_set_int(g, id, "to", VM_DTYPE_FLOAT, err) || fwd_done(g, id, err)) return -1;
    return out;
}

/* r' = r + k - r k: r where k = 0, 1 where k = 1; the gradient to r is (1 - k), so kept tokens
 * teach the mask network nothing. */
static int32_t force_keep(struct vm_graph *g, int32_t r, int32_t k, struct vm_error *err) {
    int32_t in[2] = {r, k};
    int32_t rk = fwd1(g, "Mul", "vmask/keep/Mul", 2, in, err);
    if (rk < 0) return -1;
    in[0] = k;
    in[1] = rk;
    int32_t d = fwd1(g, "Sub", "vmask/keep/Sub", 2, in, err);
    if (d < 0) return -1;
    in[0] = r;
    in[1] = d;
    return fwd1(g, "Add", "vmask/keep/Add", 2, in, err);
}

/* Inserts z = x * r after value x; returns q (the keep probabilities) in *q_out. */
/* What a mask-layer builder works on: x [d0, d1, E] (the word embedding's output) and the token
 * ids shaped like [d0, d1] (-1 when there are none), the sequence axis of [d0, d1]. */
struct mask_site {
    int32_t x, ids;
    struct vm_dim d0, d1;
    int64_t E;
    int seq_axis;
};

/* A mask layer: builds z (what every reader of x reads instead), the per-token importance
 * [d0, d1] reported as the plan's q output and the export's word_mask (VMASK q, L2X score, IBA
 * lambda), and the information loss weighted by beta (-1: none). Builders take their noise from an
 * input when o->noise_input (parity tests). */
typedef enum vm_status (*mask_builder)(struct vm_graph *g, const struct vm_train_opts *o, const struct mask_site *m, int32_t *z,
                                       int32_t *importance, int32_t *info, struct vm_error *err);

/* int64 [1] constant {axis} for Unsqueeze/Squeeze. */
static int32_t axes_const(struct vm_graph *g, int64_t axis, struct vm_error *err) {
    int32_t axes = vm_graph_fresh_value(g, "mask/axes", VM_DTYPE_INT64, err);
    int64_t one = 1, *axd = axes < 0 ? NULL : vm_malloc(8, err);
    if (!axd) return -1;
    *axd = axis;
    vm_value_set_shape_ints(&g->values[axes], 1, &one);
    vm_value_set_data(&g->values[axes], axd, 8);
    return axes;
}

/* A float graph input `name` shaped [rank dims], for noise the tests inject. */
static int32_t noise_input(struct vm_graph *g, const char *name, int rank, const struct vm_dim *dims, struct vm_error *err) {
    int32_t noise = add_named(g, name, VM_DTYPE_FLOAT, err);
    if (noise < 0) return -1;
    vm_value_set_shape(&g->values[noise], rank, dims);
    return add_input(g, noise, err) ? -1 : noise;
}

/* The per-token score [d0, d1] of a single linear layer on x: x @ W [E, 1] (+ b [1]), squeezed.
 * W and b are new parameters `prefix.fc.weight`, `prefix.fc.bias`: W uniform within w_bound, b
 * the constant b_fill; no b when b_fill is NaN. */
static int32_t linear_score(struct vm_graph *g, const struct vm_train_opts *o, const struct mask_site *m, const char *prefix,
                            double w_bound, double b_fill, struct vm_error *err) {
    char wn[64], bn[64], nn[64];
    snprintf(wn, sizeof wn, "%s.fc.weight", prefix);
    snprintf(bn, sizeof bn, "%s.fc.bias", prefix);
    int64_t wd[2] = {m->E, 1}, bd[1] = {1};
    int32_t w = new_param(g, wn, 2, wd, w_bound, o->seed, 11, err);
    if (w < 0) return -1;
    snprintf(nn, sizeof nn, "%s/fc/MatMul", prefix);
    int32_t in2[2] = {m->x, w};
    int32_t h = fwd1(g, "MatMul", nn, 2, in2, err);
    if (h >= 0 && !isnan(b_fill)) {
        int32_t b = new_param(g, bn, 1, bd, 0, o->seed, 12, err);
        if (b < 0) return -1;
        *(float *)g->values[b].data = (float)b_fill;
        snprintf(nn, sizeof nn, "%s/fc/Add", prefix);
        in2[0] = h;
        in2[1] = b;
        h = fwd1(g, "Add", nn, 2, in2, err);
    }
    in2[0] = h;
    in2[1] = h < 0 ? -1 : axes_const(g, 2, err);
    snprintf(nn, sizeof nn, "%s/Squeeze", prefix);
    return in2[1] < 0 ? -1 : fwd1(g, "Squeeze", nn, 2, in2, err);
}

/* The ids the mask layers leave alone: pad and the special tokens. */
static enum vm_status set_token_attrs(struct vm_graph *g, int32_t node, const struct vm_train_opts *o, struct vm_error *err) {
    enum vm_status s = vm_node_set_int(g, node, "pad", o->pad_id, err);
    if (!s && o->n_keep_ids > 0) s = vm_node_set_ints(g, node, "skip", o->keep_ids, o->n_keep_ids, err);
    return s;
}

/* VMASK: Linear(E->H) -> tanh -> Linear(H->2) keep/drop logits, a hard Gumbel-softmax sample r in
 * training (q in inference), z = x * r; information loss = mean negative entropy of q. */
static enum vm_status build_vmask(struct vm_graph *g, const struct vm_train_opts *o, const struct mask_site *m, int32_t *z_out,
                                  int32_t *q_out, int32_t *info_out, struct vm_error *err) {
    int32_t x = m->x, ids = m->ids;
    struct vm_dim d0 = m->d0, d1 = m->d1;
    int64_t E = m->E, H = o->mask_hidden;
    if (H < 1) return vm_errorf(err, VM_EINVAL, "--mask-hidden must be positive");
    double b1 = 1.0 / sqrt((double)E), b2 = 1.0 / sqrt((double)H);
    int64_t w1d[2] = {E, H}, b1d[1] = {H}, w2d[2] = {H, 2}, b2d[1] = {2};
    int32_t w1 = new_param(g, VM_MASK_W1, 2, w1d, b1, o->seed, 1, err);
    int32_t bb1 = new_param(g, VM_MASK_B1, 1, b1d, b1, o->seed, 2, err);
    int32_t w2 = new_param(g, VM_MASK_W2, 2, w2d, b2, o->seed, 3, err);
    int32_t bb2 = new_param(g, VM_MASK_B2, 1, b2d, b2, o->seed, 4, err);
    if (w1 < 0 || bb1 < 0 || w2 < 0 || bb2 < 0) return err->code;
    int32_t in2[2], p = mask_logits(g, o, x, w1, bb1, w2, bb2, err);
    if (p < 0) return err->code;
    int32_t vin[2] = {p, -1};
    if (o->noise_input) {
        struct vm_dim nd[3] = {d0, d1, vm_dim_const(2)};
        if ((vin[1] = noise_input(g, "vmask.noise", 3, nd, err)) < 0) return err->code;
    }
    int32_t mo[3];
    int32_t id = fwd(g, "VMask", "vmask/VMask", o->noise_input ? 2 : 1, vin, 3, mo, err);
    enum vm_status s = id < 0 ? err->code : vm_node_set_float(g, id, "tau", o->tau, err);
    if (!s) s = fwd_done(g, id, err);
    if (s) return s;
    int32_t q_report = mo[1];
    if (ids >= 0 && o->n_keep_ids > 0) {
        int32_t k = keep_indicator(g, ids, o->keep_ids, o->n_keep_ids, err);
        int32_t r = k < 0 ? -1 : force_keep(g, mo[0], k, err);
        q_report = r < 0 ? -1 : force_keep(g, mo[1], k, err);
        if (q_report < 0) return err->code;
        mo[0] = r;
    }
    in2[0] = mo[0];
    in2[1] = axes_const(g, 2, err);
    int32_t r3 = in2[1] < 0 ? -1 : fwd1(g, "Unsqueeze", "vmask/Unsqueeze", 2, in2, err);
    in2[0] = x;
    in2[1] = r3;
    int32_t z = r3 < 0 ? -1 : fwd1(g, "Mul", "vmask/Mul", 2, in2, err);
    if (z < 0) return err->code;
    g->values[mo[1]].flags |= VM_VALUE_SAVED;
    *z_out = z;
    *q_out = q_report;
    /* the information loss over real tokens */
    int32_t lin[2] = {mo[1], ids};
    int32_t info = -1;
    if (ids < 0) {
        /* no token ids shaped like the mask: every position counts (pad = -1 never matches) */
        int32_t zeros = vm_graph_fresh_value(g, "vmask/ids", VM_DTYPE_INT64, err);
        if (zeros < 0) return err->code;
        struct vm_dim sd[2] = {d0, d1};
        vm_value_set_shape(&g->values[zeros], 2, sd);
        int32_t shape = vm_graph_fresh_value(g, "vmask/ids_shape", VM_DTYPE_INT64, err);
        if (shape < 0) return err->code;
        int64_t two = 2;
        vm_value_set_shape_ints(&g->values[shape], 1, &two);
        if ((s = vm_value_set_known(&g->values[shape], sd, 2, err))) return s;
        int32_t cid = fwd(g, "ConstantOfShape", "vmask/ids", 1, &shape, 1, &lin[1], err);
        if (cid < 0 || vm_node_set_float(g, cid, "value", 0.0, err) || vm_node_set_int(g, cid, "value_dtype", VM_DTYPE_INT64, err) ||
            fwd_done(g, cid, err))
            return err->code;
    }
    int32_t lid = fwd(g, "VMaskInfoLoss", "vmask/InfoLoss", 2, lin, 1, &info, err);
    if (lid < 0 || vm_node_set_int(g, lid, "pad", ids >= 0 ? o->pad_id : -1, err) ||
        (ids >= 0 && o->n_keep_ids > 0 && vm_node_set_ints(g, lid, "skip", o->keep_ids, o->n_keep_ids, err)) || fwd_done(g, lid, err))
        return err->code;
    *info_out = info;
    return VM_OK;
}

/* L2X: score = x @ w per token (a single linear layer; no bias, since adding one constant to
 * every score changes neither the softmax draws nor the top-k, so its gradient is 0); training
 * multiplies x by the Concrete relaxation of a k-hot subset (L2XMask), inference by the hard top-k
 * of the scores. No information loss: the layer trains on the cross-entropy alone, as in the
 * paper's appendix C. */
static enum vm_status build_l2x(struct vm_graph *g, const struct vm_train_opts *o, const struct mask_site *m, int32_t *z_out,
                                int32_t *q_out, int32_t *info_out, struct vm_error *err) {
    double bound = 1.0 / sqrt((double)m->E);
    int32_t score = linear_score(g, o, m, "l2x", bound, NAN, err);
    if (score < 0) return err->code;
    int32_t in[3] = {score, m->ids, -1}, out[2];
    if (o->noise_input) {
        struct vm_dim nd[3] = {vm_dim_const(o->l2x_k), m->d0, m->d1};
        if ((in[2] = noise_input(g, "l2x.noise", 3, nd, err)) < 0) return err->code;
    }
    int32_t id = fwd(g, "L2XMask", "l2x/L2XMask", o->noise_input ? 3 : 2, in, 2, out, err);
    if (id < 0 || vm_node_set_int(g, id, "k", o->l2x_k, err) || vm_node_set_float(g, id, "tau", o->l2x_tau, err) ||
        vm_node_set_int(g, id, "axis", m->seq_axis, err) || set_token_attrs(g, id, o, err) || fwd_done(g, id, err))
        return err->code;
    int32_t in2[2] = {out[0], axes_const(g, 2, err)};
    int32_t r3 = in2[1] < 0 ? -1 : fwd1(g, "Unsqueeze", "l2x/Unsqueeze", 2, in2, err);
    in2[0] = m->x;
    in2[1] = r3;
    if ((*z_out = r3 < 0 ? -1 : fwd1(g, "Mul", "l2x/Mul", 2, in2, err)) < 0) return err->code;
    *q_out = score;
    *info_out = -1;
    return VM_OK;
}

/* IBA: alpha = Linear(E->1) per token (initialized as the IBA readout's last layer: weights
 * scaled by 1e-3, bias 5, so lambda starts near 1), z = lambda x + (1 - lambda) eps with eps ~
 * N(mu, sigma^2) per embedding dimension; information loss = mean KL per token and dimension. */
static enum vm_status build_iba(struct vm_graph *g, const struct vm_train_opts *o, const struct mask_site *m, int32_t *z_out,
                                int32_t *q_out, int32_t *info_out, struct vm_error *err) {
    if (!o->iba_mu || !o->iba_sigma || o->iba_dim != m->E)
        return vm_errorf(err, VM_EINVAL, "IBA needs the mean and standard deviation of the %lld embedding dimensions over the training data",
                         (long long)m->E);
    double bound = 1.0 / sqrt((double)m->E);
    int32_t alpha = linear_score(g, o, m, "iba", 1e-3 * bound, 5.0, err);
    if (alpha < 0) return err->code;
    int32_t stats[2];
    const float *src[2] = {o->iba_mu, o->iba_sigma};
    const char *names[2] = {VM_IBA_MU, VM_IBA_SIGMA};
    for (int k = 0; k < 2; k++) {
        float *d = vm_malloc(sizeof(float) * (size_t)m->E, err);
        if (!d || (stats[k] = add_named(g, names[k], VM_DTYPE_FLOAT, err)) < 0) {
            free(d);
            return err->code ? err->code : VM_ENOMEM;
        }
        memcpy(d, src[k], sizeof(float) * (size_t)m->E);
        vm_value_set_shape_ints(&g->values[stats[k]], 1, &m->E);
        vm_value_set_data(&g->values[stats[k]], d, sizeof(float) * (size_t)m->E);
        g->values[stats[k]].flags |= VM_VALUE_INIT;
    }
    int32_t in[6] = {m->x, alpha, stats[0], stats[1], m->ids, -1}, out[3];
    if (o->noise_input) {
        struct vm_dim nd[3] = {m->d0, m->d1, vm_dim_const(m->E)};
        if ((in[5] = noise_input(g, "iba.noise", 3, nd, err)) < 0) return err->code;
    }
    int32_t id = fwd(g, "IBA", "iba/IBA", o->noise_input ? 6 : 5, in, 3, out, err);
    if (id < 0 || set_token_attrs(g, id, o, err) || fwd_done(g, id, err)) return err->code;
    int32_t info;
    id = fwd(g, "IBAInfoLoss", "iba/InfoLoss", 5, in, 1, &info, err);
    if (id < 0 || set_token_attrs(g, id, o, err) || fwd_done(g, id, err)) return err->code;
    *z_out = out[0];
    *q_out = out[1];
    *info_out = info;
    return VM_OK;
}

static const struct {
    enum vm_mask_method method;
    mask_builder build;
} mask_layers[] = {
    {VM_METHOD_VMASK, build_vmask},
    {VM_METHOD_L2X, build_l2x},
    {VM_METHOD_IBA, build_iba},
};

/* Inserts the method's mask layer after x: every reader of x reads the layer's z instead. */
static enum vm_status insert_mask(struct vm_graph *g, const struct vm_train_opts *o, int32_t x, int32_t ids, int32_t *q_out,
                                  int32_t *info_out, struct vm_error *err) {
    struct vm_value *xv = &g->values[x];
    if (xv->rank != 3 || xv->dtype != VM_DTYPE_FLOAT || !vm_dim_is_const(&xv->dims[2]))
        return vm_errorf(err, VM_EUNSUPPORTED, "the mask goes after '%s', which must be a float [B, T, E] tensor with a fixed E", xv->name);
    struct mask_site m = {.x = x, .ids = ids, .d0 = xv->dims[0], .d1 = xv->dims[1], .E = vm_dim_value(&xv->dims[2])};
    /* token ids shaped like the mask, for the information loss and the kept special tokens */
    if (ids >= 0) {
        struct vm_value *iv = &g->values[ids];
        if (iv->rank != 2 || !vm_dim_eq(&iv->dims[0], &m.d0) || !vm_dim_eq(&iv->dims[1], &m.d1)) m.ids = -1;
    }
    const char *ax = vm_graph_get_meta(g, "vmaskc.ids_batch_axis");
    m.seq_axis = ax && !strcmp(ax, "1") ? 0 : 1;
    if (o->n_keep_ids > 16) return vm_errorf(err, VM_EINVAL, "at most 16 special tokens can be kept out of the mask");
    if (m.ids < 0 && o->method != VM_METHOD_VMASK)
        return vm_errorf(err, VM_EUNSUPPORTED, "--method %s needs the token ids shaped like the embedding's [batch, seq] (the mask goes after the word embedding)",
                         vm_method_name(o->method));
    /* every current reader of x will read z instead */
    int32_t n_users = 0, *users = vm_malloc(sizeof(int32_t) * (size_t)(g->n_nodes + 1) * 2, err);
    if (!users) return VM_ENOMEM;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead) continue;
        for (int32_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == x) {
                users[2 * n_users] = i;
                users[2 * n_users + 1] = k;
                n_users++;
            }
    }
    mask_builder build = NULL;
    for (size_t i = 0; i < sizeof mask_layers / sizeof mask_layers[0]; i++)
        if (mask_layers[i].method == o->method) build = mask_layers[i].build;
    int32_t z = -1;
    enum vm_status s = build ? build(g, o, &m, &z, q_out, info_out, err)
                             : vm_errorf(err, VM_EINTERNAL, "no mask layer for method %s", vm_method_name(o->method));
    if (!s) {
        for (int32_t i = 0; i < n_users; i++) g->nodes[users[2 * i]].in[users[2 * i + 1]] = z;
        for (int32_t k = 0; k < g->n_outputs; k++)
            if (g->outputs[k] == x) g->outputs[k] = z;
    }
    free(users);
    return s;
}

/* The node computing the logits from features: Gemm or MatMul (optionally followed by Add). */
static enum vm_status add_classifier_dropout(struct vm_graph *g, int32_t logits, double p, struct vm_error *err) {
    int32_t node = g->values[logits].producer;
    if (node >= 0 && !strcmp(vm_op_name(g->nodes[node].op), "Add")) {
        for (int k = 0; k < 2; k++) {
            int32_t pr = g->values[g->nodes[node].in[k]].producer;
            if (pr >= 0 && !strcmp(vm_op_name(g->nodes[pr].op), "MatMul")) node = pr;
        }
    }
    if (node < 0 || (strcmp(vm_op_name(g->nodes[node].op), "Gemm") && strcmp(vm_op_name(g->nodes[node].op), "MatMul")))
        return vm_errorf(err, VM_EUNSUPPORTED, "--dropout: the logits do not come from a Gemm or MatMul layer, so there is no classifier layer to put dropout before");
    int32_t a = g->nodes[node].in[0], out;
    char name[512];
    snprintf(name, sizeof name, "%s/dropout", g->nodes[node].name);
    int32_t id = fwd(g, "Dropout", name, 1, &a, 1, &out, err);
    if (id < 0 || vm_node_set_float(g, id, "ratio", p, err) || fwd_done(g, id, err)) return err->code;
    g->nodes[node].in[0] = out;
    return VM_OK;
}


/* The longest text a model takes: a learned position table (a Gather, other than the word
 * embedding, of a 2-D float initializer [P, E] by indices whose shape follows the token input's
 * sequence length, as BERT's position_ids do) has P rows, and a longer text would index past it.
 * Recorded as vmaskc.max_seq / vmaskc.max_seq_table so the feeder can say so before running. */
static enum vm_status annotate_position_table(struct vm_graph *g, int32_t emb, int32_t ids, struct vm_error *err) {
    if (ids < 0 || g->values[ids].rank != 2) return VM_OK;
    int32_t gather = vm_op_find(NULL, "Gather");
    int64_t best = -1;
    int32_t table = -1;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t id = g->order[oi];
        const struct vm_node *n = &g->nodes[id];
        if (id == emb || n->op != gather || n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0) continue;
        const struct vm_value *data = &g->values[n->in[0]], *idx = &g->values[n->in[1]];
        if (!(data->flags & VM_VALUE_INIT) || data->rank != 2 || !vm_dtype_is_float(data->dtype) ||
            !vm_dim_is_const(&data->dims[0]) || vm_node_int(g, id, "axis", 0) != 0)
            continue;
        if (idx->flags & VM_VALUE_INPUT) {
            /* a position_ids input counts; token types and other inputs do not */
            char key[300];
            snprintf(key, sizeof key, "vmaskc.role.%s", idx->name);
            const char *role = vm_graph_get_meta(g, key);
            if (!role || strcmp(role, "positions")) continue;
        }
        bool follows_seq = false;
        for (int a = 0; a < 2; a++) {
            const struct vm_dim *sd = &g->values[ids].dims[a];
            if (vm_dim_is_const(sd)) continue;
            for (int k = 0; k < idx->rank; k++) follows_seq |= vm_dim_eq(&idx->dims[k], sd) && idx->rank <= 2;
        }
        if (!follows_seq) continue;
        int64_t rows = vm_dim_value(&data->dims[0]);
        if (best < 0 || rows < best) best = rows, table = n->in[0];
    }
    if (best <= 0) return VM_OK;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)best);
    enum vm_status s = vm_graph_set_meta(g, "vmaskc.max_seq", buf, err);
    if (!s) s = vm_graph_set_meta(g, "vmaskc.max_seq_table", g->values[table].name, err);
    return s;
}

enum vm_status vm_annotate_text_model(struct vm_graph *g, const char *embedding, const char *const *input_roles,
                                      int n_input_roles, struct vm_error *err) {
    enum vm_status s;
    char buf[64];
    int32_t emb;
    if ((s = vm_find_embedding(g, embedding, &emb, err))) return s;
    if ((s = vm_annotate_input_roles(g, emb, input_roles, n_input_roles, err))) return s;
    int32_t ids = emb >= 0 ? g->nodes[emb].in[1] : -1;
    if (ids >= 0 && !(g->values[ids].flags & VM_VALUE_INPUT)) ids = -1;
    int32_t out = g->n_outputs ? g->outputs[0] : -1;
    bool probs = false;
    if (out >= 0 && g->values[out].producer >= 0) probs = !strcmp(vm_op_name(g->nodes[g->values[out].producer].op), "Softmax");
    if ((s = vm_graph_set_meta(g, "vmaskc.probs_output", probs ? "1" : "0", err))) return s;
    if (out >= 0 && g->values[out].rank == 2 && vm_dim_is_const(&g->values[out].dims[1])) {
        snprintf(buf, sizeof buf, "%lld", (long long)vm_dim_value(&g->values[out].dims[1]));
        if ((s = vm_graph_set_meta(g, "vmaskc.classes", buf, err))) return s;
    }
    if (ids >= 0) {
        if ((s = vm_graph_set_meta(g, "vmaskc.ids_input", g->values[ids].name, err))) return s;
        int axis = 0;
        if (out >= 0 && g->values[ids].rank == 2 && g->values[out].rank >= 1 &&
            vm_dim_eq(&g->values[ids].dims[1], &g->values[out].dims[0]) && !vm_dim_eq(&g->values[ids].dims[0], &g->values[out].dims[0]))
            axis = 1;
        if ((s = vm_graph_set_meta(g, "vmaskc.ids_batch_axis", axis ? "1" : "0", err))) return s;
    }
    /* the shortest sequence every convolution and pooling window fits into */
    int64_t min_seq = 1;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        const char *op = vm_op_name(n->op);
        bool cl = !strcmp(op, "ConvCL"); /* channels-last: spatial dims start at 1, not 2 */
        if (!strcmp(op, "ConvGather")) {
            /* an inference graph's conv over the embedding lookup (pass_gather_fold.c): ids [B, T], W [M, C, K] */
            const struct vm_dim *d = &g->values[n->in[1]].dims[1], *k = &g->values[n->in[2]].dims[2];
            const struct vm_attr *pd = vm_node_attr(g, g->order[oi], "pads");
            if (vm_dim_is_const(d) || d->n != 1 || d->t[0].sym[1] >= 0 || !vm_dim_is_const(k)) continue;
            int64_t need = vm_dim_value(k) - (pd && pd->type == VM_ATTR_INTS && pd->n == 2 ? pd->ints[0] + pd->ints[1] : 0), c = d->t[0].coef;
            if (c > 0) need = (need + c - 1) / c;
            if (need > min_seq) min_seq = need;
            continue;
        }
        if (!cl && strcmp(op, "Conv") && strcmp(op, "MaxPool") && strcmp(op, "AveragePool")) continue;
        const struct vm_value *x = &g->values[n->in[0]];
        int sp = cl ? 1 : 2;
        const struct vm_attr *ks = vm_node_attr(g, g->order[oi], "kernel_shape"), *dl = vm_node_attr(g, g->order[oi], "dilations"),
                             *pd = vm_node_attr(g, g->order[oi], "pads");
        if (!ks || ks->type != VM_ATTR_INTS) continue;
        for (int k = 0; k < ks->n && k + sp < x->rank - (cl ? 1 : 0); k++) {
            const struct vm_dim *d = &x->dims[k + sp];
            if (vm_dim_is_const(d) || d->n != 1 || d->t[0].sym[1] >= 0) continue; /* only c*seq */
            int64_t dil = dl && dl->type == VM_ATTR_INTS && k < dl->n ? dl->ints[k] : 1;
            int64_t pads = pd && pd->type == VM_ATTR_INTS && pd->n == 2 * ks->n ? pd->ints[k] + pd->ints[k + ks->n] : 0;
            int64_t need = dil * (ks->ints[k] - 1) + 1 - pads, c = d->t[0].coef;
            if (c > 0) need = (need + c - 1) / c;
            if (need > min_seq) min_seq = need;
        }
    }
    snprintf(buf, sizeof buf, "%lld", (long long)min_seq);
    if ((s = vm_graph_set_meta(g, "vmaskc.min_seq", buf, err))) return s;
    return annotate_position_table(g, emb, ids, err);
}

enum vm_status vm_build_training(struct vm_graph *g, const struct vm_train_opts *o,
                                 struct vm_train_info *info, struct vm_error *err) {
    memset(info, 0, sizeof *info);
    info->embedding_node = info->ids_input = -1;
    enum vm_status s;
    if (g->n_outputs < 1) return vm_errorf(err, VM_EINVAL, "the model has no output");
    /* Identity nodes forward their input (Dropout nodes stay: they act in training) */
    int32_t identity = vm_op_find(NULL, "Identity");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct vm_node *n = &g->nodes[i];
        if (n->dead || n->op != identity || (g->values[n->out[0]].flags & VM_VALUE_OUTPUT)) continue;
        vm_graph_replace_uses(g, n->out[0], n->in[0]);
        n->dead = true;
    }
    if ((s = vm_graph_sort(g, err))) return s;
    if ((s = vm_annotate_text_model(g, o->embedding, o->input_roles, o->n_input_roles, err))) return s;
    /* the word embedding and its token ids */
    int32_t emb;
    if ((s = vm_find_embedding(g, o->embedding, &emb, err))) return s;
    info->embedding_node = emb;
    int32_t emb_table = emb >= 0 ? g->nodes[emb].in[0] : -1;
    int32_t ids = emb >= 0 ? g->nodes[emb].in[1] : -1;
    if (ids >= 0 && (g->values[ids].flags & VM_VALUE_INPUT)) info->ids_input = ids;
    /* logits: the model's first output, or the input of a final Softmax */
    int32_t logits = g->outputs[0];
    int32_t prod = g->values[logits].producer;
    if (prod >= 0) {
        const char *op = vm_op_name(g->nodes[prod].op);
        if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
            logits = g->nodes[prod].in[0];
            info->softmax_output = true;
        }
    }
    struct vm_value *lv = &g->values[logits];
    if (lv->rank != 2 || lv->dtype != VM_DTYPE_FLOAT || !vm_dim_is_const(&lv->dims[1]))
        return vm_errorf(err, VM_EUNSUPPORTED, "the model's output '%s' must be float logits [batch, classes] with a fixed class count",
                         g->values[g->outputs[0]].name);
    info->n_classes = vm_dim_value(&lv->dims[1]);
    struct vm_dim batch = lv->dims[0];
    if ((s = mark_params(g, o, emb_table, info, err)) || (s = unfold_params(g, err))) return s;
    if (o->dropout > 0 && (s = add_classifier_dropout(g, logits, o->dropout, err))) return s;
    /* the mask */
    int32_t q = -1, info_loss = -1;
    enum vm_mask_method method = o->no_mask ? VM_METHOD_BASE : o->method;
    if (vm_method_has_mask(method)) {
        int32_t x = -1;
        if (o->mask_after) {
            x = vm_graph_find_value(g, o->mask_after);
            if (x < 0) return vm_errorf(err, VM_EINVAL, "--mask-after %s: the model has no value of that name", o->mask_after);
        } else if (emb >= 0) {
            x = g->nodes[emb].out[0];
        } else {
            return vm_errorf(err, VM_EUNSUPPORTED,
                             "no word embedding found (a Gather of a 2-D float initializer by a graph input); name it with --embedding or --mask-after");
        }
        if ((s = insert_mask(g, o, x, ids, &q, &info_loss, err))) return vm_error_prefix(err, "inserting the mask");
    }
    /* loss = CE(logits, labels) + beta * info */
    int32_t labels = add_named(g, "labels", VM_DTYPE_INT64, err), beta = add_named(g, "beta", VM_DTYPE_FLOAT, err),
            lr = add_named(g, "lr", VM_DTYPE_FLOAT, err);
    if (labels < 0 || beta < 0 || lr < 0) return err->code;
    vm_value_set_shape(&g->values[labels], 1, &batch);
    vm_value_set_shape_ints(&g->values[beta], 0, NULL);
    vm_value_set_shape_ints(&g->values[lr], 0, NULL);
    if ((s = add_input(g, labels, err)) || (s = add_input(g, beta, err)) || (s = add_input(g, lr, err))) return s;
    int32_t sin[2] = {logits, labels}, sce[2];
    int32_t id = fwd(g, "SoftmaxCrossEntropy", "loss/ce", 2, sin, 2, sce, err);
    if (id < 0 || (s = fwd_done(g, id, err))) return err->code;
    int32_t total = sce[0];
    if (info_loss >= 0) {
        int32_t min[2] = {beta, info_loss};
        int32_t bi = fwd1(g, "Mul", "loss/beta_info", 2, min, err);
        int32_t ain[2] = {sce[0], bi};
        total = bi < 0 ? -1 : fwd1(g, "Add", "loss/total", 2, ain, err);
        if (total < 0) return err->code;
    }
    g->loss = total;
    g->values[total].flags |= VM_VALUE_LOSS;
    if ((s = add_output(g, total, err)) || (s = add_output(g, sce[0], err))) return s;
    if (info_loss >= 0 && (s = add_output(g, info_loss, err))) return s;
    if (q >= 0 && (s = add_output(g, q, err))) return s;
    if ((s = vm_graph_sort(g, err))) return s;
    /* backward */
    if ((s = vm_autodiff(g, err))) return s;
    /* forward MatMul -> Add(bias) pairs become one matmul with oneDNN's bias now that the backward
     * exists (the fused op has no gradient rule; the backward reads A, W and dY, never the
     * MatMul's own output, so a pair whose product another node reads is left alone) */
    if ((s = vm_pass_fuse_matmul_bias(g, err))) return s;
    /* the residual adds after a matmul and the gradient accumulations after a dX matmul become the
     * matmul's own add (binary post-op): one pass less over each [rows, hidden] tensor */
    if ((s = vm_pass_fuse_matmul_add(g, err))) return s;
    /* GELU writes its derivative in the forward; the backward multiplies it in as the post-op of
     * the matmul computing GELU's output gradient (no erf in the backward, no recomputed GELU) */
    if ((s = vm_pass_gelu_derivative(g, err)) || (s = vm_pass_fuse_matmul_mul(g, err))) return s;
    /* the attention heads' split and merge (and their gradients) read and written through strides */
    if ((s = vm_pass_fuse_transpose_matmul(g, err))) return s;
    /* GELU outputs (and the like) recomputed in the backward instead of kept from the forward */
    if ((s = vm_pass_remat(g, err))) return s;
    /* optimizer: step counter, global gradient norm, one Adam update per parameter */
    int32_t t = add_named(g, "opt.step", VM_DTYPE_FLOAT, err);
    if (t < 0) return err->code;
    float *td = vm_calloc(1, sizeof *td, err);
    if (!td) return VM_ENOMEM;
    vm_value_set_shape_ints(&g->values[t], 0, NULL);
    vm_value_set_data(&g->values[t], td, sizeof *td);
    g->values[t].flags |= VM_VALUE_OPTSTATE | VM_VALUE_PERSIST;
    int32_t step_id = vm_graph_build(g, "OptStep", "opt/step", 1, &t, 0, NULL, err);
    if (step_id < 0 || (s = fwd_done(g, step_id, err))) return err->code;
    g->nodes[step_id].phase = VM_PHASE_OPTIMIZER;
    int32_t n_grads = 0, *grads = vm_malloc(sizeof(int32_t) * (size_t)(g->n_values + 1), err);
    if (!grads) return VM_ENOMEM;
    int32_t n_vals = g->n_values;
    for (int32_t v = 0; v < n_vals; v++)
        if ((g->values[v].flags & VM_VALUE_PARAM) && g->values[v].grad >= 0) grads[n_grads++] = v;
    if (!n_grads) {
        free(grads);
        return vm_errorf(err, VM_EINVAL, "no trainable parameter influences the loss");
    }
    int32_t *gin = vm_malloc(sizeof(int32_t) * (size_t)n_grads, err);
    if (!gin) {
        free(grads);
        return VM_ENOMEM;
    }
    for (int32_t i = 0; i < n_grads; i++) gin[i] = g->values[grads[i]].grad;
    int32_t norm;
    if (o->clip > 0) {
        id = vm_graph_build(g, "GradNorm", "opt/grad_norm", n_grads, gin, 1, &norm, err);
        free(gin);
        if (id < 0 || (s = fwd_done(g, id, err))) {
            free(grads);
            return err->code;
        }
        g->nodes[id].phase = VM_PHASE_OPTIMIZER;
    } else {
        /* no clipping: Adam ignores the norm, and reading every gradient for it cost BERT-base
         * 4% of a step */
        free(gin);
        float *nd = vm_calloc(1, sizeof *nd, err);
        norm = nd ? add_named(g, "opt.grad_norm_unused", VM_DTYPE_FLOAT, err) : -1;
        if (norm < 0) {
            free(nd);
            free(grads);
            return err->code ? err->code : VM_ENOMEM;
        }
        vm_value_set_shape_ints(&g->values[norm], 0, NULL);
        vm_value_set_data(&g->values[norm], nd, sizeof *nd);
        g->values[norm].flags |= VM_VALUE_INIT;
    }
    for (int32_t i = 0; i < n_grads && !s; i++) {
        int32_t p = grads[i];
        char name[600];
        snprintf(name, sizeof name, "opt.m.%s", g->values[p].name);
        int32_t m = zeros_like(g, name, p, VM_VALUE_OPTSTATE | VM_VALUE_PERSIST, err);
        snprintf(name, sizeof name, "opt.v.%s", g->values[p].name);
        int32_t vv = zeros_like(g, name, p, VM_VALUE_OPTSTATE | VM_VALUE_PERSIST, err);
        if (m < 0 || vv < 0) {
            s = err->code;
            break;
        }
        int32_t ain[7] = {p, g->values[p].grad, m, vv, t, lr, norm};
        snprintf(name, sizeof name, "opt/adam/%s", g->values[p].name);
        id = vm_graph_build(g, "Adam", name, 7, ain, 0, NULL, err);
        if (id < 0) {
            s = err->code;
            break;
        }
        g->nodes[id].phase = VM_PHASE_OPTIMIZER;
        s = vm_node_set_float(g, id, "beta1", o->beta1, err);
        if (!s) s = vm_node_set_float(g, id, "beta2", o->beta2, err);
        if (!s) s = vm_node_set_float(g, id, "epsilon", o->epsilon, err);
        if (!s) s = vm_node_set_float(g, id, "weight_decay", o->weight_decay, err);
        if (!s) s = vm_node_set_float(g, id, "clip", o->clip, err);
        if (!s) s = fwd_done(g, id, err);
    }
    free(grads);
    if (s) return s;
    /* metadata the trainer and tools read from the plan */
    if ((s = vm_graph_set_meta(g, "vmaskc.mask", vm_method_has_mask(method) ? "1" : "0", err))) return s;
    if ((s = vm_graph_set_meta(g, "vmaskc.method", vm_method_name(method), err))) return s;
    if ((s = vm_graph_set_meta(g, "vmaskc.out.loss", g->values[total].name, err))) return s;
    if ((s = vm_graph_set_meta(g, "vmaskc.out.ce", g->values[sce[0]].name, err))) return s;
    if (info_loss >= 0 && (s = vm_graph_set_meta(g, "vmaskc.out.info", g->values[info_loss].name, err))) return s;
    if (q >= 0 && (s = vm_graph_set_meta(g, "vmaskc.out.q", g->values[q].name, err))) return s;
    return vm_graph_sort(g, err);
}
