/* train: batch feeder, training loop, evaluation and checkpoints (see train.h).
 *
 * Determinism: the shuffle of epoch e comes from (seed, e); every stochastic kernel draws from the
 * runtime's counter RNG, whose counter advances once per run and is saved in checkpoints. So a
 * resumed run replays exactly what an uninterrupted one would have done.
 *
 * Data-parallel (runtime/dist.h, several processes under mpirun): every process holds the whole
 * model and data and walks the same global batches; train_step runs its share of each and adds
 * the gradients over processes, so every process applies the same update and ends with the same
 * model as one process would (up to float summation order). Process 0 alone prints, writes
 * checkpoints and the history; the others read a checkpoint from it on --resume.
 *
 * Checkpoints hold everything the numbers depend on (parameters, Adam moments and step, the
 * best-on-dev parameters and accuracy, the history, epoch and step, the RNG counter, the partial
 * epoch's loss/accuracy sums) and are written only by reading that state, so taking one at a step
 * or when a timer fires changes nothing in the run. Each is written atomically, so a kill -9 at any
 * moment leaves the previous or the new one. Wall-clock time decides only *when* one is taken.
 */
#include "train.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"
#include "pbio.h"
#include "rt.h"
#include "text.h"
#include "vmplan.pb-c.h"

#define VM_CKPT_FORMAT 1
#define MAX_INPUTS 16

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int find_input(const struct vm_rt_model *m, const char *name) {
    for (int i = 0; i < m->plan.n_inputs; i++)
        if (!strcmp(m->plan.inputs[i].name, name)) return i;
    return -1;
}

static int find_output(const struct vm_rt_model *m, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < m->plan.n_outputs; i++)
        if (!strcmp(m->plan.outputs[i].name, name)) return i;
    return -1;
}

static long meta_int(const struct vm_rt_model *m, const char *key, long def) {
    const char *v = vm_rt_meta(m, key);
    return v ? strtol(v, NULL, 10) : def;
}

enum vm_status vm_feeder_init(struct vm_feeder *f, struct vm_rt_model *m, int32_t pad_id,
                              struct vm_error *err) {
    memset(f, 0, sizeof *f);
    f->m = m;
    f->pad_id = pad_id;
    f->sep_id = -1;
    f->n_inputs = m->plan.n_inputs;
    if (f->n_inputs > MAX_INPUTS) return vm_errorf(err, VM_EUNSUPPORTED, "the model has %d inputs (at most %d)", f->n_inputs, MAX_INPUTS);
    const char *ids = vm_rt_meta(m, "vmaskc.ids_input");
    f->ids_input = ids ? find_input(m, ids) : -1;
    /* roles the compiler recorded (vmaskc.role.NAME): 1 mask, 2 types, 3 positions */
    for (int i = 0; i < f->n_inputs; i++) {
        char key[300];
        snprintf(key, sizeof key, "vmaskc.role.%s", m->plan.inputs[i].name);
        const char *r = vm_rt_meta(m, key);
        f->role[i] = !r ? 0 : !strcmp(r, "mask") ? 1 : !strcmp(r, "types") ? 2 : !strcmp(r, "positions") ? 3 : 0;
        if (r && !strcmp(r, "ids") && f->ids_input < 0) f->ids_input = i;
    }
    if (f->ids_input < 0) {
        for (int i = 0; i < f->n_inputs; i++) {
            const struct vm_rt_value *v = &m->plan.values[m->plan.inputs[i].value];
            if ((v->dtype == VM_DTYPE_INT64 || v->dtype == VM_DTYPE_INT32) && v->rank == 2 && !(v->flags & VM_VALUE_AUX)) {
                f->ids_input = i;
                break;
            }
        }
    }
    if (f->ids_input < 0) return vm_errorf(err, VM_EUNSUPPORTED, "the model has no token-id input (an integer [batch, seq] tensor)");
    f->ids_batch_axis = (int)meta_int(m, "vmaskc.ids_batch_axis", 0);
    f->labels_input = find_input(m, "labels");
    f->beta_input = find_input(m, "beta");
    f->lr_input = find_input(m, "lr");
    f->logits_output = 0;
    f->loss_output = find_output(m, vm_rt_meta(m, "vmaskc.out.loss"));
    f->ce_output = find_output(m, vm_rt_meta(m, "vmaskc.out.ce"));
    f->info_output = find_output(m, vm_rt_meta(m, "vmaskc.out.info"));
    f->q_output = find_output(m, vm_rt_meta(m, "vmaskc.out.q"));
    f->min_len = (int32_t)meta_int(m, "vmaskc.min_seq", 1);
    long max_seq = meta_int(m, "vmaskc.max_seq", 0);
    f->max_len = max_seq > 0 && max_seq <= INT32_MAX ? (int32_t)max_seq : 0;
    f->max_len_table = vm_rt_meta(m, "vmaskc.max_seq_table");
    {
        /* a model exported with a fixed sequence length takes exactly that many tokens */
        const struct vm_rt_value *v = &m->plan.values[m->plan.inputs[f->ids_input].value];
        const struct vm_rt_poly *d = &v->dims[1 - f->ids_batch_axis];
        if (d->n == 1 && m->plan.terms[d->first].n == 0 && m->plan.terms[d->first].coef > 0 &&
            m->plan.terms[d->first].coef <= INT32_MAX)
            f->fixed_len = (int32_t)m->plan.terms[d->first].coef;
        else if (d->n == 0)
            f->fixed_len = -1; /* a zero-length token axis: nothing to feed */
    }
    if (f->fixed_len < 0)
        return vm_errorf(err, VM_EUNSUPPORTED, "the model's token input '%s' has a sequence length of 0",
                         m->plan.inputs[f->ids_input].name);
    f->n_classes = meta_int(m, "vmaskc.classes", 0);
    f->probs_output = meta_int(m, "vmaskc.probs_output", 0) != 0;
    return VM_OK;
}

enum vm_status vm_feed(const struct vm_feeder *f, const int32_t *const *seqs, const int32_t *lens,
                       int64_t n, int32_t min_t, const int32_t *labels, double beta, double lr,
                       struct vm_rt_inst **inst, int64_t *T_out, struct vm_error *err) {
    struct vm_rt_model *m = f->m;
    int64_t T = f->min_len > min_t ? f->min_len : min_t;
    for (int64_t i = 0; i < n; i++)
        if (lens[i] > T) T = lens[i];
    if (T < 1) T = 1;
    if (f->max_len > 0 && T > f->max_len) {
        int64_t longest = 0;
        for (int64_t i = 0; i < n; i++)
            if (lens[i] > longest) longest = lens[i];
        if (longest > f->max_len)
            return vm_errorf(err, VM_EINVAL, "a text has %lld tokens, longer than the model's position table ('%s' has %d rows); "
                             "truncate the texts with --max-len %d", (long long)longest,
                             f->max_len_table ? f->max_len_table : "?", f->max_len, f->max_len);
        T = f->max_len; /* padding for a convolution must not pass the table either */
    }
    if (f->fixed_len > 0) {
        if (T > f->fixed_len) {
            int64_t longest = 0;
            for (int64_t i = 0; i < n; i++)
                if (lens[i] > longest) longest = lens[i];
            return vm_errorf(err, VM_EINVAL, "a text has %lld tokens, but the model takes exactly %d tokens per text (its input "
                             "'%s' has a fixed length); truncate the texts with --max-len %d",
                             (long long)longest, f->fixed_len, m->plan.inputs[f->ids_input].name, f->fixed_len);
        }
        T = f->fixed_len;
    }
    int64_t dims[MAX_INPUTS][VM_MAX_RANK];
    const int64_t *dp[MAX_INPUTS];
    int ranks[MAX_INPUTS];
    for (int i = 0; i < f->n_inputs; i++) {
        const struct vm_rt_value *v = &m->plan.values[m->plan.inputs[i].value];
        ranks[i] = v->rank;
        dp[i] = dims[i];
        if (i == f->labels_input) dims[i][0] = n;
        else if (v->rank == 2) {
            dims[i][f->ids_batch_axis] = n;
            dims[i][1 - f->ids_batch_axis] = T;
        } else if (v->rank != 0) {
            return vm_errorf(err, VM_EUNSUPPORTED, "input '%s' has rank %d; vmaskc feeds token-id inputs [batch, seq] and scalars",
                             m->plan.inputs[i].name, v->rank);
        }
    }
    enum vm_status s = vm_rt_bind(m, dp, ranks, inst, err);
    if (s) return s;
    for (int i = 0; i < f->n_inputs; i++) {
        struct vm_rt_tensor t = vm_rt_input(*inst, i);
        const char *name = m->plan.inputs[i].name;
        if (i == f->labels_input) {
            int64_t *p = t.data;
            for (int64_t b = 0; b < n; b++) p[b] = labels ? labels[b] : 0;
        } else if (i == f->beta_input || i == f->lr_input) {
            *(float *)t.data = (float)(i == f->beta_input ? beta : lr);
        } else if (t.rank == 2) {
            /* token ids, or a companion: attention mask (1 on real tokens), token types (0) or
             * positions (0..T-1, on padding too, as Hugging Face's arange) */
            int kind = i == f->ids_input ? 0 : f->role[i] ? f->role[i] : strstr(name, "mask") ? 1 : 2;
            for (int64_t b = 0; b < n; b++) {
                /* token types: 1 after the first [SEP] of a sentence pair (vm_token_types) */
                int64_t second = kind == 2 && f->sep_id >= 0 ? vm_pair_second_start(seqs[b], lens[b], f->sep_id) : T;
                for (int64_t k = 0; k < T; k++) {
                    int64_t v = kind == 3 ? k : k < lens[b] ? (kind == 0 ? seqs[b][k] : kind == 1 ? 1 : k >= second) : (kind == 0 ? f->pad_id : 0);
                    if (kind == 0 && v < 0) v = 0;
                    int64_t at = f->ids_batch_axis == 0 ? b * T + k : k * n + b;
                    if (t.dtype == VM_DTYPE_INT64) ((int64_t *)t.data)[at] = v;
                    else ((int32_t *)t.data)[at] = (int32_t)v;
                }
            }
        } else if (t.nbytes) {
            memset(t.data, 0, t.nbytes);
        }
    }
    if (T_out) *T_out = T;
    return VM_OK;
}

void vm_feeder_probs(const struct vm_feeder *f, struct vm_rt_inst *inst, int64_t n, float *probs) {
    struct vm_rt_tensor t = vm_rt_output(inst, f->logits_output);
    int64_t C = t.numel / (n ? n : 1);
    const float *x = t.data;
    for (int64_t b = 0; b < n; b++) {
        const float *row = x + b * C;
        float *out = probs + b * C;
        if (f->probs_output) {
            memcpy(out, row, (size_t)C * sizeof *out);
            continue;
        }
        float mx = row[0];
        for (int64_t k = 1; k < C; k++) mx = row[k] > mx ? row[k] : mx;
        double sum = 0;
        for (int64_t k = 0; k < C; k++) sum += exp((double)row[k] - mx);
        for (int64_t k = 0; k < C; k++) out[k] = (float)(exp((double)row[k] - mx) / sum);
    }
}

static int64_t argmax_row(const float *row, int64_t C) {
    int64_t best = 0;
    for (int64_t k = 1; k < C; k++)
        if (row[k] > row[best]) best = k;
    return best;
}

void vm_train_cfg_default(struct vm_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 20;
    c->batch = 50;
    c->lr = 1e-3;
    c->beta_start = 1.0;
    c->beta_end = 0.109;
    c->beta_steps = 10;
    c->seed = 1;
    c->checkpoint_minutes = 10;
}

/* Epochs split into beta_steps equal blocks; beta moves linearly from start to end across blocks
 * (the release: 100 epochs, 10 blocks, 1.0, 0.901, ..., 0.109). */
double vm_train_beta(const struct vm_train_cfg *c, int epoch) {
    int steps = c->beta_steps > 1 ? c->beta_steps : 1;
    if (steps == 1 || c->epochs <= 1) return c->beta_start;
    int k = (int)((int64_t)epoch * steps / c->epochs);
    if (k >= steps) k = steps - 1;
    return c->beta_start + (c->beta_end - c->beta_start) * (double)k / (double)(steps - 1);
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void shuffle(int64_t *order, int64_t n, uint64_t seed, int epoch) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    uint64_t st = mix64(seed ^ mix64((uint64_t)epoch + 0x51ed27u));
    for (int64_t i = n - 1; i > 0; i--) {
        st = mix64(st);
        int64_t j = (int64_t)(st % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

enum vm_status vm_evaluate(const struct vm_feeder *f, const struct vm_dataset *d, int batch,
                           double *acc, struct vm_error *err) {
    return vm_evaluate_pred(f, d, batch, acc, NULL, err);
}

enum vm_status vm_evaluate_pred(const struct vm_feeder *f, const struct vm_dataset *d, int batch, double *acc, int32_t *pred,
                                struct vm_error *err) {
    int64_t correct = 0;
    const int32_t *seqs[4096];
    int32_t lens[4096];
    if (batch > 4096) batch = 4096;
    float *probs = vm_malloc(sizeof(float) * (size_t)batch * (size_t)(f->n_classes > 0 ? f->n_classes : 64), err);
    if (!probs) return VM_ENOMEM;
    int P = vm_dist_size(), rank = vm_dist_rank();
    uint64_t counter = vm_rt_rng_counter(f->m);
    for (int64_t b0 = 0; b0 < d->n; b0 += batch) {
        int64_t nb = d->n - b0 < batch ? d->n - b0 : batch;
        /* data-parallel: whole batches round-robin, so each is padded as one process pads it */
        if ((b0 / batch) % P != rank) continue;
        for (int64_t i = 0; i < nb; i++) {
            seqs[i] = d->ids + d->start[b0 + i];
            lens[i] = vm_dataset_len(d, b0 + i);
        }
        struct vm_rt_inst *inst;
        enum vm_status s = vm_feed(f, seqs, lens, nb, 0, d->labels + b0, 0.0, 0.0, &inst, NULL, err);
        if (!s) s = vm_rt_run(inst, VM_RT_FORWARD, false, err);
        if (s) {
            free(probs);
            return s;
        }
        struct vm_rt_tensor lt = vm_rt_output(inst, f->logits_output);
        int64_t C = lt.numel / nb;
        for (int64_t i = 0; i < nb; i++) {
            int64_t y = argmax_row((const float *)lt.data + i * C, C);
            correct += y == d->labels[b0 + i];
            if (pred) pred[b0 + i] = (int32_t)y;
        }
    }
    free(probs);
    correct = vm_dist_sum_i64(correct);
    /* the RNG counter moves once per batch, as when one process evaluates them all */
    vm_rt_set_seed(f->m, f->m->seed, counter + (uint64_t)((d->n + batch - 1) / batch));
    *acc = d->n ? (double)correct / (double)d->n : 0.0;
    return VM_OK;
}

enum vm_status vm_feeder_check_longest(const struct vm_feeder *f, const struct vm_dataset *d, int64_t batch, struct vm_error *err) {
    if (d->n == 0) return VM_OK;
    int64_t i = vm_dataset_longest(d), n = batch < d->n ? batch : d->n;
    int32_t len = vm_dataset_len(d, i);
    const int32_t **seqs = vm_malloc(sizeof *seqs * (size_t)n, err);
    int32_t *lens = vm_malloc(sizeof *lens * (size_t)n, err);
    enum vm_status s = seqs && lens ? VM_OK : VM_ENOMEM;
    for (int64_t k = 0; k < n && !s; k++) {
        seqs[k] = d->ids + d->start[i];
        lens[k] = len;
    }
    struct vm_rt_inst *inst;
    if (!s && (s = vm_feed(f, seqs, lens, n, 0, NULL, 0.0, 0.0, &inst, NULL, err)) && strstr(err->msg, "memory limit")) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        vm_errorf(err, s, "%s:%lld: the longest text (%d tokens, in a batch of %lld) does not fit: %s; give --max-len L to keep the "
                  "first L tokens of each text (or a smaller --batch, or more --max-memory)", d->path, (long long)d->line[i], len,
                  (long long)n, msg);
    }
    free(seqs);
    free(lens);
    return s;
}

/* ---- one training step ---- */

struct step_out {
    double loss;     /* the global batch's mean loss */
    int64_t correct; /* over the global batch */
    bool stop;       /* some process was interrupted: all stop after this step */
    double flops;    /* this process's counted work of the step (vm_rt_flops) */
    double ce;       /* the loss's cross-entropy part (the rest is beta times the information loss) */
    bool cold;       /* the step's batch shape was new: its instance was bound and prepared in the step */
};

static int64_t dist_sum_count(void *ctx, int64_t local) {
    (void)ctx;
    return vm_dist_sum_i64(local);
}

/* The gradients' allreduce buckets: spans of gradient bytes adjacent in the persistent region
 * (64-byte slots: a gap is padding that nothing writes, zero on every process), at most 4 MiB
 * each, in the order the backward pass finishes them (last parameters first). Each bucket is
 * started, non-blocking, by the step hook right after the backward step that finishes its last
 * gradient (vm_rt_grad_ready_steps: the same steps on every process), always in bucket order, so
 * every process issues the same allreduces in the same order. */
struct grad_sync {
    int n, next;
    int64_t sent, early; /* buckets sent, and those the hook started during the backward pass */
    char **start;
    size_t *len;
    int32_t *ready;
};

static void grad_sync_free(struct grad_sync *g) {
    free(g->start);
    free(g->len);
    free(g->ready);
    memset(g, 0, sizeof *g);
}

static enum vm_status grad_sync_init(struct vm_rt_model *m, struct grad_sync *g, struct vm_error *err) {
    const size_t cap = (size_t)4 << 20;
    int np = vm_rt_num_params(m);
    int32_t *ready = vm_malloc(sizeof(int32_t) * (size_t)(np + 1), err);
    g->start = vm_calloc((size_t)np + 1, sizeof *g->start, err);
    g->len = vm_calloc((size_t)np + 1, sizeof *g->len, err);
    g->ready = vm_calloc((size_t)np + 1, sizeof *g->ready, err);
    if (!ready || !g->start || !g->len || !g->ready) {
        free(ready);
        grad_sync_free(g);
        return VM_ENOMEM;
    }
    vm_rt_grad_ready_steps(m, ready);
    char *start = NULL, *end = NULL;
    int32_t rd = -1;
    for (int i = np - 1; i >= -1; i--) {
        struct vm_rt_tensor t = i >= 0 ? vm_rt_param_grad(m, i) : (struct vm_rt_tensor){0};
        if (i >= 0 && (!t.data || t.dtype != VM_DTYPE_FLOAT || !t.nbytes)) continue;
        char *a = t.data, *b = a + t.nbytes;
        if (start && i >= 0 && a >= start && b <= end) { /* aliases a gradient already in the bucket */
            rd = ready[i] > rd ? ready[i] : rd;
            continue;
        }
        bool joins = start && i >= 0 && (a == end + ((size_t)-(uintptr_t)end & 63) || b + ((size_t)-(uintptr_t)b & 63) == start) &&
                     (size_t)((b > end ? b : end) - (a < start ? a : start)) <= cap;
        if (joins) {
            start = a < start ? a : start;
            end = b > end ? b : end;
            rd = ready[i] > rd ? ready[i] : rd;
            continue;
        }
        if (start) {
            g->start[g->n] = start;
            g->len[g->n] = (size_t)(end - start) / sizeof(float);
            g->ready[g->n++] = rd;
        }
        start = i >= 0 ? a : NULL;
        end = b;
        rd = i >= 0 ? ready[i] : -1;
    }
    free(ready);
    return VM_OK;
}

static void grad_sync_start(struct grad_sync *g, int32_t step) {
    while (g->next < g->n && g->ready[g->next] <= step) {
        vm_dist_isum_f32((float *)(void *)g->start[g->next], g->len[g->next]);
        g->next++;
    }
}

static void grad_sync_hook(void *ctx, int32_t step) {
    grad_sync_start(ctx, step);
    vm_dist_poll();
}

struct saver; /* a checkpoint at once on a signal, under mpirun (below) */
static void saver_lock(struct saver *sv);
static void saver_unlock(struct saver *sv);
static bool saver_on(const struct saver *sv);

/* One optimizer step on the global batch seqs[0..n). One process (or a batch with fewer rows than
 * processes, which every process then runs whole): one run. Data-parallel: this process's
 * contiguous share of the rows, padded to the global batch's length, with the runtime's shard set
 * so that random draws and loss divisors are the global batch's; the gradients, shares of the
 * global mean's, are summed over processes before every process applies the same update.
 * With a saver on, the optimizer runs apart (as when split) and the step returns holding the
 * saver's lock: the parameters have moved past the saver's position until the caller commits. */
static enum vm_status train_step(const struct vm_feeder *f, const struct vm_train_cfg *cfg, struct grad_sync *gs, struct saver *sv,
                                 const int32_t *const *seqs, const int32_t *lens, const int32_t *labels, int64_t n, double beta,
                                 struct step_out *o, struct vm_error *err) {
    struct vm_rt_model *m = f->m;
    int P = vm_dist_size(), rank = vm_dist_rank();
    bool split = P > 1 && n >= P;
    int64_t r0 = split ? n * rank / P : 0, r1 = split ? n * (rank + 1) / P : n;
    int32_t min_t = 0;
    if (split) {
        struct vm_rt_shard sh = {.batch_symbol = vm_rt_input_axis_symbol(m, f->ids_input, f->ids_batch_axis), .row0 = r0, .rows = n,
                                 .sum_count = dist_sum_count};
        if (sh.batch_symbol < 0)
            return vm_errorf(err, VM_EUNSUPPORTED, "data-parallel training needs the token input '%s' to have a symbolic batch dimension",
                             m->plan.inputs[f->ids_input].name);
        vm_rt_set_shard(m, &sh);
        vm_rt_set_step_hook(m, grad_sync_hook, gs);
        gs->next = 0;
        for (int64_t i = 0; i < n; i++) min_t = lens[i] > min_t ? lens[i] : min_t;
    }
    uint64_t counter = vm_rt_rng_counter(m);
    bool apart = split || saver_on(sv); /* the optimizer in a run of its own */
    struct vm_rt_inst *inst;
    enum vm_status s = vm_feed(f, seqs + r0, lens + r0, r1 - r0, min_t, labels + r0, beta, cfg->lr, &inst, NULL, err);
    if (!s) o->cold = inst->runs == 0;
    if (!s) s = vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD | (apart ? 0 : VM_RT_OPTIMIZER), true, err);
    vm_rt_set_shard(m, NULL);
    vm_rt_set_step_hook(m, NULL, NULL);
    if (s) return s; /* the caller stops every process: pending sums need no wait */
    o->flops = vm_rt_flops(inst, VM_RT_FORWARD | VM_RT_BACKWARD | VM_RT_OPTIMIZER, NULL);
    struct vm_rt_tensor lt = vm_rt_output(inst, f->logits_output);
    int64_t C = lt.numel / (r1 - r0), correct = 0;
    for (int64_t i = r0; i < r1; i++) correct += argmax_row((const float *)lt.data + (i - r0) * C, C) == labels[i];
    /* replicated runs count once */
    bool counts = split || rank == 0;
    double red[4] = {counts ? *(const float *)vm_rt_output(inst, f->loss_output).data : 0, counts ? (double)correct : 0,
                     cfg->interrupted && *cfg->interrupted ? 1 : 0,
                     counts && f->ce_output >= 0 ? *(const float *)vm_rt_output(inst, f->ce_output).data : 0};
    if (split) {
        gs->early += gs->next;
        gs->sent += gs->n;
        grad_sync_start(gs, INT32_MAX); /* the rest (and all, had the hook not run) */
        vm_dist_wait_all();
    }
    vm_dist_sum_f64(red, 4);
    saver_lock(sv);
    if (apart) {
        if ((s = vm_rt_run(inst, VM_RT_OPTIMIZER, true, err))) {
            saver_unlock(sv);
            return s;
        }
        vm_rt_set_seed(m, cfg->seed, counter + 1); /* two runs, one step: the counter moves as in one run */
    }
    o->loss = red[0];
    o->ce = red[3];
    o->correct = (int64_t)red[1];
    o->stop = red[2] > 0;
    return VM_OK;
}

/* ---- the processes train one model ----
 *
 * Data-parallel processes apply the same sums to the same parameters, so they stay identical bit
 * for bit (an allreduce hands every process the same bits). Whatever breaks that (a process fed
 * other data, faulty memory or network, a bug) would otherwise train N different models in
 * silence, and process 0 would export one of them. So every VM_CONSISTENCY_STEPS steps (counted
 * from the start of training: a resumed run checks at the same steps) and after the last step,
 * each process hashes its parameters (~10 ms for 45 MB) and the hashes are compared. */
#define VM_CONSISTENCY_STEPS 100

static uint64_t params_hash(const struct vm_rt_model *m) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < m->plan.n_params; i++) {
        struct vm_rt_tensor t = vm_rt_persistent_tensor(m, m->plan.params[i].value);
        const uint8_t *b = t.data;
        size_t k = 0;
        /* xor then multiply by an odd number: each is a bijection, so one changed word changes h */
        for (uint64_t w; k + 8 <= t.nbytes; k += 8) memcpy(&w, b + k, 8), h = (h ^ w) * 0x100000001b3ull;
        for (; k < t.nbytes; k++) h = (h ^ b[k]) * 0x100000001b3ull;
        h = (h ^ (uint64_t)i) * 0x100000001b3ull;
    }
    return h;
}

/* Every process gets the same answer (the hashes are gathered everywhere), so all return the
 * same error at the same step. `hashes`: room for one per process. */
static enum vm_status check_consistency(const struct vm_rt_model *m, uint64_t *hashes, int epoch, int64_t step,
                                        struct vm_error *err) {
    uint64_t mine = params_hash(m);
    vm_dist_allgather(&mine, sizeof mine, hashes);
    for (int r = 1; r < vm_dist_size(); r++)
        if (hashes[r] != hashes[0])
            return vm_errorf(err, VM_EINTERNAL, "data-parallel: after epoch %d, step %lld the parameters of process %d differ from "
                             "process 0's (checksums %016llx and %016llx): the processes no longer train one model; stopped before "
                             "saving this step (check that every process runs the same command line, data and vmaskc build)",
                             epoch + 1, (long long)step, r, (unsigned long long)hashes[r],
                             (unsigned long long)hashes[0]);
    return VM_OK;
}

/* ---- checkpoints ---- */

static bool is_state(const struct vm_rt_value *v) { return (v->flags & (VM_VALUE_PARAM | VM_VALUE_OPTSTATE)) != 0; }

struct loop_state {
    int epoch, step;
    uint64_t counter;
    double best_dev;
    int best_epoch;
    double loss_sum;
    double ce_sum, parts_seen; /* the epoch's cross-entropy part (not in checkpoints: since the last start) */
    int64_t correct, seen;
    double train_seconds;
    int64_t train_sentences;
};

static Vmplan__Tensor *ckpt_tensor(struct vm_rt_model *m, int32_t v, const void *data) {
    const struct vm_rt_value *val = &m->plan.values[v];
    Vmplan__Tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    vmplan__tensor__init(t);
    t->name = val->name;
    t->has_dtype = 1;
    t->dtype = val->dtype;
    struct vm_rt_tensor pt = vm_rt_persistent_tensor(m, v); /* read-only: the saver thread may call it mid-step */
    t->n_dim = (size_t)pt.rank;
    t->dim = pt.dims[0] || pt.rank ? malloc(sizeof(int64_t) * (size_t)(pt.rank ? pt.rank : 1)) : NULL;
    if (pt.rank && !t->dim) {
        free(t);
        return NULL;
    }
    for (int d = 0; d < pt.rank; d++) t->dim[d] = pt.dims[d];
    t->has_data = 1;
    t->data.len = pt.nbytes;
    t->data.data = (uint8_t *)(data ? data : pt.data);
    return t;
}

static void free_tensors(Vmplan__Tensor **ts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!ts[i]) continue;
        free(ts[i]->dim);
        free(ts[i]);
    }
    free(ts);
}

/* What the run's numbers depend on outside the plan (the plan digest covers the rest): the loop's
 * options and the training data, so --resume with another --batch, --lr, beta schedule or data is
 * refused instead of silently producing a run that matches neither. */
static void run_key(const struct vm_train_cfg *cfg, const struct vm_dataset *train, char *buf, size_t cap) {
    uint64_t h = vm_fnv1a(VM_FNV1A_INIT, train->labels, sizeof *train->labels * (size_t)train->n);
    h = vm_fnv1a(h, train->start, sizeof *train->start * (size_t)(train->n + 1));
    h = vm_fnv1a(h, train->ids, sizeof *train->ids * (size_t)train->start[train->n]);
    snprintf(buf, cap, "epochs %d batch %d lr %.17g beta %.17g,%.17g,%d seed %llu data %lld:%016llx", cfg->epochs, cfg->batch,
             cfg->lr, cfg->beta_start, cfg->beta_end, cfg->beta_steps, (unsigned long long)cfg->seed, (long long)train->n,
             (unsigned long long)h);
}

/* The best-on-dev parameters. data[i] == NULL while `live`: the best are the current parameters
 * (right after an improving epoch, or before any epoch ended), so nothing is copied until a
 * training step is about to change them. A one-epoch run of a 420 MiB model never copies. */
struct snapshot {
    int32_t *values; /* plan value ids of the parameters */
    void **data;
    int n;
    bool live;
    size_t bytes; /* what the copy holds (the trained parameters' bytes) once taken */
};

static void snapshot_drop(struct snapshot *b) {
    for (int i = 0; i < b->n; i++) {
        free(b->data[i]);
        b->data[i] = NULL;
    }
    b->live = true;
}

/* Copies the current parameters into the snapshot (allocating what is missing). */
static enum vm_status snapshot_take(struct vm_rt_model *m, struct snapshot *b, struct vm_error *err) {
    size_t bytes = 0;
    for (int i = 0; i < b->n; i++) {
        struct vm_rt_tensor t = vm_rt_param(m, i);
        if (!b->data[i] && !(b->data[i] = vm_malloc(t.nbytes ? t.nbytes : 1, err))) return VM_ENOMEM;
        memcpy(b->data[i], t.data, t.nbytes);
        bytes += t.nbytes;
    }
    b->bytes = bytes;
    b->live = false;
    return VM_OK;
}


static enum vm_status save_checkpoint(const struct vm_feeder *f, const struct vm_train_cfg *cfg, const char *key,
                                      const struct loop_state *ls, const struct snapshot *best,
                                      const struct vm_epoch_stats *hist, int n_hist, struct vm_error *err) {
    struct vm_rt_model *m = f->m;
    const struct vm_rt_plan *p = &m->plan;
    if (vm_dist_rank() != 0) return VM_OK; /* data-parallel: process 0 writes, the state is the same everywhere */
    Vmplan__Checkpoint ck;
    vmplan__checkpoint__init(&ck);
    ck.has_format_version = 1;
    ck.format_version = VM_CKPT_FORMAT;
    char digest[32];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)m->digest);
    ck.plan_digest = digest;
    enum vm_status s = VM_OK;
    ck.tensor = calloc((size_t)p->n_values + 1, sizeof *ck.tensor);
    ck.best = calloc((size_t)best->n + 1, sizeof *ck.best);
    if (!ck.tensor || !ck.best) s = vm_errorf(err, VM_ENOMEM, "out of memory");
    for (int32_t v = 0; v < p->n_values && !s; v++) {
        if (!is_state(&p->values[v]) || m->persist_off[v] == SIZE_MAX) continue;
        if (!(ck.tensor[ck.n_tensor++] = ckpt_tensor(m, v, NULL))) s = vm_errorf(err, VM_ENOMEM, "out of memory");
    }
    for (int i = 0; i < best->n && !s; i++)
        if (!(ck.best[ck.n_best++] = ckpt_tensor(m, best->values[i], best->data[i]))) s = vm_errorf(err, VM_ENOMEM, "out of memory");
    char kv[10][2][64];
    char *hbuf = NULL;
    Vmplan__Meta meta[12], *mp[12];
    if (!s) {
        const char *keys[10] = {"epoch", "step", "counter", "best_dev", "best_epoch", "loss_sum", "correct", "seen", "train_seconds", "train_sentences"};
        snprintf(kv[0][1], 64, "%d", ls->epoch);
        snprintf(kv[1][1], 64, "%d", ls->step);
        snprintf(kv[2][1], 64, "%llu", (unsigned long long)ls->counter);
        snprintf(kv[3][1], 64, "%.17g", ls->best_dev);
        snprintf(kv[4][1], 64, "%d", ls->best_epoch);
        snprintf(kv[5][1], 64, "%.17g", ls->loss_sum);
        snprintf(kv[6][1], 64, "%lld", (long long)ls->correct);
        snprintf(kv[7][1], 64, "%lld", (long long)ls->seen);
        snprintf(kv[8][1], 64, "%.17g", ls->train_seconds);
        snprintf(kv[9][1], 64, "%lld", (long long)ls->train_sentences);
        for (int i = 0; i < 10; i++) {
            vmplan__meta__init(&meta[i]);
            snprintf(kv[i][0], 64, "%s", keys[i]);
            meta[i].key = kv[i][0];
            meta[i].value = kv[i][1];
            mp[i] = &meta[i];
        }
        /* %.17g: a resumed run's history must print exactly what the uninterrupted one prints */
        hbuf = malloc((size_t)n_hist * 200 + 1);
        if (!hbuf) s = vm_errorf(err, VM_ENOMEM, "out of memory");
        else {
            size_t pos = 0;
            hbuf[0] = 0;
            for (int e = 0; e < n_hist; e++)
                pos += (size_t)snprintf(hbuf + pos, 200, "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g;", hist[e].train_loss, hist[e].train_acc,
                                        hist[e].dev_acc, hist[e].beta, hist[e].seconds, hist[e].train_seconds);
            vmplan__meta__init(&meta[10]);
            meta[10].key = "history";
            meta[10].value = hbuf;
            mp[10] = &meta[10];
            vmplan__meta__init(&meta[11]);
            meta[11].key = "run";
            meta[11].value = (char *)key;
            mp[11] = &meta[11];
            ck.meta = mp;
            ck.n_meta = 12;
        }
    }
    if (!s) s = vm_file_write_atomic_fn(cfg->checkpoint, vm_pb_write_message, &ck, err);
    free(hbuf);
    free_tensors(ck.tensor, ck.n_tensor);
    free_tensors(ck.best, ck.n_best);
    return s;
}

static const char *ck_meta(const Vmplan__Checkpoint *ck, const char *key) {
    for (size_t i = 0; i < ck->n_meta; i++)
        if (ck->meta[i]->key && !strcmp(ck->meta[i]->key, key)) return ck->meta[i]->value;
    return NULL;
}

/* The bytes of checkpoint `what` (a file name in messages) into the model, ls, best and hist (room
 * for `epochs` entries); `key` is this run's options-and-data key (NULL: not checked). Split from
 * load_checkpoint so vm_train_checkpoint_check can fuzz it. */
static enum vm_status unpack_checkpoint(const struct vm_feeder *f, const char *what, int epochs, const char *key,
                                        const uint8_t *buf, size_t len, struct loop_state *ls, struct snapshot *best,
                                        struct vm_epoch_stats *hist, int *n_hist, struct vm_error *err) {
    struct vm_rt_model *m = f->m;
    Vmplan__Checkpoint *ck = vmplan__checkpoint__unpack(NULL, len, buf);
    if (!ck || ck->format_version != VM_CKPT_FORMAT) {
        if (ck) vmplan__checkpoint__free_unpacked(ck, NULL);
        return vm_errorf(err, VM_EFORMAT, "'%s' is not a vmaskc checkpoint", what);
    }
    char digest[32];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)m->digest);
    enum vm_status s = VM_OK;
    if (!ck->plan_digest || strcmp(ck->plan_digest, digest))
        s = vm_errorf(err, VM_EINVAL, "checkpoint '%s' was written for a different model or different training options; "
                      "resume with the same command line", what);
    const char *was = ck_meta(ck, "run"); /* absent in checkpoints of earlier versions */
    if (!s && was && key && strcmp(was, key))
        s = vm_errorf(err, VM_EINVAL, "checkpoint '%s' was written by a run with other options or data (%s; this run: %s); "
                      "resume with the same command line and data", what, was, key);
    /* tensors are matched to the model by name */
    for (size_t i = 0; i < ck->n_tensor + ck->n_best && !s; i++)
        if (!(i < ck->n_tensor ? ck->tensor[i] : ck->best[i - ck->n_tensor])->name)
            s = vm_errorf(err, VM_EFORMAT, "checkpoint '%s': a tensor has no name", what);
    for (size_t i = 0; i < ck->n_tensor && !s; i++) {
        const Vmplan__Tensor *t = ck->tensor[i];
        struct vm_rt_tensor pt = vm_rt_persistent(m, t->name);
        if (!pt.data || pt.nbytes != t->data.len)
            s = vm_errorf(err, VM_EFORMAT, "checkpoint '%s': tensor '%s' does not match the model", what, t->name);
        else memcpy(pt.data, t->data.data, pt.nbytes);
    }
    for (size_t i = 0; i < ck->n_best && !s; i++) {
        const Vmplan__Tensor *t = ck->best[i];
        for (int k = 0; k < best->n; k++) {
            if (strcmp(m->plan.values[best->values[k]].name, t->name)) continue;
            struct vm_rt_tensor pt = vm_rt_persistent(m, t->name);
            if (pt.nbytes != t->data.len) continue;
            if (!best->data[k] && !(best->data[k] = vm_malloc(pt.nbytes ? pt.nbytes : 1, err))) {
                s = VM_ENOMEM;
                break;
            }
            memcpy(best->data[k], t->data.data, pt.nbytes);
            best->live = false;
        }
    }
    if (!s) {
        const char *v;
        ls->epoch = (v = ck_meta(ck, "epoch")) ? atoi(v) : 0;
        ls->step = (v = ck_meta(ck, "step")) ? atoi(v) : 0;
        ls->counter = (v = ck_meta(ck, "counter")) ? strtoull(v, NULL, 10) : 0;
        ls->best_dev = (v = ck_meta(ck, "best_dev")) ? strtod(v, NULL) : -1;
        ls->best_epoch = (v = ck_meta(ck, "best_epoch")) ? atoi(v) : 0;
        ls->loss_sum = (v = ck_meta(ck, "loss_sum")) ? strtod(v, NULL) : 0;
        ls->correct = (v = ck_meta(ck, "correct")) ? atoll(v) : 0;
        ls->seen = (v = ck_meta(ck, "seen")) ? atoll(v) : 0;
        ls->train_seconds = (v = ck_meta(ck, "train_seconds")) ? strtod(v, NULL) : 0;
        ls->train_sentences = (v = ck_meta(ck, "train_sentences")) ? atoll(v) : 0;
        /* vm_train indexes its batch order with these */
        if (ls->epoch < 0 || ls->step < 0)
            s = vm_errorf(err, VM_EFORMAT, "checkpoint '%s': epoch %d, step %d is not a position in training", what, ls->epoch,
                          ls->step);
        *n_hist = 0;
        if ((v = ck_meta(ck, "history"))) {
            const char *p = v;
            while (*p && *n_hist < epochs) {
                struct vm_epoch_stats *e = &hist[*n_hist];
                if (sscanf(p, "%lg,%lg,%lg,%lg,%lg,%lg;", &e->train_loss, &e->train_acc, &e->dev_acc, &e->beta, &e->seconds,
                           &e->train_seconds) != 6)
                    break;
                (*n_hist)++;
                p = strchr(p, ';');
                if (!p) break;
                p++;
            }
        }
    }
    vmplan__checkpoint__free_unpacked(ck, NULL);
    return s;
}

static enum vm_status load_checkpoint(const struct vm_feeder *f, const struct vm_train_cfg *cfg, const char *key,
                                      struct loop_state *ls, struct snapshot *best, struct vm_epoch_stats *hist, int *n_hist,
                                      struct vm_error *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    /* data-parallel: process 0 reads, the others get its bytes (no shared file system needed) */
    int64_t hdr[2] = {0, 0};
    if (vm_dist_rank() == 0) {
        hdr[0] = vm_file_read(cfg->checkpoint, &buf, &len, err);
        hdr[1] = (int64_t)len;
    }
    vm_dist_bcast(hdr, sizeof hdr, 0);
    if (hdr[0]) return vm_dist_rank() == 0 ? err->code : vm_errorf(err, (enum vm_status)hdr[0], "process 0 could not read %s", cfg->checkpoint);
    if (vm_dist_rank() != 0 && !(buf = vm_malloc((size_t)hdr[1] + 1, err))) {
        fprintf(stderr, "vmaskc: process %d: no memory for the %lld-byte checkpoint %s\n", vm_dist_rank(), (long long)hdr[1], cfg->checkpoint);
        vm_dist_abort(4); /* process 0 is already sending it */
    }
    len = (size_t)hdr[1];
    vm_dist_bcast(buf, len, 0);
    enum vm_status s = unpack_checkpoint(f, cfg->checkpoint, cfg->epochs, key, buf, len, ls, best, hist, n_hist, err);
    free(buf);
    return s;
}

/* ---- a checkpoint at once on a signal, under mpirun ----
 *
 * Ctrl-C on mpirun is Open MPI's to handle: it sends every process SIGCONT, SIGTERM a second later
 * and SIGKILL odls_base_sigkill_timeout (1 s) after that -- less than a step may take on a loaded
 * machine, so stopping where the processes agree (the step's end) can lose the checkpoint. Under
 * mpirun, process 0 therefore keeps the loop's position after the last completed step (`at`), and
 * a thread writes that checkpoint the moment the interrupt flag rises while the main thread goes on
 * with the next step's forward and backward passes, which change neither the parameters nor the
 * optimizer's state. The main thread holds `mu` whenever it changes what a checkpoint holds (the
 * optimizer run, the loop's counters, the best snapshot, the history) and while it writes one
 * itself. Once the thread has written, nothing writes again: the processes stop where they agree,
 * and --resume replays the steps after `at`. The runtime sees no signals (the tool's watcher sets
 * the flag), so the thread polls the flag every 10 ms. */
struct saver {
    bool on;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the run is over */
    bool quit;           /* the run is over, or its end wrote the checkpoint itself */
    bool written;        /* the checkpoint file holds `at` (else the thread writes it, even the start) */
    bool saved;          /* the thread wrote (or found written) the checkpoint of `at` */
    struct loop_state at;
    int n_hist;
    const struct vm_feeder *f;
    const struct vm_train_cfg *cfg;
    const char *key;
    const struct snapshot *best;
    const struct vm_epoch_stats *hist;
};

static bool saver_on(const struct saver *sv) { return sv && sv->on; }
static void saver_lock(struct saver *sv) {
    if (saver_on(sv)) pthread_mutex_lock(&sv->mu);
}
static void saver_unlock(struct saver *sv) {
    if (saver_on(sv)) pthread_mutex_unlock(&sv->mu);
}

/* Under the lock: the loop's position after a completed step (or epoch) is `ls` at `epoch`. */
static void saver_commit(struct saver *sv, const struct loop_state *ls, int epoch, int n_hist, uint64_t counter) {
    if (!saver_on(sv)) return;
    sv->at = *ls;
    sv->at.epoch = epoch;
    sv->at.counter = counter;
    sv->n_hist = n_hist;
    sv->written = false;
}

/* Under the lock: a checkpoint write of the main thread (skipped once the thread has written);
 * `stopping`: the run's end, after which the thread writes nothing. */
static enum vm_status saver_save(struct saver *sv, const struct vm_feeder *f, const struct vm_train_cfg *cfg, const char *key,
                                 const struct loop_state *ls, const struct snapshot *best, const struct vm_epoch_stats *hist,
                                 int n_hist, bool stopping, struct vm_error *err) {
    if (saver_on(sv) && sv->saved) return VM_OK;
    enum vm_status s = save_checkpoint(f, cfg, key, ls, best, hist, n_hist, err);
    if (saver_on(sv)) {
        sv->written = !s && ls->epoch == sv->at.epoch && ls->step == sv->at.step;
        sv->quit |= stopping;
    }
    return s;
}

static void *saver_main(void *arg) {
    struct saver *sv = arg;
    pthread_mutex_lock(&sv->mu);
    while (!sv->quit && !*sv->cfg->interrupted) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&sv->wake, &sv->mu, &ts);
    }
    FILE *out = sv->cfg->progress;
    const char *nl = sv->cfg->progress_tty ? "\n" : "";
    char where[64];
    if (sv->at.step) snprintf(where, sizeof where, "epoch %d, step %d", sv->at.epoch + 1, sv->at.step);
    else if (sv->at.epoch) snprintf(where, sizeof where, "the end of epoch %d", sv->at.epoch);
    else snprintf(where, sizeof where, "the start of training");
    if (!sv->quit && sv->written) {
        sv->saved = true;
        if (out) fprintf(out, "%sinterrupted: checkpoint saved to %s (%s; already written)\n", nl, sv->cfg->checkpoint, where);
    } else if (!sv->quit) {
        struct vm_error err = {0};
        double t0 = now_s();
        if (!save_checkpoint(sv->f, sv->cfg, sv->key, &sv->at, sv->best, sv->hist, sv->n_hist, &err)) {
            sv->saved = sv->written = true;
            if (out) fprintf(out, "%sinterrupted: checkpoint saved to %s (%s; %.0f ms)\n", nl, sv->cfg->checkpoint, where, (now_s() - t0) * 1e3);
        } else if (out) {
            fprintf(out, "%svmaskc: warning: interrupted, but the checkpoint could not be saved: %s\n", nl, err.msg);
        }
    }
    if (out) fflush(out);
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

/* On process 0 of an mpirun job that watches for interrupts and has a checkpoint to write; `ls` is
 * where the run starts (a resumed run's checkpoint holds it). */
static void saver_start(struct saver *sv, const struct vm_feeder *f, const struct vm_train_cfg *cfg, const char *key,
                        const struct snapshot *best, const struct vm_epoch_stats *hist, const struct loop_state *ls, int n_hist,
                        bool resumed) {
    memset(sv, 0, sizeof *sv);
    if (!cfg->interrupted || !cfg->checkpoint || vm_dist_rank() != 0 || !vm_dist_launched()) return;
    *sv = (struct saver){.f = f, .cfg = cfg, .key = key, .best = best, .hist = hist, .at = *ls, .n_hist = n_hist, .written = resumed};
    if (pthread_mutex_init(&sv->mu, NULL)) return;
    if (pthread_cond_init(&sv->wake, NULL)) {
        pthread_mutex_destroy(&sv->mu);
        return;
    }
    if (pthread_create(&sv->thread, NULL, saver_main, sv)) {
        pthread_cond_destroy(&sv->wake);
        pthread_mutex_destroy(&sv->mu);
        return; /* without the thread the run stops at the step's end as elsewhere */
    }
    sv->on = true;
}

static void saver_stop(struct saver *sv) {
    if (!saver_on(sv)) return;
    pthread_mutex_lock(&sv->mu);
    sv->quit = true;
    pthread_cond_signal(&sv->wake);
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->thread, NULL);
    pthread_cond_destroy(&sv->wake);
    pthread_mutex_destroy(&sv->mu);
    sv->on = false;
}

void vm_train_result_free(struct vm_train_result *r) {
    free(r->history);
    free(r->step_seconds);
    free(r->step_flops);
    free(r->step_cold);
    memset(r, 0, sizeof *r);
}

enum vm_status vm_train(const struct vm_feeder *f, const struct vm_train_cfg *cfg,
                        const struct vm_dataset *train, const struct vm_dataset *dev,
                        const struct vm_dataset *test, struct vm_train_result *res,
                        struct vm_error *err) {
    struct vm_rt_model *m = f->m;
    const struct vm_rt_plan *p = &m->plan;
    memset(res, 0, sizeof *res);
    res->test_acc = -1;
    if (f->labels_input < 0 || f->loss_output < 0) return vm_errorf(err, VM_EINVAL, "the plan is not a training plan");
    if (train->max_label >= f->n_classes || (dev && dev->max_label >= f->n_classes) || (test && test->max_label >= f->n_classes))
        return vm_errorf(err, VM_EINVAL, "a label in the data is %d or more, but the model has %lld classes (labels 0..%lld)",
                         (int)f->n_classes, (long long)f->n_classes, (long long)f->n_classes - 1);
    int batch = cfg->batch > 0 ? cfg->batch : 50;
    if (batch > 4096) batch = 4096;
    res->history = vm_calloc((size_t)cfg->epochs + 1, sizeof *res->history, err);
    int64_t *order = vm_malloc(sizeof(int64_t) * (size_t)(train->n + 1), err);
    struct snapshot best = {0};
    best.values = vm_malloc(sizeof(int32_t) * (size_t)(p->n_params + 1), err);
    best.data = vm_calloc((size_t)p->n_params + 1, sizeof *best.data, err);
    enum vm_status s = res->history && order && best.values && best.data ? VM_OK : VM_ENOMEM;
    best.live = true;
    for (int i = 0; i < p->n_params && !s; i++) best.values[best.n++] = p->params[i].value;
    struct loop_state ls = {.best_dev = -1, .counter = 0};
    char key[256];
    run_key(cfg, train, key, sizeof key);
    int n_hist = 0;
    vm_rt_set_seed(m, cfg->seed, 0);
    /* a run killed while writing left "<checkpoint>.tmp.<pid>"; the name is per process, so it is
     * never read back, only litter */
    bool lead = vm_dist_rank() == 0; /* the process that writes */
    if (lead && cfg->checkpoint) vm_file_remove_stale_temps(cfg->checkpoint);
    if (lead && cfg->history_csv) vm_file_remove_stale_temps(cfg->history_csv);
    if (!s && cfg->resume && cfg->checkpoint) {
        FILE *probe = lead ? fopen(cfg->checkpoint, "rb") : NULL;
        int exists = probe != NULL;
        if (probe) fclose(probe);
        vm_dist_bcast(&exists, sizeof exists, 0);
        if (exists) {
            s = load_checkpoint(f, cfg, key, &ls, &best, res->history, &n_hist, err);
            if (!s) {
                vm_rt_set_seed(m, cfg->seed, ls.counter);
                if (cfg->progress)
                    fprintf(cfg->progress, "resuming from %s at epoch %d, step %d\n", cfg->checkpoint, ls.epoch + 1, ls.step);
            }
        } else if (cfg->progress) {
            fprintf(cfg->progress, "no checkpoint at %s yet; starting from the beginning\n", cfg->checkpoint);
        }
    }
    float *probs = vm_malloc(sizeof(float) * (size_t)batch * (size_t)(f->n_classes ? f->n_classes : 1), err);
    if (!probs && !s) s = VM_ENOMEM;
    int64_t nb = (train->n + batch - 1) / batch;
    int64_t cap_steps = nb * (int64_t)(cfg->epochs - ls.epoch > 0 ? cfg->epochs - ls.epoch : 1);
    res->step_seconds = vm_malloc(sizeof(double) * (size_t)(cap_steps + 1), err);
    res->step_flops = res->step_seconds ? vm_malloc(sizeof(double) * (size_t)(cap_steps + 1), err) : NULL;
    res->step_cold = res->step_flops ? vm_calloc((size_t)(cap_steps + 1), sizeof(bool), err) : NULL;
    if (!res->step_cold && !s) s = VM_ENOMEM;
    const int32_t *seqs[4096];
    int32_t lens[4096], labels[4096];
    struct grad_sync gs = {0};
    if (!s && vm_dist_size() > 1) s = grad_sync_init(m, &gs, err);
    uint64_t *hashes = NULL; /* data-parallel: one parameter checksum per process */
    if (!s && vm_dist_size() > 1 && !(hashes = vm_malloc(sizeof *hashes * (size_t)vm_dist_size(), err))) s = VM_ENOMEM;
    struct saver sv;
    saver_start(&sv, f, cfg, key, &best, res->history, &ls, n_hist, cfg->resume && ls.epoch + ls.step > 0);
    double last_draw = 0, last_save = now_s();
    int64_t steps_here = 0;
    for (int epoch = ls.epoch; epoch < cfg->epochs && !s; epoch++) {
        double beta = vm_train_beta(cfg, epoch);
        /* beta only means something to a plan with an information loss (not --no-mask, not L2X) */
        char beta_text[32] = "";
        if (f->info_output >= 0) snprintf(beta_text, sizeof beta_text, "  beta %.3f", beta);
        shuffle(order, train->n, cfg->seed, epoch);
        double t_epoch = now_s(), train_before = ls.train_seconds;
        int64_t saved_step = 0; /* the progress line's note of the last mid-epoch checkpoint */
        for (int64_t b = ls.step; b < nb && !s; b++) {
            int64_t b0 = b * batch, n = train->n - b0 < batch ? train->n - b0 : batch;
            for (int64_t i = 0; i < n; i++) {
                int64_t ex = order[b0 + i];
                seqs[i] = train->ids + train->start[ex];
                lens[i] = vm_dataset_len(train, ex);
                labels[i] = train->labels[ex];
            }
            /* the step is about to change parameters that an earlier epoch found best */
            if (best.live && ls.best_epoch > 0) {
                saver_lock(&sv);
                s = snapshot_take(m, &best, err);
                saver_unlock(&sv);
                if (s) break;
                if (best.bytes > res->best_copy_bytes) res->best_copy_bytes = best.bytes;
            }
            double t0 = now_s();
            struct step_out so = {0};
            uint64_t sent = vm_dist_bytes();
            if ((s = train_step(f, cfg, &gs, &sv, seqs, lens, labels, n, beta, &so, err))) break;
            /* holding the saver's lock until the step is committed */
            bool ending = so.stop || (cfg->stop_after_steps && steps_here + 1 >= cfg->stop_after_steps) ||
                          (epoch + 1 == cfg->epochs && b + 1 == nb);
            if (hashes && (((int64_t)epoch * nb + b + 1) % VM_CONSISTENCY_STEPS == 0 || ending) &&
                (s = check_consistency(m, hashes, epoch, b + 1, err))) {
                saver_unlock(&sv);
                res->shared_error = true;
                break;
            }
            res->comm_bytes += vm_dist_bytes() - sent;
            double t1 = now_s();
            ls.train_seconds += t1 - t0;
            ls.train_sentences += n;
            if (!res->n_steps) {
                res->first_step_at = t1;
                vm_mark("first_step"); /* VMASKC_TIMINGS */
            }
            if (res->n_steps < cap_steps) {
                res->step_flops[res->n_steps] = so.flops;
                res->step_cold[res->n_steps] = so.cold;
                res->step_seconds[res->n_steps++] = t1 - t0;
                res->flops += so.flops;
            }
            float loss = (float)so.loss;
            if (!isfinite(loss)) { /* the loss is summed over processes: every process stops here */
                saver_unlock(&sv);
                res->shared_error = true;
                s = vm_errorf(err, VM_EINVAL, "the training loss became %g at epoch %d, step %lld; try a smaller --lr", loss, epoch + 1,
                              (long long)b + 1);
                break;
            }
            ls.correct += so.correct;
            ls.loss_sum += (double)loss * (double)n;
            ls.seen += n;
            if (f->ce_output >= 0) {
                ls.ce_sum += so.ce * (double)n;
                ls.parts_seen += (double)n;
            }
            ls.step = (int)(b + 1);
            saver_commit(&sv, &ls, epoch, n_hist, vm_rt_rng_counter(m));
            double now = now_s();
            /* mid-epoch checkpoints (the epoch's last step is followed by the epoch checkpoint);
             * steps are counted from the start of training so the same steps save after a resume */
            bool by_steps = cfg->checkpoint_every > 0 && ((int64_t)epoch * nb + b + 1) % cfg->checkpoint_every == 0;
            bool by_time = cfg->checkpoint_minutes > 0 && now - last_save >= cfg->checkpoint_minutes * 60.0;
            if (cfg->checkpoint && b + 1 < nb && (by_steps || by_time)) {
                ls.epoch = epoch;
                ls.counter = vm_rt_rng_counter(m);
                if ((s = saver_save(&sv, f, cfg, key, &ls, &best, res->history, n_hist, false, err))) {
                    saver_unlock(&sv);
                    break;
                }
                last_save = now_s();
                saved_step = b + 1;
                if (by_time && cfg->progress && !cfg->progress_tty)
                    fprintf(cfg->progress, "checkpoint at epoch %d, step %lld saved to %s\n", epoch + 1, (long long)b + 1, cfg->checkpoint);
            }
            saver_unlock(&sv);
            if (cfg->progress && cfg->progress_tty && (now - last_draw > 0.2 || b + 1 == nb)) {
                last_draw = now;
                double rate = ls.train_seconds > 0 ? (double)ls.train_sentences / ls.train_seconds : 0;
                double remaining = (double)((int64_t)(cfg->epochs - epoch - 1) * train->n + (train->n - b0 - n));
                char eta[32];
                vm_fmt_eta(rate > 0 ? remaining / rate * 1.1 : -1, eta, sizeof eta);
                char note[48] = "";
                if (saved_step) snprintf(note, sizeof note, "  (saved at step %lld)", (long long)saved_step);
                fprintf(cfg->progress, "\r\033[Kepoch %d/%d  step %lld/%lld  loss %.4f  acc %5.1f%%%s  %.0f sent/s  ETA %s%s",
                        epoch + 1, cfg->epochs, (long long)b + 1, (long long)nb, ls.loss_sum / (double)ls.seen,
                        100.0 * (double)ls.correct / (double)ls.seen, beta_text, rate, eta, note);
                fflush(cfg->progress);
            }
            steps_here++;
            bool stop = false;
            if (cfg->on_step) {
                double rate = ls.train_seconds > 0 ? (double)ls.train_sentences / ls.train_seconds : 0;
                double remaining = (double)((int64_t)(cfg->epochs - epoch - 1) * train->n + (train->n - b0 - n));
                struct vm_train_step st = {epoch + 1, cfg->epochs, b + 1, nb, ls.loss_sum / (double)ls.seen,
                                           (double)ls.correct / (double)ls.seen, rate, rate > 0 ? remaining / rate : -1};
                stop = cfg->on_step(cfg->on_step_ctx, &st) != 0;
            }
            if (stop || so.stop || (cfg->stop_after_steps && steps_here >= cfg->stop_after_steps)) {
                ls.epoch = epoch;
                ls.counter = vm_rt_rng_counter(m);
                if (cfg->progress) fprintf(cfg->progress, "%s", cfg->progress_tty ? "\n" : "");
                saver_lock(&sv);
                bool early = saver_on(&sv) && sv.saved; /* the saver wrote an earlier step's checkpoint */
                if (cfg->checkpoint) s = saver_save(&sv, f, cfg, key, &ls, &best, res->history, n_hist, true, err);
                saver_unlock(&sv);
                if (s) break;
                if (early) {
                    s = vm_errorf(err, VM_EINTERRUPTED, "interrupted at epoch %d, step %lld; continue from the checkpoint in %s with --resume",
                                  epoch + 1, (long long)b + 1, cfg->checkpoint);
                } else if (cfg->checkpoint) {
                    s = vm_errorf(err, VM_EINTERRUPTED, "interrupted at epoch %d, step %lld; checkpoint saved to %s (continue with --resume)",
                                  epoch + 1, (long long)b + 1, cfg->checkpoint);
                } else {
                    s = vm_errorf(err, VM_EINTERRUPTED, "interrupted at epoch %d, step %lld (no --checkpoint, nothing saved)", epoch + 1,
                                  (long long)b + 1);
                }
            }
        }
        if (s) break;
        double dev_acc = -1;
        if (dev && (s = vm_evaluate(f, dev, batch, &dev_acc, err))) break;
        saver_lock(&sv); /* the history, the best snapshot and the loop's position change */
        struct vm_epoch_stats *e = &res->history[n_hist++];
        e->train_loss = ls.seen ? ls.loss_sum / (double)ls.seen : 0;
        e->train_acc = ls.seen ? (double)ls.correct / (double)ls.seen : 0;
        e->dev_acc = dev_acc;
        e->beta = beta;
        e->seconds = now_s() - t_epoch;
        e->train_seconds = ls.train_seconds - train_before;
        bool improved = dev ? dev_acc > ls.best_dev : true;
        if (improved) {
            ls.best_dev = dev_acc;
            ls.best_epoch = epoch + 1;
            snapshot_drop(&best); /* the current parameters are the best now */
        }
        if (cfg->progress) {
            if (cfg->progress_tty) fprintf(cfg->progress, "\r\033[K");
            /* what the loss is made of: cross-entropy, plus beta times the information loss (VMASK's
             * negative mask entropy, IBA's KL) for a method with one */
            char parts[96] = " (cross-entropy)";
            if (f->info_output >= 0 && ls.parts_seen > 0) {
                double ce = ls.ce_sum / ls.parts_seen;
                snprintf(parts, sizeof parts, " (cross-entropy %.4f + beta * information loss %.4f)", ce, e->train_loss - ce);
            }
            fprintf(cfg->progress, "epoch %d/%d  loss %.4f%s  train acc %.2f%%  dev acc %.2f%%%s%s  %.1f s\n", epoch + 1, cfg->epochs,
                    e->train_loss, parts, 100 * e->train_acc, 100 * dev_acc, improved && dev ? " (best)" : "", beta_text, e->seconds);
            fflush(cfg->progress);
        }
        ls.epoch = epoch + 1;
        ls.step = 0;
        ls.loss_sum = 0;
        ls.ce_sum = ls.parts_seen = 0;
        ls.correct = ls.seen = 0;
        ls.counter = vm_rt_rng_counter(m);
        saver_commit(&sv, &ls, ls.epoch, n_hist, ls.counter);
        if (cfg->checkpoint) s = saver_save(&sv, f, cfg, key, &ls, &best, res->history, n_hist, false, err);
        saver_unlock(&sv);
        if (s) break;
        last_save = now_s();
    }
    saver_stop(&sv);
    res->epochs_run = n_hist;
    res->best_dev_acc = ls.best_dev;
    res->best_epoch = ls.best_epoch;
    res->sentences_per_s = ls.train_seconds > 0 ? (double)ls.train_sentences / ls.train_seconds : 0;
    if (!s || s == VM_EINTERRUPTED) {
        /* the model ends with the best-on-dev parameters */
        for (int i = 0; i < best.n && s != VM_EINTERRUPTED && !best.live; i++) {
            struct vm_rt_tensor t = vm_rt_param(m, i);
            memcpy(t.data, best.data[i], t.nbytes);
        }
    }
    if (!s && test) s = vm_evaluate(f, test, batch, &res->test_acc, err);
    if (!s && cfg->history_csv && lead) {
        size_t cap = 128 + (size_t)n_hist * 128, pos = 0;
        char *csv = malloc(cap);
        if (csv) {
            pos += (size_t)snprintf(csv, cap, "epoch,train_loss,train_acc,dev_acc,beta,seconds,train_seconds\n");
            for (int e = 0; e < n_hist; e++)
                pos += (size_t)snprintf(csv + pos, cap - pos, "%d,%.6f,%.6f,%.6f,%.4f,%.3f,%.3f\n", e + 1, res->history[e].train_loss,
                                        res->history[e].train_acc, res->history[e].dev_acc, res->history[e].beta, res->history[e].seconds,
                                        res->history[e].train_seconds);
            s = vm_file_write_atomic(cfg->history_csv, csv, pos, err);
            free(csv);
        }
    }
    for (int i = 0; i < best.n; i++) free(best.data[i]);
    free(best.data);
    free(best.values);
    free(order);
    free(probs);
    free(hashes);
    res->buckets = gs.sent;
    res->buckets_early = gs.early;
    grad_sync_free(&gs);
    return s;
}

/* ---- checkpoint bytes on their own (tests/fuzz/fuzz_checkpoint.c) ---- */

enum vm_status vm_train_checkpoint_check(const struct vm_feeder *f, const uint8_t *buf, size_t len, const char *what,
                                         int epochs, struct vm_error *err) {
    const struct vm_rt_plan *p = &f->m->plan;
    struct snapshot best = {0};
    struct loop_state ls = {0};
    int n_hist = 0;
    best.values = vm_malloc(sizeof(int32_t) * (size_t)(p->n_params + 1), err);
    best.data = vm_calloc((size_t)p->n_params + 1, sizeof *best.data, err);
    struct vm_epoch_stats *hist = vm_calloc((size_t)(epochs > 0 ? epochs : 0) + 1, sizeof *hist, err);
    enum vm_status s = best.values && best.data && hist ? VM_OK : VM_ENOMEM;
    for (int i = 0; i < p->n_params && !s; i++) {
        struct vm_rt_tensor t = vm_rt_param(f->m, i);
        best.values[best.n] = p->params[i].value;
        if (!(best.data[best.n++] = vm_malloc(t.nbytes ? t.nbytes : 1, err))) s = VM_ENOMEM;
    }
    if (!s) s = unpack_checkpoint(f, what, epochs, NULL, buf, len, &ls, &best, hist, &n_hist, err);
    for (int i = 0; i < best.n; i++) free(best.data[i]);
    free(best.data);
    free(best.values);
    free(hist);
    return s;
}
