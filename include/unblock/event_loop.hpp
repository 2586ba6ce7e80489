/// \file event_loop.hpp
/// `event_loop` (the single-threaded scheduler every coroutine resumes on),
/// `run`, `get_running_loop`, `create_task` and `join_handle<T>`.
#pragma once

#include "detail/loop/loop_core.hpp"
#include "join_handle.hpp"
#include "offload.hpp"
