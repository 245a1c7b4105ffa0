/* vectors: pre-trained word vectors for a vocabulary's embedding rows.
 *
 * Formats (each may be gzip-compressed; zlib reads plain files too):
 *  - text: `word v1 ... vD` per line — GloVe (no header), word2vec text and fastText `.vec` (a
 *    first line `count dim`);
 *  - binary: word2vec's binary format — the `count dim` header line, then per row the word, a
 *    space, D little-endian float32 and (usually) a newline.
 * The format is detected (a header line `count dim` whose first row is not D numbers of text is
 * binary) unless forced. The file is streamed: only the rows of the vocabulary's words are kept,
 * written straight into the caller's table, so memory is the table plus one line.
 *
 * Every row is checked for its shape (D values, the header's count); the values of the rows that
 * are kept are also checked to be finite numbers. Errors name the file and line (text) or byte
 * offset (binary).
 *
 * Matching: a vocabulary word takes the row of the same word; failing that, the row of its
 * lower-cased form (Unicode lower case). The first row of a word wins. The pad and unknown-word
 * tokens are never looked up: the pad row is zero, the unknown-word row is drawn like any missing
 * word (vm_vectors_fill_missing).
 */
#ifndef VM_VECTORS_H
#define VM_VECTORS_H

#include <stdio.h>

#include "text.h"

enum vm_vectors_format {
    VM_VECTORS_AUTO = 0,
    VM_VECTORS_TEXT,   /* GloVe, word2vec text, fastText .vec */
    VM_VECTORS_BINARY, /* word2vec binary */
};
/* "auto", "text", "binary" -> format; false when unknown. */
bool vm_vectors_parse_format(const char *s, enum vm_vectors_format *out);

enum {
    VM_VECTOR_MISSING = 0,
    VM_VECTOR_EXACT = 1,   /* the word's own row */
    VM_VECTOR_LOWER = 2,   /* the row of its lower-cased form */
};

struct vm_vectors_info {
    enum vm_vectors_format format; /* as read: text or binary */
    bool header;                   /* the file starts with `count dim` */
    int64_t rows;                  /* rows in the file */
    int32_t dim;
    int32_t n_words;               /* vocabulary entries looked up (all but pad and unk) */
    int32_t n_exact, n_lower;      /* of those, found as themselves / lower-cased */
};

struct vm_vectors_opts {
    enum vm_vectors_format format; /* AUTO: detect */
    int32_t dim;                   /* > 0: the file's dimension must be this (dim_what names it) */
    const char *dim_what;          /* e.g. "the embedding table 'emb.weight'" */
    FILE *progress;                /* a progress line while reading (NULL: quiet) */
    bool progress_tty;             /* rewrite it in place ("\r") instead of a line every 10 s */
};

/* Streams path; for every entry of v found there copies its vector into row id of table
 * [v->n, dim] (table NULL: coverage only) and sets found[id] (VM_VECTOR_*; found has v->n
 * entries, zeroed by the caller). */
enum vm_status vm_vectors_read(const char *path, const struct vm_vocab *v, const struct vm_vectors_opts *o, float *table,
                               uint8_t *found, struct vm_vectors_info *info, struct vm_error *err);

/* Rows [0, rows) of table [rows, dim] not found (found[id] == VM_VECTOR_MISSING, or id >= n_found)
 * get uniform(-a, a) values from a counter-based generator keyed by (seed, row, column), so a
 * row's values do not depend on the table's size or the file; pad_id's row (>= 0) becomes zero. */
void vm_vectors_fill_missing(float *table, int64_t rows, int32_t dim, const uint8_t *found, int64_t n_found, int32_t pad_id,
                             double a, uint64_t seed);

#endif
