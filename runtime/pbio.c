/* pbio: protobuf-c messages streamed to a file (see pbio.h). */
#include "pbio.h"

#include <stdlib.h>

struct pb_stream {
    ProtobufCBuffer base; /* first: protobuf-c calls base.append with a pointer to it */
    struct vm_fd_stream w;
};

static void pb_append(ProtobufCBuffer *pb, size_t len, const uint8_t *data) {
    vm_fd_stream_write(&((struct pb_stream *)pb)->w, data, len);
}

enum vm_status vm_pb_write_message(void *ctx, int fd, const char *path, struct vm_error *err) {
    struct pb_stream *b = malloc(sizeof *b);
    if (!b) return vm_errorf(err, VM_ENOMEM, "out of memory");
    b->base.append = pb_append;
    b->w = (struct vm_fd_stream){.fd = fd, .path = path, .err = err};
    protobuf_c_message_pack_to_buffer(ctx, &b->base);
    enum vm_status s = vm_fd_stream_flush(&b->w);
    free(b);
    return s;
}
