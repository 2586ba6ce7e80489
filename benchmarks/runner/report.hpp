/// \file benchmarks/runner/report.hpp
/// The result tables, as aligned text for the terminal and as Markdown.
#pragma once

#include "figures.hpp"

#include <string>
#include <vector>

namespace runner {

struct table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

/// Display width of UTF-8 text: one column per code point (enough for µ, ×, ≤, –).
inline std::size_t display_width(const std::string& text) {
    std::size_t width = 0;
    for (unsigned char c : text)
        width += (c & 0xC0) != 0x80;
    return width;
}

inline std::string render_text(const table& t) {
    std::vector<std::size_t> widths(t.header.size(), 0);
    auto widen = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    };
    widen(t.header);
    for (const auto& row : t.rows)
        widen(row);
    auto line = [&](const std::vector<std::string>& row) {
        std::string out;
        for (std::size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) out += std::string(widths[i] - display_width(row[i]) + 2, ' ');
        }
        return out + "\n";
    };
    std::string out = line(t.header);
    std::size_t total = 0;
    for (auto w : widths)
        total += w + 2;
    out += std::string(total - 2, '-') + "\n";
    for (const auto& row : t.rows)
        out += line(row);
    return out;
}

inline std::string render_markdown(const table& t) {
    auto line = [](const std::vector<std::string>& row) {
        std::string out = "|";
        for (const auto& cell : row)
            out += " " + cell + " |";
        return out + "\n";
    };
    std::string out = line(t.header) + "|";
    for (std::size_t i = 0; i < t.header.size(); ++i)
        out += i == 0 ? " --- |" : " ---: |";
    out += "\n";
    for (const auto& row : t.rows)
        out += line(row);
    return out;
}

/// Every figure: per impl its median, min–max, and unblock's median divided by it.
inline table figures_table(const result_set& results) {
    table t{{"figure", "impl", "median", "min – max", "unblock ÷ impl"}, {}};
    for (const auto& f : results.figures()) {
        const auto meta = meta_for(f.key);
        const auto ours = median_of(f, our_impl);
        bool first = true;
        for (const auto& impl : results.impls()) {
            const auto it = f.samples.find(impl);
            if (it == f.samples.end()) continue;
            const auto s = summarize(it->second);
            std::string ratio = "";
            if (impl != our_impl && ours && s.median != 0) ratio = format_ratio(*ours / s.median);
            t.rows.push_back(
                {first ? title_of(f) : "", impl, format_value(s.median * meta.scale),
                 format_value(s.min * meta.scale) + " – " + format_value(s.max * meta.scale),
                 ratio});
            first = false;
        }
    }
    return t;
}

/// The targets of BENCHMARKS.md, checked.
inline table targets_table(const result_set& results) {
    table t{{"target", "wanted", "measured", "met"}, {}};
    for (const auto& target : targets()) {
        const auto c = check(target, results);
        t.rows.push_back({c.what, c.wanted, c.measured, !c.met ? "–" : *c.met ? "yes" : "MISSED"});
    }
    return t;
}

} // namespace runner
