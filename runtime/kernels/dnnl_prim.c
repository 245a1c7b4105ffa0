/* dnnl_prim: primitive construction and execution shared by the oneDNN kernels (see kernels.h). */
#include <stdlib.h>

#include "kernels.h"

enum vm_status vm_dnnl_prim_build(struct vm_rt_ctx *c, const struct vm_rt_step *s, const void *op_desc,
                                  const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr_in,
                                  struct vm_dnnl_prim *p, dnnl_primitive_desc_t *pd_out,
                                  struct vm_error *err) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    enum vm_status r = VM_OK;
    dnnl_status_t st;
    p->prim = NULL;
    p->scratch = NULL;
    if (attr_in) st = dnnl_primitive_attr_clone(&attr, attr_in);
    else st = dnnl_primitive_attr_create(&attr);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_primitive_attr_create", s, err);
    st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, op_desc, attr, c->engine, hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_primitive_desc_create", s, err);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t need = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (need) {
        if (need > c->scratch_need) c->scratch_need = need;
        st = dnnl_memory_create(&p->scratch, smd, c->engine, DNNL_MEMORY_NONE);
        if (st != dnnl_success) {
            r = vm_dnnl_status(st, "dnnl_memory_create(scratchpad)", s, err);
            goto done;
        }
    }
    st = dnnl_primitive_create(&p->prim, pd);
    if (st != dnnl_success) r = vm_dnnl_status(st, "dnnl_primitive_create", s, err);
done:
    if (pd_out && r == VM_OK) *pd_out = pd;
    else dnnl_primitive_desc_destroy(pd);
    if (r) vm_dnnl_prim_destroy(p);
    return r;
}

bool vm_rt_value_const(const struct vm_rt_ctx *c, int32_t v) {
    const struct vm_rt_plan *p = &c->m->plan;
    if (v < 0 || p->range[VM_PHASE_BACKWARD][1] > p->range[VM_PHASE_BACKWARD][0] ||
        p->range[VM_PHASE_OPTIMIZER][1] > p->range[VM_PHASE_OPTIMIZER][0])
        return false;
    return c->m->persist_off[v] != SIZE_MAX;
}

void vm_dnnl_prim_destroy(struct vm_dnnl_prim *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->scratch) dnnl_memory_destroy(p->scratch);
    p->prim = NULL;
    p->scratch = NULL;
}

enum vm_status vm_dnnl_prim_exec(struct vm_rt_ctx *c, const struct vm_rt_step *s,
                                 const struct vm_dnnl_prim *p, int nargs, dnnl_exec_arg_t *args,
                                 struct vm_error *err) {
    if (p->scratch) {
        dnnl_memory_set_data_handle(p->scratch, c->scratch);
        args[nargs].arg = DNNL_ARG_SCRATCHPAD;
        args[nargs].memory = p->scratch;
        nargs++;
    }
    dnnl_status_t st = dnnl_primitive_execute(p->prim, c->stream, nargs, args);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_primitive_execute", s, err);
    return VM_OK;
}

/* The simple forms keep the scratchpad inside the primitive (library-managed): eltwise and binary
 * need none in practice. */
enum vm_status vm_dnnl_build(struct vm_rt_ctx *c, const struct vm_rt_step *s, const void *op_desc,
                             const_dnnl_primitive_desc_t hint, dnnl_primitive_t *prim,
                             struct vm_error *err) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, op_desc, NULL, c->engine, hint);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_primitive_desc_create", s, err);
    st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_primitive_create", s, err);
    return VM_OK;
}

enum vm_status vm_dnnl_exec(struct vm_rt_ctx *c, const struct vm_rt_step *s, dnnl_primitive_t prim,
                            int nargs, const dnnl_exec_arg_t *args, struct vm_error *err) {
    dnnl_status_t st = dnnl_primitive_execute(prim, c->stream, nargs, args);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_primitive_execute", s, err);
    return VM_OK;
}

enum vm_status vm_dnnl_mem(struct vm_rt_ctx *c, const struct vm_rt_step *s,
                           const dnnl_memory_desc_t *md, dnnl_memory_t *m, struct vm_error *err) {
    dnnl_status_t st = dnnl_memory_create(m, md, c->engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success) return vm_dnnl_status(st, "dnnl_memory_create", s, err);
    return VM_OK;
}

enum vm_status vm_dnnl_mem2(struct vm_rt_ctx *c, const struct vm_rt_step *s,
                            const dnnl_memory_desc_t *md1, dnnl_memory_t *m1,
                            const dnnl_memory_desc_t *md2, dnnl_memory_t *m2, struct vm_error *err) {
    enum vm_status r = vm_dnnl_mem(c, s, md1, m1, err);
    return r ? r : vm_dnnl_mem(c, s, md2, m2, err);
}
