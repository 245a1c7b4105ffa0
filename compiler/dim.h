/* dim: symbolic tensor dimensions as small polynomials over the graph's symbols.
 *
 * A classifier exported with dynamic axes has input dims like [batch, seq]; everything downstream
 * is a polynomial in those symbols: `seq - 2` after a width-3 convolution, `batch*seq` after a
 * flatten, `batch*seq*16 / (batch*2*8)` = `seq` when a Reshape infers -1. A dim is the sum of at
 * most VM_DIM_TERMS terms, each an integer coefficient times a product of at most VM_DIM_DEGREE
 * symbols. The form is canonical (terms sorted, no zero coefficients), so equality is memcmp-like.
 * Anything that leaves this algebra (floor division that is not exact, too many terms) is reported
 * as VM_EUNSUPPORTED so the caller can name the node and suggest fixing the shape with --shape.
 */
#ifndef VM_DIM_H
#define VM_DIM_H

#include "../runtime/vm_base.h"

#define VM_DIM_TERMS 6
#define VM_DIM_DEGREE 3
#define VM_MAX_SYMBOLS 16

struct vm_dim_term {
    int64_t coef;
    int8_t sym[VM_DIM_DEGREE]; /* symbol ids ascending, -1 = unused slot; repeats are powers */
};

struct vm_dim {
    int8_t n; /* number of terms; 0 means the constant 0 */
    struct vm_dim_term t[VM_DIM_TERMS];
};

struct vm_dim vm_dim_const(int64_t c);
struct vm_dim vm_dim_sym(int sym);
bool vm_dim_is_const(const struct vm_dim *d);
int64_t vm_dim_value(const struct vm_dim *d); /* requires vm_dim_is_const */
bool vm_dim_eq(const struct vm_dim *a, const struct vm_dim *b);
bool vm_dim_is_const_eq(const struct vm_dim *d, int64_t c);

enum vm_status vm_dim_add(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b);
enum vm_status vm_dim_sub(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b);
enum vm_status vm_dim_mul(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b);
/* Exact division; VM_EUNSUPPORTED when b does not divide a in the polynomial ring. */
enum vm_status vm_dim_div(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b);
/* floor(a / b) for constant b; exact unless both are constant. */
enum vm_status vm_dim_floordiv(struct vm_dim *out, const struct vm_dim *a, int64_t b);
/* Integer ops on the "known value" of a dim when used as data (shape arithmetic in the graph). */
enum vm_status vm_dim_binop(struct vm_dim *out, const struct vm_dim *a, const struct vm_dim *b,
                            char op);

/* Evaluates with concrete symbol values. */
int64_t vm_dim_eval(const struct vm_dim *d, const int64_t *symvals);
/* Sign knowledge for symbols, which are always >= 1: returns 1 if d > 0 for every binding,
 * -1 if d < 0 for every binding, 0 if unknown. */
int vm_dim_sign(const struct vm_dim *d);

/* "batch*seq - 2"; names may be NULL (prints s0, s1, ...). Returns buf. */
char *vm_dim_str(const struct vm_dim *d, const char *const *names, char *buf, size_t len);

#endif
