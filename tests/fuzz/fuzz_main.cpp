// The libFuzzer entry point of one harness; CMake compiles it once per harness with
// MOE_FUZZ_HARNESS set to the harness function's name.
#include <cstddef>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "harness.h"

#ifndef MOE_FUZZ_HARNESS
#error "MOE_FUZZ_HARNESS must name a function of harness.h"
#endif

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Readers log warnings about the inputs they reject; millions of them would only slow the run.
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    moe::fuzz::MOE_FUZZ_HARNESS(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
