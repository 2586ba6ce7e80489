// <unblock/readiness.hpp> alone.
#include <unblock/readiness.hpp>
#include <unblock/readiness.hpp> // the include guard holds

#include <unistd.h>

namespace {
unblock::task<int> main_task(int fd) {
    co_await unblock::wait_writable(fd);
    co_return 1;
}
} // namespace

int header_use_readiness() {
    int fds[2];
    if (::pipe(fds) != 0) return 0;
    const int result = unblock::run(main_task(fds[1]));
    ::close(fds[0]);
    ::close(fds[1]);
    return result;
}
