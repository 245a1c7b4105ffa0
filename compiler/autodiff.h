/* autodiff: reverse-mode differentiation of the IR, symbol to symbol — backward nodes are appended
 * to the same graph (phase VM_PHASE_BACKWARD) and become ordinary plan steps.
 *
 * The driver does all bookkeeping: which values need gradients (reachable from a parameter and
 * reaching the loss), the seed d(loss) = 1, visiting forward nodes in reverse order, summing
 * several contributions to one value, reducing broadcast gradients back to the input's shape, and
 * checking each gradient's shape and dtype. A rule (row->grad) only emits the backward nodes of its
 * op through vm_ad_* and hands each input's gradient to vm_ad_give.
 */
#ifndef VM_AUTODIFF_H
#define VM_AUTODIFF_H

#include "ir.h"

struct vm_autodiff;

/* Differentiates g->loss with respect to every VM_VALUE_PARAM value; sets value->grad for each
 * parameter that influences the loss (flags VM_VALUE_GRAD | VM_VALUE_PERSIST on the gradient). */
enum vm_status vm_autodiff(struct vm_graph *g, struct vm_error *err);

/* ---- for gradient rules ---- */
struct vm_graph *vm_ad_graph(struct vm_autodiff *ad);
struct vm_error *vm_ad_err(struct vm_autodiff *ad);
/* Gradient arriving at output `slot` of the forward node, or -1 when none flows there. */
int32_t vm_ad_dy(struct vm_autodiff *ad, int32_t node, int slot);
/* Whether input `i` of the forward node needs a gradient. */
bool vm_ad_wants(struct vm_autodiff *ad, int32_t node, int i);
/* Adds a backward node of op `op` (ONNX or vmaskc domain) with fresh outputs. Set its attributes,
 * then call vm_ad_end, which infers its shapes. */
int32_t vm_ad_begin(struct vm_autodiff *ad, const char *op, int n_in, const int32_t *in, int n_out,
                    int32_t *outs);
enum vm_status vm_ad_end(struct vm_autodiff *ad, int32_t node);
/* begin + end for nodes without attributes; returns the first output, -1 on error. */
int32_t vm_ad_op(struct vm_autodiff *ad, const char *op, int n_in, const int32_t *in);
/* Hands `grad` to input i of the forward node; reduces broadcasting and accumulates. */
enum vm_status vm_ad_give(struct vm_autodiff *ad, int32_t node, int i, int32_t grad);
/* In a gradient rule (with `ad` and the forward node `n` in scope): hands gradient value v (the
 * result of vm_ad_* calls, -1 on error) to input i, returning from the rule on any error. */
#define GIVE(i, v)                                                   \
    do {                                                             \
        int32_t gv_ = (v);                                           \
        if (gv_ < 0) return vm_ad_err(ad)->code;                     \
        enum vm_status s_ = vm_ad_give(ad, n, (i), gv_);             \
        if (s_) return s_;                                           \
    } while (0)
/* Constants for rules. */
int32_t vm_ad_const_f32(struct vm_autodiff *ad, float v);
int32_t vm_ad_const_i64(struct vm_autodiff *ad, const int64_t *v, int n);
/* int64 1-D constant whose elements are (possibly symbolic) dims. */
int32_t vm_ad_const_dims(struct vm_autodiff *ad, const struct vm_dim *dims, int n);
/* int64 shape constant holding value v's (possibly symbolic) dims. */
int32_t vm_ad_shape_of(struct vm_autodiff *ad, int32_t v);
/* Reshape(x) to value like's shape. */
int32_t vm_ad_reshape_like(struct vm_autodiff *ad, int32_t x, int32_t like);

#endif
