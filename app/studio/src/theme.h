#pragma once
// Light and dark themes (Fusion style with our palettes) and the colours the canvas draws with.

#include <QColor>
#include <QString>

class QApplication;

namespace moe::studio {

enum class Theme { Light, Dark };

QString themeName(Theme t);
bool parseTheme(const QString& name, Theme* out);

struct CanvasColors {
    QColor background, grid;
    QColor card, cardBorder, cardSelected, cardInvalid, text, mutedText;
    QColor input, stem, head, dense, moe;      // header accents per kind
    QColor attention, kvHead, group, groupFill;  // attention accent and its KV heads; layer-group frame
    QColor router, expert, shared, zero, edge;
    QColor loadCold, loadHot, loadDead;        // expert tint while training
};

// Applies the palette and style to the application; classroom mode scales fonts up.
void applyTheme(QApplication& app, Theme theme, bool classroom);
Theme currentTheme();
bool classroomFonts();
const CanvasColors& canvasColors();
// Straight blend of two colours (t clamped to 0..1).
QColor mix(const QColor& a, const QColor& b, double t);
// An expert's tint by its load relative to an even split (1: its fair share): from the cold
// colour at half or less to the hot one at twice or more; under a tenth, the dead colour. The
// canvas tiles and the planner's placement chips use it, so one colour means one load.
QColor loadTint(double ratio);
// A distinct colour per expert index (charts and legends), readable on both themes.
QColor seriesColor(int index);

}  // namespace moe::studio
