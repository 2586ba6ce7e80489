// A real-world use of to_thread: hash every file under a directory.
//
// Reading files is blocking I/O, so each file is read and hashed on the
// default thread pool while the loop thread stays free: it prints a progress
// line as each file finishes and could serve other tasks meanwhile. A
// capacity_limiter keeps at most N files open at once, however many there
// are (a crawler's politeness limit; the disk's queue depth).
//
//   hash_files [directory [N]]     (default: the current directory, N = 4)
#include <unblock/unblock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

struct file_hash {
    fs::path path;
    std::uint64_t hash = 0;
    std::uintmax_t bytes = 0;
};

std::atomic<int> files_open{0};
std::atomic<int> most_files_open{0};

/// FNV-1a over the file's bytes, read in 64 KiB blocks. Blocking.
file_hash hash_file(const fs::path& path) {
    const int open_now = ++files_open;
    int most = most_files_open.load();
    while (open_now > most && !most_files_open.compare_exchange_weak(most, open_now)) {
    }
    file_hash result{path, 14695981039346656037ull, 0};
    std::ifstream in(path, std::ios::binary);
    std::vector<char> block(64 * 1024);
    while (in.read(block.data(), static_cast<std::streamsize>(block.size())) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) {
            result.hash =
                (result.hash ^ static_cast<unsigned char>(block[static_cast<std::size_t>(i)])) *
                1099511628211ull;
        }
        result.bytes += static_cast<std::uintmax_t>(in.gcount());
    }
    --files_open;
    return result;
}

/// Every regular file below `root`. Blocking (it walks the disk).
std::vector<fs::path> list_files(const fs::path& root) {
    std::vector<fs::path> files;
    for (const auto& entry :
         fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

unblock::task<int> hash_tree(fs::path root, std::size_t limit) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<fs::path> files = co_await unblock::to_thread(list_files, root);
    unblock::capacity_limiter disk(limit); // at most `limit` hash_file calls at once

    std::size_t finished = 0;
    auto hash_one = [&](fs::path path) -> unblock::task<file_hash> {
        file_hash result = co_await disk.run(hash_file, std::move(path));
        ++finished; // back on the loop thread: no lock needed
        std::printf("\r[%zu/%zu] hashed", finished, files.size());
        std::fflush(stdout);
        co_return result;
    };
    std::vector<unblock::task<file_hash>> jobs;
    for (const fs::path& path : files)
        jobs.push_back(hash_one(path));
    const std::vector<file_hash> hashes = co_await unblock::gather(std::move(jobs));

    std::printf("\n");
    std::uintmax_t total = 0;
    for (const file_hash& h : hashes) {
        std::printf("%016llx  %s\n", static_cast<unsigned long long>(h.hash),
                    h.path.string().c_str());
        total += h.bytes;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::printf("at most %d of %zu files open at once (limit %zu)\n", most_files_open.load(),
                files.size(), limit);
    std::printf("hashed %zu files, %ju bytes in %lld ms\n", hashes.size(), total,
                static_cast<long long>(ms.count()));
    co_return 0;
}

int main(int argc, char** argv) {
    const fs::path root = argc > 1 ? argv[1] : ".";
    if (!fs::is_directory(root)) {
        std::fprintf(stderr, "hash_files: %s is not a directory\n", root.string().c_str());
        return 2;
    }
    const std::size_t limit = argc > 2 ? std::stoul(argv[2]) : 4;
    if (limit == 0) {
        std::fprintf(stderr, "hash_files: N must be at least 1\n");
        return 2;
    }
    return unblock::run(hash_tree(root, limit));
}
