// `moe`: the headless MoE Studio command. Subcommands register themselves (cmd_*.cpp).
#include <iostream>
#include <set>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli_command.h"

namespace {

void printOverview() {
    std::cout << "moe — design, train, watch and cost Mixture-of-Experts networks\n\n"
                 "usage: moe COMMAND [ARGS] [--help]\n\ncommands:\n";
    std::set<std::string> groups;
    for (const auto& [name, c] : moe::cli::commands()) {
        if (auto sp = name.find(' '); sp != std::string::npos) {
            groups.insert(name.substr(0, sp));
            continue;
        }
        std::printf("  %-12s %s\n", name.c_str(), c.summary.c_str());
    }
    for (const auto& g : groups) {
        std::printf("  %-12s", g.c_str());
        bool first = true;
        for (const auto& [name, c] : moe::cli::commands())
            if (name.rfind(g + " ", 0) == 0) {
                std::printf("%s%s", first ? " " : ", ", name.substr(g.size() + 1).c_str());
                first = false;
            }
        std::printf("  (moe %s NAME --help)\n", g.c_str());
    }
    std::cout << "\nRun 'moe COMMAND --help' for a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
    // Logs go to stderr so stdout stays clean for tables and --json.
    auto logger = spdlog::stderr_color_mt("moe");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::warn);

    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        printOverview();
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
        std::cout << "moe 0.1.0\n";
        return 0;
    }
    const auto& cmds = moe::cli::commands();
    const auto [name, consumed] = moe::cli::commandName(args);
    auto it = cmds.find(name);
    if (it == cmds.end()) {
        bool isGroup = false;
        for (const auto& [n, c] : cmds)
            if (n.rfind(name + " ", 0) == 0) isGroup = true;
        if (isGroup) {
            std::cerr << "moe " << name << ": " << (args.size() > 1 ? "unknown " + name + " '" + args[1] + "'" : "which one?") << "; choose one of:\n";
            for (const auto& [n, c] : cmds)
                if (n.rfind(name + " ", 0) == 0) std::cerr << "  moe " << n << "  — " << c.summary << "\n";
            return 2;
        }
        std::cerr << "moe: unknown command '" << name << "'. Run 'moe --help' for the list.\n";
        return 2;
    }
    const auto& spec = it->second;
    try {
        moe::cli::ParsedArgs parsed(spec, std::vector<std::string>(args.begin() + static_cast<long>(consumed), args.end()));
        if (parsed.flag("help")) {
            std::cout << moe::cli::usageText(spec);
            return 0;
        }
        return spec.run(parsed);
    } catch (const moe::cli::UsageError& e) {
        std::cerr << "moe " << name << ": " << e.what() << "\nRun 'moe " << name << " --help' for usage.\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "moe " << name << ": error: " << e.what() << "\n";
        return 1;
    }
}
