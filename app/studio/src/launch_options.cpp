#include "launch_options.h"

#include <QDir>
#include <QFileInfo>

namespace moe::studio {

QString launchUsage() {
    return QStringLiteral(
        "usage: moe-studio [PROJECT] [--classroom] [--theme light|dark] [--train-steps N] [--screenshot FILE.png]\n"
        "                  [--dock cluster|layouts|dashboards|inspector] [--play-scenario]\n"
        "\n"
        "  PROJECT              a project file (moe-studio/1 JSON) to open\n"
        "  --classroom          large fonts, advanced controls hidden, guided scenario panel\n"
        "  --theme light|dark   colour theme (default: the last one used)\n"
        "  --train-steps N      train N steps (1 to 1000000) after opening\n"
        "  --screenshot FILE    save a PNG of the main window, then exit\n"
        "  --dock NAME          raise a right-hand dock: cluster (the Cluster planner; a screenshot\n"
        "                       waits for its simulation), layouts (the planner's Layouts tab),\n"
        "                       dashboards or inspector\n"
        "  --play-scenario      do every step of the project's classroom scenario in turn, print when\n"
        "                       each is done (seconds since launch) and exit; with --screenshot, one\n"
        "                       picture per step (FILE-step1.png, ...)\n"
        "  -h, --help           show this help\n"
        "  --version            show the version\n");
}

QString parseLaunchOptions(const QStringList& args, LaunchOptions* out) {
    LaunchOptions o;
    for (int i = 0; i < args.size(); ++i) {
        QString a = args[i];
        QString value;
        bool hasInline = false;
        if (a.startsWith(QLatin1String("--")) && a.contains(QLatin1Char('='))) {
            value = a.mid(a.indexOf(QLatin1Char('=')) + 1);
            a = a.left(a.indexOf(QLatin1Char('=')));
            hasInline = true;
        }
        auto takeValue = [&](const char* what) -> std::optional<QString> {
            if (hasInline) return value;
            if (i + 1 >= args.size() || args[i + 1].startsWith(QLatin1String("--"))) return std::nullopt;
            (void)what;
            return args[++i];
        };
        if (a == QLatin1String("-h") || a == QLatin1String("--help")) o.help = true;
        else if (a == QLatin1String("--version")) o.version = true;
        else if (a == QLatin1String("--classroom")) {
            if (hasInline) return QStringLiteral("--classroom takes no value");
            o.classroom = true;
        } else if (a == QLatin1String("--play-scenario")) {
            if (hasInline) return QStringLiteral("--play-scenario takes no value");
            o.playScenario = true;
        } else if (a == QLatin1String("--theme")) {
            auto v = takeValue("theme");
            if (!v) return QStringLiteral("--theme needs a value: light or dark");
            Theme t;
            if (!parseTheme(*v, &t)) return QStringLiteral("--theme: \"%1\" is not a theme; use light or dark").arg(*v);
            o.theme = t;
        } else if (a == QLatin1String("--train-steps")) {
            auto v = takeValue("train-steps");
            if (!v) return QStringLiteral("--train-steps needs a number of steps (1 to 1000000)");
            bool ok = false;
            const int n = v->toInt(&ok);
            if (!ok || n < 1 || n > 1000000) return QStringLiteral("--train-steps: \"%1\" is not a step count; use a whole number from 1 to 1000000").arg(*v);
            o.trainSteps = n;
        } else if (a == QLatin1String("--screenshot")) {
            auto v = takeValue("screenshot");
            if (!v || v->isEmpty()) return QStringLiteral("--screenshot needs a file name ending in .png");
            if (!v->endsWith(QLatin1String(".png"), Qt::CaseInsensitive))
                return QStringLiteral("--screenshot: \"%1\" must end in .png").arg(*v);
            const QFileInfo fi(*v);
            if (!fi.absoluteDir().exists()) return QStringLiteral("--screenshot: the folder %1 does not exist").arg(fi.absolutePath());
            o.screenshot = fi.absoluteFilePath();
        } else if (a == QLatin1String("--dock")) {
            auto v = takeValue("dock");
            if (!v) return QStringLiteral("--dock needs a dock name: cluster, layouts, dashboards or inspector");
            if (*v != QLatin1String("cluster") && *v != QLatin1String("layouts") && *v != QLatin1String("dashboards") &&
                *v != QLatin1String("inspector"))
                return QStringLiteral("--dock: \"%1\" is not a dock; use cluster, layouts, dashboards or inspector").arg(*v);
            o.dock = *v;
        } else if (a.startsWith(QLatin1Char('-')) && a.size() > 1) {
            return QStringLiteral("unknown option \"%1\"; valid options are --classroom, --theme, --train-steps, --screenshot, --dock, --play-scenario, --help, --version").arg(a);
        } else {
            if (!o.project.isEmpty()) return QStringLiteral("only one PROJECT can be opened (got \"%1\" and \"%2\")").arg(o.project, a);
            const QFileInfo fi(a);
            if (!fi.exists()) return QStringLiteral("PROJECT: no such file \"%1\"").arg(a);
            if (!fi.isFile()) return QStringLiteral("PROJECT: \"%1\" is not a file").arg(a);
            o.project = fi.absoluteFilePath();
        }
    }
    *out = o;
    return {};
}

}  // namespace moe::studio
