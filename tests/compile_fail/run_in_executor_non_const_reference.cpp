// expect-first-error: non-const reference .such as std::string&.*pass std::ref.x.
// run_in_executor decay-copies like to_thread: the same first message.
#include <unblock/unblock.hpp>

#include <string>

void append(std::string& text) { text += "!"; }

unblock::task<> body() {
    std::string text = "hi";
    co_await unblock::run_in_executor(nullptr, append, text);
}

int main() { unblock::run(body()); }
