/// \file benchmarks/libuv/peer.hpp
/// What every libuv peer program shares: the error check, and sizing libuv's
/// thread pool.
#pragma once

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace peer {

/// A failed libuv call: say which and why, and exit 1 (no figures without it).
inline void check(int rc, const char* what) {
    if (rc != 0) {
        std::fprintf(stderr, "libuv peer: %s: %s\n", what, uv_strerror(rc));
        std::exit(1);
    }
}

/// libuv sizes its one process-wide thread pool from UV_THREADPOOL_SIZE, read
/// once at the first uv_queue_work: call this before that.
inline void use_threadpool_size(int threads) {
    setenv("UV_THREADPOOL_SIZE", std::to_string(threads).c_str(), 1);
}

} // namespace peer
