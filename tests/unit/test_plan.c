/* test_plan: plans are deterministic (compiling twice gives the same bytes), load back, bind at the
 * fixtures' two input shapes with an arena layout in which no two values that are alive at the
 * same time share bytes (checked independently of the binder's own bookkeeping), and a truncated or
 * corrupted plan is an error, never a crash. The plan in pieces (what train and compile use) is
 * the same plan. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../compiler/compiler.h"
#include "../../compiler/passes.h"
#include "../../runtime/rt.h"
#include "vmtest.h"

void vm_rt_inst_update_pointers(struct vm_rt_inst *inst);

static uint8_t *compile(const char *path, size_t *len) {
    struct vm_error err = {0};
    Onnx__ModelProto *m = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    uint8_t *buf = NULL;
    if (m && !vm_import(m, NULL, &g, &err) && !vm_infer_graph(g, &err) && !vm_pass_inference_cleanup(g, &err))
        vm_emit_plan(g, path, &buf, len, &err);
    CHECK_MSG(buf != NULL, "%s: %s", path, err.msg);
    vm_graph_free(g);
    vm_onnx_free_model(m);
    return buf;
}

/* The plan in pieces (vm_emit_plan_parts) is the same plan: streamed to a file it gives the same
 * bytes as vm_emit_plan, and loaded from the pieces it gives the same model (digest, persistent
 * region) as loaded from the buffer. */
static void check_parts(const char *path, const char *name, const uint8_t *buf, size_t len, struct vm_rt_model *whole) {
    struct vm_error err = {0};
    Onnx__ModelProto *m = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    struct vm_plan_parts pp = {0};
    bool ok = m && !vm_import(m, NULL, &g, &err) && !vm_infer_graph(g, &err) && !vm_pass_inference_cleanup(g, &err) &&
              !vm_emit_plan_parts(g, path, &pp, &err);
    CHECK_MSG(ok, "%s: %s", name, err.msg);
    CHECK_MSG(pp.len == len, "%s: the parts hold %zu bytes, the buffer %zu", name, pp.len, len);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "/tmp/vmaskc_test_plan_parts.%d.vmplan", (int)getpid());
    uint8_t *back = NULL;
    size_t back_len = 0;
    if (ok && !vm_file_write_atomic_fn(tmp, vm_plan_parts_write, &pp, &err) && !vm_file_read(tmp, &back, &back_len, &err))
        CHECK_MSG(back_len == len && !memcmp(back, buf, len), "%s: the streamed parts differ from vm_emit_plan's bytes", name);
    else
        CHECK_MSG(false, "%s: %s", name, err.msg);
    unlink(tmp);
    free(back);
    struct vm_rt_model *rt = NULL;
    if (ok && whole) {
        CHECK_MSG(!vm_rt_model_from_parts(&rt, &pp, name, NULL, &err), "%s: %s", name, err.msg);
        if (rt) {
            CHECK_MSG(rt->digest == whole->digest, "%s: the plan digest differs between pieces and buffer", name);
            CHECK_MSG(rt->persist_bytes == whole->persist_bytes && !memcmp(rt->persist, whole->persist, rt->persist_bytes),
                      "%s: the persistent region differs between pieces and buffer", name);
        }
        /* a part that is shorter than its value's initializer is an error, not a read past it */
        for (size_t i = 0; i < pp.n_part; i++) {
            if (pp.part[i].bytes < 2) continue;
            pp.part[i].bytes--;
            struct vm_rt_model *bad = NULL;
            CHECK_MSG(vm_rt_model_from_parts(&bad, &pp, name, NULL, &err) == VM_EFORMAT && strstr(err.msg, "outside the plan's blob"),
                      "%s: a short part was not rejected (%s)", name, err.msg);
            vm_rt_model_free(bad);
            pp.part[i].bytes++;
            break;
        }
    }
    vm_rt_model_free(rt);
    vm_plan_parts_free(&pp);
    vm_graph_free(g);
    vm_onnx_free_model(m);
}

/* Independent overlap check: lifetimes from the step list, storage from the instance. */
static void check_layout(const char *name, struct vm_rt_inst *inst) {
    const struct vm_rt_plan *p = &inst->m->plan;
    int32_t nv = p->n_values, ns = p->n_steps;
    int32_t *first = malloc(sizeof(int32_t) * (size_t)nv), *last = malloc(sizeof(int32_t) * (size_t)nv);
    for (int32_t v = 0; v < nv; v++) {
        first[v] = INT32_MAX;
        last[v] = -1;
    }
    for (int32_t i = 0; i < ns; i++) {
        const struct vm_rt_step *s = &p->steps[i];
        for (int32_t k = 0; k < s->n_in + s->n_out; k++) {
            int32_t v = k < s->n_in ? s->in[k] : s->out[k - s->n_in];
            if (v < 0) continue;
            int32_t r = inst->root[v];
            if (i < first[r]) first[r] = i;
            if (i > last[r]) last[r] = i;
        }
    }
    for (int32_t k = 0; k < p->n_inputs; k++) first[inst->root[p->inputs[k].value]] = -1;
    for (int32_t k = 0; k < p->n_outputs; k++) last[inst->root[p->outputs[k].value]] = ns;
    vm_rt_inst_update_pointers(inst);
    int bad = 0;
    for (int32_t a = 0; a < nv; a++) {
        if (inst->root[a] != a || inst->off[a] == SIZE_MAX || last[a] < 0) continue;
        for (int32_t b = a + 1; b < nv; b++) {
            if (inst->root[b] != b || inst->off[b] == SIZE_MAX || last[b] < 0) continue;
            bool live_together = !(last[a] < first[b] || last[b] < first[a]);
            size_t a0 = inst->off[a], a1 = a0 + inst->t[a].nbytes, b0 = inst->off[b], b1 = b0 + inst->t[b].nbytes;
            bool share = inst->t[a].nbytes && inst->t[b].nbytes && a0 < b1 && b0 < a1;
            if (live_together && share && bad++ < 3)
                fprintf(stderr, "%s: values '%s' and '%s' overlap in time and memory\n", name, p->values[a].name, p->values[b].name);
        }
        CHECK(inst->off[a] + inst->t[a].nbytes <= inst->arena_need);
    }
    CHECK_MSG(bad == 0, "%s: %d overlapping pairs", name, bad);
    free(first);
    free(last);
}

static void test_fixture(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    size_t len1 = 0, len2 = 0;
    uint8_t *p1 = compile(path, &len1), *p2 = compile(path, &len2);
    if (!p1 || !p2) {
        free(p1);
        free(p2);
        return;
    }
    CHECK_MSG(len1 == len2 && !memcmp(p1, p2, len1), "%s: compiling twice gave different plans", name);
    struct vm_error err = {0};
    struct vm_rt_model *m = NULL;
    CHECK_MSG(!vm_rt_model_from_buffer(&m, p1, len1, name, NULL, &err), "%s: %s", name, err.msg);
    check_parts(path, name, p1, len1, m);
    for (int set = 0; m && set < 2; set++) {
        struct vm_tensor in[8];
        const int64_t *dims[8];
        int ranks[8], n_in = vm_rt_num_inputs(m);
        for (int k = 0; k < n_in; k++) {
            char f[4200];
            snprintf(f, sizeof f, "%s/%s/test_data_set_%d/input_%d.pb", dir, name, set, k);
            CHECK(!vm_onnx_read_tensor_file(f, &in[k], &err));
            dims[k] = in[k].dims;
            ranks[k] = in[k].rank;
        }
        struct vm_rt_inst *inst;
        CHECK_MSG(!vm_rt_bind(m, dims, ranks, &inst, &err), "%s: %s", name, err.msg);
        check_layout(name, inst);
        for (int k = 0; k < n_in; k++) vm_tensor_free(&in[k]);
    }
    vm_rt_model_free(m);
    /* truncations and corruptions: errors, not crashes */
    for (size_t cut = 0; cut < len1; cut += 1 + len1 / 97) {
        struct vm_rt_model *bad = NULL;
        if (vm_rt_model_from_buffer(&bad, p1, cut, "truncated", NULL, &err) == VM_OK) vm_rt_model_free(bad);
        else CHECK(err.msg[0] != 0);
    }
    uint64_t x = 88172645463325252ull;
    for (int trial = 0; trial < 50; trial++) {
        uint8_t *c = malloc(len1);
        memcpy(c, p1, len1);
        for (int k = 0; k < 4; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c[x % len1] ^= (uint8_t)(x >> 32);
        }
        struct vm_rt_model *bad = NULL;
        if (vm_rt_model_from_buffer(&bad, c, len1, "corrupted", NULL, &err) == VM_OK) vm_rt_model_free(bad);
        free(c);
    }
    free(p1);
    free(p2);
}

int main(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models", VM_SOURCE_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tsv")) continue;
        test_fixture(dir, e->d_name);
        n++;
    }
    if (d) closedir(d);
    printf("plans checked: %d fixtures\n", n);
    VMTEST_DONE("test_plan");
}
