#pragma once
#include "json_reader.h"
#include "moe/spec/project.h"

namespace moe::spec::detail {
Project readProject(ReadContext& ctx, const Json& root);

// The most layers a model holds once its groups are expanded: far above any published model
// (DeepSeek-V3: 61 decoder layers, 122 layers here; the deepest dense LLMs: a few hundred), and low
// enough that per-layer checks stay cheap on a hostile file. The reader and the importers keep to it.
inline constexpr int kMaxLayers = 4096;
}
