/* train: `vmaskc train MODEL.onnx --vocab V --train T --dev D ...` — compiles the classifier with
 * the chosen method's mask layer (VMASK, L2X, IBA, or none), loss, backward pass and Adam into one plan, trains it on oneDNN, reports dev/test
 * accuracy, exports the trained model to ONNX and prints the globally most important words. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/api/train_run.h"
#include "../../compiler/training.h"
#include "../../runtime/dist.h"
#include "../../runtime/train.h"
#include "cli.h"

static volatile int interrupted = 0;

static int train_usage(FILE *f) {
    fprintf(f,
            "usage: vmaskc train MODEL.onnx --vocab VOCAB.txt --train TRAIN.tsv --dev DEV.tsv|--dev-split F [options]\n"
            "\n"
            "Inserts a variational word mask (or another method's mask layer) after the model's word\n"
            "embedding, trains it with the model on oneDNN, and exports an ONNX model with the learned\n"
            "mask inside.\n"
            "Data files hold 'label<TAB>text' lines, CSV or JSON Lines (labels 0..C-1 or class names;\n"
            ".gz is read too; see the data options below).\n"
            "\n"
            "  --vocab VOCAB.txt      the model's vocabulary (not needed for a model vmaskc exported:\n"
            "                         its stored vocabulary and tokenizer are used)\n"
            "  -o OUT.onnx            exported model (default: MODEL.vmask.onnx)\n"
            "  --test TEST.tsv        report test accuracy of the best-on-dev model\n"
            "  --dev-split F          no --dev: hold out a fraction F of TRAIN as the dev set (deterministic\n"
            "                         for a --seed; the paper's dev sets: IMDB 0.2, TREC 0.083, Subj 0.111)\n"
            "  --epochs N (20)  --batch B (50)  --lr X (0.001)  --seed S (1)  --threads N\n"
            "  --max-len L            truncate texts to L tokens (the paper: IMDB 250, SST-1/SST-2 50,\n"
            "                         AG News 50, TREC 15, Subj 25)\n"
            "word vectors:\n"
            "  --vectors FILE         initialize the word embedding's rows from pre-trained vectors: word2vec\n"
            "                         text or binary, GloVe text, fastText .vec, each optionally .gz; a word\n"
            "                         takes its own row, else its lower-cased form's; prints the coverage\n"
            "  --vectors-format auto|text|binary  (default auto: detected from the header and the bytes)\n"
            "  --oov-init A (0.25)    words not in FILE (and <unk>) get uniform(-A, A) values, seeded by\n"
            "                         --seed; the pad row is zero\n"
            "method (the five training methods of the paper's Table 3):\n"
            "  --method M (vmask)     vmask: variational word mask; l2x: L2X's selector, a linear score per\n"
            "                         word, trained through a Concrete relaxed k-hot subset, hard top-k in\n"
            "                         inference; iba: IBA's readout bottleneck, z = lambda x + (1-lambda) noise;\n"
            "                         base: no mask (= --no-mask); l2: no mask, weight decay (default 1e-4)\n"
            "  --l2x-k K (10)         l2x: words kept per text (all when the text is shorter)\n"
            "  --l2x-tau T (0.5)      l2x: Concrete temperature\n"
            "  --iba-beta B (0.1)     iba: weight of the information loss (mean KL per token and dimension;\n"
            "                         IBA's reference uses 10 for a bottleneck fitted to a fixed model, which\n"
            "                         trained jointly costs 2 to 17 points of accuracy, README)\n"
            "  --no-mask              train the plain model (= --method base; with --weight-decay, l2)\n"
            "  --mask-output          the export gets a second output word_mask [B, T]: the method's\n"
            "                         importance per token (VMASK q, L2X score, IBA lambda)\n"
            "vmask:\n"
            "  --mask-hidden H (100)  hidden units of the mask network (the release: CNN 500, LSTM 300)\n"
            "  --mask-after VALUE     insert the mask after another value (e.g. an embedding LayerNorm)\n"
            "  --tau T (1)            Gumbel-softmax temperature\n"
            "  --beta-start B (1.0) --beta-end B (0.109) --beta-steps N (10)\n"
            "                         information-loss weight, annealed in N equal steps\n"
            "training:\n"
            "  --dropout P            add Dropout(P) before the classifier layer (the paper: 0.2)\n"
            "  --freeze NAME          freeze an initializer (repeatable); the word embedding is frozen\n"
            "  --train-embedding      ... unless this is given\n"
            "  --weight-decay W (0)   L2 penalty (the paper's 'l2' baseline; --method l2 without it: 1e-4)\n"
            "  --adam-beta1 B (0.9) --adam-beta2 B (0.999) --adam-eps E (1e-8)\n"
            "  --clip C (0 = off)     clip gradients to global norm C\n"
            "  --checkpoint PATH      checkpoint file (default: OUT.ckpt), written atomically every epoch,\n"
            "                         on Ctrl-C and as below; --resume continues exactly where it was\n"
            "  --checkpoint-every N   also checkpoint every N training steps (default 0: off)\n"
            "  --checkpoint-minutes M also checkpoint within an epoch after M minutes without one\n"
            "                         (default 10; 0: off), so a killed run loses at most that much\n"
            "  --history CSV          per-epoch loss/accuracy/beta/time\n"
            "  --profile              print the time spent in each op at the end, and where the memory\n"
            "                         went (parameters, gradients, optimizer state, the arena and its\n"
            "                         activations saved for backward, the largest buffers by name,\n"
            "                         the copy of the best epoch's parameters best-on-dev holds)\n"
            "  --timings              print one 'timings:' line (seconds) for benchmarks: load (read,\n"
            "                         compile, runtime), command start to the end of the first step,\n"
            "                         steps and their median/mean/min, export, and the counted work:\n"
            "                         GFLOP per step (conv, matmul, LSTM gates, forward and backward)\n"
            "                         and GFLOP/s over all steps, and the median and fastest step's own\n"
            "                         GFLOP/s (its counted FLOPs over its time: steps differ in length),\n"
            "                         and the same medians over the warm steps (a batch shape seen\n"
            "                         before; a new shape's step also builds its oneDNN primitives)\n"
            VM_CLI_DATA_HELP
            "  --labels FILE          class names, one per line, line i = class i (default: the sorted\n"
            "                         names of TRAIN's labels when they are not all integers); stored in\n"
            "                         the export (vmaskc.labels), so every command shows the names\n"
            "text:\n"
            "  --tokenizer words|kim|wordpiece  chosen from the vocabulary when not given: [CLS], [SEP]\n"
            "                         and ## pieces make it WordPiece (BERT), otherwise words: Unicode\n"
            "                         words (letters and digits of every script, case folded); kim is\n"
            "                         Kim (2014)'s ASCII cleanup, as in the paper (and exports before it)\n"
            "  --cased                keep case (and accents, for WordPiece): for cased vocabularies\n"
            "  --pairs                sentence pairs (WordPiece): a text 'a<TAB>b' (TSV: label<TAB>a<TAB>b) is fed as\n"
            "                         [CLS] a [SEP] b [SEP] with token types 1 on b, as Hugging Face's tokenizer(a, b);\n"
            "                         the export remembers it (eval, predict, explain read pairs from it)\n"
            "  --no-lowercase  --no-split-punct  --pad TOKEN  --unk TOKEN\n"
            "  --allow-short-vocab    accept a --vocab with fewer tokens than the embedding table has rows\n"
            "                         (an error otherwise: it is most likely not the model's vocabulary)\n"
            "  --top N (20)           most important words to print, among words seen at least\n"
            "  --min-freq N (3)       N times in the training data\n"
            "  --embedding NAME       the word-embedding Gather node or table, if not detected\n"
            "  --max-memory SIZE      refuse a model or batch shape that needs more (4G, 512M, 50%%;\n"
            "                         default 80%% of physical memory)\n"
            "  --input-role NAME=ROLE how to fill an integer [batch, seq] input the model names otherwise:\n"
            "                         ids, mask (attention mask), types (token types), positions\n"
            "several processes (data-parallel, Open MPI; README \"Training on several processes\"):\n"
            "  mpirun -np N vmaskc train ...  each process runs its share of every --batch (the global\n"
            "                         batch) and the gradients are summed: the same model as one process;\n"
            "                         process 0 prints and writes the checkpoint, history and export;\n"
            "                         Ctrl-C on mpirun: process 0 writes the last completed step's\n"
            "                         checkpoint at once (mpirun kills 1 s after its SIGTERM; for a\n"
            "                         slow-to-write model: mpirun --mca odls_base_sigkill_timeout 30)\n");
    return f == stdout ? VM_EXIT_OK : VM_EXIT_USAGE;
}

/* The weight decay of --method l2 when --weight-decay is not given: neither the paper nor the
 * VMASK release states the one behind Table 3's l2 rows (the release trains with 0). */
#define L2_DEFAULT_WEIGHT_DECAY 1e-4

/* Method flags given to another method, and the --no-mask / --weight-decay aliases: 0 or a usage
 * error. given[] holds the option names seen. */
/* Every process reaches this once its set-up has succeeded (vm_train_job's setup_done): under mpirun,
 * the agreement point where an error another process met in setting up stops this one too. */
static int train_setup_done(void) {
    struct vm_error none = {0};
    return vm_cli_dist_setup_done("train", &none);
}

static int resolve_method(struct vm_train_opts *to, bool method_given, bool wd_given, const char *const *given, int n_given) {
    static const struct {
        const char *flag;
        enum vm_mask_method only;
    } own[] = {{"--l2x-k", VM_METHOD_L2X},       {"--l2x-tau", VM_METHOD_L2X},     {"--iba-beta", VM_METHOD_IBA},
               {"--tau", VM_METHOD_VMASK},       {"--mask-hidden", VM_METHOD_VMASK}, {"--mask-after", VM_METHOD_VMASK},
               {"--beta-start", VM_METHOD_VMASK}, {"--beta-end", VM_METHOD_VMASK},  {"--beta-steps", VM_METHOD_VMASK}};
    if (to->no_mask) {
        if (method_given && to->method != VM_METHOD_BASE && to->method != VM_METHOD_L2)
            return vm_cli_usage_error("train", "--no-mask contradicts --method %s", vm_method_name(to->method));
        if (!method_given) to->method = wd_given ? VM_METHOD_L2 : VM_METHOD_BASE;
    }
    if (to->method == VM_METHOD_BASE && method_given && wd_given)
        return vm_cli_usage_error("train", "--method base trains without weight decay; --weight-decay W is --method l2");
    for (int i = 0; i < n_given; i++)
        for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
            if (!strcmp(given[i], own[k].flag) && to->method != own[k].only)
                return vm_cli_usage_error("train", "%s is an option of --method %s, not of --method %s", own[k].flag,
                                          vm_method_name(own[k].only), vm_method_name(to->method));
    if (to->method == VM_METHOD_L2 && !wd_given) to->weight_decay = L2_DEFAULT_WEIGHT_DECAY;
    to->no_mask = !vm_method_has_mask(to->method);
    return 0;
}

int vm_cmd_train(int argc, char **argv) {
    const char *model = NULL, *vocab_path = NULL, *train_path = NULL, *dev_path = NULL, *test_path = NULL, *out = NULL;
    const char *pad = NULL, *unk = NULL, *ckpt = NULL, *history = NULL, *vectors = NULL;
    enum vm_vectors_format vectors_format = VM_VECTORS_AUTO;
    double oov_init = 0.25, dev_split = 0;
    const char *freeze[64];
    int n_freeze = 0;
    long long top = 20, max_len = 0, min_freq = 3;
    struct vm_model_opts mo = {0};
    struct vm_train_opts to;
    vm_train_opts_default(&to);
    struct vm_train_cfg tc;
    vm_train_cfg_default(&tc);
    struct vm_tokenizer tok;
    vm_tokenizer_default(&tok);
    const char *tok_kind = NULL, *labels_path = NULL;
    struct vm_data_opts dopts = {0};
    struct vm_train_job job;
    vm_train_job_init(&job); /* the clock starts here, for --timings */
    bool mask_output = false, profile = false, case_given = false, punct_given = false, timings = false;
    bool method_given = false, wd_given = false, allow_short = false;
    double iba_beta = 0.1; /* not the reference's 10: see --help and the README's IBA row */
    const char *given[64];
    int n_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return train_usage(stdout);
        if (!strcmp(a, "--embedding") || !strcmp(a, "--threads") || !strcmp(a, "--max-memory") || !strcmp(a, "--input-role")) {
            int r = vm_cli_model_option("train", argc, argv, &i, &mo);
            if (r < 0) return VM_EXIT_USAGE;
            continue;
        }
        if (!strcmp(a, "--no-mask")) { to.no_mask = true; continue; }
        if (!strcmp(a, "--train-embedding")) { to.train_embedding = true; continue; }
        if (!strcmp(a, "--allow-short-vocab")) { allow_short = true; continue; }
        if (!strcmp(a, "--mask-output")) { mask_output = true; continue; }
        if (!strcmp(a, "--resume")) { tc.resume = true; continue; }
        if (!strcmp(a, "--profile")) { profile = true; continue; }
        if (!strcmp(a, "--timings")) { timings = true; continue; }
        if (!strcmp(a, "--no-lowercase") || !strcmp(a, "--cased")) { tok.lowercase = false; case_given = true; continue; }
        if (!strcmp(a, "--no-split-punct")) { tok.split_punct = false; punct_given = true; continue; }
        if (!strcmp(a, "--pairs")) { tok.pairs = true; continue; }
        {
            int r = vm_cli_data_option("train", argc, argv, &i, &dopts);
            if (r < 0) return VM_EXIT_USAGE;
            if (r) continue;
        }
        if (a[0] == '-' && i + 1 >= argc) return vm_cli_usage_error("train", "%s needs a value", a);
        if (a[0] != '-') {
            if (model) return vm_cli_usage_error("train", "more than one MODEL given ('%s' and '%s')", model, a);
            model = a;
            continue;
        }
        const char *v = argv[++i];
        double d;
        long long n;
        if (n_given < 64) given[n_given++] = a;
#define NUM(flag, lo, hi, dst)                                                                                  \
    if (!strcmp(a, flag)) {                                                                                     \
        if (!vm_cli_parse_double(v, &d) || !(d >= (lo) && d <= (hi)))                                           \
            return vm_cli_usage_error("train", "%s needs a number in [%g, %g], got '%s'", flag, (double)(lo), (double)(hi), v); \
        dst = d;                                                                                                \
        continue;                                                                                               \
    }
#define INT(flag, lo, hi, dst)                                                                                  \
    if (!strcmp(a, flag)) {                                                                                     \
        if (!vm_cli_parse_int(v, &n) || n < (lo) || n > (hi))                                                   \
            return vm_cli_usage_error("train", "%s needs an integer in [%lld, %lld], got '%s'", flag, (long long)(lo), (long long)(hi), v); \
        dst = n;                                                                                                \
        continue;                                                                                               \
    }
        if (!strcmp(a, "--vocab")) { vocab_path = v; continue; }
        if (!strcmp(a, "--train")) { train_path = v; continue; }
        if (!strcmp(a, "--dev")) { dev_path = v; continue; }
        if (!strcmp(a, "--test")) { test_path = v; continue; }
        if (!strcmp(a, "-o")) { out = v; continue; }
        if (!strcmp(a, "--pad")) { pad = v; continue; }
        if (!strcmp(a, "--unk")) { unk = v; continue; }
        if (!strcmp(a, "--tokenizer")) {
            if (strcmp(v, "words") && strcmp(v, "kim") && strcmp(v, "wordpiece"))
                return vm_cli_usage_error("train", "--tokenizer is words, kim or wordpiece, not '%s'", v);
            tok_kind = v;
            continue;
        }
        if (!strcmp(a, "--mask-after")) { to.mask_after = v; continue; }
        if (!strcmp(a, "--labels")) { labels_path = v; continue; }
        if (!strcmp(a, "--vectors")) { vectors = v; continue; }
        if (!strcmp(a, "--vectors-format")) {
            if (!vm_vectors_parse_format(v, &vectors_format)) return vm_cli_usage_error("train", "--vectors-format is auto, text or binary, not '%s'", v);
            continue;
        }
        if (!strcmp(a, "--method")) {
            if (!vm_method_parse(v, &to.method))
                return vm_cli_usage_error("train", "--method is one of base, l2, l2x, iba, vmask, not '%s'", v);
            method_given = true;
            continue;
        }
        if (!strcmp(a, "--weight-decay")) wd_given = true;
        if (!strcmp(a, "--checkpoint")) { ckpt = v; continue; }
        if (!strcmp(a, "--history")) { history = v; continue; }
        if (!strcmp(a, "--freeze")) {
            if (n_freeze == 64) return vm_cli_usage_error("train", "too many --freeze options");
            freeze[n_freeze++] = v;
            continue;
        }
        INT("--epochs", 1, 100000, tc.epochs)
        INT("--batch", 1, 4096, tc.batch)
        INT("--seed", 0, INT64_MAX, tc.seed)
        INT("--beta-steps", 1, 100000, tc.beta_steps)
        INT("--mask-hidden", 1, 1 << 20, to.mask_hidden)
        INT("--l2x-k", 1, 4096, to.l2x_k)
        NUM("--l2x-tau", 1e-6, 1e6, to.l2x_tau)
        NUM("--iba-beta", 0, 1e6, iba_beta)
        INT("--top", 0, 1 << 30, top)
        INT("--min-freq", 1, 1 << 30, min_freq)
        INT("--stop-after-steps", 1, INT64_MAX, tc.stop_after_steps) /* testing: a deterministic Ctrl-C */
        INT("--checkpoint-every", 0, INT64_MAX, tc.checkpoint_every)
        INT("--max-len", 1, 1 << 20, max_len)
        NUM("--lr", 0, 10, tc.lr)
        NUM("--oov-init", 0, 100, oov_init)
        NUM("--dev-split", 1e-6, 0.9, dev_split)
        NUM("--checkpoint-minutes", 0, 1e9, tc.checkpoint_minutes)
        NUM("--beta-start", -1e6, 1e6, tc.beta_start)
        NUM("--beta-end", -1e6, 1e6, tc.beta_end)
        NUM("--tau", 1e-6, 1e6, to.tau)
        NUM("--dropout", 0, 0.99, to.dropout)
        NUM("--weight-decay", 0, 1e6, to.weight_decay)
        NUM("--clip", 0, 1e9, to.clip)
        NUM("--adam-beta1", 0, 0.999999, to.beta1)
        NUM("--adam-beta2", 0, 0.999999999, to.beta2)
        NUM("--adam-eps", 1e-30, 1, to.epsilon)
        return vm_cli_usage_error("train", "unknown option '%s'", a);
#undef NUM
#undef INT
    }
    if (!model) return vm_cli_usage_error("train", "missing MODEL.onnx");
    if (!train_path) return vm_cli_usage_error("train", "missing --train TRAIN.tsv");
    if (!dev_path && !dev_split) return vm_cli_usage_error("train", "missing --dev DEV.tsv (or --dev-split FRACTION to hold out part of TRAIN)");
    if (dev_path && dev_split) return vm_cli_usage_error("train", "--dev and --dev-split exclude each other");
    if (resolve_method(&to, method_given, wd_given, given, n_given)) return VM_EXIT_USAGE;
    if (to.method == VM_METHOD_IBA) {
        /* IBA's beta is fixed, not annealed */
        tc.beta_start = tc.beta_end = iba_beta;
        tc.beta_steps = 1;
    }
    to.freeze = freeze;
    to.n_freeze = n_freeze;
    to.embedding = mo.embedding;
    to.input_roles = (const char *const *)mo.input_roles;
    to.n_input_roles = mo.n_input_roles;
    to.seed = tc.seed;
    char out_buf[4096], ckpt_buf[4200];
    if (!out) {
        size_t n = strlen(model);
        if (n > 5 && !strcmp(model + n - 5, ".onnx")) snprintf(out_buf, sizeof out_buf, "%.*s.vmask.onnx", (int)(n - 5), model);
        else snprintf(out_buf, sizeof out_buf, "%s.vmask.onnx", model);
        out = out_buf;
    }
    if (!ckpt) {
        snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out);
        ckpt = ckpt_buf;
    }
    tc.checkpoint = ckpt;
    tc.history_csv = history;
    vm_file_remove_stale_temps(out); /* a run killed while exporting left its temporary */

    vm_cli_watch_interrupts(&interrupted);
    /* under mpirun: one of several data-parallel processes; process 0 alone prints and writes */
    int n_proc = vm_dist_init();
    bool lead = vm_dist_rank() == 0;
    if (!lead && !freopen("/dev/null", "w", stdout)) vm_dist_abort(VM_EXIT_RUNTIME);
    /* the rest is the library's (runtime/api/train_run.c), shared with vmaskc_train */
    struct vm_error err = {0};
    int rc = VM_EXIT_OK;
    /* outputs are checked before minutes of training, not after */
    if (vm_cli_check_output(out, "-o", &err) || vm_cli_check_output(ckpt, "--checkpoint", &err) ||
        (history && vm_cli_check_output(history, "--history", &err)))
        goto fail;
    job.model = model;
    job.vocab_path = vocab_path;
    job.train_path = train_path;
    job.dev_path = dev_path;
    job.test_path = test_path;
    job.out = out;
    job.pad = pad;
    job.unk = unk;
    job.labels_path = labels_path;
    job.vectors = vectors;
    job.tok_kind = tok_kind;
    job.vectors_format = vectors_format;
    job.oov_init = oov_init;
    job.dev_split = dev_split;
    job.iba_beta = iba_beta;
    job.top = top;
    job.min_freq = min_freq;
    job.max_len = max_len;
    job.mask_output = mask_output;
    job.profile = profile;
    job.timings = timings;
    job.allow_short = allow_short;
    job.case_given = case_given;
    job.punct_given = punct_given;
    job.lead = lead;
    job.n_proc = n_proc;
    job.mo = mo;
    job.to = to;
    job.tc = tc;
    job.tc.interrupted = &interrupted;
    job.tc.progress = lead ? stderr : NULL;
    job.tc.progress_tty = isatty(fileno(stderr));
    job.tok = tok;
    job.dopts = dopts;
    job.log = stdout;
    job.setup_done = train_setup_done;
    if (!vm_train_job_run(&job, &err)) goto done;
    if (job.setup_rc) {
        rc = job.setup_rc; /* another process failed its set-up and said why */
        goto done;
    }
fail:
    if (!job.setup_passed) {
        rc = vm_cli_dist_setup_done("train", &err); /* under mpirun, an error every process hits is printed once */
        goto done;
    }
    if (vm_dist_size() > 1 && err.code != VM_EINTERRUPTED && !job.shared_error) {
        /* this process's error stops every process: nobody waits for it in a collective */
        vm_error_prefix(&err, "process %d of %d", vm_dist_rank(), vm_dist_size());
        vm_dist_abort(vm_cli_fail("train", &err));
    }
    rc = lead ? vm_cli_fail("train", &err) : vm_cli_exit_code(err.code);
done:
    vm_dist_finalize();
    vm_train_job_free(&job);
    return rc;
}
