// expect-first-error: non-const reference .such as std::string&.*pass std::ref.x.
// A std::string& parameter cannot bind the decay-copied argument: the first
// error says to pass std::ref, before anything about std::invoke_result.
#include <unblock/unblock.hpp>

#include <string>

void append(std::string& text) { text += "!"; }

unblock::task<> body() {
    std::string text = "hi";
    co_await unblock::to_thread(append, text);
}

int main() { unblock::run(body()); }
