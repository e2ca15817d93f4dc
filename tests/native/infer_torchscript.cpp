// Run a TorchScript model exported by practicaltorch from C++ with LibTorch, and
// compare its output with the output PyTorch computed in Python.
//
// Usage:
//   infer_torchscript MODEL.pt INPUT.bin EXPECTED.bin TOLERANCE D0 [D1 ...]
//
// INPUT.bin and EXPECTED.bin hold raw little-endian float32 values in row-major
// (C) order, exactly as `practicaltorch.export` writes them; D0 D1 ... is the
// shape of the input (the batch first). The output shape is the model's own; only
// its number of elements must agree with EXPECTED.bin.
//
// Prints `max_rel_error=<value>` (the largest absolute difference divided by the
// largest absolute expected value) and exits with 0 when it is within TOLERANCE,
// 1 when it is not, and 2 on usage or input errors.

#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::vector<float> read_floats(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) {
    throw std::runtime_error("cannot open " + path);
  }
  const std::streamsize bytes = file.tellg();
  if (bytes % static_cast<std::streamsize>(sizeof(float)) != 0) {
    throw std::runtime_error(path + " is not a whole number of float32 values");
  }
  std::vector<float> values(static_cast<std::size_t>(bytes) / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(values.data()), bytes);
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: " << argv[0]
              << " MODEL.pt INPUT.bin EXPECTED.bin TOLERANCE D0 [D1 ...]\n";
    return 2;
  }
  const std::string model_path = argv[1];
  const double tolerance = std::stod(argv[4]);
  std::vector<int64_t> shape;
  for (int i = 5; i < argc; ++i) {
    shape.push_back(std::stoll(argv[i]));
  }

  std::vector<float> input;
  std::vector<float> expected;
  torch::jit::script::Module module;
  try {
    input = read_floats(argv[2]);
    expected = read_floats(argv[3]);
    module = torch::jit::load(model_path, torch::kCPU);
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 2;
  }
  module.eval();

  int64_t numel = 1;
  for (int64_t size : shape) {
    numel *= size;
  }
  if (numel != static_cast<int64_t>(input.size())) {
    std::cerr << "error: the shape asks for " << numel << " values but " << argv[2]
              << " holds " << input.size() << "\n";
    return 2;
  }

  // from_blob wraps our buffer without copying; its default strides are row-major,
  // the order the .bin file was written in.
  torch::Tensor x = torch::from_blob(input.data(), shape, torch::kFloat32);
  torch::Tensor y;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::jit::IValue> inputs{x};
    y = module.forward(inputs).toTensor().contiguous().to(torch::kFloat32);
  }
  if (y.numel() != static_cast<int64_t>(expected.size())) {
    std::cerr << "error: the model gave " << y.numel() << " values but " << argv[3]
              << " holds " << expected.size() << "\n";
    return 2;
  }

  const float* got = y.data_ptr<float>();
  double max_diff = 0.0;
  double max_ref = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - expected[i]));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(expected[i])));
  }
  const double rel = max_diff / std::max(max_ref, 1e-30);
  std::cout << "output_shape=" << y.sizes() << "\n";
  std::printf("max_rel_error=%.3e\n", rel);
  return rel <= tolerance ? 0 : 1;
}
