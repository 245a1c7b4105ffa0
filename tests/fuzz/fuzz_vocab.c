/* fuzz_vocab: both vocabulary readers — vm_vocab_load (vocab.txt from disk, one token per line,
 * strict) and vm_vocab_from_text (the newline-joined vocabulary stored in an exported model) —
 * plus a look-up of every token, which walks the hash table the readers built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runtime/text.h"
#include "fuzz.h"

static void check(struct vm_vocab *v) {
    for (int32_t i = 0; i < v->n; i++)
        if (vm_vocab_find(v, v->tokens[i]) < 0) abort(); /* every token is found again */
    struct vm_error err = {0};
    free(vm_vocab_to_text(v, &err));
    vm_vocab_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    struct vm_vocab v;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (!vm_vocab_from_text(&v, text, NULL, NULL, &err)) check(&v);
    free(text);

    char path[] = "/tmp/vm_fuzz_vocab_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    FILE *f = fdopen(fd, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
        if (!vm_vocab_load(&v, path, NULL, NULL, &err)) check(&v);
    } else {
        close(fd);
    }
    unlink(path);
    return 0;
}
