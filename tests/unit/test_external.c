/* test_external: ONNX external data in the library, below the CLI that tests/bad_input/external.sh
 * drives. Import of the external fixture gives byte-identical initializers to the inline original;
 * aligned tensors are borrowed from one mapping per file (counted in /proc/self/maps), unaligned
 * ones copied; export writes inline below the limit and `<out>.data` above it (the limit is
 * lowered here so no 2 GiB file is needed), and both exports import to the same values. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../compiler/compiler.h"
#include "../../compiler/export.h"
#include "vmtest.h"

#define FX VM_SOURCE_DIR "/tests/fixtures"

static struct vm_graph *import(const char *path, Onnx__ModelProto **mp) {
    struct vm_error err = {0};
    Onnx__ModelProto *m = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    struct vm_import_opts io = {.model_path = path};
    if (m) vm_import(m, &io, &g, &err);
    CHECK_MSG(g != NULL, "%s: %s", path, err.msg);
    if (mp) *mp = m;
    else vm_onnx_free_model(m);
    return g;
}

/* Every initializer of a has the same dtype, size and bytes in b. */
static void same_initializers(const struct vm_graph *a, const struct vm_graph *b, const char *what) {
    int n = 0;
    for (int32_t v = 0; v < a->n_values; v++) {
        const struct vm_value *x = &a->values[v];
        if (!(x->flags & VM_VALUE_INIT)) continue;
        int32_t w = vm_graph_find_value(b, x->name);
        CHECK_MSG(w >= 0, "%s: '%s' missing", what, x->name);
        if (w < 0) continue;
        const struct vm_value *y = &b->values[w];
        CHECK_MSG(x->dtype == y->dtype && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes), "%s: '%s' differs", what,
                  x->name);
        n++;
    }
    CHECK_MSG(n == 9, "%s: %d initializers compared", what, n);
}

static int maps_of(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[4608];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static int n_external(const Onnx__ModelProto *m) {
    int n = 0;
    for (size_t i = 0; i < m->graph->n_initializer; i++) n += vm_onnx_tensor_is_external(m->graph->initializer[i]);
    return n;
}

int main(void) {
    struct vm_graph *inl = import(FX "/models/cnn_conv1d_reducemax_op13/model.onnx", NULL);
    Onnx__ModelProto *em = NULL;
    struct vm_graph *ext = import(FX "/external/model.onnx", &em);
    struct vm_graph *una = import(FX "/external/ok_unaligned.onnx", NULL);
    if (!inl || !ext || !una) VMTEST_DONE("test_external");
    same_initializers(inl, ext, "external");
    same_initializers(inl, una, "unaligned");
    int32_t e = vm_graph_find_value(ext, "embedding.weight"), u = vm_graph_find_value(una, "embedding.weight");
    CHECK(ext->values[e].data_borrowed);
    CHECK(!una->values[u].data_borrowed);
    CHECK_MSG(maps_of("/external/weights.bin") == 1, "weights.bin mapped %d times for 9 initializers", maps_of("/external/weights.bin"));
    CHECK(maps_of("/external/weights_unaligned.bin") == 1);
    vm_graph_free(una);
    CHECK(maps_of("/external/weights_unaligned.bin") == 0); /* the graph's mapping goes with it */

    char dir[] = "/tmp/vmaskc_test_external_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char small[600], big[600], big_data[620];
    snprintf(small, sizeof small, "%s/inline.onnx", dir);
    snprintf(big, sizeof big, "%s/split.onnx", dir);
    snprintf(big_data, sizeof big_data, "%s/split.onnx.data", dir);
    struct vm_error err = {0};
    struct vm_export_opts eo = {0};
    CHECK_MSG(!vm_export_onnx(em, ext, &eo, NULL, NULL, small, &err), "%s", err.msg);
    eo.max_inline = 4000; /* stands in for 2 GiB: the inline model is ~8 KB, ~3.3 KB once split */
    CHECK_MSG(!vm_export_onnx(em, ext, &eo, NULL, NULL, big, &err), "%s", err.msg);
    struct stat st;
    CHECK(stat(big_data, &st) == 0 && st.st_size > 0);
    snprintf(big_data, sizeof big_data, "%s/inline.onnx.data", dir);
    CHECK(stat(big_data, &st) != 0);
    Onnx__ModelProto *ms = NULL, *mb = NULL;
    struct vm_graph *gs = import(small, &ms), *gb = import(big, &mb);
    if (gs && gb) {
        CHECK(n_external(ms) == 0);
        /* embedding 3840 B and convs.2.weight 1024 B reach VM_ONNX_EXTERNAL_MIN; the rest stays */
        CHECK_MSG(n_external(mb) == 2, "%d initializers external", n_external(mb));
        same_initializers(inl, gs, "inline export");
        same_initializers(inl, gb, "split export");
        CHECK(gb->values[vm_graph_find_value(gb, "embedding.weight")].data_borrowed); /* 64-byte aligned */
    }
    vm_graph_free(gs);
    vm_graph_free(gb);
    vm_onnx_free_model(ms);
    vm_onnx_free_model(mb);
    /* no temporaries left */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp >/dev/null", dir);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    vm_graph_free(inl);
    vm_graph_free(ext);
    vm_onnx_free_model(em);
    VMTEST_DONE("test_external");
}
