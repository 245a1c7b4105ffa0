/* wordpiece: the BERT tokenizer behind vm_text_encode (text.c), kept apart from the word
 * tokenizer because it needs Unicode (utf8proc) and its own reference test. */
#ifndef VM_WORDPIECE_H
#define VM_WORDPIECE_H

#include "text.h"

/* Appends one id (and, with pieces, a copy of piece[0..len)) to e. */
enum vm_status vm_encoding_push(struct vm_encoding *e, int32_t id, int32_t word, bool pieces, const char *piece,
                                size_t len, struct vm_error *err);

/* Appends the WordPiece ids of text to e, without [CLS]/[SEP] framing or truncation, counting
 * words into e->n_words and [UNK] words into e->n_unk. v must have [UNK]. */
enum vm_status vm_wordpiece_encode(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text,
                                   bool pieces, struct vm_encoding *e, struct vm_error *err);

/* The CJK Unified Ideographs blocks BERT splits on (not Hangul, Hiragana or Katakana); the word
 * tokenizer splits them too. */
bool vm_uc_cjk(int32_t c);

#endif
