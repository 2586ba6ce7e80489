/// \file benchmarks/runner/figures.hpp
/// What each figure key means: its title, display unit, and which way is
/// better; plus the targets of BENCHMARKS.md checked against a result set.
#pragma once

#include "results.hpp"

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace runner {

/// The impl whose figures the others are compared with.
inline const std::string our_impl = "unblock";

/// Impls that are references rather than peers (not "the best peer").
inline bool is_reference_impl(const std::string& impl) {
    return impl == "pipe-floor" || impl == "thread-floor";
}

struct figure_meta {
    std::string title; ///< what a reader sees, with its unit
    double scale = 1;  ///< displayed value = raw value * scale
    bool higher_is_better = false;
};

inline figure_meta meta_for(const std::string& key) {
    struct entry {
        const char* key;
        figure_meta meta;
    };
    static const entry known[] = {
        {"median_ns", {"round trip median (µs)", 1e-3, false}},
        {"p99_ns", {"round trip p99 (µs)", 1e-3, false}},
        {"tasks_per_s", {"tasks/s", 1, true}},
        {"allocs_per_task", {"heap allocations per task", 1, false}},
        {"cold_wall_ms", {"wall ms, fresh pool", 1, false}},
        {"wall_ms", {"wall ms, warm pool", 1, false}},
        {"median_us", {"round trip median (µs)", 1, false}},
        {"p99_us", {"round trip p99 (µs)", 1, false}},
        {"scaling_ms_1_worker", {"4 CPU-bound calls, 1 worker (ms)", 1, false}},
        {"scaling_ms_2_workers", {"4 CPU-bound calls, 2 workers (ms)", 1, false}},
        {"scaling_speedup", {"2 workers vs 1, speed-up", 1, true}},
        {"yields_per_s", {"yields/s", 1, true}},
        {"bytes_per_task", {"bytes per suspended task", 1, false}},
        {"cpu_ms_per_s", {"CPU ms per idle second", 1, false}},
        {"cpu_ns_per_op", {"CPU µs per call, all threads", 1e-3, false}},
    };
    for (const auto& e : known)
        if (key == e.key) return e.meta;
    return {key, 1, false};
}

/// "W2 (n=100000) tasks/s": a figure's title for tables and the plot.
inline std::string title_of(const figure& f) {
    return f.workload + (f.qualifier.empty() ? "" : " (" + f.qualifier + ")") + " " +
           meta_for(f.key).title;
}

/// Three significant digits, with k/M for large numbers: 0.251, 24.1, 380 k, 9.61 M.
inline std::string format_value(double v) {
    char text[32];
    const double magnitude = std::fabs(v);
    if (magnitude >= 1e6) {
        std::snprintf(text, sizeof text, "%.3g M", v / 1e6);
    } else if (magnitude >= 1e4) {
        std::snprintf(text, sizeof text, "%.3g k", v / 1e3);
    } else if (magnitude >= 100) {
        std::snprintf(text, sizeof text, "%.0f", v);
    } else {
        std::snprintf(text, sizeof text, "%.3g", v);
    }
    return text;
}

/// A ratio like 0.012× or 7.6×, two significant digits.
inline std::string format_ratio(double r) {
    char text[32];
    if (!std::isfinite(r)) return "–";
    std::snprintf(text, sizeof text, r >= 10 ? "%.0f×" : "%.2g×", r);
    return text;
}

/// The median of `impl`'s samples of `f`, if it ran.
inline std::optional<double> median_of(const figure& f, const std::string& impl) {
    const auto it = f.samples.find(impl);
    if (it == f.samples.end() || it->second.empty()) return std::nullopt;
    return summarize(it->second).median;
}

/// The peer with the best median on `f` (references and unblock excluded).
inline std::optional<std::string> best_peer(const figure& f) {
    std::optional<std::string> best;
    double best_value = 0;
    const bool higher = meta_for(f.key).higher_is_better;
    for (const auto& [impl, values] : f.samples) {
        if (impl == our_impl || is_reference_impl(impl) || values.empty()) continue;
        const double v = summarize(values).median;
        if (!best || (higher ? v > best_value : v < best_value)) {
            best = impl;
            best_value = v;
        }
    }
    return best;
}

/// A target of BENCHMARKS.md: unblock's median, or its ratio to a peer's, against a bound.
struct target {
    std::string figure_id; ///< e.g. "W1 median_ns"
    std::string peer;      ///< "" = unblock's own value; "*" = the best peer
    bool at_most = true;   ///< value <= bound (else value >= bound)
    double bound = 0;
};

/// BENCHMARKS.md's targets, plus the alternatives for when Tokio is
/// absent (W2: ≥ 12× Asio hand-written) and its W5 bound against Asio (≥ 10×).
inline const std::vector<target>& targets() {
    static const std::vector<target> list = {
        {"W1 median_ns", "*", true, 0.25},
        {"W2 n=100000 tasks_per_s", "tokio", false, 5},
        {"W2 n=100000 tasks_per_s", "asio-handwritten", false, 12},
        {"W2 n=100000 tasks_per_s", "libuv", false, 1},
        // The task's own coroutine frame; the offload itself allocates nothing.
        {"W2 n=100000 allocs_per_task", "", true, 1},
        {"W3 wall_ms", "", true, 10.5},
        {"W3 cold_wall_ms", "", true, 12},
        {"W4 median_us", "python-asyncio", true, 0.1},
        {"W4 median_us", "pipe-floor", true, 1.5},
        {"W5 yields_per_s", "tokio", false, 3},
        {"W5 yields_per_s", "asio", false, 10},
        {"W5 bytes_per_task", "asio", true, 0.25},
        {"W5 bytes_per_task", "tokio", true, 0.25},
        {"IDLE cpu_ms_per_s", "", true, 5},
    };
    return list;
}

/// One target checked against a run.
struct target_check {
    std::string what;     ///< "W1 round trip median (µs) ÷ best peer (tokio)"
    std::string wanted;   ///< "≤ 0.25×"
    std::string measured; ///< "0.011×", or why it could not be checked
    std::optional<bool> met;
};

inline target_check check(const target& t, const result_set& results) {
    target_check c;
    const auto ratio = !t.peer.empty();
    c.wanted = std::string(t.at_most ? "≤ " : "≥ ") + format_value(t.bound) + (ratio ? "×" : "");
    const figure* f = results.find(t.figure_id);
    if (!f) {
        c.what = t.figure_id + (t.peer.empty() ? "" : " ÷ " + t.peer);
        c.measured = "not run";
        return c;
    }
    const std::string peer = t.peer == "*" ? best_peer(*f).value_or("no peer") : t.peer;
    c.what = title_of(*f);
    if (ratio) c.what += " ÷ " + (t.peer == "*" ? "the best peer (" + peer + ")" : peer);
    const auto ours = median_of(*f, our_impl);
    const auto theirs = ratio ? median_of(*f, peer) : std::optional<double>(1.0);
    if (!ours || !theirs) {
        c.measured = (ours ? peer : our_impl) + " not run";
        return c;
    }
    const double value = ratio ? *ours / *theirs : *ours * meta_for(f->key).scale;
    c.measured = ratio ? format_ratio(value) : format_value(value);
    c.met = t.at_most ? value <= t.bound : value >= t.bound;
    return c;
}

} // namespace runner
