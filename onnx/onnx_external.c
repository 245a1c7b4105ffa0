/* onnx_external: tensors whose bytes live in files beside the model (TensorProto.data_location =
 * EXTERNAL, external_data keys location / offset / length / checksum), as ONNX writes models over
 * the 2 GiB protobuf limit.
 *
 * Invariants:
 *  - a location is resolved only inside the model's folder: absolute paths, `..` that climbs out,
 *    symlinks whose target is outside, and anything that is not a regular file are refused with a
 *    message naming the tensor and the location. The folder is opened once (dirfd) and the file is
 *    reached from it component by component with O_NOFOLLOW along its resolved path, so a symlink
 *    swapped in after the check cannot redirect the open;
 *  - each distinct file (by device and inode) is mapped once, read-only and private, for the
 *    lifetime of the handle; tensors borrow pointers into that mapping;
 *  - offset, length and the tensor's byte size are checked against each other and the file size
 *    without overflow before any pointer is formed.
 * The `checksum` key (a SHA-1 digest) is accepted but not verified.
 *
 * Writing (vm_onnx_save_model_split): a model over protobuf's 2 GiB limit keeps its large
 * initializers in one `<out>.data` file beside it; both files go through temporary names.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx_io.h"

struct ext_file {
    dev_t dev;
    ino_t ino;
    const uint8_t *map; /* whole file, PROT_READ / MAP_PRIVATE; NULL when size is 0 */
    size_t size;
};

struct vm_onnx_external {
    char *dir; /* realpath of the model's folder */
    int dirfd; /* that folder, opened once */
    struct ext_file *files;
    int n_files, cap_files;
};

enum vm_status vm_onnx_external_open(const char *model_path, struct vm_onnx_external **out,
                                     struct vm_error *err) {
    *out = NULL;
    char dir[PATH_MAX];
    const char *slash = strrchr(model_path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == model_path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - model_path) >= sizeof dir)
        return vm_errorf(err, VM_EINVAL, "model path too long: '%s'", model_path);
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - model_path), model_path);
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return vm_errorf(err, VM_EIO, "cannot resolve the folder of '%s': %s", model_path, strerror(errno));
    struct vm_onnx_external *x = vm_calloc(1, sizeof *x, err);
    if (!x) return VM_ENOMEM;
    x->dirfd = open(real, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (x->dirfd < 0) {
        free(x);
        return vm_errorf(err, VM_EIO, "cannot open the folder '%s' of '%s': %s", real, model_path, strerror(errno));
    }
    if (!(x->dir = vm_strdup(real, err))) {
        close(x->dirfd);
        free(x);
        return VM_ENOMEM;
    }
    *out = x;
    return VM_OK;
}

void vm_onnx_external_free(struct vm_onnx_external *x) {
    if (!x) return;
    for (int i = 0; i < x->n_files; i++)
        if (x->files[i].map) munmap((void *)x->files[i].map, x->files[i].size);
    free(x->files);
    if (x->dirfd >= 0) close(x->dirfd);
    free(x->dir);
    free(x);
}

const char *vm_onnx_external_dir(const struct vm_onnx_external *x) {
    return x->dir;
}

/* The external_data entries of tp. Unknown keys are errors: a key vmaskc does not understand
 * might change where the bytes are. `basepath` is bookkeeping of the onnx Python package. */
struct ext_ref {
    const char *location, *offset, *length;
};

static enum vm_status ext_ref_parse(const Onnx__TensorProto *tp, const char *what, struct ext_ref *r,
                                    struct vm_error *err) {
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
        if (!k || !v) return vm_errorf(err, VM_EFORMAT, "%s: an external_data entry has no key or no value", what);
        if (!strcmp(k, "location")) r->location = v;
        else if (!strcmp(k, "offset")) r->offset = v;
        else if (!strcmp(k, "length")) r->length = v;
        else if (strcmp(k, "checksum") && strcmp(k, "basepath"))
            return vm_errorf(err, VM_EUNSUPPORTED, "%s: external_data key '%s' is not supported (vmaskc reads location, offset, length, checksum)",
                             what, k);
    }
    if (!r->location || !*r->location)
        return vm_errorf(err, VM_EFORMAT, "%s stores its data externally but names no location", what);
    return VM_OK;
}

/* Decimal digits only: no sign, no spaces, no overflow. */
static bool parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Refuses locations that are absolute or whose `..` climb above the folder, before touching the
 * file system, so the message says why rather than "not found". */
static enum vm_status check_lexically(const struct vm_onnx_external *x, const char *loc, const char *what,
                                      struct vm_error *err) {
    if (loc[0] == '/')
        return vm_errorf(err, VM_EINVAL, "%s: external data location '%s' is an absolute path; it must be relative to the model's folder %s",
                         what, loc, x->dir);
    int depth = 0;
    for (const char *p = loc; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') depth--;
        else if (n && !(n == 1 && p[0] == '.')) depth++;
        if (depth < 0)
            return vm_errorf(err, VM_EINVAL, "%s: external data location '%s' leaves the model's folder %s", what, loc, x->dir);
        p += n + (e != NULL);
    }
    return VM_OK;
}

/* Opens `loc` inside the folder: resolves it, checks the result is below the folder, then walks
 * the resolved path from dirfd with O_NOFOLLOW. Returns an fd on a regular file, or -1 with err. */
static int open_inside(const struct vm_onnx_external *x, const char *loc, const char *what, struct vm_error *err) {
    char joined[PATH_MAX * 2], real[PATH_MAX];
    snprintf(joined, sizeof joined, "%s/%s", x->dir, loc);
    if (!realpath(joined, real)) {
        int e = errno;
        vm_errorf(err, VM_EIO, "%s: external data location '%s' (in the model's folder %s) cannot be opened: %s", what, loc, x->dir,
                  strerror(e));
        return -1;
    }
    size_t dl = strlen(x->dir);
    bool root = dl == 1; /* the folder is "/" */
    if (strncmp(real, x->dir, dl) != 0 || (!root && real[dl] != '/' && real[dl] != 0)) {
        vm_errorf(err, VM_EINVAL, "%s: external data location '%s' leaves the model's folder %s (it resolves to %s)", what, loc, x->dir,
                  real);
        return -1;
    }
    if (real[dl] == 0) {
        vm_errorf(err, VM_EINVAL, "%s: external data location '%s' is the model's folder itself, not a regular file", what, loc);
        return -1;
    }
    /* walk the symlink-free resolved path from the folder's fd */
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "%s", real + dl + !root);
    int fd = dup(x->dirfd);
    if (fd < 0) {
        vm_errorf(err, VM_EIO, "%s: cannot open external data '%s': %s", what, loc, strerror(errno));
        return -1;
    }
    for (char *p = rel;;) {
        char *e = strchr(p, '/');
        if (e) *e = 0;
        /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (e ? O_DIRECTORY : O_NONBLOCK);
        int next = openat(fd, p, flags);
        int oe = errno;
        close(fd);
        if (next < 0) {
            if (oe == ELOOP || oe == ENOTDIR)
                vm_errorf(err, VM_EINVAL, "%s: external data location '%s' changed while it was opened (a symlink appeared in the model's folder %s)",
                          what, loc, x->dir);
            else vm_errorf(err, VM_EIO, "%s: cannot open external data '%s' in the model's folder %s: %s", what, loc, x->dir, strerror(oe));
            return -1;
        }
        fd = next;
        if (!e) break;
        p = e + 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        vm_errorf(err, VM_EINVAL, "%s: external data location '%s' is not a regular file (directories, devices, FIFOs and sockets are refused)",
                  what, loc);
        return -1;
    }
    return fd;
}

/* The mapping of the file open on fd: an existing one when the same file was seen before. */
static enum vm_status map_file(struct vm_onnx_external *x, int fd, const char *loc, const char *what,
                               const struct ext_file **out, struct vm_error *err) {
    struct stat st;
    if (fstat(fd, &st) != 0) return vm_errorf(err, VM_EIO, "%s: cannot stat external data '%s': %s", what, loc, strerror(errno));
    for (int i = 0; i < x->n_files; i++)
        if (x->files[i].dev == st.st_dev && x->files[i].ino == st.st_ino) {
            *out = &x->files[i];
            return VM_OK;
        }
    if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s: external data '%s' is too large to map", what, loc);
    if (x->n_files == x->cap_files) {
        int cap = x->cap_files ? 2 * x->cap_files : 4;
        struct ext_file *nf = vm_realloc(x->files, (size_t)cap * sizeof *nf, err);
        if (!nf) return VM_ENOMEM;
        x->files = nf;
        x->cap_files = cap;
    }
    struct ext_file f = {.dev = st.st_dev, .ino = st.st_ino, .size = (size_t)st.st_size};
    if (f.size) {
        void *p = mmap(NULL, f.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) return vm_errorf(err, VM_EIO, "%s: cannot map external data '%s': %s", what, loc, strerror(errno));
        f.map = p;
    }
    x->files[x->n_files] = f;
    *out = &x->files[x->n_files++];
    return VM_OK;
}

enum vm_status vm_onnx_external_bytes(struct vm_onnx_external *x, const Onnx__TensorProto *tp, const char *what,
                                      size_t nbytes, int64_t numel, size_t elem_size, const uint8_t **bytes,
                                      struct vm_error *err) {
    *bytes = NULL;
    struct ext_ref r;
    if (ext_ref_parse(tp, what, &r, err)) return err->code;
    if (!x)
        return vm_errorf(err, VM_EUNSUPPORTED, "%s stores its data in the external file '%s', but the folder it is relative to is not known here",
                         what, r.location);
    uint64_t off = 0, len = 0;
    if (r.offset && !parse_u64(r.offset, &off))
        return vm_errorf(err, VM_EFORMAT, "%s: external data offset '%s' (location '%s') is not a non-negative integer", what, r.offset,
                         r.location);
    if (r.length && !parse_u64(r.length, &len))
        return vm_errorf(err, VM_EFORMAT, "%s: external data length '%s' (location '%s') is not a non-negative integer", what, r.length,
                         r.location);
    if (check_lexically(x, r.location, what, err)) return err->code;
    int fd = open_inside(x, r.location, what, err);
    if (fd < 0) return err->code;
    const struct ext_file *f = NULL;
    enum vm_status s = map_file(x, fd, r.location, what, &f, err);
    close(fd);
    if (s) return s;
    uint64_t size = f->size;
    if (off > size)
        return vm_errorf(err, VM_EFORMAT, "%s: external data offset %llu is past the end of '%s' (%llu bytes)", what,
                         (unsigned long long)off, r.location, (unsigned long long)size);
    if (!r.length) len = size - off; /* the ONNX spec: no length means up to the end of the file */
    else if (len > size - off)
        return vm_errorf(err, VM_EFORMAT, "%s: external data offset %llu + length %llu runs past the end of '%s' (%llu bytes)", what,
                         (unsigned long long)off, (unsigned long long)len, r.location, (unsigned long long)size);
    if (len != (uint64_t)nbytes)
        return vm_errorf(err, VM_EFORMAT, "%s: external data in '%s' is %llu bytes long but the tensor's shape and type need %zu (%lld elements x %zu bytes)",
                         what, r.location, (unsigned long long)len, nbytes, (long long)numel, elem_size);
    *bytes = nbytes ? f->map + off : (const uint8_t *)"";
    return VM_OK;
}

/* ---- writing: models over the 2 GiB protobuf limit ---- */

/* An initializer moved to the data file: the shallow copy written in its place, and the storage
 * its external_data entries point to. */
struct moved {
    Onnx__TensorProto t;
    Onnx__StringStringEntryProto kv[3];
    Onnx__StringStringEntryProto *kvp[3];
    char off[24], len[24];
};

/* Writes the large initializers of m's graph to fd and points copies of them at it; *inits is the
 * new initializer array (entries not moved are m's own). */
static enum vm_status write_data(int fd, const char *data_path, const char *loc, const Onnx__GraphProto *og,
                                 Onnx__TensorProto **inits, struct moved *mv, struct vm_error *err) {
    static const uint8_t zeros[64];
    uint64_t pos = 0;
    for (size_t i = 0; i < og->n_initializer; i++) {
        Onnx__TensorProto *t = og->initializer[i];
        inits[i] = t;
        if (!t->has_raw_data || t->raw_data.len < VM_ONNX_EXTERNAL_MIN || vm_onnx_tensor_is_external(t)) continue;
        size_t pad = (size_t)((64 - pos % 64) % 64); /* aligned, so a reader can borrow the bytes */
        if (vm_write_all(fd, zeros, pad, data_path, err) || vm_write_all(fd, t->raw_data.data, t->raw_data.len, data_path, err))
            return err->code;
        pos += pad;
        struct moved *m = &mv[i];
        m->t = *t;
        m->t.has_raw_data = 0;
        m->t.raw_data.data = NULL;
        m->t.raw_data.len = 0;
        m->t.has_data_location = 1;
        m->t.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        snprintf(m->off, sizeof m->off, "%llu", (unsigned long long)pos);
        snprintf(m->len, sizeof m->len, "%llu", (unsigned long long)t->raw_data.len);
        const char *keys[3] = {"location", "offset", "length"}, *vals[3] = {loc, m->off, m->len};
        for (int k = 0; k < 3; k++) {
            onnx__string_string_entry_proto__init(&m->kv[k]);
            m->kv[k].key = (char *)keys[k];
            m->kv[k].value = (char *)vals[k];
            m->kvp[k] = &m->kv[k];
        }
        m->t.external_data = m->kvp;
        m->t.n_external_data = 3;
        inits[i] = &m->t;
        pos += t->raw_data.len;
    }
    if (fsync(fd) != 0) return vm_errorf(err, VM_EIO, "cannot write '%s': %s", data_path, strerror(errno));
    return VM_OK;
}

enum vm_status vm_onnx_save_model_split(const char *path, const Onnx__ModelProto *m, uint64_t max_inline,
                                        struct vm_error *err) {
    if (!max_inline) max_inline = VM_ONNX_MAX_INLINE;
    if (onnx__model_proto__get_packed_size(m) <= max_inline) return vm_onnx_save_model(path, m, err);
    char data_path[PATH_MAX], tmp_data[PATH_MAX + 32], tmp_model[PATH_MAX + 32];
    if (snprintf(data_path, sizeof data_path, "%s.data", path) >= (int)sizeof data_path)
        return vm_errorf(err, VM_EINVAL, "output path too long: '%s'", path);
    snprintf(tmp_data, sizeof tmp_data, "%s.tmp.%ld", data_path, (long)getpid());
    snprintf(tmp_model, sizeof tmp_model, "%s.tmp.%ld", path, (long)getpid());
    const char *slash = strrchr(data_path, '/');
    const char *loc = slash ? slash + 1 : data_path; /* relative: beside the model */

    const Onnx__GraphProto *og = m->graph;
    Onnx__ModelProto mm = *m;
    Onnx__GraphProto gg = *og;
    mm.graph = &gg;
    Onnx__TensorProto **inits = vm_calloc(og->n_initializer + 1, sizeof *inits, err);
    struct moved *mv = vm_calloc(og->n_initializer + 1, sizeof *mv, err);
    uint8_t *buf = NULL;
    enum vm_status s = VM_OK;
    int fd = -1;
    if (!inits || !mv) {
        s = VM_ENOMEM;
        goto done;
    }
    fd = open(tmp_data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", data_path, strerror(errno));
        goto done;
    }
    s = write_data(fd, data_path, loc, og, inits, mv, err);
    if (close(fd) != 0 && !s) s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", data_path, strerror(errno));
    fd = -1;
    if (s) goto done;
    gg.initializer = inits;
    size_t len = onnx__model_proto__get_packed_size(&mm);
    if (len > max_inline) {
        s = vm_errorf(err, VM_EUNSUPPORTED, "'%s' would still be %zu bytes, over the %llu-byte protobuf limit, with every initializer of %d bytes or more in '%s'",
                      path, len, (unsigned long long)max_inline, VM_ONNX_EXTERNAL_MIN, data_path);
        goto done;
    }
    if (!(buf = vm_malloc(len, err))) {
        s = VM_ENOMEM;
        goto done;
    }
    onnx__model_proto__pack(&mm, buf);
    fd = open(tmp_model, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto done;
    }
    s = vm_write_all(fd, buf, len, path, err);
    if (!s && fsync(fd) != 0) s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (close(fd) != 0 && !s) s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(errno));
    fd = -1;
    if (s) goto done;
    /* data first: the new model never names bytes that are not there yet */
    if (rename(tmp_data, data_path) != 0) s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", data_path, strerror(errno));
    else if (rename(tmp_model, path) != 0) s = vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(errno));
done:
    if (fd >= 0) close(fd);
    unlink(tmp_data); /* no-ops once renamed */
    unlink(tmp_model);
    free(buf);
    free(inits);
    free(mv);
    return s;
}
