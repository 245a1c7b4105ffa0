/* pbio: writes a protobuf-c message to a file without a packed copy in memory — the packer hands
 * its pieces to a vm_fd_stream. An exported BERT-base model (420 MiB) or a checkpoint (parameters,
 * Adam moments and the best-on-dev copy: about 4x the weights) never exists twice in memory. */
#ifndef VM_PBIO_H
#define VM_PBIO_H

#include <protobuf-c/protobuf-c.h>

#include "vm_base.h"

/* A vm_file_writer (vm_file_write_atomic_fn) for ctx = the ProtobufCMessage to write. */
enum vm_status vm_pb_write_message(void *ctx, int fd, const char *path, struct vm_error *err);

#endif
