// How the option table (fields.h) is built: the typed accessor of a
// TrainingConfig member, its JSON, command-line and text conversions, and
// Row, the chained declaration of one field with its rule. Internal to
// config/: option_table.cc declares the table with it. Header-only
// templates; no state.
#ifndef PGAN_CONFIG_FIELD_VALUE_H_
#define PGAN_CONFIG_FIELD_VALUE_H_

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/fields.h"

namespace pgan::config::field_internal {

using Json = nlohmann::json;
using StringList = std::vector<std::string>;

// A field of TrainingConfig, at the top or inside `model`.
template <typename T>
struct Member {
  T TrainingConfig::*top = nullptr;
  T ModelConfig::*model = nullptr;
  const T& Of(const TrainingConfig& c) const {
    return top != nullptr ? c.*top : c.model.*model;
  }
  T& Of(TrainingConfig& c) const {
    return top != nullptr ? c.*top : c.model.*model;
  }
};

template <typename T>
constexpr FieldType TypeOf() {
  if constexpr (std::is_same_v<T, bool>) return FieldType::kBool;
  if constexpr (std::is_same_v<T, int>) return FieldType::kInt;
  if constexpr (std::is_same_v<T, uint64_t>) return FieldType::kUint64;
  if constexpr (std::is_same_v<T, double>) return FieldType::kDouble;
  if constexpr (std::is_same_v<T, std::string>) return FieldType::kString;
  if constexpr (std::is_same_v<T, StringList>) return FieldType::kStringList;
}

// A value inside a message: numbers as written, strings quoted.
template <typename T>
std::string Shown(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return absl::StrCat("\"", v.substr(0, 64), v.size() > 64 ? "..." : "",
                        "\"");
  } else if constexpr (std::is_same_v<T, StringList>) {
    return Json(v).dump().substr(0, 128);
  } else if constexpr (std::is_same_v<T, double>) {
    return absl::StrFormat("%.15g", v);  // 1000000, 0.0002: as people write.
  } else {
    return absl::StrCat(v);
  }
}

template <typename T>
std::optional<T> FromJsonValue(const Json& j) {
  if constexpr (std::is_same_v<T, bool>) {
    if (j.is_boolean()) return j.get<bool>();
  } else if constexpr (std::is_same_v<T, int>) {
    if (j.is_number_unsigned() &&
        j.get<uint64_t>() <= uint64_t{std::numeric_limits<int>::max()}) {
      return j.get<int>();
    }
    if (j.is_number_integer() && !j.is_number_unsigned() &&
        j.get<int64_t>() >= std::numeric_limits<int>::min() &&
        j.get<int64_t>() <= std::numeric_limits<int>::max()) {
      return j.get<int>();
    }
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    if (j.is_number_unsigned()) return j.get<uint64_t>();
    if (j.is_number_integer() && j.get<int64_t>() >= 0) {
      return j.get<uint64_t>();
    }
  } else if constexpr (std::is_same_v<T, double>) {
    if (j.is_number()) return j.get<double>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (j.is_string()) return j.get<std::string>();
  } else {
    if (!j.is_array()) return std::nullopt;
    StringList out;
    for (const Json& item : j) {
      if (!item.is_string()) return std::nullopt;
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  return std::nullopt;
}

template <typename T>
std::optional<T> ParseText(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if constexpr (std::is_same_v<T, bool>) {
    const std::string lower = absl::AsciiStrToLower(text);
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") {
      return true;
    }
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") {
      return false;
    }
  } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, uint64_t>) {
    T v{};
    const bool negative = !text.empty() && text[0] == '-';
    if (!(std::is_unsigned_v<T> && negative) && absl::SimpleAtoi(text, &v)) {
      return v;
    }
  } else if constexpr (std::is_same_v<T, double>) {
    double v = 0;
    if (absl::SimpleAtod(text, &v)) return v;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return std::string(text);
  } else {
    if (text == "none") return StringList{};
    StringList out;
    for (absl::string_view item :
         absl::StrSplit(text, ',', absl::SkipEmpty())) {
      item = absl::StripAsciiWhitespace(item);
      if (!item.empty()) out.emplace_back(item);
    }
    return out;
  }
  return std::nullopt;
}

template <typename T>
std::string TextOf(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (std::is_same_v<T, StringList>) {
    return v.empty() ? "none" : absl::StrJoin(v, ",");
  } else {
    return Shown(v);
  }
}

template <typename T>
using Check = std::function<std::optional<std::string>(const T&)>;

template <typename T>
class TypedValue final : public FieldValue {
 public:
  TypedValue(Member<T> member, Check<T> check)
      : member_(member), check_(std::move(check)) {}

  FieldType type() const override { return TypeOf<T>(); }
  Json ToJson(const TrainingConfig& c) const override {
    return Json(member_.Of(c));
  }
  absl::Status FromJson(const Json& json, TrainingConfig* c) const override {
    std::optional<T> v = FromJsonValue<T>(json);
    if (!v.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "must be ", TypeName(type()), ", got ", json.dump().substr(0, 128)));
    }
    member_.Of(*c) = *std::move(v);
    return absl::OkStatus();
  }
  absl::Status Parse(absl::string_view text, TrainingConfig* c) const override {
    std::optional<T> v = ParseText<T>(text);
    if (!v.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected ", TypeName(type()),
                       std::is_same_v<T, bool> ? " (1 or 0)" : "", ", got \"",
                       text.substr(0, 64), "\""));
    }
    member_.Of(*c) = *std::move(v);
    return absl::OkStatus();
  }
  std::string Text(const TrainingConfig& c) const override {
    return TextOf(member_.Of(c));
  }
  bool Equal(const TrainingConfig& a, const TrainingConfig& b) const override {
    return member_.Of(a) == member_.Of(b);
  }
  void Copy(const TrainingConfig& from, TrainingConfig* to) const override {
    member_.Of(*to) = member_.Of(from);
  }
  bool IsZero(const TrainingConfig& c) const override {
    return member_.Of(c) == T{};
  }
  std::optional<std::string> Violation(const TrainingConfig& c) const override {
    return check_ ? check_(member_.Of(c)) : std::nullopt;
  }

 private:
  Member<T> member_;
  Check<T> check_;
};

// One row of the table, filled by chained calls.
template <typename T>
class Row {
 public:
  Row(Member<T> member, const char* key, bool in_model) : member_(member) {
    field_.key = key;
    field_.in_model = in_model;
  }
  Row& Flag(const char* flag) {
    field_.flag = flag;
    return *this;
  }
  Row& Help(const char* help) {
    field_.help = help;
    return *this;
  }
  // The value must satisfy `ok`; otherwise "expected <rule>, got <value>".
  Row& Rule(std::string rule, std::function<bool(const T&)> ok) {
    field_.rule = rule;
    check_ = [rule, ok](const T& v) -> std::optional<std::string> {
      if (ok(v)) return std::nullopt;
      return absl::StrCat("expected ", rule, ", got ", Shown(v));
    };
    return *this;
  }
  // Integers from `low` to `high`.
  Row& Between(int low, int high) {
    static_assert(std::is_same_v<T, int>);
    return Rule(absl::StrCat("an integer from ", low, " to ", high),
                [=](const int& v) { return v >= low && v <= high; });
  }
  // Finite numbers in (0, high].
  Row& PositiveUpTo(double high) {
    static_assert(std::is_same_v<T, double>);
    return Rule(absl::StrCat("a number above 0 and at most ", Shown(high)),
                [=](const double& v) {
                  return std::isfinite(v) && v > 0 && v <= high;
                });
  }
  // Finite numbers in [0, high].
  Row& NonNegativeUpTo(double high) {
    static_assert(std::is_same_v<T, double>);
    return Rule(absl::StrCat("a number from 0 to ", Shown(high)),
                [=](const double& v) {
                  return std::isfinite(v) && v >= 0 && v <= high;
                });
  }
  // One of `choices`, quoted in the rule ("\"a\", \"b\" or \"c\"").
  Row& OneOf(StringList choices) {
    static_assert(std::is_same_v<T, std::string>);
    std::vector<std::string> quoted;
    for (const std::string& c : choices) {
      quoted.push_back(absl::StrCat("\"", c, "\""));
    }
    const std::string last = quoted.back();
    quoted.pop_back();
    return Rule(quoted.empty()
                    ? last
                    : absl::StrCat(absl::StrJoin(quoted, ", "), " or ", last),
                [choices](const std::string& v) {
                  return std::find(choices.begin(), choices.end(), v) !=
                         choices.end();
                });
  }
  // A rule whose violations say more than the rule does.
  Row& Custom(std::string rule, Check<T> check) {
    field_.rule = std::move(rule);
    check_ = std::move(check);
    return *this;
  }
  Row& AbsentInOlderFiles() {
    field_.absent_in_older_files = true;
    return *this;
  }
  Row& Resume(OnResume on_resume) {
    field_.on_resume = on_resume;
    return *this;
  }
  Row& Path(PathKind kind) {
    field_.path_kind = kind;
    return *this;
  }
  // Empty is an error saying `what` ("a dataset is required").
  Row& Required(std::string what) {
    static_assert(std::is_same_v<T, std::string>);
    field_.required = true;
    field_.rule = field_.rule.empty() ? "required"
                                      : absl::StrCat("required; ", field_.rule);
    Check<T> inner = check_;
    check_ = [what, inner](const T& v) -> std::optional<std::string> {
      if (v.empty()) return what;
      return inner ? inner(v) : std::nullopt;
    };
    return *this;
  }
  Row& SuppliedBy(const char* service) {
    field_.supplied_by_service = service;
    return *this;
  }
  Field Build(Group group) const {
    Field field = field_;
    field.group = group;
    field.value = std::make_shared<TypedValue<T>>(member_, check_);
    return field;
  }

 private:
  Member<T> member_;
  Field field_;
  Check<T> check_;
};

template <typename T>
Row<T> TopRow(T TrainingConfig::*member, const char* key) {
  return Row<T>(Member<T>{member, nullptr}, key, false);
}
template <typename T>
Row<T> ModelRow(T ModelConfig::*member, const char* key) {
  return Row<T>(Member<T>{nullptr, member}, key, true);
}

// Every field, in the order of --help and the docs (option_table.cc).
std::vector<Field> MakeOptionTable();

}  // namespace pgan::config::field_internal

#endif  // PGAN_CONFIG_FIELD_VALUE_H_
