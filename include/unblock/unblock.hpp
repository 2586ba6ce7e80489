/// \file unblock.hpp
/// Everything unblock offers.
#pragma once

#include "codec.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "gather.hpp"
#include "join_handle.hpp"
#include "offload.hpp"
#include "process_pool.hpp"
#include "task.hpp"
#include "thread_pool.hpp"
#include "time.hpp"
