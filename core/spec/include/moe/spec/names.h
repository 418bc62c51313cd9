#pragma once
// Enum <-> name conversion for every enum of the spec (tables in names.cpp).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moe::spec {
// Parse returns nullopt for an unknown name; allNames lists the valid ones (for messages and UI).
template <class E> std::optional<E> parseEnum(std::string_view name);
template <class E> std::vector<std::string_view> allNames();
// The candidate closest to `word` by edit distance, or empty when none is close enough to suggest.
std::string didYouMean(std::string_view word, const std::vector<std::string>& candidates);
}  // namespace moe::spec
