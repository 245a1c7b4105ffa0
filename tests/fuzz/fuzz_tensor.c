/* fuzz_tensor: the TensorProto reader behind `vmaskc run`'s test data (input_N.pb /
 * output_N.pb): protobuf unpack, then vm_onnx_tensor_decode, through the same buffer entry point
 * vm_onnx_read_tensor_file uses after reading the file. */
#include "../../onnx/onnx_io.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct vm_error err = {0};
    struct vm_tensor t;
    if (!vm_onnx_parse_tensor(data, size, "fuzz input", &t, &err)) vm_tensor_free(&t);
    return 0;
}
