/* test_onnx_load: vm_onnx_load_model reads a file's large raw_data payloads into buffers of their
 * own (a skeleton message without them is unpacked by protobuf-c, the payloads read after), so a
 * 420 MiB BERT-base is held and copied once. Here, for every committed model fixture, the loaded
 * message must repack to exactly the bytes protobuf-c's own unpack of the whole file repacks to;
 * the lifted path must really be taken (payloads >= 1 KiB exist and end up 64-byte aligned); and
 * damaged files (cut inside a payload, a second graph field, a second raw_data in a tensor) must
 * give what protobuf-c gives: the same error, or the same message. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../onnx/onnx_io.h"
#include "vmtest.h"

#define MODELS VM_SOURCE_DIR "/tests/fixtures/models"

static uint8_t *pack(const Onnx__ModelProto *m, size_t *len) {
    *len = onnx__model_proto__get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b) onnx__model_proto__pack(m, b);
    return b;
}

static int write_file(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Loads path both ways; both must fail with the same message or give messages packing alike. */
static void same_both_ways(const char *path, const uint8_t *bytes, size_t n, const char *what, int *lifted) {
    struct vm_error e1 = {0}, e2 = {0};
    char w[4200];
    snprintf(w, sizeof w, "'%s'", path);
    Onnx__ModelProto *ref = vm_onnx_parse_model(bytes, n, w, &e1);
    Onnx__ModelProto *m = vm_onnx_load_model(path, &e2);
    CHECK_MSG((ref == NULL) == (m == NULL), "%s: protobuf-c %s, vm_onnx_load_model %s (%s%s)", what, ref ? "parses" : "fails",
              m ? "parses" : "fails", e1.msg, e2.msg);
    if (!ref && !m) CHECK_MSG(!strcmp(e1.msg, e2.msg), "%s: '%s' vs '%s'", what, e1.msg, e2.msg);
    if (ref && m) {
        size_t a, b;
        uint8_t *pa = pack(ref, &a), *pb = pack(m, &b);
        CHECK_MSG(pa && pb && a == b && !memcmp(pa, pb, a), "%s: the loaded message differs from protobuf-c's", what);
        free(pa);
        free(pb);
        for (size_t i = 0; lifted && i < m->graph->n_initializer; i++) {
            const Onnx__TensorProto *tp = m->graph->initializer[i];
            if (tp->has_raw_data && tp->raw_data.len >= VM_ONNX_EXTERNAL_MIN) {
                (*lifted)++;
                CHECK_MSG((uintptr_t)tp->raw_data.data % 64 == 0, "%s: initializer '%s' not 64-byte aligned", what, tp->name);
            }
        }
    }
    vm_onnx_free_model(ref);
    vm_onnx_free_model(m);
}

/* Offset just past the key and length of the first top-level graph field (7), or 0. */
static size_t graph_field(const uint8_t *b, size_t n, size_t *body, size_t *body_len) {
    size_t p = 0;
    while (p < n) {
        uint64_t key = 0, v = 0;
        for (int s = 0; p < n; s += 7) { key |= (uint64_t)(b[p] & 0x7f) << s; if (b[p++] < 0x80) break; }
        int t = (int)(key & 7);
        size_t start = p;
        if (t == 0) { while (p < n && b[p] >= 0x80) p++; p++; continue; }
        if (t == 1) { p += 8; continue; }
        if (t == 5) { p += 4; continue; }
        if (t != 2) return 0;
        for (int s = 0; p < n; s += 7) { v |= (uint64_t)(b[p] & 0x7f) << s; if (b[p++] < 0x80) break; }
        if (key >> 3 == 7) {
            *body = p;
            *body_len = (size_t)v;
            return start;
        }
        p += (size_t)v;
    }
    return 0;
}

int main(void) {
    DIR *d = opendir(MODELS);
    CHECK_MSG(d != NULL, "cannot open %s", MODELS);
    if (!d) return 1;
    int n_models = 0, lifted = 0;
    char tmp[] = "/tmp/vmaskc_test_onnx_load_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char cut[4200];
    snprintf(cut, sizeof cut, "%s/model.onnx", tmp);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s/model.onnx", MODELS, de->d_name);
        uint8_t *b;
        size_t n;
        struct vm_error err = {0};
        if (vm_file_read(path, &b, &n, &err)) continue; /* MANIFEST.tsv and the like */
        n_models++;
        same_both_ways(path, b, n, de->d_name, &lifted);
        /* damaged copies: cut at a few places (through payloads and through the node list) */
        for (int k = 1; k <= 7; k++) {
            size_t at = n * (size_t)k / 8;
            char what[600];
            snprintf(what, sizeof what, "%s cut at %zu of %zu bytes", de->d_name, at, n);
            if (!write_file(cut, b, at)) same_both_ways(cut, b, at, what, NULL);
        }
        /* the graph field twice: protobuf merges the two; the loader must leave that to protobuf-c */
        size_t body, blen, g = graph_field(b, n, &body, &blen);
        if (g && body + blen <= n) {
            size_t n2 = n + (body + blen - g + 1);
            uint8_t *b2 = malloc(n2);
            if (b2) {
                memcpy(b2, b, n);
                b2[n] = 7 << 3 | 2;
                memcpy(b2 + n + 1, b + g, body + blen - g);
                char what[600];
                snprintf(what, sizeof what, "%s with its graph field repeated", de->d_name);
                if (!write_file(cut, b2, n2)) same_both_ways(cut, b2, n2, what, NULL);
                free(b2);
            }
        }
        free(b);
    }
    closedir(d);
    unlink(cut);
    rmdir(tmp);
    CHECK_MSG(n_models >= 10, "only %d model fixtures found in %s", n_models, MODELS);
    CHECK_MSG(lifted >= 10, "only %d initializers of 1 KiB or more were read outside protobuf-c", lifted);
    printf("%d models, %d large initializers read into buffers of their own\n", n_models, lifted);
    VMTEST_DONE("test_onnx_load");
}
