#pragma once
// A JSON reader that remembers where every value came from: nlohmann's parser reports only
// byte offsets of syntax errors, and our messages need line:column for semantic errors too.

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace moe::spec::detail {

struct SourcePos {
    int line = 0;
    int column = 0;
};

struct JsonSource {
    nlohmann::ordered_json root;
    std::map<std::string, SourcePos> positions;  // "a.b[2].c" -> where its value starts
    std::map<std::string, SourcePos> keyPositions;  // "a.b[2].c" -> where its key starts
    std::string error;                           // syntax error, empty when parsed
    SourcePos errorPos;
};

// Limits on what one project file may hold; past them the parser stops with a message (a
// project is kilobytes: these are far above any real one and keep hostile files cheap).
inline constexpr size_t kMaxProjectBytes = 64u << 20;
inline constexpr size_t kMaxStringBytes = 1u << 20;
inline constexpr size_t kMaxArrayLength = 1000000;
inline constexpr int kMaxDepth = 256;

JsonSource parseJsonWithPositions(const std::string& text);

}  // namespace moe::spec::detail
