// The operator page's files (ui/ built with esbuild), embedded in the binary at build time by
// cmake/SkEmbedUi.cmake. Without Node and npm at build time the only file is a page that says the
// page was not built, and Built() is false.
//
// Thread-safety: immutable data.
#ifndef SLICEKEEPER_SERVER_UI_ASSETS_H_
#define SLICEKEEPER_SERVER_UI_ASSETS_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace slicekeeper::ui {

struct Asset {
  // Below /ui/: "" (index.html), "app.js", "app.css".
  absl::string_view path;
  absl::string_view content_type;
  absl::string_view body;
};

absl::Span<const Asset> Assets();
bool AssetsBuilt();

}  // namespace slicekeeper::ui

#endif  // SLICEKEEPER_SERVER_UI_ASSETS_H_
