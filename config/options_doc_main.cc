// pgan-options-doc SOURCE_DIR: rewrites the option tables the docs carry
// (config/options_doc.h) from the option table. `--check` only reports the
// stale ones and exits 1.
#include <cstring>
#include <iostream>

#include "common/file_util.h"
#include "config/options_doc.h"

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::strcmp(argv[1], "--check") == 0;
  if (argc != 2 && !check) {
    std::cerr << "usage: pgan-options-doc [--check] SOURCE_DIR\n";
    return 2;
  }
  const std::string root = argv[argc - 1];
  int stale = 0;
  for (const pgan::config::GeneratedBlock& block :
       pgan::config::GeneratedBlocks()) {
    const std::string path = root + "/" + block.file;
    absl::StatusOr<std::string> contents = pgan::ReadFile(path);
    absl::StatusOr<std::string> updated =
        contents.ok() ? pgan::config::ReplaceBlock(*contents, block)
                      : contents.status();
    if (!updated.ok()) {
      std::cerr << "pgan-options-doc: " << updated.status().message() << "\n";
      return 2;
    }
    if (*updated == *contents) continue;
    ++stale;
    if (check) {
      std::cout << block.file << ": the " << block.name << " table is stale\n";
      continue;
    }
    if (absl::Status written = pgan::WriteFileAtomically(path, *updated);
        !written.ok()) {
      std::cerr << "pgan-options-doc: " << written.message() << "\n";
      return 2;
    }
    std::cout << "updated " << block.file << " (" << block.name << ")\n";
  }
  return check && stale > 0 ? 1 : 0;
}
