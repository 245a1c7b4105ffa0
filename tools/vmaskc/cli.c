/* cli: shared helpers of the vmaskc subcommands (see cli.h). */
#include "cli.h"
#include "../../runtime/api/train_run.h"
#include "textmodel.h"

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
#include "../../runtime/dist.h"
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

int vm_cli_fail_api(const char *cmd, const vmaskc_error *e) {
    fflush(stdout);
    fprintf(stderr, "vmaskc %s: error: %s\n", cmd, e->message);
    return vm_cli_exit_code((enum vm_status)e->code);
}

enum vm_status vm_cli_api_error(const vmaskc_error *e, struct vm_error *err) {
    err->code = e->code ? (enum vm_status)e->code : VM_EINTERNAL;
    snprintf(err->msg, sizeof err->msg, "%s", e->message);
    return err->code;
}

int vm_cli_dist_setup_done(const char *cmd, const struct vm_error *err) {
    int P = vm_dist_size(), rank = vm_dist_rank();
    if (P < 2) return err->code ? vm_cli_fail(cmd, err) : VM_EXIT_OK;
    struct vm_error *all = malloc(sizeof *all * (size_t)P);
    if (!all) {
        fprintf(stderr, "vmaskc %s: error: process %d of %d: out of memory\n", cmd, rank, P);
        vm_dist_abort(VM_EXIT_RUNTIME); /* the others wait in the gather: stop them */
    }
    struct vm_error mine = *err;
    if (!mine.code) mine.msg[0] = 0;
    vm_dist_allgather(&mine, sizeof mine, all);
    int first = -1, same = 0; /* the lowest failing process; the processes with this one's message */
    bool lower = false;       /* a lower process has it (and prints it) */
    for (int r = 0; r < P; r++) {
        all[r].msg[sizeof all[r].msg - 1] = 0;
        if (all[r].code && first < 0) first = r;
        if (all[r].code && mine.code && !strcmp(all[r].msg, mine.msg)) {
            same++;
            lower |= r < rank;
        }
    }
    int rc = first < 0 ? VM_EXIT_OK : vm_cli_exit_code(all[first].code);
    if (mine.code && !lower) {
        if (same < P) {
            char more[64] = "";
            if (same > 1) snprintf(more, sizeof more, " (and %d other %s)", same - 1, same > 2 ? "processes" : "process");
            vm_error_prefix(&mine, "process %d of %d%s", rank, P, more);
        }
        vm_cli_fail(cmd, &mine);
    }
    free(all);
    return rc;
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

bool vm_cli_is_plan_path(const char *path) { return vm_load_is_plan_path(path); }

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

int vm_text_option(const char *cmd, int argc, char **argv, int *i, struct vm_text_opts *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "--no-lowercase") || !strcmp(a, "--cased")) {
        o->lowercase = 0;
        return 1;
    }
    if (!strcmp(a, "--no-split-punct")) {
        o->split_punct = 0;
        return 1;
    }
    if (!strcmp(a, "--allow-short-vocab")) {
        o->allow_short_vocab = true;
        return 1;
    }
    if (!strcmp(a, "--pairs")) {
        o->pairs = true;
        return 1;
    }
    if (!strcmp(a, "--vocab") || !strcmp(a, "--pad") || !strcmp(a, "--unk") || !strcmp(a, "--tokenizer")) {
        if (*i + 1 >= argc) {
            vm_cli_usage_error(cmd, "%s needs a value", a);
            return -1;
        }
        const char *v = argv[++*i];
        if (!strcmp(a, "--vocab")) o->vocab = v;
        else if (!strcmp(a, "--pad")) o->pad = v;
        else if (!strcmp(a, "--tokenizer")) {
            if (strcmp(v, "words") && strcmp(v, "kim") && strcmp(v, "wordpiece")) {
                vm_cli_usage_error(cmd, "--tokenizer is words, kim or wordpiece, not '%s'", v);
                return -1;
            }
            o->tokenizer = v;
        }
        else o->unk = v;
        return 1;
    }
    int r = vm_cli_data_option(cmd, argc, argv, i, &o->data);
    if (r) return r;
    return vm_cli_model_option(cmd, argc, argv, i, &o->model);
}

void vm_cli_model_args_init(struct vm_cli_model_args *a) {
    memset(a, 0, sizeof *a);
    vm_text_opts_init(&a->text);
    vmaskc_model_options_init(&a->o);
}

int vm_cli_model_args_option(const char *cmd, int argc, char **argv, int *i, struct vm_cli_model_args *a) {
    return vm_text_option(cmd, argc, argv, i, &a->text);
}

void vm_cli_model_args_done(struct vm_cli_model_args *a) {
    const struct vm_text_opts *t = &a->text;
    const struct vm_model_opts *m = &t->model;
    vmaskc_model_options *o = &a->o;
    vmaskc_model_options_init(o);
    o->threads = m->threads;
    o->max_memory = m->max_memory;
    o->vocab = t->vocab;
    o->tokenizer = t->tokenizer;
    o->lowercase = t->lowercase;
    o->embedding = m->embedding;
    o->pad = t->pad;
    o->unk = t->unk;
    o->split_punct = t->split_punct;
    o->allow_short_vocab = t->allow_short_vocab;
    o->reference_kernels = m->ref_kernels;
    o->pairs = t->pairs;
    o->text_pair_column = t->data.text_pair_column;
    o->text_pair_field = t->data.text_pair_field;
    const struct vm_data_opts *d = &t->data;
    o->data = (vmaskc_data_options){.format = d->format == VM_DATA_AUTO ? NULL : vm_data_format_name(d->format),
                                    .text_column = d->text_column,
                                    .label_column = d->label_column,
                                    .header = d->header,
                                    .text_field = d->text_field,
                                    .label_field = d->label_field,
                                    .replace_invalid = d->replace_invalid};
    for (int k = 0; k < m->n_shapes; k++) {
        a->shapes[k].input = m->shapes[k].name;
        a->shapes[k].rank = m->shapes[k].rank;
        memcpy(a->shapes[k].dims, m->shapes[k].dims, sizeof(int64_t) * (size_t)m->shapes[k].rank);
    }
    o->shapes = a->shapes;
    o->n_shapes = m->n_shapes;
    for (int k = 0; k < m->n_input_roles; k++) { /* "NAME=ROLE", checked by the parser */
        const char *spec = m->input_roles[k], *eq = strchr(spec, '=');
        snprintf(a->role_input[k], sizeof a->role_input[k], "%.*s", (int)(eq - spec), spec);
        a->roles[k] = (vmaskc_input_role){a->role_input[k], eq + 1};
    }
    o->input_roles = a->roles;
    o->n_input_roles = m->n_input_roles;
}

/* The loaders are library code now (runtime/api/load.c); these names stay for the commands. */
enum vm_status vm_cli_compile_onnx(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                                   Onnx__ModelProto **model_out, struct vm_graph **g_out, struct vm_error *err) {
    return vm_load_compile_onnx(path, o, fixed, n_fixed, model_out, g_out, err);
}

enum vm_status vm_cli_compile_onnx_training(const char *path, const struct vm_model_opts *o, Onnx__ModelProto **model_out,
                                            struct vm_graph **g_out, struct vm_error *err) {
    return vm_load_compile_onnx_training(path, o, model_out, g_out, err);
}

enum vm_status vm_cli_load_plan(const char *path, const struct vm_rt_opts *ro, struct vm_rt_model **out, struct vm_error *err) {
    return vm_load_plan(path, ro, out, err);
}

enum vm_status vm_cli_load_runtime(const char *path, const struct vm_model_opts *o, const struct vm_tensor *fixed, int n_fixed,
                                   struct vm_rt_model **out, struct vm_error *err) {
    return vm_load_runtime(path, o, fixed, n_fixed, out, err);
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
    return vm_vectors_read_report(path, fmt, v, dim, dim_what, table, found, tok_count, tok_total, tok_what, stdout, err);
}

/* ---- output paths, checked before the work that would fill them ---- */

enum vm_status vm_cli_check_output(const char *path, const char *what, struct vm_error *err) {
    return vm_load_check_output(path, what, err);
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

int vm_cli_data_option(const char *cmd, int argc, char **argv, int *i, struct vm_data_opts *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "--header") || !strcmp(a, "--no-header")) {
        int h = !strcmp(a, "--header") ? 1 : -1;
        if (o->header && o->header != h) {
            vm_cli_usage_error(cmd, "--header and --no-header exclude each other");
            return -1;
        }
        o->header = h;
        return 1;
    }
    if (!strcmp(a, "--replace-invalid")) {
        o->replace_invalid = true;
        return 1;
    }
    if (strcmp(a, "--format") && strcmp(a, "--text-column") && strcmp(a, "--label-column") && strcmp(a, "--text-field") &&
        strcmp(a, "--label-field") && strcmp(a, "--text-pair-column") && strcmp(a, "--text-pair-field"))
        return 0;
    if (*i + 1 >= argc) {
        vm_cli_usage_error(cmd, "%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    if (!*v) {
        vm_cli_usage_error(cmd, "%s needs a non-empty value", a);
        return -1;
    }
    if (!strcmp(a, "--format")) {
        if (!vm_data_parse_format(v, &o->format)) {
            vm_cli_usage_error(cmd, "--format is tsv, csv or jsonl, not '%s'", v);
            return -1;
        }
    } else if (!strcmp(a, "--text-column")) o->text_column = v;
    else if (!strcmp(a, "--label-column")) o->label_column = v;
    else if (!strcmp(a, "--text-field")) o->text_field = v;
    else if (!strcmp(a, "--text-pair-column")) o->text_pair_column = v;
    else if (!strcmp(a, "--text-pair-field")) o->text_pair_field = v;
    else o->label_field = v;
    return 1;
}

enum vm_status vm_cli_check_longest(const struct vm_feeder *f, const struct vm_dataset *d, int64_t batch, struct vm_error *err) {
    return vm_feeder_check_longest(f, d, batch, err);
}
