/* plan: loads a plan file into runtime records and validates all of it before anything runs —
 * value ids, symbol ids, initializer ranges, op names (every unknown op is listed at once), arity
 * and attribute kinds. Then allocates the persistent region (parameters, constants, optimizer
 * state) and copies initializers into 64-byte aligned slots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "vmplan.pb-c.h"

#define VM_PLAN_FORMAT 1

static enum vm_status load_poly(struct vm_rt_plan *p, const Vmplan__Dim *d, struct vm_rt_poly *out,
                                int32_t *term_cap, int32_t *sym_cap, struct vm_error *err) {
    out->first = p->n_terms;
    out->n = (int32_t)d->n_term;
    for (size_t i = 0; i < d->n_term; i++) {
        const Vmplan__Term *t = d->term[i];
        if (p->n_terms == *term_cap) {
            *term_cap = *term_cap ? 2 * *term_cap : 256;
            struct vm_rt_term *nt = vm_realloc(p->terms, (size_t)*term_cap * sizeof *nt, err);
            if (!nt) return VM_ENOMEM;
            p->terms = nt;
        }
        struct vm_rt_term *rt = &p->terms[p->n_terms++];
        rt->coef = t->coef;
        rt->first = p->n_syms;
        rt->n = (int32_t)t->n_sym;
        for (size_t k = 0; k < t->n_sym; k++) {
            if (t->sym[k] < 0 || t->sym[k] >= p->n_symbols)
                return vm_errorf(err, VM_EFORMAT, "a dimension refers to symbol %d, which the plan does not define", t->sym[k]);
            if (p->n_syms == *sym_cap) {
                *sym_cap = *sym_cap ? 2 * *sym_cap : 256;
                int32_t *ns = vm_realloc(p->syms, (size_t)*sym_cap * sizeof *ns, err);
                if (!ns) return VM_ENOMEM;
                p->syms = ns;
            }
            p->syms[p->n_syms++] = t->sym[k];
        }
    }
    return VM_OK;
}

static bool poly_is_const(const struct vm_rt_plan *p, const struct vm_rt_poly *d) {
    for (int32_t i = 0; i < d->n; i++)
        if (p->terms[d->first + i].n) return false;
    return true;
}

static enum vm_status load_bindings(struct vm_rt_binding **out, int32_t *n, Vmplan__Binding **b,
                                    size_t nb, int32_t n_values, const char *what,
                                    struct vm_error *err) {
    *n = 0;
    *out = vm_calloc(nb + 1, sizeof **out, err);
    if (!*out) return VM_ENOMEM;
    for (size_t i = 0; i < nb; i++) {
        if (b[i]->value < 0 || b[i]->value >= n_values)
            return vm_errorf(err, VM_EFORMAT, "%s %zu refers to value %d, out of range", what, i, b[i]->value);
        /* checked before the name is copied: the caller frees the first *n entries only */
        if (b[i]->has_aux && b[i]->aux >= n_values) return vm_errorf(err, VM_EFORMAT, "%s %zu: bad gradient id", what, i);
        (*out)[i].name = vm_strdup(b[i]->name, err);
        if (!(*out)[i].name) return VM_ENOMEM;
        (*out)[i].value = b[i]->value;
        (*out)[i].aux = b[i]->has_aux ? b[i]->aux : -1;
        (*n)++;
    }
    return VM_OK;
}

/* Where the initializer blob's bytes are: in pieces (part i holds the bytes from start[i] on, then
 * zero padding up to the next part), borrowed until setup_persistent has copied them. */
struct blob_view {
    const struct vm_plan_part *part;
    const size_t *start;
    size_t n;
};

/* The bytes [off, off + bytes) of the blob, or NULL when they are not inside one part. */
static const uint8_t *blob_at(const struct blob_view *b, uint64_t off, uint64_t bytes) {
    size_t lo = 0, hi = b->n; /* the last part that starts at or before off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->start[mid] <= off) lo = mid;
        else hi = mid;
    }
    if (!b->n || b->start[lo] > off) return NULL;
    uint64_t in = off - b->start[lo];
    if (in > b->part[lo].bytes || bytes > b->part[lo].bytes - in) return NULL;
    return (const uint8_t *)b->part[lo].data + in;
}

/* blob: the initializer bytes when the caller found them outside pp (p->blob stays NULL); NULL
 * when they are in pp's field 14, which is copied (pp does not outlive this call). */
static enum vm_status load_plan(struct vm_rt_plan *p, const Vmplan__Plan *pp, const struct blob_view *blob,
                                struct vm_error *err) {
    enum vm_status s;
    if (!pp->has_format_version || pp->format_version != VM_PLAN_FORMAT)
        return vm_errorf(err, VM_EFORMAT, "plan format version %u is not supported (this vmaskc reads version %d)",
                         pp->format_version, VM_PLAN_FORMAT);
    if (pp->n_symbol > 16) return vm_errorf(err, VM_EFORMAT, "plan has %zu symbols (at most 16)", pp->n_symbol);
    p->symbols = vm_calloc(pp->n_symbol + 1, sizeof *p->symbols, err);
    if (!p->symbols) return VM_ENOMEM;
    for (size_t i = 0; i < pp->n_symbol; i++) {
        if (!(p->symbols[i] = vm_strdup(pp->symbol[i], err))) return VM_ENOMEM;
        p->n_symbols++;
    }
    static const size_t zero = 0;
    struct vm_plan_part whole = {NULL, 0};
    struct blob_view own = {&whole, &zero, 0};
    if (!blob && pp->has_init_blob) {
        p->blob = vm_malloc(pp->init_blob.len, err);
        if (!p->blob) return VM_ENOMEM;
        if (pp->init_blob.len) memcpy(p->blob, pp->init_blob.data, pp->init_blob.len);
        p->blob_len = pp->init_blob.len;
        whole = (struct vm_plan_part){p->blob, p->blob_len};
        own.n = 1;
    }
    if (!blob) blob = &own;
    int32_t term_cap = 0, sym_cap = 0;
    p->values = vm_calloc(pp->n_value + 1, sizeof *p->values, err);
    if (!p->values) return VM_ENOMEM;
    int64_t total_known = 0;
    for (size_t i = 0; i < pp->n_value; i++) total_known += (int64_t)pp->value[i]->n_known;
    p->polys = vm_calloc((size_t)total_known + 1, sizeof *p->polys, err);
    if (!p->polys) return VM_ENOMEM;
    for (size_t i = 0; i < pp->n_value; i++) {
        const Vmplan__Value *pv = pp->value[i];
        struct vm_rt_value *v = &p->values[i];
        p->n_values++;
        if (!(v->name = vm_strdup(pv->name, err))) return VM_ENOMEM;
        v->dtype = pv->dtype;
        if (vm_dtype_size(v->dtype) == 0)
            return vm_errorf(err, VM_EFORMAT, "value '%s' has unsupported type %d", v->name, v->dtype);
        if (pv->n_dim > VM_MAX_RANK) return vm_errorf(err, VM_EFORMAT, "value '%s' has rank %zu", v->name, pv->n_dim);
        v->rank = (int32_t)pv->n_dim;
        v->flags = pv->flags;
        for (size_t d = 0; d < pv->n_dim; d++) {
            if ((s = load_poly(p, pv->dim[d], &v->dims[d], &term_cap, &sym_cap, err))) return s;
            if (!poly_is_const(p, &v->dims[d])) v->symbolic = true;
        }
        if (v->flags & VM_VALUE_INIT) {
            if (!(v->init = blob_at(blob, pv->init_offset, pv->init_bytes)))
                return vm_errorf(err, VM_EFORMAT, "value '%s': initializer bytes lie outside the plan's blob", v->name);
            v->init_bytes = pv->init_bytes;
            if (v->symbolic) return vm_errorf(err, VM_EFORMAT, "value '%s': an initializer cannot have a symbolic shape", v->name);
        }
        if (pv->n_known) {
            v->known = p->polys + p->n_polys;
            v->n_known = (int64_t)pv->n_known;
            for (size_t k = 0; k < pv->n_known; k++)
                if ((s = load_poly(p, pv->known[k], &p->polys[p->n_polys++], &term_cap, &sym_cap, err))) return s;
            if (v->dtype != VM_DTYPE_INT64)
                return vm_errorf(err, VM_EFORMAT, "value '%s': symbolic content must be int64", v->name);
        }
    }
    /* steps */
    p->steps = vm_calloc(pp->n_step + 1, sizeof *p->steps, err);
    if (!p->steps) return VM_ENOMEM;
    char unknown[600] = "";
    size_t upos = 0;
    int n_unknown = 0;
    for (size_t i = 0; i < pp->n_step; i++) {
        const Vmplan__Step *ps = pp->step[i];
        struct vm_rt_step *st = &p->steps[i];
        p->n_steps++;
        st->index = (int32_t)i;
        if (!(st->op = vm_strdup(ps->op, err)) || !(st->name = vm_strdup(ps->name ? ps->name : ps->op, err))) return VM_ENOMEM;
        st->k = vm_rt_kernel_find(st->op);
        if (!st->k) {
            bool dup = false;
            for (size_t j = 0; j < i; j++) dup |= strcmp(p->steps[j].op, st->op) == 0;
            if (!dup) {
                n_unknown++;
                int w = snprintf(unknown + upos, sizeof unknown - upos, "%s%s", upos ? ", " : "", st->op);
                if (w > 0 && upos + (size_t)w < sizeof unknown) upos += (size_t)w;
            }
            continue;
        }
        st->phase = ps->phase;
        st->n_in = (int32_t)ps->n_input;
        st->n_out = (int32_t)ps->n_output;
        st->in = vm_malloc((ps->n_input + 1) * sizeof *st->in, err);
        st->out = vm_malloc((ps->n_output + 1) * sizeof *st->out, err);
        if (!st->in || !st->out) return VM_ENOMEM;
        for (size_t k = 0; k < ps->n_input; k++) {
            st->in[k] = ps->input[k];
            if (st->in[k] < -1 || st->in[k] >= p->n_values)
                return vm_errorf(err, VM_EFORMAT, "step '%s' reads value %d, out of range", st->name, st->in[k]);
        }
        for (size_t k = 0; k < ps->n_output; k++) {
            st->out[k] = ps->output[k];
            if (st->out[k] < -1 || st->out[k] >= p->n_values)
                return vm_errorf(err, VM_EFORMAT, "step '%s' writes value %d, out of range", st->name, st->out[k]);
        }
        const struct vm_rt_kernel *k = st->k;
        if (st->n_in < k->min_in || (k->max_in >= 0 && st->n_in > k->max_in) || st->n_out < k->min_out ||
            (k->max_out >= 0 && st->n_out > k->max_out))
            return vm_errorf(err, VM_EFORMAT, "step '%s' (%s) has %d inputs and %d outputs, which the kernel does not take",
                             st->name, st->op, st->n_in, st->n_out);
        st->attrs = vm_calloc(ps->n_attr + 1, sizeof *st->attrs, err);
        if (!st->attrs) return VM_ENOMEM;
        for (size_t a = 0; a < ps->n_attr; a++) {
            const Vmplan__Attr *pa = ps->attr[a];
            struct vm_rt_attr *ra = &st->attrs[a];
            st->n_attrs++;
            if (!(ra->name = vm_strdup(pa->name, err))) return VM_ENOMEM;
            ra->type = pa->type;
            ra->i = pa->i;
            ra->f = pa->f;
            if (pa->s && !(ra->s = vm_strdup(pa->s, err))) return VM_ENOMEM;
            if (pa->type == VM_ATTR_INTS) {
                ra->n = (int32_t)pa->n_ints;
                if (!(ra->ints = vm_malloc((pa->n_ints + 1) * sizeof *ra->ints, err))) return VM_ENOMEM;
                if (pa->n_ints) memcpy(ra->ints, pa->ints, pa->n_ints * sizeof *ra->ints);
            } else if (pa->type == VM_ATTR_FLOATS) {
                ra->n = (int32_t)pa->n_floats;
                if (!(ra->floats = vm_malloc((pa->n_floats + 1) * sizeof *ra->floats, err))) return VM_ENOMEM;
                if (pa->n_floats) memcpy(ra->floats, pa->floats, pa->n_floats * sizeof *ra->floats);
            } else if (pa->type < VM_ATTR_INT || pa->type > VM_ATTR_FLOATS) {
                return vm_errorf(err, VM_EFORMAT, "step '%s': attribute '%s' has unknown kind %d", st->name, ra->name, pa->type);
            }
        }
    }
    if (n_unknown)
        return vm_errorf(err, VM_EUNSUPPORTED, "the plan uses %d op%s this runtime does not have: %s", n_unknown,
                         n_unknown > 1 ? "s" : "", unknown);
    const Vmplan__Range *ranges[3] = {pp->forward, pp->backward, pp->optimizer};
    for (int r = 0; r < 3; r++) {
        p->range[r][0] = ranges[r] ? ranges[r]->begin : 0;
        p->range[r][1] = ranges[r] ? ranges[r]->end : 0;
        if (p->range[r][0] < 0 || p->range[r][1] > p->n_steps || p->range[r][0] > p->range[r][1])
            return vm_errorf(err, VM_EFORMAT, "plan has an invalid step range");
    }
    if ((s = load_bindings(&p->inputs, &p->n_inputs, pp->input, pp->n_input, p->n_values, "input", err))) return s;
    if ((s = load_bindings(&p->outputs, &p->n_outputs, pp->output, pp->n_output, p->n_values, "output", err))) return s;
    if ((s = load_bindings(&p->params, &p->n_params, pp->param, pp->n_param, p->n_values, "parameter", err))) return s;
    p->loss = pp->has_loss ? pp->loss : -1;
    if (p->loss >= p->n_values) return vm_errorf(err, VM_EFORMAT, "plan loss id out of range");
    p->seed = pp->seed;
    p->meta_keys = vm_calloc(pp->n_meta + 1, sizeof *p->meta_keys, err);
    p->meta_values = vm_calloc(pp->n_meta + 1, sizeof *p->meta_values, err);
    if (!p->meta_keys || !p->meta_values) return VM_ENOMEM;
    for (size_t i = 0; i < pp->n_meta; i++) {
        if (!(p->meta_keys[i] = vm_strdup(pp->meta[i]->key, err))) return VM_ENOMEM;
        if (!(p->meta_values[i] = vm_strdup(pp->meta[i]->value, err))) return VM_ENOMEM;
        p->n_meta++;
    }
    return VM_OK;
}

static void free_plan(struct vm_rt_plan *p) {
    for (int32_t i = 0; i < p->n_symbols; i++) free(p->symbols[i]);
    free(p->symbols);
    for (int32_t i = 0; i < p->n_values; i++) free(p->values[i].name);
    free(p->values);
    for (int32_t i = 0; i < p->n_steps; i++) {
        struct vm_rt_step *st = &p->steps[i];
        free(st->op);
        free(st->name);
        free(st->in);
        free(st->out);
        for (int32_t a = 0; a < st->n_attrs; a++) {
            free(st->attrs[a].name);
            free(st->attrs[a].s);
            free(st->attrs[a].ints);
            free(st->attrs[a].floats);
        }
        free(st->attrs);
    }
    free(p->steps);
    free(p->terms);
    free(p->syms);
    free(p->polys);
    struct vm_rt_binding *bs[3] = {p->inputs, p->outputs, p->params};
    int32_t ns[3] = {p->n_inputs, p->n_outputs, p->n_params};
    for (int b = 0; b < 3; b++) {
        for (int32_t i = 0; i < ns[b]; i++) free(bs[b][i].name);
        free(bs[b]);
    }
    free(p->blob);
    for (int32_t i = 0; i < p->n_meta; i++) {
        free(p->meta_keys[i]);
        free(p->meta_values[i]);
    }
    free(p->meta_keys);
    free(p->meta_values);
}

void vm_rt_inst_free(struct vm_rt_inst *inst);

void vm_rt_model_free(struct vm_rt_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_insts; i++) vm_rt_inst_free(m->insts[i]);
    free(m->insts);
    for (int32_t i = 0; m->memo_tables && i < m->plan.n_steps; i++) vm_k_memo_table_free(m->memo_tables[i]);
    free(m->memo_tables);
    free(m->arena);
    free(m->scratch);
    vm_free_big_zero(m->persist, m->persist_bytes);
    free(m->persist_off);
    free(m->prof_ms);
    free(m->prof_n);
    if (m->stream) dnnl_stream_destroy(m->stream);
    if (m->engine) dnnl_engine_destroy(m->engine);
    free_plan(&m->plan);
    free(m);
}


static enum vm_status setup_persistent(struct vm_rt_model *m, struct vm_error *err) {
    struct vm_rt_plan *p = &m->plan;
    m->persist_off = vm_malloc(((size_t)p->n_values + 1) * sizeof *m->persist_off, err);
    if (!m->persist_off) return VM_ENOMEM;
    size_t total = 0;
    for (int32_t i = 0; i < p->n_values; i++) {
        struct vm_rt_value *v = &p->values[i];
        m->persist_off[i] = SIZE_MAX;
        bool persist = (v->flags & (VM_VALUE_INIT | VM_VALUE_PARAM | VM_VALUE_OPTSTATE | VM_VALUE_PERSIST | VM_VALUE_GRAD)) != 0;
        if (m->grads_in_arena && (v->flags & VM_VALUE_GRAD)) persist = false; /* fuse_optimizer */
        if (!persist || v->known) continue;
        if (v->symbolic)
            return vm_errorf(err, VM_EFORMAT, "value '%s' is persistent but has a symbolic shape", v->name);
        int64_t dims[VM_MAX_RANK];
        for (int d = 0; d < v->rank; d++) {
            const struct vm_rt_poly *pd = &v->dims[d];
            dims[d] = pd->n ? p->terms[pd->first].coef : 0;
        }
        int64_t n = vm_numel(dims, v->rank);
        size_t bytes;
        if (n < 0 || __builtin_mul_overflow((size_t)n, vm_dtype_size(v->dtype), &bytes) || bytes > SIZE_MAX / 2)
            return vm_errorf(err, VM_EFORMAT, "value '%s' has an invalid shape", v->name);
        if ((v->flags & VM_VALUE_INIT) && bytes != v->init_bytes)
            return vm_errorf(err, VM_EFORMAT, "value '%s': initializer has %zu bytes, shape needs %zu", v->name, v->init_bytes, bytes);
        char what[400];
        snprintf(what, sizeof what, "persistent value '%s' (a parameter, constant or optimizer state)", v->name);
        if (vm_check_memory(bytes, m->max_memory, what, err)) return err->code;
        m->persist_off[i] = total;
        if (__builtin_add_overflow(total, vm_align64(bytes), &total) || total > SIZE_MAX / 2)
            return vm_errorf(err, VM_EFORMAT, "the plan's persistent values overflow the address space");
    }
    if (vm_check_memory(total, m->max_memory, "the model's parameters, constants and optimizer state", err)) return err->code;
    /* zero pages from the kernel: gradients and optimizer state (2/3 of a trained BERT's region)
     * are first written by the first step, not by a memset here (which made the kernel zero each
     * page and then wrote it again, before training began) */
    m->persist = vm_alloc_big_zero(total);
    if (!m->persist) return vm_errorf(err, VM_ENOMEM, "out of memory allocating %zu bytes of parameters", total);
    m->persist_bytes = total;
    /* The copy is first touch of fresh pages, which costs this VM more than the copy (a host fault
     * per page): split into 2 MiB pieces on all threads (bench/probes/first_touch.c). */
    const size_t piece = (size_t)2 << 20;
    int64_t *first = vm_malloc(((size_t)p->n_values + 1) * sizeof *first, err); /* value i's pieces start at first[i] */
    if (!first) return VM_ENOMEM;
    first[0] = 0;
    for (int32_t i = 0; i < p->n_values; i++)
        first[i + 1] = first[i] + (m->persist_off[i] != SIZE_MAX && p->values[i].init ? (int64_t)((p->values[i].init_bytes + piece - 1) / piece) : 0);
    const int64_t n_pieces = first[p->n_values];
    /* below 64 MiB one thread: a small model's `predict` would start OpenMP's threads for nothing */
#pragma omp parallel for schedule(dynamic, 1) if (n_pieces >= 32)
    for (int64_t k = 0; k < n_pieces; k++) {
        int32_t lo = 0, hi = p->n_values; /* the value whose pieces hold k: first[lo] <= k < first[lo + 1] */
        while (hi - lo > 1) {
            int32_t mid = lo + (hi - lo) / 2;
            if (first[mid] <= k) lo = mid;
            else hi = mid;
        }
        const struct vm_rt_value *v = &p->values[lo];
        size_t at = (size_t)(k - first[lo]) * piece, n = v->init_bytes - at < piece ? v->init_bytes - at : piece;
        memcpy(m->persist + m->persist_off[lo] + at, v->init + at, n);
    }
    free(first);
    return VM_OK;
}

/* The trailing field 14 (init_blob) of a plan, if the buffer ends with it: *head is where it
 * starts. NULL when the plan is laid out otherwise (then it is unpacked whole). */
static const uint8_t *trailing_blob(const uint8_t *buf, size_t len, size_t *head, size_t *blob_len) {
    size_t pos = 0;
    while (pos < len) {
        size_t start = pos;
        uint64_t key = 0, n = 0;
        for (int sh = 0; pos < len && sh < 64; sh += 7) {
            uint8_t b = buf[pos++];
            key |= (uint64_t)(b & 0x7f) << sh;
            if (!(b & 0x80)) break;
        }
        switch (key & 7) {
        case 0:
            while (pos < len && (buf[pos++] & 0x80)) {}
            break;
        case 1: pos += 8; break;
        case 5: pos += 4; break;
        case 2:
            for (int sh = 0; pos < len && sh < 64; sh += 7) {
                uint8_t b = buf[pos++];
                n |= (uint64_t)(b & 0x7f) << sh;
                if (!(b & 0x80)) break;
            }
            if (n > len - pos) return NULL;
            if (key >> 3 == 14 && pos + n == len) {
                *head = start;
                *blob_len = (size_t)n;
                return buf + pos;
            }
            pos += (size_t)n;
            break;
        default: return NULL; /* groups or garbage: let protobuf-c judge the whole buffer */
        }
    }
    return NULL;
}

/* FNV-1a over 8-byte words of the whole plan (it can be hundreds of MiB): checkpoints name the
 * plan they belong to by it. Fed in pieces, it gives what one call over the bytes laid end to end
 * would. */
struct digest {
    uint64_t h;
    size_t len, nc;
    uint8_t carry[8];
};

static void digest_word(struct digest *d, const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    d->h = (d->h ^ w) * 1099511628211ull;
}

static void digest_add(struct digest *d, const void *data, size_t n) {
    const uint8_t *p = data;
    d->len += n;
    if (d->nc) { /* complete the word a previous piece began */
        size_t take = 8 - d->nc < n ? 8 - d->nc : n;
        memcpy(d->carry + d->nc, p, take);
        d->nc += take;
        p += take;
        n -= take;
        if (d->nc < 8) return;
        digest_word(d, d->carry);
        d->nc = 0;
    }
    for (; n >= 8; p += 8, n -= 8) digest_word(d, p);
    if (n) memcpy(d->carry, p, n);
    d->nc = n;
}

static uint64_t digest_end(struct digest *d) {
    for (size_t i = 0; i < d->nc; i++) d->h = (d->h ^ d->carry[i]) * 1099511628211ull;
    return d->h ^ d->len;
}

/* vm_rt_opts.optimizer_in_backward. A training plan runs forward, backward, then one Adam step per
 * parameter; the backward writes every parameter's gradient into the persistent region, where it
 * waits for the optimizer. Here the optimizer's steps move into the backward range instead: the
 * step counter first, and each Adam right after the last step that its update has to wait for
 * (the one producing its gradient, and every other step reading the parameter or its moments, a
 * view of them included, since Adam overwrites those in place). Gradients then need no
 * persistent bytes: each lives in the arena from its producer to its Adam, and the binder reuses
 * the space (BERT-base: 329 MiB less persistent memory, none of it first touched in the first
 * step). Step indices (RNG streams) are unchanged and so is the arithmetic: a run gives the same
 * bits either way (tests/train/run.sh). Leaves the plan as it is (false) when the optimizer range
 * holds anything else (GradNorm for --clip reads every gradient at once) or is not the plan's end. */
static bool fuse_optimizer(struct vm_rt_plan *p, struct vm_error *err) {
    const int32_t fb = p->range[VM_PHASE_BACKWARD][0], fe = p->range[VM_PHASE_BACKWARD][1];
    const int32_t ob = p->range[VM_PHASE_OPTIMIZER][0], oe = p->range[VM_PHASE_OPTIMIZER][1], ns = p->n_steps, nv = p->n_values;
    if (fe <= fb || oe <= ob || ob != fe || oe != ns || p->range[VM_PHASE_FORWARD][1] > fb) return false;
    for (int32_t i = ob; i < oe; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        bool adam = !strcmp(s->op, "Adam") && s->n_in == 7, step = !strcmp(s->op, "OptStep") && s->n_in == 1;
        if (!adam && !step) return false;
    }
    int32_t *root = vm_malloc(((size_t)nv + 1) * sizeof *root, err), *prod = vm_malloc(((size_t)nv + 1) * sizeof *prod, err);
    int32_t *last = vm_malloc(((size_t)nv + 1) * sizeof *last, err), *at = vm_malloc(((size_t)ns + 1) * sizeof *at, err);
    struct vm_rt_step *steps = vm_malloc(((size_t)ns + 1) * sizeof *steps, err);
    bool ok = root && prod && last && at && steps;
    for (int32_t v = 0; ok && v < nv; v++) root[v] = v, prod[v] = -1, last[v] = -1;
    for (int32_t i = 0; ok && i < ob; i++) { /* storage roots and producers as the binder sees them */
        const struct vm_rt_step *s = &p->steps[i];
        if ((s->k->flags & VM_RT_K_VIEW) && s->n_in > 0 && s->in[0] >= 0 && s->n_out > 0 && s->out[0] >= 0)
            root[s->out[0]] = root[s->in[0]];
        for (int32_t k = 0; k < s->n_out; k++)
            if (s->out[k] >= 0) prod[s->out[k]] = i;
        for (int32_t k = 0; k < s->n_in; k++)
            if (s->in[k] >= 0 && last[root[s->in[k]]] < i) last[root[s->in[k]]] = i;
    }
    /* at[i]: the step after which optimizer step i runs (fb - 1: first thing in the backward) */
    for (int32_t i = ob; ok && i < oe; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        int32_t a = fb - 1;
        for (int32_t k = 0; k < s->n_in; k++) {
            int32_t v = s->in[k];
            if (v < 0) continue;
            if (prod[v] > a) a = prod[v];
            bool written = !strcmp(s->op, "OptStep") || k == 0 || k == 2 || k == 3; /* t; p, m, v */
            if (written && last[root[v]] > a) a = last[root[v]];
        }
        /* the counter is read by every Adam: it goes first, and no Adam may land before it */
        at[i] = !strcmp(s->op, "OptStep") ? fb - 1 : a;
    }
    if (ok) {
        int32_t n = 0;
        for (int32_t i = 0; i < fb; i++) steps[n++] = p->steps[i];
        for (int32_t j = ob; j < oe; j++)
            if (at[j] == fb - 1 && !strcmp(p->steps[j].op, "OptStep")) steps[n++] = p->steps[j];
        for (int32_t j = ob; j < oe; j++)
            if (at[j] == fb - 1 && strcmp(p->steps[j].op, "OptStep")) steps[n++] = p->steps[j];
        for (int32_t i = fb; i < fe; i++) {
            steps[n++] = p->steps[i];
            for (int32_t j = ob; j < oe; j++)
                if (at[j] == i) steps[n++] = p->steps[j];
        }
        ok = n == ns;
    }
    if (ok) {
        for (int32_t i = 0; i < ns; i++) steps[i].phase = i < fb ? VM_PHASE_FORWARD : VM_PHASE_BACKWARD;
        memcpy(p->steps, steps, (size_t)ns * sizeof *steps);
        p->range[VM_PHASE_BACKWARD][1] = ns;
        p->range[VM_PHASE_OPTIMIZER][0] = p->range[VM_PHASE_OPTIMIZER][1] = ns;
    }
    free(root);
    free(prod);
    free(last);
    free(at);
    free(steps);
    return ok;
}

/* The part of loading shared by a plan in one buffer and a plan in pieces: msg is the packed
 * message without the blob, which blob (if not NULL) holds. */
static enum vm_status model_new(struct vm_rt_model **out, const uint8_t *msg, size_t msg_len, const struct blob_view *blob,
                                uint64_t digest, const char *what, const struct vm_rt_opts *opts, struct vm_error *err) {
    Vmplan__Plan *pp = vmplan__plan__unpack(NULL, msg_len, msg);
    if (!pp) return vm_errorf(err, VM_EFORMAT, "%s is not a vmaskc plan (protobuf could not be parsed)", what);
    struct vm_rt_model *m = vm_calloc(1, sizeof *m, err);
    if (!m) {
        vmplan__plan__free_unpacked(pp, NULL);
        return VM_ENOMEM;
    }
    m->max_memory = opts && opts->max_memory ? opts->max_memory : vm_memory_limit_default();
    enum vm_status s = load_plan(&m->plan, pp, blob, err);
    vmplan__plan__free_unpacked(pp, NULL);
    if (s) {
        vm_error_prefix(err, "%s", what);
        vm_rt_model_free(m);
        return s;
    }
    if (opts && opts->optimizer_in_backward) {
        struct vm_error fe = {0};
        m->grads_in_arena = fuse_optimizer(&m->plan, &fe);
        if (fe.code) {
            vm_rt_model_free(m);
            return vm_errorf(err, fe.code, "%s: %s", what, fe.msg);
        }
    }
    if (opts && opts->threads > 0) { /* before setup_persistent, whose copy runs on these threads */
        extern void omp_set_num_threads(int);
        omp_set_num_threads(opts->threads);
    }
    if ((s = setup_persistent(m, err))) {
        vm_error_prefix(err, "%s", what);
        vm_rt_model_free(m);
        return s;
    }
    /* the initializers now live in the persistent region: the plan's copy is not needed again */
    for (int32_t i = 0; i < m->plan.n_values; i++) m->plan.values[i].init = NULL;
    free(m->plan.blob);
    m->plan.blob = NULL;
    m->plan.blob_len = 0;
    m->digest = digest;
    m->max_insts = opts && opts->max_insts ? opts->max_insts : 64;
    m->insts = vm_calloc(m->max_insts, sizeof *m->insts, err);
    m->prof_ms = vm_calloc((size_t)m->plan.n_steps + 1, sizeof *m->prof_ms, err);
    m->prof_n = vm_calloc((size_t)m->plan.n_steps + 1, sizeof *m->prof_n, err);
    if (!m->insts || !m->prof_ms || !m->prof_n) {
        vm_rt_model_free(m);
        return VM_ENOMEM;
    }
    m->seed = m->plan.seed;
    m->ref_kernels = opts && opts->ref_kernels;
    if (dnnl_engine_create(&m->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&m->stream, m->engine, dnnl_stream_default_flags) != dnnl_success) {
        vm_rt_model_free(m);
        return vm_errorf(err, VM_EDNNL, "cannot create the oneDNN CPU engine");
    }
    *out = m;
    return VM_OK;
}

enum vm_status vm_rt_model_from_buffer(struct vm_rt_model **out, const uint8_t *buf, size_t len,
                                       const char *what, const struct vm_rt_opts *opts,
                                       struct vm_error *err) {
    *out = NULL;
    if (len == 0) return vm_errorf(err, VM_EFORMAT, "%s is empty, not a vmaskc plan", what);
    /* a trailing blob (as compiler/emit.c writes it) is read in place: only the head is unpacked */
    size_t head = len, blob_len = 0;
    const uint8_t *blob = trailing_blob(buf, len, &head, &blob_len);
    static const size_t zero = 0;
    struct vm_plan_part whole = {blob, blob_len};
    struct blob_view view = {&whole, &zero, 1};
    struct digest d = {.h = 14695981039346656037ull};
    digest_add(&d, buf, len);
    return model_new(out, buf, head, blob ? &view : NULL, digest_end(&d), what, opts, err);
}

enum vm_status vm_rt_model_from_parts(struct vm_rt_model **out, const struct vm_plan_parts *pp, const char *what,
                                      const struct vm_rt_opts *opts, struct vm_error *err) {
    *out = NULL;
    size_t *start = vm_malloc((pp->n_part + 1) * sizeof *start, err);
    if (!start) return VM_ENOMEM;
    static const uint8_t zeros[64];
    struct digest d = {.h = 14695981039346656037ull};
    digest_add(&d, pp->head, pp->head_len);
    size_t pos = 0;
    for (size_t i = 0; i < pp->n_part; i++) {
        start[i] = pos;
        pos += vm_align64(pp->part[i].bytes);
        digest_add(&d, pp->part[i].data, pp->part[i].bytes);
        digest_add(&d, zeros, vm_align64(pp->part[i].bytes) - pp->part[i].bytes);
    }
    struct blob_view view = {pp->part, start, pp->n_part};
    enum vm_status s = model_new(out, pp->head, pp->msg_len, &view, digest_end(&d), what, opts, err);
    free(start);
    return s;
}

enum vm_status vm_rt_model_load(struct vm_rt_model **out, const char *path,
                                const struct vm_rt_opts *opts, struct vm_error *err) {
    uint8_t *buf;
    size_t len;
    *out = NULL;
    if (vm_file_read(path, &buf, &len, err)) return err->code;
    char what[4200];
    snprintf(what, sizeof what, "'%s'", path);
    enum vm_status s = vm_rt_model_from_buffer(out, buf, len, what, opts, err);
    free(buf);
    return s;
}

int vm_rt_num_inputs(const struct vm_rt_model *m) { return m->plan.n_inputs; }
int vm_rt_num_outputs(const struct vm_rt_model *m) { return m->plan.n_outputs; }
int vm_rt_num_params(const struct vm_rt_model *m) { return m->plan.n_params; }
int vm_rt_num_steps(const struct vm_rt_model *m) { return m->plan.n_steps; }
bool vm_rt_has_training(const struct vm_rt_model *m) {
    return m->plan.range[VM_PHASE_BACKWARD][1] > m->plan.range[VM_PHASE_BACKWARD][0];
}
const char *vm_rt_input_name(const struct vm_rt_model *m, int i) { return m->plan.inputs[i].name; }
const char *vm_rt_output_name(const struct vm_rt_model *m, int i) { return m->plan.outputs[i].name; }
int32_t vm_rt_input_dtype(const struct vm_rt_model *m, int i) {
    return m->plan.values[m->plan.inputs[i].value].dtype;
}
int vm_rt_input_rank(const struct vm_rt_model *m, int i) {
    return m->plan.values[m->plan.inputs[i].value].rank;
}

static void poly_str(const struct vm_rt_plan *p, const struct vm_rt_poly *d, char *buf, size_t len) {
    size_t pos = 0;
    buf[0] = 0;
    if (d->n == 0) snprintf(buf, len, "0");
    for (int32_t i = 0; i < d->n && pos < len; i++) {
        const struct vm_rt_term *t = &p->terms[d->first + i];
        int w;
        if (t->n == 0 || t->coef != 1) w = snprintf(buf + pos, len - pos, "%s%lld%s", i ? " + " : "", (long long)t->coef, t->n ? "*" : "");
        else w = snprintf(buf + pos, len - pos, "%s", i ? " + " : "");
        if (w > 0) pos += (size_t)w;
        for (int32_t k = 0; k < t->n && pos < len; k++) {
            w = snprintf(buf + pos, len - pos, "%s%s", k ? "*" : "", p->symbols[p->syms[t->first + k]]);
            if (w > 0) pos += (size_t)w;
        }
    }
}

void vm_rt_input_shape_str(const struct vm_rt_model *m, int i, char *buf, size_t len) {
    const struct vm_rt_value *v = &m->plan.values[m->plan.inputs[i].value];
    size_t pos = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < v->rank && pos < len; d++) {
        char s[128];
        poly_str(&m->plan, &v->dims[d], s, sizeof s);
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", d ? ", " : "", s);
    }
    if (pos < len) snprintf(buf + pos, len - pos, "]");
}

const char *vm_rt_meta(const struct vm_rt_model *m, const char *key) {
    for (int32_t i = 0; i < m->plan.n_meta; i++)
        if (strcmp(m->plan.meta_keys[i], key) == 0) return m->plan.meta_values[i];
    return NULL;
}

struct vm_rt_tensor vm_rt_persistent_tensor(const struct vm_rt_model *m, int32_t v) {
    struct vm_rt_tensor t;
    memset(&t, 0, sizeof t);
    const struct vm_rt_value *val = &m->plan.values[v];
    if (m->persist_off[v] == SIZE_MAX) return t;
    t.dtype = val->dtype;
    t.rank = val->rank;
    for (int d = 0; d < val->rank; d++) t.dims[d] = val->dims[d].n ? m->plan.terms[val->dims[d].first].coef : 0;
    t.numel = vm_numel(t.dims, t.rank);
    t.nbytes = (size_t)t.numel * vm_dtype_size(t.dtype);
    t.data = m->persist + m->persist_off[v];
    return t;
}

/* A persistent tensor handed out writable: kernels that packed a copy of a weight repack it
 * (weights_gen, see rt.h). */
static struct vm_rt_tensor writable_tensor(struct vm_rt_model *m, int32_t v) {
    m->weights_gen++;
    return vm_rt_persistent_tensor(m, v);
}

const char *vm_rt_param_name(const struct vm_rt_model *m, int i) { return m->plan.params[i].name; }

struct vm_rt_tensor vm_rt_param(struct vm_rt_model *m, int i) {
    return writable_tensor(m, m->plan.params[i].value);
}

struct vm_rt_tensor vm_rt_param_grad(struct vm_rt_model *m, int i) {
    int32_t gv = m->plan.params[i].aux;
    if (gv < 0) {
        struct vm_rt_tensor t;
        memset(&t, 0, sizeof t);
        return t;
    }
    return writable_tensor(m, gv);
}

int vm_rt_find_param(const struct vm_rt_model *m, const char *name) {
    for (int32_t i = 0; i < m->plan.n_params; i++)
        if (strcmp(m->plan.params[i].name, name) == 0) return i;
    return -1;
}

struct vm_rt_tensor vm_rt_persistent(struct vm_rt_model *m, const char *name) {
    for (int32_t i = 0; i < m->plan.n_values; i++)
        if (strcmp(m->plan.values[i].name, name) == 0) return writable_tensor(m, i);
    struct vm_rt_tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

void vm_rt_set_seed(struct vm_rt_model *m, uint64_t seed, uint64_t counter) {
    m->seed = seed;
    m->counter = counter;
}

uint64_t vm_rt_rng_counter(const struct vm_rt_model *m) { return m->counter; }

void vm_rt_build_stats(const struct vm_rt_model *m, int64_t *instances, double *ms) {
    *instances = m->n_built;
    *ms = m->build_ms;
}

void vm_rt_memory(const struct vm_rt_model *m, size_t *persistent, size_t *arena, size_t *scratch) {
    *persistent = m->persist_bytes;
    *arena = m->arena_cap;
    *scratch = m->scratch_cap;
}
