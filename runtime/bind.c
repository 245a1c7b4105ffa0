/* bind: turns the symbolic plan into an instance for concrete input shapes.
 *
 * 1. binds symbols from the inputs' dims and checks every other dim against them;
 * 2. evaluates every value's shape and fills values whose int64 content is known symbolically;
 * 3. lays out one arena: VIEW kernels alias their output onto their input's storage, lifetimes are
 *    [defining step, last reading step] over the whole plan (inputs from the start, outputs to the
 *    end), and intervals are placed largest first at the lowest offset that no overlapping interval
 *    uses (deterministic, so the same shapes always give the same layout);
 * 4. prepares every step (oneDNN primitives are built here, never in the run loop).
 * Instances are cached per symbol binding; the arena and scratchpad are shared by a model's
 * instances, so only one instance's transient data is valid at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt.h"

/* Evaluates a dim polynomial; INT64_MIN when the arithmetic overflows (a plan or input shapes that
 * ask for absurd sizes), which callers report like a negative dim. */
static int64_t poly_eval(const struct vm_rt_plan *p, const struct vm_rt_poly *d, const int64_t *sv) {
    int64_t sum = 0;
    for (int32_t i = 0; i < d->n; i++) {
        const struct vm_rt_term *t = &p->terms[d->first + i];
        int64_t v = t->coef;
        for (int32_t k = 0; k < t->n; k++)
            if (__builtin_mul_overflow(v, sv[p->syms[t->first + k]], &v)) return INT64_MIN;
        if (__builtin_add_overflow(sum, v, &sum)) return INT64_MIN;
    }
    return sum;
}

/* "[2, 0, 5]" */
static void fmt_dims(const int64_t *dims, int rank, char *buf, size_t len) {
    size_t pos = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < rank && pos < len; d++) pos += (size_t)snprintf(buf + pos, len - pos, "%s%lld", d ? ", " : "", (long long)dims[d]);
    if (pos < len) snprintf(buf + pos, len - pos, "]");
}

/* "value 'x' (output of node 'conv' (Conv))": what a user can find in their model. */
static void describe_value(const struct vm_rt_plan *p, int32_t v, char *buf, size_t len) {
    for (int32_t i = 0; i < p->n_steps; i++)
        for (int32_t k = 0; k < p->steps[i].n_out; k++)
            if (p->steps[i].out[k] == v) {
                snprintf(buf, len, "value '%s' (output of node '%s' (%s))", p->values[v].name, p->steps[i].name,
                         p->steps[i].op);
                return;
            }
    snprintf(buf, len, "value '%s'", p->values[v].name);
}

/* "input_ids [2, 0]" for every input; *empty names the first input with a dimension of 0 (an empty
 * text or batch), else NULL. */
static void describe_inputs(const struct vm_rt_plan *p, const struct vm_rt_tensor *t, char *buf, size_t len,
                            const char **empty) {
    size_t pos = 0;
    buf[0] = 0;
    if (empty) *empty = NULL;
    for (int32_t i = 0; i < p->n_inputs && pos < len; i++) {
        const struct vm_rt_tensor *x = &t[p->inputs[i].value];
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s [", i ? ", " : "", p->inputs[i].name);
        for (int d = 0; d < x->rank && pos < len; d++) {
            pos += (size_t)snprintf(buf + pos, len - pos, "%s%lld", d ? ", " : "", (long long)x->dims[d]);
            if (x->dims[d] == 0 && empty && !*empty) *empty = p->inputs[i].name;
        }
        if (pos < len) pos += (size_t)snprintf(buf + pos, len - pos, "]");
    }
}

/* A dim that is exactly one symbol (coefficient 1) can bind that symbol. */
static int poly_single_symbol(const struct vm_rt_plan *p, const struct vm_rt_poly *d) {
    if (d->n != 1) return -1;
    const struct vm_rt_term *t = &p->terms[d->first];
    return t->coef == 1 && t->n == 1 ? p->syms[t->first] : -1;
}

int32_t vm_rt_input_axis_symbol(const struct vm_rt_model *m, int i, int axis) {
    const struct vm_rt_plan *p = &m->plan;
    if (i < 0 || i >= p->n_inputs) return -1;
    const struct vm_rt_value *v = &p->values[p->inputs[i].value];
    return axis >= 0 && axis < v->rank ? poly_single_symbol(p, &v->dims[axis]) : -1;
}

void vm_rt_inst_free(struct vm_rt_inst *inst) {
    if (!inst) return;
    const struct vm_rt_plan *p = &inst->m->plan;
    if (inst->state) {
        for (int32_t i = 0; i < p->n_steps; i++)
            if (inst->prepared && inst->prepared[i] && p->steps[i].k->release) p->steps[i].k->release(inst->state[i]);
    }
    free(inst->state);
    free(inst->prepared);
    free(inst->t);
    free(inst->off);
    free(inst->root);
    free(inst->known_buf);
    free(inst);
}


struct interval {
    int32_t v;
    int32_t first, last;
    size_t size, off;
};

static int cmp_interval(const void *a, const void *b) {
    const struct interval *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return x->v - y->v;
}

/* Each value's storage root (a view shares its input's) and the steps [first, last] its root is
 * used in (-1: a graph input, n_steps: an output or the loss, kept to the end). */
static void lifetimes(struct vm_rt_inst *inst, int32_t *first, int32_t *last) {
    struct vm_rt_model *m = inst->m;
    const struct vm_rt_plan *p = &m->plan;
    int32_t nv = p->n_values, ns = p->n_steps;
    for (int32_t v = 0; v < nv; v++) {
        inst->root[v] = v;
        first[v] = INT32_MAX;
        last[v] = -1;
        inst->off[v] = SIZE_MAX;
    }
    for (int32_t i = 0; i < ns; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        /* a view shares its input's storage, unless the output must live in persistent memory
         * (a parameter gradient): then the kernel copies */
        if ((s->k->flags & VM_RT_K_VIEW) && s->n_in > 0 && s->in[0] >= 0 && s->out[0] >= 0 &&
            m->persist_off[s->out[0]] == SIZE_MAX)
            inst->root[s->out[0]] = inst->root[s->in[0]];
    }
    for (int32_t i = 0; i < ns; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        for (int32_t k = 0; k < s->n_in; k++) {
            if (s->in[k] < 0) continue;
            int32_t r = inst->root[s->in[k]];
            if (last[r] < i) last[r] = i;
            if (first[r] > i) first[r] = i;
        }
        for (int32_t k = 0; k < s->n_out; k++) {
            if (s->out[k] < 0) continue;
            int32_t r = inst->root[s->out[k]];
            if (first[r] > i) first[r] = i;
            if (last[r] < i) last[r] = i;
        }
    }
    for (int32_t k = 0; k < p->n_inputs; k++) first[inst->root[p->inputs[k].value]] = -1;
    for (int32_t k = 0; k < p->n_outputs; k++) last[inst->root[p->outputs[k].value]] = ns;
    if (p->loss >= 0) last[inst->root[p->loss]] = ns;
}

/* The arena bytes that are live at once at the busiest step, from the shapes alone (before any
 * kernel is prepared: workspaces count as nothing). No layout can need less, so a run over the
 * memory limit by this much is refused before oneDNN builds primitives for it (which, for a text of
 * millions of tokens, takes minutes). */
static enum vm_status live_peak(struct vm_rt_inst *inst, size_t *peak, struct vm_error *err) {
    struct vm_rt_model *m = inst->m;
    const struct vm_rt_plan *p = &m->plan;
    int32_t nv = p->n_values, ns = p->n_steps;
    int32_t *first = vm_malloc(((size_t)nv + 1) * sizeof *first, err);
    int32_t *last = vm_malloc(((size_t)nv + 1) * sizeof *last, err);
    size_t *delta = vm_calloc((size_t)ns + 3, sizeof *delta, err), *ends = vm_calloc((size_t)ns + 3, sizeof *ends, err);
    if (!first || !last || !delta || !ends) {
        free(first);
        free(last);
        free(delta);
        free(ends);
        return VM_ENOMEM;
    }
    lifetimes(inst, first, last);
    for (int32_t v = 0; v < nv; v++) {
        if (inst->root[v] != v || m->persist_off[v] != SIZE_MAX || p->values[v].known) continue;
        if (first[v] == INT32_MAX && last[v] < 0) continue;
        int32_t f = first[v] == INT32_MAX ? last[v] : first[v], l = last[v] < 0 ? f : last[v];
        delta[f + 1] += inst->t[v].nbytes; /* steps -1 .. ns are slots 0 .. ns + 1 */
        ends[l + 1] += inst->t[v].nbytes;
    }
    size_t live = 0, top = 0;
    bool over = false;
    for (int32_t i = 0; i < ns + 2 && !over; i++) {
        over = __builtin_add_overflow(live, delta[i], &live);
        if (live > top) top = live;
        live -= ends[i];
    }
    if (over) top = SIZE_MAX;
    *peak = top;
    free(first);
    free(last);
    free(delta);
    free(ends);
    return VM_OK;
}

static enum vm_status layout(struct vm_rt_inst *inst, struct vm_error *err) {
    struct vm_rt_model *m = inst->m;
    const struct vm_rt_plan *p = &m->plan;
    int32_t nv = p->n_values, ns = p->n_steps;
    int32_t *first = vm_malloc(((size_t)nv + 1) * sizeof *first, err);
    int32_t *last = vm_malloc(((size_t)nv + 1) * sizeof *last, err);
    struct interval *iv = vm_malloc(((size_t)nv + 1) * sizeof *iv, err);
    if (!first || !last || !iv) {
        free(first);
        free(last);
        free(iv);
        return VM_ENOMEM;
    }
    lifetimes(inst, first, last);
    int32_t n_iv = 0;
    for (int32_t v = 0; v < nv; v++) {
        if (inst->root[v] != v) continue;
        const struct vm_rt_value *val = &p->values[v];
        if (m->persist_off[v] != SIZE_MAX || val->known) continue;
        if (first[v] == INT32_MAX && last[v] < 0) continue; /* never touched */
        iv[n_iv].v = v;
        iv[n_iv].first = first[v] == INT32_MAX ? last[v] : first[v];
        iv[n_iv].last = last[v] < 0 ? iv[n_iv].first : last[v];
        iv[n_iv].size = vm_align64(inst->t[v].nbytes ? inst->t[v].nbytes : 1);
        n_iv++;
    }
    qsort(iv, (size_t)n_iv, sizeof *iv, cmp_interval);
    size_t total = 0;
    /* placed intervals sorted by offset for the gap search */
    int32_t *placed = vm_malloc(((size_t)n_iv + 1) * sizeof *placed, err);
    if (!placed) {
        free(first);
        free(last);
        free(iv);
        return VM_ENOMEM;
    }
    int32_t n_placed = 0;
    for (int32_t i = 0; i < n_iv; i++) {
        size_t off = 0;
        for (int32_t j = 0; j < n_placed; j++) {
            const struct interval *o = &iv[placed[j]];
            bool overlap_time = !(o->last < iv[i].first || iv[i].last < o->first);
            if (!overlap_time) continue;
            if (off + iv[i].size <= o->off) break; /* fits in the gap before o */
            if (o->off + o->size > off) off = o->off + o->size;
        }
        iv[i].off = off;
        if (off + iv[i].size > total) total = off + iv[i].size;
        int32_t pos = n_placed;
        while (pos > 0 && iv[placed[pos - 1]].off > off) {
            placed[pos] = placed[pos - 1];
            pos--;
        }
        placed[pos] = i;
        n_placed++;
    }
    int32_t bwd = p->range[VM_PHASE_BACKWARD][0];
    inst->saved_bytes = 0;
    for (int32_t i = 0; i < n_iv; i++) {
        inst->off[iv[i].v] = iv[i].off;
        if (p->range[VM_PHASE_BACKWARD][1] > bwd && iv[i].first < bwd && iv[i].last >= bwd && iv[i].last < ns)
            inst->saved_bytes += iv[i].size;
    }
    for (int32_t v = 0; v < nv; v++)
        if (inst->root[v] != v) inst->off[v] = inst->off[inst->root[v]];
    inst->arena_need = total;
    free(placed);
    free(first);
    free(last);
    free(iv);
    return VM_OK;
}

/* Points every tensor at its storage: persistent region, instance buffer or the arena. */
void vm_rt_inst_update_pointers(struct vm_rt_inst *inst);
void vm_rt_inst_update_pointers(struct vm_rt_inst *inst) {
    struct vm_rt_model *m = inst->m;
    const struct vm_rt_plan *p = &m->plan;
    for (int32_t v = 0; v < p->n_values; v++) {
        int32_t r = inst->root[v];
        if (m->persist_off[r] != SIZE_MAX) inst->t[v].data = m->persist + m->persist_off[r];
        else if (inst->off[r] != SIZE_MAX) inst->t[v].data = m->arena + inst->off[r];
    }
    inst->arena_seen = m->arena;
}

/* The old buffer is released before the new one is allocated: its contents belong to an earlier
 * instance and are not valid once another instance is bound (header), and copying them made a
 * growing BERT-base arena hold both (+590 MiB at the peak of a training run). */
static enum vm_status grow(uint8_t **buf, size_t *cap, size_t need, struct vm_error *err) {
    if (need <= *cap && *buf) return VM_OK;
    size_t n = vm_align64(need ? need : 64);
    free(*buf);
    *buf = NULL;
    *cap = 0;
    uint8_t *nb = vm_alloc_big(n);
    if (!nb) return vm_errorf(err, VM_ENOMEM, "out of memory allocating a %zu-byte arena", n);
    *buf = nb;
    *cap = n;
    return VM_OK;
}

/* false (err set) when persistent memory + arena + other bytes exceed the model's memory limit:
 * the message names the input shapes and the largest value. */
static bool over_limit(struct vm_rt_inst *inst, size_t arena, size_t other, struct vm_error *err) {
    const struct vm_rt_model *m = inst->m;
    const struct vm_rt_plan *p = &m->plan;
    size_t need = m->persist_bytes, big = 0;
    int32_t big_v = -1;
    bool wraps = __builtin_add_overflow(need, arena, &need) || __builtin_add_overflow(need, other, &need);
    if (!wraps && need <= m->max_memory) return true;
    if (wraps) need = SIZE_MAX;
    for (int32_t v = 0; v < p->n_values; v++)
        if (m->persist_off[v] == SIZE_MAX && inst->root[v] == v && inst->t[v].nbytes > big) big = inst->t[v].nbytes, big_v = v;
    char who[600] = "", ins[400], what[1400], b[32];
    if (big_v >= 0) describe_value(p, big_v, who, sizeof who);
    describe_inputs(p, inst->t, ins, sizeof ins, NULL);
    vm_fmt_bytes((double)big, b, sizeof b);
    snprintf(what, sizeof what, "with the input shapes %s, one run (parameters, activations and workspace; the largest: %s, %s)",
             ins, who, b);
    vm_check_memory(need, m->max_memory, what, err);
    return false;
}

static enum vm_status build_inst(struct vm_rt_model *m, const int64_t *sv, struct vm_rt_inst **out,
                                 struct vm_error *err) {
    const struct vm_rt_plan *p = &m->plan;
    struct vm_rt_inst *inst = vm_calloc(1, sizeof *inst, err);
    if (!inst) return VM_ENOMEM;
    inst->m = m;
    memcpy(inst->symvals, sv, sizeof inst->symvals);
    size_t nv = (size_t)p->n_values + 1;
    inst->t = vm_calloc(nv, sizeof *inst->t, err);
    inst->off = vm_calloc(nv, sizeof *inst->off, err);
    inst->root = vm_calloc(nv, sizeof *inst->root, err);
    inst->state = vm_calloc((size_t)p->n_steps + 1, sizeof *inst->state, err);
    inst->prepared = vm_calloc((size_t)p->n_steps + 1, sizeof *inst->prepared, err);
    if (!inst->t || !inst->off || !inst->root || !inst->state || !inst->prepared) {
        vm_rt_inst_free(inst);
        return VM_ENOMEM;
    }
    size_t known_bytes = 0;
    for (int32_t v = 0; v < p->n_values; v++) {
        const struct vm_rt_value *val = &p->values[v];
        struct vm_rt_tensor *t = &inst->t[v];
        t->dtype = val->dtype;
        t->rank = val->rank;
        for (int d = 0; d < val->rank; d++) t->dims[d] = poly_eval(p, &val->dims[d], sv);
    }
    /* Every shape is checked before anything is sized: a value that gets a negative or absurd
     * dimension for these inputs, or that alone exceeds the memory limit, is named with the node
     * that makes it and the input shapes, before any allocation. */
    for (int32_t v = 0; v < p->n_values; v++) {
        const struct vm_rt_value *val = &p->values[v];
        struct vm_rt_tensor *t = &inst->t[v];
        char who[600], ins[400];
        bool negative = false;
        for (int d = 0; d < val->rank; d++) negative |= t->dims[d] < 0;
        t->numel = negative ? -1 : vm_numel(t->dims, t->rank);
        bool huge = t->numel >= 0 && __builtin_mul_overflow((size_t)t->numel, vm_dtype_size(t->dtype), &t->nbytes);
        if (negative || t->numel < 0 || huge) {
            const char *empty;
            describe_value(p, v, who, sizeof who);
            describe_inputs(p, inst->t, ins, sizeof ins, &empty);
            vm_rt_inst_free(inst);
            if (negative && empty)
                return vm_errorf(err, VM_EINVAL, "input '%s' is empty (input shapes %s: an empty text has 0 tokens); the "
                                 "model cannot run on it (%s would get a negative dimension)", empty, ins, who);
            if (negative)
                return vm_errorf(err, VM_EINVAL, "the inputs are too short for the model (input shapes %s): %s would get a "
                                 "negative dimension", ins, who);
            return vm_errorf(err, VM_EINVAL, "%s gets more elements than memory can address for the input shapes %s", who, ins);
        }
        if (m->persist_off[v] == SIZE_MAX && t->nbytes > m->max_memory) {
            describe_value(p, v, who, sizeof who);
            describe_inputs(p, inst->t, ins, sizeof ins, NULL);
            char what[1100];
            snprintf(what, sizeof what, "with the input shapes %s, %s", ins, who);
            vm_check_memory(t->nbytes, m->max_memory, what, err);
            vm_rt_inst_free(inst);
            return err->code;
        }
        if (val->known) {
            if (val->n_known != t->numel) {
                /* the message reads t, which belongs to inst: free after */
                vm_errorf(err, VM_EFORMAT, "value '%s': known content has %lld elements, shape has %lld", val->name,
                          (long long)val->n_known, (long long)t->numel);
                vm_rt_inst_free(inst);
                return VM_EFORMAT;
            }
            known_bytes += vm_align64(t->nbytes);
        }
    }
    inst->known_buf = aligned_alloc(64, known_bytes ? known_bytes : 64);
    if (!inst->known_buf) {
        vm_rt_inst_free(inst);
        return vm_errorf(err, VM_ENOMEM, "out of memory");
    }
    size_t koff = 0;
    for (int32_t v = 0; v < p->n_values; v++) {
        const struct vm_rt_value *val = &p->values[v];
        if (!val->known) continue;
        int64_t *d = (int64_t *)(inst->known_buf + koff);
        for (int64_t k = 0; k < val->n_known; k++) d[k] = poly_eval(p, &val->known[k], sv);
        inst->t[v].data = d;
        koff += vm_align64(inst->t[v].nbytes);
    }
    /* the arena's lower bound first: a run that cannot fit fails before the kernels' set-up */
    size_t peak;
    if (live_peak(inst, &peak, err) || !over_limit(inst, peak, known_bytes, err)) {
        vm_rt_inst_free(inst);
        return err->code;
    }
    /* Kernels prepare before the layout: they may size workspace values (oneDNN workspaces that
     * carry state from a forward step to its backward step), which then get arena space like any
     * other value. Persistent data is visible to prepare; arena data is not (and not needed). */
    for (int32_t v = 0; v < p->n_values; v++)
        if (m->persist_off[v] != SIZE_MAX) inst->t[v].data = m->persist + m->persist_off[v];
    enum vm_status s = VM_OK;
    struct vm_rt_ctx c = {.m = m, .inst = inst, .t = inst->t, .engine = m->engine, .stream = m->stream};
    /* primitives are built for the thread count they will run with */
    vm_rt_inst_pick_threads(inst);
    int threads = vm_rt_threads_enter(inst);
    for (int32_t i = 0; i < p->n_steps; i++) {
        const struct vm_rt_step *st = &p->steps[i];
        if (st->k->prepare && (s = st->k->prepare(&c, st, &inst->state[i], err))) {
            /* a prepare that fails has often stored a half-built state already: release it too */
            inst->prepared[i] = inst->state[i] != NULL;
            vm_rt_threads_leave(inst, threads);
            vm_rt_inst_free(inst);
            return s;
        }
        inst->prepared[i] = true;
    }
    vm_rt_threads_leave(inst, threads);
    if ((s = layout(inst, err))) {
        vm_rt_inst_free(inst);
        return s;
    }
    if (!over_limit(inst, inst->arena_need, c.scratch_need > SIZE_MAX - known_bytes ? SIZE_MAX : c.scratch_need + known_bytes, err)) {
        vm_rt_inst_free(inst);
        return err->code;
    }
    if ((s = grow(&m->arena, &m->arena_cap, inst->arena_need, err))) {
        vm_rt_inst_free(inst);
        return s;
    }
    vm_rt_inst_update_pointers(inst);
    inst->scratch_need = c.scratch_need;
    if ((s = grow(&m->scratch, &m->scratch_cap, inst->scratch_need, err))) {
        vm_rt_inst_free(inst);
        return s;
    }
    *out = inst;
    return VM_OK;
}

enum vm_status vm_rt_bind(struct vm_rt_model *m, const int64_t *const *dims, const int *ranks,
                          struct vm_rt_inst **out, struct vm_error *err) {
    const struct vm_rt_plan *p = &m->plan;
    int64_t sv[16];
    bool bound[16] = {false};
    for (int i = 0; i < 16; i++) sv[i] = 0;
    char buf[256];
    for (int32_t i = 0; i < p->n_inputs; i++) {
        const struct vm_rt_value *v = &p->values[p->inputs[i].value];
        if (ranks[i] != v->rank) {
            char got[256];
            vm_rt_input_shape_str(m, i, buf, sizeof buf);
            fmt_dims(dims[i], ranks[i], got, sizeof got);
            return vm_errorf(err, VM_EINVAL, "input '%s' has rank %d, shape %s; the model expects rank %d, shape %s",
                             p->inputs[i].name, ranks[i], got, v->rank, buf);
        }
        for (int d = 0; d < v->rank; d++) {
            int s = poly_single_symbol(p, &v->dims[d]);
            if (s >= 0 && !bound[s]) {
                sv[s] = dims[i][d];
                bound[s] = true;
            }
        }
    }
    for (int32_t i = 0; i < p->n_symbols; i++)
        if (!bound[i]) return vm_errorf(err, VM_EINVAL, "the inputs do not determine the dimension '%s'", p->symbols[i]);
    for (int32_t i = 0; i < p->n_inputs; i++) {
        const struct vm_rt_value *v = &p->values[p->inputs[i].value];
        for (int d = 0; d < v->rank; d++) {
            int64_t want = poly_eval(p, &v->dims[d], sv);
            if (dims[i][d] != want || dims[i][d] < 0) {
                char got[256];
                vm_rt_input_shape_str(m, i, buf, sizeof buf);
                fmt_dims(dims[i], ranks[i], got, sizeof got);
                return vm_errorf(err, VM_EINVAL, "input '%s' has shape %s: dimension %d is %lld but the model expects %lld "
                                 "(shape %s)", p->inputs[i].name, got, d, (long long)dims[i][d], (long long)want, buf);
            }
        }
    }
    m->use_clock++;
    for (size_t i = 0; i < m->n_insts; i++) {
        if (memcmp(m->insts[i]->symvals, sv, sizeof sv) == 0) {
            m->insts[i]->last_use = m->use_clock;
            *out = m->insts[i];
            return VM_OK;
        }
    }
    struct vm_rt_inst *inst = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum vm_status s = build_inst(m, sv, &inst, err);
    if (s) return s;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->n_built++;
    m->build_ms += (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    inst->last_use = m->use_clock;
    if (m->n_insts == m->max_insts) {
        size_t lru = 0;
        for (size_t i = 1; i < m->n_insts; i++)
            if (m->insts[i]->last_use < m->insts[lru]->last_use) lru = i;
        vm_rt_inst_free(m->insts[lru]);
        m->insts[lru] = m->insts[--m->n_insts];
    }
    m->insts[m->n_insts++] = inst;
    *out = inst;
    return VM_OK;
}

void vm_rt_set_workspace_bytes(struct vm_rt_ctx *c, int32_t value, size_t bytes) {
    struct vm_rt_tensor *t = &c->t[value];
    t->dtype = VM_DTYPE_UINT8;
    t->rank = 1;
    t->dims[0] = (int64_t)bytes;
    t->numel = (int64_t)bytes;
    t->nbytes = bytes;
}

struct vm_rt_tensor vm_rt_input(struct vm_rt_inst *inst, int i) {
    if (inst->arena_seen != inst->m->arena) vm_rt_inst_update_pointers(inst);
    return inst->t[inst->m->plan.inputs[i].value];
}

struct vm_rt_tensor vm_rt_output(struct vm_rt_inst *inst, int i) {
    if (inst->arena_seen != inst->m->arena) vm_rt_inst_update_pointers(inst);
    return inst->t[inst->m->plan.outputs[i].value];
}

struct vm_rt_tensor vm_rt_value(struct vm_rt_inst *inst, const char *name) {
    if (inst->arena_seen != inst->m->arena) vm_rt_inst_update_pointers(inst);
    const struct vm_rt_plan *p = &inst->m->plan;
    for (int32_t v = 0; v < p->n_values; v++)
        if (strcmp(p->values[v].name, name) == 0) {
            if (inst->m->persist_off[v] != SIZE_MAX) inst->m->weights_gen++;
            return inst->t[v];
        }
    struct vm_rt_tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

/* One buffer for the memory report. */
struct mem_row {
    int32_t v;
    size_t bytes;
    const char *kind;
};

static int cmp_mem_row(const void *a, const void *b) {
    const struct mem_row *x = a, *y = b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : x->v - y->v;
}

void vm_rt_memory_print(const struct vm_rt_model *m, void *file) {
    FILE *f = file;
    const struct vm_rt_plan *p = &m->plan;
    const double mib = 1048576.0;
    size_t params = 0, grads = 0, state = 0, other = 0;
    struct mem_row *rows = calloc((size_t)p->n_values + 1, sizeof *rows);
    if (!rows) return;
    int32_t n = 0;
    const struct vm_rt_inst *big = NULL;
    for (size_t i = 0; i < m->n_insts; i++)
        if (!big || m->insts[i]->arena_need > big->arena_need) big = m->insts[i];
    for (int32_t v = 0; v < p->n_values; v++) {
        const struct vm_rt_value *val = &p->values[v];
        if (m->persist_off[v] != SIZE_MAX) {
            size_t b = vm_rt_persistent_tensor(m, v).nbytes;
            const char *kind;
            if (val->flags & VM_VALUE_GRAD) grads += b, kind = "gradient";
            else if (val->flags & VM_VALUE_OPTSTATE) state += b, kind = "optimizer state";
            else if (val->flags & VM_VALUE_PARAM) params += b, kind = "parameter";
            else other += b, kind = "constant/frozen";
            rows[n++] = (struct mem_row){v, b, kind};
        } else if (big && big->root[v] == v && big->off[v] != SIZE_MAX) {
            rows[n++] = (struct mem_row){v, big->t[v].nbytes, "arena"};
        }
    }
    fprintf(f, "memory (MiB): persistent %.3f = trained parameters %.3f + gradients %.3f + optimizer state %.3f + constants "
            "and frozen weights %.3f%s\n", (double)m->persist_bytes / mib, (double)params / mib, (double)grads / mib,
            (double)state / mib, (double)other / mib,
            m->grads_in_arena ? " (gradients live in the arena: each parameter's optimizer step runs as soon as backward has "
                                "produced its gradient)" : "");
    if (big) {
        char shape[256];
        size_t pos = 0;
        shape[0] = 0;
        for (int32_t i = 0; i < p->n_inputs && pos < sizeof shape; i++) {
            const struct vm_rt_tensor *t = &big->t[p->inputs[i].value];
            if (t->rank == 0) continue;
            pos += (size_t)snprintf(shape + pos, sizeof shape - pos, "%s%s [", pos ? ", " : "", p->inputs[i].name);
            for (int d = 0; d < t->rank && pos < sizeof shape; d++)
                pos += (size_t)snprintf(shape + pos, sizeof shape - pos, "%s%lld", d ? "x" : "", (long long)t->dims[d]);
            if (pos < sizeof shape) pos += (size_t)snprintf(shape + pos, sizeof shape - pos, "]");
        }
        fprintf(f, "memory (MiB): arena %.3f for the largest batch shape (%s): %.3f of it activations saved for backward; "
                "scratch %.3f\n", (double)m->arena_cap / mib, shape, (double)big->saved_bytes / mib, (double)m->scratch_cap / mib);
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_mem_row);
    fprintf(f, "largest buffers:\n");
    for (int32_t i = 0; i < n && i < 8; i++)
        fprintf(f, "  %10.3f MiB  %-16s %s\n", (double)rows[i].bytes / mib, rows[i].kind, p->values[rows[i].v].name);
    free(rows);
}
