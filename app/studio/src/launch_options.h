#pragma once
// Command line of moe-studio: [PROJECT] [--classroom] [--theme light|dark] [--train-steps N]
// [--screenshot FILE.png] [--dock cluster|dashboards|inspector] [--play-scenario]. Wrong arguments get a message naming the argument and what is valid.

#include <QString>
#include <QStringList>

#include <optional>

#include "theme.h"

namespace moe::studio {

struct LaunchOptions {
    QString project;
    bool classroom = false;
    std::optional<Theme> theme;
    int trainSteps = 0;
    QString screenshot;
    QString dock;  // cluster, dashboards or inspector: the right-hand dock to raise
    bool playScenario = false;  // play every step of the project's scenario, timing each from launch
    bool help = false;
    bool version = false;
    bool scripted() const { return trainSteps > 0 || !screenshot.isEmpty() || playScenario; }
};

// `args` without the program name. Returns an empty string, or what is wrong.
QString parseLaunchOptions(const QStringList& args, LaunchOptions* out);
QString launchUsage();

}  // namespace moe::studio
