// The option tables of the docs, rendered from the option table
// (config/fields.h), and the files they stand in: between the markers
// "<!-- generated:NAME -->" and "<!-- /generated:NAME -->". pgan-options-doc
// rewrites them; a unit test fails when one is stale. Functions only.
#ifndef PGAN_CONFIG_OPTIONS_DOC_H_
#define PGAN_CONFIG_OPTIONS_DOC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan::config {

struct GeneratedBlock {
  std::string file;  // Relative to the source root ("README.md").
  std::string name;  // Of the markers.
  std::string text;  // Markdown, ending in a newline.
};

// Every block, in file order.
std::vector<GeneratedBlock> GeneratedBlocks();

// `contents` with the text between the block's markers replaced;
// NOT_FOUND when the markers are missing.
absl::StatusOr<std::string> ReplaceBlock(const std::string& contents,
                                         const GeneratedBlock& block);

}  // namespace pgan::config

#endif  // PGAN_CONFIG_OPTIONS_DOC_H_
