/* text: vocabulary, tokenizers and labelled datasets for text classifiers.
 *
 * vocab.txt has one token per line; line i (from 0) is token id i. Two tokenizers, chosen per
 * vocabulary (vm_tokenizer_for_vocab) and reached through one entry point, vm_text_encode, which
 * every command and the dataset loader use:
 *  - words, Unicode (the default for new models): NFKC, Unicode case folding, then letters, marks
 *    and digits of every script make words; each CJK ideograph and each other symbol (emoji, ©)
 *    is a token of its own; other punctuation and symbols separate words, except that ASCII
 *    follows Kim's rules below (so ( ) , ! ? stand alone and the clitics split off) and U+2019 is an
 *    apostrophe. On lower-case ASCII text it gives Kim's tokens exactly.
 *  - words, Kim (t->kim; what exports before the Unicode tokenizer used, and the paper): Kim
 *    (2014)'s clean_str, which the VMASK authors' pipeline used: characters other than
 *    ASCII letters, digits and ( ) , ! ? ' ` become spaces; the clitics 's 've n't 're 'd 'll split
 *    off; , ! ? ( ) stand alone; then lower-casing (both steps can be turned off).
 *    Whole words are looked up; unknown ones become <unk> (or are dropped when the vocabulary has none).
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
/* The first id at which two vocabularies hold different tokens (-1 when none of the ids both have
 * differs) and how many of those ids differ. */
int32_t vm_vocab_first_diff(const struct vm_vocab *a, const struct vm_vocab *b, int32_t *differ);
/* --vocab given (v, read from v_path) for a model that stores its own vocabulary (stored_text):
 * they must be the same list, or every id would reach the wrong embedding row; an error otherwise
 * that names both and the first id that differs. */
enum vm_status vm_vocab_check_stored(const struct vm_vocab *v, const char *v_path, const char *stored_text, const char *model,
                                     struct vm_error *err);
/* Newline-joined tokens (caller frees). */
char *vm_vocab_to_text(const struct vm_vocab *v, struct vm_error *err);

enum vm_tokenizer_kind {
    VM_TOKENIZER_WORDS,     /* Kim-2014 words, looked up whole */
    VM_TOKENIZER_WORDPIECE, /* BERT WordPiece, as Hugging Face's BertTokenizer */
};

struct vm_tokenizer {
    enum vm_tokenizer_kind kind;
    bool lowercase;         /* default true. wordpiece: uncased (lower-case and strip accents) */
    bool split_punct;       /* words only; default true: Kim-2014 cleaning (Unicode: punctuation split) */
    bool kim;               /* words only: Kim-2014's ASCII cleanup instead of the Unicode word tokenizer;
                             * a model whose metadata has vmaskc.tokenizer=words and no
                             * vmaskc.words.cleanup was trained with it */
    int32_t max_word_chars; /* wordpiece: a longer word is [UNK] (Hugging Face: 100) */
    bool pairs;             /* wordpiece: a TAB in the text separates a sentence pair, encoded as
                             * Hugging Face's tokenizer(a, b): [CLS] a [SEP] b [SEP], token types 1 on
                             * b and its [SEP] (vm_token_types), truncated longest-first */
};

/* Defaults: words (Unicode), lower-cased, punctuation split; a word over 100 characters is [UNK]
 * for wordpiece. */
void vm_tokenizer_default(struct vm_tokenizer *t);
const char *vm_tokenizer_kind_name(enum vm_tokenizer_kind k);
/* "words" (Unicode), "kim" or "wordpiece": what --tokenizer takes to choose t again. */
const char *vm_tokenizer_name(const struct vm_tokenizer *t);
/* The --tokenizer name for a model's metadata: vmaskc.tokenizer and vmaskc.words.cleanup. A words
 * model without "unicode" cleanup (every export before the Unicode tokenizer; kind NULL: an export
 * without the key, older still) is "kim". */
const char *vm_tokenizer_from_meta(const char *kind, const char *cleanup);
/* Chooses t->kind for vocabulary v (`what` names it in messages): `force` "words", "kim" (words with
 * Kim's cleanup) or "wordpiece" decides, NULL detects (keeping t->kim for words) — [CLS], [SEP] and ## continuation pieces make a WordPiece vocabulary.
 * A vocabulary that fits neither (## pieces without the BERT specials, byte-level BPE or
 * SentencePiece entries) or a WordPiece one without [CLS], [SEP] or [UNK] is an error, and so is
 * t->pairs (set before) with anything but WordPiece. */
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
 * least 3. With t->pairs, a text with a TAB is the pair (before the first TAB, after it): both
 * [SEP]s kept, the pieces cut as Hugging Face's longest-first truncation cuts them, and word_of
 * numbering the second text's words after the first's. pieces: also fill e->pieces. Free with
 * vm_encoding_free (also after an error). */
enum vm_status vm_text_encode(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text,
                              int32_t max_len, bool pieces, struct vm_encoding *e, struct vm_error *err);
void vm_encoding_free(struct vm_encoding *e);
/* Token types of an encoded text as BERT takes them: 0 up to and including the first sep_id, 1
 * after it (a pair's second text and its [SEP]); all 0 when sep_id < 0 (single texts). */
void vm_token_types(const int32_t *ids, int32_t n, int32_t sep_id, int32_t *types);
/* The one rule behind them: where the second text starts, the index after the first sep_id (n when
 * there is none or sep_id < 0). The training feeder uses it too. */
int32_t vm_pair_second_start(const int32_t *ids, int32_t n, int32_t sep_id);

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

/* Class names: id i is names[i]. n == 0: the labels are the integers 0..C-1 themselves. */
struct vm_labels {
    char **names;
    int32_t n;
};
/* From newline-separated names (a --labels file's text or vmaskc.labels metadata; `what` names it):
 * empty, duplicate or TAB-holding names are errors. */
enum vm_status vm_labels_from_text(struct vm_labels *l, const char *text, const char *what, struct vm_error *err);
enum vm_status vm_labels_load(struct vm_labels *l, const char *path, struct vm_error *err);
/* Newline-joined names (caller frees). */
char *vm_labels_to_text(const struct vm_labels *l, struct vm_error *err);
/* The id of a name, -1 when it is not one. */
int32_t vm_labels_find(const struct vm_labels *l, const char *name);
/* A class for people: its name, or its number written into buf. */
const char *vm_labels_name(const struct vm_labels *l, int64_t id, char *buf, size_t n);
void vm_labels_free(struct vm_labels *l);

enum vm_data_format { VM_DATA_AUTO, VM_DATA_TSV, VM_DATA_CSV, VM_DATA_JSONL };

/* How to read a data file. All-zero (or NULL) means: the format from the file name, TSV's
 * defaults, integer labels, invalid UTF-8 an error. */
struct vm_data_opts {
    enum vm_data_format format;    /* AUTO: .csv, .jsonl/.ndjson, else TSV (.gz stripped first) */
    const char *text_column;       /* csv: a header name or a 0-based index; NULL: "text" with a header, 1 without */
    const char *label_column;      /* csv: likewise; NULL: "label" with a header, 0 without */
    int header;                    /* csv: 1 the first record names the columns, -1 it does not, 0 detect:
                                    * a header when a field of it is the text or label column's name */
    const char *text_field;        /* jsonl: NULL = "text" */
    const char *text_pair_column;  /* csv: the second text of a sentence pair (name or index); NULL: none */
    const char *text_pair_field;   /* jsonl: likewise. The pair is returned as "a<TAB>b" (TABs inside a
                                    * become spaces, whitespace to every tokenizer), as a TSV line
                                    * label<TAB>a<TAB>b reads */
    const char *label_field;       /* jsonl: NULL = "label" */
    bool replace_invalid;          /* invalid UTF-8 and NUL bytes become U+FFFD instead of an error */
    bool ignore_labels;            /* any label, read as class 0: for corpora that only count words */
    const struct vm_labels *labels; /* class names: a label must be one of them; NULL or empty:
                                    * labels are non-negative integers */
};
/* "tsv", "csv", "jsonl" (or "ndjson") -> *f; false for anything else. */
bool vm_data_parse_format(const char *s, enum vm_data_format *f);
const char *vm_data_format_name(enum vm_data_format f);

/* Checks that s[0..len) is UTF-8 without NUL bytes. On a problem: with replace, *out is a malloc'd
 * copy with each invalid byte or NUL as U+FFFD (else *out = NULL: nothing to replace); without,
 * an error "<what>: invalid UTF-8 byte 0x.. at byte N" (or "NUL byte at byte N"). */
enum vm_status vm_utf8_check(const char *s, size_t len, bool replace, char **out, const char *what, struct vm_error *err);

/* Streams the examples of a data file — label<TAB>text TSV, CSV or JSON Lines, plain or .gz:
 * every reader of data files goes through it, so each record gets the same checks (file:line
 * errors for a missing TAB, column or field, a bad label, invalid UTF-8; empty lines are skipped;
 * a UTF-8 byte-order mark is skipped). */
struct vm_data_reader {
    struct gzFile_s *f;
    const char *path;
    struct vm_data_opts o;
    enum vm_data_format format;
    char *line;
    size_t cap;
    int64_t lineno;     /* the line the example just returned starts on */
    int64_t phys;       /* lines read so far */
    bool raw_labels;    /* return *label = -1 and the label's text in label_text, unchecked */
    const char *label_text; /* the label as written, valid until the next call */
    int text_col, label_col; /* csv: resolved 0-based columns, -1 before the first record */
    int pair_col;       /* csv: the pair's second text column, -1 none */
    char *pair;         /* csv/jsonl with a pair column/field: "a<TAB>b" */
    size_t pair_cap;
    char *rec;          /* csv: the record's fields, each NUL-terminated */
    size_t rec_cap;
    size_t *fields;     /* csv: offsets of the fields in rec */
    size_t rec_len;     /* csv: bytes of rec used (fields may hold NUL bytes: lengths come from offsets) */
    int n_fields, fields_cap;
    char *clean;        /* the text (or label) with invalid bytes replaced */
    char *clean_label;
    char num[32];       /* a JSON integer label as text */
    void *json;         /* jsonl: the parsed line (json_object *) */
};
enum vm_status vm_data_open(struct vm_data_reader *r, const char *path, const struct vm_data_opts *o, struct vm_error *err);
/* The next example: *label and *text (valid until the next call). *text is NULL at the end. */
enum vm_status vm_data_next(struct vm_data_reader *r, int32_t *label, char **text, struct vm_error *err);
void vm_data_close(struct vm_data_reader *r);
/* The class names of a training file: *out empty when every label is a non-negative integer,
 * else the sorted set of the labels as written. */
enum vm_status vm_data_collect_labels(const char *path, const struct vm_data_opts *o, struct vm_labels *out,
                                      struct vm_error *err);

struct vm_dataset {
    int64_t n;         /* examples */
    int32_t *labels;   /* [n] */
    int64_t *start;    /* [n + 1]: token ids of example i are ids[start[i] .. start[i+1]) */
    int32_t *ids;
    char **texts;      /* [n] original text (for reports and explanations) */
    int64_t *line;     /* [n] the line of path each example starts on (for messages) */
    const char *path;  /* the file read (the caller's string) */
    int32_t max_len;   /* longest example after truncation */
    int32_t max_label;
    int64_t n_unk;     /* words mapped to unk (wordpiece: words that became [UNK]) */
    int64_t n_tokens;  /* words */
};

/* Reads a data file through vm_data_open (o may be NULL). max_len > 0 truncates. An empty text is
 * an error naming the line. */
enum vm_status vm_dataset_load(struct vm_dataset *d, const char *path, const struct vm_vocab *v,
                               const struct vm_tokenizer *t, int32_t max_len, const struct vm_data_opts *o,
                               struct vm_error *err);
void vm_dataset_free(struct vm_dataset *d);
/* VM_OK when every label is below n_classes; else an error naming the first example's path:line. */
enum vm_status vm_dataset_check_labels(const struct vm_dataset *d, int64_t n_classes, struct vm_error *err);
/* The example with the most ids (the first of them). */
int64_t vm_dataset_longest(const struct vm_dataset *d);
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
