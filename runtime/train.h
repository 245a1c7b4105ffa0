/* train: the training loop over a training plan (compiler/training.h) — seeded shuffled
 * mini-batches padded to the batch's longest text, the beta schedule, one in-place progress line,
 * dev evaluation in inference mode after each epoch with the best-on-dev parameters kept,
 * checkpoints written atomically every epoch, every N steps or M minutes, and on interruption,
 * and exact resumption from any of them.
 *
 * Also the batch feeder that evaluation, prediction and explanation share: it finds the token-id
 * input (and its batch axis), fills companion inputs (attention masks with id != pad, token types
 * with 0), and reads logits/probabilities back.
 */
#ifndef VM_TRAIN_H
#define VM_TRAIN_H

#include <stdio.h>

#include "text.h"
#include "vmrt.h"

struct vm_feeder {
    struct vm_rt_model *m;
    int ids_input;      /* plan input holding token ids */
    int ids_batch_axis; /* 0: [B, T]; 1: [T, B] (time-major models) */
    int labels_input, beta_input, lr_input; /* -1 in inference plans */
    int logits_output;  /* the model's first output (logits or probabilities) */
    int loss_output, ce_output, info_output, q_output; /* -1 when absent */
    int n_inputs;
    int8_t role[16];    /* per input: 0 by name, 1 attention mask, 2 token types, 3 positions */
    int32_t pad_id;
    int32_t sep_id;     /* >= 0: sentence pairs: token types 1 after the first sep_id of a text
                         * (vm_token_types); -1 (vm_feeder_init's default): types 0 */
    int32_t min_len;    /* pad every batch to at least this many tokens (conv widths) */
    int32_t fixed_len;  /* > 0: the model's token input has this fixed length (every batch padded to it) */
    int32_t max_len;    /* > 0: the longest text the model's position table takes */
    const char *max_len_table; /* that table's name */
    int64_t n_classes;
    bool probs_output;  /* the model's output is already a probability distribution */
};

enum vm_status vm_feeder_init(struct vm_feeder *f, struct vm_rt_model *m, int32_t pad_id,
                              struct vm_error *err);

/* Binds a batch of token sequences (seqs[i] has lens[i] ids), padded to max(longest, min_len,
 * min_t), fills every input, and returns the instance ready to run. labels may be NULL. */
enum vm_status vm_feed(const struct vm_feeder *f, const int32_t *const *seqs, const int32_t *lens,
                       int64_t n, int32_t min_t, const int32_t *labels, double beta, double lr,
                       struct vm_rt_inst **inst, int64_t *T_out, struct vm_error *err);
/* Class probabilities [n, C] of the last run (softmax of logits unless the model outputs
 * probabilities). */
void vm_feeder_probs(const struct vm_feeder *f, struct vm_rt_inst *inst, int64_t n, float *probs);

/* One training step as a progress callback sees it (vm_train_cfg.on_step). */
struct vm_train_step {
    int epoch, epochs;      /* 1-based */
    int64_t step, steps;    /* 1-based step within the epoch */
    double loss, acc;       /* means over the epoch so far */
    double rate;            /* training sentences per second */
    double eta_s;           /* to the end of training, -1 unknown */
};

struct vm_train_cfg {
    int epochs;          /* default 20 */
    int batch;           /* default 50 */
    double lr;           /* default 1e-3 */
    double beta_start, beta_end; /* default 1.0 -> 0.109 (the release's values) */
    int beta_steps;      /* default 10 equal steps across the run */
    uint64_t seed;
    const char *checkpoint; /* path or NULL */
    int64_t checkpoint_every;  /* also checkpoint every N training steps (0 = off) */
    double checkpoint_minutes; /* ... and after this many minutes without one (default 10; 0 = off) */
    bool resume;
    FILE *progress;      /* NULL: silent */
    bool progress_tty;   /* redraw one line in place */
    volatile int *interrupted; /* set asynchronously (SIGINT) */
    const char *history_csv;   /* per-epoch metrics, or NULL */
    int64_t stop_after_steps;  /* tests: behave as interrupted after this many steps (0 = never) */
    /* Called after every step (libvmaskc's progress callback); non-zero stops as an interruption does. */
    int (*on_step)(void *ctx, const struct vm_train_step *st);
    void *on_step_ctx;
};

void vm_train_cfg_default(struct vm_train_cfg *c);
double vm_train_beta(const struct vm_train_cfg *c, int epoch /* 0-based */);

struct vm_epoch_stats {
    double train_loss, train_acc, dev_acc, beta, seconds;
    double train_seconds; /* the training steps alone (no dev evaluation) */
};

struct vm_train_result {
    int epochs_run;
    int best_epoch;      /* 1-based */
    double best_dev_acc;
    double test_acc;     /* -1 without a test set */
    struct vm_epoch_stats *history; /* epochs_run entries (owned) */
    double sentences_per_s;
    double first_step_at;  /* CLOCK_MONOTONIC seconds when the first training step of this run ended */
    double *step_seconds;  /* each training step's time (feed + run), n_steps entries (owned) */
    double *step_flops;    /* each training step's counted FLOPs (its padded length's), n_steps entries (owned) */
    size_t best_copy_bytes; /* the largest copy of the best epoch's parameters held (best-on-dev: taken when an
                             * earlier epoch was best and training goes on), 0 when none was needed */
    bool *step_cold;       /* each training step's batch shape was new (bound and prepared in the step), n_steps entries (owned) */
    double flops;          /* the counted FLOPs of all training steps (vm_rt_flops over the three ranges:
                            * dense-equivalent, so sparse convolution gradients count as dense) */
    int64_t n_steps;
    uint64_t comm_bytes;   /* data-parallel: bytes this process summed over processes in training steps */
    int64_t buckets, buckets_early; /* data-parallel: gradient buckets sent, and those started during backward */
    bool shared_error;     /* data-parallel: the error returned is every process's, at the same step
                            * (a non-finite loss, processes that diverged): nobody waits for another */
};

/* Trains; on return the model holds the best-on-dev parameters. VM_EINTERRUPTED after a
 * checkpoint was saved when *cfg->interrupted became non-zero. */
enum vm_status vm_train(const struct vm_feeder *f, const struct vm_train_cfg *cfg,
                        const struct vm_dataset *train, const struct vm_dataset *dev,
                        const struct vm_dataset *test, struct vm_train_result *res,
                        struct vm_error *err);
void vm_train_result_free(struct vm_train_result *r);

/* Binds the largest batch shape d will need — batch copies of its longest text — before any work,
 * so a text too long for the memory limit is an error naming its file:line and suggesting
 * --max-len, rather than a failure minutes in (the bind refuses it before any kernel set-up). */
enum vm_status vm_feeder_check_longest(const struct vm_feeder *f, const struct vm_dataset *d, int64_t batch, struct vm_error *err);

/* Accuracy (and mean cross-entropy when the plan has labels) in inference mode. */
enum vm_status vm_evaluate(const struct vm_feeder *f, const struct vm_dataset *d, int batch,
                           double *acc, struct vm_error *err);
/* The same, and with pred (may be NULL) each example's predicted class ([d->n]; data-parallel: the
 * rows of this process's batches, the others untouched). */
enum vm_status vm_evaluate_pred(const struct vm_feeder *f, const struct vm_dataset *d, int batch, double *acc, int32_t *pred,
                                struct vm_error *err);

/* Unpacks checkpoint bytes against f's model exactly as --resume does (the model's parameters and
 * optimizer state are overwritten; loop state and history are checked, then dropped). For fuzzing
 * the checkpoint reader without files. `what` names the bytes in messages. */
enum vm_status vm_train_checkpoint_check(const struct vm_feeder *f, const uint8_t *buf, size_t len, const char *what,
                                         int epochs, struct vm_error *err);

#endif
