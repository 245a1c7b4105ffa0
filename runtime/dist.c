/* dist: collective operations over Open MPI, or a single process (see dist.h).
 *
 * "Started by mpirun" is read from the environment Open MPI (and PMIx launchers) give their
 * processes, so a plain `vmaskc train` never initializes MPI: no singleton start-up cost and no
 * change to single-process behaviour. Buffers larger than INT_MAX elements go in chunks (MPI
 * counts are int).
 */
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VM_HAVE_MPI
#include <mpi.h>
#endif

static int d_rank = 0, d_size = 1;
static bool d_init = false;
#ifdef VM_HAVE_MPI
static bool d_mpi = false; /* MPI_Init was called */
static MPI_Comm d_async;     /* the non-blocking sums' communicator */
#endif
static uint64_t d_bytes = 0;

bool vm_dist_compiled(void) {
#ifdef VM_HAVE_MPI
    return true;
#else
    return false;
#endif
}

static bool launched_by_mpirun(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

int vm_dist_init(void) {
    if (d_init) return d_size;
    d_init = true;
#ifdef VM_HAVE_MPI
    if (!launched_by_mpirun()) return d_size;
    int already = 0;
    MPI_Initialized(&already);
    if (!already && MPI_Init(NULL, NULL) != MPI_SUCCESS) return d_size;
    d_mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &d_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d_size);
    MPI_Comm_dup(MPI_COMM_WORLD, &d_async);
#else
    if (launched_by_mpirun())
        fprintf(stderr, "vmaskc: warning: started by mpirun, but this vmaskc was built without MPI; every process "
                        "runs alone (rebuild with libopenmpi-dev installed)\n");
#endif
    return d_size;
}

void vm_dist_finalize(void) {
#ifdef VM_HAVE_MPI
    if (d_mpi) {
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Comm_free(&d_async);
        MPI_Finalize();
        d_mpi = false;
    }
#endif
    d_rank = 0;
    d_size = 1;
}

int vm_dist_rank(void) { return d_rank; }
bool vm_dist_launched(void) {
#ifdef VM_HAVE_MPI
    return d_mpi;
#else
    return false;
#endif
}
int vm_dist_size(void) { return d_size; }
uint64_t vm_dist_bytes(void) { return d_bytes; }

#ifdef VM_HAVE_MPI
static void sum_chunks(void *buf, size_t n, size_t elem, MPI_Datatype t) {
    d_bytes += n * elem;
    for (size_t off = 0; off < n; off += (size_t)INT_MAX) {
        size_t k = n - off < (size_t)INT_MAX ? n - off : (size_t)INT_MAX;
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)k, t, MPI_SUM, MPI_COMM_WORLD);
    }
}
static MPI_Request pending[VM_DIST_MAX_PENDING];
static int n_pending = 0;
#endif

void vm_dist_sum_f32(float *buf, size_t n) {
#ifdef VM_HAVE_MPI
    if (d_mpi && d_size > 1) sum_chunks(buf, n, sizeof *buf, MPI_FLOAT);
#else
    (void)buf, (void)n;
#endif
}

void vm_dist_sum_f64(double *buf, size_t n) {
#ifdef VM_HAVE_MPI
    if (d_mpi && d_size > 1) sum_chunks(buf, n, sizeof *buf, MPI_DOUBLE);
#else
    (void)buf, (void)n;
#endif
}

int64_t vm_dist_sum_i64(int64_t v) {
#ifdef VM_HAVE_MPI
    if (d_mpi && d_size > 1) {
        int64_t out = 0;
        MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        d_bytes += sizeof v;
        return out;
    }
#endif
    return v;
}

void vm_dist_isum_f32(float *buf, size_t n) {
#ifdef VM_HAVE_MPI
    if (!d_mpi || d_size < 2) return;
    if (n > (size_t)INT_MAX || n_pending == VM_DIST_MAX_PENDING) {
        vm_dist_wait_all();
        sum_chunks(buf, n, sizeof *buf, MPI_FLOAT);
        return;
    }
    d_bytes += n * sizeof *buf;
    MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, d_async, &pending[n_pending++]);
#else
    (void)buf, (void)n;
#endif
}

void vm_dist_wait_all(void) {
#ifdef VM_HAVE_MPI
    if (n_pending) MPI_Waitall(n_pending, pending, MPI_STATUSES_IGNORE);
    n_pending = 0;
#endif
}

void vm_dist_poll(void) {
#ifdef VM_HAVE_MPI
    int done;
    if (n_pending) MPI_Testall(n_pending, pending, &done, MPI_STATUSES_IGNORE);
#endif
}

void vm_dist_bcast(void *buf, size_t n, int root) {
#ifdef VM_HAVE_MPI
    if (!d_mpi || d_size < 2) return;
    for (size_t off = 0; off < n; off += (size_t)INT_MAX) {
        size_t k = n - off < (size_t)INT_MAX ? n - off : (size_t)INT_MAX;
        MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
#else
    (void)buf, (void)n, (void)root;
#endif
}

bool vm_dist_gatherv(const void *buf, size_t n, int root, void **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
#ifdef VM_HAVE_MPI
    if (d_mpi && d_size > 1) {
        /* sizes first; a process out of memory still takes part, so nobody waits for it */
        long long mine = n <= (size_t)INT_MAX ? (long long)n : -1;
        long long *sizes = d_rank == root ? calloc((size_t)d_size, sizeof *sizes) : NULL;
        int *counts = d_rank == root ? calloc((size_t)d_size, sizeof *counts) : NULL;
        int *displs = d_rank == root ? calloc((size_t)d_size, sizeof *displs) : NULL;
        bool ok = d_rank != root || (sizes && counts && displs);
        long long all = 0;
        int ok_all = ok, ok_mine = ok;
        MPI_Allreduce(&ok_mine, &ok_all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (!ok_all) {
            free(sizes), free(counts), free(displs);
            return false;
        }
        MPI_Gather(&mine, 1, MPI_LONG_LONG, sizes, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD);
        char *dst = NULL;
        if (d_rank == root) {
            for (int r = 0; r < d_size; r++) {
                displs[r] = (int)all;
                counts[r] = (int)sizes[r];
                all += sizes[r] < 0 ? 0 : sizes[r];
            }
            dst = all <= INT_MAX ? malloc((size_t)all + 1) : NULL;
        }
        int have = (d_rank != root || dst) && mine >= 0, have_all = 0;
        MPI_Allreduce(&have, &have_all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (have_all)
            MPI_Gatherv(buf, (int)mine, MPI_BYTE, dst, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD);
        free(sizes), free(counts), free(displs);
        if (!have_all) {
            free(dst);
            return false;
        }
        *out = dst;
        *out_len = d_rank == root ? (size_t)all : 0;
        return true;
    }
#endif
    (void)root;
    void *copy = malloc(n ? n : 1);
    if (!copy) return false;
    if (n) memcpy(copy, buf, n);
    *out = copy;
    *out_len = n;
    return true;
}

void vm_dist_allgather(const void *mine, size_t n, void *all) {
#ifdef VM_HAVE_MPI
    if (d_mpi && d_size > 1) {
        MPI_Allgather(mine, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE, MPI_COMM_WORLD);
        return;
    }
#endif
    memcpy(all, mine, n);
}

_Noreturn void vm_dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
#ifdef VM_HAVE_MPI
    if (d_mpi && d_size > 1) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    exit(code);
}
