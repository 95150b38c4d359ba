#include "ssl_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <functional>
#include <thread>

#include "libbpf_log.h"
#include "rodata.h"
#include "ssl_event.h"
#include "symbol_names.h"
#include "uprobe_multi.h"

namespace tracefleet {
namespace {

struct NamedFunction {
  uint32_t id;
  const char* name;
};

constexpr NamedFunction kFunctions[] = {
    {SSL_FN_READ, "SSL_read"},       {SSL_FN_WRITE, "SSL_write"},
    {SSL_FN_READ_EX, "SSL_read_ex"}, {SSL_FN_WRITE_EX, "SSL_write_ex"},
    {SSL_FN_DO_HANDSHAKE, "SSL_do_handshake"}, {SSL_FN_GNUTLS_RECV, "gnutls_record_recv"},
    {SSL_FN_GNUTLS_SEND, "gnutls_record_send"}, {SSL_FN_GO_READ, "crypto/tls.(*Conn).Read"},
    {SSL_FN_GO_WRITE, "crypto/tls.(*Conn).Write"}, {SSL_FN_NSS_READ, "PR_Read"},
    {SSL_FN_NSS_WRITE, "PR_Write"}, {SSL_FN_NSS_RECV, "PR_Recv"},
    {SSL_FN_NSS_SEND, "PR_Send"},
};

constexpr int ENOTSUPP_ERRNO = 524;  // the kernel's ENOTSUPP: an instruction uprobes cannot take

uint64_t Cookie(uint32_t id, uint32_t fn) { return (static_cast<uint64_t>(id) << SSL_COOKIE_FN_BITS) | fn; }

}  // namespace

uint32_t SslFunctionId(const std::string& name) {
  for (const NamedFunction& f : kFunctions) {
    if (name == f.name) return f.id;
  }
  return 0;
}

const char* SslFunctionName(uint32_t fn) {
  for (const NamedFunction& f : kFunctions) {
    if (fn == f.id) return f.name;
  }
  return "unknown";
}

std::string SslFunctionList() {
  std::string list;
  for (const NamedFunction& f : kFunctions) list += (list.empty() ? "" : ", ") + std::string(f.name);
  return list;
}

namespace {
// ssl.bpf.c's tracepoints on the syscalls a TLS library moves bytes through (the port filter).
constexpr const char* kSyscallPrograms[] = {"fd_read", "fd_write", "fd_readv", "fd_writev", "fd_recvfrom", "fd_sendto", "fd_recvmsg", "fd_sendmsg"};
}  // namespace

SslSession::SslSession(const SslConfig& config) : config_(config), bpf_(config.objectPath), queue_(config.maxQueuedEvents) {
  if (config_.maxDataBytes > SSL_MAX_DATA) {
    throw std::runtime_error("maxDataBytes " + std::to_string(config_.maxDataBytes) + " is above " + std::to_string(SSL_MAX_DATA));
  }
  bpf_object* object = bpf_.Object();
  entry_ = bpf_object__find_program_by_name(object, "ssl_entry");
  return_ = bpf_object__find_program_by_name(object, "ssl_return");
  goEntry_ = bpf_object__find_program_by_name(object, "go_tls_entry");
  goReturn_ = bpf_object__find_program_by_name(object, "go_tls_return");
  events_ = bpf_object__find_map_by_name(object, "events");
  calls_ = bpf_object__find_map_by_name(object, "calls");
  goCalls_ = bpf_object__find_map_by_name(object, "go_calls");
  pidFilter_ = bpf_object__find_map_by_name(object, "pid_filter");
  excluded_ = bpf_object__find_map_by_name(object, "excluded");
  counters_ = bpf_object__find_map_by_name(object, "counters");
  if (entry_ == nullptr || return_ == nullptr || goEntry_ == nullptr || goReturn_ == nullptr || events_ == nullptr || calls_ == nullptr ||
      goCalls_ == nullptr || pidFilter_ == nullptr ||
      excluded_ == nullptr || counters_ == nullptr) {
    throw std::runtime_error(bpf_.Name() +
                             ": not an ssl object (needs programs 'ssl_entry', 'ssl_return', 'go_tls_entry' and 'go_tls_return', maps 'events', 'calls', "
                             "'go_calls', 'pid_filter', 'excluded' and 'counters')");
  }
  python_.Find(object, bpf_.Name(), config_.python);
  bpf_map* conns = bpf_object__find_map_by_name(object, "conns");
  nssLayers_ = bpf_object__find_map_by_name(object, "nss_layers");
  if (conns == nullptr || nssLayers_ == nullptr) throw std::runtime_error(bpf_.Name() + ": not an ssl object (no map 'conns' or 'nss_layers')");
  // Only the port filter, the content filter and headers-only mode remember connections.
  if (config_.prefixes.empty() && config_.messageStarts.empty() && config_.ports.empty()) bpf_map__set_max_entries(conns, 1);
  // The port filter's syscall tracepoints: loaded only for it.
  std::vector<bpf_program*> syscalls;
  for (const char* name : kSyscallPrograms) {
    bpf_program* program = bpf_object__find_program_by_name(object, name);
    if (program == nullptr) throw std::runtime_error(bpf_.Name() + ": not an ssl object (no program '" + name + "')");
    bpf_program__set_autoload(program, !config_.ports.empty());
    syscalls.push_back(program);
  }
  SetReadOnlyGlobals();
  UseUnwindMaps(bpf_.Object(), bpf_.Name().c_str(), config_.unwind);
  multi_ = !config_.perOffsetLinks && UprobeMultiSupported();
  if (multi_) {
    // A program loaded for uprobe_multi links cannot be put on a perf-event uprobe: all four go one way.
    for (bpf_program* program : {entry_, return_, goEntry_, goReturn_}) {
      bpf_program__set_expected_attach_type(program, static_cast<bpf_attach_type>(kAttachUprobeMulti));
    }
  }
  bpf_.Load(events_, config_.ringBufferBytes, OnEvent, this);
  FillMaps();
  if (!config_.ports.empty()) {
    for (bpf_program* program : syscalls) {
      LibbpfLogCapture log;
      bpf_link* link = bpf_program__attach(program);
      if (link == nullptr) {
        const int err = errno;
        std::string message = LibbpfError(std::string("attach ") + bpf_program__section_name(program), err, log);
        if (err == ENOENT) message += "\n(libbpf reads tracepoint ids from tracefs: mount -t tracefs tracefs /sys/kernel/tracing)";
        throw std::runtime_error(message);
      }
      bpf_.AddLink(link);
    }
  }
}

static std::vector<ssl_prefix> PrefixTable(const std::vector<std::vector<uint8_t>>& strings, const char* name) {
  if (strings.size() > SSL_MAX_PREFIXES) throw std::runtime_error(std::string(name) + ": at most " + std::to_string(SSL_MAX_PREFIXES) + " byte strings");
  std::vector<ssl_prefix> table(SSL_MAX_PREFIXES);
  for (size_t i = 0; i < strings.size(); i++) {
    const std::vector<uint8_t>& bytes = strings[i];
    if (bytes.empty() || bytes.size() > SSL_PREFIX_BYTES) throw std::runtime_error(std::string(name) + "[" + std::to_string(i) + "] must be 1 to " + std::to_string(SSL_PREFIX_BYTES) + " bytes");
    if (std::find(bytes.begin(), bytes.end(), 0) != bytes.end()) throw std::runtime_error(std::string(name) + "[" + std::to_string(i) + "] must not hold a NUL byte");
    // Little-endian words, as the kernel loads the call's first 16 bytes.
    for (size_t b = 0; b < bytes.size(); b++) {
      table[i].value[b / 8] |= static_cast<uint64_t>(bytes[b]) << (8 * (b % 8));
      table[i].mask[b / 8] |= uint64_t{0xff} << (8 * (b % 8));
    }
  }
  return table;
}

// The uprobe_multi links are closed here; bpf_ then destroys its links, frees the ring buffer and
// closes the object.
SslSession::~SslSession() {
  for (const Group& g : groups_) {
    for (int fd : g.fds) close(fd);
  }
}

void SslSession::SetReadOnlyGlobals() {
  char comm[TRACEFLEET_COMM_LEN] = {};
  std::memcpy(comm, config_.comm.data(), std::min<size_t>(config_.comm.size(), TRACEFLEET_COMM_LEN - 1));
  const uint32_t selfTgid = static_cast<uint32_t>(getpid());
  const bool filterComm = !config_.comm.empty();
  const bool filterPids = config_.filterPids;
  const bool captureStacks = config_.captureStacks;
  std::vector<RodataValue> values = {
      {"self_tgid", &selfTgid, sizeof(selfTgid)},
      {"filter_pids", &filterPids, sizeof(filterPids)},
      {"filter_comm", &filterComm, sizeof(filterComm)},
      {"target_comm", comm, sizeof(comm)},
      {"max_data_bytes", &config_.maxDataBytes, sizeof(config_.maxDataBytes)},
      {"capture_stacks", &captureStacks, sizeof(captureStacks)},
  };
  if (config_.python) values.push_back({"python_enabled", &config_.python, sizeof(config_.python)});
  // Zero-filled when unused; the kernel reads only the first *_count entries. SetRodata copies the values.
  const std::vector<ssl_prefix> prefixes = PrefixTable(config_.prefixes, "prefixes");
  const std::vector<ssl_prefix> starts = PrefixTable(config_.messageStarts, "messageStarts");
  const uint32_t prefixCount = static_cast<uint32_t>(config_.prefixes.size());
  const uint32_t startCount = static_cast<uint32_t>(config_.messageStarts.size());
  const bool headersOnly = !config_.messageStarts.empty();
  if (config_.ports.size() > SSL_MAX_PORTS) throw std::runtime_error("ports: at most " + std::to_string(SSL_MAX_PORTS));
  std::vector<uint16_t> ports(SSL_MAX_PORTS, 0);
  std::copy(config_.ports.begin(), config_.ports.end(), ports.begin());
  const uint32_t portCount = static_cast<uint32_t>(config_.ports.size());
  values.push_back({"prefix_count", &prefixCount, sizeof(prefixCount)});
  values.push_back({"prefixes", prefixes.data(), sizeof(ssl_prefix) * SSL_MAX_PREFIXES});
  values.push_back({"headers_only", &headersOnly, sizeof(headersOnly)});
  values.push_back({"start_count", &startCount, sizeof(startCount)});
  values.push_back({"starts", starts.data(), sizeof(ssl_prefix) * SSL_MAX_PREFIXES});
  values.push_back({"port_count", &portCount, sizeof(portCount)});
  values.push_back({"ports", ports.data(), sizeof(uint16_t) * SSL_MAX_PORTS});
  AddTargetRodata(config_.target, false, values);  // ssl.bpf.c has the cgroup filter only
  SetRodata(bpf_.Object(), bpf_.Name(), values);
}

void SslSession::FillMaps() {
  const uint8_t one = 1;
  for (uint32_t pid : config_.excludePids) {
    int err = bpf_map__update_elem(excluded_, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
    if (err) throw std::runtime_error("add pid " + std::to_string(pid) + " to the excluded map of " + bpf_.Name() + ": " + std::strerror(-err));
  }
  UpdatePids(config_.pids, {});
}

void SslSession::UpdatePids(const std::vector<uint32_t>& add, const std::vector<uint32_t>& remove) {
  const uint8_t one = 1;
  for (uint32_t pid : add) {
    int err = bpf_map__update_elem(pidFilter_, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
    if (err == -E2BIG) {
      throw std::runtime_error("add pid " + std::to_string(pid) + " to the pid filter: it is full (" + std::to_string(SSL_MAX_PIDS) + " pids)");
    }
    if (err) throw std::runtime_error("add pid " + std::to_string(pid) + " to the pid filter: " + std::strerror(-err));
  }
  for (uint32_t pid : remove) {
    int err = bpf_map__delete_elem(pidFilter_, &pid, sizeof(pid), 0);
    if (err && err != -ENOENT) throw std::runtime_error("remove pid " + std::to_string(pid) + " from the pid filter: " + std::strerror(-err));
  }
}

void SslSession::SetNssLayer(uint32_t pid, uint64_t lo, uint64_t hi) {
  if (lo == hi) {
    int err = bpf_map__delete_elem(nssLayers_, &pid, sizeof(pid), 0);
    if (err && err != -ENOENT) throw std::runtime_error("forget pid " + std::to_string(pid) + " in the NSS map: " + std::strerror(-err));
    return;
  }
  ssl_nss_range range{lo, hi};
  int err = bpf_map__update_elem(nssLayers_, &pid, sizeof(pid), &range, sizeof(range), BPF_ANY);
  if (err == -E2BIG) throw std::runtime_error("add pid " + std::to_string(pid) + " to the NSS map: it is full (" + std::to_string(SSL_MAX_NSS) + " processes)");
  if (err) throw std::runtime_error("add pid " + std::to_string(pid) + " to the NSS map: " + std::strerror(-err));
}

// The offsets one link takes: a program, a file and a pid, uretprobes or not, with a cookie and a name each.
struct SslSession::LinkPlan {
  bpf_program* program = nullptr;
  std::string path;
  int pid = -1;
  bool retprobe = false;
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> cookies;
  std::vector<std::string> names;  // "SSL_read return" per offset
};

size_t SslSession::Attachments() const {
  size_t n = 0;
  for (const Group& g : groups_) n += g.ids.size();
  return n;
}

void SslSession::AttachPlan(const LinkPlan& plan, Group& group) {
  auto fail = [&](size_t i, int err, LibbpfLogCapture* log) {
    std::string step = std::string("attach ") + (plan.retprobe ? "uretprobe " : "uprobe ");
    if (plan.offsets.size() == 1) i = 0;  // one offset is named as a perf-event uprobe's failure is
    if (i < plan.offsets.size()) {
      step += plan.names[i] + " in " + plan.path + " @" + Hex(plan.offsets[i]);
    } else {
      std::string all;
      for (size_t k = 0; k < plan.offsets.size(); k++) all += (k ? ", " : "") + plan.names[k] + " @" + Hex(plan.offsets[k]);
      step += "link (" + all + ") in " + plan.path;
    }
    if (plan.pid >= 0) step += " for pid " + std::to_string(plan.pid);
    std::string message = log ? LibbpfError(step, err, *log) : step + ": " + std::strerror(err);
    if ((err == EINVAL || err == ENOTSUPP_ERRNO) && access(plan.path.c_str(), F_OK) == 0) {
      message += "\n(the kernel refuses an offset beyond the end of the file or not at an instruction it can probe)";
    }
    throw std::runtime_error(message);
  };
  if (multi_) {
    const int fd = CreateUprobeMultiLink(bpf_program__fd(plan.program), plan.path, plan.offsets, plan.cookies, plan.retprobe, plan.pid);
    if (fd < 0) fail(plan.offsets.size(), -fd, nullptr);
    group.fds.push_back(fd);
    return;
  }
  for (size_t i = 0; i < plan.offsets.size(); i++) {
    LibbpfLogCapture log;
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = plan.cookies[i], .retprobe = plan.retprobe);
    bpf_link* link = bpf_program__attach_uprobe_opts(plan.program, plan.pid, plan.path.c_str(), plan.offsets[i], &opts);
    if (link == nullptr) fail(i, errno, &log);
    bpf_.AddLink(link);
    group.links.push_back(link);
  }
}

SslSession::Group SslSession::AttachGroup(const std::vector<SslProbeSpec>& specs, const std::vector<uint32_t>& ids) {
  // Return probes first: every call an entry probe notes then has a return that takes the note.
  std::vector<LinkPlan> returns, entries;
  auto planIn = [](std::vector<LinkPlan>& plans, bpf_program* program, const SslProbeSpec& spec, bool retprobe) -> LinkPlan& {
    for (LinkPlan& p : plans) {
      if (p.program == program && p.path == spec.path && p.pid == spec.pid && p.retprobe == retprobe) return p;
    }
    plans.push_back(LinkPlan{program, spec.path, spec.pid, retprobe, {}, {}, {}});
    return plans.back();
  };
  for (size_t i = 0; i < specs.size(); i++) {
    const SslProbeSpec& spec = specs[i];
    const bool go = IsGoFunction(spec.fn);
    const uint64_t cookie = Cookie(ids[i], spec.fn);
    const std::string name = SslFunctionName(spec.fn);
    LinkPlan& ret = planIn(returns, go ? goReturn_ : return_, spec, spec.uretprobe);
    std::vector<uint64_t> returnOffsets{spec.returnOffset};
    returnOffsets.insert(returnOffsets.end(), spec.moreReturns.begin(), spec.moreReturns.end());
    for (uint64_t offset : returnOffsets) {
      ret.offsets.push_back(offset);
      ret.cookies.push_back(cookie);
      ret.names.push_back(name + " return");
    }
    LinkPlan& entry = planIn(entries, go ? goEntry_ : entry_, spec, false);
    entry.offsets.push_back(spec.entryOffset);
    entry.cookies.push_back(cookie);
    entry.names.push_back(name + " entry");
  }
  Group group{ids, specs, {}, {}};
  try {
    for (const LinkPlan& plan : returns) AttachPlan(plan, group);
    for (const LinkPlan& plan : entries) AttachPlan(plan, group);
  } catch (...) {
    for (bpf_link* link : group.links) bpf_.ReleaseLink(link);
    CloseLinks(group.links, group.fds);
    throw;
  }
  return group;
}

std::vector<uint32_t> SslSession::AttachProbes(const std::vector<SslProbeSpec>& specs) {
  if (specs.empty()) return {};
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < specs.size(); i++) ids.push_back(nextId_++);
  groups_.push_back(AttachGroup(specs, ids));
  return ids;
}

// Each link on its own thread: the kernel's waits for RCU grace periods then overlap in part.
void SslSession::CloseLinks(std::vector<bpf_link*> links, std::vector<int> fds) {
  constexpr size_t kAtOnce = 64;
  std::vector<std::function<void()>> work;
  for (bpf_link* link : links) work.emplace_back([link] { bpf_link__destroy(link); });
  for (int fd : fds) work.emplace_back([fd] { close(fd); });
  for (size_t start = 0; start < work.size(); start += kAtOnce) {
    std::vector<std::thread> threads;
    for (size_t i = start; i < std::min(work.size(), start + kAtOnce); i++) threads.emplace_back(work[i]);
    for (std::thread& t : threads) t.join();
  }
}

void SslSession::DetachProbes(const std::vector<uint32_t>& ids) {
  std::vector<bpf_link*> links;
  std::vector<int> fds;
  std::vector<uint32_t> gone, keptIds;
  std::vector<SslProbeSpec> keptSpecs;
  auto asked = [&ids](uint32_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (std::none_of(it->ids.begin(), it->ids.end(), asked)) {
      ++it;
      continue;
    }
    for (bpf_link* link : it->links) bpf_.ReleaseLink(link);
    links.insert(links.end(), it->links.begin(), it->links.end());
    fds.insert(fds.end(), it->fds.begin(), it->fds.end());
    for (size_t i = 0; i < it->ids.size(); i++) {
      if (asked(it->ids[i])) {
        gone.push_back(it->ids[i]);
      } else {
        keptIds.push_back(it->ids[i]);
        keptSpecs.push_back(it->specs[i]);
      }
    }
    it = groups_.erase(it);
  }
  // No order among the links: a call noted by an entry probe whose return probe went first is
  // forgotten below with the rest of these attachments' notes.
  CloseLinks(links, fds);
  if (!gone.empty()) ForgetCalls(gone);
  if (!keptIds.empty()) groups_.push_back(AttachGroup(keptSpecs, keptIds));
}

void SslSession::Detach() {
  std::vector<int> fds;
  for (const Group& g : groups_) fds.insert(fds.end(), g.fds.begin(), g.fds.end());
  groups_.clear();
  CloseLinks({}, fds);
  bpf_.DestroyLinks();
}

// Best effort: a note that survives (the map changing under the walk) only costs that thread up to
// SSL_NEST_MAX_AGE_NS of calls counted as nested.
namespace {

// Deletes the entries of a calls map (any key type) whose saved cookie names one of `ids`.
template <typename Key>
void ForgetIn(int fd, const std::vector<uint32_t>& ids) {
  std::vector<Key> stale;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ssl_call call;
    if (bpf_map_lookup_elem(fd, &next, &call) == 0) {
      uint32_t id = static_cast<uint32_t>(call.cookie >> SSL_COOKIE_FN_BITS);
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) stale.push_back(next);
    }
    key = next;
    prev = &key;
  }
  for (const Key& k : stale) bpf_map_delete_elem(fd, &k);
}

}  // namespace

void SslSession::ForgetCalls(const std::vector<uint32_t>& ids) {
  ForgetIn<uint64_t>(bpf_map__fd(calls_), ids);
  ForgetIn<ssl_go_key>(bpf_map__fd(goCalls_), ids);
}

int SslSession::Poll(int timeoutMs) { return bpf_.Poll(timeoutMs); }

int SslSession::Consume() { return bpf_.Consume(); }

SslCounters SslSession::ReadCounters() const {
  const std::string what = "counters map of " + bpf_.Name();
  SslCounters c;
  c.eventsSeen = SumPerCpu(counters_, SSL_COUNTER_EVENTS_SEEN, what);
  c.kernelDrops = SumPerCpu(counters_, SSL_COUNTER_KERNEL_DROPS, what);
  c.orphanReturns = SumPerCpu(counters_, SSL_COUNTER_ORPHAN_RETURNS, what);
  c.nested = SumPerCpu(counters_, SSL_COUNTER_NESTED, what);
  c.readErrors = SumPerCpu(counters_, SSL_COUNTER_READ_ERRORS, what);
  c.filtered = SumPerCpu(counters_, SSL_COUNTER_FILTERED, what);
  c.skipped = SumPerCpu(counters_, SSL_COUNTER_SKIPPED, what);
  c.noSocket = SumPerCpu(counters_, SSL_COUNTER_NO_SOCKET, what);
  return c;
}

int SslSession::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<SslSession*>(ctx);
  if (size < sizeof(ssl_event)) return 0;  // cannot happen with a matching object
  const auto* event = static_cast<const ssl_event*>(data);
  const auto* bytes = static_cast<const uint8_t*>(data) + sizeof(ssl_event);
  const size_t room = size - sizeof(ssl_event);

  SslRecord record;
  record.pid = event->pid;
  record.tid = event->tid;
  record.comm.assign(event->comm, strnlen(event->comm, TRACEFLEET_COMM_LEN));
  record.fn = event->fn;
  record.attachId = event->attach_id;
  record.ret = event->ret;
  record.length = event->length;
  record.latencyNs = event->latency_ns;
  record.ssl = event->ssl;
  record.tsNs = event->ts_ns;
  const size_t dataLen = std::min<size_t>(event->data_len, room);
  record.data.assign(bytes, bytes + dataLen);
  record.truncated = (event->flags & SSL_FLAG_TRUNCATED) != 0;
  record.readError = (event->flags & SSL_FLAG_READ_ERROR) != 0;
  record.skippedCalls = event->skipped_calls;
  record.skippedBytes = event->skipped_bytes;
  const size_t stackAt = (dataLen + 7) & ~size_t{7};
  size_t pyAt = stackAt;
  if (event->stack_bytes < 0) {
    record.userStackError = event->stack_bytes;
  } else {
    const size_t available = room > stackAt ? room - stackAt : 0;
    const size_t frames = std::min<size_t>(std::min<size_t>(event->stack_bytes, available) / sizeof(uint64_t), TRACEFLEET_MAX_STACK_DEPTH);
    record.userStack.resize(frames);
    if (frames > 0) std::memcpy(record.userStack.data(), bytes + stackAt, frames * sizeof(uint64_t));
    pyAt += frames * sizeof(uint64_t);
  }
  // The Python frames follow the stack (the record may be cut short only by a mismatched object).
  record.pyStatus = event->py_frames_count;
  record.pyTruncated = event->py_truncated != 0;
  if (event->py_frames_count > 0) {
    const size_t available = room > pyAt ? (room - pyAt) / sizeof(uint64_t) : 0;
    const size_t frames = std::min<size_t>(std::min<size_t>(event->py_frames_count, available), TRACEFLEET_MAX_PY_FRAMES);
    record.pyFrames.resize(frames);
    if (frames > 0) std::memcpy(record.pyFrames.data(), bytes + pyAt, frames * sizeof(uint64_t));
  }
  self->queue_.Push(std::move(record));
  return 0;
}

}  // namespace tracefleet
