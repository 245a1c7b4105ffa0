/* explain: a libvmaskc client — explains one text's prediction with LIME and SampleShapley and
 * measures both explanations by AOPC (Nguyen 2018: the mean drop in the predicted class's
 * probability as the top 1..K words are deleted), as `vmaskc explain` does for each text of its
 * data (the same numbers: this text as line 1 of a data file, with the same --seed and --samples).
 *
 *   cc explain.c $(pkg-config --cflags --libs vmaskc) -o explain
 *   ./explain MODEL.onnx [--vocab VOCAB.txt] [--samples N] [--seed S] "text"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vmaskc.h>

static int fail(const char *what, const vmaskc_error *e) {
    fprintf(stderr, "explain: %s: %s (%s)\n", what, e->message, vmaskc_status_name(e->code));
    return 1;
}

int main(int argc, char **argv) {
    const char *path = NULL, *text = NULL;
    vmaskc_model_options mo;
    vmaskc_model_options_init(&mo);
    vmaskc_measure_options o;
    vmaskc_measure_options_init(&o); /* LIME and SampleShapley, the predicted class, K = 5 */
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) mo.vocab = argv[++i];
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc) o.samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!path) path = argv[i];
        else text = argv[i];
    }
    if (!path || !text) {
        fprintf(stderr, "usage: explain MODEL.onnx [--vocab VOCAB.txt] [--samples N] [--seed S] \"text\"\n");
        return 2;
    }
    o.seed = vmaskc_explain_seed(seed, 0); /* what `vmaskc explain --seed S` uses for its first text */

    vmaskc_error err;
    vmaskc_model *model = NULL;
    vmaskc_measurement *x = NULL;
    if (vmaskc_model_open(path, &mo, &model, &err)) return fail(path, &err);
    if (vmaskc_measure(model, text, &o, &x, &err)) {
        vmaskc_model_close(model);
        return fail("measure", &err);
    }
    const char *name = "?";
    vmaskc_model_class_name(model, x->predicted, &name, NULL);
    printf("class %s (p = %.4f)\n", name, x->probs[x->predicted]);
    static const struct {
        int method;
        const char *label;
    } methods[] = {{VMASKC_EXPLAIN_LIME, "LIME"}, {VMASKC_EXPLAIN_SHAPLEY, "SampleShapley"}};
    for (int k = 0; k < 2; k++) {
        const vmaskc_method_result *r = &x->method[methods[k].method];
        printf("%s:", methods[k].label);
        for (int32_t w = 0; w < x->n_words; w++) printf(" %s=%+.3f", x->words[w], r->word_score[w]);
        /* AOPC at K = 5: the drops after deleting the top 1..5 words, summed, over K + 1 */
        printf("\n  aopc %.7g (drops", vmaskc_aopc(r->aopc_delta, r->aopc_steps, 5, 0));
        for (int32_t s = 0; s < r->aopc_steps; s++) printf(" %.4f", r->aopc_delta[s]);
        printf(")\n");
    }
    vmaskc_measurement_free(x);
    vmaskc_model_close(model);
    return 0;
}
