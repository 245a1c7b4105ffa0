/* fuzz_vectors: the word-vectors reader (vm_vectors_read), which takes a path and reads plain or
 * gzip data through zlib. The first byte picks the forced format (auto, text, binary) and whether
 * the reader must see 4-d vectors (bits 0-1: 0 or 3 auto, 1 text, 2 binary; bit 2: 4-d); the rest is written to a temporary file as given and gzip'd.
 * Each read runs twice: coverage only, then into a table whose found rows must hold finite values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../../runtime/vectors.h"
#include "fuzz.h"

static struct vm_vocab vocab;
static int ready;

static void check(const char *path, enum vm_vectors_format fmt, int32_t dim) {
    struct vm_error err = {0};
    struct vm_vectors_opts o = {.format = fmt, .dim = dim, .dim_what = "the table"};
    struct vm_vectors_info info;
    uint8_t found[16] = {0};
    if (!vm_vectors_read(path, &vocab, &o, NULL, found, &info, &err)) {
        if (info.n_exact + info.n_lower > info.n_words || info.dim < 1 || (dim && info.dim != dim)) abort();
        if (info.format != VM_VECTORS_TEXT && info.format != VM_VECTORS_BINARY) abort();
    }
    if (!dim) return;
    float *table = calloc((size_t)vocab.n * (size_t)dim, sizeof(float));
    memset(found, 0, sizeof found);
    if (table && !vm_vectors_read(path, &vocab, &o, table, found, &info, &err)) {
        for (int32_t id = 0; id < vocab.n; id++) {
            if (found[id] > VM_VECTOR_LOWER || (found[id] && (id == vocab.pad_id || id == vocab.unk_id))) abort();
            for (int32_t k = 0; found[id] && k < dim; k++)
                if (!isfinite(table[id * dim + k])) abort();
        }
        vm_vectors_fill_missing(table, vocab.n, dim, found, vocab.n, vocab.pad_id, 0.25, 1);
        for (int32_t i = 0; i < vocab.n * dim; i++)
            if (!isfinite(table[i]) || (!found[i / dim] && (table[i] < -0.25f || table[i] > 0.25f))) abort();
    }
    free(table);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    if (!ready) { /* Film: a cased entry, so the lower-cased lookup runs too */
        if (vm_vocab_from_text(&vocab, "<pad>\n<unk>\nthe\nFilm\nis\ngood\n,\n!", NULL, NULL, &err)) abort();
        ready = 1;
    }
    if (size < 1) return 0;
    enum vm_vectors_format fmt = (data[0] & 3) == 3 ? VM_VECTORS_AUTO : (enum vm_vectors_format)(data[0] & 3);
    int32_t dim = data[0] & 4 ? 4 : 0;
    char path[] = "/tmp/vm_fuzz_vectors_XXXXXX";
    if (!vm_fuzz_write_temp(path, data + 1, size - 1)) return 0;
    check(path, fmt, dim);
    if (vm_fuzz_write_gz(path, data + 1, size - 1)) check(path, fmt, dim);
    unlink(path);
    return 0;
}
