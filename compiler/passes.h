/* passes: graph rewrites between import/inference and emission. Each pass leaves the graph
 * sorted and fully shaped. */
#ifndef VM_PASSES_H
#define VM_PASSES_H

#include "ir.h"

/* Inference form: Dropout and Identity forward their input (no step), dead nodes are removed. */
enum vm_status vm_pass_inference_cleanup(struct vm_graph *g, struct vm_error *err);

#endif
