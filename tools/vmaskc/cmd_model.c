/* words / eval / predict: inspecting a trained (exported) model.
 *   vmaskc words MODEL [--top N] [--data CORPUS.tsv] [--tsv OUT.tsv] [--whole-words]
 *   vmaskc eval MODEL --data FILE [--batch N]
 *   vmaskc predict MODEL "text" ["text" ...] [--file TEXTS.txt] */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/vmaskc.h"
#include "cli.h"
#include "sbuf.h"

/* The whole-word ranking of a WordPiece model over the corpus' texts (vmaskc_words_whole): printed,
 * with its Pearson correlation, and appended to the TSV buffer after a "# whole words" line. */
static int whole_words(const vmaskc_model *m, const char *data, long long top, bool bottom, struct sbuf *tsv) {
    vmaskc_whole_words *w;
    vmaskc_error e;
    if (vmaskc_words_whole(m, data, &w, &e)) return vm_cli_fail_api("words", &e);
    int64_t n = w->n;
    if (top > 0) {
        printf("%s %lld whole words by the mean q of their pieces (frequency-weighted over %s; %lld words, %lld of several pieces):\n",
               bottom ? "bottom" : "top", top < n ? top : (long long)n, data, (long long)n, (long long)w->n_multi);
        for (int64_t k = 0; k < top && k < n; k++) {
            int64_t i = bottom ? n - 1 - k : k;
            printf("  %4lld  %-24s %.4f  %8lld  %s\n", (long long)k + 1, w->words[i], w->importance[i], (long long)w->frequency[i],
                   w->pieces[i]);
        }
    }
    struct vm_error err = {0};
    float *wq = vm_malloc(sizeof(float) * (size_t)(n + 1), &err);
    enum vm_status s = wq ? VM_OK : VM_ENOMEM;
    if (!s) {
        for (int64_t k = 0; k < n; k++) wq[k] = (float)w->importance[k];
        int64_t used = 0;
        double r = vm_cli_pearson_freq(w->frequency, wq, n, &used);
        printf("Pearson correlation between whole-word frequency and q: %.4f (%lld words occurring in %s)\n", r, (long long)used, data);
    }
    if (!s && tsv) sb_puts(tsv, "# whole words: word\tq\tfrequency\tpieces\n");
    for (int64_t k = 0; !s && tsv && k < n; k++)
        sb_printf(tsv, "%s\t%.6f\t%lld\t%s\n", w->words[k], w->importance[k], (long long)w->frequency[k], w->pieces[k]);
    free(wq);
    vmaskc_whole_words_free(w);
    return s ? vm_cli_fail("words", &err) : VM_EXIT_OK;
}

int vm_cmd_words(int argc, char **argv) {
    struct vm_cli_model_args ma;
    vm_cli_model_args_init(&ma);
    const char *path = NULL, *data = NULL, *tsv = NULL;
    long long top = 20, min_freq = 0;
    bool bottom = false, whole = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc words MODEL.onnx [--top N] [--bottom] [--data CORPUS.tsv [--min-freq N]] [--tsv OUT.tsv] [--whole-words]\n"
                   "Lists words by global importance q = the VMASK keep probability of the word (the expectation of\n"
                   "its mask); for an L2X model its selector score, for an IBA model its lambda (the share of the\n"
                   "embedding the bottleneck lets through), both per word as well. With --data: each word's frequency in the corpus and the Pearson correlation between\n"
                   "frequency and q (the paper's Table 11). --tsv writes word, q, frequency for the whole vocabulary.\n"
                   "A WordPiece model's vocabulary holds pieces (\"play\", \"##ing\"): the list above ranks pieces, and\n"
                   "with --data a second list ranks whole words as they occur in the corpus (a piece plus its ##\n"
                   "continuations), each scored by the mean q of its pieces weighted by frequency; --tsv then also gets\n"
                   "that table after a '# whole words' line (word, q, frequency, pieces). --whole-words asks for the\n"
                   "word list explicitly (it needs --data: words exist only in texts). --min-freq N lists only words seen\n"
                   "at least N times in --data (as train's list counts its training data).\n" VM_CLI_DATA_HELP);
            return VM_EXIT_OK;
        }
        int r = vm_cli_model_args_option("words", argc, argv, &i, &ma);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(a, "--bottom")) {
            bottom = true;
            continue;
        }
        if (!strcmp(a, "--whole-words")) {
            whole = true;
            continue;
        }
        if (!strcmp(a, "--top") || !strcmp(a, "--data") || !strcmp(a, "--tsv") || !strcmp(a, "--min-freq")) {
            if (i + 1 >= argc) return vm_cli_usage_error("words", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--data")) data = v;
            else if (!strcmp(a, "--tsv")) tsv = v;
            else if (!strcmp(a, "--min-freq")) {
                if (!vm_cli_parse_int(v, &min_freq) || min_freq < 1) return vm_cli_usage_error("words", "--min-freq needs a positive integer");
            } else if (!vm_cli_parse_int(v, &top) || top < 0) return vm_cli_usage_error("words", "--top needs a non-negative integer");
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error("words", "unknown option '%s'", a);
        if (path) return vm_cli_usage_error("words", "more than one MODEL given");
        path = a;
    }
    if (!path) return vm_cli_usage_error("words", "missing MODEL");
    if (min_freq > 0 && !data)
        return vm_cli_usage_error("words", "--min-freq needs --data CORPUS.tsv: the frequencies are counted there (as train counts its training data)");
    if (whole && !data)
        return vm_cli_usage_error("words", "--whole-words needs --data CORPUS.tsv: whole words are rebuilt from the pieces as they occur in texts; "
                                  "without texts only the per-piece ranking exists");
    struct vm_error oerr = {0};
    if (tsv && vm_cli_check_output(tsv, "--tsv", &oerr)) return vm_cli_fail("words", &oerr); /* before the work, not after */
    /* a client of the public API (runtime/vmaskc.h) */
    vmaskc_model *m;
    vmaskc_words *w = NULL;
    vmaskc_error e;
    vm_cli_model_args_done(&ma);
    if (vmaskc_model_open(path, &ma.o, &m, &e)) return vm_cli_fail_api("words", &e);
    vmaskc_status vs = data ? vmaskc_words_count(m, data, 0, &w, &e) : vmaskc_words_rank(m, &w, &e);
    if (vs == VMASKC_EUNSUPPORTED)
        snprintf(e.message, sizeof e.message, "%s has no word-level mask (vmask.word_keep, l2x.word_score or iba.word_lambda): train it "
                 "with 'vmaskc train' and the mask after the word embedding", path);
    if (vs) {
        vmaskc_model_close(m);
        return vm_cli_fail_api("words", &e);
    }
    const char *importance = NULL, *tokenizer = "words";
    vmaskc_model_mask(m, NULL, &importance, NULL);
    vmaskc_model_tokenizer(m, &tokenizer, NULL);
    bool wordpiece = !strcmp(tokenizer, "wordpiece");
    int64_t n = w->n;
    int rc = VM_EXIT_OK;
    if (top > 0) {
        int64_t eligible = 0;
        for (int64_t k = 0; k < n; k++) eligible += !data || w->frequency[k] >= min_freq;
        char note[96] = "";
        if (data && min_freq > 0) snprintf(note, sizeof note, " (with corpus frequency; words seen at least %lld times)", min_freq);
        else if (data) snprintf(note, sizeof note, " (with corpus frequency)");
        printf("%s %lld words by global importance %s%s:\n", bottom ? "bottom" : "top", top < eligible ? top : (long long)eligible,
               importance, note);
        for (int64_t k = 0, shown = 0; shown < top && k < n; k++) {
            int64_t i = bottom ? n - 1 - k : k;
            if (data && w->frequency[i] < min_freq) continue;
            printf("  %4lld  %-24s %.4f", (long long)++shown, w->tokens[i], w->importance[i]);
            if (data) printf("  %8lld", (long long)w->frequency[i]);
            printf("\n");
        }
    }
    if (data) { /* Pearson correlation over words that occur in the corpus */
        int64_t used = 0;
        double r = vm_cli_pearson_freq(w->frequency, w->importance, n, &used);
        printf("Pearson correlation between word frequency and q: %.4f (%lld words occurring in %s)\n", r, (long long)used, data);
    }
    if (whole && !wordpiece) printf("note: %s reads words whole (a word vocabulary): every word is one token, so the list above is per word\n", path);
    if (wordpiece && !data)
        printf("note: a WordPiece model: the list above ranks vocabulary pieces; give --data CORPUS.tsv to rank whole words (mean q of their pieces)\n");
    struct vm_error err = {0};
    struct sbuf buf = {0};
    if (tsv) sb_puts(&buf, "word\tq\tfrequency\n");
    for (int64_t k = 0; tsv && k < n; k++)
        sb_printf(&buf, "%s\t%.6f\t%lld\n", w->tokens[k], w->importance[k], (long long)(data ? w->frequency[k] : 0));
    if (!rc && wordpiece && data) {
        printf("\n");
        rc = whole_words(m, data, top, bottom, tsv ? &buf : NULL);
    }
    if (!rc && tsv) {
        if (buf.oom) vm_errorf(&err, VM_ENOMEM, "out of memory writing %s", tsv);
        if (buf.oom || vm_file_write_atomic(tsv, buf.p ? buf.p : "", buf.n, &err)) rc = vm_cli_fail("words", &err);
        else printf("wrote %s (%lld %s)\n", tsv, (long long)n, wordpiece && data ? "pieces, then the whole words" : "words");
    }
    free(buf.p);
    vmaskc_words_free(w);
    vmaskc_model_close(m);
    return rc;
}

/* One line per class: precision, recall, F1 (in %, "-" when undefined) and the examples of the class. */
static void eval_print_classes(const vmaskc_model *m, const vmaskc_evaluation *ev) {
    int w = 5; /* "class" */
    for (int c = 0; c < ev->n_classes; c++) {
        const char *name = "?";
        vmaskc_model_class_name(m, c, &name, NULL);
        if ((int)strlen(name) > w) w = (int)strlen(name);
    }
    printf("  %-*s  %9s  %7s  %7s  %8s\n", w, "class", "precision", "recall", "F1", "examples");
    for (int c = 0; c < ev->n_classes; c++) {
        const char *name = "?";
        vmaskc_model_class_name(m, c, &name, NULL);
        char p[16] = "-", r[16] = "-", f[16] = "-";
        if (!isnan(ev->precision[c])) snprintf(p, sizeof p, "%.2f%%", 100 * ev->precision[c]);
        if (!isnan(ev->recall[c])) snprintf(r, sizeof r, "%.2f%%", 100 * ev->recall[c]);
        if (!isnan(ev->f1[c])) snprintf(f, sizeof f, "%.2f%%", 100 * ev->f1[c]);
        printf("  %-*s  %9s  %7s  %7s  %8lld\n", w, name, p, r, f, (long long)ev->support[c]);
    }
}

int vm_cmd_eval(int argc, char **argv) {
    struct vm_cli_model_args ma;
    vm_cli_model_args_init(&ma);
    const char *path = NULL, *data = NULL;
    long long batch = 100, max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc eval MODEL.onnx --data FILE.tsv [--batch N] [--max-len L] [--vocab V] [--threads N] [--max-memory SIZE]\n"
                   "Prints the model's accuracy on labelled data (inference mode: the mask is its expectation q), then\n"
                   "per class (by name for a model trained with class names, which reads the names in the data too)\n"
                   "its precision, recall and F1 (\"-\" when undefined: the class never predicted, or absent) and\n"
                   "how many examples have it. --allow-short-vocab accepts a --vocab shorter than the\n"
                   "embedding table (for a model without a stored vocabulary).\n" VM_CLI_DATA_HELP);
            return VM_EXIT_OK;
        }
        int r = vm_cli_model_args_option("eval", argc, argv, &i, &ma);
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
    /* a client of the public API (runtime/vmaskc.h) */
    vmaskc_model *m;
    vmaskc_evaluation *ev;
    vmaskc_error e;
    vm_cli_model_args_done(&ma);
    if (vmaskc_model_open(path, &ma.o, &m, &e)) return vm_cli_fail_api("eval", &e);
    int rc = VM_EXIT_OK;
    if (vmaskc_evaluate(m, data, (int32_t)max_len, (int32_t)batch, &ev, &e)) rc = vm_cli_fail_api("eval", &e);
    else {
        printf("accuracy %.2f%% (%lld %s, %s)\n", 100 * ev->accuracy, (long long)ev->n, vm_plural(ev->n, "example", "examples"), data);
        eval_print_classes(m, ev);
        vmaskc_evaluation_free(ev);
    }
    vmaskc_model_close(m);
    return rc;
}

/* The texts to classify: the command line's, then --file's lines (owned copies). */
struct predict_texts {
    char **text;
    const char **where; /* for messages: NULL (text N) or the --file path, with line[] */
    int64_t *line;
    int64_t n, cap;
};

static enum vm_status predict_add(struct predict_texts *t, const char *text, size_t len, const char *where, int64_t line,
                                  struct vm_error *err) {
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 64;
        char **nt = vm_realloc(t->text, sizeof *nt * (size_t)cap, err);
        if (!nt) return err->code;
        t->text = nt;
        const char **nw = vm_realloc(t->where, sizeof *nw * (size_t)cap, err);
        if (!nw) return err->code;
        t->where = nw;
        int64_t *nl = vm_realloc(t->line, sizeof *nl * (size_t)cap, err);
        if (!nl) return err->code;
        t->line = nl;
        t->cap = cap;
    }
    char *c = vm_malloc(len + 1, err);
    if (!c) return err->code;
    memcpy(c, text, len);
    c[len] = 0;
    t->text[t->n] = c;
    t->where[t->n] = where;
    t->line[t->n++] = line;
    return VM_OK;
}

/* One text per line of path ("-": stdin); an empty line is an error naming it, and so are invalid
 * UTF-8 and NUL bytes unless replace (then U+FFFD). */
static enum vm_status predict_read_file(struct predict_texts *t, const char *path, bool replace, struct vm_error *err) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return vm_errorf(err, VM_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t no = 0;
    enum vm_status s = VM_OK;
    while (!s && (len = getline(&line, &cap, f)) >= 0) {
        no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        char *fixed = NULL;
        if (len == 0) s = vm_errorf(err, VM_EINVAL, "%s:%lld: empty line (one text per line)", path, (long long)no);
        else if ((s = vm_utf8_check(line, (size_t)len, replace, &fixed, "the text", err))) vm_error_prefix(err, "%s:%lld", path, (long long)no);
        else s = fixed ? predict_add(t, fixed, strlen(fixed), path, no, err) : predict_add(t, line, (size_t)len, path, no, err);
        free(fixed);
    }
    if (!s && ferror(f)) s = vm_errorf(err, VM_EIO, "%s: read error: %s", path, strerror(errno));
    if (!s && no == 0) s = vm_errorf(err, VM_EINVAL, "%s: no texts", path);
    free(line);
    if (f != stdin) fclose(f);
    return s;
}

static void predict_texts_free(struct predict_texts *t) {
    for (int64_t i = 0; i < t->n; i++) free(t->text[i]);
    free(t->text);
    free(t->where);
    free(t->line);
}

/* The API's error as the command words it: a text at fault is named by its number, or by file:line
 * when it came from --file. */
static int predict_fail(const vmaskc_error *e, const struct predict_texts *t) {
    struct vm_error err = {.code = (enum vm_status)e->code};
    int64_t k = e->item;
    bool no_tokens = strstr(e->message, "has no tokens") != NULL;
    if (!t || k < 0 || k >= t->n) snprintf(err.msg, sizeof err.msg, "%s", e->message);
    else if (t->where[k] && no_tokens) snprintf(err.msg, sizeof err.msg, "%s:%lld: the text has no tokens", t->where[k], (long long)t->line[k]);
    else if (no_tokens) snprintf(err.msg, sizeof err.msg, "text %lld has no tokens", (long long)k + 1);
    else if (t->where[k]) snprintf(err.msg, sizeof err.msg, "%s:%lld: %s", t->where[k], (long long)t->line[k], e->message);
    else snprintf(err.msg, sizeof err.msg, "text %lld: %s", (long long)k + 1, e->message);
    if (k >= 0 && strstr(e->message, "memory limit")) /* a text too long for the model: say what helps */
        snprintf(err.msg + strlen(err.msg), sizeof err.msg - strlen(err.msg), " (--max-len L keeps the first L tokens)");
    return vm_cli_fail("predict", &err);
}

/* Prints the prediction of texts [0, n) of one vmaskc_predict call (k0: the first one's number - 1). */
static void predict_print(const vmaskc_model *m, const vmaskc_prediction *p, int64_t k0, int digits) {
    const char *importance = NULL;
    vmaskc_model_mask(m, NULL, &importance, NULL);
    for (int64_t i = 0; i < p->n; i++) {
        const float *probs = p->probs + i * p->n_classes;
        const char *name = NULL;
        vmaskc_model_class_name(m, p->label[i], &name, NULL);
        printf("text %lld: class %s  probabilities", (long long)(k0 + i + 1), name ? name : "?");
        for (int c = 0; c < p->n_classes; c++) printf(" %.*f", digits, probs[c]);
        printf("\n");
        if (p->keep) {
            printf("  token %s:", importance);
            for (int64_t j = p->offset[i]; j < p->offset[i + 1]; j++) printf(" %s=%.3f", p->tokens[j], p->keep[j]);
            printf("\n");
        }
    }
}

int vm_cmd_predict(int argc, char **argv) {
    struct vm_cli_model_args ma;
    vm_cli_model_args_init(&ma);
    const char *path = NULL, *file = NULL;
    struct predict_texts t = {0};
    long long max_len = 0, digits = 4;
    struct vm_error err = {0};
    int rc = VM_EXIT_OK;
    for (int i = 1; i < argc && rc == VM_EXIT_OK; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc predict MODEL.onnx \"some text\" [\"more text\" ...] [--file TEXTS.txt] [--vocab V] [--max-len L]\n"
                   "                      [--digits N]\n"
                   "Prints each text's class probabilities and, for a model with a mask layer, each token's importance:\n"
                   "VMASK keep probability q, L2X score or IBA lambda. MODEL is an ONNX classifier (an export of 'vmaskc train'\n"
                   "carries its vocabulary; otherwise give --vocab) or a plan compiled from an export ('vmaskc compile').\n"
                   "--file F reads one text per line of F ('-': stdin; the whole line is text), after the texts given.\n"
                   "--max-len L keeps the first L tokens of each text (for WordPiece: [CLS], L - 2 pieces, [SEP]).\n"
                   "--digits N prints the probabilities with N decimals (default 4, at most 9).\n"
                   "--replace-invalid reads invalid UTF-8 and NUL bytes as U+FFFD (default: an error naming the text).\n"
                   "--pairs reads a text 'a<TAB>b' as a sentence pair ([CLS] a [SEP] b [SEP], token types 1 on b; WordPiece\n"
                   "models); a model trained with --pairs does so without it.\n"
                   "A model trained with class names prints the name of the class.\n");
            predict_texts_free(&t);
            return VM_EXIT_OK;
        }
        if (!strcmp(a, "--max-len") || !strcmp(a, "--digits")) {
            bool ml = !strcmp(a, "--max-len");
            long long *v = ml ? &max_len : &digits;
            if (i + 1 >= argc || !vm_cli_parse_int(argv[i + 1], v) || *v < (ml ? 1 : 0) || (!ml && *v > 9))
                rc = vm_cli_usage_error("predict", ml ? "--max-len needs a positive integer" : "--digits needs an integer from 0 to 9");
            i++;
            continue;
        }
        if (!strcmp(a, "--file")) {
            if (i + 1 >= argc) rc = vm_cli_usage_error("predict", "--file needs a file of texts, one per line");
            else file = argv[++i];
            continue;
        }
        int r = vm_cli_model_args_option("predict", argc, argv, &i, &ma);
        if (r < 0) rc = VM_EXIT_USAGE;
        if (r) continue;
        if (a[0] == '-' && a[1]) rc = vm_cli_usage_error("predict", "unknown option '%s'", a);
        else if (!path) path = a;
        else if (predict_add(&t, a, strlen(a), NULL, 0, &err)) rc = vm_cli_fail("predict", &err);
    }
    if (rc == VM_EXIT_OK && !path) rc = vm_cli_usage_error("predict", "missing MODEL");
    if (rc == VM_EXIT_OK && file && predict_read_file(&t, file, ma.text.data.replace_invalid, &err)) rc = vm_cli_fail("predict", &err);
    if (rc == VM_EXIT_OK && !t.n) rc = vm_cli_usage_error("predict", "missing text to classify");
    if (rc != VM_EXIT_OK) {
        predict_texts_free(&t);
        return rc;
    }
    /* a client of the public API (runtime/vmaskc.h); the model opens with every option parsed above */
    vmaskc_model *m;
    vmaskc_error e;
    vm_cli_model_args_done(&ma);
    if (vmaskc_model_open(path, &ma.o, &m, &e)) {
        predict_texts_free(&t);
        return predict_fail(&e, NULL);
    }
    /* in chunks, so a long --file prints as it goes and holds one chunk's results at a time */
    for (int64_t k0 = 0; k0 < t.n && rc == VM_EXIT_OK; k0 += 1024) {
        int64_t n = t.n - k0 < 1024 ? t.n - k0 : 1024;
        vmaskc_prediction *p;
        if (vmaskc_predict(m, (const char *const *)t.text + k0, n, (int32_t)max_len, 0, &p, &e)) {
            if (e.item >= 0) e.item += k0;
            rc = predict_fail(&e, &t);
            break;
        }
        predict_print(m, p, k0, (int)digits);
        vmaskc_prediction_free(p);
    }
    predict_texts_free(&t);
    vmaskc_model_close(m);
    return rc;
}
