/* dnnl_util: the one place that turns oneDNN statuses into vmaskc errors and tensors into plain
 * memory descriptors. All oneDNN calls use the 2.x C API (Debian 12 ships 2.6); keeping the helpers
 * here limits what a move to 3.x has to touch. */
#include <stdio.h>

#include "rt.h"

enum vm_status vm_dnnl_status(dnnl_status_t st, const char *call, const struct vm_rt_step *s,
                              struct vm_error *err) {
    const char *what = "error";
    switch (st) {
    case dnnl_out_of_memory: what = "out of memory"; break;
    case dnnl_invalid_arguments: what = "invalid arguments"; break;
    case dnnl_unimplemented: what = "no implementation for these shapes"; break;
    case dnnl_iterator_ends: what = "iterator ends"; break;
    case dnnl_runtime_error: what = "runtime error"; break;
    case dnnl_not_required: what = "not required"; break;
    default: break;
    }
    char callbuf[96];
    snprintf(callbuf, sizeof callbuf, "%.80s", call);
    if (s) return vm_rt_step_errorf(s, err, st == dnnl_out_of_memory ? VM_ENOMEM : VM_EDNNL, "oneDNN: %s (%s...)", what, callbuf);
    return vm_errorf(err, VM_EDNNL, "oneDNN: %s (%s...)", what, callbuf);
}

dnnl_status_t vm_dnnl_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims, int32_t dtype) {
    dnnl_data_type_t dt;
    switch (dtype) {
    case VM_DTYPE_FLOAT: dt = dnnl_f32; break;
    case VM_DTYPE_INT32: dt = dnnl_s32; break;
    case VM_DTYPE_INT8: dt = dnnl_s8; break;
    case VM_DTYPE_UINT8: dt = dnnl_u8; break;
    default: return dnnl_invalid_arguments;
    }
    dnnl_dims_t d, strides;
    int64_t st = 1;
    for (int i = rank - 1; i >= 0; i--) {
        d[i] = dims[i];
        strides[i] = st;
        st *= dims[i] ? dims[i] : 1;
    }
    return dnnl_memory_desc_init_by_strides(md, rank, d, dt, strides);
}
