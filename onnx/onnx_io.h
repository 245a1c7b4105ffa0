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

/* A tensor as vmaskc holds it: dtype, dims, and contiguous little-endian bytes. */
struct vm_tensor {
    char *name;
    int32_t dtype;
    int rank;
    int64_t dims[VM_MAX_RANK];
    void *data; /* numel * dtype size bytes, owned */
    size_t nbytes;
};
void vm_tensor_free(struct vm_tensor *t);

/* Decodes typed fields or raw_data (possibly unaligned) into t. `what` names the tensor in
 * messages ("initializer 'w'", "file 'x/input_0.pb'"). */
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
