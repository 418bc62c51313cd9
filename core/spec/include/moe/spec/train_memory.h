#pragma once
// What training a project takes in memory, estimated from the describe figures before anything is
// allocated, so that a model too large for the machine is refused with numbers instead of being
// built until the system kills it. An estimate, not a measurement (fp32, as the trainer runs):
//   weights 4 B x parameters; gradients the same; optimizer states 8 B x parameters for Adam and
//   AdamW (two moments), 4 B for SGD with momentum, none without;
//   activations kept for the backward pass, per token of the batch and per layer of the trained
//   model: the outputs and inputs of every linear map a token goes through (2 x its active
//   parameters / d_model), 6 x d_model for norms and residuals, and for attention the scores and
//   their softmax (2 x heads x the average context); plus the head's logits and their gradient.

#include <string>

#include "moe/spec/project.h"

namespace moe::spec {

struct TrainingMemory {
    double weightBytes = 0, gradientBytes = 0, optimizerBytes = 0, activationBytes = 0;
    long long params = 0;
    long long tokensPerStep = 0;
    double total() const { return weightBytes + gradientBytes + optimizerBytes + activationBytes; }
};

// The estimate for the model that trains: the project's twin when it sets one.
TrainingMemory estimateTrainingMemory(const Project& project);

// "weights 4.00 MiB + gradients 4.00 MiB + Adam states 8.00 MiB + activations 9.3 MiB for 64
// samples (64 tokens) per step; 1.05M parameters": what the total is made of.
std::string trainingMemoryBreakdown(const Project& project, const TrainingMemory& m);

// What this machine can give a new process now: MemAvailable of /proc/meminfo in bytes; 0 when
// unknown.
double availableMemoryBytes();

// The verdict the CLI and the studio both give before building anything: empty when the estimate
// fits under `limitBytes` (0: no limit), else "training this model needs about 4.00 TiB (...),
// more than <limitWhat> (21.9 GiB)" followed by what to change.
std::string trainingMemoryRefusal(const Project& project, const TrainingMemory& m, double limitBytes, const std::string& limitWhat);

}  // namespace moe::spec
