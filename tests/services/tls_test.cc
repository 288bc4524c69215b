// TLS and mutual TLS on the real coordinator, with certificates made by
// the openssl command for this test: users need the CA to connect and their
// token, workers additionally a client certificate signed by the client CA;
// a real pgan-worker registers over mutual TLS.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "pgan/v1/worker.grpc.pb.h"
#include "services/auth.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::RunCommand;
using ::pgan::testing::TestDir;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCa("ca");
    MakeCert("ca", "server", "subjectAltName=IP:127.0.0.1");
    MakeCert("ca", "worker", "extendedKeyUsage=clientAuth");
    MakeCa("other-ca");
    MakeCert("other-ca", "intruder", "extendedKeyUsage=clientAuth");
    fs::create_directories(dir_.file("data"));
    ASSERT_TRUE(WriteFileAtomically(dir_.file("tokens.txt"),
                                    "alice user " + Sha256Hex("alice-token") +
                                        "\nw worker " +
                                        Sha256Hex("worker-token") + "\n")
                    .ok());
    const std::string port_file = dir_.file("port");
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string log = dir_.file("coordinator.log");
      freopen(log.c_str(), "a", stdout);
      freopen(log.c_str(), "a", stderr);
      const std::string state = dir_.file("state.db"),
                        tokens = dir_.file("tokens.txt"),
                        data = dir_.file("data"),
                        storage = dir_.file("storage"), cert = Pem("server"),
                        key = Key("server"), client_ca = Pem("ca");
      ::execl(PGAN_COORDINATOR, PGAN_COORDINATOR, "--listen", "127.0.0.1:0",
              "--port-file", port_file.c_str(), "--state", state.c_str(),
              "--tokens", tokens.c_str(), "--data-root", data.c_str(),
              "--storage", storage.c_str(), "--metrics-listen", "",
              "--tls-cert", cert.c_str(), "--tls-key", key.c_str(),
              "--tls-client-ca", client_ca.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto text = ReadFile(port_file);
      int port = 0;
      if (text.ok() &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port))
        port_ = port;
    }
    ASSERT_GT(port_, 0) << ReadFile(dir_.file("coordinator.log")).value_or("");
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  std::string Pem(const std::string& name) { return dir_.file(name + ".pem"); }
  std::string Key(const std::string& name) { return dir_.file(name + ".key"); }

  void OpenSsl(const std::string& args) {
    auto result = RunCommand("openssl " + args);
    ASSERT_EQ(result.exit_code, 0) << args << "\n" << result.output;
  }
  void MakeCa(const std::string& name) {
    OpenSsl(absl::StrCat(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-days 1 -subj /CN=",
        name, " -keyout ", Key(name), " -out ", Pem(name)));
  }
  void MakeCert(const std::string& ca, const std::string& name,
                const std::string& extension) {
    const std::string csr = dir_.file(name + ".csr"),
                      ext = dir_.file(name + ".ext");
    ASSERT_TRUE(WriteFileAtomically(ext, extension + "\n").ok());
    OpenSsl(
        absl::StrCat("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                     "-nodes -subj /CN=",
                     name, " -keyout ", Key(name), " -out ", csr));
    OpenSsl(absl::StrCat("x509 -req -days 1 -in ", csr, " -CA ", Pem(ca),
                         " -CAkey ", Key(ca), " -CAcreateserial -extfile ", ext,
                         " -out ", Pem(name)));
  }

  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

  testing::CommandResult Pgan(const std::string& args) {
    return RunCommand(absl::StrCat("PGAN_TOKEN=alice-token PGAN_COORDINATOR=",
                                   Address(), " ", PGAN_BINARY, " ", args));
  }

  // RegisterWorker with the worker token over TLS, with or without a
  // client certificate.
  grpc::Status RegisterOverTls(const std::string& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(Pem("ca")).value_or("");
    if (!client.empty()) {
      ssl.pem_cert_chain = ReadFile(Pem(client)).value_or("");
      ssl.pem_private_key = ReadFile(Key(client)).value_or("");
    }
    auto stub = pgan::v1::WorkerService::NewStub(
        grpc::CreateChannel(Address(), grpc::SslCredentials(ssl)));
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer worker-token");
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    pgan::v1::RegisterWorkerRequest request;
    request.mutable_info()->set_host("h");
    request.mutable_info()->set_cpu_slots(1);
    pgan::v1::RegisterWorkerResponse response;
    return stub->RegisterWorker(&context, request, &response);
  }

  TestDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(TlsTest, UsersNeedTheCaAndTheirToken) {
  auto plain = Pgan("jobs");
  EXPECT_NE(plain.exit_code, 0) << "plain text to a TLS server";
  auto tls = Pgan("jobs --tls-ca " + Pem("ca"));
  EXPECT_EQ(tls.exit_code, 0) << tls.output;
  auto env = RunCommand(
      absl::StrCat("PGAN_TOKEN=alice-token PGAN_COORDINATOR=", Address(),
                   " PGAN_TLS_CA=", Pem("ca"), " ", PGAN_BINARY, " jobs"));
  EXPECT_EQ(env.exit_code, 0) << env.output;
  auto wrong_ca = Pgan("jobs --tls-ca " + Pem("other-ca"));
  EXPECT_NE(wrong_ca.exit_code, 0) << wrong_ca.output;
  auto missing = Pgan("jobs --tls-ca " + dir_.file("nope.pem"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("nope.pem"), std::string::npos)
      << missing.output;
}

TEST_F(TlsTest, TheWorkerApiNeedsAClientCertificateFromTheClientCa) {
  const grpc::Status without = RegisterOverTls("");
  EXPECT_EQ(without.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << without.error_message();
  EXPECT_NE(without.error_message().find("client certificate"),
            std::string::npos)
      << without.error_message();
  const grpc::Status with = RegisterOverTls("worker");
  EXPECT_TRUE(with.ok()) << with.error_message();
  const grpc::Status intruder = RegisterOverTls("intruder");
  EXPECT_FALSE(intruder.ok()) << "signed by another CA";
}

TEST_F(TlsTest, APoolWorkerRegistersOverMutualTls) {
  auto worker = RunCommand(absl::StrCat(
      "PGAN_TOKEN=worker-token timeout 5 ", PGAN_WORKER, " --coordinator ",
      Address(), " --hostname 127.0.0.1 --cpu-slots 1 --tls-ca ", Pem("ca"),
      " --tls-cert ", Pem("worker"), " --tls-key ", Key("worker")));
  EXPECT_NE(worker.output.find("registered with"), std::string::npos)
      << worker.output;
  auto no_cert = RunCommand(absl::StrCat(
      "PGAN_TOKEN=worker-token timeout 5 ", PGAN_WORKER, " --coordinator ",
      Address(), " --hostname 127.0.0.1 --tls-ca ", Pem("ca")));
  EXPECT_EQ(no_cert.exit_code, 1) << no_cert.output;
  EXPECT_NE(no_cert.output.find("client certificate"), std::string::npos)
      << no_cert.output;
}

}  // namespace
}  // namespace pgan::services
