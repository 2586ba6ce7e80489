/// \file unblock.hpp
/// Everything unblock offers.
#pragma once

#include "capacity_limiter.hpp"
#include "codec.hpp"
#include "condition.hpp"
#include "errors.hpp"
#include "event.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "gather.hpp"
#include "join_handle.hpp"
#include "lock.hpp"
#include "offload.hpp"
#include "process_pool.hpp"
#include "queue.hpp"
#include "semaphore.hpp"
#include "shield.hpp"
#include "task.hpp"
#include "task_group.hpp"
#include "thread_pool.hpp"
#include "time.hpp"
#include "timeout.hpp"
