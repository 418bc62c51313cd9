#pragma once
// Typed, checked access to one JSON object of a project file. Every getter records the key as
// known; finish() reports the keys nobody asked for, with a did-you-mean.

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/diagnostic.h"
#include "moe/spec/limits.h"
#include "moe/spec/model_spec.h"

namespace moe::spec::detail {

using Json = nlohmann::ordered_json;

// Collects diagnostics for one file, up to a limit like a compiler's: past it, errors are only
// counted, so that a file wrong everywhere costs no more than reading it.
struct ReadContext {
    static constexpr size_t kMaxErrors = 100;
    Diagnostics errors;
    size_t omitted = 0;
    bool full() const { return errors.size() >= kMaxErrors; }
    void error(const std::string& path, const std::string& message) {
        if (full()) ++omitted;
        else errors.push_back({path, message});
    }
};

std::string typeName(const Json& j);
std::string joinNames(const std::vector<std::string_view>& names);

class ObjectReader {
public:
    ObjectReader(ReadContext& ctx, const Json& obj, std::string path);

    const std::string& path() const { return m_path; }
    std::string childPath(const std::string& key) const { return m_path.empty() ? key : m_path + "." + key; }
    bool has(const std::string& key);          // marks the key known
    const Json* get(const std::string& key);   // nullptr when absent; marks known
    void allow(std::initializer_list<const char*> keys);  // known but read elsewhere

    // Numbers are read within a range of moe/spec/limits.h, the one validation checks too.
    int getInt(const std::string& key, int def, IntRange range);
    std::optional<int> optInt(const std::string& key, IntRange range);
    double getDouble(const std::string& key, double def, RealRange range);
    bool getBool(const std::string& key, bool def);
    std::string getString(const std::string& key, const std::string& def);
    template <class E>
    E getEnum(const std::string& key, E def) {
        const Json* v = get(key);
        if (!v) return def;
        if (!v->is_string()) {
            m_ctx.error(childPath(key), "expected one of " + joinNames(allNames<E>()) + " but found " + typeName(*v));
            return def;
        }
        const std::string s = v->get<std::string>();
        if (auto e = parseEnum<E>(s)) return *e;
        std::vector<std::string> cands;
        for (auto n : allNames<E>()) cands.emplace_back(n);
        std::string msg = "\"" + s + "\" is not valid; expected one of " + joinNames(allNames<E>());
        if (auto dm = didYouMean(s, cands); !dm.empty()) msg += " (did you mean \"" + dm + "\"?)";
        m_ctx.error(childPath(key), msg);
        return def;
    }
    // Reports keys present but never asked for.
    void finish();
    // Reports `key` as not applicable (e.g. "tau applies to dynamic routers only").
    void rejectIfPresent(const std::string& key, const std::string& why);

private:
    ReadContext& m_ctx;
    const Json& m_obj;
    std::string m_path;
    std::set<std::string> m_known;
    bool m_isObject = true;
};

}  // namespace moe::spec::detail
