// The shared dict: string keys to byte values in one shared memory segment,
// guarded by one robust process-shared lock.
//
// Layout of the payload (offsets only, no pointers):
//
//   Header   the lock, the geometry, the heap's bump offset, the free list
//            head and the counters
//   table    open addressing, linear probing: one 8-byte word per slot,
//            (hash << 32) | (block offset / 8); 0 is empty, 1 a tombstone
//   heap     blocks tiling [heap_off, bump): each starts with a Block header
//            whose tag word holds its state (free or live) and its size;
//            a live block holds the key, a 0 byte and the value
//
// The heap is the truth; the table, the free list and the counters are a
// cache of it, rebuilt by one walk of the heap. Every change to the heap is
// prepared aside and committed by one 8-byte store: a new entry is written
// into a block still tagged free and becomes live with the store of its tag;
// a replaced entry gets a new block with a higher sequence number before the
// old one is tagged free; a split writes the remainder's header before it
// shrinks the block; a clear is the store of `bump`. So a process killed at
// any instant leaves a heap whose live blocks are exactly the committed
// entries (plus at most one superseded twin, which the rebuild drops by its
// sequence number), and the next locker, told by the robust lock that the
// holder died, rebuilds the cache and goes on.
//
// Live blocks never move, so an iteration cursor is a heap offset: each call
// returns the first live block after it, and a key that stays put is seen
// exactly once. A generation number, bumped by every rebuild and clear (the
// only operations that merge blocks), tells a cursor whether its offset is
// still a block boundary to walk on from.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include <weft/dict.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/handle.hpp"
#include "internal/robust_mutex.hpp"
#include "internal/robust_mutex.hpp"
#include "internal/shm.hpp"

namespace weft::detail::dict {
namespace {

constexpr std::uint32_t kLayout = 1;

constexpr std::uint64_t kStateShift = 56;
constexpr std::uint64_t kSizeMask = (std::uint64_t{1} << kStateShift) - 1;
constexpr std::uint64_t kFree = std::uint64_t{0x46} << kStateShift;  // 'F'
constexpr std::uint64_t kLive = std::uint64_t{0x4C} << kStateShift;  // 'L'
constexpr std::uint64_t kStateMask = ~kSizeMask;

constexpr std::uint64_t kEmpty = 0;
constexpr std::uint64_t kTomb = 1;

constexpr std::uint32_t kDefaultEntries = 1024;
constexpr std::uint32_t kMaxEntries = std::uint32_t{1} << 28;
constexpr std::uint64_t kDefaultCapacity = 256 * 1024;
constexpr std::uint64_t kMinCapacity = 4096;
constexpr std::uint64_t kMaxCapacity = std::uint64_t{16} << 30;

struct Block {
    std::uint64_t tag;      // state | size in bytes (a multiple of 8)
    std::uint64_t seq;      // live: publication order; free: next free block (0: none)
    std::uint32_t hash;     // of the key
    std::uint32_t key_len;  // bytes, without the 0 after them
    std::uint32_t val_len;
    std::uint32_t reserved;
    // key bytes, 0, value bytes
};
static_assert(sizeof(Block) == 32, "block header");
constexpr std::uint64_t kMinBlock = sizeof(Block) + 8;
constexpr std::uint64_t kMinSplit = sizeof(Block) + 16;  // smallest remainder worth a block

struct alignas(64) Header {
    RobustMutex mutex;
    std::uint32_t max_entries;
    std::uint32_t reserved;
    std::uint64_t capacity;    // heap bytes
    alignas(64) std::uint64_t slots;  // table slots, a power of two
    std::uint64_t table_off;   // payload offsets of the table and the heap
    std::uint64_t heap_off;
    std::uint64_t heap_end;
    std::uint64_t bump;        // end of the tiled part of the heap
    std::uint64_t free_head;   // first free block (0: none)
    std::uint64_t count;       // live keys
    std::uint64_t tombstones;  // table slots marked deleted
    std::uint64_t next_seq;    // last sequence number given out
    std::uint64_t generation;  // bumped when blocks merge (rebuild, clear)
    std::uint64_t freed;       // blocks freed since the last rebuild
};

inline std::uint64_t round8(std::uint64_t n) noexcept { return (n + 7) & ~std::uint64_t{7}; }

inline std::uint64_t load(const std::uint64_t &w) noexcept { return __atomic_load_n(&w, __ATOMIC_ACQUIRE); }
// The commit stores: one aligned 8-byte store each, ordered after what they publish.
inline void commit(std::uint64_t &w, std::uint64_t v) noexcept { __atomic_store_n(&w, v, __ATOMIC_RELEASE); }

std::uint32_t hash_key(const char *k, std::size_t n) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a murmur finalizer
    for (std::size_t i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(k[i]);
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return static_cast<std::uint32_t>(h);
}

std::uint64_t pow2_at_least(std::uint64_t n) noexcept {
    std::uint64_t p = 8;
    while (p < n) p <<= 1;
    return p;
}

}  // namespace
}  // namespace weft::detail::dict

struct weft_dict : weft::detail::Handle<weft::detail::Magic::dict> {
    weft::detail::shm::Segment seg;
    char *base = nullptr;
    weft::detail::dict::Header *h = nullptr;
    std::uint64_t *table = nullptr;
};

namespace weft::detail::dict {
namespace {

struct Found {
    std::uint64_t off;   // the live block, 0 when absent
    std::uint64_t slot;  // its slot; when absent, the slot an insert takes
};

class Ops {
public:
    explicit Ops(weft_dict *d) noexcept : h_(*d->h), base_(d->base), table_(d->table) {}

    Block &blk(std::uint64_t off) const noexcept { return *reinterpret_cast<Block *>(base_ + off); }
    const char *key_of(const Block &b) const noexcept { return reinterpret_cast<const char *>(&b + 1); }
    const char *val_of(const Block &b) const noexcept { return key_of(b) + b.key_len + 1; }

    // A block offset as found in the table or the free list is usable.
    bool sane(std::uint64_t off) const noexcept {
        return off >= h_.heap_off && off < h_.bump && off % 8 == 0 && h_.bump - off >= kMinBlock;
    }

    bool same_key(const Block &b, std::uint32_t hash, const char *key, std::size_t klen) const noexcept {
        return b.hash == hash && b.key_len == klen && std::memcmp(key_of(b), key, klen) == 0;
    }

    Found find(const char *key, std::size_t klen, std::uint32_t hash) const noexcept {
        std::uint64_t mask = h_.slots - 1;
        std::uint64_t i = hash & mask;
        std::uint64_t first_tomb = UINT64_MAX;
        for (std::uint64_t n = 0; n < h_.slots; ++n, i = (i + 1) & mask) {
            std::uint64_t e = load(table_[i]);
            if (e == kEmpty) return {0, first_tomb != UINT64_MAX ? first_tomb : i};
            if (e == kTomb) {
                if (first_tomb == UINT64_MAX) first_tomb = i;
                continue;
            }
            if ((e >> 32) != hash) continue;
            std::uint64_t off = (e & 0xffffffffu) << 3;
            if (!sane(off)) continue;
            const Block &b = blk(off);
            if ((load(b.tag) & kStateMask) == kLive && same_key(b, hash, key, klen)) return {off, i};
        }
        return {0, first_tomb};  // a full table always has tombstones (count <= slots / 2)
    }

    static std::uint64_t entry(std::uint32_t hash, std::uint64_t off) noexcept {
        return (static_cast<std::uint64_t>(hash) << 32) | (off >> 3);
    }

    // Rebuild the table, the free list and the counters from the heap (see
    // the top of the file). Idempotent: a rebuild killed half-way is redone
    // by the next locker.
    void rebuild() noexcept {
        commit(h_.generation, h_.generation + 1);
        std::memset(table_, 0, h_.slots * sizeof(std::uint64_t));
        h_.count = 0;
        h_.tombstones = 0;
        h_.free_head = 0;
        std::uint64_t max_seq = 0;
        std::uint64_t prev_free = 0;  // the free block just before `off`, to merge with
        std::uint64_t bump = h_.bump;
        for (std::uint64_t off = h_.heap_off; off < bump;) {
            Block &b = blk(off);
            std::uint64_t tag = load(b.tag);
            std::uint64_t size = tag & kSizeMask, state = tag & kStateMask;
            if (size < kMinBlock || size % 8 || size > bump - off || (state != kFree && state != kLive)) {
                // Not a block: the heap was damaged from outside. Keep what
                // precedes it.
                bump = off;
                commit(h_.bump, bump);
                break;
            }
            if (state == kLive && !adopt_live(off, b, size, max_seq)) state = kFree;
            if (state == kLive) {
                prev_free = 0;
            } else if (prev_free) {
                Block &p = blk(prev_free);
                commit(p.tag, kFree | ((load(p.tag) & kSizeMask) + size));
            } else {
                prev_free = off;
            }
            off += size;
        }
        // The free list in address order; a free block at the end gives its
        // bytes back to the bump area.
        std::uint64_t *link = &h_.free_head;
        for (std::uint64_t off = h_.heap_off; off < bump;) {
            Block &b = blk(off);
            std::uint64_t tag = load(b.tag);
            std::uint64_t size = tag & kSizeMask;
            if ((tag & kStateMask) == kFree) {
                if (off + size == bump) {
                    commit(h_.bump, off);
                    break;
                }
                *link = off;
                b.seq = 0;
                link = &b.seq;
            }
            off += size;
        }
        *link = 0;
        if (max_seq > h_.next_seq) h_.next_seq = max_seq;
        h_.freed = 0;
    }

    // A live block met by rebuild(): index it, or return false when it is a
    // superseded twin (or unusable) and has been tagged free.
    bool adopt_live(std::uint64_t off, Block &b, std::uint64_t size, std::uint64_t &max_seq) noexcept {
        if (sizeof(Block) + std::uint64_t{b.key_len} + 1 + b.val_len > size ||
            hash_key(key_of(b), b.key_len) != b.hash) {
            commit(b.tag, kFree | size);
            return false;
        }
        Found f = find(key_of(b), b.key_len, b.hash);
        if (!f.off && h_.count >= h_.max_entries) {  // cannot happen unless damaged from outside
            commit(b.tag, kFree | size);
            return false;
        }
        if (f.off) {
            Block &other = blk(f.off);
            if (other.seq > b.seq) {
                commit(b.tag, kFree | size);
                return false;
            }
            // The earlier block is the stale one: it stays where it is,
            // free, and joins the free list in the second pass.
            commit(other.tag, kFree | (load(other.tag) & kSizeMask));
            commit(table_[f.slot], entry(b.hash, off));
        } else {
            commit(table_[f.slot], entry(b.hash, off));
            ++h_.count;
        }
        if (b.seq > max_seq) max_seq = b.seq;
        return true;
    }

    // A block of `n` bytes tagged free (not yet live), or 0 when the heap
    // has no room even after a rebuild.
    std::uint64_t alloc(std::uint64_t n) noexcept {
        for (int round = 0; round < 2; ++round) {
            std::uint64_t *link = &h_.free_head;
            std::uint64_t steps = 0;
            for (std::uint64_t off = *link; off; off = *link) {
                Block &b = blk(off);
                std::uint64_t tag = load(b.tag);
                if (!sane(off) || (tag & kStateMask) != kFree || ++steps > h_.capacity / kMinBlock + 1) {
                    rebuild();  // a damaged list: start again from the heap
                    link = nullptr;
                    break;
                }
                std::uint64_t size = tag & kSizeMask;
                if (size >= n) {
                    if (size - n >= kMinSplit) {
                        Block &rest = blk(off + n);
                        rest.seq = b.seq;
                        commit(rest.tag, kFree | (size - n));
                        commit(b.tag, kFree | n);
                        *link = off + n;
                    } else {
                        *link = b.seq;
                    }
                    return off;
                }
                link = &b.seq;
            }
            if (link && h_.heap_end - h_.bump >= n) {
                std::uint64_t off = h_.bump;
                commit(blk(off).tag, kFree | n);
                commit(h_.bump, off + n);
                return off;
            }
            if (round == 0 && link) {
                if (h_.freed == 0) return 0;  // nothing to merge: really full
                rebuild();
            }
        }
        return 0;
    }

    // Tag a block free and put it on the free list.
    void release_block(std::uint64_t off) noexcept {
        Block &b = blk(off);
        commit(b.tag, kFree | (load(b.tag) & kSizeMask));
        b.seq = h_.free_head;
        h_.free_head = off;
        ++h_.freed;
    }

    weft_status set(const char *func, const char *key, std::size_t klen, std::uint32_t hash, const void *val,
                    std::size_t vlen) noexcept {
        if (klen > UINT32_MAX || vlen > UINT32_MAX)
            return fail(WEFT_EMSGSIZE, "%s: key of %zu and value of %zu bytes: each must be under 4 GiB", func, klen,
                        vlen);
        std::uint64_t n = round8(sizeof(Block) + klen + 1 + vlen);
        if (n > h_.capacity)
            return fail(WEFT_EMSGSIZE, "%s: the entry needs %llu bytes; the dict's capacity is %llu", func,
                        static_cast<unsigned long long>(n), static_cast<unsigned long long>(h_.capacity));
        Found f = find(key, klen, hash);
        if (!f.off && h_.count >= h_.max_entries)
            return fail(WEFT_EOVERFLOW, "%s: the dict holds its max_entries (%u) keys", func, h_.max_entries);
        std::uint64_t gen = h_.generation;
        std::uint64_t off = alloc(n);
        if (!off)
            return fail(WEFT_EOVERFLOW, "%s: no room for %llu more bytes in the dict's capacity of %llu", func,
                        static_cast<unsigned long long>(n), static_cast<unsigned long long>(h_.capacity));
        if (h_.generation != gen || f.slot == UINT64_MAX) {
            if (f.slot == UINT64_MAX) rebuild();  // no free slot: clear the tombstones
            f = find(key, klen, hash);        // the table was rebuilt
        }
        Block &b = blk(off);
        h_.next_seq += 1;
        b.seq = h_.next_seq;
        b.hash = hash;
        b.key_len = static_cast<std::uint32_t>(klen);
        b.val_len = static_cast<std::uint32_t>(vlen);
        b.reserved = 0;
        char *p = reinterpret_cast<char *>(&b + 1);
        std::memcpy(p, key, klen);
        p[klen] = 0;
        if (vlen) std::memmove(p + klen + 1, val, vlen);
        std::uint64_t size = load(b.tag) & kSizeMask;  // n, or a little more when not split
        commit(b.tag, kLive | size);                   // the entry exists from here on
        if (f.off) {
            commit(table_[f.slot], entry(hash, off));
            release_block(f.off);
        } else {
            if (load(table_[f.slot]) == kTomb) --h_.tombstones;
            commit(table_[f.slot], entry(hash, off));
            ++h_.count;
        }
        return WEFT_OK;
    }

    weft_status remove(const char *func, const char *key, std::size_t klen, std::uint32_t hash) noexcept {
        Found f = find(key, klen, hash);
        if (!f.off) return fail(WEFT_ENOENT, "%s: no key \"%.*s\"", func, static_cast<int>(klen > 64 ? 64 : klen), key);
        release_block(f.off);  // the delete is committed here
        commit(table_[f.slot], kTomb);
        --h_.count;
        ++h_.tombstones;
        return WEFT_OK;
    }

    void clear() noexcept {
        commit(h_.generation, h_.generation + 1);
        commit(h_.bump, h_.heap_off);  // the clear is committed here
        std::memset(table_, 0, h_.slots * sizeof(std::uint64_t));
        h_.free_head = 0;
        h_.count = 0;
        h_.tombstones = 0;
        h_.freed = 0;
    }

    // Keep probe chains short: rebuild when tombstones crowd the table.
    void tidy() noexcept {
        if (h_.count + h_.tombstones > h_.slots / 4 * 3) rebuild();
    }

    // The first live block after the cursor's position, or 0.
    std::uint64_t next_live(weft_dict_cursor &c) const noexcept {
        std::uint64_t start = h_.heap_off;
        if (c.generation == h_.generation && c.position >= h_.heap_off && c.position < h_.bump)
            start = c.position;  // still a block boundary: nothing merged since
        for (std::uint64_t off = start; off < h_.bump;) {
            const Block &b = blk(off);
            std::uint64_t tag = load(b.tag);
            std::uint64_t size = tag & kSizeMask;
            if (size < kMinBlock || size % 8 || size > h_.bump - off) return 0;
            if ((tag & kStateMask) == kLive && (c.position == 0 || off > c.position)) return off;
            off += size;
        }
        return 0;
    }

private:
    Header &h_;
    char *base_;
    std::uint64_t *table_;
};

// Check the geometry of a mapped dict (any process may have written it).
weft_status adopt(weft_dict *d, const char *func) noexcept {
    char *base = static_cast<char *>(d->seg.data());
    auto *h = reinterpret_cast<Header *>(base);
    std::uint64_t payload = d->seg.payload_size();
    bool ok = h->slots >= 8 && (h->slots & (h->slots - 1)) == 0 && h->max_entries >= 1 &&
              h->max_entries <= h->slots / 2 && h->table_off >= sizeof(Header) && h->table_off % 64 == 0 &&
              h->table_off + h->slots * 8 <= h->heap_off && h->heap_off % 64 == 0 && h->heap_off < h->heap_end &&
              h->heap_end <= payload && h->heap_end - h->heap_off == h->capacity && (h->heap_end >> 3) <= UINT32_MAX;
    if (!ok)
        return fail(WEFT_EINVAL, "%s: \"%s\" is not a valid weft dict", func,
                    d->seg.name() ? d->seg.name() : "(anonymous)");
    d->base = base;
    d->h = h;
    d->table = reinterpret_cast<std::uint64_t *>(base + h->table_off);
    return WEFT_OK;
}

constexpr shm::Spec dict_spec(const char *func, std::size_t payload) noexcept {
    return shm::Spec{func, shm::Kind::dict, kLayout, payload};
}

// Take the lock for one call. A dead holder's half-done call is repaired
// here (rebuild) and hidden; with `report_owner_dead` (weft_dict_lock) the
// code is returned instead, the lock held and left inconsistent.
weft_status enter(weft_dict *d, const char *func, std::int64_t timeout_ns, bool report_owner_dead = false) noexcept {
    Deadline dl(timeout_ns);
    weft_status st = d->h->mutex.lock(dl);
    if (__builtin_expect(st == WEFT_OK, 1)) return WEFT_OK;
    switch (st) {
    case WEFT_EOWNERDEAD:
        Ops(d).rebuild();
        if (report_owner_dead)
            return fail(WEFT_EOWNERDEAD, "%s: the previous holder died holding the dict's lock; the dict is "
                                         "repaired and the lock is yours: fix your transaction's keys, then "
                                         "call weft_dict_mark_consistent()", func);
        (void)d->h->mutex.make_consistent();
        return WEFT_OK;
    case WEFT_ETIMEDOUT:
        return timeout_ns == 0 ? WEFT_ETIMEDOUT
                               : fail(WEFT_ETIMEDOUT, "%s: timed out after %lld ns waiting for the dict's lock", func,
                                      static_cast<long long>(timeout_ns));
    case WEFT_ENOTRECOVERABLE:
        return fail(WEFT_ENOTRECOVERABLE, "%s: a holder released the dict's lock after an owner death without "
                                          "weft_dict_mark_consistent()", func);
    case WEFT_EOVERFLOW: return fail(WEFT_EOVERFLOW, "%s: the lock's recursion count is exhausted", func);
    default: return fail(st, "%s: cannot lock the dict", func);
    }
}

inline void leave(weft_dict *d) noexcept { (void)d->h->mutex.unlock(); }

}  // namespace
}  // namespace weft::detail::dict

using namespace weft::detail;
using dict::Ops;

namespace {

#define WEFT_DICT_CHECK_KEY(func, key) \
    do {                               \
        if (!(key)) return null_arg(func, "key"); \
    } while (0)

// A malloc'ed copy of n bytes plus a 0 byte, or NULL.
void *copy_out(const char *p, std::size_t n) noexcept {
    char *m = static_cast<char *>(std::malloc(n + 1));
    if (!m) return nullptr;
    if (n) std::memcpy(m, p, n);
    m[n] = 0;
    return m;
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_dict_create(weft_dict **out, const weft_dict_options *opts) noexcept {
    constexpr const char *func = "weft_dict_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version(func, opts, WEFT_DICT_OPTIONS_VERSION)) return s;
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    if (opts) o = *opts;
    std::uint32_t entries = o.max_entries ? o.max_entries : dict::kDefaultEntries;
    std::uint64_t capacity = o.capacity ? dict::round8(o.capacity) : dict::kDefaultCapacity;
    if (entries > dict::kMaxEntries)
        return fail(WEFT_EINVAL, "%s: max_entries %u is above %u", func, entries, dict::kMaxEntries);
    if (capacity < dict::kMinCapacity || capacity > dict::kMaxCapacity)
        return fail(WEFT_EINVAL, "%s: capacity %llu is outside %llu..%llu bytes", func,
                    static_cast<unsigned long long>(o.capacity), static_cast<unsigned long long>(dict::kMinCapacity),
                    static_cast<unsigned long long>(dict::kMaxCapacity));
    if (weft_status s = shm::check_sharing(func, o.share)) return s;
    o.share.scope = WEFT_SCOPE_PROCESS;
    std::uint64_t slots = dict::pow2_at_least(std::uint64_t{entries} * 2);
    std::uint64_t table_off = sizeof(dict::Header);
    std::uint64_t heap_off = (table_off + slots * 8 + 63) & ~std::uint64_t{63};
    std::uint64_t payload = heap_off + capacity;
    return guarded(func, [&]() -> weft_status {
        weft_dict *d = new (std::nothrow) weft_dict;
        if (!d) return fail(WEFT_ENOMEM, "%s: out of memory", func);
        // With OPEN_EXISTING, an existing dict is opened with its own
        // geometry, whatever this call asked for.
        bool open_existing = (o.share.flags & WEFT_SHARE_OPEN_EXISTING) != 0;
        o.share.flags &= ~WEFT_SHARE_OPEN_EXISTING;
        auto init = [&](void *p, std::size_t) noexcept -> weft_status {
            auto *h = static_cast<dict::Header *>(p);
            if (int r = h->mutex.init(true))
                return fail_sys(WEFT_ESYS, r, "%s: cannot initialize the lock", func);
            h->max_entries = entries;
            h->capacity = capacity;
            h->slots = slots;
            h->table_off = table_off;
            h->heap_off = heap_off;
            h->heap_end = heap_off + capacity;
            h->bump = heap_off;
            h->generation = 1;
            return WEFT_OK;
        };
        weft_status st;
        for (int attempt = 0;; ++attempt) {
            auto once = init;  // create_with takes its callable by value category
            st = d->seg.create_with(dict::dict_spec(func, payload), o.share, std::move(once));
            if (st != WEFT_EEXIST || !open_existing) break;
            st = d->seg.open(dict::dict_spec(func, sizeof(dict::Header)), o.share.name);
            if (st != WEFT_ENOENT || attempt == 8) break;  // removed in between: create again
        }
        if (!st) st = dict::adopt(d, func);
        if (st) {
            delete d;
            return st;
        }
        *out = d;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_dict_open(weft_dict **out, const char *name) noexcept {
    constexpr const char *func = "weft_dict_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_dict *d = new (std::nothrow) weft_dict;
    if (!d) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    weft_status st = d->seg.open(dict::dict_spec(func, sizeof(dict::Header)), name);
    if (!st) st = dict::adopt(d, func);
    if (st) {
        delete d;
        return st;
    }
    *out = d;
    return WEFT_OK;
}

WEFT_API void weft_dict_destroy(weft_dict *d) noexcept { destroy_handle(d); }

WEFT_API weft_status weft_dict_get(weft_dict *d, const char *key, void *buf, size_t cap, size_t *len,
                                   int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_get";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_DICT_CHECK_KEY(func, key);
    if (!buf && cap > 0) return null_arg(func, "buf");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    std::size_t klen = std::strlen(key);
    std::uint32_t hash = dict::hash_key(key, klen);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops ops(d);
    dict::Found f = ops.find(key, klen, hash);
    weft_status st = WEFT_OK;
    if (!f.off) {
        st = fail(WEFT_ENOENT, "%s: no key \"%.*s\"", func, static_cast<int>(klen > 64 ? 64 : klen), key);
    } else {
        const dict::Block &b = ops.blk(f.off);
        if (len) *len = b.val_len;
        if (b.val_len > cap)
            st = fail(WEFT_EMSGSIZE, "%s: the value of \"%.*s\" has %u bytes; the buffer holds %zu", func,
                      static_cast<int>(klen > 64 ? 64 : klen), key, b.val_len, cap);
        else if (b.val_len)
            std::memcpy(buf, ops.val_of(b), b.val_len);
    }
    dict::leave(d);
    return st;
}

WEFT_API weft_status weft_dict_get_alloc(weft_dict *d, const char *key, void **value, size_t *len,
                                         int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_get_alloc";
    WEFT_CHECK_HANDLE(func, d);
    if (!value) return null_arg(func, "value");
    *value = nullptr;
    WEFT_DICT_CHECK_KEY(func, key);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    std::size_t klen = std::strlen(key);
    std::uint32_t hash = dict::hash_key(key, klen);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops ops(d);
    dict::Found f = ops.find(key, klen, hash);
    weft_status st = WEFT_OK;
    if (!f.off) {
        st = fail(WEFT_ENOENT, "%s: no key \"%.*s\"", func, static_cast<int>(klen > 64 ? 64 : klen), key);
    } else {
        const dict::Block &b = ops.blk(f.off);
        void *m = copy_out(ops.val_of(b), b.val_len);
        if (!m) {
            st = fail(WEFT_ENOMEM, "%s: out of memory for %u bytes", func, b.val_len);
        } else {
            *value = m;
            if (len) *len = b.val_len;
        }
    }
    dict::leave(d);
    return st;
}

WEFT_API void weft_dict_free(void *p) noexcept { std::free(p); }

WEFT_API weft_status weft_dict_set(weft_dict *d, const char *key, const void *value, size_t len,
                                   int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_set";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_DICT_CHECK_KEY(func, key);
    if (!value && len > 0) return null_arg(func, "value");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    std::size_t klen = std::strlen(key);
    std::uint32_t hash = dict::hash_key(key, klen);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops ops(d);
    weft_status st = ops.set(func, key, klen, hash, value, len);
    if (!st) ops.tidy();
    dict::leave(d);
    return st;
}

WEFT_API weft_status weft_dict_delete(weft_dict *d, const char *key, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_delete";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_DICT_CHECK_KEY(func, key);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    std::size_t klen = std::strlen(key);
    std::uint32_t hash = dict::hash_key(key, klen);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops ops(d);
    weft_status st = ops.remove(func, key, klen, hash);
    if (!st) ops.tidy();
    dict::leave(d);
    return st;
}

WEFT_API int weft_dict_contains(weft_dict *d, const char *key, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_contains";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_DICT_CHECK_KEY(func, key);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    std::size_t klen = std::strlen(key);
    std::uint32_t hash = dict::hash_key(key, klen);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    int found = Ops(d).find(key, klen, hash).off ? 1 : 0;
    dict::leave(d);
    return found;
}

WEFT_API int64_t weft_dict_size(weft_dict *d, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_size";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    auto n = static_cast<int64_t>(d->h->count);
    dict::leave(d);
    return n;
}

WEFT_API weft_status weft_dict_clear(weft_dict *d, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_clear";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops(d).clear();
    dict::leave(d);
    return WEFT_OK;
}

WEFT_API weft_status weft_dict_update(weft_dict *d, const char *key, weft_dict_update_fn fn, void *user_data,
                                      int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_update";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_DICT_CHECK_KEY(func, key);
    if (!fn) return null_arg(func, "fn");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    std::size_t klen = std::strlen(key);
    std::uint32_t hash = dict::hash_key(key, klen);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops ops(d);
    dict::Found f = ops.find(key, klen, hash);
    const void *old = nullptr;
    std::size_t old_len = 0;
    if (f.off) {
        const dict::Block &b = ops.blk(f.off);
        old = ops.val_of(b);
        old_len = b.val_len;
    }
    const void *nv = nullptr;
    std::size_t nlen = 0;
    int what = fn(old, old_len, &nv, &nlen, user_data);
    weft_status st = WEFT_OK;
    if (what == WEFT_DICT_UPDATE_SET) {
        if (!nv && nlen > 0)
            st = fail(WEFT_EINVAL, "%s: the callback returned WEFT_DICT_UPDATE_SET with a NULL value of %zu bytes",
                      func, nlen);
        else
            st = ops.set(func, key, klen, hash, nv, nlen);  // finds the key again: fn may have changed the dict
    } else if (what == WEFT_DICT_UPDATE_DELETE) {
        if (ops.find(key, klen, hash).off) st = ops.remove(func, key, klen, hash);
    } else if (what != WEFT_DICT_UPDATE_KEEP) {
        st = fail(WEFT_EFAILED, "%s: the callback cancelled the update (returned %d)", func, what);
    }
    if (!st) ops.tidy();
    dict::leave(d);
    return st;
}

WEFT_API weft_status weft_dict_lock(weft_dict *d, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_lock";
    WEFT_CHECK_HANDLE(func, d);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    return dict::enter(d, func, timeout_ns, true);
}

WEFT_API weft_status weft_dict_unlock(weft_dict *d) noexcept {
    constexpr const char *func = "weft_dict_unlock";
    WEFT_CHECK_HANDLE(func, d);
    weft_status st = d->h->mutex.unlock();
    if (st == WEFT_EPERM) return fail(WEFT_EPERM, "%s: this thread does not hold the dict's lock", func);
    if (st) return fail(st, "%s: unlock failed", func);
    return WEFT_OK;
}

WEFT_API weft_status weft_dict_mark_consistent(weft_dict *d) noexcept {
    constexpr const char *func = "weft_dict_mark_consistent";
    WEFT_CHECK_HANDLE(func, d);
    if (d->h->mutex.make_consistent() != WEFT_OK)
        return fail(WEFT_EINVAL, "%s: the dict's lock is not held in the owner-died state by this thread", func);
    return WEFT_OK;
}

WEFT_API weft_status weft_dict_next(weft_dict *d, weft_dict_cursor *cursor, char **key, void **value,
                                    size_t *value_len, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_dict_next";
    WEFT_CHECK_HANDLE(func, d);
    if (!cursor) return null_arg(func, "cursor");
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (weft_status s = dict::enter(d, func, timeout_ns)) return s;
    Ops ops(d);
    weft_dict_cursor c = *cursor;
    std::uint64_t off = ops.next_live(c);
    weft_status st = WEFT_OK;
    if (!off) {
        cursor->generation = d->h->generation;
        cursor->position = d->h->bump;  // past every block of this generation
        st = WEFT_ENOENT;
    } else {
        const dict::Block &b = ops.blk(off);
        void *k = key ? copy_out(ops.key_of(b), b.key_len) : nullptr;
        void *v = value ? copy_out(ops.val_of(b), b.val_len) : nullptr;
        if ((key && !k) || (value && !v)) {
            std::free(k);
            std::free(v);
            st = fail(WEFT_ENOMEM, "%s: out of memory", func);
        } else {
            if (key) *key = static_cast<char *>(k);
            if (value) *value = v;
            if (value_len) *value_len = b.val_len;
            cursor->generation = d->h->generation;
            cursor->position = off;
        }
    }
    dict::leave(d);
    return st;
}

WEFT_API const char *weft_dict_name(const weft_dict *d) noexcept { return valid(d) ? d->seg.name() : nullptr; }

WEFT_API size_t weft_dict_max_entries(const weft_dict *d) noexcept { return valid(d) ? d->h->max_entries : 0; }

WEFT_API size_t weft_dict_capacity(const weft_dict *d) noexcept {
    return valid(d) ? static_cast<size_t>(d->h->capacity) : 0;
}

}  // extern "C"
