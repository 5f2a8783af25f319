// Shared memory: the Segment every process-scope object lives in (see
// internal/shm.hpp for the layout and the publish-by-link protocol), and the
// public weft_shm over it.
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/shm.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/handle.hpp"
#include "internal/robust_mutex.hpp"
#include "internal/robust_mutex.hpp"
#include "internal/shm.hpp"

namespace weft::detail::shm {
namespace {

constexpr char kDir[] = "/dev/shm/";
constexpr char kTmpPrefix[] = ".weft.tmp.";
constexpr std::size_t kNameMax = 200;
constexpr std::size_t kPathMax = sizeof(kDir) + kNameMax + 1;

inline std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }

// The name without its optional leading '/', or NULL when it is not a valid
// name (the reason goes to the error detail).
const char *check_name(const char *func, const char *name, weft_status &st) noexcept {
    st = WEFT_OK;
    if (!name) {
        st = null_arg(func, "name");
        return nullptr;
    }
    if (name[0] == '/') ++name;
    std::size_t n = std::strlen(name);
    if (n == 0 || n > kNameMax || std::strchr(name, '/') || std::strcmp(name, ".") == 0 ||
        std::strcmp(name, "..") == 0 || std::strncmp(name, kTmpPrefix, sizeof(kTmpPrefix) - 1) == 0) {
        st = fail(WEFT_EINVAL, "%s: bad name \"%.*s\": 1..%zu bytes, no '/', not \".\", \"..\" or \"%s*\"", func,
                  static_cast<int>(n > 64 ? 64 : n), name, kNameMax, kTmpPrefix);
        return nullptr;
    }
    return name;
}

void path_of(char (&out)[kPathMax], const char *name) noexcept { std::snprintf(out, sizeof out, "%s%s", kDir, name); }

weft_status sys_error(const char *func, const char *what, const char *name, int err) noexcept {
    weft_status code = WEFT_ESYS;
    if (err == EACCES || err == EPERM) code = WEFT_EPERM;
    else if (err == ENOMEM || err == ENOSPC || err == EMFILE || err == ENFILE) code = WEFT_ENOMEM;
    else if (err == ENOENT) code = WEFT_ENOENT;
    else if (err == EEXIST) code = WEFT_EEXIST;
    return fail_sys(code, err, "%s: %s \"%s\"", func, what, name ? name : "(anonymous)");
}

// Remove the temporary files of creators that died during set-up (a
// creator killed half-way leaves one such file, never a name). Runs at each
// named create: one readdir of /dev/shm, small next to creating a file.
void sweep_dead_creators() noexcept {
    DIR *d = opendir(kDir);
    if (!d) return;
    while (struct dirent *e = readdir(d)) {
        if (std::strncmp(e->d_name, kTmpPrefix, sizeof(kTmpPrefix) - 1) != 0) continue;
        long pid = std::strtol(e->d_name + sizeof(kTmpPrefix) - 1, nullptr, 10);
        if (pid <= 0 || pid == getpid()) continue;
        if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
        char path[sizeof(kDir) + sizeof(e->d_name)];
        std::snprintf(path, sizeof path, "%s%s", kDir, e->d_name);
        (void)unlink(path);
    }
    closedir(d);
}

void unlink_if_same(const char *name, std::uint64_t dev, std::uint64_t ino) noexcept {
    char path[kPathMax];
    path_of(path, name);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino) (void)unlink(path);
}

}  // namespace

const char *kind_name(Kind k) noexcept {
    switch (k) {
    case Kind::raw: return "shared memory segment";
    case Kind::lock: return "lock";
    case Kind::rlock: return "rlock";
    case Kind::semaphore: return "semaphore";
    case Kind::condition: return "condition";
    case Kind::event: return "event";
    case Kind::barrier: return "barrier";
    case Kind::queue: return "queue";
    case Kind::dict: return "dict";
    case Kind::value: return "shared value";
    case Kind::array: return "shared array";
    }
    return "unknown object";
}

weft_status check_sharing(const char *func, const weft_sharing &sh) noexcept {
    if (sh.scope != WEFT_SCOPE_THREAD && sh.scope != WEFT_SCOPE_PROCESS)
        return fail(WEFT_EINVAL, "%s: sharing.scope is %u; use WEFT_SCOPE_THREAD or WEFT_SCOPE_PROCESS", func,
                    sh.scope);
    if (sh.lifetime > WEFT_LIFETIME_PERSISTENT)
        return fail(WEFT_EINVAL, "%s: sharing.lifetime is %u; use a WEFT_LIFETIME_* value", func, sh.lifetime);
    if (sh.flags & ~WEFT_SHARE_OPEN_EXISTING)
        return fail(WEFT_EINVAL, "%s: sharing.flags is %#x; only WEFT_SHARE_OPEN_EXISTING is defined", func,
                    sh.flags);
    if (sh.mode & ~0777u)
        return fail(WEFT_EINVAL, "%s: sharing.mode is %#o; only permission bits (0777) are allowed", func, sh.mode);
    if (sh.scope == WEFT_SCOPE_THREAD && sh.name)
        return fail(WEFT_EINVAL, "%s: sharing.name \"%s\" needs scope WEFT_SCOPE_PROCESS", func, sh.name);
    if (sh.name) {
        weft_status st;
        if (!check_name(func, sh.name, st)) return st;
    }
    return WEFT_OK;
}

void Segment::take(Segment &o) noexcept {
    base_ = o.base_;
    mapped_ = o.mapped_;
    payload_ = o.payload_;
    trailer_ = o.trailer_;
    fd_ = o.fd_;
    name_ = o.name_;
    created_ = o.created_;
    dev_ = o.dev_;
    ino_ = o.ino_;
    pid_ = o.pid_;
    o.base_ = nullptr;
    o.trailer_ = nullptr;
    o.fd_ = -1;
    o.name_ = nullptr;
}

// Map fd_ whole. Creating: mapped_ is already the size to give the file.
// Opening: take the file's size and check the trailer against `spec`.
weft_status Segment::map_fd(const Spec &spec, bool creating) noexcept {
    const char *shown = name_ ? name_ : "(anonymous)";
    if (!creating) {
        struct stat st;
        if (fstat(fd_, &st) != 0) return sys_error(spec.func, "cannot stat", name_, errno);
        dev_ = st.st_dev;
        ino_ = st.st_ino;
        if (st.st_size < static_cast<off_t>(sizeof(Trailer)) || st.st_size % 64 != 0)
            return fail(WEFT_EINVAL, "%s: \"%s\" is not a weft object (size %lld)", spec.func, shown,
                        static_cast<long long>(st.st_size));
        mapped_ = static_cast<std::size_t>(st.st_size);
    }
    void *p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return sys_error(spec.func, "cannot map", name_, errno);
    base_ = p;
    trailer_ = reinterpret_cast<Trailer *>(static_cast<char *>(p) + mapped_ - sizeof(Trailer));
    if (creating) return WEFT_OK;
    const Trailer &t = *trailer_;
    if (t.magic != kTrailerMagic || t.layout != kTrailerLayout ||
        t.payload_size > mapped_ - sizeof(Trailer))
        return fail(WEFT_EINVAL, "%s: \"%s\" is not a weft object", spec.func, shown);
    if (t.kind != static_cast<std::uint32_t>(spec.kind))
        return fail(WEFT_EINVAL, "%s: \"%s\" is a weft %s, not a %s", spec.func, shown,
                    kind_name(static_cast<Kind>(t.kind)), kind_name(spec.kind));
    if (t.kind_version != spec.kind_version || t.payload_size < spec.payload)
        return fail(WEFT_EINVAL, "%s: \"%s\" is a %s of layout %u/%llu bytes; this library reads layout %u/%zu",
                    spec.func, shown, kind_name(spec.kind), t.kind_version,
                    static_cast<unsigned long long>(t.payload_size), spec.kind_version, spec.payload);
    payload_ = static_cast<std::size_t>(t.payload_size);
    return WEFT_OK;
}

weft_status Segment::create(const Spec &spec, const weft_sharing &sh, InitFn init, void *ctx) noexcept {
    close();
    const char *name = nullptr;
    if (sh.name) {
        weft_status st;
        if (!(name = check_name(spec.func, sh.name, st))) return st;
    }
    mapped_ = round_up(spec.payload == 0 ? 1 : spec.payload, 64) + sizeof(Trailer);
    payload_ = spec.payload;
    pid_ = getpid();
    char tmp[kPathMax + 48];
    if (!name) {
        fd_ = memfd_create("weft", MFD_CLOEXEC);
        if (fd_ < 0) return sys_error(spec.func, "cannot create", nullptr, errno);
    } else {
        sweep_dead_creators();
        static std::atomic<unsigned> counter{0};
        std::snprintf(tmp, sizeof tmp, "%s%s%d.%u", kDir, kTmpPrefix, static_cast<int>(pid_),
                      counter.fetch_add(1, std::memory_order_relaxed));
        mode_t mode = sh.mode ? static_cast<mode_t>(sh.mode) : 0600;
        fd_ = ::open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd_ < 0) return sys_error(spec.func, "cannot create", name, errno);
        (void)fchmod(fd_, mode);  // the umask must not narrow what the caller asked
    }
    auto abandon = [&](weft_status st) noexcept {
        if (name) (void)unlink(tmp);
        close();
        return st;
    };
    if (ftruncate(fd_, static_cast<off_t>(mapped_)) != 0) return abandon(sys_error(spec.func, "cannot size", name, errno));
    if (weft_status st = map_fd(spec, true)) return abandon(st);
    Trailer &t = *trailer_;
    t.magic = kTrailerMagic;
    t.layout = kTrailerLayout;
    t.kind = static_cast<std::uint32_t>(spec.kind);
    t.kind_version = spec.kind_version;
    t.lifetime = sh.lifetime;
    t.refs.store(1, std::memory_order_relaxed);
    t.payload_size = spec.payload;
    t.creator_pid = static_cast<std::int32_t>(pid_);
    if (init) {
        if (weft_status st = init(base_, payload_, ctx)) return abandon(st);
    }
    if (!name) {
        created_ = true;
        return WEFT_OK;
    }
    char path[kPathMax];
    path_of(path, name);
    if (link(tmp, path) != 0) {
        int err = errno;
        abandon(WEFT_OK);
        if (err == EEXIST && (sh.flags & WEFT_SHARE_OPEN_EXISTING)) {
            weft_status st = open(spec, name);
            created_ = false;
            // The winner may have removed it again in between: try once more.
            if (st == WEFT_ENOENT) return create(spec, sh, init, ctx);
            return st;
        }
        if (err == EEXIST)
            return fail(WEFT_EEXIST, "%s: the name \"%s\" exists (WEFT_SHARE_OPEN_EXISTING opens it)", spec.func, name);
        return sys_error(spec.func, "cannot publish", name, err);
    }
    (void)unlink(tmp);
    struct stat st;
    if (fstat(fd_, &st) == 0) {
        dev_ = st.st_dev;
        ino_ = st.st_ino;
    }
    name_ = strdup(name);
    if (!name_) {
        unlink_if_same(name, dev_, ino_);
        close();
        return fail(WEFT_ENOMEM, "%s: out of memory", spec.func);
    }
    created_ = true;
    return WEFT_OK;
}

weft_status Segment::open(const Spec &spec, const char *given) noexcept {
    close();
    weft_status st;
    const char *name = check_name(spec.func, given, st);
    if (!name) return st;
    char path[kPathMax];
    path_of(path, name);
    name_ = strdup(name);
    if (!name_) return fail(WEFT_ENOMEM, "%s: out of memory", spec.func);
    pid_ = getpid();
    fd_ = ::open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd_ < 0) {
        int err = errno;
        close();
        if (err == ENOENT) return fail(WEFT_ENOENT, "%s: no object named \"%s\"", spec.func, name);
        return sys_error(spec.func, "cannot open", name, err);
    }
    if ((st = map_fd(spec, false))) {
        // Not ours to count: unmap without touching the trailer.
        trailer_ = nullptr;
        close();
        return st;
    }
    std::atomic<std::uint32_t> &refs = trailer_->refs;
    if (trailer_->lifetime == WEFT_LIFETIME_REFCOUNTED) {
        // A count that reached 0 means the last holder is removing the name.
        std::uint32_t r = refs.load(std::memory_order_relaxed);
        do {
            if (r == 0) {
                trailer_ = nullptr;
                close();
                return fail(WEFT_ENOENT, "%s: \"%s\" is being removed", spec.func, name);
            }
        } while (!refs.compare_exchange_weak(r, r + 1, std::memory_order_acq_rel));
    } else {
        refs.fetch_add(1, std::memory_order_acq_rel);
    }
    created_ = false;
    return WEFT_OK;
}

void Segment::close() noexcept {
    if (base_) {
        // A forked child's copy of the handle only unmaps: the count and the
        // name belong to the process that opened it.
        if (trailer_ && pid_ == getpid()) {
            std::uint32_t left = trailer_->refs.fetch_sub(1, std::memory_order_acq_rel) - 1;
            if (name_) {
                std::uint32_t lifetime = trailer_->lifetime;
                if ((lifetime == WEFT_LIFETIME_REFCOUNTED && left == 0) ||
                    (lifetime == WEFT_LIFETIME_OWNED && created_))
                    unlink_if_same(name_, dev_, ino_);
            }
        }
        munmap(base_, mapped_);
    }
    if (fd_ >= 0) ::close(fd_);
    std::free(name_);
    base_ = nullptr;
    trailer_ = nullptr;
    fd_ = -1;
    name_ = nullptr;
    mapped_ = payload_ = 0;
    created_ = false;
}

weft_status unlink_name(const char *func, const char *given) noexcept {
    weft_status st;
    const char *name = check_name(func, given, st);
    if (!name) return st;
    char path[kPathMax];
    path_of(path, name);
    if (unlink(path) != 0) {
        int err = errno;
        if (err == ENOENT) return fail(WEFT_ENOENT, "%s: no object named \"%s\"", func, name);
        return sys_error(func, "cannot remove", name, err);
    }
    return WEFT_OK;
}

}  // namespace weft::detail::shm

struct weft_shm : weft::detail::Handle<weft::detail::Magic::shm> {
    weft::detail::shm::Segment seg;
};

using namespace weft::detail;

namespace {

constexpr shm::Spec raw_spec(const char *func, std::size_t size) noexcept {
    return shm::Spec{func, shm::Kind::raw, 1, size};
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_shm_create(weft_shm **out, const char *name, size_t size,
                                     const weft_shm_options *opts) noexcept {
    constexpr const char *func = "weft_shm_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version(func, opts, WEFT_SHM_OPTIONS_VERSION)) return s;
    if (size == 0) return fail(WEFT_EINVAL, "%s: size is 0; a segment holds at least one byte", func);
    if (size > (SIZE_MAX >> 2)) return fail(WEFT_EINVAL, "%s: size %zu is too large", func, size);
    weft_sharing sh = WEFT_SHARING_INIT;
    sh.scope = WEFT_SCOPE_PROCESS;
    sh.name = name;
    if (opts) {
        sh.lifetime = opts->lifetime;
        sh.flags = opts->flags;
        sh.mode = opts->mode;
    }
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    return guarded(func, [&]() -> weft_status {
        weft_shm *h = new (std::nothrow) weft_shm;
        if (!h) return fail(WEFT_ENOMEM, "%s: out of memory", func);
        weft_status st;
        if (opts && opts->init) {
            weft_shm_init_fn init = opts->init;
            void *ud = opts->user_data;
            st = h->seg.create_with(raw_spec(func, size), sh, [&](void *p, std::size_t n) noexcept -> weft_status {
                if (init(p, n, ud) != 0)
                    return fail(WEFT_EFAILED, "%s: the init callback refused the segment; nothing was published",
                                func);
                return WEFT_OK;
            });
        } else {
            st = h->seg.create(raw_spec(func, size), sh, nullptr, nullptr);
        }
        if (st) {
            delete h;
            return st;
        }
        *out = h;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_shm_open(weft_shm **out, const char *name) noexcept {
    constexpr const char *func = "weft_shm_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_shm *h = new (std::nothrow) weft_shm;
    if (!h) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    if (weft_status st = h->seg.open(raw_spec(func, 0), name)) {
        delete h;
        return st;
    }
    *out = h;
    return WEFT_OK;
}

WEFT_API void weft_shm_close(weft_shm *shm) noexcept { destroy_handle(shm); }

WEFT_API weft_status weft_shm_unlink(const char *name) noexcept { return shm::unlink_name("weft_shm_unlink", name); }

WEFT_API void *weft_shm_data(const weft_shm *shm) noexcept { return valid(shm) ? shm->seg.data() : nullptr; }

WEFT_API size_t weft_shm_size(const weft_shm *shm) noexcept { return valid(shm) ? shm->seg.payload_size() : 0; }

WEFT_API const char *weft_shm_name(const weft_shm *shm) noexcept { return valid(shm) ? shm->seg.name() : nullptr; }

WEFT_API int weft_shm_fd(const weft_shm *shm) noexcept { return valid(shm) ? shm->seg.fd() : -1; }

WEFT_API int weft_shm_created(const weft_shm *shm) noexcept { return valid(shm) && shm->seg.created() ? 1 : 0; }

WEFT_API int64_t weft_shm_refs(const weft_shm *shm) noexcept {
    WEFT_CHECK_HANDLE("weft_shm_refs", shm);
    return shm->seg.trailer()->refs.load(std::memory_order_relaxed);
}

}  // extern "C"

// ---- Shared Value and Array --------------------------------------------
//
// Payload: a 64-byte header (the optional robust recursive lock, the type,
// flags and length), then the elements at offset 64, naturally aligned.
// Element reads and writes through the typed accessors are single atomic
// loads and stores of the element's width, so a reader never sees a torn
// value; compound updates take the lock.

namespace weft::detail::shm {
namespace {

struct alignas(64) ArrayHeader {
    RobustMutex lock;          // initialized only with WEFT_ARRAY_LOCK
    std::uint32_t type;        // WEFT_ARRAY_*
    std::uint32_t flags;       // WEFT_ARRAY_LOCK
    std::uint64_t length;      // elements
    std::uint32_t elem_size;   // bytes per element
};
static_assert(sizeof(ArrayHeader) == 64, "the array header is one cache line");
constexpr std::uint32_t kArrayLayout = 1;

std::size_t elem_size_of(std::uint32_t type) noexcept {
    switch (type) {
    case WEFT_ARRAY_INT8:
    case WEFT_ARRAY_UINT8:
    case WEFT_ARRAY_CHAR: return 1;
    case WEFT_ARRAY_INT16:
    case WEFT_ARRAY_UINT16: return 2;
    case WEFT_ARRAY_INT32:
    case WEFT_ARRAY_UINT32:
    case WEFT_ARRAY_FLOAT: return 4;
    case WEFT_ARRAY_INT64:
    case WEFT_ARRAY_UINT64:
    case WEFT_ARRAY_DOUBLE: return 8;
    default: return 0;
    }
}

const char *type_name(std::uint32_t type) noexcept {
    static const char *const names[] = {"?",      "int8",   "uint8", "int16", "uint16", "int32",
                                        "uint32", "int64",  "uint64", "float", "double", "char"};
    return type <= WEFT_ARRAY_CHAR ? names[type] : "?";
}

bool is_float_type(std::uint32_t type) noexcept { return type == WEFT_ARRAY_FLOAT || type == WEFT_ARRAY_DOUBLE; }

// The range an integer type holds, as [lo, hi] over int64 plus a flag for
// the upper half of uint64.
void int_range(std::uint32_t type, std::int64_t &lo, std::uint64_t &hi) noexcept {
    switch (type) {
    case WEFT_ARRAY_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case WEFT_ARRAY_UINT8: lo = 0; hi = UINT8_MAX; break;
    case WEFT_ARRAY_CHAR: lo = INT8_MIN; hi = UINT8_MAX; break;
    case WEFT_ARRAY_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case WEFT_ARRAY_UINT16: lo = 0; hi = UINT16_MAX; break;
    case WEFT_ARRAY_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
    case WEFT_ARRAY_UINT32: lo = 0; hi = UINT32_MAX; break;
    case WEFT_ARRAY_INT64: lo = INT64_MIN; hi = INT64_MAX; break;
    default: lo = 0; hi = UINT64_MAX; break;  // uint64
    }
}

constexpr Spec array_spec(const char *func, std::size_t payload) noexcept {
    return Spec{func, Kind::array, kArrayLayout, payload};
}

}  // namespace
}  // namespace weft::detail::shm

struct weft_array : weft::detail::Handle<weft::detail::Magic::shm_array> {
    weft::detail::shm::Segment seg;
    weft::detail::shm::ArrayHeader *hdr = nullptr;
    unsigned char *data = nullptr;
    std::uint32_t type = 0;
    std::size_t length = 0;
    std::size_t elem = 0;
};

namespace {

using weft::detail::shm::ArrayHeader;

// Fill the handle's cached fields from the mapped header and check them
// against the segment's size (a foreign or damaged object is WEFT_EINVAL).
weft_status adopt(weft_array *a, const char *func) noexcept {
    auto *h = static_cast<ArrayHeader *>(a->seg.data());
    std::size_t es = weft::detail::shm::elem_size_of(h->type);
    if (es == 0 || h->elem_size != es || (h->flags & ~WEFT_ARRAY_LOCK) ||
        h->length > (a->seg.payload_size() - sizeof(ArrayHeader)) / es)
        return fail(WEFT_EINVAL, "%s: \"%s\" is not a valid weft array", func,
                    a->seg.name() ? a->seg.name() : "(anonymous)");
    a->hdr = h;
    a->data = reinterpret_cast<unsigned char *>(h) + sizeof(ArrayHeader);
    a->type = h->type;
    a->length = static_cast<std::size_t>(h->length);
    a->elem = es;
    return WEFT_OK;
}

template <class T>
inline T load_elem(const weft_array *a, std::size_t i) noexcept {
    return __atomic_load_n(reinterpret_cast<const T *>(a->data) + i, __ATOMIC_RELAXED);
}

template <class T>
inline void store_elem(weft_array *a, std::size_t i, T v) noexcept {
    __atomic_store_n(reinterpret_cast<T *>(a->data) + i, v, __ATOMIC_RELAXED);
}

// An integer element read once, seen both as int64 and as uint64; the
// accessor that cannot represent it reports WEFT_EOVERFLOW.
struct IntVal {
    bool negative;
    std::int64_t s;   // valid unless the value is a uint64 above INT64_MAX
    std::uint64_t u;  // valid unless negative
};

IntVal read_int(const weft_array *a, std::size_t i) noexcept {
    std::int64_t s = 0;
    std::uint64_t u = 0;
    switch (a->type) {
    case WEFT_ARRAY_INT8: s = load_elem<std::int8_t>(a, i); break;
    case WEFT_ARRAY_INT16: s = load_elem<std::int16_t>(a, i); break;
    case WEFT_ARRAY_INT32: s = load_elem<std::int32_t>(a, i); break;
    case WEFT_ARRAY_INT64: s = load_elem<std::int64_t>(a, i); break;
    case WEFT_ARRAY_UINT8:
    case WEFT_ARRAY_CHAR: u = load_elem<std::uint8_t>(a, i); return {false, static_cast<std::int64_t>(u), u};
    case WEFT_ARRAY_UINT16: u = load_elem<std::uint16_t>(a, i); return {false, static_cast<std::int64_t>(u), u};
    case WEFT_ARRAY_UINT32: u = load_elem<std::uint32_t>(a, i); return {false, static_cast<std::int64_t>(u), u};
    default: u = load_elem<std::uint64_t>(a, i); return {false, static_cast<std::int64_t>(u), u};
    }
    return {s < 0, s, static_cast<std::uint64_t>(s)};
}

void write_int(weft_array *a, std::size_t i, std::uint64_t bits) noexcept {
    switch (a->elem) {
    case 1: store_elem<std::uint8_t>(a, i, static_cast<std::uint8_t>(bits)); break;
    case 2: store_elem<std::uint16_t>(a, i, static_cast<std::uint16_t>(bits)); break;
    case 4: store_elem<std::uint32_t>(a, i, static_cast<std::uint32_t>(bits)); break;
    default: store_elem<std::uint64_t>(a, i, bits); break;
    }
}

weft_status check_index(const weft_array *a, const char *func, std::size_t index) noexcept {
    if (__builtin_expect(index < a->length, 1)) return WEFT_OK;
    return fail(WEFT_EINVAL, "%s: index %zu is past the end (length %zu)", func, index, a->length);
}

weft_status check_int_type(const weft_array *a, const char *func) noexcept {
    if (__builtin_expect(!weft::detail::shm::is_float_type(a->type), 1)) return WEFT_OK;
    return fail(WEFT_EINVAL, "%s: the array holds %s; use weft_array_get_double/set_double", func,
                weft::detail::shm::type_name(a->type));
}

weft_status check_lock(const weft_array *a, const char *func) noexcept {
    if (__builtin_expect((a->hdr->flags & WEFT_ARRAY_LOCK) != 0, 1)) return WEFT_OK;
    return fail(WEFT_ENOTSUP, "%s: the array was made without WEFT_ARRAY_LOCK", func);
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_array_create(weft_array **out, uint32_t type, size_t length,
                                       const weft_array_options *opts) noexcept {
    constexpr const char *func = "weft_array_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version(func, opts, WEFT_ARRAY_OPTIONS_VERSION)) return s;
    std::size_t es = shm::elem_size_of(type);
    if (es == 0) return fail(WEFT_EINVAL, "%s: type %u is not a WEFT_ARRAY_* type", func, type);
    if (length > ((SIZE_MAX >> 2) - sizeof(ArrayHeader)) / es)
        return fail(WEFT_EINVAL, "%s: length %zu of %s is too large", func, length, shm::type_name(type));
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    if (opts) o = *opts;
    if (o.flags & ~WEFT_ARRAY_LOCK)
        return fail(WEFT_EINVAL, "%s: opts->flags is %#x; only WEFT_ARRAY_LOCK is defined", func, o.flags);
    if (weft_status s = shm::check_sharing(func, o.share)) return s;
    o.share.scope = WEFT_SCOPE_PROCESS;
    return guarded(func, [&]() -> weft_status {
        weft_array *a = new (std::nothrow) weft_array;
        if (!a) return fail(WEFT_ENOMEM, "%s: out of memory", func);
        std::size_t bytes = length * es;
        weft_status st = a->seg.create_with(
            shm::array_spec(func, sizeof(ArrayHeader) + bytes), o.share,
            [&](void *p, std::size_t) noexcept -> weft_status {
                auto *h = static_cast<ArrayHeader *>(p);
                if (o.flags & WEFT_ARRAY_LOCK) {
                    if (int r = h->lock.init(true))
                        return fail_sys(WEFT_ESYS, r, "%s: cannot initialize the lock", func);
                }
                h->type = type;
                h->flags = o.flags;
                h->length = length;
                h->elem_size = static_cast<std::uint32_t>(es);
                if (o.initial && bytes) std::memcpy(static_cast<char *>(p) + sizeof(ArrayHeader), o.initial, bytes);
                return WEFT_OK;
            });
        if (!st) st = adopt(a, func);
        if (!st && !a->seg.created() &&
            (a->type != type || a->length != length || (a->hdr->flags & WEFT_ARRAY_LOCK) != (o.flags & WEFT_ARRAY_LOCK)))
            st = fail(WEFT_EINVAL, "%s: \"%s\" exists as an array of %zu %s%s, not %zu %s%s", func, a->seg.name(),
                      a->length, shm::type_name(a->type), (a->hdr->flags & WEFT_ARRAY_LOCK) ? " with a lock" : "",
                      length, shm::type_name(type), (o.flags & WEFT_ARRAY_LOCK) ? " with a lock" : "");
        if (st) {
            delete a;
            return st;
        }
        *out = a;
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_array_open(weft_array **out, const char *name) noexcept {
    constexpr const char *func = "weft_array_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_array *a = new (std::nothrow) weft_array;
    if (!a) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    weft_status st = a->seg.open(shm::array_spec(func, sizeof(ArrayHeader)), name);
    if (!st) st = adopt(a, func);
    if (st) {
        delete a;
        return st;
    }
    *out = a;
    return WEFT_OK;
}

WEFT_API void weft_array_destroy(weft_array *a) noexcept { destroy_handle(a); }

WEFT_API void *weft_array_data(const weft_array *a) noexcept { return valid(a) ? a->data : nullptr; }

WEFT_API size_t weft_array_length(const weft_array *a) noexcept { return valid(a) ? a->length : 0; }

WEFT_API uint32_t weft_array_type(const weft_array *a) noexcept { return valid(a) ? a->type : 0; }

WEFT_API size_t weft_array_element_size(const weft_array *a) noexcept { return valid(a) ? a->elem : 0; }

WEFT_API weft_status weft_array_acquire(weft_array *a, int64_t timeout_ns) noexcept {
    constexpr const char *func = "weft_array_acquire";
    WEFT_CHECK_HANDLE(func, a);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (weft_status s = check_lock(a, func)) return s;
    Deadline d(timeout_ns);
    weft_status st = a->hdr->lock.lock(d);
    switch (st) {
    case WEFT_OK: return WEFT_OK;
    case WEFT_EOWNERDEAD:
        return fail(WEFT_EOWNERDEAD, "%s: the previous holder died holding the lock; it is yours: repair the "
                                     "values, then call weft_array_mark_consistent()", func);
    case WEFT_ETIMEDOUT:
        return timeout_ns == 0 ? WEFT_ETIMEDOUT
                               : fail(WEFT_ETIMEDOUT, "%s: timed out after %lld ns", func,
                                      static_cast<long long>(timeout_ns));
    case WEFT_ENOTRECOVERABLE:
        return fail(WEFT_ENOTRECOVERABLE, "%s: a holder released the lock after an owner death without "
                                          "weft_array_mark_consistent()", func);
    case WEFT_EOVERFLOW: return fail(WEFT_EOVERFLOW, "%s: the lock's recursion count is exhausted", func);
    default: return fail(st, "%s: the lock failed", func);
    }
}

WEFT_API weft_status weft_array_release(weft_array *a) noexcept {
    constexpr const char *func = "weft_array_release";
    WEFT_CHECK_HANDLE(func, a);
    if (weft_status s = check_lock(a, func)) return s;
    weft_status st = a->hdr->lock.unlock();
    if (st == WEFT_EPERM) return fail(WEFT_EPERM, "%s: this thread does not hold the lock", func);
    if (st) return fail(st, "%s: unlock failed", func);
    return WEFT_OK;
}

WEFT_API weft_status weft_array_mark_consistent(weft_array *a) noexcept {
    constexpr const char *func = "weft_array_mark_consistent";
    WEFT_CHECK_HANDLE(func, a);
    if (weft_status s = check_lock(a, func)) return s;
    if (a->hdr->lock.make_consistent() != WEFT_OK)
        return fail(WEFT_EINVAL, "%s: the lock is not held in the owner-died state by this thread", func);
    return WEFT_OK;
}

WEFT_API weft_status weft_array_get_int64(const weft_array *a, size_t index, int64_t *value) noexcept {
    constexpr const char *func = "weft_array_get_int64";
    WEFT_CHECK_HANDLE(func, a);
    if (!value) return null_arg(func, "value");
    if (weft_status s = check_index(a, func, index)) return s;
    if (weft_status s = check_int_type(a, func)) return s;
    IntVal v = read_int(a, index);
    if (!v.negative && v.u > static_cast<std::uint64_t>(INT64_MAX))
        return fail(WEFT_EOVERFLOW, "%s: element %zu is %llu, above INT64_MAX; use weft_array_get_uint64", func,
                    index, static_cast<unsigned long long>(v.u));
    *value = v.s;
    return WEFT_OK;
}

WEFT_API weft_status weft_array_get_uint64(const weft_array *a, size_t index, uint64_t *value) noexcept {
    constexpr const char *func = "weft_array_get_uint64";
    WEFT_CHECK_HANDLE(func, a);
    if (!value) return null_arg(func, "value");
    if (weft_status s = check_index(a, func, index)) return s;
    if (weft_status s = check_int_type(a, func)) return s;
    IntVal v = read_int(a, index);
    if (v.negative)
        return fail(WEFT_EOVERFLOW, "%s: element %zu is %lld, negative; use weft_array_get_int64", func, index,
                    static_cast<long long>(v.s));
    *value = v.u;
    return WEFT_OK;
}

WEFT_API weft_status weft_array_set_int64(weft_array *a, size_t index, int64_t value) noexcept {
    constexpr const char *func = "weft_array_set_int64";
    WEFT_CHECK_HANDLE(func, a);
    if (weft_status s = check_index(a, func, index)) return s;
    if (weft_status s = check_int_type(a, func)) return s;
    std::int64_t lo;
    std::uint64_t hi;
    shm::int_range(a->type, lo, hi);
    if (value < lo || (value >= 0 && static_cast<std::uint64_t>(value) > hi))
        return fail(WEFT_EOVERFLOW, "%s: %lld does not fit a %s", func, static_cast<long long>(value),
                    shm::type_name(a->type));
    write_int(a, index, static_cast<std::uint64_t>(value));
    return WEFT_OK;
}

WEFT_API weft_status weft_array_set_uint64(weft_array *a, size_t index, uint64_t value) noexcept {
    constexpr const char *func = "weft_array_set_uint64";
    WEFT_CHECK_HANDLE(func, a);
    if (weft_status s = check_index(a, func, index)) return s;
    if (weft_status s = check_int_type(a, func)) return s;
    std::int64_t lo;
    std::uint64_t hi;
    shm::int_range(a->type, lo, hi);
    if (value > hi)
        return fail(WEFT_EOVERFLOW, "%s: %llu does not fit a %s", func, static_cast<unsigned long long>(value),
                    shm::type_name(a->type));
    write_int(a, index, value);
    return WEFT_OK;
}

WEFT_API weft_status weft_array_get_double(const weft_array *a, size_t index, double *value) noexcept {
    constexpr const char *func = "weft_array_get_double";
    WEFT_CHECK_HANDLE(func, a);
    if (!value) return null_arg(func, "value");
    if (weft_status s = check_index(a, func, index)) return s;
    if (!shm::is_float_type(a->type))
        return fail(WEFT_EINVAL, "%s: the array holds %s; use weft_array_get_int64", func, shm::type_name(a->type));
    if (a->type == WEFT_ARRAY_FLOAT) {
        std::uint32_t bits = load_elem<std::uint32_t>(a, index);
        float f;
        std::memcpy(&f, &bits, sizeof f);
        *value = f;
    } else {
        std::uint64_t bits = load_elem<std::uint64_t>(a, index);
        std::memcpy(value, &bits, sizeof *value);
    }
    return WEFT_OK;
}

WEFT_API weft_status weft_array_set_double(weft_array *a, size_t index, double value) noexcept {
    constexpr const char *func = "weft_array_set_double";
    WEFT_CHECK_HANDLE(func, a);
    if (weft_status s = check_index(a, func, index)) return s;
    if (!shm::is_float_type(a->type))
        return fail(WEFT_EINVAL, "%s: the array holds %s; use weft_array_set_int64", func, shm::type_name(a->type));
    if (a->type == WEFT_ARRAY_FLOAT) {
        if (std::isfinite(value) && (value > FLT_MAX || value < -FLT_MAX))
            return fail(WEFT_EOVERFLOW, "%s: %g does not fit a float", func, value);
        float f = static_cast<float>(value);
        std::uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        store_elem<std::uint32_t>(a, index, bits);
    } else {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        store_elem<std::uint64_t>(a, index, bits);
    }
    return WEFT_OK;
}

}  // extern "C"
