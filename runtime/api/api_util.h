/* api_util: what the files of the public API share — turning an internal error into the caller's
 * vmaskc_error (see vmaskc.h for the error model). */
#ifndef VM_API_UTIL_H
#define VM_API_UTIL_H

#include "../vm_base.h"
#include "../vmaskc.h"
#include "textmodel.h"

struct vmaskc_model {
    struct vm_text_model tm;
    int n_classes;
    char **class_names;          /* [n_classes] */
    int word_mask;               /* the plan's word_mask output, -1 none */
    const char *mask_method;     /* "vmask", "l2x", "iba"; NULL without a word-level mask */
    const char *mask_importance; /* "q", "score", "lambda" */
    char *data_strings[4];       /* the model's copies of its data options' columns and fields (tm.data, tm.corpus) */
};

/* A NULL required argument: EINVAL naming the function and the argument (in a function whose
 * vmaskc_error* is called err). */
#define NEED(p)                                                                                         \
    do {                                                                                                \
        if (!(p)) return vm_api_failf(err, VMASKC_EINVAL, -1, "%s: argument '%s' is NULL", __func__, #p); \
    } while (0)

/* Copies ie into e (when e is not NULL) with item (-1: not about one text); returns the status. */
vmaskc_status vm_api_fail(vmaskc_error *e, const struct vm_error *ie, int64_t item);
vmaskc_status vm_api_failf(vmaskc_error *e, vmaskc_status code, int64_t item, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The public data options into the reader's (who names the struct in messages: "vmaskc_train:
 * config.data"). */
vmaskc_status vm_api_data_opts(const vmaskc_data_options *d, const char *who, struct vm_data_opts *o, vmaskc_error *err);

/* Texts ordered by token count, then index (batches of one length whose results do not depend on
 * the other texts): qsort with vm_api_cmp_len_idx. */
struct vm_api_len_idx {
    int32_t len;
    int64_t i;
};
int vm_api_cmp_len_idx(const void *a, const void *b);

#endif
