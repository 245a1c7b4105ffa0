/* ops: the op table — one row per op holds everything the compiler knows about it.
 *
 * Each family file in compiler/ops/ defines its rows in an array; ops.c concatenates the family
 * arrays into the table and looks rows up by (domain, name). Adding an op touches its row, its
 * family file (infer/fold/grad functions), its runtime kernel and its tests — nothing else.
 *
 * Row hooks:
 *  - normalize: rewrites opset-specific forms into one canonical form at import (for example
 *    Squeeze-11's `axes` attribute becomes the opset-13 input). Optional.
 *  - infer: validates attributes and input dtypes/ranks with user-facing messages, fills attribute
 *    defaults and makes axes non-negative (so the runtime reads normalized attributes only), and
 *    sets output dtypes and shapes. Required.
 *  - fold: when inputs are known (concrete or symbolic int64), computes outputs' known content so
 *    the node needs no run-time step (shape arithmetic). Optional.
 *  - grad: emits backward nodes (issue: autodiff). NULL with VM_OP_NO_GRAD means not differentiable.
 */
#ifndef VM_OPS_H
#define VM_OPS_H

#include "ir.h"

struct vm_autodiff;

typedef enum vm_status (*vm_op_fn)(struct vm_graph *g, int32_t node, struct vm_error *err);
typedef enum vm_status (*vm_grad_fn)(struct vm_autodiff *ad, int32_t node, struct vm_error *err);

enum vm_op_flag {
    VM_OP_NO_GRAD = 1u << 0,    /* outputs carry no gradient (Shape, Equal, ...) */
    VM_OP_STOCHASTIC = 1u << 1, /* draws random numbers (Dropout in training, Gumbel) */
    VM_OP_INTERNAL = 1u << 2,   /* vmaskc-private op (backward kernels, mask, loss, optimizer) */
    VM_OP_VIEW = 1u << 3,       /* output 0 is input 0's bytes under another shape */
};

#define VM_OP_VARIADIC 127

struct vm_op_row {
    const char *name;   /* ONNX op_type, or the internal op name */
    const char *domain; /* NULL for the default ONNX domain, "vmaskc" for internal ops */
    int8_t min_in, max_in, min_out, max_out;
    /* The attributes the op accepts, space-separated, each NAME:KIND with KIND one of i (int),
     * f (float), s (string), I (ints), F (floats), S (strings, kept comma-joined), t (a one-element
     * tensor, kept as a float plus NAME_dtype); a trailing '!' marks a required attribute. The
     * importer checks presence and kind against this spec, so rows may trust both. */
    const char *attrs;
    uint32_t shape_in;  /* inputs whose *values* decide output shapes (must be known) */
    uint32_t nondiff;   /* inputs that never receive a gradient */
    uint32_t flags;     /* enum vm_op_flag */
    vm_op_fn normalize;
    vm_op_fn infer;
    vm_op_fn fold;
    vm_grad_fn grad;
};

/* Family tables, each terminated by a row with name == NULL. */
extern const struct vm_op_row vm_ops_elementwise[];
extern const struct vm_op_row vm_ops_shape[];
extern const struct vm_op_row vm_ops_nn[];
extern const struct vm_op_row vm_ops_rnn[];
extern const struct vm_op_row vm_ops_reduce[];
extern const struct vm_op_row vm_ops_train[];
extern const struct vm_op_row vm_ops_mask[];

/* An attribute's entry in row->attrs: its kind letter (see vm_op_row) and whether it is required.
 * False when the row does not accept the attribute. */
bool vm_op_attr_spec(const struct vm_op_row *row, const char *name, char *kind, bool *required);
/* Calls fn for every required attribute of the row (name, kind). Returns the first non-zero. */
int vm_op_each_required_attr(const struct vm_op_row *row, int (*fn)(const char *name, size_t len, char kind, void *ctx),
                             void *ctx);
/* "int", "float", "string", "ints", "floats", "strings", "tensor" */
const char *vm_op_attr_kind_name(char kind);

/* Row index by op name and domain (NULL/"" = ONNX default domain, "ai.onnx" too); -1 if none. */
int32_t vm_op_find(const char *domain, const char *name);
const struct vm_op_row *vm_op_row(int32_t op);
int32_t vm_op_count(void);
const char *vm_op_name(int32_t op);

/* ---- helpers shared by the family files ---- */

/* "node 'name' (Op): " style error for a node. */
enum vm_status vm_node_errorf(const struct vm_graph *g, int32_t node, struct vm_error *err,
                              enum vm_status code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static inline struct vm_value *vm_in(struct vm_graph *g, int32_t node, int i) {
    if (i >= g->nodes[node].n_in) return NULL;
    int32_t v = g->nodes[node].in[i];
    return v >= 0 ? &g->values[v] : NULL;
}
static inline struct vm_value *vm_out(struct vm_graph *g, int32_t node, int i) {
    if (i >= g->nodes[node].n_out) return NULL;
    int32_t v = g->nodes[node].out[i];
    return v >= 0 ? &g->values[v] : NULL;
}
static inline bool vm_has_in(const struct vm_graph *g, int32_t node, int i) {
    return i < g->nodes[node].n_in && g->nodes[node].in[i] >= 0;
}

/* The op's required inputs and outputs (the first min_in / min_out) are all present; an error names
 * the missing one. Checked at import (before normalize) and before every infer. */
enum vm_status vm_node_check_required(const struct vm_graph *g, int32_t node, struct vm_error *err);

/* Sets output i to dtype and shape. */
void vm_set_out(struct vm_graph *g, int32_t node, int i, int32_t dtype, int rank,
                const struct vm_dim *dims);
/* Requires input i to have one of the listed dtypes (0-terminated); message names the input. */
enum vm_status vm_check_dtype(struct vm_graph *g, int32_t node, int i, struct vm_error *err, ...);
bool vm_dtype_is_float(int32_t dt);
bool vm_dtype_is_int(int32_t dt);
/* Normalizes axis into [0, rank) (accepting [-rank, rank)); error names the node. */
enum vm_status vm_norm_axis(struct vm_graph *g, int32_t node, int64_t *axis, int rank,
                            struct vm_error *err);
/* Numpy-style broadcast of two shapes into out; error names the node. */
enum vm_status vm_broadcast(struct vm_graph *g, int32_t node, int ra, const struct vm_dim *a, int rb,
                            const struct vm_dim *b, int *rout, struct vm_dim *out,
                            struct vm_error *err);
/* Reads known int64 content of input i (n elements) into dims; false when not known. */
bool vm_known_input(struct vm_graph *g, int32_t node, int i, struct vm_dim *out, int64_t cap,
                    int64_t *n);
/* Same, requiring constant elements. */
bool vm_known_input_ints(struct vm_graph *g, int32_t node, int i, int64_t *out, int64_t cap,
                         int64_t *n);

#endif
