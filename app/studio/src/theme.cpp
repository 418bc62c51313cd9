#include "theme.h"

#include <QApplication>
#include <QFont>
#include <QPalette>
#include <QStyleFactory>

#include <algorithm>

namespace moe::studio {
namespace {

Theme g_theme = Theme::Light;
bool g_classroom = false;
int g_baseFontPt = 0;

CanvasColors lightColors() {
    CanvasColors c;
    c.background = QColor(0xf4, 0xf5, 0xf8);
    c.grid = QColor(0xe3, 0xe6, 0xec);
    c.card = QColor(0xff, 0xff, 0xff);
    c.cardBorder = QColor(0xc5, 0xcb, 0xd6);
    c.cardSelected = QColor(0x2f, 0x6f, 0xeb);
    c.cardInvalid = QColor(0xd9, 0x30, 0x25);
    c.text = QColor(0x1f, 0x24, 0x2e);
    c.mutedText = QColor(0x66, 0x6f, 0x7d);
    c.input = QColor(0x5b, 0x8d, 0xd6);
    c.stem = QColor(0x6b, 0x7a, 0x99);
    c.head = QColor(0x9b, 0x6b, 0xc9);
    c.dense = QColor(0x4f, 0xa3, 0x8a);
    c.moe = QColor(0xe0, 0x8a, 0x2e);
    c.attention = QColor(0x3f, 0x8f, 0xc4);
    c.kvHead = QColor(0x1f, 0x5f, 0x8f);
    c.group = QColor(0x8a, 0x93, 0xa8);
    c.groupFill = QColor(0xe9, 0xec, 0xf2);
    c.router = QColor(0xfc, 0xe9, 0xd2);
    c.expert = QColor(0xf6, 0xc1, 0x86);
    c.shared = QColor(0x8f, 0xc9, 0xb5);
    c.zero = QColor(0xf4, 0xf5, 0xf8);
    c.edge = QColor(0x9a, 0xa3, 0xb2);
    c.loadCold = QColor(0x7f, 0xb3, 0xe8);
    c.loadHot = QColor(0xd9, 0x30, 0x25);
    c.loadDead = QColor(0xb8, 0xbc, 0xc4);
    return c;
}

CanvasColors darkColors() {
    CanvasColors c;
    c.background = QColor(0x1b, 0x1e, 0x24);
    c.grid = QColor(0x25, 0x29, 0x31);
    c.card = QColor(0x2a, 0x2e, 0x37);
    c.cardBorder = QColor(0x45, 0x4b, 0x57);
    c.cardSelected = QColor(0x5c, 0x9c, 0xff);
    c.cardInvalid = QColor(0xff, 0x5c, 0x4f);
    c.text = QColor(0xe6, 0xe9, 0xef);
    c.mutedText = QColor(0x9a, 0xa3, 0xb2);
    c.input = QColor(0x6f, 0xa3, 0xf0);
    c.stem = QColor(0x8a, 0x97, 0xb3);
    c.head = QColor(0xb8, 0x8a, 0xe6);
    c.dense = QColor(0x5f, 0xc2, 0xa4);
    c.moe = QColor(0xf0, 0xa0, 0x48);
    c.attention = QColor(0x5a, 0xaa, 0xe0);
    c.kvHead = QColor(0x9c, 0xcf, 0xf2);
    c.group = QColor(0x6b, 0x73, 0x82);
    c.groupFill = QColor(0x22, 0x26, 0x2e);
    c.router = QColor(0x4a, 0x3b, 0x2a);
    c.expert = QColor(0xb5, 0x74, 0x2e);
    c.shared = QColor(0x3d, 0x8c, 0x73);
    c.zero = QColor(0x2a, 0x2e, 0x37);
    c.edge = QColor(0x6b, 0x73, 0x82);
    c.loadCold = QColor(0x3d, 0x6f, 0xa8);
    c.loadHot = QColor(0xff, 0x5c, 0x4f);
    c.loadDead = QColor(0x4a, 0x4f, 0x5a);
    return c;
}

QPalette lightPalette() {
    QPalette p;
    p.setColor(QPalette::Window, QColor(0xec, 0xee, 0xf2));
    p.setColor(QPalette::WindowText, QColor(0x1f, 0x24, 0x2e));
    p.setColor(QPalette::Base, Qt::white);
    p.setColor(QPalette::AlternateBase, QColor(0xf4, 0xf5, 0xf8));
    p.setColor(QPalette::Text, QColor(0x1f, 0x24, 0x2e));
    p.setColor(QPalette::Button, QColor(0xf7, 0xf8, 0xfa));
    p.setColor(QPalette::ButtonText, QColor(0x1f, 0x24, 0x2e));
    p.setColor(QPalette::Highlight, QColor(0x2f, 0x6f, 0xeb));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xfb, 0xe6));
    p.setColor(QPalette::ToolTipText, QColor(0x1f, 0x24, 0x2e));
    p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x92, 0x9e));
    p.setColor(QPalette::Link, QColor(0x2f, 0x6f, 0xeb));
    p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x9a, 0xa1, 0xac));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x9a, 0xa1, 0xac));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x9a, 0xa1, 0xac));
    return p;
}

QPalette darkPalette() {
    QPalette p;
    p.setColor(QPalette::Window, QColor(0x23, 0x26, 0x2d));
    p.setColor(QPalette::WindowText, QColor(0xe6, 0xe9, 0xef));
    p.setColor(QPalette::Base, QColor(0x1b, 0x1e, 0x24));
    p.setColor(QPalette::AlternateBase, QColor(0x26, 0x2a, 0x31));
    p.setColor(QPalette::Text, QColor(0xe6, 0xe9, 0xef));
    p.setColor(QPalette::Button, QColor(0x2e, 0x32, 0x3b));
    p.setColor(QPalette::ButtonText, QColor(0xe6, 0xe9, 0xef));
    p.setColor(QPalette::Highlight, QColor(0x3d, 0x7e, 0xe6));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::ToolTipBase, QColor(0x2e, 0x32, 0x3b));
    p.setColor(QPalette::ToolTipText, QColor(0xe6, 0xe9, 0xef));
    p.setColor(QPalette::PlaceholderText, QColor(0x7c, 0x84, 0x91));
    p.setColor(QPalette::Link, QColor(0x6f, 0xa8, 0xff));
    p.setColor(QPalette::BrightText, QColor(0xff, 0x5c, 0x4f));
    p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x6b, 0x73, 0x82));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x6b, 0x73, 0x82));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x6b, 0x73, 0x82));
    return p;
}

}  // namespace

QString themeName(Theme t) { return t == Theme::Dark ? QStringLiteral("dark") : QStringLiteral("light"); }

bool parseTheme(const QString& name, Theme* out) {
    if (name == QLatin1String("light")) *out = Theme::Light;
    else if (name == QLatin1String("dark")) *out = Theme::Dark;
    else return false;
    return true;
}

void applyTheme(QApplication& app, Theme theme, bool classroom) {
    g_theme = theme;
    g_classroom = classroom;
    if (QStyle* s = QStyleFactory::create(QStringLiteral("Fusion"))) app.setStyle(s);
    app.setPalette(theme == Theme::Dark ? darkPalette() : lightPalette());
    QFont f = app.font();
    if (g_baseFontPt == 0) g_baseFontPt = f.pointSize() > 0 ? f.pointSize() : 10;
    f.setPointSize(classroom ? g_baseFontPt * 3 / 2 + 1 : g_baseFontPt);
    app.setFont(f);
}

Theme currentTheme() { return g_theme; }
bool classroomFonts() { return g_classroom; }

const CanvasColors& canvasColors() {
    static const CanvasColors light = lightColors();
    static const CanvasColors dark = darkColors();
    return g_theme == Theme::Dark ? dark : light;
}

QColor seriesColor(int index) {
    // Evenly spaced hues with a fixed saturation and value stay apart on both themes.
    const int hue = (index * 137) % 360;
    return QColor::fromHsv(hue, 150, 220);
}

QColor mix(const QColor& a, const QColor& b, double t) {
    t = std::clamp(t, 0.0, 1.0);
    auto at = [t](double x, double y) { return static_cast<float>(x + (y - x) * t); };
    return QColor::fromRgbF(at(a.redF(), b.redF()), at(a.greenF(), b.greenF()), at(a.blueF(), b.blueF()));
}

QColor loadTint(double ratio) {
    const CanvasColors& c = canvasColors();
    if (ratio < 0.1) return c.loadDead;
    return mix(c.loadCold, c.loadHot, (ratio - 0.5) / 1.5);
}

}  // namespace moe::studio
