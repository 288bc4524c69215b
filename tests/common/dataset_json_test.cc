#include "common/dataset_json.h"

#include <gtest/gtest.h>

namespace pgan {
namespace {

TEST(DatasetJsonTest, ParsesClassLabels) {
  auto labels = ParseDatasetJson(
      R"({"labels": [["00000/img00000000.png", 6], ["a\\b.png", 0], ["c.png", 2.0]]})",
      "x/dataset.json");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_TRUE(labels->present);
  EXPECT_TRUE(labels->classes);
  EXPECT_EQ(labels->by_name.at("00000/img00000000.png").class_index, 6);
  // Backslashes become slashes, as the reference's loader does.
  EXPECT_EQ(labels->by_name.at("a/b.png").class_index, 0);
  EXPECT_EQ(labels->by_name.at("c.png").class_index, 2);
}

TEST(DatasetJsonTest, ParsesVectorLabelsAndNull) {
  auto vectors = ParseDatasetJson(R"({"labels": [["a.png", [0.5, 1]], ["b.png", [2, -3.25]]]})",
                                  "d.json");
  ASSERT_TRUE(vectors.ok()) << vectors.status();
  EXPECT_FALSE(vectors->classes);
  EXPECT_EQ(vectors->vector_dim, 2);
  EXPECT_EQ(vectors->by_name.at("b.png").vector, (std::vector<double>{2, -3.25}));
  auto null = ParseDatasetJson(R"({"labels": null})", "d.json");
  ASSERT_TRUE(null.ok());
  EXPECT_FALSE(null->present);
}

TEST(DatasetJsonTest, RejectsMalformedFilesNamingThem) {
  for (const char* text : {
           "not json",
           R"({"other": 1})",
           R"({"labels": 3})",
           R"({"labels": [["a.png"]]})",
           R"({"labels": [["a.png", -1]]})",
           R"({"labels": [["a.png", 1.5]]})",
           R"({"labels": [["a.png", "cat"]]})",
           R"({"labels": [["a.png", 1], ["b.png", [1, 2]]]})",
           R"({"labels": [["a.png", [1]], ["b.png", [1, 2]]]})",
           R"({"labels": [["a.png", [1, "x"]]]})",
       }) {
    auto labels = ParseDatasetJson(text, "dir/dataset.json");
    ASSERT_FALSE(labels.ok()) << text;
    EXPECT_NE(labels.status().message().find("dir/dataset.json"), std::string::npos)
        << labels.status();
  }
}

TEST(DatasetJsonTest, FormatsLikePythonJsonDumps) {
  const std::vector<std::string> names = {"00000/img00000000.png",
                                          "00000/img00000001.png"};
  std::vector<DatasetLabel> classes(2);
  classes[0].class_index = 6;
  classes[1].class_index = 0;
  EXPECT_EQ(FormatDatasetJson(names, &classes),
            R"({"labels": [["00000/img00000000.png", 6], ["00000/img00000001.png", 0]]})");
  std::vector<DatasetLabel> vectors(2);
  vectors[0].vector = {0.5, 1.0};
  vectors[1].vector = {-2.0, 0.25};
  EXPECT_EQ(FormatDatasetJson(names, &vectors),
            R"({"labels": [["00000/img00000000.png", [0.5, 1.0]], ["00000/img00000001.png", [-2.0, 0.25]]]})");
  EXPECT_EQ(FormatDatasetJson(names, nullptr), R"({"labels": null})");
  // What we write, we read back.
  auto parsed = ParseDatasetJson(FormatDatasetJson(names, &vectors), "d");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->by_name.at("00000/img00000001.png").vector, vectors[1].vector);
}

}  // namespace
}  // namespace pgan
