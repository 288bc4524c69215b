#include "common/cubic_spline.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pgan {

absl::StatusOr<CubicSpline> CubicSpline::Fit(std::vector<double> x,
                                             std::vector<double> y,
                                             int64_t dims) {
  const int64_t n = static_cast<int64_t>(x.size());
  if (n < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a not-a-knot cubic spline needs at least 4 knots, got ", n));
  }
  if (dims < 1 || static_cast<int64_t>(y.size()) != n * dims) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", n, " x ", dims, " values, got ", y.size()));
  }
  for (int64_t i = 1; i < n; ++i) {
    if (!(x[i] > x[i - 1]) || !std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("knots must increase strictly; knot ", i, " is ", x[i],
                       " after ", x[i - 1]));
    }
  }
  std::vector<double> h(n - 1);
  for (int64_t i = 0; i + 1 < n; ++i) h[i] = x[i + 1] - x[i];

  // The second derivatives M at the knots: the usual C2 equation at every
  // interior knot i, h[i-1] M[i-1] + 2 (h[i-1] + h[i]) M[i] + h[i] M[i+1] =
  // 6 (slope[i] - slope[i-1]), and not-a-knot (a continuous third
  // derivative at the second and the second-last knot) giving M[0] and
  // M[n-1] from their neighbours. Substituting those leaves a tridiagonal
  // system in M[1..n-2], solved by elimination for every column at once.
  const int64_t k = n - 2;  // Unknowns M[1..n-2], here rows 0..k-1.
  std::vector<double> lower(k, 0), diag(k), upper(k, 0);
  for (int64_t r = 0; r < k; ++r) {
    const int64_t i = r + 1;
    lower[r] = h[i - 1];
    diag[r] = 2 * (h[i - 1] + h[i]);
    upper[r] = h[i];
  }
  // M[0] = ((h0 + h1) M[1] - h0 M[2]) / h1.
  diag[0] += lower[0] * (h[0] + h[1]) / h[1];
  upper[0] -= lower[0] * h[0] / h[1];
  lower[0] = 0;
  // M[n-1] = ((h[n-3] + h[n-2]) M[n-2] - h[n-2] M[n-3]) / h[n-3].
  const double ha = h[n - 3], hb = h[n - 2];
  diag[k - 1] += upper[k - 1] * (ha + hb) / ha;
  lower[k - 1] -= upper[k - 1] * hb / ha;
  upper[k - 1] = 0;

  std::vector<double> m(n * dims, 0.0);
  // Right-hand sides into rows 1..n-2 of m.
  for (int64_t i = 1; i + 1 < n; ++i) {
    for (int64_t d = 0; d < dims; ++d) {
      const double right = (y[(i + 1) * dims + d] - y[i * dims + d]) / h[i];
      const double left = (y[i * dims + d] - y[(i - 1) * dims + d]) / h[i - 1];
      m[i * dims + d] = 6 * (right - left);
    }
  }
  // Forward elimination.
  for (int64_t r = 1; r < k; ++r) {
    const double w = lower[r] / diag[r - 1];
    diag[r] -= w * upper[r - 1];
    for (int64_t d = 0; d < dims; ++d) {
      m[(r + 1) * dims + d] -= w * m[r * dims + d];
    }
  }
  // Back substitution.
  for (int64_t r = k - 1; r >= 0; --r) {
    for (int64_t d = 0; d < dims; ++d) {
      double v = m[(r + 1) * dims + d];
      if (r + 1 < k) v -= upper[r] * m[(r + 2) * dims + d];
      m[(r + 1) * dims + d] = v / diag[r];
    }
  }
  for (int64_t d = 0; d < dims; ++d) {
    m[d] = ((h[0] + h[1]) * m[dims + d] - h[0] * m[2 * dims + d]) / h[1];
    m[(n - 1) * dims + d] =
        ((ha + hb) * m[(n - 2) * dims + d] - hb * m[(n - 3) * dims + d]) / ha;
  }

  CubicSpline spline;
  spline.x_ = std::move(x);
  spline.y_ = std::move(y);
  spline.m_ = std::move(m);
  spline.dims_ = dims;
  return spline;
}

std::vector<double> CubicSpline::operator()(double t) const {
  const int64_t n = static_cast<int64_t>(x_.size());
  // The piece [x[i], x[i+1]] holding t; the end pieces beyond the ends.
  int64_t i = std::upper_bound(x_.begin(), x_.end(), t) - x_.begin() - 1;
  i = std::clamp<int64_t>(i, 0, n - 2);
  const double h = x_[i + 1] - x_[i];
  const double a = x_[i + 1] - t, b = t - x_[i];
  std::vector<double> out(dims_);
  for (int64_t d = 0; d < dims_; ++d) {
    const double m0 = m_[i * dims_ + d], m1 = m_[(i + 1) * dims_ + d];
    const double y0 = y_[i * dims_ + d], y1 = y_[(i + 1) * dims_ + d];
    out[d] = (m0 * a * a * a + m1 * b * b * b) / (6 * h) +
             (y0 / h - m0 * h / 6) * a + (y1 / h - m1 * h / 6) * b;
  }
  return out;
}

}  // namespace pgan
