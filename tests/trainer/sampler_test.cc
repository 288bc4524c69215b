#include "trainer/sampler.h"

#include <gtest/gtest.h>

#include <iterator>
#include <vector>

namespace pgan::trainer {
namespace {

// The first indices of the reference's InfiniteSampler
// (torch_utils/misc.py, window_size 0.5), printed with NumPy 1.24 by
//   itertools.islice(iter(InfiniteSampler(range(N), rank, num_replicas,
//                                         seed=seed)), count)
// N=10, seed=0, rank=0, num_replicas=1.
constexpr int64_t kN10Seed0[] = {
    2, 8, 4, 9, 1, 6, 2, 3, 0, 9, 7, 8, 1, 5, 6, 4, 3, 8, 2, 1, 9, 6, 7, 5, 8,
    4, 0, 9, 6, 7, 3, 1, 2, 8, 4, 7, 6, 3, 1, 8, 2, 5, 4, 3, 9, 8, 6, 5, 1, 2,
    7, 3, 9, 4, 0, 6, 5, 7, 3, 8, 4, 2, 5, 9, 0, 8, 3, 2, 5, 9, 6, 8, 3, 2, 4,
    9, 7, 6, 5, 8, 1, 0, 9, 4, 3, 2, 1, 8, 6, 0, 4, 5, 3, 2, 9, 7, 8, 0, 5, 1,
    2, 4, 9, 3, 0, 5, 1, 8, 9, 7, 6, 2, 5, 4, 3, 7, 0, 9, 2, 8, 4, 6, 7, 1, 5,
    3, 8, 9, 6, 1, 2, 4, 7, 0, 9, 3, 1, 8, 5, 6, 0, 4, 7, 3, 5, 2, 0, 8, 7, 9,
    3, 2, 1, 6, 8, 0, 5, 4, 7, 6, 2, 3, 0, 8, 9, 6, 1, 2, 3, 5, 4, 0, 7, 8, 1,
    3, 6, 0, 5, 4, 9, 1, 7, 6, 5, 0, 4, 9, 2, 7, 5, 1, 3, 9, 8, 6, 0, 5, 1, 4};

// N=7, seed=123, rank=0, num_replicas=1 (window rint(3.5) = 4).
constexpr int64_t kN7Seed123[] = {
    1, 3, 4, 0, 2, 3, 1, 0, 5, 6, 3, 4, 1, 2, 3, 0, 5, 4, 2, 0, 6, 4, 5, 2, 3,
    0, 1, 6, 4, 0, 1, 2, 6, 0, 5, 1, 6, 4, 2, 3, 6, 0, 2, 4, 5, 1, 3, 2, 0, 4,
    1, 2, 5, 0, 3, 4, 5, 1, 0, 6, 5, 2, 1, 0, 6, 5, 4, 1, 6, 5, 4, 3, 2, 1, 5,
    6, 3, 1, 2, 5, 4, 3, 2, 0, 4, 3, 5, 0, 1, 3, 4, 5, 1, 0, 2, 4, 6, 3, 5, 0,
    4, 2, 5, 3, 1, 6, 4, 2, 1, 5, 3, 2, 1, 5, 4, 0, 1, 2, 6, 0, 1, 2, 6, 3, 5,
    1, 2, 3, 6, 5, 2, 0, 4, 6, 1, 0, 5, 4, 2, 6, 0, 4, 1, 6, 5, 4, 0, 3, 1, 2,
    5, 6, 3, 2, 5, 4, 1, 0, 3, 2, 1, 6, 4, 2, 3, 5, 4, 1, 0, 3, 6, 2, 4, 0, 6,
    5, 4, 0, 2, 6, 1, 4, 5, 0, 1, 2, 6, 0, 4, 5, 3, 1, 6, 2, 0, 1, 5, 6, 3, 2};

// N=1000, seed=42, rank=0, num_replicas=1.
constexpr int64_t kN1000Seed42[] = {
    521, 737, 740, 660, 411, 678, 626, 513, 859, 136, 811, 76, 636, 973, 938,
    899, 280, 883, 761, 319, 549, 174, 371, 527, 210, 235, 101, 986, 902, 947,
    346, 139, 621, 499, 370, 198, 687, 584, 901, 59, 328, 96, 312, 974, 299,
    277, 924, 601, 439, 837, 570, 879, 261, 578, 23, 30, 617, 10, 221, 820, 296,
    54, 542, 209, 604, 692, 662, 866, 70, 543, 107, 493, 590, 741, 292, 289,
    652, 39, 589, 307, 679, 66, 275, 67, 318, 548, 998, 714, 753, 327, 382, 451,
    522, 218, 787, 436, 764, 88, 63, 826, 716, 351, 936, 256, 635, 644, 554,
    959, 168, 917, 528, 823, 985, 816, 86, 432, 184, 978, 534, 294, 892, 425,
    713, 260, 237, 559, 583, 445, 867, 800, 599, 849, 265, 995, 529, 55, 120,
    215, 25, 72, 44, 247, 721, 281, 893, 914, 810, 244, 822, 321, 643, 158, 977,
    429, 941, 462, 309, 697, 60, 884, 595, 767, 649, 650, 865, 668, 298, 689,
    314, 310, 361, 479, 110, 989, 486, 363, 254, 259, 802, 677, 494, 670, 377,
    526, 845, 137, 355, 365, 942, 749, 948, 829, 656, 199, 213, 408, 332, 208,
    613, 78};

// N=5, seed=2, rank=0, num_replicas=1 (window rint(2.5) = 2: ties to even).
constexpr int64_t kN5Seed2[] = {
    2, 4, 1, 3, 0, 4, 2, 3, 1, 4, 0, 3, 1, 4, 0, 3, 1, 4, 2, 0, 3, 1, 2, 0, 3,
    4, 1, 2, 3, 4, 1, 0, 2, 4, 3, 1, 2, 4, 3, 0, 1, 2, 4, 0, 1, 2, 4, 3, 0, 1,
    2, 4, 3, 0, 1, 4, 3, 0, 1, 4, 2, 3, 0, 4, 1, 3, 0, 4, 2, 3, 0, 1, 4, 2, 0,
    1, 4, 2, 3, 0, 1, 4, 3, 2, 1, 0, 4, 3, 2, 1, 0, 4, 3, 2, 1, 4, 0, 2, 3, 1};

// N=10, seed=0, rank=1, num_replicas=3.
constexpr int64_t kN10Seed0Rank1Of3[] = {
    8, 1, 3, 7, 5, 3, 1, 7, 4, 6, 1, 4, 3, 2, 3, 6, 2, 9, 6, 3, 2, 0, 2, 6, 2,
    7, 8, 9, 2, 6, 5, 9, 0, 2, 3, 1, 7, 5, 7, 2, 6, 5, 9, 2, 0, 1, 6, 7, 2, 7,
    2, 8, 4, 2, 8, 1, 5, 7, 3, 5, 1, 5, 9, 5, 9, 0, 4, 6, 2, 4, 9, 8, 4, 5, 1,
    6, 9, 5, 9, 3, 2, 0, 5, 3, 4, 7, 0, 4, 8, 1, 4, 1, 8, 2, 9, 0, 9, 0, 3, 0};

// N=3, seed=9, rank=0, num_replicas=1 (window rint(1.5) = 2).
constexpr int64_t kN3Seed9[] = {
    1, 0, 2, 0, 1, 2, 1, 0, 1, 0, 2, 1, 2, 0, 1, 0, 2, 0, 2, 0, 2, 1, 0, 2, 1,
    2, 0, 1, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 0, 1, 0, 1, 0, 1, 2, 1, 2, 0, 1, 0};

struct Case {
  const int64_t* expected;
  size_t count;
  int64_t size;
  uint32_t seed;
  int rank;
  int num_replicas;
};

std::vector<Case> Cases() {
  return {
      {kN10Seed0, std::size(kN10Seed0), 10, 0, 0, 1},
      {kN7Seed123, std::size(kN7Seed123), 7, 123, 0, 1},
      {kN1000Seed42, std::size(kN1000Seed42), 1000, 42, 0, 1},
      {kN5Seed2, std::size(kN5Seed2), 5, 2, 0, 1},
      {kN10Seed0Rank1Of3, std::size(kN10Seed0Rank1Of3), 10, 0, 1, 3},
      {kN3Seed9, std::size(kN3Seed9), 3, 9, 0, 1},
  };
}

InfiniteSamplerOptions OptionsOf(const Case& c) {
  InfiniteSamplerOptions options;
  options.size = c.size;
  options.seed = c.seed;
  options.rank = c.rank;
  options.num_replicas = c.num_replicas;
  return options;
}

TEST(InfiniteSamplerTest, MatchesTheReferenceSampler) {
  for (const Case& c : Cases()) {
    auto sampler = InfiniteSampler::Create(OptionsOf(c));
    ASSERT_TRUE(sampler.ok()) << sampler.status();
    for (size_t i = 0; i < c.count; ++i) {
      ASSERT_EQ(sampler->Next(), c.expected[i])
          << "N=" << c.size << " seed=" << c.seed << " rank=" << c.rank
          << " index " << i;
    }
    EXPECT_EQ(sampler->position(), static_cast<int64_t>(c.count));
  }
}

TEST(InfiniteSamplerTest, StartingAtAPositionContinuesTheSameSequence) {
  for (const Case& c : Cases()) {
    for (int64_t start : {int64_t{1}, int64_t{17}, static_cast<int64_t>(c.count) - 5}) {
      auto sampler = InfiniteSampler::Create(OptionsOf(c), start);
      ASSERT_TRUE(sampler.ok());
      EXPECT_EQ(sampler->position(), start);
      for (size_t i = start; i < c.count; ++i) {
        ASSERT_EQ(sampler->Next(), c.expected[i]) << "start " << start;
      }
    }
  }
}

TEST(InfiniteSamplerTest, ReplicasStripeOneSequence) {
  InfiniteSamplerOptions options;
  options.size = 10;
  auto whole = InfiniteSampler::Create(options);
  ASSERT_TRUE(whole.ok());
  std::vector<InfiniteSampler> parts;
  options.num_replicas = 3;
  for (int rank = 0; rank < 3; ++rank) {
    options.rank = rank;
    parts.push_back(*InfiniteSampler::Create(options));
  }
  for (int step = 0; step < 90; ++step) {
    ASSERT_EQ(parts[step % 3].Next(), whole->Next()) << step;
  }
}

TEST(InfiniteSamplerTest, WithoutShuffleCyclesInOrder) {
  InfiniteSamplerOptions options;
  options.size = 4;
  options.shuffle = false;
  auto sampler = InfiniteSampler::Create(options);
  ASSERT_TRUE(sampler.ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sampler->Next(), i % 4);
}

TEST(InfiniteSamplerTest, SingleItemDatasetAlwaysYieldsZero) {
  InfiniteSamplerOptions options;
  options.size = 1;
  auto sampler = InfiniteSampler::Create(options);
  ASSERT_TRUE(sampler.ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler->Next(), 0);
}

TEST(InfiniteSamplerTest, InvalidOptionsAreRejected) {
  InfiniteSamplerOptions options;
  EXPECT_FALSE(InfiniteSampler::Create(options).ok());  // Empty dataset.
  options.size = 5;
  options.rank = 2;
  options.num_replicas = 2;
  EXPECT_FALSE(InfiniteSampler::Create(options).ok());
  options.rank = 0;
  options.window_size = 1.5;
  EXPECT_FALSE(InfiniteSampler::Create(options).ok());
  options.window_size = 0.5;
  EXPECT_FALSE(InfiniteSampler::Create(options, -1).ok());
}

}  // namespace
}  // namespace pgan::trainer
