/* fuzz_data: the label<TAB>text data reader (vm_dataset_load), which takes a path and reads plain
 * or gzip data through zlib. The harness writes the input to a temporary file twice: as given
 * (plain, or gzip when the fuzzer produced gzip bytes) and gzip-compressed, so both the text
 * parser and zlib's stream handling (truncated, corrupt, concatenated members) see every input. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "../../runtime/text.h"
#include "fuzz.h"

static struct vm_vocab vocab;
static int ready;

static void load(const char *path, int32_t max_len) {
    struct vm_error err = {0};
    struct vm_tokenizer tok = {.lowercase = true, .split_punct = true};
    struct vm_dataset d;
    if (vm_dataset_load(&d, path, &vocab, &tok, max_len, NULL, &err)) return;
    if (d.n < 1 || d.start[0] != 0) abort(); /* the reader's invariants */
    for (int64_t i = 0; i < d.n; i++)
        if (vm_dataset_len(&d, i) < 0 || vm_dataset_len(&d, i) > d.max_len || d.labels[i] > d.max_label) abort();
    vm_dataset_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    if (!ready) {
        if (vm_vocab_from_text(&vocab, "<pad>\n<unk>\nthe\nfilm\nis\ngood\n,\n!", NULL, NULL, &err)) abort();
        ready = 1;
    }
    char path[] = "/tmp/vm_fuzz_data_XXXXXX";
    if (!vm_fuzz_write_temp(path, data, size)) return 0;
    load(path, size % 3 ? 0 : 4); /* sometimes truncate examples */
    if (vm_fuzz_write_gz(path, data, size)) load(path, 0);
    unlink(path);
    return 0;
}
