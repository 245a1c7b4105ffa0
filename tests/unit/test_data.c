/* test_data: the data reader (runtime/data.c) on crafted files — TSV, CSV (RFC 4180 quoting,
 * quoted newlines, header detection, columns by name and index), JSON Lines, gzip, BOM, class
 * names and UTF-8 checks: each example's label, text and line number, and each error's file:line
 * and wording. Also the tokenizer chosen from a model's metadata (old words models stay Kim's). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../../runtime/text.h"
#include "vmtest.h"

static char dir[] = "/tmp/vm_test_data_XXXXXX";

static const char *put(const char *name, const char *bytes, size_t n, bool gz) {
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        gzwrite(f, bytes, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(p, "wb");
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
    return p;
}

#define PUT(name, lit, gz) put(name, lit, sizeof(lit) - 1, gz)

/* Reads every example of path as "line:label:text|" (labels as written) into out; returns the
 * status, the error message in err. */
static enum vm_status read_all(const char *path, const struct vm_data_opts *o, bool raw, char *out, size_t n, struct vm_error *err) {
    struct vm_data_reader r;
    out[0] = 0;
    memset(err, 0, sizeof *err);
    enum vm_status s = vm_data_open(&r, path, o, err);
    r.raw_labels = raw;
    size_t used = 0;
    while (!s) {
        int32_t lab;
        char *text;
        if ((s = vm_data_next(&r, &lab, &text, err)) || !text) break;
        if (raw) used += (size_t)snprintf(out + used, n - used, "%lld:%s:%s|", (long long)r.lineno, r.label_text, text);
        else used += (size_t)snprintf(out + used, n - used, "%lld:%d:%s|", (long long)r.lineno, lab, text);
    }
    vm_data_close(&r);
    return s;
}

#define READS(path, o, raw, want)                                                                  \
    do {                                                                                           \
        char got_[4096];                                                                           \
        struct vm_error e_;                                                                        \
        enum vm_status s_ = read_all(path, o, raw, got_, sizeof got_, &e_);                        \
        CHECK_MSG(s_ == VM_OK && !strcmp(got_, want), "got '%s' (%s), want '%s'", got_, e_.msg, want); \
    } while (0)

#define FAILS(path, o, want)                                                                       \
    do {                                                                                           \
        char got_[4096];                                                                           \
        struct vm_error e_;                                                                        \
        enum vm_status s_ = read_all(path, o, false, got_, sizeof got_, &e_);                      \
        CHECK_MSG(s_ != VM_OK && strstr(e_.msg, want), "error '%s', want '%s'", e_.msg, want);     \
    } while (0)

static void test_tsv(void) {
    const char *p = PUT("a.tsv", "\xEF\xBB\xBF" "1\tgood film\r\n\n0\tbad\tfilm\n", false);
    READS(p, NULL, false, "1:1:good film|3:0:bad\tfilm|");
    p = PUT("a.tsv.gz", "1\tgood\n0\tbad", true);
    READS(p, NULL, false, "1:1:good|2:0:bad|");
    p = PUT("b.tsv", "1\tgood\nbad\n", false);
    FAILS(p, NULL, "b.tsv:2: expected 'label<TAB>text', found no TAB");
    p = PUT("c.tsv", "1\tgood\npos\tbad\n", false);
    FAILS(p, NULL, "c.tsv:2: label 'pos' is not a non-negative integer");
    p = PUT("d.tsv", "1\tgo\xC3\x28od\n", false);
    FAILS(p, NULL, "d.tsv:1: the text: invalid UTF-8 byte 0xc3 at byte 3");
    struct vm_data_opts o = {.replace_invalid = true};
    READS(p, &o, false, "1:1:go\xEF\xBF\xBD(od|");
    p = PUT("e.tsv", "1\tgo\0od\n", false);
    FAILS(p, NULL, "e.tsv:1: the text: NUL byte at byte 3");
    READS(p, &o, false, "1:1:go\xEF\xBF\xBDod|");
}

static void test_csv(void) {
    const char *csv = "id,text,label\n"
                      "1,\"a, \"\"quoted\"\" text\",pos\n"
                      "2,\"two\nlines\",neg\n"
                      "\n"
                      "3,plain \"inner\" quote,pos\n";
    const char *p = put("a.csv", csv, strlen(csv), false);
    READS(p, NULL, true, "2:pos:a, \"quoted\" text|3:neg:two\nlines|6:pos:plain \"inner\" quote|");
    struct vm_data_opts o = {.text_column = "0", .label_column = "2", .header = 1};
    READS(p, &o, true, "2:pos:1|3:neg:2|6:pos:3|");
    p = put("a.csv.gz", csv, strlen(csv), true);
    READS(p, NULL, true, "2:pos:a, \"quoted\" text|3:neg:two\nlines|6:pos:plain \"inner\" quote|");
    /* no header: label 0, text 1 */
    p = PUT("b.csv", "1,\"good, really\"\n0,bad\n", false);
    READS(p, NULL, false, "1:1:good, really|2:0:bad|");
    /* the format from --format, not the name */
    struct vm_data_opts f = {.format = VM_DATA_CSV};
    p = PUT("b.txt", "1,\"good, really\"\n", false);
    READS(p, &f, false, "1:1:good, really|");
    /* columns by name, header named differently, case-insensitive */
    p = PUT("c.csv", "Review,Sentiment\nnice,1\n", false);
    struct vm_data_opts n = {.text_column = "review", .label_column = "SENTIMENT"};
    READS(p, &n, false, "2:1:nice|");
    FAILS(p, NULL, "c.csv:1: label 'Review' is not a non-negative integer"); /* no "text"/"label" field: no header */
    struct vm_data_opts hh = {.header = 1};
    FAILS(p, &hh, "c.csv:1: the header has no column 'text' for the text");
    struct vm_data_opts nh = {.text_column = "review", .header = -1};
    FAILS(p, &nh, "needs a header, but --no-header");
    /* errors name file:line and the column */
    p = PUT("d.csv", "label,text\n1,\"open\nstill open\n", false);
    FAILS(p, NULL, "d.csv:2: column 1: the quoted field opened here has no closing quote");
    p = PUT("e.csv", "label,text\n1,\"closed\"x\n", false);
    FAILS(p, NULL, "e.csv:2: column 1: 'x' after the closing quote");
    p = PUT("f.csv", "label,text\n1,ok\n2\n", false);
    FAILS(p, NULL, "f.csv:3: 1 field, but the text is column 1 (0-based)");
    p = PUT("n.csv", "label,text\n1,\"a\0b\"\n", false);
    FAILS(p, NULL, "n.csv:2: column 1 (the text): NUL byte at byte 2");
    p = PUT("g.csv", "label,text\n1,\xff\n", false);
    FAILS(p, NULL, "g.csv:2: column 1 (the text): invalid UTF-8 byte 0xff at byte 1");
    /* sentence pairs: the second text column joined by a TAB (a TAB inside the first becomes a space) */
    p = PUT("p.csv", "label,premise,hypothesis\n1,\"a\tman, eating\",he eats\n0,x,\n", false);
    struct vm_data_opts pc = {.text_column = "premise", .text_pair_column = "hypothesis"};
    READS(p, &pc, false, "2:1:a man, eating\the eats|3:0:x\t|");
    struct vm_data_opts pi = {.text_column = "1", .text_pair_column = "2", .header = 1};
    READS(p, &pi, false, "2:1:a man, eating\the eats|3:0:x\t|");
    struct vm_data_opts pn = {.text_column = "premise", .text_pair_column = "nope"};
    FAILS(p, &pn, "p.csv:1: the header has no column 'nope' for the second text (--text-pair-column)");
    struct vm_data_opts pl = {.text_column = "premise", .text_pair_column = "label"};
    FAILS(p, &pl, "--text-pair-column is column 0, which is already the label");
    p = PUT("q.csv", "1,a,b\n", false);
    struct vm_data_opts pq = {.text_pair_column = "2"};
    READS(p, &pq, false, "1:1:a\tb|");
    p = PUT("q.csv", "1,a,b\n0,c\n", false);
    FAILS(p, &pq, "q.csv:2: 2 fields, but the second text is column 2 (0-based)");
}

static void test_jsonl(void) {
    const char *js = "{\"text\": \"good \\\"film\\\"\", \"label\": 1}\n"
                     "\n"
                     "{\"label\": \"neg\", \"text\": \"caf\\u00e9\"}  \n";
    const char *p = put("a.jsonl", js, strlen(js), false);
    READS(p, NULL, true, "1:1:good \"film\"|3:neg:caf\xC3\xA9|");
    p = put("a.ndjson.gz", js, strlen(js), true);
    READS(p, NULL, true, "1:1:good \"film\"|3:neg:caf\xC3\xA9|");
    struct vm_data_opts o = {.text_field = "sentence", .label_field = "y"};
    p = PUT("b.jsonl", "{\"sentence\":\"ok\",\"y\":0}\n", false);
    READS(p, &o, false, "1:0:ok|");
    FAILS(p, NULL, "b.jsonl:1: field 'text' is missing");
    p = PUT("c.jsonl", "{\"text\":\"ok\",\"label\":0}\n{\"text\":\"ok\",\n", false);
    FAILS(p, NULL, "c.jsonl:2: not valid JSON");
    p = PUT("d.jsonl", "[1, 2]\n", false);
    FAILS(p, NULL, "d.jsonl:1: the line is an array, not a JSON object");
    p = PUT("e.jsonl", "{\"text\":3,\"label\":0}\n", false);
    FAILS(p, NULL, "e.jsonl:1: field 'text' is an integer");
    p = PUT("f.jsonl", "{\"text\":\"a\",\"label\":1.5}\n", false);
    FAILS(p, NULL, "f.jsonl:1: field 'label' is a number with a fraction");
    p = PUT("g.jsonl", "{\"text\":\"a\",\"label\":0} x\n", false);
    FAILS(p, NULL, "g.jsonl:1: more after the JSON value");
    p = PUT("h.jsonl", "{\"text\":\"a\\u0000b\",\"label\":0}\n", false);
    FAILS(p, NULL, "h.jsonl:1: field 'text': NUL byte at byte 2");
    /* sentence pairs */
    struct vm_data_opts pf = {.text_field = "premise", .text_pair_field = "hypothesis"};
    p = PUT("p.jsonl", "{\"premise\":\"a man\",\"hypothesis\":\"he eats\",\"label\":1}\n", false);
    READS(p, &pf, false, "1:1:a man\the eats|");
    p = PUT("p.jsonl", "{\"premise\":\"a man\",\"hypothesis\":\"he eats\",\"label\":1}\n{\"premise\":\"x\",\"label\":0}\n", false);
    FAILS(p, &pf, "p.jsonl:2: field 'hypothesis' is missing (the second text of the pair");
}

static void test_labels(void) {
    const char *p = PUT("n.tsv", "pos\ta\nneg\tb\nneutral\tc\npos\td\n", false);
    struct vm_labels l;
    struct vm_error err = {0};
    CHECK_MSG(!vm_data_collect_labels(p, NULL, &l, &err), "%s", err.msg);
    CHECK(l.n == 3 && !strcmp(l.names[0], "neg") && !strcmp(l.names[1], "neutral") && !strcmp(l.names[2], "pos"));
    struct vm_data_opts o = {.labels = &l};
    READS(p, &o, false, "1:2:a|2:0:b|3:1:c|4:2:d|");
    const char *q = PUT("m.tsv", "pos\ta\nmaybe\tb\n", false);
    FAILS(q, &o, "m.tsv:2: label 'maybe' is not one of the model's 3 classes ('neg', 'neutral', 'pos')");
    vm_labels_free(&l);
    /* integers and names mixed: most likely a typo, not a new class */
    q = PUT("mix.tsv", "0\ta\n1\tb\nl\tc\n", false);
    CHECK(vm_data_collect_labels(q, NULL, &l, &err) && strstr(err.msg, "mix.tsv:3: label 'l' is a name, but line 1's is an integer"));
    /* all integers: no names, the integers are the classes */
    q = PUT("i.tsv", "3\ta\n10\tb\n", false);
    CHECK(!vm_data_collect_labels(q, NULL, &l, &err) && l.n == 0);
    /* a --labels file */
    const char *f = PUT("labels.txt", "pos\nneg\n", false);
    CHECK_MSG(!vm_labels_load(&l, f, &err) && l.n == 2 && !strcmp(l.names[0], "pos"), "%s", err.msg);
    vm_labels_free(&l);
    f = PUT("dup.txt", "pos\nneg\npos\n", false);
    CHECK(vm_labels_load(&l, f, &err) && strstr(err.msg, "dup.txt:3: class name 'pos' appears twice"));
}

static void test_meta(void) {
    CHECK(!strcmp(vm_tokenizer_from_meta("words", NULL), "kim"));     /* exported before the Unicode tokenizer */
    CHECK(!strcmp(vm_tokenizer_from_meta(NULL, NULL), "kim"));        /* older still: no vmaskc.tokenizer */
    CHECK(!strcmp(vm_tokenizer_from_meta("words", "kim"), "kim"));
    CHECK(!strcmp(vm_tokenizer_from_meta("words", "unicode"), "words"));
    CHECK(!strcmp(vm_tokenizer_from_meta("wordpiece", NULL), "wordpiece"));
    struct vm_tokenizer t;
    vm_tokenizer_default(&t);
    CHECK(!t.kim && !strcmp(vm_tokenizer_name(&t), "words"));
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    test_tsv();
    test_csv();
    test_jsonl();
    test_labels();
    test_meta();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    VMTEST_DONE("test_data");
}
