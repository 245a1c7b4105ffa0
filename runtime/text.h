/* text: vocabulary, tokenizers and labelled datasets for text classifiers.
 *
 * vocab.txt has one token per line; line i (from 0) is token id i. Two tokenizers, chosen per
 * vocabulary (vm_tokenizer_for_vocab) and reached through one entry point, vm_text_encode, which
 * every command and the dataset loader use:
 *  - words: Kim (2014)'s clean_str, which the VMASK authors' pipeline used: characters other than
 *    ASCII letters, digits and ( ) , ! ? ' ` become spaces; the clitics 's 've n't 're 'd 'll split
 *    off; , ! ? ( ) stand alone; then lower-casing (both steps can be turned off). Whole words are
 *    looked up; unknown ones become <unk> (or are dropped when the vocabulary has none).
 *  - wordpiece: Hugging Face's BertTokenizer (wordpiece.c): Unicode cleanup, CJK split, accent
 *    stripping and lower-casing for uncased vocabularies, punctuation split, greedy longest-match
 *    ## pieces, framed as [CLS] ... [SEP].
 * A byte-level BPE (RoBERTa/GPT-2) would be a third kind behind the same entry point.
 * Data files are `label<TAB>text` lines (plain or .gz); every problem is reported as file:line.
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
    int32_t cls_id, sep_id, mask_id; /* [CLS] [SEP] [MASK], -1 when absent */
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

enum vm_tokenizer_kind {
    VM_TOKENIZER_WORDS,     /* Kim-2014 words, looked up whole */
    VM_TOKENIZER_WORDPIECE, /* BERT WordPiece, as Hugging Face's BertTokenizer */
};

struct vm_tokenizer {
    enum vm_tokenizer_kind kind;
    bool lowercase;         /* default true. wordpiece: uncased (lower-case and strip accents) */
    bool split_punct;       /* words only; default true: Kim-2014 cleaning */
    int32_t max_word_chars; /* wordpiece: a longer word is [UNK] (Hugging Face: 100) */
};

/* Defaults: words, lower-cased, Kim cleaning; a word over 100 characters is [UNK] for wordpiece. */
void vm_tokenizer_default(struct vm_tokenizer *t);
const char *vm_tokenizer_kind_name(enum vm_tokenizer_kind k);
/* Chooses t->kind for vocabulary v (`what` names it in messages): `force` "words" or "wordpiece"
 * decides, NULL detects — [CLS], [SEP] and ## continuation pieces make a WordPiece vocabulary.
 * A vocabulary that fits neither (## pieces without the BERT specials, byte-level BPE or
 * SentencePiece entries) or a WordPiece one without [CLS], [SEP] or [UNK] is an error. */
enum vm_status vm_tokenizer_for_vocab(struct vm_tokenizer *t, const struct vm_vocab *v, const char *force,
                                      const char *what, struct vm_error *err);

/* One text as the model receives it. */
struct vm_encoding {
    int32_t n;          /* ids */
    int32_t *ids;       /* [n]; wordpiece: [CLS] pieces [SEP] */
    int32_t *word_of;   /* [n] index of the text word the id belongs to (several pieces share one), -1
                         * for the [CLS] / [SEP] framing */
    char **pieces;      /* [n] when asked for: the vocabulary token, or an unknown word's own text */
    int32_t n_words;    /* words in the text, before truncation */
    int32_t n_unk;      /* of those, words that became the unknown-word token (or were dropped) */
    int32_t cap;
};

/* Encodes text with t over v. max_len > 0 truncates to max_len ids; for wordpiece that count
 * includes [CLS] and [SEP] and [SEP] is kept (as Hugging Face truncates), so max_len must be at
 * least 3. pieces: also fill e->pieces. Free with vm_encoding_free (also after an error). */
enum vm_status vm_text_encode(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text,
                              int32_t max_len, bool pieces, struct vm_encoding *e, struct vm_error *err);
void vm_encoding_free(struct vm_encoding *e);

/* Words tokenizer only: text into a malloc'd array of malloc'd tokens (free with vm_tokens_free). */
enum vm_status vm_tokenize(const struct vm_tokenizer *t, const char *text, char ***tokens,
                           int32_t *n, struct vm_error *err);
void vm_tokens_free(char **tokens, int32_t n);
/* Tokens -> ids (unknown words map to unk_id, or are dropped when there is none). Returns the
 * count; ids must have room for n. */
int32_t vm_encode(const struct vm_vocab *v, char **tokens, int32_t n, int32_t *ids);

/* One whole line of a zlib stream (plain files read through it too), however long: *line (grown as
 * needed, NUL-terminated) without its '\n' and a trailing '\r'; *len its length in bytes (more than
 * strlen when the line holds NUL bytes). Returns 1 for a
 * line, 0 at the end of the input, -1 on a read or allocation error (err names path). */
struct gzFile_s;
int vm_gz_getline(struct gzFile_s *f, const char *path, char **line, size_t *cap, size_t *len, struct vm_error *err);

/* Streams the examples of a label<TAB>text file (plain or .gz): every reader of data files goes
 * through it, so each line gets the same checks (file:line errors for a missing TAB or a bad label;
 * empty lines are skipped). */
struct vm_data_reader {
    struct gzFile_s *f;
    const char *path;
    char *line;
    size_t cap;
    int64_t lineno; /* of the example just returned */
};
enum vm_status vm_data_open(struct vm_data_reader *r, const char *path, struct vm_error *err);
/* The next example: *label and *text (valid until the next call). *text is NULL at the end. */
enum vm_status vm_data_next(struct vm_data_reader *r, int32_t *label, char **text, struct vm_error *err);
void vm_data_close(struct vm_data_reader *r);

struct vm_dataset {
    int64_t n;         /* examples */
    int32_t *labels;   /* [n] */
    int64_t *start;    /* [n + 1]: token ids of example i are ids[start[i] .. start[i+1]) */
    int32_t *ids;
    char **texts;      /* [n] original text (for reports and explanations) */
    int32_t max_len;   /* longest example after truncation */
    int32_t max_label;
    int64_t n_unk;     /* words mapped to unk (wordpiece: words that became [UNK]) */
    int64_t n_tokens;  /* words */
};

/* Reads a label<TAB>text file (".gz" is decompressed). max_len > 0 truncates. An empty text is
 * an error naming the line. */
enum vm_status vm_dataset_load(struct vm_dataset *d, const char *path, const struct vm_vocab *v,
                               const struct vm_tokenizer *t, int32_t max_len, struct vm_error *err);
void vm_dataset_free(struct vm_dataset *d);
/* Splits src into *rest and *part, part holding round(frac * n) examples (at least 1, and at least 1
 * left) chosen by a seeded shuffle; both keep src's order. The same seed gives the same split. */
enum vm_status vm_dataset_split(const struct vm_dataset *src, double frac, uint64_t seed, struct vm_dataset *rest,
                                struct vm_dataset *part, struct vm_error *err);
static inline int32_t vm_dataset_len(const struct vm_dataset *d, int64_t i) {
    return (int32_t)(d->start[i + 1] - d->start[i]);
}

/* A piece's share of its word's text: a continuation ("##ing", not the word's first piece) without
 * its ##; anything else as is. */
static inline const char *vm_piece_text(const char *piece, bool continuation) {
    return continuation && piece[0] == '#' && piece[1] == '#' && piece[2] ? piece + 2 : piece;
}

/* The special tokens of a WordPiece (BERT) vocabulary that a word mask must never drop: [CLS],
 * [SEP] and the pad token (the ids the loader detected), when the vocabulary has both [CLS] and
 * [SEP]. Writes up to cap ids; returns how many (0 for a word vocabulary). */
int vm_vocab_special_ids(const struct vm_vocab *v, int64_t *out, int cap);
/* True for pad, unk and the special ids above: tokens with no word importance of their own. */
bool vm_vocab_is_special(const struct vm_vocab *v, int32_t id);

#endif
