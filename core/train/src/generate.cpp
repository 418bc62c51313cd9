#include "moe/train/generate.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include "checkpoint.h"
#include "cpu_blas.h"
#include "moe/train/datasets.h"
#include "moe_net.h"

namespace moe::train {

using moe::spec::Diagnostics;

moe::spec::Result<std::string> generateText(const moe::spec::Project& project, const std::string& checkpoint,
                                            const GenerateOptions& o) {
    const auto& in = project.model.input;
    if (!in.isText())
        return Diagnostics{{"model.input.dataset", "this run trained a " + std::string(moe::spec::toString(in.dataset)) +
                                                       " model, not a language model; generate needs a text project"}};
    std::error_code ec;
    if (checkpoint.empty() || !std::filesystem::is_regular_file(checkpoint, ec))
        return Diagnostics{{"checkpoint", "no checkpoint at '" + checkpoint + "'"}};
    try {
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        detail::setCpuThreads(o.threads > 0 ? o.threads : static_cast<int>(hw));
        torch::serialize::InputArchive a;
        a.load_from(checkpoint);
        c10::IValue spec;
        if (!a.try_read(detail::kCheckpointSpecKey, spec) || !spec.isString())
            return Diagnostics{{"checkpoint", checkpoint + " is not a MoE Studio checkpoint (it has no model spec)"}};
        if (spec.toStringRef() != detail::checkpointModelJson(project))
            return Diagnostics{{"checkpoint", "the checkpoint " + checkpoint + " was written for a different model than the run's project"}};
        detail::MoeNet net(project.model);
        net->load(a);

        std::vector<std::int64_t> context = encodeBytes(o.prompt.empty() ? std::string("\n") : o.prompt);
        std::string out;
        std::mt19937_64 rng(o.seed);
        for (int i = 0; i < o.tokens; ++i) {
            // The model sees at most its trained window: nextTokenLogits keeps the last seq_len bytes.
            auto logits = detail::nextTokenLogits(*net, torch::tensor(context, torch::kLong)).to(torch::kDouble);
            std::int64_t next = 0;
            if (o.temperature <= 0) {
                next = logits.argmax().item<std::int64_t>();
            } else {
                auto p = torch::softmax(logits / o.temperature, 0).contiguous();
                std::vector<double> w(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
                next = std::discrete_distribution<std::int64_t>(w.begin(), w.end())(rng);
            }
            context.push_back(next);
            out.push_back(static_cast<char>(static_cast<unsigned char>(next)));
        }
        return out;
    } catch (const c10::Error& e) {
        return Diagnostics{{"checkpoint", "cannot load or run the model from " + checkpoint + ": " + e.what_without_backtrace()}};
    }
}

}  // namespace moe::train
