#pragma once
// Atomic saves: write a temp file beside the target, fsync it, rename it over the target, fsync
// the directory. A crash leaves either the old file or the new one, never half of one; the
// temporary file a crash leaves behind is removed by the next save of the same file.

#include <string>

namespace moe::spec {

// Returns an empty string on success, or what went wrong (naming the file).
std::string writeFileAtomic(const std::string& path, const std::string& contents);

// Reads a whole file; returns false and fills `error` when it cannot.
bool readFile(const std::string& path, std::string& contents, std::string& error);

}  // namespace moe::spec
