// `moe bench layer`: MoE block vs its dense-equivalent work, and the cost of routing telemetry.
#include <cstdlib>
#include <iostream>

#include "cli_command.h"
#include "moe/spec/project.h"
#include "moe/train/bench.h"

namespace {

// What the OpenMP runtime was started with.
std::string ompWaitPolicy() {
    const char* p = std::getenv("OMP_WAIT_POLICY");
    return p ? p : "default (spin a while, then sleep)";
}

using moe::cli::fixed;

int run(const moe::cli::ParsedArgs& a) {
    moe::train::LayerBenchOptions o;
    o.experts = a.intValue("experts", o.experts, 1, 1024);
    o.k = a.intValue("k", o.k, 1, o.experts);
    o.dModel = a.intValue("d-model", o.dModel, 1, 65536);
    o.hidden = a.intValue("hidden", o.hidden, 1, 262144);
    o.tokens = a.intValue("tokens", o.tokens, 1, 1 << 24);
    o.reps = a.intValue("reps", o.reps, 1, 1000);
    o.threads = a.intValue("threads", 0, 0, 1024);
    o.telemetryInterval = a.intValue("interval", o.telemetryInterval, 1, 1000000);
    o.device = a.valueOr("device", o.device);
    int gpu = -1;
    if (auto e = moe::spec::checkDeviceName(o.device, gpu); !e.empty()) throw moe::cli::UsageError("--device " + e);
    auto res = moe::train::benchLayer(o);
    if (!res) {
        std::cerr << res.message() << "\n";
        return 1;
    }
    const auto& r = res.value();
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["experts"] = o.experts;
        j["k"] = o.k;
        j["d_model"] = o.dModel;
        j["hidden"] = o.hidden;
        j["tokens"] = o.tokens;
        j["threads"] = r.threads;
        j["device"] = r.device;
        j["omp_wait_policy"] = ompWaitPolicy();
        j["reps"] = o.reps;
        j["dispatch"] = r.kernels ? "kernels" : "plain";
        j["moe_fwd_bwd_s"] = r.moeSeconds;
        j["moe_plain_dispatch_fwd_bwd_s"] = r.moePlainSeconds;
        j["dense_equiv_fwd_bwd_s"] = r.denseSeconds;
        j["moe_over_dense"] = r.moeOverDense;
        j["step_s"] = r.stepSeconds;
        j["step_with_telemetry_s"] = r.stepTelemetrySeconds;
        j["telemetry_over_step"] = r.telemetryOverStep;
        j["telemetry_interval"] = o.telemetryInterval;
        j["telemetry_amortized"] = r.telemetryAmortized;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "MoE block: " << o.experts << " experts, k " << o.k << ", d " << o.dModel << ", FFN " << o.hidden << ", " << o.tokens
              << " tokens, on " << r.device << ", " << r.threads << " threads (OpenMP waiting " << ompWaitPolicy() << "), median of " << o.reps << "\n\n";
    moe::cli::Table t({"measure", "time", "ratio"});
    t.add({std::string("MoE block forward+backward (") + (r.kernels ? "kernels'" : "plain LibTorch") + " dispatch)",
           fixed(r.moeSeconds * 1e3, 1) + " ms", ""});
    if (r.kernels) t.add({"  same with plain LibTorch dispatch", fixed(r.moePlainSeconds * 1e3, 1) + " ms", fixed(r.moePlainSeconds / r.denseSeconds, 3)});
    t.add({"dense work: k experts' GEMMs over the tokens", fixed(r.denseSeconds * 1e3, 1) + " ms", ""});
    t.add({"MoE / dense (target <= 1.3)", "", fixed(r.moeOverDense, 3)});
    t.separator();
    t.add({"training step, telemetry off", fixed(r.stepSeconds * 1e3, 1) + " ms", ""});
    t.add({"training step, telemetry on", fixed(r.stepTelemetrySeconds * 1e3, 1) + " ms", ""});
    t.add({"on / off, per snapshot step", "", fixed(r.telemetryOverStep, 3)});
    t.add({"on / off, one snapshot every " + std::to_string(o.telemetryInterval) + " steps (target <= 1.05)", "", fixed(r.telemetryAmortized, 3)});
    std::cout << t.str();
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench layer", "MoE block vs its dense-equivalent work; telemetry cost per training step", "",
    "Times, from one run, forward+backward of an MoE block (top-k router, dropless dispatch/combine, FFN\n"
    "experts) against the dense work it cannot avoid (one FFN over tokens x k rows, i.e. the k chosen experts'\n"
    "GEMMs), and one training step of a one-block network with and without the snapshot telemetry.",
    {{"json", "", "print the figures as JSON"},
     {"experts", "N", "routed experts (default 8)"},
     {"k", "N", "experts per token (default 2)"},
     {"d-model", "N", "model width (default 256)"},
     {"hidden", "N", "FFN hidden width per expert (default 1024)"},
     {"tokens", "N", "tokens per batch (default 4096)"},
     {"reps", "N", "timed repetitions, interleaved, median reported (default 7)"},
     {"interval", "N", "snapshot interval for the amortised telemetry cost (default 10)"},
     {"threads", "N", "CPU threads (default: all)"},
     {"device", "NAME", "cpu (default), cuda, cuda:N or auto"}},
    0, 0, run});

}  // namespace
