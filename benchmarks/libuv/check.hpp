/// \file benchmarks/libuv/check.hpp
/// What every libuv peer program does with a libuv error: say which call
/// failed and why, and exit 1 (a benchmark with a failed call has no figures).
#pragma once

#include <uv.h>

#include <cstdio>
#include <cstdlib>

namespace peer {

inline void check(int rc, const char* what) {
    if (rc != 0) {
        std::fprintf(stderr, "libuv peer: %s: %s\n", what, uv_strerror(rc));
        std::exit(1);
    }
}

} // namespace peer
