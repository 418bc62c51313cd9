// The rank environment and the local launcher: N copies of the running command, each with its rank
// in the environment. Plain POSIX; no LibTorch here.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "moe/train/distributed.h"

namespace moe::train::dist {

namespace {

// "" when unset; the parsed integer or an error naming the variable.
bool envInt(const char* name, int lo, int hi, std::optional<int>& out, spec::Diagnostics& errs) {
    const char* v = std::getenv(name);
    if (!v) return false;
    char* end = nullptr;
    errno = 0;
    const long x = std::strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi) {
        errs.push_back({"", std::string("environment variable ") + name + "='" + v + "' is not an integer in " + std::to_string(lo) + ".." +
                                  std::to_string(hi)});
        return false;
    }
    out = static_cast<int>(x);
    return true;
}

// A port the kernel hands out as free now (bind to port 0, read it back, close).
int pickFreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    int port = 0;
    socklen_t len = sizeof(a);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

// This process's own argv, as the kernel recorded it.
std::vector<std::string> ownCommandLine() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    std::string cur;
    for (char c : all) {
        if (c == '\0') {
            args.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) args.push_back(cur);
    return args;
}

std::string ownExecutable() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return {};
    return std::string(buf, static_cast<size_t>(n));
}

std::string describeStatus(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int s = WTERMSIG(status);
        // A rank that is training takes Ctrl-C as "stop after this step" and exits normally; one
        // that dies of it was still starting (loading data, waiting for the others).
        if (s == SIGINT) return "was interrupted (Ctrl-C) while starting, before training began";
        const char* name = ::strsignal(s);
        return "was killed by signal " + std::to_string(s) + (name ? std::string(" (") + name + ")" : "");
    }
    return "stopped (status " + std::to_string(status) + ")";
}

}  // namespace

spec::Result<std::optional<LaunchEnv>> readLaunchEnv() {
    spec::Diagnostics errs;
    std::optional<int> rank, world, local, localWorld, port;
    const bool hasRank = envInt("RANK", 0, 1 << 20, rank, errs);
    const bool hasWorld = envInt("WORLD_SIZE", 1, 1 << 20, world, errs);
    if (!errs.empty()) return errs;
    if (!hasRank && !hasWorld) return std::optional<LaunchEnv>{};
    if (!hasRank || !hasWorld)
        return spec::Diagnostics{{"", std::string("RANK and WORLD_SIZE must be set together; only ") +
                                                                       (hasRank ? "RANK" : "WORLD_SIZE") + " is set"}};
    if (*rank >= *world)
        return spec::Diagnostics{{"", "RANK=" + std::to_string(*rank) + " is outside 0.." + std::to_string(*world - 1) + " (WORLD_SIZE=" +
                                              std::to_string(*world) + ")"}};
    envInt("LOCAL_RANK", 0, 1 << 20, local, errs);
    envInt("LOCAL_WORLD_SIZE", 1, 1 << 20, localWorld, errs);
    envInt("MASTER_PORT", 1, 65535, port, errs);
    if (!errs.empty()) return errs;
    LaunchEnv e;
    e.rank = *rank;
    e.worldSize = *world;
    e.localRank = local.value_or(*rank);
    e.localWorldSize = localWorld.value_or(*world);
    if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) e.masterAddr = addr;
    if (port) e.masterPort = *port;
    return std::optional<LaunchEnv>{e};
}

int maxLocalRanks() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

bool portIsFree(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    return ok;
}

spec::Result<int> launchLocal(const LaunchOptions& o) {
    const int most = maxLocalRanks();
    if (o.nproc < 1 || o.nproc > most)
        return spec::Diagnostics{{"", "--nproc " + std::to_string(o.nproc) + " is not in 1.." + std::to_string(most) +
                                                 ": this machine has " + std::to_string(most) +
                                                 " logical cores and each local rank needs one; start more ranks on other machines "
                                                 "with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT"}};
    std::optional<int> envPort;
    spec::Diagnostics errs;
    envInt("MASTER_PORT", 1, 65535, envPort, errs);
    if (!errs.empty()) return errs;
    int port = envPort.value_or(0);
    if (envPort && !portIsFree(port))
        return spec::Diagnostics{{"", "MASTER_PORT " + std::to_string(port) +
                                                     " is busy (another program listens on it); unset MASTER_PORT to let the launcher pick a "
                                                     "free port, or choose another"}};
    if (!envPort) port = pickFreePort();
    if (port == 0) return spec::Diagnostics{{"", "found no free TCP port on this machine for the rendezvous store"}};
    const std::string exe = ownExecutable();
    std::vector<std::string> args = ownCommandLine();
    if (exe.empty() || args.empty()) return spec::Diagnostics{{"", "cannot read this process's executable and arguments from /proc/self"}};

    std::vector<pid_t> pids(static_cast<size_t>(o.nproc), -1);
    std::vector<bool> done(pids.size(), false);
    std::cout.flush();
    std::cerr.flush();
    for (int r = 0; r < o.nproc; ++r) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            const std::string why = std::strerror(errno);
            for (int q = 0; q < r; ++q) ::kill(pids[static_cast<size_t>(q)], SIGKILL);
            for (int q = 0; q < r; ++q) ::waitpid(pids[static_cast<size_t>(q)], nullptr, 0);
            return spec::Diagnostics{{"", "cannot start rank " + std::to_string(r) + ": " + why}};
        }
        if (pid == 0) {
            // A launcher that dies (killed, Ctrl-C) takes its ranks with it.
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() == 1) ::_exit(1);
            // A launcher that ignores Ctrl-C (it waits for its ranks to stop) must not pass that on.
            ::signal(SIGINT, SIG_DFL);
            ::setenv("RANK", std::to_string(r).c_str(), 1);
            ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
            ::setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
            ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
            ::setenv("MASTER_ADDR", "127.0.0.1", 1);
            ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
            std::vector<char*> argv;
            for (auto& s : args) argv.push_back(s.data());
            argv.push_back(nullptr);
            ::execv(exe.c_str(), argv.data());
            std::cerr << "rank " << r << ": cannot start " << exe << ": " << std::strerror(errno) << "\n";
            ::_exit(127);
        }
        pids[static_cast<size_t>(r)] = pid;
    }

    // Wait for every rank; the first failure stops the rest.
    int firstFailed = -1;
    bool interrupted = false;
    std::chrono::steady_clock::time_point stopAt;
    bool killed = false;
    int remaining = o.nproc;
    while (remaining > 0) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, firstFailed >= 0 ? WNOHANG : 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pid == 0) {  // ranks still running after a failure
            if (!killed && std::chrono::steady_clock::now() >= stopAt) {
                for (size_t q = 0; q < pids.size(); ++q)
                    if (!done[q]) {
                        std::cerr << "moe: rank " << q << " did not stop within " << o.graceSeconds << " s after SIGTERM; killing it\n";
                        ::kill(pids[q], SIGKILL);
                    }
                killed = true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        int r = -1;
        for (size_t q = 0; q < pids.size(); ++q)
            if (pids[q] == pid) r = static_cast<int>(q);
        if (r < 0) continue;  // not one of ours
        done[static_cast<size_t>(r)] = true;
        --remaining;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        interrupted = interrupted || (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
        if (!ok && firstFailed < 0) {
            firstFailed = r;
            std::cerr << "moe: rank " << r << " (pid " << pid << ") " << describeStatus(status);
            if (remaining > 0) {
                std::cerr << "; stopping the other ranks:";
                for (size_t q = 0; q < pids.size(); ++q)
                    if (!done[q]) std::cerr << " " << q;
            }
            std::cerr << "\n";
            for (size_t q = 0; q < pids.size(); ++q)
                if (!done[q]) {
                    ::kill(pids[q], SIGTERM);
                    ::kill(pids[q], SIGCONT);  // a stopped rank gets to act on it
                }
            stopAt = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<long long>(o.graceSeconds * 1000));
        } else if (!ok) {
            std::cerr << "moe: rank " << r << " (pid " << pid << ") " << describeStatus(status) << "\n";
        }
    }
    // 130: the shell's status for a command ended by Ctrl-C.
    return firstFailed < 0 ? 0 : interrupted ? 130 : 1;
}

}  // namespace moe::train::dist
