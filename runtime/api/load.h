/* load: a model file into the runtime — an ONNX model read and compiled in memory (for inference or
 * for training), or a .vmplan verified and loaded — with the options every model-consuming caller
 * shares. Library code under the public API (vmaskc.h); tools/vmaskc calls it through cli.h.
 * This is the one place outside tools/ where compiler/ and runtime/ meet for loading. */
#ifndef VM_LOAD_H
#define VM_LOAD_H

#include "../../compiler/compiler.h"
#include "../vmrt.h"

/* Options every model-consuming command takes. */
struct vm_model_opts {
    const char *embedding;
    struct vm_shape_override shapes[16];
    char shape_names[16][256]; /* storage for shapes[i].name */
    int n_shapes;
    int threads;
    bool ref_kernels;
    size_t max_memory; /* --max-memory; 0 = the runtime's default (80% of physical memory) */
    char *input_roles[8]; /* --input-role NAME=ROLE (argv strings) */
    int n_input_roles;
};

bool vm_load_is_plan_path(const char *path);
/* Reads an ONNX model and compiles it (import, infer, cleanup) for inference. `fixed` inputs are
 * folded in as constants. With model_out the graph borrows the model's weights: free it after. */
enum vm_status vm_load_compile_onnx(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                                    Onnx__ModelProto **model_out, struct vm_graph **g_out, struct vm_error *err);
/* Reads and imports an ONNX model for training: shapes inferred, Dropout kept. */
enum vm_status vm_load_compile_onnx_training(const char *path, const struct vm_model_opts *o, Onnx__ModelProto **model_out,
                                             struct vm_graph **g_out, struct vm_error *err);
/* A .vmplan file, verified (vm_plan_verify) before the runtime loads it. */
enum vm_status vm_load_plan(const char *path, const struct vm_rt_opts *ro, struct vm_rt_model **out, struct vm_error *err);
/* ONNX or plan -> runtime model. For ONNX the plan is built in memory exactly as `compile` writes
 * it, so running either gives identical results. */
enum vm_status vm_load_runtime(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                               struct vm_rt_model **out, struct vm_error *err);

/* An output file (what: "-o", "config.output", ...) that can be written: it is a writable file, or
 * its folder exists and is writable. Checked before the work that would fill it. */
enum vm_status vm_load_check_output(const char *path, const char *what, struct vm_error *err);

#endif
