/* reduce: op family (rows added as the family is implemented). */
#include "../ops.h"

const struct vm_op_row vm_ops_reduce[] = {
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
