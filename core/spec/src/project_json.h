#pragma once
#include "json_reader.h"
#include "moe/spec/project.h"

namespace moe::spec::detail {
Project readProject(ReadContext& ctx, const Json& root);

}
