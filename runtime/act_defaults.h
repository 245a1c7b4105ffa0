/* ONNX's defaults for the attributes of the parameterized activations, in one place: the compiler
 * writes them into every node that omits one (compiler/ops/elementwise.c, normalize), and the
 * runtime's kernels fall back on them for a plan that lacks one (runtime/kernels/elementwise.c). */
#ifndef VM_ACT_DEFAULTS_H
#define VM_ACT_DEFAULTS_H

#include <string.h>
#include <strings.h>

struct vm_act_default {
    const char *op;
    double alpha, beta, gamma; /* 0 where the op has no such attribute */
};

static const struct vm_act_default VM_ACT_DEFAULTS[] = {
    {"LeakyRelu", 0.01, 0, 0},
    {"Elu", 1.0, 0, 0},
    {"Selu", 1.67326319217681884765625, 0, 1.05070102214813232421875},
    {"HardSigmoid", 0.2, 0.5, 0},
    {"Softplus", 0, 0, 0},
    {"Softsign", 0, 0, 0},
    {"HardSwish", 0, 0, 0},
    {NULL, 0, 0, 0},
};

/* By op name, in any case ("Elu" for the op, "elu" for EltwiseGrad's alg); NULL for other ops. */
static inline const struct vm_act_default *vm_act_default(const char *op) {
    for (int i = 0; VM_ACT_DEFAULTS[i].op; i++)
        if (!strcasecmp(op, VM_ACT_DEFAULTS[i].op)) return &VM_ACT_DEFAULTS[i];
    return NULL;
}

#endif
