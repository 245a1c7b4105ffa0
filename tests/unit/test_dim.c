/* test_dim: the symbolic-dimension algebra — canonical form, exact division, evaluation, sign
 * reasoning and printing — on the shapes exported classifiers actually produce. */
#include <string.h>

#include "../../compiler/dim.h"
#include "vmtest.h"

int main(void) {
    struct vm_dim B = vm_dim_sym(0), T = vm_dim_sym(1), two = vm_dim_const(2), r, q, t;
    const char *names[] = {"batch", "seq"};
    char buf[128];

    /* T - 2 (a width-3 convolution), printed and evaluated */
    CHECK(vm_dim_sub(&r, &T, &two) == VM_OK);
    CHECK(!strcmp(vm_dim_str(&r, names, buf, sizeof buf), "-2 + seq"));
    int64_t sv[2] = {4, 12};
    CHECK(vm_dim_eval(&r, sv) == 10);
    CHECK(vm_dim_sign(&r) == 0); /* seq could be 1 */

    /* canonical: (T + B) == (B + T), T - T == 0 */
    struct vm_dim a, b;
    CHECK(vm_dim_add(&a, &T, &B) == VM_OK && vm_dim_add(&b, &B, &T) == VM_OK);
    CHECK(vm_dim_eq(&a, &b));
    CHECK(vm_dim_sub(&r, &T, &T) == VM_OK && vm_dim_is_const_eq(&r, 0));

    /* Reshape's -1: B*T*16 / (B*2*8) == T */
    struct vm_dim c16 = vm_dim_const(16), c2 = vm_dim_const(2), c8 = vm_dim_const(8), total, known;
    CHECK(vm_dim_mul(&total, &B, &T) == VM_OK && vm_dim_mul(&total, &total, &c16) == VM_OK);
    CHECK(vm_dim_mul(&known, &B, &c2) == VM_OK && vm_dim_mul(&known, &known, &c8) == VM_OK);
    CHECK(vm_dim_div(&q, &total, &known) == VM_OK && vm_dim_eq(&q, &T));

    /* B*(T-2)*4 / (B*4) == T - 2 (termwise division by a monomial) */
    struct vm_dim c4 = vm_dim_const(4), tm2;
    CHECK(vm_dim_sub(&tm2, &T, &two) == VM_OK);
    CHECK(vm_dim_mul(&t, &B, &tm2) == VM_OK && vm_dim_mul(&t, &t, &c4) == VM_OK);
    CHECK(vm_dim_mul(&known, &B, &c4) == VM_OK);
    CHECK(vm_dim_div(&q, &t, &known) == VM_OK && vm_dim_eq(&q, &tm2));

    /* (2T - 4) / (T - 2) == 2: division by a polynomial that divides exactly */
    struct vm_dim twot;
    CHECK(vm_dim_mul(&twot, &tm2, &two) == VM_OK);
    CHECK(vm_dim_div(&q, &twot, &tm2) == VM_OK && vm_dim_is_const_eq(&q, 2));

    /* inexact divisions are refused, not approximated */
    struct vm_dim three = vm_dim_const(3);
    CHECK(vm_dim_div(&q, &T, &three) == VM_EUNSUPPORTED);
    CHECK(vm_dim_div(&q, &T, &B) == VM_EUNSUPPORTED);
    CHECK(vm_dim_floordiv(&q, &tm2, 2) == VM_EUNSUPPORTED);
    struct vm_dim seven = vm_dim_const(7);
    CHECK(vm_dim_floordiv(&q, &seven, 2) == VM_OK && vm_dim_is_const_eq(&q, 3));
    struct vm_dim m7 = vm_dim_const(-7);
    CHECK(vm_dim_floordiv(&q, &m7, 2) == VM_OK && vm_dim_is_const_eq(&q, -4));

    /* sign: T + 1 > 0 always, -T - 1 < 0 always, T - 1 unknown */
    struct vm_dim one = vm_dim_const(1);
    CHECK(vm_dim_add(&r, &T, &one) == VM_OK && vm_dim_sign(&r) == 1);
    struct vm_dim zero = vm_dim_const(0);
    CHECK(vm_dim_sub(&r, &zero, &r) == VM_OK && vm_dim_sign(&r) == -1);
    CHECK(vm_dim_sub(&r, &T, &one) == VM_OK && vm_dim_sign(&r) == 0);

    /* degree limit is reported, not overflowed */
    CHECK(vm_dim_mul(&r, &B, &T) == VM_OK && vm_dim_mul(&r, &r, &T) == VM_OK);
    CHECK(vm_dim_mul(&r, &r, &T) == VM_EUNSUPPORTED);

    VMTEST_DONE("test_dim");
}
