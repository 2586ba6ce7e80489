/// \file benchmarks/runner/machine.hpp
/// What the figures were measured on: the machine, the compiler, the date.
#pragma once

#include <sys/utsname.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>

namespace runner {

/// The value after "<key>" up to the end of its line in a /proc-style file.
inline std::string field_of(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) != 0) continue;
        auto value = line.substr(key.size());
        const auto start = value.find_first_not_of(" \t:=\"");
        const auto end = value.find_last_not_of(" \t\"");
        return start == std::string::npos ? "" : value.substr(start, end - start + 1);
    }
    return "";
}

/// e.g. "Intel(R) Xeon(R) ..., 2 cores, 24 GiB, Debian GNU/Linux 12 (bookworm), Linux 6.1.0".
inline std::string machine_description() {
    std::string cpu = field_of("/proc/cpuinfo", "model name");
    if (cpu.empty()) cpu = "unknown CPU";
    const long mem_kib = std::atol(field_of("/proc/meminfo", "MemTotal").c_str());
    std::string os = field_of("/etc/os-release", "PRETTY_NAME");
    utsname names{};
    uname(&names);
    return cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, " +
           std::to_string((mem_kib + 512 * 1024) / (1024 * 1024)) + " GiB, " +
           (os.empty() ? "" : os + ", ") + names.sysname + " " + names.release;
}

/// The compiler this runner (and the benchmarks of the same build) was built with.
inline std::string compiler_description() {
#if defined(__clang__)
    return "clang++ " __clang_version__;
#elif defined(__GNUC__)
    return "g++ " __VERSION__;
#else
    return "unknown compiler";
#endif
}

/// "2026-11-28 20:15 UTC".
inline std::string utc_date() {
    const std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &parts);
    return text;
}

} // namespace runner
