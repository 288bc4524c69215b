#include "services/web_api.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "proto/job_spec_text.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using rpc::HttpHeaders;
using rpc::HttpRequest;
using rpc::HttpResponder;
using rpc::HttpResponse;

constexpr char kApiPrefix[] = "/api/v1/";
constexpr int64_t kMaxAssetBytes = 32 << 20;
constexpr size_t kFileChunkBytes = 1 << 20;

// "training.batch" of "training.batch: expected ...": the field a
// validation message names, if it starts with one.
std::string FieldOf(absl::string_view message) {
  // Parse errors name the source first ("request body: not a JobSpec in
  // JSON: training.batchh: ..."): the field comes after.
  if (const size_t at = message.find(": not a JobSpec in ");
      at != absl::string_view::npos) {
    message = message.substr(at + 1);
    const size_t colon = message.find(": ");
    if (colon == absl::string_view::npos) return "";
    message = message.substr(colon + 2);
  }
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos || colon == 0) return "";
  const absl::string_view field = message.substr(0, colon);
  const bool is_field = std::all_of(field.begin(), field.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.' || c == '[' || c == ']';
  });
  return is_field ? std::string(field) : "";
}

// A JSON string literal of `text` (the error body is built by hand: it is
// not a message of the API).
std::string Quote(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(
              &out, "\\u00",
              absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

HttpResponse ErrorResponse(const absl::Status& status, int http_status = 0) {
  HttpResponse response;
  response.status =
      http_status != 0 ? http_status : HttpStatusOf(status.code());
  response.content_type = "application/json";
  std::string name = absl::StatusCodeToString(status.code());
  absl::AsciiStrToUpper(&name);
  std::replace(name.begin(), name.end(), ' ', '_');
  response.body = absl::StrCat("{\"error\": {\"code\": ", response.status,
                               ", \"status\": ", Quote(name),
                               ", \"message\": ", Quote(status.message()));
  if (const std::string field = FieldOf(status.message()); !field.empty()) {
    absl::StrAppend(&response.body, ", \"field\": ", Quote(field));
  }
  response.body += "}}\n";
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pgan\"");
  }
  return response;
}

HttpResponse JsonResponse(const google::protobuf::Message& message) {
  HttpResponse response;
  response.content_type = "application/json";
  response.body = ToApiJson(message);
  return response;
}

template <typename Message>
void Reply(const absl::StatusOr<Message>& result, HttpResponder& responder) {
  responder.Send(result.ok() ? JsonResponse(*result)
                             : ErrorResponse(result.status()));
}

HttpResponse MethodNotAllowed(const std::string& allowed) {
  HttpResponse response = ErrorResponse(
      absl::UnimplementedError(absl::StrCat("this path takes ", allowed)), 405);
  response.headers.emplace_back("Allow", allowed);
  return response;
}

// "running", "RUNNING" or "JOB_STATE_RUNNING".
absl::StatusOr<pgan::v1::JobState> ParseState(const std::string& text) {
  std::string name = absl::AsciiStrToUpper(text);
  if (!absl::StartsWith(name, "JOB_STATE_")) name = "JOB_STATE_" + name;
  pgan::v1::JobState state;
  if (!pgan::v1::JobState_Parse(name, &state) ||
      state == pgan::v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state: expected queued, running, restarting, succeeded, failed or "
        "cancelled, got \"",
        text.substr(0, 32), "\""));
  }
  return state;
}

absl::StatusOr<pgan::v1::ListJobsRequest> ListJobsRequestOf(
    const HttpRequest& request) {
  pgan::v1::ListJobsRequest list;
  for (const std::string& value : request.QueryValues("state")) {
    for (absl::string_view one :
         absl::StrSplit(value, ',', absl::SkipEmpty())) {
      ASSIGN_OR_RETURN(pgan::v1::JobState state, ParseState(std::string(one)));
      list.add_states(state);
    }
  }
  if (const auto sizes = request.QueryValues("page_size"); !sizes.empty()) {
    int size = 0;
    if (!absl::SimpleAtoi(sizes.back(), &size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_size: expected an integer, got \"",
                       sizes.back().substr(0, 32), "\""));
    }
    list.set_page_size(size);
  }
  if (const auto tokens = request.QueryValues("page_token"); !tokens.empty()) {
    list.set_page_token(tokens.back());
  }
  return list;
}

std::string ContentTypeOf(const fs::path& path) {
  static const auto* const kTypes = new std::map<std::string, std::string>{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const auto it = kTypes->find(path.extension().string());
  return it == kTypes->end() ? "application/octet-stream" : it->second;
}

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::StatusOr<WebAssets> WebAssets::Load(const std::string& dir) {
  WebAssets assets;
  if (dir.empty()) return assets;
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web-root: ", dir, " is not a directory"));
  }
  int64_t total = 0;
  for (fs::recursive_directory_iterator it(dir, error), end;
       !error && it != end; it.increment(error)) {
    std::error_code type_error;
    if (!it->is_regular_file(type_error)) continue;
    const fs::path relative = fs::relative(it->path(), dir, error);
    if (error) break;
    std::ifstream in(it->path(), std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--web-root: cannot read ", it->path().string()));
    }
    total += static_cast<int64_t>(body.size());
    if (total > kMaxAssetBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--web-root: ", dir,
                       " holds more than 32 MiB: not the console's "
                       "build directory?"));
    }
    File file;
    file.content_type = ContentTypeOf(relative);
    file.etag = absl::StrCat("\"", Sha256Hex(body).substr(0, 20), "\"");
    file.body = std::move(body);
    assets.files_["/" + relative.generic_string()] = std::move(file);
  }
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web-root: reading ", dir, ": ", error.message()));
  }
  if (assets.files_.count("/index.html") == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web-root: ", dir, " has no index.html"));
  }
  return assets;
}

const WebAssets::File* WebAssets::Find(const std::string& path) const {
  const auto it = files_.find(path == "/" ? "/index.html" : path);
  return it == files_.end() ? nullptr : &it->second;
}

WebApi::WebApi(JobApi* api, const TokenAuthenticator* auth, ChangeFeed* feed,
               WebAssets assets, WebApiOptions options)
    : api_(api),
      auth_(auth),
      feed_(feed),
      assets_(std::move(assets)),
      options_(options) {}

rpc::HttpHeaders WebApi::SecurityHeaders() {
  // No inline script or style anywhere; images are blobs the console
  // fetched with its token; nothing may frame the console.
  return {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self' blob:; connect-src 'self'; font-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
  };
}

void WebApi::Handle(const HttpRequest& request, HttpResponder& responder) {
  if (!absl::StartsWith(request.path, kApiPrefix) &&
      request.path != "/api/v1") {
    ServeAsset(request, responder);
    return;
  }
  absl::StatusOr<Principal> caller =
      auth_->AuthenticateHeader(request.Header("authorization"));
  if (caller.ok()) {
    if (absl::Status allowed = CheckJobApiCaller(*caller); !allowed.ok()) {
      caller = allowed;
    }
  }
  if (!caller.ok()) {
    responder.Send(ErrorResponse(caller.status()));
    return;
  }
  Route(*caller, request, responder);
}

void WebApi::Route(const Principal& caller, const HttpRequest& request,
                   HttpResponder& responder) {
  const std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(request.path).substr(sizeof(kApiPrefix) - 1), '/');
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  const auto not_found = [&] {
    responder.Send(ErrorResponse(absl::NotFoundError(
        absl::StrCat("no ", request.path.substr(0, 200),
                     " in the API (see services/web_api.h)"))));
  };
  if (parts.size() == 1 && parts[0] == "jobs") {
    if (get) {
      absl::StatusOr<pgan::v1::ListJobsRequest> list =
          ListJobsRequestOf(request);
      if (!list.ok()) return responder.Send(ErrorResponse(list.status()));
      return Reply(api_->List(caller, *list), responder);
    }
    if (!post) return responder.Send(MethodNotAllowed("GET, POST"));
    const std::string type =
        absl::AsciiStrToLower(request.Header("content-type").value_or(""));
    pgan::v1::SubmitJobRequest submit;
    absl::StatusOr<pgan::v1::JobSpec> spec = rpc::ParseJobSpec(
        request.body,
        absl::StrContains(type, "yaml") ? rpc::SpecFormat::kYaml
                                        : rpc::SpecFormat::kJson,
        "request body");
    if (!spec.ok()) return responder.Send(ErrorResponse(spec.status()));
    *submit.mutable_spec() = std::move(*spec);
    return Reply(api_->Submit(caller, submit), responder);
  }
  if (parts.size() == 1 && parts[0] == "workers") {
    if (!get) return responder.Send(MethodNotAllowed("GET"));
    return Reply(api_->ListWorkers(caller, {}), responder);
  }
  if (parts.size() == 1 && parts[0] == "events") {
    if (!get) return responder.Send(MethodNotAllowed("GET"));
    return ServeEvents(caller, request, responder);
  }
  if (parts.size() < 2 || parts[0] != "jobs" || parts[1].empty()) {
    return not_found();
  }
  absl::string_view id_view = parts[1];
  const bool cancel = absl::ConsumeSuffix(&id_view, ":cancel");
  const std::string id(id_view);
  if (parts.size() == 2 && cancel) {
    if (!post) return responder.Send(MethodNotAllowed("POST"));
    pgan::v1::CancelJobRequest r;
    r.set_id(id);
    return Reply(api_->Cancel(caller, r), responder);
  }
  if (!get) return responder.Send(MethodNotAllowed("GET"));
  if (parts.size() == 2) {
    pgan::v1::GetJobRequest r;
    r.set_id(id);
    return Reply(api_->Get(caller, r), responder);
  }
  const std::string& what = parts[2];
  if (parts.size() == 3 && what == "ticks") {
    pgan::v1::ListTicksRequest r;
    r.set_job_id(id);
    return Reply(api_->ListTicks(caller, r), responder);
  }
  if (parts.size() == 3 && what == "history") {
    pgan::v1::ListJobHistoryRequest r;
    r.set_job_id(id);
    return Reply(api_->ListJobHistory(caller, r), responder);
  }
  if (parts.size() == 3 && what == "snapshots") {
    pgan::v1::ListSnapshotsRequest r;
    r.set_job_id(id);
    return Reply(api_->ListSnapshots(caller, r), responder);
  }
  if (parts.size() == 3 && what == "samples") {
    pgan::v1::ListSamplesRequest r;
    r.set_job_id(id);
    return Reply(api_->ListSamples(caller, r), responder);
  }
  if (parts.size() == 5 && what == "snapshots" && parts[4] == "file") {
    return ServeSnapshotFile(caller, id, parts[3], responder);
  }
  if (parts.size() == 4 && what == "samples") {
    return ServeSample(caller, id, parts[3], responder);
  }
  not_found();
}

void WebApi::ServeSnapshotFile(const Principal& caller,
                               const std::string& job_id,
                               const std::string& which,
                               HttpResponder& responder) {
  pgan::v1::DownloadSnapshotRequest r;
  r.set_job_id(job_id);
  r.set_which(which);
  bool begun = false;
  bool alive = true;
  const absl::Status done = api_->Download(
      caller, r,
      [&](const pgan::v1::DataChunk& chunk) {
        if (!begun) {
          begun = true;
          alive = responder.Begin(
              200, "application/octet-stream",
              {{"Content-Disposition", absl::StrCat("attachment; filename=\"",
                                                    chunk.file_name(), "\"")}},
              chunk.total_size());
        }
        return alive = alive && responder.Write(chunk.data());
      },
      [&] { return !alive; });
  if (begun) return;  // An error after the head cannot be told any more.
  if (!done.ok()) return responder.Send(ErrorResponse(done));
  responder.Begin(200, "application/octet-stream", {}, 0);  // An empty file.
}

void WebApi::ServeSample(const Principal& caller, const std::string& job_id,
                         const std::string& name, HttpResponder& responder) {
  pgan::v1::GetSamplesRequest r;
  r.set_job_id(job_id);
  r.set_name(name);
  absl::StatusOr<JobApi::SampleFile> sample = api_->FindSample(caller, r);
  if (!sample.ok()) return responder.Send(ErrorResponse(sample.status()));
  std::ifstream file(sample->path, std::ios::binary | std::ios::ate);
  if (!file) {
    return responder.Send(ErrorResponse(absl::NotFoundError(
        absl::StrCat("the sample grid ", name, " of job ", job_id,
                     " is gone from the coordinator's storage"))));
  }
  const int64_t total = static_cast<int64_t>(file.tellg());
  file.seekg(0);
  // Grids do not change once written (only fakes_init.png, at a restart,
  // under the same name): a short private cache keeps a time-lapse smooth.
  if (!responder.Begin(200, "image/png",
                       {{"Cache-Control", "private, max-age=60"}}, total)) {
    return;
  }
  std::string buffer(kFileChunkBytes, '\0');
  for (int64_t sent = 0; sent < total;) {
    const int64_t n = std::min<int64_t>(kFileChunkBytes, total - sent);
    if (!file.read(buffer.data(), n) ||
        !responder.Write(absl::string_view(buffer.data(), n))) {
      return;
    }
    sent += n;
  }
}

void WebApi::ServeEvents(const Principal& caller, const HttpRequest& request,
                         HttpResponder& responder) {
  std::string job_id;
  if (const auto ids = request.QueryValues("job_id"); !ids.empty()) {
    job_id = ids.back();
    pgan::v1::GetJobRequest r;
    r.set_id(job_id);
    if (absl::StatusOr<pgan::v1::Job> job = api_->Get(caller, r); !job.ok()) {
      return responder.Send(ErrorResponse(job.status()));
    }
  }
  // A client that reconnects says where it was; a new one starts now.
  int64_t after = feed_->last_sequence();
  if (const auto last = request.Header("last-event-id")) {
    int64_t sequence = 0;
    if (absl::SimpleAtoi(*last, &sequence) && sequence >= 0 &&
        sequence <= after) {
      after = sequence;
    }
  }
  if (streams_.fetch_add(1) >= options_.max_streams) {
    streams_.fetch_sub(1);
    HttpResponse busy = ErrorResponse(absl::UnavailableError(
        absl::StrCat("already ", options_.max_streams,
                     " event streams open (--web-max-streams); retry later")));
    busy.headers.emplace_back("Retry-After", "5");
    return responder.Send(busy);
  }
  struct Release {
    std::atomic<int>* n;
    ~Release() { n->fetch_sub(1); }
  } release{&streams_};
  if (!responder.Begin(
          200, "text/event-stream",
          {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}})) {
    return;
  }
  // The first event says where the stream starts: the console loads what
  // it shows after it, so that no change falls between the two.
  if (!responder.Write(absl::StrCat(
          "retry: 3000\nid: ", after,
          "\nevent: ready\ndata: {\"sequence\": ", after, "}\n\n"))) {
    return;
  }
  while (true) {
    const ChangeFeed::Batch batch =
        feed_->Wait(after, absl::Now() + options_.keepalive);
    if (batch.closed) return;
    if (batch.changes.empty()) {
      if (!responder.Write(": keep-alive\n\n")) return;
      continue;
    }
    std::string out;
    if (batch.lost) out = "event: reset\ndata: {}\n\n";
    for (const auto& change : batch.changes) {
      after = change->sequence;
      if (!CanSeeJob(caller, change->owner)) continue;
      if (!job_id.empty() && change->job_id != job_id) continue;
      const pgan::v1::JobEvent& e = change->event;
      const char* kind = e.has_job()        ? "job"
                         : e.has_tick()     ? "tick"
                         : e.has_snapshot() ? "snapshot"
                                            : "change";
      absl::StrAppend(&out, "id: ", change->sequence, "\nevent: ", kind,
                      "\ndata: ", change->Json(), "\n\n");
    }
    if (out.empty()) out = ": keep-alive\n\n";
    if (!responder.Write(out)) return;
  }
}

void WebApi::ServeAsset(const HttpRequest& request, HttpResponder& responder) {
  if (request.method != "GET" && request.method != "HEAD") {
    return responder.Send(MethodNotAllowed("GET"));
  }
  const WebAssets::File* file = assets_.Find(request.path);
  if (file == nullptr) {
    HttpResponse missing;
    missing.status = 404;
    missing.body = absl::StrCat("no ", request.path.substr(0, 200), " here\n");
    return responder.Send(missing);
  }
  HttpResponse response;
  response.headers.emplace_back("ETag", file->etag);
  response.headers.emplace_back("Cache-Control", "no-cache");
  if (request.Header("if-none-match") == file->etag) {
    response.status = 304;
    response.content_type = file->content_type;
    return responder.Send(response);
  }
  response.content_type = file->content_type;
  response.body = file->body;
  responder.Send(response);
}

}  // namespace pgan::services
