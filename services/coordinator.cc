#include "services/coordinator.h"

#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "proto/rpc.h"

namespace pgan::services {

absl::Status CoordinatorConfig::Validate() const {
  if (listen.empty())
    return absl::InvalidArgumentError("--listen: expected host:port");
  if (state_path.empty()) {
    return absl::InvalidArgumentError(
        "--state: the state database path is required");
  }
  if (tokens_path.empty()) {
    return absl::InvalidArgumentError("--tokens: the token file is required");
  }
  if (storage_dir.empty()) {
    return absl::InvalidArgumentError(
        "--storage: a directory for job outputs is required");
  }
  if (roots.data.empty()) {
    return absl::InvalidArgumentError(
        "--data-root: at least one directory that job datasets may come from");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (max_rpc_threads < 4 || max_rpc_threads > 4096) {
    return absl::InvalidArgumentError("--max-rpc-threads: expected 4 to 4096");
  }
  if (web_max_streams < 1 || web_max_streams > 4096) {
    return absl::InvalidArgumentError("--web-max-streams: expected 1 to 4096");
  }
  if (!web_root.empty() && web_listen.empty()) {
    return absl::InvalidArgumentError(
        "--web-root needs --web-listen (the console is served there)");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key");
  }
  return absl::OkStatus();
}

namespace {

// Plain text, TLS, or TLS that asks clients for a certificate and checks
// any it gets against the client CA (workers must present one; see
// WorkerServiceImpl).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const CoordinatorConfig& config) {
  if (config.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      config.tls_client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain,
                   rpc::ReadPemFile(config.tls_cert, "--tls-cert"));
  ASSIGN_OR_RETURN(pair.private_key,
                   rpc::ReadPemFile(config.tls_key, "--tls-key"));
  options.pem_key_cert_pairs.push_back(pair);
  if (!config.tls_client_ca.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs,
                     rpc::ReadPemFile(config.tls_client_ca, "--tls-client-ca"));
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(
    const CoordinatorConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<Coordinator> c(new Coordinator);
  ASSIGN_OR_RETURN(c->store_, StateStore::Open(config.state_path));
  c->feed_ = std::make_unique<ChangeFeed>();
  c->store_->set_feed(c->feed_.get());
  ASSIGN_OR_RETURN(TokenAuthenticator auth,
                   TokenAuthenticator::FromFile(config.tokens_path));
  c->auth_ = std::make_unique<TokenAuthenticator>(std::move(auth));
  SchedulerOptions scheduling = config.scheduling;
  scheduling.storage_dir = config.storage_dir;
  if (!scheduling.log) {
    // The operator's record of transitions: one timestamped line each on
    // stdout (the scheduler calls it under its lock, so lines never mix).
    scheduling.log = [](const std::string& line) {
      std::cout << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(),
                                    absl::UTCTimeZone())
                << line << std::endl;
    };
  }
  c->scheduler_ = std::make_unique<Scheduler>(c->store_.get(), scheduling);
  PathRoots roots = config.roots;
  roots.output.push_back(config.storage_dir);
  c->metrics_ = std::make_shared<CoordinatorMetrics>(c->store_.get(),
                                                     c->scheduler_.get());
  c->jobs_ =
      std::make_unique<JobServiceImpl>(c->store_.get(), c->auth_.get(), roots,
                                       c->scheduler_.get(), c->metrics_.get());
  c->workers_ = std::make_unique<WorkerServiceImpl>(
      c->scheduler_.get(), c->auth_.get(), c->metrics_.get(),
      /*require_client_certificate=*/!config.tls_client_ca.empty());
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   ServerCredentials(config));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, credentials, &c->port_);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  // gRPC's sync server answers RESOURCE_EXHAUSTED when its thread quota is
  // spent (unbounded by default: a spike of slow calls grew it by
  // thousands of threads until the process failed).
  grpc::ResourceQuota quota("pgan-coordinator");
  quota.SetMaxThreads(config.max_rpc_threads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(c->jobs_.get());
  builder.RegisterService(c->workers_.get());
  std::unique_ptr<grpc::ServerCompletionQueue> cq =
      builder.AddCompletionQueue();
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || c->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (in use, or not an address of this host)"));
  }
  c->waiting_ = std::make_unique<CompletionLoop>(std::move(cq));
  c->workers_->ServeWaitingCalls(c->waiting_.get());
  c->jobs_->ServeWatches(c->waiting_.get());
  c->waiting_->Start();
  c->serving_ = true;
  c->clock_unix_ms_ = absl::ToUnixMillis(absl::Now());
  Coordinator* raw = c.get();
  if (!config.metrics_listen.empty()) {
    std::map<std::string, rpc::HttpHandler> handlers;
    handlers["/metrics"] = [raw] {
      rpc::HttpResponse response;
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body =
          prometheus::TextSerializer().Serialize(raw->metrics_->Collect());
      return response;
    };
    handlers["/healthz"] = [raw] { return raw->Liveness(); };
    handlers["/readyz"] = [raw] { return raw->Readiness(); };
    absl::StatusOr<std::unique_ptr<rpc::HttpServer>> http =
        rpc::HttpServer::Start(config.metrics_listen, std::move(handlers));
    if (!http.ok()) {
      return absl::Status(
          http.status().code(),
          absl::StrCat("--metrics-listen: ", http.status().message()));
    }
    c->http_ = std::move(*http);
    c->metrics_port_ = c->http_->port();
  }
  if (!config.web_listen.empty()) {
    ASSIGN_OR_RETURN(WebAssets assets, WebAssets::Load(config.web_root));
    c->web_jobs_ =
        std::make_unique<JobApi>(c->store_.get(), roots, c->scheduler_.get());
    WebApiOptions web;
    web.max_streams = config.web_max_streams;
    c->web_api_ =
        std::make_unique<WebApi>(c->web_jobs_.get(), c->auth_.get(),
                                 c->feed_.get(), std::move(assets), web);
    rpc::HttpServerOptions http;
    // Every open console holds a thread with its event stream; the rest
    // serve requests.
    http.threads = config.web_max_streams + 16;
    http.max_body_bytes = kMaxRequestBytes;
    http.headers = WebApi::SecurityHeaders();
    WebApi* api = c->web_api_.get();
    absl::StatusOr<std::unique_ptr<rpc::HttpServer>> server =
        rpc::HttpServer::Start(
            config.web_listen,
            [api](const rpc::HttpRequest& request,
                  rpc::HttpResponder& responder) {
              api->Handle(request, responder);
            },
            std::move(http));
    if (!server.ok()) {
      return absl::Status(
          server.status().code(),
          absl::StrCat("--web-listen: ", server.status().message()));
    }
    c->web_http_ = std::move(*server);
    c->web_port_ = c->web_http_->port();
  }
  c->clock_ = std::thread([raw] {
    std::unique_lock<std::mutex> lock(raw->mu_);
    while (!raw->stopping_) {
      raw->stop_cv_.wait_for(lock, std::chrono::seconds(1));
      if (raw->stopping_) break;
      lock.unlock();
      raw->clock_unix_ms_ = absl::ToUnixMillis(absl::Now());
      if (absl::Status ticked = raw->scheduler_->Tick(absl::Now());
          !ticked.ok()) {
        std::fprintf(stderr, "pgan-coordinator: scheduler: %s\n",
                     std::string(ticked.message()).c_str());
      }
      lock.lock();
    }
  });
  return c;
}

Coordinator::~Coordinator() {
  // Event streams end first: the web server waits for its handlers.
  if (feed_ != nullptr) feed_->Close();
  web_http_.reset();
  http_.reset();
  Shutdown();
  // The async calls end once the server has: those parked in the
  // scheduler are answered, watches end at their next alarm.
  if (waiting_ != nullptr) {
    waiting_->Stop([this] { scheduler_->AbandonWaiting(); });
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (clock_.joinable()) clock_.join();
}

void Coordinator::Wait() {
  if (server_ != nullptr) server_->Wait();
}

rpc::HttpResponse Coordinator::Liveness() const {
  // The clock ticks every second; one stuck for this long (a deadlock, a
  // scheduler tick that never returns) means a restart is the cure.
  constexpr absl::Duration kStuck = absl::Seconds(30);
  const absl::Duration since =
      absl::Now() - absl::FromUnixMillis(clock_unix_ms_.load());
  if (since > kStuck) {
    return rpc::HttpUnavailable(
        absl::StrCat("the scheduler's clock last ticked ",
                     absl::ToInt64Seconds(since), " s ago"));
  }
  return rpc::HttpOk();
}

rpc::HttpResponse Coordinator::Readiness() const {
  if (!serving_) return rpc::HttpUnavailable("not serving (shutting down)");
  // A probe's budget is about a second: wait at most that for a lock.
  if (absl::Status db = store_->CheckHealth(absl::Seconds(1)); !db.ok()) {
    return rpc::HttpUnavailable(std::string(db.message()));
  }
  return rpc::HttpOk();
}

void Coordinator::Shutdown() {
  serving_ = false;
  if (feed_ != nullptr) feed_->Close();
  // In-flight calls (a rendezvous may wait long) are cancelled after 1 s.
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  }
}

}  // namespace pgan::services
