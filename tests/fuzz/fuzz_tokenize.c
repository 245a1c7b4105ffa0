/* fuzz_tokenize: the tokenizers every text command runs on user text, through their one entry
 * point vm_text_encode: the Kim-2014 word tokenizer (with and without lower-casing and cleaning,
 * against a vocabulary with and without an unknown-word token) and the WordPiece tokenizer (uncased
 * and cased, with and without truncation) against a small BERT-style vocabulary. The first byte of
 * the input picks the tokenizer and its settings; the rest is the text (invalid UTF-8, NULs and all).
 * Every encoding is checked for what callers rely on: ids inside the vocabulary, word_of inside
 * [−1, n_words), [CLS] … [SEP] framing and the length limit. */
#include <stdlib.h>
#include <string.h>

#include "../../runtime/text.h"
#include "fuzz.h"

static struct vm_vocab vocab_unk, vocab_plain, vocab_wp;
static int ready;

static void check(const struct vm_tokenizer *t, const struct vm_vocab *v, int32_t max_len, const struct vm_encoding *e) {
    if (e->n < 0 || (max_len > 0 && e->n > max_len)) abort();
    for (int32_t i = 0; i < e->n; i++) {
        if (e->ids[i] < 0 || e->ids[i] >= v->n) abort();
        if (e->word_of[i] < -1 || e->word_of[i] >= (e->n_words > 0 ? e->n_words : 1)) abort();
        if (e->pieces && !e->pieces[i]) abort();
    }
    if (t->kind == VM_TOKENIZER_WORDPIECE && (e->n < 2 || e->ids[0] != v->cls_id || e->ids[e->n - 1] != v->sep_id)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    if (!ready) {
        if (vm_vocab_from_text(&vocab_unk, "<pad>\n<unk>\nthe\n,\n's\nn't\n(\n)\n!\n?\nfilm\ngood", NULL, NULL, &err) ||
            vm_vocab_from_text(&vocab_plain, "the\nfilm\nis\nnot\ngood\n'", NULL, NULL, &err) ||
            vm_vocab_from_text(&vocab_wp,
                               "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nfilm\nun\n##watch\n##able\n##s\n##e\na\nb\nc\n,\n.\n!\n"
                               "'\ncafe\nna\n##ive\n東\n京\n##a\n##b\n##c\nzurich\n\xc3\xa9\n##\xc3\xa9",
                               NULL, NULL, &err))
            abort();
        ready = 1;
    }
    if (size == 0) return 0;
    struct vm_tokenizer t;
    vm_tokenizer_default(&t);
    const struct vm_vocab *v;
    bool wp = data[0] & 8;
    if (wp) {
        if (vm_tokenizer_for_vocab(&t, &vocab_wp, NULL, "fuzz vocabulary", &err) || t.kind != VM_TOKENIZER_WORDPIECE) abort();
        t.lowercase = data[0] & 1;
        t.max_word_chars = (data[0] & 2) ? 100 : 5;
        v = &vocab_wp;
    } else {
        t.lowercase = data[0] & 1;
        t.split_punct = (data[0] >> 1) & 1;
        t.kim = data[0] & 0x80; /* Kim's ASCII cleanup, else the Unicode word tokenizer */
        v = (data[0] & 4) ? &vocab_plain : &vocab_unk;
    }
    int32_t max_len = (data[0] & 0x30) == 0x10 ? 3 : (data[0] & 0x30) == 0x20 ? 8 : 0;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    struct vm_encoding e = {0};
    if (!vm_text_encode(&t, v, text, max_len, (data[0] & 0x40) != 0, &e, &err)) check(&t, v, max_len, &e);
    vm_encoding_free(&e);
    free(text);
    return 0;
}
