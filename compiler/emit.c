/* emit: IR -> plan bytes (schemas/vmplan.proto).
 *
 * Only what the runtime needs is written: every live node whose outputs are not all known becomes a
 * step (known outputs need no run-time work), and the values those steps, the graph inputs and the
 * outputs touch. Values are renumbered densely in first-use order. Known values keep their content:
 * concrete bytes go to the initializer blob, symbolic int64 content is written as dims for the
 * runtime to evaluate at bind time. The same graph always gives byte-identical plans.
 *
 * The initializer blob (field 14) comes last, after the packed message: protobuf allows a field
 * after the others. vm_emit_plan_parts leaves its bytes where they are (the parts point at the
 * values' data), so `train` hands the weights to the runtime and `compile` streams them to the
 * file without a 420 MiB plan in memory; vm_emit_plan assembles the same bytes in one buffer. The
 * runtime finds the blob there and reads the weights in place (runtime/plan.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "ops.h"
#include "vmplan.pb-c.h"

static bool all_zero(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t acc = 0; /* or-ed 8 bytes at a time: the loop vectorizes over hundreds of MiB */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= p[i];
    return acc == 0;
}

struct emit_ctx {
    const struct vm_graph *g;
    int32_t *map; /* IR value -> plan value, -1 unmapped */
    int32_t *order; /* plan value -> IR value */
    int32_t n;
    /* arena-allocated protobuf objects, freed at the end */
    void **allocs;
    size_t n_allocs, cap_allocs;
    struct vm_error *err;
};

static void *ealloc(struct emit_ctx *e, size_t n) {
    if (e->n_allocs == e->cap_allocs) {
        size_t cap = e->cap_allocs ? 2 * e->cap_allocs : 1024;
        void **na = realloc(e->allocs, cap * sizeof *na);
        if (!na) return NULL;
        e->allocs = na;
        e->cap_allocs = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (p) e->allocs[e->n_allocs++] = p;
    return p;
}

static int32_t map_value(struct emit_ctx *e, int32_t v) {
    if (v < 0) return -1;
    if (e->map[v] < 0) {
        e->map[v] = e->n;
        e->order[e->n++] = v;
    }
    return e->map[v];
}

static Vmplan__Dim *make_dim(struct emit_ctx *e, const struct vm_dim *d) {
    Vmplan__Dim *pd = ealloc(e, sizeof *pd);
    if (!pd) return NULL;
    vmplan__dim__init(pd);
    pd->n_term = (size_t)d->n;
    pd->term = ealloc(e, (size_t)(d->n ? d->n : 1) * sizeof *pd->term);
    if (!pd->term) return NULL;
    for (int i = 0; i < d->n; i++) {
        Vmplan__Term *t = ealloc(e, sizeof *t);
        if (!t) return NULL;
        vmplan__term__init(t);
        t->has_coef = 1;
        t->coef = d->t[i].coef;
        int deg = 0;
        while (deg < VM_DIM_DEGREE && d->t[i].sym[deg] >= 0) deg++;
        t->n_sym = (size_t)deg;
        t->sym = ealloc(e, (size_t)(deg ? deg : 1) * sizeof *t->sym);
        if (!t->sym) return NULL;
        for (int k = 0; k < deg; k++) t->sym[k] = d->t[i].sym[k];
        pd->term[i] = t;
    }
    return pd;
}

static bool node_is_step(const struct vm_graph *g, const struct vm_node *n) {
    if (n->n_out == 0) return true; /* updates its inputs in place (optimizer) */
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0) continue;
        if (!vm_value_is_known(&g->values[n->out[k]])) return true;
    }
    return false;
}

static Vmplan__Binding *make_binding(struct emit_ctx *e, const char *name, int32_t value, int32_t aux) {
    Vmplan__Binding *b = ealloc(e, sizeof *b);
    if (!b) return NULL;
    vmplan__binding__init(b);
    b->name = (char *)name;
    b->has_value = 1;
    b->value = value;
    if (aux >= -1) {
        b->has_aux = 1;
        b->aux = aux;
    }
    return b;
}

enum vm_status vm_emit_plan_parts(const struct vm_graph *g, const char *source, struct vm_plan_parts *out,
                                  struct vm_error *err) {
    memset(out, 0, sizeof *out);
    struct emit_ctx e = {.g = g, .err = err};
    bool *in_blob = NULL; /* plan value -> its bytes go to the blob */
    e.map = malloc(((size_t)g->n_values + 1) * sizeof *e.map);
    e.order = malloc(((size_t)g->n_values + 1) * sizeof *e.order);
    enum vm_status s = VM_OK;
    if (!e.map || !e.order) {
        s = vm_errorf(err, VM_ENOMEM, "out of memory");
        goto done;
    }
    for (int32_t v = 0; v < g->n_values; v++) e.map[v] = -1;

    Vmplan__Plan plan;
    vmplan__plan__init(&plan);
    plan.has_format_version = 1;
    plan.format_version = 1;
    plan.producer = "vmaskc " VM_VERSION;
    plan.source = (char *)(source ? source : "");
    plan.n_symbol = (size_t)g->n_symbols;
    plan.symbol = (char **)g->symbols;
    plan.has_seed = 1;
    plan.seed = g->seed;

    for (int32_t i = 0; i < g->n_inputs; i++) map_value(&e, g->inputs[i]);

    /* steps, grouped by phase (the schedule keeps forward before backward before optimizer) */
    int32_t n_steps = 0;
    for (int32_t oi = 0; oi < g->n_order; oi++)
        if (node_is_step(g, &g->nodes[g->order[oi]])) n_steps++;
    plan.step = ealloc(&e, (size_t)(n_steps + 1) * sizeof *plan.step);
    if (!plan.step) goto oom;
    int32_t range_begin[3] = {0, 0, 0}, range_end[3] = {0, 0, 0}, last_phase = 0;
    bool seen_phase[3] = {false, false, false};
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        if (!node_is_step(g, n)) continue;
        int32_t ph = n->phase;
        if (ph < last_phase) {
            s = vm_errorf(err, VM_EINTERNAL, "schedule mixes phases: node '%s' comes after a later phase", n->name);
            goto done;
        }
        if (!seen_phase[ph]) {
            range_begin[ph] = (int32_t)plan.n_step;
            seen_phase[ph] = true;
        }
        range_end[ph] = (int32_t)plan.n_step + 1;
        last_phase = ph;
        Vmplan__Step *st = ealloc(&e, sizeof *st);
        if (!st) goto oom;
        vmplan__step__init(st);
        st->op = (char *)vm_op_name(n->op);
        st->name = n->name;
        st->has_phase = 1;
        st->phase = ph;
        st->n_input = (size_t)n->n_in;
        st->input = ealloc(&e, (size_t)(n->n_in + 1) * sizeof *st->input);
        st->n_output = (size_t)n->n_out;
        st->output = ealloc(&e, (size_t)(n->n_out + 1) * sizeof *st->output);
        if (!st->input || !st->output) goto oom;
        for (int32_t k = 0; k < n->n_in; k++) st->input[k] = map_value(&e, n->in[k]);
        for (int32_t k = 0; k < n->n_out; k++) st->output[k] = map_value(&e, n->out[k]);
        st->n_attr = (size_t)n->n_attrs;
        st->attr = ealloc(&e, (size_t)(n->n_attrs + 1) * sizeof *st->attr);
        if (!st->attr) goto oom;
        for (int32_t a = 0; a < n->n_attrs; a++) {
            const struct vm_attr *ia = &n->attrs[a];
            Vmplan__Attr *pa = ealloc(&e, sizeof *pa);
            if (!pa) goto oom;
            vmplan__attr__init(pa);
            pa->name = ia->name;
            pa->has_type = 1;
            pa->type = ia->type;
            switch (ia->type) {
            case VM_ATTR_INT: pa->has_i = 1; pa->i = ia->i; break;
            case VM_ATTR_FLOAT: pa->has_f = 1; pa->f = ia->f; break;
            case VM_ATTR_STRING: pa->s = ia->s; break;
            case VM_ATTR_INTS: pa->n_ints = (size_t)ia->n; pa->ints = ia->ints; break;
            case VM_ATTR_FLOATS: pa->n_floats = (size_t)ia->n; pa->floats = ia->floats; break;
            default: break;
            }
            st->attr[a] = pa;
        }
        plan.step[plan.n_step++] = st;
    }
    for (int32_t i = 0; i < g->n_outputs; i++) map_value(&e, g->outputs[i]);
    if (g->loss >= 0) map_value(&e, g->loss);
    /* parameters: every PARAM value, even when only the optimizer touches it; and initializers a
     * pass keeps although no step reads them (PERSIST: a per-word mask table folded into the
     * embedding by pass_gather_fold.c, which predict and explain read from a plan) */
    for (int32_t v = 0; v < g->n_values; v++)
        if ((g->values[v].flags & (VM_VALUE_PARAM | VM_VALUE_OPTSTATE)) ||
            ((g->values[v].flags & VM_VALUE_PERSIST) && (g->values[v].flags & VM_VALUE_INIT)))
            map_value(&e, v);

    Vmplan__Range *rg[3];
    for (int r = 0; r < 3; r++) {
        rg[r] = ealloc(&e, sizeof *rg[r]);
        if (!rg[r]) goto oom;
        vmplan__range__init(rg[r]);
        rg[r]->has_begin = rg[r]->has_end = 1;
        rg[r]->begin = seen_phase[r] ? range_begin[r] : (int32_t)plan.n_step;
        rg[r]->end = seen_phase[r] ? range_end[r] : (int32_t)plan.n_step;
    }
    plan.forward = rg[0];
    plan.backward = rg[1];
    plan.optimizer = rg[2];

    /* values and blob */
    /* Optimizer state starts at zero, and the runtime zero-fills its persistent region: Adam's
     * two moments (2x the trainable weights, 660 MiB for BERT-base) need no bytes in the plan. */
    size_t blob_len = 0;
    in_blob = calloc((size_t)e.n + 1, sizeof *in_blob);
    if (!in_blob) goto oom;
    for (int32_t i = 0; i < e.n; i++) {
        const struct vm_value *v = &g->values[e.order[i]];
        in_blob[i] = v->data && !v->known && !((v->flags & VM_VALUE_OPTSTATE) && all_zero(v->data, v->nbytes));
        if (in_blob[i]) blob_len += vm_align64(v->nbytes);
    }
    plan.value = ealloc(&e, (size_t)(e.n + 1) * sizeof *plan.value);
    if (!plan.value) goto oom;
    size_t blob_pos = 0;
    char shape[256];
    for (int32_t i = 0; i < e.n; i++) {
        const struct vm_value *v = &g->values[e.order[i]];
        if (v->rank < 0 || v->dtype == VM_DTYPE_UNDEFINED) {
            s = vm_errorf(err, VM_EINTERNAL, "value '%s' reached the plan without a shape", v->name);
            goto done;
        }
        Vmplan__Value *pv = ealloc(&e, sizeof *pv);
        if (!pv) goto oom;
        vmplan__value__init(pv);
        pv->name = v->name;
        pv->has_dtype = 1;
        pv->dtype = v->dtype;
        pv->has_flags = 1;
        pv->flags = v->flags & ~(uint32_t)VM_VALUE_INIT;
        pv->n_dim = (size_t)v->rank;
        pv->dim = ealloc(&e, (size_t)(v->rank + 1) * sizeof *pv->dim);
        if (!pv->dim) goto oom;
        for (int d = 0; d < v->rank; d++)
            if (!(pv->dim[d] = make_dim(&e, &v->dims[d]))) goto oom;
        if (v->known) {
            pv->n_known = (size_t)v->n_known;
            pv->known = ealloc(&e, (size_t)(v->n_known + 1) * sizeof *pv->known);
            if (!pv->known) goto oom;
            for (int64_t k = 0; k < v->n_known; k++)
                if (!(pv->known[k] = make_dim(&e, &v->known[k]))) goto oom;
        } else if (in_blob[i]) {
            if (!vm_value_shape_is_const(v)) {
                s = vm_errorf(err, VM_EINTERNAL, "value '%s' has data but a symbolic shape %s", v->name,
                              vm_value_shape_str(g, v, shape, sizeof shape));
                goto done;
            }
            pv->flags |= VM_VALUE_INIT;
            pv->has_init_offset = pv->has_init_bytes = 1;
            pv->init_offset = blob_pos;
            pv->init_bytes = v->nbytes;
            blob_pos += vm_align64(v->nbytes);
        }
        plan.value[plan.n_value++] = pv;
    }

    plan.input = ealloc(&e, (size_t)(g->n_inputs + 1) * sizeof *plan.input);
    plan.output = ealloc(&e, (size_t)(g->n_outputs + 1) * sizeof *plan.output);
    if (!plan.input || !plan.output) goto oom;
    for (int32_t i = 0; i < g->n_inputs; i++)
        if (!(plan.input[plan.n_input++] = make_binding(&e, g->values[g->inputs[i]].name, e.map[g->inputs[i]], -2))) goto oom;
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (!(plan.output[plan.n_output++] = make_binding(&e, g->values[g->outputs[i]].name, e.map[g->outputs[i]], -2))) goto oom;
    int32_t n_params = 0;
    for (int32_t v = 0; v < g->n_values; v++) n_params += (g->values[v].flags & VM_VALUE_PARAM) != 0;
    plan.param = ealloc(&e, (size_t)(n_params + 1) * sizeof *plan.param);
    if (!plan.param) goto oom;
    for (int32_t v = 0; v < g->n_values; v++) {
        if (!(g->values[v].flags & VM_VALUE_PARAM)) continue;
        int32_t gv = g->values[v].grad;
        if (!(plan.param[plan.n_param++] = make_binding(&e, g->values[v].name, e.map[v], gv >= 0 ? map_value(&e, gv) : -1))) goto oom;
    }
    plan.has_loss = 1;
    plan.loss = g->loss >= 0 ? e.map[g->loss] : -1;
    plan.meta = ealloc(&e, (size_t)(g->n_meta + 1) * sizeof *plan.meta);
    if (!plan.meta) goto oom;
    for (int32_t i = 0; i < g->n_meta; i++) {
        Vmplan__Meta *mt = ealloc(&e, sizeof *mt);
        if (!mt) goto oom;
        vmplan__meta__init(mt);
        mt->key = g->meta[i].key;
        mt->value = g->meta[i].value;
        plan.meta[plan.n_meta++] = mt;
    }

    /* the message, then field 14 (wire type 2: tag byte 0x72, varint length); the blob's bytes stay
     * where they are, as the parts */
    size_t n_part = 0;
    for (int32_t i = 0; i < e.n; i++) n_part += plan.value[i]->has_init_offset;
    out->msg_len = vmplan__plan__get_packed_size(&plan);
    out->head = malloc(out->msg_len + 11);
    out->part = malloc((n_part + 1) * sizeof *out->part);
    if (!out->head || !out->part) goto oom;
    vmplan__plan__pack(&plan, out->head);
    uint8_t *w = out->head + out->msg_len;
    *w++ = (14 << 3) | 2;
    for (uint64_t x = blob_len; ; x >>= 7) {
        *w++ = (uint8_t)(x & 0x7f) | (x >= 0x80 ? 0x80 : 0);
        if (x < 0x80) break;
    }
    out->head_len = (size_t)(w - out->head);
    out->len = out->head_len + blob_len;
    for (int32_t i = 0; i < e.n; i++) /* offsets ascend with i, so the parts tile the blob */
        if (plan.value[i]->has_init_offset)
            out->part[out->n_part++] = (struct vm_plan_part){g->values[e.order[i]].data, g->values[e.order[i]].nbytes};
    goto done;
oom:
    s = vm_errorf(err, VM_ENOMEM, "out of memory while writing the plan");
done:
    if (s) vm_plan_parts_free(out);
    for (size_t i = 0; i < e.n_allocs; i++) free(e.allocs[i]);
    free(e.allocs);
    free(e.map);
    free(e.order);
    free(in_blob);
    return s;
}

enum vm_status vm_emit_plan(const struct vm_graph *g, const char *source, uint8_t **buf,
                            size_t *len, struct vm_error *err) {
    *buf = NULL;
    *len = 0;
    struct vm_plan_parts pp;
    enum vm_status s = vm_emit_plan_parts(g, source, &pp, err);
    if (s) return s;
    uint8_t *w = vm_alloc_big(pp.len);
    if (!w) {
        vm_plan_parts_free(&pp);
        return vm_errorf(err, VM_ENOMEM, "out of memory while writing the plan");
    }
    *buf = w;
    *len = pp.len;
    memcpy(w, pp.head, pp.head_len);
    w += pp.head_len;
    for (size_t i = 0; i < pp.n_part; i++) {
        size_t padded = vm_align64(pp.part[i].bytes);
        if (pp.part[i].bytes) memcpy(w, pp.part[i].data, pp.part[i].bytes);
        memset(w + pp.part[i].bytes, 0, padded - pp.part[i].bytes);
        w += padded;
    }
    vm_plan_parts_free(&pp);
    return VM_OK;
}
