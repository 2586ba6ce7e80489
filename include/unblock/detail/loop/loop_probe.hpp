/// \file detail/loop/loop_probe.hpp
/// Work a waiting loop can move on by itself rather than sleep until another
/// thread posts its completion: a process pool's answer, which the loop reads
/// from the worker's pipe while it spins (detail/process/offload.hpp). The
/// answer then costs no wake-up of the loop, as in a plain pipe ping-pong.
#pragma once

#include "../intrusive_list.hpp"

namespace unblock::detail {

/// One entry in a loop's list of probes. While the loop spins for offloaded
/// work it calls `m_poll` every few spins; a poll may post completions to
/// the loop (which ends the spin) and must neither block nor run user code.
/// Linked, polled and unlinked on the loop thread only; the owner unlinks it
/// before it is destroyed.
struct loop_probe : list_hook<loop_probe> {
    using poll_function = void (*)(loop_probe* self) noexcept;

    explicit loop_probe(poll_function poll) noexcept : m_poll(poll) {}

    poll_function m_poll;
};

} // namespace unblock::detail
