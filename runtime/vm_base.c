/* vm_base: status strings, error formatting, checked allocation, whole-file I/O with atomic
 * writes. Atomic writes go to "<path>.tmp.<pid>" in the same directory and are renamed over the
 * target only after a successful fsync, so readers never see a partial file; the directory is
 * fsynced after the rename so the new name itself survives a crash. A writer holds an flock on its
 * temporary; one killed mid-write leaves the file behind with the lock released (the kernel drops
 * it when the process dies, even before it is reaped), which is how vm_file_remove_stale_temps
 * tells litter from a write in progress. */
#include "vm_base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

enum vm_status vm_errorf(struct vm_error *err, enum vm_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

enum vm_status vm_error_prefix(struct vm_error *err, const char *fmt, ...) {
    if (!err) return VM_EINTERNAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

const char *vm_status_name(enum vm_status s) {
    switch (s) {
    case VM_OK: return "ok";
    case VM_EINVAL: return "invalid input";
    case VM_ENOMEM: return "out of memory";
    case VM_EIO: return "i/o error";
    case VM_EFORMAT: return "bad format";
    case VM_EUNSUPPORTED: return "unsupported";
    case VM_EDNNL: return "oneDNN error";
    case VM_EINTERRUPTED: return "interrupted";
    case VM_EINTERNAL: return "internal error";
    }
    return "unknown status";
}

void vm_panic(const char *file, int line, const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "vmaskc: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nThis is a bug in vmaskc; please report it with the command that triggered it.\n");
    abort();
}

size_t vm_dtype_size(int32_t dtype) {
    switch (dtype) {
    case VM_DTYPE_FLOAT: return 4;
    case VM_DTYPE_UINT8: return 1;
    case VM_DTYPE_INT8: return 1;
    case VM_DTYPE_UINT16: return 2;
    case VM_DTYPE_INT16: return 2;
    case VM_DTYPE_INT32: return 4;
    case VM_DTYPE_INT64: return 8;
    case VM_DTYPE_BOOL: return 1;
    case VM_DTYPE_FLOAT16: return 2;
    case VM_DTYPE_DOUBLE: return 8;
    case VM_DTYPE_UINT32: return 4;
    case VM_DTYPE_UINT64: return 8;
    case VM_DTYPE_BFLOAT16: return 2;
    default: return 0;
    }
}

const char *vm_dtype_name(int32_t dtype) {
    switch (dtype) {
    case VM_DTYPE_UNDEFINED: return "undefined";
    case VM_DTYPE_FLOAT: return "float32";
    case VM_DTYPE_UINT8: return "uint8";
    case VM_DTYPE_INT8: return "int8";
    case VM_DTYPE_UINT16: return "uint16";
    case VM_DTYPE_INT16: return "int16";
    case VM_DTYPE_INT32: return "int32";
    case VM_DTYPE_INT64: return "int64";
    case VM_DTYPE_STRING: return "string";
    case VM_DTYPE_BOOL: return "bool";
    case VM_DTYPE_FLOAT16: return "float16";
    case VM_DTYPE_DOUBLE: return "float64";
    case VM_DTYPE_UINT32: return "uint32";
    case VM_DTYPE_UINT64: return "uint64";
    case 14: return "complex64";
    case 15: return "complex128";
    case 16: return "bfloat16";
    default: return "unknown";
    }
}

void *vm_malloc(size_t n, struct vm_error *err) {
    void *p = malloc(n ? n : 1);
    if (!p) vm_errorf(err, VM_ENOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *vm_alloc_big(size_t n) {
    /* Below this, malloc's own arenas are fine. Above it, 2 MiB alignment plus MADV_HUGEPAGE
     * (the kernel here gives huge pages only on request) turns ~500 page faults per MiB into
     * one: on this VM the faults of first touch cost more than the copies they precede. */
    const size_t huge = (size_t)2 << 20;
    if (n < huge / 2) return aligned_alloc(64, (n + 63) & ~(size_t)63 ? (n + 63) & ~(size_t)63 : 64);
    /* whole huge pages: a partial one at the end would fault in 4 KiB pages (from 1 MiB up, the
     * slack costs at most as much memory as the buffer; the SST-2 CNN's 3.8 MB model went from 4,400
     * faults to 823 in `predict`) */
    size_t r = n > SIZE_MAX - huge ? n : (n + huge - 1) & ~(huge - 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, r)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, r, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

static size_t huge_round(size_t n) {
    const size_t huge = (size_t)2 << 20;
    return n > SIZE_MAX - 2 * huge ? 0 : (n + huge - 1) & ~(huge - 1);
}

void *vm_alloc_big_zero(size_t n) {
    const size_t huge = (size_t)2 << 20;
    size_t r = huge_round(n ? n : 1), len = r + huge;
    if (!r) return NULL;
    uint8_t *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    /* keep the 2 MiB aligned r bytes inside, return the slack on either side */
    uint8_t *p = (uint8_t *)(((uintptr_t)base + huge - 1) & ~(uintptr_t)(huge - 1));
    if (p > base) munmap(base, (size_t)(p - base));
    if (base + len > p + r) munmap(p + r, (size_t)(base + len - (p + r)));
#ifdef MADV_HUGEPAGE
    madvise(p, r, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

void vm_free_big_zero(void *p, size_t n) {
    if (p) munmap(p, huge_round(n ? n : 1));
}

void *vm_calloc(size_t count, size_t size, struct vm_error *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) vm_errorf(err, VM_ENOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *vm_realloc(void *p, size_t n, struct vm_error *err) {
    void *q = realloc(p, n ? n : 1);
    if (!q) vm_errorf(err, VM_ENOMEM, "out of memory allocating %zu bytes", n);
    return q;
}

char *vm_strdup(const char *s, struct vm_error *err) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *d = vm_malloc(n, err);
    if (d) memcpy(d, s, n);
    return d;
}

enum vm_status vm_file_read(const char *path, uint8_t **data, size_t *len, struct vm_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vm_errorf(err, VM_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return vm_errorf(err, VM_EIO, "'%s' is not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = vm_alloc_big(n + 1);
    if (!buf) {
        fclose(f);
        return vm_errorf(err, VM_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        int e = errno;
        free(buf);
        fclose(f);
        return vm_errorf(err, VM_EIO, "cannot read '%s': %s", path, e ? strerror(e) : "short read");
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return VM_OK;
}

/* "a/b/c" -> dir "a/b", base "c"; "c" -> ".", "c"; "/c" -> "/", "c". Non-zero if too long. */
static int split_dir(const char *path, char *dir, size_t cap, const char **base) {
    const char *slash = strrchr(path, '/');
    if (base) *base = slash ? slash + 1 : path;
    size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n + 2 > cap) return -1;
    if (!slash) memcpy(dir, ".", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    return 0;
}

enum vm_status vm_write_all(int fd, const void *data, size_t len, const char *path, struct vm_error *err) {
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return VM_OK;
}

enum vm_status vm_fd_stream_flush(struct vm_fd_stream *w) {
    if (!w->s && w->n) w->s = vm_write_all(w->fd, w->stage, w->n, w->path, w->err);
    w->n = 0;
    return w->s;
}

void vm_fd_stream_write(struct vm_fd_stream *w, const void *data, size_t len) {
    if (len > sizeof w->stage / 2) {
        vm_fd_stream_flush(w);
        if (!w->s) w->s = vm_write_all(w->fd, data, len, w->path, w->err);
        return;
    }
    if (w->n + len > sizeof w->stage) vm_fd_stream_flush(w);
    memcpy(w->stage + w->n, data, len);
    w->n += len;
}

void vm_plan_parts_free(struct vm_plan_parts *p) {
    free(p->head);
    free(p->part);
    memset(p, 0, sizeof *p);
}

enum vm_status vm_plan_parts_write(void *ctx, int fd, const char *path, struct vm_error *err) {
    const struct vm_plan_parts *p = ctx;
    static const uint8_t zeros[64];
    enum vm_status s = vm_write_all(fd, p->head, p->head_len, path, err);
    for (size_t i = 0; i < p->n_part && !s; i++) {
        s = vm_write_all(fd, p->part[i].data, p->part[i].bytes, path, err);
        if (!s) s = vm_write_all(fd, zeros, vm_align64(p->part[i].bytes) - p->part[i].bytes, path, err);
    }
    return s;
}

struct buf_writer {
    const void *data;
    size_t len;
};

static enum vm_status write_buf(void *ctx, int fd, const char *path, struct vm_error *err) {
    const struct buf_writer *b = ctx;
    return vm_write_all(fd, b->data, b->len, path, err);
}

enum vm_status vm_file_write_atomic(const char *path, const void *data, size_t len,
                                    struct vm_error *err) {
    struct buf_writer b = {data, len};
    return vm_file_write_atomic_fn(path, write_buf, &b, err);
}

enum vm_status vm_file_write_atomic_fn(const char *path, vm_file_writer fn, void *ctx, struct vm_error *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return vm_errorf(err, VM_EINVAL, "output path too long: '%s'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(errno));
    (void)flock(fd, LOCK_EX); /* marks the write as live; a filesystem without flock only loses the cleanup */
    enum vm_status ws = fn(ctx, fd, path, err);
    if (ws) {
        close(fd);
        unlink(tmp);
        return ws;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vm_errorf(err, VM_EIO, "cannot write '%s': %s", path, strerror(e));
    }
    /* The rename lives in the directory: without this fsync a power loss can bring back the old
     * name (or none). Filesystems that cannot fsync a directory say EINVAL; nothing to do there. */
    char dir[4096];
    split_dir(path, dir, sizeof dir, NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        int rc = fsync(dfd), e = errno;
        close(dfd);
        if (rc != 0 && e != EINVAL && e != EROFS)
            return vm_errorf(err, VM_EIO, "cannot sync the directory of '%s': %s", path, strerror(e));
    }
    return VM_OK;
}

int vm_file_remove_stale_temps(const char *path) {
    char dir[4096];
    const char *base;
    if (split_dir(path, dir, sizeof dir, &base)) return 0;
    size_t nb = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (strncmp(name, base, nb) || strncmp(name + nb, ".tmp.", 5)) continue;
        const char *digits = name + nb + 5;
        char *end;
        long pid = strtol(digits, &end, 10);
        if (end == digits || *end || pid <= 0 || pid == (long)getpid()) continue;
        char full[8192];
        if (snprintf(full, sizeof full, "%s/%s", dir, name) >= (int)sizeof full) continue;
        int fd = open(full, O_RDONLY);
        if (fd < 0) continue;
        /* locked: a live writer (another run on the same path) is about to rename it */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(full) == 0) removed++;
        close(fd);
    }
    closedir(d);
    return removed;
}

int64_t vm_numel(const int64_t *dims, int rank) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] && n > INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

/* float16 and bfloat16 travel only through Cast: conversions with round-to-nearest-even (float16,
 * as numpy does) and truncation (bfloat16, as ONNX's reference tests do). */
float vm_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t vm_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

float vm_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t vm_float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)(x >> 16);
}

double vm_elem_f64(const void *p, int32_t dt, int64_t i) {
    switch (dt) {
    case VM_DTYPE_FLOAT: return ((const float *)p)[i];
    case VM_DTYPE_DOUBLE: return ((const double *)p)[i];
    case VM_DTYPE_INT64: return (double)((const int64_t *)p)[i];
    case VM_DTYPE_INT32: return ((const int32_t *)p)[i];
    case VM_DTYPE_INT16: return ((const int16_t *)p)[i];
    case VM_DTYPE_INT8: return ((const int8_t *)p)[i];
    case VM_DTYPE_UINT8: case VM_DTYPE_BOOL: return ((const uint8_t *)p)[i];
    case VM_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case VM_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case VM_DTYPE_UINT64: return (double)((const uint64_t *)p)[i];
    case VM_DTYPE_FLOAT16: return vm_half_to_float(((const uint16_t *)p)[i]);
    case VM_DTYPE_BFLOAT16: return vm_bf16_to_float(((const uint16_t *)p)[i]);
    default: return 0;
    }
}

void vm_fmt_eta(double s, char *buf, size_t len) {
    if (s < 0 || s > 1e7) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void vm_fmt_bytes(double bytes, char *buf, size_t len) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, u++;
    if (u == 0) snprintf(buf, len, "%.0f B", bytes);
    else snprintf(buf, len, "%.1f %s", bytes, units[u]);
}

size_t vm_physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return (size_t)8 << 30; /* unknown: assume a small machine */
    return (size_t)pages * (size_t)page;
}

size_t vm_memory_limit_default(void) { return vm_physical_memory() / 10 * 8; }

bool vm_parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0)) return false;
    double mul = 1;
    if (*end == '%') {
        if (v > 100) return false;
        mul = (double)vm_physical_memory() / 100;
        end++;
    } else if (*end) {
        const char *suffixes = "KMGT";
        const char *p = strchr(suffixes, *end >= 'a' ? *end - 32 : *end);
        if (!p) return false;
        for (const char *q = suffixes; q <= p; q++) mul *= 1024;
        end++;
        if (*end == 'i') end++;
        if (*end == 'B' || *end == 'b') end++;
    }
    if (*end) return false;
    double b = v * mul;
    if (b < 1 || b > 9.0e18) return false;
    *out = (size_t)b;
    return true;
}

enum vm_status vm_check_memory(size_t need, size_t limit, const char *what, struct vm_error *err) {
    if (!limit || need <= limit) return VM_OK;
    char a[32], b[32];
    vm_fmt_bytes((double)need, a, sizeof a);
    vm_fmt_bytes((double)limit, b, sizeof b);
    return vm_errorf(err, VM_EINVAL, "%s needs %s, over the memory limit of %s (--max-memory; the default is 80%% of "
                     "physical memory)", what, a, b);
}

static struct {
    bool on;
    double t0, last, c0, clast;
    char line[1024], cpu[1024];
} marks;

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void marks_print(void) {
    fprintf(stderr, "timings:%s total %.2f (wall ms since main)\n", marks.line, marks.last - marks.t0);
    fprintf(stderr, "cpu_timings:%s total %.2f (process CPU ms, all threads)\n", marks.cpu, marks.clast - marks.c0);
}

void vm_marks_init(void) {
    const char *e = getenv("VMASKC_TIMINGS");
    if (!e || !*e || !strcmp(e, "0")) return;
    marks.on = true;
    marks.t0 = marks.last = clock_ms(CLOCK_MONOTONIC);
    marks.c0 = marks.clast = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    atexit(marks_print);
}

void vm_mark(const char *stage) {
    if (!marks.on) return;
    char key[80];
    snprintf(key, sizeof key, " %s ", stage);
    if (strstr(marks.line, key)) return; /* the first time only (the first batch, the first run) */
    double t = clock_ms(CLOCK_MONOTONIC), c = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    size_t used = strlen(marks.line), cused = strlen(marks.cpu);
    snprintf(marks.line + used, sizeof marks.line - used, " %s %.2f", stage, t - marks.last);
    snprintf(marks.cpu + cused, sizeof marks.cpu - cused, " %s %.2f", stage, c - marks.clast);
    marks.last = t;
    marks.clast = c;
}
