// pgan-healthcheck URL: exits 0 when a GET of URL answers 2xx within
// --timeout, 1 otherwise, saying why on stderr. The HEALTHCHECK of pgan's
// container images (which carry no curl) and a probe for scripts:
//   pgan-healthcheck http://127.0.0.1:9470/readyz
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "proto/http_server.h"

int main(int argc, char** argv) {
  double timeout_s = 5;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--timeout" && i + 1 < argc) {
      if (!absl::SimpleAtod(argv[++i], &timeout_s) || !(timeout_s > 0)) {
        std::cerr << "pgan-healthcheck: --timeout: expected seconds > 0\n";
        return 2;
      }
    } else if (url.empty() && arg.rfind("-", 0) != 0) {
      url = arg;
    } else {
      url.clear();
      break;
    }
  }
  if (url.empty()) {
    std::cerr << "usage: pgan-healthcheck [--timeout SECONDS] "
                 "http://HOST:PORT/PATH\n";
    return 2;
  }
  const absl::StatusOr<pgan::rpc::HttpResponse> response =
      pgan::rpc::HttpGet(url, absl::Seconds(timeout_s));
  if (!response.ok()) {
    std::cerr << "pgan-healthcheck: " << response.status().message() << "\n";
    return 1;
  }
  if (response->status < 200 || response->status > 299) {
    std::cerr << "pgan-healthcheck: " << url << ": HTTP " << response->status
              << ": " << response->body;
    return 1;
  }
  std::cout << response->body;
  return 0;
}
