// The process pool's cache of map blocks (a chunk's packed arguments, a
// chunk's reply slab: lib/process_pool.cpp), emptied by weft_memory_trim().
#pragma once

#include <cstddef>

namespace weft::detail {

// Free every cached block; the bytes given back.
std::size_t map_blocks_trim() noexcept;

}  // namespace weft::detail
