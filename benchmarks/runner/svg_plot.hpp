/// \file benchmarks/runner/svg_plot.hpp
/// The plot of docs/benchmarks.md, drawn as plain SVG: for every figure, how
/// many times better unblock is than each peer, on a log scale (bars to the
/// right of 1× mean unblock is better, to the left that the peer is).
#pragma once

#include "figures.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace runner {

inline std::string svg_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

/// How many times better unblock is than `theirs` on a figure (> 1: unblock better).
inline double advantage(double ours, double theirs, bool higher_is_better) {
    return higher_is_better ? ours / theirs : theirs / ours;
}

inline std::string svg_plot(const result_set& results, const std::string& caption) {
    struct bar {
        std::string impl;
        double factor;
    };
    struct group {
        std::string title;
        std::vector<bar> bars;
    };
    std::vector<group> groups;
    double lo = 0.5, hi = 10;
    for (const auto& f : results.figures()) {
        const auto ours = median_of(f, our_impl);
        if (!ours) continue;
        group g{title_of(f), {}};
        for (const auto& impl : results.impls()) {
            const auto theirs = median_of(f, impl);
            if (impl == our_impl || is_reference_impl(impl) || !theirs) continue;
            const double factor = advantage(*ours, *theirs, meta_for(f.key).higher_is_better);
            if (!std::isfinite(factor) || factor <= 0) continue; // a zero on either side
            g.bars.push_back({impl, factor});
            lo = std::min(lo, factor);
            hi = std::max(hi, factor);
        }
        if (!g.bars.empty()) groups.push_back(std::move(g));
    }
    const int lo_decade = static_cast<int>(std::floor(std::log10(lo)));
    const int hi_decade = static_cast<int>(std::ceil(std::log10(hi)));

    const double label_width = 140, plot_width = 560, right_margin = 60;
    const double bar_height = 13, group_gap = 12, top = 56, legend_height = 30;
    double height = top;
    for (const auto& g : groups)
        height += static_cast<double>(g.bars.size() + 1) * bar_height + group_gap;
    const double plot_bottom = height;
    height += legend_height;
    const double width = label_width + plot_width + right_margin;
    auto x_of = [&](double factor) {
        return label_width +
               plot_width * (std::log10(factor) - lo_decade) / (hi_decade - lo_decade);
    };
    const char* palette[] = {"#4c72b0", "#dd8452", "#55a868", "#c44e52",
                             "#8172b3", "#937860", "#da8bc3", "#8c8c8c"};
    auto colour_of = [&](const std::string& impl) {
        const auto& impls = results.impls();
        const auto index = std::find(impls.begin(), impls.end(), impl) - impls.begin();
        return palette[static_cast<std::size_t>(index) % std::size(palette)];
    };
    auto num = [](double v) {
        char text[32];
        std::snprintf(text, sizeof text, "%.1f", v);
        return std::string(text);
    };

    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) +
                      "\" height=\"" + num(height) +
                      "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += "<text x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">How many times better "
           "unblock is than each peer (log scale; right of 1× = unblock better)</text>\n";
    svg += "<text x=\"10\" y=\"34\" fill=\"#555\">" + svg_escape(caption) + "</text>\n";
    for (int d = lo_decade; d <= hi_decade; ++d) {
        const double x = x_of(std::pow(10.0, d));
        char label[32];
        std::snprintf(label, sizeof label, "%g", std::pow(10.0, d)); // 0.01, 0.1, 1, 10, 100
        svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(top - 6) + "\" x2=\"" + num(x) +
               "\" y2=\"" + num(plot_bottom) + "\" stroke=\"" + (d == 0 ? "#000" : "#ddd") +
               "\"/>\n";
        svg += "<text x=\"" + num(x) + "\" y=\"" + num(top - 10) +
               "\" text-anchor=\"middle\" fill=\"#555\">" + std::string(label) + "×</text>\n";
    }
    double y = top;
    for (const auto& g : groups) {
        svg += "<text x=\"10\" y=\"" + num(y + bar_height - 2) + "\" font-weight=\"bold\">" +
               svg_escape(g.title) + "</text>\n";
        y += bar_height;
        for (const auto& b : g.bars) {
            const double x1 = x_of(1), x2 = x_of(b.factor);
            svg += "<text x=\"" + num(label_width - 6) + "\" y=\"" + num(y + bar_height - 3) +
                   "\" text-anchor=\"end\" fill=\"#555\">" + svg_escape(b.impl) + "</text>\n";
            svg += "<rect x=\"" + num(std::min(x1, x2)) + "\" y=\"" + num(y + 1) + "\" width=\"" +
                   num(std::max(std::fabs(x2 - x1), 1.0)) + "\" height=\"" + num(bar_height - 2) +
                   "\" fill=\"" + colour_of(b.impl) + "\"/>\n";
            svg += "<text x=\"" + num(std::max(x1, x2) + 4) + "\" y=\"" + num(y + bar_height - 3) +
                   "\">" + svg_escape(format_ratio(b.factor)) + "</text>\n";
            y += bar_height;
        }
        y += group_gap;
    }
    svg += "<text x=\"10\" y=\"" + num(plot_bottom + 20) +
           "\" fill=\"#555\">Each bar: the peer's median ÷ unblock's for times, bytes and "
           "allocations; unblock's ÷ the peer's for rates.</text>\n";
    svg += "</svg>\n";
    return svg;
}

} // namespace runner
