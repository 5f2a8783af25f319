// Run-time version of the loaded library.
#include <weft/version.h>

extern "C" {

WEFT_API unsigned weft_version(void) noexcept { return WEFT_VERSION_NUMBER; }

WEFT_API const char *weft_version_string(void) noexcept { return WEFT_VERSION_STRING; }

}  // extern "C"
