#pragma once
// A run as a Markdown report: what it trained, how it ended, each MoE block's load figures (with
// the noise floor) and the collapse verdicts at its last snapshot with the step each first
// tripped. The studio's File > Export writes it; it reads only the run store.

#include <ostream>

#include "moe/telemetry/run_store.h"

namespace moe::telemetry {

void writeMarkdownReport(const RunReader& run, std::ostream& out);

}  // namespace moe::telemetry
