/* load: ONNX or plan into the runtime (see load.h). */
#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../compiler/passes.h"

bool vm_load_is_plan_path(const char *path) {
    size_t n = strlen(path);
    return n >= 7 && strcmp(path + n - 7, ".vmplan") == 0;
}

/* Import, shape inference and the passes; for training the Dropout nodes stay (no inference cleanup). */
static enum vm_status compile_onnx(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                                   bool training, Onnx__ModelProto **model_out, struct vm_graph **g_out, struct vm_error *err) {
    *g_out = NULL;
    if (model_out) *model_out = NULL;
    Onnx__ModelProto *m = vm_onnx_load_model(path, err);
    if (!m) return err->code;
    vm_mark("read");
    struct vm_import_opts io = {.shapes = o ? o->shapes : NULL, .n_shapes = o ? o->n_shapes : 0, .fixed = fixed, .n_fixed = n_fixed,
                                .model_path = path, .borrow_initializers = model_out != NULL};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, err);
    if (!s) s = vm_infer_graph(g, err);
    if (!s && !training) s = vm_pass_inference_cleanup(g, err);
    if (!s) s = vm_pass_optimize(g, err);
    if (!s && !training) s = vm_pass_gather_rows_early(g, err);
    if (!s && !training) s = vm_pass_fuse_matmul_bias(g, err);
    if (!s && !training) s = vm_pass_fuse_transpose_matmul(g, err);
    if (!s && !training) s = vm_pass_gather_fold(g, err);
    vm_mark("import");
    if (s) {
        vm_graph_free(g);
        vm_onnx_free_model(m);
        return vm_error_prefix(err, "%s", path);
    }
    *g_out = g;
    if (model_out) *model_out = m;
    else vm_onnx_free_model(m);
    return VM_OK;
}

enum vm_status vm_load_compile_onnx(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                                    Onnx__ModelProto **model_out, struct vm_graph **g_out, struct vm_error *err) {
    return compile_onnx(path, o, fixed, n_fixed, false, model_out, g_out, err);
}

enum vm_status vm_load_compile_onnx_training(const char *path, const struct vm_model_opts *o, Onnx__ModelProto **model_out,
                                             struct vm_graph **g_out, struct vm_error *err) {
    return compile_onnx(path, o, NULL, 0, true, model_out, g_out, err);
}

enum vm_status vm_load_plan(const char *path, const struct vm_rt_opts *ro, struct vm_rt_model **out, struct vm_error *err) {
    uint8_t *buf;
    size_t len;
    if (vm_file_read(path, &buf, &len, err)) return err->code;
    enum vm_status s = vm_plan_verify(buf, len, path, err);
    if (!s) s = vm_rt_model_from_buffer(out, buf, len, path, ro, err);
    free(buf);
    return s;
}

enum vm_status vm_load_runtime(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                               struct vm_rt_model **out, struct vm_error *err) {
    struct vm_rt_opts ro = {.threads = o ? o->threads : 0, .ref_kernels = o && o->ref_kernels,
                            .max_memory = o ? o->max_memory : 0};
    if (vm_load_is_plan_path(path)) return vm_load_plan(path, &ro, out, err);
    struct vm_graph *g;
    Onnx__ModelProto *m; /* kept until the plan is emitted: the graph borrows its weights */
    enum vm_status s = vm_load_compile_onnx(path, o, fixed, n_fixed, &m, &g, err);
    if (s) return s;
    uint8_t *buf;
    size_t len;
    s = vm_emit_plan(g, path, &buf, &len, err);
    vm_graph_free(g);
    vm_onnx_free_model(m);
    if (s) return s;
    vm_mark("emit");
    s = vm_rt_model_from_buffer(out, buf, len, path, &ro, err);
    free(buf);
    vm_mark("runtime");
    return s;
}

/* The folder part of path ("." when it has none) into buf. */
static void parent_dir(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, cap, ".");
    else if (slash == path) snprintf(buf, cap, "/");
    else snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

enum vm_status vm_load_check_output(const char *path, const char *what, struct vm_error *err) {
    struct stat st;
    char dir[4096];
    if (!path || !*path) return vm_errorf(err, VM_EINVAL, "%s: empty path", what);
    if (!stat(path, &st)) {
        if (S_ISDIR(st.st_mode)) return vm_errorf(err, VM_EIO, "%s '%s' is a folder, not a file", what, path);
        if (access(path, W_OK)) return vm_errorf(err, VM_EIO, "%s '%s' cannot be written: %s", what, path, strerror(errno));
        return VM_OK;
    }
    parent_dir(path, dir, sizeof dir);
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return vm_errorf(err, VM_EIO, "%s '%s' cannot be written: the folder '%s' does not exist", what, path, dir);
    if (access(dir, W_OK | X_OK)) return vm_errorf(err, VM_EIO, "%s '%s' cannot be written in '%s': %s", what, path, dir, strerror(errno));
    return VM_OK;
}
