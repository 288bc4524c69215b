// Cubic spline interpolation with not-a-knot end conditions: the curve
// scipy.interpolate.interp1d(x, y, kind='cubic', axis=0) evaluates (it
// builds make_interp_spline(x, y, k=3), whose default boundary condition is
// not-a-knot), for `pgan video`'s latent paths as the reference's
// gen_video.py draws them. Values are vectors: every column of `y` is
// interpolated on its own. Immutable after construction; thread-safe.
#ifndef PGAN_COMMON_CUBIC_SPLINE_H_
#define PGAN_COMMON_CUBIC_SPLINE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan {

class CubicSpline {
 public:
  // `x`: n >= 4 strictly increasing knots; `y`: n rows of `dims` values,
  // row-major (y[i * dims + d]). INVALID_ARGUMENT when they do not fit.
  static absl::StatusOr<CubicSpline> Fit(std::vector<double> x,
                                         std::vector<double> y, int64_t dims);

  int64_t dims() const { return dims_; }
  // The `dims` values at t in [x.front(), x.back()] (outside it the end
  // pieces are extended, as scipy's spline extrapolates).
  std::vector<double> operator()(double t) const;

 private:
  CubicSpline() = default;

  std::vector<double> x_;
  std::vector<double> y_;  // n x dims.
  std::vector<double> m_;  // Second derivatives at the knots, n x dims.
  int64_t dims_ = 0;
};

}  // namespace pgan

#endif  // PGAN_COMMON_CUBIC_SPLINE_H_
