/* mask kernels: the L2X and IBA mask layers and IBA's information loss (semantics in
 * compiler/ops/mask.c). Per-token loops in C; noise comes from the noise input (tests) or the
 * counter RNG keyed by (seed, run counter, step index, element), so a step replays exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define PAR_MIN 32768

static float sigmoidf_(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

/* The tokens of text b in a [d0, d1] tensor whose sequence axis is `axis`: position t is at
 * base + t * stride. */
struct texts {
    int64_t n, T, d1;
    int axis;
};

static struct texts texts_of(const struct vm_rt_tensor *t, int axis) {
    struct texts x = {.d1 = t->dims[1], .axis = axis};
    x.n = axis == 1 ? t->dims[0] : t->dims[1];
    x.T = axis == 1 ? t->dims[1] : t->dims[0];
    return x;
}

static inline int64_t at(const struct texts *x, int64_t b, int64_t t) { return x->axis == 1 ? b * x->d1 + t : t * x->d1 + b; }

/* ---------------- L2XMask ---------------- */

static enum vm_status l2x_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *ts = vm_rt_in(c, s, 0), *ids = vm_rt_in(c, s, 1), *tn = vm_rt_in(c, s, 2);
    const float *sc = ts->data, *noise = tn ? tn->data : NULL;
    float *r = vm_rt_out(c, s, 0)->data, *y = vm_rt_out(c, s, 1)->data;
    int64_t K = vm_rt_attr_int(s, "k", 1), N = ts->numel;
    float inv_tau = (float)(1.0 / vm_rt_attr_float(s, "tau", 0.5));
    struct texts x = texts_of(ts, (int)vm_rt_attr_int(s, "axis", 1));
    struct vm_k_skip sk;
    vm_k_skip_init(&sk, s);
    uint64_t stream = 0x3000u + (uint64_t)s->index;
    struct vm_rt_rowkey rk = {0};
    enum vm_status st = c->training && !noise ? vm_rt_rowkey_init(c, s, s->in[0], &rk, err) : VM_OK;
    if (st) return st;
    memset(y, 0, sizeof(float) * (size_t)(K * N));
    for (int64_t b = 0; b < x.n; b++) {
        int64_t n_real = 0;
        for (int64_t t = 0; t < x.T; t++) {
            int64_t i = at(&x, b, t), id = vm_k_id_at(ids, i);
            r[i] = vm_k_skip_special(&sk, id) ? 1.0f : 0.0f;
            n_real += !vm_k_skipped(&sk, id);
        }
        if (!c->training) {
            /* selected: fewer than K real tokens score strictly higher */
            for (int64_t t = 0; t < x.T; t++) {
                int64_t i = at(&x, b, t), higher = 0;
                if (vm_k_skipped(&sk, vm_k_id_at(ids, i))) continue;
                for (int64_t u = 0; u < x.T && higher < K; u++) {
                    int64_t j = at(&x, b, u);
                    higher += !vm_k_skipped(&sk, vm_k_id_at(ids, j)) && sc[j] > sc[i];
                }
                r[i] = higher < K ? 1.0f : 0.0f;
            }
            continue;
        }
        int64_t draws = K < n_real ? K : n_real;
        for (int64_t d = 0; d < draws; d++) {
            float *yd = y + d * N, mx = -INFINITY;
            for (int64_t t = 0; t < x.T; t++) {
                int64_t i = at(&x, b, t);
                if (vm_k_skipped(&sk, vm_k_id_at(ids, i))) continue;
                float g = noise ? noise[d * N + i] : (float)-log(-log(vm_rt_rng_uniform(c->seed, c->counter, stream,
                                                                                                 (uint64_t)(d * rk.numel_global) + vm_rt_rowkey_at(&rk, i))));
                yd[i] = (sc[i] + g) * inv_tau;
                mx = yd[i] > mx ? yd[i] : mx;
            }
            double sum = 0;
            for (int64_t t = 0; t < x.T; t++) {
                int64_t i = at(&x, b, t);
                if (vm_k_skipped(&sk, vm_k_id_at(ids, i))) continue;
                sum += (yd[i] = expf(yd[i] - mx));
            }
            for (int64_t t = 0; t < x.T; t++) {
                int64_t i = at(&x, b, t);
                if (vm_k_skipped(&sk, vm_k_id_at(ids, i))) continue;
                yd[i] = (float)(yd[i] / sum);
                if (yd[i] > r[i]) r[i] = yd[i];
            }
        }
    }
    return VM_OK;
}

/* r_t = y[j*(t), t] with j*(t) the first draw reaching the max, so
 * ds_u = (dr_u r_u - sum_j a_j y[j, u]) / tau with a_j = sum over tokens t whose max is draw j of
 * dr_t y[j, t]. Tokens outside the draws have y = 0 in every draw and get 0. */
static enum vm_status l2x_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *tdr = vm_rt_in(c, s, 0), *ty = vm_rt_in(c, s, 1);
    const float *dr = tdr->data, *y = ty->data;
    float *ds = vm_rt_out(c, s, 0)->data;
    int64_t K = ty->dims[0], N = tdr->numel;
    double inv_tau = 1.0 / vm_rt_attr_float(s, "tau", 0.5);
    struct texts x = texts_of(tdr, (int)vm_rt_attr_int(s, "axis", 1));
    double a[4096]; /* K <= 4096 (the row checks it) */
    if (K > 4096) return vm_rt_step_errorf(s, err, VM_EINVAL, "k %lld exceeds 4096", (long long)K);
    for (int64_t b = 0; b < x.n; b++) {
        for (int64_t j = 0; j < K; j++) a[j] = 0;
        for (int64_t t = 0; t < x.T; t++) {
            int64_t i = at(&x, b, t), best = 0;
            for (int64_t j = 1; j < K; j++)
                if (y[j * N + i] > y[best * N + i]) best = j;
            a[best] += (double)dr[i] * y[best * N + i];
        }
        for (int64_t t = 0; t < x.T; t++) {
            int64_t i = at(&x, b, t);
            double rmax = 0, acc = 0;
            for (int64_t j = 0; j < K; j++) {
                double v = y[j * N + i];
                rmax = v > rmax ? v : rmax;
                acc += a[j] * v;
            }
            ds[i] = (float)(((double)dr[i] * rmax - acc) * inv_tau);
        }
    }
    return VM_OK;
}

/* ---------------- IBA ---------------- */

static enum vm_status iba_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *tx = vm_rt_in(c, s, 0), *ids = vm_rt_in(c, s, 4), *tn = vm_rt_in(c, s, 5);
    const float *x = tx->data, *al = vm_rt_in(c, s, 1)->data, *mu = vm_rt_in(c, s, 2)->data, *sd = vm_rt_in(c, s, 3)->data;
    const float *noise = tn ? tn->data : NULL;
    float *z = vm_rt_out(c, s, 0)->data, *lam = vm_rt_out(c, s, 1)->data, *eps = vm_rt_out(c, s, 2)->data;
    int64_t E = tx->dims[2], n = ids->numel;
    struct vm_k_skip sk;
    vm_k_skip_init(&sk, s);
    bool training = c->training;
    uint64_t stream = 0x3100u + (uint64_t)s->index;
    struct vm_rt_rowkey rk = {0};
    enum vm_status st = training && !noise ? vm_rt_rowkey_init(c, s, s->in[0], &rk, err) : VM_OK;
    if (st) return st;
#pragma omp parallel for if (n * E > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float l = vm_k_skipped(&sk, vm_k_id_at(ids, i)) ? 1.0f : sigmoidf_(al[i]);
        lam[i] = l;
        const float *xi = x + i * E;
        float *zi = z + i * E, *ei = eps + i * E;
        for (int64_t e = 0; e < E; e += 2) {
            /* one Box-Muller pair of counter-RNG uniforms gives the normals of elements e, e + 1 */
            float n0 = 0, n1 = 0;
            if (training && noise) {
                n0 = noise[i * E + e];
                n1 = e + 1 < E ? noise[i * E + e + 1] : 0.0f;
            } else if (training) {
                uint64_t k = vm_rt_rowkey_at(&rk, i * E + e);
                double u1 = vm_rt_rng_uniform(c->seed, c->counter, stream, k), u2 = vm_rt_rng_uniform(c->seed, c->counter, stream, k + 1);
                double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
                n0 = (float)(rad * cos(th));
                n1 = (float)(rad * sin(th));
            }
            ei[e] = mu[e] + sd[e] * n0;
            zi[e] = l * xi[e] + (1 - l) * ei[e];
            if (e + 1 < E) {
                ei[e + 1] = mu[e + 1] + sd[e + 1] * n1;
                zi[e + 1] = l * xi[e + 1] + (1 - l) * ei[e + 1];
            }
        }
    }
    return VM_OK;
}

static enum vm_status iba_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *tx = vm_rt_in(c, s, 0), *tdz = vm_rt_in(c, s, 3), *tdl = vm_rt_in(c, s, 4);
    const float *x = tx->data, *lam = vm_rt_in(c, s, 1)->data, *eps = vm_rt_in(c, s, 2)->data;
    const float *dz = tdz ? tdz->data : NULL, *dl = tdl ? tdl->data : NULL;
    float *dx = vm_rt_out(c, s, 0)->data, *da = vm_rt_out(c, s, 1)->data;
    int64_t E = tx->dims[2], n = vm_rt_in(c, s, 1)->numel;
#pragma omp parallel for if (n * E > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double acc = dl ? dl[i] : 0;
        float l = lam[i];
        for (int64_t e = 0; e < E; e++) {
            int64_t k = i * E + e;
            float g = dz ? dz[k] : 0.0f;
            dx[k] = l * g;
            acc += (double)g * (x[k] - eps[k]);
        }
        da[i] = (float)((double)l * (1 - l) * acc);
    }
    return VM_OK;
}

/* ---------------- IBAInfoLoss ---------------- */

static double softplus(double a) { return (a > 0 ? a : 0) + log1p(exp(-fabs(a))); }

static int64_t iba_real_count(const struct vm_rt_tensor *ids, const struct vm_k_skip *sk) {
    int64_t cnt = 0;
    for (int64_t i = 0; i < ids->numel; i++) cnt += !vm_k_skipped(sk, vm_k_id_at(ids, i));
    return cnt;
}

static enum vm_status iba_loss_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *tx = vm_rt_in(c, s, 0), *ids = vm_rt_in(c, s, 4);
    const float *x = tx->data, *al = vm_rt_in(c, s, 1)->data, *mu = vm_rt_in(c, s, 2)->data, *sd = vm_rt_in(c, s, 3)->data;
    int64_t E = tx->dims[2];
    struct vm_k_skip sk;
    vm_k_skip_init(&sk, s);
    int64_t cnt = vm_rt_global_count(c, iba_real_count(ids, &sk)); /* data-parallel: all processes' tokens */
    double sum = 0;
    for (int64_t i = 0; i < ids->numel; i++) {
        if (vm_k_skipped(&sk, vm_k_id_at(ids, i))) continue;
        double l = sigmoidf_(al[i]), sp = softplus(al[i]), acc = 0;
        for (int64_t e = 0; e < E; e++) {
            double rn = ((double)x[i * E + e] - mu[e]) / sd[e];
            acc += l * l * rn * rn;
        }
        /* KL = -1/2 (1 + log (1-l)^2 - (l r)^2 - (1-l)^2), log(1 - l) = -softplus(alpha) */
        sum += 0.5 * acc + (double)E * (sp - 0.5 + 0.5 * (1 - l) * (1 - l));
    }
    *(float *)vm_rt_out(c, s, 0)->data = cnt ? (float)(sum / ((double)cnt * (double)E)) : 0.0f;
    return VM_OK;
}

static enum vm_status iba_loss_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *tx = vm_rt_in(c, s, 1), *ids = vm_rt_in(c, s, 5);
    const float *x = tx->data, *al = vm_rt_in(c, s, 2)->data, *mu = vm_rt_in(c, s, 3)->data, *sd = vm_rt_in(c, s, 4)->data;
    float *dx = vm_rt_out(c, s, 0)->data, *da = vm_rt_out(c, s, 1)->data;
    int64_t E = tx->dims[2];
    struct vm_k_skip sk;
    vm_k_skip_init(&sk, s);
    int64_t cnt = vm_rt_global_count(c, iba_real_count(ids, &sk)); /* data-parallel: all processes' tokens */
    double scale = cnt ? *(const float *)vm_rt_in(c, s, 0)->data / ((double)cnt * (double)E) : 0;
#pragma omp parallel for if (ids->numel * E > PAR_MIN)
    for (int64_t i = 0; i < ids->numel; i++) {
        if (vm_k_skipped(&sk, vm_k_id_at(ids, i))) {
            da[i] = 0;
            memset(dx + i * E, 0, sizeof(float) * (size_t)E);
            continue;
        }
        double l = sigmoidf_(al[i]), acc = 0;
        for (int64_t e = 0; e < E; e++) {
            double rn = ((double)x[i * E + e] - mu[e]) / sd[e];
            acc += rn * rn;
            dx[i * E + e] = (float)(scale * l * l * rn / sd[e]);
        }
        /* d KL / d alpha = lam + lam^2 (1-lam) r^2 - lam (1-lam)^2, summed over E */
        da[i] = (float)(scale * ((double)E * (l - l * (1 - l) * (1 - l)) + l * l * (1 - l) * acc));
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_mask[] = {
    {"L2XMask", 2, 3, 2, 2, 0, NULL, l2x_run, NULL},
    {"L2XMaskGrad", 2, 2, 1, 1, 0, NULL, l2x_grad_run, NULL},
    {"IBA", 5, 6, 3, 3, 0, NULL, iba_run, NULL},
    {"IBAGrad", 3, 5, 2, 2, 0, NULL, iba_grad_run, NULL},
    {"IBAInfoLoss", 5, 5, 1, 1, 0, NULL, iba_loss_run, NULL},
    {"IBAInfoLossGrad", 6, 6, 2, 2, 0, NULL, iba_loss_grad_run, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
