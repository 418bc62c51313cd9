#pragma once
// Parity harness (after ggml's test-backend-ops): every op of a candidate backend against the CPU
// reference, one case per row, on random and adversarial inputs. Each op's inputs come from the
// reference's outputs of the previous op, so a mismatch points at exactly one op. Outputs must be
// finite where the reference's are. Returns human-readable failures; empty = pass.
//
// Tolerances (why):
//   probs, gates, dLogits: 2e-6 absolute + 1e-5 relative. Same float formula; CUDA's expf may
//     differ from glibc's by 2 ulp and nvcc contracts a*b+c into FMA.
//   expertIdx: exact, except a choice whose selection scores differ by < 1e-5 from the
//     reference's (a near-tie that a 1-ulp difference in expf may flip); such tokens are counted
//     and must stay under 1 % of all tokens; their gates are then not compared.
//   histogram, slots, drops, dispatch layout, permute: exact (integer maths or plain copies).
//   permute backward, combine: 1e-6 relative to the sum of |terms| (k terms, FMA).
//   dGates: 1e-5 relative to sum |dOut_i * y_i| (a d-term dot product summed in a different order).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "moe/kernels/backend.h"

namespace moe::kernels::test {

enum class LogitPattern {
    Random,       // values on a 1/8 grid: distinct values are far apart, equal ones tie exactly
    AllToOne,     // expert 0 wins for every token
    AllTies,      // every logit equal: every choice is a tie
    SomeTies,     // logits in {0, 1}: many ties
    EmptyExperts, // the upper half of the experts never wins
    Extreme,      // +-80: softmax underflows, sigmoid saturates
};

struct Case {
    std::string name;
    int64_t T = 64, E = 8, k = 2, d = 16;
    ScoreFn score = ScoreFn::Softmax;
    float temperature = 1.0f;
    bool renormalize = true;
    bool bias = false;
    int64_t capacity = -1;
    DropPolicy policy = DropPolicy::Probs;
    LogitPattern pattern = LogitPattern::Random;
    uint32_t seed = 1;
};

std::vector<Case> standardCases();

// Copies host data into a backend's memory and back (a plain copy for the CPU backends).
template <class T>
class Buf {
public:
    Buf(Backend& be, const std::vector<T>& host) : m_be(be), m_n(host.size()) {
        m_ptr = static_cast<T*>(be.allocate(std::max<size_t>(1, m_n) * sizeof(T)));
        if (m_n) m_be.copyToBackend(m_ptr, host.data(), m_n * sizeof(T));
    }
    Buf(Backend& be, size_t n, T fill) : Buf(be, std::vector<T>(n, fill)) {}
    ~Buf() { m_be.release(m_ptr); }
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
    T* get() { return m_ptr; }
    std::vector<T> host() const {
        std::vector<T> out(m_n);
        if (m_n) m_be.copyToHost(out.data(), m_ptr, m_n * sizeof(T));
        return out;
    }

private:
    Backend& m_be;
    size_t m_n;
    T* m_ptr = nullptr;
};

// Runs every op of `candidate` on case `c` and compares with the reference.
std::vector<std::string> checkParity(Backend& candidate, const Case& c);

}  // namespace moe::kernels::test
