/* vocab / tokenize: text utilities with vmaskc's own tokenizer, so vocabularies and fixture
 * scripts agree with training token for token.
 *   vmaskc vocab DATA.tsv... -o VOCAB.txt [--min-count N] [--no-lowercase] [--no-split-punct]
 *       <pad> and <unk> first, then words by descending frequency (ties alphabetical).
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int text_opt(const char *a, struct vm_tokenizer *t) {
    if (!strcmp(a, "--no-lowercase")) t->lowercase = false;
    else if (!strcmp(a, "--no-split-punct")) t->split_punct = false;
    else return 0;
    return 1;
}

int vm_cmd_vocab(int argc, char **argv) {
    struct vm_tokenizer t;
    vm_tokenizer_default(&t);
    const char *out = NULL, *files[64];
    int n_files = 0;
    long long min_count = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc vocab DATA.tsv... -o VOCAB.txt [--min-count N] [--no-lowercase] [--no-split-punct]\n"
                   "Builds a vocabulary with vmaskc's tokenizer: <pad> (id 0), <unk> (id 1), then the words of the\n"
                   "label<TAB>text files by descending frequency, keeping those seen at least N times.\n");
            return VM_EXIT_OK;
        }
        if (text_opt(a, &t)) continue;
        if (!strcmp(a, "-o") || !strcmp(a, "--min-count")) {
            if (i + 1 >= argc) return vm_cli_usage_error("vocab", "%s needs a value", a);
            if (!strcmp(a, "-o")) out = argv[++i];
            else if (!vm_cli_parse_int(argv[++i], &min_count) || min_count < 1)
                return vm_cli_usage_error("vocab", "--min-count needs a positive integer");
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error("vocab", "unknown option '%s'", a);
        if (n_files == 64) return vm_cli_usage_error("vocab", "too many files");
        files[n_files++] = a;
    }
    if (!n_files) return vm_cli_usage_error("vocab", "missing DATA.tsv");
    if (!out) return vm_cli_usage_error("vocab", "missing -o VOCAB.txt");
    /* count with a throwaway vocabulary-as-hash: collect all tokens, sort, count runs */
    struct vm_error err = {0};
    size_t cap = 1 << 16, n = 0;
    char **all = malloc(cap * sizeof *all);
    if (!all) return VM_EXIT_RUNTIME;
    int rc = VM_EXIT_OK;
    for (int f = 0; f < n_files && rc == VM_EXIT_OK; f++) {
        uint8_t *buf;
        size_t len;
        if (vm_file_read(files[f], &buf, &len, &err)) {
            rc = vm_cli_fail("vocab", &err);
            break;
        }
        char *save = NULL;
        long lineno = 0;
        for (char *line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            lineno++;
            char *tab = strchr(line, '\t');
            if (!tab) {
                vm_errorf(&err, VM_EFORMAT, "%s:%ld: expected 'label<TAB>text', found no TAB", files[f], lineno);
                rc = vm_cli_fail("vocab", &err);
                break;
            }
            char **toks;
            int32_t nt;
            if (vm_tokenize(&t, tab + 1, &toks, &nt, &err)) {
                rc = vm_cli_fail("vocab", &err);
                break;
            }
            for (int32_t k = 0; k < nt; k++) {
                if (n == cap) {
                    cap *= 2;
                    char **na = realloc(all, cap * sizeof *na);
                    if (!na) {
                        rc = VM_EXIT_RUNTIME;
                        break;
                    }
                    all = na;
                }
                all[n++] = toks[k];
            }
            free(toks);
        }
        free(buf);
    }
    if (rc == VM_EXIT_OK) {
        qsort(all, n, sizeof *all, cmp_str);
        struct wc *wc = malloc((n + 1) * sizeof *wc);
        size_t nw = 0;
        for (size_t i = 0; wc && i < n;) {
            size_t j = i;
            while (j < n && !strcmp(all[i], all[j])) j++;
            if ((long long)(j - i) >= min_count && strcmp(all[i], "<pad>") && strcmp(all[i], "<unk>")) wc[nw++] = (struct wc){all[i], (int64_t)(j - i)};
            i = j;
        }
        if (wc) {
            qsort(wc, nw, sizeof *wc, cmp_wc);
            size_t size = 16;
            for (size_t i = 0; i < nw; i++) size += strlen(wc[i].w) + 1;
            char *text = malloc(size), *p = text;
            if (text) {
                p += sprintf(p, "<pad>\n<unk>\n");
                for (size_t i = 0; i < nw; i++) p += sprintf(p, "%s\n", wc[i].w);
                if (vm_file_write_atomic(out, text, (size_t)(p - text), &err)) rc = vm_cli_fail("vocab", &err);
                else printf("wrote %s: %zu tokens (%zu words seen at least %lld times, plus <pad> and <unk>)\n", out, nw + 2, nw, min_count);
                free(text);
            }
        }
        free(wc);
    }
    for (size_t i = 0; i < n; i++) free(all[i]);
    free(all);
    return rc;
}

/* With a vocabulary: each stdin line encoded as the model receives it. */
static int tokenize_vocab(struct vm_tokenizer *t, const char *vocab_path, const char *kind, bool ids, long long max_len) {
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
    bool ids = false;
    long long max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: vmaskc tokenize [--no-lowercase] [--no-split-punct] < TEXT\n"
                   "       vmaskc tokenize --vocab VOCAB.txt [--ids] [--tokenizer words|wordpiece] [--cased] [--max-len L] < TEXT\n"
                   "Without --vocab: each input line as vmaskc's word tokenizer splits it (a 'label<TAB>' prefix is kept).\n"
                   "With --vocab: each input line (all of it text) as the model receives it, the tokens or, with --ids,\n"
                   "their ids: [CLS] ... [SEP] for a WordPiece vocabulary (detected from [CLS], [SEP] and ## pieces),\n"
                   "no padding; --max-len L keeps L ids ([SEP] stays last).\n");
            return VM_EXIT_OK;
        }
        if (!strcmp(a, "--ids")) ids = true;
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
    if (kind && strcmp(kind, "words") && strcmp(kind, "wordpiece"))
        return vm_cli_usage_error("tokenize", "--tokenizer is words or wordpiece, not '%s'", kind);
    if (vocab) return tokenize_vocab(&t, vocab, kind, ids, max_len);
    if (ids || kind || max_len) return vm_cli_usage_error("tokenize", "--ids, --tokenizer and --max-len need --vocab VOCAB.txt");
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
