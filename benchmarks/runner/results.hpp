/// \file benchmarks/runner/results.hpp
/// Collects the `W<k> <impl> key=value ...` lines the benchmark programs print
/// (BENCHMARKS.md), across rounds, into figures with a sample list per impl.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace runner {

/// Keys that name which figure a line is about rather than measure it
/// (`W2 unblock n=10000 tasks_per_s=...`).
inline bool is_qualifier_key(const std::string& key) { return key == "n"; }

/// One measured quantity, e.g. "W2 n=100000 tasks_per_s", with every impl's samples.
struct figure {
    std::string workload;                               ///< "W2"
    std::string qualifier;                              ///< "n=100000", or empty
    std::string key;                                    ///< "tasks_per_s"
    std::map<std::string, std::vector<double>> samples; ///< impl -> one value per round

    /// "W2 n=100000 tasks_per_s": how targets and tables name a figure.
    [[nodiscard]] std::string id() const {
        return workload + (qualifier.empty() ? "" : " " + qualifier) + " " + key;
    }
};

/// Median, min and max of one impl's samples of one figure.
struct summary {
    double median = 0, min = 0, max = 0;
    std::size_t count = 0;
};

inline summary summarize(std::vector<double> values) {
    summary s;
    if (values.empty()) return s;
    std::sort(values.begin(), values.end());
    s.count = values.size();
    s.min = values.front();
    s.max = values.back();
    // The median of an even count is the mean of the middle two.
    const std::size_t mid = values.size() / 2;
    s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    return s;
}

/// Every figure seen, in the order first printed, and every impl, in the same order.
class result_set {
public:
    /// Adds the figures of one program's stdout; returns how many values it held.
    /// Lines that are not `W<k>`/`IDLE` figure lines are ignored. A non-empty
    /// `workload_suffix` files them under another workload ("W1" -> "W1-hogs").
    std::size_t add_output(const std::string& text, const std::string& workload_suffix = {}) {
        std::istringstream lines(text);
        std::string line;
        std::size_t added = 0;
        while (std::getline(lines, line))
            added += add_line(line, workload_suffix);
        return added;
    }

    [[nodiscard]] const std::vector<figure>& figures() const { return m_figures; }
    [[nodiscard]] const std::vector<std::string>& impls() const { return m_impls; }

    [[nodiscard]] const figure* find(const std::string& id) const {
        for (const auto& f : m_figures)
            if (f.id() == id) return &f;
        return nullptr;
    }

private:
    std::size_t add_line(const std::string& line, const std::string& workload_suffix) {
        std::istringstream words(line);
        std::string workload, impl, word;
        if (!(words >> workload >> impl)) return 0;
        const bool is_figure_line =
            workload == "IDLE" || (workload.size() >= 2 && workload[0] == 'W' &&
                                   std::isdigit(static_cast<unsigned char>(workload[1])));
        if (!is_figure_line) return 0;
        workload += workload_suffix;

        std::string qualifier;
        std::vector<std::pair<std::string, double>> values;
        while (words >> word) {
            const auto eq = word.find('=');
            if (eq == std::string::npos || eq == 0)
                throw std::runtime_error("not key=value: '" + word + "' in: " + line);
            const std::string key = word.substr(0, eq);
            const std::string text = word.substr(eq + 1);
            if (is_qualifier_key(key)) {
                qualifier += (qualifier.empty() ? "" : " ") + word;
                continue;
            }
            double value = 0;
            const auto [end, error] =
                std::from_chars(text.data(), text.data() + text.size(), value);
            if (error != std::errc{} || end != text.data() + text.size())
                throw std::runtime_error("not a number: '" + word + "' in: " + line);
            values.emplace_back(key, value);
        }
        for (const auto& [key, value] : values)
            figure_for(workload, qualifier, key).samples[impl].push_back(value);
        if (!values.empty() && std::find(m_impls.begin(), m_impls.end(), impl) == m_impls.end())
            m_impls.push_back(impl);
        return values.size();
    }

    figure& figure_for(const std::string& workload, const std::string& qualifier,
                       const std::string& key) {
        for (auto& f : m_figures)
            if (f.workload == workload && f.qualifier == qualifier && f.key == key) return f;
        return m_figures.emplace_back(figure{workload, qualifier, key, {}});
    }

    std::vector<figure> m_figures;
    std::vector<std::string> m_impls;
};

} // namespace runner
