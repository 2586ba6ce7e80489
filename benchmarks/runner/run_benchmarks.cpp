// The benchmark runner (tools/run_benchmarks.sh runs it): runs every workload
// of BENCHMARKS.md for unblock and each peer the build found, interleaved
// (round 1: W1 unblock, W1 asio, ..., W2 unblock, ...; round 2: the same), so
// that drift of this shared machine hits every implementation alike. Prints
// the figures as a table with unblock's ratio to each peer and the targets,
// and can write them as Markdown (into docs/benchmarks.md) and an SVG plot.
//
//
// W1 and W2 run a second time in each round with one CPU-bound process per
// core beside them (figures "W1-hogs", "W2-hogs"; --no-hogs skips that pass):
// on a busy machine spinning for a completion costs what it saves when idle.
//
//   run_benchmarks --manifest <build>/benchmarks/manifest.tsv [--rounds 3] [--smoke]
//                  [--only W1,W5-memory] [--impls unblock,tokio] [--no-hogs]
//                  [--markdown docs/benchmarks.md] [--svg docs/benchmarks.svg]
#include "child_process.hpp"
#include "cpu_hogs.hpp"
#include "machine.hpp"
#include "report.hpp"
#include "svg_plot.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

using runner::result_set;

struct run {
    std::string workload;
    std::string impl;
    std::vector<std::string> argv;
};

struct options {
    std::string manifest;
    int rounds = 3;
    bool smoke = false;
    bool hogs = true; ///< the contended second pass of W1 and W2
    std::vector<std::string> only_workloads;
    std::vector<std::string> only_impls;
    std::string markdown_path;
    std::string svg_path;
};

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, separator))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

bool selected(const std::vector<std::string>& filter, const std::string& name) {
    return filter.empty() || std::find(filter.begin(), filter.end(), name) != filter.end();
}

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr,
                 "run_benchmarks: %s\n"
                 "usage: run_benchmarks --manifest FILE [--rounds N] [--smoke] [--only W1,W2]\n"
                 "                      [--impls unblock,asio-handwritten] [--no-hogs]\n"
                 "                      [--markdown FILE] [--svg FILE]\n",
                 message.c_str());
    std::exit(2);
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--manifest") {
            o.manifest = value();
        } else if (arg == "--rounds") {
            o.rounds = std::atoi(value().c_str());
            if (o.rounds < 1) usage_error("--rounds must be at least 1");
        } else if (arg == "--smoke") {
            o.smoke = true;
        } else if (arg == "--no-hogs") {
            o.hogs = false;
        } else if (arg == "--only") {
            o.only_workloads = split(value(), ',');
        } else if (arg == "--impls") {
            o.only_impls = split(value(), ',');
        } else if (arg == "--markdown") {
            o.markdown_path = value();
        } else if (arg == "--svg") {
            o.svg_path = value();
        } else {
            usage_error("unknown argument '" + arg + "'");
        }
    }
    if (o.manifest.empty()) usage_error("--manifest is required");
    return o;
}

/// The manifest CMake generated: `workload TAB impl TAB command TAB arg...` per
/// line; `#note TAB text` lines describe the peers' versions.
std::vector<run> read_manifest(const std::string& path, std::vector<std::string>& notes) {
    std::ifstream in(path);
    if (!in)
        usage_error("cannot read the manifest '" + path +
                    "' (configure with -DUNBLOCK_BUILD_BENCHMARKS=ON first)");
    std::vector<run> runs;
    std::string line;
    while (std::getline(in, line)) {
        auto fields = split(line, '\t');
        if (fields.size() >= 2 && fields[0] == "#note") {
            notes.push_back(fields[1]);
        } else if (fields.size() >= 3) {
            runs.push_back({fields[0], fields[1], {fields.begin() + 2, fields.end()}});
        }
    }
    return runs;
}

/// The workloads in manifest order, each once.
std::vector<std::string> workloads_of(const std::vector<run>& runs) {
    std::vector<std::string> names;
    for (const auto& r : runs)
        if (std::find(names.begin(), names.end(), r.workload) == names.end())
            names.push_back(r.workload);
    return names;
}

std::string markdown_section(const result_set& results, const options& o,
                             const std::vector<std::string>& notes, const std::string& svg_link,
                             const std::vector<std::string>& failures) {
    std::string md = "<!-- benchmark-results:begin (written by tools/run_benchmarks.sh) -->\n";
    md += "Measured on " + runner::utc_date() + ", " + std::to_string(o.rounds) +
          " interleaved rounds" + (o.smoke ? " (SMOKE sizes: not figures)" : "") + ".\n\n";
    md += "- Machine: " + runner::machine_description() + "\n";
    if (o.hogs)
        md += "- W1-hogs, W2-hogs: W1 and W2 again, each with one CPU-bound process per core "
              "running beside it (" +
              std::to_string(std::thread::hardware_concurrency()) + " hogs).\n";
    md += "- Compiler: " + runner::compiler_description() + ", Release\n";
    for (const auto& note : notes)
        md += "- " + note + "\n";
    for (const auto& failure : failures)
        md += "- **FAILED run:** " + failure + "\n";
    md += "\n### Every figure\n\nMedian, min – max over the rounds, and unblock's median ÷ each "
          "impl's (below 1 is better for times, bytes and allocations; above 1 for rates).\n\n";
    md += runner::render_markdown(runner::figures_table(results));
    md += "\n### The targets of BENCHMARKS.md\n\n";
    md += runner::render_markdown(runner::targets_table(results));
    if (!svg_link.empty()) md += "\n![unblock's advantage over each peer](" + svg_link + ")\n";
    md += "<!-- benchmark-results:end -->\n";
    return md;
}

/// Replaces the results section of `path`, between its markers; writes a new
/// file if there is none. Refuses (returns false) to touch an existing file
/// without both markers in order: its hand-written text would be lost.
bool write_markdown(const std::string& path, const std::string& section) {
    std::string text;
    const bool exists = std::filesystem::exists(path);
    if (exists) {
        std::ifstream in(path);
        std::stringstream buffer;
        buffer << in.rdbuf();
        text = buffer.str();
    }
    const auto begin = text.find("<!-- benchmark-results:begin");
    const std::string end_marker = "<!-- benchmark-results:end -->\n";
    const auto end = begin == std::string::npos ? begin : text.find(end_marker, begin);
    if (end != std::string::npos) {
        text.replace(begin, end + end_marker.size() - begin, section);
    } else if (!exists) {
        text = "# unblock benchmarks\n\n" + section;
    } else {
        std::fprintf(stderr,
                     "run_benchmarks: %s has no '<!-- benchmark-results:begin' ... "
                     "'<!-- benchmark-results:end -->' section; not touching it (add the markers "
                     "where the results belong)\n",
                     path.c_str());
        return false;
    }
    std::ofstream out(path);
    out << text;
    return static_cast<bool>(out.flush());
}

/// Writes `text` to `path`; says so, or says why not.
bool write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out.flush()) {
        std::fprintf(stderr, "run_benchmarks: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    const options o = parse_options(argc, argv);
    std::vector<std::string> notes;
    std::vector<run> runs = read_manifest(o.manifest, notes);
    std::erase_if(runs, [&](const run& r) {
        return !selected(o.only_workloads, r.workload) || !selected(o.only_impls, r.impl);
    });
    if (runs.empty()) usage_error("no run matches --only/--impls");

    runner::result_set results;
    std::vector<std::string> failures;
    // Runs one program and files its figures under its workload + `suffix`.
    auto execute = [&](const run& r, int round, const std::string& suffix) {
        auto argv_for_run = r.argv;
        if (o.smoke) argv_for_run.push_back("--smoke");
        const std::string workload = r.workload + suffix;
        std::fprintf(stderr, "[round %d/%d] %-10s %-18s ", round, o.rounds, workload.c_str(),
                     r.impl.c_str());
        const auto start = std::chrono::steady_clock::now();
        runner::command_output output;
        try {
            output = runner::run_command(argv_for_run);
        } catch (const std::exception& e) { // e.g. the program is not built
            std::fprintf(stderr, "cannot run: %s\n", e.what());
            output.exit_status = 127;
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::size_t values = 0;
        try {
            values = results.add_output(output.stdout_text, suffix);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bad output: %s\n", e.what());
        }
        std::fprintf(stderr, "%5.1f s\n", seconds);
        if (output.exit_status != 0 || values == 0) {
            failures.push_back(workload + " " + r.impl + " (exit status " +
                               std::to_string(output.exit_status) + ", " + std::to_string(values) +
                               " figures)");
            std::fprintf(stderr, "  FAILED; it printed:\n%s\n", output.stdout_text.c_str());
        }
    };
    const auto contended = [&](const std::string& workload) {
        return o.hogs && (workload == "W1" || workload == "W2");
    };
    for (int round = 1; round <= o.rounds; ++round) {
        for (const auto& workload : workloads_of(runs)) {
            for (const auto& r : runs)
                if (r.workload == workload) execute(r, round, "");
            if (!contended(workload)) continue;
            const runner::cpu_hogs hogs;
            for (const auto& r : runs)
                if (r.workload == workload) execute(r, round, "-hogs");
        }
    }

    std::printf("\n%s\n", render_text(runner::figures_table(results)).c_str());
    std::printf("%s\n", render_text(runner::targets_table(results)).c_str());

    const std::string caption = "Medians of " + std::to_string(o.rounds) + " rounds, " +
                                runner::utc_date() + "; " + runner::machine_description();
    bool written = true;
    std::string svg_link;
    if (!o.svg_path.empty()) {
        written = write_file(o.svg_path, runner::svg_plot(results, caption)) && written;
        namespace fs = std::filesystem;
        svg_link = o.svg_path;
        if (!o.markdown_path.empty()) {
            const auto markdown_dir = fs::absolute(o.markdown_path).parent_path();
            svg_link = fs::relative(fs::absolute(o.svg_path), markdown_dir).generic_string();
        }
    }
    if (!o.markdown_path.empty()) {
        written = write_markdown(o.markdown_path,
                                 markdown_section(results, o, notes, svg_link, failures)) &&
                  written;
    }
    if (written && !o.svg_path.empty()) std::fprintf(stderr, "wrote %s\n", o.svg_path.c_str());
    if (written && !o.markdown_path.empty())
        std::fprintf(stderr, "wrote %s\n", o.markdown_path.c_str());
    for (const auto& failure : failures)
        std::fprintf(stderr, "run_benchmarks: FAILED: %s\n", failure.c_str());
    return failures.empty() && written ? 0 : 1;
}
