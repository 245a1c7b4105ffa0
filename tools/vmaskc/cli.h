/* cli: what the vmaskc subcommands share — exit codes, error printing, option parsing helpers, and
 * loading a model file (ONNX compiled in memory, or a plan) into the runtime.
 * tools/vmaskc is the only place that prints for the user and the only place that exits. */
#ifndef VM_CLI_H
#define VM_CLI_H

#include <stdio.h>

#include "../../compiler/compiler.h"
#include "../../runtime/text.h"
#include "../../runtime/train.h"
#include "../../runtime/vectors.h"
#include "../../runtime/vmaskc.h"
#include "../../runtime/vmrt.h"
#include "../../runtime/api/load.h"
#include "../../runtime/api/textmodel.h"

/* Exit codes (documented in README.md). */
enum {
    VM_EXIT_OK = 0,
    VM_EXIT_CHECK = 1,    /* the command ran, but a check failed (tolerance exceeded, ...) */
    VM_EXIT_USAGE = 2,    /* bad command line */
    VM_EXIT_INPUT = 3,    /* bad or unsupported input: model, plan, data, missing file */
    VM_EXIT_RUNTIME = 4,  /* failure while running: oneDNN, memory, internal error */
    VM_EXIT_INTERRUPTED = 130,
};

int vm_cli_exit_code(enum vm_status s);

/* Start-up timings for benchmarks: with VMASKC_TIMINGS=1 in the environment, each stage mark records
 * the time since main() began, and one 'timings:' line (ms per stage, then the total) is printed on
 * stderr at exit. Without it a mark costs one getenv-free flag test. */
#define vm_cli_timings_init vm_marks_init /* runtime/vm_base.h */
#define vm_cli_mark vm_mark
/* Prints "vmaskc <cmd>: <message>" to stderr and returns the exit code for s. */
int vm_cli_fail(const char *cmd, const struct vm_error *err);
/* The same for an error of the public API (runtime/vmaskc.h). */
int vm_cli_fail_api(const char *cmd, const vmaskc_error *e);
/* An error of the public API as the commands' own (for a message prefix, or an error that travels
 * further); returns its status. */
enum vm_status vm_cli_api_error(const vmaskc_error *e, struct vm_error *err);
int vm_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* struct vm_model_opts: the options every model-consuming command takes (runtime/api/load.h). */
/* Handles --embedding, --shape, --threads, --max-memory, --input-role, --reference-kernels at argv[*i]; returns 1 when it
 * consumed an option, 0 when not, -1 on a usage error (already printed). */
int vm_cli_model_option(const char *cmd, int argc, char **argv, int *i, struct vm_model_opts *o);

/* The model options of a command that is a client of the public API (vmaskc.h): everything
 * vm_text_option parses (--vocab, --pad, --unk, --tokenizer, --cased, --no-split-punct,
 * --allow-short-vocab, the data options, --embedding, --shape, --threads, --max-memory,
 * --input-role, --reference-kernels), as vmaskc_model_options. */
struct vm_cli_model_args {
    vmaskc_model_options o;      /* valid after vm_cli_model_args_done */
    vmaskc_input_shape shapes[16];
    vmaskc_input_role roles[8];
    char role_input[8][1024];     /* storage for roles[i].input */
    struct vm_text_opts text;    /* what the parser filled */
};

void vm_cli_model_args_init(struct vm_cli_model_args *a);
/* One option at argv[*i]: 1 consumed, 0 not, -1 usage error (printed). */
int vm_cli_model_args_option(const char *cmd, int argc, char **argv, int *i, struct vm_cli_model_args *a);
/* After the last option: fills a->o (pointing into a and argv). */
void vm_cli_model_args_done(struct vm_cli_model_args *a);

/* Ctrl-C (SIGINT) and SIGTERM for long commands: blocked in this thread before any OpenMP or oneDNN
 * thread exists (so they inherit the mask), and received by one watcher thread with sigwait(),
 * which sets *flag; a second signal exits at once with 130. Compute threads are never interrupted
 * (a signal frame pushed onto a thread inside a oneDNN kernel corrupted memory). Call once, first
 * thing in the command. */
void vm_cli_watch_interrupts(volatile int *flag);

/* Under mpirun, the end of a command's set-up (reading files, compiling), which every process
 * reaches once, failed (err->code != 0) or not, before any collective operation: each distinct
 * error is printed once, by the lowest process that has it ("process R of N: " first unless every
 * process had it). Returns 0 when no process failed, else the exit code of the lowest failing
 * process, for every process to return. One process: prints err, if any, and returns its code. */
int vm_cli_dist_setup_done(const char *cmd, const struct vm_error *err);

/* An output file (what: "-o", "--checkpoint", ...) that can be written: it is a writable file, or
 * its folder exists and is writable. Checked before the work that would fill it. */
enum vm_status vm_cli_check_output(const char *path, const char *what, struct vm_error *err);
/* A report folder: created now (parents too; *created says so, so a failed run can remove it), or,
 * when it exists, an error unless force (its files are then replaced). */
enum vm_status vm_cli_prepare_dir(const char *dir, bool force, bool *created, struct vm_error *err);
/* mkdir -p: dir and its missing parents. */
enum vm_status vm_cli_mkdirs(const char *dir, struct vm_error *err);

/* Data-file options of every command that reads labelled data (vm_data_open): --format,
 * --text-column, --label-column, --header, --no-header, --text-field, --label-field,
 * --replace-invalid at argv[*i]: 1 consumed, 0 not, -1 usage error (printed). */
int vm_cli_data_option(const char *cmd, int argc, char **argv, int *i, struct vm_data_opts *o);
/* Their --help lines. */
#define VM_CLI_DATA_HELP                                                                                       \
    "data files (the format from the name: .tsv/.txt label<TAB>text, .csv, .jsonl/.ndjson; each also .gz):\n"   \
    "  --format tsv|csv|jsonl  override the format the file name gives\n"                                       \
    "  --text-column C  --label-column C  CSV columns, by header name or 0-based index (default: the\n"          \
    "                         columns named text and label when there is a header, else label 0, text 1)\n"      \
    "  --header | --no-header CSV: the first record names the columns, or does not (default: it does\n"         \
    "                         when one of its fields is the text or label column's name)\n"                     \
    "  --text-field F (text)  --label-field F (label)  JSON Lines: the fields of each line's object\n"          \
    "  --pairs                sentence pairs (WordPiece): TSV label<TAB>a<TAB>b, a text 'a<TAB>b', fed as\n"     \
    "                         [CLS] a [SEP] b [SEP] with token types 1 on b (a model trained so reads pairs)\n"  \
    "  --text-pair-column C  --text-pair-field F  CSV / JSON Lines: the pair's second text (implies --pairs)\n" \
    "  --replace-invalid      read invalid UTF-8 bytes and NUL bytes as U+FFFD (default: an error naming\n"     \
    "                         file:line)\n"                                                                      \
    "  labels are integers 0..C-1 or class names (e.g. positive/negative: train maps the sorted names\n"        \
    "  to 0..C-1, or --labels FILE's order, and the model keeps them)\n"

/* Binds the largest batch shape d will need — batch copies of its longest text — before any work,
 * so a text too long for the memory limit is an error naming its file:line and suggesting
 * --max-len, rather than a failure minutes in. */
enum vm_status vm_cli_check_longest(const struct vm_feeder *f, const struct vm_dataset *d, int64_t batch, struct vm_error *err);

bool vm_cli_is_plan_path(const char *path);
bool vm_cli_streq(const char *a, const char *b);
/* Parses "N" strictly. */
bool vm_cli_parse_int(const char *s, long long *out);
bool vm_cli_parse_double(const char *s, double *out);

/* Pearson correlation between word frequency and importance q (the VMASK paper's Table 11), over
 * the n words with frequency > 0 and finite q; *m (may be NULL) = how many; NAN below two words. */
double vm_cli_pearson_freq(const int64_t *freq, const float *q, int64_t n, int64_t *m);

/* --vectors FILE: reads the rows of v's words (vm_vectors_read; table NULL: coverage only, dim 0:
 * any) with a progress line on stderr, then prints one coverage line: vocabulary words found
 * (exact / lower-cased) and, when tok_count is given (per id, over the data, tok_total tokens in
 * all, unknown words included), the share of those tokens whose row came from the file. */
enum vm_status vm_cli_read_vectors(const char *path, enum vm_vectors_format fmt, const struct vm_vocab *v, int32_t dim,
                                   const char *dim_what, float *table, uint8_t *found, const int64_t *tok_count,
                                   int64_t tok_total, const char *tok_what, struct vm_error *err);

/* Reads an ONNX model and compiles it (import, infer, cleanup) for inference. `fixed` inputs are
 * folded in as constants. */
enum vm_status vm_cli_compile_onnx(const char *path, const struct vm_model_opts *o,
                                   const struct vm_tensor *fixed, int n_fixed,
                                   Onnx__ModelProto **model_out, struct vm_graph **g_out,
                                   struct vm_error *err);
/* Reads and imports an ONNX model for training: shapes inferred, Dropout kept. */
enum vm_status vm_cli_compile_onnx_training(const char *path, const struct vm_model_opts *o,
                                            Onnx__ModelProto **model_out, struct vm_graph **g_out,
                                            struct vm_error *err);
/* A .vmplan file, verified (vm_plan_verify) before the runtime loads it. */
enum vm_status vm_cli_load_plan(const char *path, const struct vm_rt_opts *ro, struct vm_rt_model **out, struct vm_error *err);
/* ONNX or plan -> runtime model. For ONNX the plan is built in memory exactly as `compile` writes
 * it, so running either gives identical results. */
enum vm_status vm_cli_load_runtime(const char *path, const struct vm_model_opts *o,
                                   const struct vm_tensor *fixed, int n_fixed,
                                   struct vm_rt_model **out, struct vm_error *err);

int vm_cmd_inspect(int argc, char **argv);
int vm_cmd_compile(int argc, char **argv);
int vm_cmd_run(int argc, char **argv);
int vm_cmd_train(int argc, char **argv);
int vm_cmd_vocab(int argc, char **argv);
int vm_cmd_words(int argc, char **argv);
int vm_cmd_eval(int argc, char **argv);
int vm_cmd_predict(int argc, char **argv);
int vm_cmd_explain(int argc, char **argv);
int vm_cmd_compare(int argc, char **argv);
int vm_cmd_tokenize(int argc, char **argv);
int vm_cmd_default(const char *model, int argc, char **argv);

#endif
