/* words / eval / predict: inspecting a trained (exported) model.
 *   vmaskc words MODEL [--top N] [--data CORPUS.tsv] [--tsv OUT.tsv] [--whole-words]
 *   vmaskc eval MODEL --data FILE [--batch N]
 *   vmaskc predict MODEL "text" ["text" ...] [--file TEXTS.txt] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/explain.h"
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

/* Whole words of a WordPiece model: score descending, then the more frequent, then first seen. */
static const struct vm_word_table *sort_wt;
static int cmp_word(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    double sx = sort_wt->score[x], sy = sort_wt->score[y];
    if (isnan(sx) != isnan(sy)) return isnan(sx) ? 1 : -1;
    if (sx != sy) return sx < sy ? 1 : -1;
    if (sort_wt->freq[x] != sort_wt->freq[y]) return sort_wt->freq[x] < sort_wt->freq[y] ? 1 : -1;
    return x < y ? -1 : x > y;
}

/* The per-word ranking of a WordPiece model over the corpus' texts (vm_word_table_build): printed,
 * with its Pearson correlation, and appended to the TSV buffer after a "# whole words" line. */
static enum vm_status whole_words(const struct vm_text_model *tm, const struct vm_dataset *d, const char *data, long long top, bool bottom,
                                  char **tsv_buf, size_t *tsv_pos, size_t *tsv_cap, struct vm_error *err) {
    const struct vm_vocab *v = &tm->vocab;
    double *q = vm_malloc(sizeof(double) * (size_t)v->n, err);
    if (!q) return VM_ENOMEM;
    for (int32_t id = 0; id < v->n; id++) q[id] = id < tm->n_words && !vm_vocab_is_special(v, id) ? tm->word_keep[id] : NAN;
    struct vm_word_table wt;
    enum vm_status s = vm_word_table_build(&tm->tok, v, d->texts, d->n, 0, q, &wt, err);
    free(q);
    if (s) return vm_error_prefix(err, "%s", data);
    int64_t *idx = vm_malloc(sizeof(int64_t) * (size_t)(wt.n + 1), err);
    int64_t *wf = vm_malloc(sizeof(int64_t) * (size_t)(wt.n + 1), err);
    float *wq = vm_malloc(sizeof(float) * (size_t)(wt.n + 1), err);
    if (!idx || !wf || !wq) s = VM_ENOMEM;
    int64_t n = 0, multi = 0;
    for (int64_t i = 0; !s && i < wt.n; i++) {
        if (isnan(wt.score[i])) continue; /* only [UNK]-like pieces: no q */
        idx[n++] = i;
        multi += strchr(wt.pieces[i], ' ') != NULL;
    }
    if (!s) {
        sort_wt = &wt;
        qsort(idx, (size_t)n, sizeof *idx, cmp_word);
        if (top > 0) {
            printf("%s %lld whole words by the mean q of their pieces (frequency-weighted over %s; %lld words, %lld of several pieces):\n",
                   bottom ? "bottom" : "top", top < n ? top : (long long)n, data, (long long)n, (long long)multi);
            for (int64_t k = 0; k < top && k < n; k++) {
                int64_t i = idx[bottom ? n - 1 - k : k];
                printf("  %4lld  %-24s %.4f  %8lld  %s\n", (long long)k + 1, wt.words[i], wt.score[i], (long long)wt.freq[i], wt.pieces[i]);
            }
        }
        for (int64_t k = 0; k < n; k++) {
            wf[k] = wt.freq[idx[k]];
            wq[k] = (float)wt.score[idx[k]];
        }
        int64_t m = 0;
        double r = vm_cli_pearson_freq(wf, wq, n, &m);
        printf("Pearson correlation between whole-word frequency and q: %.4f (%lld words occurring in %s)\n", r, (long long)m, data);
    }
    for (int64_t k = 0; !s && tsv_buf && k <= n; k++) {
        char line[64];
        const char *w = k ? wt.words[idx[k - 1]] : "# whole words: word";
        const char *p = k ? wt.pieces[idx[k - 1]] : "pieces";
        if (k) snprintf(line, sizeof line, "\t%.6f\t%lld\t", wt.score[idx[k - 1]], (long long)wt.freq[idx[k - 1]]);
        else snprintf(line, sizeof line, "\tq\tfrequency\t");
        size_t need = strlen(w) + strlen(line) + strlen(p) + 2;
        if (*tsv_pos + need >= *tsv_cap) {
            size_t cap = *tsv_cap * 2 + need;
            char *nb = vm_realloc(*tsv_buf, cap, err);
            if (!nb) {
                s = VM_ENOMEM;
                break;
            }
            *tsv_buf = nb;
            *tsv_cap = cap;
        }
        *tsv_pos += (size_t)snprintf(*tsv_buf + *tsv_pos, *tsv_cap - *tsv_pos, "%s%s%s\n", w, line, p);
    }
    free(idx);
    free(wf);
    free(wq);
    vm_word_table_free(&wt);
    return s;
}

int vm_cmd_words(int argc, char **argv) {
    struct vm_text_opts o;
    vm_text_opts_init(&o);
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
                   "at least N times in --data (as train's list counts its training data).\n");
            return VM_EXIT_OK;
        }
        int r = vm_text_option("words", argc, argv, &i, &o);
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
    struct vm_error err = {0};
    struct vm_text_model tm;
    if (vm_text_model_load(&tm, path, &o, &err)) return vm_cli_fail("words", &err);
    int rc = VM_EXIT_OK;
    int64_t *freq = NULL;
    struct ws *ws = NULL;
    struct vm_dataset d = {0}; /* --data, freed at out */
    if (!tm.word_keep) {
        vm_errorf(&err, VM_EINVAL, "%s has no word-level mask (vmask.word_keep, l2x.word_score or iba.word_lambda): train it with 'vmaskc train' and the mask after the word embedding",
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
    bool wordpiece = tm.tok.kind == VM_TOKENIZER_WORDPIECE;
    if (data) {
        if (vm_dataset_load(&d, data, &tm.vocab, &tm.tok, 0, &err)) {
            rc = vm_cli_fail("words", &err);
            goto out;
        }
        for (int64_t i = 0; i < d.start[d.n]; i++)
            if (d.ids[i] < V) freq[d.ids[i]]++;
    }
    int64_t n = 0;
    for (int32_t id = 0; id < V; id++)
        if (!vm_vocab_is_special(&tm.vocab, id)) ws[n++] = (struct ws){tm.word_keep[id], id};
    qsort(ws, (size_t)n, sizeof *ws, cmp_ws);
    if (top > 0) {
        int64_t eligible = 0;
        for (int64_t k = 0; k < n; k++) eligible += freq[ws[k].id] >= min_freq;
        char note[96] = "";
        if (data && min_freq > 0) snprintf(note, sizeof note, " (with corpus frequency; words seen at least %lld times)", min_freq);
        else if (data) snprintf(note, sizeof note, " (with corpus frequency)");
        printf("%s %lld words by global importance %s%s:\n", bottom ? "bottom" : "top", top < eligible ? top : (long long)eligible,
               tm.importance, note);
        for (int64_t k = 0, shown = 0; shown < top && k < n; k++) {
            const struct ws *w = &ws[bottom ? n - 1 - k : k];
            if (freq[w->id] < min_freq) continue;
            printf("  %4lld  %-24s %.4f", (long long)++shown, tm.vocab.tokens[w->id], w->q);
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
    if (whole && !wordpiece) printf("note: %s reads words whole (a word vocabulary): every word is one token, so the list above is per word\n", path);
    if (wordpiece && !data)
        printf("note: a WordPiece model: the list above ranks vocabulary pieces; give --data CORPUS.tsv to rank whole words (mean q of their pieces)\n");
    char *buf = NULL;
    size_t cap = 0, pos = 0;
    if (tsv) {
        cap = 64 + (size_t)V * 64;
        buf = malloc(cap);
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
    }
    if (wordpiece && data) {
        printf("\n");
        if (whole_words(&tm, &d, data, top, bottom, tsv ? &buf : NULL, &pos, &cap, &err)) {
            rc = vm_cli_fail("words", &err);
            free(buf);
            goto out;
        }
    }
    if (tsv) {
        if (vm_file_write_atomic(tsv, buf, pos, &err)) rc = vm_cli_fail("words", &err);
        else printf("wrote %s (%lld %s)\n", tsv, (long long)n, wordpiece && data ? "pieces, then the whole words" : "words");
        free(buf);
    }
out:
    vm_dataset_free(&d);
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

/* One text per line of path ("-": stdin); an empty line is an error naming it. */
static enum vm_status predict_read_file(struct predict_texts *t, const char *path, struct vm_error *err) {
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
        if (len == 0) s = vm_errorf(err, VM_EINVAL, "%s:%lld: empty line (one text per line)", path, (long long)no);
        else s = predict_add(t, line, (size_t)len, path, no, err);
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

/* Classifies text k and prints its probabilities (and each token's importance for a model with a mask layer). */
static enum vm_status predict_one(struct vm_text_model *tm, const struct predict_texts *t, int64_t k, int32_t max_len,
                                  int digits, float *probs, struct vm_error *err) {
    struct vm_encoding e;
    enum vm_status s = vm_text_model_encode(tm, t->text[k], max_len, &e, err);
    if (!s && (e.n == 0 || e.n_words == 0)) {
        if (t->where[k]) s = vm_errorf(err, VM_EINVAL, "%s:%lld: the text has no tokens", t->where[k], (long long)t->line[k]);
        else s = vm_errorf(err, VM_EINVAL, "text %lld has no tokens", (long long)k + 1);
    }
    int32_t n = e.n;
    const int32_t *seq = e.ids;
    struct vm_rt_inst *inst;
    if (!s) s = vm_feed(&tm->feeder, &seq, &n, 1, 0, NULL, 0, 0, &inst, NULL, err);
    if (!s && k == 0) vm_cli_mark("feed");
    if (!s) s = vm_rt_run(inst, VM_RT_FORWARD, false, err);
    if (!s && k == 0) vm_cli_mark("first_run");
    if (s) {
        vm_encoding_free(&e);
        return s;
    }
    vm_feeder_probs(&tm->feeder, inst, 1, probs);
    int64_t best = 0;
    for (int64_t c = 1; c < tm->n_classes; c++)
        if (probs[c] > probs[best]) best = c;
    printf("text %lld: class %lld  probabilities", (long long)k + 1, (long long)best);
    for (int64_t c = 0; c < tm->n_classes; c++) printf(" %.*f", digits, probs[c]);
    printf("\n");
    if (tm->word_keep) {
        printf("  token %s:", tm->importance);
        for (int32_t j = 0; j < n; j++) printf(" %s=%.3f", e.pieces[j], e.ids[j] < tm->n_words ? tm->word_keep[e.ids[j]] : NAN);
        printf("\n");
    }
    vm_encoding_free(&e);
    return VM_OK;
}

int vm_cmd_predict(int argc, char **argv) {
    struct vm_text_opts o;
    vm_text_opts_init(&o);
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
                   "VMASK keep probability q, L2X score or IBA lambda.\n"
                   "--file F reads one text per line of F ('-': stdin; the whole line is text), after the texts given.\n"
                   "--max-len L keeps the first L tokens of each text (for WordPiece: [CLS], L - 2 pieces, [SEP]).\n"
                   "--digits N prints the probabilities with N decimals (default 4, at most 9).\n");
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
        int r = vm_text_option("predict", argc, argv, &i, &o);
        if (r < 0) rc = VM_EXIT_USAGE;
        if (r) continue;
        if (a[0] == '-' && a[1]) rc = vm_cli_usage_error("predict", "unknown option '%s'", a);
        else if (!path) path = a;
        else if (predict_add(&t, a, strlen(a), NULL, 0, &err)) rc = vm_cli_fail("predict", &err);
    }
    if (rc == VM_EXIT_OK && !path) rc = vm_cli_usage_error("predict", "missing MODEL");
    if (rc == VM_EXIT_OK && file && predict_read_file(&t, file, &err)) rc = vm_cli_fail("predict", &err);
    if (rc == VM_EXIT_OK && !t.n) rc = vm_cli_usage_error("predict", "missing text to classify");
    if (rc != VM_EXIT_OK) {
        predict_texts_free(&t);
        return rc;
    }
    struct vm_text_model tm;
    if (vm_text_model_load(&tm, path, &o, &err)) {
        predict_texts_free(&t);
        return vm_cli_fail("predict", &err);
    }
    float *probs = vm_malloc(sizeof(float) * (size_t)(tm.n_classes > 0 ? tm.n_classes : 64), &err);
    if (!probs) rc = vm_cli_fail("predict", &err);
    for (int64_t k = 0; k < t.n && rc == VM_EXIT_OK; k++)
        if (predict_one(&tm, &t, k, (int32_t)max_len, (int)digits, probs, &err)) rc = vm_cli_fail("predict", &err);
    free(probs);
    predict_texts_free(&t);
    vm_text_model_free(&tm);
    return rc;
}
