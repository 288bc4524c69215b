#include "worker/job_proto.h"

#include <filesystem>

namespace pgan::worker {
namespace {

void SetModel(const pgan::v1::ModelConfig& m, trainer::ModelConfig* out) {
  // Zero (unset) keeps the reference's value.
  if (!m.cfg().empty()) out->cfg = m.cfg();
  if (m.resolution() != 0) out->resolution = m.resolution();
  if (m.z_dim() != 0) out->z_dim = m.z_dim();
  if (m.ngf() != 0) out->ngf = m.ngf();
  if (m.img_channels() != 0) out->img_channels = m.img_channels();
  out->c_dim = m.c_dim();
  if (!m.feature_network().empty()) out->feature_network = m.feature_network();
  if (m.cout() != 0) out->cout = m.cout();
  if (m.has_expand()) out->expand = m.expand();
  if (m.has_proj_type()) out->proj_type = m.proj_type();
  if (m.num_discs() != 0) out->num_discs = m.num_discs();
}

}  // namespace

JobSpec JobSpecFromProto(const pgan::v1::JobSpec& spec) {
  const pgan::v1::TrainingOptions& t = spec.training();
  JobSpec job;
  trainer::TrainingConfig& c = job.training;
  SetModel(t.model(), &c.model);
  c.data = t.data();
  c.cond = t.cond();
  c.mirror = t.mirror();
  c.feature_weights = t.feature_weights();
  c.batch = t.batch();
  c.batch_gpu = t.batch_gpu();
  c.kimg = t.kimg();
  if (t.has_tick()) c.tick = t.tick();
  if (t.has_snap()) c.snap = t.snap();
  c.keep_every_kimg = t.keep_every_kimg();
  c.seed = t.seed();
  if (t.has_glr()) c.glr = t.glr();
  if (t.has_dlr()) c.dlr = t.dlr();
  if (t.has_d_lazy_quirk()) c.d_lazy_quirk = t.d_lazy_quirk();
  if (t.has_ema_kimg()) c.ema_kimg = t.ema_kimg();
  if (t.has_ema_rampup()) c.ema_rampup = t.ema_rampup();
  c.threads = t.threads();
  c.grid_width = t.grid_width();
  c.grid_height = t.grid_height();
  c.metrics.assign(t.metrics().begin(), t.metrics().end());
  c.inception = t.inception();
  c.metrics_async = t.metrics_async();
  if (t.has_patience()) c.patience = t.patience();
  if (t.has_collapse_ratio()) c.collapse_ratio = t.collapse_ratio();
  c.stop_early = t.stop_early();
  return job;
}

pgan::v1::JobSpec JobSpecToProto(const JobSpec& job, const std::string& name,
                                 int world_size, bool gpus) {
  const trainer::TrainingConfig& c = job.training;
  pgan::v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_resources()->set_workers(world_size);
  spec.mutable_resources()->set_gpus_per_worker(gpus ? 1 : 0);
  if (!c.outdir.empty()) {
    spec.set_output_dir(std::filesystem::absolute(c.outdir).string());
  }
  pgan::v1::TrainingOptions& t = *spec.mutable_training();
  pgan::v1::ModelConfig& m = *t.mutable_model();
  m.set_cfg(c.model.cfg);
  m.set_resolution(c.model.resolution);
  m.set_z_dim(c.model.z_dim);
  m.set_ngf(c.model.ngf);
  m.set_img_channels(c.model.img_channels);
  m.set_c_dim(c.model.c_dim);
  m.set_feature_network(c.model.feature_network);
  m.set_cout(c.model.cout);
  m.set_expand(c.model.expand);
  m.set_proj_type(c.model.proj_type);
  m.set_num_discs(c.model.num_discs);
  t.set_data(std::filesystem::absolute(c.data).string());
  t.set_cond(c.cond);
  t.set_mirror(c.mirror);
  if (!c.feature_weights.empty()) {
    t.set_feature_weights(
        std::filesystem::absolute(c.feature_weights).string());
  }
  t.set_batch(c.batch);
  t.set_batch_gpu(c.batch_gpu);
  t.set_kimg(c.kimg);
  t.set_tick(c.tick);
  t.set_snap(c.snap);
  t.set_keep_every_kimg(c.keep_every_kimg);
  t.set_seed(c.seed);
  t.set_glr(c.glr);
  t.set_dlr(c.dlr);
  t.set_d_lazy_quirk(c.d_lazy_quirk);
  if (c.ema_kimg >= 0) t.set_ema_kimg(c.ema_kimg);
  t.set_ema_rampup(c.ema_rampup);
  t.set_threads(c.threads);
  t.set_grid_width(c.grid_width);
  t.set_grid_height(c.grid_height);
  for (const std::string& metric : c.metrics) t.add_metrics(metric);
  if (!c.inception.empty()) {
    t.set_inception(std::filesystem::absolute(c.inception).string());
  }
  t.set_metrics_async(c.metrics_async);
  t.set_patience(c.patience);
  t.set_collapse_ratio(c.collapse_ratio);
  t.set_stop_early(c.stop_early);
  return spec;
}

}  // namespace pgan::worker
