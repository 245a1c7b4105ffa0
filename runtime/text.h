/* text: vocabulary, tokenizer and labelled datasets for text classifiers.
 *
 * vocab.txt has one token per line; line i (from 0) is token id i. The tokenizer follows Kim
 * (2014)'s clean_str, which the VMASK authors' pipeline used: characters other than ASCII letters,
 * digits and ( ) , ! ? ' ` become spaces; the clitics 's 've n't 're 'd 'll split off; , ! ? ( )
 * stand alone; then lower-casing (both steps can be turned off). Data files are `label<TAB>text`
 * lines (plain or .gz); every problem is reported as file:line.
 */
#ifndef VM_TEXT_H
#define VM_TEXT_H

#include "vm_base.h"

struct vm_vocab {
    char **tokens;   /* id -> token */
    int32_t n;
    int32_t *hash;   /* open addressing: token -> id */
    uint32_t hash_cap;
    int32_t pad_id;  /* -1 when the vocabulary has no pad token */
    int32_t unk_id;  /* -1 when it has no unknown-word token */
};

/* Loads vocab.txt; pad/unk are detected (<pad>, [PAD], <unk>, [UNK]) unless given (NULL = detect). */
enum vm_status vm_vocab_load(struct vm_vocab *v, const char *path, const char *pad, const char *unk,
                             struct vm_error *err);
/* Builds a vocabulary from newline-separated tokens (the text stored in an exported model). */
enum vm_status vm_vocab_from_text(struct vm_vocab *v, const char *text, const char *pad,
                                  const char *unk, struct vm_error *err);
void vm_vocab_free(struct vm_vocab *v);
int32_t vm_vocab_find(const struct vm_vocab *v, const char *token);
/* Newline-joined tokens (caller frees). */
char *vm_vocab_to_text(const struct vm_vocab *v, struct vm_error *err);

struct vm_tokenizer {
    bool lowercase;    /* default true */
    bool split_punct;  /* default true: Kim-2014 cleaning */
};

/* Tokenizes text into a malloc'd array of malloc'd tokens (free with vm_tokens_free). */
enum vm_status vm_tokenize(const struct vm_tokenizer *t, const char *text, char ***tokens,
                           int32_t *n, struct vm_error *err);
void vm_tokens_free(char **tokens, int32_t n);
/* Tokens -> ids (unknown words map to unk_id, or are dropped when there is none). Returns the
 * count; ids must have room for n. */
int32_t vm_encode(const struct vm_vocab *v, char **tokens, int32_t n, int32_t *ids);

struct vm_dataset {
    int64_t n;         /* examples */
    int32_t *labels;   /* [n] */
    int64_t *start;    /* [n + 1]: token ids of example i are ids[start[i] .. start[i+1]) */
    int32_t *ids;
    char **texts;      /* [n] original text (for reports and explanations) */
    int32_t max_len;   /* longest example after truncation */
    int32_t max_label;
    int64_t n_unk;     /* tokens mapped to unk */
    int64_t n_tokens;
};

/* Reads a label<TAB>text file (".gz" is decompressed). max_len > 0 truncates. An empty text is
 * an error naming the line. */
enum vm_status vm_dataset_load(struct vm_dataset *d, const char *path, const struct vm_vocab *v,
                               const struct vm_tokenizer *t, int32_t max_len, struct vm_error *err);
void vm_dataset_free(struct vm_dataset *d);
static inline int32_t vm_dataset_len(const struct vm_dataset *d, int64_t i) {
    return (int32_t)(d->start[i + 1] - d->start[i]);
}

/* The special tokens of a WordPiece (BERT) vocabulary that a word mask must never drop: [CLS],
 * [SEP] and [PAD], when the vocabulary has both [CLS] and [SEP]. Writes up to cap ids; returns how
 * many (0 for a word vocabulary). */
int vm_vocab_special_ids(const struct vm_vocab *v, int64_t *out, int cap);
/* True for pad, unk and the special ids above: tokens with no word importance of their own. */
bool vm_vocab_is_special(const struct vm_vocab *v, int32_t id);

#endif
