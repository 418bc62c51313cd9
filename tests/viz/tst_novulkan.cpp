// Without Vulkan (here: Qt's offscreen platform) the dashboard window reports it in plain words,
// so the studio can say so in the dock, and nothing crashes.
#include <QGuiApplication>
#include <QtTest>

#include "moe/viz_qt/dashboard_window.h"

class TestNoVulkan : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void saysWhy() {
        QCOMPARE(QGuiApplication::platformName(), QString("offscreen"));
        QString why;
        QVERIFY(!moe::viz::DashboardWindow::vulkanAvailable(&why));
        QVERIFY2(why.contains("Vulkan"), qPrintable(why));
        QVERIFY(why.contains("offscreen"));
        QVERIFY(moe::viz::DashboardWindow::sharedInstance() == nullptr);
        // Creating the window anyway is harmless (the host shows the message instead of it).
        moe::viz::DashboardWindow w;
        w.setRun(std::make_shared<moe::viz::RunView>());
        QCOMPARE(w.framesRendered(), 0);
    }
};

QTEST_MAIN(TestNoVulkan)
#include "tst_novulkan.moc"
