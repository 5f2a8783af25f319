// Functions weft itself runs in a re-executed child (start methods spawn and
// forkserver). weft_main finds them by name before the caller's registry, so
// nothing has to register them at load time.
#pragma once

#include <cstddef>

namespace weft::detail {

// The process pool's spawn/forkserver worker (lib/process_pool.cpp).
inline constexpr char kPoolWorkerFn[] = "weft.process_pool.worker";
int process_pool_worker_entry(void *arg, std::size_t len) noexcept;

}  // namespace weft::detail
