/* vmaskc: command-line entry. Dispatches subcommands; `vmaskc MODEL.onnx` alone compiles the model
 * to MODEL.vmplan beside it and prints a summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* OpenMP threads that wait (at the end of every parallel region, and between regions) spin before
 * they sleep: libgomp's default is 300,000 spins, milliseconds per wait. On a machine whose cores
 * other processes share, a spinning thread keeps its sibling (and oneDNN's) off the core: a
 * BERT-mini training step took 4.5 s with it and 0.42 s with 1,000 spins (load 16 on 2 cores);
 * BERT-base's, 26 s -> 12 s. 1,000 is what libgomp itself uses once it knows it has more threads
 * than cores. libgomp reads the setting once, in its constructor, before main (and before libc has
 * its environment, so a preinit function cannot set it): the long-running commands set it and
 * execute themselves again, a few milliseconds; the quick ones (predict, run) are left as they
 * are. A value the user set (GOMP_SPINCOUNT or OMP_WAIT_POLICY) is left alone. */
static void omp_spin_default(char **argv) {
    static const char *const long_running[] = {"train", "eval", "explain", "compare", "words"};
    bool found = false;
    for (size_t i = 0; i < sizeof long_running / sizeof *long_running; i++) found |= !strcmp(argv[1], long_running[i]);
    if (!found || getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY")) return;
    if (setenv("GOMP_SPINCOUNT", "1000", 0)) return;
    execv("/proc/self/exe", argv); /* returns only if it failed: then libgomp's default stays */
    unsetenv("GOMP_SPINCOUNT");
}

static void usage(FILE *f) {
    fprintf(f,
            "vmaskc %s — turn an ONNX text classifier into an interpretable VMASK model\n"
            "\n"
            "usage: vmaskc MODEL.onnx                 compile to MODEL.vmplan and print a summary\n"
            "       vmaskc <command> [options]\n"
            "\n"
            "commands:\n"
            "  inspect FILE              ops, inputs/outputs, parameters, word embedding, unsupported ops\n"
            "  compile FILE -o PLAN      compile an ONNX model to a plan file\n"
            "  run FILE --test-data DIR  run a model or plan on ONNX backend-test data\n"
            "  train MODEL.onnx ...      insert a mask layer (VMASK, L2X, IBA; or none), train, export ONNX\n"
            "  words MODEL [--top N]     words by global importance (VMASK q, L2X score, IBA lambda)\n"
            "  eval MODEL --data FILE    accuracy, and precision / recall / F1 per class, on labelled data\n"
            "  predict MODEL \"text\"      class probabilities and each token's keep probability\n"
            "  explain MODEL --data FILE LIME, SampleShapley, mask: AOPC, post-hoc accuracy, report\n"
            "  compare A B ... --data FILE  2..16 models: the paper's Tables 3, 4, 6, 11 and Figure 1\n"
            "  vocab DATA.tsv -o V.txt   build a vocabulary with vmaskc's tokenizer\n"
            "  tokenize                  tokenize stdin lines as training does\n"
            "\n"
            "Run 'vmaskc <command> --help' (or 'vmaskc help <command>') for a command's options.\n"
            "Exit codes: 0 ok, 1 check failed, 2 usage error, 3 bad or unsupported input,\n"
            "            4 runtime failure, 130 interrupted.\n",
            VM_VERSION);
}

int main(int argc, char **argv) {
    /* results on stdout and progress on stderr interleave in the order they happen */
    setvbuf(stdout, NULL, _IOLBF, 0);
    vm_cli_timings_init();
    if (argc < 2) {
        usage(stderr);
        return VM_EXIT_USAGE;
    }
    omp_spin_default(argv);
    const char *cmd = argv[1];
    char *help_argv[3];
    if (!strcmp(cmd, "help") && argc > 2) {
        /* `vmaskc help CMD` is `vmaskc CMD --help` */
        help_argv[0] = argv[0];
        help_argv[1] = argv[2];
        help_argv[2] = (char *)"--help";
        argv = help_argv;
        argc = 3;
        cmd = argv[1];
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return VM_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
#ifndef VM_GIT_COMMIT
#define VM_GIT_COMMIT "unknown"
#endif
        printf("vmaskc %s (commit %s)\n", VM_VERSION, VM_GIT_COMMIT);
        return VM_EXIT_OK;
    }
    if (!strcmp(cmd, "inspect")) return vm_cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "compile")) return vm_cmd_compile(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return vm_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return vm_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "vocab")) return vm_cmd_vocab(argc - 1, argv + 1);
    if (!strcmp(cmd, "words")) return vm_cmd_words(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return vm_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "predict")) return vm_cmd_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "explain")) return vm_cmd_explain(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare")) return vm_cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return vm_cmd_tokenize(argc - 1, argv + 1);
    if (cmd[0] == '-') {
        fprintf(stderr, "vmaskc: unknown option '%s'\n", cmd);
        usage(stderr);
        return VM_EXIT_USAGE;
    }
    size_t n = strlen(cmd);
    if (n > 5 && !strcmp(cmd + n - 5, ".onnx")) return vm_cmd_default(cmd, argc - 2, argv + 2);
    fprintf(stderr, "vmaskc: unknown command '%s' (a model path must end in .onnx)\n", cmd);
    usage(stderr);
    return VM_EXIT_USAGE;
}
