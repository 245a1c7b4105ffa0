/* shape kernels (rows added as the family is implemented). */
#include "kernels.h"

const struct vm_rt_kernel vm_rt_kernels_shape[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
