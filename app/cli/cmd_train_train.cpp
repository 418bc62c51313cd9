// `moe train PROJECT`: trains a project headless, writing the run store as it goes.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <tuple>

#include "cli_command.h"
#include "moe/cluster/collective.h"
#include "moe/spec/project_io.h"
#include "moe/spec/limits.h"
#include "moe/spec/train_memory.h"
#include "moe/spec/twin.h"
#include "moe/telemetry/run_store.h"
#include "moe/train/distributed.h"
#include "moe/train/trainer.h"

namespace {

namespace spec = moe::spec;
namespace train = moe::train;
using moe::cli::fixed;
using moe::cli::humanCount;

std::atomic<bool> g_interrupted{false};

extern "C" void onInterrupt(int) {
    g_interrupted.store(true);
    // A second Ctrl-C kills the process the usual way.
    std::signal(SIGINT, SIG_DFL);
}

std::string duration(double s) {
    if (s < 0 || !std::isfinite(s)) return "?";
    const long t = std::lround(s);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%lds", t);
    return buf;
}

std::string statusLine(const train::Progress& p) {
    std::string s = "step " + std::to_string(p.step) + "/" + std::to_string(p.totalSteps) + "  epoch " + fixed(p.epoch, 2) +
                    "  loss " + fixed(p.loss, 4) + "  acc " + fixed(100 * p.accuracy, 1) + "%";
    if (p.testAccuracy >= 0) s += "  test " + fixed(100 * p.testAccuracy, 1) + "%";
    if (p.testLoss >= 0)
        s += "  " + fixed(moe::telemetry::bitsPerByte(p.testLoss), 3) + " bpb (unigram " + fixed(p.unigramBitsPerByte, 2) + ")";
    s += "  " + humanCount(p.tokensPerSecond) + " tok/s  ETA " + duration(p.etaSeconds);
    return s;
}

std::string bar(const train::Progress& p, int width) {
    const double f = p.totalSteps > 0 ? std::clamp(static_cast<double>(p.step) / static_cast<double>(p.totalSteps), 0.0, 1.0) : 0.0;
    const int full = static_cast<int>(f * width);
    return "[" + std::string(static_cast<size_t>(full), '#') + std::string(static_cast<size_t>(width - full), '.') + "]";
}

// Whether `moe train` may write `target` (its run store or checkpoint). It never replaces the
// project it trains nor a folder, and replaces an existing file only when it is one of its own
// kind (`isOwn`) or the user said --force: a typo in --out must not cost the user a file.
std::string refuseToOverwrite(const std::string& option, const std::string& target, const std::string& project, bool force,
                              bool (*isOwn)(const std::string&), const char* kind) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto st = fs::status(target, ec);
    if (ec || !fs::exists(st)) return {};
    if (fs::is_directory(st))
        return "--" + option + " " + target + " is a folder; give a file name (e.g. " + (fs::path(target) / (option == "out" ? "run.sqlite" : "run.pt")).string() + ")";
    if (fs::equivalent(target, project, ec))
        return "--" + option + " " + target + " is the project being trained; it is never overwritten (choose another file name)";
    if (!fs::is_regular_file(st)) return "--" + option + " " + target + " is not a regular file; choose another file name";
    if (force || isOwn(target)) return {};
    return "--" + option + " " + target + " exists and is not a " + kind +
           " of this program; it is left untouched (choose another file name, or add --force to replace it)";
}

int run(const moe::cli::ParsedArgs& a) {
    namespace dist = moe::train::dist;
    const std::string path = a.positional()[0];
    auto env = dist::readLaunchEnv();
    if (!env) throw moe::cli::UsageError(env.message());
    if (!env.value() && a.value("nproc")) {
        // The launcher: N ranks of this same command on this machine. Ctrl-C reaches every rank
        // from the terminal; the ranks agree to stop together and the launcher waits for them.
        if (!moe::cli::loadProjectFile(path)) return 1;
        dist::LaunchOptions lo;
        lo.nproc = a.intValue("nproc", 2, 1, 1 << 20);
        std::signal(SIGINT, SIG_IGN);
        auto rc = dist::launchLocal(lo);
        std::signal(SIGINT, SIG_DFL);
        if (!rc) throw moe::cli::UsageError(rc.message());
        return rc.value();
    }
    const std::optional<dist::LaunchEnv> rank = env.value();
    if (rank && a.value("nproc") && a.intValue("nproc", rank->worldSize, 1, 1 << 20) != rank->worldSize)
        throw moe::cli::UsageError("--nproc " + *a.value("nproc") + " does not match WORLD_SIZE=" + std::to_string(rank->worldSize) + " of the environment");
    // Ranks other than 0 train quietly and write nothing: rank 0 writes the run store and the
    // checkpoint (--out and --checkpoint name rank 0's files) and prints the progress.
    const bool quiet = rank && rank->rank != 0;
    auto loaded = moe::cli::loadProjectFile(path);
    if (!loaded) return 1;
    spec::Project project = *loaded;
    if (a.value("steps") && a.value("epochs")) throw moe::cli::UsageError("--steps and --epochs exclude each other; give one");
    if (a.value("steps")) {
        project.training.steps = a.intValue("steps", 0, 1, 100000000);
        project.training.epochs.reset();
    }
    if (a.value("epochs")) {
        project.training.epochs = a.intValue("epochs", 0, 1, 10000);
        project.training.steps.reset();
    }
    if (a.value("ep")) project.training.ep = a.intValue("ep", 1, spec::limits::kTrainingEp.lo, spec::limits::kTrainingEp.hi);
    train::TrainerOptions opt;
    opt.threads = a.intValue("threads", 0, 0, 1024);
    opt.checkpointPath = a.valueOr("checkpoint", "");
    opt.resumeFrom = a.valueOr("resume", "");
    opt.projectDir = a.valueOr("project-dir", std::filesystem::path(path).parent_path().string());
    if (rank) {
        opt.ranks = rank;
        if (a.value("bucket-mb")) opt.bucketMegabytes = a.doubleValue("bucket-mb", 25, 0.001, 1 << 20);
        if (a.value("timeout")) opt.rankTimeoutSeconds = a.doubleValue("timeout", 300, 1, 86400);
        // The project JSON is compared by the trainer; the options that change the run besides it:
        opt.measureExpertWaits = a.flag("measure-waits");
        opt.sameOnEveryRank = "resume " + opt.resumeFrom + (opt.measureExpertWaits ? "\nmeasure waits" : "");
    }
    if (auto out = a.value("out")) {
        opt.runStorePath = *out;
    } else {
        const std::string stem = std::filesystem::path(path).stem().string();
        opt.runStorePath = stem + "-" + moe::telemetry::newRunId() + ".sqlite";
    }
    // A language model is only useful with its weights ('moe generate'): keep them beside the run.
    if (opt.checkpointPath.empty() && project.model.input.isText() && !a.flag("no-checkpoint"))
        opt.checkpointPath = std::filesystem::path(opt.runStorePath).replace_extension(".pt").string();
    // Refused before anything is built: a model that does not fit would otherwise be allocated
    // until the system kills the process, with nothing said about why.
    {
        const auto need = spec::estimateTrainingMemory(project);
        double limit = 0;
        std::string what;
        if (auto m = a.value("max-memory")) {
            auto bytes = moe::cluster::parseBytes(*m, "--max-memory");
            if (!bytes) throw moe::cli::UsageError(bytes.errors()[0].message);
            limit = bytes.value();
            what = "--max-memory " + *m;
        } else if (const double avail = spec::availableMemoryBytes(); avail > 0) {
            limit = avail;
            what = "the memory this machine has available";
        }
        if (const std::string no = spec::trainingMemoryRefusal(project, need, limit, what); !no.empty()) {
            std::cerr << "error: " << no << (a.value("max-memory") ? "" : ", or raise the limit with --max-memory") << ".\n";
            return 1;
        }
    }
    const bool force = a.flag("force");
    for (const auto& [option, target, isOwn, kind] :
         {std::tuple{std::string("out"), opt.runStorePath, &moe::telemetry::isRunStore, "run store"},
          std::tuple{std::string("checkpoint"), opt.checkpointPath, &train::isCheckpointFile, "checkpoint"}}) {
        if (target.empty() || quiet) continue;
        if (auto e = refuseToOverwrite(option, target, path, force, isOwn, kind); !e.empty()) {
            std::cerr << "error: " << e << "\n";
            return 1;
        }
    }
    auto created = train::Trainer::create(project, opt);
    if (!created) {
        std::cerr << created.message() << "\n";
        return 1;
    }
    // The other ranks' progress would repeat rank 0's: their standard output stays silent.
    struct Silence {
        bool on;
        ~Silence() { if (on) std::cout.clear(); }
    } silence{quiet};
    if (quiet) std::cout.setstate(std::ios::badbit);
    auto& trainer = *created.value();
    const bool tty = isatty(STDOUT_FILENO) && !a.flag("plain");
    const int threads = trainer.progress().threads;
    const std::string device = trainer.progress().device;
    std::cout << "training " << (project.model.name.empty() ? path : project.model.name) << " on "
              << (device == "cpu" ? "the CPU" : device) << " (" << threads << " CPU thread" << (threads == 1 ? "" : "s")
              << ") -> " << opt.runStorePath << "\n";
    if (rank)
        std::cout << "data parallel over " << rank->worldSize << " ranks (c10d, Gloo): each trains its share of every global batch of "
                  << project.training.batch << " samples"
                  << (project.training.batch % rank->worldSize ? " (shards differ by one sample; each rank's loss is weighted by its share)" : "")
                  << "; gradients averaged in buckets of " << fixed(opt.bucketMegabytes, 1) << " MB\n";
    if (rank && project.training.ep > 1)
        std::cout << "expert parallel over groups of " << project.training.ep << " ranks (training.ep"
                  << (project.training.ep < rank->worldSize ? "; " + std::to_string(rank->worldSize / project.training.ep) + " groups hold the same experts" : std::string())
                  << "): each rank holds 1/" << project.training.ep
                  << " of every MoE block's routed experts; tokens go to their experts' ranks in their group and back by all-to-all (a c10d group of its own); "
                     "routers, attention, dense, shared, zero, copy and constant experts stay data parallel\n";
    else if (!rank && project.training.ep > 1)
        std::cout << "training.ep is " << project.training.ep << " but one process trains: it holds every expert (start ranks with --nproc "
                  << project.training.ep << " for expert parallel)\n";
    if (const std::string twin = spec::describeTwin(project); !twin.empty()) std::cout << twin << "\n";
    std::cout << std::flush;

    g_interrupted = false;
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    trainer.start();
    std::int64_t lastPrinted = -1;
    const int interval = project.training.telemetryInterval;
    bool stopping = false;
    while (true) {
        std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 200 : 100));
        const auto p = trainer.progress();
        if (g_interrupted && !stopping) {
            stopping = true;
            if (tty) std::cout << "\n";
            std::cout << "interrupted: stopping after the current step and keeping the run...\n" << std::flush;
            trainer.stop();
        }
        const bool running = p.state == train::TrainerState::Running;
        if (tty) {
            std::cout << "\r" << bar(p, 24) << " " << statusLine(p) << "\x1b[K" << std::flush;
        } else if (p.step != lastPrinted && p.step > 0 && (p.step / interval != lastPrinted / interval || !running)) {
            std::cout << statusLine(p) << "\n" << std::flush;
            lastPrinted = p.step;
        }
        if (!running && p.state != train::TrainerState::Idle) break;
    }
    trainer.wait();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    const auto p = trainer.progress();
    if (tty) std::cout << "\n";
    std::cout << toString(p.state) << " at step " << p.step << " of " << p.totalSteps;
    // A failed run's last snapshot is the divergence report (no figures to show).
    if (auto s = trainer.latest(); s && p.state != train::TrainerState::Failed) {
        std::cout << ": loss " << fixed(s->loss, 4) << ", training accuracy " << fixed(100 * s->accuracy, 1) << "%";
        if (p.testAccuracy >= 0) std::cout << ", test accuracy " << fixed(100 * p.testAccuracy, 2) << "%";
        if (p.testLoss >= 0)
            std::cout << ", held-out " << fixed(moe::telemetry::bitsPerByte(p.testLoss), 3) << " bits per byte (unigram "
                      << fixed(p.unigramBitsPerByte, 3) << ")";
        std::cout << ", " << duration(s->wallSeconds);
    }
    std::cout << "\n";
    if (!p.message.empty() && p.state == train::TrainerState::Failed) std::cerr << "error: " << p.message << "\n";
    if (auto s = trainer.latest(); s && !s->alerts.empty()) {
        std::cout << "alerts at step " << s->step << ":\n";
        for (const auto& al : s->alerts)
            std::cout << "  [" << moe::telemetry::toString(al.severity) << "] block " << al.block << ": " << al.title << "\n";
    }
    std::cout << "run kept in " << opt.runStorePath << " (see: moe report " << opt.runStorePath << ")\n";
    if (!opt.checkpointPath.empty() && p.state != train::TrainerState::Failed && p.step > 0)
        std::cout << "checkpoint " << opt.checkpointPath
                  << (project.model.input.isText() ? " (try: moe generate " + opt.runStorePath + " --prompt \"...\")" : std::string()) << "\n";
    return p.state == train::TrainerState::Failed ? 1 : 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "train", "train a project headless, recording routing telemetry in a run store", "PROJECT",
    "Trains the project's model on its dataset (all CPU cores; one for models too small to split), writing one snapshot per MoE block every\n"
    "training.telemetry_interval steps to a SQLite run store (read it with 'moe report' or the studio).\n"
    "On a terminal a progress bar shows step, loss, accuracy, tokens/s and ETA; otherwise plain lines.\n"
    "Ctrl-C stops after the current step and keeps everything recorded so far.\n"
    "An existing --out or --checkpoint file is replaced only when it is a run store or checkpoint of this program (or with --force);\n"
    "the project itself and folders never are. A write failure (disk full, read-only file) stops the run, keeps what was written,\n"
    "marks the run store failed and exits 1.\n"
    "Before building the model, its memory (weights, gradients, optimizer states, activations for the batch) is estimated\n"
    "from the describe figures; a run that would not fit in the available memory (or --max-memory) is refused with the numbers.\n"
    "Data parallel: --nproc N starts N ranks of this command on this machine; with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set\n"
    "(torchrun, srun or mpirun wrappers) this process is one rank. Every rank trains its shard of each global batch (the project's\n"
    "training.batch, split in rank order; when it does not divide by the ranks, shards differ by one sample and each rank's loss is\n"
    "weighted by its share) and gradients are averaged by bucketed all-reduce during the backward pass; routing decisions that\n"
    "look at the whole batch are taken over every rank's tokens, so the run matches one process on the same batch. Rank 0 prints\n"
    "the progress and writes the run store and checkpoint (other ranks ignore --out and --checkpoint and write nothing).\n"
    "All ranks must use the same project and options (checked at start by a hash).\n"
    "Expert parallel: with training.ep (or --ep) E > 1 dividing the ranks, groups of E consecutive ranks each hold 1/E of every MoE\n"
    "block's routed FFN experts (contiguous runs, sizes differing by at most one) and the tokens routed to them cross by all-to-all\n"
    "within the group with per-rank row counts from the routing, forward and backward; the ranks holding the same experts in other\n"
    "groups add up their gradients; everything else stays data parallel. The run store records the all-to-all time and traffic per\n"
    "block of rank 0's group. Its checkpoint holds the whole model (rank 0 gathers the experts) but cannot be resumed.",
    {{"steps", "N", "train N optimizer steps (overrides the project)"},
     {"epochs", "N", "train N epochs (overrides the project)"},
     {"out", "RUN.sqlite", "run store to write (default: PROJECT-STEM-RUNID.sqlite here)"},
     {"checkpoint", "FILE", "write a checkpoint (model, optimizer, step) at the end (text projects: RUN.pt by default)"},
     {"no-checkpoint", "", "text projects: do not write the default checkpoint"},
     {"resume", "FILE", "resume from a checkpoint written for the same model"},
     {"threads", "N", "CPU threads (default: all, or 1 for tiny models)"},
     {"plain", "", "plain progress lines even on a terminal"},
     {"max-memory", "SIZE", "refuse to train when the estimated memory exceeds SIZE (e.g. 8G; default: the memory available)"},
     {"force", "", "replace an existing --out/--checkpoint file that is not a run store/checkpoint of this program"},
     {"nproc", "N", "data parallel: start N local ranks (at most one per core); launched by others, RANK/WORLD_SIZE/... say it"},
     {"bucket-mb", "MB", "data parallel: gradient all-reduce bucket size (default 25, as PyTorch DDP)"},
     {"timeout", "S", "data parallel: seconds the rendezvous and each exchange wait for a missing rank (default 300)"},
     {"project-dir", "DIR", "the folder the project's relative files (a text corpus) are found in (default: the project file's)"},
     {"measure-waits", "", "expert parallel: a barrier before each all-to-all separates waiting for the last rank from the exchange"},
     {"ep", "E", "expert parallel in groups of E ranks (overrides training.ep; E divides the ranks, 1 for data parallel only)"}},
    1, 1, run});

}  // namespace
