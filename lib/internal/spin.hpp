// AdaptiveSpin: how long a thread about to sleep on a weft object spins
// first, learned per object from whether recent spins caught the hand-off.
//
// A spin pays only when the thread that will release us is running on
// another CPU: then the hand-off arrives in well under a microsecond and a
// sleep would cost a futex wait, a futex wake and a cross-CPU wake-up
// (tens of microseconds on a VM, where the sleeper's idle vCPU halts). When
// that thread shares our CPU, or is itself asleep, every spin iteration
// only delays it. So:
//
//   - while recent spins succeeded (score > 0) spin long (kLongSpins plain
//     loads, ~5 us: longer than a cross-CPU wake-up, so a pair of threads
//     that fell asleep once gets back to spinning);
//   - after a run of failed spins spin only kShortSpins, except every
//     kProbeEvery-th wait, which spins long again to notice that the
//     threads moved to separate CPUs;
//   - a spin that fails ends with one sched_yield() and a last check: when
//     the releasing thread is runnable on this CPU it runs now and the
//     hand-off completes without a futex sleep on either side.
//
// The score is a heuristic shared by every waiter of the object: relaxed
// loads and stores, a lost update only shifts one decision. No allocation,
// no system call before the spin fails.
#pragma once

#include <atomic>
#include <cstdint>

#include <sched.h>

namespace weft::detail {

class AdaptiveSpin {
public:
    // Spin until ready() is true (returns true) or the budget is spent
    // (returns false: the caller goes to sleep, re-checking as usual).
    template <class Ready>
    bool spin(Ready &&ready) noexcept {
        std::uint32_t st = state_.load(std::memory_order_relaxed);
        std::uint32_t score = st & kScoreMask;
        std::uint32_t tick = (st >> kTickShift) + 1;
        int n = (score > 0 || (tick % kProbeEvery) == 0) ? kLongSpins : kShortSpins;
        for (int i = 0; i < n; ++i) {
            if (ready()) {
                if (score != kMaxScore) state_.store((tick << kTickShift) | kMaxScore, std::memory_order_relaxed);
                return true;
            }
            std::atomic_signal_fence(std::memory_order_seq_cst);  // keep the loop a loop
        }
        state_.store((tick << kTickShift) | (score > 0 ? score - 1 : 0), std::memory_order_relaxed);
        sched_yield();
        return ready();
    }

private:
    static constexpr int kLongSpins = 16384;
    static constexpr int kShortSpins = 128;
    static constexpr std::uint32_t kProbeEvery = 16;
    static constexpr std::uint32_t kMaxScore = 8;
    static constexpr std::uint32_t kScoreMask = 15;
    static constexpr int kTickShift = 4;
    std::atomic<std::uint32_t> state_{kMaxScore};
};

}  // namespace weft::detail
