/* test_parity: vmaskc against PyTorch on the same CNN and LSTM trained with the VMASK, L2X and IBA
 * mask layers (fixtures written by tests/fixtures/make_parity.py and make_parity_masks.py; see
 * tests/fixtures/parity/README.md). L2X and IBA cases take their noise from "l2x.noise" /
 * "iba.noise" and are compiled once (the per-token / per-word distinction is VMASK's).
 *
 * For each case the base classifier model.onnx is compiled into a training graph exactly as
 * `vmaskc train` does (vmaskc inserts its own mask layer), with the Gumbel noise taken from the
 * "vmask.noise" input, twice: with the mask network run once per distinct word (VMaskNet, what
 * `vmaskc train` builds) and per token from ordinary rows. The mask parameters are overwritten with the fixture's initial values,
 * then, once with the oneDNN kernels and once with the C reference kernels:
 *   - step 0, forward only: the model output and the logits;
 *   - step 0, forward + backward: output, loss, CE, information loss, q and the gradient of every
 *     trainable parameter (the set must equal PyTorch's);
 *   - 10 training steps (forward + backward + optimizer) from a fresh runtime model: the loss of
 *     each step, computed before its update; the parameters after the last step are printed.
 * Error measure: max|vmaskc - pytorch| / max(max|pytorch|, 1e-4) per tensor, at most 1e-4.
 *
 * Usage: test_parity [fixture dir]   (default VM_SOURCE_DIR/tests/fixtures/parity)
 */
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/compiler.h"
#include "../../compiler/ops.h"
#include "../../compiler/training.h"
#include "../../runtime/vmrt.h"
#include "vmtest.h"

#ifndef VM_SOURCE_DIR
#define VM_SOURCE_DIR "."
#endif

#define TOL 1e-4
/* a tensor whose PyTorch values all lie below this is zero in exact arithmetic up to rounding (the
 * attention key bias's gradient: softmax ignores a shift per query row), compared absolutely:
 * max|vmaskc - pytorch| <= TOL * ZERO_FLOOR */
#define ZERO_FLOOR 1e-4
/* the parameters after 10 Adam steps: informational, with a looser bound (Adam divides by
 * sqrt(v), so elements whose gradient is tiny move by up to lr whatever its rounding) */
#define FINAL_TOL 1e-3
#define MAX_IN 16
#define MAX_GRADS 64

static const char *CASES[] = {"cnn_vmask", "lstm_vmask", "bert_vmask", "cnn_l2x", "lstm_l2x", "cnn_iba", "lstm_iba"};

struct cfg {
    double beta, lr, tau, beta1, beta2, eps, weight_decay, clip, l2x_tau;
    int64_t pad_id, mask_hidden, l2x_k;
    int steps;
    enum vm_mask_method method;
};

static bool read_cfg(const char *dir, struct cfg *c) {
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/config.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK_MSG(0, "cannot open %s", path);
        return false;
    }
    memset(c, 0, sizeof *c);
    c->steps = -1;
    c->method = VM_METHOD_VMASK;
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        char key[64], word[64];
        double v;
        if (sscanf(line, "method %63s", word) == 1) {
            CHECK_MSG(vm_method_parse(word, &c->method), "%s: unknown method '%s'", path, word);
            continue;
        }
        if (line[0] == '#' || sscanf(line, "%63s %lf", key, &v) != 2) continue;
        if (!strcmp(key, "l2x_k")) c->l2x_k = (int64_t)v;
        if (!strcmp(key, "l2x_tau")) c->l2x_tau = v;
        seen++;
        if (!strcmp(key, "beta")) c->beta = v;
        else if (!strcmp(key, "lr")) c->lr = v;
        else if (!strcmp(key, "tau")) c->tau = v;
        else if (!strcmp(key, "pad_id")) c->pad_id = (int64_t)v;
        else if (!strcmp(key, "beta1")) c->beta1 = v;
        else if (!strcmp(key, "beta2")) c->beta2 = v;
        else if (!strcmp(key, "eps")) c->eps = v;
        else if (!strcmp(key, "weight_decay")) c->weight_decay = v;
        else if (!strcmp(key, "clip")) c->clip = v;
        else if (!strcmp(key, "mask_hidden")) c->mask_hidden = (int64_t)v;
        else if (!strcmp(key, "steps")) c->steps = (int)v;
        else seen--;
    }
    fclose(f);
    if (c->method == VM_METHOD_L2X) CHECK_MSG(c->l2x_k > 0 && c->l2x_tau > 0, "%s: l2x_k and l2x_tau missing", path);
    CHECK_MSG(seen == 11 && c->steps > 0, "%s: expected 11 known keys, got %d", path, seen);
    return seen == 11 && c->steps > 0;
}
static bool read_pb(const char *path, struct vm_tensor *t) {
    struct vm_error err = {0};
    memset(t, 0, sizeof *t);
    if (vm_onnx_read_tensor_file(path, t, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return false;
    }
    return true;
}

static void shape_str(char *buf, size_t len, int rank, const int64_t *dims) {
    size_t o = 0;
    buf[0] = 0;
    if (!rank) snprintf(buf, len, "scalar");
    for (int d = 0; d < rank && o < len; d++) o += (size_t)snprintf(buf + o, len - o, d ? "x%lld" : "%lld", (long long)dims[d]);
}

static const char *mode_name(bool ref) { return ref ? "reference" : "oneDNN"; }

/* Compares float data a (rank/dims given) with e; prints a table row; returns the error. */
static double compare(const char *what, const float *a, int rank, const int64_t *dims, const struct vm_tensor *e, double tol) {
    char sh[64];
    shape_str(sh, sizeof sh, e->rank, e->dims);
    bool same = a && e->dtype == VM_DTYPE_FLOAT && rank == e->rank;
    for (int d = 0; same && d < rank; d++) same = dims[d] == e->dims[d];
    if (!same) {
        char ash[64];
        shape_str(ash, sizeof ash, a ? rank : 0, dims);
        printf("    %-28s %-10s vmaskc %s: MISSING OR SHAPE MISMATCH\n", what, sh, a ? ash : "(none)");
        CHECK_MSG(0, "%s: vmaskc has %s, expected %s", what, a ? ash : "nothing", sh);
        return INFINITY;
    }
    int64_t n = vm_numel(e->dims, e->rank);
    const float *pe = e->data;
    double emax = 0, dmax = 0;
    for (int64_t i = 0; i < n; i++) {
        double ev = fabs((double)pe[i]), dv = fabs((double)a[i] - (double)pe[i]);
        if (ev > emax) emax = ev;
        if (!(dv <= dmax)) dmax = dv; /* NaN sticks */
    }
    double rel = dmax / (emax > ZERO_FLOOR ? emax : ZERO_FLOOR);
    bool ok = rel <= tol;
    printf("    %-28s %-10s %12.5e %12.5e %10.2e  %s\n", what, sh, emax, dmax, rel, ok ? "ok" : "FAIL");
    CHECK_MSG(ok, "%s: relative error %.3e > %.0e", what, rel, tol);
    return rel;
}

static double compare_rt(const char *what, struct vm_rt_tensor t, const struct vm_tensor *e, double tol) {
    return compare(what, t.dtype == VM_DTYPE_FLOAT ? t.data : NULL, t.rank, t.dims, e, tol);
}

static void table_head(void) {
    printf("    %-28s %-10s %12s %12s %10s\n", "tensor", "shape", "max|torch|", "max|diff|", "rel.err");
}

struct parity_case {
    const char *name;
    char dir[1024];
    struct cfg cfg;
    uint8_t *plan;
    size_t plan_len;
    char logits_name[256]; /* pre-softmax logits when the model ends in Softmax, else "" */
    float *iba_stats;      /* IBA: mu [E] then sigma [E] from init/ */
    int64_t iba_dim;
    int n_grads;
    char grad_file[MAX_GRADS][256], grad_name[MAX_GRADS][256];
};

static int find_output(struct vm_rt_model *m, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < vm_rt_num_outputs(m); i++)
        if (!strcmp(vm_rt_output_name(m, i), name)) return i;
    return -1;
}

/* Overwrites vmaskc's random mask initialization with the fixture's. */
static bool set_mask_params(struct parity_case *pc, struct vm_rt_model *m) {
    static const char *vmask[4] = {VM_MASK_W1, VM_MASK_B1, VM_MASK_W2, VM_MASK_B2}, *l2x[1] = {VM_L2X_W},
                      *iba[2] = {VM_IBA_W, VM_IBA_B};
    const char *const *names = pc->cfg.method == VM_METHOD_L2X ? l2x : pc->cfg.method == VM_METHOD_IBA ? iba : vmask;
    int n_names = pc->cfg.method == VM_METHOD_VMASK ? 4 : pc->cfg.method == VM_METHOD_IBA ? 2 : 1;
    bool ok = true;
    for (int i = 0; i < n_names; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/init/%s.pb", pc->dir, names[i]);
        struct vm_tensor t;
        if (!read_pb(path, &t)) return false;
        int p = vm_rt_find_param(m, names[i]);
        struct vm_rt_tensor w = p >= 0 ? vm_rt_param(m, p) : (struct vm_rt_tensor){0};
        bool fits = p >= 0 && w.data && w.dtype == VM_DTYPE_FLOAT && w.nbytes == t.nbytes && w.rank == t.rank;
        for (int d = 0; fits && d < t.rank; d++) fits = w.dims[d] == t.dims[d];
        CHECK_MSG(fits, "%s: mask parameter %s missing or shaped differently", pc->name, names[i]);
        if (fits) memcpy(w.data, t.data, t.nbytes);
        ok &= fits;
        vm_tensor_free(&t);
    }
    return ok;
}

/* Binds step k's batch and fills every input; returns the instance or NULL. T_out: seq length. */
static struct vm_rt_inst *bind_step(struct parity_case *pc, struct vm_rt_model *m, int k, int64_t *T_out) {
    int n = vm_rt_num_inputs(m);
    if (n > MAX_IN) {
        CHECK_MSG(0, "%s: %d plan inputs", pc->name, n);
        return NULL;
    }
    struct vm_tensor t[MAX_IN];
    memset(t, 0, sizeof t);
    const int64_t *dims[MAX_IN];
    int ranks[MAX_IN];
    static const int64_t none[1] = {0};
    bool ok = true;
    *T_out = -1;
    for (int i = 0; i < n && ok; i++) {
        const char *name = vm_rt_input_name(m, i);
        dims[i] = none;
        ranks[i] = 0;
        if (!strcmp(name, "beta") || !strcmp(name, "lr")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/step_%02d/%s.pb", pc->dir, k, name);
        ok = read_pb(path, &t[i]);
        if (!ok) break;
        dims[i] = t[i].dims;
        ranks[i] = t[i].rank;
        if (!strcmp(name, "input_ids")) {
            const char *ax = vm_rt_meta(m, "vmaskc.ids_batch_axis"); /* "1": time-major [T, B] */
            *T_out = t[i].dims[ax && !strcmp(ax, "1") ? 0 : 1];
        }
    }
    struct vm_rt_inst *inst = NULL;
    struct vm_error err = {0};
    if (ok && vm_rt_bind(m, dims, ranks, &inst, &err)) {
        CHECK_MSG(0, "%s: step %d: %s", pc->name, k, err.msg);
        inst = NULL;
    }
    for (int i = 0; inst && i < n; i++) {
        const char *name = vm_rt_input_name(m, i);
        struct vm_rt_tensor b = vm_rt_input(inst, i);
        if (!strcmp(name, "beta") || !strcmp(name, "lr")) {
            CHECK(b.dtype == VM_DTYPE_FLOAT && b.numel == 1);
            *(float *)b.data = (float)(!strcmp(name, "beta") ? pc->cfg.beta : pc->cfg.lr);
            continue;
        }
        if (b.dtype != t[i].dtype || b.nbytes != t[i].nbytes) {
            CHECK_MSG(0, "%s: step %d: input %s: plan buffer dtype %d, %zu bytes; file dtype %d, %zu bytes", pc->name, k, name,
                      (int)b.dtype, b.nbytes, (int)t[i].dtype, t[i].nbytes);
            inst = NULL;
            break;
        }
        memcpy(b.data, t[i].data, t[i].nbytes);
    }
    for (int i = 0; i < n; i++) vm_tensor_free(&t[i]);
    return inst;
}

static bool expected(struct parity_case *pc, const char *rel, struct vm_tensor *t) {
    char path[1400];
    snprintf(path, sizeof path, "%s/expected/%s", pc->dir, rel);
    return read_pb(path, t);
}

static struct vm_rt_model *new_model(struct parity_case *pc, bool ref) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, pc->plan, pc->plan_len, pc->name, &o, &err)) {
        CHECK_MSG(0, "%s: %s", pc->name, err.msg);
        return NULL;
    }
    if (!set_mask_params(pc, m)) {
        vm_rt_model_free(m);
        return NULL;
    }
    return m;
}

static void step0(struct parity_case *pc, bool ref) {
    struct vm_error err = {0};
    struct vm_rt_model *m = new_model(pc, ref);
    if (!m) return;
    printf("  step 0 [%s kernels]\n", mode_name(ref));
    table_head();
    int64_t T;
    struct vm_rt_inst *inst = bind_step(pc, m, 0, &T);
    struct vm_tensor e;
    /* forward only: the logits are an arena value the backward may reuse */
    if (inst && !vm_rt_run(inst, VM_RT_FORWARD, true, &err)) {
        if (expected(pc, "output.pb", &e)) {
            compare_rt("output (forward only)", vm_rt_output(inst, 0), &e, TOL);
            vm_tensor_free(&e);
        }
        if (expected(pc, "logits.pb", &e)) {
            int li = pc->logits_name[0] ? find_output(m, pc->logits_name) : 0;
            struct vm_rt_tensor lt = li >= 0 ? vm_rt_output(inst, li) : (struct vm_rt_tensor){0};
            compare_rt("logits (forward only)", lt, &e, TOL);
            vm_tensor_free(&e);
        }
    } else if (inst) {
        CHECK_MSG(0, "%s: forward: %s", pc->name, err.msg);
    }
    /* input buffers live in the arena and may be reused by later steps: fill them again */
    if (inst) inst = bind_step(pc, m, 0, &T);
    if (!inst || vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, true, &err)) {
        if (inst) CHECK_MSG(0, "%s: forward+backward: %s", pc->name, err.msg);
        vm_rt_model_free(m);
        return;
    }
    static const struct {
        const char *file, *label, *meta;
    } outs[] = {{"output.pb", "output", NULL},  {"loss.pb", "loss", "vmaskc.out.loss"}, {"ce.pb", "loss.ce", "vmaskc.out.ce"},
                {"info.pb", "loss.info", "vmaskc.out.info"}, {"q.pb", "q", "vmaskc.out.q"}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/expected/%s", pc->dir, outs[i].file);
        if (pc->cfg.method == VM_METHOD_L2X && !strcmp(outs[i].file, "info.pb")) {
            /* L2X trains on the cross-entropy alone: neither side has an information loss */
            CHECK_MSG(access(path, F_OK) != 0 && !vm_rt_meta(m, "vmaskc.out.info"), "%s: an L2X case with an information loss", pc->name);
            continue;
        }
        int oi = outs[i].meta ? find_output(m, vm_rt_meta(m, outs[i].meta)) : 0;
        CHECK_MSG(oi >= 0, "%s: the plan has no output for %s", pc->name, outs[i].meta);
        if (oi < 0 || !expected(pc, outs[i].file, &e)) continue;
        compare_rt(outs[i].label, vm_rt_output(inst, oi), &e, TOL);
        vm_tensor_free(&e);
    }
    /* gradients: one per trainable tensor, the same set as PyTorch's */
    for (int i = 0; i < pc->n_grads; i++) {
        char rel[300], label[300];
        snprintf(rel, sizeof rel, "grads/%s", pc->grad_file[i]);
        snprintf(label, sizeof label, "d/d %s", pc->grad_name[i]);
        if (!expected(pc, rel, &e)) continue;
        CHECK_MSG(e.name && !strcmp(e.name, pc->grad_name[i]), "%s: %s names tensor '%s'", pc->name, rel, e.name ? e.name : "");
        int p = vm_rt_find_param(m, pc->grad_name[i]);
        struct vm_rt_tensor gr = p >= 0 ? vm_rt_param_grad(m, p) : (struct vm_rt_tensor){0};
        compare_rt(label, gr, &e, TOL);
        vm_tensor_free(&e);
    }
    for (int p = 0; p < vm_rt_num_params(m); p++) {
        bool listed = false;
        for (int i = 0; i < pc->n_grads; i++) listed |= !strcmp(pc->grad_name[i], vm_rt_param_name(m, p));
        if (!listed) printf("    %-28s vmaskc trains it, PyTorch does not: FAIL\n", vm_rt_param_name(m, p));
        CHECK_MSG(listed, "%s: vmaskc trains '%s', which PyTorch does not", pc->name, vm_rt_param_name(m, p));
    }
    CHECK_MSG(vm_rt_num_params(m) == pc->n_grads, "%s: vmaskc has %d trainable tensors, PyTorch %d", pc->name, vm_rt_num_params(m),
              pc->n_grads);
    vm_rt_model_free(m);
}

static void trajectory(struct parity_case *pc, bool ref) {
    struct vm_error err = {0};
    struct vm_tensor traj;
    if (!expected(pc, "trajectory.pb", &traj)) return;
    int steps = (int)vm_numel(traj.dims, traj.rank);
    CHECK_MSG(steps == pc->cfg.steps, "%s: trajectory has %d steps, config %d", pc->name, steps, pc->cfg.steps);
    struct vm_rt_model *m = new_model(pc, ref);
    if (!m) {
        vm_tensor_free(&traj);
        return;
    }
    int lo = find_output(m, vm_rt_meta(m, "vmaskc.out.loss"));
    CHECK(lo >= 0);
    printf("  %d training steps [%s kernels]: loss before each update\n", steps, mode_name(ref));
    printf("    %4s %3s %14s %14s %10s\n", "step", "T", "pytorch", "vmaskc", "rel.err");
    const float *te = traj.data;
    double worst = 0;
    for (int k = 0; k < steps && lo >= 0; k++) {
        int64_t T;
        struct vm_rt_inst *inst = bind_step(pc, m, k, &T);
        if (!inst) break;
        if (vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD | VM_RT_OPTIMIZER, true, &err)) {
            CHECK_MSG(0, "%s: step %d: %s", pc->name, k, err.msg);
            break;
        }
        double a = *(const float *)vm_rt_output(inst, lo).data, e = te[k];
        double rel = fabs(a - e) / fabs(e);
        if (!(rel <= worst)) worst = rel;
        bool ok = rel <= TOL;
        printf("    %4d %3lld %14.8f %14.8f %10.2e  %s\n", k, (long long)T, e, a, rel, ok ? "ok" : "FAIL");
        CHECK_MSG(ok, "%s: step %d loss %.8f, PyTorch %.8f (relative error %.3e)", pc->name, k, a, e, rel);
    }
    printf("    worst trajectory error %.2e\n", worst);
    /* parameters after the last update */
    printf("  parameters after %d steps [%s kernels] (bound %.0e)\n", steps, mode_name(ref), FINAL_TOL);
    table_head();
    for (int i = 0; i < pc->n_grads; i++) {
        char rel[300];
        struct vm_tensor e;
        snprintf(rel, sizeof rel, "final/%s", pc->grad_file[i]);
        if (!expected(pc, rel, &e)) continue;
        int p = vm_rt_find_param(m, pc->grad_name[i]);
        struct vm_rt_tensor w = p >= 0 ? vm_rt_param(m, p) : (struct vm_rt_tensor){0};
        compare_rt(pc->grad_name[i], w, &e, FINAL_TOL);
        vm_tensor_free(&e);
    }
    vm_rt_model_free(m);
    vm_tensor_free(&traj);
}

/* IBA's noise statistics, init/iba.mu.pb and init/iba.sigma.pb, into pc->iba_stats. */
static bool read_iba_stats(struct parity_case *pc) {
    struct vm_tensor t[2];
    const char *names[2] = {VM_IBA_MU, VM_IBA_SIGMA};
    bool ok = true;
    for (int k = 0; k < 2 && ok; k++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/init/%s.pb", pc->dir, names[k]);
        ok = read_pb(path, &t[k]);
        if (!ok) {
            if (k) vm_tensor_free(&t[0]);
            return false;
        }
    }
    pc->iba_dim = vm_numel(t[0].dims, t[0].rank);
    ok = t[0].dtype == VM_DTYPE_FLOAT && t[1].nbytes == t[0].nbytes && (pc->iba_stats = malloc(2 * t[0].nbytes));
    CHECK_MSG(ok, "%s: bad IBA statistics", pc->name);
    if (ok) {
        memcpy(pc->iba_stats, t[0].data, t[0].nbytes);
        memcpy(pc->iba_stats + pc->iba_dim, t[1].data, t[1].nbytes);
    }
    vm_tensor_free(&t[0]);
    vm_tensor_free(&t[1]);
    return ok;
}

static bool read_grad_list(struct parity_case *pc) {
    char path[1400], line[600];
    snprintf(path, sizeof path, "%s/expected/grads.txt", pc->dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK_MSG(0, "cannot open %s", path);
        return false;
    }
    pc->n_grads = 0;
    while (fgets(line, sizeof line, f) && pc->n_grads < MAX_GRADS) {
        if (sscanf(line, "%255s %255s", pc->grad_file[pc->n_grads], pc->grad_name[pc->n_grads]) == 2) pc->n_grads++;
    }
    fclose(f);
    CHECK_MSG(pc->n_grads > 0, "%s: no gradients listed", path);
    return pc->n_grads > 0;
}

/* model.onnx -> training graph (as vmaskc train builds it, noise as an input) -> plan */
static bool compile_case(struct parity_case *pc, bool unfused) {
    struct vm_error err = {0};
    char path[1400];
    snprintf(path, sizeof path, "%s/model.onnx", pc->dir);
    Onnx__ModelProto *mp = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    bool ok = mp && !vm_import(mp, NULL, &g, &err) && !vm_infer_graph(g, &err);
    struct vm_train_opts o;
    struct vm_train_info info;
    vm_train_opts_default(&o);
    o.noise_input = true;
    o.unfused_mask = unfused;
    o.method = pc->cfg.method;
    o.l2x_k = pc->cfg.l2x_k;
    o.l2x_tau = pc->cfg.l2x_tau;
    o.iba_mu = pc->iba_stats;
    o.iba_sigma = pc->iba_stats ? pc->iba_stats + pc->iba_dim : NULL;
    o.iba_dim = pc->iba_dim;
    o.mask_hidden = pc->cfg.mask_hidden;
    o.tau = pc->cfg.tau;
    o.pad_id = pc->cfg.pad_id;
    o.beta1 = pc->cfg.beta1;
    o.beta2 = pc->cfg.beta2;
    o.epsilon = pc->cfg.eps;
    o.weight_decay = pc->cfg.weight_decay;
    o.clip = pc->cfg.clip;
    if (ok) {
        /* the model's own output; its producer's input is the logits when it is a Softmax */
        int32_t out = g->outputs[0], prod = g->values[out].producer;
        pc->logits_name[0] = 0;
        if (prod >= 0 && !strcmp(vm_op_name(g->nodes[prod].op), "Softmax"))
            snprintf(pc->logits_name, sizeof pc->logits_name, "%s", g->values[g->nodes[prod].in[0]].name);
        ok = !vm_build_training(g, &o, &info, &err);
    }
    if (ok && pc->cfg.method == VM_METHOD_VMASK) {
        /* the path under test is the one built: VMaskNet, or the per-token rows */
        int32_t net = vm_op_find("vmaskc", "VMaskNet"), n_net = 0;
        for (int32_t i = 0; i < g->n_nodes; i++) n_net += !g->nodes[i].dead && g->nodes[i].op == net;
        CHECK_MSG(n_net == (unfused ? 0 : 1), "%s: %d VMaskNet nodes with the %s mask network", pc->name, n_net, unfused ? "unfused" : "fused");
    }
    if (ok && pc->logits_name[0]) {
        /* make the pre-softmax logits an extra output: an arena value read after the run may
         * already hold a later step's data (vm_rt_value does not keep it alive) */
        int32_t lv = vm_graph_find_value(g, pc->logits_name);
        int32_t *no = realloc(g->outputs, sizeof(int32_t) * (size_t)(g->n_outputs + 1));
        ok = lv >= 0 && no;
        if (no) g->outputs = no;
        if (ok) {
            g->outputs[g->n_outputs++] = lv;
            g->values[lv].flags |= VM_VALUE_OUTPUT;
        } else {
            vm_errorf(&err, VM_EINTERNAL, "no value '%s' in the training graph", pc->logits_name);
        }
    }
    if (ok) {
        printf("  training graph: %lld classes, %lld of %lld parameter elements trainable, loss on %s\n", (long long)info.n_classes,
               (long long)info.n_trainable, (long long)info.n_params,
               pc->logits_name[0] ? "the input of the final Softmax" : "the model output");
        CHECK_MSG(info.softmax_output == (pc->logits_name[0] != 0), "%s: softmax output detection", pc->name);
        ok = !vm_emit_plan(g, pc->name, &pc->plan, &pc->plan_len, &err);
    }
    if (!ok) CHECK_MSG(0, "%s: %s", pc->name, err.msg);
    vm_graph_free(g);
    if (mp) vm_onnx_free_model(mp);
    return ok;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : VM_SOURCE_DIR "/tests/fixtures/parity";
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        struct parity_case *pc = calloc(1, sizeof *pc);
        pc->name = CASES[c];
        snprintf(pc->dir, sizeof pc->dir, "%s/%s", root, pc->name);
        printf("== %s (%s)\n", pc->name, pc->dir);
        if (read_cfg(pc->dir, &pc->cfg) && read_grad_list(pc) && (pc->cfg.method != VM_METHOD_IBA || read_iba_stats(pc))) {
            printf("  method %s, beta %g, lr %g, tau %g, pad %lld, Adam (%g, %g, %g), weight decay %g, clip %g, mask hidden %lld, %d steps\n",
                   vm_method_name(pc->cfg.method), pc->cfg.beta, pc->cfg.lr, pc->cfg.tau, (long long)pc->cfg.pad_id, pc->cfg.beta1, pc->cfg.beta2, pc->cfg.eps,
                   pc->cfg.weight_decay, pc->cfg.clip, (long long)pc->cfg.mask_hidden, pc->cfg.steps);
            for (int unfused = 0; unfused < (pc->cfg.method == VM_METHOD_VMASK ? 2 : 1); unfused++) {
                if (pc->cfg.method == VM_METHOD_VMASK)
                    printf("  mask network %s\n", unfused ? "per token (MatMul, Add, Tanh rows)" : "once per distinct word (VMaskNet)");
                if (compile_case(pc, unfused)) {
                    for (int ref = 0; ref < 2; ref++) {
                        step0(pc, ref);
                        trajectory(pc, ref);
                    }
                }
                free(pc->plan);
                pc->plan = NULL;
            }
        }
        free(pc->iba_stats);
        free(pc);
    }
    VMTEST_DONE("test_parity");
}
