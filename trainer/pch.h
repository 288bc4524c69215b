// Precompiled LibTorch headers for the trainer and its tests (build speed
// only; every file still includes what it uses).
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/torch.h>
