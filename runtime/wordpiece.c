/* wordpiece: BERT's tokenizer, id for id as Hugging Face's BertTokenizer / BertTokenizerFast.
 *
 * The steps and their order follow tokenizers' BertNormalizer, BertPreTokenizer and WordPiece
 * model (normalizers/bert.rs, pre_tokenizers/bert.rs, models/wordpiece/mod.rs):
 *   0. the vocabulary's special tokens ([CLS] [SEP] [PAD] [UNK] [MASK]) written verbatim in the raw
 *      text stand for themselves (BertTokenizerFast registers them as non-normalized added tokens);
 *   1. clean: drop U+0000, U+FFFD and control characters (categories Cc Cf Co Cs, except TAB LF CR),
 *      then turn every whitespace character into a space — in that order, so VT, FF and NEL vanish;
 *   2. surround each CJK ideograph with spaces;
 *   3. uncased only: NFD, drop nonspacing marks (Mn), lower-case;
 *   4. split on whitespace and isolate each punctuation character (ASCII punctuation, which
 *      includes $ + < = > ^ ` | ~, or Unicode category P*);
 *   5. per word: over max_word_chars characters -> [UNK]; else greedy longest-match-first pieces,
 *      later ones looked up with "##" in front; a word with a part no piece matches is one [UNK].
 * Categories, decomposition and case come from utf8proc, except where Hugging Face's own category
 * tables (Unicode 8.0) disagree with utf8proc's newer Unicode: those code points are listed in the
 * generated wordpiece_unicode.h. Invalid UTF-8 bytes read as U+FFFD, so step 1 drops them.
 */
#include "wordpiece.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { VM_UC_ORDINARY, VM_UC_CONTROL, VM_UC_PUNCT, VM_UC_MN };
#include "wordpiece_unicode.h"

enum vm_status vm_encoding_push(struct vm_encoding *e, int32_t id, int32_t word, bool pieces, const char *piece,
                                size_t len, struct vm_error *err) {
    if (e->n == e->cap) {
        int32_t cap = e->cap ? 2 * e->cap : 64;
        int32_t *ni = vm_realloc(e->ids, sizeof(int32_t) * (size_t)cap, err);
        if (!ni) return VM_ENOMEM;
        e->ids = ni;
        int32_t *nw = vm_realloc(e->word_of, sizeof(int32_t) * (size_t)cap, err);
        if (!nw) return VM_ENOMEM;
        e->word_of = nw;
        if (pieces) {
            char **np = vm_realloc(e->pieces, sizeof(char *) * (size_t)cap, err);
            if (!np) return VM_ENOMEM;
            e->pieces = np;
        }
        e->cap = cap;
    }
    if (pieces) {
        char *p = vm_malloc(len + 1, err);
        if (!p) return VM_ENOMEM;
        memcpy(p, piece, len);
        p[len] = 0;
        e->pieces[e->n] = p;
    }
    e->ids[e->n] = id;
    e->word_of[e->n] = word;
    e->n++;
    return VM_OK;
}

/* ---- code point buffers ---- */

struct cps {
    int32_t *c;
    size_t n, cap;
};

static enum vm_status cps_push(struct cps *b, int32_t c, struct vm_error *err) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        int32_t *nc = vm_realloc(b->c, sizeof(int32_t) * cap, err);
        if (!nc) return VM_ENOMEM;
        b->c = nc;
        b->cap = cap;
    }
    b->c[b->n++] = c;
    return VM_OK;
}

/* ---- character classes ---- */

static int uc_class(int32_t c) {
    size_t lo = 0, hi = sizeof vm_uc_hf_exceptions / sizeof vm_uc_hf_exceptions[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uint32_t)c < vm_uc_hf_exceptions[mid].first) hi = mid;
        else if ((uint32_t)c > vm_uc_hf_exceptions[mid].last) lo = mid + 1;
        else return vm_uc_hf_exceptions[mid].cls;
    }
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return VM_UC_PUNCT;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
        return c == '\t' || c == '\n' || c == '\r' ? VM_UC_ORDINARY : VM_UC_CONTROL;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return VM_UC_PUNCT;
    case UTF8PROC_CATEGORY_MN:
        return VM_UC_MN;
    default:
        return VM_UC_ORDINARY;
    }
}

/* Unicode White_Space, which is what Rust's char::is_whitespace tests: the separators Zs Zl Zp
 * plus TAB..CR and NEL. */
static bool uc_space(int32_t c) {
    if ((c >= 9 && c <= 13) || c == 0x85) return true;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

bool vm_uc_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---- normalization (steps 1-3) ---- */

static enum vm_status normalize(const struct vm_tokenizer *t, const char *text, size_t len, struct cps *out,
                                struct vm_error *err) {
    struct cps a = {0};
    enum vm_status s = VM_OK;
    /* 1 + 2: decode, clean, CJK */
    for (size_t i = 0; i < len && !s;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (k < 1) {
            c = 0xFFFD;
            k = 1;
        }
        i += (size_t)k;
        if (c == 0 || c == 0xFFFD || uc_class(c) == VM_UC_CONTROL) continue;
        if (uc_space(c)) c = ' ';
        if (vm_uc_cjk(c)) {
            if (!(s = cps_push(&a, ' ', err)) && !(s = cps_push(&a, c, err))) s = cps_push(&a, ' ', err);
        } else {
            s = cps_push(&a, c, err);
        }
    }
    if (s || !t->lowercase) {
        *out = a;
        return s;
    }
    /* 3: NFD (full decomposition, then marks in canonical order), strip Mn, lower-case */
    struct cps d = {0};
    for (size_t i = 0; i < a.n && !s; i++) {
        utf8proc_int32_t buf[32];
        int bound = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(a.c[i], buf, 32, UTF8PROC_DECOMPOSE, &bound);
        if (k < 1 || k > 32) { /* cannot happen for a valid code point: canonical decompositions are short */
            buf[0] = a.c[i];
            k = 1;
        }
        for (utf8proc_ssize_t j = 0; j < k && !s; j++) s = cps_push(&d, buf[j], err);
    }
    free(a.c);
    if (s) {
        free(d.c);
        return s;
    }
    for (size_t i = 1; i < d.n; i++) { /* stable insertion sort of each run of non-starters by class */
        int32_t c = d.c[i];
        int cc = utf8proc_get_property(c)->combining_class;
        if (!cc) continue;
        size_t j = i;
        while (j > 0) {
            int pc = utf8proc_get_property(d.c[j - 1])->combining_class;
            if (pc <= cc) break;
            d.c[j] = d.c[j - 1];
            j--;
        }
        d.c[j] = c;
    }
    struct cps o = {0};
    for (size_t i = 0; i < d.n && !s; i++) {
        int32_t c = d.c[i];
        if (uc_class(c) == VM_UC_MN) continue;
        if (c == 0x130) { /* the one full lower-case mapping of two characters (Rust's to_lowercase) */
            if (!(s = cps_push(&o, 'i', err))) s = cps_push(&o, 0x307, err);
            continue;
        }
        s = cps_push(&o, utf8proc_tolower(c), err);
    }
    free(d.c);
    *out = o;
    return s;
}

/* ---- WordPiece (step 5) ---- */

/* buf holds the word as UTF-8 after two bytes of room for "##"; off[i] is the byte offset (from
 * buf + 2) of character i, off[n_chars] the end. */
static enum vm_status word_pieces(const struct vm_tokenizer *t, const struct vm_vocab *v, char *buf, const size_t *off,
                                  int32_t n_chars, int32_t *found, char *key, bool pieces, struct vm_encoding *e,
                                  struct vm_error *err) {
    int32_t word = e->n_words++;
    const char *w = buf + 2;
    int32_t n_found = 0;
    bool bad = n_chars > t->max_word_chars;
    for (int32_t start = 0; start < n_chars && !bad;) {
        int32_t end = n_chars, id = -1;
        for (; end > start; end--) {
            size_t kl = 0;
            if (start > 0) {
                key[0] = '#';
                key[1] = '#';
                kl = 2;
            }
            memcpy(key + kl, w + off[start], off[end] - off[start]);
            key[kl + off[end] - off[start]] = 0;
            if ((id = vm_vocab_find(v, key)) >= 0) break;
        }
        if (id < 0) bad = true;
        else {
            found[2 * n_found] = id;
            found[2 * n_found + 1] = start;
            n_found++;
            start = end;
        }
    }
    if (bad) {
        e->n_unk++;
        return vm_encoding_push(e, v->unk_id, word, pieces, w, off[n_chars], err);
    }
    for (int32_t i = 0; i < n_found; i++) {
        enum vm_status s = vm_encoding_push(e, found[2 * i], word, pieces, v->tokens[found[2 * i]], strlen(v->tokens[found[2 * i]]), err);
        if (s) return s;
    }
    return VM_OK;
}

/* Steps 1-5 for a stretch of text without special tokens. */
static enum vm_status encode_segment(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text, size_t len,
                                     bool pieces, struct vm_encoding *e, struct vm_error *err) {
    struct cps c = {0};
    enum vm_status s = normalize(t, text, len, &c, err);
    /* scratch sized for the longest possible word: every character 4 bytes */
    char *buf = s ? NULL : vm_malloc(4 * c.n + 8, err), *key = buf ? vm_malloc(4 * c.n + 8, err) : NULL;
    size_t *off = key ? vm_malloc(sizeof(size_t) * (c.n + 1), err) : NULL;
    int32_t *found = off ? vm_malloc(sizeof(int32_t) * (2 * c.n + 2), err) : NULL;
    if (!s && !found) s = VM_ENOMEM;
    int32_t n_chars = 0;
    for (size_t i = 0; i <= c.n && !s; i++) {
        int32_t ch = i < c.n ? c.c[i] : ' ';
        bool space = uc_space(ch), punct = !space && uc_class(ch) == VM_UC_PUNCT;
        if ((space || punct) && n_chars) { /* the word so far ends here */
            s = word_pieces(t, v, buf, off, n_chars, found, key, pieces, e, err);
            n_chars = 0;
        }
        if (s || space) continue;
        if (!n_chars) off[0] = 0;
        off[n_chars + 1] = off[n_chars] + (size_t)utf8proc_encode_char(ch, (utf8proc_uint8_t *)buf + 2 + off[n_chars]);
        n_chars++;
        if (punct) {
            s = word_pieces(t, v, buf, off, n_chars, found, key, pieces, e, err);
            n_chars = 0;
        }
    }
    free(c.c);
    free(buf);
    free(key);
    free(off);
    free(found);
    return s;
}

enum vm_status vm_wordpiece_encode(const struct vm_tokenizer *t, const struct vm_vocab *v, const char *text,
                                   bool pieces, struct vm_encoding *e, struct vm_error *err) {
    VM_ASSERT(v->unk_id >= 0);
    const int32_t special[] = {v->pad_id, v->unk_id, v->cls_id, v->sep_id, v->mask_id};
    size_t len = strlen(text), seg = 0;
    for (size_t i = 0; i < len;) {
        /* the longest special token starting here (leftmost-longest, as Hugging Face matches them) */
        int32_t best = -1;
        size_t best_len = 0;
        if (text[i] == '[' || text[i] == '<')
            for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
                if (special[k] < 0) continue;
                const char *tok = v->tokens[special[k]];
                size_t tl = strlen(tok);
                if (tl > best_len && tl <= len - i && !memcmp(text + i, tok, tl)) {
                    best = special[k];
                    best_len = tl;
                }
            }
        if (best < 0) {
            i++;
            continue;
        }
        enum vm_status s = encode_segment(t, v, text + seg, i - seg, pieces, e, err);
        if (!s) s = vm_encoding_push(e, best, e->n_words++, pieces, text + i, best_len, err);
        if (s) return s;
        i += best_len;
        seg = i;
    }
    return encode_segment(t, v, text + seg, len - seg, pieces, e, err);
}
