#include "openmp_wait.h"
#include "studio_app.h"

int main(int argc, char** argv) {
    moe::app::preferPassiveOpenMpWaiting(argv);
    return moe::studio::runStudio(argc, argv);
}
