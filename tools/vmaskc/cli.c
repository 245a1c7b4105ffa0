/* cli: shared helpers of the vmaskc subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../compiler/passes.h"
#include "../../compiler/training.h"

int vm_cli_exit_code(enum vm_status s) {
    switch (s) {
    case VM_OK: return VM_EXIT_OK;
    case VM_EINVAL: case VM_EIO: case VM_EFORMAT: case VM_EUNSUPPORTED: return VM_EXIT_INPUT;
    case VM_EINTERRUPTED: return VM_EXIT_INTERRUPTED;
    default: return VM_EXIT_RUNTIME;
    }
}

int vm_cli_fail(const char *cmd, const struct vm_error *err) {
    fflush(stdout);
    fprintf(stderr, "vmaskc %s: error: %s\n", cmd, err->msg);
    return vm_cli_exit_code(err->code);
}

int vm_cli_usage_error(const char *cmd, const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "vmaskc %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'vmaskc %s --help')\n", cmd);
    return VM_EXIT_USAGE;
}

static volatile int *watch_flag;
static sigset_t watch_set;

static void *watch_thread(void *arg) {
    (void)arg;
    for (int seen = 0;;) {
        int sig;
        if (sigwait(&watch_set, &sig) != 0) continue;
        if (++seen > 1) {
            static const char msg[] = "\nvmaskc: interrupted again; exiting without saving\n";
            if (write(2, msg, sizeof msg - 1) < 0) _exit(VM_EXIT_INTERRUPTED);
            _exit(VM_EXIT_INTERRUPTED);
        }
        *watch_flag = 1;
    }
    return NULL;
}

void vm_cli_watch_interrupts(volatile int *flag) {
    if (watch_flag) return;
    watch_flag = flag;
    sigemptyset(&watch_set);
    sigaddset(&watch_set, SIGINT);
    sigaddset(&watch_set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &watch_set, NULL) != 0) return;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, watch_thread, NULL) != 0) pthread_sigmask(SIG_UNBLOCK, &watch_set, NULL);
    pthread_attr_destroy(&attr);
}

bool vm_cli_streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

bool vm_cli_parse_int(const char *s, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool vm_cli_parse_double(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool vm_cli_is_plan_path(const char *path) {
    size_t n = strlen(path);
    return n >= 7 && strcmp(path + n - 7, ".vmplan") == 0;
}

int vm_cli_model_option(const char *cmd, int argc, char **argv, int *i, struct vm_model_opts *o) {
    const char *a = argv[*i];
    if (vm_cli_streq(a, "--embedding") || vm_cli_streq(a, "--shape") || vm_cli_streq(a, "--threads") ||
        vm_cli_streq(a, "--max-memory") || vm_cli_streq(a, "--input-role")) {
        if (*i + 1 >= argc) {
            vm_cli_usage_error(cmd, "%s needs a value", a);
            return -1;
        }
        const char *v = argv[++*i];
        if (vm_cli_streq(a, "--embedding")) {
            o->embedding = v;
        } else if (vm_cli_streq(a, "--threads")) {
            long long t;
            if (!vm_cli_parse_int(v, &t) || t < 1 || t > 1024) {
                vm_cli_usage_error(cmd, "--threads needs a positive integer, got '%s'", v);
                return -1;
            }
            o->threads = (int)t;
        } else if (vm_cli_streq(a, "--input-role")) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !vm_role_name_valid(eq + 1) || o->n_input_roles >= 8) {
                vm_cli_usage_error(cmd, "--input-role needs NAME=ROLE with ROLE one of ids, mask, types, positions, got '%s'", v);
                return -1;
            }
            o->input_roles[o->n_input_roles++] = argv[*i];
        } else if (vm_cli_streq(a, "--max-memory")) {
            if (!vm_parse_size(v, &o->max_memory)) {
                vm_cli_usage_error(cmd, "--max-memory needs a size such as 4G, 512M or 50%%, got '%s'", v);
                return -1;
            }
        } else {
            /* NAME=D0,D1,... */
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || o->n_shapes >= 16) {
                vm_cli_usage_error(cmd, "--shape needs NAME=D0,D1,..., got '%s'", v);
                return -1;
            }
            struct vm_shape_override *so = &o->shapes[o->n_shapes];
            char *name = o->shape_names[o->n_shapes];
            if ((size_t)(eq - v) >= sizeof o->shape_names[0]) {
                vm_cli_usage_error(cmd, "--shape: input name too long");
                return -1;
            }
            memcpy(name, v, (size_t)(eq - v));
            name[eq - v] = 0;
            so->name = name;
            so->rank = 0;
            const char *p = eq + 1;
            while (*p) {
                char *end;
                long long d = strtoll(p, &end, 10);
                if (end == p || d < 0 || so->rank >= VM_MAX_RANK || (*end && *end != ',' && *end != 'x')) {
                    vm_cli_usage_error(cmd, "--shape %s: dims must be non-negative integers separated by commas", v);
                    return -1;
                }
                so->dims[so->rank++] = d;
                p = *end ? end + 1 : end;
            }
            o->n_shapes++;
        }
        return 1;
    }
    if (vm_cli_streq(a, "--reference-kernels")) {
        o->ref_kernels = true;
        return 1;
    }
    return 0;
}

static struct {
    bool on;
    int n;
    double t0, last, c0, clast;
    char line[1024], cpu[1024];
} timings;

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void timings_print(void) {
    fprintf(stderr, "timings:%s total %.2f (wall ms since main)\n", timings.line, timings.last - timings.t0);
    fprintf(stderr, "cpu_timings:%s total %.2f (process CPU ms, all threads)\n", timings.cpu, timings.clast - timings.c0);
}

void vm_cli_timings_init(void) {
    const char *e = getenv("VMASKC_TIMINGS");
    if (!e || !*e || !strcmp(e, "0")) return;
    timings.on = true;
    timings.t0 = timings.last = clock_ms(CLOCK_MONOTONIC);
    timings.c0 = timings.clast = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    atexit(timings_print);
}

void vm_cli_mark(const char *stage) {
    if (!timings.on) return;
    double t = clock_ms(CLOCK_MONOTONIC), c = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    size_t used = strlen(timings.line), cused = strlen(timings.cpu);
    snprintf(timings.line + used, sizeof timings.line - used, " %s %.2f", stage, t - timings.last);
    snprintf(timings.cpu + cused, sizeof timings.cpu - cused, " %s %.2f", stage, c - timings.clast);
    timings.last = t;
    timings.clast = c;
}

enum vm_status vm_cli_compile_onnx(const char *path, const struct vm_model_opts *o,
                                   const struct vm_tensor *fixed, int n_fixed,
                                   Onnx__ModelProto **model_out, struct vm_graph **g_out,
                                   struct vm_error *err) {
    *g_out = NULL;
    if (model_out) *model_out = NULL;
    Onnx__ModelProto *m = vm_onnx_load_model(path, err);
    if (!m) return err->code;
    vm_cli_mark("read");
    struct vm_import_opts io = {.shapes = o ? o->shapes : NULL, .n_shapes = o ? o->n_shapes : 0, .fixed = fixed, .n_fixed = n_fixed,
                                .model_path = path, .borrow_initializers = model_out != NULL};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, err);
    if (!s) s = vm_infer_graph(g, err);
    if (!s) s = vm_pass_inference_cleanup(g, err);
    if (!s) s = vm_pass_optimize(g, err);
    vm_cli_mark("import");
    if (s) {
        vm_graph_free(g);
        vm_onnx_free_model(m);
        return vm_error_prefix(err, "%s", path);
    }
    *g_out = g;
    if (model_out) *model_out = m;
    else vm_onnx_free_model(m);
    return VM_OK;
}

enum vm_status vm_cli_compile_onnx_training(const char *path, const struct vm_model_opts *o,
                                            Onnx__ModelProto **model_out, struct vm_graph **g_out,
                                            struct vm_error *err) {
    *g_out = NULL;
    *model_out = NULL;
    Onnx__ModelProto *m = vm_onnx_load_model(path, err);
    if (!m) return err->code;
    struct vm_import_opts io = {.shapes = o ? o->shapes : NULL, .n_shapes = o ? o->n_shapes : 0, .model_path = path,
                                .borrow_initializers = true};
    struct vm_graph *g = NULL;
    enum vm_status s = vm_import(m, &io, &g, err);
    if (!s) s = vm_infer_graph(g, err);
    if (!s) s = vm_pass_optimize(g, err);
    if (s) {
        vm_graph_free(g);
        vm_onnx_free_model(m);
        return vm_error_prefix(err, "%s", path);
    }
    *g_out = g;
    *model_out = m;
    return VM_OK;
}

enum vm_status vm_cli_load_plan(const char *path, const struct vm_rt_opts *ro, struct vm_rt_model **out, struct vm_error *err) {
    uint8_t *buf;
    size_t len;
    if (vm_file_read(path, &buf, &len, err)) return err->code;
    enum vm_status s = vm_plan_verify(buf, len, path, err);
    if (!s) s = vm_rt_model_from_buffer(out, buf, len, path, ro, err);
    free(buf);
    return s;
}

enum vm_status vm_cli_load_runtime(const char *path, const struct vm_model_opts *o,
                                   const struct vm_tensor *fixed, int n_fixed,
                                   struct vm_rt_model **out, struct vm_error *err) {
    struct vm_rt_opts ro = {.threads = o ? o->threads : 0, .ref_kernels = o && o->ref_kernels,
                            .max_memory = o ? o->max_memory : 0};
    if (vm_cli_is_plan_path(path)) return vm_cli_load_plan(path, &ro, out, err);
    struct vm_graph *g;
    Onnx__ModelProto *m; /* kept until the plan is emitted: the graph borrows its weights */
    enum vm_status s = vm_cli_compile_onnx(path, o, fixed, n_fixed, &m, &g, err);
    if (s) return s;
    uint8_t *buf;
    size_t len;
    s = vm_emit_plan(g, path, &buf, &len, err);
    vm_graph_free(g);
    vm_onnx_free_model(m);
    if (s) return s;
    vm_cli_mark("emit");
    s = vm_rt_model_from_buffer(out, buf, len, path, &ro, err);
    free(buf);
    vm_cli_mark("runtime");
    return s;
}

double vm_cli_pearson_freq(const int64_t *freq, const float *q, int64_t n, int64_t *m_out) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        double x = (double)freq[k], y = q[k];
        if (x <= 0 || !isfinite(y)) continue;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
        m++;
    }
    if (m_out) *m_out = m;
    if (m < 2) return NAN;
    double cov = sxy - sx * sy / (double)m, vx = sxx - sx * sx / (double)m, vy = syy - sy * sy / (double)m;
    return vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : NAN;
}

enum vm_status vm_cli_read_vectors(const char *path, enum vm_vectors_format fmt, const struct vm_vocab *v, int32_t dim,
                                   const char *dim_what, float *table, uint8_t *found, const int64_t *tok_count,
                                   int64_t tok_total, const char *tok_what, struct vm_error *err) {
    struct vm_vectors_opts o = {.format = fmt, .dim = dim, .dim_what = dim_what, .progress = stderr,
                                .progress_tty = isatty(fileno(stderr)) != 0};
    struct vm_vectors_info info;
    fflush(stdout);
    if (vm_vectors_read(path, v, &o, table, found, &info, err)) return err->code;
    int32_t hit = info.n_exact + info.n_lower;
    printf("vectors: %s (%s%s, %lld x %d): %d of %d vocabulary words found (%.1f%%; %d exact, %d lower-cased)", path,
           info.format == VM_VECTORS_BINARY ? "word2vec binary" : info.header ? "word2vec/fastText text" : "GloVe text",
           info.header ? "" : ", no header", (long long)info.rows, info.dim, hit, info.n_words,
           info.n_words ? 100.0 * hit / info.n_words : 0.0, info.n_exact, info.n_lower);
    if (tok_count && tok_total > 0) {
        int64_t cov = 0;
        for (int32_t id = 0; id < v->n; id++)
            if (found[id] != VM_VECTOR_MISSING) cov += tok_count[id];
        printf("; %.1f%% of the %lld tokens of %s", 100.0 * (double)cov / (double)tok_total, (long long)tok_total, tok_what);
    }
    printf("\n");
    return VM_OK;
}

/* ---- output paths, checked before the work that would fill them ---- */

/* The folder part of path ("." when it has none) into buf. */
static void parent_dir(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, cap, ".");
    else if (slash == path) snprintf(buf, cap, "/");
    else snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

enum vm_status vm_cli_check_output(const char *path, const char *what, struct vm_error *err) {
    struct stat st;
    char dir[4096];
    if (!path || !*path) return vm_errorf(err, VM_EINVAL, "%s: empty path", what);
    if (!stat(path, &st)) {
        if (S_ISDIR(st.st_mode)) return vm_errorf(err, VM_EIO, "%s '%s' is a folder, not a file", what, path);
        if (access(path, W_OK)) return vm_errorf(err, VM_EIO, "%s '%s' cannot be written: %s", what, path, strerror(errno));
        return VM_OK;
    }
    parent_dir(path, dir, sizeof dir);
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return vm_errorf(err, VM_EIO, "%s '%s' cannot be written: the folder '%s' does not exist", what, path, dir);
    if (access(dir, W_OK | X_OK)) return vm_errorf(err, VM_EIO, "%s '%s' cannot be written in '%s': %s", what, path, dir, strerror(errno));
    return VM_OK;
}

enum vm_status vm_cli_prepare_dir(const char *dir, bool force, bool *created, struct vm_error *err) {
    struct stat st;
    *created = false;
    if (!stat(dir, &st)) {
        if (!S_ISDIR(st.st_mode)) return vm_errorf(err, VM_EIO, "report folder '%s' exists and is not a folder", dir);
        if (!force) return vm_errorf(err, VM_EIO, "report folder '%s' exists: give --force to replace its files, or another folder", dir);
        if (access(dir, W_OK | X_OK)) return vm_errorf(err, VM_EIO, "report folder '%s' cannot be written: %s", dir, strerror(errno));
        return VM_OK;
    }
    enum vm_status s = vm_cli_mkdirs(dir, err);
    *created = !s;
    return s;
}

enum vm_status vm_cli_mkdirs(const char *dir, struct vm_error *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return vm_errorf(err, VM_EIO, "cannot create folder '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return vm_errorf(err, VM_EIO, "cannot create folder '%s': %s", dir, strerror(errno));
    struct stat st;
    if (stat(tmp, &st) || !S_ISDIR(st.st_mode)) return vm_errorf(err, VM_EIO, "'%s' is not a folder", dir);
    return VM_OK;
}
