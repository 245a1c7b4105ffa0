/* onnx_io: see onnx_io.h. protobuf-c copies every bytes field on unpack, so raw_data is owned by
 * the message (vm_onnx_load_model reads large ones into aligned buffers itself, see below); we
 * still memcpy element-wise because raw_data may be unaligned. */
#include "onnx_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- Reading a model file with its weights copied once ----
 * protobuf-c copies every bytes field on unpack, so reading a 420 MiB BERT-base file into memory and
 * unpacking it touched 840 MiB and copied the weights twice. Instead the file is mapped, the wire
 * format walked (ModelProto.graph -> GraphProto.initializer -> TensorProto.raw_data), and a skeleton
 * message built without the large raw_data payloads; protobuf-c unpacks the skeleton (a few hundred
 * KiB), and each payload is then read with pread() straight into a 64-byte aligned buffer that becomes the
 * tensor's raw_data (freed by protobuf-c like any other). Anything the walk does not expect (groups,
 * a repeated graph or raw_data field, bad lengths) falls back to unpacking the whole mapped file, so
 * errors and results stay those of protobuf-c. */

/* raw_data payloads from this size on are lifted out of the skeleton (the size from which the
 * onnx package moves tensors to external data) */
#define LIFT_MIN ((size_t)VM_ONNX_EXTERNAL_MIN)

struct wire_buf {
    uint8_t *p;
    size_t n, cap;
};

static bool wb_put(struct wire_buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
    return true;
}

static bool wb_varint(struct wire_buf *b, uint64_t v) {
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return wb_put(b, t, n);
}

/* One field of a message: its number, wire type, the whole field [start, end) and, for wire type
 * 2, the payload [data, end). False on a malformed or group field. */
struct wire_field {
    uint32_t num;
    int type;
    const uint8_t *start, *data, *end;
};

static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t c = *(*p)++;
        r |= (uint64_t)(c & 0x7f) << s;
        if (c < 0x80) {
            *v = r;
            return true;
        }
    }
    return false;
}

static bool wire_next(const uint8_t **p, const uint8_t *end, struct wire_field *f) {
    uint64_t key, len;
    f->start = *p;
    if (!wire_varint(p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX) return false;
    f->num = (uint32_t)(key >> 3);
    f->type = (int)(key & 7);
    switch (f->type) {
    case 0: if (!wire_varint(p, end, &len)) return false; break;
    case 1: if (end - *p < 8) return false; *p += 8; break;
    case 5: if (end - *p < 4) return false; *p += 4; break;
    case 2:
        if (!wire_varint(p, end, &len) || len > (uint64_t)(end - *p)) return false;
        f->data = *p;
        *p += len;
        break;
    default: return false; /* groups: never in ONNX */
    }
    f->end = *p;
    return true;
}

/* A lifted payload: initializer k's raw_data is at file offset off, len bytes. */
struct lifted {
    size_t k, off, len;
};
struct lift_list {
    struct lifted *v;
    size_t n, cap;
};

static bool lift_add(struct lift_list *l, struct lifted x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct lifted *q = realloc(l->v, cap * sizeof *q);
        if (!q) return false;
        l->v = q;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

/* Appends `num: LEN(body)` built by fn into out (fn fills a buffer of its own). */
static bool put_sub(struct wire_buf *out, uint32_t num, const struct wire_buf *body) {
    return wb_varint(out, (uint64_t)num << 3 | 2) && wb_varint(out, body->n) && wb_put(out, body->p, body->n);
}

/* TensorProto: every field verbatim except one large raw_data (field 9), which is recorded. */
static bool skel_tensor(const uint8_t *base, const uint8_t *p, const uint8_t *end, size_t k, struct wire_buf *out,
                        struct lift_list *l) {
    struct wire_field f;
    int n_raw = 0;
    while (p < end) {
        if (!wire_next(&p, end, &f)) return false;
        if (f.num == 9) {
            if (f.type != 2 || ++n_raw > 1) return false;
            size_t len = (size_t)(f.end - f.data);
            if (len >= LIFT_MIN) {
                if (!lift_add(l, (struct lifted){k, (size_t)(f.data - base), len})) return false;
                continue;
            }
        }
        if (!wb_put(out, f.start, (size_t)(f.end - f.start))) return false;
    }
    return true;
}

static bool skel_graph(const uint8_t *base, const uint8_t *p, const uint8_t *end, struct wire_buf *out, struct lift_list *l) {
    struct wire_field f;
    struct wire_buf t = {0};
    size_t k = 0;
    bool ok = true;
    while (ok && p < end) {
        if (!(ok = wire_next(&p, end, &f))) break;
        if (f.num == 5 && f.type == 2) { /* initializer k */
            t.n = 0;
            ok = skel_tensor(base, f.data, f.end, k++, &t, l) && put_sub(out, 5, &t);
        } else {
            ok = wb_put(out, f.start, (size_t)(f.end - f.start));
        }
    }
    free(t.p);
    return ok;
}

static bool skel_model(const uint8_t *buf, size_t len, struct wire_buf *out, struct lift_list *l) {
    const uint8_t *p = buf, *end = buf + len;
    struct wire_field f;
    int n_graph = 0;
    while (p < end) {
        if (!wire_next(&p, end, &f)) return false;
        if (f.num == 7) { /* graph: protobuf merges repeats; leave that to protobuf-c */
            if (f.type != 2 || ++n_graph > 1) return false;
            struct wire_buf g = {0};
            bool ok = skel_graph(buf, f.data, f.end, &g, l) && put_sub(out, 7, &g);
            free(g.p);
            if (!ok) return false;
        } else if (!wb_put(out, f.start, (size_t)(f.end - f.start))) {
            return false;
        }
    }
    return true;
}

/* 0, an errno, or -1 for a file shorter than the skeleton said. */
static int pread_piece(int fd, uint8_t *dst, size_t len, size_t off) {
    while (len) {
        ssize_t r = pread(fd, dst, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? errno : -1;
        dst += r;
        len -= (size_t)r;
        off += (size_t)r;
    }
    return 0;
}

/* Reads the lifted payloads into bufs (buffer i holds l->v[i]): in 2 MiB pieces on all threads,
 * because writing them is first touch of fresh memory, which on a VM costs more than the copy
 * (bench/README.md, "Start-up and the first step"). */
static enum vm_status read_payloads(int fd, const struct lift_list *l, uint8_t **bufs, const char *path, struct vm_error *err) {
    const size_t piece = (size_t)2 << 20;
    size_t *first = malloc((l->n + 1) * sizeof *first); /* payload i's pieces start at first[i] */
    if (!first) return vm_errorf(err, VM_ENOMEM, "out of memory reading '%s'", path);
    first[0] = 0;
    for (size_t i = 0; i < l->n; i++) first[i + 1] = first[i] + (l->v[i].len + piece - 1) / piece;
    const long n_pieces = (long)first[l->n];
    int fail = 0;
    /* below 64 MiB one thread: a small model's `predict` would start OpenMP's threads for nothing */
#pragma omp parallel for schedule(dynamic, 1) if (n_pieces >= 32)
    for (long k = 0; k < n_pieces; k++) {
        size_t lo = 0, hi = l->n; /* the payload whose pieces hold k */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (first[mid] <= (size_t)k) lo = mid;
            else hi = mid;
        }
        size_t at = ((size_t)k - first[lo]) * piece, n = l->v[lo].len - at < piece ? l->v[lo].len - at : piece;
        int e = pread_piece(fd, bufs[lo] + at, n, l->v[lo].off + at);
        if (e) {
#pragma omp atomic write
            fail = e;
        }
    }
    free(first);
    if (fail) return vm_errorf(err, VM_EIO, "cannot read '%s': %s", path, fail > 0 ? strerror(fail) : "short read");
    return VM_OK;
}

/* Unpacks the skeleton and reads the lifted payloads into it. NULL with err set, or NULL with err
 * clear when the skeleton does not line up (then the caller unpacks the whole file). */
static Onnx__ModelProto *load_lifted(int fd, const uint8_t *map, size_t len, const char *path, const char *what,
                                     struct vm_error *err) {
    struct wire_buf skel = {0};
    struct lift_list l = {0};
    Onnx__ModelProto *m = NULL;
    if (skel_model(map, len, &skel, &l) && skel.n) m = vm_onnx_parse_model(skel.p, skel.n, what, err);
    free(skel.p);
    if (err->code) m = NULL; /* protobuf-c's error for the whole file comes from the fallback */
    uint8_t **bufs = m ? calloc(l.n + 1, sizeof *bufs) : NULL;
    bool ok = bufs != NULL;
    if (m && !bufs) vm_errorf(err, VM_ENOMEM, "out of memory reading '%s'", path);
    for (size_t i = 0; ok && i < l.n; i++) {
        Onnx__TensorProto *tp = l.v[i].k < m->graph->n_initializer ? m->graph->initializer[l.v[i].k] : NULL;
        if (!tp || tp->has_raw_data) ok = false; /* cannot happen for a skeleton made above; be safe */
        else if (!(bufs[i] = vm_alloc_big(l.v[i].len))) { /* 64-byte aligned; freed by big_free */
            vm_errorf(err, VM_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, l.v[i].len);
            ok = false;
        }
    }
    if (ok && read_payloads(fd, &l, bufs, path, err)) ok = false;
    for (size_t i = 0; m && bufs && i < l.n; i++) {
        if (!ok) {
            free(bufs[i]);
            continue;
        }
        Onnx__TensorProto *tp = m->graph->initializer[l.v[i].k];
        tp->has_raw_data = 1;
        tp->raw_data.data = bufs[i];
        tp->raw_data.len = l.v[i].len;
    }
    if (!ok && m) {
        vm_onnx_free_model(m);
        m = NULL;
    }
    free(bufs);
    free(l.v);
    return m;
}

Onnx__ModelProto *vm_onnx_load_model(const char *path, struct vm_error *err) {
    char what[4200];
    snprintf(what, sizeof what, "'%s'", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        vm_errorf(err, VM_EIO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    void *map = MAP_FAILED;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    Onnx__ModelProto *m = NULL;
    if (map != MAP_FAILED) {
        size_t len = (size_t)st.st_size;
        struct vm_error e2 = {0};
        m = load_lifted(fd, map, len, path, what, &e2);
        if (!m && e2.code && e2.code != VM_EFORMAT) *err = e2; /* out of memory or a read error */
        else if (!m) m = vm_onnx_parse_model(map, len, what, err);
        munmap(map, len);
        close(fd);
        return m;
    }
    close(fd);
    /* empty, not a regular file, or not mappable: the plain reader says what is wrong */
    uint8_t *buf;
    size_t len;
    if (vm_file_read(path, &buf, &len, err)) return NULL;
    m = vm_onnx_parse_model(buf, len, what, err);
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
