/* vmrt: the vmaskc runtime — loads a plan (schemas/vmplan.proto) and runs it on oneDNN plus a few
 * C kernels. It never sees the compiler or ONNX.
 *
 * Life cycle: a model owns the plan and the persistent memory (parameters, constants, optimizer
 * state). Binding concrete input shapes gives an instance: symbols evaluated, one arena laid out,
 * every oneDNN primitive built. Instances are cached per shape, so a training loop whose batches
 * vary in length builds each shape once. Running an instance allocates nothing.
 */
#ifndef VM_RT_H
#define VM_RT_H

#include "vm_base.h"

struct vm_rt_model;
struct vm_rt_inst;

struct vm_rt_tensor {
    void *data;
    int32_t dtype;
    int32_t rank;
    int64_t dims[VM_MAX_RANK];
    int64_t numel;
    size_t nbytes;
};

struct vm_rt_opts {
    int threads;      /* 0 = leave OpenMP's default */
    size_t max_insts; /* cached shape instances, 0 = default (64) */
    bool ref_kernels; /* naive C reference kernels instead of oneDNN (kernel tests) */
    size_t max_memory; /* bytes a model may hold (parameters + one shape's arena and workspace);
                        * 0 = vm_memory_limit_default(), SIZE_MAX = no limit */
    bool optimizer_in_backward; /* a training plan's optimizer steps run inside the backward pass, each
                                 * as soon as its gradient is final, and the gradients live in the
                                 * arena instead of the persistent region (plan.c). Only for a caller
                                 * that runs forward, backward and optimizer together and never reads
                                 * a gradient (vm_rt_param_grad gives none); plans with a global
                                 * gradient norm (--clip) keep the optimizer apart. */
};

enum vm_status vm_rt_model_load(struct vm_rt_model **out, const char *path,
                                const struct vm_rt_opts *opts, struct vm_error *err);
/* `what` names the source in messages. The buffer is copied. */
enum vm_status vm_rt_model_from_buffer(struct vm_rt_model **out, const uint8_t *buf, size_t len,
                                       const char *what, const struct vm_rt_opts *opts,
                                       struct vm_error *err);
/* The same from a plan in pieces (vm_base.h: compiler/emit.c's vm_emit_plan_parts): the weights
 * are copied once, from where the parts point, into the model. */
enum vm_status vm_rt_model_from_parts(struct vm_rt_model **out, const struct vm_plan_parts *pp, const char *what,
                                      const struct vm_rt_opts *opts, struct vm_error *err);
void vm_rt_model_free(struct vm_rt_model *m);

int vm_rt_num_inputs(const struct vm_rt_model *m);
int vm_rt_num_outputs(const struct vm_rt_model *m);
int vm_rt_num_params(const struct vm_rt_model *m);
const char *vm_rt_input_name(const struct vm_rt_model *m, int i);
const char *vm_rt_output_name(const struct vm_rt_model *m, int i);
int32_t vm_rt_input_dtype(const struct vm_rt_model *m, int i);
int vm_rt_input_rank(const struct vm_rt_model *m, int i);
/* "[batch, seq]" */
void vm_rt_input_shape_str(const struct vm_rt_model *m, int i, char *buf, size_t len);
const char *vm_rt_meta(const struct vm_rt_model *m, const char *key);
int vm_rt_num_steps(const struct vm_rt_model *m);
bool vm_rt_has_training(const struct vm_rt_model *m);

/* Parameters (persistent; the optimizer updates them in place). */
const char *vm_rt_param_name(const struct vm_rt_model *m, int i);
struct vm_rt_tensor vm_rt_param(struct vm_rt_model *m, int i);
/* Gradient of parameter i after a backward run (data NULL when the parameter gets none). */
struct vm_rt_tensor vm_rt_param_grad(struct vm_rt_model *m, int i);
int vm_rt_find_param(const struct vm_rt_model *m, const char *name);
/* Any persistent value by name (parameters, optimizer state, constants); data NULL when none. */
struct vm_rt_tensor vm_rt_persistent(struct vm_rt_model *m, const char *name);

/* Finds or builds the instance for these input shapes (dims[i] has ranks[i] entries). A dtype,
 * rank or size that does not fit the plan is VM_EINVAL naming the input and dimension. */
enum vm_status vm_rt_bind(struct vm_rt_model *m, const int64_t *const *dims, const int *ranks,
                          struct vm_rt_inst **out, struct vm_error *err);
/* Input i's buffer in the instance. Fill it before EVERY run: the arena reuses an input's bytes
 * after its last reader, so a run consumes its inputs. */
struct vm_rt_tensor vm_rt_input(struct vm_rt_inst *inst, int i);
struct vm_rt_tensor vm_rt_output(struct vm_rt_inst *inst, int i);
/* Any value by name in the instance (for tests and tools); data NULL when not materialized.
 * Only outputs and persistent values are guaranteed intact after a run: other values' arena bytes
 * may already hold later values. */
struct vm_rt_tensor vm_rt_value(struct vm_rt_inst *inst, const char *name);

enum vm_rt_range {
    VM_RT_FORWARD = 1,
    VM_RT_BACKWARD = 2,
    VM_RT_OPTIMIZER = 4,
};
/* Runs the steps of the selected ranges in order. `training` switches stochastic ops (Dropout,
 * the Gumbel mask) to their training behaviour. */
enum vm_status vm_rt_run(struct vm_rt_inst *inst, unsigned ranges, bool training,
                         struct vm_error *err);

/* RNG: streams are keyed by (seed, counter, element); the counter advances once per run. */
void vm_rt_set_seed(struct vm_rt_model *m, uint64_t seed, uint64_t counter);
uint64_t vm_rt_rng_counter(const struct vm_rt_model *m);

/* Data-parallel training (runtime/dist.h): this process runs rows row0 .. row0 + B - 1 of a global
 * batch of `rows` rows, every process padded to the same length. While a shard is set, training runs
 * key every random draw by the row's index in the global batch (so a process draws what one
 * process running the whole batch draws for those rows), and the losses divide by the global
 * batch (cross-entropy) and the global count of real tokens (information losses; sum_count adds a
 * count over all processes, every process calling it in the same order), so the processes'
 * gradients and losses add up to the global batch's. NULL: one process, nothing changes. */
struct vm_rt_shard {
    int32_t batch_symbol; /* the plan's batch dimension (vm_rt_input_axis_symbol) */
    int64_t row0, rows;
    int64_t (*sum_count)(void *ctx, int64_t local);
    void *ctx;
};
void vm_rt_set_shard(struct vm_rt_model *m, const struct vm_rt_shard *shard);
/* Data-parallel: fn(ctx, step) runs after every backward step of a run (NULL: none), and
 * ready[i] is the last backward step that writes parameter i's gradient (directly or through a
 * view; -1 when none), the same for every batch shape: once fn sees that step, the gradient is
 * final and can be sent while the rest of the backward pass runs. */
void vm_rt_set_step_hook(struct vm_rt_model *m, void (*fn)(void *ctx, int32_t step), void *ctx);
void vm_rt_grad_ready_steps(const struct vm_rt_model *m, int32_t *ready);
/* The symbol id of input i's dimension `axis` when it is a bare symbol (batch, seq), else -1. */
int32_t vm_rt_input_axis_symbol(const struct vm_rt_model *m, int i, int axis);

/* Memory in use: persistent bytes and the largest arena laid out so far. */
void vm_rt_memory(const struct vm_rt_model *m, size_t *persistent, size_t *arena, size_t *scratch);

/* Floating-point work of one run of inst over the selected ranges (runtime/flops.c): 2 x the
 * multiply-adds of convolutions, matmuls and LSTM gates at the instance's shapes; other ops count 0.
 * by_kind (may be NULL) gets the split. */
enum vm_rt_flop_kind { VM_RT_FLOPS_OTHER, VM_RT_FLOPS_CONV, VM_RT_FLOPS_MATMUL, VM_RT_FLOPS_LSTM, VM_RT_FLOPS_KINDS };
double vm_rt_flops(struct vm_rt_inst *inst, unsigned ranges, double by_kind[VM_RT_FLOPS_KINDS]);
double vm_rt_step_flops(struct vm_rt_inst *inst, int32_t step, enum vm_rt_flop_kind *kind);

/* Shape instances built so far and the milliseconds spent building them. */
void vm_rt_build_stats(const struct vm_rt_model *m, int64_t *instances, double *ms);

/* Per-step timing (for --profile): when enabled, vm_rt_run accumulates wall time per op name. */
void vm_rt_profile_enable(struct vm_rt_model *m, bool on);
void vm_rt_profile_print(const struct vm_rt_model *m, void *file /* FILE* */);
/* Where the model's memory goes: the persistent region by kind (parameters, gradients, optimizer
 * state), the arena of the largest batch shape bound so far and how much of it holds activations
 * saved for the backward pass, and the largest single buffers by name. */
void vm_rt_memory_print(const struct vm_rt_model *m, void *file /* FILE* */);

#endif
