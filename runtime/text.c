/* text: vocabulary, tokenizers, datasets (see text.h). The WordPiece tokenizer is in wordpiece.c. */
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "explain.h"
#include "wordpiece.h"

#include <utf8proc.h>

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

int32_t vm_vocab_first_diff(const struct vm_vocab *a, const struct vm_vocab *b, int32_t *differ) {
    int32_t n = a->n < b->n ? a->n : b->n, first = -1;
    *differ = 0;
    for (int32_t id = 0; id < n; id++)
        if (strcmp(a->tokens[id], b->tokens[id])) {
            if (first < 0) first = id;
            (*differ)++;
        }
    return first;
}

enum vm_status vm_vocab_check_stored(const struct vm_vocab *v, const char *v_path, const char *stored_text, const char *model,
                                     struct vm_error *err) {
    struct vm_vocab sv;
    enum vm_status s = vm_vocab_from_text(&sv, stored_text, NULL, NULL, err);
    if (s) return vm_error_prefix(err, "%s: its stored vocabulary", model);
    int32_t n = sv.n < v->n ? sv.n : v->n, differ;
    int32_t first = vm_vocab_first_diff(&sv, v, &differ);
    if (first >= 0)
        s = vm_errorf(err, VM_EINVAL,
                      "the vocabulary %s does not match the one %s was trained with: %d of %d ids differ (first at id %d: '%s', the model's '%s'); "
                      "leave out --vocab to use the model's own",
                      v_path, model, differ, n, first, v->tokens[first], sv.tokens[first]);
    else if (sv.n != v->n)
        s = vm_errorf(err, VM_EINVAL, "the vocabulary %s has %d tokens but %s was trained with %d; leave out --vocab to use the model's own", v_path,
                      v->n, model, sv.n);
    vm_vocab_free(&sv);
    return s;
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

/* Kim's clean_str for one ASCII byte text[i] (with split_punct), appended to buf at *o. */
static void kim_byte(const char *text, size_t len, size_t i, char *buf, size_t *o) {
    unsigned char c = (unsigned char)text[i];
    if (c >= 0x80 || !keep_char(c)) {
        buf[(*o)++] = ' ';
        return;
    }
    if (c == ',' || c == '!' || c == '?' || c == '(' || c == ')') {
        buf[(*o)++] = ' ';
        buf[(*o)++] = (char)c;
        buf[(*o)++] = ' ';
        return;
    }
    if (c == '\'') {
        /* 's 've 're 'd 'll split off as tokens */
        static const char *cl[] = {"s", "ve", "re", "d", "ll", NULL};
        bool split = false;
        for (int k = 0; cl[k]; k++) {
            size_t cl_len = strlen(cl[k]);
            if (i + 1 + cl_len <= len && !strncmp(text + i + 1, cl[k], cl_len)) split = true;
        }
        if (split) buf[(*o)++] = ' ';
        buf[(*o)++] = '\'';
        return;
    }
    if (c == 'n' && i + 2 < len && text[i + 1] == '\'' && text[i + 2] == 't') {
        buf[(*o)++] = ' ';
        buf[(*o)++] = 'n';
        return;
    }
    buf[(*o)++] = (char)c;
}

/* The Unicode word tokenizer's first step: NFKC, default-ignorable characters (ZWJ, soft hyphen,
 * variation selectors) removed, case folded when t->lowercase; invalid UTF-8 read as U+FFFD; and
 * U+2019 (the typographic apostrophe) as ASCII ', so clitics split as in Kim's rules. */
static enum vm_status unicode_normalize(const struct vm_tokenizer *t, const char *text, char **out, struct vm_error *err) {
    char *fixed = NULL;
    size_t len = strlen(text);
    if (vm_utf8_check(text, len, true, &fixed, "text", err)) return err->code;
    utf8proc_uint8_t *dst = NULL;
    int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_IGNORE | (t->lowercase ? UTF8PROC_CASEFOLD : 0);
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)(fixed ? fixed : text), fixed ? (utf8proc_ssize_t)strlen(fixed)
                                      : (utf8proc_ssize_t)len, &dst, (utf8proc_option_t)opts);
    free(fixed);
    if (n < 0) return vm_errorf(err, n == UTF8PROC_ERROR_NOMEM ? VM_ENOMEM : VM_EINVAL, "text: %s", utf8proc_errmsg(n));
    char *p = (char *)dst, *w = p;
    for (char *r = p; *r;) {
        if (t->split_punct && r[0] == '\xE2' && r[1] == '\x80' && r[2] == '\x99') { /* stops at the NUL: no read past it */
            *w++ = '\'';
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    *out = p;
    return VM_OK;
}

/* The Unicode tokenizer's rule for a code point outside ASCII: letters, marks and digits join
 * words; CJK ideographs and other symbols (So: emoji, ©) stand alone; anything else (U+FFFD too)
 * separates. */
static void unicode_char(const struct vm_tokenizer *t, int32_t c, const char *bytes, size_t k, char *buf, size_t *o) {
    utf8proc_category_t cat = utf8proc_category(c);
    bool space = cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP || c == 0x85;
    if (!t->split_punct) {
        if (space) buf[(*o)++] = ' ';
        else {
            memcpy(buf + *o, bytes, k);
            *o += k;
        }
        return;
    }
    bool word = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO; /* L*, M*, N* */
    bool alone = vm_uc_cjk(c) || (cat == UTF8PROC_CATEGORY_SO && c != 0xFFFD); /* U+FFFD: a replaced byte separates */
    if (!word && !alone) {
        buf[(*o)++] = ' ';
        return;
    }
    if (alone) buf[(*o)++] = ' ';
    memcpy(buf + *o, bytes, k);
    *o += k;
    if (alone) buf[(*o)++] = ' ';
}

enum vm_status vm_tokenize(const struct vm_tokenizer *t, const char *text, char ***tokens,
                           int32_t *n, struct vm_error *err) {
    *tokens = NULL;
    *n = 0;
    char *norm = NULL;
    if (!t->kim && unicode_normalize(t, text, &norm, err)) return err->code;
    if (norm) text = norm;
    size_t len = strlen(text);
    /* each character can gain two spaces (a CJK ideograph: 3 bytes + 2); clitics one */
    char *buf = vm_malloc(3 * len + 2, err);
    if (!buf) {
        free(norm);
        return VM_ENOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        if (t->kim || c < 0x80) {
            if (t->split_punct) kim_byte(text, len, i, buf, &o);
            else buf[o++] = isspace(c) ? ' ' : (char)c;
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k < 1) { /* cannot happen after unicode_normalize */
            cp = 0xFFFD;
            k = 1;
        }
        unicode_char(t, cp, text + i, (size_t)k, buf, &o);
        i += (size_t)k;
    }
    buf[o] = 0;
    free(norm);
    if (t->kim && t->lowercase) /* the Unicode tokenizer has case-folded already */
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
    *t = (struct vm_tokenizer){.kind = VM_TOKENIZER_WORDS, .lowercase = true, .split_punct = true, .kim = false, .max_word_chars = 100};
}

const char *vm_tokenizer_kind_name(enum vm_tokenizer_kind k) {
    return k == VM_TOKENIZER_WORDPIECE ? "wordpiece" : "words";
}

const char *vm_tokenizer_name(const struct vm_tokenizer *t) {
    return t->kind == VM_TOKENIZER_WORDPIECE ? "wordpiece" : t->kim ? "kim" : "words";
}

const char *vm_tokenizer_from_meta(const char *kind, const char *cleanup) {
    if (!kind || !strcmp(kind, "words")) return cleanup && !strcmp(cleanup, "unicode") ? "words" : "kim";
    return kind;
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
    if (force && (!strcmp(force, "words") || !strcmp(force, "kim"))) {
        wordpiece = false;
        t->kim = !strcmp(force, "kim");
    } else if (force && !strcmp(force, "wordpiece")) wordpiece = true;
    else if (force) return vm_errorf(err, VM_EINVAL, "unknown tokenizer '%s' (words, kim or wordpiece)", force);
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
    if (t->pairs && !wordpiece)
        return vm_errorf(err, VM_EINVAL, "--pairs needs a WordPiece vocabulary ([CLS] a [SEP] b [SEP]); %s is read with the %s tokenizer", what,
                         vm_tokenizer_name(t));
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

/* Drops e's entries from n on. */
static void encoding_cut(struct vm_encoding *e, int32_t n) {
    if (n >= e->n) return;
    if (e->pieces)
        for (int32_t i = n; i < e->n; i++) free(e->pieces[i]);
    e->n = n;
}

/* A sentence pair, text = a TAB b: [CLS] a [SEP] b [SEP]. Over max_len the pieces are cut as
 * Hugging Face tokenizers' TruncationStrategy::LongestFirst cuts a pair, with budget = max_len - 3
 * and s, l the shorter and longer piece counts (a counts as the shorter on a tie): the longer text
 * may keep max(s, budget - s) pieces (s when s alone is over the budget); when the two shares still
 * do not fit, the shorter keeps budget / 2 and the longer the rest. Each text is then cut to its
 * share; a text within its share keeps all its pieces. */
static enum vm_status encode_pair(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text, const char *tab,
                                  int32_t max_len, bool pieces, struct vm_encoding *e, struct vm_error *err) {
    const char *cls = v->tokens[v->cls_id], *sep = v->tokens[v->sep_id];
    size_t la = (size_t)(tab - text);
    char *a = vm_malloc(la + 1, err);
    if (!a) return VM_ENOMEM;
    memcpy(a, text, la);
    a[la] = 0;
    struct vm_encoding eb;
    memset(&eb, 0, sizeof eb);
    enum vm_status s = vm_encoding_push(e, v->cls_id, -1, pieces, cls, strlen(cls), err);
    if (!s) s = vm_wordpiece_encode(t, v, a, pieces, e, err);
    free(a);
    if (!s) {
        eb.n_words = e->n_words; /* b's words are numbered after a's */
        s = vm_wordpiece_encode(t, v, tab + 1, pieces, &eb, err);
    }
    if (s) {
        vm_encoding_free(&eb);
        return s;
    }
    int32_t na = e->n - 1, nb = eb.n;
    if (max_len > 0 && na + nb > max_len - 3) {
        int32_t budget = max_len - 3, n1 = na, n2 = nb;
        bool swap = n1 > n2;
        if (swap) n1 = nb, n2 = na;
        n2 = n1 > budget ? n1 : (n1 > budget - n1 ? n1 : budget - n1);
        if (n1 + n2 > budget) {
            n1 = budget / 2;
            n2 = n1 + budget % 2;
        }
        int32_t ka = swap ? n2 : n1, kb = swap ? n1 : n2;
        if (na > ka) na = ka;
        if (nb > kb) nb = kb;
    }
    encoding_cut(e, 1 + na);
    s = vm_encoding_push(e, v->sep_id, -1, pieces, sep, strlen(sep), err);
    for (int32_t i = 0; i < nb && !s; i++) {
        const char *pc = eb.pieces ? eb.pieces[i] : v->tokens[eb.ids[i]];
        s = vm_encoding_push(e, eb.ids[i], eb.word_of[i], pieces, pc, strlen(pc), err);
    }
    if (!s) s = vm_encoding_push(e, v->sep_id, -1, pieces, sep, strlen(sep), err);
    e->n_words = eb.n_words;
    e->n_unk += eb.n_unk;
    vm_encoding_free(&eb);
    return s;
}

int32_t vm_pair_second_start(const int32_t *ids, int32_t n, int32_t sep_id) {
    for (int32_t i = 0; sep_id >= 0 && i < n; i++)
        if (ids[i] == sep_id) return i + 1;
    return n;
}

void vm_token_types(const int32_t *ids, int32_t n, int32_t sep_id, int32_t *types) {
    int32_t second = vm_pair_second_start(ids, n, sep_id);
    for (int32_t i = 0; i < n; i++) types[i] = i >= second;
}

enum vm_status vm_text_encode(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text,
                              int32_t max_len, bool pieces, struct vm_encoding *e, struct vm_error *err) {
    memset(e, 0, sizeof *e);
    if (t->kind == VM_TOKENIZER_WORDS) return encode_words(t, v, text, max_len, pieces, e, err);
    VM_ASSERT(t->kind == VM_TOKENIZER_WORDPIECE && v->cls_id >= 0 && v->sep_id >= 0);
    if (max_len > 0 && max_len < 3)
        return vm_errorf(err, VM_EINVAL, "a maximum length of %d leaves no room for text between [CLS] and [SEP] (at least 3)", max_len);
    const char *cls = v->tokens[v->cls_id], *sep = v->tokens[v->sep_id];
    const char *tab = t->pairs ? strchr(text, '\t') : NULL;
    if (tab) return encode_pair(t, v, text, tab, max_len, pieces, e, err);
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
    free(d->line);
    free(d->labels);
    free(d->start);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

int vm_gz_getline(struct gzFile_s *f, const char *path, char **line, size_t *cap, size_t *len, struct vm_error *err) {
    if (!*line) {
        *cap = 1 << 16;
        if (!(*line = vm_malloc(*cap, err))) return -1;
    }
    size_t used = 0;
    bool got = false;
    for (;;) {
        z_off_t before = gztell(f);
        if (!gzgets(f, *line + used, (int)(*cap - used))) break;
        got = true;
        z_off_t after = gztell(f); /* the bytes read, NUL bytes included (strlen would stop at one) */
        used += before >= 0 && after >= before ? (size_t)(after - before) : strlen(*line + used);
        if (used && (*line)[used - 1] == '\n') break;
        if (used < *cap - 1) break; /* end of file without newline */
        char *nl = vm_realloc(*line, *cap * 2, err);
        if (!nl) return -1;
        *line = nl;
        *cap *= 2;
    }
    int gz_err;
    const char *gmsg = gzerror(f, &gz_err);
    if (gz_err != Z_OK && gz_err != Z_STREAM_END) {
        vm_errorf(err, VM_EIO, "%s: read error: %s", path, gmsg);
        return -1;
    }
    if (!got) return 0;
    if (used && (*line)[used - 1] == '\n') used--;
    if (used && (*line)[used - 1] == '\r') used--;
    (*line)[used] = 0;
    *len = used;
    return 1;
}

/* Room for one more example (labels, texts, start) and k more ids. */
static enum vm_status dataset_reserve(struct vm_dataset *d, int64_t *cap, int64_t *ids_cap, int64_t ids_n, int64_t k,
                                      struct vm_error *err) {
    if (d->n == *cap) {
        int64_t nc = *cap ? 2 * *cap : 1024;
        int32_t *nl = vm_realloc(d->labels, (size_t)nc * sizeof *nl, err);
        if (!nl) return VM_ENOMEM;
        d->labels = nl;
        int64_t *ns = vm_realloc(d->start, (size_t)(nc + 1) * sizeof *ns, err);
        if (!ns) return VM_ENOMEM;
        d->start = ns;
        char **nx = vm_realloc(d->texts, (size_t)nc * sizeof *nx, err);
        if (!nx) return VM_ENOMEM;
        d->texts = nx;
        int64_t *nn = vm_realloc(d->line, (size_t)nc * sizeof *nn, err);
        if (!nn) return VM_ENOMEM;
        d->line = nn;
        *cap = nc;
    }
    if (ids_n + k > *ids_cap) {
        int64_t nc = (ids_n + k) * 2 + 4096;
        int32_t *ni = vm_realloc(d->ids, (size_t)nc * sizeof *ni, err);
        if (!ni) return VM_ENOMEM;
        d->ids = ni;
        *ids_cap = nc;
    }
    return VM_OK;
}

enum vm_status vm_dataset_load(struct vm_dataset *d, const char *path, const struct vm_vocab *v,
                               const struct vm_tokenizer *t, int32_t max_len, const struct vm_data_opts *o,
                               struct vm_error *err) {
    memset(d, 0, sizeof *d);
    d->path = path;
    struct vm_data_reader r;
    enum vm_status s = vm_data_open(&r, path, o, err);
    if (s) return s;
    int64_t cap = 0, ids_cap = 0, ids_n = 0;
    d->start = vm_malloc(sizeof(int64_t), err);
    if (!d->start) s = VM_ENOMEM;
    else d->start[0] = 0;
    while (!s) {
        int32_t lab;
        char *text;
        if ((s = vm_data_next(&r, &lab, &text, err)) || !text) break;
        long long lineno = (long long)r.lineno;
        struct vm_encoding enc;
        if ((s = vm_text_encode(t, v, text, max_len, false, &enc, err))) {
            vm_encoding_free(&enc);
            vm_error_prefix(err, "%s:%lld", path, lineno);
            break;
        }
        if (enc.n_words == 0) {
            vm_encoding_free(&enc);
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: the text has no tokens", path, lineno);
            break;
        }
        int32_t k = enc.n;
        if ((s = dataset_reserve(d, &cap, &ids_cap, ids_n, k, err))) {
            vm_encoding_free(&enc);
            break;
        }
        if (k) memcpy(d->ids + ids_n, enc.ids, sizeof(int32_t) * (size_t)k);
        d->n_tokens += enc.n_words;
        d->n_unk += enc.n_unk;
        vm_encoding_free(&enc);
        if (k == 0) {
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: no token of the text is in the vocabulary (and it has no unknown-word token)",
                          path, lineno);
            break;
        }
        d->texts[d->n] = vm_strdup(text, err);
        if (!d->texts[d->n]) {
            s = VM_ENOMEM;
            break;
        }
        d->labels[d->n] = lab;
        d->line[d->n] = lineno;
        if (lab > d->max_label) d->max_label = lab;
        ids_n += k;
        d->n++;
        d->start[d->n] = ids_n;
        if (k > d->max_len) d->max_len = k;
    }
    vm_data_close(&r);
    if (!s && d->n == 0) s = vm_errorf(err, VM_EFORMAT, "%s: no examples", path);
    if (s) vm_dataset_free(d);
    return s;
}

enum vm_status vm_dataset_check_labels(const struct vm_dataset *d, int64_t n_classes, struct vm_error *err) {
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] >= n_classes)
            return vm_errorf(err, VM_EFORMAT, "%s:%lld: label %d is outside the model's %lld classes (0..%lld)", d->path,
                             (long long)d->line[i], d->labels[i], (long long)n_classes, (long long)n_classes - 1);
    return VM_OK;
}

int64_t vm_dataset_longest(const struct vm_dataset *d) {
    int64_t best = 0;
    for (int64_t i = 1; i < d->n; i++)
        if (vm_dataset_len(d, i) > vm_dataset_len(d, best)) best = i;
    return best;
}

/* dst gets the examples of src listed in idx[0..n) (ascending), copied. */
static enum vm_status dataset_pick(const struct vm_dataset *src, const int64_t *idx, int64_t n, struct vm_dataset *dst,
                                   struct vm_error *err) {
    memset(dst, 0, sizeof *dst);
    int64_t ntok = 0;
    for (int64_t i = 0; i < n; i++) ntok += vm_dataset_len(src, idx[i]);
    dst->labels = vm_malloc(sizeof(int32_t) * (size_t)(n ? n : 1), err);
    dst->start = dst->labels ? vm_malloc(sizeof(int64_t) * (size_t)(n + 1), err) : NULL;
    dst->ids = dst->start ? vm_malloc(sizeof(int32_t) * (size_t)(ntok ? ntok : 1), err) : NULL;
    dst->texts = dst->ids ? vm_calloc((size_t)(n ? n : 1), sizeof(char *), err) : NULL;
    dst->line = dst->texts ? vm_malloc(sizeof(int64_t) * (size_t)(n ? n : 1), err) : NULL;
    dst->path = src->path;
    if (!dst->line) {
        vm_dataset_free(dst);
        return VM_ENOMEM;
    }
    dst->start[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t e = idx[i];
        int32_t k = vm_dataset_len(src, e);
        memcpy(dst->ids + dst->start[i], src->ids + src->start[e], sizeof(int32_t) * (size_t)k);
        dst->start[i + 1] = dst->start[i] + k;
        dst->labels[i] = src->labels[e];
        dst->line[i] = src->line[e];
        if (!(dst->texts[i] = vm_strdup(src->texts[e], err))) {
            dst->n = i + 1;
            vm_dataset_free(dst);
            return VM_ENOMEM;
        }
        dst->n = i + 1;
        if (k > dst->max_len) dst->max_len = k;
        if (src->labels[e] > dst->max_label) dst->max_label = src->labels[e];
    }
    /* unknown-word counts are not kept per example: share them out by tokens */
    dst->n_tokens = src->start[src->n] ? (int64_t)((double)src->n_tokens * (double)ntok / (double)src->start[src->n]) : 0;
    dst->n_unk = src->start[src->n] ? (int64_t)((double)src->n_unk * (double)ntok / (double)src->start[src->n]) : 0;
    return VM_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

enum vm_status vm_dataset_split(const struct vm_dataset *src, double frac, uint64_t seed, struct vm_dataset *rest,
                                struct vm_dataset *part, struct vm_error *err) {
    memset(rest, 0, sizeof *rest);
    memset(part, 0, sizeof *part);
    if (src->n < 2) return vm_errorf(err, VM_EINVAL, "cannot split %lld example(s) into two parts", (long long)src->n);
    int64_t np = (int64_t)(frac * (double)src->n + 0.5);
    if (np < 1) np = 1;
    if (np > src->n - 1) np = src->n - 1;
    int64_t *perm = vm_malloc(sizeof(int64_t) * (size_t)src->n, err);
    if (!perm) return VM_ENOMEM;
    for (int64_t i = 0; i < src->n; i++) perm[i] = i;
    /* Fisher-Yates on a seeded stream keyed apart from the batch shuffle's */
    struct vm_rng rng;
    vm_rng_init(&rng, seed ^ 0x6465762d73706c69ull /* "dev-spli" */);
    for (int64_t i = src->n - 1; i > 0; i--) {
        int64_t j = (int64_t)vm_rng_below(&rng, (uint64_t)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    qsort(perm, (size_t)np, sizeof *perm, cmp_i64);
    qsort(perm + np, (size_t)(src->n - np), sizeof *perm, cmp_i64);
    enum vm_status s = dataset_pick(src, perm, np, part, err);
    if (!s) s = dataset_pick(src, perm + np, src->n - np, rest, err);
    free(perm);
    if (s) {
        vm_dataset_free(part);
        vm_dataset_free(rest);
    }
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
