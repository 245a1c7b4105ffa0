/* onnx_io: see onnx_io.h. protobuf-c copies every bytes field on unpack, so raw_data is already
 * owned by the message; we still memcpy element-wise because raw_data may be unaligned. */
#include "onnx_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/pbio.h"

/* protobuf-c's allocator with vm_alloc_big underneath: the weights it copies out of raw_data are
 * most of a model's memory, and huge pages make that copy several times cheaper here. */
static void *big_alloc(void *data, size_t n) {
    (void)data;
    return n >= ((size_t)1 << 20) ? vm_alloc_big(n) : malloc(n);
}
static void big_free(void *data, void *p) {
    (void)data;
    free(p);
}
static ProtobufCAllocator big_allocator = {big_alloc, big_free, NULL};

Onnx__ModelProto *vm_onnx_parse_model(const uint8_t *buf, size_t len, const char *what,
                                      struct vm_error *err) {
    if (len == 0) {
        vm_errorf(err, VM_EFORMAT, "%s is empty, not an ONNX model", what);
        return NULL;
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(&big_allocator, len, buf);
    if (!m) {
        vm_errorf(err, VM_EFORMAT, "%s is not an ONNX model (the protobuf could not be parsed: truncated or not protobuf)", what);
        return NULL;
    }
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, &big_allocator);
        vm_errorf(err, VM_EFORMAT, "%s is not an ONNX model (it has no graph)", what);
        return NULL;
    }
    return m;
}

Onnx__ModelProto *vm_onnx_load_model(const char *path, struct vm_error *err) {
    uint8_t *buf;
    size_t len;
    if (vm_file_read(path, &buf, &len, err)) return NULL;
    char what[4200];
    snprintf(what, sizeof what, "'%s'", path);
    Onnx__ModelProto *m = vm_onnx_parse_model(buf, len, what, err);
    free(buf);
    return m;
}

void vm_onnx_free_model(Onnx__ModelProto *m) {
    if (m) onnx__model_proto__free_unpacked(m, &big_allocator);
}

/* Streamed to the file: an exported BERT-base is 420 MiB, and a packed copy in memory would cost
 * that much again and a copy's time. */
enum vm_status vm_onnx_save_model(const char *path, const Onnx__ModelProto *m, struct vm_error *err) {
    return vm_file_write_atomic_fn(path, vm_pb_write_message, (void *)m, err);
}

void vm_tensor_free(struct vm_tensor *t) {
    if (!t) return;
    free(t->name);
    if (!t->borrowed) free(t->data);
    memset(t, 0, sizeof *t);
}

bool vm_onnx_tensor_is_external(const Onnx__TensorProto *tp) {
    return tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static enum vm_status set_name(const Onnx__TensorProto *tp, struct vm_tensor *t, struct vm_error *err) {
    if (tp->name && !(t->name = vm_strdup(tp->name, err))) {
        vm_tensor_free(t);
        return VM_ENOMEM;
    }
    return VM_OK;
}

/* External bytes: borrowed from the mapping when aligned for the element type (every reader
 * may then cast), else copied once. raw_data, if also present, is ignored, as the onnx package does. */
static enum vm_status decode_external(const Onnx__TensorProto *tp, struct vm_onnx_external *ext, const char *what,
                                      int64_t n, size_t es, struct vm_tensor *t, struct vm_error *err) {
    size_t nbytes = (size_t)n * es;
    const uint8_t *p;
    if (vm_onnx_external_bytes(ext, tp, what, nbytes, n, es, &p, err)) return err->code;
    if ((uintptr_t)p % es == 0) {
        t->data = (void *)p;
        t->borrowed = true;
    } else {
        if (!(t->data = vm_malloc(nbytes, err))) return VM_ENOMEM;
        if (nbytes) memcpy(t->data, p, nbytes);
    }
    t->nbytes = nbytes;
    return set_name(tp, t, err);
}

enum vm_status vm_onnx_tensor_decode(const Onnx__TensorProto *tp, const char *what,
                                     struct vm_tensor *t, struct vm_error *err) {
    return vm_onnx_tensor_decode_ext(tp, NULL, what, t, err);
}

enum vm_status vm_onnx_tensor_decode_ext(const Onnx__TensorProto *tp, struct vm_onnx_external *ext,
                                         const char *what, struct vm_tensor *t, struct vm_error *err) {
    return vm_onnx_tensor_decode_borrow(tp, ext, what, false, t, err);
}

enum vm_status vm_onnx_tensor_decode_borrow(const Onnx__TensorProto *tp, struct vm_onnx_external *ext,
                                            const char *what, bool borrow_raw, struct vm_tensor *t,
                                            struct vm_error *err) {
    memset(t, 0, sizeof *t);
    if (tp->n_dims > VM_MAX_RANK)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s has rank %zu; vmaskc supports at most %d", what,
                         tp->n_dims, VM_MAX_RANK);
    if (tp->segment)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s is a segmented tensor", what);
    t->dtype = tp->has_data_type ? tp->data_type : 0;
    size_t es = vm_dtype_size(t->dtype);
    if (es == 0)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s has element type %s, which vmaskc does not support", what,
                         vm_dtype_name(t->dtype));
    t->rank = (int)tp->n_dims;
    for (int i = 0; i < t->rank; i++) {
        if (tp->dims[i] < 0) return vm_errorf(err, VM_EFORMAT, "%s has a negative dimension", what);
        t->dims[i] = tp->dims[i];
    }
    int64_t n = vm_numel(t->dims, t->rank);
    if (n < 0 || (uint64_t)n > (uint64_t)SIZE_MAX / es)
        return vm_errorf(err, VM_EFORMAT, "%s is too large", what);
    size_t nbytes = (size_t)n * es;
    if (vm_onnx_tensor_is_external(tp)) return decode_external(tp, ext, what, n, es, t, err);
    /* Check the stored element count before allocating: a corrupt shape must not become a huge
     * allocation. */
    size_t stored;
    /* raw_data must hold whole elements: rounding a partial one up would let the copy below read
     * past the end of the bytes */
    if (tp->has_raw_data) stored = tp->raw_data.len % es ? SIZE_MAX : tp->raw_data.len / es;
    else if (t->dtype == VM_DTYPE_FLOAT) stored = tp->n_float_data;
    else if (t->dtype == VM_DTYPE_DOUBLE) stored = tp->n_double_data;
    else if (t->dtype == VM_DTYPE_INT64) stored = tp->n_int64_data;
    else if (t->dtype == VM_DTYPE_UINT32 || t->dtype == VM_DTYPE_UINT64) stored = tp->n_uint64_data;
    else stored = tp->n_int32_data;
    if (stored != (size_t)n) {
        if (tp->has_raw_data)
            return vm_errorf(err, VM_EFORMAT, "%s: raw_data holds %zu bytes but shape and type need %zu", what,
                             tp->raw_data.len, nbytes);
        return vm_errorf(err, VM_EFORMAT, "%s holds %zu elements but its shape needs %lld", what, stored, (long long)n);
    }
    /* protobuf-c gave raw_data its own malloc'd block, so it is normally aligned: a caller that
     * keeps the message alive can use it in place (a 420 MiB model then holds its weights once) */
    if (borrow_raw && tp->has_raw_data && nbytes && (uintptr_t)tp->raw_data.data % es == 0) {
        t->data = tp->raw_data.data;
        t->nbytes = nbytes;
        t->borrowed = true;
        return set_name(tp, t, err);
    }
    uint8_t *out = vm_malloc(nbytes, err);
    if (!out) return VM_ENOMEM;
    if (tp->has_raw_data) {
        if (nbytes) memcpy(out, tp->raw_data.data, nbytes);
    } else {
        size_t have = 0;
        switch (t->dtype) {
        case VM_DTYPE_FLOAT:
            have = tp->n_float_data;
            if (have == (size_t)n && n) memcpy(out, tp->float_data, nbytes);
            break;
        case VM_DTYPE_DOUBLE:
            have = tp->n_double_data;
            if (have == (size_t)n && n) memcpy(out, tp->double_data, nbytes);
            break;
        case VM_DTYPE_INT64:
            have = tp->n_int64_data;
            if (have == (size_t)n && n) memcpy(out, tp->int64_data, nbytes);
            break;
        case VM_DTYPE_UINT32: case VM_DTYPE_UINT64:
            have = tp->n_uint64_data;
            if (have == (size_t)n)
                for (int64_t i = 0; i < n; i++) {
                    if (t->dtype == VM_DTYPE_UINT64) memcpy(out + 8 * i, &tp->uint64_data[i], 8);
                    else { uint32_t x = (uint32_t)tp->uint64_data[i]; memcpy(out + 4 * i, &x, 4); }
                }
            break;
        default: /* int32, int16, int8, uint8, uint16, bool, float16 all travel in int32_data */
            have = tp->n_int32_data;
            if (have == (size_t)n)
                for (int64_t i = 0; i < n; i++) {
                    int32_t x = tp->int32_data[i];
                    if (es == 4) memcpy(out + 4 * i, &x, 4);
                    else if (es == 2) { uint16_t y = (uint16_t)x; memcpy(out + 2 * i, &y, 2); }
                    else out[i] = (uint8_t)x;
                }
            break;
        }
        if (have != (size_t)n) {
            free(out);
            return vm_errorf(err, VM_EFORMAT, "%s holds %zu elements but its shape needs %lld", what, have,
                             (long long)n);
        }
    }
    t->data = out;
    t->nbytes = nbytes;
    return set_name(tp, t, err);
}

enum vm_status vm_onnx_parse_tensor(const uint8_t *buf, size_t len, const char *what, struct vm_tensor *t,
                                    struct vm_error *err) {
    memset(t, 0, sizeof *t);
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!tp) return vm_errorf(err, VM_EFORMAT, "%s is not a TensorProto (protobuf could not be parsed)", what);
    enum vm_status s = vm_onnx_tensor_decode(tp, what, t, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return s;
}

enum vm_status vm_onnx_read_tensor_file(const char *path, struct vm_tensor *t, struct vm_error *err) {
    uint8_t *buf;
    size_t len;
    memset(t, 0, sizeof *t);
    if (vm_file_read(path, &buf, &len, err)) return err->code;
    char what[4200];
    snprintf(what, sizeof what, "'%s'", path);
    enum vm_status s = vm_onnx_parse_tensor(buf, len, what, t, err);
    free(buf);
    return s;
}

void vm_onnx_tensor_fill(Onnx__TensorProto *tp, const struct vm_tensor *t, int64_t *dims_storage) {
    onnx__tensor_proto__init(tp);
    for (int i = 0; i < t->rank; i++) dims_storage[i] = t->dims[i];
    tp->n_dims = (size_t)t->rank;
    tp->dims = dims_storage;
    tp->has_data_type = 1;
    tp->data_type = t->dtype;
    tp->has_raw_data = 1;
    tp->raw_data.len = t->nbytes;
    tp->raw_data.data = t->data;
    tp->name = t->name;
}

enum vm_status vm_onnx_write_tensor_file(const char *path, const struct vm_tensor *t,
                                         struct vm_error *err) {
    Onnx__TensorProto tp;
    int64_t dims[VM_MAX_RANK];
    vm_onnx_tensor_fill(&tp, t, dims);
    size_t len = onnx__tensor_proto__get_packed_size(&tp);
    uint8_t *buf = vm_malloc(len, err);
    if (!buf) return VM_ENOMEM;
    onnx__tensor_proto__pack(&tp, buf);
    enum vm_status s = vm_file_write_atomic(path, buf, len, err);
    free(buf);
    return s;
}
