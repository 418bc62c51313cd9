#include "studio_app.h"

#include <QApplication>
#include <QMessageBox>
#include <QSettings>
#include <QTimer>

#include <cstdio>
#include <string_view>

#include "launch_options.h"
#include "main_window.h"
#include "theme.h"

static void initStudioQrc() { Q_INIT_RESOURCE(studio); }

namespace moe::studio {

void initResources() {
    static const bool once = [] {
        initStudioQrc();
        return true;
    }();
    (void)once;
}

int runStudio(int argc, char** argv) {
    // Help and version need no display: answer them before Qt looks for one.
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(qPrintable(launchUsage()), stdout);
            return 0;
        }
        if (a == "--version") {
            std::printf("moe-studio %s\n", MOE_STUDIO_VERSION);
            return 0;
        }
    }
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("MoE Studio"));
    QApplication::setApplicationName(QStringLiteral("moe-studio"));
    QApplication::setApplicationDisplayName(QStringLiteral("MoE Studio"));
    QApplication::setApplicationVersion(QStringLiteral(MOE_STUDIO_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("moe-studio"));
    initResources();
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/moe-studio/moe-studio.svg")));

    LaunchOptions o;
    QStringList args = QApplication::arguments();
    args.removeFirst();
    if (const QString err = parseLaunchOptions(args, &o); !err.isEmpty()) {
        std::fprintf(stderr, "moe-studio: %s\nTry 'moe-studio --help'.\n", qPrintable(err));
        return 2;
    }
    if (o.help) {
        std::fputs(qPrintable(launchUsage()), stdout);
        return 0;
    }
    if (o.version) {
        std::printf("moe-studio %s\n", MOE_STUDIO_VERSION);
        return 0;
    }

    QSettings settings;
    Theme theme = Theme::Light;
    if (o.theme) theme = *o.theme;
    else parseTheme(settings.value(QStringLiteral("theme"), QStringLiteral("light")).toString(), &theme);
    applyTheme(app, theme, o.classroom);

    MainWindow w(!o.scripted());
    if (o.classroom) w.setClassroom(true);
    QString openError;
    if (!o.project.isEmpty() && !w.openFile(o.project, &openError)) {
        if (o.scripted()) {
            std::fprintf(stderr, "moe-studio: cannot open %s:\n%s\n", qPrintable(o.project), qPrintable(openError));
            return 1;
        }
    }
    w.show();
    if (!o.dock.isEmpty() && !o.scripted()) QTimer::singleShot(0, &w, [&w, o] { w.raiseDock(o.dock); });
    if (o.scripted()) {
        QObject::connect(&w, &MainWindow::scriptFinished, &app, [](int code) { QApplication::exit(code); });
        QTimer::singleShot(0, &w, [&w, o] { w.runScript(o); });
    } else {
        QTimer::singleShot(0, &w, [&w, openError, o] {
            if (!openError.isEmpty())
                QMessageBox::warning(&w, QObject::tr("Cannot open project"),
                                     QObject::tr("%1 could not be opened:\n\n%2").arg(o.project, openError));
            w.offerRecovery();
        });
    }
    return QApplication::exec();
}

}  // namespace moe::studio
