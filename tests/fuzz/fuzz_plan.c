/* fuzz_plan: plan files as vmaskc reads them — vm_plan_verify (every step re-derived by its op row),
 * then the runtime loader (vm_rt_model_from_buffer) and, when a plan loads, one bind with
 * small input shapes: every symbol (batch, seq, ...) is 4, so binding evaluates the plan's
 * symbolic dims, lays out the arena and prepares every kernel. Inputs whose dims would exceed
 * a few thousand elements are not bound (that tests memory, not the loader). */
#include "../../compiler/compiler.h"
#include "../../runtime/rt.h"
#include "fuzz.h"

/* A dim of the plan with every symbol set to 4; -1 when out of a small range. */
static int64_t small_dim(const struct vm_rt_plan *p, const struct vm_rt_poly *d) {
    int64_t v = 0;
    if (d->first < 0 || d->n < 0 || d->first > p->n_terms - d->n) return -1;
    for (int32_t k = 0; k < d->n; k++) {
        const struct vm_rt_term *t = &p->terms[d->first + k];
        if (t->n < 0 || t->n > 8 || t->coef < -4096 || t->coef > 4096) return -1;
        int64_t x = t->coef;
        for (int32_t j = 0; j < t->n; j++) x *= 4;
        v += x;
        if (v < -65536 || v > 65536) return -1;
    }
    return v >= 0 && v <= 256 ? v : -1;
}

static void bind_small(struct vm_rt_model *m) {
    const struct vm_rt_plan *p = &m->plan;
    int n = vm_rt_num_inputs(m);
    if (n > 16) return;
    int64_t dims[16][VM_MAX_RANK];
    const int64_t *dp[16];
    int ranks[16];
    for (int i = 0; i < n; i++) {
        int32_t v = p->inputs[i].value;
        if (v < 0 || v >= p->n_values) return;
        const struct vm_rt_value *val = &p->values[v];
        ranks[i] = val->rank;
        int64_t numel = 1;
        for (int d = 0; d < val->rank && d < VM_MAX_RANK; d++) {
            dims[i][d] = small_dim(p, &val->dims[d]);
            if (dims[i][d] < 0) return;
            numel *= dims[i][d];
            if (numel > 4096) return;
        }
        dp[i] = dims[i];
    }
    struct vm_error err = {0};
    struct vm_rt_inst *inst;
    vm_rt_bind(m, dp, ranks, &inst, &err); /* the instance belongs to the model's cache */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    struct vm_rt_model *m = NULL;
    struct vm_rt_opts ro = {.threads = 1, .max_insts = 1};
    if (vm_plan_verify(data, size, "fuzz input", &err)) return 0;
    if (vm_rt_model_from_buffer(&m, data, size, "fuzz input", &ro, &err)) return 0;
    bind_small(m);
    vm_rt_model_free(m);
    return 0;
}
