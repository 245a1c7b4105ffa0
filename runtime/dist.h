/* dist: the few collective operations data-parallel training needs (rank, size, sums of buffers,
 * broadcast, gather, abort), on Open MPI when the build found it (VMASKC_MPI) and the process was
 * started by mpirun, and a single-process implementation otherwise (size 1: sums and broadcasts
 * leave the buffers as they are). Callers never see MPI types, so nothing else needs #ifdefs.
 *
 * Every process must make the same calls in the same order (they are collective). A process that
 * cannot go on calls vm_dist_abort, which stops every process of the job: nobody waits forever
 * for a process that has gone.
 */
#ifndef VM_DIST_H
#define VM_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Joins the job when started by mpirun (MPI_Init), else stays a single process. Idempotent.
 * Returns the number of processes. */
int vm_dist_init(void);
/* Leaves the job (MPI_Finalize) after a barrier. */
void vm_dist_finalize(void);
int vm_dist_rank(void);
int vm_dist_size(void);
/* Whether this process joined an mpirun job (MPI_Init was called), even a job of one process. */
bool vm_dist_launched(void);
/* Whether this build can run across processes at all (compiled with MPI). */
bool vm_dist_compiled(void);

/* In-place sums over all processes. */
void vm_dist_sum_f32(float *buf, size_t n);
void vm_dist_sum_f64(double *buf, size_t n);
int64_t vm_dist_sum_i64(int64_t v);
/* Non-blocking in-place sum of a float buffer (MPI_Iallreduce, on a communicator of its own so
 * blocking sums may be made while these are pending); the buffer must stay untouched until
 * vm_dist_wait_all. At most VM_DIST_MAX_PENDING outstanding. */
#define VM_DIST_MAX_PENDING 64
void vm_dist_isum_f32(float *buf, size_t n);
void vm_dist_wait_all(void);
/* Lets pending sums progress (MPI moves data only inside its calls); returns at once. */
void vm_dist_poll(void);
/* root's n bytes to every process. */
void vm_dist_bcast(void *buf, size_t n, int root);
/* Every process's `n` bytes (n may differ per process) concatenated in rank order into *out
 * (malloc'ed) at root; other processes get *out = NULL. Returns false when out of memory. */
bool vm_dist_gatherv(const void *buf, size_t n, int root, void **out, size_t *out_len);
/* Every process's n bytes (the same n everywhere, at most INT_MAX) in rank order into all
 * (n * size bytes), on every process. */
void vm_dist_allgather(const void *mine, size_t n, void *all);
/* Stops every process of the job with this exit code (after the caller printed why). */
_Noreturn void vm_dist_abort(int code);
/* Payload bytes this process handed to sums since the start (for benchmarks). */
uint64_t vm_dist_bytes(void);

#endif
