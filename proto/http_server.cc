#include "proto/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pgan::rpc {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

// The head is formatted here and written with the body: civetweb's own
// mg_printf crashed in pgan-worker's server threads (seen under gdb).
std::string Head(int status, const std::string& content_type,
                 int64_t content_length, const HttpHeaders& common,
                 const HttpHeaders& headers) {
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status),
                                  "\r\nContent-Type: ", content_type, "\r\n");
  if (content_length >= 0) {
    absl::StrAppend(&head, "Content-Length: ", content_length, "\r\n");
  }
  bool cache_control = false;
  for (const HttpHeaders* list : {&common, &headers}) {
    for (const auto& [name, value] : *list) {
      cache_control |= absl::EqualsIgnoreCase(name, "Cache-Control");
      absl::StrAppend(&head, name, ": ", value, "\r\n");
    }
  }
  if (!cache_control) absl::StrAppend(&head, "Cache-Control: no-store\r\n");
  absl::StrAppend(&head, "Connection: close\r\n\r\n");
  return head;
}

bool WriteAll(mg_connection* connection, absl::string_view data) {
  while (!data.empty()) {
    const int n = mg_write(connection, data.data(), data.size());
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

class Responder final : public HttpResponder {
 public:
  Responder(mg_connection* connection, const HttpHeaders* common, bool head)
      : connection_(connection), common_(common), head_only_(head) {}

  void Send(const HttpResponse& response) override {
    if (begun_) return;
    if (Begin(response.status, response.content_type, response.headers,
              static_cast<int64_t>(response.body.size()))) {
      Write(response.body);
    }
  }
  bool Begin(int status, const std::string& content_type,
             const HttpHeaders& headers, int64_t content_length) override {
    if (begun_) return false;
    begun_ = true;
    status_ = status;
    return alive_ = WriteAll(
               connection_,
               Head(status, content_type, content_length, *common_, headers));
  }
  bool Write(absl::string_view data) override {
    if (!begun_ || !alive_) return false;
    if (head_only_) return true;
    return alive_ = WriteAll(connection_, data);
  }
  bool begun() const { return begun_; }
  int status() const { return status_; }

 private:
  mg_connection* connection_;
  const HttpHeaders* common_;
  const bool head_only_;
  bool begun_ = false;
  bool alive_ = true;
  int status_ = 0;
};

// %XX and (in queries) '+' decoded; malformed escapes stay as they are.
std::string Decode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::SimpleHexAtoi(text.substr(i + 1, 2), &value)) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

// A socket that closes itself.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status Await(int fd, short events, absl::Time deadline,
                   const std::string& url) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(url, ": no answer in time"));
    }
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat(url, ": poll: ", std::strerror(errno)));
    }
  }
}

// "HOST:PORT" or "[IPv6]:PORT" into the host (brackets removed) and a port
// in 0..65535.
bool SplitHostPort(const std::string& text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(text.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return false;
  }
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty();
}

}  // namespace

HttpResponse HttpOk(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpUnavailable(std::string reason) {
  HttpResponse response;
  response.status = 503;
  response.body = std::move(reason);
  if (!absl::EndsWith(response.body, "\n")) response.body += "\n";
  return response;
}

std::optional<std::string> HttpRequest::Header(
    const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> HttpRequest::QueryValues(
    absl::string_view name) const {
  std::vector<std::string> values;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t equals = pair.find('=');
    if (Decode(pair.substr(0, equals)) != name) continue;
    values.push_back(equals == absl::string_view::npos
                         ? std::string()
                         : Decode(pair.substr(equals + 1)));
  }
  return values;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, std::map<std::string, HttpHandler> handlers) {
  auto router = [handlers = std::move(handlers)](const HttpRequest& request,
                                                 HttpResponder& responder) {
    HttpResponse response;
    const auto handler = handlers.find(request.path);
    if (handler == handlers.end()) {
      response.status = 404;
      response.body = absl::StrCat("no ", request.path, " here\n");
    } else if (request.method != "GET" && request.method != "HEAD") {
      response.status = 405;
      response.body = "GET only\n";
    } else {
      response = handler->second();
    }
    responder.Send(response);
  };
  return Start(listen, std::move(router), HttpServerOptions());
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, HttpRouter router, HttpServerOptions options) {
  // civetweb reads what it cannot parse as an address as a bare port on
  // every interface: check the form first.
  std::string host;
  int port = -1;
  unsigned char address[sizeof(in6_addr)];
  if (!SplitHostPort(listen, &host, &port) ||
      inet_pton(listen.front() == '[' ? AF_INET6 : AF_INET, host.c_str(),
                address) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", listen, "\": expected IP:PORT (0.0.0.0:9470, [::]:9470)"));
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->router_ = std::move(router);
  server->options_ = std::move(options);
  // civetweb keeps a process-wide reference count of its users (the
  // prometheus-cpp exposer is another).
  mg_init_library(0);
  const std::string threads = std::to_string(server->options_.threads);
  const char* civet_options[] = {"listening_ports",
                                 listen.c_str(),
                                 "num_threads",
                                 threads.c_str(),
                                 "request_timeout_ms",
                                 "10000",
                                 "enable_keep_alive",
                                 "no",
                                 nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  // civetweb logs why a start failed through this callback; keep it quiet
  // and report the address instead.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  server->context_ = mg_start(&callbacks, server.get(), civet_options);
  if (server->context_ == nullptr) {
    mg_exit_library();
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", listen,
                     " (in use, or not HOST:PORT of an address of this host)"));
  }
  mg_set_request_handler(server->context_, "/", &HttpServer::Dispatch,
                         server.get());
  mg_server_port ports[4];
  const int n = mg_get_server_ports(server->context_, 4, ports);
  server->port_ = n > 0 ? ports[0].port : 0;
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) {
    mg_stop(context_);
    mg_exit_library();
  }
}

int HttpServer::Dispatch(mg_connection* connection, void* self) {
  const HttpServer& server = *static_cast<HttpServer*>(self);
  const mg_request_info* info = mg_get_request_info(connection);
  HttpRequest request;
  request.method = info->request_method;
  request.path = info->local_uri != nullptr ? info->local_uri : "/";
  if (info->query_string != nullptr) request.query = info->query_string;
  for (int i = 0; i < info->num_headers; ++i) {
    request.headers[absl::AsciiStrToLower(info->http_headers[i].name)] =
        info->http_headers[i].value;
  }
  Responder responder(connection, &server.options_.headers,
                      request.method == "HEAD");
  const int64_t limit = server.options_.max_body_bytes;
  const auto too_large = [&] {
    HttpResponse response;
    response.status = 413;
    response.body = absl::StrCat("the request body is over the limit of ",
                                 limit, " bytes\n");
    responder.Send(response);
    return 413;
  };
  if (info->content_length > limit) return too_large();
  // A body of unknown length (chunked) is read up to one byte over. The
  // buffer is on the heap: civetweb's threads have small stacks (a build
  // constant), and a process with LibTorch's static TLS (pgan-worker) has
  // even less of them; 16 KiB here made its next request overflow.
  if (limit > 0 && info->content_length != 0) {
    std::string buffer(16384, '\0');
    while (static_cast<int64_t>(request.body.size()) <= limit) {
      const int n = mg_read(connection, buffer.data(), buffer.size());
      if (n <= 0) break;
      request.body.append(buffer.data(), static_cast<size_t>(n));
    }
    if (static_cast<int64_t>(request.body.size()) > limit) return too_large();
  }
  try {
    server.router_(request, responder);
  } catch (const std::exception& e) {
    HttpResponse response;
    response.status = 500;
    response.body = absl::StrCat(e.what(), "\n");
    responder.Send(response);
  }
  if (!responder.begun()) {
    HttpResponse response;
    response.status = 500;
    response.body = "no response\n";
    responder.Send(response);
  }
  return responder.status();
}

absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout) {
  HttpClientRequest request;
  request.url = url;
  return HttpFetch(request, timeout);
}

absl::StatusOr<HttpResponse> HttpFetch(const HttpClientRequest& call,
                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string& url = call.url;
  constexpr absl::string_view kScheme = "http://";
  if (!absl::StartsWith(url, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat(url, ": expected http://HOST:PORT/PATH"));
  }
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  const std::string path =
      slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host;
  int port = 0;
  if (!SplitHostPort(authority, &host, &port) || port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(url, ": expected http://HOST:PORT/PATH"));
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(),
                                 &hints, &found);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, freeaddrinfo);
  Fd fd(socket(found->ai_family,
               found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               found->ai_protocol));
  if (fd.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": socket: ", std::strerror(errno)));
  }
  if (connect(fd.get(), found->ai_addr, found->ai_addrlen) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(
        absl::StrCat(url, ": connect: ", std::strerror(errno)));
  }
  if (absl::Status ready = Await(fd.get(), POLLOUT, deadline, url);
      !ready.ok()) {
    return ready;
  }
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": connect: ", std::strerror(error)));
  }

  std::string request =
      absl::StrCat(call.method, " ", path, " HTTP/1.0\r\nHost: ", authority,
                   "\r\nConnection: close\r\n");
  for (const auto& [name, value] : call.headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  if (!call.body.empty() || call.method == "POST" || call.method == "PUT") {
    absl::StrAppend(&request, "Content-Length: ", call.body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", call.body);
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd.get(), request.data() + sent,
                           request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat(url, ": send: ", std::strerror(errno)));
    } else if (absl::Status ready = Await(fd.get(), POLLOUT, deadline, url);
               !ready.ok()) {
      return ready;
    }
  }
  std::string raw;
  HttpResponse response;
  size_t header_end = std::string::npos;
  // The head, once it has all come.
  const auto parse_head = [&]() -> absl::Status {
    std::vector<std::string> status_line =
        absl::StrSplit(raw.substr(0, raw.find("\r\n")), ' ');
    if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/") ||
        !absl::SimpleAtoi(status_line[1], &response.status)) {
      return absl::UnavailableError(
          absl::StrCat(url, ": the answer is not HTTP"));
    }
    response.content_type.clear();
    bool first = true;
    for (absl::string_view line :
         absl::StrSplit(raw.substr(0, header_end), "\r\n")) {
      if (first) {
        first = false;
        continue;
      }
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      if (name == "content-type") response.content_type = value;
      response.headers.emplace_back(std::move(name), std::move(value));
    }
    raw.erase(0, header_end + 4);
    return absl::OkStatus();
  };
  char buffer[8192];
  while (true) {
    const ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      raw.append(buffer, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = raw.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        if (absl::Status head = parse_head(); !head.ok()) return head;
      }
      if (call.on_body && !raw.empty()) {
        const bool more = call.on_body(raw);
        raw.clear();
        if (!more) return response;
      }
    } else if (n == 0) {
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat(url, ": recv: ", std::strerror(errno)));
    } else if (absl::Status ready = Await(fd.get(), POLLIN, deadline, url);
               !ready.ok()) {
      return ready;
    }
  }
  if (header_end == std::string::npos) {
    return absl::UnavailableError(
        absl::StrCat(url, ": the answer is not HTTP"));
  }
  response.body = std::move(raw);
  return response;
}

}  // namespace pgan::rpc
