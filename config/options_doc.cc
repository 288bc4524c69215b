#include "config/options_doc.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "config/fields.h"

namespace pgan::config {
namespace {

// Text safe inside a Markdown table cell.
std::string Cell(const std::string& text) {
  return absl::StrReplaceAll(text,
                             {{"|", "\\|"}, {"<", "&lt;"}, {">", "&gt;"}});
}

std::string Code(const std::string& text) {
  return text.empty() ? "" : absl::StrCat("`", text, "`");
}

std::string DefaultOf(const Field& field) {
  const std::string text = field.value->Text(TrainingConfig{});
  return text.empty() ? "(none)" : Code(text);
}

const char* ResumeText(OnResume on_resume) {
  switch (on_resume) {
    case OnResume::kFixed:
      return "fixed";
    case OnResume::kMayChange:
      return "may change";
    case OnResume::kCurrent:
      return "this run's";
    case OnResume::kDerived:
      return "derived";
  }
  return "";
}

// `pgan train --help` in a table: flag, default, what.
std::string ReadmeTable() {
  std::string out = "| option | default | what |\n|---|---|---|\n";
  Group group = Group::kModel;
  bool first = true;
  for (const Field& f : Fields()) {
    if (!f.is_option()) continue;
    if (first || f.group != group) {
      absl::StrAppend(&out, "| **", GroupTitle(f.group), "** | | |\n");
      group = f.group;
      first = false;
    }
    absl::StrAppend(&out, "| ", Code(f.flag), " | ", DefaultOf(f), " | ",
                    Cell(f.help), " |\n");
  }
  return out;
}

// The keys of a job file.
std::string JobFileTable() {
  std::string out = "| key | type | default | values |\n|---|---|---|---|\n";
  for (const Field& f : Fields()) {
    if (!f.is_option()) continue;
    absl::StrAppend(&out, "| ", Code(f.job_key()), " | ",
                    TypeName(f.value->type()), " | ", DefaultOf(f), " | ",
                    Cell(f.rule), " |\n");
  }
  return out;
}

// Every field on every surface.
std::string ReferenceTable() {
  std::string out;
  bool first = true;
  Group group = Group::kModel;
  for (const Field& f : Fields()) {
    if (first || f.group != group) {
      absl::StrAppend(
          &out, first ? "" : "\n", "### ", GroupTitle(f.group),
          "\n\n| `pgan train` / job file | job spec | default | "
          "values | on resume | what |\n|---|---|---|---|---|---|\n");
      group = f.group;
      first = false;
    }
    const std::string surfaces =
        f.is_option() ? absl::StrCat(Code(f.flag), " / ", Code(f.job_key()))
                      : "(not an option)";
    const std::string spec =
        f.in_job_spec() ? Code(f.NameOn(Surface::kJobSpec))
        : f.on_resume == OnResume::kDerived
            ? absl::StrCat(Code(f.NameOn(Surface::kJobSpec)), " (unset)")
            : absl::StrCat("from ", Cell(f.supplied_by_service));
    absl::StrAppend(
        &out, "| ", surfaces, " | ", spec, " | ", DefaultOf(f), " | ",
        Cell(f.rule.empty() ? TypeName(f.value->type()) : f.rule), " | ",
        ResumeText(f.on_resume), " | ", Cell(f.help), " |\n");
  }
  return out;
}

}  // namespace

std::vector<GeneratedBlock> GeneratedBlocks() {
  return {{"README.md", "train-options", ReadmeTable()},
          {"worker/README.md", "job-file-keys", JobFileTable()},
          {"config/README.md", "option-table", ReferenceTable()}};
}

absl::StatusOr<std::string> ReplaceBlock(const std::string& contents,
                                         const GeneratedBlock& block) {
  const std::string begin =
      absl::StrCat("<!-- generated:", block.name, " -->\n");
  const std::string end = absl::StrCat("<!-- /generated:", block.name, " -->");
  const size_t b = contents.find(begin);
  const size_t e = b == std::string::npos ? b : contents.find(end, b);
  if (e == std::string::npos) {
    return absl::NotFoundError(absl::StrCat(block.file, ": no \"",
                                            begin.substr(0, begin.size() - 1),
                                            "\" ... \"", end, "\" markers"));
  }
  return absl::StrCat(contents.substr(0, b + begin.size()), block.text,
                      contents.substr(e));
}

}  // namespace pgan::config
