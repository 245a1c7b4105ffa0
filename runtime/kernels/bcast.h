/* bcast: a numpy-broadcast iterator for C kernels. Aligns up to four operands to the output rank
 * (stride 0 on broadcast dims), merges dims that are contiguous for every operand, and walks the
 * result as an outer index plus one inner strided loop. */
#ifndef VM_BCAST_H
#define VM_BCAST_H

#include "../rt.h"

#define VM_BCAST_MAX_OPS 4

struct vm_bcast {
    int rank;                                   /* after merging, >= 1 */
    int n_ops;                                  /* inputs */
    int64_t dims[VM_MAX_RANK];                  /* output dims (merged) */
    int64_t st[VM_BCAST_MAX_OPS][VM_MAX_RANK];  /* element strides per input */
    int64_t outer;                              /* product of all dims but the last */
    int64_t inner;                              /* last dim */
};

static inline void vm_bcast_init(struct vm_bcast *b, const struct vm_rt_tensor *out,
                                 const struct vm_rt_tensor *const *ins, int n_ops) {
    int r = out->rank;
    int64_t dims[VM_MAX_RANK + 1], st[VM_BCAST_MAX_OPS][VM_MAX_RANK + 1];
    for (int d = 0; d < r; d++) dims[d] = out->dims[d];
    for (int k = 0; k < n_ops; k++) {
        const struct vm_rt_tensor *t = ins[k];
        int64_t s = 1;
        for (int d = r - 1; d >= 0; d--) {
            int di = d - (r - t->rank);
            if (di < 0 || t->dims[di] == 1) st[k][d] = 0;
            else st[k][d] = s;
            if (di >= 0) s *= t->dims[di];
        }
    }
    if (r == 0) {
        dims[0] = 1;
        for (int k = 0; k < n_ops; k++) st[k][0] = 0;
        r = 1;
    }
    /* merge dims d-1 and d when every operand steps contiguously (or not at all) across them */
    int m = 0;
    int64_t md[VM_MAX_RANK], ms[VM_BCAST_MAX_OPS][VM_MAX_RANK];
    for (int d = 0; d < r; d++) {
        if (m > 0) {
            bool ok = true;
            for (int k = 0; k < n_ops; k++) {
                bool contig = ms[k][m - 1] == st[k][d] * dims[d];
                bool both0 = ms[k][m - 1] == 0 && st[k][d] == 0;
                if (!contig && !both0) ok = false;
            }
            if (ok || dims[d] == 1) {
                if (dims[d] != 1) {
                    md[m - 1] *= dims[d];
                    for (int k = 0; k < n_ops; k++) ms[k][m - 1] = st[k][d];
                }
                continue;
            }
        }
        md[m] = dims[d];
        for (int k = 0; k < n_ops; k++) ms[k][m] = st[k][d];
        m++;
    }
    b->rank = m;
    b->n_ops = n_ops;
    b->outer = 1;
    for (int d = 0; d < m; d++) {
        b->dims[d] = md[d];
        for (int k = 0; k < n_ops; k++) b->st[k][d] = ms[k][d];
        if (d < m - 1) b->outer *= md[d];
    }
    b->inner = md[m - 1];
}

/* Offsets of each input at the start of outer row `o`. */
static inline void vm_bcast_row(const struct vm_bcast *b, int64_t o, int64_t *offs) {
    for (int k = 0; k < b->n_ops; k++) offs[k] = 0;
    for (int d = b->rank - 2; d >= 0; d--) {
        int64_t c = o % b->dims[d];
        o /= b->dims[d];
        for (int k = 0; k < b->n_ops; k++) offs[k] += c * b->st[k][d];
    }
}

#endif
