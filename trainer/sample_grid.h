// Sample grids: G_ema on a fixed set of latents (the same at every snapshot
// of a run, so grids are comparable), tiled into one PNG as the reference's
// fakes*.png; and the grid of real images (reals.png). Functions only.
#ifndef PGAN_TRAINER_SAMPLE_GRID_H_
#define PGAN_TRAINER_SAMPLE_GRID_H_

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/image_io.h"
#include "trainer/dataset.h"
#include "trainer/generator.h"

namespace pgan::trainer {

struct GridSize {
  int width = 0;   // Images per row.
  int height = 0;  // Rows.
};

// The reference's grid for a resolution, sized for a GPU: 7680 / res by
// 4320 / res images, clipped to [7, 32] x [4, 32]. On a CPU, where its up to
// 1,024 images take minutes at every snapshot, at most kCpuGrid. Explicit
// sizes override either.
inline constexpr GridSize kCpuGrid{8, 4};
GridSize ResolveGridSize(int resolution, int width, int height, bool on_gpu);

// Tiles images [N, C, H, W] in the [-1, 1] convention (N = width * height)
// with the reference's conversion: rint((x + 1) * 127.5) clipped to [0, 255].
Image TileImages(const torch::Tensor& images, GridSize grid);
// Images in the [-1, 1] convention to uint8 as the reference's gen_images.py,
// gen_video.py and metrics convert them: clamp(x * 127.5 + 128, 0, 255),
// truncated (the snapshot grids round instead, as TileImages does).
torch::Tensor ToUint8Truncated(const torch::Tensor& images);
// Tiles uint8 images [N, C, H, W] (N = width * height), row by row.
Image TileUint8(const torch::Tensor& pixels, GridSize grid);

// The dataset items of the reference's reals.png (setup_snapshot_image_grid
// with RandomState(0)): without labels, the first width * height of a
// shuffle of every item (flips included), repeated when there are fewer;
// with labels, row y shows class y mod classes (classes in sorted order,
// each one's items shuffled), consecutive rows of a class continuing where
// the last stopped.
std::vector<int64_t> RealsGridIndices(const ImageDataset& dataset,
                                      GridSize grid);
absl::Status WriteRealsGrid(const std::string& path,
                            const ImageDataset& dataset, GridSize grid);

// G_ema (eval mode, noise from fixed per-image streams) on the run's fixed
// latents; conditional grids show class (row mod c_dim) per row.
absl::Status WriteFakesGrid(const std::string& path, Generator& g_ema,
                            GridSize grid, uint64_t seed, int batch);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SAMPLE_GRID_H_
