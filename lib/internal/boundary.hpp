// The one noexcept boundary between the C API and C++ inside: no exception
// ever crosses extern "C".
#pragma once

#include <new>
#include <system_error>

#include "error.hpp"

namespace weft::detail {

// Run `body` (returning weft_status) and map any escaping exception to a code.
// `func` names the exported function for the error detail.
template <class F>
inline weft_status guarded(const char *func, F &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(WEFT_ENOMEM, "%s: out of memory", func);
    } catch (const std::system_error &e) {
        return fail_sys(WEFT_ESYS, e.code().value(), "%s: %s", func, e.what());
    } catch (const std::exception &e) {
        return fail(WEFT_EINTERNAL, "%s: unexpected C++ exception: %s", func, e.what());
    } catch (...) {
        return fail(WEFT_EINTERNAL, "%s: unexpected C++ exception", func);
    }
}

}  // namespace weft::detail
