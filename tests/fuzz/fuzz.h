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

#endif
