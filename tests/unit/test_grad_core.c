/* test_grad_core: finite-difference checks of the gradient rules of the elementwise, shape and
 * reduce families and of the training ops (loss, VMASK mask, information loss). The hard
 * Gumbel sample's straight-through gradient is a surrogate that finite differences cannot see; it
 * is checked against PyTorch in the parity test, and here through the expectation path (inference
 * mode, r = q) and the q output. */
#include "gradcheck.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})

static void unary(const char *op, float shift) {
    struct gc *c = gc_new();
    bool kink = !strcmp(op, "Relu") || !strcmp(op, "Abs") || !strcmp(op, "LeakyRelu");
    int32_t x = kink ? gc_param_spaced(c, "x", 2, D(3, 4)) : gc_param_shift(c, "x", 2, D(3, 4), 0.9f, shift), y = gc_op(c, op, 1, &x);
    gc_check(c, op, op, y, 2e-2);
}

static void binary(const char *op, int ra, const int64_t *da, int rb, const int64_t *db, float shift_b) {
    struct gc *c = gc_new();
    int32_t in[2] = {gc_param(c, "a", ra, da, 1.0f), gc_param_shift(c, "b", rb, db, 0.5f, shift_b)};
    char label[64];
    snprintf(label, sizeof label, "%s (rank %d x rank %d)", op, ra, rb);
    gc_check(c, op, label, gc_op(c, op, 2, in), 2e-2);
}

int main(int argc, char **argv) {
    gc_main_begin(argc, argv);
    struct vm_error err;

    /* elementwise */
    unary("Relu", 0.0f);
    unary("Tanh", 0.0f);
    unary("Sigmoid", 0.0f);
    unary("Exp", 0.0f);
    unary("Log", 2.0f);
    unary("Sqrt", 2.0f);
    unary("Erf", 0.0f);
    unary("Gelu", 0.0f);
    unary("Abs", 0.0f);
    unary("LeakyRelu", 0.0f); /* the activations with parameters, at their ONNX defaults */
    unary("Elu", 0.0f);
    unary("Selu", 0.0f);
    unary("HardSigmoid", 0.0f);
    unary("Softplus", 0.0f);
    unary("Softsign", 0.0f);
    unary("HardSwish", 0.0f);
    unary("Neg", 0.0f);
    unary("Reciprocal", 2.0f);
    unary("Identity", 0.0f);
    binary("Add", 3, D(2, 3, 4), 1, D(4), 0.0f);
    binary("Sub", 2, D(3, 4), 2, D(3, 1), 0.0f);
    binary("Mul", 3, D(2, 3, 4), 2, D(3, 4), 0.0f);
    binary("Div", 2, D(3, 4), 1, D(4), 2.0f);
    {
        struct gc *c = gc_new();
        float two = 2.0f;
        int32_t in[2] = {gc_param_shift(c, "x", 2, D(3, 4), 0.5f, 1.5f), gc_const_f32(c, "e", 0, NULL, &two)};
        gc_check(c, "Pow", "Pow (x^2)", gc_op(c, "Pow", 2, in), 2e-2);
    }
    {
        /* Max of three inputs, two broadcast; Min of two. Random inputs: no ties within the
         * finite-difference step */
        struct gc *c = gc_new();
        int32_t in[3] = {gc_param_spaced(c, "a", 2, D(3, 4)), gc_param(c, "b", 1, D(4), 0.5f), gc_param(c, "c", 2, D(3, 1), 0.5f)};
        gc_check(c, "Max", "Max (3 inputs, broadcast)", gc_op(c, "Max", 3, in), 2e-2);
        c = gc_new();
        int32_t in2[2] = {gc_param_spaced(c, "a", 2, D(3, 4)), gc_param(c, "b", 2, D(3, 4), 0.5f)};
        gc_check(c, "Min", "Min (2 inputs)", gc_op(c, "Min", 2, in2), 2e-2);
    }
    {
        /* Clip-11 with constant bounds between the spaced levels, so some elements clip */
        struct gc *c = gc_new();
        float lo = -0.2f, hi = 0.3f;
        int32_t in[3] = {gc_param_spaced(c, "x", 2, D(3, 4)), gc_const_f32(c, "lo", 0, NULL, &lo), gc_const_f32(c, "hi", 0, NULL, &hi)};
        gc_check(c, "Clip", "Clip (min and max)", gc_op(c, "Clip", 3, in), 2e-2);
    }
    {
        struct gc *c = gc_new();
        uint8_t cond[6] = {1, 0, 1, 1, 0, 0};
        int32_t in[3] = {gc_const_bool(c, "c", 2, D(2, 3), cond), gc_param(c, "x", 2, D(2, 3), 1.0f), gc_param(c, "y", 1, D(3), 1.0f)};
        gc_check(c, "Where", "Where (broadcast y)", gc_op(c, "Where", 3, in), 2e-2);
    }
    {
        struct gc *c = gc_new();
        int32_t x = gc_param(c, "x", 2, D(3, 4), 1.0f), y;
        int32_t id = gc_node(c, "Cast", 1, &x, 1, &y);
        vm_node_set_int(c->g, id, "to", VM_DTYPE_FLOAT, &err);
        gc_check(c, "Cast", "Cast float->float", y, 2e-2);
    }
    {
        /* training-mode dropout: the harness pins the RNG counter, so the mask is the same in
         * every run and finite differences see a fixed linear map */
        struct gc *c = gc_new();
        c->training = true;
        int32_t x = gc_param(c, "x", 2, D(6, 8), 1.0f), outs[2];
        int32_t id = gc_node(c, "Dropout", 1, &x, 1, outs);
        vm_node_set_float(c->g, id, "ratio", 0.3, &err);
        gc_check(c, "Dropout", "Dropout (training, p=0.3)", outs[0], 2e-2);
    }

    /* shape */
    {
        struct gc *c = gc_new();
        int64_t shape[2] = {4, 6};
        int32_t in[2] = {gc_param(c, "x", 3, D(2, 3, 4), 1.0f), gc_const_i64(c, "s", 1, D(2), shape)};
        gc_check(c, "Reshape", "Reshape", gc_op(c, "Reshape", 2, in), 2e-2);
    }
    {
        struct gc *c = gc_new();
        int32_t x = gc_param(c, "x", 3, D(2, 3, 4), 1.0f), y;
        int32_t id = gc_node(c, "Flatten", 1, &x, 1, &y);
        vm_node_set_int(c->g, id, "axis", 2, &err);
        gc_check(c, "Flatten", "Flatten", y, 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t ax[1] = {1};
        int32_t in[2] = {gc_param(c, "x", 3, D(2, 1, 4), 1.0f), gc_const_i64(c, "a", 1, D(1), ax)};
        gc_check(c, "Squeeze", "Squeeze", gc_op(c, "Squeeze", 2, in), 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t ax[1] = {0};
        int32_t in[2] = {gc_param(c, "x", 2, D(2, 4), 1.0f), gc_const_i64(c, "a", 1, D(1), ax)};
        gc_check(c, "Unsqueeze", "Unsqueeze", gc_op(c, "Unsqueeze", 2, in), 2e-2);
    }
    {
        struct gc *c = gc_new();
        int32_t x = gc_param(c, "x", 3, D(2, 3, 4), 1.0f), y;
        int32_t id = gc_node(c, "Transpose", 1, &x, 1, &y);
        vm_node_set_ints(c->g, id, "perm", D(2, 0, 1), 3, &err);
        gc_check(c, "Transpose", "Transpose (2,0,1)", y, 2e-2);
    }
    {
        struct gc *c = gc_new();
        int32_t in[3] = {gc_param(c, "a", 2, D(2, 3), 1.0f), gc_param(c, "b", 2, D(2, 1), 1.0f), gc_param(c, "c", 2, D(2, 2), 1.0f)}, y;
        int32_t id = gc_node(c, "Concat", 3, in, 1, &y);
        vm_node_set_int(c->g, id, "axis", 1, &err);
        gc_check(c, "Concat", "Concat axis 1", y, 2e-2);
    }
    {
        struct gc *c = gc_new();
        int32_t x = gc_param(c, "x", 2, D(5, 3), 1.0f), outs[2];
        int32_t id = gc_node(c, "Split", 1, &x, 2, outs);
        vm_node_set_ints(c->g, id, "split", D(2, 3), 2, &err);
        vm_node_set_int(c->g, id, "axis", 0, &err);
        /* only the second part reaches the loss: the first gets zeros */
        gc_check(c, "Split", "Split (one part used)", outs[1], 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t st[2] = {1, 0}, en[2] = {3, 4}, ax[2] = {0, 1}, sp[2] = {1, 2};
        int32_t in[5] = {gc_param(c, "x", 2, D(4, 5), 1.0f), gc_const_i64(c, "st", 1, D(2), st), gc_const_i64(c, "en", 1, D(2), en),
                         gc_const_i64(c, "ax", 1, D(2), ax), gc_const_i64(c, "sp", 1, D(2), sp)};
        gc_check(c, "Slice", "Slice with step 2", gc_op(c, "Slice", 5, in), 2e-2);
    }
    {
        /* embedding lookup with a repeated index: the scatter must add */
        struct gc *c = gc_new();
        int64_t ids[6] = {1, 3, 1, 0, 4, 1};
        int32_t in[2] = {gc_param(c, "emb", 2, D(5, 3), 1.0f), gc_const_i64(c, "ids", 2, D(2, 3), ids)};
        gc_check(c, "Gather", "Gather (embedding, repeats)", gc_op(c, "Gather", 2, in), 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t idx[1] = {-1};
        int32_t in[2] = {gc_param(c, "h", 3, D(2, 3, 4), 1.0f), gc_const_i64(c, "i", 0, NULL, idx)}, y;
        int32_t id = gc_node(c, "Gather", 2, in, 1, &y);
        vm_node_set_int(c->g, id, "axis", 0, &err);
        gc_check(c, "Gather", "Gather (last state, scalar index)", y, 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t shape[3] = {2, 3, 4};
        int32_t in[2] = {gc_param(c, "x", 2, D(3, 1), 1.0f), gc_const_i64(c, "s", 1, D(3), shape)};
        gc_check(c, "Expand", "Expand", gc_op(c, "Expand", 2, in), 2e-2);
    }

    /* reduce */
    const char *rops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"};
    for (int i = 0; i < 4; i++) {
        for (int variant = 0; variant < 2; variant++) {
            struct gc *c = gc_new();
            int32_t x = gc_param_spaced(c, "x", 3, D(2, 3, 4)), y;
            int32_t id = gc_node(c, rops[i], 1, &x, 1, &y);
            if (variant == 0) vm_node_set_ints(c->g, id, "axes", D(2), 1, &err); /* over time, as in Kim-CNN */
            else vm_node_set_ints(c->g, id, "axes", D(0, 2), 2, &err);       /* non-adjacent axes */
            vm_node_set_int(c->g, id, "keepdims", variant, &err);
            char label[64];
            snprintf(label, sizeof label, "%s %s", rops[i], variant ? "axes (0,2) keepdims" : "axis 2");
            gc_check(c, rops[i], label, y, 2e-2);
        }
    }

    /* CumSum over the middle axis, every exclusive/reverse combination; Trilu (upper, k = 1; lower, k = -1) */
    for (int v = 0; v < 4; v++) {
        struct gc *c = gc_new();
        int64_t axis = -2;
        int32_t in[2] = {gc_param(c, "x", 3, D(2, 3, 4), 1.0f), gc_const_i64(c, "axis", 0, NULL, &axis)}, y;
        int32_t id = gc_node(c, "CumSum", 2, in, 1, &y);
        vm_node_set_int(c->g, id, "exclusive", v & 1, &err);
        vm_node_set_int(c->g, id, "reverse", v >> 1, &err);
        char label[64];
        snprintf(label, sizeof label, "CumSum axis -2%s%s", v & 1 ? " exclusive" : "", v >> 1 ? " reverse" : "");
        gc_check(c, "CumSum", label, y, 2e-2);
    }
    for (int upper = 0; upper < 2; upper++) {
        struct gc *c = gc_new();
        int64_t k = upper ? 1 : -1;
        int32_t in[2] = {gc_param(c, "x", 3, D(2, 3, 4), 1.0f), gc_const_i64(c, "k", 0, NULL, &k)}, y;
        int32_t id = gc_node(c, "Trilu", 2, in, 1, &y);
        vm_node_set_int(c->g, id, "upper", upper, &err);
        gc_check(c, "Trilu", upper ? "Trilu upper k=1" : "Trilu lower k=-1", y, 2e-2);
    }

    {
        /* Pad, constant mode: zeros before and after the last dim and a crop of the first (negative pads) */
        struct gc *c = gc_new();
        int64_t pads[6] = {-1, 0, 2, 0, 1, 3};
        int32_t in[2] = {gc_param(c, "x", 3, D(3, 2, 4), 1.0f), gc_const_i64(c, "pads", 1, D(6), pads)};
        gc_check(c, "Pad", "Pad (constant, with a crop)", gc_op(c, "Pad", 2, in), 2e-2);
    }

    /* training ops */
    {
        struct gc *c = gc_new();
        int64_t lab[4] = {0, 2, 1, 2};
        int32_t in[2] = {gc_param(c, "logits", 2, D(4, 3), 2.0f), gc_const_i64(c, "y", 1, D(4), lab)}, outs[2];
        gc_node(c, "SoftmaxCrossEntropy", 2, in, 2, outs);
        gc_check(c, "SoftmaxCrossEntropy", "SoftmaxCrossEntropy", outs[0], 2e-2);
    }
    for (int train = 0; train < 2; train++) {
        /* inference: r = q, a smooth function; training: the q output (the r sample is checked
         * against PyTorch's straight-through estimator in the parity test) */
        struct gc *c = gc_new();
        c->training = train;
        int32_t in[2] = {gc_param(c, "p", 3, D(2, 3, 2), 1.5f), gc_const_f32(c, "g", 3, D(2, 3, 2), NULL)}, outs[3];
        int32_t id = gc_node(c, "VMask", 2, in, 3, outs);
        vm_node_set_float(c->g, id, "tau", 0.7, &err);
        gc_check(c, "VMask", train ? "VMask q (training)" : "VMask r = q (inference)", train ? outs[1] : outs[0], 2e-2);
    }
    {
        /* the per-distinct-word mask network: repeated words (their gradients add up), a pad-like
         * id and a negative id (-1 = the last row, as in Gather) */
        struct gc *c = gc_new();
        int64_t ids[8] = {2, 4, 2, 0, -1, 4, 0, 0};
        int32_t in[6] = {gc_const_f32(c, "table", 2, D(5, 3), NULL), gc_const_i64(c, "ids", 2, D(2, 4), ids),
                         gc_param(c, "w1", 2, D(3, 4), 1.0f),          gc_param(c, "b1", 1, D(4), 0.5f),
                         gc_param(c, "w2", 2, D(4, 2), 1.0f),          gc_param(c, "b2", 1, D(2), 0.5f)},
                outs[4];
        gc_node(c, "VMaskNet", 6, in, 4, outs);
        gc_check(c, "VMaskNet", "VMaskNet (repeated words)", outs[0], 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t ids[6] = {5, 7, 0, 3, 0, 0}; /* 0 is the pad id: excluded from the mean */
        int32_t p = gc_param(c, "p", 3, D(2, 3, 2), 1.5f), outs[3], loss;
        gc_node(c, "VMask", 1, &p, 3, outs);
        int32_t in[2] = {outs[1], gc_const_i64(c, "ids", 2, D(2, 3), ids)};
        int32_t id = gc_node(c, "VMaskInfoLoss", 2, in, 1, &loss);
        vm_node_set_int(c->g, id, "pad", 0, &err);
        gc_check(c, "VMaskInfoLoss", "VMaskInfoLoss (pads excluded)", loss, 2e-2);
    }
    /* the competitor mask layers (compiler/ops/mask.c), in training mode with fixed noise */
    for (int axis = 0; axis < 2; axis++) {
        /* L2X's relaxed k-hot sample: 3 draws over the real tokens; 0 is pad, 9 a kept special
         * token; the second text has 2 real tokens (< k: 2 draws). Layout [B, T] or [T, B]. */
        struct gc *c = gc_new();
        c->training = true;
        int64_t bt[10] = {4, 7, 9, 3, 5, 6, 8, 0, 0, 0}, ids[10];
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 5; t++) ids[axis ? b * 5 + t : t * 2 + b] = bt[b * 5 + t];
        const int64_t *dims = axis ? D(2, 5) : D(5, 2);
        int32_t in[3] = {gc_param_spaced(c, "s", 2, dims), gc_const_i64(c, "ids", 2, dims, ids),
                         gc_const_f32(c, "g", 3, axis ? D(3, 2, 5) : D(3, 5, 2), NULL)},
                outs[2];
        int32_t id = gc_node(c, "L2XMask", 3, in, 2, outs);
        vm_node_set_int(c->g, id, "k", 3, &err);
        vm_node_set_float(c->g, id, "tau", 0.5, &err);
        vm_node_set_int(c->g, id, "axis", axis, &err);
        vm_node_set_int(c->g, id, "pad", 0, &err);
        vm_node_set_ints(c->g, id, "skip", D(9), 1, &err);
        gc_check(c, "L2XMask", axis ? "L2XMask (training, [B, T])" : "L2XMask (training, [T, B])", outs[0], 2e-2);
    }
    for (int out = 0; out < 2; out++) {
        /* IBA: z (through x and alpha) and lambda; pad 0 and special 9 pass unchanged */
        struct gc *c = gc_new();
        c->training = true;
        int64_t ids[6] = {5, 9, 0, 3, 4, 0};
        float sd[4] = {0.5f, 1.0f, 2.0f, 0.01f};
        int32_t in[6] = {gc_param(c, "x", 3, D(2, 3, 4), 1.0f), gc_param(c, "alpha", 2, D(2, 3), 2.0f),
                         gc_const_f32(c, "mu", 1, D(4), NULL), gc_const_f32(c, "sigma", 1, D(4), sd),
                         gc_const_i64(c, "ids", 2, D(2, 3), ids), gc_const_f32(c, "n", 3, D(2, 3, 4), NULL)},
                outs[3];
        int32_t id = gc_node(c, "IBA", 6, in, 3, outs);
        vm_node_set_int(c->g, id, "pad", 0, &err);
        vm_node_set_ints(c->g, id, "skip", D(9), 1, &err);
        gc_check(c, "IBA", out ? "IBA lambda (training)" : "IBA z (training)", outs[out], 2e-2);
    }
    {
        struct gc *c = gc_new();
        int64_t ids[6] = {5, 9, 0, 3, 4, 0};
        float sd[4] = {0.5f, 1.0f, 2.0f, 0.3f};
        int32_t in[5] = {gc_param(c, "x", 3, D(2, 3, 4), 1.0f), gc_param(c, "alpha", 2, D(2, 3), 2.0f),
                         gc_const_f32(c, "mu", 1, D(4), NULL), gc_const_f32(c, "sigma", 1, D(4), sd),
                         gc_const_i64(c, "ids", 2, D(2, 3), ids)},
                loss;
        int32_t id = gc_node(c, "IBAInfoLoss", 5, in, 1, &loss);
        vm_node_set_int(c->g, id, "pad", 0, &err);
        vm_node_set_ints(c->g, id, "skip", D(9), 1, &err);
        gc_check(c, "IBAInfoLoss", "IBAInfoLoss (pad and special excluded)", loss, 2e-2);
    }
    return gc_main_end("test_grad_core");
}
