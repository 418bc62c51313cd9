#include "studio_app.h"

int main(int argc, char** argv) {
    return moe::studio::runStudio(argc, argv);
}
