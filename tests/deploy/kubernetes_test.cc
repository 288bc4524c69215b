// deploy/kubernetes without a cluster: the kustomizations (base and the cpu
// and gpu overlays) are rendered in a copy of deploy/ after make-secrets.sh
// ran there, and the objects must fit together as the cluster would need:
// Service selectors find pods, referenced Secrets/ConfigMaps/PVCs exist,
// probes and Service target ports name container ports, the command lines'
// listen ports are those ports, images are pinned, containers request
// resources, the coordinator and the workers see the same run directories,
// the NetworkPolicies admit only workers and clients to the coordinator,
// the ServiceMonitor and the plain Prometheus scrape config find the
// coordinator, and every metric the Grafana dashboard queries is one a real
// pgan-coordinator exports. The MPIJob example is checked the same way.
//
// The renderer here implements only the part of kustomize these
// kustomizations use and throws on every field it does not implement, so
// that it cannot silently render something else; where kubectl is on PATH
// its `kubectl kustomize` output must equal the renderer's.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "proto/http_server.h"
#include "tests/common/subprocess.h"

namespace pgan::deploy {
namespace {

namespace fs = std::filesystem;
using ::nlohmann::json;
using ::pgan::testing::RunCommand;
using ::pgan::testing::Spawn;
using ::pgan::testing::StopProcess;
using ::pgan::testing::WaitFor;

constexpr char kSourceDir[] = PGAN_SOURCE_DIR;

// The kustomizations an operator deploys from (relative to
// deploy/kubernetes); the base is also rendered on its own.
const std::vector<std::string>& Kustomizations() {
  static const std::vector<std::string> kAll = {"base", "overlays/cpu",
                                                "overlays/gpu"};
  return kAll;
}

// ---------------------------------------------------------------------------
// YAML helpers.

// What the renderer throws for anything it does not implement or that
// kustomize itself would refuse.
class RenderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& what) { throw RenderError(what); }

// node[key] without inserting it (yaml-cpp's non-const operator[] does):
// an undefined node when the key is absent or `node` is not a map.
YAML::Node At(const YAML::Node& node, const std::string& key) {
  if (node.IsDefined() && node.IsMap()) {
    for (const auto& entry : node) {
      if (entry.first.Scalar() == key) return entry.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// At() along a path of keys.
//
// A yaml-cpp Node is a handle: `a = b` on a handle that already refers to
// a node overwrites that node (in the document it belongs to) with b.
// Handles that walk a document move with reset() instead.
YAML::Node AtPath(const YAML::Node& start,
                  std::initializer_list<const char*> keys) {
  YAML::Node node;
  node.reset(start);
  for (const char* key : keys) node.reset(At(node, key));
  return node;
}

// A scalar's text; "" for anything else.
std::string Text(const YAML::Node& node) {
  return node.IsDefined() && node.IsScalar() ? node.Scalar() : std::string();
}

// A node's items (empty when it is not a sequence).
std::vector<YAML::Node> Items(const YAML::Node& node) {
  std::vector<YAML::Node> items;
  if (node.IsDefined() && node.IsSequence()) {
    for (const YAML::Node& item : node) items.push_back(item);
  }
  return items;
}

// A sequence of scalars as strings.
std::vector<std::string> Strings(const YAML::Node& node) {
  std::vector<std::string> out;
  for (const YAML::Node& item : Items(node)) out.push_back(Text(item));
  return out;
}

// group/kind/namespace/name: what kustomize and the API server key objects
// by.
std::string Id(const YAML::Node& doc) {
  const std::string api = Text(At(doc, "apiVersion"));
  const size_t slash = api.find('/');
  const std::string group =
      slash == std::string::npos ? "" : api.substr(0, slash);
  return group + "/" + Text(At(doc, "kind")) + "/" +
         Text(AtPath(doc, {"metadata", "namespace"})) + "/" +
         Text(AtPath(doc, {"metadata", "name"}));
}

// Equal as Kubernetes reads them: map keys in any order, sequences in
// order, scalars by their text (kubectl re-quotes scalars). `where` gets
// the path of the first difference.
bool SameYaml(const YAML::Node& a, const YAML::Node& b, const std::string& path,
              std::string* where) {
  const auto type = [](const YAML::Node& n) {
    return n.IsDefined() ? n.Type() : YAML::NodeType::Undefined;
  };
  if (type(a) != type(b)) {
    *where = path + ": " + (a.IsDefined() ? YAML::Dump(a) : "(absent)") +
             " vs " + (b.IsDefined() ? YAML::Dump(b) : "(absent)");
    return false;
  }
  switch (type(a)) {
    case YAML::NodeType::Scalar:
      if (a.Scalar() == b.Scalar()) return true;
      *where = path + ": \"" + a.Scalar() + "\" vs \"" + b.Scalar() + "\"";
      return false;
    case YAML::NodeType::Sequence:
      if (a.size() != b.size()) {
        *where = path + ": " + std::to_string(a.size()) + " vs " +
                 std::to_string(b.size()) + " items";
        return false;
      }
      for (size_t i = 0; i < a.size(); ++i) {
        if (!SameYaml(a[i], b[i], path + "[" + std::to_string(i) + "]",
                      where)) {
          return false;
        }
      }
      return true;
    case YAML::NodeType::Map:
      for (const auto& entry : b) {
        if (!At(a, entry.first.Scalar()).IsDefined()) {
          *where = path + "." + entry.first.Scalar() + ": only in the second";
          return false;
        }
      }
      for (const auto& entry : a) {
        const std::string key = entry.first.Scalar();
        if (!SameYaml(entry.second, At(b, key), path + "." + key, where)) {
          return false;
        }
      }
      return true;
    default:
      return true;
  }
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---------------------------------------------------------------------------
// The renderer: kustomize for the fields deploy/ uses.
//
//   resources          files (every YAML document) and directories (other
//                      kustomizations, rendered first)
//   namespace          metadata.namespace of every namespaced object
//   labels             pairs added to every object's metadata.labels
//                      (includeSelectors/includeTemplates: not implemented)
//   images             name -> newName/newTag/digest in every `containers`
//                      and `initContainers` list, at any depth (CRDs too)
//   configMapGenerator, secretGenerator
//                      files ("key=path" or "path") and literals, with
//                      generatorOptions.disableNameSuffixHash: true (hash
//                      suffixes are not implemented) and labels/annotations
//   patches            `path` to a strategic-merge patch of a built-in kind
//
// applied in kustomize's order (resources, generators, then patches,
// namespace, labels, images). Anything else throws RenderError.

void CheckFields(const YAML::Node& map, const std::set<std::string>& known,
                 const std::string& where) {
  if (!map.IsDefined() || !map.IsMap()) Fail(where + ": expected a map");
  for (const auto& entry : map) {
    if (known.count(entry.first.Scalar()) == 0) {
      Fail(where + ": field \"" + entry.first.Scalar() +
           "\" is not implemented by this renderer");
    }
  }
}

// kustomize's default load restrictor: a file must lie under the
// kustomization's root (directories of other kustomizations may not).
fs::path UnderRoot(const fs::path& root, const std::string& relative,
                   const std::string& what) {
  const fs::path path = fs::weakly_canonical(root / relative);
  const fs::path rel = path.lexically_relative(fs::weakly_canonical(root));
  if (rel.empty() || *rel.begin() == "..") {
    Fail(what + " \"" + relative + "\" is outside " + root.string() +
         " (kustomize's load restrictor refuses it)");
  }
  return path;
}

std::vector<YAML::Node> LoadDocuments(const fs::path& file) {
  std::vector<YAML::Node> docs;
  for (const YAML::Node& doc : YAML::LoadAllFromFile(file.string())) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    if (!doc.IsMap()) Fail(file.string() + ": a document that is not a map");
    docs.push_back(doc);
  }
  return docs;
}

// Whether a ConfigMap can hold `text` in data (kustomize puts other bytes
// in binaryData, which this renderer does not implement).
bool ValidUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    if (lead >= 0xF0 && lead < 0xF8) {
      extra = 3;
    } else if (lead >= 0xE0) {
      extra = 2;
    } else if (lead >= 0xC0) {
      extra = 1;
    } else if (lead >= 0x80) {
      return false;
    }
    if (lead >= 0xF8 || i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += extra + 1;
  }
  return true;
}

// Base64 as kustomize writes Secret data: a value of 70 characters or
// more is cut into lines of 70, each ending in a newline (the API server's
// decoder skips them).
std::string KustomizeBase64(const std::string& value) {
  const std::string encoded = YAML::EncodeBase64(
      reinterpret_cast<const unsigned char*>(value.data()), value.size());
  constexpr size_t kLine = 70;
  if (encoded.size() < kLine) return encoded;
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += kLine) {
    out += encoded.substr(i, kLine) + "\n";
  }
  return out;
}

// A ConfigMap or Secret from a configMapGenerator/secretGenerator entry.
YAML::Node Generate(const std::string& kind, const YAML::Node& spec,
                    const YAML::Node& options, const fs::path& root) {
  const std::string where = root.string() + " " + kind + " generator";
  std::set<std::string> known = {"name", "files", "literals", "options"};
  if (kind == "Secret") known.insert("type");
  CheckFields(spec, known, where);
  const std::string name = Text(At(spec, "name"));
  if (name.empty()) Fail(where + ": no name");
  const YAML::Node own = At(spec, "options");
  if (own.IsDefined()) {
    CheckFields(own, {"labels", "annotations", "disableNameSuffixHash"},
                where + " options");
  }
  const std::string hash_off = Text(At(
      own.IsDefined() && At(own, "disableNameSuffixHash").IsDefined() ? own
                                                                      : options,
      "disableNameSuffixHash"));
  if (hash_off != "true") {
    Fail(where + " " + name +
         ": name suffix hashes are not implemented (and the manifests refer "
         "to fixed names): set disableNameSuffixHash: true");
  }
  YAML::Node out(YAML::NodeType::Map);
  out["apiVersion"] = "v1";
  out["kind"] = kind;
  out["metadata"]["name"] = name;
  for (const YAML::Node& source : {options, own}) {
    for (const char* field : {"labels", "annotations"}) {
      for (const auto& entry : At(source, field)) {
        out["metadata"][field][entry.first.Scalar()] = entry.second.Scalar();
      }
    }
  }
  YAML::Node data(YAML::NodeType::Map);
  const auto add = [&](const std::string& key, const std::string& value) {
    if (At(data, key).IsDefined()) Fail(where + ": key " + key + " twice");
    if (kind == "Secret") {
      data[key] = KustomizeBase64(value);
    } else {
      if (!ValidUtf8(value)) {
        Fail(where + ": " + key +
             " is not UTF-8 (binaryData: not implemented)");
      }
      data[key] = value;
    }
  };
  for (const YAML::Node& file : Items(At(spec, "files"))) {
    const std::string entry = file.Scalar();
    const size_t eq = entry.find('=');
    const std::string path =
        eq == std::string::npos ? entry : entry.substr(eq + 1);
    const std::string key = eq == std::string::npos
                                ? fs::path(path).filename().string()
                                : entry.substr(0, eq);
    add(key, ReadFile(UnderRoot(root, path, "generator file")));
  }
  for (const YAML::Node& literal : Items(At(spec, "literals"))) {
    const std::string entry = literal.Scalar();
    const size_t eq = entry.find('=');
    if (eq == std::string::npos ||
        entry.find_first_of("\"'") != std::string::npos) {
      Fail(where + ": literal \"" + entry + "\": only plain KEY=VALUE");
    }
    add(entry.substr(0, eq), entry.substr(eq + 1));
  }
  if (data.size() > 0) out["data"] = data;
  if (kind == "Secret") {
    const std::string type = Text(At(spec, "type"));
    out["type"] = type.empty() ? "Opaque" : type;
  }
  return out;
}

// The strategic merge's list semantics for the fields the patches may
// touch: lists of these are merged item by item on the key (a patched item
// first, in the patch's order, then the base's other items, as kustomize
// orders them); kReplacedLists are replaced whole (no merge key in the
// API). A list field in neither throws: its semantics are not implemented.
std::string MergeKey(const std::string& field, const YAML::Node& patch_items) {
  static const std::set<std::string> kByName = {
      "containers", "initContainers", "env", "volumes", "imagePullSecrets"};
  if (kByName.count(field) != 0) return "name";
  if (field == "volumeMounts") return "mountPath";
  if (field == "ports") {
    // Container ports merge on containerPort, Service ports on port.
    for (const YAML::Node& item : patch_items) {
      if (At(item, "containerPort").IsDefined()) return "containerPort";
    }
    return "port";
  }
  return "";
}

const std::set<std::string>& ReplacedLists() {
  static const std::set<std::string> kReplaced = {"args", "command",
                                                  "tolerations", "accessModes"};
  return kReplaced;
}

YAML::Node Merge(const YAML::Node& base, const YAML::Node& patch,
                 const std::string& field, const std::string& where) {
  if (patch.IsMap()) {
    YAML::Node out = base.IsDefined() && base.IsMap()
                         ? YAML::Clone(base)
                         : YAML::Node(YAML::NodeType::Map);
    for (const auto& entry : patch) {
      const std::string key = entry.first.Scalar();
      if (!key.empty() && key[0] == '$') {
        Fail(where + ": patch directive " + key + " is not implemented");
      }
      if (entry.second.IsNull()) {  // `key: null` deletes.
        out.remove(key);
        continue;
      }
      out[key] = Merge(At(out, key), entry.second, key, where + "." + key);
    }
    return out;
  }
  if (patch.IsSequence()) {
    const std::string key = MergeKey(field, patch);
    if (key.empty()) {
      if (ReplacedLists().count(field) == 0) {
        Fail(where + ": how the strategic merge treats list \"" + field +
             "\" is not implemented");
      }
      return YAML::Clone(patch);
    }
    const std::vector<YAML::Node> old = Items(base);
    std::vector<bool> merged(old.size(), false);
    YAML::Node out(YAML::NodeType::Sequence);
    for (const YAML::Node& item : patch) {
      const std::string value = Text(At(item, key));
      if (value.empty()) Fail(where + ": an item without " + key);
      bool found = false;
      for (size_t i = 0; i < old.size() && !found; ++i) {
        if (!merged[i] && Text(At(old[i], key)) == value) {
          out.push_back(Merge(old[i], item, field, where + "[" + value + "]"));
          merged[i] = found = true;
        }
      }
      if (!found) out.push_back(Merge(YAML::Node(), item, field, where));
    }
    for (size_t i = 0; i < old.size(); ++i) {
      if (!merged[i]) out.push_back(YAML::Clone(old[i]));
    }
    return out;
  }
  return YAML::Clone(patch);
}

void ApplyPatch(std::vector<YAML::Node>& resources, const YAML::Node& patch,
                const std::string& where) {
  // Built-in kinds only: kustomize merges other kinds without the API's
  // merge keys, which this renderer does not imitate.
  static const std::set<std::string> kBuiltIn = {
      "Deployment", "StatefulSet",  "DaemonSet", "Job",
      "Service",    "ConfigMap",    "Secret",    "PersistentVolumeClaim",
      "Namespace",  "NetworkPolicy"};
  const std::string kind = Text(At(patch, "kind"));
  const std::string name = Text(AtPath(patch, {"metadata", "name"}));
  if (kBuiltIn.count(kind) == 0) {
    Fail(where + ": patches of kind \"" + kind + "\" are not implemented");
  }
  if (name.empty()) Fail(where + ": the patch names no object");
  if (AtPath(patch, {"metadata", "namespace"}).IsDefined()) {
    Fail(where + ": a patch with a namespace is not implemented");
  }
  YAML::Node* target = nullptr;
  for (YAML::Node& resource : resources) {
    if (Text(At(resource, "kind")) == kind &&
        Text(AtPath(resource, {"metadata", "name"})) == name &&
        Text(At(resource, "apiVersion")) == Text(At(patch, "apiVersion"))) {
      if (target != nullptr) Fail(where + ": matches several objects");
      target = &resource;
    }
  }
  if (target == nullptr)
    Fail(where + ": no " + kind + " " + name + " to patch");
  target->reset(Merge(*target, patch, "", where));
}

struct ImageName {
  std::string name;    // registry/repository
  std::string tag;     // "" when none
  std::string digest;  // "" when none, else "sha256:..."
};

ImageName ParseImage(const std::string& image) {
  ImageName out;
  std::string rest = image;
  const size_t at = rest.find('@');
  if (at != std::string::npos) {
    out.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  const size_t slash = rest.rfind('/');
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos &&
      (slash == std::string::npos || colon > slash)) {
    out.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  out.name = rest;
  return out;
}

void ApplyImages(YAML::Node node, const YAML::Node& images) {
  if (!node.IsMap() && !node.IsSequence()) return;
  if (node.IsSequence()) {
    for (YAML::Node item : node) ApplyImages(item, images);
    return;
  }
  for (auto entry : node) {
    const std::string key = entry.first.Scalar();
    if ((key == "containers" || key == "initContainers") &&
        entry.second.IsSequence()) {
      for (YAML::Node container : entry.second) {
        const std::string image = Text(At(container, "image"));
        if (image.empty()) continue;
        const ImageName parsed = ParseImage(image);
        for (const YAML::Node& rule : images) {
          if (Text(At(rule, "name")) != parsed.name) continue;
          const std::string name = At(rule, "newName").IsDefined()
                                       ? Text(At(rule, "newName"))
                                       : parsed.name;
          std::string result = name;
          if (At(rule, "digest").IsDefined()) {
            result += "@" + Text(At(rule, "digest"));
          } else if (At(rule, "newTag").IsDefined()) {
            if (!parsed.digest.empty()) {
              Fail("images: newTag for " + image +
                   ", which has a digest, is not implemented");
            }
            result += ":" + Text(At(rule, "newTag"));
          } else {
            result += (parsed.tag.empty() ? "" : ":" + parsed.tag) +
                      (parsed.digest.empty() ? "" : "@" + parsed.digest);
          }
          container["image"] = result;
          break;
        }
      }
    }
    ApplyImages(entry.second, images);
  }
}

std::vector<YAML::Node> Render(const fs::path& root) {
  const fs::path file = root / "kustomization.yaml";
  if (!fs::exists(file)) Fail("no kustomization.yaml in " + root.string());
  for (const char* other : {"kustomization.yml", "Kustomization"}) {
    if (fs::exists(root / other))
      Fail(root.string() + " has two kustomizations");
  }
  const YAML::Node k = YAML::LoadFile(file.string());
  const std::string where = file.string();
  CheckFields(
      k,
      {"apiVersion", "kind", "resources", "namespace", "labels", "images",
       "configMapGenerator", "secretGenerator", "generatorOptions", "patches"},
      where);
  if (At(k, "apiVersion").IsDefined() &&
      Text(At(k, "apiVersion")) != "kustomize.config.k8s.io/v1beta1") {
    Fail(where + ": apiVersion " + Text(At(k, "apiVersion")));
  }
  if (At(k, "kind").IsDefined() && Text(At(k, "kind")) != "Kustomization") {
    Fail(where + ": kind " + Text(At(k, "kind")));
  }

  std::vector<YAML::Node> resources;
  for (const YAML::Node& entry : Items(At(k, "resources"))) {
    const std::string resource = entry.Scalar();
    if (resource.find("://") != std::string::npos ||
        resource.rfind("github.com/", 0) == 0) {
      Fail(where + ": remote resource " + resource + " is not implemented");
    }
    const fs::path path = root / resource;
    std::vector<YAML::Node> docs =
        fs::is_directory(path)
            ? Render(path)
            : LoadDocuments(UnderRoot(root, resource, "resource"));
    resources.insert(resources.end(), docs.begin(), docs.end());
  }

  const YAML::Node options = At(k, "generatorOptions");
  if (options.IsDefined()) {
    CheckFields(options, {"labels", "annotations", "disableNameSuffixHash"},
                where + " generatorOptions");
  }
  for (const YAML::Node& spec : Items(At(k, "configMapGenerator"))) {
    resources.push_back(Generate("ConfigMap", spec, options, root));
  }
  for (const YAML::Node& spec : Items(At(k, "secretGenerator"))) {
    resources.push_back(Generate("Secret", spec, options, root));
  }

  for (const YAML::Node& patch : Items(At(k, "patches"))) {
    CheckFields(patch, {"path"}, where + " patches");
    const fs::path path = UnderRoot(root, Text(At(patch, "path")), "patch");
    const std::vector<YAML::Node> docs = LoadDocuments(path);
    if (docs.size() != 1) Fail(path.string() + ": one patch per file");
    ApplyPatch(resources, docs[0], path.string());
  }

  const std::string ns = Text(At(k, "namespace"));
  if (!ns.empty()) {
    static const std::set<std::string> kClusterScoped = {
        "Namespace",        "ClusterRole",
        "PersistentVolume", "StorageClass",
        "PriorityClass",    "IngressClass",
        "RuntimeClass",     "CustomResourceDefinition"};
    // The namespace transformer also rewrites namespaces inside these.
    static const std::set<std::string> kNamespaceReferences = {
        "RoleBinding",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
        "CustomResourceDefinition"};
    for (YAML::Node& resource : resources) {
      const std::string kind = Text(At(resource, "kind"));
      if (kNamespaceReferences.count(kind) != 0) {
        Fail(where + ": namespace on a " + kind + " is not implemented");
      }
      if (kClusterScoped.count(kind) == 0) {
        resource["metadata"]["namespace"] = ns;
      }
    }
  }

  for (const YAML::Node& entry : Items(At(k, "labels"))) {
    CheckFields(entry, {"pairs", "includeSelectors", "includeTemplates"},
                where + " labels");
    for (const char* flag : {"includeSelectors", "includeTemplates"}) {
      if (Text(At(entry, flag)) == "true") {
        Fail(where + ": labels " + flag + ": true is not implemented");
      }
    }
    for (YAML::Node& resource : resources) {
      for (const auto& pair : At(entry, "pairs")) {
        resource["metadata"]["labels"][pair.first.Scalar()] =
            pair.second.Scalar();
      }
    }
  }

  const YAML::Node images = At(k, "images");
  for (const YAML::Node& rule : Items(images)) {
    CheckFields(rule, {"name", "newName", "newTag", "digest"},
                where + " images");
    if (At(rule, "newTag").IsDefined() && At(rule, "digest").IsDefined()) {
      Fail(where + ": images: both newTag and digest");
    }
  }
  if (images.IsDefined()) {
    for (YAML::Node& resource : resources) ApplyImages(resource, images);
  }

  std::set<std::string> ids;
  for (const YAML::Node& resource : resources) {
    if (!ids.insert(Id(resource)).second) {
      Fail(where + ": two objects " + Id(resource));
    }
  }
  return resources;
}

// ---------------------------------------------------------------------------
// Reading rendered objects.

struct PodTemplate {
  std::string owner;  // Kind/name of the workload.
  std::string ns;
  YAML::Node labels;
  YAML::Node spec;
};

std::vector<PodTemplate> PodTemplates(const std::vector<YAML::Node>& docs) {
  std::vector<PodTemplate> out;
  for (const YAML::Node& doc : docs) {
    const std::string kind = Text(At(doc, "kind"));
    YAML::Node tmpl;
    if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
        kind == "ReplicaSet" || kind == "Job") {
      tmpl.reset(AtPath(doc, {"spec", "template"}));
    } else if (kind == "CronJob") {
      tmpl.reset(AtPath(doc, {"spec", "jobTemplate", "spec", "template"}));
    } else {
      continue;
    }
    out.push_back({kind + "/" + Text(AtPath(doc, {"metadata", "name"})),
                   Text(AtPath(doc, {"metadata", "namespace"})),
                   AtPath(tmpl, {"metadata", "labels"}), At(tmpl, "spec")});
  }
  return out;
}

std::vector<YAML::Node> Containers(const YAML::Node& pod_spec) {
  std::vector<YAML::Node> out = Items(At(pod_spec, "containers"));
  for (const YAML::Node& c : Items(At(pod_spec, "initContainers"))) {
    out.push_back(c);
  }
  return out;
}

// matchLabels (or a Service's plain selector) against labels.
bool Selects(const YAML::Node& selector, const YAML::Node& labels) {
  if (!selector.IsDefined() || !selector.IsMap() || selector.size() == 0) {
    return false;
  }
  for (const auto& entry : selector) {
    if (Text(At(labels, entry.first.Scalar())) != Text(entry.second)) {
      return false;
    }
  }
  return true;
}

// A LabelSelector (matchLabels only; matchExpressions is not implemented
// by these checks and fails them).
YAML::Node MatchLabels(const YAML::Node& selector, const std::string& where) {
  EXPECT_FALSE(At(selector, "matchExpressions").IsDefined())
      << where << ": matchExpressions are not checked by this test";
  return At(selector, "matchLabels");
}

std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& docs,
                               const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const YAML::Node& doc : docs) {
    if (Text(At(doc, "kind")) == kind) out.push_back(doc);
  }
  return out;
}

YAML::Node Find(const std::vector<YAML::Node>& docs, const std::string& kind,
                const std::string& ns, const std::string& name) {
  for (const YAML::Node& doc : docs) {
    if (Text(At(doc, "kind")) == kind &&
        Text(AtPath(doc, {"metadata", "name"})) == name &&
        Text(AtPath(doc, {"metadata", "namespace"})) == ns) {
      return doc;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// The containerPort a probe's or Service's port (a name or a number) means
// in `container`; 0 when it has no such port.
int ResolvePort(const YAML::Node& container, const std::string& port) {
  for (const YAML::Node& p : Items(At(container, "ports"))) {
    if (Text(At(p, "name")) == port || Text(At(p, "containerPort")) == port) {
      return std::atoi(Text(At(p, "containerPort")).c_str());
    }
  }
  return 0;
}

// Every value of --flag in a container's args ("--flag value" or
// "--flag=value"), in order.
std::vector<std::string> FlagValues(const YAML::Node& container,
                                    const std::string& flag) {
  std::vector<std::string> values;
  const std::vector<YAML::Node> args = Items(At(container, "args"));
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string arg = Text(args[i]);
    if (arg == flag && i + 1 < args.size()) values.push_back(Text(args[i + 1]));
    if (arg.rfind(flag + "=", 0) == 0)
      values.push_back(arg.substr(flag.size() + 1));
  }
  return values;
}

std::string FlagValue(const YAML::Node& container, const std::string& flag) {
  const std::vector<std::string> values = FlagValues(container, flag);
  return values.empty() ? std::string() : values.back();
}

// The port of HOST:PORT.
int PortOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos
             ? 0
             : std::atoi(address.substr(colon + 1).c_str());
}

YAML::Node ContainerNamed(const YAML::Node& pod_spec, const std::string& name) {
  for (const YAML::Node& c : Containers(pod_spec)) {
    if (Text(At(c, "name")) == name) return c;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node EnvNamed(const YAML::Node& container, const std::string& name) {
  for (const YAML::Node& e : Items(At(container, "env"))) {
    if (Text(At(e, "name")) == name) return e;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Where a path inside a container comes from: the volume mount with the
// longest mountPath that contains it.
struct Mount {
  std::string mount_path;
  std::string sub_path;
  YAML::Node volume;  // The pod's volume entry.
};

Mount MountOf(const YAML::Node& pod_spec, const YAML::Node& container,
              const std::string& path) {
  Mount best;
  for (const YAML::Node& m : Items(At(container, "volumeMounts"))) {
    const std::string mount_path = Text(At(m, "mountPath"));
    const bool inside =
        path == mount_path || path.rfind(mount_path + "/", 0) == 0;
    if (!inside || mount_path.size() <= best.mount_path.size()) continue;
    best.mount_path = mount_path;
    best.sub_path = Text(At(m, "subPath"));
    best.volume.reset(YAML::Node(YAML::NodeType::Undefined));
    for (const YAML::Node& v : Items(At(pod_spec, "volumes"))) {
      if (Text(At(v, "name")) == Text(At(m, "name"))) best.volume.reset(v);
    }
  }
  return best;
}

std::string ClaimOf(const Mount& mount) {
  return Text(AtPath(mount.volume, {"persistentVolumeClaim", "claimName"}));
}

// ---------------------------------------------------------------------------
// Processes and HTTP, for the real coordinator.

// stdout of `command` (stderr to `error_file`) and its exit status.
int RunStdout(const std::string& command, const std::string& error_file,
              std::string* out) {
  FILE* pipe = ::popen((command + " 2>" + error_file).c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out->append(buffer, n);
  }
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---------------------------------------------------------------------------
// Renderer unit tests: what it refuses, and the strategic merge's order.

class RendererTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pgan_renderer_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "k");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  }

  // The message Render() throws for dir_/k; "" when it renders.
  std::string RenderError() {
    try {
      Render(dir_ / "k");
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(RendererTest, RefusesWhatItDoesNotImplement) {
  Write("k/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
  Write("k/kustomization.yaml", "resources: [cm.yaml]\n");
  EXPECT_EQ(RenderError(), "");
  // Fields it does not know, however harmless.
  for (const std::string field :
       {"commonLabels: {a: b}", "namePrefix: x-", "replicas: []",
        "components: [c]", "patchesStrategicMerge: [p.yaml]"}) {
    Write("k/kustomization.yaml", "resources: [cm.yaml]\n" + field + "\n");
    EXPECT_NE(RenderError().find("not implemented"), std::string::npos)
        << field;
  }
  // Generated names with a hash suffix.
  Write("k/kustomization.yaml",
        "configMapGenerator: [{name: g, literals: [a=b]}]\n");
  EXPECT_NE(RenderError().find("disableNameSuffixHash"), std::string::npos);
  // Files outside the root, as kustomize's load restrictor.
  Write("outside.json", "{}");
  Write("k/kustomization.yaml",
        "generatorOptions: {disableNameSuffixHash: true}\n"
        "configMapGenerator: [{name: g, files: [../outside.json]}]\n");
  EXPECT_NE(RenderError().find("outside"), std::string::npos);
  // A list whose merge it does not know, and patch directives.
  Write("k/d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
        "spec: {template: {spec: {containers: [{name: c, image: i:1}]}}}\n");
  Write("k/p.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
        "spec: {template: {spec: {hostAliases: [{ip: 1.2.3.4}]}}}\n");
  Write("k/kustomization.yaml",
        "resources: [d.yaml]\npatches: [{path: p.yaml}]\n");
  EXPECT_NE(RenderError().find("hostAliases"), std::string::npos);
  Write(
      "k/p.yaml",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
      "spec: {template: {spec: {containers: [{name: c, $patch: delete}]}}}\n");
  EXPECT_NE(RenderError().find("$patch"), std::string::npos);
}

// What kustomize v5 makes of this patch (checked against kubectl kustomize
// when the test was written, and by the comparison test where kubectl is
// installed): keyed items merged, the patch's items first.
TEST_F(RendererTest, StrategicMergeLikeKustomize) {
  Write("k/d.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  template:
    spec:
      containers:
        - name: c
          image: a:1
          args: [old]
          env: [{name: B, value: b}, {name: C, value: c}, {name: D, value: d}]
          ports: [{name: p, containerPort: 1}, {name: q, containerPort: 2}]
          resources: {requests: {cpu: "1"}, limits: {memory: 1Gi}}
        - name: e
          image: a:1
)");
  Write("k/p.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  template:
    spec:
      containers:
        - name: c
          args: [new]
          env: [{name: A, value: a}, {name: C, value: c2}]
          ports: [{name: r, containerPort: 2}]
          resources: {limits: {memory: null, nvidia.com/gpu: 1}}
        - name: n
          image: b:1
)");
  Write("k/kustomization.yaml", R"(resources: [d.yaml]
patches: [{path: p.yaml}]
images: [{name: a, newName: reg/a, newTag: "2"}]
)");
  const std::vector<YAML::Node> docs = Render(dir_ / "k");
  ASSERT_EQ(docs.size(), 1u);
  const YAML::Node expected = YAML::Load(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  template:
    spec:
      containers:
        - name: c
          image: reg/a:2
          args: [new]
          env: [{name: A, value: a}, {name: C, value: c2}, {name: B, value: b},
                {name: D, value: d}]
          ports: [{name: r, containerPort: 2}, {name: p, containerPort: 1}]
          resources: {requests: {cpu: "1"}, limits: {nvidia.com/gpu: 1}}
        - name: n
          image: b:1
        - name: e
          image: reg/a:2
)");
  std::string where;
  EXPECT_TRUE(SameYaml(docs[0], expected, "", &where)) << where << "\n"
                                                       << YAML::Dump(docs[0]);
}

// ---------------------------------------------------------------------------
// The manifests.

class KubernetesTest : public ::testing::Test {
 protected:
  // deploy/ copied (without any secrets of the source tree), make-secrets.sh
  // run in the copy, every kustomization rendered: once per test process.
  static void SetUpTestSuite() {
    root_ =
        new fs::path(fs::temp_directory_path() /
                     ("pgan_kubernetes_test_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    fs::copy(fs::path(kSourceDir) / "deploy", *root_ / "deploy",
             fs::copy_options::recursive);
    fs::remove_all(Kubernetes() / "base" / "secrets");
    secrets_ = new pgan::testing::CommandResult(
        RunCommand("sh " + (Kubernetes() / "make-secrets.sh").string()));
    renders_ = new std::map<std::string, std::vector<YAML::Node>>();
    errors_ = new std::map<std::string, std::string>();
    for (const std::string& k : Kustomizations()) {
      try {
        (*renders_)[k] = Render(Kubernetes() / k);
      } catch (const std::exception& e) {
        (*errors_)[k] = e.what();
      }
    }
  }

  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
    delete secrets_;
    delete renders_;
    delete errors_;
  }

  void SetUp() override {
    ASSERT_EQ(secrets_->exit_code, 0) << "make-secrets.sh failed:\n"
                                      << secrets_->output;
    for (const std::string& k : Kustomizations()) {
      ASSERT_EQ(errors_->count(k), 0u)
          << "rendering " << k << ": " << (*errors_)[k];
    }
  }

  static fs::path Kubernetes() { return *root_ / "deploy" / "kubernetes"; }
  static const std::vector<YAML::Node>& Rendered(const std::string& k) {
    return renders_->at(k);
  }

  // The coordinator's and the workers' pod templates of a render.
  static PodTemplate Workload(const std::vector<YAML::Node>& docs,
                              const std::string& owner) {
    for (const PodTemplate& t : PodTemplates(docs)) {
      if (t.owner == owner) return t;
    }
    ADD_FAILURE() << "no " << owner;
    return {};
  }
  static PodTemplate Coordinator(const std::vector<YAML::Node>& docs) {
    return Workload(docs, "Deployment/pgan-coordinator");
  }
  static PodTemplate Workers(const std::vector<YAML::Node>& docs) {
    return Workload(docs, "StatefulSet/pgan-worker");
  }

  static fs::path* root_;
  static pgan::testing::CommandResult* secrets_;
  static std::map<std::string, std::vector<YAML::Node>>* renders_;
  static std::map<std::string, std::string>* errors_;
};

fs::path* KubernetesTest::root_ = nullptr;
pgan::testing::CommandResult* KubernetesTest::secrets_ = nullptr;
std::map<std::string, std::vector<YAML::Node>>* KubernetesTest::renders_ =
    nullptr;
std::map<std::string, std::string>* KubernetesTest::errors_ = nullptr;

// The renderer must agree with kustomize itself, object for object.
TEST_F(KubernetesTest, RendererAgreesWithKubectlKustomize) {
  if (RunCommand("kubectl version --client").exit_code != 0 ||
      RunCommand("kubectl kustomize --help").exit_code != 0) {
    GTEST_SKIP() << "kubectl (with `kubectl kustomize`) is not on PATH; the "
                    "manifests are still checked through this test's "
                    "renderer";
  }
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    std::string out;
    const std::string errors = (*root_ / "kubectl.err").string();
    ASSERT_EQ(RunStdout("kubectl kustomize " + (Kubernetes() / k).string(),
                        errors, &out),
              0)
        << ReadFile(errors);
    std::map<std::string, YAML::Node> theirs, ours;
    for (const YAML::Node& doc : YAML::LoadAll(out)) {
      if (doc.IsDefined() && !doc.IsNull()) theirs[Id(doc)] = doc;
    }
    for (const YAML::Node& doc : Rendered(k)) ours[Id(doc)] = doc;
    for (const auto& [id, doc] : theirs) {
      if (ours.count(id) == 0) {
        ADD_FAILURE() << "kubectl kustomize renders " << id
                      << ", this test's renderer does not";
        continue;
      }
      std::string where;
      EXPECT_TRUE(SameYaml(ours[id], doc, id, &where))
          << "renderer vs kubectl kustomize differ at " << where
          << "\n--- renderer:\n"
          << YAML::Dump(ours[id]) << "\n--- kubectl:\n"
          << YAML::Dump(doc);
    }
    for (const auto& [id, doc] : ours) {
      EXPECT_EQ(theirs.count(id), 1u)
          << "this test's renderer renders " << id << ", kubectl does not";
    }
  }
}

TEST_F(KubernetesTest, MakeSecretsWritesTokensTheManifestsUse) {
  // The operator's token is printed once; only its hash is stored.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(secrets_->output, m,
                                std::regex("\n([0-9a-f]{64})\n?$")))
      << secrets_->output;
  const std::string token = m[1];
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const YAML::Node tokens =
        Find(docs, "Secret", "pgan", "pgan-coordinator-tokens");
    const YAML::Node worker = Find(docs, "Secret", "pgan", "pgan-worker-token");
    ASSERT_TRUE(tokens.IsDefined() && worker.IsDefined());
    const auto decode = [](const YAML::Node& value) {
      const std::vector<unsigned char> bytes = YAML::DecodeBase64(Text(value));
      return std::string(bytes.begin(), bytes.end());
    };
    const std::string file = decode(AtPath(tokens, {"data", "tokens.txt"}));
    const std::string worker_token = decode(AtPath(worker, {"data", "token"}));
    ASSERT_TRUE(std::regex_match(worker_token, std::regex("[0-9a-f]{64}")))
        << "the worker token must be bare (PGAN_TOKEN takes it verbatim): \""
        << worker_token << "\"";
    EXPECT_NE(file.find(" worker " + pgan::Sha256Hex(worker_token) + "\n"),
              std::string::npos)
        << file;
    EXPECT_NE(file.find("operator admin " + pgan::Sha256Hex(token) + "\n"),
              std::string::npos)
        << file;
    EXPECT_EQ(file.find(token), std::string::npos) << "a plain token stored";
  }
  // A second run adds a principal and keeps the worker token; a name
  // twice is refused.
  const std::string script = (Kubernetes() / "make-secrets.sh").string();
  const std::string before =
      ReadFile(Kubernetes() / "base/secrets/worker-token");
  const auto added = RunCommand("sh " + script + " alice user");
  EXPECT_EQ(added.exit_code, 0) << added.output;
  EXPECT_EQ(ReadFile(Kubernetes() / "base/secrets/worker-token"), before);
  EXPECT_NE(
      ReadFile(Kubernetes() / "base/secrets/tokens.txt").find("\nalice user "),
      std::string::npos);
  EXPECT_EQ(RunCommand("sh " + script + " alice user").exit_code, 1);
  EXPECT_EQ(RunCommand("sh " + script + " bob root").exit_code, 2);
  // The git-ignore keeps the tokens out of the repository.
  EXPECT_NE(ReadFile(Kubernetes() / ".gitignore").find("base/secrets/"),
            std::string::npos);
}

TEST_F(KubernetesTest, ServicesSelectPodsAndTargetTheirPorts) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const std::vector<PodTemplate> pods = PodTemplates(docs);
    for (const YAML::Node& service : OfKind(docs, "Service")) {
      const std::string name = Text(AtPath(service, {"metadata", "name"}));
      const YAML::Node selector = AtPath(service, {"spec", "selector"});
      std::vector<const PodTemplate*> selected;
      for (const PodTemplate& pod : pods) {
        if (pod.ns == Text(AtPath(service, {"metadata", "namespace"})) &&
            Selects(selector, pod.labels)) {
          selected.push_back(&pod);
        }
      }
      EXPECT_FALSE(selected.empty())
          << "Service " << name << "'s selector " << YAML::Dump(selector)
          << " matches no pod template";
      for (const YAML::Node& port : Items(AtPath(service, {"spec", "ports"}))) {
        const std::string target = At(port, "targetPort").IsDefined()
                                       ? Text(At(port, "targetPort"))
                                       : Text(At(port, "port"));
        for (const PodTemplate* pod : selected) {
          int found = 0;
          for (const YAML::Node& c : Containers(pod->spec)) {
            found = std::max(found, ResolvePort(c, target));
          }
          EXPECT_GT(found, 0)
              << "Service " << name << " targets port " << target << ", which "
              << pod->owner << " does not have";
        }
      }
    }
    // Workload selectors must match their own templates (the API server
    // refuses them otherwise), and a StatefulSet needs its headless Service.
    for (const YAML::Node& doc : docs) {
      const std::string kind = Text(At(doc, "kind"));
      if (kind != "Deployment" && kind != "StatefulSet") continue;
      EXPECT_TRUE(
          Selects(MatchLabels(AtPath(doc, {"spec", "selector"}), Id(doc)),
                  AtPath(doc, {"spec", "template", "metadata", "labels"})))
          << Id(doc);
      if (kind == "StatefulSet") {
        const YAML::Node governing =
            Find(docs, "Service", Text(AtPath(doc, {"metadata", "namespace"})),
                 Text(AtPath(doc, {"spec", "serviceName"})));
        ASSERT_TRUE(governing.IsDefined())
            << Id(doc) << ": no serviceName Service";
        EXPECT_EQ(Text(AtPath(governing, {"spec", "clusterIP"})), "None");
      }
    }
  }
}

TEST_F(KubernetesTest, ReferencedObjectsExist) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    for (const PodTemplate& pod : PodTemplates(docs)) {
      // Returns the object, or fails naming who wanted it.
      const auto need = [&](const std::string& kind, const std::string& name,
                            const std::string& key) {
        const YAML::Node object = Find(docs, kind, pod.ns, name);
        EXPECT_TRUE(object.IsDefined())
            << pod.owner << " refers to " << kind << " " << name
            << ", which the render lacks";
        if (object.IsDefined() && !key.empty()) {
          EXPECT_TRUE(AtPath(object, {"data"}).IsDefined() &&
                      At(At(object, "data"), key).IsDefined())
              << pod.owner << " refers to key " << key << " of " << kind << " "
              << name;
        }
      };
      std::set<std::string> volumes;
      for (const YAML::Node& v : Items(At(pod.spec, "volumes"))) {
        volumes.insert(Text(At(v, "name")));
        if (At(v, "persistentVolumeClaim").IsDefined()) {
          need("PersistentVolumeClaim",
               Text(AtPath(v, {"persistentVolumeClaim", "claimName"})), "");
        }
        if (At(v, "secret").IsDefined()) {
          need("Secret", Text(AtPath(v, {"secret", "secretName"})), "");
        }
        if (At(v, "configMap").IsDefined()) {
          need("ConfigMap", Text(AtPath(v, {"configMap", "name"})), "");
        }
        for (const YAML::Node& source :
             Items(AtPath(v, {"projected", "sources"}))) {
          if (At(source, "secret").IsDefined()) {
            need("Secret", Text(AtPath(source, {"secret", "name"})), "");
          }
          if (At(source, "configMap").IsDefined()) {
            need("ConfigMap", Text(AtPath(source, {"configMap", "name"})), "");
          }
        }
      }
      for (const YAML::Node& c : Containers(pod.spec)) {
        for (const YAML::Node& from : Items(At(c, "envFrom"))) {
          if (At(from, "secretRef").IsDefined()) {
            need("Secret", Text(AtPath(from, {"secretRef", "name"})), "");
          }
          if (At(from, "configMapRef").IsDefined()) {
            need("ConfigMap", Text(AtPath(from, {"configMapRef", "name"})), "");
          }
        }
        std::set<std::string> env;
        for (const YAML::Node& e : Items(At(c, "env"))) {
          env.insert(Text(At(e, "name")));
          const YAML::Node secret = AtPath(e, {"valueFrom", "secretKeyRef"});
          if (secret.IsDefined()) {
            need("Secret", Text(At(secret, "name")), Text(At(secret, "key")));
          }
          const YAML::Node config = AtPath(e, {"valueFrom", "configMapKeyRef"});
          if (config.IsDefined()) {
            need("ConfigMap", Text(At(config, "name")),
                 Text(At(config, "key")));
          }
        }
        for (const YAML::Node& m : Items(At(c, "volumeMounts"))) {
          EXPECT_EQ(volumes.count(Text(At(m, "name"))), 1u)
              << pod.owner << " mounts undeclared volume "
              << Text(At(m, "name"));
        }
        // $(VAR) in the command line is expanded only from the env.
        for (const char* field : {"command", "args"}) {
          for (const YAML::Node& arg : Items(At(c, field))) {
            static const std::regex kVar(R"(\$\(([A-Za-z_][A-Za-z0-9_]*)\))");
            const std::string text = Text(arg);
            for (std::sregex_iterator it(text.begin(), text.end(), kVar), end;
                 it != end; ++it) {
              EXPECT_EQ(env.count((*it)[1]), 1u)
                  << pod.owner << ": " << text << " uses an undefined variable";
            }
          }
        }
      }
    }
  }
}

TEST_F(KubernetesTest, ProbesUseContainerPorts) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    for (const PodTemplate& pod : PodTemplates(Rendered(k))) {
      for (const YAML::Node& c : Containers(pod.spec)) {
        for (const char* probe :
             {"livenessProbe", "readinessProbe", "startupProbe"}) {
          const YAML::Node p = At(c, probe);
          if (!p.IsDefined()) continue;
          for (const char* action : {"httpGet", "tcpSocket", "grpc"}) {
            if (!At(p, action).IsDefined()) continue;
            const std::string port = Text(AtPath(p, {action, "port"}));
            EXPECT_GT(ResolvePort(c, port), 0)
                << pod.owner << " " << Text(At(c, "name")) << " " << probe
                << " uses port " << port << ", not a port of the container";
          }
        }
      }
    }
  }
}

TEST_F(KubernetesTest, ImagesArePinnedAndContainersRequestResources) {
  // A tag with a version (not "latest"), or a digest.
  static const std::regex kPinned(
      R"(.+(:[A-Za-z0-9_][A-Za-z0-9_.-]*[0-9][A-Za-z0-9_.-]*|@sha256:[0-9a-f]{64}))");
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    for (const PodTemplate& pod : PodTemplates(Rendered(k))) {
      for (const YAML::Node& c : Containers(pod.spec)) {
        const std::string image = Text(At(c, "image"));
        EXPECT_TRUE(std::regex_match(image, kPinned) &&
                    ParseImage(image).tag != "latest")
            << pod.owner << ": image \"" << image << "\" is not pinned";
        for (const char* resource : {"cpu", "memory"}) {
          EXPECT_TRUE(
              AtPath(c, {"resources", "requests", resource}).IsDefined())
              << pod.owner << " " << Text(At(c, "name")) << " requests no "
              << resource;
        }
        EXPECT_EQ(
            Text(AtPath(c, {"securityContext", "allowPrivilegeEscalation"})),
            "false")
            << pod.owner;
      }
      EXPECT_EQ(Text(AtPath(pod.spec, {"securityContext", "runAsNonRoot"})),
                "true")
          << pod.owner;
      EXPECT_EQ(Text(AtPath(pod.spec, {"securityContext", "runAsUser"})),
                "10001")
          << pod.owner << ": the images' user pgan";
    }
  }
}

TEST_F(KubernetesTest, CoordinatorDeployment) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const YAML::Node deployment =
        Find(docs, "Deployment", "pgan", "pgan-coordinator");
    ASSERT_TRUE(deployment.IsDefined());
    // One SQLite writer: never two pods, not even during a rollout.
    EXPECT_EQ(Text(AtPath(deployment, {"spec", "replicas"})), "1");
    EXPECT_EQ(Text(AtPath(deployment, {"spec", "strategy", "type"})),
              "Recreate");
    const PodTemplate pod = Coordinator(docs);
    const YAML::Node c = ContainerNamed(pod.spec, "coordinator");
    ASSERT_TRUE(c.IsDefined());
    EXPECT_EQ(ParseImage(Text(At(c, "image"))).name,
              "ghcr.io/pgan-dev/pgan-coordinator");

    // It listens where the container ports say, on every interface.
    const std::string listen = FlagValue(c, "--listen");
    const std::string metrics = FlagValue(c, "--metrics-listen");
    EXPECT_EQ(listen.rfind("0.0.0.0:", 0), 0u) << listen;
    EXPECT_EQ(metrics.rfind("0.0.0.0:", 0), 0u) << metrics;
    EXPECT_EQ(ResolvePort(c, "grpc"), PortOf(listen));
    EXPECT_EQ(ResolvePort(c, "metrics"), PortOf(metrics));
    EXPECT_GT(PortOf(listen), 0);
    EXPECT_GT(PortOf(metrics), 0);

    // Liveness and readiness on the real endpoints of --metrics-listen.
    const std::map<std::string, std::string> probes = {
        {"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}};
    for (const auto& [probe, path] : probes) {
      EXPECT_EQ(Text(AtPath(c, {probe.c_str(), "httpGet", "path"})), path)
          << probe;
      EXPECT_EQ(
          ResolvePort(c, Text(AtPath(c, {probe.c_str(), "httpGet", "port"}))),
          PortOf(metrics))
          << probe;
    }

    // The state database on its own ReadWriteOnce claim; the tokens from
    // the generated Secret.
    const std::string state = FlagValue(c, "--state");
    const Mount state_mount = MountOf(pod.spec, c, state);
    const YAML::Node claim =
        Find(docs, "PersistentVolumeClaim", "pgan", ClaimOf(state_mount));
    ASSERT_TRUE(claim.IsDefined()) << "--state " << state << " is on no PVC";
    EXPECT_EQ(Strings(AtPath(claim, {"spec", "accessModes"})),
              std::vector<std::string>{"ReadWriteOnce"});
    EXPECT_EQ(state_mount.mount_path, "/var/lib/pgan");
    const Mount tokens = MountOf(pod.spec, c, FlagValue(c, "--tokens"));
    EXPECT_EQ(Text(AtPath(tokens.volume, {"secret", "secretName"})),
              "pgan-coordinator-tokens");
    EXPECT_EQ(Text(AtPath(c, {"securityContext", "readOnlyRootFilesystem"})),
              "true");

    // Workers and the CLI find it at the Service's grpc port.
    const YAML::Node service =
        Find(docs, "Service", "pgan", "pgan-coordinator");
    ASSERT_TRUE(service.IsDefined());
    std::map<std::string, int> ports;
    for (const YAML::Node& p : Items(AtPath(service, {"spec", "ports"}))) {
      ports[Text(At(p, "name"))] = std::atoi(Text(At(p, "port")).c_str());
      EXPECT_EQ(ResolvePort(c, Text(At(p, "targetPort"))),
                ResolvePort(c, Text(At(p, "name"))));
    }
    EXPECT_EQ(ports["grpc"], 7470);
    EXPECT_EQ(ports["metrics"], 9470);
    const YAML::Node worker = ContainerNamed(Workers(docs).spec, "worker");
    EXPECT_EQ(FlagValue(worker, "--coordinator"),
              "pgan-coordinator:" + std::to_string(ports["grpc"]));
  }
}

// The run directories (--storage, --output-root) and datasets (--data-root)
// of the coordinator must be the same files at the same paths in every
// worker: a ReadWriteMany claim mounted alike.
TEST_F(KubernetesTest, WorkersSeeTheCoordinatorsRunsAndData) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const PodTemplate coordinator = Coordinator(docs);
    const PodTemplate workers = Workers(docs);
    const YAML::Node c = ContainerNamed(coordinator.spec, "coordinator");
    const YAML::Node w = ContainerNamed(workers.spec, "worker");
    std::vector<std::string> paths = {FlagValue(c, "--storage")};
    for (const char* flag : {"--data-root", "--output-root"}) {
      for (const std::string& p : FlagValues(c, flag)) paths.push_back(p);
    }
    EXPECT_GE(paths.size(), 3u);
    for (const std::string& path : paths) {
      const Mount theirs = MountOf(coordinator.spec, c, path);
      const Mount ours = MountOf(workers.spec, w, path);
      const YAML::Node claim =
          Find(docs, "PersistentVolumeClaim", "pgan", ClaimOf(theirs));
      ASSERT_TRUE(claim.IsDefined()) << path << " is on no PVC";
      EXPECT_EQ(Strings(AtPath(claim, {"spec", "accessModes"})),
                std::vector<std::string>{"ReadWriteMany"})
          << path;
      EXPECT_EQ(ClaimOf(ours), ClaimOf(theirs)) << path;
      EXPECT_EQ(ours.mount_path, theirs.mount_path) << path;
      EXPECT_EQ(ours.sub_path, theirs.sub_path) << path;
    }
  }
}

TEST_F(KubernetesTest, WorkerPods) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const PodTemplate pod = Workers(docs);
    const YAML::Node w = ContainerNamed(pod.spec, "worker");
    ASSERT_TRUE(w.IsDefined());
    // Peers reach it at its pod IP.
    EXPECT_EQ(FlagValue(w, "--hostname"), "$(POD_IP)");
    EXPECT_EQ(Text(AtPath(EnvNamed(w, "POD_IP"),
                          {"valueFrom", "fieldRef", "fieldPath"})),
              "status.podIP");
    EXPECT_EQ(Text(AtPath(EnvNamed(w, "PGAN_TOKEN"),
                          {"valueFrom", "secretKeyRef", "name"})),
              "pgan-worker-token");
    // Health on the port the probes use.
    const std::string health = FlagValue(w, "--health-listen");
    EXPECT_EQ(health.rfind("0.0.0.0:", 0), 0u) << health;
    EXPECT_EQ(ResolvePort(w, "health"), PortOf(health));
    EXPECT_EQ(PortOf(health), 9471);
    EXPECT_EQ(Text(AtPath(w, {"livenessProbe", "httpGet", "path"})),
              "/healthz");
    EXPECT_EQ(Text(AtPath(w, {"readinessProbe", "httpGet", "path"})),
              "/readyz");
    // Spread over nodes, preferably one per node.
    bool spread = false;
    for (const YAML::Node& term : Items(AtPath(
             pod.spec, {"affinity", "podAntiAffinity",
                        "preferredDuringSchedulingIgnoredDuringExecution"}))) {
      const YAML::Node affinity = At(term, "podAffinityTerm");
      spread |= Text(At(affinity, "topologyKey")) == "kubernetes.io/hostname" &&
                Selects(MatchLabels(At(affinity, "labelSelector"), pod.owner),
                        pod.labels);
    }
    EXPECT_TRUE(spread) << "no podAntiAffinity by kubernetes.io/hostname";
  }
}

TEST_F(KubernetesTest, OverlaysConfigureCpuAndGpuWorkers) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const YAML::Node w = ContainerNamed(Workers(Rendered(k)).spec, "worker");
    const YAML::Node resources = At(w, "resources");
    const bool gpu = k == "overlays/gpu";
    EXPECT_EQ(ParseImage(Text(At(w, "image"))).name,
              gpu ? "ghcr.io/pgan-dev/pgan-worker-gpu"
                  : "ghcr.io/pgan-dev/pgan-worker-cpu");
    // The cores a worker offers are the cores it requests.
    EXPECT_EQ(FlagValue(w, "--cpu-slots"),
              Text(AtPath(resources, {"requests", "cpu"})));
    if (!gpu) {
      EXPECT_FALSE(AtPath(resources, {"limits", "nvidia.com/gpu"}).IsDefined());
      EXPECT_TRUE(FlagValue(w, "--gpus").empty() ||
                  FlagValue(w, "--gpus") == "0");
      continue;
    }
    EXPECT_EQ(Text(AtPath(resources, {"limits", "nvidia.com/gpu"})), "1");
    EXPECT_EQ(FlagValue(w, "--gpus"), "1");
    EXPECT_EQ(Text(At(EnvNamed(w, "NCCL_SOCKET_IFNAME"), "value")), "eth0");
    EXPECT_TRUE(EnvNamed(w, "NCCL_IB_DISABLE").IsDefined());
    EXPECT_EQ(Text(At(EnvNamed(w, "NCCL_DEBUG"), "value")), "WARN");
    // The base's env survives the overlay's.
    EXPECT_TRUE(EnvNamed(w, "PGAN_TOKEN").IsDefined());
    bool tolerated = false;
    for (const YAML::Node& t :
         Items(AtPath(Workers(Rendered(k)).spec, {"tolerations"}))) {
      tolerated |= Text(At(t, "key")) == "nvidia.com/gpu";
    }
    EXPECT_TRUE(tolerated);
  }
}

TEST_F(KubernetesTest, NetworkPoliciesAdmitOnlyWorkersAndClients) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const PodTemplate coordinator = Coordinator(docs);
    const PodTemplate workers = Workers(docs);
    const YAML::Node c = ContainerNamed(coordinator.spec, "coordinator");
    const int grpc = ResolvePort(c, "grpc");
    const int metrics = ResolvePort(c, "metrics");
    int coordinator_policies = 0, worker_policies = 0;
    for (const YAML::Node& policy : OfKind(docs, "NetworkPolicy")) {
      const std::string name = Id(policy);
      const YAML::Node selector =
          MatchLabels(AtPath(policy, {"spec", "podSelector"}), name);
      bool admits_workers = false, admits_clients = false;
      bool admits_monitoring = false;
      for (const YAML::Node& rule :
           Items(AtPath(policy, {"spec", "ingress"}))) {
        const std::vector<YAML::Node> ports = Items(At(rule, "ports"));
        // The coordinator's ports this rule opens (-1: another pod's).
        const bool to_coordinator = Selects(selector, coordinator.labels);
        std::set<int> opened;
        for (const YAML::Node& p : ports) {
          opened.insert(to_coordinator ? ResolvePort(c, Text(At(p, "port")))
                                       : -1);
        }
        for (const YAML::Node& peer : Items(At(rule, "from"))) {
          const YAML::Node pods = MatchLabels(At(peer, "podSelector"), name);
          if (At(peer, "namespaceSelector").IsDefined()) {
            // Another namespace: only Prometheus's, only to /metrics.
            EXPECT_EQ(opened, std::set<int>{metrics}) << name;
            admits_monitoring = true;
            continue;
          }
          EXPECT_FALSE(At(peer, "ipBlock").IsDefined()) << name;
          if (Selects(pods, workers.labels)) {
            admits_workers = true;
          } else {
            EXPECT_TRUE(pods.size() == 1 &&
                        Text(At(pods, "pgan.dev/client")) == "true")
                << name << " admits pods that are neither workers nor clients";
            admits_clients = true;
          }
        }
        EXPECT_FALSE(Items(At(rule, "from")).empty())
            << name << ": a rule open to everyone";
      }
      if (Selects(selector, coordinator.labels)) {
        ++coordinator_policies;
        EXPECT_EQ(Strings(AtPath(policy, {"spec", "policyTypes"})),
                  std::vector<std::string>{"Ingress"});
        EXPECT_TRUE(admits_workers && admits_clients && admits_monitoring)
            << name;
        // The ports it opens are the coordinator's (named ports resolve).
        for (const YAML::Node& rule :
             Items(AtPath(policy, {"spec", "ingress"}))) {
          for (const YAML::Node& p : Items(At(rule, "ports"))) {
            const int port = ResolvePort(c, Text(At(p, "port")));
            EXPECT_TRUE(port == grpc || port == metrics)
                << name << " opens port " << Text(At(p, "port"));
          }
        }
      }
      if (Selects(selector, workers.labels)) {
        ++worker_policies;
        // Gang peers: from workers, on every port.
        const std::vector<YAML::Node> rules =
            Items(AtPath(policy, {"spec", "ingress"}));
        ASSERT_EQ(rules.size(), 1u) << name;
        EXPECT_FALSE(At(rules[0], "ports").IsDefined()) << name;
        EXPECT_TRUE(admits_workers && !admits_clients) << name;
      }
    }
    EXPECT_EQ(coordinator_policies, 1);
    EXPECT_EQ(worker_policies, 1);
  }
}

TEST_F(KubernetesTest, ServiceMonitorScrapesTheCoordinator) {
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const auto& docs = Rendered(k);
    const std::vector<YAML::Node> monitors = OfKind(docs, "ServiceMonitor");
    ASSERT_EQ(monitors.size(), 1u);
    const YAML::Node& monitor = monitors[0];
    EXPECT_EQ(Text(At(monitor, "apiVersion")), "monitoring.coreos.com/v1");
    const YAML::Node selector =
        MatchLabels(AtPath(monitor, {"spec", "selector"}), "ServiceMonitor");
    const YAML::Node service =
        Find(docs, "Service", "pgan", "pgan-coordinator");
    ASSERT_TRUE(Selects(selector, AtPath(service, {"metadata", "labels"})))
        << "the ServiceMonitor's selector does not match the coordinator's "
           "Service labels";
    for (const YAML::Node& other : OfKind(docs, "Service")) {
      if (Id(other) != Id(service)) {
        EXPECT_FALSE(Selects(selector, AtPath(other, {"metadata", "labels"})))
            << Id(other);
      }
    }
    const std::vector<YAML::Node> endpoints =
        Items(AtPath(monitor, {"spec", "endpoints"}));
    ASSERT_EQ(endpoints.size(), 1u);
    EXPECT_EQ(Text(At(endpoints[0], "port")), "metrics");
    EXPECT_EQ(Text(At(endpoints[0], "path")), "/metrics");
    // The dashboard's job variable is the pgan job id label `job`.
    EXPECT_EQ(Text(At(endpoints[0], "honorLabels")), "true");
  }
}

TEST_F(KubernetesTest, GrafanaDashboardConfigMap) {
  const std::string dashboard =
      ReadFile(fs::path(kSourceDir) / "deploy/grafana/pgan-dashboard.json");
  for (const std::string& k : Kustomizations()) {
    SCOPED_TRACE(k);
    const YAML::Node map =
        Find(Rendered(k), "ConfigMap", "pgan", "pgan-grafana-dashboard");
    ASSERT_TRUE(map.IsDefined());
    EXPECT_EQ(Text(AtPath(map, {"metadata", "labels", "grafana_dashboard"})),
              "1");
    EXPECT_EQ(Text(AtPath(map, {"data", "pgan-dashboard.json"})), dashboard);
  }
  EXPECT_FALSE(json::parse(dashboard, nullptr, false).is_discarded());
}

// Without the Prometheus Operator: deploy/prometheus/prometheus-kubernetes.yml
// must keep the coordinator's pod (and only it) at its metrics port.
TEST_F(KubernetesTest, PrometheusKubernetesScrapeConfig) {
  const fs::path file =
      fs::path(kSourceDir) / "deploy/prometheus/prometheus-kubernetes.yml";
  const YAML::Node config = YAML::LoadFile(file.string());
  const std::vector<YAML::Node> jobs = Items(At(config, "scrape_configs"));
  ASSERT_EQ(jobs.size(), 1u);
  const YAML::Node& job = jobs[0];
  EXPECT_EQ(Text(At(job, "honor_labels")), "true");
  const std::vector<YAML::Node> sd = Items(At(job, "kubernetes_sd_configs"));
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(Text(At(sd[0], "role")), "pod");
  const auto& docs = Rendered("overlays/gpu");
  const PodTemplate coordinator = Coordinator(docs);
  const PodTemplate workers = Workers(docs);
  EXPECT_EQ(Strings(AtPath(sd[0], {"namespaces", "names"})),
            std::vector<std::string>{coordinator.ns});
  // What each pod's targets look like to the keep rules: one target per
  // container port.
  const auto kept = [&](const PodTemplate& pod, const YAML::Node& port) {
    for (const YAML::Node& rule : Items(At(job, "relabel_configs"))) {
      if (Text(At(rule, "action")) != "keep") continue;
      const std::vector<YAML::Node> sources = Items(At(rule, "source_labels"));
      EXPECT_EQ(sources.size(), 1u);
      const std::string source = Text(sources[0]);
      std::string value;
      static const std::string kLabel = "__meta_kubernetes_pod_label_";
      if (source.rfind(kLabel, 0) == 0) {
        for (const auto& label : pod.labels) {
          std::string sanitized = label.first.Scalar();
          for (char& ch : sanitized) {
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
          }
          if (sanitized == source.substr(kLabel.size())) {
            value = label.second.Scalar();
          }
        }
      } else if (source == "__meta_kubernetes_pod_container_port_name") {
        value = Text(At(port, "name"));
      } else {
        ADD_FAILURE() << "keep rule on " << source << " is not checked";
      }
      if (!std::regex_match(value, std::regex(Text(At(rule, "regex"))))) {
        return false;
      }
    }
    return true;
  };
  int targets = 0;
  for (const YAML::Node& c : Containers(coordinator.spec)) {
    for (const YAML::Node& port : Items(At(c, "ports"))) {
      if (kept(coordinator, port)) {
        ++targets;
        EXPECT_EQ(Text(At(port, "name")), "metrics");
      }
    }
  }
  EXPECT_EQ(targets, 1);
  for (const YAML::Node& c : Containers(workers.spec)) {
    for (const YAML::Node& port : Items(At(c, "ports"))) {
      EXPECT_FALSE(kept(workers, port)) << "a worker port would be scraped";
    }
  }

  // promtool. Debian 12's is built without Kubernetes service discovery
  // (it rejects kubernetes_sd_configs as an unknown field); then the rest
  // of the file (relabelling, intervals) is checked with a static target in
  // its place.
  ASSERT_TRUE(fs::exists(PGAN_PROMTOOL))
      << PGAN_PROMTOOL << " is missing: apt-get install prometheus";
  const std::string probe = (*root_ / "probe.yml").string();
  std::ofstream(probe) << "scrape_configs:\n  - job_name: p\n"
                          "    kubernetes_sd_configs: [{role: pod}]\n";
  const bool kubernetes_sd =
      RunCommand(std::string(PGAN_PROMTOOL) + " check config " + probe)
          .output.find("kubernetes_sd_configs not found") == std::string::npos;
  std::string checked = file.string();
  if (!kubernetes_sd) {
    YAML::Node copy = YAML::Clone(config);
    YAML::Node scrape = copy["scrape_configs"][0];
    scrape.remove("kubernetes_sd_configs");
    YAML::Node targets(YAML::NodeType::Map);
    targets["targets"].push_back("pgan-coordinator.pgan.svc:9470");
    scrape["static_configs"].push_back(targets);
    checked = (*root_ / "prometheus-kubernetes-static.yml").string();
    std::ofstream(checked) << YAML::Dump(copy) << "\n";
    std::cout << "note: " << PGAN_PROMTOOL
              << " has no Kubernetes service discovery; checking the file "
                 "with a static target instead of kubernetes_sd_configs\n";
  }
  const auto result =
      RunCommand(std::string(PGAN_PROMTOOL) + " check config " + checked);
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(KubernetesTest, MpiJobExample) {
  const std::vector<YAML::Node> docs =
      LoadDocuments(Kubernetes() / "examples/mpijob.yaml");
  const std::vector<YAML::Node> jobs = OfKind(docs, "MPIJob");
  ASSERT_EQ(jobs.size(), 1u);
  const YAML::Node& job = jobs[0];
  EXPECT_EQ(Text(At(job, "apiVersion")), "kubeflow.org/v2beta1");
  const std::string ns = Text(AtPath(job, {"metadata", "namespace"}));
  EXPECT_EQ(ns, "pgan");
  const YAML::Node specs = AtPath(job, {"spec", "mpiReplicaSpecs"});
  const YAML::Node launcher = AtPath(specs, {"Launcher", "template", "spec"});
  const YAML::Node worker = AtPath(specs, {"Worker", "template", "spec"});
  ASSERT_TRUE(launcher.IsDefined() && worker.IsDefined());
  for (const YAML::Node& spec : {launcher, worker}) {
    for (const YAML::Node& c : Containers(spec)) {
      EXPECT_EQ(Text(At(c, "image")), "ghcr.io/pgan-dev/pgan-worker-gpu:0.1.0");
      EXPECT_TRUE(AtPath(c, {"resources", "requests", "memory"}).IsDefined());
    }
  }
  // mpirun -np N pgan-worker --job /etc/pgan/job.json, N = all slots.
  const YAML::Node mpirun = Containers(launcher).at(0);
  EXPECT_EQ(Strings(At(mpirun, "command")), std::vector<std::string>{"mpirun"});
  const int slots =
      std::atoi(Text(AtPath(job, {"spec", "slotsPerWorker"})).c_str());
  const int replicas =
      std::atoi(Text(AtPath(specs, {"Worker", "replicas"})).c_str());
  EXPECT_EQ(FlagValue(mpirun, "-np"), std::to_string(slots * replicas));
  const std::vector<YAML::Node> args = Items(At(mpirun, "args"));
  bool runs_worker = false;
  for (size_t i = 0; i + 2 < args.size(); ++i) {
    runs_worker |= Text(args[i]) == "pgan-worker" &&
                   Text(args[i + 1]) == "--job" &&
                   Text(args[i + 2]) == "/etc/pgan/job.json";
  }
  EXPECT_TRUE(runs_worker) << YAML::Dump(At(mpirun, "args"));
  // NCCL's environment reaches the ranks (-x): ssh does not pass the pod's.
  for (const char* variable :
       {"NCCL_SOCKET_IFNAME", "NCCL_IB_DISABLE", "NCCL_DEBUG"}) {
    EXPECT_TRUE(EnvNamed(mpirun, variable).IsDefined()) << variable;
    bool exported = false;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      exported |= Text(args[i]) == "-x" && Text(args[i + 1]) == variable;
    }
    EXPECT_TRUE(exported) << variable;
  }
  // The job file is where the ranks read it, from a ConfigMap of the
  // example, and its paths are on the shared claim of the deployment.
  const YAML::Node rank = Containers(worker).at(0);
  const Mount job_file = MountOf(worker, rank, "/etc/pgan/job.json");
  const std::string map_name =
      Text(AtPath(job_file.volume, {"configMap", "name"}));
  const YAML::Node map = Find(docs, "ConfigMap", ns, map_name);
  ASSERT_TRUE(map.IsDefined()) << "ConfigMap " << map_name;
  const json spec = json::parse(
      Text(AtPath(map, {"data", job_file.sub_path.c_str()})), nullptr, false);
  ASSERT_FALSE(spec.is_discarded());
  const auto& base = Rendered("base");
  const PodTemplate workers = Workers(base);
  const YAML::Node pool = ContainerNamed(workers.spec, "worker");
  for (const char* key : {"data", "outdir"}) {
    const std::string path = spec.value(key, std::string());
    const Mount ours = MountOf(worker, rank, path);
    const Mount pools = MountOf(workers.spec, pool, path);
    EXPECT_FALSE(ClaimOf(ours).empty()) << key << " " << path;
    EXPECT_EQ(ClaimOf(ours), ClaimOf(pools)) << key << " " << path;
    EXPECT_EQ(ours.sub_path, pools.sub_path) << key << " " << path;
    EXPECT_TRUE(
        Find(base, "PersistentVolumeClaim", ns, ClaimOf(ours)).IsDefined());
  }
  // The coordinator's NetworkPolicy admits its ranks (for --coordinator).
  EXPECT_EQ(Text(AtPath(specs, {"Worker", "template", "metadata", "labels",
                                "pgan.dev/client"})),
            "true");
}

// Every metric family the Grafana dashboard queries is one a real
// pgan-coordinator exports: its /metrics has a `# TYPE` line for it.
TEST_F(KubernetesTest, DashboardMetricsAreExportedByTheCoordinator) {
  const json dashboard = json::parse(
      ReadFile(fs::path(kSourceDir) / "deploy/grafana/pgan-dashboard.json"));
  std::set<std::string> used;
  static const std::regex kMetric(R"(\bpgan_[A-Za-z0-9_]+)");
  std::function<void(const json&, const std::string&)> walk =
      [&](const json& node, const std::string& key) {
        if (node.is_object()) {
          for (const auto& [k, v] : node.items()) walk(v, k);
        } else if (node.is_array()) {
          for (const json& v : node) walk(v, key);
        } else if (node.is_string() &&
                   (key == "expr" || key == "query" || key == "definition")) {
          const std::string text = node.get<std::string>();
          for (std::sregex_iterator it(text.begin(), text.end(), kMetric), end;
               it != end; ++it) {
            std::string name = it->str();
            for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
              if (name.size() > suffix.size() &&
                  name.compare(name.size() - suffix.size(), suffix.size(),
                               suffix) == 0) {
                name.resize(name.size() - suffix.size());
                break;
              }
            }
            used.insert(name);
          }
        }
      };
  walk(dashboard, "");
  ASSERT_GE(used.size(), 5u);

  // The coordinator with the tokens make-secrets.sh wrote (it refuses a
  // malformed tokens file), on loopback, any free ports.
  const fs::path dir = *root_ / "coordinator";
  fs::create_directories(dir / "data");
  const std::string log = (dir / "coordinator.log").string();
  pid_t pid =
      Spawn({PGAN_COORDINATOR, "--listen", "127.0.0.1:0", "--state",
             (dir / "state.db").string(), "--tokens",
             (Kubernetes() / "base/secrets/tokens.txt").string(), "--storage",
             (dir / "runs").string(), "--data-root", (dir / "data").string(),
             "--metrics-listen", "127.0.0.1:0"},
            log);
  int port = 0;
  WaitFor(std::chrono::seconds(20), [&] {
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    std::smatch m;
    if (std::regex_search(text, m, std::regex("/metrics on port ([0-9]+)"))) {
      port = std::stoi(m[1]);
    }
    return port > 0 || ::waitpid(pid, nullptr, WNOHANG) == pid;
  });
  std::string body;
  long status = 0;
  if (port > 0) {
    auto response =
        rpc::HttpGet("http://127.0.0.1:" + std::to_string(port) + "/metrics",
                     absl::Seconds(30));
    status = response.ok() ? response->status : 0;
    body = response.ok() ? response->body
                         : std::string(response.status().message());
  }
  StopProcess(pid, std::chrono::seconds(10));
  ASSERT_GT(port, 0) << "pgan-coordinator did not start:\n"
                     << RunCommand("cat " + log).output;
  ASSERT_EQ(status, 200) << body;
  std::set<std::string> exported;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string hash, type, name;
    if (words >> hash >> type >> name && hash == "#" && type == "TYPE") {
      exported.insert(name);
    }
  }
  for (const std::string& name : used) {
    EXPECT_EQ(exported.count(name), 1u)
        << "the dashboard queries " << name
        << ", but pgan-coordinator's /metrics has no `# TYPE " << name
        << "` line";
  }
}

}  // namespace
}  // namespace pgan::deploy
