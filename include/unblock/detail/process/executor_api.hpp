/// \file detail/process/executor_api.hpp
/// The public calls every executor whose work crosses a process boundary
/// offers — `start`, `start_future` (run_in_executor's entry), `submit` and
/// the blocking `map` — written once for `process_pool_executor` and
/// `mpi_pool_executor`. Each executor supplies only how an encoded call
/// reaches a worker: `launch(call, f, args...)`.
#pragma once

#include "../../codec.hpp"
#include "../../errors.hpp"
#include "call.hpp"
#include "thunk.hpp"
#include "wire.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace unblock {

template <class Result>
class future;

namespace detail {

/// Names a parameter type that has no codec: the compiler shows this class
/// with the type ("In instantiation of ...<account>") beside the message.
template <class Value>
struct process_argument_codec_check {
    static_assert(codable<Value>,
                  "unblock::process_pool_executor: no unblock::codec<T> for this "
                  "argument type; specialize unblock::codec<T> (see codec.hpp); T is "
                  "named in this check's instantiation (or requirement) above");
    static constexpr bool value = codable<Value>;
};

/// The same for the result type.
template <class Value>
struct process_result_codec_check {
    static_assert(std::is_void_v<Value> || codable<Value>,
                  "unblock::process_pool_executor: no unblock::codec<T> for the result type; "
                  "specialize unblock::codec<T> (see codec.hpp) or return void; T is named in this "
                  "check's instantiation (or requirement) above");
    static constexpr bool value = std::is_void_v<Value> || codable<Value>;
};

/// Instantiates the codec checks of a function pointer's parameters and result.
template <class Pointer>
struct process_codec_checks {
    static constexpr bool value = true;
};
template <class Result, class... Params>
struct process_codec_checks<Result (*)(Params...)> {
    static constexpr bool value =
        (process_argument_codec_check<std::decay_t<Params>>::value && ...) &&
        process_result_codec_check<std::remove_cvref_t<Result>>::value;
};

/// The checks of a call that crosses a process boundary, each with a message
/// that says what to do. A class template, instantiated where the result
/// type is first named, so these messages come before any error they would
/// cause.
template <class Function, class... Args>
struct process_checked_call {
    using traits = process_callable<Function, Args...>;
    static_assert(traits::is_function,
                  "unblock::process_pool_executor: the callable must be a function pointer or "
                  "a capture-less lambda; pass data as arguments instead");
    static_assert(!traits::is_function || traits::arguments_match,
                  "unblock::process_pool_executor: the arguments do not match the callable's "
                  "parameters (wrong count, or not convertible to a parameter's type)");
    // Evaluated here, so each type without a codec gets its own message (and
    // no second one from this line).
    static_assert(
        process_codec_checks<std::conditional_t<traits::is_function && traits::arguments_match,
                                                typename traits::pointer, void>>::value ||
        true);
    using type = typename traits::result_type;
};

/// The result type of `f(args...)` run in another process; naming it checks the call.
template <class Function, class... Args>
using process_result_t = typename process_checked_call<Function, Args...>::type;

/// The call frame of `f(args...)`: header, thunk, function, arguments.
/// Throws `serialization_error` if an argument cannot be encoded or the
/// arguments exceed `max_frame` bytes (named `executor` in the message).
template <class Function, class... Args>
std::vector<std::byte> process_encode_call(const char* executor, std::uint64_t max_frame,
                                           Function& f, Args&&... args) {
    using traits = process_callable<Function, Args...>;
    using info = typename traits::info;
    byte_writer frame;
    process_begin_frame(frame);
    static_cast<void>(info::registered); // instantiates the thunk's registration
    try {
        process_write_thunk(frame, &info::run);
        codec<typename traits::pointer>::encode(frame, static_cast<typename traits::pointer>(f));
        info::encode_arguments(frame, std::forward<Args>(args)...);
    } catch (...) {
        process_rethrow_as_serialization("encoding the arguments failed");
    }
    if (process_payload_bytes(frame) > max_frame) {
        throw serialization_error(std::string(executor) + ": the arguments encode to " +
                                  std::to_string(process_payload_bytes(frame)) +
                                  " bytes, more than options::max_frame_bytes (" +
                                  std::to_string(max_frame) +
                                  "); raise max_frame_bytes or pass less");
    }
    process_end_frame(frame);
    return frame.release();
}

/// `start`, `start_future`, `submit` and `map` of an executor `Derived` whose
/// calls run in other processes. `Derived` provides (to this class, a friend)
///
///     static constexpr const char* executor_name;  // "unblock::..._executor"
///     std::shared_ptr<Core> m_core;   // check_open(), submit(call)
///     options m_options;              // .max_frame_bytes
///
/// and `launch` below encodes each call and queues it on the core.
template <class Derived>
class process_executor_api {
public:
    /// Tells run_in_executor to send the function and arguments, not a closure
    /// (it calls `start_future`).
    using process_executor_tag = void;

    /// Starts `f(args...)` in a worker and returns the call's shared state.
    ///
    /// `on_done` is invoked exactly once, on the executor's I/O thread,
    /// synchronously inside `cancel()`/`shutdown()`, or on a thread that
    /// polls the call (`process_call_base::poll_answer`), after the result or
    /// error is stored in the returned call. It must be cheap and must not
    /// throw. If `start` throws (`executor_shutdown_error`,
    /// `broken_executor_error`, `serialization_error` when an argument cannot
    /// be encoded) `on_done` is never invoked.
    template <class Function, class... Args>
    auto start(std::function<void()> on_done, Function f, Args&&... args)
        -> std::shared_ptr<process_call<process_result_t<Function, Args...>>> {
        check<Function, Args...>();
        auto call = std::make_shared<process_call<process_result_t<Function, Args...>>>();
        call->m_on_done = std::move(on_done);
        launch(call, f, std::forward<Args>(args)...);
        return call;
    }

    /// run_in_executor's entry (`unblock::run_in_executor(executor, f, args...)`):
    /// starts `f(args...)` and returns the loop's `future` for it. The result
    /// type follows the process rule (`process_result_t`: cv-ref removed).
    /// Defined in detail/process/offload.hpp.
    template <class Loop, class Function, class... Args>
    auto start_future(Loop& loop, Function f, Args&&... args)
        -> future<process_result_t<Function, Args...>>;

    /// Runs `f(args...)` in a worker; the future holds the result or error.
    ///
    /// Throws `executor_shutdown_error` after shutdown and
    /// `broken_executor_error` once broken; an argument that cannot be
    /// encoded gives a future holding `serialization_error`.
    template <class Function, class... Args>
    auto submit(Function f, Args&&... args) -> std::future<process_result_t<Function, Args...>> {
        check<Function, Args...>();
        using result = process_result_t<Function, Args...>;
        auto promise = std::make_shared<std::promise<result>>();
        std::future<result> future = promise->get_future();
        auto call = std::make_shared<process_call<result>>();
        call->m_on_done = [promise, raw = call.get()] {
            try {
                if constexpr (std::is_void_v<result>) {
                    raw->take();
                    promise->set_value();
                } else {
                    promise->set_value(raw->take());
                }
            } catch (...) {
                promise->set_exception(std::current_exception());
            }
        };
        try {
            launch(call, f, std::forward<Args>(args)...);
        } catch (const serialization_error&) {
            call->m_on_done = nullptr;
            promise->set_exception(std::current_exception());
        }
        return future;
    }

    /// Runs `f(x)` for every `x` of `inputs` and returns the results in order.
    ///
    /// BLOCKS THE CALLING THREAD until every call has returned, like
    /// concurrent.futures' Executor.map. Never call it on an event loop's
    /// thread (from a coroutine): the loop stalls for the whole map. From a
    /// coroutine, use `co_await unblock::map(executor, f, inputs, options)`
    /// (map.hpp), which waits without blocking.
    ///
    /// `chunksize` inputs travel in one message (fewer round trips for small
    /// calls); the input element type needs a codec. Waits for every chunk;
    /// the first failure (in input order) is rethrown.
    template <class Function, class Range>
    auto map(Function f, const Range& inputs, std::size_t chunksize = 1)
        -> std::vector<process_result_t<Function, decltype(*std::begin(inputs))>> {
        using item = decltype(*std::begin(inputs));
        using result = process_result_t<Function, item>;
        using pointer = typename process_callable<Function, item>::pointer;
        using value = std::remove_cvref_t<item>;
        check<Function, item>();
        static_assert(!std::is_void_v<result>,
                      "unblock::process_pool_executor::map: the callable must return a value; use "
                      "submit() for functions returning void");
        static_assert(codable<value>, "unblock::process_pool_executor: no unblock::codec<T> for "
                                      "this argument type; specialize unblock::codec<T> (see "
                                      "codec.hpp)");
        if constexpr (!std::is_void_v<result> && codable<value>) {
            const auto fn = static_cast<pointer>(f);
            std::vector<std::future<std::vector<result>>> chunks;
            std::vector<value> chunk;
            const auto flush = [&] {
                chunks.push_back(
                    submit(&run_chunk<pointer, value, result>, fn, std::exchange(chunk, {})));
            };
            for (const auto& x : inputs) {
                chunk.push_back(x);
                if (chunk.size() >= chunksize) {
                    flush();
                }
            }
            if (!chunk.empty()) {
                flush();
            }
            std::vector<result> results;
            std::exception_ptr first_error;
            for (auto& c : chunks) {
                try {
                    for (auto& r : c.get()) {
                        results.push_back(std::move(r));
                    }
                } catch (...) {
                    if (!first_error) {
                        first_error = std::current_exception();
                    }
                }
            }
            if (first_error) {
                std::rethrow_exception(first_error);
            }
            return results;
        } else {
            return {};
        }
    }

protected:
    process_executor_api() = default;
    ~process_executor_api() = default;

    /// The compile-time checks (process_checked_call), for callers that have
    /// not named the result type yet.
    template <class Function, class... Args>
    static constexpr void check() {
        (void)sizeof(process_checked_call<Function, Args...>);
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }

    /// Encodes the call frame into `call` and queues it on the executor's
    /// core. Throws `executor_shutdown_error`, `broken_executor_error` or
    /// `serialization_error` (then `on_done` never runs).
    template <class Call, class Function, class... Args>
    void launch(const std::shared_ptr<Call>& call, Function& f, Args&&... args) {
        if constexpr (process_callable<Function, Args...>::valid) {
            auto& core = *self().m_core;
            core.check_open();
            call->m_request =
                process_encode_call(Derived::executor_name, self().m_options.max_frame_bytes, f,
                                    std::forward<Args>(args)...);
            core.submit(call);
        }
    }

    /// The worker side of `map`: runs `fn` on each input of a chunk.
    template <class Pointer, class Value, class Result>
    static std::vector<Result> run_chunk(Pointer fn, std::vector<Value> inputs) {
        std::vector<Result> out;
        out.reserve(inputs.size());
        for (auto& x : inputs) {
            out.push_back(fn(std::move(x)));
        }
        return out;
    }
};

} // namespace detail
} // namespace unblock
