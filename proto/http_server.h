// The plain-HTTP side of pgan's processes: /metrics for Prometheus and the
// health endpoints that Kubernetes probes and Docker health checks call
// (/healthz: the process is alive; /readyz: it can do its work). One small
// embedded server (civetweb, which prometheus-cpp already brings) serves all
// of a process's paths on one port, and HttpGet is the client of
// pgan-healthcheck and the tests.
#ifndef PGAN_PROTO_HTTP_SERVER_H_
#define PGAN_PROTO_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct mg_connection;
struct mg_context;

namespace pgan::rpc {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called on one of the server's threads for a GET of its path; must be
// thread-safe and quick (a probe has a deadline of a second or so).
using HttpHandler = std::function<HttpResponse()>;

// Two common answers: 200 with `body`, and 503 (Service Unavailable) with
// the reason.
HttpResponse HttpOk(std::string body = "ok\n");
HttpResponse HttpUnavailable(std::string reason);

class HttpServer {
 public:
  // Serves `handlers` (by exact path; any other path is 404, any other
  // method 405) on `listen`, "IP:PORT" or "[IPv6]:PORT" (port 0: any free
  // one). A malformed address is INVALID_ARGUMENT, one that cannot be bound
  // UNAVAILABLE, both naming it.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, std::map<std::string, HttpHandler> handlers);
  // Stops serving; waits for requests in flight.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer() = default;
  static int Dispatch(::mg_connection* connection, void* self);

  std::map<std::string, HttpHandler> handlers_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

// GETs `url` ("http://HOST:PORT/PATH"; no TLS, no redirects) within
// `timeout`. Any HTTP status is a response; a malformed URL is
// INVALID_ARGUMENT and a connection that fails or times out UNAVAILABLE or
// DEADLINE_EXCEEDED, each naming the URL.
absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout);

}  // namespace pgan::rpc

#endif  // PGAN_PROTO_HTTP_SERVER_H_
