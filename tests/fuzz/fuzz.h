/* fuzz.h: what every harness in tests/fuzz shares. Each harness defines LLVMFuzzerTestOneInput
 * over one reader of untrusted bytes; libFuzzer drives it in the VM_FUZZ build, and replay_main.c
 * drives it over files and directories in ordinary builds (regression replay under ctest).
 * A harness must return 0 for every input: a reader's job is to refuse bad bytes with a
 * vm_error, so only crashes, leaks, hangs and sanitizer reports count as findings. */
#ifndef VM_FUZZ_H
#define VM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* For readers that take a path: writes the bytes to a new temporary file made from path (a
 * mkstemp template, rewritten in place); false when that fails (the input is then skipped). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
static inline bool vm_fuzz_write_temp(char *path, const uint8_t *data, size_t size) {
    int fd = mkstemp(path);
    if (fd < 0) return false;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(path);
        return false;
    }
    fwrite(data, 1, size, f);
    fclose(f);
    return true;
}
/* Rewrites the file at path as the gzip compression of the bytes; false when that fails. */
static inline bool vm_fuzz_write_gz(const char *path, const uint8_t *data, size_t size) {
    gzFile g = gzopen(path, "wb");
    if (!g) return false;
    if (size) gzwrite(g, data, (unsigned)size);
    gzclose(g);
    return true;
}

#endif
