/* api_train: vmaskc_train — the config checked and turned into the job `vmaskc train` runs
 * (train_run.c: vocabulary, class names, data, vectors, the training graph, the loop, the export),
 * silent, reporting through the caller's progress callback, so the command and the API train the
 * same model from the same settings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/training.h"
#include "../train.h"
#include "api_util.h"
#include "load.h"
#include "train_run.h"

void vmaskc_train_config_init(vmaskc_train_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    struct vm_train_cfg tc;
    vm_train_cfg_default(&tc);
    struct vm_train_opts to;
    vm_train_opts_default(&to);
    c->method = "vmask";
    c->epochs = tc.epochs;
    c->batch = tc.batch;
    c->lr = tc.lr;
    c->seed = 1;
    c->beta_start = tc.beta_start;
    c->beta_end = tc.beta_end;
    c->beta_steps = tc.beta_steps;
    c->mask_hidden = to.mask_hidden;
    c->tau = to.tau;
    c->l2x_k = to.l2x_k;
    c->l2x_tau = to.l2x_tau;
    c->iba_beta = 0.1;
    c->oov_init = 0.25;
}

struct progress_ctx {
    vmaskc_progress_fn fn;
    void *user;
};

static int on_step(void *ctx, const struct vm_train_step *st) {
    const struct progress_ctx *p = ctx;
    vmaskc_train_progress pr = {st->epoch, st->epochs, st->step, st->steps, st->loss, st->acc, st->rate, st->eta_s};
    return p->fn(&pr, p->user);
}

/* The options that need no file: their ranges (as the command line checks them) and the method. */
static vmaskc_status check_config(const vmaskc_train_config *c, struct vm_train_opts *to, vmaskc_error *err) {
#define BAD(...) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_train: " __VA_ARGS__)
    if (!c->model) BAD("config.model is NULL (the ONNX classifier to train)");
    if (!c->train) BAD("config.train is NULL (label<TAB>text training data)");
    if (!c->output) BAD("config.output is NULL (where to export the trained model)");
    if (!c->dev && !(c->dev_split > 0)) BAD("neither config.dev nor config.dev_split > 0: training needs a dev set");
    if (c->dev && c->dev_split > 0) BAD("config.dev and config.dev_split exclude each other");
    if (c->dev_split < 0 || c->dev_split > 0.9) BAD("config.dev_split is %g; it must be in (0, 0.9]", c->dev_split);
    if (c->epochs < 1 || c->epochs > 100000) BAD("config.epochs is %d; it must be in [1, 100000]", c->epochs);
    if (c->batch < 1 || c->batch > 4096) BAD("config.batch is %d; it must be in [1, 4096]", c->batch);
    if (!(c->lr >= 0 && c->lr <= 10)) BAD("config.lr is %g; it must be in [0, 10]", c->lr);
    if (c->max_len < 0 || c->threads < 0) BAD("config.max_len and config.threads must not be negative");
    if (c->beta_steps < 1) BAD("config.beta_steps is %d; it must be at least 1", c->beta_steps);
    if (c->mask_hidden < 1 || c->l2x_k < 1 || !(c->tau > 0) || !(c->l2x_tau > 0))
        BAD("config.mask_hidden, l2x_k, tau and l2x_tau must be positive");
    if (!(c->dropout >= 0 && c->dropout <= 0.99)) BAD("config.dropout is %g; it must be in [0, 0.99]", c->dropout);
    if (!(c->weight_decay >= 0) || !(c->iba_beta >= 0)) BAD("config.weight_decay and config.iba_beta must not be negative");
    if (!vm_method_parse(c->method ? c->method : "vmask", &to->method))
        BAD("config.method is \"%s\"; it is one of vmask, l2x, iba, base, l2", c->method);
#undef BAD
    return VMASKC_OK;
}

vmaskc_status vmaskc_train(const vmaskc_train_config *c, vmaskc_train_result *res, vmaskc_error *err) {
    if (!c) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_train: argument 'c' is NULL");
    struct vm_train_job j;
    vm_train_job_init(&j);
    vmaskc_status vs = check_config(c, &j.to, err);
    if (vs) return vs;
    struct vm_train_opts *to = &j.to;
    to->mask_hidden = c->mask_hidden;
    to->tau = c->tau;
    to->l2x_k = c->l2x_k;
    to->l2x_tau = c->l2x_tau;
    to->dropout = c->dropout;
    to->weight_decay = c->weight_decay;
    if (to->method == VM_METHOD_L2 && !(c->weight_decay > 0)) to->weight_decay = 1e-4; /* as `train --method l2` */
    to->train_embedding = c->train_embedding != 0;
    to->freeze = c->freeze;
    to->n_freeze = c->n_freeze;
    to->mask_after = c->mask_after;
    to->seed = c->seed;
    to->no_mask = !vm_method_has_mask(to->method);
    struct vm_train_cfg *tc = &j.tc;
    tc->epochs = c->epochs;
    tc->batch = c->batch;
    tc->lr = c->lr;
    tc->seed = c->seed;
    tc->beta_start = to->method == VM_METHOD_IBA ? c->iba_beta : c->beta_start;
    tc->beta_end = to->method == VM_METHOD_IBA ? c->iba_beta : c->beta_end;
    tc->beta_steps = to->method == VM_METHOD_IBA ? 1 : c->beta_steps;
    tc->checkpoint = c->checkpoint;
    tc->checkpoint_minutes = c->checkpoint ? tc->checkpoint_minutes : 0;
    tc->resume = c->resume != 0;
    tc->history_csv = c->history;
    struct progress_ctx pc = {c->progress, c->progress_user};
    if (c->progress) {
        tc->on_step = on_step;
        tc->on_step_ctx = &pc;
    }
    j.model = c->model;
    j.vocab_path = c->vocab;
    j.train_path = c->train;
    j.dev_path = c->dev;
    j.test_path = c->test;
    j.out = c->output;
    j.labels_path = c->labels;
    j.vectors = c->vectors;
    j.oov_init = c->oov_init;
    j.dev_split = c->dev_split;
    j.iba_beta = c->iba_beta;
    j.max_len = c->max_len;
    j.mask_output = c->mask_output != 0;
    j.allow_short = c->allow_short_vocab != 0;
    j.mo.threads = c->threads;
    j.mo.max_memory = c->max_memory;
    if ((vs = vm_api_data_opts(&c->data, "vmaskc_train: config.data", &j.dopts, err))) return vs;
    j.dopts.text_pair_column = c->text_pair_column && *c->text_pair_column ? c->text_pair_column : NULL;
    j.dopts.text_pair_field = c->text_pair_field && *c->text_pair_field ? c->text_pair_field : NULL;
    j.tok.pairs = c->pairs != 0;
    if (c->vectors_format && !vm_vectors_parse_format(c->vectors_format, &j.vectors_format))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_train: config.vectors_format is \"%s\"; it is \"auto\", \"text\" or \"binary\"",
                            c->vectors_format);
    if (c->tokenizer && strcmp(c->tokenizer, "words") && strcmp(c->tokenizer, "kim") && strcmp(c->tokenizer, "wordpiece"))
        return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_train: config.tokenizer is \"%s\"; it is \"words\", \"kim\" or \"wordpiece\"",
                            c->tokenizer);
    j.tok_kind = c->tokenizer;
    struct vm_error ie = {0};
    vm_file_remove_stale_temps(c->output);
    /* outputs are checked before minutes of training, not after */
    enum vm_status s = vm_load_check_output(c->output, "config.output", &ie);
    if (!s && c->checkpoint) s = vm_load_check_output(c->checkpoint, "config.checkpoint", &ie);
    if (!s && c->history) s = vm_load_check_output(c->history, "config.history", &ie);
    if (!s) s = vm_train_job_run(&j, &ie);
    if (!s && res) {
        res->epochs_run = j.res.epochs_run;
        res->best_epoch = j.res.best_epoch;
        res->dev_accuracy = j.res.best_dev_acc;
        res->test_accuracy = c->test ? j.res.test_acc : -1;
        res->n_classes = (int)j.n_classes;
    }
    vm_train_job_free(&j);
    return s ? vm_api_fail(err, &ie, -1) : VMASKC_OK;
}
