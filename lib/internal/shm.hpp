// Shared memory segments: the storage of every process-scope object (locks,
// semaphores, conditions, events, barriers, queues, shared values, the
// shared dict) and of weft_shm.
//
// Layout of a segment: the payload at offset 0 (page aligned, so a plain
// shm_open + mmap in another language sees the user's bytes first), then a
// 64-byte trailer that names the kind of object, its layout version, its
// lifetime and how many handles have it open.
//
// A named segment is the file /dev/shm/<name>. It is built under a private
// temporary name, initialized completely, and only then linked to its name
// (link() fails atomically when the name exists). So an opener never sees a
// half-made object, two creators racing for one name get one winner, and a
// creator killed half-way leaves only its temporary file, which the next
// creator in any process sweeps away. No tracker process.
//
// An anonymous segment is a memfd mapped MAP_SHARED: children started with
// fork share it; its fd can be passed to other processes.
//
// Payloads hold no pointers (offsets only) and use process-shared futexes or
// robust pthread objects.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <weft/common.h>

namespace weft::detail::shm {

// What a segment holds; a segment opened as the wrong kind is WEFT_EINVAL.
// Never renumber; append.
enum class Kind : std::uint32_t {
    raw = 1,  // weft_shm: the user's bytes
    lock = 2,
    rlock = 3,
    semaphore = 4,
    condition = 5,
    event = 6,
    barrier = 7,
    queue = 8,
    dict = 9,
    value = 10,
    array = 11,
};

const char *kind_name(Kind k) noexcept;

struct alignas(64) Trailer {
    std::uint32_t magic;         // kTrailerMagic
    std::uint32_t layout;        // kTrailerLayout: this struct's version
    std::uint32_t kind;          // Kind
    std::uint32_t kind_version;  // the payload layout version of that kind
    std::uint32_t lifetime;      // WEFT_LIFETIME_*
    std::atomic<std::uint32_t> refs;  // handles open in all processes
    std::uint64_t payload_size;  // bytes the object asked for
    std::int32_t creator_pid;
    std::uint32_t reserved[7];
};
static_assert(sizeof(Trailer) == 64, "the trailer is one cache line");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared atomics must be address free");

inline constexpr std::uint32_t kTrailerMagic = 0x57534547u;  // "WSEG"
inline constexpr std::uint32_t kTrailerLayout = 1;

// What the object needs: its kind, the layout version of its payload and
// the payload size. `func` names the public function for error messages.
struct Spec {
    const char *func;
    Kind kind;
    std::uint32_t kind_version;
    std::size_t payload;
};

// Runs on the payload (zero-filled) before anyone else can see it; a status
// other than WEFT_OK abandons the segment (nothing is published).
using InitFn = weft_status (*)(void *payload, std::size_t size, void *ctx) noexcept;

// Check a ::weft_sharing from an options struct (scope, lifetime, name,
// flags); WEFT_OK or WEFT_EINVAL naming `func`.
weft_status check_sharing(const char *func, const weft_sharing &sh) noexcept;

class Segment {
public:
    Segment() noexcept = default;
    ~Segment() { close(); }
    Segment(const Segment &) = delete;
    Segment &operator=(const Segment &) = delete;
    Segment(Segment &&o) noexcept { take(o); }
    Segment &operator=(Segment &&o) noexcept {
        if (this != &o) {
            close();
            take(o);
        }
        return *this;
    }

    // Create a segment for `sh` (process scope; anonymous when sh.name is
    // NULL), run `init` on its payload, then publish it. With
    // WEFT_SHARE_OPEN_EXISTING and an existing name, open that one instead
    // (`init` does not run; `created()` tells which happened).
    // Codes: WEFT_EEXIST, WEFT_EINVAL (bad name, or an existing object of
    // another kind), WEFT_ENOMEM, WEFT_EPERM, WEFT_ESYS, or init's code.
    weft_status create(const Spec &spec, const weft_sharing &sh, InitFn init, void *ctx) noexcept;

    // The same with a lambda `weft_status(void *payload, size_t size)`.
    template <class F>
    weft_status create_with(const Spec &spec, const weft_sharing &sh, F &&f) noexcept {
        using Fn = std::remove_reference_t<F>;
        return create(spec, sh,
                      [](void *p, std::size_t n, void *c) noexcept -> weft_status { return (*static_cast<Fn *>(c))(p, n); },
                      &f);
    }

    // Open the named segment. WEFT_ENOENT when no such name (or it is being
    // removed), WEFT_EINVAL when it is not a weft object of spec.kind or its
    // payload is smaller than spec.payload, WEFT_EPERM, WEFT_ESYS.
    weft_status open(const Spec &spec, const char *name) noexcept;

    // Unmap, drop this handle's count and remove the name as the lifetime
    // says. Safe to call twice.
    void close() noexcept;

    bool is_open() const noexcept { return base_ != nullptr; }
    void *data() const noexcept { return base_; }
    std::size_t payload_size() const noexcept { return payload_; }
    Trailer *trailer() const noexcept { return trailer_; }
    int fd() const noexcept { return fd_; }
    bool created() const noexcept { return created_; }
    // The name as given (no leading '/'), or NULL for an anonymous segment.
    const char *name() const noexcept { return name_; }

private:
    void take(Segment &o) noexcept;
    weft_status map_fd(const Spec &spec, bool creating) noexcept;

    void *base_ = nullptr;         // the mapping (payload at offset 0)
    std::size_t mapped_ = 0;       // bytes mapped
    std::size_t payload_ = 0;      // payload bytes (what the object asked for)
    Trailer *trailer_ = nullptr;
    int fd_ = -1;
    char *name_ = nullptr;         // malloc'ed copy; NULL when anonymous
    bool created_ = false;         // this handle made the segment
    std::uint64_t dev_ = 0, ino_ = 0;  // the file, to never unlink a newer namesake
    int pid_ = 0;                  // the process that made or opened it
};

// Remove a name (any kind). WEFT_ENOENT when there is none.
weft_status unlink_name(const char *func, const char *name) noexcept;

}  // namespace weft::detail::shm
