/// \file unblock.hpp
/// Everything unblock offers.
#pragma once

#include "errors.hpp"
#include "event_loop.hpp"
#include "gather.hpp"
#include "join_handle.hpp"
#include "task.hpp"
#include "time.hpp"
