/* test_op_table: walks the op table. Every row must be well formed (name, infer, arity), op names
 * must be unique per domain and have a runtime kernel, every ONNX-domain op must be exercised by at
 * least one ONNX node test listed (not excluded) in a tests/onnx_node manifest, and every row with
 * a gradient rule must have a finite-difference case in one of the gradcheck executables given as
 * arguments (each prints the ops it covers with --list). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/ops.h"
#include "../../onnx/onnx_io.h"
#include "../../runtime/rt.h"
#include "vmtest.h"

#define MAX_OPS 256

static char covered[MAX_OPS][64];
static int n_covered;

static void cover(const char *op) {
    for (int i = 0; i < n_covered; i++)
        if (!strcmp(covered[i], op)) return;
    if (n_covered < MAX_OPS) snprintf(covered[n_covered++], sizeof covered[0], "%s", op);
}

static bool is_covered(const char *op) {
    for (int i = 0; i < n_covered; i++)
        if (!strcmp(covered[i], op)) return true;
    return false;
}

static int scan_manifests(const char *data) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/onnx_node", VM_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int tests = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".txt")) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            char name[512];
            if (sscanf(line, "%511s", name) != 1 || name[0] == '#' || name[0] == '!') continue;
            char model[8192];
            snprintf(model, sizeof model, "%s/%s/model.onnx", data, name);
            struct vm_error err = {0};
            Onnx__ModelProto *m = vm_onnx_load_model(model, &err);
            CHECK_MSG(m != NULL, "%s lists %s, which cannot be loaded: %s", e->d_name, name, err.msg);
            if (!m) continue;
            tests++;
            for (size_t i = 0; i < m->graph->n_node; i++) cover(m->graph->node[i]->op_type);
            vm_onnx_free_model(m);
        }
        fclose(f);
    }
    closedir(d);
    return tests;
}

static char grad_covered[MAX_OPS][64];
static int n_grad_covered;

static void scan_gradchecks(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "'%s' --list", argv[a]);
        FILE *p = popen(cmd, "r");
        CHECK_MSG(p != NULL, "cannot run %s", argv[a]);
        if (!p) continue;
        char line[256];
        while (fgets(line, sizeof line, p) && n_grad_covered < MAX_OPS) {
            line[strcspn(line, "\r\n")] = 0;
            if (*line) snprintf(grad_covered[n_grad_covered++], sizeof grad_covered[0], "%s", line);
        }
        CHECK_MSG(pclose(p) == 0, "%s --list failed", argv[a]);
    }
}

int main(int argc, char **argv) {
    int32_t n = vm_op_count();
    CHECK(n > 0);
    for (int32_t i = 0; i < n; i++) {
        const struct vm_op_row *r = vm_op_row(i);
        CHECK_MSG(r->name && r->infer, "row %d has no name or infer", i);
        CHECK_MSG(r->min_in >= 0 && (r->max_in == VM_OP_VARIADIC || r->min_in <= r->max_in), "%s: bad input arity", r->name);
        CHECK_MSG(r->min_out >= 0 && (r->max_out == VM_OP_VARIADIC || r->min_out <= r->max_out), "%s: bad output arity", r->name);
        CHECK_MSG(vm_op_find(r->domain, r->name) == i, "%s: duplicate row", r->name);
        CHECK_MSG(vm_rt_kernel_find(r->name) != NULL, "%s: no runtime kernel", r->name);
        /* every accepted attribute declares its kind, so the importer can check presence and type */
        for (const char *p = r->attrs ? r->attrs : ""; *p;) {
            while (*p == ' ') p++;
            size_t len = strcspn(p, " ");
            if (!len) break;
            char name[64], kind = 0;
            snprintf(name, sizeof name, "%.*s", (int)strcspn(p, " :"), p);
            bool spec = vm_op_attr_spec(r, name, &kind, NULL);
            CHECK_MSG(spec && kind && strcmp(vm_op_attr_kind_name(kind), "?") != 0, "%s: attribute entry '%.*s' has no valid kind",
                      r->name, (int)len, p);
            p += len;
        }
    }
    if (argc > 1) {
        scan_gradchecks(argc, argv);
        int missing = 0;
        for (int32_t i = 0; i < n; i++) {
            const struct vm_op_row *r = vm_op_row(i);
            if (!r->grad) continue;
            bool found = false;
            for (int k = 0; k < n_grad_covered; k++) found |= !strcmp(grad_covered[k], r->name);
            if (!found) {
                missing++;
                fprintf(stderr, "op %s has a gradient rule but no gradient check\n", r->name);
            }
        }
        CHECK(missing == 0);
        printf("gradient rules: every differentiable row has a finite-difference check (%d ops covered)\n", n_grad_covered);
    }
    const char *data = getenv("VMASKC_NODE_DATA");
    if (!data) data = "/usr/share/libonnx-testdata/data/node";
    int tests = scan_manifests(data);
    DIR *probe = opendir(data);
    if (!probe) {
        printf("SKIP coverage: ONNX node test data not found at %s (apt-get install libonnx-testdata)\n", data);
        VMTEST_DONE("test_op_table");
    }
    closedir(probe);
    int uncovered = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct vm_op_row *r = vm_op_row(i);
        if (r->domain) continue; /* internal ops: covered by gradcheck and unit tests */
        if (!is_covered(r->name)) {
            uncovered++;
            fprintf(stderr, "op %s is not exercised by any listed ONNX node test\n", r->name);
        }
    }
    CHECK(uncovered == 0);
    printf("op table: %d rows, %d node tests cover %d op types\n", n, tests, n_covered);
    VMTEST_DONE("test_op_table");
}
