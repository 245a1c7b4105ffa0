/* classify: a libvmaskc client — loads a text classifier (a model `vmaskc train` exported, or
 * examples/sst2_cnn.onnx with --vocab data/sst2/vocab.txt), classifies texts given as arguments or
 * one per line of stdin in one batch, and prints each text's class probabilities and its words
 * ranked by the mask's keep probability (for a model trained with a mask).
 *
 *   cc classify.c $(pkg-config --cflags --libs vmaskc) -o classify
 *   ./classify MODEL.onnx [--vocab VOCAB.txt] [--top K] ["text" ...]   (no text: read stdin)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vmaskc.h>

static int fail(const char *what, const vmaskc_error *e) {
    fprintf(stderr, "classify: %s: %s (%s)\n", what, e->message, vmaskc_status_name(e->code));
    return 1;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int top = 3;
    vmaskc_model_options opts;
    vmaskc_model_options_init(&opts);
    char **texts = malloc(sizeof *texts * (size_t)(argc + 1));
    int64_t n = 0;
    if (!texts) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) opts.vocab = argv[++i];
        else if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atoi(argv[++i]);
        else if (!path) path = argv[i];
        else texts[n++] = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: classify MODEL.onnx [--vocab VOCAB.txt] [--top K] [\"text\" ...]\n");
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    if (n == 0) { /* one text per line of stdin */
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) > 0) {
            if (line[len - 1] == '\n') line[len - 1] = 0;
            char **grown = realloc(texts, sizeof *texts * (size_t)(n + 1));
            if (!grown || !(grown[n] = strdup(line))) return 1;
            texts = grown;
            n++;
        }
    }

    vmaskc_error err;
    vmaskc_model *model = NULL;
    vmaskc_prediction *p = NULL;
    int rc = 0;
    if (vmaskc_model_open(path, &opts, &model, &err)) rc = fail(path, &err);
    else if (vmaskc_predict(model, (const char *const *)texts, n, 0, 0, &p, &err)) rc = fail("predict", &err);
    const char *importance = NULL;
    vmaskc_model_mask(model, NULL, &importance, NULL);

    for (int64_t i = 0; p && i < p->n; i++) {
        const char *label;
        vmaskc_model_class_name(model, p->label[i], &label, NULL);
        printf("text %lld: class %s  probabilities", (long long)i + 1, label);
        for (int c = 0; c < p->n_classes; c++) printf(" %.4f", p->probs[i * p->n_classes + c]);
        printf("\n");
        if (!p->keep) continue;
        /* the text's tokens by keep probability, highest first (selection of the top K) */
        int64_t a = p->offset[i], b = p->offset[i + 1];
        printf("  top words by %s:", importance);
        for (int k = 0; k < top && k < b - a; k++) {
            int64_t best = -1;
            for (int64_t j = a; j < b; j++)
                if (p->keep[j] >= 0 && (best < 0 || p->keep[j] > p->keep[best])) best = j;
            if (best < 0) break;
            printf(" %s=%.3f", p->tokens[best], p->keep[best]);
            p->keep[best] = -1; /* taken */
        }
        printf("\n");
    }
    vmaskc_prediction_free(p);
    vmaskc_model_close(model);
    if (line) {
        for (int64_t i = 0; i < n; i++) free(texts[i]);
        free(line);
    }
    free(texts);
    return rc;
}
