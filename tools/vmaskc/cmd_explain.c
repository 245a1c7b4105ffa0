/* explain / compare: post-hoc explanations of exported text classifiers and the paper's
 * interpretability numbers (Chen & Ji 2020, section 5).
 *   vmaskc explain MODEL --data FILE [--method lime|shapley|mask|all] [--limit N] [--report DIR] ...
 *   vmaskc compare A.onnx B.onnx [C.onnx ...] --data test.tsv [--limit N] [--report DIR] [--seed S]
 * The algorithms live in runtime/explain.c; this file selects the examples, runs every method on
 * every example for every model, aggregates AOPC and post-hoc accuracy, prints the tables and
 * writes explanations.jsonl, summary.jsonl, summary.csv, aopc.csv, posthoc.csv, splime.csv and
 * report.html (tools/vmaskc/report.h). compare takes any number of models of one task (the paper's
 * base, l2, L2X, IBA and VMASK) and adds the test accuracy of Table 3 and SP-LIME's words of Table 6.
 *
 * Units: printed tables are in percent (as the paper's Table 4 and Figure 1); the CSV files and
 * the report records hold fractions in [0, 1].
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../runtime/dist.h"
#include "../../runtime/vmaskc.h"
#include "cli.h"
#include "progress.h"
#include "report.h"

static const char *const METHOD_KEY[N_METHODS] = {"lime", "shapley", "mask", "random", "frequency"};
static const char *const METHOD_NAME[N_METHODS] = {"LIME", "SampleShapley", "mask q", "random order", "frequency order"};

/* The symbol of a training method's per-word importance (VMASK's q, IBA's lambda, L2X's score). */
static const char *importance_symbol(const char *training) {
    if (training && !strcmp(training, "iba")) return "\xce\xbb";
    if (training && !strcmp(training, "l2x")) return "score";
    return "q";
}

#define MAX_K 1000      /* post-hoc k */

static volatile int interrupted;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sb_json_str(struct sbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') sb_printf(b, "\\%c", *c);
        else if (*c == '\n') sb_printf(b, "\\n");
        else if (*c == '\t') sb_printf(b, "\\t");
        else if (*c == '\r') sb_printf(b, "\\r");
        else if (*c < 0x20) sb_printf(b, "\\u%04x", *c);
        else sb_printf(b, "%c", *c);
    }
    sb_printf(b, "\"");
}

static void sb_json_num(struct sbuf *b, double v) {
    if (isfinite(v)) sb_printf(b, "%.7g", v);
    else sb_printf(b, "null");
}

/* ---- options ---- */

struct xcfg {
    const char *cmd;
    const char *data, *report, *importance, *corpus;
    uint64_t seed;
    int32_t samples;      /* LIME */
    double kernel_width;
    int32_t permutations;
    int32_t K;        /* AOPC deletion steps */
    int32_t kmax;     /* post-hoc accuracy k = 1..kmax */
    int32_t batch;
    int32_t max_len;
    int64_t limit;    /* 0 = all */
    bool method[N_METHODS];
    bool method_given;
    int posthoc;      /* -1 when available, 0 off, 1 required */
    int threads;
    bool profile;     /* per-op time of the model runs */
    char threads_str[16];
    /* AOPC variants (the ablation study; the defaults follow interpretability.md §3) */
    int removal;      /* 0 delete, 1 pad in place, 2 unknown-word token in place (vmaskc_aopc_removal) */
    bool aopc_single; /* step k removes the k-th word alone */
    bool aopc_logodds;
    bool aopc_by_k;   /* divide by K instead of K + 1 */
    bool gold;        /* explain and measure the gold class instead of the predicted one */
    bool force;       /* --force: an existing --report folder gets its files replaced */
    bool resume;      /* --resume: continue from the --report folder's progress.bin */
    bool pairs_forced; /* --pairs: every model reads sentence pairs */
};

static const char *const REMOVAL_NAME[] = {"delete", "pad", "unk"};

/* ---- one model ---- */

struct xmodel {
    const char *path, *name;
    const char *training;  /* how it was trained (vm_text_model_method): base, l2, l2x, iba, vmask; NULL unknown */
    char label[512];       /* compare: its name in the tables (the method, plus the file when two share it) */
    double acc_all;        /* accuracy on every text of --data (Table 3) */
    vmaskc_model *m;         /* the model (runtime/vmaskc.h) */
    int32_t vocab_n;         /* its vocabulary's size */
    bool wordpiece;          /* WordPiece: its features are whole words */
    bool named;              /* it has class names (vmaskc.labels) */
    int n_classes;
    int64_t texts_run, runs;  /* the model's inputs and runs: the explanations (vmaskc_measure) and Table 3's accuracy */
    vmaskc_dataset *data;   /* --data as this model reads it */
    double *imp;           /* [vocab.n] global importance per id (NAN = unknown), NULL = none */
    int64_t *id_freq;      /* [vocab.n] occurrences of each id in --corpus (or --data), NULL = not needed */
    char imp_src[1100];
    bool own_importance;   /* imp is this model's own (q or TSV): shown in the report */
    bool method[N_METHODS];
    bool posthoc;
    struct xex *ex;        /* [n_sel] */
    int64_t done;          /* examples finished */
    double secs[N_METHODS];
    int64_t passes[N_METHODS];
    int64_t n_explained[N_METHODS];
    /* what progress.bin has recorded of the above: the next record carries the difference */
    double ck_secs[N_METHODS];
    int64_t ck_passes[N_METHODS], ck_texts, ck_runs;
    /* report storage */
    struct vm_report_example *rex;
    double *aopc_curve[N_METHODS];
    double *posthoc_curve;
    const char **words;
    float *word_q;
    int64_t *word_freq;
    int64_t n_words;
    double pearson;
    vmaskc_whole_words *whole; /* WordPiece: the whole words behind words / word_q / word_freq */
    /* SP-LIME post-hoc global words (Table 6): each word's LIME weights summed over the explained
     * texts, weight descending (splime()); the words point into the vocabulary or the examples */
    struct vm_report_word *sp;
    int64_t n_sp;
};

static void xmodel_free(struct xmodel *xm, int64_t n_sel) {
    if (xm->ex)
        for (int64_t i = 0; i < n_sel; i++) xex_free(&xm->ex[i]);
    free(xm->ex);
    free(xm->imp);
    free(xm->rex);
    for (int m = 0; m < N_METHODS; m++) free(xm->aopc_curve[m]);
    free(xm->posthoc_curve);
    free(xm->words);
    free(xm->word_q);
    free(xm->word_freq);
    free(xm->id_freq);
    vmaskc_whole_words_free(xm->whole);
    free(xm->sp);
    vmaskc_dataset_free(xm->data);
    vmaskc_model_close(xm->m);
    memset(xm, 0, sizeof *xm);
}

/* ---- global importance ---- */

/* word<TAB>score lines (a header line whose score is not a number is skipped, more columns are
 * ignored: `vmaskc words --tsv` output works as is). Words missing from the file rank below every
 * listed word. */
static enum vm_status load_importance_tsv(const char *path, const struct xmodel *xm, double **out, struct vm_error *err) {
    uint8_t *data;
    size_t len;
    enum vm_status s = vm_file_read(path, &data, &len, err);
    if (s) return s;
    double *imp = vm_malloc(sizeof(double) * (size_t)xm->vocab_n, err);
    if (!imp) {
        free(data);
        return VM_ENOMEM;
    }
    for (int32_t i = 0; i < xm->vocab_n; i++) imp[i] = NAN;
    int64_t line = 0, known = 0, listed = 0;
    char *p = (char *)data, *end = p + len;
    while (p < end && !s) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        if (le > p && le[-1] == '\r') le[-1] = 0;
        *le = 0; /* at the end of the file this is vm_file_read's terminating NUL */
        if (*p && *p != '#') {
            char *tab = strchr(p, '\t');
            char *num_end = NULL;
            double score = tab ? strtod(tab + 1, &num_end) : NAN;
            bool ok = tab && num_end != tab + 1 && (*num_end == 0 || *num_end == '\t') && isfinite(score);
            if (!ok && line == 1) {
                /* header */
            } else if (!ok) {
                s = vm_errorf(err, VM_EINVAL, "%s:%lld: expected 'word<TAB>score'", path, (long long)line);
            } else {
                *tab = 0;
                listed++;
                int32_t id = -1;
                vmaskc_model_token_id(xm->m, p, &id, NULL);
                if (id >= 0) {
                    imp[id] = score;
                    known++;
                }
            }
        }
        p = nl ? nl + 1 : end;
    }
    free(data);
    if (!s && listed == 0) s = vm_errorf(err, VM_EINVAL, "%s lists no words", path);
    if (!s && known == 0)
        s = vm_errorf(err, VM_EINVAL, "none of the %lld words in %s is in the model's vocabulary: the importance file does not belong to this model",
                      (long long)listed, path);
    if (s) {
        free(imp);
        return s;
    }
    *out = imp;
    return VM_OK;
}

/* ---- running one model over the selected examples ---- */

/* The library's explanation of one example under this model's settings (vmaskc_measure), moved into
 * e; its numbers are those explain has always printed (the same code). */
static void take_measurement(const struct xcfg *c, struct xmodel *xm, vmaskc_measurement *x, bool wordpiece, struct xex *e) {
    e->n = x->n;
    e->ids = x->ids;
    e->tokens = x->tokens;
    x->ids = NULL;
    x->tokens = NULL;
    if (wordpiece) { /* a word vocabulary: every token is a word, nothing more to keep */
        e->word_of = x->word;
        e->n_words = x->n_words;
        e->words = x->words;
        x->word = NULL;
        x->words = NULL;
    }
    e->probs = x->probs;
    x->probs = NULL;
    e->pred = x->predicted;
    for (int m = 0; m < N_METHODS; m++) {
        const vmaskc_method_result *r = &x->method[m];
        if (!xm->method[m] || !r->score) continue;
        for (int32_t i = 0; i < e->n; i++) e->w[m][i] = (float)r->score[i];
        for (int32_t w = 0; wordpiece && w < e->n_words; w++) e->ww[m][w] = (float)r->word_score[w];
        memcpy(e->delta[m], r->aopc_delta, sizeof e->delta[m]);
        e->steps[m] = r->aopc_steps;
        xm->secs[m] += r->seconds;
        xm->passes[m] += r->texts_run;
        xm->n_explained[m]++;
    }
    e->lime_intercept = x->lime_intercept;
    e->lime_score = x->lime_score;
    e->lime_d = x->lime_features;
    e->lime_seed = x->method[M_LIME].seed;
    e->shap_seed = x->method[M_SHAP].seed;
    e->match = x->posthoc_match;
    x->posthoc_match = NULL;
    xm->texts_run += x->texts_run;
    xm->runs += x->runs;
    (void)c;
}

static enum vm_status explain_one(const struct xcfg *c, struct xmodel *xm, int64_t index, struct xex *e, struct vm_error *err) {
    const char *text = xm->data->texts[index];
    bool wordpiece = xm->wordpiece;
    /* nothing to explain: named by the example, before any work */
    vmaskc_tokens *t;
    vmaskc_error ae;
    if (vmaskc_tokenize(xm->m, text, c->max_len, &t, &ae)) return vm_cli_api_error(&ae, err);
    bool words = false;
    for (int32_t i = 0; i < t->n && !words; i++) words = t->word[i] >= 0;
    int32_t n = t->n;
    vmaskc_tokens_free(t);
    if (n == 0)
        return vm_errorf(err, VM_EINVAL, "%s: example %lld (index %lld, \"%.60s\") has no tokens the model knows: nothing to explain", c->data,
                         (long long)index + 1, (long long)index, text);
    if (wordpiece && !words)
        return vm_errorf(err, VM_EINVAL, "%s: example %lld (index %lld) has no words between [CLS] and [SEP]: nothing to explain", c->data,
                         (long long)index + 1, (long long)index);
    vmaskc_measure_options o;
    vmaskc_measure_options_init(&o);
    o.methods = 0;
    for (int m = 0; m < N_METHODS; m++)
        if (xm->method[m]) o.methods |= 1u << m;
    /* the explained class: the prediction (the paper, Nguyen 2018), or the gold label (--explain-class gold) */
    o.target = c->gold ? xm->data->labels[index] : -1;
    o.seed = vmaskc_explain_seed(c->seed, index);
    o.samples = c->samples;
    o.kernel_width = c->kernel_width;
    o.permutations = c->permutations;
    o.max_len = c->max_len;
    o.batch = c->batch;
    o.aopc_k = c->K;
    o.aopc_removal = (vmaskc_aopc_removal)c->removal;
    o.aopc_single = c->aopc_single;
    o.aopc_logodds = c->aopc_logodds;
    o.importance = xm->imp;
    o.frequency = xm->id_freq;
    o.posthoc_k = xm->posthoc ? c->kmax : 0;
    vmaskc_measurement *x;
    if (vmaskc_measure(xm->m, text, &o, &x, &ae)) return vm_cli_api_error(&ae, err);
    enum vm_status s = VM_OK;
    for (int m = 0; m < N_METHODS && !s; m++) {
        if (!xm->method[m]) continue;
        e->w[m] = vm_malloc(sizeof(float) * (size_t)x->n, err);
        if (wordpiece) e->ww[m] = vm_malloc(sizeof(float) * (size_t)(x->n_words > 0 ? x->n_words : 1), err);
        if (!e->w[m] || (wordpiece && !e->ww[m])) s = VM_ENOMEM;
    }
    if (!s) take_measurement(c, xm, x, wordpiece, e);
    vmaskc_measurement_free(x);
    return s;
}

static enum vm_status gather_model(const struct xcfg *c, struct xmodel *xm, int64_t n_sel, struct vm_error *err);
struct ckpt;
static enum vm_status ckpt_append(struct ckpt *ck, const struct xcfg *c, struct xmodel *xm, int which, int64_t i, struct vm_error *err);

static enum vm_status run_model(const struct xcfg *c, struct xmodel *xm, const int64_t *sel, int64_t n_sel, int which, int n_models,
                                struct ckpt *ck, struct vm_error *err) {
    bool tty = isatty(fileno(stderr)), lead = vm_dist_rank() == 0;
    int P = vm_dist_size();
    double t0 = now_s(), last = 0;
    int64_t fresh = 0, texts0 = xm->texts_run, resumed = 0;
    for (int64_t i = vm_dist_rank(); i < n_sel; i += P) resumed += xm->ex[i].ids != NULL;
    if (lead && resumed)
        fprintf(stderr, "%s: model %d/%d (%s): %lld of %lld examples read back from %s/progress.bin%s\n", c->cmd, which + 1, n_models, xm->name,
                (long long)resumed, (long long)n_sel, c->report, resumed == n_sel ? " (all)" : "");
    for (int64_t i = vm_dist_rank(); i < n_sel; i += P) { /* several processes: every P-th text */
        if (interrupted)
            return vm_errorf(err, VM_EINTERRUPTED, "interrupted with model %d/%d (%s) after %lld of %lld examples", which + 1, n_models, xm->name,
                             (long long)i, (long long)n_sel);
        if (xm->ex[i].ids) { /* explained by an earlier run (--resume) */
            xm->done = i + 1;
            continue;
        }
        enum vm_status s = explain_one(c, xm, sel[i], &xm->ex[i], err);
        if (s) return vm_error_prefix(err, "%s", xm->name);
        if (ck && (s = ckpt_append(ck, c, xm, which, i, err))) return s;
        xm->done = i + 1;
        fresh++;
        double now = now_s();
        if (lead && (now - last > (tty ? 0.25 : 30.0) || i + P >= n_sel)) {
            last = now;
            double rate = (double)fresh / (now - t0);
            char eta[32];
            int64_t left = 0;
            for (int64_t j = i + P; j < n_sel; j += P) left += xm->ex[j].ids == NULL;
            vm_fmt_eta((double)left * (double)P / rate, eta, sizeof eta);
            fprintf(stderr, "%s%s: model %d/%d (%s)  %lld/%lld examples  %.2f ex/s  %.0f texts/s  ETA %s%s", tty ? "\r\033[K" : "", c->cmd,
                    which + 1, n_models, xm->name, (long long)(i + 1), (long long)n_sel, rate * P,
                    (double)(xm->texts_run - texts0) * P / (now - t0), eta, tty ? "" : "\n");
            fflush(stderr);
        }
    }
    if (tty && lead && fresh) fprintf(stderr, "\n");
    return P > 1 ? gather_model(c, xm, n_sel, err) : VM_OK;
}

/* ---- several processes (mpirun): each explains every P-th text, process 0 gathers them ----
 * An example's results travel as bytes in a fixed field order; process 0 unpacks them into the
 * slots a single process would have filled, so everything after (tables, report) is the same. */

/* Process 0 ends with every example of xm as one process would have it; the time and forward
 * passes are summed over processes. */
static enum vm_status gather_model(const struct xcfg *c, struct xmodel *xm, int64_t n_sel, struct vm_error *err) {
    int P = vm_dist_size(), rank = vm_dist_rank();
    int64_t C = xm->n_classes;
    struct sbuf b = {0};
    for (int64_t i = rank; rank > 0 && i < n_sel; i += P) xex_pack(&b, &xm->ex[i], C, c->kmax);
    void *all = NULL;
    size_t len = 0;
    bool ok = !b.oom && vm_dist_gatherv(b.p, b.n, 0, &all, &len);
    free(b.p);
    if (!ok) return vm_errorf(err, VM_ENOMEM, "out of memory gathering the explanations of %s", xm->name);
    double t[3 * N_METHODS];
    for (int m = 0; m < N_METHODS; m++) {
        t[m] = xm->secs[m];
        t[N_METHODS + m] = (double)xm->passes[m];
        t[2 * N_METHODS + m] = (double)xm->n_explained[m];
    }
    vm_dist_sum_f64(t, 3 * N_METHODS);
    for (int m = 0; m < N_METHODS; m++) {
        xm->secs[m] = t[m];
        xm->passes[m] = (int64_t)t[N_METHODS + m];
        xm->n_explained[m] = (int64_t)t[2 * N_METHODS + m];
    }
    if (rank == 0) {
        const uint8_t *p = all, *end = p + len;
        bool good = true;
        for (int r = 1; r < P && good; r++)
            for (int64_t i = r; i < n_sel && good; i += P) good = xex_unpack(&p, end, &xm->ex[i], C, c->kmax);
        if (!good || p != end) {
            free(all);
            return vm_errorf(err, VM_EINVAL, "the explanations gathered from the other processes for %s do not parse", xm->name);
        }
    }
    free(all);
    xm->done = n_sel;
    return VM_OK;
}

/* ---- progress.bin: every finished example, so that an interrupted run continues (--resume) ----
 * With --report DIR, each example is appended to DIR/progress.bin as soon as it is explained (the
 * bytes xex_pack writes for mpirun, progress.h), after a header that names everything its numbers depend on:
 * the command, the data (its text's FNV-1a hash: a .gz decompressed) and the models (their bytes'), the selection and every
 * method setting. --resume reads the examples back when the header is the same, and names the
 * first line that differs when it is not. A record cut short by a kill is dropped (and cut off).
 * --threads and --batch are not in the header: they change how fast, not what. */

struct ckpt {
    FILE *f;
    int64_t records; /* examples it holds */
    bool created;    /* by this run: removed again when it ends without an example */
    char *header;
    char path[4200];
};

/* FNV-1a of what a reader of the file sees: a gzip file's text, not its compressed bytes (the same
 * data compressed again, with another name or time in its header, is the same data); zlib reads a
 * plain file as it is. */
static enum vm_status file_hash(const char *path, uint64_t *out, struct vm_error *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) return vm_errorf(err, VM_EIO, "cannot read %s: %s", path, strerror(errno));
    uint64_t h = VM_FNV1A_INIT;
    uint8_t buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) h = vm_fnv1a(h, buf, (size_t)n);
    int zerr = 0;
    const char *msg = n < 0 ? gzerror(f, &zerr) : NULL;
    gzclose(f);
    if (n < 0) return vm_errorf(err, VM_EIO, "cannot read %s: %s", path, zerr == Z_ERRNO ? strerror(errno) : msg);
    *out = h;
    return VM_OK;
}

/* One "key value" line per setting the results depend on. */
static enum vm_status ckpt_header(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel,
                                  struct sbuf *b, struct vm_error *err) {
    uint64_t h;
    enum vm_status s;
    sb_printf(b, "%s", PROGRESS_MAGIC);
    sb_printf(b, "command %s\n", c->cmd);
    if ((s = file_hash(c->data, &h, err))) return s;
    sb_printf(b, "data %016llx\n", (unsigned long long)h);
    if (c->corpus) {
        if ((s = file_hash(c->corpus, &h, err))) return s;
        sb_printf(b, "corpus %016llx\n", (unsigned long long)h);
    }
    if (c->importance) {
        if ((s = file_hash(c->importance, &h, err))) return s;
        sb_printf(b, "importance %016llx\n", (unsigned long long)h);
    }
    h = vm_fnv1a(VM_FNV1A_INIT, sel, sizeof *sel * (size_t)n_sel);
    sb_printf(b, "examples %lld of %lld, seed %llu, selection %016llx\n", (long long)n_sel, (long long)xms[0]->data->n, (unsigned long long)c->seed,
              (unsigned long long)h);
    sb_printf(b, "max-len %d\n", c->max_len);
    sb_printf(b, "lime samples %d, kernel width %.17g\n", c->samples, c->kernel_width);
    sb_printf(b, "shapley permutations %d\n", c->permutations);
    sb_printf(b, "aopc k %d, removal %s, steps %s, norm %s, score %s, class %s\n", c->K, REMOVAL_NAME[c->removal], c->aopc_single ? "single" : "cumulative",
              c->aopc_by_k ? "k" : "k+1", c->aopc_logodds ? "logodds" : "prob", c->gold ? "gold" : "predicted");
    sb_printf(b, "posthoc k %d\n", c->kmax);
    for (int k = 0; k < n_models; k++) {
        if ((s = file_hash(xms[k]->path, &h, err))) return s;
        sb_printf(b, "model %d %016llx methods", k + 1, (unsigned long long)h);
        for (int m = 0; m < N_METHODS; m++)
            if (xms[k]->method[m]) sb_printf(b, " %s", METHOD_KEY[m]);
        /* post-hoc accuracy ranks by this importance: it is part of every example's result */
        uint64_t hi = xms[k]->imp ? vm_fnv1a(VM_FNV1A_INIT, xms[k]->imp, sizeof(double) * (size_t)xms[k]->vocab_n) : 0;
        sb_printf(b, ", posthoc %s %016llx\n", xms[k]->posthoc ? "yes" : "no", (unsigned long long)hi);
    }
    sb_printf(b, "end\n");
    return b->oom ? vm_errorf(err, VM_ENOMEM, "out of memory") : VM_OK;
}

static enum vm_status ckpt_append(struct ckpt *ck, const struct xcfg *c, struct xmodel *xm, int which, int64_t i, struct vm_error *err) {
    struct sbuf b = {0};
    xex_pack(&b, &xm->ex[i], xm->n_classes, c->kmax);
    if (b.oom || b.n > UINT32_MAX) {
        free(b.p);
        return vm_errorf(err, VM_ENOMEM, "out of memory writing %s", ck->path);
    }
    /* the time and forward passes of this example, per method: what the report's cost table sums */
    struct progress_record r = {.model = which, .index = i, .texts = xm->texts_run - xm->ck_texts, .runs = xm->runs - xm->ck_runs};
    for (int m = 0; m < N_METHODS; m++) {
        r.secs[m] = xm->secs[m] - xm->ck_secs[m];
        r.passes[m] = xm->passes[m] - xm->ck_passes[m];
    }
    bool ok = progress_write(ck->f, &r, (const uint8_t *)b.p, (uint32_t)b.n);
    free(b.p);
    if (!ok) return vm_errorf(err, VM_EIO, "cannot write %s: %s", ck->path, strerror(errno));
    ck->records++;
    memcpy(xm->ck_secs, xm->secs, sizeof xm->secs);
    memcpy(xm->ck_passes, xm->passes, sizeof xm->passes);
    xm->ck_texts = xm->texts_run;
    xm->ck_runs = xm->runs;
    return VM_OK;
}

/* Opens DIR/progress.bin: with --resume, reads back the examples of a run with the same header;
 * otherwise (or when there is none) starts it anew. */
static enum vm_status ckpt_open(struct ckpt *ck, const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel,
                                struct vm_error *err) {
    struct sbuf hb = {0};
    enum vm_status s = ckpt_header(c, xms, n_models, sel, n_sel, &hb, err);
    if (s) {
        free(hb.p);
        return s;
    }
    ck->header = hb.p;
    snprintf(ck->path, sizeof ck->path, "%s/progress.bin", c->report);
    FILE *f = c->resume ? fopen(ck->path, "r+b") : NULL;
    if (!f && c->resume && errno != ENOENT) return vm_errorf(err, VM_EIO, "cannot open %s: %s", ck->path, strerror(errno));
    if (!f) {
        if (c->resume) fprintf(stderr, "%s: --resume: %s does not exist yet; starting from the first example\n", c->cmd, ck->path);
        if (!(ck->f = fopen(ck->path, "wb"))) return vm_errorf(err, VM_EIO, "cannot create %s: %s", ck->path, strerror(errno));
        ck->created = true;
        if (fwrite(hb.p, 1, hb.n, ck->f) != hb.n || fflush(ck->f)) return vm_errorf(err, VM_EIO, "cannot write %s: %s", ck->path, strerror(errno));
        return VM_OK;
    }
    ck->f = f;
    char *have = malloc(hb.n + 1);
    if (!have) return vm_errorf(err, VM_ENOMEM, "out of memory");
    size_t got = fread(have, 1, hb.n, f);
    have[got] = 0;
    if (got != hb.n || memcmp(have, hb.p, hb.n)) {
        char diff[512];
        have[strnlen(have, got)] = 0;
        if (strncmp(have, PROGRESS_MAGIC, strlen(PROGRESS_MAGIC))) snprintf(diff, sizeof diff, "it is not a vmaskc progress file");
        else progress_first_difference(have, hb.p, diff, sizeof diff);
        free(have);
        return vm_errorf(err, VM_EINVAL,
                         "--resume: %s was written by another run (%s): resume with the same data, models and settings, or drop --resume "
                         "(with --force) to start over",
                         ck->path, diff);
    }
    free(have);
    struct xex_expect x[VM_REPORT_MAX_MODELS];
    for (int k = 0; k < n_models; k++) {
        x[k] = (struct xex_expect){.vocab_n = xms[k]->vocab_n, .n_classes = xms[k]->n_classes, .posthoc = xms[k]->posthoc && c->kmax > 0};
        memcpy(x[k].method, xms[k]->method, sizeof x[k].method);
    }
    long good = (long)hb.n;
    struct progress_record r;
    int rc;
    while ((rc = progress_read(f, n_models, n_sel, x, c->kmax, &r)) > 0) {
        struct xmodel *xm = xms[r.model];
        if (xm->ex[r.index].ids) xex_free(&xm->ex[r.index]); /* written twice: the later one */
        else ck->records++;
        xm->ex[r.index] = r.e;
        for (int m = 0; m < N_METHODS; m++) {
            xm->secs[m] += r.secs[m];
            xm->passes[m] += r.passes[m];
            xm->n_explained[m] += r.e.w[m] != NULL;
        }
        xm->texts_run += r.texts;
        xm->runs += r.runs;
        good = ftell(f);
    }
    if (rc < 0) return vm_errorf(err, VM_ENOMEM, "out of memory reading %s", ck->path);
    /* a record cut short (the run was killed while writing it): cut off, then append after the last whole one */
    if (fflush(f) || ftruncate(fileno(f), good) || fseek(f, good, SEEK_SET)) return vm_errorf(err, VM_EIO, "cannot rewrite %s: %s", ck->path, strerror(errno));
    for (int k = 0; k < n_models; k++) {
        memcpy(xms[k]->ck_secs, xms[k]->secs, sizeof xms[k]->secs);
        memcpy(xms[k]->ck_passes, xms[k]->passes, sizeof xms[k]->passes);
        xms[k]->ck_texts = xms[k]->texts_run;
        xms[k]->ck_runs = xms[k]->runs;
    }
    return VM_OK;
}

/* Closes it; one this run made that holds no example is removed (nothing to resume from). */
static void ckpt_close(struct ckpt *ck) {
    if (ck->f) fclose(ck->f);
    if (ck->f && ck->created && !ck->records) unlink(ck->path);
    free(ck->header);
    memset(ck, 0, sizeof *ck);
}

/* ---- aggregates ---- */

static double aopc_value(const struct xcfg *c, const double *delta, int32_t steps, int32_t k) {
    return vmaskc_aopc(delta, steps, k, c->aopc_by_k);
}

static double aopc_mean(const struct xcfg *c, const struct xmodel *xm, int64_t n, int m, int32_t k) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += aopc_value(c, xm->ex[i].delta[m], xm->ex[i].steps[m], k);
    return n ? sum / (double)n : NAN;
}

static double posthoc_mean(const struct xmodel *xm, int64_t n, int32_t k) {
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) hit += xm->ex[i].match[k - 1];
    return n ? (double)hit / (double)n : NAN;
}

static double accuracy(const struct xmodel *xm, const int64_t *sel, int64_t n) {
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) ok += xm->ex[i].pred == xm->data->labels[sel[i]];
    return n ? (double)ok / (double)n : NAN;
}

/* ---- outputs ---- */

static void json_floats(struct sbuf *b, const float *v, int32_t n) {
    sb_printf(b, "[");
    for (int32_t i = 0; i < n; i++) {
        if (i) sb_printf(b, ",");
        sb_json_num(b, v[i]);
    }
    sb_printf(b, "]");
}

/* Opens a model's JSON object: {"KEY": its name, "file": its path, "training": its method or null */
static void json_model_id(struct sbuf *b, const char *key, const struct xmodel *xm) {
    sb_printf(b, "{\"%s\":", key);
    sb_json_str(b, xm->name);
    sb_printf(b, ",\"file\":");
    sb_json_str(b, xm->path);
    sb_printf(b, ",\"training\":");
    if (xm->training) sb_json_str(b, xm->training);
    else sb_printf(b, "null");
}

static enum vm_status write_jsonl(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel,
                                  const char *path, struct vm_error *err) {
    struct sbuf b = {0};
    const vmaskc_dataset *d = xms[0]->data;
    for (int64_t i = 0; i < n_sel; i++) {
        int64_t idx = sel[i];
        sb_printf(&b, "{\"index\":%lld,\"text\":", (long long)idx);
        sb_json_str(&b, d->texts[idx]);
        sb_printf(&b, ",\"label\":%d", d->labels[idx]);
        const char *name = NULL;
        if (xms[0]->named && !vmaskc_model_class_name(xms[0]->m, d->labels[idx], &name, NULL)) { /* a model trained with class names */
            sb_printf(&b, ",\"label_name\":");
            sb_json_str(&b, name);
        }
        sb_printf(&b, ",\"seed\":%llu,\"models\":[", (unsigned long long)vmaskc_explain_seed(c->seed, idx));
        for (int k = 0; k < n_models; k++) {
            const struct xmodel *xm = xms[k];
            const struct xex *e = &xm->ex[i];
            if (k) sb_printf(&b, ",");
            json_model_id(&b, "name", xm);
            sb_printf(&b, ",\"tokens\":[");
            for (int32_t t = 0; t < e->n; t++) {
                if (t) sb_printf(&b, ",");
                sb_json_str(&b, e->tokens[t]);
            }
            sb_printf(&b, "],\"ids\":[");
            for (int32_t t = 0; t < e->n; t++) sb_printf(&b, "%s%d", t ? "," : "", e->ids[t]);
            if (e->word_of) {
                /* whole words: their text and their pieces [first, end) in tokens */
                sb_printf(&b, "],\"words\":[");
                for (int32_t w = 0; w < e->n_words; w++) {
                    if (w) sb_printf(&b, ",");
                    sb_json_str(&b, e->words[w]);
                }
                sb_printf(&b, "],\"word_spans\":[");
                for (int32_t t = 0, w = 0; t < e->n; t++) {
                    if (e->word_of[t] < 0 || (t && e->word_of[t - 1] == e->word_of[t])) continue;
                    int32_t end = t;
                    while (end < e->n && e->word_of[end] == e->word_of[t]) end++;
                    sb_printf(&b, "%s[%d,%d]", w++ ? "," : "", t, end);
                }
            }
            sb_printf(&b, "],\"prediction\":%d,\"probs\":", e->pred);
            json_floats(&b, e->probs, (int32_t)xm->n_classes);
            for (int m = 0; m < N_METHODS; m++) {
                if (!e->w[m]) continue;
                sb_printf(&b, ",\"%s\":{\"weights\":", METHOD_KEY[m]);
                json_floats(&b, e->w[m], e->n);
                if (e->ww[m]) {
                    sb_printf(&b, ",\"word_weights\":");
                    json_floats(&b, e->ww[m], e->n_words);
                }
                if (m == M_LIME) {
                    sb_printf(&b, ",\"intercept\":");
                    sb_json_num(&b, e->lime_intercept);
                    sb_printf(&b, ",\"score\":");
                    sb_json_num(&b, e->lime_score);
                    sb_printf(&b, ",\"features\":%d,\"samples\":%d,\"seed\":%llu", e->lime_d, c->samples, (unsigned long long)e->lime_seed);
                } else if (m == M_SHAP) {
                    sb_printf(&b, ",\"permutations\":%d,\"seed\":%llu", c->permutations, (unsigned long long)e->shap_seed);
                } else if (m == M_MASK) {
                    sb_printf(&b, ",\"source\":");
                    sb_json_str(&b, xm->imp_src);
                } else if (m == M_FREQ) {
                    sb_printf(&b, ",\"source\":");
                    sb_json_str(&b, c->corpus ? c->corpus : c->data);
                }
                sb_printf(&b, ",\"aopc_deltas\":[");
                for (int32_t j = 0; j < e->steps[m]; j++) {
                    if (j) sb_printf(&b, ",");
                    sb_json_num(&b, e->delta[m][j]);
                }
                sb_printf(&b, "],\"aopc\":");
                sb_json_num(&b, aopc_value(c, e->delta[m], e->steps[m], c->K));
                sb_printf(&b, "}");
            }
            if (e->match) {
                sb_printf(&b, ",\"posthoc_match\":[");
                for (int32_t j = 0; j < c->kmax; j++) sb_printf(&b, "%s%d", j ? "," : "", e->match[j]);
                sb_printf(&b, "]");
            }
            sb_printf(&b, "}");
        }
        sb_printf(&b, "]}\n");
    }
    enum vm_status s = b.oom ? vm_errorf(err, VM_ENOMEM, "out of memory writing %s", path) : vm_file_write_atomic(path, b.p ? b.p : "", b.n, err);
    free(b.p);
    return s;
}

/* A CSV field: quoted when it holds a comma, quote or line break (RFC 4180). */
static void sb_csv_str(struct sbuf *b, const char *v) {
    if (!strpbrk(v, ",\"\r\n")) {
        sb_printf(b, "%s", v);
        return;
    }
    sb_printf(b, "\"");
    for (; *v; v++) sb_printf(b, *v == '"' ? "\"\"" : "%c", *v);
    sb_printf(b, "\"");
}

/* A number in a CSV field, empty when unknown. */
static void sb_csv_num(struct sbuf *b, double v) {
    if (isfinite(v)) sb_printf(b, "%.6f", v);
}

static enum vm_status write_sbuf(struct sbuf *b, const char *dir, const char *name, struct vm_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    enum vm_status s = b->oom ? vm_errorf(err, VM_ENOMEM, "out of memory writing %s", path) : vm_file_write_atomic(path, b->p ? b->p : "", b->n, err);
    b->n = 0;
    return s;
}

/* aopc.csv (k, model, method, aopc, training), posthoc.csv (k, model, accuracy, training),
 * summary.csv (one row per model: the numbers of Tables 3, 4 and 11), splime.csv (model, rank,
 * word, weight, texts: Table 6). Fractions in [0, 1]; an empty field is a number not computed. */
static enum vm_status write_csvs(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel,
                                 const char *dir, struct vm_error *err) {
    struct sbuf b = {0};
    sb_printf(&b, "k,model,method,aopc,training\n");
    for (int k = 0; k < n_models; k++)
        for (int m = 0; m < N_METHODS; m++)
            if (xms[k]->method[m])
                for (int32_t j = 1; j <= c->K; j++) {
                    sb_printf(&b, "%d,", j);
                    sb_csv_str(&b, xms[k]->name);
                    sb_printf(&b, ",%s,%.6f,%s\n", METHOD_KEY[m], aopc_mean(c, xms[k], n_sel, m, j), xms[k]->training ? xms[k]->training : "");
                }
    enum vm_status s = write_sbuf(&b, dir, "aopc.csv", err);
    sb_printf(&b, "k,model,accuracy,training\n");
    for (int k = 0; k < n_models; k++)
        if (xms[k]->posthoc)
            for (int32_t j = 1; j <= c->kmax; j++) {
                sb_printf(&b, "%d,", j);
                sb_csv_str(&b, xms[k]->name);
                sb_printf(&b, ",%.6f,%s\n", posthoc_mean(xms[k], n_sel, j), xms[k]->training ? xms[k]->training : "");
            }
    if (!s) s = write_sbuf(&b, dir, "posthoc.csv", err);
    sb_printf(&b, "model,file,training,accuracy,explained,accuracy_explained,aopc_lime,aopc_shapley,aopc_mask,posthoc_k1,posthoc_k%d,pearson,importance\n",
              c->kmax);
    for (int k = 0; k < n_models; k++) {
        const struct xmodel *xm = xms[k];
        sb_csv_str(&b, xm->name);
        sb_printf(&b, ",");
        sb_csv_str(&b, xm->path);
        sb_printf(&b, ",%s,", xm->training ? xm->training : "");
        sb_csv_num(&b, xm->acc_all);
        sb_printf(&b, ",%lld,", (long long)n_sel);
        sb_csv_num(&b, accuracy(xm, sel, n_sel));
        for (int m = 0; m < N_METHODS; m++) {
            sb_printf(&b, ",");
            if (xm->method[m]) sb_csv_num(&b, aopc_mean(c, xm, n_sel, m, c->K));
        }
        sb_printf(&b, ",");
        if (xm->posthoc) sb_csv_num(&b, posthoc_mean(xm, n_sel, 1));
        sb_printf(&b, ",");
        if (xm->posthoc) sb_csv_num(&b, posthoc_mean(xm, n_sel, c->kmax));
        sb_printf(&b, ",");
        if (xm->own_importance && xm->n_words > 0) sb_printf(&b, "%.6f", xm->pearson);
        sb_printf(&b, ",");
        if (xm->posthoc) sb_csv_str(&b, xm->imp_src);
        sb_printf(&b, "\n");
    }
    if (!s) s = write_sbuf(&b, dir, "summary.csv", err);
    sb_printf(&b, "model,rank,word,weight,texts\n");
    for (int k = 0; k < n_models; k++)
        for (int64_t i = 0; i < xms[k]->n_sp; i++) {
            sb_csv_str(&b, xms[k]->name);
            sb_printf(&b, ",%lld,", (long long)i + 1);
            sb_csv_str(&b, xms[k]->sp[i].word);
            sb_printf(&b, ",%.6f,%d\n", xms[k]->sp[i].weight, xms[k]->sp[i].texts);
        }
    if (!s) s = write_sbuf(&b, dir, "splime.csv", err);
    free(b.p);
    return s;
}

#define SP_JSON 50 /* SP-LIME words per model in summary.jsonl (splime.csv has all) */

/* summary.jsonl: one line per model with every number of the paper's tables and figures. */
static enum vm_status write_summary_jsonl(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel,
                                          const char *dir, struct vm_error *err) {
    struct sbuf b = {0};
    for (int k = 0; k < n_models; k++) {
        const struct xmodel *xm = xms[k];
        json_model_id(&b, "model", xm);
        sb_printf(&b, ",\"texts\":%lld,\"accuracy\":", (long long)xm->data->n);
        sb_json_num(&b, xm->acc_all);
        sb_printf(&b, ",\"explained\":%lld,\"accuracy_explained\":", (long long)n_sel);
        sb_json_num(&b, accuracy(xm, sel, n_sel));
        sb_printf(&b, ",\"aopc_k\":%d,\"aopc_settings\":{\"removal\":\"%s\",\"steps\":\"%s\",\"norm\":\"%s\",\"score\":\"%s\",\"class\":\"%s\","
                  "\"lime_samples\":%d,\"kernel_width\":%g},\"aopc\":{",
                  c->K, REMOVAL_NAME[c->removal], c->aopc_single ? "single" : "cumulative", c->aopc_by_k ? "k" : "k+1",
                  c->aopc_logodds ? "logodds" : "prob", c->gold ? "gold" : "predicted", c->samples, c->kernel_width);
        for (int m = 0, first = 1; m < N_METHODS; m++) {
            if (!xm->method[m]) continue;
            sb_printf(&b, "%s\"%s\":[", first ? "" : ",", METHOD_KEY[m]);
            first = 0;
            for (int32_t j = 1; j <= c->K; j++) {
                if (j > 1) sb_printf(&b, ",");
                sb_json_num(&b, aopc_mean(c, xm, n_sel, m, j));
            }
            sb_printf(&b, "]");
        }
        /* each method's cost over every example, also those read back by --resume and those of
         * other mpirun processes (the wall-clock seconds each example took where it ran) */
        sb_printf(&b, "},\"cost\":{");
        for (int m = 0, first = 1; m < N_METHODS; m++) {
            if (!xm->method[m]) continue;
            sb_printf(&b, "%s\"%s\":{\"examples\":%lld,\"seconds\":", first ? "" : ",", METHOD_KEY[m], (long long)xm->n_explained[m]);
            sb_json_num(&b, xm->secs[m]);
            sb_printf(&b, ",\"forward_passes\":%lld}", (long long)xm->passes[m]);
            first = 0;
        }
        sb_printf(&b, "},\"posthoc\":");
        if (xm->posthoc) {
            sb_printf(&b, "[");
            for (int32_t j = 1; j <= c->kmax; j++) {
                if (j > 1) sb_printf(&b, ",");
                sb_json_num(&b, posthoc_mean(xm, n_sel, j));
            }
            sb_printf(&b, "],\"posthoc_importance\":");
            sb_json_str(&b, xm->imp_src);
        } else {
            sb_printf(&b, "null");
        }
        sb_printf(&b, ",\"pearson\":");
        if (xm->own_importance && xm->n_words > 0) sb_json_num(&b, xm->pearson);
        else sb_printf(&b, "null");
        sb_printf(&b, ",\"splime\":");
        if (xm->method[M_LIME]) {
            sb_printf(&b, "[");
            for (int64_t i = 0; i < xm->n_sp && i < SP_JSON; i++) {
                sb_printf(&b, "%s{\"word\":", i ? "," : "");
                sb_json_str(&b, xm->sp[i].word);
                sb_printf(&b, ",\"weight\":");
                sb_json_num(&b, xm->sp[i].weight);
                sb_printf(&b, ",\"texts\":%d}", xm->sp[i].texts);
            }
            sb_printf(&b, "]");
        } else {
            sb_printf(&b, "null");
        }
        sb_printf(&b, "}\n");
    }
    enum vm_status s = write_sbuf(&b, dir, "summary.jsonl", err);
    free(b.p);
    return s;
}

/* Fills the report records (they point into the models' results) and writes report.html. */
static enum vm_status write_report(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel,
                                   const char *dir, const char *title, struct vm_error *err) {
    struct vm_report r;
    memset(&r, 0, sizeof r);
    char settings[2048];
    snprintf(settings, sizeof settings,
             "seed %llu (each example's draws seeded from (seed, example index), logged in explanations.jsonl); %lld of %lld examples%s; LIME: %d samples, kernel width %g, ridge alpha %g, "
             "all features kept, AOPC ranks the positive weights for the predicted class; SampleShapley: %d permutations, pad baseline in place; "
             "mask q: the words' global importance; AOPC: K = %d, deletion, denominator K+1; post-hoc accuracy: k = 1..%d, pad in place",
             (unsigned long long)c->seed, (long long)n_sel, (long long)xms[0]->data->n, c->limit ? " (seeded random)" : "", c->samples,
             c->kernel_width, VMASKC_LIME_ALPHA, c->permutations, c->K, c->kmax);
    r.title = title;
    r.data_path = c->data;
    r.n_classes = (int)xms[0]->n_classes;
    for (int k = 0; xms[0]->named && k < xms[0]->n_classes && k < 64; k++) vmaskc_model_class_name(xms[0]->m, k, &r.class_names[k], NULL);
    r.n_methods = N_METHODS;
    for (int m = 0; m < N_METHODS; m++) r.method_names[m] = METHOD_NAME[m];
    r.n_models = n_models;
    r.n_examples = n_sel;
    r.n_data = xms[0]->data->n;
    r.settings = settings;
    for (int k = 0; k < n_models; k++) {
        struct xmodel *xm = xms[k];
        struct vm_report_model *rm = &r.models[k];
        rm->name = xm->name;
        rm->path = xm->path;
        rm->method = xm->training;
        rm->accuracy = accuracy(xm, sel, n_sel);
        rm->test_accuracy = xm->acc_all;
        rm->splime = xm->sp;
        rm->n_splime = xm->n_sp;
        rm->importance_name = importance_symbol(xm->training);
        xm->rex = vm_calloc((size_t)(n_sel ? n_sel : 1), sizeof *xm->rex, err);
        if (!xm->rex) return VM_ENOMEM;
        for (int64_t i = 0; i < n_sel; i++) {
            const struct xex *e = &xm->ex[i];
            struct vm_report_example *re = &xm->rex[i];
            re->index = sel[i];
            re->text = xm->data->texts[sel[i]];
            /* WordPiece: the report highlights whole words, one weight each */
            re->n_tokens = e->word_of ? e->n_words : e->n;
            re->tokens = (const char *const *)(e->word_of ? e->words : e->tokens);
            re->label = xm->data->labels[sel[i]];
            re->predicted = e->pred;
            re->probs = e->probs;
            for (int m = 0; m < N_METHODS; m++) re->weights[m] = e->word_of ? e->ww[m] : e->w[m];
        }
        rm->examples = xm->rex;
        for (int m = 0; m < N_METHODS; m++) {
            if (!xm->method[m]) continue;
            xm->aopc_curve[m] = vm_malloc(sizeof(double) * (size_t)c->K, err);
            if (!xm->aopc_curve[m]) return VM_ENOMEM;
            for (int32_t j = 1; j <= c->K; j++) xm->aopc_curve[m][j - 1] = aopc_mean(c, xm, n_sel, m, j);
            rm->aopc[m] = xm->aopc_curve[m];
        }
        rm->n_aopc = c->K;
        if (xm->posthoc) {
            xm->posthoc_curve = vm_malloc(sizeof(double) * (size_t)c->kmax, err);
            if (!xm->posthoc_curve) return VM_ENOMEM;
            for (int32_t j = 1; j <= c->kmax; j++) xm->posthoc_curve[j - 1] = posthoc_mean(xm, n_sel, j);
            rm->posthoc_acc = xm->posthoc_curve;
            rm->n_posthoc = c->kmax;
        }
        rm->pearson = NAN;
        if (xm->own_importance && xm->n_words > 0) {
            rm->n_words = xm->n_words;
            rm->words = xm->words;
            rm->word_q = xm->word_q;
            rm->word_freq = xm->word_freq;
            rm->pearson = xm->pearson;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/report.html", dir);
    return vm_report_write_html(&r, path, err);
}

/* A WordPiece model's global view is over whole words: each word of the corpus (or the data) with
 * the mean importance of its pieces, frequency-weighted (vmaskc_dataset_words). */
static enum vm_status global_whole_words(const struct xcfg *c, struct xmodel *xm, struct vm_error *err) {
    vmaskc_dataset *cd = NULL;
    vmaskc_error ae;
    vmaskc_status as = c->corpus ? vmaskc_dataset_read(xm->m, c->corpus, 0, 0, &cd, &ae) : VMASKC_OK;
    if (!as) as = vmaskc_dataset_words(xm->m, cd ? cd : xm->data, xm->imp, &xm->whole, &ae);
    vmaskc_dataset_free(cd);
    if (as) {
        vm_cli_api_error(&ae, err);
        return vm_error_prefix(err, "%s", c->corpus ? c->corpus : c->data);
    }
    int64_t n = xm->whole->n; /* the words with an importance, in order of first occurrence */
    xm->words = vm_malloc(sizeof(char *) * (size_t)(n + 1), err);
    xm->word_q = vm_malloc(sizeof(float) * (size_t)(n + 1), err);
    xm->word_freq = vm_malloc(sizeof(int64_t) * (size_t)(n + 1), err);
    if (!xm->words || !xm->word_q || !xm->word_freq) return VM_ENOMEM;
    for (int64_t k = 0; k < n; k++) {
        xm->words[k] = xm->whole->words[k];
        xm->word_q[k] = (float)xm->whole->importance[k];
        xm->word_freq[k] = xm->whole->frequency[k];
    }
    xm->n_words = n;
    xm->pearson = vm_cli_pearson_freq(xm->word_freq, xm->word_q, n, NULL);
    return VM_OK;
}

/* Occurrences of each vocabulary id in --corpus (default: --data), into xm->id_freq (once). */
static enum vm_status id_frequencies(const struct xcfg *c, struct xmodel *xm, struct vm_error *err) {
    if (xm->id_freq) return VM_OK;
    vmaskc_dataset *cd = NULL;
    vmaskc_error ae;
    vmaskc_status s = c->corpus ? vmaskc_dataset_read(xm->m, c->corpus, 0, 0, &cd, &ae) : VMASKC_OK;
    if (!s) s = vmaskc_dataset_token_counts(xm->m, cd ? cd : xm->data, &xm->id_freq, &ae);
    vmaskc_dataset_free(cd);
    return s ? vm_cli_api_error(&ae, err) : VM_OK;
}

/* Word list, importance and corpus frequency for the report's global view and Table 11. */
static enum vm_status global_words(const struct xcfg *c, struct xmodel *xm, struct vm_error *err) {
    if (xm->wordpiece) return global_whole_words(c, xm, err);
    int32_t V = xm->vocab_n;
    enum vm_status s0 = id_frequencies(c, xm, err);
    if (s0) return s0;
    const int64_t *freq_id = xm->id_freq;
    xm->words = vm_malloc(sizeof(char *) * (size_t)V, err);
    xm->word_q = vm_malloc(sizeof(float) * (size_t)V, err);
    xm->word_freq = vm_malloc(sizeof(int64_t) * (size_t)V, err);
    if (!xm->words || !xm->word_q || !xm->word_freq) return VM_ENOMEM;
    int64_t n = 0;
    for (int32_t id = 0; id < V; id++) {
        int special = 1;
        vmaskc_model_token_special(xm->m, id, &special, NULL);
        if (special || !isfinite(xm->imp[id])) continue;
        vmaskc_model_token(xm->m, id, &xm->words[n], NULL);
        xm->word_q[n] = (float)xm->imp[id];
        xm->word_freq[n] = freq_id[id];
        n++;
    }
    xm->n_words = n;
    xm->pearson = vm_cli_pearson_freq(xm->word_freq, xm->word_q, n, NULL);
    return VM_OK;
}

/* ---- printing ---- */

#define SP_PRINT 10 /* SP-LIME words per model on the console */

static bool has_training(const struct xmodel *xm, const char *training) { return xm->training && !strcmp(xm->training, training); }

static void print_tables(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel) {
    int w = 8; /* width of the model column */
    for (int k = 0; k < n_models; k++)
        if ((int)strlen(xms[k]->name) > w) w = (int)strlen(xms[k]->name);
    bool compare = !strcmp(c->cmd, "compare");
    printf("\n%lld of %lld %s of %s%s\n", (long long)n_sel, (long long)xms[0]->data->n, vm_plural(xms[0]->data->n, "example", "examples"), c->data, c->limit ? " (seeded random)" : "");
    for (int k = 0; k < n_models; k++)
        printf("  %-*s %s: accuracy %.2f%% on these examples\n", w, xms[k]->name, xms[k]->path, 100 * accuracy(xms[k], sel, n_sel));
    printf("\n%s (%%) on all %lld %s of %s:\n  %-*s %-8s %8s\n", compare ? "Table 3 row: test accuracy" : "accuracy", (long long)xms[0]->data->n,
           vm_plural(xms[0]->data->n, "text", "texts"), c->data,
           w, "model", "method", "accuracy");
    for (int k = 0; k < n_models; k++)
        printf("  %-*s %-8s %8.2f\n", w, xms[k]->name, xms[k]->training ? xms[k]->training : "?", 100 * xms[k]->acc_all);
    bool any = false;
    for (int k = 0; k < n_models; k++)
        for (int m = 0; m < N_METHODS; m++) any |= xms[k]->method[m];
    if (any) {
        printf("\nAOPC (%%), deleting the top-k words, K = %d (the paper's Table 4 is k = %d):\n", c->K, c->K);
        printf("  %-*s %-14s", w, "model", "method");
        for (int32_t j = 1; j <= c->K && j <= 10; j++) printf("  k=%-4d", j);
        printf("\n");
        for (int m = 0; m < N_METHODS; m++)
            for (int k = 0; k < n_models; k++) {
                if (!xms[k]->method[m]) continue;
                printf("  %-*s %-14s", w, xms[k]->name, METHOD_NAME[m]);
                for (int32_t j = 1; j <= c->K && j <= 10; j++) printf("  %6.2f", 100 * aopc_mean(c, xms[k], n_sel, m, j));
                printf("\n");
            }
    }
    if (compare && xms[0]->method[M_LIME] && xms[0]->method[M_SHAP]) {
        printf("\nTable 4 row (AOPC %%, K = %d):\n  %-*s %8s %14s\n", c->K, w, "", "LIME", "SampleShapley");
        for (int k = 0; k < n_models; k++)
            printf("  %-*s %8.2f %14.2f\n", w, xms[k]->name, 100 * aopc_mean(c, xms[k], n_sel, M_LIME, c->K), 100 * aopc_mean(c, xms[k], n_sel, M_SHAP, c->K));
    }
    bool ph = false, ph_vmask = false, ph_iba = false;
    for (int k = 0; k < n_models; k++) {
        ph |= xms[k]->posthoc;
        ph_vmask |= xms[k]->posthoc && xms[k]->own_importance && has_training(xms[k], "vmask");
        ph_iba |= xms[k]->posthoc && xms[k]->own_importance && has_training(xms[k], "iba");
    }
    if (ph) {
        printf("\npost-hoc accuracy (%%), keeping the top-k words by global importance (Figure 1):\n  %-*s", w, "k");
        for (int32_t j = 1; j <= c->kmax; j++) printf(" %6d", j);
        printf("   importance\n");
        for (int k = 0; k < n_models; k++) {
            if (!xms[k]->posthoc) continue;
            printf("  %-*s", w, xms[k]->name);
            for (int32_t j = 1; j <= c->kmax; j++) printf(" %6.2f", 100 * posthoc_mean(xms[k], n_sel, j));
            printf("   %s\n", xms[k]->imp_src);
        }
        if (compare && ph_vmask && ph_iba) printf("  (the report draws VMASK solid against IBA dashed, as the paper's Figure 1)\n");
    }
    bool sp = false;
    for (int k = 0; k < n_models; k++) sp |= xms[k]->n_sp > 0;
    if (sp) {
        printf("\nSP-LIME post-hoc global important words (sum of LIME weights over the %lld %s; Table 6):\n", (long long)n_sel, vm_plural(n_sel, "text", "texts"));
        for (int k = 0; k < n_models; k++) {
            if (!xms[k]->n_sp) continue;
            printf("  %-*s", w, xms[k]->name);
            for (int64_t i = 0; i < xms[k]->n_sp && i < SP_PRINT; i++) printf("%s %s (%.3f)", i ? "," : "", xms[k]->sp[i].word, xms[k]->sp[i].weight);
            printf("\n");
        }
    }
    for (int k = 0; k < n_models; k++)
        if (xms[k]->own_importance && xms[k]->n_words > 0)
            printf("\n%s: Pearson correlation between word frequency (%s) and global importance: %.4f (Table 11)\n", xms[k]->name,
                   c->corpus ? c->corpus : c->data, xms[k]->pearson);
    printf("\nspeed (threads: %s, up to %d texts per run):\n", c->threads ? c->threads_str : "OpenMP default", c->batch);
    for (int k = 0; k < n_models; k++)
        for (int m = 0; m < N_METHODS; m++) {
            const struct xmodel *xm = xms[k];
            if (!xm->method[m] || xm->secs[m] <= 0) continue;
            printf("  %-*s %-14s %8.2f explanations/s  %9.0f texts/s  (%.1f ms per explanation with its AOPC, %.0f texts each)\n", w, xm->name,
                   METHOD_NAME[m], (double)xm->n_explained[m] / xm->secs[m], (double)xm->passes[m] / xm->secs[m],
                   1e3 * xm->secs[m] / (double)xm->n_explained[m], (double)xm->passes[m] / (double)xm->n_explained[m]);
        }
    for (int k = 0; k < n_models; k++) {
        int64_t inst;
        double ms;
        vmaskc_model_build_stats(xms[k]->m, &inst, &ms, NULL);
        printf("  %-*s %lld model %s; %lld shape %s built in %.0f ms (included above)\n", w, xms[k]->name, (long long)xms[k]->runs,
               vm_plural(xms[k]->runs, "run", "runs"), (long long)inst, vm_plural(inst, "instance", "instances"), ms);
    }
}

/* ---- shared driver ---- */

static int usage_explain(FILE *f) {
    fprintf(f,
            "usage: vmaskc explain MODEL.onnx --data FILE.tsv [options]\n"
            "Explains each text's prediction with LIME, SampleShapley and (for a VMASK model) the mask's keep\n"
            "probabilities q, and measures the explanations as the VMASK paper does (section 5): AOPC of each method\n"
            "and the post-hoc accuracy of the global importance.\n"
            "\n"
            "  --method M             lime, shapley, mask or all (default); a comma list works too. mask needs a\n"
            "                         VMASK model or --importance. Also random (a seeded random order of the\n"
            "                         words) and frequency (most frequent in --corpus first): AOPC floor and reference\n"
            "  --limit N              a seeded random N examples (the paper: all, or a random 1000)\n"
            "  --seed S (1)           selects the examples and seeds every example's draws (logged per example)\n"
            "  --samples N (5000)     LIME samples, row 0 being the text itself\n"
            "  --permutations N (%d) SampleShapley permutations (about LIME's cost on a 20-token text)\n"
            "  --aopc-k K (5)         AOPC deletion steps; --posthoc-k K (10): post-hoc accuracy for k = 1..K\n"
            "  --importance TSV       global importance 'word<TAB>score' (e.g. 'vmaskc words --tsv') for\n"
            "                         post-hoc accuracy and the mask method of any model\n"
            "  --posthoc / --no-posthoc  require / skip post-hoc accuracy (default: when importance exists)\n"
            "  --corpus FILE          word frequencies for the Table-11 correlation (default: --data)\n"
            "AOPC variants (the defaults are the paper's and Nguyen 2018's; see the README's AOPC ablation):\n"
            "  --aopc-removal delete|pad|unk   delete the words (default) or replace each piece in place by the\n"
            "                         pad or the unknown-word token\n"
            "  --aopc-steps cumulative|single  step k removes the top k words (default) or the k-th alone\n"
            "  --aopc-norm k+1|k      divide the sum of K drops by K+1 (default) or by K\n"
            "  --aopc-score prob|logodds  drop in probability (default) or in log-odds of the explained class\n"
            "  --explain-class predicted|gold  the class LIME, SampleShapley and AOPC explain (default predicted)\n"
            "  --kernel-width W (25)  LIME's kernel width\n"
            "  --report DIR           write DIR/explanations.jsonl, aopc.csv, posthoc.csv and report.html; an\n"
            "                         existing DIR is refused before any work unless --force (its files replaced).\n"
            "                         Each example is kept in DIR/progress.bin as soon as it is explained\n"
            "  --resume               continue an interrupted run from DIR/progress.bin (the same data, models\n"
            "                         and settings; --threads and --batch may change): explained examples are read back\n"
            "  --batch N (512)        texts per run of the model; --max-len L: truncate texts; --threads N\n"
            "  --profile              time per op of the model runs\n"
            "  --vocab V              vocabulary (default: the one stored in the model; must be the same list)\n"
            "  --allow-short-vocab    accept a --vocab shorter than a model's embedding table (no stored vocabulary)\n"
            VM_CLI_DATA_HELP
            "\n"
            "LIME follows marcotcr/lime's defaults (bow features = the model's distinct tokens, removal by deletion,\n"
            "cosine kernel of width 25, ridge alpha 1 with an intercept, the predicted class explained), keeping every\n"
            "feature's weight. SampleShapley walks random permutations from the all-pad text. AOPC deletes each\n"
            "explanation's top-k words cumulatively (LIME: positive weights) and divides by K+1 even for shorter texts;\n"
            "post-hoc accuracy keeps the k most important tokens in place, pads the rest, and k beyond a text keeps it\n"
            "whole. Tables print percent; the CSV files hold fractions.\n"
            "Under mpirun -np N the texts are split over the N processes and gathered in order (the same report).\n",
            VMASKC_SHAPLEY_PERMUTATIONS);
    return VM_EXIT_OK;
}

static int usage_compare(FILE *f) {
    fprintf(f,
            "usage: vmaskc compare A.onnx B.onnx [C.onnx ...] --data TEST.tsv [--limit N] [--report DIR] [--seed S]\n"
            "Runs the VMASK paper's evaluation (section 5) over 2 to %d models of one task, each trained by\n"
            "'vmaskc train' in any way (base, l2, L2X, IBA, VMASK: read from the model's metadata vmaskc.method, or\n"
            "for older exports from vmaskc.mask and vmaskc.weight_decay), and prints, in %%:\n"
            "  - Table 3: the test accuracy of every model on all texts of TEST.tsv;\n"
            "  - Table 4: the AOPC (K = 5) of LIME and SampleShapley explanations of every model;\n"
            "  - Figure 1: post-hoc accuracy for k = 1..10 of every model with a global importance: its own\n"
            "    word_mask output (VMASK q, L2X score, IBA lambda) or VMASK table; a model without one is ranked by\n"
            "    the first VMASK model's q; the report draws VMASK against IBA as the paper does;\n"
            "  - Table 6: SP-LIME's post-hoc global words of every model (each word's LIME weights summed over the\n"
            "    explained texts);\n"
            "  - Table 11: the Pearson r between word frequency and global importance of every model that has one.\n"
            "The models are named by their method (plus the file name when two share one) and must share the\n"
            "number of classes, the vocabulary and the tokenizer. --report DIR writes report.html,\n"
            "explanations.jsonl (per text), summary.jsonl and summary.csv (one row per model), aopc.csv,\n"
            "posthoc.csv and splime.csv.\n"
            "Takes the options of 'vmaskc explain' (--method, --samples, --permutations, --aopc-k, --posthoc-k,\n"
            "--posthoc / --no-posthoc, --corpus, --batch, --threads, the data options ...), except --importance.\n",
            VM_REPORT_MAX_MODELS);
    return VM_EXIT_OK;
}

static int parse_methods(const char *cmd, const char *v, struct xcfg *c) {
    memset(c->method, 0, sizeof c->method);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "all")) {
            for (int m = 0; m < N_DEFAULT_METHODS; m++) c->method[m] = true;
            c->method_given = false;
            continue;
        }
        int m = -1;
        for (int k = 0; k < N_METHODS; k++)
            if (!strcmp(tok, METHOD_KEY[k])) m = k;
        if (m < 0) return vm_cli_usage_error(cmd, "unknown --method '%s' (lime, shapley, mask, random, frequency or all)", tok);
        c->method[m] = true;
        c->method_given = true;
    }
    return 0;
}

/* One word out of a fixed list, or -1. */
static int choice(const char *v, const char *const *names, int n) {
    for (int k = 0; k < n; k++)
        if (!strcmp(v, names[k])) return k;
    return -1;
}

/* The AOPC variants and LIME's kernel width: 1 when argv[*i] was one (consumed with its value), 0
 * when not, -1 after a usage error. */
static int aopc_option(const char *cmd, int argc, char **argv, int *i, struct xcfg *c) {
    static const char *const steps[] = {"cumulative", "single"}, *const norm[] = {"k+1", "k"}, *const score[] = {"prob", "logodds"},
                             *const cls[] = {"predicted", "gold"};
    const char *a = argv[*i];
    if (strcmp(a, "--aopc-removal") && strcmp(a, "--aopc-steps") && strcmp(a, "--aopc-norm") && strcmp(a, "--aopc-score") &&
        strcmp(a, "--explain-class") && strcmp(a, "--kernel-width"))
        return 0;
    if (*i + 1 >= argc) return vm_cli_usage_error(cmd, "%s needs a value", a), -1;
    const char *v = argv[++*i];
    int k;
    if (!strcmp(a, "--aopc-removal")) {
        if ((k = choice(v, REMOVAL_NAME, 3)) < 0) return vm_cli_usage_error(cmd, "--aopc-removal is delete, pad or unk, not '%s'", v), -1;
        c->removal = k;
    } else if (!strcmp(a, "--aopc-steps")) {
        if ((k = choice(v, steps, 2)) < 0) return vm_cli_usage_error(cmd, "--aopc-steps is cumulative or single, not '%s'", v), -1;
        c->aopc_single = k == 1;
    } else if (!strcmp(a, "--aopc-norm")) {
        if ((k = choice(v, norm, 2)) < 0) return vm_cli_usage_error(cmd, "--aopc-norm is k+1 or k, not '%s'", v), -1;
        c->aopc_by_k = k == 1;
    } else if (!strcmp(a, "--aopc-score")) {
        if ((k = choice(v, score, 2)) < 0) return vm_cli_usage_error(cmd, "--aopc-score is prob or logodds, not '%s'", v), -1;
        c->aopc_logodds = k == 1;
    } else if (!strcmp(a, "--explain-class")) {
        if ((k = choice(v, cls, 2)) < 0) return vm_cli_usage_error(cmd, "--explain-class is predicted or gold, not '%s'", v), -1;
        c->gold = k == 1;
    } else {
        char *end;
        double w = strtod(v, &end);
        if (end == v || *end || !(w > 0) || !isfinite(w)) return vm_cli_usage_error(cmd, "--kernel-width needs a positive number, got '%s'", v), -1;
        c->kernel_width = w;
    }
    return 1;
}

static int parse_common(const char *cmd, int argc, char **argv, struct xcfg *c, struct vm_cli_model_args *ma, const char **paths, int max_paths,
                        int *n_paths) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return !strcmp(cmd, "compare") ? usage_compare(stdout) - 1 : usage_explain(stdout) - 1;
        int r = vm_cli_model_args_option(cmd, argc, argv, &i, ma);
        if (r < 0) return VM_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(a, "--posthoc")) {
            c->posthoc = 1;
            continue;
        }
        if (!strcmp(a, "--no-posthoc")) {
            c->posthoc = 0;
            continue;
        }
        if (!strcmp(a, "--profile")) {
            c->profile = true;
            continue;
        }
        if (!strcmp(a, "--force")) {
            c->force = true;
            continue;
        }
        if (!strcmp(a, "--resume")) {
            c->resume = true;
            continue;
        }
        int ch = aopc_option(cmd, argc, argv, &i, c);
        if (ch < 0) return VM_EXIT_USAGE;
        if (ch) continue;
        static const char *const valued[] = {"--data", "--method", "--limit", "--seed", "--samples", "--permutations", "--report", "--importance",
                                             "--aopc-k", "--posthoc-k", "--batch", "--max-len", "--corpus"};
        bool is_valued = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) is_valued |= !strcmp(a, valued[k]);
        if (is_valued) {
            if (i + 1 >= argc) return vm_cli_usage_error(cmd, "%s needs a value", a);
            const char *v = argv[++i];
            long long x = 0;
            if (!strcmp(a, "--data")) c->data = v;
            else if (!strcmp(a, "--report")) c->report = v;
            else if (!strcmp(a, "--importance")) c->importance = v;
            else if (!strcmp(a, "--corpus")) c->corpus = v;
            else if (!strcmp(a, "--method")) {
                if (parse_methods(cmd, v, c)) return VM_EXIT_USAGE;
            } else if (!vm_cli_parse_int(v, &x)) {
                return vm_cli_usage_error(cmd, "%s needs an integer, got '%s'", a, v);
            } else if (!strcmp(a, "--seed")) {
                if (x < 0) return vm_cli_usage_error(cmd, "--seed needs a non-negative integer");
                c->seed = (uint64_t)x;
            } else if (!strcmp(a, "--limit")) {
                if (x < 1) return vm_cli_usage_error(cmd, "--limit needs a positive integer");
                c->limit = x;
            } else if (!strcmp(a, "--samples")) {
                if (x < 2 || x > 10000000) return vm_cli_usage_error(cmd, "--samples needs an integer in 2..10000000");
                c->samples = (int32_t)x;
            } else if (!strcmp(a, "--permutations")) {
                if (x < 1 || x > 1000000) return vm_cli_usage_error(cmd, "--permutations needs an integer in 1..1000000");
                c->permutations = (int32_t)x;
            } else if (!strcmp(a, "--aopc-k")) {
                if (x < 1 || x > MAX_AOPC_K) return vm_cli_usage_error(cmd, "--aopc-k needs an integer in 1..%d", MAX_AOPC_K);
                c->K = (int32_t)x;
            } else if (!strcmp(a, "--posthoc-k")) {
                if (x < 1 || x > MAX_K) return vm_cli_usage_error(cmd, "--posthoc-k needs an integer in 1..%d", MAX_K);
                c->kmax = (int32_t)x;
            } else if (!strcmp(a, "--batch")) {
                if (x < 1 || x > 8192) return vm_cli_usage_error(cmd, "--batch needs an integer in 1..8192");
                c->batch = (int32_t)x;
            } else {
                if (x < 1) return vm_cli_usage_error(cmd, "--max-len needs a positive integer");
                c->max_len = (int32_t)(x > INT32_MAX ? INT32_MAX : x);
            }
            continue;
        }
        if (a[0] == '-') return vm_cli_usage_error(cmd, "unknown option '%s'", a);
        if (*n_paths >= max_paths)
            return max_paths > 1 ? vm_cli_usage_error(cmd, "at most %d models ('%s' is one more)", max_paths, a)
                                 : vm_cli_usage_error(cmd, "too many model paths ('%s')", a);
        paths[(*n_paths)++] = a;
    }
    return 0;
}

static void xcfg_default(struct xcfg *c, const char *cmd) {
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->seed = 1;
    c->samples = VMASKC_LIME_SAMPLES;
    c->kernel_width = VMASKC_LIME_KERNEL_WIDTH;
    c->permutations = VMASKC_SHAPLEY_PERMUTATIONS;
    c->K = 5;
    c->kmax = 10;
    c->batch = 512;
    c->posthoc = -1;
    for (int m = 0; m < N_DEFAULT_METHODS; m++) c->method[m] = true;
}

static enum vm_status load_model(const struct xcfg *c, const vmaskc_model_options *o, struct xmodel *xm, const char *path, const char *name,
                                 struct vm_error *err) {
    xm->path = path;
    xm->name = name;
    vmaskc_error ae;
    if (vmaskc_model_open(path, o, &xm->m, &ae)) {
        vm_cli_api_error(&ae, err);
        return vm_error_prefix(err, "%s", path);
    }
    const char *tokenizer = "words", *names = NULL;
    vmaskc_model_training(xm->m, &xm->training, NULL);
    vmaskc_model_num_classes(xm->m, &xm->n_classes, NULL);
    vmaskc_model_vocab_size(xm->m, &xm->vocab_n, NULL);
    vmaskc_model_tokenizer(xm->m, &tokenizer, NULL);
    xm->wordpiece = !strcmp(tokenizer, "wordpiece");
    vmaskc_model_meta(xm->m, "vmaskc.labels", &names, NULL);
    xm->named = names != NULL;
    if (c->profile) vmaskc_model_profile(xm->m, 1, NULL);
    if (vmaskc_dataset_read(xm->m, c->data, c->max_len, 1, &xm->data, &ae)) return vm_cli_api_error(&ae, err);
    if (xm->data->n == 0) return vm_errorf(err, VM_EINVAL, "%s has no examples", c->data);
    /* a vocabulary that does not fit the data (or the model) shows up as mostly unknown words */
    if (xm->data->n_tokens > 0 && (double)xm->data->n_unknown > 0.5 * (double)xm->data->n_tokens)
        return vm_errorf(err, VM_EINVAL,
                         "%lld of the %lld tokens of %s (%.0f%%) are not in the vocabulary of %s: the vocabulary does not match the model or the "
                         "data (use the vocabulary the model was trained with)",
                         (long long)xm->data->n_unknown, (long long)xm->data->n_tokens, c->data,
                         100.0 * (double)xm->data->n_unknown / (double)xm->data->n_tokens, path);
    /* a text too long for the memory limit: named (file:line, --max-len) before any work */
    if (vmaskc_dataset_check_fit(xm->m, xm->data, 1, &ae)) return vm_cli_api_error(&ae, err);
    /* Table 3: the accuracy on every text, also when only --limit of them are explained */
    vmaskc_evaluation *ev;
    if (vmaskc_dataset_evaluate(xm->m, xm->data, c->batch, &ev, &ae)) {
        vm_cli_api_error(&ae, err);
        return vm_error_prefix(err, "%s", path);
    }
    xm->acc_all = ev->accuracy;
    xm->runs += ev->runs;
    vmaskc_evaluation_free(ev);
    return VM_OK;
}

/* Global importance of this model's own: an importance TSV, else its word_mask output (the per-word
 * importance every mask method exports, higher = more important), else the VMASK keep probability
 * q. A mask placed after a contextual layer (--mask-after: vmaskc.mask = network) has no per-word
 * value, so its word_mask is not read as one. */
static enum vm_status own_importance(const struct xcfg *c, struct xmodel *xm, struct vm_error *err) {
    enum vm_status s;
    if (c->importance) {
        if ((s = load_importance_tsv(c->importance, xm, &xm->imp, err))) return s;
        snprintf(xm->imp_src, sizeof xm->imp_src, "%s", c->importance);
    } else {
        const char *source = NULL;
        vmaskc_error ae;
        if (vmaskc_model_importance(xm->m, c->batch, &xm->imp, &source, &ae)) {
            vm_cli_api_error(&ae, err);
            return vm_error_prefix(err, "%s: reading the per-word importance from its word_mask output", xm->path);
        }
        if (!xm->imp) return VM_OK;
        if (!strcmp(source, "word_mask")) snprintf(xm->imp_src, sizeof xm->imp_src, "word_mask %s of %s", importance_symbol(xm->training), xm->name);
        else snprintf(xm->imp_src, sizeof xm->imp_src, "mask q of %s", xm->name);
    }
    xm->own_importance = true;
    return global_words(c, xm, err);
}

static int64_t *select_examples(const struct xcfg *c, int64_t n, int64_t *n_sel, struct vm_error *err) {
    int64_t k = c->limit && c->limit < n ? c->limit : n;
    int64_t *idx = vm_malloc(sizeof(int64_t) * (size_t)(k + 1), err);
    vmaskc_error ae;
    if (idx && vmaskc_explain_sample(c->seed, n, k, idx, &ae)) {
        vm_cli_api_error(&ae, err);
        free(idx);
        return NULL;
    }
    *n_sel = k;
    return idx;
}

static void note_short_texts(const struct xcfg *c, const struct xmodel *xm, const int64_t *sel, int64_t n_sel) {
    int64_t short_k = 0, short_kmax = 0;
    bool wordpiece = xm->wordpiece;
    const char *unit = wordpiece ? "words" : "tokens";
    for (int64_t i = 0; i < n_sel; i++) {
        int32_t len = (int32_t)(xm->data->start[sel[i] + 1] - xm->data->start[sel[i]]);
        vmaskc_tokens *t;
        if (wordpiece && !vmaskc_tokenize(xm->m, xm->data->texts[sel[i]], c->max_len, &t, NULL)) {
            /* k counts words, not pieces */
            len = 0;
            for (int32_t j = 0; j < t->n; j++) len = t->word[j] + 1 > len ? t->word[j] + 1 : len;
            vmaskc_tokens_free(t);
        }
        short_k += len < c->K;
        short_kmax += len < c->kmax;
    }
    if (short_k)
        fprintf(stderr, "note: %lld of %lld %s fewer than K = %d %s; their AOPC sums the deletions that exist over K+1 (Nguyen 2018)\n",
                (long long)short_k, (long long)n_sel, n_sel == 1 ? "text has" : "texts have", c->K, unit);
    if (short_kmax && xm->posthoc)
        fprintf(stderr, "note: %lld of %lld %s fewer than %d %s; post-hoc accuracy keeps such a text whole for k beyond its length\n",
                (long long)short_kmax, (long long)n_sel, n_sel == 1 ? "text has" : "texts have", c->kmax, unit);
}

static int finish(const struct xcfg *c, struct xmodel *const *xms, int n_models, const int64_t *sel, int64_t n_sel, const char *title) {
    struct vm_error err = {0};
    print_tables(c, xms, n_models, sel, n_sel);
    if (c->profile)
        for (int k = 0; k < n_models; k++) {
            printf("\nprofile of %s:\n", xms[k]->name);
            char *table = NULL;
            if (!vmaskc_model_profile_report(xms[k]->m, &table, NULL)) fputs(table, stdout);
            free(table);
        }
    if (!c->report) return VM_EXIT_OK;
    enum vm_status s = vm_cli_mkdirs(c->report, &err);
    char path[4096];
    snprintf(path, sizeof path, "%s/explanations.jsonl", c->report);
    if (!s) s = write_jsonl(c, xms, n_models, sel, n_sel, path, &err);
    if (!s) s = write_csvs(c, xms, n_models, sel, n_sel, c->report, &err);
    if (!s) s = write_summary_jsonl(c, xms, n_models, sel, n_sel, c->report, &err);
    if (!s) s = write_report(c, xms, n_models, sel, n_sel, c->report, title, &err);
    if (s) return vm_cli_fail(c->cmd, &err);
    printf("\nwrote %s/{explanations.jsonl,summary.jsonl,summary.csv,aopc.csv,posthoc.csv,splime.csv,report.html%s}\n", c->report,
           vm_dist_size() == 1 ? ",progress.bin" : "");
    return VM_EXIT_OK;
}

/* ---- compare: several models on the same task ---- */

/* How a training method is written in the paper's tables. */
static const char *training_label(const char *training) {
    if (!training) return "model";
    if (!strcmp(training, "l2x")) return "L2X";
    if (!strcmp(training, "iba")) return "IBA";
    if (!strcmp(training, "vmask")) return "VMASK";
    return training; /* base, l2, or a method this build does not know, as written */
}

static const char *file_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Each model's name in the tables: its training method, plus its file name when another model
 * has the same method (the whole path when the file names are the same too). */
static void name_models(struct xmodel *const *xms, int n) {
    for (int k = 0; k < n; k++) {
        const char *lab = training_label(xms[k]->training);
        bool shared = false, same_file = false;
        for (int j = 0; j < n; j++) {
            if (j == k || strcmp(training_label(xms[j]->training), lab)) continue;
            shared = true;
            same_file |= !strcmp(file_name(xms[j]->path), file_name(xms[k]->path));
        }
        if (shared) snprintf(xms[k]->label, sizeof xms[k]->label, "%s (%s)", lab, same_file ? xms[k]->path : file_name(xms[k]->path));
        else snprintf(xms[k]->label, sizeof xms[k]->label, "%s", lab);
        xms[k]->name = xms[k]->label;
    }
}

/* Models compared word by word must be one task: the same classes, the same vocabulary (the same
 * id is the same word, so one model's global importance can rank another's words) and the same
 * tokenizer (the same texts). */
static enum vm_status check_same_task(const struct xcfg *c, struct xmodel *const *xms, int n, struct vm_error *err) {
    const struct xmodel *a = xms[0];
    for (int k = 1; k < n; k++) {
        const struct xmodel *b = xms[k];
        if (a->n_classes != b->n_classes)
            return vm_errorf(err, VM_EINVAL, "%s has %lld classes but %s has %lld: they are not the same task", a->path, (long long)a->n_classes,
                             b->path, (long long)b->n_classes);
        for (int i = 0; (a->named || b->named) && i < a->n_classes; i++) {
            const char *na = "?", *nb = "?";
            vmaskc_model_class_name(a->m, i, &na, NULL);
            vmaskc_model_class_name(b->m, i, &nb, NULL);
            if (strcmp(na, nb))
                return vm_errorf(err, VM_EINVAL, "%s calls class %d '%s' but %s calls it '%s': they are not the same task", a->path, i, na,
                                 b->path, nb);
        }
        int32_t differ = 0, first = -1;
        const char *ta = NULL, *tb = NULL, *fa = NULL, *fb = NULL;
        for (int32_t id = 0; id < a->vocab_n && id < b->vocab_n; id++) {
            vmaskc_model_token(a->m, id, &ta, NULL);
            vmaskc_model_token(b->m, id, &tb, NULL);
            if (strcmp(ta, tb) && !differ++) first = id, fa = ta, fb = tb;
        }
        if (first >= 0)
            return vm_errorf(err, VM_EINVAL,
                             "%s and %s have different vocabularies (%d of their ids differ, the first at id %d: '%s' and '%s'): compare needs "
                             "models trained over the same vocabulary",
                             a->path, b->path, differ, first, fa, fb);
        if (a->vocab_n != b->vocab_n)
            return vm_errorf(err, VM_EINVAL,
                             "%s and %s have different vocabularies (%d and %d tokens): compare needs models trained over the same vocabulary",
                             a->path, b->path, a->vocab_n, b->vocab_n);
        const char *ka = "", *kb = "";
        int la = 0, lb = 0, pa = 0, pb = 0;
        vmaskc_model_tokenizer(a->m, &ka, NULL);
        vmaskc_model_tokenizer(b->m, &kb, NULL);
        vmaskc_model_text_settings(a->m, &la, &pa, NULL);
        vmaskc_model_text_settings(b->m, &lb, &pb, NULL);
        if (strcmp(ka, kb) || la != lb || pa != pb)
            return vm_errorf(err, VM_EINVAL, "%s and %s split text differently (tokenizer %s%s%s and %s%s%s): compare needs the same tokenizer", a->path,
                             b->path, ka, la ? ", lower-cased" : "", pa ? ", punctuation split" : "", kb, lb ? ", lower-cased" : "",
                             pb ? ", punctuation split" : "");
        const char *qa = NULL, *qb = NULL; /* sentence pairs: both read them, or neither (unless --pairs) */
        vmaskc_model_meta(a->m, "vmaskc.pairs", &qa, NULL);
        vmaskc_model_meta(b->m, "vmaskc.pairs", &qb, NULL);
        bool pa2 = qa && !strcmp(qa, "1"), pb2 = qb && !strcmp(qb, "1");
        if (!c->pairs_forced && pa2 != pb2)
            return vm_errorf(err, VM_EINVAL, "%s was trained on sentence pairs (--pairs) but %s was not: they would read a text 'a<TAB>b' "
                             "differently (give --pairs to read pairs with both)", pa2 ? a->path : b->path, pa2 ? b->path : a->path);
        if (a->data->n != b->data->n)
            return vm_errorf(err, VM_EINVAL, "%s reads as %lld examples with %s's tokenizer but %lld with %s's", c->data, (long long)a->data->n, a->path,
                             (long long)b->data->n, b->path);
    }
    return VM_OK;
}

/* What the chosen rankings and AOPC variant need from a model: corpus frequencies for the frequency
 * order, an unknown-word token for --aopc-removal unk. */
static enum vm_status ranking_needs(const struct xcfg *c, struct xmodel *xm, struct vm_error *err) {
    int32_t pad = -1, unk = -1;
    vmaskc_model_special_tokens(xm->m, &pad, &unk, NULL);
    if (c->removal == 2 && unk < 0)
        return vm_errorf(err, VM_EINVAL, "--aopc-removal unk: the vocabulary of %s has no unknown-word token", xm->path);
    return xm->method[M_FREQ] ? id_frequencies(c, xm, err) : VM_OK;
}

/* Explanation methods, global importance and post-hoc accuracy of each compared model. A model
 * with its own importance (word_mask output or VMASK table) is ranked by it; one without is ranked
 * by the first VMASK model's q, as the paper's Figure 1 ranks the base model, or gets no post-hoc
 * curve (a note says why; an error under --posthoc). */
static enum vm_status compare_importance(const struct xcfg *c, struct xmodel *const *xms, int n, struct vm_error *err) {
    const struct xmodel *ref = NULL;
    enum vm_status s;
    for (int k = 0; k < n; k++) {
        if ((s = own_importance(c, xms[k], err))) return s;
        if (!ref && xms[k]->imp && xms[k]->training && !strcmp(xms[k]->training, "vmask")) ref = xms[k];
    }
    for (int k = 0; k < n; k++) {
        struct xmodel *xm = xms[k];
        xm->method[M_LIME] = c->method[M_LIME];
        xm->method[M_SHAP] = c->method[M_SHAP];
        xm->method[M_RANDOM] = c->method[M_RANDOM];
        xm->method[M_FREQ] = c->method[M_FREQ];
        if ((s = ranking_needs(c, xm, err))) return s;
        if (xm->imp) {
            xm->method[M_MASK] = c->method[M_MASK];
            xm->posthoc = c->posthoc != 0;
            continue;
        }
        if (c->method_given && c->method[M_MASK])
            fprintf(stderr, "note: %s (%s) has no per-word mask (no word_mask output, no VMASK table): no mask explanations for it\n", xm->name, xm->path);
        if (c->posthoc == 0) continue;
        if (ref) {
            /* the same vocabulary as ref's (check_same_task) */
            if (!(xm->imp = vm_malloc(sizeof(double) * (size_t)xm->vocab_n, err))) return VM_ENOMEM;
            memcpy(xm->imp, ref->imp, sizeof(double) * (size_t)xm->vocab_n);
            if (strstr(ref->imp_src, ref->path)) snprintf(xm->imp_src, sizeof xm->imp_src, "%s", ref->imp_src);
            else snprintf(xm->imp_src, sizeof xm->imp_src, "%s (%s)", ref->imp_src, ref->path);
            xm->posthoc = true;
        } else if (c->posthoc == 1) {
            return vm_errorf(err, VM_EINVAL,
                             "post-hoc accuracy (--posthoc) needs a global importance: %s has neither a word_mask output nor a VMASK word mask, and "
                             "no VMASK model is among the compared ones to rank its words",
                             xm->path);
        } else {
            fprintf(stderr, "note: no post-hoc accuracy for %s (%s): it has no global importance (no word_mask output, no VMASK word mask) and no "
                            "VMASK model is compared with it\n", xm->name, xm->path);
        }
    }
    return VM_OK;
}

/* Importance and methods of the one model `explain` looks at. */
static enum vm_status explain_importance(const struct xcfg *c, struct xmodel *xm, struct vm_error *err) {
    enum vm_status s = own_importance(c, xm, err);
    if (s) return s;
    for (int m = 0; m < N_METHODS; m++) xm->method[m] = c->method[m];
    if ((s = ranking_needs(c, xm, err))) return s;
    if (!xm->imp) {
        if (c->method_given && c->method[M_MASK])
            return vm_errorf(err, VM_EINVAL, "--method mask: %s has no VMASK word mask (vmask.word_keep); explain it with lime or shapley, or give "
                             "--importance TSV", xm->path);
        if (c->posthoc == 1)
            return vm_errorf(err, VM_EINVAL, "post-hoc accuracy needs a global importance: %s has no VMASK word mask; give --importance TSV (word<TAB>score)",
                             xm->path);
        xm->method[M_MASK] = false;
    }
    xm->posthoc = xm->imp && c->posthoc != 0;
    return VM_OK;
}

/* ---- SP-LIME (Ribeiro et al. 2016, as the paper's Table 6 uses it) ---- */

struct sp_item {
    const char *word;
    double w;
    int64_t ex;
};

static int sp_by_word(const void *pa, const void *pb) {
    const struct sp_item *a = pa, *b = pb;
    int c = strcmp(a->word, b->word);
    return c ? c : (a->ex > b->ex) - (a->ex < b->ex);
}

static int sp_by_weight(const void *pa, const void *pb) {
    const struct vm_report_word *a = pa, *b = pb;
    if (a->weight != b->weight) return a->weight < b->weight ? 1 : -1;
    return strcmp(a->word, b->word);
}

/* Post-hoc global importance of each word: the sum of its LIME weights (for the predicted class) over
 * the explained texts, the paper's reading of SP-LIME without its limit on the number of
 * explanations. A text counts a word once: LIME gives all its occurrences one feature. A word is a
 * vocabulary token (all unknown words are the one <unk> the model sees), or for WordPiece a whole
 * word. */
static enum vm_status splime(struct xmodel *xm, int64_t n_sel, struct vm_error *err) {
    if (!xm->method[M_LIME]) return VM_OK;
    int64_t total = 0;
    for (int64_t i = 0; i < n_sel; i++) total += xm->ex[i].word_of ? xm->ex[i].n_words : xm->ex[i].n;
    struct sp_item *it = vm_malloc(sizeof *it * (size_t)(total + 1), err);
    xm->sp = vm_malloc(sizeof *xm->sp * (size_t)(total + 1), err);
    if (!it || !xm->sp) {
        free(it);
        return VM_ENOMEM;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n_sel; i++) {
        const struct xex *e = &xm->ex[i];
        if (!e->w[M_LIME]) continue;
        int32_t nf = e->word_of ? e->n_words : e->n;
        for (int32_t f = 0; f < nf; f++) {
            double w = e->word_of ? e->ww[M_LIME][f] : e->w[M_LIME][f];
            const char *word = NULL;
            if (e->word_of) word = e->words[f];
            else vmaskc_model_token(xm->m, e->ids[f], &word, NULL);
            if (isfinite(w)) it[m++] = (struct sp_item){word, w, i};
        }
    }
    qsort(it, (size_t)m, sizeof *it, sp_by_word);
    int64_t n = 0;
    for (int64_t j = 0; j < m;) {
        struct vm_report_word *o = &xm->sp[n++];
        *o = (struct vm_report_word){it[j].word, 0, 0};
        int64_t k = j;
        for (; k < m && !strcmp(it[k].word, it[j].word); k++)
            if (k == j || it[k].ex != it[k - 1].ex) {
                o->weight += it[k].w;
                o->texts++;
            }
        j = k;
    }
    free(it);
    qsort(xm->sp, (size_t)n, sizeof *xm->sp, sp_by_weight);
    xm->n_sp = n;
    return VM_OK;
}

static int run(struct xcfg *c, const vmaskc_model_options *o, const char *const *paths, int n_models) {
    struct vm_error err = {0};
    struct xmodel models[VM_REPORT_MAX_MODELS];
    struct xmodel *xms[VM_REPORT_MAX_MODELS];
    memset(models, 0, sizeof models);
    for (int k = 0; k < VM_REPORT_MAX_MODELS; k++) xms[k] = &models[k];
    int64_t *sel = NULL, n_sel = 0;
    int rc = VM_EXIT_OK;
    enum vm_status s = VM_OK;
    struct ckpt ck = {0};
    bool compare = !strcmp(c->cmd, "compare"), report_created = false;
    bool setup_done = false; /* under mpirun, errors before it are printed once (vm_cli_dist_setup_done) */
    /* under mpirun: the texts are split over the processes; process 0 alone prints and writes */
    bool lead = vm_dist_init() > 1 ? vm_dist_rank() == 0 : true;
    if (!lead && !freopen("/dev/null", "w", stdout)) vm_dist_abort(VM_EXIT_RUNTIME);
    for (int k = 0; k < n_models && !s; k++) s = load_model(c, o, xms[k], paths[k], "model", &err);
    if (s) goto fail;
    if (compare) {
        name_models(xms, n_models);
        if ((s = check_same_task(c, xms, n_models, &err)) || (s = compare_importance(c, xms, n_models, &err))) goto fail;
    } else if ((s = explain_importance(c, xms[0], &err))) {
        goto fail;
    }
    sel = select_examples(c, xms[0]->data->n, &n_sel, &err);
    if (!sel) {
        s = VM_ENOMEM;
        goto fail;
    }
    /* the report folder is made (or refused) before the explanations, not after */
    if (c->resume && !c->report) {
        s = vm_errorf(&err, VM_EINVAL, "--resume continues the run whose progress is in a --report folder: give --report DIR");
        goto fail;
    }
    if (c->resume && vm_dist_size() > 1) {
        s = vm_errorf(&err, VM_EINVAL, "--resume runs in one process (not under mpirun)");
        goto fail;
    }
    if (lead && c->report && (s = vm_cli_prepare_dir(c->report, c->force || c->resume, &report_created, &err))) goto fail;
    int noted = n_models - 1;
    for (int k = 0; k < n_models; k++) {
        if (xms[k]->posthoc && !xms[noted]->posthoc) noted = k;
        xms[k]->ex = vm_calloc((size_t)n_sel, sizeof *xms[k]->ex, &err);
        if (!xms[k]->ex) {
            s = VM_ENOMEM;
            goto fail;
        }
    }
    /* every explained example goes to DIR/progress.bin at once (one process: under mpirun they are split) */
    if (c->report && vm_dist_size() == 1 && (s = ckpt_open(&ck, c, xms, n_models, sel, n_sel, &err))) goto fail;
    if (lead) note_short_texts(c, xms[noted], sel, n_sel);
    char title[1024];
    if (compare) {
        size_t len = 0;
        for (int k = 0; k < n_models && len < sizeof title; k++)
            len += (size_t)snprintf(title + len, sizeof title - len, "%s%s", k ? " vs " : "", xms[k]->name);
        if (len < sizeof title) snprintf(title + len, sizeof title - len, ": interpretability");
    } else {
        snprintf(title, sizeof title, "explanations");
    }
    setup_done = true;
    if ((rc = vm_cli_dist_setup_done(c->cmd, &err))) { /* another process failed and said why */
        if (report_created) rmdir(c->report);
        goto out;
    }
    for (int k = 0; k < n_models && !s; k++) s = run_model(c, xms[k], sel, n_sel, k, n_models, ck.f ? &ck : NULL, &err);
    if (!s && !lead) goto out; /* its explanations are with process 0 */
    if (s == VM_EINTERRUPTED && vm_dist_size() == 1) {
        /* report what is complete: the examples every model finished */
        int64_t done = xms[0]->done;
        for (int k = 1; k < n_models; k++) done = xms[k]->done < done ? xms[k]->done : done;
        fprintf(stderr, "\nvmaskc %s: %s\n", c->cmd, err.msg);
        if (done > 0) {
            fprintf(stderr, "vmaskc %s: results over the %lld examples every model finished:\n", c->cmd, (long long)done);
            strncat(title, " (interrupted)", sizeof title - strlen(title) - 1);
            for (int k = 0; k < n_models && !s; k++) s = splime(xms[k], done, &err);
            if (!s) finish(c, xms, n_models, sel, done, title);
        } else if (report_created && !ck.records) {
            ckpt_close(&ck);
            rmdir(c->report);
        }
        if (ck.records) fprintf(stderr, "vmaskc %s: %lld explained examples are kept in %s: the same command with --resume continues from them\n", c->cmd,
                                (long long)ck.records, ck.path);
        rc = VM_EXIT_INTERRUPTED;
        goto out;
    }
    for (int k = 0; k < n_models && !s; k++) s = splime(xms[k], n_sel, &err);
    if (s) goto fail;
    rc = finish(c, xms, n_models, sel, n_sel, title);
    goto out;
fail:
    if (!ck.records && report_created) {
        ckpt_close(&ck);
        rmdir(c->report); /* made by this run and still empty: no half-written output */
    }
    if (!setup_done) {
        rc = vm_cli_dist_setup_done(c->cmd, &err);
        goto out;
    }
    if (vm_dist_size() > 1) {
        /* this process's error (or Ctrl-C) stops every process: nobody waits for it to gather */
        vm_error_prefix(&err, "process %d of %d", vm_dist_rank(), vm_dist_size());
        vm_dist_abort(vm_cli_fail(c->cmd, &err));
    }
    rc = vm_cli_fail(c->cmd, &err);
    if (ck.records) /* what is explained stays */
        fprintf(stderr, "vmaskc %s: %lld explained examples are kept in %s: the same command with --resume continues from them\n", c->cmd,
                (long long)ck.records, ck.path);
out:
    ckpt_close(&ck);
    for (int k = 0; k < n_models; k++) xmodel_free(xms[k], n_sel);
    free(sel);
    vm_dist_finalize();
    return rc;
}

int vm_cmd_explain(int argc, char **argv) {
    struct xcfg c;
    xcfg_default(&c, "explain");
    struct vm_cli_model_args ma;
    vm_cli_model_args_init(&ma);
    const char *paths[1];
    int n_paths = 0;
    int r = parse_common("explain", argc, argv, &c, &ma, paths, 1, &n_paths);
    if (r) return r < 0 ? VM_EXIT_OK : r;
    if (!n_paths) return vm_cli_usage_error("explain", "missing MODEL");
    if (!c.data) return vm_cli_usage_error("explain", "missing --data FILE");
    vm_cli_model_args_done(&ma);
    c.threads = ma.o.threads;
    snprintf(c.threads_str, sizeof c.threads_str, "%d", c.threads);
    vm_cli_watch_interrupts(&interrupted);
    return run(&c, &ma.o, paths, 1);
}

int vm_cmd_compare(int argc, char **argv) {
    struct xcfg c;
    xcfg_default(&c, "compare");
    struct vm_cli_model_args ma;
    vm_cli_model_args_init(&ma);
    const char *paths[VM_REPORT_MAX_MODELS];
    int n_paths = 0;
    int r = parse_common("compare", argc, argv, &c, &ma, paths, VM_REPORT_MAX_MODELS, &n_paths);
    if (r) return r < 0 ? VM_EXIT_OK : r;
    if (n_paths < 2) return vm_cli_usage_error("compare", "needs at least two models (A.onnx B.onnx ...); for one model use 'vmaskc explain'");
    if (!c.data) return vm_cli_usage_error("compare", "missing --data FILE");
    if (c.importance) return vm_cli_usage_error("compare", "--importance is for 'vmaskc explain'; compare ranks each model by its own word mask (or a VMASK model's q)");
    vm_cli_model_args_done(&ma);
    c.threads = ma.o.threads;
    c.pairs_forced = ma.text.pairs;
    snprintf(c.threads_str, sizeof c.threads_str, "%d", c.threads);
    vm_cli_watch_interrupts(&interrupted);
    return run(&c, &ma.o, paths, n_paths);
}
