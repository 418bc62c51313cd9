#pragma once
// Expected failures are values: a Diagnostic names the place (a JSON path such as
// `blocks[3].router.k`, plus line:column when it came from a file) and what would be valid.

#include <string>
#include <variant>
#include <vector>

namespace moe::spec {

struct Diagnostic {
    std::string path;     // JSON path in the project, e.g. "model.blocks[3].router.k"; may be empty
    std::string message;  // what is wrong and what would be valid
    int line = 0;         // 1-based; 0 when unknown
    int column = 0;       // 1-based; 0 when unknown
    std::string file;     // the file it came from, when there is one

    // "file:line:col: path: message" with the parts that are known.
    std::string format() const;
};

using Diagnostics = std::vector<Diagnostic>;

// A value or the diagnostics explaining why there is none.
template <class T>
class Result {
public:
    Result(T value) : m_v(std::move(value)) {}
    Result(Diagnostics errors) : m_v(std::move(errors)) {}
    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(m_v); }
    const T& value() const { return std::get<0>(m_v); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Diagnostics& errors() const {
        static const Diagnostics none;
        return ok() ? none : std::get<1>(m_v);
    }
    // All errors on one line each.
    std::string message() const;

private:
    std::variant<T, Diagnostics> m_v;
};

std::string formatAll(const Diagnostics& d);

template <class T>
std::string Result<T>::message() const { return formatAll(errors()); }

}  // namespace moe::spec
