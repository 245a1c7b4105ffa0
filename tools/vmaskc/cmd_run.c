/* run: executes a model or plan on data in the ONNX backend-test layout (input_N.pb in graph-input
 * order, optional output_N.pb), writes output_N.pb files and compares with the expected outputs.
 * Graph inputs whose values decide shapes (node tests feed Reshape's shape this way) are folded in
 * as constants when FILE is an ONNX model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

#define MAX_IO 64

static int run_usage(FILE *f) {
    fprintf(f,
            "usage: vmaskc run FILE --test-data DIR [--out OUTDIR] [--atol A] [--rtol R]\n"
            "                  [--threads N] [--shape NAME=D0,...] [--repeat N] [--profile]\n"
            "                  [--reference-kernels] [--max-memory SIZE]\n"
            "FILE is an ONNX model or a .vmplan. DIR holds input_0.pb, input_1.pb, ... (TensorProto, in\n"
            "graph-input order) and optionally output_N.pb with expected outputs. Outputs are written\n"
            "to OUTDIR as output_N.pb. Where expected outputs exist, prints the max abs and rel error\n"
            "per output and exits 1 if any element has |got - want| > atol + rtol * |want|\n"
            "(defaults atol 1e-4, rtol 1e-3). --max-memory SIZE (4G, 512M, 50%%; default 80%% of\n"
            "physical memory): refuse input shapes whose run would need more.\n"
            "--repeat N runs N times and prints the best latency, then a 'flops:' line: the work of\n"
            "one run counted from the plan (2 x multiply-adds of Conv, MatMul, Gemm and LSTM gates at\n"
            "these shapes) and the GFLOP/s it means at that latency.\n"
            "VMASKC_TIMINGS=1 in the environment prints a 'timings:' line of start-up stages on stderr.\n");
    return f == stdout ? VM_EXIT_OK : VM_EXIT_USAGE;
}

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* input_N.pb and output_N.pb, N = 0, 1, ... until the first gap. */
static enum vm_status read_test_data(const char *dir, struct vm_tensor *inputs, int *n_in,
                                     struct vm_tensor *expected, int *n_exp, struct vm_error *err) {
    char fp[4096];
    for (*n_in = 0; *n_in < MAX_IO; (*n_in)++) {
        snprintf(fp, sizeof fp, "%s/input_%d.pb", dir, *n_in);
        if (!file_exists(fp)) break;
        if (vm_onnx_read_tensor_file(fp, &inputs[*n_in], err)) return err->code;
    }
    for (*n_exp = 0; *n_exp < MAX_IO; (*n_exp)++) {
        snprintf(fp, sizeof fp, "%s/output_%d.pb", dir, *n_exp);
        if (!file_exists(fp)) break;
        if (vm_onnx_read_tensor_file(fp, &expected[*n_exp], err)) return err->code;
    }
    return VM_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int vm_cmd_run(int argc, char **argv) {
    struct vm_model_opts o = {0};
    const char *path = NULL, *dir = NULL, *outdir = NULL;
    double atol = 1e-4, rtol = 1e-3;
    long long repeat = 1;
    bool profile = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return run_usage(stdout);
        int r = vm_cli_model_option("run", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(a, "--profile")) {
            profile = true;
            continue;
        }
        if (!strcmp(a, "--test-data") || !strcmp(a, "--out") || !strcmp(a, "--atol") || !strcmp(a, "--rtol") ||
            !strcmp(a, "--repeat")) {
            if (i + 1 >= argc) return vm_cli_usage_error("run", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--test-data")) dir = v;
            else if (!strcmp(a, "--out")) outdir = v;
            else if (!strcmp(a, "--repeat")) {
                if (!vm_cli_parse_int(v, &repeat) || repeat < 1) return vm_cli_usage_error("run", "--repeat needs a positive integer");
            } else {
                double d;
                if (!vm_cli_parse_double(v, &d) || d < 0) return vm_cli_usage_error("run", "%s needs a non-negative number, got '%s'", a, v);
                if (!strcmp(a, "--atol")) atol = d;
                else rtol = d;
            }
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error("run", "unknown option '%s'", a);
        if (path) return vm_cli_usage_error("run", "more than one FILE given");
        path = a;
    }
    if (!path) return vm_cli_usage_error("run", "missing FILE");
    if (!dir) return vm_cli_usage_error("run", "missing --test-data DIR");

    struct vm_error err = {0};
    struct vm_tensor inputs[MAX_IO], expected[MAX_IO];
    int n_in = 0, n_exp = 0, rc = VM_EXIT_OK;
    memset(inputs, 0, sizeof inputs);
    memset(expected, 0, sizeof expected);
    char fp[4096];
    struct stat dst;
    if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
        vm_errorf(&err, VM_EIO, "test data directory '%s' does not exist", dir);
        return vm_cli_fail("run", &err);
    }
    /* Which graph inputs are data and which decide shapes (ONNX only). */
    struct vm_tensor fixed[MAX_IO];
    int n_fixed = 0;
    bool is_fixed[MAX_IO] = {false};
    if (!vm_cli_is_plan_path(path)) {
        struct vm_graph *g0;
        Onnx__ModelProto *m0 = vm_onnx_load_model(path, &err);
        if (!m0) {
            rc = vm_cli_fail("run", &err);
            goto done;
        }
        struct vm_import_opts io = {.shapes = o.shapes, .n_shapes = o.n_shapes, .model_path = path};
        enum vm_status s = vm_import(m0, &io, &g0, &err);
        if (s) {
            vm_onnx_free_model(m0);
            vm_error_prefix(&err, "%s", path);
            rc = vm_cli_fail("run", &err);
            goto done;
        }
        /* read the data only once the model is known to import: a .pb's type is only clear from
         * the model's input declaration (sequences and optionals also parse as tensors) */
        if (read_test_data(dir, inputs, &n_in, expected, &n_exp, &err)) {
            vm_graph_free(g0);
            vm_onnx_free_model(m0);
            rc = vm_cli_fail("run", &err);
            goto done;
        }
        const char *names[MAX_IO];
        int nd = vm_shape_deciding_inputs(g0, names, MAX_IO);
        if (g0->n_inputs != n_in) {
            vm_errorf(&err, VM_EINVAL, "the model has %d inputs but %s has %d input_N.pb files", g0->n_inputs, dir, n_in);
            vm_graph_free(g0);
            vm_onnx_free_model(m0);
            rc = vm_cli_fail("run", &err);
            goto done;
        }
        for (int k = 0; k < nd; k++)
            for (int32_t i = 0; i < g0->n_inputs; i++)
                if (!strcmp(g0->values[g0->inputs[i]].name, names[k])) {
                    fixed[n_fixed] = inputs[i];
                    fixed[n_fixed].name = (char *)names[k];
                    is_fixed[i] = true;
                    n_fixed++;
                }
        /* names point into g0; copy them before freeing */
        for (int k = 0; k < n_fixed; k++) fixed[k].name = strdup(fixed[k].name);
        vm_graph_free(g0);
        vm_onnx_free_model(m0);
    }

    struct vm_rt_model *model = NULL;
    enum vm_status s = vm_cli_load_runtime(path, &o, fixed, n_fixed, &model, &err);
    if (!s && vm_cli_is_plan_path(path)) s = read_test_data(dir, inputs, &n_in, expected, &n_exp, &err);
    for (int k = 0; k < n_fixed; k++) free(fixed[k].name);
    if (s) {
        rc = vm_cli_fail("run", &err);
        goto free_model;
    }
    int n_model_in = vm_rt_num_inputs(model);
    if (n_model_in != n_in - n_fixed) {
        vm_errorf(&err, VM_EINVAL, "the model has %d inputs but %s has %d input_N.pb files", n_model_in, dir, n_in);
        rc = vm_cli_fail("run", &err);
        goto free_model;
    }
    const int64_t *dims[MAX_IO];
    int ranks[MAX_IO];
    const struct vm_tensor *feed[MAX_IO];
    for (int i = 0, k = 0; i < n_in; i++) {
        if (is_fixed[i]) continue;
        feed[k] = &inputs[i];
        if (inputs[i].dtype != vm_rt_input_dtype(model, k)) {
            vm_errorf(&err, VM_EINVAL, "%s/input_%d.pb has type %s but input '%s' is %s", dir, i, vm_dtype_name(inputs[i].dtype),
                      vm_rt_input_name(model, k), vm_dtype_name(vm_rt_input_dtype(model, k)));
            rc = vm_cli_fail("run", &err);
            goto free_model;
        }
        dims[k] = inputs[i].dims;
        ranks[k] = inputs[i].rank;
        k++;
    }
    struct vm_rt_inst *inst;
    if (vm_rt_bind(model, dims, ranks, &inst, &err)) {
        rc = vm_cli_fail("run", &err);
        goto free_model;
    }
    if (profile) vm_rt_profile_enable(model, true);
    double best = 1e300;
    for (long long rep = 0; rep < repeat; rep++) {
        for (int k = 0; k < n_model_in; k++) {
            struct vm_rt_tensor t = vm_rt_input(inst, k);
            VM_ASSERT(t.nbytes == feed[k]->nbytes);
            if (t.nbytes) memcpy(t.data, feed[k]->data, t.nbytes);
        }
        double t0 = now_ms();
        if (vm_rt_run(inst, VM_RT_FORWARD, false, &err)) {
            rc = vm_cli_fail("run", &err);
            goto free_model;
        }
        double dt = now_ms() - t0;
        if (dt < best) best = dt;
    }
    if (repeat > 1) {
        printf("latency: %.3f ms (best of %lld)\n", best, repeat);
        double kinds[VM_RT_FLOPS_KINDS], f = vm_rt_flops(inst, VM_RT_FORWARD, kinds);
        printf("flops: %.6g per run (conv %.6g, matmul %.6g, lstm %.6g), %.2f GFLOP/s at the best latency\n", f,
               kinds[VM_RT_FLOPS_CONV], kinds[VM_RT_FLOPS_MATMUL], kinds[VM_RT_FLOPS_LSTM], best > 0 ? f / best / 1e6 : 0.0);
    }
    if (profile) vm_rt_profile_print(model, stdout);

    int n_out = vm_rt_num_outputs(model);
    if (outdir) {
        mkdir(outdir, 0755);
        for (int k = 0; k < n_out; k++) {
            struct vm_rt_tensor t = vm_rt_output(inst, k);
            struct vm_tensor w = {.name = (char *)vm_rt_output_name(model, k), .dtype = t.dtype, .rank = t.rank, .data = t.data, .nbytes = t.nbytes};
            memcpy(w.dims, t.dims, sizeof w.dims);
            snprintf(fp, sizeof fp, "%s/output_%d.pb", outdir, k);
            if (vm_onnx_write_tensor_file(fp, &w, &err)) {
                rc = vm_cli_fail("run", &err);
                goto free_model;
            }
        }
    }
    if (n_exp && n_exp != n_out) {
        vm_errorf(&err, VM_EINVAL, "the model has %d outputs but %s has %d output_N.pb files", n_out, dir, n_exp);
        rc = vm_cli_fail("run", &err);
        goto free_model;
    }
    for (int k = 0; k < n_exp; k++) {
        struct vm_rt_tensor t = vm_rt_output(inst, k);
        const struct vm_tensor *e = &expected[k];
        const char *name = vm_rt_output_name(model, k);
        bool shape_ok = t.rank == e->rank && t.dtype == e->dtype;
        for (int d = 0; shape_ok && d < t.rank; d++) shape_ok = t.dims[d] == e->dims[d];
        if (!shape_ok) {
            printf("output %d '%s': shape/type mismatch (got %s rank %d, want %s rank %d)\n", k, name, vm_dtype_name(t.dtype), t.rank,
                   vm_dtype_name(e->dtype), e->rank);
            rc = VM_EXIT_CHECK;
            continue;
        }
        double max_abs = 0, max_rel = 0;
        int64_t bad = 0, worst = -1;
        for (int64_t i = 0; i < t.numel; i++) {
            double gv = vm_elem_f64(t.data, t.dtype, i), wv = vm_elem_f64(e->data, e->dtype, i);
            if (isnan(gv) && isnan(wv)) continue;
            double ad = fabs(gv - wv);
            if (isnan(gv) || isnan(wv)) ad = INFINITY;
            if (isinf(gv) && isinf(wv) && (gv > 0) == (wv > 0)) ad = 0;
            if (ad > max_abs) {
                max_abs = ad;
                worst = i;
            }
            if (wv != 0 && ad / fabs(wv) > max_rel) max_rel = ad / fabs(wv);
            if (ad > atol + rtol * fabs(wv)) bad++;
        }
        printf("output %d '%s': max abs error %.3g, max rel error %.3g%s\n", k, name, max_abs, max_rel,
               bad ? " — EXCEEDS TOLERANCE" : "");
        if (bad) {
            printf("  %lld of %lld elements exceed atol %g + rtol %g; worst at index %lld: got %.9g, want %.9g\n", (long long)bad,
                   (long long)t.numel, atol, rtol, (long long)worst, vm_elem_f64(t.data, t.dtype, worst),
                   vm_elem_f64(e->data, e->dtype, worst));
            rc = VM_EXIT_CHECK;
        }
    }
    if (!n_exp && !outdir) {
        for (int k = 0; k < n_out; k++) {
            struct vm_rt_tensor t = vm_rt_output(inst, k);
            printf("output %d '%s': %s [", k, vm_rt_output_name(model, k), vm_dtype_name(t.dtype));
            for (int d = 0; d < t.rank; d++) printf("%s%lld", d ? ", " : "", (long long)t.dims[d]);
            printf("]");
            for (int64_t i = 0; i < t.numel && i < 8; i++) printf("%s%.6g", i ? " " : " ", vm_elem_f64(t.data, t.dtype, i));
            printf("%s\n", t.numel > 8 ? " ..." : "");
        }
    }
free_model:
    vm_rt_model_free(model);
done:
    for (int i = 0; i < n_in; i++) vm_tensor_free(&inputs[i]);
    for (int i = 0; i < n_exp; i++) vm_tensor_free(&expected[i]);
    return rc;
}
