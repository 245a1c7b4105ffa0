/* fuzz_progress: the reader of `vmaskc explain/compare --report DIR`'s DIR/progress.bin, as
 * `--resume` runs it (tools/vmaskc/progress.c: progress_read record by record until it stops,
 * then the header comparison's progress_first_difference). The first four bytes say what the run
 * expects (the header check that precedes the records is plain byte equality and is not fuzzed):
 *   byte 0: classes (1..8), byte 1: methods (bits 0..4: LIME, SampleShapley, mask, random,
 *   frequency) and post-hoc accuracy (bit 5), byte 2: post-hoc kmax (0..15), byte 3: models (1..4);
 * the rest is the records. The vocabulary has 30522 ids. Every example the reader hands back must
 * survive a pack/unpack round trip to the same bytes. Seeds: records of real `compare` and
 * `explain` runs (tests/fuzz/README.md, "Refreshing seeds"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/vmaskc/progress.h"
#include "fuzz.h"

static void roundtrip(const struct xex *e, int64_t C, int32_t kmax) {
    struct sbuf a = {0}, b = {0};
    xex_pack(&a, e, C, kmax);
    struct xex back = {0};
    const uint8_t *p = (const uint8_t *)a.p, *end = p + a.n;
    if (!a.oom) {
        if (!xex_unpack(&p, end, &back, C, kmax) || p != end) abort(); /* what was read must read again */
        xex_pack(&b, &back, C, kmax);
        if (!b.oom && (b.n != a.n || memcmp(a.p, b.p, a.n))) abort();
    }
    xex_free(&back);
    free(a.p);
    free(b.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    struct xex_expect x[4];
    int n_models = data[3] % 4 + 1;
    int32_t kmax = data[2] % 16;
    for (int k = 0; k < n_models; k++) {
        x[k] = (struct xex_expect){.vocab_n = 30522, .n_classes = data[0] % 8 + 1, .posthoc = (data[1] & 32) && kmax > 0};
        for (int m = 0; m < N_METHODS; m++) x[k].method[m] = data[1] >> m & 1;
    }
    FILE *f = size > 4 ? fmemopen((void *)(data + 4), size - 4, "rb") : NULL;
    struct progress_record r;
    int read = 0;
    while (f && progress_read(f, n_models, 1000, x, kmax, &r) > 0) {
        roundtrip(&r.e, x[r.model].n_classes, kmax);
        xex_free(&r.e);
        read++;
    }
    if (f) fclose(f);
    if (getenv("VM_FUZZ_PROGRESS_COUNT")) fprintf(stderr, "fuzz_progress: %d records read\n", read); /* seeds: tests/fuzz/README.md */
    /* the header comparison reads both texts line by line */
    char *text = malloc(size - 3), diff[512];
    if (text) {
        memcpy(text, data + 4, size - 4);
        text[size - 4] = 0;
        progress_first_difference(text, PROGRESS_MAGIC "command compare\ndata 0123456789abcdef\nend\n", diff, sizeof diff);
        progress_first_difference(PROGRESS_MAGIC "command explain\n", text, diff, sizeof diff);
        free(text);
    }
    return 0;
}
