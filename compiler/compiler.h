/* compiler: the public entry points of the compiler library — import an ONNX model into the IR,
 * infer shapes, find the word embedding, and emit a plan. tools/vmaskc calls these; nothing here
 * prints or exits. */
#ifndef VM_COMPILER_H
#define VM_COMPILER_H

#include "../onnx/onnx_io.h"
#include "ir.h"

/* `--shape NAME=D0,D1,...`: fixes a graph input's dims (replacing symbols). */
struct vm_shape_override {
    const char *name;
    int rank;
    int64_t dims[VM_MAX_RANK];
};

struct vm_import_opts {
    const struct vm_shape_override *shapes;
    int n_shapes;
    /* Graph inputs replaced by constants (for example the `shape` input of an ONNX node test,
     * which decides an output shape and therefore must be known when compiling). */
    const struct vm_tensor *fixed;
    int n_fixed;
    /* The .onnx file the model was read from: external-data locations are resolved in its folder.
     * NULL (or no opts) refuses tensors with external data. */
    const char *model_path;
    /* The caller keeps the ModelProto alive as long as the graph: initializers use its raw_data
     * in place instead of a copy (a 420 MiB BERT would otherwise be held twice while compiling). */
    bool borrow_initializers;
};

/* The min-length pad block of an export (export.h: a CNN pads its token ids to the widest kernel
 * inside the graph, so other runtimes take texts shorter than it). vmaskc's own feeder pads every
 * text to that length already, so the importer reads such an export without the block: its nodes
 * (named VM_MINLEN_PREFIX...) are left out, readers of VM_MINLEN_IDS read the token ids again, and
 * the node VM_MINLEN_PREFIX "word_mask" (which cuts word_mask back to the text's length) becomes an
 * Identity. The metadata key VM_MINLEN_META names the token-id input the block pads. */
#define VM_MINLEN_META "vmaskc.min_len_pad"
#define VM_MINLEN_PREFIX "vmaskc/minlen/"
#define VM_MINLEN_IDS "vmaskc.minlen.ids"
struct vm_onnx_view {
    Onnx__GraphProto graph; /* shallow copy of the model's graph without the block */
    void *mem;              /* what the copy allocated (nodes array, rewritten nodes) */
};
/* Returns the graph to read: m->graph itself, or view->graph when m has the block. Free the view
 * with vm_onnx_view_free (also when m->graph was returned). NULL only when out of memory. */
const Onnx__GraphProto *vm_onnx_view_without_minlen(const Onnx__ModelProto *m, struct vm_onnx_view *view);
void vm_onnx_view_free(struct vm_onnx_view *view);

/* ModelProto -> IR. Checks IR version and opsets, converts initializers, Constant nodes and
 * attributes, and lists every unsupported op at once. Does not infer shapes. External data is
 * mapped once per file and borrowed by the values (the graph keeps the mappings). */
enum vm_status vm_import(const Onnx__ModelProto *m, const struct vm_import_opts *o,
                         struct vm_graph **out, struct vm_error *err);

/* Shape and dtype inference over the whole graph plus folding of shape arithmetic. After it,
 * every live value has a complete (possibly symbolic) shape. */
enum vm_status vm_infer_graph(struct vm_graph *g, struct vm_error *err);

/* Names of graph inputs whose values decide shapes (so `vmaskc run` can fix them from test data).
 * Returns how many were written to names (up to cap). */
int vm_shape_deciding_inputs(const struct vm_graph *g, const char **names, int cap);

/* The word-embedding Gather: data is a 2-D float initializer, indices come straight from a graph
 * input. `override` names the Gather node or its data initializer. *node = -1 when none. In an
 * inference graph the lookup may be an LSTMGather or ConvGather node (same inputs 0 and 1). */
enum vm_status vm_find_embedding(const struct vm_graph *g, const char *override, int32_t *node,
                                 struct vm_error *err);

/* Parameter count and bytes of float initializers. */
void vm_graph_param_stats(const struct vm_graph *g, int64_t *count, int64_t *bytes);

/* Checks plan bytes from outside this process before the runtime trusts them: every step's op,
 * required inputs, attribute kinds and output shapes are re-derived from its op row and compared
 * with the plan (compiler/plan_verify.c). VM_EFORMAT names the step. */
enum vm_status vm_plan_verify(const uint8_t *buf, size_t len, const char *what, struct vm_error *err);

/* Serializes the graph as a plan (schemas/vmplan.proto). Caller frees *buf. */
enum vm_status vm_emit_plan(const struct vm_graph *g, const char *source, uint8_t **buf,
                            size_t *len, struct vm_error *err);
/* The same plan as pieces (runtime/vm_base.h): the parts borrow the graph's initializer bytes, so
 * the graph (and the ModelProto it borrows from) must outlive them. The same graph gives the same
 * bytes either way. Free with vm_plan_parts_free. */
enum vm_status vm_emit_plan_parts(const struct vm_graph *g, const char *source, struct vm_plan_parts *out,
                                  struct vm_error *err);

#endif
