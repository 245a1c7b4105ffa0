/* fuzz_tokenize: the tokenizer and encoder every text command runs on user text (vm_tokenize
 * with and without lower-casing and Kim-2014 cleaning, then vm_encode against a small vocabulary
 * with and without an unknown-word token). The input is the text; its first byte picks the
 * tokenizer flags. */
#include <stdlib.h>
#include <string.h>

#include "../../runtime/text.h"
#include "fuzz.h"

static struct vm_vocab vocab_unk, vocab_plain;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    if (!ready) {
        if (vm_vocab_from_text(&vocab_unk, "<pad>\n<unk>\nthe\n,\n's\nn't\n(\n)\n!\n?\nfilm\ngood", NULL, NULL, &err) ||
            vm_vocab_from_text(&vocab_plain, "the\nfilm\nis\nnot\ngood\n'", NULL, NULL, &err))
            abort();
        ready = 1;
    }
    if (size == 0) return 0;
    struct vm_tokenizer t = {.lowercase = data[0] & 1, .split_punct = (data[0] >> 1) & 1};
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char **toks;
    int32_t n;
    if (!vm_tokenize(&t, text, &toks, &n, &err)) {
        int32_t *ids = malloc(sizeof *ids * (size_t)(n + 1));
        if (ids) {
            int32_t k = vm_encode((data[0] & 4) ? &vocab_plain : &vocab_unk, toks, n, ids);
            if (k < 0 || k > n) abort();
            free(ids);
        }
        vm_tokens_free(toks, n);
    }
    free(text);
    return 0;
}
