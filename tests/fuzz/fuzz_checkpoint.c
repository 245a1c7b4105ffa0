/* fuzz_checkpoint: the training checkpoint reader `vmaskc train --resume` runs
 * (vm_train_checkpoint_check: unpack, plan digest, parameter and optimizer-state tensors, best
 * parameters, loop state, history). A checkpoint only gets past the digest check for its own plan,
 * so the harness compiles one fixed training plan on its first input — the CNN fixture with a
 * 4-unit mask layer, source name "fuzz" — and the seed corpus holds checkpoints of that plan.
 *
 * VM_FUZZ_WRITE_CHECKPOINT=PATH makes the harness write a fresh seed first: two training steps on
 * tests/train, interrupted, which saves a checkpoint through the real writer. tools/fuzz.sh adds
 * one to the scratch corpus on every run, so a plan change never leaves the fuzzer only seeds
 * that stop at the digest. VM_FUZZ_WRITE_PLAN=PATH writes the training plan itself (a seed for
 * fuzz_plan with backward and optimizer steps). */
#include <stdio.h>
#include <stdlib.h>

#include "../../compiler/compiler.h"
#include "../../compiler/passes.h"
#include "../../compiler/training.h"
#include "../../runtime/train.h"
#include "fuzz.h"

#define FIXTURE VM_SOURCE_DIR "/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx"
#define TRAIN_DIR VM_SOURCE_DIR "/tests/train"
#define EPOCHS 3

static struct vm_rt_model *model;
static struct vm_feeder feeder;
static struct vm_vocab vocab;

static void die(const char *stage, const struct vm_error *err) {
    fprintf(stderr, "fuzz_checkpoint: set-up failed at %s: %s\n", stage, err->msg);
    abort();
}

static void setup(void) {
    struct vm_error err = {0};
    if (vm_vocab_load(&vocab, TRAIN_DIR "/vocab.txt", NULL, NULL, &err)) die("vocabulary", &err);
    Onnx__ModelProto *m = vm_onnx_load_model(FIXTURE, &err);
    if (!m) die("model", &err);
    struct vm_import_opts io = {0};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, &err);
    if (!s) s = vm_infer_graph(g, &err);
    if (!s) s = vm_pass_optimize(g, &err);
    struct vm_train_opts to;
    vm_train_opts_default(&to);
    to.mask_hidden = 4;
    to.pad_id = vocab.pad_id;
    struct vm_train_info info;
    if (!s) s = vm_build_training(g, &to, &info, &err);
    uint8_t *plan = NULL;
    size_t len = 0;
    if (!s) s = vm_emit_plan(g, "fuzz", &plan, &len, &err);
    vm_graph_free(g);
    vm_onnx_free_model(m);
    if (s) die("compile", &err);
    const char *plan_out = getenv("VM_FUZZ_WRITE_PLAN"); /* a training plan for fuzz_plan's corpus */
    if (plan_out && *plan_out && vm_file_write_atomic(plan_out, plan, len, &err)) die("plan output", &err);
    struct vm_rt_opts ro = {.threads = 1};
    if (vm_rt_model_from_buffer(&model, plan, len, "fuzz", &ro, &err)) die("plan", &err);
    free(plan);
    if (vm_feeder_init(&feeder, model, vocab.pad_id >= 0 ? vocab.pad_id : 0, &err)) die("feeder", &err);
}

static void write_seed(const char *path) {
    struct vm_error err = {0};
    struct vm_tokenizer tok = {.lowercase = true, .split_punct = true, .kim = true};
    struct vm_dataset train, dev;
    if (vm_dataset_load(&train, TRAIN_DIR "/train.tsv", &vocab, &tok, 0, NULL, &err) ||
        vm_dataset_load(&dev, TRAIN_DIR "/dev.tsv", &vocab, &tok, 0, NULL, &err))
        die("seed data", &err);
    struct vm_train_cfg cfg;
    vm_train_cfg_default(&cfg);
    cfg.epochs = EPOCHS;
    cfg.batch = 32;
    cfg.checkpoint = path;
    cfg.stop_after_steps = 2;
    struct vm_train_result res;
    if (vm_train(&feeder, &cfg, &train, &dev, NULL, &res, &err) != VM_EINTERRUPTED) die("seed checkpoint", &err);
    vm_train_result_free(&res);
    vm_dataset_free(&train);
    vm_dataset_free(&dev);
    fprintf(stderr, "fuzz_checkpoint: wrote seed %s\n", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model) {
        setup();
        const char *seed = getenv("VM_FUZZ_WRITE_CHECKPOINT");
        if (seed && *seed) write_seed(seed);
    }
    struct vm_error err = {0};
    enum vm_status s = vm_train_checkpoint_check(&feeder, data, size, "fuzz input", EPOCHS, &err);
    if (getenv("VM_FUZZ_VERBOSE")) fprintf(stderr, "fuzz_checkpoint: %s\n", s ? err.msg : "accepted");
    return 0;
}
