/* vm_base: what every vmaskc module shares — status codes, the caller-owned error record, dtypes,
 * value role flags, attribute kinds, phases, and the always-on invariant check.
 *
 * Library functions return enum vm_status and fill a struct vm_error; callers add context on the way
 * up with vm_error_prefix(). VM_ASSERT is for vmaskc's own invariants only and never guards user
 * input. Nothing here depends on the compiler, ONNX or oneDNN, so both compiler/ and runtime/ use it.
 */
#ifndef VM_BASE_H
#define VM_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_VERSION "0.3.0" /* the CLI, plans and exports; equal to the library's VMASKC_VERSION (test_api checks) */
#define VM_MAX_RANK 8

enum vm_status {
    VM_OK = 0,
    VM_EINVAL,       /* bad argument or bad user input (shape, dtype, value) */
    VM_ENOMEM,
    VM_EIO,          /* a file could not be opened, read or written */
    VM_EFORMAT,      /* a file is not what it claims to be (protobuf, plan, tensor) */
    VM_EUNSUPPORTED, /* valid input that vmaskc does not handle (op, attribute, dtype) */
    VM_EDNNL,        /* oneDNN refused */
    VM_EINTERRUPTED, /* stopped by the user (Ctrl-C) */
    VM_EINTERNAL,
};

struct vm_error {
    enum vm_status code;
    char msg[1024];
};

/* Sets err (when non-NULL) and returns code, so `return vm_errorf(err, VM_EINVAL, ...)` reads well. */
enum vm_status vm_errorf(struct vm_error *err, enum vm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the message already in err; returns err->code. */
enum vm_status vm_error_prefix(struct vm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *vm_status_name(enum vm_status s);

_Noreturn void vm_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define VM_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) vm_panic(__FILE__, __LINE__, "internal error: %s", #cond);          \
    } while (0)

/* Element types use the ONNX TensorProto.DataType numbers so no table is needed at the border. */
enum vm_dtype {
    VM_DTYPE_UNDEFINED = 0,
    VM_DTYPE_FLOAT = 1,
    VM_DTYPE_UINT8 = 2,
    VM_DTYPE_INT8 = 3,
    VM_DTYPE_UINT16 = 4,
    VM_DTYPE_INT16 = 5,
    VM_DTYPE_INT32 = 6,
    VM_DTYPE_INT64 = 7,
    VM_DTYPE_STRING = 8,
    VM_DTYPE_BOOL = 9,
    VM_DTYPE_FLOAT16 = 10,
    VM_DTYPE_DOUBLE = 11,
    VM_DTYPE_UINT32 = 12,
    VM_DTYPE_UINT64 = 13,
    VM_DTYPE_BFLOAT16 = 16,
};
/* Bytes per element, 0 for types vmaskc cannot hold in memory (string, complex, undefined). */
size_t vm_dtype_size(int32_t dtype);
const char *vm_dtype_name(int32_t dtype);

/* Element i of a buffer of the given dtype, as a double (0 for non-numeric types). */
double vm_elem_f64(const void *p, int32_t dtype, int64_t i);
/* float16 (round to nearest even, as numpy) and bfloat16 (truncation, as ONNX's reference tests). */
float vm_half_to_float(uint16_t h);
uint16_t vm_float_to_half(float f);
float vm_bf16_to_float(uint16_t h);
uint16_t vm_float_to_bf16(float f);

/* Role flags of a value, stored in the IR and in the plan. */
enum vm_value_flag {
    VM_VALUE_INPUT = 1u << 0,   /* graph input, filled by the caller */
    VM_VALUE_OUTPUT = 1u << 1,  /* graph output */
    VM_VALUE_PARAM = 1u << 2,   /* trainable parameter (persistent, updated by the optimizer) */
    VM_VALUE_INIT = 1u << 3,    /* has initializer bytes in the plan blob */
    VM_VALUE_LOSS = 1u << 4,    /* the scalar training loss */
    VM_VALUE_GRAD = 1u << 5,    /* gradient of a parameter */
    VM_VALUE_OPTSTATE = 1u << 6,/* optimizer state (Adam moments, step counter) */
    VM_VALUE_SAVED = 1u << 7,   /* forward value read by the backward phase */
    VM_VALUE_PERSIST = 1u << 8, /* lives across runs and bindings (params, constants, state) */
    VM_VALUE_FROZEN = 1u << 9,  /* initializer that could train but is frozen */
    VM_VALUE_AUX = 1u << 10,    /* extra training input (labels, beta, noise) */
    VM_VALUE_WORKSPACE = 1u << 11, /* opaque bytes sized by the producing kernel at bind time */
};

enum vm_attr_type {
    VM_ATTR_INT = 1,
    VM_ATTR_FLOAT = 2,
    VM_ATTR_STRING = 3,
    VM_ATTR_INTS = 4,
    VM_ATTR_FLOATS = 5,
};

enum vm_phase {
    VM_PHASE_FORWARD = 0,
    VM_PHASE_BACKWARD = 1,
    VM_PHASE_OPTIMIZER = 2,
};

/* Checked allocation: return NULL-safe pointers or set err. */
void *vm_malloc(size_t n, struct vm_error *err);
void *vm_calloc(size_t count, size_t size, struct vm_error *err);
/* 64-byte aligned memory for large buffers (files, plans, parameters, arenas), released with
 * free(); from 4 MiB on it asks for transparent huge pages. NULL when out of memory. */
void *vm_alloc_big(size_t n);
/* Zero-filled memory straight from the kernel (mmap, 2 MiB aligned, transparent huge pages
 * requested), released with vm_free_big_zero(p, n) and never free(). Its pages cost nothing until
 * first written: a region most of which a later pass writes anyway (gradients, optimizer state)
 * is not touched twice, as memset after malloc would. NULL when out of memory. */
void *vm_alloc_big_zero(size_t n);
void vm_free_big_zero(void *p, size_t n);
void *vm_realloc(void *p, size_t n, struct vm_error *err);
char *vm_strdup(const char *s, struct vm_error *err);

/* Whole-file read (caller frees *data) and atomic write (temporary file, fsync, rename), so a
 * failed run never leaves a half-written output behind. */
enum vm_status vm_file_read(const char *path, uint8_t **data, size_t *len, struct vm_error *err);
enum vm_status vm_file_write_atomic(const char *path, const void *data, size_t len,
                                    struct vm_error *err);
/* The same, with the content written by fn to the temporary file's descriptor (so a large file,
 * such as a checkpoint of a BERT, is streamed instead of assembled in memory first). */
typedef enum vm_status (*vm_file_writer)(void *ctx, int fd, const char *path, struct vm_error *err);
enum vm_status vm_file_write_atomic_fn(const char *path, vm_file_writer fn, void *ctx, struct vm_error *err);
/* A staging writer for vm_file_write_atomic_fn callbacks that produce many small pieces (protobuf
 * packers): small pieces are gathered, large ones go straight to the descriptor. The first error
 * sticks in s. */
struct vm_fd_stream {
    int fd;
    const char *path;
    struct vm_error *err;
    enum vm_status s;
    size_t n;
    uint8_t stage[1 << 16];
};
void vm_fd_stream_write(struct vm_fd_stream *w, const void *data, size_t len);
enum vm_status vm_fd_stream_flush(struct vm_fd_stream *w);
/* n rounded up to a multiple of 64 bytes (arena, persistent, scratch and plan blob offsets). */
static inline size_t vm_align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Whether p[0..n) is a permutation of 0..n-1 (Transpose's perm, MatMulT's permA/permB/permY): a
 * plan file is untrusted, so a perm is checked before it indexes dims. n <= VM_MAX_RANK. */
static inline bool vm_is_perm(const int64_t *p, int n) {
    bool seen[VM_MAX_RANK] = {false};
    if (n < 0 || n > VM_MAX_RANK) return false;
    for (int i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) return false;
        seen[p[i]] = true;
    }
    return true;
}

/* 64-bit FNV-1a of n bytes, continuing from h (VM_FNV1A_INIT to start): run keys, progress files,
 * hash tables. */
#define VM_FNV1A_INIT 14695981039346656037ull
static inline uint64_t vm_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
/* A plan held in pieces instead of one buffer (compiler/emit.c makes it, the runtime loads it, a
 * file writer streams it): head is the packed message (msg_len bytes) followed by the tag and
 * length of its trailing initializer blob, and the blob is each part's bytes padded with zeros to
 * a multiple of 64. Written in that order they are exactly the bytes of the plan file, so a
 * 420 MiB model's weights are read where they are instead of being copied into a plan first.
 * The parts borrow their data; vm_plan_parts_free releases head and the part list only. */
struct vm_plan_part {
    const void *data;
    size_t bytes;
};
struct vm_plan_parts {
    uint8_t *head;
    size_t head_len, msg_len;
    struct vm_plan_part *part;
    size_t n_part;
    size_t len; /* the whole plan's bytes */
};
void vm_plan_parts_free(struct vm_plan_parts *p);
/* A vm_file_writer for ctx = const struct vm_plan_parts *. */
enum vm_status vm_plan_parts_write(void *ctx, int fd, const char *path, struct vm_error *err);
/* write(2) until done; EINTR retried. */
enum vm_status vm_write_all(int fd, const void *data, size_t len, const char *path, struct vm_error *err);
/* Best effort: deletes "<path>.tmp.<pid>" files no process is writing any more (a run killed during
 * an atomic write), so they do not pile up beside a checkpoint; returns how many. */
int vm_file_remove_stale_temps(const char *path);

/* A progress line's ETA: "m:ss" or "h:mm:ss"; "--:--" when s is negative or absurd. */
void vm_fmt_eta(double s, char *buf, size_t len);

/* "512 B", "1.5 GiB". */
void vm_fmt_bytes(double bytes, char *buf, size_t len);
/* Physical memory of this machine in bytes, and the default memory limit (80% of it). */
size_t vm_physical_memory(void);
size_t vm_memory_limit_default(void);
/* "4G", "512M", "1.5GiB", "123456" (bytes) or "50%" (of physical memory); false when malformed. */
bool vm_parse_size(const char *s, size_t *out);
/* VM_OK when need <= limit (limit 0: none); else an error "WHAT needs N, over the memory limit of L". */
/* Start-up timings (VMASKC_TIMINGS=1): vm_marks_init at the start of main; vm_mark(stage) adds
 * "stage <ms since the last mark>" to one 'timings:' line (wall) and one 'cpu_timings:' line
 * (process CPU, all threads) printed to stderr at exit. Nothing happens without the variable. */
void vm_marks_init(void);
void vm_mark(const char *stage);

/* "1 example", "2 examples": the noun for a count (pass both forms: "entry"/"entries") */
static inline const char *vm_plural(long long n, const char *one, const char *many) { return n == 1 ? one : many; }

enum vm_status vm_check_memory(size_t need, size_t limit, const char *what, struct vm_error *err);

/* Product of dims with overflow check; returns -1 on overflow or a negative dim. */
int64_t vm_numel(const int64_t *dims, int rank);

#endif
