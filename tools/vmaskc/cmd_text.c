/* vocab / tokenize: text utilities with vmaskc's own tokenizer, so vocabularies and fixture
 * scripts agree with training token for token.
 *   vmaskc vocab DATA.tsv... -o VOCAB.txt [--min-freq N] [--max-size N] [--vectors FILE] [--no-lowercase] [--no-split-punct]
 *       <pad> and <unk> first, then words by descending frequency (ties in byte order); with
 *       --vectors, how much of it (and of the data's tokens) the word vectors cover.
 *   vmaskc tokenize [--no-lowercase] [--no-split-punct] < lines
 *       one tokenized line (space-separated) per input line; a label<TAB> prefix is kept.
 *   vmaskc tokenize --vocab VOCAB.txt [--ids] [--tokenizer words|wordpiece] [--cased] [--max-len L] < lines
 *       per input line (all of it text), the ids, or the tokens, exactly as a model receives them:
 *       vm_text_encode, the entry point every command uses. */
#include <stdlib.h>
#include <string.h>

#include "../../runtime/text.h"
#include "cli.h"

struct wc {
    char *w;
    int64_t n;
};

static int cmp_wc(const void *a, const void *b) {
    const struct wc *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return strcmp(x->w, y->w);
}

static int text_opt(const char *a, struct vm_tokenizer *t) {
    if (!strcmp(a, "--no-lowercase")) t->lowercase = false;
    else if (!strcmp(a, "--no-split-punct")) t->split_punct = false;
    else return 0;
    return 1;
}

/* Word counts: open addressing over (word, count), grown at half load. */
struct counts {
    struct wc *slot;
    size_t cap, n;
    int64_t tokens;
};

static uint64_t hash_word(const char *s) { return vm_fnv1a(VM_FNV1A_INIT, s, strlen(s)); }

static enum vm_status counts_add(struct counts *c, char *w, struct vm_error *err) {
    if (2 * (c->n + 1) > c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 1 << 14;
        struct wc *ns = vm_calloc(nc, sizeof *ns, err);
        if (!ns) return VM_ENOMEM;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->slot[i].w) continue;
            size_t k = hash_word(c->slot[i].w) & (nc - 1);
            while (ns[k].w) k = (k + 1) & (nc - 1);
            ns[k] = c->slot[i];
        }
        free(c->slot);
        c->slot = ns;
        c->cap = nc;
    }
    size_t k = hash_word(w) & (c->cap - 1);
    while (c->slot[k].w && strcmp(c->slot[k].w, w)) k = (k + 1) & (c->cap - 1);
    c->tokens++;
    if (c->slot[k].w) {
        c->slot[k].n++;
        free(w);
    } else {
        c->slot[k] = (struct wc){w, 1};
        c->n++;
    }
    return VM_OK;
}

static void counts_free(struct counts *c) {
    for (size_t i = 0; i < c->cap; i++) free(c->slot[i].w);
    free(c->slot);
}

/* Counts the tokens of every file (through the shared data reader: .gz, file:line errors). */
static enum vm_status count_files(const char *const *files, int n_files, const struct vm_tokenizer *t,
                                  const struct vm_data_opts *o, struct counts *c, struct vm_error *err) {
    for (int f = 0; f < n_files; f++) {
        struct vm_data_reader r;
        struct vm_data_opts any = *o;
        any.ignore_labels = true; /* only the texts count */
        enum vm_status s = vm_data_open(&r, files[f], &any, err);
        while (!s) {
            int32_t label;
            char *text, **toks;
            int32_t nt;
            if ((s = vm_data_next(&r, &label, &text, err)) || !text) break;
            if ((s = vm_tokenize(t, text, &toks, &nt, err))) {
                vm_error_prefix(err, "%s:%lld", files[f], (long long)r.lineno);
                break;
            }
            int32_t k = 0;
            for (; k < nt && !s; k++) s = counts_add(c, toks[k], err);
            for (; k < nt; k++) free(toks[k]);
            free(toks);
        }
        vm_data_close(&r);
        if (s) return s;
    }
    return VM_OK;
}

/* --vectors on vocab: coverage of the vocabulary just written, tokens counted over the data. */
static enum vm_status vocab_coverage(const char *text, const struct counts *c, const char *vectors, enum vm_vectors_format fmt,
                                     struct vm_error *err) {
    struct vm_vocab v;
    if (vm_vocab_from_text(&v, text, NULL, NULL, err)) return err->code;
    int64_t *tok = vm_calloc((size_t)v.n, sizeof *tok, err);
    uint8_t *found = tok ? vm_calloc((size_t)v.n, 1, err) : NULL;
    enum vm_status s = found ? VM_OK : VM_ENOMEM;
    for (size_t i = 0; !s && i < c->cap; i++) {
        if (!c->slot[i].w) continue;
        int32_t id = vm_vocab_find(&v, c->slot[i].w);
        if (id >= 0) tok[id] += c->slot[i].n;
    }
    if (!s) s = vm_cli_read_vectors(vectors, fmt, &v, 0, NULL, NULL, found, tok, c->tokens, "the data", err);
    free(tok);
    free(found);
    vm_vocab_free(&v);
    return s;
}

int vm_cmd_vocab(int argc, char **argv) {
    struct vm_tokenizer t;
    vm_tokenizer_default(&t);
    const char *out = NULL, *files[64], *vectors = NULL;
    int n_files = 0;
    long long min_count = 1, max_size = 0;
    enum vm_vectors_format vfmt = VM_VECTORS_AUTO;
    struct vm_data_opts dopts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc vocab DATA.tsv... -o VOCAB.txt [--min-freq N] [--max-size N] [--vectors FILE]\n"
                   "                    [--tokenizer words|kim] [--no-lowercase] [--no-split-punct] [data options]\n"
                   "Builds a vocabulary with vmaskc's word tokenizer: <pad> (id 0), <unk> (id 1), then the words of the\n"
                   "data files (label<TAB>text, CSV or JSON Lines; .gz too) by descending frequency, ties in byte order.\n"
                   "  --tokenizer words|kim  words (default): Unicode words, case folded; kim: Kim (2014)'s ASCII\n"
                   "                   cleanup, as in the paper (train then needs --tokenizer kim too)\n"
                   "  --min-freq N     keep words seen at least N times (default 1; --min-count is the same)\n"
                   "  --max-size N     keep at most the N most frequent words (plus <pad> and <unk>)\n"
                   "  --vectors FILE   report how much of the vocabulary and of the data's tokens word vectors\n"
                   "                   cover (word2vec text/binary, GloVe, fastText .vec; .gz too)\n"
                   "  --vectors-format auto|text|binary  (default auto: detected)\n"
                   "The paper's vocabularies (appendix C, Table 7; see README.md): SST-1/SST-2 from train, dev and\n"
                   "test; TREC from train; Subj from train with --min-freq 2; IMDB from train with --min-freq 5\n"
                   "(with --tokenizer kim).\n" VM_CLI_DATA_HELP);
            return VM_EXIT_OK;
        }
        if (text_opt(a, &t)) continue;
        int dr = vm_cli_data_option("vocab", argc, argv, &i, &dopts);
        if (dr < 0) return VM_EXIT_USAGE;
        if (dr) continue;
        if (!strcmp(a, "--tokenizer")) {
            if (i + 1 >= argc || (strcmp(argv[i + 1], "words") && strcmp(argv[i + 1], "kim")))
                return vm_cli_usage_error("vocab", "--tokenizer is words or kim (a WordPiece vocabulary comes with its model)");
            t.kim = !strcmp(argv[++i], "kim");
            continue;
        }
        if (!strcmp(a, "-o") || !strcmp(a, "--min-count") || !strcmp(a, "--min-freq") || !strcmp(a, "--max-size") ||
            !strcmp(a, "--vectors") || !strcmp(a, "--vectors-format")) {
            if (i + 1 >= argc) return vm_cli_usage_error("vocab", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o")) out = v;
            else if (!strcmp(a, "--vectors")) vectors = v;
            else if (!strcmp(a, "--vectors-format")) {
                if (!vm_vectors_parse_format(v, &vfmt)) return vm_cli_usage_error("vocab", "--vectors-format is auto, text or binary, not '%s'", v);
            } else if (!strcmp(a, "--max-size")) {
                if (!vm_cli_parse_int(v, &max_size) || max_size < 1) return vm_cli_usage_error("vocab", "--max-size needs a positive integer");
            } else if (!vm_cli_parse_int(v, &min_count) || min_count < 1)
                return vm_cli_usage_error("vocab", "%s needs a positive integer", a);
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error("vocab", "unknown option '%s'", a);
        if (n_files == 64) return vm_cli_usage_error("vocab", "too many files");
        files[n_files++] = a;
    }
    if (!n_files) return vm_cli_usage_error("vocab", "missing DATA.tsv");
    if (!out) return vm_cli_usage_error("vocab", "missing -o VOCAB.txt");
    struct vm_error err = {0};
    if (vm_cli_check_output(out, "-o", &err)) return vm_cli_fail("vocab", &err); /* before counting the data, not after */
    struct counts c = {0};
    struct wc *wc = NULL;
    char *text = NULL;
    enum vm_status s = count_files(files, n_files, &t, &dopts, &c, &err);
    size_t nw = 0, seen = 0;
    if (!s && !(wc = vm_malloc(sizeof *wc * (c.n + 1), &err))) s = VM_ENOMEM;
    for (size_t i = 0; !s && i < c.cap; i++) {
        const struct wc *e = &c.slot[i];
        if (!e->w || !strcmp(e->w, "<pad>") || !strcmp(e->w, "<unk>")) continue;
        seen++;
        if (e->n >= min_count) wc[nw++] = *e;
    }
    if (!s) {
        qsort(wc, nw, sizeof *wc, cmp_wc);
        size_t kept = max_size && (size_t)max_size < nw ? (size_t)max_size : nw, size = 16;
        for (size_t i = 0; i < kept; i++) size += strlen(wc[i].w) + 1;
        char *p = text = vm_malloc(size, &err);
        if (!text) s = VM_ENOMEM;
        else {
            p += sprintf(p, "<pad>\n<unk>\n");
            for (size_t i = 0; i < kept; i++) p += sprintf(p, "%s\n", wc[i].w);
            int64_t covered = 0;
            for (size_t i = 0; i < kept; i++) covered += wc[i].n;
            if (vectors) { /* a bad vectors file fails the command before anything is written */
                p[-1] = 0;   /* the text without its last newline, for the coverage vocabulary */
                s = vocab_coverage(text, &c, vectors, vfmt, &err);
                p[-1] = '\n';
            }
            if (!s && !(s = vm_file_write_atomic(out, text, (size_t)(p - text), &err))) {
                printf("wrote %s: %zu tokens (%zu of %zu %s: seen at least %lld %s%s; %s %.1f%% of the %lld %s), "
                       "plus <pad> and <unk>\n", out, kept + 2, kept, seen, vm_plural((long long)seen, "word", "words"), min_count,
                       vm_plural(min_count, "time", "times"), kept < nw ? ", the most frequent" : "", kept == 1 ? "it is" : "they are",
                       c.tokens ? 100.0 * (double)covered / (double)c.tokens : 0.0, (long long)c.tokens,
                       vm_plural(c.tokens, "token", "tokens"));
            }
        }
    }
    free(text);
    free(wc);
    counts_free(&c);
    return s ? vm_cli_fail("vocab", &err) : VM_EXIT_OK;
}

/* With a vocabulary: each stdin line encoded as the model receives it. */
static int tokenize_vocab(struct vm_tokenizer *t, const char *vocab_path, const char *kind, bool ids, bool types, long long max_len) {
    struct vm_error err = {0};
    struct vm_vocab v;
    if (vm_vocab_load(&v, vocab_path, NULL, NULL, &err)) return vm_cli_fail("tokenize", &err);
    if (vm_tokenizer_for_vocab(t, &v, kind, vocab_path, &err)) {
        vm_vocab_free(&v);
        return vm_cli_fail("tokenize", &err);
    }
    size_t cap = 0;
    char *line = NULL;
    ssize_t len;
    int rc = VM_EXIT_OK;
    long long lineno = 0;
    while (rc == VM_EXIT_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n') line[--len] = 0;
        size_t k = 0; /* NUL bytes would end the C string; the tokenizers drop them anyway */
        for (ssize_t i = 0; i < len; i++)
            if (line[i]) line[k++] = line[i];
        line[k] = 0;
        struct vm_encoding e;
        if (vm_text_encode(t, &v, line, (int32_t)max_len, false, &e, &err)) {
            vm_error_prefix(&err, "stdin:%lld", lineno);
            rc = vm_cli_fail("tokenize", &err);
        } else if (types) {
            int32_t *ty = malloc(sizeof(int32_t) * (size_t)(e.n ? e.n : 1));
            if (!ty) {
                vm_errorf(&err, VM_ENOMEM, "out of memory");
                rc = vm_cli_fail("tokenize", &err);
            } else {
                vm_token_types(e.ids, e.n, t->pairs ? v.sep_id : -1, ty);
                for (int32_t i = 0; i < e.n; i++) printf(i ? " %d" : "%d", ty[i]);
                putchar('\n');
                free(ty);
            }
        } else {
            for (int32_t i = 0; i < e.n; i++) {
                if (i) putchar(' ');
                if (ids) printf("%d", e.ids[i]);
                else fputs(v.tokens[e.ids[i]], stdout); /* the vocabulary's token: [UNK], not the word */
            }
            putchar('\n');
        }
        vm_encoding_free(&e);
    }
    free(line);
    vm_vocab_free(&v);
    if (rc == VM_EXIT_OK && fflush(stdout)) {
        vm_errorf(&err, VM_EIO, "cannot write the output");
        rc = vm_cli_fail("tokenize", &err);
    }
    return rc;
}

int vm_cmd_tokenize(int argc, char **argv) {
    struct vm_tokenizer t;
    vm_tokenizer_default(&t);
    const char *vocab = NULL, *kind = NULL;
    bool ids = false, types = false;
    long long max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc tokenize [--tokenizer words|kim] [--no-lowercase] [--no-split-punct] < TEXT\n"
                   "       vmaskc tokenize --vocab VOCAB.txt [--ids | --types] [--pairs] [--tokenizer words|kim|wordpiece] [--cased] [--max-len L] < TEXT\n"
                   "Without --vocab: each input line as vmaskc's word tokenizer splits it (a 'label<TAB>' prefix is kept):\n"
                   "Unicode words (the default), or with --tokenizer kim Kim (2014)'s ASCII cleanup.\n"
                   "With --vocab: each input line (all of it text) as the model receives it, the tokens or, with --ids,\n"
                   "their ids: [CLS] ... [SEP] for a WordPiece vocabulary (detected from [CLS], [SEP] and ## pieces),\n"
                   "no padding; --max-len L keeps L ids ([SEP] stays last). --pairs (WordPiece): a line 'a<TAB>b' is a\n"
                   "sentence pair, [CLS] a [SEP] b [SEP] as Hugging Face's tokenizer(a, b) (longest-first truncation);\n"
                   "--types prints the token type ids instead (1 on b and its [SEP]).\n");
            return VM_EXIT_OK;
        }
        if (!strcmp(a, "--ids")) ids = true;
        else if (!strcmp(a, "--types")) types = true;
        else if (!strcmp(a, "--pairs")) t.pairs = true;
        else if (!strcmp(a, "--cased")) t.lowercase = false;
        else if (!strcmp(a, "--vocab") || !strcmp(a, "--tokenizer") || !strcmp(a, "--max-len")) {
            if (i + 1 >= argc) return vm_cli_usage_error("tokenize", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--vocab")) vocab = v;
            else if (!strcmp(a, "--tokenizer")) kind = v;
            else if (!vm_cli_parse_int(v, &max_len) || max_len < 1 || max_len > (1 << 30))
                return vm_cli_usage_error("tokenize", "--max-len needs a positive integer");
        } else if (!text_opt(a, &t)) return vm_cli_usage_error("tokenize", "unknown option '%s'", a);
    }
    if (kind && strcmp(kind, "words") && strcmp(kind, "kim") && strcmp(kind, "wordpiece"))
        return vm_cli_usage_error("tokenize", "--tokenizer is words, kim or wordpiece, not '%s'", kind);
    if (ids && types) return vm_cli_usage_error("tokenize", "--ids and --types each print one line per text; give one of them");
    if (vocab) return tokenize_vocab(&t, vocab, kind, ids, types, max_len);
    if (kind && !strcmp(kind, "wordpiece")) return vm_cli_usage_error("tokenize", "--tokenizer wordpiece needs --vocab VOCAB.txt");
    if (ids || types || max_len || t.pairs) return vm_cli_usage_error("tokenize", "--ids, --types, --pairs and --max-len need --vocab VOCAB.txt");
    t.kim = kind && !strcmp(kind, "kim");
    size_t cap = 0;
    char *line = NULL;
    ssize_t len;
    struct vm_error err = {0};
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        char *text = line, *tab = strchr(line, '\t');
        if (tab) {
            *tab = 0;
            printf("%s\t", line);
            text = tab + 1;
        }
        char **toks;
        int32_t nt;
        if (vm_tokenize(&t, text, &toks, &nt, &err)) {
            free(line);
            return vm_cli_fail("tokenize", &err);
        }
        for (int32_t k = 0; k < nt; k++) printf("%s%s", k ? " " : "", toks[k]);
        printf("\n");
        vm_tokens_free(toks, nt);
    }
    free(line);
    return VM_EXIT_OK;
}
