/* fuzz_onnx: the ONNX importer through to a plan, as `vmaskc compile` runs it but in memory —
 * bytes -> vm_onnx_parse_model -> vm_import -> vm_infer_graph -> inference cleanup -> optimize ->
 * vm_emit_plan. A model that compiles for inference is imported again and compiled the way
 * `vmaskc train` does (embedding detection, VMASK layer, loss, autodiff, Adam), because that path
 * rewrites the graph far more than inference does. Every failure must be a vm_error. */
#include <stdlib.h>

#include "../../compiler/compiler.h"
#include "../../compiler/passes.h"
#include "../../compiler/training.h"
#include "fuzz.h"

static void compile_training(const Onnx__ModelProto *m) {
    struct vm_error err = {0};
    struct vm_import_opts io = {0};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, &err);
    if (!s) s = vm_infer_graph(g, &err);
    if (!s) s = vm_pass_optimize(g, &err);
    int32_t emb = -1;
    if (!s) s = vm_find_embedding(g, NULL, &emb, &err);
    if (!s && emb >= 0) {
        struct vm_train_opts to;
        vm_train_opts_default(&to);
        to.mask_hidden = 4; /* small: the fuzzer wants executions, not FLOPs */
        struct vm_train_info info;
        s = vm_build_training(g, &to, &info, &err);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!s) s = vm_emit_plan(g, "fuzz", &buf, &len, &err);
        free(buf);
    }
    vm_graph_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    Onnx__ModelProto *m = vm_onnx_parse_model(data, size, "fuzz input", &err);
    if (!m) return 0;
    struct vm_import_opts io = {0};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, &err);
    if (!s) s = vm_infer_graph(g, &err);
    if (!s) s = vm_pass_inference_cleanup(g, &err);
    if (!s) s = vm_pass_optimize(g, &err);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!s) s = vm_emit_plan(g, "fuzz", &buf, &len, &err);
    free(buf);
    vm_graph_free(g);
    if (!s) compile_training(m);
    vm_onnx_free_model(m);
    return 0;
}
