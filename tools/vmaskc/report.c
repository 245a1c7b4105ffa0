/* report: the static HTML report of `vmaskc explain` / `vmaskc compare`.
 *
 * One self-contained HTML5 file: inline CSS, inline SVG charts, no script, no external resource. The
 * markup is also well-formed XML (polyglot: every element closed, void elements self-closed, only the
 * five XML entities), so both an HTML5 checker and an XML parser accept it (tests/report/validate.sh).
 *
 * Sections, each omitted when its data is absent: header (title, data, models, settings); summary
 * tables (AOPC per method and model, post-hoc accuracy per k); charts (post-hoc accuracy vs k, AOPC
 * vs k, frequency-importance scatter); top words by q; the examples with every token highlighted by
 * its weight, models side by side.
 *
 * Token colours: 7 buckets per (example, model, method): |w| / max|w| rounded to thirds gives levels
 * 0..3; level 0 prints the bare token (no span, keeps the file small), levels 1..3 print
 * <span class="p2" title="0.123">tok</span> with p = supports the predicted class (w > 0), n =
 * speaks against it (w < 0), q = VMASK mask probability (single hue). A method is drawn in the single
 * mask hue when its name contains "mask" and none of its weights is negative. A WordPiece continuation
 * ("##ing") is glued to the token before it, without the hashes.
 *
 * Accuracies, post-hoc accuracies and AOPC values are fractions and are printed as percentages; NaN,
 * infinities and negative accuracies (unknown) print as an en dash.
 */
#include "report.h"
#include "sbuf.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DASH "\xe2\x80\x93" /* U+2013, what an unknown number prints as */
#define SCATTER_MAX_POINTS 3000
#define TOP_WORDS 30
#define TOP_SPLIME 10
#define LEGEND_CUT 28 /* bytes of a model or method name in a chart legend */

/* Length of a valid UTF-8 sequence at s (1..4), 0 when invalid (overlong, surrogate, > U+10FFFF,
 * truncated). *cp receives the code point. */
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    unsigned c = s[0];
    int len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Appends text escaped for element content and quoted attribute values. Invalid UTF-8, control
 * characters and noncharacters (all parse errors in HTML, some fatal in XML) become U+FFFD. With
 * keep_newlines false, tabs and newlines become spaces. */
static void sb_esc_n(struct sbuf *b, const char *s, size_t max, bool keep_newlines) {
    static const char repl[] = "\xef\xbf\xbd";
    if (!s) return;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + strnlen(s, max);
    while (p < end && *p) {
        const unsigned char *run = p;
        /* copy the longest run of plain printable ASCII at once */
        while (p < end && *p >= 0x20 && *p < 0x7F && *p != '&' && *p != '<' && *p != '>' && *p != '"' &&
               *p != '\'')
            p++;
        if (p > run) sb_put(b, (const char *)run, (size_t)(p - run));
        if (p >= end || !*p) break;
        unsigned c = *p;
        switch (c) {
        case '&': sb_puts(b, "&amp;"); p++; continue;
        case '<': sb_puts(b, "&lt;"); p++; continue;
        case '>': sb_puts(b, "&gt;"); p++; continue;
        case '"': sb_puts(b, "&quot;"); p++; continue;
        case '\'': sb_puts(b, "&#39;"); p++; continue;
        case '\n':
        case '\t':
        case '\r':
            if (keep_newlines && c == '\n') sb_put(b, "\n", 1);
            else sb_put(b, " ", 1);
            p++;
            continue;
        default: break;
        }
        uint32_t cp = 0;
        int len = 0;
        /* never read past the terminating NUL or max: utf8_decode stops at a non-continuation byte */
        if (c >= 0x80) {
            unsigned char tmp[4] = {0, 0, 0, 0};
            int need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
            int have = 0;
            while (have < need && p + have < end && p[have]) {
                tmp[have] = p[have];
                have++;
            }
            if (have == need) len = utf8_decode(tmp, &cp);
        }
        bool bad = len == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
                   (cp & 0xFFFE) == 0xFFFE;
        if (bad) {
            sb_put(b, repl, 3);
            p += len ? len : 1;
        } else {
            sb_put(b, (const char *)p, (size_t)len);
            p += len;
        }
    }
}

static void sb_esc(struct sbuf *b, const char *s) { sb_esc_n(b, s, SIZE_MAX, false); }

/* Escaped, cut to at most max bytes on a UTF-8 boundary with an ellipsis (legends in fixed-width SVG). */
static void sb_esc_cut(struct sbuf *b, const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) {
        sb_esc(b, s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    sb_esc_n(b, s, max, false);
    sb_puts(b, "\xe2\x80\xa6");
}

static bool finite_d(double v) { return !isnan(v) && !isinf(v); }

/* Fraction as a percentage ("87.3%"), or a dash. */
static void sb_pct(struct sbuf *b, double v, int decimals) {
    if (!finite_d(v)) sb_puts(b, DASH);
    else sb_printf(b, "%.*f%%", decimals, v * 100.0);
}

static void sb_num(struct sbuf *b, double v, int decimals) {
    if (!finite_d(v)) sb_puts(b, DASH);
    else sb_printf(b, "%.*f", decimals, v);
}

/* 12345678 -> "12,345,678" */
static void sb_int_grouped(struct sbuf *b, int64_t v) {
    char d[32];
    snprintf(d, sizeof d, "%lld", (long long)(v < 0 ? -v : v));
    if (v < 0) sb_puts(b, "-");
    size_t n = strlen(d);
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) sb_puts(b, ",");
        sb_put(b, d + i, 1);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* small helpers over the report */

static void class_name(struct sbuf *b, const struct vm_report *r, int c) {
    if (c >= 0 && c < 64 && r->class_names[c]) sb_esc(b, r->class_names[c]);
    else sb_printf(b, "class %d", c);
}

static const char *model_name(const struct vm_report *r, int m, char *tmp, size_t n) {
    if (r->models[m].name && r->models[m].name[0]) return r->models[m].name;
    snprintf(tmp, n, "model %d", m + 1);
    return tmp;
}

static const char *method_name(const struct vm_report *r, int k, char *tmp, size_t n) {
    if (r->method_names[k] && r->method_names[k][0]) return r->method_names[k];
    snprintf(tmp, n, "method %d", k + 1);
    return tmp;
}

static bool contains_ci(const char *s, const char *needle) {
    if (!s) return false;
    size_t nl = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < nl && s[i] && tolower((unsigned char)s[i]) == needle[i]) i++;
        if (i == nl) return true;
    }
    return false;
}

static bool model_has_examples(const struct vm_report *r, int m) {
    return r->n_examples > 0 && r->models[m].examples != NULL;
}

static bool model_has_aopc(const struct vm_report_model *md, int k) {
    return md->n_aopc > 0 && md->aopc[k] != NULL;
}

static bool model_has_words(const struct vm_report_model *md) {
    return md->n_words > 0 && md->words != NULL && md->word_q != NULL;
}

/* Single-hue methods: a mask probability is never negative and has no "against" direction. */
static bool method_is_mask(const struct vm_report *r, int k) {
    if (!contains_ci(r->method_names[k], "mask")) return false;
    for (int m = 0; m < r->n_models; m++) {
        if (!model_has_examples(r, m)) continue;
        for (int64_t i = 0; i < r->n_examples; i++) {
            const struct vm_report_example *e = &r->models[m].examples[i];
            if (!e->weights[k] || !e->tokens) continue;
            for (int32_t t = 0; t < e->n_tokens; t++)
                if (e->weights[k][t] < 0) return false;
        }
    }
    return true;
}

static bool method_has_weights(const struct vm_report *r, int k) {
    for (int m = 0; m < r->n_models; m++) {
        if (!model_has_examples(r, m)) continue;
        for (int64_t i = 0; i < r->n_examples; i++)
            if (r->models[m].examples[i].weights[k]) return true;
    }
    return false;
}

static bool any_model_method(const struct vm_report *r) {
    for (int m = 0; m < r->n_models; m++)
        if (r->models[m].method) return true;
    return false;
}

static bool model_is(const struct vm_report_model *md, const char *method) { return md->method && !strcmp(md->method, method); }

/* The method whose name contains needle (case-insensitive), -1 when none. */
static int find_method(const struct vm_report *r, const char *needle) {
    for (int k = 0; k < r->n_methods; k++)
        if (contains_ci(r->method_names[k], needle)) return k;
    return -1;
}

static const char *importance_name(const struct vm_report_model *md) {
    return md->importance_name && md->importance_name[0] ? md->importance_name : "q";
}

/* Colours: models in the curves, methods in the AOPC chart (Okabe-Ito, colour-blind safe). */
static const char *const MODEL_COLOR[VM_REPORT_MAX_MODELS] = {"#6b6b6b", "#0b62a4", "#d55e00", "#009e73", "#cc79a7", "#e69f00",
                                                               "#56b4e9", "#000000", "#6a4c93", "#8c6d1f", "#2f6f6f", "#a0522d",
                                                               "#1b9e77", "#7570b3", "#e7298a", "#66a61e"};
static const char *const METHOD_COLOR[VM_REPORT_MAX_METHODS] = {"#d55e00", "#0072b2", "#009e73", "#cc79a7", "#999999"};

/* ---------------------------------------------------------------------------------------------- */
/* SVG charts */

struct axis {
    double lo, hi, step;
    int decimals;
};

static double nice_step(double raw) {
    if (!(raw > 0) || !finite_d(raw)) return 1;
    double e = pow(10, floor(log10(raw)));
    double f = raw / e;
    double n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return n * e;
}

/* A "nice" axis covering [lo, hi] with about 5 steps, clamped to [min_lim, max_lim]. */
static struct axis nice_axis(double lo, double hi, double min_lim, double max_lim) {
    struct axis a;
    if (!finite_d(lo) || !finite_d(hi)) lo = 0, hi = 1;
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad, hi += pad;
    }
    a.step = nice_step((hi - lo) / 5);
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    if (a.lo < min_lim) a.lo = min_lim;
    if (a.hi > max_lim) a.hi = max_lim;
    if (!(a.hi > a.lo)) a.hi = a.lo + a.step;
    a.decimals = 0;
    while (a.decimals < 6) {
        double s = a.step * pow(10, a.decimals);
        if (fabs(s - floor(s + 0.5)) < 1e-6) break;
        a.decimals++;
    }
    return a;
}

struct series {
    const char *label, *label2; /* legend text: label, or "label · label2" (raw, escaped on output) */
    const double *y;      /* y[0..n-1] at x = 1..n, fractions */
    int n;
    const char *color;
    bool dashed;
    int marker;           /* 0 circle, 1 square, 2 triangle, 3 diamond */
};

/* chart geometry (SVG user units) */
#define CH_W 580.0
#define CH_L 58.0
#define CH_R 18.0
#define CH_T 16.0
#define CH_PH 220.0 /* plot height */

static void svg_marker(struct sbuf *b, int marker, double x, double y, const char *color) {
    switch (marker) {
    case 1:
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"%s\"/>", x - 3.5, y - 3.5,
                  color);
        break;
    case 2:
        sb_printf(b, "<path d=\"M%.1f %.1fl4.3 7.4h-8.6z\" fill=\"%s\"/>", x, y - 4.6, color);
        break;
    case 3:
        sb_printf(b, "<path d=\"M%.1f %.1fl4.5 4.5-4.5 4.5-4.5-4.5z\" fill=\"%s\"/>", x, y - 4.5, color);
        break;
    default:
        sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.6\" fill=\"%s\"/>", x, y, color);
        break;
    }
}

/* Legend below the plot: entries flow left to right and wrap; returns the height used. */
static double svg_legend(struct sbuf *b, const struct series *s, int ns, double y0, bool draw) {
    double x = CH_L, y = y0, row_h = 20;
    for (int i = 0; i < ns; i++) {
        size_t chars = strlen(s[i].label) + (s[i].label2 ? strlen(s[i].label2) + 3 : 0);
        if (chars > 2 * LEGEND_CUT + 3) chars = 2 * LEGEND_CUT + 3;
        double w = 48 + 7.3 * (double)chars;
        if (x > CH_L && x + w > CH_W - CH_R) x = CH_L, y += row_h;
        if (draw) {
            sb_printf(b, "<path d=\"M%.1f %.1fh26\" stroke=\"%s\" stroke-width=\"2.2\" fill=\"none\"%s/>", x, y,
                      s[i].color, s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
            svg_marker(b, s[i].marker, x + 13, y, s[i].color);
            sb_printf(b, "<text class=\"lg\" x=\"%.1f\" y=\"%.1f\">", x + 32, y + 4);
            sb_esc_cut(b, s[i].label, LEGEND_CUT);
            if (s[i].label2) {
                sb_puts(b, " \xc2\xb7 ");
                sb_esc_cut(b, s[i].label2, LEGEND_CUT);
            }
            sb_puts(b, "</text>");
        }
        x += w;
    }
    return y - y0 + row_h;
}

/* Line chart of series over k = 1..n with percentage y values. */
static void svg_line_chart(struct sbuf *b, const char *aria, const char *xlabel, const char *ylabel,
                           const struct series *s, int ns, bool include_zero) {
    int nmax = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < ns; i++) {
        if (s[i].n > nmax) nmax = s[i].n;
        for (int k = 0; k < s[i].n; k++) {
            double v = s[i].y[k] * 100.0;
            if (!finite_d(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    if (nmax < 1) return;
    if (include_zero && lo > 0) lo = 0;
    struct axis ya = nice_axis(lo, hi, include_zero ? -1e9 : 0, include_zero ? 1e9 : 100);
    double pw = CH_W - CH_L - CH_R;
    double legend_h = svg_legend(b, s, ns, 0, false);
    double H = CH_T + CH_PH + 48 + legend_h + 4;
    double x_lo = 1 - 0.35, x_hi = nmax + 0.35;
#define XK(k) (CH_L + ((double)(k) - x_lo) / (x_hi - x_lo) * pw)
#define YV(v) (CH_T + CH_PH - ((v) - ya.lo) / (ya.hi - ya.lo) * CH_PH)
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
              CH_W, H, CH_W, H);
    sb_esc(b, aria);
    sb_puts(b, "\">");
    /* y grid and ticks */
    sb_puts(b, "<g class=\"grid\">");
    int nt = (int)floor((ya.hi - ya.lo) / ya.step + 1e-6);
    for (int i = 0; i <= nt; i++) {
        double v = ya.lo + i * ya.step;
        sb_printf(b, "<path d=\"M%.1f %.1fH%.1f\"/>", CH_L, YV(v), CH_W - CH_R);
    }
    sb_puts(b, "</g><g class=\"tk\" text-anchor=\"end\">");
    for (int i = 0; i <= nt; i++) {
        double v = ya.lo + i * ya.step;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%.*f</text>", CH_L - 7, YV(v) + 4, ya.decimals, v);
    }
    /* x ticks: every k up to 12, else a readable stride */
    int xs = nmax <= 12 ? 1 : nmax <= 30 ? 5 : (int)nice_step(nmax / 6.0);
    if (xs < 1) xs = 1;
    sb_puts(b, "</g><g class=\"tk\" text-anchor=\"middle\">");
    for (int k = 1; k <= nmax; k++) {
        if (k != 1 && k % xs) continue;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%d</text>", XK(k), CH_T + CH_PH + 17, k);
    }
    sb_puts(b, "</g><g class=\"axis\">");
    for (int k = 1; k <= nmax; k++) {
        if (k != 1 && k % xs) continue;
        sb_printf(b, "<path d=\"M%.1f %.1fv5\"/>", XK(k), CH_T + CH_PH);
    }
    sb_printf(b, "<path d=\"M%.1f %.1fV%.1fH%.1f\"/></g>", CH_L, CH_T, CH_T + CH_PH, CH_W - CH_R);
    /* axis labels */
    sb_printf(b, "<text class=\"al\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", CH_L + pw / 2,
              CH_T + CH_PH + 36, xlabel);
    sb_printf(b, "<text class=\"al\" transform=\"rotate(-90)\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">%s</text>",
              -(CH_T + CH_PH / 2), ylabel);
    /* series */
    for (int i = 0; i < ns; i++) {
        int finite = 0;
        for (int k = 0; k < s[i].n; k++) finite += finite_d(s[i].y[k] * 100.0);
        if (!finite) continue;
        sb_printf(b, "<g><path d=\"");
        bool pen = false;
        for (int k = 0; k < s[i].n; k++) {
            double v = s[i].y[k] * 100.0;
            if (!finite_d(v)) {
                pen = false;
                continue;
            }
            sb_printf(b, "%s%.1f %.1f", pen ? "L" : "M", XK(k + 1), YV(v));
            pen = true;
        }
        sb_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.2\" stroke-linejoin=\"round\"%s/>", s[i].color,
                  s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int k = 0; k < s[i].n; k++) {
            double v = s[i].y[k] * 100.0;
            if (finite_d(v)) svg_marker(b, s[i].marker, XK(k + 1), YV(v), s[i].color);
        }
        sb_puts(b, "</g>");
    }
    svg_legend(b, s, ns, CH_T + CH_PH + 58, true);
    sb_puts(b, "</svg>");
#undef XK
#undef YV
}

static void freq_label(char *out, size_t n, int e) {
    static const char *const names[] = {"1", "10", "100", "1k", "10k", "100k", "1M", "10M", "100M", "1G"};
    if (e >= 0 && e < 10) snprintf(out, n, "%s", names[e]);
    else snprintf(out, n, "1e%d", e);
}

/* Frequency-importance scatter of one model: log10(frequency) on x, q on y. At most
 * SCATTER_MAX_POINTS words with frequency >= 1, evenly strided over the vocabulary order. */
static void svg_scatter(struct sbuf *b, const struct vm_report *r, int m) {
    const struct vm_report_model *md = &r->models[m];
    int64_t eligible = 0, zero_freq = 0;
    double fmax = 1, qlo = INFINITY, qhi = -INFINITY;
    for (int64_t i = 0; i < md->n_words; i++) {
        double q = md->word_q[i];
        if (!finite_d(q)) continue;
        if (md->word_freq[i] < 1) {
            zero_freq++;
            continue;
        }
        eligible++;
        if ((double)md->word_freq[i] > fmax) fmax = (double)md->word_freq[i];
        if (q < qlo) qlo = q;
        if (q > qhi) qhi = q;
    }
    char tmp[32], mname[32];
    const char *name = model_name(r, m, mname, sizeof mname);
    if (eligible == 0) return;
    int emax = (int)ceil(log10(fmax) - 1e-9);
    if (emax < 1) emax = 1;
    struct axis ya = nice_axis(qlo, qhi, 0, 1);
    double pw = CH_W - CH_L - CH_R, ph = 260, H = CH_T + ph + 46;
#define XF(lf) (CH_L + (double)(lf) / emax * pw)
#define YQ(q) (CH_T + ph - ((q) - ya.lo) / (ya.hi - ya.lo) * ph)
    sb_puts(b, "<figure class=\"fig\">");
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
              CH_W, H, CH_W, H);
    sb_puts(b, "Word frequency versus mask importance q, ");
    sb_esc(b, name);
    sb_puts(b, "\"><g class=\"grid\">");
    int nt = (int)floor((ya.hi - ya.lo) / ya.step + 1e-6);
    for (int i = 0; i <= nt; i++)
        sb_printf(b, "<path d=\"M%.1f %.1fH%.1f\"/>", CH_L, YQ(ya.lo + i * ya.step), CH_W - CH_R);
    for (int e = 1; e <= emax; e++) sb_printf(b, "<path d=\"M%.1f %.1fV%.1f\"/>", XF(e), CH_T, CH_T + ph);
    sb_puts(b, "</g><g class=\"tk\" text-anchor=\"end\">");
    for (int i = 0; i <= nt; i++) {
        double v = ya.lo + i * ya.step;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%.*f</text>", CH_L - 7, YQ(v) + 4, ya.decimals, v);
    }
    sb_puts(b, "</g><g class=\"tk\" text-anchor=\"middle\">");
    int estep = emax <= 8 ? 1 : 2;
    for (int e = 0; e <= emax; e += estep) {
        freq_label(tmp, sizeof tmp, e);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", XF(e), CH_T + ph + 17, tmp);
    }
    sb_printf(b, "</g><g class=\"axis\"><path d=\"M%.1f %.1fV%.1fH%.1f\"/></g>", CH_L, CH_T, CH_T + ph, CH_W - CH_R);
    sb_printf(b, "<text class=\"al\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">word frequency (log scale)</text>",
              CH_L + pw / 2, CH_T + ph + 36);
    sb_printf(b, "<text class=\"al\" transform=\"rotate(-90)\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">importance q</text>",
              -(CH_T + ph / 2));
    /* points: zero-length round-capped subpaths, ~14 bytes each */
    int64_t shown = 0;
    sb_printf(b, "<path class=\"pts\" stroke=\"%s\" d=\"", MODEL_COLOR[m]);
    int64_t j = 0;
    for (int64_t i = 0; i < md->n_words; i++) {
        double q = md->word_q[i];
        if (!finite_d(q) || md->word_freq[i] < 1) continue;
        bool keep = eligible <= SCATTER_MAX_POINTS ||
                    (j + 1) * SCATTER_MAX_POINTS / eligible > j * SCATTER_MAX_POINTS / eligible;
        j++;
        if (!keep) continue;
        sb_printf(b, "M%.1f %.1fh0", XF(log10((double)md->word_freq[i])), YQ(q));
        shown++;
    }
    sb_puts(b, "\"/></svg><figcaption><b>Frequency vs. importance, ");
    sb_esc(b, name);
    sb_puts(b, ".</b> Pearson <i>r</i> = ");
    sb_num(b, md->pearson, 3);
    sb_puts(b, ". ");
    if (shown < eligible) {
        sb_int_grouped(b, shown);
        sb_puts(b, " of ");
        sb_int_grouped(b, eligible);
        sb_puts(b, " words shown (evenly sampled)");
    } else {
        sb_int_grouped(b, shown);
        sb_puts(b, " words");
    }
    if (zero_freq) {
        sb_puts(b, "; ");
        sb_int_grouped(b, zero_freq);
        sb_puts(b, " words never seen in the corpus are left out");
    }
    sb_puts(b, ".</figcaption></figure>\n");
#undef XF
#undef YQ
}

/* ---------------------------------------------------------------------------------------------- */
/* sections */

static const char CSS[] =
    ":root{color-scheme:light;--ink:#1d2329;--muted:#5b6670;--rule:#d9dee3;--soft:#f4f6f8;--accent:#0b62a4}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-text-size-adjust:100%;print-color-adjust:exact;-webkit-print-color-adjust:exact}\n"
    "body{margin:0;background:#fff;color:var(--ink);font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"Noto Sans\",\"DejaVu Sans\",\"Helvetica Neue\",Arial,sans-serif}\n"
    "main{max-width:1200px;margin:0 auto;padding:28px 32px 48px}\n"
    "h1{font-size:26px;line-height:1.25;margin:0 0 4px;font-weight:650}\n"
    "h2{font-size:19px;margin:36px 0 10px;padding-bottom:5px;border-bottom:2px solid var(--ink);font-weight:650}\n"
    "h3{font-size:15px;margin:0;font-weight:600}\n"
    "p{margin:6px 0}\n"
    "code,.mono{font-family:ui-monospace,\"SFMono-Regular\",\"DejaVu Sans Mono\",Menlo,Consolas,monospace;"
    "font-size:13px}\n"
    ".sub{color:var(--muted);margin:0 0 14px}\n"
    ".note{color:var(--muted);font-size:13.5px;max-width:78ch}\n"
    "nav{margin:10px 0 0;font-size:14px}nav a{color:var(--accent);text-decoration:none;margin-right:16px}\n"
    "nav a:hover{text-decoration:underline}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
    ".data th,.data td{padding:5px 10px;border-bottom:1px solid var(--rule);text-align:right;vertical-align:top}\n"
    ".data th{font-weight:600}.data thead th{border-bottom:1.5px solid var(--ink);font-size:13.5px}\n"
    ".data .l{text-align:left}.data td.best{font-weight:700}\n"
    ".data caption{caption-side:top;text-align:left;font-weight:600;padding:0 0 6px}\n"
    ".tables{display:flex;flex-wrap:wrap;gap:20px 40px;align-items:flex-start}\n"
    ".settings{white-space:pre-wrap;background:var(--soft);border:1px solid var(--rule);border-radius:6px;"
    "padding:8px 12px;margin:10px 0 0;font-size:12.5px;line-height:1.45}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:18px 28px}\n"
    ".fig{margin:0;flex:1 1 520px;max-width:590px}\n"
    ".fig figcaption{font-size:13.5px;color:var(--muted);margin-top:4px}\n"
    ".fig figcaption b{color:var(--ink);font-weight:600}\n"
    "svg.chart{display:block;width:100%;height:auto;font-family:inherit}\n"
    "svg .grid path{stroke:#e6e9ec;stroke-width:1;fill:none}\n"
    "svg .axis path{stroke:#4a535b;stroke-width:1;fill:none}\n"
    "svg .tk{font-size:11.5px;fill:#4a535b}\n"
    "svg .al{font-size:12.5px;fill:var(--ink)}\n"
    "svg .lg{font-size:12.5px;fill:var(--ink)}\n"
    "svg .pts{fill:none;stroke-width:3.6;stroke-linecap:round;stroke-opacity:.42}\n"
    ".words td,.words th{padding:2px 10px;line-height:1.4}\n"
    ".words td.w{text-align:left;font-weight:600;max-width:16em;overflow-wrap:anywhere}\n"
    ".bar{display:inline-block;height:9px;background:#6a4c93;border-radius:2px;vertical-align:middle;"
    "margin-right:8px}\n"
    ".qv{display:inline-block;min-width:3.2em}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:center;font-size:13.5px;margin:8px 0 16px;"
    "padding:10px 14px;background:var(--soft);border:1px solid var(--rule);border-radius:6px}\n"
    ".legend .sw{display:inline-flex;gap:2px;vertical-align:middle;margin:0 6px}\n"
    ".legend .sw div{width:22px;height:16px;border-radius:3px}\n"
    ".ex{border:1px solid var(--rule);border-radius:8px;margin:0 0 16px;padding:12px 16px 10px;"
    "break-inside:avoid}\n"
    ".ex h3{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:baseline;margin-bottom:6px}\n"
    ".ex h3 .id{color:var(--muted);font-weight:600;font-variant-numeric:tabular-nums}\n"
    ".ex h3 .gold{font-weight:400;color:var(--muted)}.ex h3 .gold b{color:var(--ink);font-weight:600}\n"
    ".badge{font-size:12px;font-weight:600;border-radius:10px;padding:1px 8px;background:#fff3cd;color:#6b4e00;"
    "border:1px solid #e9d48b}\n"
    ".ext{width:100%;table-layout:fixed}\n"
    ".ext th,.ext td{vertical-align:top;text-align:left;padding:6px 10px 6px 0}\n"
    ".ext thead th{font-weight:400;font-size:13.5px;border-bottom:1px solid var(--rule);padding-bottom:6px}\n"
    ".ext thead th b{font-weight:600}\n"
    ".ext tbody th{font-size:13px;font-weight:600;color:var(--muted);padding-top:8px;overflow-wrap:anywhere}\n"
    ".ext tbody tr+tr>*{border-top:1px dashed #e6e9ec}\n"
    ".ext col.m{width:8.5em}\n"
    ".mn{font-weight:600;color:var(--ink)}\n"
    ".ok{color:#1a7f37;font-weight:700}.bad{color:#b42318;font-weight:700}\n"
    ".probs{color:var(--muted);font-size:12.5px;font-variant-numeric:tabular-nums}\n"
    ".tx{margin:0;line-height:1.95;overflow-wrap:anywhere}\n"
    ".tx span{border-radius:3px;padding:1px 2px;-webkit-box-decoration-break:clone;box-decoration-break:clone}\n"
    ".p1{background:#d6e6f4}.p2{background:#8fbfe0}.p3{background:#1f5f9e;color:#fff}\n"
    ".n1{background:#fbdccb}.n2{background:#f4a07c}.n3{background:#b3261e;color:#fff}\n"
    ".q1{background:#e8e0f1}.q2{background:#bfa9db}.q3{background:#5e3f8f;color:#fff}\n"
    ".na{color:var(--muted);font-style:italic;font-size:13px}\n"
    "details{margin:4px 0 0;font-size:13px;color:var(--muted)}summary{cursor:pointer}\n"
    "details p{white-space:pre-wrap;color:var(--ink);margin:4px 0 2px;font-size:13.5px}\n"
    "footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--rule);color:var(--muted);font-size:12.5px}\n"
    "@media print{body{font-size:10pt}main{max-width:none;padding:0}nav{display:none}"
    "h2{break-after:avoid}.fig,.ex,table{break-inside:avoid}details{display:none}"
    ".ex{border-color:#bbb}.ext col.m{width:7.5em}}\n";

static bool has_splime(const struct vm_report *r) {
    for (int m = 0; m < r->n_models; m++)
        if (r->models[m].splime && r->models[m].n_splime > 0) return true;
    return false;
}

static void write_header(struct sbuf *b, const struct vm_report *r, bool has_summary, bool has_charts,
                         bool has_words, bool has_examples) {
    char tmp[32];
    const char *title = r->title && r->title[0] ? r->title : "vmaskc explanation report";
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n"
               "<meta name=\"generator\" content=\"vmaskc " VM_VERSION "\" />\n<title>");
    sb_esc(b, title);
    sb_puts(b, "</title>\n<style>\n");
    sb_puts(b, CSS);
    sb_puts(b, "</style>\n</head>\n<body>\n<main>\n<header>\n<h1>");
    sb_esc(b, title);
    sb_puts(b, "</h1>\n<p class=\"sub\">");
    if (r->data_path) {
        sb_puts(b, "Data <code>");
        sb_esc(b, r->data_path);
        sb_puts(b, "</code> \xc2\xb7 ");
    }
    sb_int_grouped(b, r->n_examples > 0 ? r->n_examples : 0);
    sb_printf(b, " text%s explained", r->n_examples == 1 ? "" : "s");
    if (r->n_methods > 0) {
        sb_puts(b, " with ");
        for (int k = 0; k < r->n_methods; k++) {
            if (k) sb_puts(b, k == r->n_methods - 1 ? " and " : ", ");
            sb_esc(b, method_name(r, k, tmp, sizeof tmp));
        }
    }
    sb_puts(b, "</p>\n");
    if (r->n_models > 0) {
        bool methods = any_model_method(r);
        sb_puts(b, "<table class=\"data\"><thead><tr><th class=\"l\">Model</th>");
        if (methods) sb_puts(b, "<th class=\"l\">Training</th>");
        sb_puts(b, "<th class=\"l\">File</th>");
        if (r->n_data > 0) {
            sb_puts(b, "<th>Test accuracy (all ");
            sb_int_grouped(b, r->n_data);
            sb_puts(b, " texts)</th><th>Accuracy (explained texts)</th>");
        } else {
            sb_puts(b, "<th>Accuracy</th>");
        }
        sb_puts(b, "</tr></thead><tbody>\n");
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            sb_puts(b, "<tr><th class=\"l\">");
            sb_esc(b, model_name(r, m, tmp, sizeof tmp));
            sb_puts(b, "</th>");
            if (methods) {
                sb_puts(b, "<td class=\"l\">");
                sb_esc(b, md->method ? md->method : DASH);
                sb_puts(b, "</td>");
            }
            sb_puts(b, "<td class=\"l\"><code>");
            sb_esc(b, md->path ? md->path : DASH);
            sb_puts(b, "</code></td><td>");
            if (r->n_data > 0) {
                sb_pct(b, md->test_accuracy >= 0 ? md->test_accuracy : NAN, 2);
                sb_puts(b, "</td><td>");
            }
            sb_pct(b, md->accuracy >= 0 ? md->accuracy : NAN, 1);
            sb_puts(b, "</td></tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
    }
    if (r->settings && r->settings[0]) {
        sb_puts(b, "<pre class=\"settings\">");
        sb_esc_n(b, r->settings, SIZE_MAX, true);
        sb_puts(b, "</pre>\n");
    }
    if (has_summary + has_charts + has_words + has_examples > 1) {
        sb_puts(b, "<nav>");
        if (has_summary) sb_puts(b, "<a href=\"#summary\">Summary</a>");
        if (has_charts) sb_puts(b, "<a href=\"#curves\">Curves</a>");
        if (has_words) sb_puts(b, "<a href=\"#words\">Global importance</a>");
        if (has_splime(r)) sb_puts(b, "<a href=\"#splime\">SP-LIME words</a>");
        if (has_examples) sb_puts(b, "<a href=\"#examples\">Examples</a>");
        sb_puts(b, "</nav>\n");
    }
    sb_puts(b, "</header>\n");
}

/* One row per model with its numbers of the paper's Tables 3, 4 and 11 and Figure 1's ends. */
static void write_paper_table(struct sbuf *b, const struct vm_report *r) {
    char tmp[32];
    int lime = find_method(r, "lime"), shap = find_method(r, "shapley"), K = 0;
    for (int m = 0; m < r->n_models; m++)
        if (r->models[m].n_posthoc > K && r->models[m].posthoc_acc) K = r->models[m].n_posthoc;
    sb_puts(b, "<table class=\"data\" id=\"paper\"><caption>The paper\xe2\x80\x99s tables, one row per model (%)</caption><thead><tr>"
               "<th class=\"l\">Model</th><th class=\"l\">Training</th><th>Test accuracy<br />(Table 3)</th>");
    if (lime >= 0) sb_puts(b, "<th>AOPC LIME<br />(Table 4)</th>");
    if (shap >= 0) sb_puts(b, "<th>AOPC SampleShapley<br />(Table 4)</th>");
    if (K > 0) sb_printf(b, "<th>Post-hoc acc. k = 1<br />(Figure 1)</th><th>k = %d</th>", K);
    sb_puts(b, "<th>Pearson <i>r</i><br />(Table 11)</th></tr></thead><tbody>\n");
    for (int m = 0; m < r->n_models; m++) {
        const struct vm_report_model *md = &r->models[m];
        sb_puts(b, "<tr><th class=\"l\">");
        sb_esc(b, model_name(r, m, tmp, sizeof tmp));
        sb_puts(b, "</th><td class=\"l\">");
        sb_esc(b, md->method ? md->method : DASH);
        sb_puts(b, "</td><td>");
        sb_num(b, r->n_data > 0 && md->test_accuracy >= 0 ? md->test_accuracy * 100 : NAN, 2);
        sb_puts(b, "</td>");
        for (int i = 0; i < 2; i++) {
            int k = i ? shap : lime;
            if (k < 0) continue;
            sb_puts(b, "<td>");
            sb_num(b, model_has_aopc(md, k) ? md->aopc[k][md->n_aopc - 1] * 100 : NAN, 2);
            sb_puts(b, "</td>");
        }
        if (K > 0) {
            bool ph = md->posthoc_acc && md->n_posthoc > 0;
            sb_puts(b, "<td>");
            sb_num(b, ph ? md->posthoc_acc[0] * 100 : NAN, 1);
            sb_puts(b, "</td><td>");
            sb_num(b, ph && md->n_posthoc >= K ? md->posthoc_acc[K - 1] * 100 : NAN, 1);
            sb_puts(b, "</td>");
        }
        sb_puts(b, "<td>");
        sb_num(b, model_has_words(md) ? md->pearson : NAN, 3);
        sb_puts(b, "</td></tr>\n");
    }
    sb_puts(b, "</tbody></table>\n");
}

static void write_summary(struct sbuf *b, const struct vm_report *r, bool any_aopc, bool any_posthoc) {
    char tmp[32];
    sb_puts(b, "<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"tables\">\n");
    if (any_model_method(r)) write_paper_table(b, r);
    if (any_aopc) {
        /* K = the last k of each model's AOPC curve; one K in the caption when all agree */
        int K = -1;
        bool same = true;
        for (int m = 0; m < r->n_models; m++) {
            int n = r->models[m].n_aopc;
            if (n <= 0) continue;
            if (K < 0) K = n;
            else if (K != n) same = false;
        }
        sb_puts(b, "<table class=\"data\"><caption>AOPC");
        if (same) sb_printf(b, " (K = %d)", K);
        sb_puts(b, ", %</caption><thead><tr><th class=\"l\">Method</th>");
        for (int m = 0; m < r->n_models; m++) {
            if (r->models[m].n_aopc <= 0) continue;
            sb_puts(b, "<th>");
            sb_esc(b, model_name(r, m, tmp, sizeof tmp));
            if (!same) sb_printf(b, " (K = %d)", r->models[m].n_aopc);
            sb_puts(b, "</th>");
        }
        sb_puts(b, "</tr></thead><tbody>\n");
        for (int k = 0; k < r->n_methods; k++) {
            bool any = false;
            double best = -INFINITY;
            for (int m = 0; m < r->n_models; m++) {
                if (!model_has_aopc(&r->models[m], k)) continue;
                any = true;
                double v = r->models[m].aopc[k][r->models[m].n_aopc - 1];
                if (finite_d(v) && v > best) best = v;
            }
            if (!any) continue;
            sb_puts(b, "<tr><th class=\"l\">");
            sb_esc(b, method_name(r, k, tmp, sizeof tmp));
            sb_puts(b, "</th>");
            int n_with = 0;
            for (int m = 0; m < r->n_models; m++) n_with += model_has_aopc(&r->models[m], k);
            for (int m = 0; m < r->n_models; m++) {
                const struct vm_report_model *md = &r->models[m];
                if (md->n_aopc <= 0) continue;
                if (!md->aopc[k]) {
                    sb_puts(b, "<td>" DASH "</td>");
                    continue;
                }
                double v = md->aopc[k][md->n_aopc - 1];
                sb_puts(b, n_with > 1 && finite_d(v) && v == best ? "<td class=\"best\">" : "<td>");
                sb_num(b, v * 100, 2);
                sb_puts(b, "</td>");
            }
            sb_puts(b, "</tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
    }
    if (any_posthoc) {
        int K = 0, n_with = 0;
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            if (!md->posthoc_acc || md->n_posthoc <= 0) continue;
            n_with++;
            if (md->n_posthoc > K) K = md->n_posthoc;
        }
        sb_puts(b, "<table class=\"data\"><caption>Post-hoc accuracy, % (k = words kept)</caption>"
                   "<thead><tr><th class=\"l\">Model \xc2\xb7 k</th>");
        for (int k = 1; k <= K; k++) sb_printf(b, "<th>%d</th>", k);
        sb_puts(b, "</tr></thead><tbody>\n");
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            if (!md->posthoc_acc || md->n_posthoc <= 0) continue;
            sb_puts(b, "<tr><th class=\"l\">");
            sb_esc(b, model_name(r, m, tmp, sizeof tmp));
            sb_puts(b, "</th>");
            for (int k = 0; k < K; k++) {
                double v = k < md->n_posthoc ? md->posthoc_acc[k] : NAN;
                bool best = n_with > 1 && finite_d(v);
                for (int o = 0; o < r->n_models && best; o++) {
                    const struct vm_report_model *mo = &r->models[o];
                    if (o == m || !mo->posthoc_acc || k >= mo->n_posthoc) continue;
                    if (finite_d(mo->posthoc_acc[k]) && mo->posthoc_acc[k] > v) best = false;
                }
                sb_puts(b, best ? "<td class=\"best\">" : "<td>");
                sb_num(b, v * 100, 1);
                sb_puts(b, "</td>");
            }
            sb_puts(b, "</tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
    }
    sb_puts(b, "</div>\n<p class=\"note\">");
    if (any_aopc)
        sb_puts(b, "AOPC: mean drop in the probability of the predicted class as an explanation\xe2\x80\x99s top "
                   "1..K words are deleted, divided by K + 1; higher means the explanation found the words the "
                   "model relies on. ");
    if (any_posthoc)
        sb_puts(b, "Post-hoc accuracy: how often the model\xe2\x80\x99s prediction from only the k most important "
                   "words (by global importance q) matches its prediction from the full text. ");
    sb_puts(b, "Bold marks the better model.</p>\n</section>\n");
}

/* The paper's Figure 1: post-hoc accuracy of the VMASK models (solid) against the IBA models
 * (dashed), one chart, drawn when both kinds have a curve. */
static void write_figure1(struct sbuf *b, const struct vm_report *r, struct series *s, char (*mtmp)[32]) {
    int ns = 0, n_iba = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            if (!md->posthoc_acc || md->n_posthoc <= 0 || !model_is(md, pass ? "iba" : "vmask")) continue;
            s[ns] = (struct series){model_name(r, m, mtmp[m], sizeof mtmp[m]), NULL, md->posthoc_acc, md->n_posthoc, MODEL_COLOR[m], pass == 1, m % 4};
            ns++;
            n_iba += pass;
        }
    if (n_iba == 0 || n_iba == ns) return;
    sb_puts(b, "<figure class=\"fig\" id=\"figure1\">");
    svg_line_chart(b, "Figure 1: post-hoc accuracy of VMASK and IBA versus k", "k (words kept)", "post-hoc accuracy (%)", s, ns, false);
    sb_puts(b, "<figcaption><b>VMASK vs. IBA (the paper\xe2\x80\x99s Figure 1).</b> Post-hoc accuracy of each model ranked by "
               "its own global importance (VMASK: q, IBA: \xce\xbb); VMASK solid, IBA dashed.</figcaption></figure>\n");
}

/* AOPC vs k: up to two models in one chart (a colour per method, the first model dashed); more
 * models get a chart per method with a colour per model. */
static void write_aopc_charts(struct sbuf *b, const struct vm_report *r, struct series *s, char (*mtmp)[32], char (*ktmp)[32]) {
    bool per_method = r->n_models > 2;
    for (int k0 = 0; k0 < (per_method ? r->n_methods : 1); k0++) {
        int ns = 0;
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            for (int k = per_method ? k0 : 0; k < (per_method ? k0 + 1 : r->n_methods); k++) {
                if (!model_has_aopc(md, k)) continue;
                s[ns].label = model_name(r, m, mtmp[m], sizeof mtmp[m]);
                s[ns].label2 = per_method ? NULL : method_name(r, k, ktmp[k], sizeof ktmp[k]);
                s[ns].y = md->aopc[k];
                s[ns].n = md->n_aopc;
                s[ns].color = per_method ? MODEL_COLOR[m] : METHOD_COLOR[k];
                s[ns].dashed = !per_method && r->n_models > 1 && m == 0;
                s[ns].marker = per_method ? m % 4 : k;
                ns++;
            }
        }
        if (!ns) continue;
        char aria[96];
        const char *mn = per_method ? method_name(r, k0, ktmp[k0], sizeof ktmp[k0]) : NULL;
        snprintf(aria, sizeof aria, "AOPC versus k%s%s", mn ? ", " : "", mn ? mn : "");
        sb_puts(b, "<figure class=\"fig\">");
        svg_line_chart(b, aria, "k (top words deleted)", "AOPC (%)", s, ns, true);
        sb_puts(b, "<figcaption><b>AOPC vs. k");
        if (mn) {
            sb_puts(b, ", ");
            sb_esc(b, mn);
            sb_puts(b, ".</b> One line per model.");
        } else {
            sb_puts(b, ".</b> One line per model and method");
            if (r->n_models > 1) sb_puts(b, "; dashed: the first model");
            sb_puts(b, ".");
        }
        sb_puts(b, "</figcaption></figure>\n");
    }
}

static void write_charts(struct sbuf *b, const struct vm_report *r, bool any_aopc, bool any_posthoc) {
    char mtmp[VM_REPORT_MAX_MODELS][32], ktmp[VM_REPORT_MAX_METHODS][32];
    struct series s[VM_REPORT_MAX_MODELS * VM_REPORT_MAX_METHODS];
    sb_puts(b, "<section id=\"curves\">\n<h2>Curves</h2>\n<div class=\"figs\">\n");
    if (any_posthoc) {
        write_figure1(b, r, s, mtmp);
        int ns = 0;
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            if (!md->posthoc_acc || md->n_posthoc <= 0) continue;
            s[ns].label = model_name(r, m, mtmp[m], sizeof mtmp[m]);
            s[ns].label2 = NULL;
            s[ns].y = md->posthoc_acc;
            s[ns].n = md->n_posthoc;
            s[ns].color = MODEL_COLOR[m];
            s[ns].dashed = r->n_models > 1 && m == 0;
            s[ns].marker = m % 4;
            ns++;
        }
        sb_puts(b, "<figure class=\"fig\">");
        svg_line_chart(b, "Post-hoc accuracy versus k", "k (words kept)", "post-hoc accuracy (%)", s, ns, false);
        sb_puts(b, "<figcaption><b>Post-hoc accuracy vs. k.</b> The model sees only the k words of each text "
                   "with the highest global importance, the rest padded; the share of texts whose prediction "
                   "is unchanged.</figcaption></figure>\n");
    }
    if (any_aopc) write_aopc_charts(b, r, s, mtmp, ktmp);
    sb_puts(b, "</div>\n</section>\n");
}

/* SP-LIME's post-hoc global words (the paper's Table 6), the models side by side. */
static void write_splime(struct sbuf *b, const struct vm_report *r) {
    char tmp[32];
    int64_t rows = 0;
    for (int m = 0; m < r->n_models; m++)
        if (r->models[m].splime && r->models[m].n_splime > rows) rows = r->models[m].n_splime;
    if (rows > TOP_SPLIME) rows = TOP_SPLIME;
    sb_puts(b, "<section id=\"splime\">\n<h2>Post-hoc global important words (SP-LIME)</h2>\n<p class=\"note\">Each word\xe2\x80\x99s "
               "LIME weights for the predicted class summed over the ");
    sb_int_grouped(b, r->n_examples);
    sb_puts(b, " explained texts (SP-LIME\xe2\x80\x99s global importance without its limit on the number of explanations, as "
               "the paper\xe2\x80\x99s Table 6 uses it). A word counts once per text; the number after the sum is the texts "
               "that hold it. A model whose explanations find the task\xe2\x80\x99s words ranks them on top.</p>\n"
               "<table class=\"data words\"><thead><tr><th>#</th>");
    for (int m = 0; m < r->n_models; m++) {
        if (!r->models[m].splime) continue;
        sb_puts(b, "<th class=\"l\">");
        sb_esc(b, model_name(r, m, tmp, sizeof tmp));
        sb_puts(b, "</th>");
    }
    sb_puts(b, "</tr></thead><tbody>\n");
    for (int64_t i = 0; i < rows; i++) {
        sb_printf(b, "<tr><td>%lld</td>", (long long)i + 1);
        for (int m = 0; m < r->n_models; m++) {
            const struct vm_report_model *md = &r->models[m];
            if (!md->splime) continue;
            if (i >= md->n_splime) {
                sb_puts(b, "<td></td>");
                continue;
            }
            sb_puts(b, "<td class=\"w\">");
            sb_esc(b, md->splime[i].word ? md->splime[i].word : "");
            sb_puts(b, " <span class=\"qv\">");
            sb_num(b, md->splime[i].weight, 3);
            sb_printf(b, "</span> <span class=\"na\">%d</span></td>", md->splime[i].texts);
        }
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table>\n</section>\n");
}

/* Indices of the top n words by q (NaN skipped; ties by vocabulary order). Returns the count. */
static int top_words(const struct vm_report_model *md, int64_t *idx, int n) {
    int have = 0;
    for (int64_t i = 0; i < md->n_words; i++) {
        float q = md->word_q[i];
        if (isnan(q)) continue;
        if (have == n && !(q > md->word_q[idx[have - 1]])) continue;
        int pos = have < n ? have++ : n - 1;
        while (pos > 0 && q > md->word_q[idx[pos - 1]]) {
            idx[pos] = idx[pos - 1];
            pos--;
        }
        idx[pos] = i;
    }
    return have;
}

static void write_words(struct sbuf *b, const struct vm_report *r) {
    char tmp[32];
    sb_puts(b, "<section id=\"words\">\n<h2>Global importance</h2>\n<p class=\"note\">q is the VMASK layer\xe2\x80\x99s "
               "probability of keeping a word, learned over the whole training set: the model\xe2\x80\x99s global "
               "view of which words matter.");
    if (any_model_method(r))
        sb_puts(b, " Each model is shown with its own global importance: VMASK\xe2\x80\x99s q, IBA\xe2\x80\x99s \xce\xbb (the share of "
                   "the word\xe2\x80\x99s embedding kept), L2X\xe2\x80\x99s score.");
    sb_puts(b, "</p>\n<div class=\"tables\">\n");
    for (int m = 0; m < r->n_models; m++) {
        const struct vm_report_model *md = &r->models[m];
        if (!model_has_words(md)) continue;
        int64_t idx[TOP_WORDS];
        int n = top_words(md, idx, TOP_WORDS);
        if (n == 0) continue; /* every q is NaN */
        float qmax = n ? md->word_q[idx[0]] : 1;
        if (!(qmax > 0)) qmax = 1;
        sb_puts(b, "<table class=\"data words\"><caption>Top ");
        sb_printf(b, "%d", n);
        sb_puts(b, " words by ");
        sb_esc(b, importance_name(md));
        sb_puts(b, ", ");
        sb_esc(b, model_name(r, m, tmp, sizeof tmp));
        sb_puts(b, " (of ");
        sb_int_grouped(b, md->n_words);
        sb_puts(b, ")</caption><thead><tr><th>#</th><th class=\"l\">Word</th><th class=\"l\">");
        sb_esc(b, importance_name(md));
        sb_puts(b, "</th>");
        if (md->word_freq) sb_puts(b, "<th>Frequency</th>");
        sb_puts(b, "</tr></thead><tbody>\n");
        for (int i = 0; i < n; i++) {
            float q = md->word_q[idx[i]];
            double w = q > 0 ? 100.0 * q / qmax : 0;
            sb_printf(b, "<tr><td>%d</td><td class=\"w\">", i + 1);
            sb_esc(b, md->words[idx[i]] ? md->words[idx[i]] : "");
            sb_printf(b, "</td><td class=\"l\"><div class=\"bar\" style=\"width:%.0fpx\"></div><span class=\"qv\">",
                      1 + w * 0.8);
            sb_num(b, q, 3);
            sb_puts(b, "</span></td>");
            if (md->word_freq) {
                sb_puts(b, "<td>");
                sb_int_grouped(b, md->word_freq[idx[i]]);
                sb_puts(b, "</td>");
            }
            sb_puts(b, "</tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
        if (md->word_freq) svg_scatter(b, r, m);
    }
    sb_puts(b, "</div>\n");
    sb_puts(b, "</section>\n");
}

static void write_legend(struct sbuf *b, bool any_diverging, bool any_mask) {
    sb_puts(b, "<div class=\"legend\">");
    if (any_diverging)
        sb_puts(b, "<div>against the prediction<div class=\"sw\"><div class=\"n3\"></div><div class=\"n2\"></div>"
                   "<div class=\"n1\"></div></div>\xc2\xb7<div class=\"sw\"><div class=\"p1\"></div>"
                   "<div class=\"p2\"></div><div class=\"p3\"></div></div>for the prediction</div>");
    if (any_mask)
        sb_puts(b, "<div>mask q: low<div class=\"sw\"><div class=\"q1\"></div><div class=\"q2\"></div>"
                   "<div class=\"q3\"></div></div>high</div>");
    sb_puts(b, "<div class=\"note\">Shade = |weight| relative to the largest in the same text and method; words "
               "under a sixth of it stay plain. Hover a word for its weight.</div></div>\n");
}

/* The tokens of one (example, method), highlighted. */
static void write_tokens(struct sbuf *b, const struct vm_report_example *e, const float *w, bool mask) {
    double maxabs = 0;
    for (int32_t t = 0; t < e->n_tokens; t++) {
        double a = fabs((double)w[t]);
        if (finite_d(a) && a > maxabs) maxabs = a;
    }
    sb_puts(b, "<p class=\"tx\">");
    for (int32_t t = 0; t < e->n_tokens; t++) {
        const char *tok = e->tokens[t] ? e->tokens[t] : "";
        bool piece = tok[0] == '#' && tok[1] == '#' && tok[2]; /* WordPiece continuation: glue on */
        if (t && !piece) sb_put(b, " ", 1);
        double v = w[t];
        int level = 0;
        if (finite_d(v) && maxabs > 0) level = (int)floor(fabs(v) / maxabs * 3 + 0.5);
        if (level > 3) level = 3;
        const char *shown = piece && t ? tok + 2 : tok;
        if (level == 0) {
            sb_esc(b, shown);
            continue;
        }
        char cls = mask ? 'q' : v > 0 ? 'p' : 'n';
        sb_printf(b, "<span class=\"%c%d\" title=\"%.3g\">", cls, level, v);
        sb_esc(b, shown);
        sb_puts(b, "</span>");
    }
    if (e->n_tokens == 0) sb_puts(b, "<span class=\"na\">(no tokens)</span>");
    sb_puts(b, "</p>");
}

static void write_model_head(struct sbuf *b, const struct vm_report *r, int m, const struct vm_report_example *e) {
    char tmp[32];
    sb_puts(b, "<span class=\"mn\">");
    sb_esc(b, model_name(r, m, tmp, sizeof tmp));
    sb_puts(b, "</span> predicts <b>");
    class_name(b, r, e->predicted);
    sb_puts(b, "</b>");
    bool have_p = e->probs && e->predicted >= 0 && e->predicted < r->n_classes;
    if (have_p) {
        sb_puts(b, " (");
        sb_pct(b, e->probs[e->predicted], 1);
        sb_puts(b, ")");
    }
    if (e->label >= 0)
        sb_puts(b, e->label == e->predicted ? " <span class=\"ok\" title=\"correct\">\xe2\x9c\x93</span>"
                                            : " <span class=\"bad\" title=\"wrong\">\xe2\x9c\x97 wrong</span>");
    if (e->probs && r->n_classes > 1) {
        /* all classes up to 5, else the top 4 */
        int order[64], n = r->n_classes < 64 ? r->n_classes : 64;
        for (int c = 0; c < n; c++) order[c] = c;
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && e->probs[order[j]] > e->probs[order[j - 1]]; j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        int show = n <= 5 ? n : 4;
        sb_puts(b, "<br /><span class=\"probs\">");
        for (int i = 0; i < show; i++) {
            if (i) sb_puts(b, " \xc2\xb7 ");
            class_name(b, r, order[i]);
            sb_puts(b, " ");
            sb_num(b, e->probs[order[i]], 3);
        }
        if (show < n) sb_puts(b, " \xc2\xb7 \xe2\x80\xa6");
        sb_puts(b, "</span>");
    }
}

static void write_examples(struct sbuf *b, const struct vm_report *r) {
    int cols[VM_REPORT_MAX_MODELS], nc = 0;
    for (int m = 0; m < r->n_models; m++)
        if (model_has_examples(r, m)) cols[nc++] = m;
    bool mask[VM_REPORT_MAX_METHODS] = {false}, has_w[VM_REPORT_MAX_METHODS] = {false};
    bool any_div = false, any_mask = false;
    for (int k = 0; k < r->n_methods; k++) {
        has_w[k] = method_has_weights(r, k);
        if (!has_w[k]) continue;
        mask[k] = method_is_mask(r, k);
        if (mask[k]) any_mask = true;
        else any_div = true;
    }
    char tmp[32];
    sb_puts(b, "<section id=\"examples\">\n<h2>Examples</h2>\n");
    if (any_div || any_mask) write_legend(b, any_div, any_mask);
    for (int64_t i = 0; i < r->n_examples; i++) {
        const struct vm_report_example *e0 = &r->models[cols[0]].examples[i];
        sb_printf(b, "<article class=\"ex\" id=\"ex-%lld\">\n<h3><span class=\"id\">#%lld</span>", (long long)i,
                  (long long)e0->index);
        if (e0->label >= 0) {
            sb_puts(b, "<span class=\"gold\">gold label <b>");
            class_name(b, r, e0->label);
            sb_puts(b, "</b></span>");
        }
        bool disagree = false;
        for (int c = 1; c < nc; c++) disagree |= r->models[cols[c]].examples[i].predicted != e0->predicted;
        if (disagree) sb_puts(b, "<span class=\"badge\">models disagree</span>");
        sb_puts(b, "</h3>\n<table class=\"ext\"><colgroup><col class=\"m\" />");
        for (int c = 0; c < nc; c++) sb_puts(b, "<col />");
        sb_puts(b, "</colgroup><thead><tr><th>Method</th>");
        for (int c = 0; c < nc; c++) {
            sb_puts(b, "<th>");
            write_model_head(b, r, cols[c], &r->models[cols[c]].examples[i]);
            sb_puts(b, "</th>");
        }
        sb_puts(b, "</tr></thead><tbody>\n");
        int rows = 0;
        for (int k = 0; k < r->n_methods; k++) {
            if (!has_w[k]) continue;
            rows++;
            sb_puts(b, "<tr><th scope=\"row\">");
            sb_esc(b, method_name(r, k, tmp, sizeof tmp));
            sb_puts(b, "</th>");
            for (int c = 0; c < nc; c++) {
                const struct vm_report_example *e = &r->models[cols[c]].examples[i];
                sb_puts(b, "<td>");
                if (e->weights[k] && (e->tokens || e->n_tokens == 0) && e->n_tokens >= 0)
                    write_tokens(b, e, e->weights[k], mask[k]);
                else if (contains_ci(r->method_names[k], "mask"))
                    sb_puts(b, "<span class=\"na\">no mask layer</span>");
                else sb_puts(b, "<span class=\"na\">not computed</span>");
                sb_puts(b, "</td>");
            }
            sb_puts(b, "</tr>\n");
        }
        if (!rows) {
            /* no method at all: show the tokens plainly */
            sb_puts(b, "<tr><th scope=\"row\">Tokens</th>");
            for (int c = 0; c < nc; c++) {
                const struct vm_report_example *e = &r->models[cols[c]].examples[i];
                sb_puts(b, "<td><p class=\"tx\">");
                for (int32_t t = 0; e->tokens && t < e->n_tokens; t++) {
                    if (t) sb_put(b, " ", 1);
                    sb_esc(b, e->tokens[t] ? e->tokens[t] : "");
                }
                sb_puts(b, "</p></td>");
            }
            sb_puts(b, "</tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
        if (e0->text && e0->text[0]) {
            sb_puts(b, "<details><summary>original text</summary><p>");
            sb_esc_n(b, e0->text, SIZE_MAX, true);
            sb_puts(b, "</p></details>\n");
        }
        sb_puts(b, "</article>\n");
    }
    sb_puts(b, "</section>\n");
}

/* ---------------------------------------------------------------------------------------------- */

enum vm_status vm_report_write_html(const struct vm_report *r, const char *path, struct vm_error *err) {
    if (!r || !path || !path[0]) return vm_errorf(err, VM_EINVAL, "report: no report or no output path");
    if (r->n_models < 0 || r->n_models > VM_REPORT_MAX_MODELS)
        return vm_errorf(err, VM_EINVAL, "report: %d models (at most %d)", r->n_models, VM_REPORT_MAX_MODELS);
    if (r->n_methods < 0 || r->n_methods > VM_REPORT_MAX_METHODS)
        return vm_errorf(err, VM_EINVAL, "report: %d methods (at most %d)", r->n_methods, VM_REPORT_MAX_METHODS);
    if (r->n_examples < 0 || r->n_classes < 0)
        return vm_errorf(err, VM_EINVAL, "report: negative example or class count");

    bool any_aopc = false, any_posthoc = false, any_words = false, any_examples = false;
    for (int m = 0; m < r->n_models; m++) {
        const struct vm_report_model *md = &r->models[m];
        for (int k = 0; k < r->n_methods; k++) any_aopc |= model_has_aopc(md, k);
        any_posthoc |= md->posthoc_acc && md->n_posthoc > 0;
        any_words |= model_has_words(md);
        any_examples |= model_has_examples(r, m);
    }

    struct sbuf b = {0};
    write_header(&b, r, any_aopc || any_posthoc, any_aopc || any_posthoc, any_words, any_examples);
    if (any_aopc || any_posthoc) {
        write_summary(&b, r, any_aopc, any_posthoc);
        write_charts(&b, r, any_aopc, any_posthoc);
    }
    if (any_words) write_words(&b, r);
    if (has_splime(r)) write_splime(&b, r);
    if (any_examples) write_examples(&b, r);
    if (!any_aopc && !any_posthoc && !any_words && !any_examples && !has_splime(r))
        sb_puts(&b, "<p class=\"note\">Nothing to show: no curves, no global importance and no examples.</p>\n");
    sb_puts(&b, "<footer>Written by vmaskc " VM_VERSION ". A static page: no scripts, nothing loaded from the "
                "network.</footer>\n</main>\n</body>\n</html>\n");
    if (b.oom) {
        free(b.p);
        return vm_errorf(err, VM_ENOMEM, "report: out of memory building %s", path);
    }
    enum vm_status st = vm_file_write_atomic(path, b.p, b.n, err);
    free(b.p);
    if (st != VM_OK) return vm_error_prefix(err, "report %s", path);
    return VM_OK;
}
