/* onnx_io: bytes <-> protobuf-c ONNX structs, and TensorProto <-> plain little-endian arrays.
 *
 * This is the only module besides compiler/import.c and compiler/export.c that sees Onnx__* types.
 * Everything read from disk is checked: an empty, truncated or random file is a VM_EFORMAT error
 * naming the file, never a crash.
 */
#ifndef VM_ONNX_IO_H
#define VM_ONNX_IO_H

#include "../runtime/vm_base.h"
#include "onnx.pb-c.h"

/* Reads and unpacks a ModelProto; checks that it has a graph. Free with vm_onnx_free_model. */
Onnx__ModelProto *vm_onnx_load_model(const char *path, struct vm_error *err);
Onnx__ModelProto *vm_onnx_parse_model(const uint8_t *buf, size_t len, const char *what,
                                      struct vm_error *err);
void vm_onnx_free_model(Onnx__ModelProto *m);
/* Packs and writes atomically. */
enum vm_status vm_onnx_save_model(const char *path, const Onnx__ModelProto *m, struct vm_error *err);

/* Protobuf's 2 GiB message limit, and the smallest initializer moved out when a model exceeds it
 * (the onnx package's default size_threshold). */
#define VM_ONNX_MAX_INLINE ((uint64_t)INT32_MAX)
#define VM_ONNX_EXTERNAL_MIN 1024
/* As vm_onnx_save_model while the packed model is at most max_inline bytes (0: VM_ONNX_MAX_INLINE).
 * Larger, every top-level initializer of VM_ONNX_EXTERNAL_MIN raw bytes or more goes to one file
 * `<path>.data` beside it (location relative, offsets 64-byte aligned). Both files are written
 * to temporary names, synced, then renamed, data first. */
enum vm_status vm_onnx_save_model_split(const char *path, const Onnx__ModelProto *m,
                                        uint64_t max_inline, struct vm_error *err);

/* A tensor as vmaskc holds it: dtype, dims, and contiguous little-endian bytes. */
struct vm_tensor {
    char *name;
    int32_t dtype;
    int rank;
    int64_t dims[VM_MAX_RANK];
    void *data; /* numel * dtype size bytes; owned unless borrowed */
    size_t nbytes;
    bool borrowed; /* data points into an external-data mapping or the message (not freed here) */
};
void vm_tensor_free(struct vm_tensor *t);

/* External data (onnx_external.c): the model's folder and one read-only mapping per distinct file
 * its tensors name. Pointers handed out stay valid until vm_onnx_external_free. */
struct vm_onnx_external;
/* model_path is the .onnx file; its folder is where every location is resolved. */
enum vm_status vm_onnx_external_open(const char *model_path, struct vm_onnx_external **out,
                                     struct vm_error *err);
void vm_onnx_external_free(struct vm_onnx_external *x);
const char *vm_onnx_external_dir(const struct vm_onnx_external *x);
/* The nbytes (= numel x elem_size, for messages) bytes of an EXTERNAL tensor, inside the mapping.
 * x may be NULL (then any external tensor is an error naming its location). */
enum vm_status vm_onnx_external_bytes(struct vm_onnx_external *x, const Onnx__TensorProto *tp,
                                      const char *what, size_t nbytes, int64_t numel,
                                      size_t elem_size, const uint8_t **bytes,
                                      struct vm_error *err);
bool vm_onnx_tensor_is_external(const Onnx__TensorProto *tp);

/* Decodes typed fields or raw_data (possibly unaligned) into t. `what` names the tensor in
 * messages ("initializer 'w'", "file 'x/input_0.pb'"). External data is read through ext (may be
 * NULL: then it is an error); t borrows the mapping when the bytes are aligned for the element
 * type, and otherwise gets one copy. */
enum vm_status vm_onnx_tensor_decode_ext(const Onnx__TensorProto *tp, struct vm_onnx_external *ext,
                                         const char *what, struct vm_tensor *t,
                                         struct vm_error *err);
/* As vm_onnx_tensor_decode_ext; with borrow_raw, aligned inline raw_data is borrowed from the
 * message too (t->borrowed), so the caller must keep the message alive as long as t. */
enum vm_status vm_onnx_tensor_decode_borrow(const Onnx__TensorProto *tp, struct vm_onnx_external *ext,
                                            const char *what, bool borrow_raw, struct vm_tensor *t,
                                            struct vm_error *err);
enum vm_status vm_onnx_tensor_decode(const Onnx__TensorProto *tp, const char *what,
                                     struct vm_tensor *t, struct vm_error *err);
/* Reads a serialized TensorProto file (ONNX backend-test layout). */
enum vm_status vm_onnx_read_tensor_file(const char *path, struct vm_tensor *t, struct vm_error *err);
/* The same from bytes already in memory (the file reader's second half; fuzzed on its own). */
enum vm_status vm_onnx_parse_tensor(const uint8_t *buf, size_t len, const char *what, struct vm_tensor *t,
                                    struct vm_error *err);
/* Writes t as a TensorProto with raw_data, atomically. */
enum vm_status vm_onnx_write_tensor_file(const char *path, const struct vm_tensor *t,
                                         struct vm_error *err);
/* Fills a TensorProto (fields point into t; do not free them through protobuf-c). */
void vm_onnx_tensor_fill(Onnx__TensorProto *tp, const struct vm_tensor *t, int64_t *dims_storage);

#endif
