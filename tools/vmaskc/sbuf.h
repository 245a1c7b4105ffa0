/* sbuf.h: the growable byte / text buffer the tool's writers share (the HTML report, compare's JSON
 * and CSV files, progress.bin's records, words' TSV). An allocation failure is remembered (oom) and
 * every later write is skipped, so a writer checks once at the end; p stays 0-terminated. */
#ifndef VM_TOOL_SBUF_H
#define VM_TOOL_SBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

/* Room for `extra` more bytes and the terminating 0; false once out of memory. */
bool sb_reserve(struct sbuf *b, size_t extra);
void sb_put(struct sbuf *b, const void *data, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
