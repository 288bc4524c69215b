// The container images without a Docker engine: docker/*.Dockerfile and
// /.dockerignore are parsed here (continuation lines, comments, parser
// directives, JSON and shell forms, flags such as --from=, stages, ARG and
// ENV substitution; .dockerignore with Go filepath.Match patterns, `**` and
// `!` exceptions, as Docker documents them) and checked against the
// repository and this build tree:
//  - multi-stage, every base image pinned (a version or a digest);
//  - every COPY/ADD from the build context names a path that exists and
//    that .dockerignore does not exclude, and copies no secret;
//  - every COPY --from=<builder> of the builder's CMake build directory maps
//    to a file this build made (the mapping comes from the builder's
//    WORKDIR and `cmake -B DIR`);
//  - the ENTRYPOINT and the HEALTHCHECK program are installed by a COPY in
//    the final stage; a non-root numeric USER; the contract's ports, health
//    URLs and binaries;
//  - no ENV/ARG that looks like a credential has a value, and .dockerignore
//    keeps keys, certificates and token files out of the context;
//  - the default commands (ENTRYPOINT + CMD) start this build's programs,
//    which then pass the images' HEALTHCHECK commands.
// Negative tests show that each check catches what it is for.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/sha256.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"

namespace pgan::deploy {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string Trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(c));
  return s;
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool HasWildcard(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

// The paths under `dir` relative to `root`, skipping what `skip` says,
// without descending into skipped directories (build trees are large).
template <typename Skip>
std::vector<std::string> Walk(const fs::path& root, const fs::path& dir,
                              const Skip& skip) {
  std::vector<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(dir);
       it != fs::recursive_directory_iterator(); ++it) {
    const std::string rel =
        it->path().lexically_relative(root).generic_string();
    if (skip(rel)) {
      it.disable_recursion_pending();
      continue;
    }
    paths.push_back(rel);
  }
  return paths;
}

// ---------------------------------------------------------------------------
// Go filepath.Match-style patterns as Docker uses them in .dockerignore:
// `*` any run of non-separators, `?` one non-separator, `[...]` a class
// (`[^...]` or `[!...]` negated), `\` escapes, and `**` any number of
// directories (`**/` also none).
std::regex CompilePattern(const std::string& pattern) {
  std::string re = "^";
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '*') {
        ++i;
        if (i + 1 < pattern.size() && pattern[i + 1] == '/') {
          ++i;
          re += "(.*/)?";
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '[') {
      const size_t close = pattern.find(']', i + 1);
      if (close == std::string::npos) {
        re += "\\[";
        continue;
      }
      std::string cls = pattern.substr(i + 1, close - i - 1);
      if (!cls.empty() && cls[0] == '!') cls[0] = '^';
      re += "[" + cls + "]";
      i = close;
    } else if (c == '\\' && i + 1 < pattern.size()) {
      ++i;
      re += '\\';
      re += pattern[i];
    } else if (std::string(".+()|{}^$").find(c) != std::string::npos) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  return std::regex(re + "$");
}

// The lexical clean-up Go's filepath.Clean does, on '/'-separated paths.
std::string CleanPath(const std::string& path) {
  std::string cleaned = fs::path(path).lexically_normal().generic_string();
  while (cleaned.size() > 1 && cleaned.back() == '/') cleaned.pop_back();
  return cleaned.empty() ? "." : cleaned;
}

class DockerIgnore {
 public:
  static DockerIgnore Parse(const std::string& text) {
    DockerIgnore ignore;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line[0] == '#') continue;
      std::string pattern = Trim(line);
      if (pattern.empty()) continue;
      Pattern p;
      if (pattern[0] == '!') {
        p.exception = true;
        pattern = Trim(pattern.substr(1));
      }
      pattern = CleanPath(pattern);
      if (pattern.size() > 1 && pattern[0] == '/') pattern.erase(0, 1);
      p.text = pattern;
      p.re = CompilePattern(pattern);
      ignore.patterns_.push_back(p);
    }
    return ignore;
  }

  // Whether the context leaves out `path` (relative to the context root):
  // the last pattern that matches it or one of its parent directories
  // decides.
  bool Excluded(const std::string& path) const {
    const std::string file = CleanPath(path);
    std::vector<std::string> parents;
    for (size_t slash = file.find('/'); slash != std::string::npos;
         slash = file.find('/', slash + 1)) {
      parents.push_back(file.substr(0, slash));
    }
    bool excluded = false;
    for (const Pattern& p : patterns_) {
      bool match = std::regex_match(file, p.re);
      for (size_t i = 0; !match && i < parents.size(); ++i) {
        match = std::regex_match(parents[i], p.re);
      }
      if (match) excluded = !p.exception;
    }
    return excluded;
  }

 private:
  struct Pattern {
    std::string text;
    bool exception = false;
    std::regex re;
  };
  std::vector<Pattern> patterns_;
};

// ---------------------------------------------------------------------------
// Dockerfile parsing.
struct Instruction {
  int line = 0;
  std::string keyword;                       // upper case
  std::map<std::string, std::string> flags;  // --from=builder: from -> builder
  std::string args;   // after the flags, variables substituted where Docker
                      // substitutes them
  bool json = false;  // exec form
  std::vector<std::string> words;  // the JSON array, or args split at spaces

  std::optional<std::string> Flag(const std::string& name) const {
    const auto it = flags.find(name);
    if (it == flags.end()) return std::nullopt;
    return it->second;
  }
};

struct Stage {
  int index = 0;
  std::string base;  // FROM's image, substituted
  std::string name;  // AS name, lower case; may be empty
  std::vector<Instruction> instructions;
};

struct Dockerfile {
  std::vector<Instruction> global;  // ARGs before the first FROM
  std::vector<Stage> stages;
  std::vector<std::string> errors;

  const Stage* FindStage(const std::string& ref, int before) const {
    for (int i = 0; i < before && i < static_cast<int>(stages.size()); ++i) {
      if (stages[i].name == Lower(ref) || std::to_string(i) == ref) {
        return &stages[i];
      }
    }
    return nullptr;
  }
  const Stage& Final() const { return stages.back(); }
};

using Env = std::map<std::string, std::string>;

// $NAME, ${NAME}, ${NAME:-word}, ${NAME:+word}; `escape` before $ keeps it.
std::string Substitute(const std::string& s, const Env& env, char escape) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == escape && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (s[i] != '$' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    std::string name, modifier, word;
    if (s[i + 1] == '{') {
      const size_t close = s.find('}', i + 2);
      if (close == std::string::npos) {
        out += s.substr(i);
        break;
      }
      std::string inner = s.substr(i + 2, close - i - 2);
      const size_t colon = inner.find(':');
      name = inner.substr(0, colon);
      if (colon != std::string::npos && colon + 1 < inner.size()) {
        modifier = inner.substr(colon + 1, 1);
        word = inner.substr(colon + 2);
      }
      i = close;
    } else {
      size_t j = i + 1;
      while (j < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) {
        ++j;
      }
      if (j == i + 1) {
        out += '$';
        continue;
      }
      name = s.substr(i + 1, j - i - 1);
      i = j - 1;
    }
    const auto it = env.find(name);
    const bool set = it != env.end() && !it->second.empty();
    if (modifier == "-") {
      out += set ? it->second : Substitute(word, env, escape);
    } else if (modifier == "+") {
      out += set ? Substitute(word, env, escape) : "";
    } else if (it != env.end()) {
      out += it->second;
    }
  }
  return out;
}

// key=value pairs of ENV, ARG and LABEL, with quotes and escapes.
std::vector<std::pair<std::string, std::string>> KeyValues(
    const std::string& args, char escape) {
  std::vector<std::string> tokens;
  std::string token;
  bool in_token = false;
  char quote = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const char c = args[i];
    if (c == escape && i + 1 < args.size() && quote != '\'') {
      token += args[++i];
      in_token = true;
    } else if (quote) {
      if (c == quote) {
        quote = 0;
      } else {
        token += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_token = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_token) tokens.push_back(token);
      token.clear();
      in_token = false;
    } else {
      token += c;
      in_token = true;
    }
  }
  if (in_token) tokens.push_back(token);
  std::vector<std::pair<std::string, std::string>> pairs;
  if (!tokens.empty() && tokens[0].find('=') == std::string::npos &&
      tokens.size() > 1) {
    // The old `ENV NAME value with spaces` form.
    std::string value =
        Trim(args.substr(args.find(tokens[0]) + tokens[0].size()));
    pairs.emplace_back(tokens[0], value);
    return pairs;
  }
  for (const std::string& t : tokens) {
    const size_t eq = t.find('=');
    if (eq == std::string::npos) {
      pairs.emplace_back(t, "");
    } else {
      pairs.emplace_back(t.substr(0, eq), t.substr(eq + 1));
    }
  }
  return pairs;
}

Dockerfile ParseDockerfile(const std::string& text) {
  Dockerfile df;
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
  }
  // Parser directives: `# name=value` lines before anything else.
  char escape = '\\';
  size_t first = 0;
  for (; first < lines.size(); ++first) {
    static const std::regex kDirective(R"(^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$)");
    std::smatch m;
    if (!std::regex_match(lines[first], m, kDirective)) break;
    if (Lower(m[1]) == "escape") escape = m[2].str()[0];
  }

  Env global_args;
  Env stage_env;
  const std::set<std::string> kSubstituted = {
      "ADD",  "COPY",       "ENV",    "EXPOSE",  "FROM",   "LABEL",
      "USER", "STOPSIGNAL", "VOLUME", "WORKDIR", "ONBUILD"};
  const std::set<std::string> kFlagged = {"FROM", "COPY", "ADD", "RUN",
                                          "HEALTHCHECK"};

  std::string logical;
  int start_line = 0;
  auto finish = [&](const std::string& raw, int line) {
    std::string body = Trim(raw);
    if (body.empty()) return;
    Instruction ins;
    ins.line = line;
    const size_t space = body.find_first_of(" \t");
    ins.keyword = Upper(body.substr(0, space));
    std::string rest =
        space == std::string::npos ? "" : Trim(body.substr(space));
    if (kFlagged.count(ins.keyword)) {
      while (rest.rfind("--", 0) == 0) {
        const size_t end = rest.find_first_of(" \t");
        const std::string flag = rest.substr(2, end - 2);
        const size_t eq = flag.find('=');
        ins.flags[flag.substr(0, eq)] =
            eq == std::string::npos ? "" : flag.substr(eq + 1);
        rest = end == std::string::npos ? "" : Trim(rest.substr(end));
      }
    }
    if (ins.keyword == "HEALTHCHECK") {
      const auto words = SplitWords(rest);
      if (!words.empty() && Upper(words[0]) == "CMD") {
        rest = Trim(rest.substr(rest.find(words[0]) + 3));
      } else if (!words.empty() && Upper(words[0]) == "NONE") {
        rest = "";
        ins.flags["none"] = "";
      }
    }
    // FROM sees the ARGs declared before the first FROM; the other
    // instructions those of their stage and its ENVs.
    const Env& env =
        df.stages.empty() || ins.keyword == "FROM" ? global_args : stage_env;
    for (auto& [name, value] : ins.flags)
      value = Substitute(value, env, escape);
    if (kSubstituted.count(ins.keyword) && ins.keyword != "ENV" &&
        ins.keyword != "LABEL") {
      rest = Substitute(rest, env, escape);
    }
    ins.args = rest;
    if (!rest.empty() && rest[0] == '[') {
      const auto json = nlohmann::json::parse(rest, nullptr, false);
      if (json.is_array() &&
          std::all_of(json.begin(), json.end(),
                      [](const auto& v) { return v.is_string(); })) {
        ins.json = true;
        for (const auto& v : json) ins.words.push_back(v.get<std::string>());
      }
    }
    if (!ins.json) ins.words = SplitWords(rest);

    if (ins.keyword == "FROM") {
      Stage stage;
      stage.index = static_cast<int>(df.stages.size());
      if (ins.words.empty()) {
        df.errors.push_back("line " + std::to_string(line) +
                            ": FROM without "
                            "an image");
      } else {
        stage.base = ins.words[0];
        if (ins.words.size() == 3 && Lower(ins.words[1]) == "as") {
          stage.name = Lower(ins.words[2]);
        } else if (ins.words.size() != 1) {
          df.errors.push_back("line " + std::to_string(line) +
                              ": FROM IMAGE [AS NAME] expected");
        }
      }
      stage.instructions.push_back(ins);
      df.stages.push_back(stage);
      stage_env.clear();
      return;
    }
    if (ins.keyword == "ARG" || ins.keyword == "ENV") {
      for (const auto& [name, value] : KeyValues(ins.args, escape)) {
        Env& target = df.stages.empty() ? global_args : stage_env;
        const bool declared_only =
            ins.keyword == "ARG" && ins.args.find('=') == std::string::npos;
        if (declared_only && !df.stages.empty() && global_args.count(name)) {
          target[name] = global_args[name];
        } else if (!declared_only) {
          target[name] = Substitute(value, env, escape);
        } else {
          target.emplace(name, "");
        }
      }
    }
    if (df.stages.empty()) {
      if (ins.keyword != "ARG") {
        df.errors.push_back("line " + std::to_string(line) + ": " +
                            ins.keyword + " before the first FROM");
      }
      df.global.push_back(ins);
    } else {
      df.stages.back().instructions.push_back(ins);
    }
  };

  for (size_t i = first; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string trimmed = Trim(line);
    // Comment lines go, also in the middle of a continued instruction;
    // empty lines end nothing.
    if (trimmed.empty() || trimmed[0] == '#') continue;
    if (logical.empty()) start_line = static_cast<int>(i) + 1;
    std::string content = line;
    while (!content.empty() &&
           (content.back() == ' ' || content.back() == '\t')) {
      content.pop_back();
    }
    if (!content.empty() && content.back() == escape) {
      content.pop_back();
      logical += content;
      continue;
    }
    logical += content;
    finish(logical, start_line);
    logical.clear();
  }
  if (!logical.empty()) finish(logical, start_line);
  if (df.stages.empty()) df.errors.push_back("no FROM");
  return df;
}

// ---------------------------------------------------------------------------
// What a stage's COPY/ADD instructions install, and where a builder builds.

// A COPY/ADD's sources and its destination, made absolute with WORKDIR.
struct Copy {
  const Instruction* ins = nullptr;
  std::vector<std::string> sources;
  std::string dest;
};

std::vector<Copy> Copies(const Stage& stage) {
  std::vector<Copy> copies;
  fs::path workdir = "/";
  for (const Instruction& ins : stage.instructions) {
    if (ins.keyword == "WORKDIR" && !ins.words.empty()) {
      workdir = (workdir / ins.words[0]).lexically_normal();
    }
    if ((ins.keyword != "COPY" && ins.keyword != "ADD") ||
        ins.words.size() < 2) {
      continue;
    }
    Copy copy;
    copy.ins = &ins;
    copy.sources.assign(ins.words.begin(), ins.words.end() - 1);
    const std::string dest = ins.words.back();
    copy.dest = (workdir / dest).lexically_normal().generic_string();
    if (dest.back() == '/' && copy.dest.back() != '/') copy.dest += '/';
    copies.push_back(copy);
  }
  return copies;
}

// The files a stage's COPY/ADD instructions put in place: DEST for one
// source copied to a file name, DEST/BASENAME for a directory destination.
std::set<std::string> InstalledPaths(const Stage& stage) {
  std::set<std::string> paths;
  for (const Copy& copy : Copies(stage)) {
    const bool to_dir = copy.dest.back() == '/' || copy.sources.size() > 1;
    for (const std::string& source : copy.sources) {
      if (to_dir) {
        paths.insert((fs::path(copy.dest) / fs::path(source).filename())
                         .lexically_normal()
                         .generic_string());
      } else {
        paths.insert(copy.dest);
      }
    }
  }
  return paths;
}

// Where a stage's `cmake ... -B DIR` configures, absolute: DIR against the
// WORKDIR in force at that RUN.
std::optional<fs::path> BuildDirectory(const Stage& stage) {
  fs::path workdir = "/";
  for (const Instruction& ins : stage.instructions) {
    if (ins.keyword == "WORKDIR" && !ins.words.empty()) {
      workdir = (workdir / ins.words[0]).lexically_normal();
    }
    if (ins.keyword != "RUN") continue;
    const auto words = SplitWords(ins.args);
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i] != "cmake") continue;
      for (size_t j = i + 1; j < words.size() && words[j] != "&&"; ++j) {
        if (words[j] == "-B" && j + 1 < words.size()) {
          return (workdir / words[j + 1]).lexically_normal();
        }
        if (words[j].rfind("-B", 0) == 0 && words[j].size() > 2) {
          return (workdir / words[j].substr(2)).lexically_normal();
        }
      }
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The checks. Each returns the problems it found, empty when all is well.
using Problems = std::vector<std::string>;

std::string Where(const Instruction& ins) {
  return "line " + std::to_string(ins.line) + " (" + ins.keyword + "): ";
}

Problems CheckMultiStage(const Dockerfile& df) {
  if (df.stages.size() >= 2) return {};
  return {
      "a single stage: build in a builder stage and copy the binaries "
      "into a runtime stage"};
}

// An image reference is pinned when it has a digest, or a tag that is not
// `latest` and holds a version (major.minor at least).
bool Pinned(const std::string& image) {
  if (image.find("@sha256:") != std::string::npos) return true;
  const size_t slash = image.rfind('/');
  const size_t colon = image.rfind(':');
  if (colon == std::string::npos ||
      (slash != std::string::npos && colon < slash)) {
    return false;
  }
  const std::string tag = image.substr(colon + 1);
  static const std::regex kVersion(R"(\d+\.\d+)");
  return tag != "latest" && std::regex_search(tag, kVersion);
}

Problems CheckPinned(const Dockerfile& df) {
  Problems problems;
  for (const Stage& stage : df.stages) {
    const Instruction& from = stage.instructions.front();
    if (stage.base == "scratch" || df.FindStage(stage.base, stage.index)) {
      continue;
    }
    if (!Pinned(stage.base)) {
      problems.push_back(Where(from) + "base image " + stage.base +
                         " is not pinned to a version or digest");
    }
    for (const Instruction& ins : stage.instructions) {
      const auto from_flag = ins.Flag("from");
      if ((ins.keyword == "COPY" || ins.keyword == "ADD") && from_flag &&
          !df.FindStage(*from_flag, stage.index) && !Pinned(*from_flag)) {
        problems.push_back(Where(ins) + "--from=" + *from_flag +
                           " is not pinned to a version or digest");
      }
    }
  }
  return problems;
}

// File names that are secrets wherever they are.
bool LooksLikeSecretFile(const std::string& path) {
  static const std::vector<std::regex> kSecret = {
      CompilePattern("*.pem"),       CompilePattern("*.key"),
      CompilePattern("*.p12"),       CompilePattern("*.pfx"),
      CompilePattern("tokens*.txt"), CompilePattern("*.token"),
      CompilePattern("id_rsa*"),     CompilePattern("id_ecdsa*"),
      CompilePattern("id_ed25519*"), CompilePattern(".env")};
  const std::string name = fs::path(path).filename().string();
  return std::any_of(kSecret.begin(), kSecret.end(), [&](const auto& re) {
    return std::regex_match(name, re);
  });
}

// COPY/ADD from the build context: the source exists in `context`, is not
// excluded by `ignore`, and neither it nor anything sent with it is a
// secret.
Problems CheckContextCopies(const Dockerfile& df, const fs::path& context,
                            const DockerIgnore& ignore) {
  Problems problems;
  for (const Stage& stage : df.stages) {
    for (const Copy& copy : Copies(stage)) {
      if (copy.ins->Flag("from")) continue;
      for (std::string source : copy.sources) {
        const std::string where = Where(*copy.ins) + source + ": ";
        if (source.find("://") != std::string::npos) {
          problems.push_back(where +
                             "a URL: download in a RUN with a "
                             "checksum instead");
          continue;
        }
        source = CleanPath(source);
        if (source.size() > 1 && source[0] == '/') source.erase(0, 1);
        if (source == ".." || source.rfind("../", 0) == 0) {
          problems.push_back(where + "outside the build context");
          continue;
        }
        std::vector<std::string> matches;
        if (HasWildcard(source)) {
          // Walk only the directory above the first wildcard.
          fs::path base;
          for (const auto& part : fs::path(source).parent_path()) {
            if (HasWildcard(part.string())) break;
            base /= part;
          }
          const std::regex re = CompilePattern(source);
          const auto never = [](const std::string&) { return false; };
          if (!fs::is_directory(context / base)) base.clear();
          for (const std::string& rel : Walk(context, context / base, never)) {
            if (std::regex_match(rel, re)) matches.push_back(rel);
          }
        } else if (fs::exists(context / source)) {
          matches.push_back(source);
        }
        if (matches.empty()) {
          problems.push_back(where + "not in the build context");
          continue;
        }
        bool any_sent = false;
        for (const std::string& match : matches) {
          if (match != "." && ignore.Excluded(match)) continue;
          any_sent = true;
          if (LooksLikeSecretFile(match)) {
            problems.push_back(where + "copies a secret (" + match + ")");
          }
          if (!fs::is_directory(context / match)) continue;
          const auto excluded = [&](const std::string& rel) {
            return ignore.Excluded(rel);
          };
          for (const std::string& rel :
               Walk(context, context / match, excluded)) {
            if (LooksLikeSecretFile(rel)) {
              problems.push_back(where + "sends a secret along (" + rel + ")");
            }
          }
        }
        if (!any_sent) {
          problems.push_back(where +
                             "excluded by .dockerignore, so the "
                             "build would not find it");
        }
      }
    }
  }
  return problems;
}

// The folders `cmake` (a top-level CMakeLists.txt) adds whatever its
// options: add_subdirectory() outside every if().
std::vector<std::string> UnconditionalSubdirectories(const std::string& cmake) {
  std::vector<std::string> dirs;
  int depth = 0;
  std::istringstream lines(cmake);
  std::string line;
  const std::regex opens(R"(^\s*if\s*\()"), closes(R"(^\s*endif\s*\()");
  const std::regex adds(R"(^\s*add_subdirectory\s*\(\s*([A-Za-z0-9_./-]+))");
  std::smatch m;
  while (std::getline(lines, line)) {
    if (std::regex_search(line, opens)) ++depth;
    if (std::regex_search(line, closes)) --depth;
    if (depth == 0 && std::regex_search(line, m, adds)) dirs.push_back(m[1]);
  }
  return dirs;
}

// Every folder in `needed` is copied from the context by some stage (as
// DIR, DIR/ or the whole context): a build without it fails to configure.
Problems CheckCopiesFolders(const Dockerfile& df,
                            const std::vector<std::string>& needed) {
  std::set<std::string> copied;
  for (const Stage& stage : df.stages) {
    for (const Copy& copy : Copies(stage)) {
      if (copy.ins->Flag("from")) continue;
      for (const std::string& source : copy.sources) {
        copied.insert(CleanPath(source));
      }
    }
  }
  Problems problems;
  for (const std::string& dir : needed) {
    if (copied.count(dir) == 0 && copied.count(".") == 0) {
      problems.push_back(dir +
                         "/: every build adds it (CMakeLists.txt), no COPY "
                         "brings it");
    }
  }
  return problems;
}

// COPY --from=STAGE of files under STAGE's CMake build directory: each must
// be a file of `binary_dir` (this build tree) at the same relative path.
// The final stage must install at least one such file.
Problems CheckBuilderOutputs(const Dockerfile& df, const fs::path& binary_dir) {
  Problems problems;
  int final_stage_outputs = 0;
  for (const Stage& stage : df.stages) {
    for (const Copy& copy : Copies(stage)) {
      const auto from = copy.ins->Flag("from");
      if (!from) continue;
      const Stage* builder = df.FindStage(*from, stage.index);
      if (!builder) continue;  // another image
      const auto build_dir = BuildDirectory(*builder);
      if (!build_dir) continue;
      for (const std::string& source : copy.sources) {
        const fs::path abs = (fs::path("/") / source).lexically_normal();
        const fs::path rel = abs.lexically_relative(*build_dir);
        if (rel.empty() || *rel.begin() == "..") continue;
        if (&stage == &df.Final()) ++final_stage_outputs;
        const fs::path here = binary_dir / rel;
        if (!fs::exists(here)) {
          problems.push_back(Where(*copy.ins) + source + " maps to " +
                             here.string() + ", which this build did not make");
        }
      }
    }
  }
  if (final_stage_outputs == 0) {
    problems.push_back(
        "the final stage copies nothing from a builder's "
        "CMake build directory");
  }
  return problems;
}

// Programs a stage may run without installing them.
bool InBaseImage(const std::string& path) {
  static const std::set<std::string> kBase = {"/bin/sh", "/bin/bash",
                                              "/usr/bin/env"};
  return kBase.count(path) > 0;
}

// The program of an ENTRYPOINT or HEALTHCHECK: the first word of the exec
// form, or /bin/sh for the shell form.
std::string Program(const Instruction& ins) {
  if (!ins.json) return "/bin/sh";
  return ins.words.empty() ? "" : ins.words[0];
}

const Instruction* Last(const Stage& stage, const std::string& keyword) {
  const Instruction* last = nullptr;
  for (const Instruction& ins : stage.instructions) {
    if (ins.keyword == keyword) last = &ins;
  }
  return last;
}

Problems CheckEntrypoint(const Dockerfile& df, const std::string& expected) {
  const Stage& final = df.Final();
  const Instruction* entrypoint = Last(final, "ENTRYPOINT");
  if (!entrypoint) return {"the final stage has no ENTRYPOINT"};
  Problems problems;
  if (!entrypoint->json) {
    problems.push_back(Where(*entrypoint) +
                       "use the exec (JSON) form, so that the program is "
                       "PID 1 and receives SIGTERM");
  }
  const std::string program = Program(*entrypoint);
  if (!InstalledPaths(final).count(program) && !InBaseImage(program)) {
    problems.push_back(Where(*entrypoint) + program +
                       " is not installed by a COPY in the final stage");
  }
  if (program != expected) {
    problems.push_back(Where(*entrypoint) + "runs " + program +
                       ", the contract says " + expected);
  }
  return problems;
}

Problems CheckHealthcheck(const Dockerfile& df, const std::string& url) {
  const Stage& final = df.Final();
  const Instruction* check = Last(final, "HEALTHCHECK");
  if (!check || check->Flag("none")) {
    return {"the final stage has no HEALTHCHECK"};
  }
  Problems problems;
  const std::string program = Program(*check);
  if (!InstalledPaths(final).count(program)) {
    problems.push_back(Where(*check) + program +
                       " is not installed by a COPY in the final stage");
  }
  if (std::find(check->words.begin(), check->words.end(), url) ==
      check->words.end()) {
    problems.push_back(Where(*check) + "does not check " + url);
  }
  return problems;
}

// A non-root user, numeric so that Kubernetes' runAsNonRoot can verify it.
Problems CheckUser(const Dockerfile& df, const std::string& expected) {
  const Instruction* user = Last(df.Final(), "USER");
  if (!user || user->words.empty()) {
    return {"the final stage has no USER: it would run as root"};
  }
  const std::string spec = user->words[0];
  const std::string name = spec.substr(0, spec.find(':'));
  if (name == "root" || name == "0") {
    return {Where(*user) + "runs as root"};
  }
  if (spec != expected && spec != expected + ":" + expected) {
    return {Where(*user) + spec + ": the contract's user is " + expected +
            " (numeric)"};
  }
  return {};
}

bool LooksLikeCredential(const std::string& name) {
  static const std::regex kCredential(
      "TOKEN|PASSWORD|PASSWD|SECRET|(^|_)KEY($|_)|CREDENTIAL|API_?KEY",
      std::regex::icase);
  return std::regex_search(name, kCredential);
}

Problems CheckNoSecretValues(const Dockerfile& df) {
  Problems problems;
  auto check = [&](const Instruction& ins) {
    if (ins.keyword != "ENV" && ins.keyword != "ARG") return;
    for (const auto& [name, value] : KeyValues(ins.args, '\\')) {
      if (LooksLikeCredential(name) && !value.empty()) {
        problems.push_back(Where(ins) + name +
                           " has a value in the image; pass it at run time");
      }
    }
  };
  for (const Instruction& ins : df.global) check(ins);
  for (const Stage& stage : df.stages) {
    for (const Instruction& ins : stage.instructions) check(ins);
    for (const Copy& copy : Copies(stage)) {
      for (const std::string& source : copy.sources) {
        if (LooksLikeSecretFile(source)) {
          problems.push_back(Where(*copy.ins) + source + " is a secret");
        }
      }
    }
  }
  return problems;
}

Problems CheckExposedPorts(const Dockerfile& df, const std::set<int>& ports) {
  std::set<int> exposed;
  for (const Instruction& ins : df.Final().instructions) {
    if (ins.keyword != "EXPOSE") continue;
    for (const std::string& word : ins.words) {
      static const std::regex kPort(R"((\d+)(/(tcp|udp))?)");
      std::smatch m;
      exposed.insert(std::regex_match(word, m, kPort) ? std::stoi(m[1]) : -1);
    }
  }
  if (exposed == ports) return {};
  std::string got, want;
  for (int p : exposed) got += " " + std::to_string(p);
  for (int p : ports) want += " " + std::to_string(p);
  return {"EXPOSE" + got + ", the contract says" + want};
}

// .dockerignore keeps private keys, certificates' keys, token files and the
// build trees out of every context.
Problems CheckIgnoreKeepsOut(const DockerIgnore& ignore) {
  Problems problems;
  for (const char* path :
       {"server.pem", "deploy/tls/server.pem", "tls.key", "a/b/c/client.key",
        "tokens.txt", "deploy/kubernetes/tokens-prod.txt", "id_rsa",
        "deploy/.ssh/id_ed25519", ".git/config", "build/CMakeCache.txt",
        "build-docker/services/pgan-coordinator", "tools/__pycache__/x.pyc"}) {
    if (!ignore.Excluded(path)) {
      problems.push_back(std::string(".dockerignore sends ") + path);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// The three images of the contract (/tmp/deploy-contract, docker/README.md).
struct ImageSpec {
  std::string label;
  std::string dockerfile;
  std::string entrypoint;
  std::vector<std::string> binaries;
  std::set<int> ports;
  std::string health_url;
};

std::ostream& operator<<(std::ostream& out, const ImageSpec& spec) {
  return out << spec.dockerfile;
}

const fs::path kSource = PGAN_SOURCE_DIR;
const fs::path kBinary = PGAN_BINARY_DIR;

class ImageTest : public ::testing::TestWithParam<ImageSpec> {
 protected:
  void SetUp() override {
    const fs::path path = kSource / GetParam().dockerfile;
    ASSERT_TRUE(fs::exists(path)) << path;
    df_ = ParseDockerfile(ReadFile(path));
    ignore_ = DockerIgnore::Parse(ReadFile(kSource / ".dockerignore"));
  }
  Dockerfile df_;
  DockerIgnore ignore_;
};

TEST_P(ImageTest, Parses) {
  EXPECT_THAT(df_.errors, IsEmpty());
  EXPECT_THAT(df_.global, IsEmpty());
}

TEST_P(ImageTest, IsMultiStage) {
  EXPECT_THAT(CheckMultiStage(df_), IsEmpty());
}

TEST_P(ImageTest, PinsEveryBaseImage) {
  EXPECT_THAT(CheckPinned(df_), IsEmpty());
}

TEST_P(ImageTest, CopiesFromTheContextExistAndAreNotIgnored) {
  EXPECT_THAT(CheckContextCopies(df_, kSource, ignore_), IsEmpty());
}

TEST_P(ImageTest, CopiesEveryFolderEveryBuildNeeds) {
  const std::vector<std::string> needed =
      UnconditionalSubdirectories(ReadFile(kSource / "CMakeLists.txt"));
  EXPECT_THAT(needed, Contains("common"));
  EXPECT_THAT(CheckCopiesFolders(df_, needed), IsEmpty());
}

TEST_P(ImageTest, CopiesFromTheBuilderAreFilesOfThisBuild) {
  EXPECT_THAT(CheckBuilderOutputs(df_, kBinary), IsEmpty());
}

TEST_P(ImageTest, InstallsTheContractsBinaries) {
  const auto installed = InstalledPaths(df_.Final());
  for (const std::string& binary : GetParam().binaries) {
    EXPECT_THAT(installed, Contains(binary));
  }
}

TEST_P(ImageTest, EntrypointIsInstalled) {
  EXPECT_THAT(CheckEntrypoint(df_, GetParam().entrypoint), IsEmpty());
}

TEST_P(ImageTest, HealthcheckRunsAnInstalledProgram) {
  EXPECT_THAT(CheckHealthcheck(df_, GetParam().health_url), IsEmpty());
}

TEST_P(ImageTest, RunsAsNonRootUser) {
  EXPECT_THAT(CheckUser(df_, "10001"), IsEmpty());
}

TEST_P(ImageTest, BakesInNoSecrets) {
  EXPECT_THAT(CheckNoSecretValues(df_), IsEmpty());
}

TEST_P(ImageTest, ExposesTheContractsPorts) {
  EXPECT_THAT(CheckExposedPorts(df_, GetParam().ports), IsEmpty());
}

// ---------------------------------------------------------------------------
// The default commands, run here: each image's ENTRYPOINT + CMD with this
// build's binaries, the container's absolute paths moved under a temporary
// root and its 0.0.0.0 ports to 127.0.0.1:0, then the image's HEALTHCHECK
// command against the process. A required flag missing from CMD, a flag the
// program does not know or a health URL it does not serve fails here.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const fs::path& log,
          const std::vector<std::string>& env = {})
      : log_(log), pid_(pgan::testing::Spawn(argv, log.string(), env)) {}
  ~Process() {
    if (pid_ <= 0 || exited_) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  // Waits up to 20 s for "<marker>N" in the log; N, or 0.
  int PortAfter(const std::string& marker) const {
    for (int i = 0; i < 200; ++i) {
      const std::string text = ReadFile(log_);
      const size_t at = text.find(marker);
      if (at != std::string::npos) {
        return std::atoi(text.c_str() + at + marker.size());
      }
      if (exited_ || waitpid(pid_, nullptr, WNOHANG) == pid_) {
        exited_ = true;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }
  std::string Log() const { return ReadFile(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  mutable bool exited_ = false;
};

// This build's file for an image's /usr/local/bin/NAME.
fs::path HostBinary(const std::string& container_path) {
  const std::string name = fs::path(container_path).filename().string();
  for (const char* dir : {"services", "worker", "tools"}) {
    if (fs::exists(kBinary / dir / name)) return kBinary / dir / name;
  }
  return kBinary / "missing" / name;
}

std::vector<std::string> DefaultCommand(const Dockerfile& df,
                                        const fs::path& root) {
  std::vector<std::string> argv;
  for (const char* keyword : {"ENTRYPOINT", "CMD"}) {
    const Instruction* ins = Last(df.Final(), keyword);
    if (ins != nullptr)
      argv.insert(argv.end(), ins->words.begin(), ins->words.end());
  }
  if (argv.empty()) return argv;
  argv[0] = HostBinary(argv[0]).string();
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string& arg = argv[i];
    if (arg.rfind("0.0.0.0:", 0) == 0) {
      arg = "127.0.0.1:0";
    } else if (!arg.empty() && arg[0] == '/') {
      const fs::path moved = root / arg.substr(1);
      // Directories (no extension) exist in the image; files are made by
      // the program (or by the test, for the tokens).
      fs::create_directories(moved.has_extension() ? moved.parent_path()
                                                   : moved);
      arg = moved.string();
    }
  }
  return argv;
}

// Runs the image's HEALTHCHECK with this build's program, on `port`.
int RunHealthcheck(const Dockerfile& df, int from_port, int port) {
  const Instruction* check = Last(df.Final(), "HEALTHCHECK");
  if (check == nullptr || check->words.size() < 2) return -1;
  std::string command = HostBinary(check->words[0]).string();
  for (size_t i = 1; i < check->words.size(); ++i) {
    std::string word = check->words[i];
    const std::string from = ":" + std::to_string(from_port) + "/";
    const size_t at = word.find(from);
    if (at != std::string::npos) {
      word.replace(at, from.size(), ":" + std::to_string(port) + "/");
    }
    command += " '" + word + "'";
  }
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Dockerfile ParseImage(const std::string& name) {
  return ParseDockerfile(ReadFile(kSource / "docker" / name));
}

TEST(DefaultCommands, StartAndPassTheImagesHealthChecks) {
  pgan::testing::TestDir dir;
  const fs::path root = dir.path();
  const Dockerfile coordinator_image = ParseImage("coordinator.Dockerfile");
  std::vector<std::string> argv = DefaultCommand(coordinator_image, root);
  ASSERT_FALSE(argv.empty());
  // The tokens file the deployment mounts: the workers' token.
  const auto tokens = std::find(argv.begin(), argv.end(), "--tokens");
  ASSERT_NE(tokens, argv.end());
  ASSERT_NE(tokens + 1, argv.end());
  WriteFile(*(tokens + 1), "pool worker " + Sha256Hex("worker-token") + "\n");

  Process coordinator(argv, root / "coordinator.log");
  const int grpc_port = coordinator.PortAfter("serving on port ");
  const int http_port = coordinator.PortAfter("/metrics on port ");
  ASSERT_GT(http_port, 0) << coordinator.Log();
  EXPECT_EQ(RunHealthcheck(coordinator_image, 9470, http_port), 0)
      << coordinator.Log();

  for (const char* worker_image :
       {"worker-cpu.Dockerfile", "worker-gpu.Dockerfile"}) {
    SCOPED_TRACE(worker_image);
    const Dockerfile image = ParseImage(worker_image);
    Process worker(DefaultCommand(image, root),
                   root / (std::string(worker_image) + ".log"),
                   {"PGAN_COORDINATOR=127.0.0.1:" + std::to_string(grpc_port),
                    "PGAN_TOKEN=worker-token"});
    const int health_port = worker.PortAfter("/readyz on port ");
    ASSERT_GT(health_port, 0) << worker.Log();
    EXPECT_EQ(RunHealthcheck(image, 9471, health_port), 0) << worker.Log();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Images, ImageTest,
    ::testing::Values(
        ImageSpec{"Coordinator",
                  "docker/coordinator.Dockerfile",
                  "/usr/local/bin/pgan-coordinator",
                  {"/usr/local/bin/pgan-coordinator",
                   "/usr/local/bin/pgan-healthcheck"},
                  {7470, 9470},
                  "http://127.0.0.1:9470/readyz"},
        ImageSpec{"WorkerCpu",
                  "docker/worker-cpu.Dockerfile",
                  "/usr/local/bin/pgan-worker",
                  {"/usr/local/bin/pgan-worker", "/usr/local/bin/pgan",
                   "/usr/local/bin/pgan-healthcheck"},
                  {9471},
                  "http://127.0.0.1:9471/healthz"},
        ImageSpec{"WorkerGpu",
                  "docker/worker-gpu.Dockerfile",
                  "/usr/local/bin/pgan-worker",
                  {"/usr/local/bin/pgan-worker", "/usr/local/bin/pgan",
                   "/usr/local/bin/pgan-healthcheck"},
                  {9471},
                  "http://127.0.0.1:9471/healthz"}),
    [](const auto& info) { return info.param.label; });

TEST(DockerIgnoreFile, KeepsSecretsAndBuildTreesOut) {
  const auto ignore = DockerIgnore::Parse(ReadFile(kSource / ".dockerignore"));
  EXPECT_THAT(CheckIgnoreKeepsOut(ignore), IsEmpty());
}

// ---------------------------------------------------------------------------
// The parser and the matcher.
TEST(ParseDockerfile, JoinsContinuationsAndDropsComments) {
  const auto df = ParseDockerfile(
      "# a comment\n"
      "FROM debian:12.11-slim AS Builder\n"
      "RUN apt-get update \\\n"
      "# a comment inside the continuation\n"
      "    && apt-get install -y cmake \\  \n"
      "    ninja-build\n"
      "\n"
      "FROM debian:12.11-slim\n"
      "COPY --from=builder --chown=10001:10001 /src/build/a /usr/local/bin/\n"
      "ENTRYPOINT [\"/usr/local/bin/a\", \"--flag\"]\n"
      "CMD --listen 0.0.0.0:1\n");
  ASSERT_THAT(df.errors, IsEmpty());
  ASSERT_EQ(df.stages.size(), 2u);
  EXPECT_EQ(df.stages[0].name, "builder");
  EXPECT_EQ(df.stages[0].base, "debian:12.11-slim");
  const Instruction& run = df.stages[0].instructions[1];
  EXPECT_EQ(run.keyword, "RUN");
  EXPECT_EQ(run.line, 3);
  EXPECT_EQ(
      SplitWords(run.args),
      (std::vector<std::string>{"apt-get", "update", "&&", "apt-get", "install",
                                "-y", "cmake", "ninja-build"}));
  const Instruction& copy = df.stages[1].instructions[1];
  EXPECT_EQ(copy.Flag("from"), "builder");
  EXPECT_EQ(copy.Flag("chown"), "10001:10001");
  EXPECT_EQ(copy.words,
            (std::vector<std::string>{"/src/build/a", "/usr/local/bin/"}));
  EXPECT_EQ(df.FindStage("Builder", 1), &df.stages[0]);
  EXPECT_EQ(df.FindStage("0", 1), &df.stages[0]);
  const Instruction& entrypoint = df.stages[1].instructions[2];
  EXPECT_TRUE(entrypoint.json);
  EXPECT_EQ(entrypoint.words,
            (std::vector<std::string>{"/usr/local/bin/a", "--flag"}));
  EXPECT_FALSE(df.stages[1].instructions[3].json);
  EXPECT_EQ(InstalledPaths(df.Final()),
            (std::set<std::string>{"/usr/local/bin/a"}));
}

TEST(ParseDockerfile, SubstitutesArgsAndFindsTheBuildDirectory) {
  const auto df = ParseDockerfile(
      "# escape=`\n"
      "ARG TAG=12.11-slim\n"
      "FROM debian:${TAG} AS b\n"
      "WORKDIR /src\n"
      "WORKDIR project\n"
      "RUN cmake -S . -B out/rel -G Ninja `\n"
      "    && cmake --build out/rel\n"
      "FROM debian:$TAG\n"
      "USER u${TAG}\n"
      "ARG TAG\n"
      "ENV DIR=/opt/${TAG:-none} OTHER=\"a b\"\n"
      "COPY --from=b /src/project/out/rel/x ${DIR}/\n");
  ASSERT_THAT(df.errors, IsEmpty());
  EXPECT_EQ(df.stages[0].base, "debian:12.11-slim");
  EXPECT_EQ(df.stages[1].base, "debian:12.11-slim");
  // A global ARG reaches a stage only when the stage declares it again.
  EXPECT_EQ(df.stages[1].instructions[1].args, "u");
  const auto build_dir = BuildDirectory(df.stages[0]);
  ASSERT_TRUE(build_dir.has_value());
  EXPECT_EQ(build_dir->generic_string(), "/src/project/out/rel");
  EXPECT_EQ(InstalledPaths(df.Final()),
            (std::set<std::string>{"/opt/12.11-slim/x"}));
  EXPECT_EQ(KeyValues("DIR=/x OTHER=\"a b\" E=", '\\'),
            (std::vector<std::pair<std::string, std::string>>{
                {"DIR", "/x"}, {"OTHER", "a b"}, {"E", ""}}));
  EXPECT_EQ(KeyValues("OLD value with spaces", '\\'),
            (std::vector<std::pair<std::string, std::string>>{
                {"OLD", "value with spaces"}}));
}

TEST(DockerIgnore, MatchesAsDockerDocuments) {
  const auto ignore = DockerIgnore::Parse(
      "# comment\n"
      "*.md\n"
      "!README.md\n"
      "/build/\n"
      "**/*.pem\n"
      "docs/**/*.txt\n"
      "tmp?\n"
      "[ab].c\n");
  EXPECT_TRUE(ignore.Excluded("notes.md"));
  EXPECT_FALSE(ignore.Excluded("sub/notes.md"));  // * stays in one directory
  EXPECT_FALSE(ignore.Excluded("README.md"));     // the exception wins
  EXPECT_TRUE(ignore.Excluded("build"));
  EXPECT_TRUE(ignore.Excluded("build/x/y.o"));  // a parent directory matches
  EXPECT_FALSE(ignore.Excluded("src/build/x"));
  EXPECT_TRUE(ignore.Excluded("server.pem"));
  EXPECT_TRUE(ignore.Excluded("a/b/server.pem"));
  EXPECT_TRUE(ignore.Excluded("docs/a.txt"));
  EXPECT_TRUE(ignore.Excluded("docs/x/y/a.txt"));
  EXPECT_FALSE(ignore.Excluded("a.txt"));
  EXPECT_TRUE(ignore.Excluded("tmp1"));
  EXPECT_FALSE(ignore.Excluded("tmp12"));
  EXPECT_TRUE(ignore.Excluded("b.c"));
  EXPECT_FALSE(ignore.Excluded("c.c"));
  EXPECT_FALSE(ignore.Excluded("comment"));
}

// ---------------------------------------------------------------------------
// Each check catches what it is for.
constexpr char kGood[] =
    "FROM debian:12.11-slim AS builder\n"
    "WORKDIR /src\n"
    "COPY src/ src/\n"
    "RUN cmake -S . -B build && cmake --build build\n"
    "FROM debian:12.11-slim\n"
    "COPY --from=builder /src/build/app /usr/local/bin/app\n"
    "COPY --from=builder /src/build/probe /usr/local/bin/\n"
    "USER 10001:10001\n"
    "EXPOSE 80/tcp\n"
    "HEALTHCHECK --interval=5s CMD [\"/usr/local/bin/probe\", \"http://x\"]\n"
    "ENTRYPOINT [\"/usr/local/bin/app\"]\n";

class NegativeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(context_.path() / "src/main.cc", "int main() {}\n");
    WriteFile(context_.path() / "out/app", "");
    WriteFile(context_.path() / "out/probe", "");
    WriteFile(context_.path() / "out/build.log", "");
  }
  // Every check of `text` with this fixture's context and build tree.
  Problems AllProblems(const std::string& text,
                       const std::string& dockerignore = "out\n") {
    const Dockerfile df = ParseDockerfile(text);
    const DockerIgnore ignore = DockerIgnore::Parse(dockerignore);
    Problems all = df.errors;
    for (Problems p : {CheckMultiStage(df), CheckPinned(df),
                       CheckContextCopies(df, context_.path(), ignore),
                       CheckBuilderOutputs(df, context_.path() / "out"),
                       CheckEntrypoint(df, "/usr/local/bin/app"),
                       CheckHealthcheck(df, "http://x"), CheckUser(df, "10001"),
                       CheckNoSecretValues(df), CheckExposedPorts(df, {80})}) {
      all.insert(all.end(), p.begin(), p.end());
    }
    return all;
  }
  std::string With(const std::string& from, const std::string& to) {
    std::string text = kGood;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  }
  pgan::testing::TestDir context_;
};

TEST_F(NegativeTest, TheGoodFileHasNoProblems) {
  EXPECT_THAT(AllProblems(kGood), IsEmpty());
}

TEST_F(NegativeTest, CatchesUnpinnedBases) {
  for (const char* base : {"debian", "debian:latest", "debian:bookworm-slim",
                           "debian:12-slim", "registry.local:5000/debian"}) {
    EXPECT_THAT(AllProblems(With("FROM debian:12.11-slim\n",
                                 std::string("FROM ") + base + "\n")),
                Contains(HasSubstr("is not pinned")))
        << base;
  }
  EXPECT_THAT(AllProblems(With("FROM debian:12.11-slim AS builder\n",
                               "ARG TAG=latest\nFROM debian:${TAG} AS "
                               "builder\n")),
              Contains(HasSubstr("debian:latest is not pinned")));
  EXPECT_THAT(AllProblems(With("FROM debian:12.11-slim\n",
                               "FROM debian@sha256:0123abcd\n")),
              IsEmpty());
  EXPECT_THAT(AllProblems(With("COPY --from=builder /src/build/probe",
                               "COPY --from=busybox /bin/busybox")),
              Contains(HasSubstr("--from=busybox is not pinned")));
}

TEST_F(NegativeTest, CatchesASingleStage) {
  EXPECT_THAT(AllProblems("FROM debian:12.11-slim\nUSER 10001\n"),
              Contains(HasSubstr("a single stage")));
}

TEST_F(NegativeTest, CatchesRootUsers) {
  for (const char* user : {"USER root\n", "USER 0\n", "USER 0:0\n", ""}) {
    EXPECT_THAT(AllProblems(With("USER 10001:10001\n", user)),
                Contains(HasSubstr("root")))
        << user;
  }
  EXPECT_THAT(AllProblems(With("USER 10001:10001\n", "USER pgan\n")),
              Contains(HasSubstr("numeric")));
}

TEST_F(NegativeTest, CatchesCopiesOfIgnoredOrMissingPaths) {
  EXPECT_THAT(AllProblems(With("COPY src/ src/\n", "COPY out/app src/\n")),
              Contains(HasSubstr("excluded by .dockerignore")));
  EXPECT_THAT(AllProblems(kGood, "src\n"),
              Contains(HasSubstr("excluded by .dockerignore")));
  EXPECT_THAT(AllProblems(With("COPY src/ src/\n", "COPY src/*.cc src/\n"),
                          "out\n**/*.cc\n"),
              Contains(HasSubstr("excluded by .dockerignore")))
      << "only ignored files match";
  EXPECT_THAT(AllProblems(With("COPY src/ src/\n", "COPY lib/ lib/\n")),
              Contains(HasSubstr("not in the build context")));
  EXPECT_THAT(AllProblems(With("COPY src/ src/\n", "COPY ../etc/ etc/\n")),
              Contains(HasSubstr("outside the build context")));
  EXPECT_THAT(AllProblems(With("COPY src/ src/\n",
                               "ADD https://example.invalid/x.tgz /x\n")),
              Contains(HasSubstr("a URL")));
  EXPECT_THAT(AllProblems(With("COPY src/ src/\n", "COPY src/*.cc src/\n")),
              IsEmpty());
}

TEST_F(NegativeTest, CatchesFoldersEveryBuildNeedsButNoCopyBrings) {
  const std::vector<std::string> needed = UnconditionalSubdirectories(
      "add_subdirectory(src)\nadd_subdirectory(config)\n"
      "if(WITH_X)\n  add_subdirectory(x)\nendif()\n");
  EXPECT_THAT(needed, ElementsAre("src", "config"));
  EXPECT_THAT(CheckCopiesFolders(ParseDockerfile(kGood), needed),
              ElementsAre(HasSubstr("config/: every build adds it")));
  EXPECT_THAT(CheckCopiesFolders(ParseDockerfile(With("COPY src/ src/\n",
                                                      "COPY . .\n")),
                                 needed),
              IsEmpty());
}

TEST_F(NegativeTest, CatchesBuilderOutputsThisBuildLacks) {
  EXPECT_THAT(AllProblems(With("/src/build/app /usr/local/bin/app",
                               "/src/build/gone /usr/local/bin/app")),
              Contains(HasSubstr("which this build did not make")));
  EXPECT_THAT(
      AllProblems(With("-B build && cmake --build build", "-B /elsewhere")),
      Contains(HasSubstr("copies nothing from a builder")));
}

TEST_F(NegativeTest, CatchesEntrypointsAndHealthchecksNotInstalled) {
  EXPECT_THAT(
      AllProblems(With("[\"/usr/local/bin/app\"]", "[\"/usr/bin/app\"]")),
      Contains(HasSubstr("/usr/bin/app is not installed")));
  EXPECT_THAT(AllProblems(With("ENTRYPOINT [\"/usr/local/bin/app\"]",
                               "ENTRYPOINT /usr/local/bin/app")),
              Contains(HasSubstr("exec (JSON) form")));
  EXPECT_THAT(AllProblems(With("[\"/usr/local/bin/probe\", \"http://x\"]",
                               "[\"curl\", \"http://x\"]")),
              Contains(HasSubstr("curl is not installed")));
  EXPECT_THAT(AllProblems(With("HEALTHCHECK --interval=5s CMD "
                               "[\"/usr/local/bin/probe\", \"http://x\"]",
                               "HEALTHCHECK NONE")),
              Contains(HasSubstr("no HEALTHCHECK")));
  EXPECT_THAT(AllProblems(With("\"http://x\"]", "\"http://y\"]")),
              Contains(HasSubstr("does not check http://x")));
}

TEST_F(NegativeTest, CatchesBakedInSecrets) {
  for (const char* line :
       {"ENV PGAN_TOKEN=abc\n", "ARG DB_PASSWORD=hunter2\n",
        "ENV API_KEY \"k\"\n", "ENV A=1 CLIENT_SECRET=s\n"}) {
    EXPECT_THAT(AllProblems(With("USER 10001:10001\n",
                                 std::string(line) + "USER 10001:10001\n")),
                Contains(HasSubstr("has a value in the image")))
        << line;
  }
  // Declared without a value: set at build or run time, fine.
  EXPECT_THAT(AllProblems(With("USER 10001:10001\n",
                               "ARG PGAN_TOKEN\nENV KEYBOARD=us\n"
                               "USER 10001:10001\n")),
              IsEmpty());
  WriteFile(context_.path() / "src/tls.key", "-----BEGIN PRIVATE KEY-----\n");
  WriteFile(context_.path() / "tokens.txt", "alice user 00\n");
  EXPECT_THAT(AllProblems(kGood),
              Contains(HasSubstr("sends a secret along (src/tls.key)")));
  EXPECT_THAT(AllProblems(kGood, "out\n**/*.key\n"), IsEmpty());
  EXPECT_THAT(
      AllProblems(With("COPY src/ src/\n", "COPY tokens.txt /etc/pgan/\n")),
      Contains(HasSubstr("tokens.txt is a secret")));
  EXPECT_THAT(CheckIgnoreKeepsOut(DockerIgnore::Parse("*.pem\n*.key\n")),
              Contains(HasSubstr("deploy/tls/server.pem")));
}

TEST_F(NegativeTest, CatchesOtherPorts) {
  EXPECT_THAT(AllProblems(With("EXPOSE 80/tcp\n", "EXPOSE 80 22\n")),
              Contains(HasSubstr("EXPOSE 22 80, the contract says 80")));
}

}  // namespace
}  // namespace pgan::deploy
