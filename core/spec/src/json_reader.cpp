#include "json_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace moe::spec {

static size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string didYouMean(std::string_view word, const std::vector<std::string>& candidates) {
    std::string best;
    size_t bestD = std::numeric_limits<size_t>::max();
    for (const auto& c : candidates) {
        const size_t d = editDistance(word, c);
        if (d < bestD) {
            bestD = d;
            best = c;
        }
    }
    const size_t limit = std::max<size_t>(2, word.size() / 3);
    return bestD <= limit ? best : std::string();
}

}  // namespace moe::spec

namespace moe::spec::detail {

std::string typeName(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::boolean: return j.get<bool>() ? "true" : "false";
        case Json::value_t::string: return "the string " + j.dump(-1, ' ', false, Json::error_handler_t::replace);
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned: return "the number " + j.dump();
        case Json::value_t::number_float: return "the number " + j.dump();
        case Json::value_t::object: return "an object";
        case Json::value_t::array: return "an array";
        default: return "a value";
    }
}

std::string joinNames(const std::vector<std::string_view>& names) {
    std::ostringstream s;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i) s << (i + 1 == names.size() ? " or " : ", ");
        s << names[i];
    }
    return s.str();
}

ObjectReader::ObjectReader(ReadContext& ctx, const Json& obj, std::string path)
    : m_ctx(ctx), m_obj(obj), m_path(std::move(path)) {
    if (!obj.is_object()) {
        m_isObject = false;
        m_ctx.error(m_path, "expected an object ({...}) but found " + typeName(obj));
    }
}

bool ObjectReader::has(const std::string& key) {
    m_known.insert(key);
    return m_isObject && m_obj.contains(key);
}

const Json* ObjectReader::get(const std::string& key) {
    if (!has(key)) return nullptr;
    return &m_obj.at(key);
}

void ObjectReader::allow(std::initializer_list<const char*> keys) {
    for (auto k : keys) m_known.insert(k);
}

std::optional<int> ObjectReader::optInt(const std::string& key, IntRange range) {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    if (v->is_number_float()) {
        const double d = v->get<double>();
        if (std::floor(d) != d) {
            m_ctx.error(childPath(key), "expected a whole number but found " + v->dump() + rangeText(range));
            return std::nullopt;
        }
    } else if (!v->is_number()) {
        m_ctx.error(childPath(key), "expected a whole number but found " + typeName(*v) + rangeText(range));
        return std::nullopt;
    }
    const double d = v->get<double>();
    if (d < range.lo || d > range.hi) {
        m_ctx.error(childPath(key), outOfRange(v->dump(), range));
        return std::nullopt;
    }
    return static_cast<int>(d);
}

int ObjectReader::getInt(const std::string& key, int def, IntRange range) { return optInt(key, range).value_or(def); }

double ObjectReader::getDouble(const std::string& key, double def, RealRange range) {
    const Json* v = get(key);
    if (!v) return def;
    if (!v->is_number()) {
        m_ctx.error(childPath(key), "expected a number but found " + typeName(*v) + rangeText(range));
        return def;
    }
    const double d = v->get<double>();
    if (!range.contains(d)) {
        m_ctx.error(childPath(key), outOfRange(v->dump(), range));
        return def;
    }
    return d;
}

bool ObjectReader::getBool(const std::string& key, bool def) {
    const Json* v = get(key);
    if (!v) return def;
    if (!v->is_boolean()) {
        m_ctx.error(childPath(key), "expected true or false but found " + typeName(*v));
        return def;
    }
    return v->get<bool>();
}

std::string ObjectReader::getString(const std::string& key, const std::string& def) {
    const Json* v = get(key);
    if (!v) return def;
    if (!v->is_string()) {
        m_ctx.error(childPath(key), "expected a string but found " + typeName(*v));
        return def;
    }
    return v->get<std::string>();
}

void ObjectReader::rejectIfPresent(const std::string& key, const std::string& why) {
    m_known.insert(key);
    if (m_isObject && m_obj.contains(key)) m_ctx.error(childPath(key), "\"" + key + "\" " + why);
}

void ObjectReader::finish() {
    if (!m_isObject) return;
    std::vector<std::string> known(m_known.begin(), m_known.end());
    for (auto it = m_obj.begin(); it != m_obj.end(); ++it) {
        if (m_known.count(it.key())) continue;
        if (m_ctx.full()) {  // past the limit: counted, with no did-you-mean search
            ++m_ctx.omitted;
            continue;
        }
        std::string msg = "unknown key \"" + it.key() + "\"";
        if (auto dm = didYouMean(it.key(), known); !dm.empty()) msg += "; did you mean \"" + dm + "\"?";
        else {
            msg += "; valid keys here: ";
            for (size_t i = 0; i < known.size(); ++i) msg += (i ? ", " : "") + known[i];
        }
        m_ctx.error(childPath(it.key()), msg);
    }
}

}  // namespace moe::spec::detail
