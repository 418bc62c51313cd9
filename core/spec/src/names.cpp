// One table per enum: the names written in project files, shown in the UI and accepted by the CLI.
#include <array>
#include <utility>

#include "moe/spec/model_spec.h"
#include "moe/spec/project.h"
#include "moe/spec/schedule.h"

namespace moe::spec {
namespace {

template <class E> struct Names;
#define MOE_NAMES(E, ...)                                                          \
    template <> struct Names<E> {                                                  \
        static constexpr std::pair<E, std::string_view> table[] = {__VA_ARGS__};   \
    };

MOE_NAMES(DatasetKind, {DatasetKind::FashionMnist, "fashion_mnist"}, {DatasetKind::Blobs, "blobs"},
          {DatasetKind::Spirals, "spirals"}, {DatasetKind::Circles, "circles"}, {DatasetKind::Xor, "xor"},
          {DatasetKind::ClusteredTokens, "clustered_tokens"}, {DatasetKind::Text, "text"})
MOE_NAMES(TokenMode, {TokenMode::Sample, "sample"}, {TokenMode::Patches, "patches"})
MOE_NAMES(Activation, {Activation::Relu, "relu"}, {Activation::Gelu, "gelu"}, {Activation::Silu, "silu"},
          {Activation::Tanh, "tanh"}, {Activation::Swiglu, "swiglu"}, {Activation::Geglu, "geglu"})
MOE_NAMES(NormKind, {NormKind::None, "none"}, {NormKind::LayerNorm, "layernorm"}, {NormKind::RmsNorm, "rmsnorm"})
MOE_NAMES(BlockKind, {BlockKind::Dense, "dense"}, {BlockKind::Moe, "moe"}, {BlockKind::Attention, "attention"},
          {BlockKind::Group, "group"})
MOE_NAMES(AttentionKind, {AttentionKind::Mha, "mha"}, {AttentionKind::Gqa, "gqa"}, {AttentionKind::Mqa, "mqa"},
          {AttentionKind::Mla, "mla"})
MOE_NAMES(StemKind, {StemKind::Linear, "linear"}, {StemKind::Embedding, "embedding"})
MOE_NAMES(PositionKind, {PositionKind::None, "none"}, {PositionKind::Learned, "learned"}, {PositionKind::Rope, "rope"})
MOE_NAMES(RouterKind, {RouterKind::TopK, "topk"}, {RouterKind::ExpertChoice, "expert_choice"},
          {RouterKind::Dynamic, "dynamic"}, {RouterKind::Unified, "unified"}, {RouterKind::Hash, "hash"},
          {RouterKind::Sinkhorn, "sinkhorn"}, {RouterKind::SigmoidBias, "sigmoid_bias"})
MOE_NAMES(DropPolicy, {DropPolicy::Probs, "probs"}, {DropPolicy::Position, "position"})
MOE_NAMES(ScheduleKind, {ScheduleKind::Uniform, "uniform"}, {ScheduleKind::Descending, "descending"},
          {ScheduleKind::Ascending, "ascending"}, {ScheduleKind::Pyramid, "pyramid"},
          {ScheduleKind::Hourglass, "hourglass"}, {ScheduleKind::Wave, "wave"},
          {ScheduleKind::Explicit, "explicit"})
MOE_NAMES(OptimizerKind, {OptimizerKind::Sgd, "sgd"}, {OptimizerKind::Adam, "adam"}, {OptimizerKind::AdamW, "adamw"})
MOE_NAMES(LrSchedule, {LrSchedule::Constant, "constant"}, {LrSchedule::Cosine, "cosine"})
#undef MOE_NAMES

template <class E>
std::string_view nameOf(E v) {
    for (const auto& [e, n] : Names<E>::table)
        if (e == v) return n;
    return "?";
}

}  // namespace

template <class E>
std::optional<E> parseEnum(std::string_view name) {
    for (const auto& [e, n] : Names<E>::table)
        if (n == name) return e;
    return std::nullopt;
}

template <class E>
std::vector<std::string_view> allNames() {
    std::vector<std::string_view> out;
    for (const auto& [e, n] : Names<E>::table) out.push_back(n);
    return out;
}

#define MOE_INSTANTIATE(E)                                                  \
    std::string_view toString(E v) { return nameOf(v); }                    \
    template std::optional<E> parseEnum<E>(std::string_view);               \
    template std::vector<std::string_view> allNames<E>();
MOE_INSTANTIATE(DatasetKind)
MOE_INSTANTIATE(TokenMode)
MOE_INSTANTIATE(Activation)
MOE_INSTANTIATE(NormKind)
MOE_INSTANTIATE(BlockKind)
MOE_INSTANTIATE(RouterKind)
MOE_INSTANTIATE(DropPolicy)
MOE_INSTANTIATE(AttentionKind)
MOE_INSTANTIATE(StemKind)
MOE_INSTANTIATE(PositionKind)
MOE_INSTANTIATE(ScheduleKind)
MOE_INSTANTIATE(OptimizerKind)
MOE_INSTANTIATE(LrSchedule)
#undef MOE_INSTANTIATE

}  // namespace moe::spec
