/* train: `vmaskc train MODEL.onnx --vocab V --train T --dev D ...` — compiles the classifier with
 * the chosen method's mask layer (VMASK, L2X, IBA, or none), loss, backward pass and Adam into one plan, trains it on oneDNN, reports dev/test
 * accuracy, exports the trained model to ONNX and prints the globally most important words. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/api/train_export.h"
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
            "                         activations saved for backward, the largest buffers by name)\n"
            "  --timings              print one 'timings:' line (seconds) for benchmarks: load (read,\n"
            "                         compile, runtime), command start to the end of the first step,\n"
            "                         steps and their median/mean/min, export, and the counted work:\n"
            "                         GFLOP per step (conv, matmul, LSTM gates, forward and backward)\n"
            "                         and GFLOP/s over all steps\n"
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

struct lookup_ctx {
    struct vm_rt_model *m;
    const struct vm_graph *g;
    int32_t table; /* value index of a frozen embedding table initialized from --vectors, else -1 */
};

static const void *param_lookup(void *ctx, const char *name, size_t *nbytes) {
    struct lookup_ctx *c = ctx;
    int i = vm_rt_find_param(c->m, name);
    if (i < 0 && c->table >= 0 && !strcmp(name, c->g->values[c->table].name)) { /* not trained, not the file's either */
        *nbytes = c->g->values[c->table].nbytes;
        return c->g->values[c->table].data;
    }
    if (i < 0) return NULL;
    struct vm_rt_tensor t = vm_rt_param(c->m, i);
    *nbytes = t.nbytes;
    return t.data;
}

struct word_score {
    float q;
    int32_t id;
};

/* The weight decay of --method l2 when --weight-decay is not given: neither the paper nor the
 * VMASK release states the one behind Table 3's l2 rows (the release trains with 0). */
#define L2_DEFAULT_WEIGHT_DECAY 1e-4

/* What each method reports as a word's global importance. */
static const char *importance_label(enum vm_mask_method m) {
    return m == VM_METHOD_L2X ? "L2X score" : m == VM_METHOD_IBA ? "IBA lambda (information kept)" : "q (keep probability)";
}

/* Method flags given to another method, and the --no-mask / --weight-decay aliases: 0 or a usage
 * error. given[] holds the option names seen. */
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

/* IBA's noise statistics over the training tokens, from the (frozen) word embedding. */
static enum vm_status iba_statistics(const struct vm_graph *g, int32_t emb, const struct vm_dataset *d, struct vm_train_opts *to,
                                     float **stats, struct vm_error *err) {
    if (emb < 0) return vm_errorf(err, VM_EUNSUPPORTED, "--method iba: no word embedding found (name it with --embedding)");
    const struct vm_value *tv = &g->values[g->nodes[emb].in[0]];
    int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
    if (!tv->data || tv->dtype != VM_DTYPE_FLOAT) return vm_errorf(err, VM_EUNSUPPORTED, "--method iba: the word embedding '%s' is not a float initializer", tv->name);
    if (!(*stats = vm_malloc(sizeof(float) * (size_t)(2 * E), err))) return VM_ENOMEM;
    int64_t n = vm_iba_estimate(tv->data, V, E, d->ids, d->start[d->n], to->pad_id, to->keep_ids, to->n_keep_ids, *stats, *stats + E);
    if (n < 2) return vm_errorf(err, VM_EINVAL, "--method iba: the training data has %lld real tokens; the noise statistics need at least 2", (long long)n);
    to->iba_mu = *stats;
    to->iba_sigma = *stats + E;
    to->iba_dim = E;
    double mm = 0, ms = 0;
    for (int64_t e = 0; e < E; e++) mm += (*stats)[e], ms += (*stats)[E + e];
    printf("IBA noise: mean and standard deviation per embedding dimension over %lld training tokens (average mean %.4g, sigma %.4g)\n",
           (long long)n, mm / (double)E, ms / (double)E);
    return VM_OK;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_score(const void *a, const void *b) {
    const struct word_score *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? 1 : -1;
    return x->id - y->id;
}

/* Training a model vmaskc exported (the second stage of the paper's BERT protocol: fine-tune with
 * --no-mask, then train the mask) needs no --vocab: the vocabulary and tokenizer settings stored in
 * its metadata are used, as eval and predict do. */
static enum vm_status stored_vocab(const char *model, struct vm_vocab *vocab, const char *pad, const char *unk, const char **kind,
                                   struct vm_tokenizer *tok, bool case_given, bool punct_given, struct vm_labels *labels,
                                   struct vm_error *err) {
    Onnx__ModelProto *m = vm_onnx_load_model(model, err);
    if (!m) return err->code;
    const char *text = NULL, *spad = NULL, *sunk = NULL, *skind = NULL, *lc = NULL, *sp = NULL, *clean = NULL, *names = NULL;
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        if (!e->key || !e->value) continue;
        if (!strcmp(e->key, "vmaskc.vocab")) text = e->value;
        else if (!strcmp(e->key, "vmaskc.pad")) spad = e->value;
        else if (!strcmp(e->key, "vmaskc.unk")) sunk = e->value;
        else if (!strcmp(e->key, "vmaskc.tokenizer")) skind = e->value;
        else if (!strcmp(e->key, "vmaskc.lowercase")) lc = e->value;
        else if (!strcmp(e->key, "vmaskc.split_punct")) sp = e->value;
        else if (!strcmp(e->key, "vmaskc.words.cleanup")) clean = e->value;
        else if (!strcmp(e->key, "vmaskc.labels")) names = e->value;
    }
    enum vm_status s;
    if (!text) {
        s = vm_errorf(err, VM_EINVAL, "missing --vocab VOCAB.txt (%s carries no vocabulary: it was not exported by vmaskc train)", model);
    } else {
        s = vm_vocab_from_text(vocab, text, pad ? pad : spad && *spad ? spad : NULL, unk ? unk : sunk && *sunk ? sunk : NULL, err);
        /* the tokenizer the model was trained with, unless the command line says otherwise */
        static char kind_buf[32];
        if (!*kind) {
            snprintf(kind_buf, sizeof kind_buf, "%s", vm_tokenizer_from_meta(skind, clean));
            *kind = kind_buf;
        }
        if (!case_given && lc) tok->lowercase = strcmp(lc, "0") != 0;
        if (!punct_given && sp) tok->split_punct = strcmp(sp, "0") != 0;
        if (!s && names && !labels->n && (s = vm_labels_from_text(labels, names, "vmaskc.labels", err))) vm_vocab_free(vocab);
        if (!s) printf("vocabulary and tokenizer: stored in %s\n", model);
    }
    vm_onnx_free_model(m);
    return s;
}

/* --vectors: the embedding table's rows for the vocabulary's words from the file, the others
 * uniform(-a, a) by seed, the pad row zero; coverage counted over the training tokens. */
static enum vm_status embedding_from_vectors(struct vm_graph *g, int32_t emb, const char *path, enum vm_vectors_format fmt,
                                             const struct vm_vocab *vocab, const struct vm_dataset *dtrain, double a,
                                             uint64_t seed, int32_t *table_out, struct vm_error *err) {
    if (emb < 0) return vm_errorf(err, VM_EINVAL, "--vectors: the model has no word embedding (a Gather of a 2-D float table); see --embedding");
    struct vm_value *tv = &g->values[g->nodes[emb].in[0]];
    if (tv->dtype != VM_DTYPE_FLOAT || tv->rank != 2 || !tv->data)
        return vm_errorf(err, VM_EINVAL, "--vectors: the word embedding '%s' is not a 2-D float initializer", tv->name);
    int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
    if (E > INT32_MAX) return vm_errorf(err, VM_EINVAL, "--vectors: the embedding '%s' is %lld wide", tv->name, (long long)E);
    char what[600];
    snprintf(what, sizeof what, "the embedding table '%s' [%lld, %lld]", tv->name, (long long)V, (long long)E);
    size_t nbytes = sizeof(float) * (size_t)V * (size_t)E;
    float *table = vm_alloc_big(nbytes ? nbytes : 1);
    uint8_t *found = vm_calloc((size_t)V, 1, err);
    int64_t *tok = vm_calloc((size_t)V, sizeof *tok, err);
    enum vm_status s = table && found && tok ? VM_OK : vm_errorf(err, VM_ENOMEM, "--vectors: out of memory for a %lld x %lld table",
                                                                  (long long)V, (long long)E);
    for (int64_t i = 0; !s && i < dtrain->start[dtrain->n]; i++)
        if (dtrain->ids[i] >= 0 && dtrain->ids[i] < V) tok[dtrain->ids[i]]++;
    if (!s) s = vm_cli_read_vectors(path, fmt, vocab, (int32_t)E, what, table, found, tok, dtrain->start[dtrain->n],
                                    "the training data", err);
    if (!s) {
        vm_vectors_fill_missing(table, V, (int32_t)E, found, vocab->n, vocab->pad_id, a, seed);
        int64_t missing = 0;
        for (int64_t id = 0; id < V; id++) missing += id != vocab->pad_id && (id >= vocab->n || found[id] == VM_VECTOR_MISSING);
        printf("vectors: the other %lld rows uniform(-%g, %g) (seed %llu)%s\n", (long long)missing, a, a, (unsigned long long)seed,
               vocab->pad_id >= 0 ? ", the pad row zero" : "");
        vm_value_set_data(tv, table, nbytes);
        table = NULL;
        *table_out = g->nodes[emb].in[0];
    }
    free(table);
    free(found);
    free(tok);
    return s;
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
    struct vm_labels labels = {0};
    double t_start = mono_s(), t_loaded = 0, t_export = 0;
    bool mask_output = false, profile = false, case_given = false, punct_given = false, timings = false;
    bool method_given = false, wd_given = false, allow_short = false;
    double iba_beta = 0.1; /* not the reference's 10: see --help and the README's IBA row */
    const char *given[64];
    int n_given = 0;
    float *iba_stats = NULL;
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
    struct vm_error err = {0};
    int rc = VM_EXIT_OK;
    struct vm_vocab vocab = {0};
    struct vm_dataset dtrain = {0}, ddev = {0}, dtest = {0};
    Onnx__ModelProto *onnx = NULL;
    struct vm_graph *g = NULL;
    struct vm_rt_model *rt = NULL;
    struct vm_plan_parts plan = {0};
    struct vm_train_result res = {0};
    enum vm_status s_split;
    int32_t vec_table = -1;
    bool setup_done = false; /* under mpirun, errors before it are printed once (vm_cli_dist_setup_done) */

    /* outputs are checked before minutes of training, not after */
    if (vm_cli_check_output(out, "-o", &err) || vm_cli_check_output(ckpt, "--checkpoint", &err) ||
        (history && vm_cli_check_output(history, "--history", &err)))
        goto fail;
    if (labels_path && vm_labels_load(&labels, labels_path, &err)) goto fail;
    if (vocab_path) {
        if (vm_vocab_load(&vocab, vocab_path, pad, unk, &err)) goto fail;
    } else if (stored_vocab(model, &vocab, pad, unk, &tok_kind, &tok, case_given, punct_given, &labels, &err)) {
        goto fail;
    }
    /* class names: --labels, the model's own, else TRAIN's labels when they are not all integers */
    if (!labels.n && vm_data_collect_labels(train_path, &dopts, &labels, &err)) goto fail;
    dopts.labels = &labels;
    if (vm_tokenizer_for_vocab(&tok, &vocab, tok_kind, vocab_path ? vocab_path : model, &err)) goto fail;
    to.pad_id = vocab.pad_id;
    int64_t keep_ids[8];
    to.n_keep_ids = vm_vocab_special_ids(&vocab, keep_ids, 8);
    to.keep_ids = keep_ids;
    if (vm_dataset_load(&dtrain, train_path, &vocab, &tok, (int32_t)max_len, &dopts, &err) ||
        (dev_path && vm_dataset_load(&ddev, dev_path, &vocab, &tok, (int32_t)max_len, &dopts, &err)) ||
        (test_path && vm_dataset_load(&dtest, test_path, &vocab, &tok, (int32_t)max_len, &dopts, &err)))
        goto fail;
    if (dev_split) {
        struct vm_dataset all = dtrain;
        s_split = vm_dataset_split(&all, dev_split, (uint64_t)tc.seed, &dtrain, &ddev, &err);
        vm_dataset_free(&all);
        if (s_split) {
            vm_error_prefix(&err, "--dev-split %g of %s", dev_split, train_path);
            goto fail;
        }
        printf("dev: %lld %s held out of %s (--dev-split %g, seed %lld)\n", (long long)ddev.n, vm_plural(ddev.n, "example", "examples"), train_path, dev_split,
               (long long)tc.seed);
    }
    printf("data: %lld train, %lld dev%s", (long long)dtrain.n, (long long)ddev.n, test_path ? ", " : "");
    if (test_path) printf("%lld test", (long long)dtest.n);
    printf(" %s; vocabulary %d tokens (pad %s, unk %s; %s tokenizer%s); %.1f%% of training %s unknown\n",
           vm_plural(test_path ? dtest.n : ddev.n, "example", "examples"), vocab.n,
           vocab.pad_id >= 0 ? vocab.tokens[vocab.pad_id] : "none", vocab.unk_id >= 0 ? vocab.tokens[vocab.unk_id] : "none",
           vm_tokenizer_name(&tok), tok.kind == VM_TOKENIZER_WORDPIECE ? tok.lowercase ? ", uncased" : ", cased" : "",
           dtrain.n_tokens ? 100.0 * (double)dtrain.n_unk / (double)dtrain.n_tokens : 0.0,
           tok.kind == VM_TOKENIZER_WORDPIECE ? "words" : "tokens");

    if (labels.n) {
        printf("classes:");
        for (int32_t k = 0; k < labels.n; k++) printf(" %s=%d", labels.names[k], k);
        printf("%s\n", labels_path ? " (--labels)" : "");
    }
    if (vm_cli_compile_onnx_training(model, &mo, &onnx, &g, &err)) goto fail;
    for (size_t k = 0; vocab_path && k < onnx->n_metadata_props; k++) /* a vmaskc export: --vocab must be its own */
        if (onnx->metadata_props[k]->key && !strcmp(onnx->metadata_props[k]->key, "vmaskc.vocab") && onnx->metadata_props[k]->value &&
            vm_vocab_check_stored(&vocab, vocab_path, onnx->metadata_props[k]->value, model, &err))
            goto fail;
    {
        int32_t emb;
        if (vm_find_embedding(g, mo.embedding, &emb, &err)) goto fail;
        if (emb >= 0) {
            int64_t rows = vm_dim_value(&g->values[g->nodes[emb].in[0]].dims[0]);
            if (vocab.n > rows) {
                vm_errorf(&err, VM_EINVAL, "the vocabulary has %d tokens but the model's embedding table '%s' has %lld rows; "
                          "use the vocabulary the model was built with", vocab.n, g->values[g->nodes[emb].in[0]].name, (long long)rows);
                goto fail;
            }
            if (vocab_path && vocab.n < rows && !allow_short) {
                vm_errorf(&err, VM_EINVAL, "the vocabulary %s has %d tokens but the model's embedding table '%s' has %lld rows: is it the "
                          "model's vocabulary? (--allow-short-vocab if the extra rows are meant to stay unused)", vocab_path, vocab.n,
                          g->values[g->nodes[emb].in[0]].name, (long long)rows);
                goto fail;
            }
        }
        if (vectors && embedding_from_vectors(g, emb, vectors, vectors_format, &vocab, &dtrain, oov_init, (uint64_t)tc.seed, &vec_table, &err))
            goto fail;
    }
    if (to.method == VM_METHOD_IBA) {
        int32_t emb;
        if (vm_find_embedding(g, mo.embedding, &emb, &err) || iba_statistics(g, emb, &dtrain, &to, &iba_stats, &err)) goto fail;
    }
    struct vm_train_info info;
    if (vm_build_training(g, &to, &info, &err)) {
        vm_error_prefix(&err, "%s", model);
        goto fail;
    }
    if (labels.n > info.n_classes) {
        vm_errorf(&err, VM_EINVAL, "%s has %d classes (%s%s%s ...) but the model has %lld outputs", labels_path ? labels_path : train_path,
                  labels.n, labels.names[0], labels.n > 1 ? ", " : "", labels.n > 1 ? labels.names[1] : "", (long long)info.n_classes);
        goto fail;
    }
    if (vm_dataset_check_labels(&dtrain, info.n_classes, &err) || vm_dataset_check_labels(&ddev, info.n_classes, &err) ||
        (test_path && vm_dataset_check_labels(&dtest, info.n_classes, &err)))
        goto fail;
    char method_desc[128];
    if (to.method == VM_METHOD_BASE) snprintf(method_desc, sizeof method_desc, "mask off (--no-mask)");
    else if (to.method == VM_METHOD_L2) snprintf(method_desc, sizeof method_desc, "mask off, weight decay %g (--method l2)", to.weight_decay);
    else if (to.method == VM_METHOD_L2X)
        snprintf(method_desc, sizeof method_desc, "L2X mask (k %lld, tau %g) after the word embedding", (long long)to.l2x_k, to.l2x_tau);
    else if (to.method == VM_METHOD_IBA) snprintf(method_desc, sizeof method_desc, "IBA mask (beta %g) after the word embedding", iba_beta);
    else snprintf(method_desc, sizeof method_desc, "mask %s", to.mask_after ? "after the given value" : "after the word embedding");
    printf("model: %s, %lld classes; %lld of %lld parameters trainable%s; %s\n", model, (long long)info.n_classes,
           (long long)info.n_trainable, (long long)info.n_params, to.train_embedding ? "" : " (word embedding frozen)", method_desc);
    /* the plan in pieces: the runtime copies the weights once, from the ModelProto they were read into */
    if (vm_emit_plan_parts(g, model, &plan, &err)) goto fail;
    struct vm_rt_opts ro = {.threads = mo.threads, .max_memory = mo.max_memory};
    if (vm_rt_model_from_parts(&rt, &plan, model, &ro, &err)) goto fail;
    vm_plan_parts_free(&plan);
    struct lookup_ctx lc = {.m = rt, .g = g, .table = vec_table};
    vm_export_release_trained(onnx, g, param_lookup, &lc);
    t_loaded = mono_s();
    struct vm_feeder feeder;
    if (vm_feeder_init(&feeder, rt, vocab.pad_id >= 0 ? vocab.pad_id : 0, &err)) goto fail;

    if (vm_cli_check_longest(&feeder, &dtrain, tc.batch, &err) || vm_cli_check_longest(&feeder, &ddev, tc.batch, &err) ||
        (test_path && vm_cli_check_longest(&feeder, &dtest, tc.batch, &err)))
        goto fail;
    setup_done = true;
    if ((rc = vm_cli_dist_setup_done("train", &err))) goto done; /* another process failed and said why */
    tc.interrupted = &interrupted;
    if (profile) vm_rt_profile_enable(rt, true);
    tc.progress = lead ? stderr : NULL;
    if (n_proc > 1)
        printf("data-parallel: %d processes, each runs about %d of every %d examples\n", n_proc, (tc.batch + n_proc - 1) / n_proc, tc.batch);
    tc.progress_tty = isatty(fileno(stderr));
    enum vm_status s = vm_train(&feeder, &tc, &dtrain, &ddev, test_path ? &dtest : NULL, &res, &err);
    if (s) goto fail;
    printf("best dev accuracy %.2f%% (epoch %d of %d)", 100 * res.best_dev_acc, res.best_epoch, res.epochs_run);
    if (test_path) printf("; test accuracy %.2f%%", 100 * res.test_acc);
    printf("; %.0f training sentences/s\n", res.sentences_per_s);
    if (n_proc > 1 && res.n_steps)
        printf("data-parallel: %d processes summed %.3f MiB of gradients per step (%lld steps); %lld of %lld buckets started "
               "during the backward pass\n", n_proc, (double)res.comm_bytes / (double)res.n_steps / 1048576.0, (long long)res.n_steps,
               (long long)res.buckets_early, (long long)res.buckets);
    {
        int64_t n_inst;
        double ms;
        vm_rt_build_stats(rt, &n_inst, &ms);
        size_t per, arena, scratch;
        vm_rt_memory(rt, &per, &arena, &scratch);
        printf("runtime: %lld batch shapes compiled (%.1f s), memory %.1f MiB parameters and state + %.1f MiB arena + %.1f MiB scratch\n",
               (long long)n_inst, ms / 1e3, (double)per / 1048576.0, (double)arena / 1048576.0, (double)scratch / 1048576.0);
    }

    if (profile) {
        printf("time per op over the whole run (training steps and evaluation):\n");
        vm_rt_profile_print(rt, stdout);
        vm_rt_memory_print(rt, stdout);
    }
    /* export */
    struct vm_train_export tx = {.vocab = &vocab, .tok = &tok, .labels = &labels, .to = &to, .n_classes = info.n_classes,
                                 .dev_acc = res.best_dev_acc, .test_acc = res.test_acc, .iba_beta = iba_beta, .embedding = mo.embedding,
                                 .mask_output = mask_output, .min_seq = feeder.min_len};
    double t0 = mono_s();
    if (lead && vm_train_export(onnx, g, &tx, param_lookup, &lc, out, &err)) goto fail;
    t_export = mono_s() - t0;
    printf("exported %s\n", out);
    if (timings && res.n_steps) {
        double *st = malloc(sizeof(double) * (size_t)res.n_steps), sum = 0;
        if (st) {
            for (int64_t i = 0; i < res.n_steps; i++) sum += (st[i] = res.step_seconds[i]);
            qsort(st, (size_t)res.n_steps, sizeof *st, cmp_double);
            printf("timings: load %.3f first_step %.3f steps %lld step_median %.4f step_mean %.4f step_min %.4f export %.3f "
                   "gflop_per_step %.4f gflops %.2f\n",
                   t_loaded - t_start, res.first_step_at - t_start, (long long)res.n_steps, st[res.n_steps / 2],
                   sum / (double)res.n_steps, st[0], t_export, res.flops / (double)res.n_steps / 1e9, sum > 0 ? res.flops / sum / 1e9 : 0.0);
            free(st);
        }
    }

    /* the globally most important words */
    if (!to.no_mask && !to.mask_after && info.embedding_node >= 0 && top > 0) {
        const struct vm_value *tv = &g->values[g->nodes[info.embedding_node].in[0]];
        int64_t V = vm_dim_value(&tv->dims[0]), E = vm_dim_value(&tv->dims[1]);
        size_t nb;
        const float *table = param_lookup(&lc, tv->name, &nb);
        if (!table) table = tv->data;
        float *keep = malloc(sizeof(float) * (size_t)V);
        struct word_score *ws = malloc(sizeof *ws * (size_t)V);
        if (keep && ws && !vm_mask_word_importance((int)to.method, table, V, E, param_lookup, &lc, keep, &err)) {
            /* rank words the training data shows often enough for their q to mean something */
            int64_t *freq = calloc((size_t)V + 1, sizeof *freq);
            int64_t n = 0;
            if (freq) {
                for (int64_t i = 0; i < dtrain.start[dtrain.n]; i++)
                    if (dtrain.ids[i] < V) freq[dtrain.ids[i]]++;
                for (int32_t id = 0; id < vocab.n && id < V; id++)
                    if (!vm_vocab_is_special(&vocab, id) && freq[id] >= min_freq) ws[n++] = (struct word_score){keep[id], id};
                qsort(ws, (size_t)n, sizeof *ws, cmp_score);
                printf("top %lld words by global importance, the %s (words seen at least %lld times in training):\n",
                       top < n ? top : (long long)n, importance_label(to.method), min_freq);
                for (int64_t i = 0; i < top && i < n; i++)
                    printf("  %3lld  %-20s %s %.4f  (%lld times)\n", (long long)i + 1, vocab.tokens[ws[i].id],
                           to.method == VM_METHOD_VMASK ? "q" : to.method == VM_METHOD_L2X ? "score" : "lambda", ws[i].q,
                           (long long)freq[ws[i].id]);
                free(freq);
            }
        }
        free(keep);
        free(ws);
    }
    goto done;
fail:
    if (!setup_done) {
        rc = vm_cli_dist_setup_done("train", &err);
        goto done;
    }
    if (vm_dist_size() > 1 && err.code != VM_EINTERRUPTED && !res.shared_error) {
        /* this process's error stops every process: nobody waits for it in a collective */
        vm_error_prefix(&err, "process %d of %d", vm_dist_rank(), vm_dist_size());
        vm_dist_abort(vm_cli_fail("train", &err));
    }
    rc = lead ? vm_cli_fail("train", &err) : vm_cli_exit_code(err.code);
done:
    vm_dist_finalize();
    vm_train_result_free(&res);
    free(iba_stats);
    vm_labels_free(&labels);
    vm_plan_parts_free(&plan);
    vm_rt_model_free(rt);
    vm_graph_free(g);
    vm_onnx_free_model(onnx);
    vm_dataset_free(&dtrain);
    vm_dataset_free(&ddev);
    vm_dataset_free(&dtest);
    vm_vocab_free(&vocab);
    return rc;
}
