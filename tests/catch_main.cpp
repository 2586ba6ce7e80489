// The Catch2 v2 runner, compiled once for every test executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define UNBLOCK_TESTS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNBLOCK_TESTS_UNDER_ASAN 1
#endif
#endif

#ifdef UNBLOCK_TESTS_UNDER_ASAN
// Leak checking is part of the ASan configuration, whatever the platform's
// default: a callback or task the library drops shows up as a leak.
extern "C" const char* __asan_default_options() { return "detect_leaks=1"; }
#endif
