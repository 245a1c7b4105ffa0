/* fuzz_jsonl: the JSON Lines data reader (runtime/data.c over json-c): fuzz_csv's harness with
 * the JSONL format; the first byte's bit 8 reads the fields "t" and "l" instead of "text" and
 * "label". */
#define VM_FUZZ_JSONL
#include "fuzz_csv.c"
