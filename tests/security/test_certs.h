// Test certificates made at run time with the openssl command line (P-256 keys: fast), in a
// fresh temporary directory removed by the destructor: CAs, server certificates for
// 127.0.0.1/localhost, client certificates with a CN and optionally a SPIFFE URI SAN, expired
// ones (negative validity) included. Nothing is checked in, so nothing expires in the tree.
//
// Thread-safety: use from the test's thread.
#ifndef SLICEKEEPER_TESTS_SECURITY_TEST_CERTS_H_
#define SLICEKEEPER_TESTS_SECURITY_TEST_CERTS_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace slicekeeper::testing {

class TestCerts {
 public:
  struct Pair {
    std::string cert;
    std::string key;
  };

  TestCerts() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sk_certs_XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~TestCerts() { std::filesystem::remove_all(dir_); }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  const std::string& dir() const { return dir_; }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // A self-signed CA named `name`: Path(name + ".crt"), Path(name + ".key").
  Pair Ca(const std::string& name) {
    Pair p{Path(name + ".crt"), Path(name + ".key")};
    Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                     " -keyout ", p.key, " -out ", p.cert, " -days 2 -subj /CN=", name,
                     " -addext basicConstraints=critical,CA:TRUE",
                     " -addext keyUsage=critical,keyCertSign,cRLSign"));
    return p;
  }

  // A leaf signed by `ca` with subject CN `cn`, the given subjectAltName ("" for none), valid
  // for `days` (negative: already expired).
  Pair Leaf(const Pair& ca, const std::string& name, const std::string& cn, const std::string& san,
            int days = 2) {
    Pair p{Path(name + ".crt"), Path(name + ".key")};
    const std::string csr = Path(name + ".csr");
    const std::string ext = Path(name + ".ext");
    std::ofstream(ext) << "basicConstraints=CA:FALSE\n"
                       << "extendedKeyUsage=serverAuth,clientAuth\n"
                       << (san.empty() ? "" : "subjectAltName=" + san + "\n");
    Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ",
                     p.key, " -out ", csr, " -subj /CN=", cn));
    Run(absl::StrCat("openssl x509 -req -in ", csr, " -CA ", ca.cert, " -CAkey ", ca.key,
                     " -CAcreateserial -days ", days, " -extfile ", ext, " -out ", p.cert));
    return p;
  }

  // A server certificate for 127.0.0.1 and localhost.
  Pair Server(const Pair& ca, const std::string& name) {
    return Leaf(ca, name, name, "IP:127.0.0.1,DNS:localhost");
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Replaces `to` with `from`'s content by a rename (atomic, as a secret volume update).
  static void Install(const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to + ".new",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(to + ".new", to);
  }

 private:
  static void Run(const std::string& command) {
    const std::string quiet = command + " >/dev/null 2>&1";
    if (std::system(quiet.c_str()) != 0) {
      std::fprintf(stderr, "failed: %s\n", command.c_str());
      std::abort();
    }
  }

  std::string dir_;
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_SECURITY_TEST_CERTS_H_
