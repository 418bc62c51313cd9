// `moe plan PROJECT`: the layouts of the project's model on N GPUs, ranked by step time.
// `moe cost PROJECT`: memory per GPU and step time of the project's own layout.
#include <chrono>
#include <ctime>
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/plan.h"
#include "moe/spec/project_io.h"

namespace {

namespace cl = moe::cluster;
namespace spec = moe::spec;
using moe::cli::fixed;
using moe::cli::UsageError;
using Json = nlohmann::ordered_json;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string gib(double bytes) { return fixed(bytes / kGiB, 1); }
std::string ms(double us) { return fixed(us / 1000.0, us < 10000 ? 2 : 0); }

Json layoutJson(const cl::Layout& l) {
    return Json{{"gpus", l.gpus},
                {"tp", l.tp},
                {"cp", l.cp},
                {"pp", l.pp},
                {"vpp", l.vpp},
                {"first_stage_layers", l.firstStageLayers},
                {"last_stage_layers", l.lastStageLayers},
                {"dp", l.dp},
                {"ep", l.ep},
                {"etp", l.etp},
                {"edp", l.edp},
                {"sequence_parallel", l.sequenceParallel},
                {"micro_batch", l.microBatch},
                {"global_batch", l.globalBatch},
                {"micro_batches", l.microBatches},
                {"seq_len", l.seqLen},
                {"recompute", cl::toString(l.recompute)},
                {"zero", l.zero}};
}

Json memoryJson(const cl::MemoryBreakdown& m) {
    return Json{{"stage", m.stage},           {"weights_bytes", m.weights},     {"gradients_bytes", m.gradients},
                {"optimizer_bytes", m.optimizer}, {"activations_bytes", m.activations}, {"kv_cache_bytes", m.kvCache},
                {"zero3_gathered_bytes", m.gathered}, {"total_bytes", m.total}, {"capacity_bytes", m.capacity},
                {"fits", m.fits},             {"in_flight_micro_batches", m.inFlight}, {"dense_params_per_gpu", m.denseParams},
                {"expert_params_per_gpu", m.expertParams}, {"notes", m.notes}};
}

Json stepJson(const cl::StepBreakdown& s) {
    Json parts = Json::object();
    for (const auto& [name, us] : s.parts()) parts[name] = us;
    return Json{{"step_us", s.stepUs},
                {"parts_us", parts},
                {"dp_comm_us", s.dpCommUs},
                {"micro_batch_us", s.microBatchUs},
                {"slowest_stage", s.slowestStage},
                {"moe_imbalance", s.moeImbalance},
                {"tokens_per_gpu_per_s", s.tokensPerGpuPerSec},
                {"model_tflops_per_gpu", s.modelTflopsPerGpu},
                {"mfu", s.mfu},
                {"most_exposed", s.mostExposed()},
                {"notes", s.notes}};
}

cl::PlanOptions options(const moe::cli::ParsedArgs& a, spec::Project& project, const std::string& projectPath) {
    cl::PlanOptions o;
    o.cluster = a.valueOr("cluster", "");
    o.gpus = a.intValue("gpus", 0, 1, 1 << 20);
    o.top = a.intValue("top", 10, 1, 1000);
    o.globalBatch = a.intValue("global-batch", 0, 1, 1 << 30);
    o.routing = a.valueOr("routing", "");
    // A run store named in the project is relative to the project file.
    if (project.deployment && o.routing.empty()) {
        std::string& r = project.deployment->routing;
        const auto slash = projectPath.find_last_of('/');
        const bool store = r.size() > 3 && (r.find(".sqlite") != std::string::npos || r.substr(r.size() - 3) == ".db");
        if (store && r[0] != '/' && slash != std::string::npos) r = projectPath.substr(0, slash + 1) + r;
    }
    return o;
}

std::string memoryLine(const cl::MemoryBreakdown& m) {
    return gib(m.total) + " of " + gib(m.capacity) + " GiB (" + (m.fits ? "fits" : "does NOT fit") + "): weights " + gib(m.weights) + ", gradients " +
           gib(m.gradients) + ", optimizer " + gib(m.optimizer) + ", activations " + gib(m.activations) + " (" + fixed(m.inFlight, 2) +
           " micro-batches in flight)" + (m.gathered > 0 ? ", ZeRO-3 gathered " + gib(m.gathered) : std::string()) + "; pipeline rank " +
           std::to_string(m.stage);
}

int runPlan(const moe::cli::ParsedArgs& a) {
    const std::string path = a.positional()[0];
    auto loaded = moe::cli::loadProjectAndCatalog(a, path);
    if (!loaded) return 1;
    spec::Project& project = loaded->project;
    const cl::Catalog& catalog = loaded->catalog;
    const cl::PlanOptions o = options(a, project, path);
    auto r = cl::planLayouts(project, catalog, o);
    if (!r) return moe::cli::reportErrors(r.errors());
    const cl::PlanResult& p = r.value();
    if (a.flag("json")) {
        Json j{{"cluster", p.cluster}, {"gpus", p.gpus}, {"global_batch", p.globalBatch}, {"seq_len", p.seqLen},
               {"enumerated", p.enumerated}, {"fitting", p.fitting}, {"notes", p.notes}};
        Json rows = Json::array();
        for (size_t i = 0; i < p.rows.size(); ++i) {
            const auto& row = p.rows[i];
            rows.push_back(Json{{"rank", i + 1}, {"layout", layoutJson(row.layout)}, {"summary", row.layout.summary()},
                                {"memory", memoryJson(row.memory)}, {"step", stepJson(row.step)}, {"reason", row.reason}});
        }
        j["rows"] = rows;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "plan for " << p.gpus << " GPUs of " << p.cluster << ": global batch " << p.globalBatch << " x " << p.seqLen << " tokens; "
              << p.enumerated << " layouts divide, " << p.fitting << " fit in memory\n";
    for (const auto& n : p.notes) std::cout << "note: " << n << "\n";
    if (p.rows.empty()) return 1;
    moe::cli::Table t({"#", "layout", "step ms", "tok/s/GPU", "TFLOP/s", "MFU", "GiB/GPU", "bubble", "a2a", "tp", "dp exp"});
    for (size_t i = 0; i < p.rows.size(); ++i) {
        const auto& row = p.rows[i];
        const auto& s = row.step;
        t.add({std::to_string(i + 1), row.layout.summary(), ms(s.stepUs), fixed(s.tokensPerGpuPerSec, 0), fixed(s.modelTflopsPerGpu, 0),
               fixed(100 * s.mfu, 1) + "%", gib(row.memory.total), ms(s.bubbleUs), ms(s.epCommUs), ms(s.tpCommUs), ms(s.dpExposedUs)});
    }
    std::cout << "\n" << t.str() << "(times per step in ms; GiB: the pipeline rank with the most memory)\n\n";
    for (size_t i = 0; i < p.rows.size(); ++i) std::cout << "#" << i + 1 << ": " << p.rows[i].reason << "\n";
    std::cout << "\n#1 memory: " << memoryLine(p.rows[0].memory) << "\n";
    for (const auto& n : p.rows[0].step.notes) std::cout << "note: " << n << "\n";
    return 0;
}

int runCost(const moe::cli::ParsedArgs& a) {
    const std::string path = a.positional()[0];
    auto loaded = moe::cli::loadProjectAndCatalog(a, path);
    if (!loaded) return 1;
    spec::Project& project = loaded->project;
    const cl::Catalog& catalog = loaded->catalog;
    cl::PlanOptions o = options(a, project, path);
    o.inference = a.flag("inference");
    auto r = cl::costProjectLayout(project, catalog, o);
    if (!r) return moe::cli::reportErrors(r.errors());
    const cl::LayoutCost& c = r.value();
    if (a.flag("json")) {
        moe::cli::printJson(Json{{"layout", layoutJson(c.layout)}, {"summary", c.layout.summary()}, {"memory", memoryJson(c.memory)},
                                 {"step", stepJson(c.step)}, {"notes", c.notes}});
        return 0;
    }
    const auto& s = c.step;
    if (o.inference) {
        const auto& m = c.memory;
        std::cout << "inference, layout " << c.layout.summary() << ": " << gib(m.total) << " of " << gib(m.capacity) << " GiB per GPU ("
                  << (m.fits ? "fits" : "does NOT fit") << "): weights " << gib(m.weights) << ", KV cache " << gib(m.kvCache) << " for "
                  << c.layout.microBatch << " sequence(s) of " << c.layout.seqLen << " tokens, activations " << gib(m.activations)
                  << "; pipeline rank " << m.stage << "\n";
        for (const auto& n : m.notes) std::cout << "note: " << n << "\n";
        return m.fits ? 0 : 3;
    }
    std::cout << "layout " << c.layout.summary() << " on " << c.layout.gpus << " GPUs; global batch " << c.layout.globalBatch << " x "
              << c.layout.seqLen << " tokens, " << c.layout.microBatches << " micro-batches per step\n"
              << "memory per GPU: " << memoryLine(c.memory) << "\n"
              << "step " << ms(s.stepUs) << " ms: " << fixed(s.tokensPerGpuPerSec, 0) << " tokens/s per GPU, " << fixed(s.modelTflopsPerGpu, 0)
              << " model TFLOP/s per GPU, MFU " << fixed(100 * s.mfu, 1) << "%; exposed: " << s.mostExposed() << "\n\n";
    moe::cli::Table t({"part", "ms per step", "share"});
    for (const auto& [name, us] : s.parts())
        if (us > 0) t.add({name, ms(us), fixed(100 * us / s.stepUs, 1) + "%"});
    std::cout << t.str();
    for (const auto& n : c.notes) std::cout << "note: " << n << "\n";
    for (const auto& n : c.memory.notes) std::cout << "note: " << n << "\n";
    for (const auto& n : s.notes) std::cout << "note: " << n << "\n";
    return c.memory.fits ? 0 : 3;
}

int runBench(const moe::cli::ParsedArgs& a) {
    const std::string path = a.positional()[0];
    auto loaded = moe::cli::loadProjectAndCatalog(a, path);
    if (!loaded) return 1;
    spec::Project& project = loaded->project;
    const cl::Catalog& catalog = loaded->catalog;
    cl::PlanOptions o = options(a, project, path);
    const int repeat = a.intValue("repeat", 3, 1, 100);
    moe::cli::Table t({"run", "wall s", "cpu s", "layouts", "fit", "best step ms"});
    for (int i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        auto r = cl::planLayouts(project, catalog, o);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
        if (!r) return moe::cli::reportErrors(r.errors());
        t.add({std::to_string(i + 1), fixed(wall, 2), fixed(cpu, 2), std::to_string(r->enumerated), std::to_string(r->fitting),
               r->rows.empty() ? "-" : ms(r->rows[0].step.stepUs)});
    }
    std::cout << t.str();
    return 0;
}

const std::vector<moe::cli::OptionSpec> kOptions = {
    {"cluster", "NAME", "override deployment.cluster (see 'moe clusters')"},
    {"gpus", "N", "override deployment.gpus"},
    {"global-batch", "N", "sequences per optimizer step (default: deployment.global_batch)"},
    {"routing", "R", "uniform | zipf:1.2 | RUN.sqlite (default: deployment.routing)"},
    {"json", "", "print the result as JSON"},
    moe::cli::kCatalogOverlayOption};

std::vector<moe::cli::OptionSpec> planOptions() {
    auto v = kOptions;
    v.push_back({"top", "K", "layouts to list (default 10)"});
    return v;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "plan", "rank the parallel layouts of the project's model on N GPUs by step time", "PROJECT",
    "Enumerates TP, CP, PP (with virtual stages or uneven first/last stages), EP, ETP, DP, micro-batch,\n"
    "recomputation and ZeRO stage for the project's model (its real size) on --gpus GPUs of --cluster,\n"
    "drops the layouts that do not fit in memory, ranks the rest by step time at a fixed global batch and\n"
    "says what each top layout exposes and why it beats the next.",
    planOptions(), 1, 1, runPlan});

std::vector<moe::cli::OptionSpec> costOptions() {
    auto v = kOptions;
    v.push_back({"inference", "", "memory for inference instead: weights and the KV cache of micro_batch sequences of seq_len"});
    return v;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "cost", "memory per GPU and step time of the project's own training layout", "PROJECT",
    "Checks the deployment's layout against the model and the cluster (errors name the field and what\n"
    "would be valid), then prints the memory per GPU (weights, gradients, optimizer, activations; fits or\n"
    "not) and the step time of the whole model with its parts. Exit status 3 when it does not fit.",
    costOptions(), 1, 1, runCost});

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench plan", "time the layout planner on a project", "PROJECT",
    "Runs `moe plan` on the project --repeat times (default 3) and prints the wall and processor time of\n"
    "each run with the layouts enumerated and fitting.",
    [] {
        auto v = kOptions;
        v.push_back({"repeat", "R", "runs (default 3)"});
        return v;
    }(),
    1, 1, runBench});

}  // namespace
