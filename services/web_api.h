// The coordinator's HTTP/JSON API and the web console's files, on a port of
// their own (--web-listen). Every route is a thin adapter over the same
// JobApi function as the gRPC JobService (job_api.h): the same bearer
// tokens, ownership rules and validation messages, gRPC's status mapped to
// HTTP as Google's APIs map it (401, 403, 404, 400 naming the field, 413
// for a body over the 4 MiB request limit, ...). Messages are protobuf's
// JSON mapping with the proto field names.
//
//   GET  /api/v1/jobs[?state=running&page_size=N&page_token=T]
//   POST /api/v1/jobs                      a JobSpec, JSON or YAML
//   GET  /api/v1/jobs/ID
//   POST /api/v1/jobs/ID:cancel
//   GET  /api/v1/jobs/ID/ticks | /history | /snapshots | /samples
//   GET  /api/v1/jobs/ID/snapshots/WHICH/file   (latest, best, 000200)
//   GET  /api/v1/jobs/ID/samples/NAME            (fakes000040.png)
//   GET  /api/v1/workers
//   GET  /api/v1/events[?job_id=ID]   server-sent events from the change
//                                     feed: job, tick and snapshot
//
// Errors are {"error": {"code": 404, "status": "NOT_FOUND", "message":
// ..., "field": ...}}. Every response carries a strict
// Content-Security-Policy; the console's files come from one directory,
// read once at start.
// Thread-safe.
#ifndef PGAN_SERVICES_WEB_API_H_
#define PGAN_SERVICES_WEB_API_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/http_server.h"
#include "services/auth.h"
#include "services/change_feed.h"
#include "services/job_api.h"

namespace pgan::services {

// The HTTP status of a gRPC status code (google/rpc/code.proto).
int HttpStatusOf(absl::StatusCode code);

// The console's static files: every regular file under a directory (at
// most 32 MiB in all), served by path; "/" is index.html.
class WebAssets {
 public:
  // An empty `dir`: no console (the API alone).
  static absl::StatusOr<WebAssets> Load(const std::string& dir);
  struct File {
    std::string content_type;
    std::string body;
    std::string etag;
  };
  // nullptr when there is no such file.
  const File* Find(const std::string& path) const;

 private:
  std::map<std::string, File> files_;
};

struct WebApiOptions {
  // Event streams open at once; more are answered 503 with Retry-After.
  int max_streams = 200;
  // How often an idle event stream sends a comment (keeps proxies from
  // closing it and finds clients that have gone).
  absl::Duration keepalive = absl::Seconds(15);
};

class WebApi {
 public:
  // Not owned; must outlive the API.
  WebApi(JobApi* api, const TokenAuthenticator* auth, ChangeFeed* feed,
         WebAssets assets, WebApiOptions options = {});

  void Handle(const rpc::HttpRequest& request, rpc::HttpResponder& responder);

  // Headers of every response.
  static rpc::HttpHeaders SecurityHeaders();

 private:
  // Routes under /api/v1/ once the caller is known.
  void Route(const Principal& caller, const rpc::HttpRequest& request,
             rpc::HttpResponder& responder);
  void ServeEvents(const Principal& caller, const rpc::HttpRequest& request,
                   rpc::HttpResponder& responder);
  void ServeSnapshotFile(const Principal& caller, const std::string& job_id,
                         const std::string& which,
                         rpc::HttpResponder& responder);
  void ServeSample(const Principal& caller, const std::string& job_id,
                   const std::string& name, rpc::HttpResponder& responder);
  void ServeAsset(const rpc::HttpRequest& request,
                  rpc::HttpResponder& responder);

  JobApi* api_;
  const TokenAuthenticator* auth_;
  ChangeFeed* feed_;
  const WebAssets assets_;
  const WebApiOptions options_;
  std::atomic<int> streams_{0};
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_WEB_API_H_
