/* progress.h: one explained example as bytes, for mpirun's gather and for progress.bin, and the
 * reader of progress.bin's records (tools/vmaskc/cmd_explain.c uses both; tests/fuzz/fuzz_progress.c
 * feeds the reader untrusted bytes). */
#ifndef VM_TOOL_PROGRESS_H
#define VM_TOOL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sbuf.h"

/* random and frequency are rankings without an explainer, the floor and a reference for AOPC */
enum { M_LIME, M_SHAP, M_MASK, M_RANDOM, M_FREQ, N_METHODS };
enum { N_DEFAULT_METHODS = M_RANDOM }; /* 'all': lime, shapley, mask */
#define MAX_AOPC_K 64                  /* AOPC K */

/* one example under one model */
struct xex {
    int32_t n;
    int32_t *ids;          /* [n] */
    char **tokens;         /* [n] the model's tokens (the text's words, also when unknown) */
    /* WordPiece models: the features are whole words (runtime/explain.h); NULL / 0 for a word
     * vocabulary, where every token is a word and nothing below is needed */
    int32_t *word_of;      /* [n] word of each token, -1 for [CLS] / [SEP] */
    int32_t n_words;       /* m */
    char **words;          /* [m] each word's text: its pieces joined without the ## */
    float *ww[N_METHODS];  /* [m] weight of each word, NULL = not computed */
    int32_t pred;
    float *probs;          /* [C] */
    float *w[N_METHODS];   /* [n] weight of each token (a piece: its word's; NAN for [CLS] / [SEP]), NULL = not computed */
    double lime_intercept, lime_score;
    int32_t lime_d;
    uint64_t lime_seed, shap_seed;
    double delta[N_METHODS][MAX_AOPC_K]; /* p0 - p(y | top-k deleted) */
    int32_t steps[N_METHODS];
    uint8_t *match;        /* [kmax], NULL = post-hoc not computed */
};

void xex_free(struct xex *e);

/* Appends the example's bytes (a fixed field order; C classes, kmax post-hoc k). */
void xex_pack(struct sbuf *b, const struct xex *e, int64_t C, int32_t kmax);

/* Reads one example from *p (advanced past it); false when the bytes before end do not hold one
 * (e is then partly filled: xex_free it). Counts are checked against the bytes left before
 * anything is allocated. */
bool xex_unpack(const uint8_t **p, const uint8_t *end, struct xex *e, int64_t C, int32_t kmax);

/* What a model's examples can hold: an example read from disk is taken only when it names what
 * this run could have written (ids of the vocabulary, its classes, words of its own text, the
 * methods and post-hoc accuracy it runs). */
struct xex_expect {
    int32_t vocab_n;
    int64_t n_classes;
    bool method[N_METHODS];
    bool posthoc; /* post-hoc accuracy with kmax > 0 */
};
bool xex_sane(const struct xex *e, const struct xex_expect *x);

/* progress.bin: the header's text, then records
 *   "VXEC" model:i32 index:i64 secs:f64[N] passes:i64[N] texts:i64 runs:i64 len:u32 bytes[len] fnv1a:u64
 * (host byte order: the file is for resuming on the machine kind that wrote it). */
#define PROGRESS_MAGIC "vmaskc explain progress 1\n"
#define PROGRESS_RECORD 0x43455856u /* "VXEC" */

struct progress_record {
    int32_t model;
    int64_t index;
    double secs[N_METHODS];  /* this example's time and forward passes, per method */
    int64_t passes[N_METHODS];
    int64_t texts, runs;
    struct xex e;
};

/* Writes one record; false on a write error. */
bool progress_write(FILE *f, const struct progress_record *r, const uint8_t *bytes, uint32_t len);

/* Reads the next record of f (x[model] for each of n_models; index < n_sel; C, kmax as written):
 * 1 a whole, sane record in *r (its e to be taken or xex_free'd), 0 the end or a record cut
 * short, damaged or naming what this run could not have written (the file is good up to the
 * offset before it), -1 out of memory. */
int progress_read(FILE *f, int n_models, int64_t n_sel, const struct xex_expect *x, int32_t kmax, struct progress_record *r);

/* The first line where two headers differ, for an error message ("'..' there, '..' now"). */
void progress_first_difference(const char *a, const char *b, char *out, size_t n);

#endif
