#include "cli_command.h"

#include "moe/spec/names.h"
#include "moe/spec/project_io.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace moe::cli {
namespace {

std::map<std::string, CommandSpec>& registry() {
    static std::map<std::string, CommandSpec> r;
    return r;
}

}  // namespace

bool registerCommand(CommandSpec spec) {
    spec.options.push_back({"help", "", "show this help"});
    auto name = spec.name;
    registry().emplace(std::move(name), std::move(spec));
    return true;
}

const std::map<std::string, CommandSpec>& commands() { return registry(); }

std::pair<std::string, size_t> commandName(const std::vector<std::string>& args) {
    if (args.empty()) return {"", 0};
    if (args.size() > 1 && registry().count(args[0] + " " + args[1])) return {args[0] + " " + args[1], 2};
    return {args[0], 1};
}

std::string usageText(const CommandSpec& c) {
    std::ostringstream s;
    s << "usage: moe " << c.name;
    if (!c.positional.empty()) s << " " << c.positional;
    if (c.options.size() > 1) s << " [options]";
    s << "\n\n" << c.summary << "\n";
    if (!c.description.empty()) s << "\n" << c.description << "\n";
    s << "\noptions:\n";
    for (const auto& o : c.options) {
        std::string left = "  --" + o.name + (o.valueName.empty() ? "" : " " + o.valueName);
        s << std::left << std::setw(28) << left << " " << o.help << "\n";
    }
    return s.str();
}

ParsedArgs::ParsedArgs(const CommandSpec& spec, const std::vector<std::string>& args) : m_spec(spec) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() > 2 && a.rfind("--", 0) == 0) {
            std::string name = a.substr(2), val;
            bool hasVal = false;
            if (auto eq = name.find('='); eq != std::string::npos) {
                val = name.substr(eq + 1);
                name = name.substr(0, eq);
                hasVal = true;
            }
            const OptionSpec* opt = nullptr;
            for (const auto& o : spec.options)
                if (o.name == name) opt = &o;
            if (!opt) {
                std::vector<std::string> names;
                for (const auto& o : spec.options) names.push_back(o.name);
                const std::string best = moe::spec::didYouMean(name, names);
                throw UsageError("unknown option --" + name + (best.empty() ? "" : " (did you mean --" + best + "?)"));
            }
            if (opt->valueName.empty()) {
                if (hasVal) throw UsageError("--" + name + " takes no value");
            } else if (!hasVal) {
                if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value: --" + name + " " + opt->valueName);
                val = args[++i];
            }
            m_values[name] = val;
        } else if (a.size() > 1 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1]))) {
            throw UsageError("unknown option " + a + " (options start with --)");
        } else {
            m_positional.push_back(a);
        }
    }
    if (flag("help")) return;
    const int n = static_cast<int>(m_positional.size());
    if (n < spec.minPositional)
        throw UsageError("missing argument" + (spec.positional.empty() ? std::string() : ": expected " + spec.positional));
    if (spec.maxPositional >= 0 && n > spec.maxPositional)
        throw UsageError("unexpected argument '" + m_positional[static_cast<size_t>(spec.maxPositional)] + "'");
}

std::optional<std::string> ParsedArgs::value(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::nullopt;
    return it->second;
}

std::string ParsedArgs::valueOr(const std::string& name, const std::string& def) const { return value(name).value_or(def); }

int ParsedArgs::intValue(const std::string& name, int def, int lo, int hi) const {
    auto v = value(name);
    if (!v) return def;
    size_t used = 0;
    long long x = 0;
    try {
        x = std::stoll(*v, &used);
    } catch (...) {
        used = 0;
    }
    if (used == 0 || used != v->size())
        throw UsageError("--" + name + " expects a whole number, not '" + *v + "'");
    if (x < lo || x > hi)
        throw UsageError("--" + name + " " + *v + " is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) + ")");
    return static_cast<int>(x);
}

double ParsedArgs::doubleValue(const std::string& name, double def, double lo, double hi) const {
    auto v = value(name);
    if (!v) return def;
    size_t used = 0;
    double x = 0;
    try {
        x = std::stod(*v, &used);
    } catch (...) {
        used = 0;
    }
    if (used == 0 || used != v->size() || !std::isfinite(x))
        throw UsageError("--" + name + " expects a number, not '" + *v + "'");
    if (x < lo || x > hi) {
        std::ostringstream s;
        s << "--" << name << " " << *v << " is out of range (" << lo << " to " << hi << ")";
        throw UsageError(s.str());
    }
    return x;
}

std::string Table::str() const {
    std::vector<size_t> w(m_header.size(), 0);
    auto measure = [&](const std::vector<std::string>& r) {
        for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
    };
    measure(m_header);
    for (const auto& r : m_rows) measure(r);
    auto numeric = [](const std::string& s) {
        return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || ((s[0] == '-' || s[0] == '+') && s.size() > 1));
    };
    std::ostringstream o;
    auto line = [&](const std::vector<std::string>& r) {
        for (size_t i = 0; i < w.size(); ++i) {
            const std::string c = i < r.size() ? r[i] : "";
            if (i) o << "  ";
            if (numeric(c)) o << std::right << std::setw(static_cast<int>(w[i])) << c;
            else if (i + 1 == w.size()) o << c;
            else o << std::left << std::setw(static_cast<int>(w[i])) << c;
        }
        o << "\n";
    };
    line(m_header);
    size_t total = 0;
    for (auto x : w) total += x + 2;
    const std::string rule(total > 2 ? total - 2 : 0, '-');
    o << rule << "\n";
    for (const auto& r : m_rows) {
        if (r.empty()) o << rule << "\n";
        else line(r);
    }
    return o.str();
}

std::string joinList(const std::vector<std::string>& items) {
    std::string s;
    for (const auto& x : items) s += (s.empty() ? "" : ", ") + x;
    return s;
}

int reportErrors(const moe::spec::Diagnostics& errs) {
    for (const auto& d : errs)
        if (d.path.rfind("--", 0) == 0) throw UsageError(d.path + ": " + d.message);
    std::cerr << moe::spec::formatAll(errs) << "\n";
    return 1;
}

std::optional<moe::spec::Project> loadProjectFile(const std::string& path) {
    auto r = moe::spec::loadProject(path);
    if (!r) {
        std::cerr << r.message() << "\n";
        return std::nullopt;
    }
    for (const auto& d : r->migrations) std::cerr << "note: " << d.format() << "\n";
    return std::move(r.value());
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// Text from files (a diagnostic quoting the user's bytes) may not be valid UTF-8; the output must
// still be valid JSON, so such bytes become U+FFFD instead of an exception.
void printJson(const nlohmann::ordered_json& j) { std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n"; }

}  // namespace moe::cli
