/* rt: runtime internals shared by the loader, the binder, the executor and the kernels.
 *
 * A kernel row (struct vm_rt_kernel) holds everything the runtime knows about one op: its name,
 * arity, flags, and three functions. prepare() runs once per shape instance with every tensor's
 * dims known (and known-content values filled); it builds oneDNN primitives or precomputes loop
 * bounds into a private state. run() executes with the tensors' current data pointers (the arena
 * may have moved since prepare, so kernels never cache data pointers). release() frees the state.
 */
#ifndef VM_RT_INTERNAL_H
#define VM_RT_INTERNAL_H

#include <dnnl.h>

#include "vmrt.h"

struct vm_rt_poly {
    int32_t first, n; /* terms in plan->terms */
};
struct vm_rt_term {
    int64_t coef;
    int32_t first, n; /* symbol ids in plan->syms */
};

struct vm_rt_attr {
    char *name;
    int32_t type; /* VM_ATTR_* */
    int64_t i;
    double f;
    char *s;
    int64_t *ints;
    double *floats;
    int32_t n;
};

struct vm_rt_value {
    char *name;
    int32_t dtype;
    int32_t rank;
    struct vm_rt_poly dims[VM_MAX_RANK];
    uint32_t flags;
    const uint8_t *init; /* into the plan's blob, init_bytes long; NULL once the model is loaded */
    size_t init_bytes;
    struct vm_rt_poly *known; /* symbolic int64 content, n_known elements */
    int64_t n_known;
    bool symbolic;            /* some dim depends on symbols */
};

struct vm_rt_ctx;
struct vm_rt_step;

struct vm_rt_kernel {
    const char *op;
    int8_t min_in, max_in, min_out, max_out;
    uint32_t flags; /* VM_RT_K_* */
    enum vm_status (*prepare)(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                              struct vm_error *err);
    enum vm_status (*run)(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                          struct vm_error *err);
    void (*release)(void *state);
};

enum vm_rt_kernel_flag {
    VM_RT_K_VIEW = 1u << 0, /* output 0 shares input 0's bytes (Reshape, Squeeze, ...) */
};

struct vm_rt_step {
    const struct vm_rt_kernel *k;
    char *op, *name;
    int32_t n_in, n_out;
    int32_t *in, *out;
    struct vm_rt_attr *attrs;
    int32_t n_attrs;
    int32_t phase;
    int32_t index;
};

struct vm_rt_binding {
    char *name;
    int32_t value, aux;
};

struct vm_rt_plan {
    char **symbols;
    int32_t n_symbols;
    struct vm_rt_value *values;
    int32_t n_values;
    struct vm_rt_step *steps;
    int32_t n_steps;
    struct vm_rt_term *terms;
    int32_t n_terms;
    int32_t *syms;
    int32_t n_syms;
    struct vm_rt_poly *polys; /* storage for known[] */
    int64_t n_polys;
    int32_t range[3][2]; /* [VM_PHASE_*][begin, end) */
    struct vm_rt_binding *inputs, *outputs, *params;
    int32_t n_inputs, n_outputs, n_params;
    int32_t loss;
    uint64_t seed;
    uint8_t *blob;
    size_t blob_len;
    char **meta_keys, **meta_values;
    int32_t n_meta;
};

/* The execution context a kernel sees. */
struct vm_rt_ctx {
    struct vm_rt_model *m;
    struct vm_rt_inst *inst;
    struct vm_rt_tensor *t; /* per value id */
    bool training;
    uint64_t seed, counter; /* RNG stream key for this run */
    const struct vm_rt_shard *shard; /* NULL unless data-parallel training (vmrt.h) */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *scratch;          /* oneDNN user scratchpad (run) */
    size_t scratch_need;    /* prepare: raise to what this kernel needs */
};

struct vm_rt_model {
    struct vm_rt_plan plan;
    uint64_t digest; /* FNV-1a of the plan bytes: checkpoints resume only their own plan */
    uint8_t *persist; /* parameters, constants, optimizer state; 64-byte aligned slots */
    size_t persist_bytes;
    size_t max_memory; /* refuse plans and shapes that need more (vm_rt_opts.max_memory) */
    size_t *persist_off; /* per value; SIZE_MAX when not persistent */
    struct vm_rt_inst **insts;
    size_t n_insts, max_insts;
    uint64_t use_clock;
    uint8_t *arena;
    size_t arena_cap;
    uint8_t *scratch;
    size_t scratch_cap;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    uint64_t seed, counter;
    struct vm_rt_shard shard; /* valid while sharded */
    void (*step_hook)(void *ctx, int32_t step); /* after each backward step (vm_rt_set_step_hook) */
    void *step_hook_ctx;
    bool sharded;
    bool profile;
    bool grads_in_arena; /* vm_rt_opts.optimizer_in_backward took effect: steps reordered (plan.c) */
    bool ref_kernels;  /* run the naive C reference of every kernel instead of oneDNN (tests) */
    uint64_t weights_gen; /* bumped whenever a caller gets a writable pointer to persistent values
                           * (persistent_tensor, vm_rt_value): weights packed once are repacked */
    int64_t n_built;   /* shape instances built so far */
    double build_ms;   /* time spent building them (primitive creation, layout) */
    double *prof_ms;   /* per step */
    int64_t *prof_n;
    struct vm_k_memo_table **memo_tables; /* per step, NULL until used: embedding memos shared by the instances (kernels/embed.c) */
};
struct vm_k_memo_table;
void vm_k_memo_table_free(struct vm_k_memo_table *t);

struct vm_rt_inst {
    struct vm_rt_model *m;
    int64_t symvals[16];
    struct vm_rt_tensor *t; /* per value */
    size_t *off;            /* arena offset per value; SIZE_MAX = not in the arena */
    int32_t *root;          /* storage root per value (VIEW aliasing) */
    uint8_t *known_buf;     /* filled at bind: symbolic-content values */
    size_t arena_need, scratch_need;
    size_t saved_bytes;     /* arena values written in the forward range and read in the backward one */
    void **state;           /* per step */
    bool *prepared;
    uint8_t *arena_seen;    /* arena base the data pointers were last set for */
    bool one_thread;        /* small inference work: prepare and run on the calling thread (exec.c) */
    int threads;            /* OpenMP threads the instance was bound with (before one_thread) */
    uint64_t last_use;
    uint64_t runs;          /* vm_rt_run calls so far (0: the next run is the instance's first) */
    /* vm_rt_flops' count per plan range and kind, made once: an instance's shapes do not change
     * (training counts every step's work) */
    bool flops_counted;
    double flops[3][VM_RT_FLOPS_KINDS];
};

void vm_rt_inst_free(struct vm_rt_inst *inst);
/* Small-batch dispatch: decides inst->one_thread from its counted FLOPs (before its prepares), and
 * brackets a prepare or run with it (returns the thread count to restore). */
void vm_rt_inst_pick_threads(struct vm_rt_inst *inst);
int vm_rt_threads_enter(const struct vm_rt_inst *inst);
void vm_rt_threads_leave(const struct vm_rt_inst *inst, int saved);
/* Value v's slot in the persistent region (data NULL when v is not persistent). */
struct vm_rt_tensor vm_rt_persistent_tensor(const struct vm_rt_model *m, int32_t v);

/* Called from a kernel's prepare: gives a workspace value (a uint8 IR value the compiler added to
 * carry oneDNN state from a forward step to its backward step) its size for this instance. The
 * binder lays out memory after every prepare, so the workspace gets arena space like any value. */
void vm_rt_set_workspace_bytes(struct vm_rt_ctx *c, int32_t value, size_t bytes);

/* Kernel registry (runtime/kernels/). */
const struct vm_rt_kernel *vm_rt_kernel_find(const char *op);
extern const struct vm_rt_kernel vm_rt_kernels_elementwise[];
extern const struct vm_rt_kernel vm_rt_kernels_shape[];
extern const struct vm_rt_kernel vm_rt_kernels_nn[];
extern const struct vm_rt_kernel vm_rt_kernels_rnn[];
extern const struct vm_rt_kernel vm_rt_kernels_reduce[];
extern const struct vm_rt_kernel vm_rt_kernels_train[];
extern const struct vm_rt_kernel vm_rt_kernels_mask[];
extern const struct vm_rt_kernel vm_rt_kernels_embed[];

/* Attribute access (normalized by the compiler, so defaults here are only a safety net). */
const struct vm_rt_attr *vm_rt_attr(const struct vm_rt_step *s, const char *name);
int64_t vm_rt_attr_int(const struct vm_rt_step *s, const char *name, int64_t def);
double vm_rt_attr_float(const struct vm_rt_step *s, const char *name, double def);
const char *vm_rt_attr_string(const struct vm_rt_step *s, const char *name, const char *def);
/* ints attribute into out (up to cap); returns the count, or -1 when absent. */
int vm_rt_attr_ints(const struct vm_rt_step *s, const char *name, int64_t *out, int cap);

/* "step 'name' (Op): ..." error. */
enum vm_status vm_rt_step_errorf(const struct vm_rt_step *s, struct vm_error *err,
                                 enum vm_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline struct vm_rt_tensor *vm_rt_in(struct vm_rt_ctx *c, const struct vm_rt_step *s, int i) {
    return i < s->n_in && s->in[i] >= 0 ? &c->t[s->in[i]] : NULL;
}
static inline struct vm_rt_tensor *vm_rt_out(struct vm_rt_ctx *c, const struct vm_rt_step *s, int i) {
    return i < s->n_out && s->out[i] >= 0 ? &c->t[s->out[i]] : NULL;
}

/* Counter-based RNG (Philox-like, via splitmix64 hashing of the key): the same (seed, counter,
 * stream, index) always gives the same number, independent of threads and call order. */
uint64_t vm_rt_rng_u64(uint64_t seed, uint64_t counter, uint64_t stream, uint64_t index);

/* The RNG index of element i of a batch tensor in the global batch (vm_rt_shard): with a shard,
 * the tensor's batch axis (the dimension that is the batch symbol times k) is widened to the
 * global batch and shifted to this process's rows; without one the index is i itself. */
struct vm_rt_rowkey {
    int64_t inner, dl, dg, shift; /* dl == 0: identity */
    int64_t numel_global;
};
enum vm_status vm_rt_rowkey_init(const struct vm_rt_ctx *c, const struct vm_rt_step *s, int32_t value,
                                 struct vm_rt_rowkey *k, struct vm_error *err);
static inline uint64_t vm_rt_rowkey_at(const struct vm_rt_rowkey *k, int64_t i) {
    if (!k->dl) return (uint64_t)i;
    int64_t in = i % k->inner, j = i / k->inner, a = j % k->dl, outer = j / k->dl;
    return (uint64_t)((outer * k->dg + a + k->shift) * k->inner + in);
}
/* The divisor of a mean over the batch's rows / a count summed over all processes (vm_rt_shard). */
int64_t vm_rt_global_rows(const struct vm_rt_ctx *c, int64_t local);
int64_t vm_rt_global_count(const struct vm_rt_ctx *c, int64_t local);
/* Uniform in (0, 1): never exactly 0 or 1, so log() is safe. */
double vm_rt_rng_uniform(uint64_t seed, uint64_t counter, uint64_t stream, uint64_t index);

/* oneDNN helpers (runtime/dnnl_util.c): status mapping with the call text, and memory objects
 * over plain row-major layouts. */
enum vm_status vm_dnnl_status(dnnl_status_t st, const char *call, const struct vm_rt_step *s,
                              struct vm_error *err);
#define VM_DNNL(call, s, err)                                                            \
    do {                                                                                 \
        dnnl_status_t st_ = (call);                                                      \
        if (st_ != dnnl_success) return vm_dnnl_status(st_, #call, (s), (err));          \
    } while (0)
/* Plain (row-major) memory descriptor of a tensor, optionally reshaped to `rank` dims. */
dnnl_status_t vm_dnnl_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims, int32_t dtype);

#endif
