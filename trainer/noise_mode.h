// How a generator's noise inputs draw their noise.
#ifndef PGAN_TRAINER_NOISE_MODE_H_
#define PGAN_TRAINER_NOISE_MODE_H_

namespace pgan::trainer {

enum class NoiseMode {
  kRandom,  // As the reference's training: fresh N(0, 1) every forward.
  kConst,   // StyleGAN2 only: each layer's stored noise_const (reference).
  kNone,    // No noise (deterministic output).
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_NOISE_MODE_H_
