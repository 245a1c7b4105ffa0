/* inspect: what a user wants to know about a model before compiling it — op counts, inputs and
 * outputs with shapes, parameter count and bytes, the word-embedding node, and every unsupported
 * op at once. Also `compile` and the bare `vmaskc MODEL.onnx`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../../compiler/ops.h"
#include "../../compiler/training.h"

static void human_bytes(int64_t b, char *buf, size_t len) {
    if (b >= 1 << 20) snprintf(buf, len, "%.1f MiB", (double)b / (1 << 20));
    else if (b >= 1 << 10) snprintf(buf, len, "%.1f KiB", (double)b / (1 << 10));
    else snprintf(buf, len, "%lld B", (long long)b);
}

/* Op histogram straight from the ONNX graph (so it works for models vmaskc cannot import). */
static void print_op_counts(const Onnx__GraphProto *gp) {
    const char *names[512];
    int counts[512], n = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        const char *op = gp->node[i]->op_type ? gp->node[i]->op_type : "?";
        int k = 0;
        while (k < n && strcmp(names[k], op)) k++;
        if (k == n) {
            if (n == 512) continue;
            names[n] = op;
            counts[n++] = 0;
        }
        counts[k]++;
    }
    /* sort by count, then name */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (counts[j] > counts[i] || (counts[j] == counts[i] && strcmp(names[j], names[i]) < 0)) {
                int c = counts[i];
                counts[i] = counts[j];
                counts[j] = c;
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    printf("ops (%zu %s):", gp->n_node, vm_plural((long long)gp->n_node, "node", "nodes"));
    for (int i = 0; i < n; i++) printf("%s %s %d", i ? "," : "", names[i], counts[i]);
    printf("\n");
}

static void print_summary(const char *path, const Onnx__ModelProto *m, const struct vm_graph *g) {
    char sh[512], b[64];
    int64_t opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !*m->opset_import[i]->domain) opset = m->opset_import[i]->version;
    printf("model: %s (IR %lld, opset %lld%s%s)\n", path, (long long)m->ir_version, (long long)opset,
           m->producer_name ? ", producer " : "", m->producer_name ? m->producer_name : "");
    print_op_counts(m->graph);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const struct vm_value *v = &g->values[g->inputs[i]];
        printf("input  %s: %s %s\n", v->name, vm_dtype_name(v->dtype), vm_value_shape_str(g, v, sh, sizeof sh));
    }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        const struct vm_value *v = &g->values[g->outputs[i]];
        printf("output %s: %s %s\n", v->name, vm_dtype_name(v->dtype), vm_value_shape_str(g, v, sh, sizeof sh));
    }
    int64_t count, bytes;
    vm_graph_param_stats(g, &count, &bytes);
    human_bytes(bytes, b, sizeof b);
    printf("parameters: %lld (%s)\n", (long long)count, b);
}

static void print_embedding(const struct vm_graph *g, const char *override) {
    struct vm_error err = {0};
    int32_t node;
    if (vm_find_embedding(g, override, &node, &err)) {
        printf("word embedding: none (%s)\n", err.msg);
        return;
    }
    if (node < 0) {
        printf("word embedding: none found (no Gather reads a 2-D float initializer with indices from a graph input; "
               "name one with --embedding)\n");
        return;
    }
    const struct vm_node *n = &g->nodes[node];
    const struct vm_value *w = &g->values[n->in[0]];
    char sh[256];
    printf("word embedding: node '%s' (Gather), table '%s' %s, indices '%s'\n", n->name, w->name,
           vm_value_shape_str(g, w, sh, sizeof sh), g->values[n->in[1]].name);
}

/* Lines of a metadata value (a last line without its newline counts). */
static size_t count_lines(const char *v) {
    size_t n = 0;
    for (const char *c = v; *c; c++) n += *c == '\n';
    return n + (*v && v[strlen(v) - 1] != '\n');
}

/* What vmaskc stored in an export (method, mask settings, tokenizer, vocabulary, classes): one line per
 * key, the vocabulary as its size and first entries; keys of later versions print as they are. */
static void print_vmaskc_metadata(const Onnx__ModelProto *m) {
    bool any = false;
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const char *k = m->metadata_props[i]->key, *v = m->metadata_props[i]->value;
        if (!k || !v || strncmp(k, "vmaskc.", 7) || !strncmp(k, "vmaskc.role.", 12)) continue;
        if (!any) printf("vmaskc export:\n");
        any = true;
        if (strcmp(k, "vmaskc.vocab") && !strchr(v, '\n')) {
            printf("  %-16s %s\n", k + 7, v);
            continue;
        }
        if (strcmp(k, "vmaskc.vocab")) { /* one item a line (the class names): on one line, counted */
            size_t n = count_lines(v);
            printf("  %-16s %zu: ", k + 7, n);
            const char *c = v;
            for (int w = 0; w < 32 && *c; w++) {
                size_t l = strcspn(c, "\n");
                printf("%s%.*s", w ? " | " : "", (int)l, c);
                c += l + (c[l] == '\n');
            }
            printf("%s\n", *c ? " | ..." : "");
            continue;
        }
        size_t n = count_lines(v);
        printf("  %-16s %zu %s (", "vocab", n, n == 1 ? "entry" : "entries");
        const char *c = v;
        for (int w = 0; w < 6 && *c; w++) {
            size_t l = strcspn(c, "\n");
            printf("%s%.*s", w ? " " : "", (int)l, c);
            c += l + (c[l] == '\n');
        }
        printf("%s)\n", *c ? " ..." : "");
    }
    if (!any) printf("vmaskc export: no (no vmaskc.* metadata: a model from elsewhere)\n");
}

static int inspect_usage(FILE *f) {
    fprintf(f, "usage: vmaskc inspect FILE [--embedding NAME] [--shape NAME=D0,D1,...]\n"
               "Prints op counts, inputs and outputs with shapes, parameter count and bytes, the\n"
               "word-embedding node, what vmaskc stored in an export (method, mask, tokenizer,\n"
               "vocabulary, classes), and every unsupported op. FILE is an ONNX model or a .vmplan.\n");
    return f == stdout ? VM_EXIT_OK : VM_EXIT_USAGE;
}

static int inspect_plan(const char *path) {
    struct vm_error err = {0};
    struct vm_rt_model *m;
    if (vm_cli_load_plan(path, NULL, &m, &err)) return vm_cli_fail("inspect", &err);
    char sh[256];
    printf("plan: %s (%d %s)\n", path, vm_rt_num_steps(m), vm_plural(vm_rt_num_steps(m), "step", "steps"));
    for (int i = 0; i < vm_rt_num_inputs(m); i++) {
        vm_rt_input_shape_str(m, i, sh, sizeof sh);
        printf("input  %s: %s %s\n", vm_rt_input_name(m, i), vm_dtype_name(vm_rt_input_dtype(m, i)), sh);
    }
    for (int i = 0; i < vm_rt_num_outputs(m); i++) printf("output %s\n", vm_rt_output_name(m, i));
    size_t per, arena, scratch;
    vm_rt_memory(m, &per, &arena, &scratch);
    printf("persistent memory: %zu bytes\n", per);
    vm_rt_model_free(m);
    return VM_EXIT_OK;
}

int vm_cmd_inspect(int argc, char **argv) {
    struct vm_model_opts o = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return inspect_usage(stdout);
        int r = vm_cli_model_option("inspect", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (argv[i][0] == '-') return vm_cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        if (path) return vm_cli_usage_error("inspect", "more than one FILE given");
        path = argv[i];
    }
    if (!path) return vm_cli_usage_error("inspect", "missing FILE");
    if (vm_cli_is_plan_path(path)) return inspect_plan(path);
    struct vm_error err = {0};
    Onnx__ModelProto *m = vm_onnx_load_model(path, &err);
    if (!m) return vm_cli_fail("inspect", &err);
    struct vm_import_opts io = {.shapes = o.shapes, .n_shapes = o.n_shapes, .model_path = path};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, &err);
    if (!s) s = vm_infer_graph(g, &err);
    if (s) {
        /* still show what can be shown from the ONNX graph itself */
        print_op_counts(m->graph);
        vm_graph_free(g);
        vm_onnx_free_model(m);
        vm_error_prefix(&err, "%s", path);
        return vm_cli_fail("inspect", &err);
    }
    print_summary(path, m, g);
    print_embedding(g, o.embedding);
    print_vmaskc_metadata(m);
    printf("unsupported ops: none\n");
    vm_graph_free(g);
    vm_onnx_free_model(m);
    return VM_EXIT_OK;
}

static int compile_usage(FILE *f) {
    fprintf(f, "usage: vmaskc compile MODEL.onnx -o PLAN.vmplan [--shape NAME=D0,D1,...] [--embedding NAME]\n"
               "Compiles an ONNX model into a plan the runtime loads without the compiler. Symbolic\n"
               "dimensions (batch, sequence) stay symbolic unless fixed with --shape.\n");
    return f == stdout ? VM_EXIT_OK : VM_EXIT_USAGE;
}

static int compile_to(const char *cmd, const char *path, const char *out, const struct vm_model_opts *o,
                      bool summary) {
    struct vm_error err = {0};
    Onnx__ModelProto *m;
    struct vm_graph *g;
    if (vm_cli_compile_onnx(path, o, NULL, 0, &m, &g, &err)) return vm_cli_fail(cmd, &err);
    struct vm_plan_parts plan = {0}; /* streamed to the file: no plan-sized buffer */
    enum vm_status s = VM_OK;
    /* a text model vmaskc exported: the plan records how to feed it text, so predict, eval and explain
     * (and libvmaskc) take the plan as they take the ONNX file */
    if (vm_graph_get_meta(g, "vmaskc.vocab"))
        s = vm_annotate_text_model(g, o->embedding, (const char *const *)o->input_roles, o->n_input_roles, &err);
    if (!s) s = vm_emit_plan_parts(g, path, &plan, &err);
    size_t len = plan.len;
    if (!s) {
        s = vm_file_write_atomic_fn(out, vm_plan_parts_write, &plan, &err);
        vm_plan_parts_free(&plan);
    }
    if (!s && summary) {
        print_summary(path, m, g);
        print_embedding(g, o->embedding);
        char b[64];
        human_bytes((int64_t)len, b, sizeof b);
        printf("plan: %s (%d %s, %s)\n", out, g->n_order, vm_plural(g->n_order, "step", "steps"), b);
    }
    vm_graph_free(g);
    vm_onnx_free_model(m);
    if (s) return vm_cli_fail(cmd, &err);
    if (!summary) printf("wrote %s\n", out);
    return VM_EXIT_OK;
}

int vm_cmd_compile(int argc, char **argv) {
    struct vm_model_opts o = {0};
    const char *path = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return compile_usage(stdout);
        int r = vm_cli_model_option("compile", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) return vm_cli_usage_error("compile", "-o needs a path");
            out = argv[++i];
            continue;
        }
        if (argv[i][0] == '-') return vm_cli_usage_error("compile", "unknown option '%s'", argv[i]);
        if (path) return vm_cli_usage_error("compile", "more than one MODEL given");
        path = argv[i];
    }
    if (!path) return vm_cli_usage_error("compile", "missing MODEL");
    if (!out) return vm_cli_usage_error("compile", "missing -o PLAN");
    struct vm_error err = {0};
    if (vm_cli_check_output(out, "-o", &err)) return vm_cli_fail("compile", &err); /* before the compile, not after */
    return compile_to("compile", path, out, &o, false);
}

int vm_cmd_default(const char *model, int argc, char **argv) {
    struct vm_model_opts o = {0};
    for (int i = 0; i < argc; i++) {
        int r = vm_cli_model_option("", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (!r) return vm_cli_usage_error("", "unknown argument '%s'", argv[i]);
    }
    size_t n = strlen(model);
    char *out = malloc(n + 8);
    if (!out) return VM_EXIT_RUNTIME;
    memcpy(out, model, n - 5);
    strcpy(out + n - 5, ".vmplan");
    int rc = compile_to("", model, out, &o, true);
    free(out);
    return rc;
}
