/* words / eval / predict: inspecting a trained (exported) model.
 *   vmaskc words MODEL [--top N] [--data CORPUS.tsv] [--tsv OUT.tsv]
 *   vmaskc eval MODEL --data FILE [--batch N]
 *   vmaskc predict MODEL "text" ["text" ...] */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "textmodel.h"

struct ws {
    float q;
    int32_t id;
};

static int cmp_ws(const void *a, const void *b) {
    const struct ws *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? 1 : -1;
    return x->id - y->id;
}

int vm_cmd_words(int argc, char **argv) {
    struct vm_text_opts o;
    vm_text_opts_init(&o);
    const char *path = NULL, *data = NULL, *tsv = NULL;
    long long top = 20;
    bool bottom = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc words MODEL.onnx [--top N] [--bottom] [--data CORPUS.tsv] [--tsv OUT.tsv]\n"
                   "Lists words by global importance q = the VMASK keep probability of the word (the expectation of\n"
                   "its mask). With --data: each word's frequency in the corpus and the Pearson correlation between\n"
                   "frequency and q (the paper's Table 11). --tsv writes word, q, frequency for the whole vocabulary.\n");
            return VM_EXIT_OK;
        }
        int r = vm_text_option("words", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(a, "--bottom")) {
            bottom = true;
            continue;
        }
        if (!strcmp(a, "--top") || !strcmp(a, "--data") || !strcmp(a, "--tsv")) {
            if (i + 1 >= argc) return vm_cli_usage_error("words", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--data")) data = v;
            else if (!strcmp(a, "--tsv")) tsv = v;
            else if (!vm_cli_parse_int(v, &top) || top < 0) return vm_cli_usage_error("words", "--top needs a non-negative integer");
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error("words", "unknown option '%s'", a);
        if (path) return vm_cli_usage_error("words", "more than one MODEL given");
        path = a;
    }
    if (!path) return vm_cli_usage_error("words", "missing MODEL");
    struct vm_error err = {0};
    struct vm_text_model tm;
    if (vm_text_model_load(&tm, path, &o, &err)) return vm_cli_fail("words", &err);
    int rc = VM_EXIT_OK;
    int64_t *freq = NULL;
    struct ws *ws = NULL;
    if (!tm.word_keep) {
        vm_errorf(&err, VM_EINVAL, "%s has no word-level mask (vmask.word_keep): train it with 'vmaskc train' and the mask after the word embedding",
                  path);
        rc = vm_cli_fail("words", &err);
        goto out;
    }
    int64_t V = tm.vocab.n < tm.n_words ? tm.vocab.n : tm.n_words;
    freq = calloc((size_t)V + 1, sizeof *freq);
    ws = malloc(sizeof *ws * (size_t)(V + 1));
    if (!freq || !ws) {
        rc = VM_EXIT_RUNTIME;
        goto out;
    }
    if (data) {
        struct vm_dataset d;
        if (vm_dataset_load(&d, data, &tm.vocab, &tm.tok, 0, &err)) {
            rc = vm_cli_fail("words", &err);
            goto out;
        }
        for (int64_t i = 0; i < d.start[d.n]; i++)
            if (d.ids[i] < V) freq[d.ids[i]]++;
        vm_dataset_free(&d);
    }
    int64_t n = 0;
    for (int32_t id = 0; id < V; id++)
        if (!vm_vocab_is_special(&tm.vocab, id)) ws[n++] = (struct ws){tm.word_keep[id], id};
    qsort(ws, (size_t)n, sizeof *ws, cmp_ws);
    if (top > 0) {
        printf("%s %lld words by global importance q%s:\n", bottom ? "bottom" : "top", top < n ? top : (long long)n,
               data ? " (with corpus frequency)" : "");
        for (int64_t k = 0; k < top && k < n; k++) {
            const struct ws *w = &ws[bottom ? n - 1 - k : k];
            printf("  %4lld  %-24s %.4f", (long long)k + 1, tm.vocab.tokens[w->id], w->q);
            if (data) printf("  %8lld", (long long)freq[w->id]);
            printf("\n");
        }
    }
    if (data) {
        /* Pearson correlation over words that occur in the corpus */
        int64_t *wf = malloc(sizeof *wf * (size_t)(n + 1)), m = 0;
        float *wq = malloc(sizeof *wq * (size_t)(n + 1));
        if (!wf || !wq) {
            free(wf);
            free(wq);
            rc = VM_EXIT_RUNTIME;
            goto out;
        }
        for (int64_t k = 0; k < n; k++) {
            wf[k] = freq[ws[k].id];
            wq[k] = ws[k].q;
        }
        double r = vm_cli_pearson_freq(wf, wq, n, &m);
        free(wf);
        free(wq);
        printf("Pearson correlation between word frequency and q: %.4f (%lld words occurring in %s)\n", r, (long long)m, data);
    }
    if (tsv) {
        size_t cap = 64 + (size_t)V * 64, pos = 0;
        char *buf = malloc(cap);
        if (!buf) {
            rc = VM_EXIT_RUNTIME;
            goto out;
        }
        pos += (size_t)snprintf(buf, cap, "word\tq\tfrequency\n");
        for (int64_t k = 0; k < n; k++) {
            size_t need = strlen(tm.vocab.tokens[ws[k].id]) + 48;
            if (pos + need >= cap) {
                cap = cap * 2 + need;
                char *nb = realloc(buf, cap);
                if (!nb) {
                    free(buf);
                    rc = VM_EXIT_RUNTIME;
                    goto out;
                }
                buf = nb;
            }
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s\t%.6f\t%lld\n", tm.vocab.tokens[ws[k].id], ws[k].q, (long long)freq[ws[k].id]);
        }
        if (vm_file_write_atomic(tsv, buf, pos, &err)) rc = vm_cli_fail("words", &err);
        else printf("wrote %s (%lld words)\n", tsv, (long long)n);
        free(buf);
    }
out:
    free(freq);
    free(ws);
    vm_text_model_free(&tm);
    return rc;
}

int vm_cmd_eval(int argc, char **argv) {
    struct vm_text_opts o;
    vm_text_opts_init(&o);
    const char *path = NULL, *data = NULL;
    long long batch = 100, max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc eval MODEL.onnx --data FILE.tsv [--batch N] [--max-len L] [--vocab V] [--threads N] [--max-memory SIZE]\n"
                   "Prints the model's accuracy on label<TAB>text data (inference mode: the mask is its expectation q).\n");
            return VM_EXIT_OK;
        }
        int r = vm_text_option("eval", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(a, "--data") || !strcmp(a, "--batch") || !strcmp(a, "--max-len")) {
            if (i + 1 >= argc) return vm_cli_usage_error("eval", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--data")) data = v;
            else if (!vm_cli_parse_int(v, !strcmp(a, "--batch") ? &batch : &max_len) || (!strcmp(a, "--batch") ? batch < 1 || batch > 4096 : max_len < 1))
                return vm_cli_usage_error("eval", "%s needs a positive integer", a);
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error("eval", "unknown option '%s'", a);
        if (path) return vm_cli_usage_error("eval", "more than one MODEL given");
        path = a;
    }
    if (!path) return vm_cli_usage_error("eval", "missing MODEL");
    if (!data) return vm_cli_usage_error("eval", "missing --data FILE");
    struct vm_error err = {0};
    struct vm_text_model tm;
    if (vm_text_model_load(&tm, path, &o, &err)) return vm_cli_fail("eval", &err);
    struct vm_dataset d;
    int rc = VM_EXIT_OK;
    if (vm_dataset_load(&d, data, &tm.vocab, &tm.tok, (int32_t)max_len, &err)) {
        rc = vm_cli_fail("eval", &err);
        goto out;
    }
    if (tm.n_classes && d.max_label >= tm.n_classes) {
        vm_errorf(&err, VM_EINVAL, "%s has label %d but the model has %lld classes", data, d.max_label, (long long)tm.n_classes);
        rc = vm_cli_fail("eval", &err);
    } else {
        double acc;
        if (vm_evaluate(&tm.feeder, &d, (int)batch, &acc, &err)) rc = vm_cli_fail("eval", &err);
        else printf("accuracy %.2f%% (%lld examples, %s)\n", 100 * acc, (long long)d.n, data);
    }
    vm_dataset_free(&d);
out:
    vm_text_model_free(&tm);
    return rc;
}

int vm_cmd_predict(int argc, char **argv) {
    struct vm_text_opts o;
    vm_text_opts_init(&o);
    const char *path = NULL, *texts[256];
    int n_texts = 0;
    long long max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc predict MODEL.onnx \"some text\" [\"more text\" ...] [--vocab V] [--max-len L]\n"
                   "Prints each text's class probabilities and, for a VMASK model, each token's keep probability q.\n"
                   "--max-len L keeps the first L tokens of each text (for WordPiece: [CLS], L - 2 pieces, [SEP]).\n");
            return VM_EXIT_OK;
        }
        if (!strcmp(a, "--max-len")) {
            if (i + 1 >= argc || !vm_cli_parse_int(argv[i + 1], &max_len) || max_len < 1)
                return vm_cli_usage_error("predict", "--max-len needs a positive integer");
            i++;
            continue;
        }
        int r = vm_text_option("predict", argc, argv, &i, &o);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (a[0] == '-' && a[1]) return vm_cli_usage_error("predict", "unknown option '%s'", a);
        if (!path) path = a;
        else if (n_texts < 256) texts[n_texts++] = a;
    }
    if (!path) return vm_cli_usage_error("predict", "missing MODEL");
    if (!n_texts) return vm_cli_usage_error("predict", "missing text to classify");
    struct vm_error err = {0};
    struct vm_text_model tm;
    if (vm_text_model_load(&tm, path, &o, &err)) return vm_cli_fail("predict", &err);
    int rc = VM_EXIT_OK;
    float *probs = malloc(sizeof(float) * (size_t)(tm.n_classes > 0 ? tm.n_classes : 64));
    for (int t = 0; t < n_texts && rc == VM_EXIT_OK && probs; t++) {
        struct vm_encoding e;
        if (vm_text_model_encode(&tm, texts[t], (int32_t)max_len, &e, &err)) {
            vm_encoding_free(&e);
            rc = vm_cli_fail("predict", &err);
            break;
        }
        int32_t n = e.n;
        if (n == 0 || e.n_words == 0) {
            vm_encoding_free(&e);
            vm_errorf(&err, VM_EINVAL, "text %d has no tokens", t + 1);
            rc = vm_cli_fail("predict", &err);
            break;
        }
        const int32_t *seq = e.ids;
        struct vm_rt_inst *inst;
        if (vm_feed(&tm.feeder, &seq, &n, 1, 0, NULL, 0, 0, &inst, NULL, &err) || vm_rt_run(inst, VM_RT_FORWARD, false, &err)) {
            vm_encoding_free(&e);
            rc = vm_cli_fail("predict", &err);
            break;
        }
        vm_feeder_probs(&tm.feeder, inst, 1, probs);
        int64_t best = 0;
        for (int64_t k = 1; k < tm.n_classes; k++)
            if (probs[k] > probs[best]) best = k;
        printf("text %d: class %lld  probabilities", t + 1, (long long)best);
        for (int64_t k = 0; k < tm.n_classes; k++) printf(" %.4f", probs[k]);
        printf("\n");
        if (tm.word_keep) {
            printf("  token q:");
            for (int32_t k = 0; k < n; k++) printf(" %s=%.3f", e.pieces[k], e.ids[k] < tm.n_words ? tm.word_keep[e.ids[k]] : NAN);
            printf("\n");
        }
        vm_encoding_free(&e);
    }
    free(probs);
    vm_text_model_free(&tm);
    return rc;
}
