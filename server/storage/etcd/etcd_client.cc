#include "server/storage/etcd/etcd_client.h"

#include <utility>

#include "server/storage/etcd/internal/channels.h"
#include "server/storage/etcd/internal/watch_loop.h"

namespace slicekeeper::etcd {

using internal::CallWithFailover;
using internal::Endpoint;

Watcher::Watcher(std::unique_ptr<internal::WatchLoop> loop) : loop_(std::move(loop)) {}

Watcher::~Watcher() { loop_->Stop(); }

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  auto channels = internal::Channels::Create(options);
  if (!channels.ok()) return channels.status();
  return std::unique_ptr<Client>(new Client(std::move(options), *std::move(channels)));
}

Client::Client(ClientOptions options, std::shared_ptr<internal::Channels> channels)
    : options_(std::move(options)), channels_(std::move(channels)) {}

Client::~Client() = default;

absl::StatusOr<etcdserverpb::RangeResponse> Client::Range(const etcdserverpb::RangeRequest& req) {
  return CallWithFailover<etcdserverpb::RangeResponse>(
      *channels_, options_.timeout, "Range",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::RangeResponse* resp) {
        return e.kv->Range(ctx, req, resp);
      });
}

absl::StatusOr<etcdserverpb::PutResponse> Client::Put(const etcdserverpb::PutRequest& req) {
  return CallWithFailover<etcdserverpb::PutResponse>(
      *channels_, options_.timeout, "Put",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::PutResponse* resp) {
        return e.kv->Put(ctx, req, resp);
      });
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> Client::DeleteRange(
    const etcdserverpb::DeleteRangeRequest& req) {
  return CallWithFailover<etcdserverpb::DeleteRangeResponse>(
      *channels_, options_.timeout, "DeleteRange",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::DeleteRangeResponse* resp) {
        return e.kv->DeleteRange(ctx, req, resp);
      });
}

// Retrying a Txn is safe only because callers guard theirs with compares: an attempt whose
// response was lost may have committed, and then the retry's compares fail instead of applying
// the writes twice.
absl::StatusOr<etcdserverpb::TxnResponse> Client::Txn(const etcdserverpb::TxnRequest& req) {
  return CallWithFailover<etcdserverpb::TxnResponse>(
      *channels_, options_.timeout, "Txn",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::TxnResponse* resp) {
        return e.kv->Txn(ctx, req, resp);
      });
}

absl::StatusOr<etcdserverpb::CompactionResponse> Client::Compact(
    const etcdserverpb::CompactionRequest& req) {
  return CallWithFailover<etcdserverpb::CompactionResponse>(
      *channels_, options_.timeout, "Compact",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::CompactionResponse* resp) {
        return e.kv->Compact(ctx, req, resp);
      });
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> Client::LeaseGrant(int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  return CallWithFailover<etcdserverpb::LeaseGrantResponse>(
      *channels_, options_.timeout, "LeaseGrant",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::LeaseGrantResponse* resp) {
        return e.lease->LeaseGrant(ctx, req, resp);
      });
}

absl::StatusOr<int64_t> Client::LeaseKeepAliveOnce(int64_t lease_id) {
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(lease_id);
  auto response = CallWithFailover<etcdserverpb::LeaseKeepAliveResponse>(
      *channels_, options_.timeout, "LeaseKeepAlive",
      [&req](const Endpoint& e, grpc::ClientContext* ctx,
             etcdserverpb::LeaseKeepAliveResponse* resp) {
        auto stream = e.lease->LeaseKeepAlive(ctx);
        const bool answered = stream->Write(req) && stream->Read(resp);
        stream->WritesDone();
        // The stream stays open for more renewals; end it once our only one is answered.
        if (answered) ctx->TryCancel();
        for (etcdserverpb::LeaseKeepAliveResponse ignored; stream->Read(&ignored);) {
        }
        grpc::Status status = stream->Finish();
        return answered ? grpc::Status::OK : status;
      });
  if (!response.ok()) return response.status();
  if (response->ttl() <= 0) {
    return absl::NotFoundError(absl::StrCat("etcd lease ", lease_id, " not found or expired"));
  }
  return response->ttl();
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> Client::LeaseRevoke(int64_t lease_id) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease_id);
  return CallWithFailover<etcdserverpb::LeaseRevokeResponse>(
      *channels_, options_.timeout, "LeaseRevoke",
      [&req](const Endpoint& e, grpc::ClientContext* ctx, etcdserverpb::LeaseRevokeResponse* resp) {
        return e.lease->LeaseRevoke(ctx, req, resp);
      });
}

absl::StatusOr<std::pair<std::vector<mvccpb::KeyValue>, int64_t>> Client::RangePrefix(
    std::string_view prefix, int64_t page_size) {
  if (page_size < 1) return absl::InvalidArgumentError("etcd RangePrefix: page_size < 1");
  etcdserverpb::RangeRequest req;
  // etcd spells "every key" as ["\0", "\0"), not ["", "\0").
  req.set_key(prefix.empty() ? std::string(1, '\0') : std::string(prefix));
  req.set_range_end(PrefixEnd(prefix));
  req.set_limit(page_size);
  std::vector<mvccpb::KeyValue> kvs;
  int64_t revision = 0;
  while (true) {
    auto page = Range(req);
    if (!page.ok()) return page.status();
    if (revision == 0) {
      // Every later page reads the first page's revision, so the whole result is one snapshot.
      revision = page->header().revision();
      req.set_revision(revision);
    }
    for (mvccpb::KeyValue& kv : *page->mutable_kvs()) kvs.push_back(std::move(kv));
    if (!page->more() || page->kvs().empty()) break;
    // The next page starts just after the last key returned.
    req.set_key(kvs.back().key() + '\0');
  }
  return std::make_pair(std::move(kvs), revision);
}

absl::StatusOr<std::unique_ptr<Watcher>> Client::WatchPrefix(std::string_view prefix,
                                                             int64_t start_revision,
                                                             WatchHandler* handler) {
  if (handler == nullptr) return absl::InvalidArgumentError("etcd WatchPrefix: null handler");
  if (start_revision < 0) {
    return absl::InvalidArgumentError("etcd WatchPrefix: negative start_revision");
  }
  auto loop = std::make_unique<internal::WatchLoop>(
      channels_, prefix.empty() ? std::string(1, '\0') : std::string(prefix), PrefixEnd(prefix),
      start_revision, handler);
  loop->Start();
  return std::unique_ptr<Watcher>(new Watcher(std::move(loop)));
}

std::string Client::PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  for (size_t i = end.size(); i > 0; --i) {
    if (static_cast<unsigned char>(end[i - 1]) < 0xff) {
      end[i - 1] = static_cast<char>(static_cast<unsigned char>(end[i - 1]) + 1);
      end.resize(i);
      return end;
    }
  }
  return std::string(1, '\0');
}

}  // namespace slicekeeper::etcd
