// A minimal C interface to LibTorch for the Fortran test program.
//
// This is a small stand-in for the C layer of FTorch (https://github.com/Cambridge-ICCS/FTorch),
// written for our tests only: FTorch itself cannot be installed in our CI. It keeps
// FTorch's shape (opaque handles, load / tensor-from-blob / forward / delete) so that
// code written against `tiny_ftorch.f90` moves to FTorch by changing one `use` line.
//
// Every function catches C++ exceptions: an exception must never cross into Fortran.
// Failures print a message to stderr and return a null handle or a non-zero status.

#include <torch/script.h>

#include <cstdint>
#include <exception>
#include <iostream>
#include <vector>

extern "C" {

// Load a TorchScript file on the CPU, in eval mode. Returns null on failure.
void* ptx_model_load(const char* path) {
  try {
    auto* module = new torch::jit::script::Module(torch::jit::load(path, torch::kCPU));
    module->eval();
    return module;
  } catch (const std::exception& error) {
    std::cerr << "ptx_model_load: cannot load " << path << ": " << error.what() << "\n";
    return nullptr;
  }
}

// Wrap caller-owned float32 memory as a tensor without copying.
//
// `shape` and `strides` are in Torch's dimension order and count elements, not
// bytes. With row-major strides this is the usual C view; with Fortran (column-major)
// strides the tensor reads a Fortran array in place. The memory must outlive the
// tensor. Returns null on failure.
void* ptx_tensor_from_blob(void* data, int ndim, const int64_t* shape,
                           const int64_t* strides) {
  try {
    std::vector<int64_t> sizes(shape, shape + ndim);
    std::vector<int64_t> steps(strides, strides + ndim);
    return new torch::Tensor(torch::from_blob(data, sizes, steps, torch::kFloat32));
  } catch (const std::exception& error) {
    std::cerr << "ptx_tensor_from_blob: " << error.what() << "\n";
    return nullptr;
  }
}

// Run the model's forward method on `nin` input tensors and copy its (single
// tensor) result into `output`, which must have the result's shape. Because the
// output wraps Fortran memory, copy_ writes the values straight into the Fortran
// array, honouring the output tensor's strides. Returns 0 on success.
int ptx_model_forward(void* model, void* const* inputs, int nin, void* output) {
  try {
    auto* module = static_cast<torch::jit::script::Module*>(model);
    torch::NoGradGuard no_grad;
    std::vector<torch::jit::IValue> args;
    args.reserve(static_cast<std::size_t>(nin));
    for (int i = 0; i < nin; ++i) {
      args.emplace_back(*static_cast<torch::Tensor*>(inputs[i]));
    }
    torch::Tensor result = module->forward(args).toTensor();
    auto* out = static_cast<torch::Tensor*>(output);
    if (result.sizes() != out->sizes()) {
      std::cerr << "ptx_model_forward: the model returned shape " << result.sizes()
                << " but the output array has shape " << out->sizes() << "\n";
      return 1;
    }
    out->copy_(result);
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "ptx_model_forward: " << error.what() << "\n";
    return 1;
  }
}

void ptx_tensor_delete(void* tensor) { delete static_cast<torch::Tensor*>(tensor); }

void ptx_model_delete(void* model) {
  delete static_cast<torch::jit::script::Module*>(model);
}

}  // extern "C"
