/* fuzz_csv: the CSV data reader (runtime/data.c, RFC 4180 quoting, header detection, columns by
 * name or index, class names, UTF-8 checks) through vm_data_collect_labels and vm_dataset_load, as
 * train reads a file. The first byte picks the options (header detect / yes / no, columns by
 * name, by index or default, --replace-invalid, Kim or Unicode words); the rest is the file,
 * read as given and gzip-compressed. Shared with fuzz_jsonl (VM_FUZZ_JSONL). */
#include <string.h>
#include <unistd.h>

#include "../../runtime/text.h"
#include "fuzz.h"

#ifdef VM_FUZZ_JSONL
#define FORMAT VM_DATA_JSONL
#else
#define FORMAT VM_DATA_CSV
#endif

static struct vm_vocab vocab;
static int ready;

static void load(const char *path, uint8_t mode) {
    struct vm_error err = {0};
    struct vm_data_opts o = {.format = FORMAT, .replace_invalid = mode & 4};
    o.header = (mode & 3) == 1 ? 1 : (mode & 3) == 2 ? -1 : 0;
    if (FORMAT == VM_DATA_JSONL && (mode & 8)) {
        o.text_field = "t";
        o.label_field = "l";
    } else if (mode & 8) {
        o.text_column = "text";
        o.label_column = "label";
    } else if (mode & 16) {
        o.text_column = "2";
        o.label_column = "0";
    }
    struct vm_tokenizer tok;
    vm_tokenizer_default(&tok);
    tok.kim = mode & 32;
    struct vm_labels l;
    if (vm_data_collect_labels(path, &o, &l, &err)) return;
    o.labels = &l;
    struct vm_dataset d;
    if (!vm_dataset_load(&d, path, &vocab, &tok, mode & 64 ? 3 : 0, &o, &err)) {
        if (d.n < 1 || d.start[0] != 0) abort(); /* the reader's invariants */
        for (int64_t i = 0; i < d.n; i++) {
            if (vm_dataset_len(&d, i) < 0 || vm_dataset_len(&d, i) > d.max_len || d.labels[i] > d.max_label || d.labels[i] < 0) abort();
            if (l.n && d.labels[i] >= l.n) abort(); /* a name maps to one of the names */
            if (d.line[i] < 1 || (i && d.line[i] <= d.line[i - 1])) abort();
        }
        vm_dataset_free(&d);
    }
    vm_labels_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    if (!ready) {
        if (vm_vocab_from_text(&vocab, "<pad>\n<unk>\nthe\nfilm\nis\ngood\n,\n!\ncafé", NULL, NULL, &err)) abort();
        ready = 1;
    }
    if (size < 1) return 0;
    char path[] = "/tmp/vm_fuzz_csv_XXXXXX";
    if (!vm_fuzz_write_temp(path, data + 1, size - 1)) return 0;
    load(path, data[0]);
    if (vm_fuzz_write_gz(path, data + 1, size - 1)) load(path, data[0] ^ 4);
    unlink(path);
    return 0;
}
