/// \file unblock.hpp
/// Everything unblock offers (except the POSIX process pool: process_pool.hpp).
#pragma once

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "gather.hpp"
#include "join_handle.hpp"
#include "offload.hpp"
#include "task.hpp"
#include "thread_pool.hpp"
#include "time.hpp"
