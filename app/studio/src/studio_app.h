#pragma once
// The whole application behind main(): argument parsing, theme, main window, scripted launch.

namespace moe::studio {

int runStudio(int argc, char** argv);
// Registers the embedded resources (icon) of the static library.
void initResources();

}  // namespace moe::studio
