/// \file benchmarks/asio/offload.hpp
/// The Boost.Asio peer's offload (BENCHMARKS.md): a coroutine running on an
/// io_context (the loop) runs a callable on an asio::thread_pool (the pool)
/// and resumes on the io_context. Two ways, chosen with
/// `--offload co_spawn|handwritten` (default co_spawn):
///   co_spawn     what the Asio documentation teaches: co_spawn the callable
///                onto the pool and await it with use_awaitable;
///   handwritten  a small async_initiate operation that posts exactly once
///                each way (to the pool, then the completion back).
/// offload_with(impl, pool, f) picks one without adding a coroutine frame.
#pragma once

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace asio = boost::asio;

namespace peer {

/// (1) co_spawn: a coroutine on the pool runs f; the caller resumes on its own
/// executor when it completes. Asio's co_spawn entry point dispatches onto the
/// pool, runs f in a second awaitable frame, then dispatches the completion to
/// the awaiting coroutine's executor. R must be default-constructible (co_spawn).
template <class F>
asio::awaitable<std::invoke_result_t<F&>> offload_co_spawn(asio::thread_pool& pool, F f) {
    using R = std::invoke_result_t<F&>;
    return asio::co_spawn(
        pool, [f = std::move(f)]() mutable -> asio::awaitable<R> { co_return f(); },
        asio::use_awaitable);
}

namespace detail {

// Completes with (error) or (error, result), so that, like co_spawn, an
// exception thrown by f is rethrown in the awaiting coroutine.
template <class R>
struct offload_signature {
    using type = void(std::exception_ptr, R);
};
template <>
struct offload_signature<void> {
    using type = void(std::exception_ptr);
};

/// f's outcome as the completion's arguments: (error) or (error, result).
template <class F>
auto outcome_of(F& f) {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<R>) {
        using outcome = std::tuple<std::exception_ptr>;
        try {
            f();
            return outcome{};
        } catch (...) {
            return outcome{std::current_exception()};
        }
    } else {
        using outcome = std::tuple<std::exception_ptr, R>;
        try {
            return outcome{nullptr, f()};
        } catch (...) {
            return outcome{std::current_exception(), R{}};
        }
    }
}

struct initiate_offload {
    asio::thread_pool::executor_type pool;

    template <class Handler, class F>
    void operator()(Handler handler, F f) const {
        // The completion runs on the handler's associated executor (for
        // use_awaitable: the awaiting coroutine's io_context; for a handler
        // without one: the pool, inline), which counts this operation as
        // outstanding work until then, so its run() cannot return early.
        auto home = asio::prefer(asio::get_associated_executor(handler, pool),
                                 asio::execution::outstanding_work.tracked);
        // Both queued operations are allocated with the handler's allocator.
        const auto alloc = asio::get_associated_allocator(handler);
        auto work = [h = std::move(handler), fn = std::move(f), home = std::move(home),
                     alloc]() mutable {
            // On a pool thread: run f, then dispatch (from here: post) the
            // completion to its home executor, once; `home` is released after.
            auto outcome = outcome_of(fn);
            asio::dispatch(home,
                           asio::bind_allocator(alloc, [h = std::move(h),
                                                        outcome = std::move(outcome)]() mutable {
                               std::apply(std::move(h), std::move(outcome));
                           }));
        };
        asio::post(pool, asio::bind_allocator(alloc, std::move(work)));
    }
};

} // namespace detail

/// (2) The hand-written operation: `co_await offload(pool, f, asio::use_awaitable)`,
/// or any other completion token. One post to the pool, one post back.
template <class F, class CompletionToken>
auto offload(asio::thread_pool& pool, F f, CompletionToken&& token) {
    using signature = typename detail::offload_signature<std::invoke_result_t<F&>>::type;
    return asio::async_initiate<CompletionToken, signature>(
        detail::initiate_offload{pool.get_executor()}, token, std::move(f));
}

enum class offload_impl { co_spawn, handwritten };

/// Either way, as an awaitable. Not a coroutine itself: it returns the
/// awaitable that co_spawn or async_initiate made, so it adds no frame.
template <class F>
asio::awaitable<std::invoke_result_t<F&>> offload_with(offload_impl impl, asio::thread_pool& pool,
                                                       F f) {
    if (impl == offload_impl::co_spawn) return offload_co_spawn(pool, std::move(f));
    return offload(pool, std::move(f), asio::use_awaitable);
}

/// `--offload co_spawn|handwritten` (default co_spawn); exits 2 on anything else.
inline offload_impl parse_offload(int argc, char** argv) {
    offload_impl impl = offload_impl::co_spawn;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) != "--offload") continue;
        const std::string_view value = i + 1 < argc ? argv[i + 1] : "";
        if (value == "co_spawn") {
            impl = offload_impl::co_spawn;
        } else if (value == "handwritten") {
            impl = offload_impl::handwritten;
        } else {
            std::fprintf(stderr, "usage: %s [--smoke] [--offload co_spawn|handwritten]\n", argv[0]);
            std::exit(2);
        }
        ++i;
    }
    return impl;
}

/// The <impl> of the output lines.
inline const char* impl_name(offload_impl impl) {
    return impl == offload_impl::co_spawn ? "asio-co_spawn" : "asio-handwritten";
}

} // namespace peer
