/* text: vocabulary, tokenizers, datasets (see text.h). The WordPiece tokenizer is in wordpiece.c. */
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "wordpiece.h"

static uint32_t hstr(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static enum vm_status vocab_index(struct vm_vocab *v, const char *what, struct vm_error *err) {
    uint32_t cap = 64;
    while (cap < (uint32_t)v->n * 2 + 2) cap *= 2;
    v->hash = vm_malloc(cap * sizeof *v->hash, err);
    if (!v->hash) return VM_ENOMEM;
    v->hash_cap = cap;
    for (uint32_t i = 0; i < cap; i++) v->hash[i] = -1;
    for (int32_t id = 0; id < v->n; id++) {
        uint32_t k = hstr(v->tokens[id]) & (cap - 1);
        while (v->hash[k] >= 0) {
            if (!strcmp(v->tokens[v->hash[k]], v->tokens[id]))
                return vm_errorf(err, VM_EFORMAT, "%s: token '%s' appears twice (ids %d and %d)", what, v->tokens[id], v->hash[k], id);
            k = (k + 1) & (cap - 1);
        }
        v->hash[k] = id;
    }
    return VM_OK;
}

int32_t vm_vocab_find(const struct vm_vocab *v, const char *token) {
    if (!v->hash) return -1;
    uint32_t k = hstr(token) & (v->hash_cap - 1);
    while (v->hash[k] >= 0) {
        if (!strcmp(v->tokens[v->hash[k]], token)) return v->hash[k];
        k = (k + 1) & (v->hash_cap - 1);
    }
    return -1;
}

static enum vm_status pick_special(struct vm_vocab *v, const char *given, const char *const *cands, int32_t *out,
                                   const char *what, const char *kind, struct vm_error *err) {
    *out = -1;
    if (given) {
        *out = vm_vocab_find(v, given);
        if (*out < 0) return vm_errorf(err, VM_EINVAL, "%s: the %s token '%s' is not in the vocabulary", what, kind, given);
        return VM_OK;
    }
    for (int i = 0; cands[i]; i++) {
        int32_t id = vm_vocab_find(v, cands[i]);
        if (id >= 0) {
            *out = id;
            break;
        }
    }
    return VM_OK;
}

static enum vm_status vocab_finish(struct vm_vocab *v, const char *pad, const char *unk, const char *what,
                                   struct vm_error *err) {
    if (v->n == 0) return vm_errorf(err, VM_EFORMAT, "%s: the vocabulary is empty", what);
    enum vm_status s = vocab_index(v, what, err);
    static const char *pads[] = {"<pad>", "[PAD]", "<PAD>", NULL}, *unks[] = {"<unk>", "[UNK]", "<UNK>", NULL};
    if (!s) s = pick_special(v, pad, pads, &v->pad_id, what, "pad", err);
    if (!s) s = pick_special(v, unk, unks, &v->unk_id, what, "unknown-word", err);
    v->cls_id = vm_vocab_find(v, "[CLS]");
    v->sep_id = vm_vocab_find(v, "[SEP]");
    v->mask_id = vm_vocab_find(v, "[MASK]");
    return s;
}

static enum vm_status vocab_add(struct vm_vocab *v, const char *tok, size_t len, int32_t *cap, struct vm_error *err) {
    if (v->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        char **nt = vm_realloc(v->tokens, (size_t)*cap * sizeof *nt, err);
        if (!nt) return VM_ENOMEM;
        v->tokens = nt;
    }
    char *t = vm_malloc(len + 1, err);
    if (!t) return VM_ENOMEM;
    memcpy(t, tok, len);
    t[len] = 0;
    v->tokens[v->n++] = t;
    return VM_OK;
}

enum vm_status vm_vocab_from_text(struct vm_vocab *v, const char *text, const char *pad,
                                  const char *unk, struct vm_error *err) {
    memset(v, 0, sizeof *v);
    int32_t cap = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[len - 1] == '\r') len--;
        if (vocab_add(v, p, len, &cap, err)) {
            vm_vocab_free(v);
            return err->code;
        }
        if (!e) break;
        p = e + 1;
    }
    enum vm_status s = vocab_finish(v, pad, unk, "vocabulary", err);
    if (s) vm_vocab_free(v);
    return s;
}

enum vm_status vm_vocab_load(struct vm_vocab *v, const char *path, const char *pad, const char *unk,
                             struct vm_error *err) {
    memset(v, 0, sizeof *v);
    uint8_t *buf;
    size_t len;
    if (vm_file_read(path, &buf, &len, err)) return err->code;
    int32_t cap = 0, line = 0;
    char *p = (char *)buf, *end = p + len;
    enum vm_status s = VM_OK;
    while (p < end && !s) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
        line++;
        if (l && p[l - 1] == '\r') l--;
        if (l == 0 && (!e || e + 1 >= end)) break; /* trailing empty line */
        if (l == 0) s = vm_errorf(err, VM_EFORMAT, "%s:%d: empty token (line i must hold token id i)", path, line);
        else if (memchr(p, '\t', l) || memchr(p, ' ', l))
            s = vm_errorf(err, VM_EFORMAT, "%s:%d: a token contains whitespace (one token per line)", path, line);
        else s = vocab_add(v, p, l, &cap, err);
        p = e ? e + 1 : end;
    }
    free(buf);
    if (!s) s = vocab_finish(v, pad, unk, path, err);
    if (s) vm_vocab_free(v);
    return s;
}

void vm_vocab_free(struct vm_vocab *v) {
    for (int32_t i = 0; i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->hash);
    memset(v, 0, sizeof *v);
}

char *vm_vocab_to_text(const struct vm_vocab *v, struct vm_error *err) {
    size_t len = 1;
    for (int32_t i = 0; i < v->n; i++) len += strlen(v->tokens[i]) + 1;
    char *out = vm_malloc(len, err);
    if (!out) return NULL;
    size_t pos = 0;
    for (int32_t i = 0; i < v->n; i++) {
        size_t l = strlen(v->tokens[i]);
        memcpy(out + pos, v->tokens[i], l);
        pos += l;
        if (i + 1 < v->n) out[pos++] = '\n';
    }
    out[pos] = 0;
    return out;
}

/* ---- tokenizer ---- */

static bool keep_char(unsigned char c) {
    return isalnum(c) || c == '(' || c == ')' || c == ',' || c == '!' || c == '?' || c == '\'' || c == '`';
}

enum vm_status vm_tokenize(const struct vm_tokenizer *t, const char *text, char ***tokens,
                           int32_t *n, struct vm_error *err) {
    *tokens = NULL;
    *n = 0;
    size_t len = strlen(text);
    /* each character can gain two spaces; clitics one */
    char *buf = vm_malloc(3 * len + 2, err);
    if (!buf) return VM_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!t->split_punct) {
            buf[o++] = isspace(c) ? ' ' : (char)c;
            continue;
        }
        if (c >= 0x80 || !keep_char(c)) {
            buf[o++] = ' ';
            continue;
        }
        if (c == ',' || c == '!' || c == '?' || c == '(' || c == ')') {
            buf[o++] = ' ';
            buf[o++] = (char)c;
            buf[o++] = ' ';
            continue;
        }
        if (c == '\'') {
            /* 's 've 're 'd 'll split off as tokens */
            static const char *cl[] = {"s", "ve", "re", "d", "ll", NULL};
            bool split = false;
            for (int k = 0; cl[k]; k++) {
                size_t cl_len = strlen(cl[k]);
                if (i + 1 + cl_len <= len && !strncmp(text + i + 1, cl[k], cl_len)) split = true;
            }
            if (split) buf[o++] = ' ';
            buf[o++] = '\'';
            continue;
        }
        if (c == 'n' && i + 2 < len && text[i + 1] == '\'' && text[i + 2] == 't') {
            buf[o++] = ' ';
            buf[o++] = 'n';
            continue;
        }
        buf[o++] = (char)c;
    }
    buf[o] = 0;
    if (t->lowercase)
        for (size_t i = 0; i < o; i++) buf[i] = (char)tolower((unsigned char)buf[i]);
    int32_t cap = 16;
    char **toks = vm_malloc((size_t)cap * sizeof *toks, err);
    if (!toks) {
        free(buf);
        return VM_ENOMEM;
    }
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\r\n\v\f", &save); tok; tok = strtok_r(NULL, " \t\r\n\v\f", &save)) {
        if (*n == cap) {
            cap *= 2;
            char **nt = vm_realloc(toks, (size_t)cap * sizeof *nt, err);
            if (!nt) {
                vm_tokens_free(toks, *n);
                free(buf);
                return VM_ENOMEM;
            }
            toks = nt;
        }
        toks[*n] = vm_strdup(tok, err);
        if (!toks[*n]) {
            vm_tokens_free(toks, *n);
            free(buf);
            return VM_ENOMEM;
        }
        (*n)++;
    }
    free(buf);
    *tokens = toks;
    return VM_OK;
}

void vm_tokens_free(char **tokens, int32_t n) {
    for (int32_t i = 0; i < n; i++) free(tokens[i]);
    free(tokens);
}

int32_t vm_encode(const struct vm_vocab *v, char **tokens, int32_t n, int32_t *ids) {
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t id = vm_vocab_find(v, tokens[i]);
        if (id < 0) id = v->unk_id;
        if (id >= 0) ids[k++] = id;
    }
    return k;
}

/* ---- choosing a tokenizer, encoding ---- */

void vm_tokenizer_default(struct vm_tokenizer *t) {
    *t = (struct vm_tokenizer){.kind = VM_TOKENIZER_WORDS, .lowercase = true, .split_punct = true, .max_word_chars = 100};
}

const char *vm_tokenizer_kind_name(enum vm_tokenizer_kind k) {
    return k == VM_TOKENIZER_WORDPIECE ? "wordpiece" : "words";
}

enum vm_status vm_tokenizer_for_vocab(struct vm_tokenizer *t, const struct vm_vocab *v, const char *force,
                                      const char *what, struct vm_error *err) {
    int32_t n_hash = 0, n_bpe = 0, n_sp = 0;
    for (int32_t i = 0; i < v->n; i++) {
        const char *tok = v->tokens[i];
        n_hash += tok[0] == '#' && tok[1] == '#' && tok[2];
        n_bpe += !strncmp(tok, "\xc4\xa0", 2);       /* U+0120 'Ġ': byte-level BPE word start */
        n_sp += !strncmp(tok, "\xe2\x96\x81", 3);   /* U+2581 '▁': SentencePiece word start */
    }
    /* one in a hundred entries marks a scheme; a words vocabulary built from text has none */
    bool many_hash = n_hash >= 50 || (int64_t)n_hash * 100 >= v->n;
    bool wordpiece;
    if (force && !strcmp(force, "words")) wordpiece = false;
    else if (force && !strcmp(force, "wordpiece")) wordpiece = true;
    else if (force) return vm_errorf(err, VM_EINVAL, "unknown tokenizer '%s' (words or wordpiece)", force);
    else if (n_bpe && (int64_t)n_bpe * 100 >= v->n)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s: %d entries start with 'Ġ', a byte-level BPE vocabulary (RoBERTa/GPT-2): vmaskc reads "
                         "word vocabularies and BERT WordPiece ones (vocab.txt), not BPE yet", what, n_bpe);
    else if (n_sp && (int64_t)n_sp * 100 >= v->n)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s: %d entries start with '▁', a SentencePiece vocabulary: vmaskc reads word vocabularies "
                         "and BERT WordPiece ones (vocab.txt: word starts bare, continuations with ##)", what, n_sp);
    else /* with many ## pieces but no [CLS]/[SEP] it is still WordPiece, and refused below */
        wordpiece = n_hash > 0 && (many_hash || (v->cls_id >= 0 && v->sep_id >= 0));
    if (wordpiece && (v->cls_id < 0 || v->sep_id < 0 || v->unk_id < 0))
        return vm_errorf(err, VM_EFORMAT, "%s: %s WordPiece vocabulary (%d '##' continuation pieces) needs [CLS], [SEP] and [UNK], but has no %s%s%s",
                         what, force ? "as a" : "a", n_hash, v->cls_id < 0 ? "[CLS] " : "", v->sep_id < 0 ? "[SEP] " : "",
                         v->unk_id < 0 ? "[UNK]" : "");
    t->kind = wordpiece ? VM_TOKENIZER_WORDPIECE : VM_TOKENIZER_WORDS;
    if (t->max_word_chars <= 0) t->max_word_chars = 100;
    return VM_OK;
}

void vm_encoding_free(struct vm_encoding *e) {
    if (e->pieces)
        for (int32_t i = 0; i < e->n; i++) free(e->pieces[i]);
    free(e->pieces);
    free(e->ids);
    free(e->word_of);
    memset(e, 0, sizeof *e);
}

/* Words: whole tokens looked up; unknown ones become unk_id or, without one, are dropped. */
static enum vm_status encode_words(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text, int32_t max_len,
                                   bool pieces, struct vm_encoding *e, struct vm_error *err) {
    char **toks;
    int32_t nt;
    enum vm_status s = vm_tokenize(t, text, &toks, &nt, err);
    if (s) return s;
    e->n_words = nt;
    for (int32_t i = 0; i < nt && !s; i++) {
        int32_t id = vm_vocab_find(v, toks[i]);
        if (id < 0) {
            e->n_unk++;
            id = v->unk_id;
        }
        if (id < 0) continue;
        if (max_len > 0 && e->n >= max_len) break;
        s = vm_encoding_push(e, id, i, pieces, toks[i], strlen(toks[i]), err);
    }
    vm_tokens_free(toks, nt);
    return s;
}

enum vm_status vm_text_encode(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text,
                              int32_t max_len, bool pieces, struct vm_encoding *e, struct vm_error *err) {
    memset(e, 0, sizeof *e);
    if (t->kind == VM_TOKENIZER_WORDS) return encode_words(t, v, text, max_len, pieces, e, err);
    VM_ASSERT(t->kind == VM_TOKENIZER_WORDPIECE && v->cls_id >= 0 && v->sep_id >= 0);
    if (max_len > 0 && max_len < 3)
        return vm_errorf(err, VM_EINVAL, "a maximum length of %d leaves no room for text between [CLS] and [SEP] (at least 3)", max_len);
    const char *cls = v->tokens[v->cls_id], *sep = v->tokens[v->sep_id];
    enum vm_status s = vm_encoding_push(e, v->cls_id, -1, pieces, cls, strlen(cls), err);
    if (!s) s = vm_wordpiece_encode(t, v, text, pieces, e, err);
    if (s) return s;
    if (max_len > 0 && e->n > max_len - 1) { /* keep [CLS] and max_len - 2 pieces; [SEP] follows */
        if (e->pieces)
            for (int32_t i = max_len - 1; i < e->n; i++) free(e->pieces[i]);
        e->n = max_len - 1;
    }
    return vm_encoding_push(e, v->sep_id, -1, pieces, sep, strlen(sep), err);
}

/* ---- datasets ---- */

void vm_dataset_free(struct vm_dataset *d) {
    for (int64_t i = 0; i < d->n; i++) free(d->texts ? d->texts[i] : NULL);
    free(d->texts);
    free(d->labels);
    free(d->start);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

enum vm_status vm_dataset_load(struct vm_dataset *d, const char *path, const struct vm_vocab *v,
                               const struct vm_tokenizer *t, int32_t max_len, struct vm_error *err) {
    memset(d, 0, sizeof *d);
    FILE *probe = fopen(path, "rb");
    if (!probe) return vm_errorf(err, VM_EIO, "cannot open '%s': %s", path, strerror(errno));
    fclose(probe);
    gzFile f = gzopen(path, "rb");
    if (!f) return vm_errorf(err, VM_EIO, "cannot open '%s'", path);
    size_t cap_line = 1 << 16;
    char *line = vm_malloc(cap_line, err);
    int64_t cap = 0, ids_cap = 0, ids_n = 0;
    enum vm_status s = line ? VM_OK : VM_ENOMEM;
    int64_t lineno = 0;
    d->start = vm_malloc(sizeof(int64_t), err);
    if (!d->start) s = VM_ENOMEM;
    else d->start[0] = 0;
    while (!s) {
        /* read one whole line, however long */
        size_t used = 0;
        bool got = false;
        for (;;) {
            if (!gzgets(f, line + used, (int)(cap_line - used))) break;
            got = true;
            used += strlen(line + used);
            if (used && line[used - 1] == '\n') break;
            if (used + 1 < cap_line - 1) break; /* end of file without newline */
            char *nl = vm_realloc(line, cap_line * 2, err);
            if (!nl) {
                s = VM_ENOMEM;
                break;
            }
            line = nl;
            cap_line *= 2;
        }
        if (s || !got) break;
        lineno++;
        while (used && (line[used - 1] == '\n' || line[used - 1] == '\r')) line[--used] = 0;
        if (used == 0) continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: expected 'label<TAB>text', found no TAB", path, (long long)lineno);
            break;
        }
        *tab = 0;
        char *endp;
        errno = 0;
        long lab = strtol(line, &endp, 10);
        if (endp == line || *endp || errno || lab < 0 || lab > 100000) {
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: label '%s' is not a non-negative integer", path, (long long)lineno, line);
            break;
        }
        struct vm_encoding enc;
        if ((s = vm_text_encode(t, v, tab + 1, max_len, false, &enc, err))) {
            vm_encoding_free(&enc);
            vm_error_prefix(err, "%s:%lld", path, (long long)lineno);
            break;
        }
        if (enc.n_words == 0) {
            vm_encoding_free(&enc);
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: the text has no tokens", path, (long long)lineno);
            break;
        }
        if (d->n == cap) {
            cap = cap ? 2 * cap : 1024;
            int32_t *nl = vm_realloc(d->labels, (size_t)cap * sizeof *nl, err);
            int64_t *ns = nl ? vm_realloc(d->start, (size_t)(cap + 1) * sizeof *ns, err) : NULL;
            if (nl) d->labels = nl;
            if (ns) d->start = ns;
            char **nx = ns ? vm_realloc(d->texts, (size_t)cap * sizeof *nx, err) : NULL;
            if (nx) d->texts = nx;
            if (!nl || !ns || !nx) {
                vm_encoding_free(&enc);
                s = VM_ENOMEM;
                break;
            }
        }
        int32_t k = enc.n;
        if (ids_n + k > ids_cap) {
            ids_cap = (ids_n + k) * 2 + 4096;
            int32_t *ni = vm_realloc(d->ids, (size_t)ids_cap * sizeof *ni, err);
            if (!ni) {
                vm_encoding_free(&enc);
                s = VM_ENOMEM;
                break;
            }
            d->ids = ni;
        }
        if (k) memcpy(d->ids + ids_n, enc.ids, sizeof(int32_t) * (size_t)k);
        d->n_tokens += enc.n_words;
        d->n_unk += enc.n_unk;
        vm_encoding_free(&enc);
        if (k == 0) {
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: no token of the text is in the vocabulary (and it has no unknown-word token)",
                          path, (long long)lineno);
            break;
        }
        d->texts[d->n] = vm_strdup(tab + 1, err);
        if (!d->texts[d->n]) {
            s = VM_ENOMEM;
            break;
        }
        d->labels[d->n] = (int32_t)lab;
        if (lab > d->max_label) d->max_label = (int32_t)lab;
        ids_n += k;
        d->n++;
        d->start[d->n] = ids_n;
        if (k > d->max_len) d->max_len = k;
    }
    int gz_err;
    const char *gmsg = gzerror(f, &gz_err);
    if (!s && gz_err != Z_OK && gz_err != Z_STREAM_END)
        s = vm_errorf(err, VM_EIO, "%s: read error after line %lld: %s", path, (long long)lineno, gmsg);
    gzclose(f);
    free(line);
    if (!s && d->n == 0) s = vm_errorf(err, VM_EFORMAT, "%s: no examples", path);
    if (s) vm_dataset_free(d);
    return s;
}

int vm_vocab_special_ids(const struct vm_vocab *v, int64_t *out, int cap) {
    if (v->cls_id < 0 || v->sep_id < 0) return 0;
    int32_t ids[3] = {v->cls_id, v->sep_id, v->pad_id};
    int n = 0;
    for (int k = 0; k < 3; k++)
        if (ids[k] >= 0 && n < cap) out[n++] = ids[k];
    return n;
}

bool vm_vocab_is_special(const struct vm_vocab *v, int32_t id) {
    if (id == v->pad_id || id == v->unk_id) return true;
    int64_t sp[8];
    int n = vm_vocab_special_ids(v, sp, 8);
    for (int k = 0; k < n; k++)
        if (sp[k] == id) return true;
    return false;
}
