/* ir: the compiler's graph — values (wires) and nodes (ops) in graph-owned arrays, referred to by
 * int32_t index, never by pointer across passes (arrays grow and move).
 *
 * Legend for shape comments: B batch, T tokens, E embedding, H hidden, V vocabulary, C classes.
 *
 * Invariants:
 *  - value->producer is the node that writes it (or -1 for graph inputs and initializers);
 *  - after vm_infer_graph() every live value has dtype and rank set and dims that are constants or
 *    polynomials over g->symbols (dim.h);
 *  - a value may carry "known" content: concrete bytes (initializers, Constant outputs) in data, or
 *    int64 elements as symbolic dims in known[] (the result of shape arithmetic such as
 *    Shape -> Gather -> Concat). Known values need no step at run time;
 *  - nodes are executed in the order of g->order (a topological order), rebuilt by vm_graph_sort.
 */
#ifndef VM_IR_H
#define VM_IR_H

#include "dim.h"

struct vm_onnx_external;

struct vm_attr {
    char *name;
    int32_t type;   /* VM_ATTR_* */
    int64_t i;
    double f;
    char *s;
    int64_t *ints;  /* VM_ATTR_INTS, n entries */
    double *floats; /* VM_ATTR_FLOATS, n entries */
    int32_t n;
};

struct vm_value {
    char *name;
    int32_t dtype;   /* enum vm_dtype */
    int32_t rank;    /* -1 until inferred */
    struct vm_dim dims[VM_MAX_RANK];
    int32_t producer; /* node id, -1 for inputs/initializers */
    int32_t slot;     /* output index of the producer */
    uint32_t flags;   /* enum vm_value_flag */
    void *data;       /* concrete content, nbytes long: owned, or borrowed (read-only) */
    size_t nbytes;
    bool data_borrowed; /* data points into g->external's mappings: never freed or written */
    struct vm_dim *known; /* int64 content as symbolic dims (owned), n_known elements */
    int64_t n_known;
    int32_t grad;     /* value id of d(loss)/d(this), -1 none */
};

struct vm_node {
    int32_t op; /* row index in the op table (ops.h) */
    char *name;
    int32_t n_in, n_out;
    int32_t *in;  /* value ids; -1 = omitted optional input */
    int32_t *out; /* value ids; -1 = omitted optional output */
    struct vm_attr *attrs;
    int32_t n_attrs;
    int32_t phase; /* enum vm_phase */
    int32_t fwd;   /* backward nodes: the forward node they came from, else -1 */
    int32_t sort_before; /* 0, or 1 + the node it is scheduled just before (a recomputed value,
                          * pass_remat.c: computed when its first reader runs, not when its input is ready) */
    bool dead;
};

struct vm_meta {
    char *key, *value;
};

struct vm_graph {
    struct vm_value *values;
    int32_t n_values, cap_values;
    struct vm_node *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *order; /* topological schedule of live nodes, n_order entries */
    int32_t n_order;
    int32_t *inputs, n_inputs;
    int32_t *outputs, n_outputs;
    char *symbols[VM_MAX_SYMBOLS];
    int n_symbols;
    int64_t opset;      /* default-domain opset of the source model */
    int64_t ir_version;
    int32_t loss;       /* value id of the scalar loss, -1 none */
    uint64_t seed;
    struct vm_meta *meta;
    int32_t n_meta;
    /* name -> value id hash (open addressing) */
    int32_t *hash;
    uint32_t hash_cap;
    uint32_t name_counter; /* for fresh names */
    /* External-data mappings of the source model (owned), which borrowed value data points into;
     * released after the values in vm_graph_free. NULL when nothing is borrowed. */
    struct vm_onnx_external *external;
};

struct vm_graph *vm_graph_new(struct vm_error *err);
void vm_graph_free(struct vm_graph *g);

/* Values. A name must be unique; NULL or "" asks for a fresh name with the given prefix. */
int32_t vm_graph_add_value(struct vm_graph *g, const char *name, int32_t dtype, struct vm_error *err);
int32_t vm_graph_fresh_value(struct vm_graph *g, const char *prefix, int32_t dtype,
                             struct vm_error *err);
int32_t vm_graph_find_value(const struct vm_graph *g, const char *name);
enum vm_status vm_graph_rename_value(struct vm_graph *g, int32_t v, const char *name,
                                     struct vm_error *err);
int vm_graph_add_symbol(struct vm_graph *g, const char *name, struct vm_error *err);
int vm_graph_find_symbol(const struct vm_graph *g, const char *name);

/* Sets value v's rank and dims (ints or dims). */
void vm_value_set_shape(struct vm_value *v, int rank, const struct vm_dim *dims);
void vm_value_set_shape_ints(struct vm_value *v, int rank, const int64_t *dims);
/* Takes ownership of data (nbytes) as the concrete content of v. */
void vm_value_set_data(struct vm_value *v, void *data, size_t nbytes);
/* Makes read-only memory that outlives the graph's values (g->external's mappings) the content of
 * v without copying it; a later vm_value_set_data replaces it without freeing it. */
void vm_value_borrow_data(struct vm_value *v, const void *data, size_t nbytes);
/* Copies n symbolic elements as the known int64 content of v. */
enum vm_status vm_value_set_known(struct vm_value *v, const struct vm_dim *elems, int64_t n,
                                  struct vm_error *err);
bool vm_value_is_known(const struct vm_value *v);
/* Number of elements if all dims are constant, else -1. */
int64_t vm_value_numel(const struct vm_value *v);
bool vm_value_shape_is_const(const struct vm_value *v);
/* Element i of a known int-like value (known[] or integer data), as a dim. */
bool vm_value_known_elem(const struct vm_value *v, int64_t i, struct vm_dim *out);
/* Element i of concrete data as double / int64 (any numeric dtype). */
double vm_value_data_f64(const struct vm_value *v, int64_t i);
int64_t vm_value_data_i64(const struct vm_value *v, int64_t i);

/* Nodes. out may contain -1 for absent optional outputs. Sets producers. */
int32_t vm_graph_add_node(struct vm_graph *g, int32_t op, const char *name, int32_t n_in,
                          const int32_t *in, int32_t n_out, const int32_t *out,
                          struct vm_error *err);
/* Convenience: adds a node of op `op_name` whose outputs are fresh values; returns node id and the
 * first output in *out0 (when non-NULL). */
int32_t vm_graph_build(struct vm_graph *g, const char *op_name, const char *name, int32_t n_in,
                       const int32_t *in, int32_t n_out, int32_t *outs, struct vm_error *err);

/* Attributes (copied). */
enum vm_status vm_node_set_int(struct vm_graph *g, int32_t node, const char *name, int64_t v,
                               struct vm_error *err);
enum vm_status vm_node_set_float(struct vm_graph *g, int32_t node, const char *name, double v,
                                 struct vm_error *err);
enum vm_status vm_node_set_string(struct vm_graph *g, int32_t node, const char *name,
                                  const char *s, struct vm_error *err);
enum vm_status vm_node_set_ints(struct vm_graph *g, int32_t node, const char *name,
                                const int64_t *v, int32_t n, struct vm_error *err);
enum vm_status vm_node_set_floats(struct vm_graph *g, int32_t node, const char *name,
                                  const double *v, int32_t n, struct vm_error *err);
const struct vm_attr *vm_node_attr(const struct vm_graph *g, int32_t node, const char *name);
int64_t vm_node_int(const struct vm_graph *g, int32_t node, const char *name, int64_t def);
double vm_node_float(const struct vm_graph *g, int32_t node, const char *name, double def);
const char *vm_node_string(const struct vm_graph *g, int32_t node, const char *name,
                           const char *def);
void vm_node_remove_attr(struct vm_graph *g, int32_t node, const char *name);
/* Copies every attribute of node `from` to node `to`. */
enum vm_status vm_node_copy_attrs(struct vm_graph *g, int32_t from, int32_t to, struct vm_error *err);

/* Replaces every use of value `from` (node inputs and graph outputs) by `to`. */
void vm_graph_replace_uses(struct vm_graph *g, int32_t from, int32_t to);
/* Number of live node inputs reading v, plus 1 if v is a graph output. */
int32_t vm_graph_count_uses(const struct vm_graph *g, int32_t v);

/* Rebuilds g->order as a topological order of live nodes, keeping the current order where it is
 * already valid. Fails (naming a value) on a cycle or a value read before any producer. */
enum vm_status vm_graph_sort(struct vm_graph *g, struct vm_error *err);
/* Marks nodes dead whose outputs reach no graph output (or loss), then re-sorts. */
enum vm_status vm_graph_prune(struct vm_graph *g, struct vm_error *err);

enum vm_status vm_graph_set_meta(struct vm_graph *g, const char *key, const char *value,
                                 struct vm_error *err);
const char *vm_graph_get_meta(const struct vm_graph *g, const char *key);

/* "[batch, seq, 16]" */
char *vm_value_shape_str(const struct vm_graph *g, const struct vm_value *v, char *buf, size_t len);
/* Text dump of the graph (for --dump and golden tests). */
void vm_graph_dump(const struct vm_graph *g, void *file /* FILE* */);

#endif
