// `moe bench train PROJECT`: achieved training FLOP/s as a fraction of this machine's GEMM rate.
#include <filesystem>
#include <iostream>

#include "cli_command.h"
#include "moe/spec/project_io.h"
#include "moe/train/bench.h"

namespace {

using moe::cli::fixed;
using moe::cli::humanCount;

int run(const moe::cli::ParsedArgs& a) {
    const std::string path = a.positional()[0];
    auto loaded = moe::cli::loadProjectFile(path);
    if (!loaded) return 1;
    moe::train::TrainBenchOptions o;
    o.steps = a.intValue("steps", o.steps, 1, 100000);
    o.warmup = a.intValue("warmup", o.warmup, 0, 10000);
    o.threads = a.intValue("threads", 0, 0, 1024);
    o.gemmSize = a.intValue("gemm", o.gemmSize, 16, 16384);
    o.batch = a.intValue("batch", 0, 1, 1 << 20);
    o.projectDir = std::filesystem::path(path).parent_path().string();
    auto res = moe::train::benchTrain(loaded.value(), o);
    if (!res) {
        std::cerr << res.message() << "\n";
        return 1;
    }
    const auto& r = res.value();
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["project"] = path;
        j["threads"] = r.threads;
        j["steps"] = r.steps;
        j["batch"] = r.batch;
        j["tokens_per_step"] = r.tokensPerStep;
        j["forward_flops_per_token"] = r.forwardFlopsPerToken;
        j["seconds_per_step"] = r.secondsPerStep;
        j["train_flops_per_second"] = r.trainFlops;
        j["gemm_size"] = o.gemmSize;
        j["gemm_blas_threads_flops_per_second"] = r.gemmBlasThreadsFlops;
        j["gemm_bands_flops_per_second"] = r.gemmBandsFlops;
        j["gemm_flops_per_second"] = r.gemmFlops;
        j["fraction_of_gemm"] = r.fraction;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << path << ": " << r.steps << " training steps on " << r.threads << " CPU thread" << (r.threads == 1 ? "" : "s")
              << " (telemetry included), medians\n\n";
    moe::cli::Table t({"measure", "value"});
    t.add({"samples per step", std::to_string(r.batch)});
    t.add({"tokens per step", humanCount(r.tokensPerStep)});
    t.add({"forward FLOPs per token (describe)", humanCount(r.forwardFlopsPerToken)});
    t.add({"time per step", fixed(r.secondsPerStep * 1e3, 1) + " ms"});
    t.add({"achieved training FLOP/s (3 x forward)", humanCount(r.trainFlops)});
    const std::string side = std::to_string(o.gemmSize);
    t.add({"sgemm " + side + "^3 FLOP/s, BLAS's threads", humanCount(r.gemmBlasThreadsFlops)});
    t.add({"sgemm " + side + "^3 FLOP/s, bands on LibTorch's", humanCount(r.gemmBandsFlops)});
    t.add({"fraction of GEMM rate", fixed(100 * r.fraction, 1) + "%"});
    std::cout << t.str();
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench train", "achieved training FLOP/s of a project as a fraction of this machine's GEMM rate", "PROJECT",
    "Trains the project for a few steps with the real trainer (its threads, data and telemetry) and divides the\n"
    "achieved FLOP rate (describe's forward FLOPs per token x 3 for forward + backward x tokens per second) by\n"
    "this machine's GEMM rate at the same thread count: the faster of a square sgemm through LibTorch with BLAS on\n"
    "its own threads (timed before training) and the same product in bands over LibTorch's threads with BLAS on\n"
    "one, as training runs its products (timed in between the training steps).",
    {{"json", "", "print the figures as JSON"},
     {"steps", "N", "timed training steps (default 30)"},
     {"warmup", "N", "untimed steps first (default 3)"},
     {"batch", "N", "samples per step (default: the project's training.batch)"},
     {"gemm", "N", "side of the reference square sgemm (default 1024)"},
     {"threads", "N", "CPU threads (default: what moe train uses)"}},
    1, 1, run});

}  // namespace
