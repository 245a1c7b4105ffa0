/* exec: the run loop, kernel lookup, attribute helpers, the counter-based RNG and per-op
 * profiling. The loop itself allocates nothing: it walks the step ranges and calls kernels. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "rt.h"

void vm_rt_inst_update_pointers(struct vm_rt_inst *inst);

static const struct vm_rt_kernel *const kernel_families[] = {
    vm_rt_kernels_elementwise, vm_rt_kernels_shape, vm_rt_kernels_nn,
    vm_rt_kernels_rnn, vm_rt_kernels_reduce, vm_rt_kernels_train, vm_rt_kernels_mask, vm_rt_kernels_embed,
};

const struct vm_rt_kernel *vm_rt_kernel_find(const char *op) {
    for (size_t f = 0; f < sizeof kernel_families / sizeof kernel_families[0]; f++)
        for (const struct vm_rt_kernel *k = kernel_families[f]; k->op; k++)
            if (strcmp(k->op, op) == 0) return k;
    return NULL;
}

const struct vm_rt_attr *vm_rt_attr(const struct vm_rt_step *s, const char *name) {
    for (int32_t i = 0; i < s->n_attrs; i++)
        if (strcmp(s->attrs[i].name, name) == 0) return &s->attrs[i];
    return NULL;
}

int64_t vm_rt_attr_int(const struct vm_rt_step *s, const char *name, int64_t def) {
    const struct vm_rt_attr *a = vm_rt_attr(s, name);
    return a && a->type == VM_ATTR_INT ? a->i : def;
}

double vm_rt_attr_float(const struct vm_rt_step *s, const char *name, double def) {
    const struct vm_rt_attr *a = vm_rt_attr(s, name);
    if (!a) return def;
    if (a->type == VM_ATTR_FLOAT) return a->f;
    if (a->type == VM_ATTR_INT) return (double)a->i;
    return def;
}

const char *vm_rt_attr_string(const struct vm_rt_step *s, const char *name, const char *def) {
    const struct vm_rt_attr *a = vm_rt_attr(s, name);
    return a && a->type == VM_ATTR_STRING && a->s ? a->s : def;
}

int vm_rt_attr_ints(const struct vm_rt_step *s, const char *name, int64_t *out, int cap) {
    const struct vm_rt_attr *a = vm_rt_attr(s, name);
    if (!a || a->type != VM_ATTR_INTS) return -1;
    int n = a->n < cap ? a->n : cap;
    for (int i = 0; i < n; i++) out[i] = a->ints[i];
    return a->n;
}

enum vm_status vm_rt_step_errorf(const struct vm_rt_step *s, struct vm_error *err,
                                 enum vm_status code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vm_errorf(err, code, "step '%s' (%s): %s", s->name, s->op, msg);
}

static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t vm_rt_rng_u64(uint64_t seed, uint64_t counter, uint64_t stream, uint64_t index) {
    uint64_t h = splitmix(seed ^ 0x5851f42d4c957f2dull);
    h = splitmix(h ^ counter);
    h = splitmix(h ^ (stream * 0xd1342543de82ef95ull));
    return splitmix(h ^ index);
}

double vm_rt_rng_uniform(uint64_t seed, uint64_t counter, uint64_t stream, uint64_t index) {
    uint64_t r = vm_rt_rng_u64(seed, counter, stream, index) >> 11; /* 53 bits */
    return ((double)r + 0.5) / 9007199254740992.0;
}

void vm_rt_set_shard(struct vm_rt_model *m, const struct vm_rt_shard *shard) {
    m->sharded = shard != NULL;
    if (shard) m->shard = *shard;
}

void vm_rt_set_step_hook(struct vm_rt_model *m, void (*fn)(void *ctx, int32_t step), void *ctx) {
    m->step_hook = fn;
    m->step_hook_ctx = ctx;
}

void vm_rt_grad_ready_steps(const struct vm_rt_model *m, int32_t *ready) {
    const struct vm_rt_plan *p = &m->plan;
    int32_t *root = malloc(sizeof(int32_t) * (size_t)(p->n_values + 1));
    for (int32_t i = 0; i < p->n_params; i++) ready[i] = root ? -1 : INT32_MAX - 1; /* no memory: after the last step */
    if (!root) return;
    /* storage roots as the binder assigns them: a view shares its input's bytes */
    for (int32_t v = 0; v < p->n_values; v++) root[v] = v;
    for (int32_t i = 0; i < p->n_steps; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        if ((s->k->flags & VM_RT_K_VIEW) && s->n_in > 0 && s->in[0] >= 0 && s->out[0] >= 0 && m->persist_off[s->out[0]] == SIZE_MAX)
            root[s->out[0]] = root[s->in[0]];
    }
    for (int32_t i = p->range[1][0]; i < p->range[1][1]; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        for (int32_t k = 0; k < s->n_out; k++) {
            if (s->out[k] < 0) continue;
            for (int32_t q = 0; q < p->n_params; q++)
                if (p->params[q].aux >= 0 && root[s->out[k]] == p->params[q].aux) ready[q] = i;
        }
    }
    free(root);
}

enum vm_status vm_rt_rowkey_init(const struct vm_rt_ctx *c, const struct vm_rt_step *s, int32_t value,
                                 struct vm_rt_rowkey *k, struct vm_error *err) {
    const struct vm_rt_tensor *t = &c->t[value];
    memset(k, 0, sizeof *k);
    k->numel_global = t->numel;
    const struct vm_rt_shard *sh = c->shard;
    if (!sh) return VM_OK;
    const struct vm_rt_plan *p = &c->m->plan;
    if (sh->batch_symbol < 0 || sh->batch_symbol >= 16 || sh->batch_symbol >= p->n_symbols)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "data-parallel training: batch symbol %d is not one of the plan's", (int)sh->batch_symbol);
    int64_t local = c->inst->symvals[sh->batch_symbol];
    if (sh->row0 == 0 && sh->rows == local) return VM_OK;
    /* the axis whose size is the batch symbol times other factors: [B, T, E], [T, B, H], [B*T, E] */
    const struct vm_rt_value *v = &p->values[value];
    for (int a = 0; a < v->rank && a < t->rank; a++) {
        const struct vm_rt_poly *d = &v->dims[a];
        if (d->n != 1) continue;
        const struct vm_rt_term *tm = &p->terms[d->first];
        int uses = 0;
        for (int32_t j = 0; j < tm->n; j++) uses += p->syms[tm->first + j] == sh->batch_symbol;
        if (uses != 1 || local <= 0 || t->dims[a] % local) continue;
        int64_t per = t->dims[a] / local;
        k->inner = 1;
        for (int b = a + 1; b < t->rank; b++) k->inner *= t->dims[b];
        k->dl = t->dims[a];
        k->dg = per * sh->rows;
        k->shift = per * sh->row0;
        k->numel_global = k->dl ? t->numel / k->dl * k->dg : 0;
        if (!k->inner || !k->dl) memset(k, 0, sizeof *k); /* nothing to draw */
        return VM_OK;
    }
    return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "data-parallel training: no batch axis in '%s', so its random draws "
                             "cannot be keyed by the global example", v->name);
}

int64_t vm_rt_global_rows(const struct vm_rt_ctx *c, int64_t local) { return c->shard ? c->shard->rows : local; }

int64_t vm_rt_global_count(const struct vm_rt_ctx *c, int64_t local) {
    return c->shard && c->shard->sum_count ? c->shard->sum_count(c->shard->ctx, local) : local;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* An inference run below this much counted work (runtime/flops.c) runs on one thread: each
 * oneDNN primitive forks and joins the OpenMP team, and at batch 1 those ~60 barriers of a 2-layer
 * encoder cost more than the second thread gains. Measured on the 2-vCPU VM, 2 threads vs 1:
 * BERT-style 1 x 20 (43 MFLOP) 0.46 vs 0.34 ms, LSTM 1 x 20 (6.4 MFLOP) 0.16 vs 0.06 ms, Kim-CNN
 * 1 x 20 (12 MFLOP) even; at 50 x 50 (0.8-5.5 GFLOP) two threads win. Training plans keep the
 * model's threads. inst->threads keeps the count for kernels that judge their own work (table
 * lookups count few FLOPs but move megabytes: runtime/kernels/embed.c). */
#define VM_RT_ONE_THREAD_FLOPS 1e8

void vm_rt_inst_pick_threads(struct vm_rt_inst *inst) {
    const struct vm_rt_plan *p = &inst->m->plan;
    bool inference = p->range[VM_PHASE_BACKWARD][1] == p->range[VM_PHASE_BACKWARD][0] &&
                     p->range[VM_PHASE_OPTIMIZER][1] == p->range[VM_PHASE_OPTIMIZER][0];
    inst->threads = omp_get_max_threads();
    inst->one_thread = inference && inst->threads > 1 && vm_rt_flops(inst, VM_RT_FORWARD, NULL) < VM_RT_ONE_THREAD_FLOPS;
}

int vm_rt_threads_enter(const struct vm_rt_inst *inst) {
    int saved = omp_get_max_threads();
    if (inst->one_thread) omp_set_num_threads(1);
    return saved;
}

void vm_rt_threads_leave(const struct vm_rt_inst *inst, int saved) {
    if (inst->one_thread) omp_set_num_threads(saved);
}

enum vm_status vm_rt_run(struct vm_rt_inst *inst, unsigned ranges, bool training,
                         struct vm_error *err) {
    struct vm_rt_model *m = inst->m;
    const struct vm_rt_plan *p = &m->plan;
    if (inst->arena_seen != m->arena) vm_rt_inst_update_pointers(inst);
    struct vm_rt_ctx c = {
        .m = m, .inst = inst, .t = inst->t, .training = training, .seed = m->seed, .counter = m->counter,
        .shard = m->sharded && training ? &m->shard : NULL,
        .engine = m->engine, .stream = m->stream, .scratch = m->scratch,
    };
    m->counter++;
    inst->runs++;
    int threads = vm_rt_threads_enter(inst);
    for (int r = 0; r < 3; r++) {
        if (!(ranges & (1u << r))) continue;
        for (int32_t i = p->range[r][0]; i < p->range[r][1]; i++) {
            const struct vm_rt_step *s = &p->steps[i];
            double t0 = m->profile ? now_ms() : 0;
            enum vm_status st = s->k->run(&c, s, inst->state[i], err);
            if (st) {
                vm_rt_threads_leave(inst, threads);
                return st;
            }
            if (r == 1 && m->step_hook) m->step_hook(m->step_hook_ctx, i);
            if (m->profile) {
                dnnl_stream_wait(m->stream);
                m->prof_ms[i] += now_ms() - t0;
                m->prof_n[i]++;
            }
        }
    }
    vm_rt_threads_leave(inst, threads);
    return VM_OK;
}

void vm_rt_profile_enable(struct vm_rt_model *m, bool on) { m->profile = on; }

struct prof_row {
    const char *op;
    double ms;
    int64_t calls;
};

static int cmp_prof(const void *a, const void *b) {
    const struct prof_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

void vm_rt_profile_print(const struct vm_rt_model *m, void *file) {
    FILE *f = file;
    const struct vm_rt_plan *p = &m->plan;
    double total = 0;
    for (int32_t i = 0; i < p->n_steps; i++) total += m->prof_ms[i];
    if (total <= 0) return;
    struct prof_row *rows = calloc((size_t)p->n_steps + 1, sizeof *rows);
    if (!rows) return;
    int n = 0;
    for (int32_t i = 0; i < p->n_steps; i++) {
        int k = 0;
        while (k < n && strcmp(rows[k].op, p->steps[i].op)) k++;
        if (k == n) rows[n++].op = p->steps[i].op;
        rows[k].ms += m->prof_ms[i];
        rows[k].calls += m->prof_n[i];
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_prof);
    fprintf(f, "%-28s %10s %7s %8s\n", "op", "ms", "share", "calls");
    for (int k = 0; k < n; k++)
        fprintf(f, "%-28s %10.2f %6.1f%% %8lld\n", rows[k].op, rows[k].ms, 100.0 * rows[k].ms / total, (long long)rows[k].calls);
    fprintf(f, "%-28s %10.2f\n", "total", total);
    free(rows);
}
