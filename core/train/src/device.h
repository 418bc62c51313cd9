#pragma once
// Which LibTorch device a name ("auto", "cpu", "cuda", "cuda:N") means on this build and machine.
// Private to core/train (LibTorch types).
#include <torch/torch.h>

#include <string>

namespace moe::train::detail {

// Fills `out`, or returns why the device cannot be had here (never silently the CPU instead of
// an explicit GPU request). `what` names the setting in messages ("training.device", "--device").
std::string resolveDevice(const std::string& name, torch::Device& out, const std::string& what = "training.device");

// Waits for the device's queued work (a no-op on the CPU), so wall-clock timings are honest.
void synchronize(const torch::Device& device);

}  // namespace moe::train::detail
