/* train_run: training as `vmaskc train` does it, as one library call (train_run.c). The command
 * fills a job from its options and calls it (printing to stdout, Ctrl-C through tc.interrupted,
 * Open MPI's processes through lead/n_proc); vmaskc_train fills one from its config (silent, its
 * progress callback through tc.on_step). */
#ifndef VM_TRAIN_RUN_H
#define VM_TRAIN_RUN_H

#include <stdio.h>

#include "../../compiler/training.h"
#include "../train.h"
#include "../vectors.h"
#include "load.h"

struct vm_train_job {
    const char *model;        /* the ONNX classifier */
    const char *vocab_path;   /* NULL: the vocabulary stored in the model (a vmaskc export) */
    const char *train_path, *dev_path, *test_path; /* dev NULL: dev_split > 0; test NULL: none */
    const char *out;          /* the export (checked writable by the caller) */
    const char *pad, *unk;    /* NULL: the vocabulary's own */
    const char *labels_path;  /* class names, one per line (NULL: the model's, else TRAIN's names) */
    const char *vectors;      /* pre-trained word vectors for the embedding table, NULL none */
    const char *tok_kind;     /* "words", "kim", "wordpiece"; NULL: the model's, or detected */
    enum vm_vectors_format vectors_format;
    double oov_init;          /* rows --vectors lacks: uniform(-oov_init, oov_init) */
    double dev_split;         /* > 0: hold out this fraction of TRAIN as dev */
    double iba_beta;
    long long top, min_freq;  /* the closing word list: top words seen min_freq times */
    long long max_len;        /* > 0 truncates */
    bool mask_output, profile, timings, allow_short;
    bool case_given, punct_given; /* tok's lowercase / split_punct were set by the caller */
    bool lead;                /* process 0 (or the only one): exports */
    int n_proc;               /* data-parallel processes */
    struct vm_model_opts mo;
    struct vm_train_opts to;  /* method resolved by the caller (freeze, mask_after, train_embedding, ...) */
    struct vm_train_cfg tc;   /* epochs, batch, lr, beta, checkpoint, history, progress, interrupted, on_step */
    struct vm_tokenizer tok;
    struct vm_data_opts dopts;
    FILE *log;                /* the report lines (`vmaskc train`'s stdout), NULL: silent */
    /* Called once set-up (data, graph, plan, runtime, length checks) has succeeded, before the first
     * step: `vmaskc train`'s agreement point between Open MPI processes (NULL: none). Non-zero stops
     * the run with that exit code in setup_rc, already reported. */
    int (*setup_done)(void);
    double t_start;           /* vm_train_job_clock() at the start, for --timings */
    /* results, after a successful run (vm_train_job_free releases them) */
    struct vm_train_result res;
    int64_t n_classes;
    bool setup_passed;        /* setup_done was reached (set-up errors come before it) */
    int setup_rc;             /* setup_done's non-zero code */
    bool shared_error;        /* the run failed with an error every process met (res.shared_error) */
};

/* Defaults as `vmaskc train` has them. */
void vm_train_job_init(struct vm_train_job *j);
enum vm_status vm_train_job_run(struct vm_train_job *j, struct vm_error *err);
void vm_train_job_free(struct vm_train_job *j);
double vm_train_job_clock(void);

/* Reads v's rows from a word-vectors file (vm_vectors_read; progress on stderr when log) and
 * reports to log how much of the vocabulary (and of tok_total tokens, counted per id) they cover. */
enum vm_status vm_vectors_read_report(const char *path, enum vm_vectors_format fmt, const struct vm_vocab *v, int32_t dim,
                                      const char *dim_what, float *table, uint8_t *found, const int64_t *tok_count,
                                      int64_t tok_total, const char *tok_what, FILE *log, struct vm_error *err);

#endif
