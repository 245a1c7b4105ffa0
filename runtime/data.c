/* data: the one reader of labelled data files (see text.h) — label<TAB>text TSV, CSV (RFC 4180)
 * and JSON Lines, plain or gzip, with class names and UTF-8 checks.
 *
 * Lines come from vm_gz_getline (text.c), so .gz and NUL bytes are handled once. A record's line
 * number is the line it starts on (a CSV record with quoted newlines spans several). Every problem
 * names file:line and, for CSV and JSONL, the column or field. JSON is parsed by json-c; a line
 * must be one JSON object. Labels are checked here, so every command gets the same rules: names
 * must be one of o->labels, else labels are integers 0..100000.
 */
#include "text.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>
#include <zlib.h>

/* ---- class names ---- */

void vm_labels_free(struct vm_labels *l) {
    for (int32_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

int32_t vm_labels_find(const struct vm_labels *l, const char *name) {
    for (int32_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->names[i], name)) return i;
    return -1;
}

const char *vm_labels_name(const struct vm_labels *l, int64_t id, char *buf, size_t n) {
    if (l && id >= 0 && id < l->n) return l->names[id];
    snprintf(buf, n, "%lld", (long long)id);
    return buf;
}

static enum vm_status labels_add(struct vm_labels *l, const char *name, size_t len, struct vm_error *err) {
    char **nn = vm_realloc(l->names, sizeof *nn * (size_t)(l->n + 1), err);
    if (!nn) return VM_ENOMEM;
    l->names = nn;
    if (!(nn[l->n] = vm_malloc(len + 1, err))) return VM_ENOMEM;
    memcpy(nn[l->n], name, len);
    nn[l->n][len] = 0;
    l->n++;
    return VM_OK;
}

enum vm_status vm_labels_from_text(struct vm_labels *l, const char *text, const char *what, struct vm_error *err) {
    memset(l, 0, sizeof *l);
    enum vm_status s = VM_OK;
    int line = 0;
    for (const char *p = text; *p && !s;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        line++;
        if (len && p[len - 1] == '\r') len--;
        if (!len && (!e || !e[1])) break; /* a trailing newline */
        if (!len) s = vm_errorf(err, VM_EFORMAT, "%s:%d: empty class name (one name per line, line i = class i)", what, line);
        else if (memchr(p, '\t', len)) s = vm_errorf(err, VM_EFORMAT, "%s:%d: a class name holds a TAB", what, line);
        else if ((s = vm_utf8_check(p, len, false, NULL, what, err))) vm_error_prefix(err, "line %d", line);
        else if ((s = labels_add(l, p, len, err))) break;
        else if (vm_labels_find(l, l->names[l->n - 1]) != l->n - 1)
            s = vm_errorf(err, VM_EFORMAT, "%s:%d: class name '%s' appears twice", what, line, l->names[l->n - 1]);
        p = e ? e + 1 : p + len;
    }
    if (!s && l->n == 0) s = vm_errorf(err, VM_EFORMAT, "%s: no class names", what);
    if (s) vm_labels_free(l);
    return s;
}

enum vm_status vm_labels_load(struct vm_labels *l, const char *path, struct vm_error *err) {
    memset(l, 0, sizeof *l);
    uint8_t *buf;
    size_t len;
    if (vm_file_read(path, &buf, &len, err)) return err->code;
    enum vm_status s = VM_OK;
    if (memchr(buf, 0, len)) s = vm_errorf(err, VM_EFORMAT, "%s: holds a NUL byte (one class name per line)", path);
    char *text = s ? NULL : vm_malloc(len + 1, err);
    if (!s && !text) s = VM_ENOMEM;
    if (!s) {
        memcpy(text, buf, len);
        text[len] = 0;
        size_t skip = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
        s = vm_labels_from_text(l, text + skip, path, err);
    }
    free(text);
    free(buf);
    return s;
}

char *vm_labels_to_text(const struct vm_labels *l, struct vm_error *err) {
    size_t len = 1;
    for (int32_t i = 0; i < l->n; i++) len += strlen(l->names[i]) + 1;
    char *out = vm_malloc(len, err), *p = out;
    if (!out) return NULL;
    for (int32_t i = 0; i < l->n; i++) p += sprintf(p, i + 1 < l->n ? "%s\n" : "%s", l->names[i]);
    *p = 0;
    return out;
}

/* ---- UTF-8 ---- */

enum vm_status vm_utf8_check(const char *s, size_t len, bool replace, char **out, const char *what, struct vm_error *err) {
    if (out) *out = NULL;
    char *o = NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        bool bad = k < 1 || c == 0;
        if (bad && !replace) {
            free(o);
            if (k >= 1) return vm_errorf(err, VM_EFORMAT, "%s: NUL byte at byte %zu (--replace-invalid turns it into U+FFFD)", what, i + 1);
            return vm_errorf(err, VM_EFORMAT, "%s: invalid UTF-8 byte 0x%02x at byte %zu (--replace-invalid turns such bytes into U+FFFD)",
                             what, (unsigned)(uint8_t)s[i], i + 1);
        }
        if (bad && !o) { /* the first problem: from here on the copy is written */
            if (!(o = vm_malloc(3 * len + 1, err))) return VM_ENOMEM;
            memcpy(o, s, i);
            n = i;
        }
        if (bad) {
            memcpy(o + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i += 1;
            continue;
        }
        if (o) memcpy(o + n, s + i, (size_t)k);
        n += o ? (size_t)k : 0;
        i += (size_t)k;
    }
    if (o) {
        o[n] = 0;
        if (out) *out = o;
        else free(o);
    }
    return VM_OK;
}

/* ---- formats ---- */

bool vm_data_parse_format(const char *s, enum vm_data_format *f) {
    if (!strcmp(s, "tsv")) *f = VM_DATA_TSV;
    else if (!strcmp(s, "csv")) *f = VM_DATA_CSV;
    else if (!strcmp(s, "jsonl") || !strcmp(s, "ndjson")) *f = VM_DATA_JSONL;
    else return false;
    return true;
}

const char *vm_data_format_name(enum vm_data_format f) {
    return f == VM_DATA_CSV ? "csv" : f == VM_DATA_JSONL ? "jsonl" : "tsv";
}

static bool ends_with(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && !strncasecmp(s + n - k, suf, k);
}

static enum vm_data_format format_of(const char *path) {
    size_t n = strlen(path);
    if (ends_with(path, n, ".gz")) n -= 3;
    if (ends_with(path, n, ".csv")) return VM_DATA_CSV;
    if (ends_with(path, n, ".jsonl") || ends_with(path, n, ".ndjson")) return VM_DATA_JSONL;
    return VM_DATA_TSV;
}

enum vm_status vm_data_open(struct vm_data_reader *r, const char *path, const struct vm_data_opts *o, struct vm_error *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    if (o) r->o = *o;
    r->format = r->o.format != VM_DATA_AUTO ? r->o.format : format_of(path);
    r->text_col = r->label_col = r->pair_col = -1;
    FILE *probe = fopen(path, "rb"); /* gzopen's errors do not say why */
    if (!probe) return vm_errorf(err, VM_EIO, "cannot open '%s': %s", path, strerror(errno));
    fclose(probe);
    if (!(r->f = gzopen(path, "rb"))) return vm_errorf(err, VM_EIO, "cannot open '%s'", path);
    return VM_OK;
}

void vm_data_close(struct vm_data_reader *r) {
    if (r->f) gzclose(r->f);
    if (r->json) json_object_put(r->json);
    free(r->line);
    free(r->rec);
    free(r->fields);
    free(r->clean);
    free(r->clean_label);
    free(r->pair);
    memset(r, 0, sizeof *r);
}

/* The next physical line into r->line (BOM of the first line skipped): 1, 0 at the end, or -1. */
static int next_line(struct vm_data_reader *r, size_t *len, struct vm_error *err) {
    int got = vm_gz_getline(r->f, r->path, &r->line, &r->cap, len, err);
    if (got < 0) {
        vm_error_prefix(err, "after line %lld", (long long)r->phys);
        return -1;
    }
    if (got == 0) return 0;
    if (r->phys++ == 0 && *len >= 3 && !memcmp(r->line, "\xEF\xBB\xBF", 3)) {
        memmove(r->line, r->line + 3, *len - 3 + 1);
        *len -= 3;
    }
    while (*len && r->line[*len - 1] == '\r') r->line[--*len] = 0;
    return 1;
}

/* ---- CSV ---- */

static enum vm_status rec_put(struct vm_data_reader *r, size_t *n, const char *p, size_t k, struct vm_error *err) {
    if (*n + k + 1 > r->rec_cap) {
        size_t cap = (*n + k + 1) * 2 + 256;
        char *nr = vm_realloc(r->rec, cap, err);
        if (!nr) return VM_ENOMEM;
        r->rec = nr;
        r->rec_cap = cap;
    }
    memcpy(r->rec + *n, p, k);
    *n += k;
    return VM_OK;
}

static enum vm_status field_start(struct vm_data_reader *r, size_t at, struct vm_error *err) {
    if (r->n_fields == r->fields_cap) {
        int cap = r->fields_cap ? 2 * r->fields_cap : 16;
        size_t *nf = vm_realloc(r->fields, sizeof *nf * (size_t)cap, err);
        if (!nf) return VM_ENOMEM;
        r->fields = nf;
        r->fields_cap = cap;
    }
    r->fields[r->n_fields++] = at;
    return VM_OK;
}

/* One CSV record (RFC 4180: fields split by ',', a field in "..." may hold commas, newlines and
 * "" for a quote; a quote inside an unquoted field is kept as written, as Python's csv does).
 * 1 for a record, 0 at the end; empty lines are skipped. */
static int csv_record(struct vm_data_reader *r, struct vm_error *err) {
    size_t len, n = 0;
    int got;
    do {
        if ((got = next_line(r, &len, err)) <= 0) return got;
    } while (len == 0);
    r->lineno = r->phys;
    r->n_fields = 0;
    if (field_start(r, 0, err)) return -1;
    enum { START, PLAIN, QUOTED, CLOSED } st = START;
    for (;;) {
        const char *p = r->line;
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            if (st == QUOTED) {
                if (c != '"') {
                    size_t j = i; /* a run of ordinary characters at once */
                    while (j < len && p[j] != '"') j++;
                    if (rec_put(r, &n, p + i, j - i, err)) return -1;
                    i = j - 1;
                } else if (i + 1 < len && p[i + 1] == '"') {
                    if (rec_put(r, &n, "\"", 1, err)) return -1;
                    i++;
                } else {
                    st = CLOSED;
                }
                continue;
            }
            if (c == ',') {
                if (rec_put(r, &n, "", 1, err) || field_start(r, n, err)) return -1;
                st = START;
                continue;
            }
            if (st == CLOSED) {
                vm_errorf(err, VM_EFORMAT, "%s:%lld: column %d: '%c' after the closing quote of a quoted field (a quote inside one is written \"\")",
                          r->path, (long long)r->phys, r->n_fields - 1, c);
                return -1;
            }
            if (st == START && c == '"') {
                st = QUOTED;
                continue;
            }
            st = PLAIN;
            if (rec_put(r, &n, &c, 1, err)) return -1;
        }
        if (st != QUOTED) break;
        /* a newline inside quotes belongs to the field: the record goes on */
        if ((got = next_line(r, &len, err)) < 0) return -1;
        if (got == 0) {
            vm_errorf(err, VM_EFORMAT, "%s:%lld: column %d: the quoted field opened here has no closing quote before the end of the file",
                      r->path, (long long)r->lineno, r->n_fields - 1);
            return -1;
        }
        if (rec_put(r, &n, "\n", 1, err)) return -1;
    }
    if (rec_put(r, &n, "", 1, err)) return -1;
    r->rec_len = n;
    return 1;
}

/* Field j of the record and its length in bytes (NUL bytes included). */
static char *csv_field(const struct vm_data_reader *r, int j, size_t *len) {
    size_t end = j + 1 < r->n_fields ? r->fields[j + 1] : r->rec_len;
    *len = end - r->fields[j] - 1;
    return r->rec + r->fields[j];
}

static bool is_index(const char *s, int *out) {
    long long v;
    char *e;
    if (!s || !*s) return false;
    errno = 0;
    v = strtoll(s, &e, 10);
    if (*e || errno || v < 0 || v > 100000 || s[0] == '-' || s[0] == '+') return false;
    *out = (int)v;
    return true;
}

static int csv_find(const struct vm_data_reader *r, const char *name) {
    for (int i = 0; i < r->n_fields; i++)
        if (!strcasecmp(r->rec + r->fields[i], name)) return i;
    return -1;
}

/* After the first record: is it a header, and which columns hold the text and the label. */
static enum vm_status csv_columns(struct vm_data_reader *r, bool *was_header, struct vm_error *err) {
    const char *tc = r->o.text_column, *lc = r->o.label_column;
    int ti = -1, li = -1;
    bool t_idx = is_index(tc, &ti), l_idx = is_index(lc, &li);
    const char *tname = tc && !t_idx ? tc : "text", *lname = lc && !l_idx ? lc : "label";
    bool header = r->o.header > 0;
    if (r->o.header == 0) header = csv_find(r, tname) >= 0 || csv_find(r, lname) >= 0;
    if (!header && ((tc && !t_idx) || (lc && !l_idx))) {
        if (r->o.header < 0)
            return vm_errorf(err, VM_EINVAL, "%s: a column given by name ('%s') needs a header, but --no-header says there is none; give a 0-based index",
                             r->path, tc && !t_idx ? tc : lc);
        return vm_errorf(err, VM_EFORMAT, "%s:%lld: no header with a column '%s' (the first record has no field of that name)",
                         r->path, (long long)r->lineno, tc && !t_idx ? tc : lc);
    }
    if (header) {
        if (!t_idx && (ti = csv_find(r, tname)) < 0)
            return vm_errorf(err, VM_EFORMAT, "%s:%lld: the header has no column '%s' for the text (--text-column NAME or a 0-based index)",
                             r->path, (long long)r->lineno, tname);
        if (!l_idx && (li = csv_find(r, lname)) < 0)
            return vm_errorf(err, VM_EFORMAT, "%s:%lld: the header has no column '%s' for the label (--label-column NAME or a 0-based index)",
                             r->path, (long long)r->lineno, lname);
    } else {
        if (!t_idx) ti = 1;
        if (!l_idx) li = 0;
    }
    if (ti == li) return vm_errorf(err, VM_EINVAL, "%s: the text and the label are both column %d", r->path, ti);
    const char *pc = r->o.text_pair_column;
    int pi = -1;
    if (pc && !is_index(pc, &pi)) {
        if (!header)
            return vm_errorf(err, VM_EFORMAT, "%s:%lld: --text-pair-column '%s' is a name, but the file has no header; give a 0-based index",
                             r->path, (long long)r->lineno, pc);
        if ((pi = csv_find(r, pc)) < 0)
            return vm_errorf(err, VM_EFORMAT, "%s:%lld: the header has no column '%s' for the second text (--text-pair-column)", r->path,
                             (long long)r->lineno, pc);
    }
    if (pc && (pi == ti || pi == li))
        return vm_errorf(err, VM_EINVAL, "%s: --text-pair-column is column %d, which is already the %s", r->path, pi, pi == ti ? "text" : "label");
    r->pair_col = pi;
    r->text_col = ti;
    r->label_col = li;
    *was_header = header;
    return VM_OK;
}

/* r->pair = a TAB b (TABs of a as spaces: the pair splits at the first TAB); *text points at it. */
static enum vm_status join_pair(struct vm_data_reader *r, char **text, size_t *text_len, const char *b, size_t blen, struct vm_error *err) {
    size_t need = *text_len + 1 + blen + 1;
    if (need > r->pair_cap) {
        char *np = vm_realloc(r->pair, need, err);
        if (!np) return VM_ENOMEM;
        r->pair = np;
        r->pair_cap = need;
    }
    for (size_t i = 0; i < *text_len; i++) r->pair[i] = (*text)[i] == '\t' ? ' ' : (*text)[i];
    r->pair[*text_len] = '\t';
    memcpy(r->pair + *text_len + 1, b, blen);
    r->pair[need - 1] = 0;
    *text = r->pair;
    *text_len = need - 1;
    return VM_OK;
}

/* The next CSV example: its label and text fields, as written. */
static int csv_next(struct vm_data_reader *r, char **label, size_t *label_len, char **text, size_t *text_len, struct vm_error *err) {
    for (;;) {
        int got = csv_record(r, err);
        if (got <= 0) return got;
        if (r->n_fields == 1 && !r->rec[0]) continue; /* an empty record */
        if (r->text_col < 0) {
            bool header = false;
            if (csv_columns(r, &header, err)) return -1;
            if (header) continue;
        }
        int need = r->text_col > r->label_col ? r->text_col : r->label_col;
        if (r->pair_col > need) need = r->pair_col;
        if (r->n_fields <= need) {
            vm_errorf(err, VM_EFORMAT, "%s:%lld: %d field%s, but the %s is column %d (0-based)", r->path, (long long)r->lineno, r->n_fields,
                      r->n_fields == 1 ? "" : "s", need == r->text_col ? "text" : need == r->label_col ? "label" : "second text", need);
            return -1;
        }
        *label = csv_field(r, r->label_col, label_len);
        *text = csv_field(r, r->text_col, text_len);
        if (r->pair_col >= 0) {
            size_t blen;
            const char *b = csv_field(r, r->pair_col, &blen);
            if (join_pair(r, text, text_len, b, blen, err)) return -1;
        }
        return 1;
    }
}

/* ---- JSON Lines ---- */

static const char *json_kind(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a number with a fraction";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    default: return "a string";
    }
}

static int jsonl_next(struct vm_data_reader *r, char **label, size_t *label_len, char **text, size_t *text_len,
                      struct vm_error *err) {
    size_t len;
    int got;
    do {
        if ((got = next_line(r, &len, err)) <= 0) return got;
        while (len && (r->line[len - 1] == ' ' || r->line[len - 1] == '\t')) len--;
    } while (len == 0);
    r->lineno = r->phys;
    if (r->json) json_object_put(r->json);
    r->json = NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok) return vm_errorf(err, VM_ENOMEM, "out of memory"), -1;
    json_object *obj = len <= INT32_MAX ? json_tokener_parse_ex(tok, r->line, (int)len) : NULL;
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t used = (size_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!obj || je != json_tokener_success) {
        if (obj) json_object_put(obj);
        vm_errorf(err, VM_EFORMAT, "%s:%lld: not valid JSON: %s (at byte %zu)", r->path, (long long)r->lineno,
                  je == json_tokener_continue ? "the line ends inside a value" : json_tokener_error_desc(je), used + 1);
        return -1;
    }
    r->json = obj;
    while (used < len && (r->line[used] == ' ' || r->line[used] == '\t')) used++;
    if (used < len) {
        vm_errorf(err, VM_EFORMAT, "%s:%lld: more after the JSON value ends at byte %zu (one object per line)", r->path,
                  (long long)r->lineno, used);
        return -1;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        vm_errorf(err, VM_EFORMAT, "%s:%lld: the line is %s, not a JSON object", r->path, (long long)r->lineno, json_kind(obj));
        return -1;
    }
    const char *tf = r->o.text_field ? r->o.text_field : "text", *lf = r->o.label_field ? r->o.label_field : "label";
    json_object *t, *l;
    if (!json_object_object_get_ex(obj, tf, &t) || !json_object_is_type(t, json_type_string)) {
        vm_errorf(err, VM_EFORMAT, "%s:%lld: field '%s' %s%s (the text: a string; --text-field NAME)", r->path, (long long)r->lineno, tf,
                  t ? "is " : "is missing", t ? json_kind(t) : "");
        return -1;
    }
    if (!json_object_object_get_ex(obj, lf, &l) || !(json_object_is_type(l, json_type_string) || json_object_is_type(l, json_type_int))) {
        vm_errorf(err, VM_EFORMAT, "%s:%lld: field '%s' %s%s (the label: a string or an integer; --label-field NAME)", r->path,
                  (long long)r->lineno, lf, l ? "is " : "is missing", l ? json_kind(l) : "");
        return -1;
    }
    *text = (char *)json_object_get_string(t);
    *text_len = (size_t)json_object_get_string_len(t);
    if (r->o.text_pair_field) {
        json_object *b;
        if (!json_object_object_get_ex(obj, r->o.text_pair_field, &b) || !json_object_is_type(b, json_type_string)) {
            vm_errorf(err, VM_EFORMAT, "%s:%lld: field '%s' %s%s (the second text of the pair: a string; --text-pair-field NAME)", r->path,
                      (long long)r->lineno, r->o.text_pair_field, b ? "is " : "is missing", b ? json_kind(b) : "");
            return -1;
        }
        if (join_pair(r, text, text_len, json_object_get_string(b), (size_t)json_object_get_string_len(b), err)) return -1;
    }
    if (json_object_is_type(l, json_type_int)) {
        snprintf(r->num, sizeof r->num, "%lld", (long long)json_object_get_int64(l));
        *label = r->num;
        *label_len = strlen(r->num);
    } else {
        *label = (char *)json_object_get_string(l);
        *label_len = (size_t)json_object_get_string_len(l);
    }
    return 1;
}

/* ---- examples ---- */

/* One record's label and text, checked: UTF-8 (or replaced), the label known. */
static enum vm_status finish_example(struct vm_data_reader *r, char *lab, size_t lab_len, char *text, size_t text_len,
                                     const char *lab_what, const char *text_what, int32_t *label, char **text_out,
                                     struct vm_error *err) {
    char where[64];
    free(r->clean);
    free(r->clean_label);
    r->clean = r->clean_label = NULL;
    snprintf(where, sizeof where, "%lld", (long long)r->lineno);
    if (vm_utf8_check(text, text_len, r->o.replace_invalid, &r->clean, text_what, err) ||
        vm_utf8_check(lab, lab_len, r->o.replace_invalid, &r->clean_label, lab_what, err))
        return vm_error_prefix(err, "%s:%s", r->path, where);
    if (r->clean) text = r->clean;
    if (r->clean_label) lab = r->clean_label;
    r->label_text = lab;
    *text_out = text;
    if (r->raw_labels || r->o.ignore_labels) {
        *label = r->raw_labels ? -1 : 0;
        return VM_OK;
    }
    if (r->o.labels && r->o.labels->n > 0) {
        int32_t id = vm_labels_find(r->o.labels, lab);
        if (id >= 0) {
            *label = id;
            return VM_OK;
        }
        char list[512] = "";
        size_t n = 0;
        for (int32_t i = 0; i < r->o.labels->n && n + 4 < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'", i ? ", " : "", r->o.labels->names[i]);
        if (n >= sizeof list) strcpy(list + sizeof list - 5, "...");
        return vm_errorf(err, VM_EFORMAT, "%s:%lld: label '%s' is not one of the model's %d classes (%s)", r->path, (long long)r->lineno,
                         lab, r->o.labels->n, list);
    }
    char *endp;
    errno = 0;
    long v = strtol(lab, &endp, 10);
    if (endp == lab || *endp || errno || v < 0 || v > 100000 || lab[0] == ' ')
        return vm_errorf(err, VM_EFORMAT, "%s:%lld: label '%s' is not a non-negative integer (class names need a model trained with names, "
                         "or train --labels FILE)", r->path, (long long)r->lineno, lab);
    *label = (int32_t)v;
    return VM_OK;
}

enum vm_status vm_data_next(struct vm_data_reader *r, int32_t *label, char **text, struct vm_error *err) {
    *text = NULL;
    char *lab = NULL, *t = NULL, what_l[96], what_t[96];
    size_t lab_len = 0, t_len = 0;
    int got;
    if (r->format == VM_DATA_CSV) {
        if ((got = csv_next(r, &lab, &lab_len, &t, &t_len, err)) <= 0) return got < 0 ? err->code : VM_OK;
        snprintf(what_l, sizeof what_l, "column %d (the label)", r->label_col);
        snprintf(what_t, sizeof what_t, "column %d (the text)", r->text_col);
    } else if (r->format == VM_DATA_JSONL) {
        if ((got = jsonl_next(r, &lab, &lab_len, &t, &t_len, err)) <= 0) return got < 0 ? err->code : VM_OK;
        snprintf(what_l, sizeof what_l, "field '%s'", r->o.label_field ? r->o.label_field : "label");
        snprintf(what_t, sizeof what_t, "field '%s'", r->o.text_field ? r->o.text_field : "text");
    } else {
        size_t used;
        do {
            if ((got = next_line(r, &used, err)) <= 0) return got < 0 ? err->code : VM_OK;
        } while (used == 0);
        r->lineno = r->phys;
        char *tab = memchr(r->line, '\t', used);
        if (!tab) return vm_errorf(err, VM_EFORMAT, "%s:%lld: expected 'label<TAB>text', found no TAB", r->path, (long long)r->lineno);
        *tab = 0;
        lab = r->line;
        lab_len = (size_t)(tab - r->line);
        t = tab + 1;
        t_len = used - lab_len - 1;
        snprintf(what_l, sizeof what_l, "the label");
        snprintf(what_t, sizeof what_t, "the text");
    }
    return finish_example(r, lab, lab_len, t, t_len, what_l, what_t, label, text, err);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

enum vm_status vm_data_collect_labels(const char *path, const struct vm_data_opts *o, struct vm_labels *out, struct vm_error *err) {
    memset(out, 0, sizeof *out);
    struct vm_data_reader r;
    enum vm_status s = vm_data_open(&r, path, o, err);
    bool all_int = true;
    int64_t int_line = 0, name_line = 0; /* the first line of each kind */
    r.raw_labels = true;
    while (!s) {
        int32_t lab;
        char *text;
        if ((s = vm_data_next(&r, &lab, &text, err)) || !text) break;
        const char *l = r.label_text;
        size_t k = strspn(l, "0123456789");
        bool is_int = k > 0 && !l[k] && k <= 6 && atol(l) <= 100000;
        all_int = all_int && is_int;
        if (is_int && !int_line) int_line = r.lineno;
        if (!is_int && !name_line) name_line = r.lineno;
        if (int_line && name_line) { /* most likely a typo in one of them: no silent extra class */
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: label '%s' is %s, but line %lld's is %s: labels are all integers or all names "
                          "(give --labels FILE to read integers as names too)", path, (long long)r.lineno, l,
                          is_int ? "an integer" : "a name", (long long)(is_int ? name_line : int_line), is_int ? "a name" : "an integer");
            break;
        }
        if (vm_labels_find(out, l) < 0) s = labels_add(out, l, strlen(l), err);
        if (!s && out->n > 10000)
            s = vm_errorf(err, VM_EFORMAT, "%s:%lld: more than 10000 different labels: is the label column the right one?", path,
                          (long long)r.lineno);
    }
    vm_data_close(&r);
    if (!s && all_int) vm_labels_free(out); /* integers: as always, the label is the class */
    if (s) vm_labels_free(out);
    else if (out->n) qsort(out->names, (size_t)out->n, sizeof *out->names, cmp_str);
    return s;
}
